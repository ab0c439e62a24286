//! Module channel (see the crate overview).
