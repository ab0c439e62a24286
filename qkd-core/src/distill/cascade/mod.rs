//! Cascade error correction (Brassard and Salvail, EUROCRYPT 1993) as two sans-IO state
//! machines.
//!
//! The [`CascadeCorrector`] holds the noisy key: it emits [`ParityRequest`]s, consumes
//! [`ParityReply`]s and flips bits. The [`CascadeResponder`] holds the reference key and answers.
//! Neither does I/O: a driver carries [`CascadeMessage`]s (serde-serialisable) over a classical
//! channel, or, in tests and benchmarks, from one to the other in a loop
//! ([`reconcile_in_process`]).
//!
//! ## Protocol
//!
//! Both ends build the same [`CascadePlan`] (key length, block size per pass, a pseudo-random
//! shuffle per pass derived from a shared seed; the first pass of a key shorter than 2^15 bits
//! is unshuffled unless [`CascadeConfig::shuffle_first_pass`]). Then:
//!
//! (Shuffles: keys of at least 2^15 bits use a structured shuffle: uniformly random
//! permutations of the key's 64-bit rows (one for each of eight random groups of columns)
//! followed by an independent uniformly random cyclic rotation of each of the 64 bit columns. Any public shuffle drawn independently of the errors
//! is allowed by the protocol; this one separates pairs of bits like a random permutation, keeps
//! the measured efficiency, and lets a range of shuffled positions have its parity computed from
//! 64 prefix-XOR lookups instead of one random bit read per position, and a plan costs `n/8`
//! bytes per pass instead of `8 n`. Shorter keys use uniformly random permutations.)
//!
//! 1. Round 1 asks for the parity of every top-level block of every pass at once. Cascade
//!    discloses all of them anyway, and the responder's key never changes, so asking early
//!    costs no extra leakage and saves a round trip per pass.
//! 2. Every later round advances all running binary searches (BINARY) one level in lock-step:
//!    one [`ParityRange`] per search, all in one message. Cascade's order is kept: pass 1's odd
//!    blocks are searched together; a corrected bit makes blocks of other passes odd; a pass
//!    starts its searches only when no lower pass has a running search or an odd block
//!    waiting, while the searches a flip triggers in lower passes (the "cascade") start at
//!    once, alongside the searches still running higher up. A pass is *reached* only when
//!    every lower pass is settled: the corrector then compares its own top-level parities,
//!    taken from the key as corrected so far, with the responder's from round 1, so a flip
//!    costs nothing in the passes not reached yet (most flips happen in the first passes, and
//!    a flip updates the views and trees of the reached passes only). At most one search runs per
//!    block. A search whose node a concurrent flip made even is dropped (its block is re-queued
//!    if still odd): the responder's parities are facts, so nothing learned is ever wrong. The
//!    exchange ends when no known block or sub-block is odd.
//! 3. The corrector sends [`CascadeDone`] with its counts; the responder checks them against
//!    its own (the responder's count of disclosed parities is authoritative).
//!
//! Sub-block reuse (Martinez-Mateo et al. 2015): every parity learned about a sub-block is
//! kept, with its sibling's (inferred from the parent's), and a search descends through known
//! sub-blocks without asking; a known sub-block that turns odd after a flip elsewhere is
//! searched even when its top-level block looks even.
//!
//! ## Frames
//!
//! A long key can be corrected as frames of about 10^5 bits ([`FrameLayout`]) that run in
//! lock-step ([`FramedCorrector`], [`FramedResponder`]: one batch of messages per round trip, a
//! frame leaving the batch after its closing message). The exchange then takes the round trips
//! of its longest frame (about 800 instead of about 1500 for 10^6 bits at QBER 2%), the frames
//! of one length share one plan, and every parity is still counted; the efficiency barely
//! changes (f = 1.034 at 10^5 bits against 1.030 at 10^6, QBER 2%).
//!
//! ## Variants ([`CascadeVariant`])
//!
//! * `Original`: Brassard-Salvail 1993: `k1 = ceil(0.73/Q)`, `k_i = 2 k_(i-1)`, 4 passes.
//! * `YanEtAl`: Yan et al. 2008 (called "Cascade opt. (2)" by Martinez-Mateo et al.):
//!   `k1 = ceil(0.8/Q)`, `k2 = 5 k1`, then `ceil(n/2)`; 10 passes.
//! * `Optimized`: J. Martinez-Mateo, C. Pacher, M. Peev, A. Ciurana, V. Martin, "Demystifying
//!   the information reconciliation protocol Cascade", Quantum Inf. Comput. 15 (5&6), 453-477
//!   (2015), "Cascade opt. (8)": power-of-two block sizes `k1 = 2^ceil(a)`,
//!   `k2 = 2^ceil((a + 12)/2)` with `a = log2(1/Q) - 1/2`, `k3 = 4096`, then `ceil(n/2)`; 14 passes;
//!   sub-block reuse.
//! * `Custom`: explicit block sizes.
//!
//! All variants use sub-block reuse (it only ever saves disclosed bits).
//!
//! ## Accounting
//!
//! Every parity bit the responder sends is counted in [`CascadeStats::parities_disclosed`],
//! top-level and binary-search parities alike; none is inferred away. The efficiency is
//! `f = disclosed / (n h(Q))` ([`CascadeStats::efficiency`]).
//!
//! Cascade does not guarantee that all errors are found (an even number of errors can hide in
//! every block of every pass); the residual frame error rate is measured in the tests and
//! benchmarks, and verification (`distill::verify`) must follow.

mod corrector;
mod framed;
mod messages;
mod plan;
mod responder;
pub(crate) mod shuffle;
mod tree;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use corrector::CascadeCorrector;
pub use framed::{FrameLayout, FramedCorrector, FramedResponder, reconcile_framed_in_process};
pub use messages::{CascadeDone, CascadeMessage, ParityRange, ParityReply, ParityRequest};
pub use plan::{CascadePlan, MAX_PASSES};
pub use responder::CascadeResponder;

use super::{DistillError, binary_entropy};
use crate::bits::BitString;

/// Which block-size schedule to use (see the [module notes](self)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CascadeVariant {
    /// Brassard-Salvail 1993: `k1 = 0.73/Q`, doubling, 4 passes.
    Original,
    /// Yan et al. 2008: `k1 = 0.8/Q`, `k2 = 5 k1`, then `n/2`; 10 passes.
    YanEtAl,
    /// Martinez-Mateo et al. 2015, "Cascade opt. (8)"; 14 passes.
    Optimized,
    /// Explicit block sizes, one per pass.
    Custom(Vec<usize>),
}

/// Cascade configuration shared by both ends.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CascadeConfig {
    /// The block-size schedule.
    pub variant: CascadeVariant,
    /// Shared seed of the per-pass shuffles (public: shuffles need not be secret, only fixed
    /// independently of the errors).
    pub seed: [u8; 32],
    /// Shuffle the first pass of a key shorter than 2^15 bits too (useful when errors come in
    /// bursts; with independent errors the unshuffled first pass is as good and cheaper).
    /// Longer keys, whose passes use the structured shuffle, always shuffle the first pass: with
    /// an unshuffled first pass, two errors in one 64-bit word of the key hide from it, and a
    /// structured second pass keeps such a pair together whenever its two columns share a row
    /// permutation and have nearby rotations (seen on a simulated link with frames of 1.2e5
    /// bits; see docs/benchmarks.md, section session-3).
    pub shuffle_first_pass: bool,
}

impl std::fmt::Debug for CascadeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CascadeConfig")
            .field("variant", &self.variant)
            .field("shuffle_first_pass", &self.shuffle_first_pass)
            .finish_non_exhaustive()
    }
}

impl CascadeConfig {
    /// A configuration with the given variant and seed, first pass unshuffled.
    pub fn new(variant: CascadeVariant, seed: [u8; 32]) -> Self {
        Self {
            variant,
            seed,
            shuffle_first_pass: false,
        }
    }
}

/// Counters of one Cascade run, kept by each end.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CascadeStats {
    /// Key length in bits.
    pub key_len: usize,
    /// Number of passes of the plan.
    pub passes: usize,
    /// Parity bits disclosed by the responder, every one counted.
    pub parities_disclosed: u64,
    /// Bits flipped by the corrector (0 on the responder's side).
    pub errors_corrected: u64,
    /// Request/reply round trips.
    pub round_trips: u32,
    /// Messages sent by both ends (requests, replies and the closing message).
    pub messages: u32,
}

impl CascadeStats {
    /// Efficiency `f = parities_disclosed / (n h(qber))`, `None` when `n h(qber)` is 0.
    pub fn efficiency(&self, qber: f64) -> Option<f64> {
        let ideal = self.key_len as f64 * binary_entropy(qber);
        (ideal > 0.0).then(|| self.parities_disclosed as f64 / ideal)
    }
}

/// Result of [`reconcile_in_process`].
#[derive(Debug)]
pub struct InProcessOutcome {
    /// The reference key, given back.
    pub reference: BitString,
    /// The corrected key.
    pub corrected: BitString,
    /// The corrector's counters.
    pub stats: CascadeStats,
}

/// Runs both state machines in one loop over a zero-latency in-memory "channel" (messages are
/// passed by reference, not serialised). For tests, benchmarks and single-process simulation.
///
/// Errors: whatever either state machine reports.
///
/// ```
/// use qkd_core::BitString;
/// use qkd_core::distill::cascade::{reconcile_in_process, CascadeConfig, CascadePlan, CascadeVariant};
///
/// let reference = BitString::from_bytes(&[0x5a; 1250], 10_000);
/// let mut noisy = reference.clone();
/// for i in (0..10_000).step_by(100) {
///     noisy.flip(i); // 1% errors
/// }
/// let config = CascadeConfig::new(CascadeVariant::Optimized, [42; 32]);
/// let plan = CascadePlan::shared(&config, 10_000, 0.01)?;
/// let out = reconcile_in_process(reference, noisy, plan)?;
/// assert_eq!(out.stats.errors_corrected, 100);
/// assert_eq!(out.corrected, out.reference);
/// # Ok::<(), qkd_core::distill::DistillError>(())
/// ```
pub fn reconcile_in_process(
    reference: BitString,
    noisy: BitString,
    plan: Arc<CascadePlan>,
) -> Result<InProcessOutcome, DistillError> {
    let mut responder = CascadeResponder::new(reference, plan.clone())?;
    let mut corrector = CascadeCorrector::new(noisy, plan)?;
    let mut msg = corrector.start()?;
    while let Some(reply) = responder.handle(&msg)? {
        msg = corrector.handle(&reply)?;
    }
    if !responder.is_finished() || !corrector.is_finished() {
        return Err(DistillError::Protocol("exchange ended early".into()));
    }
    let stats = corrector.stats().clone();
    Ok(InProcessOutcome {
        reference: responder.into_key(),
        corrected: corrector.into_key()?,
        stats,
    })
}

#[cfg(test)]
mod tests;
