//! BB84 (Bennett and Brassard, 1984) rules for the prepare-and-measure engines.
//!
//! Alice sends a random bit in a random basis, Z (`|0>`, `|1>`) or X (`|+>`, `|->`); Bob measures
//! in a random basis; positions where the bases match form the sifted key (yield 1/2). An
//! intercept-resend attack on a fraction `p` of the qubits gives a QBER of `p/4`.
//!
//! Run it with [`PmAlice`](super::PmAlice) and [`PmBob`](super::PmBob) and a [`config`].

use rand::Rng;

use super::pm::{PrepWord, StateWord};
use super::{Backend, EngineConfig, Protocol};

/// The engine configuration for a BB84 link of `target_sifted_bits` sifted bits.
pub fn config(backend: Backend, target_sifted_bits: usize) -> EngineConfig {
    EngineConfig::new(Protocol::Bb84, backend, target_sifted_bits)
}

/// Alice's random choices for 64 qubits: bit and basis (`lo` set = X).
pub(crate) fn alice_word<R: Rng + ?Sized>(rng: &mut R) -> PrepWord {
    PrepWord {
        bit: rng.next_u64(),
        lo: rng.next_u64(),
        hi: 0,
    }
}

/// The states: Z basis bit b is `Linear(4b)`, X basis bit b is `Linear(2 + 4b)`.
pub(crate) fn encode(p: &PrepWord) -> StateWord {
    StateWord {
        k0: 0,
        k1: p.lo,
        k2: p.bit,
        y: 0,
    }
}

/// Bob's random bases (`lo` set = X).
pub(crate) fn bob_bases<R: Rng + ?Sized>(rng: &mut R) -> (u64, u64) {
    (rng.next_u64(), 0)
}
