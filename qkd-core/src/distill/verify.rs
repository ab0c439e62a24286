//! Verification: after error correction, the two ends compare a universal hash of their keys and
//! discard the block unless the hashes agree.
//!
//! # Hash and collision bound
//! The key (`n` bits) is cut into `L = ceil(n / 64)` words `w_1..w_L` (the last zero-padded) and
//! hashed as the polynomial evaluation
//!
//! `H_r(w) = r^(L+1) * w_1 + r^L * w_2 + ... + r^2 * w_L + r * n`   over GF(2^64)
//!
//! (GF(2^64) = GF(2)\[x\] / (x^64 + x^4 + x^3 + x + 1); the bit length `n` is hashed too). For
//! two different keys the difference of their hashes is a nonzero polynomial in `r` of degree at
//! most `L + 1`, which has at most `L + 1` roots, so for a uniformly random `r` unknown when the
//! keys were fixed, `Pr[H_r(a) = H_r(b)] <= (L + 1) / 2^64`. With `t` independent keys
//! `r_1..r_t` and `t` tags, `Pr[all t collide] <= ((L + 1) / 2^64)^t`, and this is the
//! probability that unequal keys pass verification: `eps_cor`. [`tags_needed`] picks the smallest
//! `t` with `((L + 1) / 2^64)^t <= eps_cor`; `t = 1` gives `eps_cor <= 1e-12` for keys up to
//! `64 * (1.8e7 - 1)` bits (about 1.2e9), so one 64-bit tag is the usual case.
//!
//! The tags are public: the `64 t` tag bits are counted as disclosed and subtracted in the key
//! length. The hash keys `r_i` are drawn by the initiator after error correction has finished.
//!
//! # Messages (sans-IO)
//! The initiator sends a [`VerifyRequest`] (hash keys and its tags); the responder computes its own
//! tags, compares them in constant time and answers with a [`VerifyResponse`]. Both ends then know
//! the outcome; on mismatch both must discard the block.

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use thiserror::Error;

use super::privacy::clmul::clmul;
use crate::bits::BitString;

/// Verification failures. Carries no key material.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum VerifyError {
    /// The tags differ: the corrected keys are not equal. The block must be discarded.
    #[error("verification failed: the corrected keys differ; block discarded")]
    Mismatch,
    /// The key to verify is empty.
    #[error("cannot verify an empty key")]
    EmptyKey,
    /// `eps_cor` is not in (0, 1).
    #[error("eps_cor must be in (0, 1), got {0}")]
    BadEpsilon(f64),
    /// The request is malformed (no hash keys, or as many tags as keys are missing).
    #[error("malformed verification request: {0}")]
    Malformed(&'static str),
    /// The peer's key length differs from ours.
    #[error("peer verified {peer} bits, we hold {ours}")]
    LengthMismatch {
        /// Our key length.
        ours: usize,
        /// The peer's key length.
        peer: usize,
    },
}

/// Multiplication in GF(2^64) = GF(2)\[x\] / (x^64 + x^4 + x^3 + x + 1).
#[inline]
pub fn gf64_mul(a: u64, b: u64) -> u64 {
    let p = clmul(a, b);
    let (lo, hi) = (p as u64, (p >> 64) as u64);
    // hi * x^64 = hi * (x^4 + x^3 + x + 1); the part of that above x^63 is folded once more.
    let over = (hi >> 60) ^ (hi >> 61) ^ (hi >> 63);
    let t = hi ^ over;
    lo ^ t ^ (t << 1) ^ (t << 3) ^ (t << 4)
}

/// The polynomial hash `H_r` of `key` (see the [module documentation](self)).
pub fn poly_hash(r: u64, key: &BitString) -> u64 {
    let mut acc = 0u64;
    for &w in key.words() {
        acc = gf64_mul(acc ^ w, r);
    }
    gf64_mul(acc ^ key.len() as u64, r)
}

/// Upper bound on the probability that two different keys of `key_bits` bits share one tag:
/// `(ceil(key_bits / 64) + 1) / 2^64`.
pub fn collision_bound(key_bits: usize) -> f64 {
    (key_bits.div_ceil(64) as f64 + 1.0) / 2f64.powi(64)
}

/// The number of 64-bit tags `t` such that `collision_bound(key_bits)^t <= eps_cor`.
pub fn tags_needed(key_bits: usize, eps_cor: f64) -> Result<usize, VerifyError> {
    if !(eps_cor > 0.0 && eps_cor < 1.0) {
        return Err(VerifyError::BadEpsilon(eps_cor));
    }
    let per_tag = collision_bound(key_bits).log2(); // negative
    Ok(((eps_cor.log2() / per_tag).ceil() as usize).max(1))
}

/// The initiator's message: hash keys and the initiator's tags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyRequest {
    /// Key length in bits the tags were computed over.
    pub key_bits: u64,
    /// Hash keys `r_1..r_t` (public once sent).
    pub hash_keys: Vec<u64>,
    /// Tags `H_{r_i}(key)` of the initiator's key.
    pub tags: Vec<u64>,
}

/// The responder's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyResponse {
    /// True when the responder's tags equal the initiator's.
    pub equal: bool,
}

impl VerifyRequest {
    /// Builds the request for `key` with the given hash keys (drawn by the caller from a secure
    /// RNG; [`tags_needed`] tells how many).
    pub fn new(key: &BitString, hash_keys: Vec<u64>) -> Result<Self, VerifyError> {
        if key.is_empty() {
            return Err(VerifyError::EmptyKey);
        }
        if hash_keys.is_empty() {
            return Err(VerifyError::Malformed("no hash keys"));
        }
        let tags = hash_keys.iter().map(|&r| poly_hash(r, key)).collect();
        Ok(Self {
            key_bits: key.len() as u64,
            hash_keys,
            tags,
        })
    }

    /// Bits of information about the key that the request discloses (`64 t`).
    pub fn disclosed_bits(&self) -> u64 {
        64 * self.tags.len() as u64
    }
}

/// The responder's step: compares `key`'s tags with the request's in constant time. Returns the
/// response to send and `Ok(())` when equal, or [`VerifyError::Mismatch`] (after which the block
/// must be discarded; the response still has to be sent so that the initiator discards it too).
pub fn respond(
    key: &BitString,
    request: &VerifyRequest,
) -> (VerifyResponse, Result<(), VerifyError>) {
    let fail = |e| (VerifyResponse { equal: false }, Err(e));
    if key.is_empty() {
        return fail(VerifyError::EmptyKey);
    }
    if request.hash_keys.is_empty() || request.hash_keys.len() != request.tags.len() {
        return fail(VerifyError::Malformed(
            "hash keys and tags differ in number",
        ));
    }
    if request.key_bits != key.len() as u64 {
        return fail(VerifyError::LengthMismatch {
            ours: key.len(),
            peer: usize::try_from(request.key_bits).unwrap_or(usize::MAX),
        });
    }
    let mut equal = subtle::Choice::from(1u8);
    for (&r, &tag) in request.hash_keys.iter().zip(&request.tags) {
        equal &= poly_hash(r, key).ct_eq(&tag);
    }
    if bool::from(equal) {
        (VerifyResponse { equal: true }, Ok(()))
    } else {
        fail(VerifyError::Mismatch)
    }
}

/// The initiator's final step: `Ok(())` when the responder reported equal tags.
pub fn finish(response: &VerifyResponse) -> Result<(), VerifyError> {
    if response.equal {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng, rngs::StdRng};

    /// Bit-by-bit multiplication modulo x^64 + x^4 + x^3 + x + 1.
    fn gf64_mul_slow(a: u64, b: u64) -> u64 {
        let mut acc = 0u64;
        let mut a = a;
        for i in 0..64 {
            if (b >> i) & 1 == 1 {
                acc ^= a;
            }
            let carry = a >> 63;
            a <<= 1;
            if carry == 1 {
                a ^= 0x1B;
            }
        }
        acc
    }

    fn gcd_poly(mut a: u128, mut b: u128) -> u128 {
        let deg = |x: u128| 127 - x.leading_zeros() as i32;
        while b != 0 {
            while a != 0 && deg(a) >= deg(b) {
                a ^= b << (deg(a) - deg(b));
            }
            std::mem::swap(&mut a, &mut b);
        }
        a
    }

    #[test]
    fn field_multiplication_matches_slow() {
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..5000 {
            let (a, b) = (rng.random::<u64>(), rng.random::<u64>());
            assert_eq!(gf64_mul(a, b), gf64_mul_slow(a, b));
        }
        assert_eq!(
            gf64_mul(u64::MAX, u64::MAX),
            gf64_mul_slow(u64::MAX, u64::MAX)
        );
        assert_eq!(gf64_mul(1, 0xdead), 0xdead);
    }

    #[test]
    fn modulus_is_irreducible() {
        // Rabin's test for degree 64 (only prime divisor 2): x^(2^64) = x mod f and
        // gcd(x^(2^32) - x, f) = 1.
        let mut p = 2u64; // x
        for i in 1..=64 {
            p = gf64_mul(p, p);
            if i == 32 {
                let f = (1u128 << 64) | 0x1B;
                assert_eq!(gcd_poly(f, (p ^ 2) as u128), 1);
            }
        }
        assert_eq!(p, 2);
    }

    #[test]
    fn equal_keys_pass_and_different_keys_fail() {
        let mut rng = StdRng::seed_from_u64(4);
        let words: Vec<u64> = (0..40).map(|_| rng.random()).collect();
        let a = BitString::from_words(words, 2500);
        let req = VerifyRequest::new(&a, vec![rng.random(), rng.random()]).unwrap();
        assert_eq!(req.disclosed_bits(), 128);
        let (resp, res) = respond(&a.clone(), &req);
        assert!(resp.equal && res.is_ok() && finish(&resp).is_ok());
        for flip in [0, 63, 64, 2499] {
            let mut b = a.clone();
            b.flip(flip);
            let (resp, res) = respond(&b, &req);
            assert!(!resp.equal);
            assert_eq!(res, Err(VerifyError::Mismatch));
            assert_eq!(finish(&resp), Err(VerifyError::Mismatch));
        }
        let (resp, res) = respond(&a.slice(0, 2400), &req);
        assert!(!resp.equal);
        assert!(matches!(
            res,
            Err(VerifyError::LengthMismatch {
                ours: 2400,
                peer: 2500
            })
        ));
    }

    #[test]
    fn bad_input_is_an_error() {
        assert_eq!(
            VerifyRequest::new(&BitString::zeros(0), vec![1]),
            Err(VerifyError::EmptyKey)
        );
        assert!(VerifyRequest::new(&BitString::zeros(8), vec![]).is_err());
        let req = VerifyRequest {
            key_bits: 8,
            hash_keys: vec![1, 2],
            tags: vec![3],
        };
        assert!(matches!(
            respond(&BitString::zeros(8), &req).1,
            Err(VerifyError::Malformed(_))
        ));
        assert!(tags_needed(100, 0.0).is_err());
        assert!(tags_needed(100, 1.5).is_err());
        assert!(tags_needed(100, f64::NAN).is_err());
    }

    #[test]
    fn tag_count_meets_eps_cor() {
        assert_eq!(tags_needed(1_000_000, 1e-12).unwrap(), 1);
        assert_eq!(tags_needed(100_000_000, 1e-12).unwrap(), 1);
        // 1e-30 needs ((L+1)/2^64)^t <= 1e-30 -> t = 2 for a 1e6-bit key (one tag gives ~8.5e-16).
        assert_eq!(tags_needed(1_000_000, 1e-30).unwrap(), 2);
        for (bits, eps) in [(1000usize, 1e-12), (10_000_000, 1e-12), (1000, 1e-40)] {
            let t = tags_needed(bits, eps).unwrap() as i32;
            assert!(collision_bound(bits).powi(t) <= eps);
            assert!(t == 1 || collision_bound(bits).powi(t - 1) > eps);
        }
    }
}
