//! Toeplitz hashing of large blocks by an exact additive FFT over GF(2^64) in the novel polynomial
//! basis of Lin, Chung and Han (Cantor basis), O(n log n) field operations.
//!
//! * **Packing.** `S(z)` and `X(z)` are cut into 32-bit chunks `a_i(z)`, `b_i(z)` and read as
//!   polynomials `A(Y) = sum a_i Y^i`, `B(Y)` over GF(2^64) = GF(2)\[z\]/(z^64 + z^4 + z^3 + z + 1)
//!   with `Y = z^32`. A field product of two chunks has degree at most 62, so it is never reduced:
//!   it equals the GF(2)\[z\] product, and every coefficient `c_k = sum a_i b_(k-i)` of `A B` is
//!   the exact GF(2)\[z\] polynomial (63 bits). `S X = sum c_k z^(32 k)` (overlapping words).
//! * **Product.** With `deg A + deg B < L = 2^K`: convert `A` and `B` to the novel basis
//!   ([`basis`]), evaluate both on the span of the first `K` Cantor basis elements ([`lch`]),
//!   multiply pointwise, interpolate, convert back.
//! * **Memory.** Two arrays of `L` words (the seed's and the key's; the key's is wiped), no
//!   other buffer of that size: 128 MiB at `n = 1e8`.

mod basis;
pub(crate) mod field;
pub(crate) mod lch;

use std::cell::RefCell;

use zeroize::{Zeroize, Zeroizing};

use super::kernel::Kernel;
pub(crate) use field::MAX_LOG;

/// 32-bit chunks of the first `bits` bits of `words`, one per `u64`, into `out` (rest zero).
fn chunks32(words: &[u64], bits: usize, out: &mut [u64]) {
    let nchunks = bits.div_ceil(32);
    let (used, rest) = out.split_at_mut(nchunks);
    for (pair, &w) in used.chunks_mut(2).zip(words) {
        pair[0] = w & 0xFFFF_FFFF;
        if let Some(hi) = pair.get_mut(1) {
            *hi = w >> 32;
        }
    }
    let tail = bits % 32;
    if tail != 0
        && let Some(last) = used.last_mut()
    {
        *last &= (1u64 << tail) - 1;
    }
    rest.fill(0);
}

/// Log2 of the transform length for an `m x n` Toeplitz hash (input `n` bits, seed `n + m - 1`),
/// or `None` beyond [`MAX_LOG`].
///
/// The transform computes `A B mod s_K` (`s_K` vanishes on the evaluation points). With
/// `T = deg A + deg B + 1` terms, `L = 2^K >= T` gives the exact product. When `K` is a power of
/// two, `s_K = x^L + x`, so a smaller such `L` also works as long as the wrapped terms stay out
/// of the chunks the output reads: `x^j = x^(j - L + 1)` for `L <= j < 2L - 1` sends the terms
/// above `L` to indices `1 ..= T - L`, which must lie below the first chunk that overlaps output
/// bits (`32 k + 62 >= n - 1`), and the seed's chunks must fit (`deg A < L`). This halves the
/// transform for `n + m` just below the powers `32 * 2^(2^t)` (e.g. `n = 10^6`, `m = n / 2`).
pub(crate) fn transform_log(n: usize, m: usize) -> Option<usize> {
    let (na, nb) = ((n + m - 1).div_ceil(32), n.div_ceil(32));
    let terms = na + nb - 1;
    let exact = terms.next_power_of_two().trailing_zeros() as usize;
    let first_needed = (n.saturating_sub(63)).div_ceil(32);
    let wrapped = [1usize, 2, 4, 8, 16].into_iter().find(|&k| {
        let l = 1usize << k;
        k < exact && na <= l && terms < 2 * l && terms - l < first_needed
    });
    let log = wrapped.unwrap_or(exact);
    (log <= MAX_LOG).then_some(log)
}

/// `y = T x` (words of the `m`-bit output, `y.len() = m.div_ceil(64)`, overwritten) for a seed of
/// `n + m - 1` bits in `seed` and an `n`-bit input in `x`. Returns `false` (and leaves `y`
/// unchanged) when the size exceeds the largest supported transform.
pub(crate) fn toeplitz(
    kernel: Kernel,
    seed: &[u64],
    x: &[u64],
    n: usize,
    m: usize,
    y: &mut [u64],
) -> bool {
    let Some(log) = transform_log(n, m) else {
        return false;
    };
    let len = 1usize << log;
    let twiddles = field::Twiddles::new(len / 2);
    let tw = &twiddles;
    if 2 * len <= REUSED_WORDS {
        let done = WORKSPACE.with(|cell| {
            let Ok(mut work) = cell.try_borrow_mut() else {
                return false;
            };
            if work.len() < 2 * len {
                work.resize(2 * len, 0);
            }
            let (a, b) = work[..2 * len].split_at_mut(len);
            Hash {
                kernel,
                tw,
                seed,
                x,
                n,
                m,
            }
            .product(a, b, y);
            b.zeroize();
            true
        });
        if done {
            return true;
        }
    }
    let mut a = vec![0u64; len]; // seed: public
    let mut b = Zeroizing::new(vec![0u64; len]);
    Hash {
        kernel,
        tw,
        seed,
        x,
        n,
        m,
    }
    .product(&mut a, &mut b, y);
    true
}

/// Transforms of at most half this many words run in a per-thread buffer that is kept (wiped
/// after every use) instead of fresh allocations, whose page faults cost about 8% at 2^16 words.
const REUSED_WORDS: usize = 1 << 17;

thread_local! {
    static WORKSPACE: RefCell<Zeroizing<Vec<u64>>> = RefCell::new(Zeroizing::new(Vec::new()));
}

/// [`basis::to_novel`] of `a` (`2^log` words) whose words from `used` on are zero: only the
/// smallest power-of-two prefix holding the used words is converted (the novel coefficients of
/// a polynomial of degree below `2^k` vanish from index `2^k` on).
fn to_novel_prefix(kernel: Kernel, a: &mut [u64], log: usize, used: usize) {
    let mut k = log;
    while k > 0 && used <= 1 << (k - 1) {
        k -= 1;
    }
    basis::to_novel(kernel, &mut a[..1 << k], k as u32, 1);
}

/// The operands of one hash.
struct Hash<'a> {
    kernel: Kernel,
    tw: &'a field::Twiddles,
    seed: &'a [u64],
    x: &'a [u64],
    n: usize,
    m: usize,
}

impl Hash<'_> {
    /// The product and extraction of [`toeplitz`] in the buffers `a` (seed) and `b` (key) of
    /// `2^log` words each (any content on entry; `b` holds key-dependent values on return).
    fn product(&self, a: &mut [u64], b: &mut [u64], y: &mut [u64]) {
        let Hash {
            kernel,
            tw,
            seed,
            x,
            n,
            m,
        } = *self;
        let log = a.len().trailing_zeros() as usize;
        chunks32(seed, n + m - 1, a);
        chunks32(x, n, b);
        to_novel_prefix(kernel, a, log, (n + m - 1).div_ceil(32));
        lch::forward(kernel, tw, a, 0);
        to_novel_prefix(kernel, b, log, n.div_ceil(32));
        lch::convolve(kernel, tw, b, a, 0);
        // The extraction below reads chunks from index 2 * ((n - 1) / 64) - 1 on.
        let need = (2 * ((n - 1) / 64)).saturating_sub(1);
        basis::from_novel(kernel, b, log as u32, 1, need);
        // Product word j (bits 64 j .. 64 j + 64) is c_(2j) ^ (c_(2j+1) << 32) ^ (c_(2j-1) >> 32)
        // (each c_k has 63 bits); output word w is bits n - 1 + 64 w .. of the product.
        let word = |j: usize| -> u64 {
            let c = |k: usize| b.get(k).copied().unwrap_or(0);
            let below = if j == 0 { 0 } else { c(2 * j - 1) >> 32 };
            c(2 * j) ^ (c(2 * j + 1) << 32) ^ below
        };
        let (first, shift) = ((n - 1) / 64, (n - 1) % 64);
        for (w, out) in y.iter_mut().enumerate() {
            let lo = word(first + w);
            *out = if shift == 0 {
                lo
            } else {
                (lo >> shift) | (word(first + w + 1) << (64 - shift))
            };
        }
        let tail = m % 64;
        if tail != 0
            && let Some(last) = y.last_mut()
        {
            *last &= (1u64 << tail) - 1;
        }
    }
}

/// Portable field kernels (used by [`Kernel`] for the portable backend and as reference).
pub(crate) mod portable {
    use super::field::{Local, mul_portable};
    use super::lch;

    /// `b[i] = b[i] a[i]` in the field.
    pub(crate) fn mul_into(b: &mut [u64], a: &[u64]) {
        for (x, &y) in b.iter_mut().zip(a) {
            *x = mul_portable(*x, y);
        }
    }

    /// [`lch::forward_generic`] with the portable product.
    pub(crate) fn forward(tw: &Local<'_>, a: &mut [u64]) {
        lch::forward_generic(mul_portable, tw, a);
    }

    /// [`lch::inverse_generic`] with the portable product.
    pub(crate) fn inverse(tw: &Local<'_>, a: &mut [u64]) {
        lch::inverse_generic(mul_portable, tw, a);
    }

    /// [`lch::butterfly_fwd_generic`] with the portable product.
    pub(crate) fn butterfly_fwd(c: u64, u: &mut [u64], v: &mut [u64]) {
        lch::butterfly_fwd_generic(mul_portable, c, u, v);
    }

    /// [`lch::radix4_fwd_generic`] with the portable product.
    pub(crate) fn radix4_fwd(c: [u64; 3], a: &mut [u64]) {
        lch::radix4_fwd_generic(mul_portable, c, a);
    }

    /// [`lch::radix4_inv_generic`] with the portable product.
    pub(crate) fn radix4_inv(c: [u64; 3], a: &mut [u64]) {
        lch::radix4_inv_generic(mul_portable, c, a);
    }

    /// [`lch::butterfly_inv_generic`] with the portable product.
    pub(crate) fn butterfly_inv(c: u64, u: &mut [u64], v: &mut [u64]) {
        lch::butterfly_inv_generic(mul_portable, c, u, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BitString;
    use crate::distill::privacy::{seed_len, toeplitz_hash_naive};
    use rand::{RngExt, SeedableRng, rngs::StdRng};

    /// Every kernel (the portable one included, which `hash_additive` never picks on a CPU with
    /// hardware carry-less multiplication) gives the naive product, on odd lengths and transform
    /// sizes from 2^0 to 2^9.
    #[test]
    fn every_kernel_equals_naive() {
        let mut rng = StdRng::seed_from_u64(71);
        let kernels: Vec<Kernel> = super::super::ClmulBackend::available()
            .into_iter()
            .filter_map(Kernel::for_backend)
            .collect();
        for (n, m) in [
            (1usize, 1usize),
            (2, 1),
            (31, 7),
            (32, 32),
            (33, 1),
            (63, 62),
            (64, 64),
            (65, 33),
            (200, 99),
            (1000, 500),
            (4095, 1),
            (5001, 2501),
        ] {
            let sl = seed_len(n, m);
            let s = BitString::from_words((0..sl.div_ceil(64)).map(|_| rng.random()).collect(), sl);
            let x = BitString::from_words((0..n.div_ceil(64)).map(|_| rng.random()).collect(), n);
            let want = toeplitz_hash_naive(&s, &x, m).unwrap();
            for &k in &kernels {
                let mut y = vec![0u64; m.div_ceil(64)];
                assert!(toeplitz(k, s.words(), x.words(), n, m, &mut y));
                assert_eq!(BitString::from_words(y, m), want, "{k:?} n={n} m={m}");
            }
        }
    }

    #[test]
    fn chunks_are_masked() {
        let mut out = vec![7u64; 8];
        chunks32(&[u64::MAX, u64::MAX], 70, &mut out);
        assert_eq!(out, [0xFFFF_FFFF, 0xFFFF_FFFF, 0x3F, 0, 0, 0, 0, 0]);
    }
}
