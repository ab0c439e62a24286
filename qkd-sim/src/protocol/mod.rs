//! Protocol engines (see the crate overview).
