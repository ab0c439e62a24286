//! Parameter estimation: the quantum bit error rate (QBER) of a sifted key, with a statistical
//! upper bound and an abort threshold.
//!
//! Two sources of the error rate:
//!
//! * **A random sample** revealed over the classical channel. Sans-IO: both ends derive the same
//!   [`Sample`] (positions chosen from a shared seed), each sends the bits at those positions
//!   ([`Sample::reveal`], a serde-serialisable [`RevealedBits`]), both compare them
//!   ([`QberEstimate::from_revealed`]) and drop the revealed bits from their key
//!   ([`Sample::remove_from`]) because they are public now.
//! * **The exact error count** of error correction ([`QberEstimate::from_exact_count`]): Cascade
//!   corrects every error it finds, so after successful verification the number of flipped bits
//!   is the exact number of errors of the block (the key's own error rate, no statistics needed).
//!
//! ## The upper bound
//!
//! The sample of `k` bits is drawn uniformly without replacement from the `n + k` sifted bits;
//! the key keeps the other `n`. Serfling's inequality for sampling without replacement
//! (R. J. Serfling, Ann. Statist. 2(1), 39-48, 1974, Cor. 1.1), applied with the `n` key bits as
//! the "sample" of the `n + k` population exactly as in the finite-key analysis of Tomamichel,
//! Lim, Gisin and Renner (Nat. Commun. 3, 634, 2012, Supplementary Note), gives for the error
//! rate `lambda_key` of the key and `lambda_k` of the sample
//!
//! ```text
//! P[ lambda_key >= lambda_k + mu ] <= exp( -2 mu^2 n k^2 / ((n + k)(k + 1)) )
//! ```
//!
//! so with failure probability `eps` (setting the right side equal to `eps`)
//!
//! ```text
//! mu(eps) = sqrt( (n + k)(k + 1) ln(1/eps) / (2 n k^2) )
//! ```
//!
//! and [`QberEstimate::upper_bound`] is `min(lambda_k + mu, 0.5)` (Tomamichel et al. state the same
//! bound with `eps^2` in place of `eps`; pass `eps^2` to reproduce their `mu` exactly). The block
//! is aborted when that bound exceeds the configured threshold ([`QberEstimate::check`]).

use serde::{Deserialize, Serialize};

use super::DistillError;
use super::cascade::shuffle::{STREAM_ESTIMATION, SeededRng};
use crate::bits::BitString;

/// Minimum seed length for sampling, in bytes (256 bits).
pub const SEED_BYTES: usize = 32;

/// Positions of a key revealed for parameter estimation, distinct (kept as a bitmap of the key's
/// length: public, not key material).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    chosen: BitString,
    size: usize,
}

impl Sample {
    /// Chooses `sample_size` distinct positions uniformly at random among `0..key_len`, from a
    /// shared seed of at least [`SEED_BYTES`] bytes (only the first 32 are used), so both ends
    /// choose the same ones. Floyd's algorithm over a ChaCha20 stream (see the `shuffle`
    /// notes in [`cascade`](super::cascade)): `sample_size` draws (32-bit while `key_len` fits
    /// in 32 bits), membership kept in a bitmap of `key_len` bits (which also yields the
    /// positions in order, without sorting).
    ///
    /// Errors: [`DistillError::SeedTooShort`]; [`DistillError::EmptyKey`] if `key_len` is 0;
    /// [`DistillError::InvalidParameter`] unless `0 < sample_size < key_len` (a key must remain).
    pub fn choose(key_len: usize, sample_size: usize, seed: &[u8]) -> Result<Self, DistillError> {
        let seed = seed_array(seed)?;
        if key_len == 0 {
            return Err(DistillError::EmptyKey);
        }
        if sample_size == 0 || sample_size >= key_len {
            return Err(DistillError::InvalidParameter(format!(
                "sample size {sample_size} must be in 1..{key_len} (the key length)"
            )));
        }
        let mut rng = SeededRng::new(&seed, STREAM_ESTIMATION);
        // Floyd: for j in n-k..n, pick t in 0..=j; insert t, or j if t is taken.
        let mut chosen = BitString::zeros(key_len);
        // 32-bit draws while the bound fits (wire version 2; half the generator output).
        let draw = |rng: &mut SeededRng, bound: usize| match u32::try_from(bound) {
            Ok(bound) => rng.below_u32(bound) as usize,
            Err(_) => rng.below(bound as u64) as usize,
        };
        let bitmap = chosen.words_mut();
        for j in (key_len - sample_size)..key_len {
            let t = draw(&mut rng, j + 1);
            let taken = (bitmap[t / 64] >> (t % 64)) & 1 == 1;
            let pick = if taken { j } else { t };
            bitmap[pick / 64] |= 1u64 << (pick % 64);
        }
        Ok(Self {
            chosen,
            size: sample_size,
        })
    }

    /// The chosen positions, ascending.
    pub fn positions(&self) -> Vec<usize> {
        let mut positions = Vec::with_capacity(self.size);
        for (w, &word) in self.chosen.words().iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                positions.push(w * 64 + bits.trailing_zeros() as usize);
                bits &= bits - 1;
            }
        }
        positions
    }

    /// Number of positions.
    pub fn len(&self) -> usize {
        self.size
    }

    /// True when no position is chosen (never, for a sample built by [`choose`](Self::choose)).
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// Length of the key the sample was drawn from.
    pub fn key_len(&self) -> usize {
        self.chosen.len()
    }

    /// The bits of `key` at the sample positions, in order, to send to the peer.
    /// Errors: [`DistillError::LengthMismatch`] if `key` is not [`key_len`](Self::key_len) long.
    pub fn reveal(&self, key: &BitString) -> Result<RevealedBits, DistillError> {
        self.check_len(key)?;
        let bits = key.selected(&self.chosen);
        Ok(RevealedBits {
            len: bits.len() as u64,
            words: bits.words().to_vec(),
        })
    }

    /// `key` without the sample positions (they are public once revealed).
    /// Errors: [`DistillError::LengthMismatch`] if `key` is not [`key_len`](Self::key_len) long.
    pub fn remove_from(&self, key: &BitString) -> Result<BitString, DistillError> {
        self.check_len(key)?;
        Ok(key.unselected(&self.chosen))
    }

    fn check_len(&self, key: &BitString) -> Result<(), DistillError> {
        if key.len() != self.key_len() {
            return Err(DistillError::LengthMismatch {
                expected: self.key_len(),
                actual: key.len(),
            });
        }
        Ok(())
    }
}

/// Bits revealed for parameter estimation: the message each end sends the other. These bits are
/// public (they are dropped from the key), so the type is plain data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevealedBits {
    /// Number of bits.
    pub len: u64,
    /// The bits, packed little-endian into words (bit `i` is bit `i % 64` of word `i / 64`);
    /// encoded as one byte string.
    #[serde(with = "crate::packed::words")]
    pub words: Vec<u64>,
}

impl RevealedBits {
    /// Packs `bits`.
    pub fn from_bits(bits: &BitString) -> Self {
        Self {
            len: bits.len() as u64,
            words: bits.words().to_vec(),
        }
    }

    /// Unpacks, checking the declared length against the words sent.
    /// Errors: [`DistillError::Protocol`] if `words` does not hold exactly `len` bits.
    pub fn to_bits(&self) -> Result<BitString, DistillError> {
        let len = usize::try_from(self.len)
            .map_err(|_| DistillError::Protocol("revealed bit count overflows".into()))?;
        if self.words.len() != len.div_ceil(64) {
            return Err(DistillError::Protocol(format!(
                "revealed bits: {} words cannot hold exactly {len} bits",
                self.words.len()
            )));
        }
        Ok(BitString::from_words(self.words.clone(), len))
    }
}

/// An estimate of the QBER with an upper confidence bound.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QberEstimate {
    /// Errors observed (disagreeing sample bits, or bits corrected).
    pub errors: usize,
    /// Bits compared (the sample size `k`, or the block length for an exact count).
    pub compared: usize,
    /// Bits the estimate speaks about (the key length `n` left after sampling).
    pub key_len: usize,
    /// The point estimate `errors / compared`.
    pub qber: f64,
    /// The upper bound on the key's error rate (equal to `qber` for an exact count).
    pub upper_bound: f64,
    /// Probability that the key's error rate exceeds `upper_bound` (0 for an exact count).
    pub failure_probability: f64,
}

impl QberEstimate {
    /// From counts: `errors` disagreements among `sample_size` revealed bits, the key keeping
    /// `key_len` other bits; bound with failure probability `eps` (see the module notes).
    ///
    /// Errors: [`DistillError::EmptyKey`] if `sample_size` or `key_len` is 0;
    /// [`DistillError::InvalidParameter`] if `errors > sample_size` or `eps` is not in (0, 1).
    pub fn from_counts(
        errors: usize,
        sample_size: usize,
        key_len: usize,
        eps: f64,
    ) -> Result<Self, DistillError> {
        if sample_size == 0 || key_len == 0 {
            return Err(DistillError::EmptyKey);
        }
        if errors > sample_size {
            return Err(DistillError::InvalidParameter(format!(
                "{errors} errors among {sample_size} sample bits"
            )));
        }
        if !(eps > 0.0 && eps < 1.0) {
            return Err(DistillError::InvalidParameter(format!(
                "failure probability {eps} must be in (0, 1)"
            )));
        }
        let qber = errors as f64 / sample_size as f64;
        let upper_bound = (qber + serfling_mu(key_len, sample_size, eps)).min(0.5);
        Ok(Self {
            errors,
            compared: sample_size,
            key_len,
            qber,
            upper_bound,
            failure_probability: eps,
        })
    }

    /// From the revealed bits of both ends; `key_len` is the length of the key that remains
    /// after removing the sample.
    ///
    /// Errors: as [`from_counts`](Self::from_counts), plus [`DistillError::LengthMismatch`] if the
    /// two reveals differ in length and [`DistillError::Protocol`] if one is malformed.
    pub fn from_revealed(
        local: &RevealedBits,
        peer: &RevealedBits,
        key_len: usize,
        eps: f64,
    ) -> Result<Self, DistillError> {
        let (a, b) = (local.to_bits()?, peer.to_bits()?);
        if a.len() != b.len() {
            return Err(DistillError::LengthMismatch {
                expected: a.len(),
                actual: b.len(),
            });
        }
        Self::from_counts(a.hamming_distance(&b), a.len(), key_len, eps)
    }

    /// The exact error rate of a corrected block: `errors` bits were flipped in a block of
    /// `key_len` bits. Valid once the corrected block passed verification. The bound equals the
    /// point value and the failure probability is 0.
    ///
    /// Errors: [`DistillError::EmptyKey`] if `key_len` is 0; [`DistillError::InvalidParameter`]
    /// if `errors > key_len`.
    pub fn from_exact_count(errors: usize, key_len: usize) -> Result<Self, DistillError> {
        if key_len == 0 {
            return Err(DistillError::EmptyKey);
        }
        if errors > key_len {
            return Err(DistillError::InvalidParameter(format!(
                "{errors} errors in {key_len} bits"
            )));
        }
        let qber = errors as f64 / key_len as f64;
        Ok(Self {
            errors,
            compared: key_len,
            key_len,
            qber,
            upper_bound: qber,
            failure_probability: 0.0,
        })
    }

    /// Aborts when the upper bound exceeds `threshold`.
    ///
    /// Errors: [`DistillError::QberAboveThreshold`] when `upper_bound > threshold`;
    /// [`DistillError::QberOutOfRange`] if `threshold` is not in (0, 0.5].
    pub fn check(&self, threshold: f64) -> Result<(), DistillError> {
        if !(threshold > 0.0 && threshold <= 0.5) {
            return Err(DistillError::QberOutOfRange {
                qber: threshold,
                min: 0.0,
                max: 0.5,
            });
        }
        if self.upper_bound > threshold {
            return Err(DistillError::QberAboveThreshold {
                estimate: self.qber,
                bound: self.upper_bound,
                threshold,
            });
        }
        Ok(())
    }
}

/// The Serfling deviation `mu(eps) = sqrt((n + k)(k + 1) ln(1/eps) / (2 n k^2))` for a key of
/// `n` bits and a sample of `k` bits (see the module notes). `n, k > 0`, `0 < eps < 1`.
pub fn serfling_mu(n: usize, k: usize, eps: f64) -> f64 {
    let (n, k) = (n as f64, k as f64);
    ((n + k) * (k + 1.0) * (1.0 / eps).ln() / (2.0 * n * k * k)).sqrt()
}

fn seed_array(seed: &[u8]) -> Result<[u8; 32], DistillError> {
    seed.get(..SEED_BYTES)
        .and_then(|s| <[u8; 32]>::try_from(s).ok())
        .ok_or(DistillError::SeedTooShort {
            len: seed.len() * 8,
            min: SEED_BYTES * 8,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha8Rng;
    use rand_core::{Rng, SeedableRng};
    #[test]
    fn sample_is_sorted_distinct_deterministic_and_in_range() {
        let seed = [3u8; 32];
        let s = Sample::choose(10_000, 500, &seed).unwrap();
        assert_eq!(s.len(), 500);
        assert_eq!(
            s.positions().len(),
            500,
            "the bitmap holds as many positions"
        );
        assert!(s.positions().windows(2).all(|w| w[0] < w[1]));
        assert!(s.positions().iter().all(|&p| p < 10_000));
        assert_eq!(s, Sample::choose(10_000, 500, &seed).unwrap());
        assert_ne!(s, Sample::choose(10_000, 500, &[4u8; 32]).unwrap());
    }

    #[test]
    fn sample_positions_are_uniform() {
        // Each position is chosen with probability k/n = 0.1. Over 200 seeds the number of
        // times positions 0..100 (the first decile) are chosen is a sum of 200 hypergeometric
        // counts, mean 200 * 10 = 2000, variance <= 200 * 100 * 0.1 * 0.9 = 1800, sd <= 42.5;
        // 5 sigma = 212.
        let mut first_decile = 0usize;
        for s in 0..200u8 {
            let sample = Sample::choose(1000, 100, &[s; 32]).unwrap();
            first_decile += sample.positions().iter().filter(|&&p| p < 100).count();
        }
        assert!((1788..=2212).contains(&first_decile), "{first_decile}");
    }

    #[test]
    fn remove_and_reveal_match_the_definition_on_long_keys() {
        // Dense and sparse samples of keys long enough for many words with several sample
        // bits each, and lengths that end mid-word.
        for (len, k, seed) in [
            (300_001, 30_000, 1u8),
            (262_144, 200_000, 2),
            (100_037, 9, 3),
        ] {
            let key = BitString::random(len, &mut ChaCha8Rng::seed_from_u64(u64::from(seed)));
            let s = Sample::choose(len, k, &[seed; 32]).unwrap();
            let mut sampled = vec![false; len];
            for p in s.positions() {
                sampled[p] = true;
            }
            let rest: Vec<bool> = (0..len)
                .filter(|&i| !sampled[i])
                .map(|i| key.get(i))
                .collect();
            assert_eq!(s.remove_from(&key).unwrap(), BitString::from_bools(&rest));
            let shown: Vec<bool> = s.positions().iter().map(|&p| key.get(p)).collect();
            let revealed = s.reveal(&key).unwrap().to_bits().unwrap();
            assert_eq!(revealed, BitString::from_bools(&shown));
        }
    }

    proptest::proptest! {
        /// The word-level removal equals the bit-by-bit definition for any length and sample,
        /// including runs that start or end on word boundaries.
        #[test]
        fn remove_from_equals_the_bitwise_definition(
            len in 2usize..700,
            frac in 0.0f64..1.0,
            seed in proptest::array::uniform32(proptest::num::u8::ANY),
            key_seed in proptest::num::u64::ANY,
        ) {
            let k = ((len - 1) as f64 * frac) as usize + 1;
            let k = k.min(len - 1);
            let key = BitString::random(len, &mut ChaCha8Rng::seed_from_u64(key_seed));
            let s = Sample::choose(len, k, &seed).unwrap();
            let rest = s.remove_from(&key).unwrap();
            let positions = s.positions();
            let expect: Vec<bool> = (0..len)
                .filter(|i| positions.binary_search(i).is_err())
                .map(|i| key.get(i))
                .collect();
            proptest::prop_assert_eq!(rest, BitString::from_bools(&expect));
        }
    }

    #[test]
    fn sample_choice_is_stable() {
        // Floyd's algorithm over the seeded stream: pinned so both ends (and releases of one
        // wire version, `pipeline::WIRE_VERSION`) agree. Version 2 draws 32-bit values.
        let s = Sample::choose(100, 5, &[1u8; 32]).unwrap();
        assert_eq!(s.positions(), [13, 18, 63, 79, 92]);
    }

    #[test]
    fn reveal_and_remove_are_consistent() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let key = BitString::random(1000, &mut rng);
        let s = Sample::choose(1000, 137, &[9u8; 40]).unwrap();
        let revealed = s.reveal(&key).unwrap().to_bits().unwrap();
        let rest = s.remove_from(&key).unwrap();
        assert_eq!(revealed.len(), 137);
        assert_eq!(rest.len(), 863);
        // Interleave them back and compare with the key.
        let positions = s.positions();
        let (mut r, mut k) = (0, 0);
        for i in 0..1000 {
            let bit = if positions.binary_search(&i).is_ok() {
                r += 1;
                revealed.get(r - 1)
            } else {
                k += 1;
                rest.get(k - 1)
            };
            assert_eq!(bit, key.get(i), "bit {i}");
        }
    }

    #[test]
    fn estimate_counts_errors_and_bounds_them() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let a = BitString::random(20_000, &mut rng);
        let mut b = a.clone();
        for i in (0..20_000).step_by(50) {
            b.flip(i); // 2% errors, evenly spread
        }
        let s = Sample::choose(20_000, 2_000, &[5u8; 32]).unwrap();
        let est = QberEstimate::from_revealed(
            &s.reveal(&a).unwrap(),
            &s.reveal(&b).unwrap(),
            18_000,
            1e-10,
        )
        .unwrap();
        let expected = s.positions().iter().filter(|&&p| p % 50 == 0).count();
        assert_eq!(est.errors, expected);
        assert_eq!(est.compared, 2000);
        // mu = sqrt(20000 * 2001 * ln(1e10) / (2 * 18000 * 2000^2)) = 0.079995
        let mu = est.upper_bound - est.qber;
        assert!((mu - 0.079995).abs() < 1e-5, "{mu}");
        assert!(est.check(0.11).is_ok());
        assert!(matches!(
            est.check(0.05),
            Err(DistillError::QberAboveThreshold { threshold, .. }) if threshold == 0.05
        ));
    }

    #[test]
    fn bound_covers_the_key_error_rate() {
        // With eps = 1e-3 the bound may fail in at most 0.1% of trials; over 100 fixed seeds we
        // expect none (P[any failure] <= 0.1).
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for t in 0..100u8 {
            let a = BitString::random(4_000, &mut rng);
            let mut b = a.clone();
            for i in 0..4_000 {
                if rng.next_u32() % 20 == 0 {
                    b.flip(i); // 5% iid errors
                }
            }
            let s = Sample::choose(4_000, 400, &[t; 32]).unwrap();
            let est = QberEstimate::from_revealed(
                &s.reveal(&a).unwrap(),
                &s.reveal(&b).unwrap(),
                3_600,
                1e-3,
            )
            .unwrap();
            let key_errors = s
                .remove_from(&a)
                .unwrap()
                .hamming_distance(&s.remove_from(&b).unwrap());
            assert!(key_errors as f64 / 3600.0 <= est.upper_bound, "trial {t}");
        }
    }

    #[test]
    fn exact_count() {
        let e = QberEstimate::from_exact_count(20, 1000).unwrap();
        assert_eq!(
            (e.qber, e.upper_bound, e.failure_probability),
            (0.02, 0.02, 0.0)
        );
        assert!(e.check(0.02).is_ok());
        assert!(e.check(0.019).is_err());
    }

    #[test]
    fn bad_input_is_an_error() {
        assert_eq!(
            Sample::choose(100, 10, &[0u8; 31]),
            Err(DistillError::SeedTooShort { len: 248, min: 256 })
        );
        assert_eq!(
            Sample::choose(0, 0, &[0u8; 32]),
            Err(DistillError::EmptyKey)
        );
        assert!(Sample::choose(100, 100, &[0u8; 32]).is_err());
        assert!(Sample::choose(100, 0, &[0u8; 32]).is_err());
        let s = Sample::choose(100, 10, &[0u8; 32]).unwrap();
        assert!(matches!(
            s.reveal(&BitString::zeros(99)),
            Err(DistillError::LengthMismatch {
                expected: 100,
                actual: 99
            })
        ));
        assert!(s.remove_from(&BitString::zeros(101)).is_err());
        assert!(QberEstimate::from_counts(11, 10, 100, 1e-9).is_err());
        assert!(QberEstimate::from_counts(1, 10, 100, 0.0).is_err());
        assert!(QberEstimate::from_counts(1, 10, 100, f64::NAN).is_err());
        assert!(QberEstimate::from_counts(1, 0, 100, 0.1).is_err());
        assert!(QberEstimate::from_exact_count(1, 0).is_err());
        assert!(QberEstimate::from_exact_count(2, 1).is_err());
        let e = QberEstimate::from_exact_count(1, 10).unwrap();
        assert!(matches!(
            e.check(0.7),
            Err(DistillError::QberOutOfRange { .. })
        ));
        assert!(matches!(
            e.check(f64::NAN),
            Err(DistillError::QberOutOfRange { .. })
        ));
        let forged = RevealedBits {
            len: 65,
            words: vec![0],
        };
        assert!(matches!(forged.to_bits(), Err(DistillError::Protocol(_))));
        let short = RevealedBits {
            len: 3,
            words: vec![0],
        };
        assert!(matches!(
            QberEstimate::from_revealed(&forged, &short, 10, 0.1),
            Err(DistillError::Protocol(_))
        ));
    }
}
