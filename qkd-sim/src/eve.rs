//! Module eve (see the crate overview).
