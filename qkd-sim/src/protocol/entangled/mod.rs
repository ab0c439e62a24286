//! Entanglement-based QKD: the entangled-pair source and the sans-IO party engine shared by
//! [E91](super::e91) and [BBM92](super::bbm92).
//!
//! # Shape
//! Three state machines, each usable in-process or in its own process:
//! - [`PairSource`], the source node: it holds the joint two-qubit state of every pair. It takes
//!   one [`SettingsFrame`] from each party per batch and answers each with a [`DetectionFrame`]
//!   (which halves clicked, with which outcome). See [`PairSource`] for the simulation choice:
//!   measurements are carried out for real, one after the other, on the joint state vector, so the
//!   second acts on the state collapsed by the first.
//! - [`EntangledParty`], one per party: picks its settings at random from its own RNG, takes its
//!   detections, and exchanges [`EntangledMsg`]s with the peer over the classical channel
//!   (settings and detection flags, then test-round outcomes), ending with a sifted key, public
//!   counts and test tallies ([`PartyResult`]).
//! - A [`Scheme`] says which [`Analyser`] settings each party uses and what each combination is
//!   for ([`RoundKind`]); E91 and BBM92 are two schemes.
//!
//! [`run_in_process`] wires them together with seeded RNGs (one per node, none shared).
//!
//! # Distributed use
//! The topology differs from the prepare-and-measure [`Engine`](super::Engine)s (Alice's frames
//! go through the channel to Bob): here both parties talk to the source. In a distributed link the
//! source runs in the middle process (in the paper's architecture the third module is the
//! untrusted entangled-pair sender), which receives one [`SettingsFrame`] from each end per batch
//! and returns each end its [`DetectionFrame`]; the ends exchange [`EntangledMsg`]s over the
//! authenticated classical channel. All frames, messages and configurations are serde types, and
//! everything received is validated (malformed input is an error, never a panic). One engine
//! handles one batch; a source serves any number of batches in turn. Size a batch for a target
//! key with [`Scheme::key_fraction`] and the channels' detection probabilities.
//!
//! ```
//! use qkd_sim::protocol::bbm92;
//! use qkd_sim::protocol::entangled::SourceConfig;
//!
//! # fn main() -> Result<(), qkd_sim::SimError> {
//! let run = bbm92::run_in_process(&SourceConfig::default(), 1000, 7)?;
//! assert_eq!(run.alice.sifted_key, run.bob.sifted_key);
//! assert!(run.alice.stats.key_rounds > 400);
//! # Ok(())
//! # }
//! ```

mod engine;
mod messages;
mod scheme;
mod source;

pub use engine::{EntangledParty, PairStats, PartyResult};
pub use messages::{DetectionFrame, EntangledMsg, SettingsFrame};
pub use scheme::{Analyser, Correlations, RoundKind, Scheme};
pub use source::{BellState, PairSource, SourceConfig};

use qkd_core::Role;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

use crate::SimError;
use crate::eve::EveRecord;

/// The outcome of an in-process run of one batch.
#[derive(Debug, Clone, PartialEq)]
pub struct PairRun {
    /// Alice's result.
    pub alice: PartyResult,
    /// Bob's result.
    pub bob: PartyResult,
    /// Eve's record (no frames without Eve; otherwise one frame per batch, qubit `i` = pair `i`).
    pub eve: EveRecord,
    /// Positions where the sifted keys differ (known only to the simulation; for tests and
    /// statistics).
    pub key_errors: u64,
}

impl PairRun {
    /// The true QBER of the sifted key: `key_errors / key length` (0 for an empty key).
    pub fn qber(&self) -> f64 {
        let n = self.alice.sifted_key.len();
        if n == 0 {
            0.0
        } else {
            self.key_errors as f64 / n as f64
        }
    }
}

/// The seeded RNG of node `stream` of a run (0: Alice, 1: Bob, 2: the source's physics, 3: Eve):
/// independent ChaCha8 streams of one seed, so no RNG is shared between nodes.
pub fn node_rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// Runs one batch of `pairs` pairs of `scheme` in-process: Alice, Bob and the source with their
/// own RNGs derived from `seed`, messages passed in memory in the order a network would deliver
/// them.
pub fn run_in_process(
    scheme: &Scheme,
    source: &SourceConfig,
    pairs: usize,
    seed: u64,
) -> Result<PairRun, SimError> {
    let mut alice = EntangledParty::new(
        Role::Alice,
        scheme.clone(),
        source.state,
        0,
        pairs,
        node_rng(seed, 0),
    )?;
    let mut bob = EntangledParty::new(
        Role::Bob,
        scheme.clone(),
        source.state,
        0,
        pairs,
        node_rng(seed, 1),
    )?;
    let mut src = PairSource::new(source.clone(), node_rng(seed, 2), node_rng(seed, 3))?;
    for frame in [alice.poll_settings(), bob.poll_settings()]
        .into_iter()
        .flatten()
    {
        src.handle_settings(frame)?;
    }
    while let Some(frame) = src.poll_detections() {
        match frame.party {
            Role::Alice => alice.handle_detections(&frame)?,
            Role::Bob => bob.handle_detections(&frame)?,
        }
    }
    loop {
        let mut moved = false;
        while let Some(msg) = alice.poll_classical() {
            bob.handle_classical(msg)?;
            moved = true;
        }
        while let Some(msg) = bob.poll_classical() {
            alice.handle_classical(msg)?;
            moved = true;
        }
        if !moved {
            break;
        }
    }
    let (Some(a), Some(b)) = (alice.result(), bob.result()) else {
        return Err(SimError::Protocol("the engines did not finish".into()));
    };
    let key_errors = a.sifted_key.hamming_distance(&b.sifted_key) as u64;
    Ok(PairRun {
        alice: a,
        bob: b,
        eve: src.take_eve_record(),
        key_errors,
    })
}

#[cfg(test)]
mod tests;
