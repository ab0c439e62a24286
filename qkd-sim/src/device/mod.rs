//! The simulated QKD device: both ends of a link, each a [`qkd_core::QuantumDevice`].
//!
//! ```text
//!  Alice end                                             Bob end
//!  EndEngine (protocol + distillation)                   EndEngine
//!    |  quantum frames --> [channel model + Eve] -->        |      (QuantumPort)
//!    |  <== authenticated classical channel (per-block tagged frames) ==>   (BlockChannel)
//!  Worker task -> bounded buffer -> next_block()         Worker task -> bounded buffer -> next_block()
//! ```
//!
//! * [`port`]: how quantum frames travel (in-process queues, or serialised frames over TCP,
//!   optionally through a middle process that applies the channel model and Eve).
//! * The classical channel of every block is wrapped so that each end sends exactly one
//!   end-of-block marker; a key is kept only if both ends succeeded (see `block_channel`).
//! * Each end runs a background task that produces blocks continuously into a bounded buffer.

mod block_channel;
mod handle;
pub mod port;
mod worker;

pub use handle::{LinkCounters, SimulatedDevice};

#[cfg(test)]
mod tests;
