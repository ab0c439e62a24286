//! Crash test (placeholder replaced below).
fn main() {}
