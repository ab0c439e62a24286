//! Module qrng (see the crate overview).
