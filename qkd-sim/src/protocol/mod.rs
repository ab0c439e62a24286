//! Protocol engines (see the crate overview).

pub mod bbm92;
pub mod e91;
pub mod entangled;
