//! Deterministic pseudo-random choices from a shared seed: per-pass shuffles for Cascade and
//! sample positions for parameter estimation.
//!
//! Both ends of a link must derive exactly the same values, across machines and versions, so the
//! algorithms are fixed here rather than borrowed from `rand`'s distributions (whose values may
//! change between releases): the stream is ChaCha20 (`rand_chacha`, value-stable and tested
//! against reference vectors) keyed by the 256-bit seed, with the ChaCha nonce ("stream") set to
//! a purpose-specific number; integers below a bound use Lemire's widening-multiply method with
//! rejection (unbiased); permutations use the Fisher-Yates shuffle.

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

/// ChaCha stream reserved for parameter-estimation sampling.
pub(crate) const STREAM_ESTIMATION: u64 = 0x4553_5449_4d41_5445; // "ESTIMATE"
/// ChaCha stream of Cascade pass `p` is `STREAM_CASCADE_BASE + p`.
pub(crate) const STREAM_CASCADE_BASE: u64 = 0x4341_5343_0000_0000; // "CASC"

/// A deterministic generator keyed by a shared seed.
pub(crate) struct SeededRng(ChaCha20Rng);

impl SeededRng {
    /// The generator for `seed` on stream `stream`.
    pub(crate) fn new(seed: &[u8; 32], stream: u64) -> Self {
        let mut rng = ChaCha20Rng::from_seed(*seed);
        rng.set_stream(stream);
        Self(rng)
    }

    /// A uniform integer in `0..bound` (`bound > 0`), by Lemire's method: the high word of
    /// `x * bound` for a uniform 64-bit `x`, rejecting the `2^64 mod bound` low values that
    /// would bias it.
    pub(crate) fn below(&mut self, bound: u64) -> u64 {
        debug_assert!(bound > 0);
        let threshold = bound.wrapping_neg() % bound; // 2^64 mod bound
        loop {
            let m = u128::from(self.0.next_u64()) * u128::from(bound);
            if (m as u64) >= threshold {
                return (m >> 64) as u64;
            }
        }
    }
}

/// A uniformly random permutation of `0..n` (Fisher-Yates), as a table `pos[x]` = new position
/// of original position `x`. `n` must fit in `u32` (checked by the callers).
pub(crate) fn permutation(n: usize, seed: &[u8; 32], stream: u64) -> Vec<u32> {
    let mut rng = SeededRng::new(seed, stream);
    let mut pos: Vec<u32> = (0..n as u32).collect();
    for i in (1..n).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        pos.swap(i, j);
    }
    pos
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutation_is_a_bijection_and_deterministic() {
        let seed = [7u8; 32];
        let p = permutation(1000, &seed, 3);
        let mut seen = vec![false; 1000];
        for &q in &p {
            assert!(!seen[q as usize]);
            seen[q as usize] = true;
        }
        assert_eq!(p, permutation(1000, &seed, 3));
        assert_ne!(p, permutation(1000, &seed, 4));
        let other_seed = [8u8; 32];
        assert_ne!(p, permutation(1000, &other_seed, 3));
    }

    #[test]
    fn below_is_uniform_enough() {
        // 60_000 draws in 0..6: each count is Binomial(60000, 1/6), mean 10000, sd ~91.3;
        // 5 sigma is ~457, so each count must lie in 10000 +- 460.
        let mut rng = SeededRng::new(&[1u8; 32], 0);
        let mut counts = [0u32; 6];
        for _ in 0..60_000 {
            counts[rng.below(6) as usize] += 1;
        }
        for c in counts {
            assert!((9540..=10460).contains(&c), "{counts:?}");
        }
    }
}
