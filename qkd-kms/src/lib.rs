//! qkd-kms (see the crate description).
#![forbid(unsafe_code)]
