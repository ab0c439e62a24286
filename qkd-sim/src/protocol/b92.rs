//! B92 (Bennett 1992) rules for the prepare-and-measure engines.
//!
//! Alice encodes bit 0 as `|0>` and bit 1 as `|+>`. Bob measures in Z or X at random: a Z outcome
//! `|1>` rules out `|0>` (so the bit is 1), an X outcome `|->` rules out `|+>` (so the bit is 0);
//! other outcomes are inconclusive and discarded. Bob announces only which positions were
//! conclusive (yield 1/4 on an ideal channel); his bases stay secret.
//!
//! Run it with [`PmAlice`](super::PmAlice) and [`PmBob`](super::PmBob) and a [`config`].

use rand::Rng;

use super::pm::{PrepWord, StateWord};
use super::{Backend, EngineConfig, Protocol};

/// The engine configuration for a B92 link of `target_sifted_bits` sifted bits.
pub fn config(backend: Backend, target_sifted_bits: usize) -> EngineConfig {
    EngineConfig::new(Protocol::B92, backend, target_sifted_bits)
}

/// Alice's random bits (no basis choice).
pub(crate) fn alice_word<R: Rng + ?Sized>(rng: &mut R) -> PrepWord {
    PrepWord {
        bit: rng.next_u64(),
        lo: 0,
        hi: 0,
    }
}

/// Bit 0 is `Linear(0) = |0>`, bit 1 is `Linear(2) = |+>`.
pub(crate) fn encode(p: &PrepWord) -> StateWord {
    StateWord {
        k0: 0,
        k1: p.bit,
        k2: 0,
        y: 0,
    }
}

/// Bob's random bases (`lo` set = X).
pub(crate) fn bob_bases<R: Rng + ?Sized>(rng: &mut R) -> (u64, u64) {
    (rng.next_u64(), 0)
}

/// Bob's decision: conclusive when the outcome is 1 (`|1>` in Z, `|->` in X); the bit is 1 after
/// a Z measurement and 0 after an X measurement. Returns `(conclusive, bits)`.
pub(crate) fn decide(click: u64, outcome: u64, lo: u64) -> (u64, u64) {
    (click & outcome, !lo)
}
