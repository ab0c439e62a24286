//! Messages of the entanglement-based engines: quantum-side frames exchanged with the pair source
//! and classical messages exchanged between the parties.

use std::fmt;

use qkd_core::Role;
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use super::scheme::Analyser;

/// Party -> source: the analyser setting this party applies to its half of each pair of a batch.
///
/// This is a simulation device, not a message of the real protocol: a real detector applies its
/// setting locally. Because the simulated source holds the joint two-qubit state, it needs each
/// party's setting to carry out that party's measurement when its detection happens (see the
/// [module overview](super)). The settings are announced publicly later anyway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SettingsFrame {
    /// Batch number (both parties and the source must agree).
    pub batch: u64,
    /// Whose settings these are.
    pub party: Role,
    /// The party's settings table.
    pub table: Vec<Analyser>,
    /// One index into `table` per pair of the batch.
    pub choices: Vec<u8>,
}

/// Source -> party: which halves of a batch this party detected, and the outcomes.
///
/// Bits are packed little-endian into `u64` words (pair `i` is bit `i % 64` of word `i / 64`), as
/// in [`qkd_core::BitString`]. Outcomes are raw key material: they are zeroized on drop and
/// redacted from `Debug`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectionFrame {
    /// Batch number.
    pub batch: u64,
    /// The party this frame is for.
    pub party: Role,
    /// Number of pairs in the batch.
    pub pairs: usize,
    /// Detection flags (a click, from a photon or a dark count).
    pub detected: Vec<u64>,
    /// Outcomes (`true` = the analyser's second output); zero where not detected.
    pub outcomes: Vec<u64>,
}

impl fmt::Debug for DetectionFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DetectionFrame")
            .field("batch", &self.batch)
            .field("party", &self.party)
            .field("pairs", &self.pairs)
            .field("outcomes", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

impl Drop for DetectionFrame {
    fn drop(&mut self) {
        self.outcomes.zeroize();
    }
}

/// Classical message between the parties (over an authenticated classical channel).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntangledMsg {
    /// The sender's settings choices and detection flags for a batch (public).
    Settings {
        /// Batch number.
        batch: u64,
        /// One settings index per pair.
        choices: Vec<u8>,
        /// Detection flags, packed as in [`DetectionFrame::detected`].
        detected: Vec<u64>,
    },
    /// The sender's raw outcomes of the test rounds, in round order (public, sacrificed).
    TestOutcomes {
        /// Batch number.
        batch: u64,
        /// Number of test rounds.
        rounds: usize,
        /// Packed outcomes, test round `k` in bit `k`.
        outcomes: Vec<u64>,
    },
}

/// Bit `i` of packed words (false past the end).
#[inline]
pub(crate) fn bit(words: &[u64], i: usize) -> bool {
    words.get(i / 64).is_some_and(|w| (w >> (i % 64)) & 1 == 1)
}

/// Sets bit `i` of packed words (which must be long enough).
#[inline]
pub(crate) fn set_bit(words: &mut [u64], i: usize, value: bool) {
    words[i / 64] |= u64::from(value) << (i % 64);
}
