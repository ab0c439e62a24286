//! Six-state protocol (Bruss 1998) rules for the prepare-and-measure engines.
//!
//! Like BB84 with a third basis, Y (`|+i>`, `|-i>`); bases are chosen uniformly among three, so the
//! sifting yield is 1/3. Full intercept-resend in the three bases gives a QBER of 1/3, which makes
//! an eavesdropper easier to see than in BB84.
//!
//! Run it with [`PmAlice`](super::PmAlice) and [`PmBob`](super::PmBob) and a [`config`].

use rand::Rng;

use super::fastpath::uniform3;
use super::pm::{PrepWord, StateWord};
use super::{Backend, EngineConfig, Protocol};

/// The engine configuration for a six-state link of `target_sifted_bits` sifted bits.
pub fn config(backend: Backend, target_sifted_bits: usize) -> EngineConfig {
    EngineConfig::new(Protocol::SixState, backend, target_sifted_bits)
}

/// Alice's random choices: bit and basis (`lo`: X, `hi`: Y, neither: Z).
pub(crate) fn alice_word<R: Rng + ?Sized>(rng: &mut R) -> PrepWord {
    let bit = rng.next_u64();
    let (lo, hi) = uniform3(rng);
    PrepWord { bit, lo, hi }
}

/// The states: Z and X as in BB84, Y basis bit b is `|+i>` (b = 0) or `|-i>` (b = 1).
pub(crate) fn encode(p: &PrepWord) -> StateWord {
    StateWord {
        k0: 0,
        k1: p.lo,
        k2: p.bit,
        y: p.hi,
    }
}

/// Bob's random bases, uniform among Z, X and Y.
pub(crate) fn bob_bases<R: Rng + ?Sized>(rng: &mut R) -> (u64, u64) {
    uniform3(rng)
}
