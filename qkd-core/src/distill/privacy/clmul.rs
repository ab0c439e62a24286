//! Carry-less (GF(2)\[x\]) multiplication of two 64-bit words into a 128-bit product.
//!
//! [`clmul_soft`] is portable safe Rust built on ordinary integer multiplication with "holes"
//! (each operand is split into five interleaved bit classes so that carries never reach a bit of
//! the class that is kept). It is checked against the bit-by-bit [`clmul_reference`].
//!
//! [`clmul`] uses the `PCLMULQDQ` instruction instead when the CPU has it (detected at run time;
//! the bulk kernels of the Toeplitz product live in the `clmul_x86` module and are selected via
//! [`ClmulBackend`](super::ClmulBackend)).

/// Bit masks of the five classes of positions `i ≡ c (mod 5)` in a 64-bit word.
const M64: [u64; 5] = masks64();
/// The same classes in a 128-bit word.
const M128: [u128; 5] = masks128();

const fn masks64() -> [u64; 5] {
    let mut out = [0u64; 5];
    let mut i = 0;
    while i < 64 {
        out[i % 5] |= 1 << i;
        i += 1;
    }
    out
}

const fn masks128() -> [u128; 5] {
    let mut out = [0u128; 5];
    let mut i = 0;
    while i < 128 {
        out[i % 5] |= 1 << i;
        i += 1;
    }
    out
}

/// Carry-less product of `a` and `b` in portable safe Rust.
///
/// Why it is exact: `a & M64[c]` has at most 13 set bits (positions `c, c + 5, ...` below 64), so
/// in the integer product `(a & M64[c]) * (b & M64[d])` every position of class `(c + d) mod 5`
/// collects at most 13 one-terms. 13 < 2^5, so carries out of such a position stay within the
/// next four positions (other classes, masked away) and never reach the next position of the same
/// class. The kept bits are therefore the parities of the term counts, i.e. the GF(2) product.
#[inline]
pub fn clmul_soft(a: u64, b: u64) -> u128 {
    let mut r = 0u128;
    for (c, &mc) in M64.iter().enumerate() {
        let ac = (a & mc) as u128;
        for (d, &md) in M64.iter().enumerate() {
            r ^= (ac * (b & md) as u128) & M128[(c + d) % 5];
        }
    }
    r
}

/// Carry-less product of `a` and `b`: by `PCLMULQDQ` when the CPU has it, else [`clmul_soft`].
///
/// ```
/// use qkd_core::distill::privacy::clmul::clmul;
/// // (x + 1)^2 = x^2 + 1 over GF(2)
/// assert_eq!(clmul(0b11, 0b11), 0b101);
/// ```
#[inline]
pub fn clmul(a: u64, b: u64) -> u128 {
    super::Kernel::best().clmul(a, b)
}

/// Bit-by-bit reference product (slow; for tests).
pub fn clmul_reference(a: u64, b: u64) -> u128 {
    let mut r = 0u128;
    for i in 0..64 {
        if (b >> i) & 1 == 1 {
            r ^= (a as u128) << i;
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng, rngs::StdRng};

    #[test]
    fn soft_matches_reference() {
        let mut rng = StdRng::seed_from_u64(1);
        let edge = [
            0u64,
            1,
            u64::MAX,
            1 << 63,
            0x5555_5555_5555_5555,
            0xAAAA_AAAA_AAAA_AAAA,
        ];
        for &a in &edge {
            for &b in &edge {
                assert_eq!(clmul_soft(a, b), clmul_reference(a, b), "{a:x} {b:x}");
                assert_eq!(clmul(a, b), clmul_reference(a, b), "{a:x} {b:x}");
            }
        }
        for _ in 0..20_000 {
            let (a, b): (u64, u64) = (rng.random(), rng.random());
            assert_eq!(clmul_soft(a, b), clmul_reference(a, b));
            assert_eq!(clmul(a, b), clmul_reference(a, b));
        }
    }
}
