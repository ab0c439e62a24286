//! The messages the two Cascade state machines exchange (serde-serialisable; the parity bits
//! they carry are public by design and counted as disclosed).

use serde::{Deserialize, Serialize};

/// A Cascade message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CascadeMessage {
    /// Corrector -> responder: the parities wanted this round.
    Request(ParityRequest),
    /// Responder -> corrector: the parities asked for, in request order.
    Reply(ParityReply),
    /// Corrector -> responder: the corrector is finished; carries its counts so that both ends
    /// agree on the leakage.
    Done(CascadeDone),
}

/// A batch of parity requests: one round trip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParityRequest {
    /// The plan fingerprint ([`CascadePlan::digest`](super::CascadePlan::digest)).
    pub session: u64,
    /// Round number, 1 for the first request, then consecutive.
    pub round: u32,
    /// Passes whose top-level block parities are all wanted (every block, in block order).
    pub block_passes: Vec<u16>,
    /// Parities of ranges of shuffled positions (binary-search steps), answered after the
    /// blocks of `block_passes`. Encoded as one byte string of fixed-width records whose field
    /// widths fit the message (see `packed`).
    #[serde(with = "crate::packed::ranges")]
    pub ranges: Vec<ParityRange>,
}

/// The parity of the bits at shuffled positions `start..end` of a pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParityRange {
    /// The pass (its shuffle).
    pub pass: u16,
    /// First shuffled position.
    pub start: u32,
    /// One past the last shuffled position.
    pub end: u32,
}

/// The answer to a [`ParityRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParityReply {
    /// The plan fingerprint.
    pub session: u64,
    /// The round answered.
    pub round: u32,
    /// Number of parity bits.
    pub count: u32,
    /// The parity bits, packed (bit `i` is bit `i % 64` of word `i / 64`); encoded as one byte
    /// string of little-endian words.
    #[serde(with = "crate::packed::words")]
    pub parities: Vec<u64>,
}

/// The corrector's closing message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CascadeDone {
    /// The plan fingerprint.
    pub session: u64,
    /// Round trips made.
    pub rounds: u32,
    /// Parity bits disclosed in total.
    pub parities: u64,
}

impl ParityReply {
    /// Parity bit `i` (caller checks `i < count`).
    #[inline]
    pub(crate) fn bit(&self, i: usize) -> bool {
        (self.parities[i / 64] >> (i % 64)) & 1 == 1
    }
}
