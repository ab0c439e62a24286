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
//! * Entanglement-based links (E91, BBM92; [`LinkConfig::entangled`]) put a pair source between the
//!   ends instead of the channel stage (in the middle process of a distributed link).

mod block_channel;
mod config;
pub mod distributed;
mod engine;
mod entangled;
mod handle;
mod link;
pub mod port;
mod sifting;
mod worker;

pub use config::{
    AES_GCM_BOOTSTRAP_KEYS, AuthConfig, AuthPair, AuthScope, LinkConfig,
    WEGMAN_CARTER_BOOTSTRAP_PADS, wegman_carter_policy,
};
pub use engine::ChannelStage;
pub use entangled::EntangledProtocol;
pub use handle::{LinkCounters, SimulatedDevice};
pub use link::SimulatedLink;

#[cfg(test)]
mod tests;
