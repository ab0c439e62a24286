//! Module statevector (see the crate overview).
