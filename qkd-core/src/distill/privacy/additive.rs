//! Toeplitz hashing of large blocks by an additive FFT over GF(2^64) (Gao–Mateer, with a Cantor
//! basis), exact, O(n log^2 n) word operations.
//!
//! * **Packing.** `S(z)` and `X(z)` are cut into 32-bit chunks `a_i(z)`, `b_i(z)` and read as
//!   polynomials `A(Y) = sum a_i Y^i`, `B(Y)` over GF(2^64) = GF(2)\[z\]/(z^64 + z^4 + z^3 + z + 1)
//!   with `Y = z^32`. A field product of two chunks has degree at most 62, so it is never reduced:
//!   it equals the GF(2)\[z\] product, and every coefficient `c_k = sum a_i b_(k-i)` of `A B` is
//!   the exact GF(2)\[z\] polynomial (63 bits). `S X = sum c_k z^(32 k)` (overlapping words).
//! * **Transform.** With `deg A + deg B < L = 2^M`, `A B` is recovered from its values on the
//!   GF(2)-span of the Cantor basis `beta_1 = 1`, `beta_(i+1)^2 + beta_(i+1) = beta_i`: evaluate
//!   `A` and `B` there (forward FFT), multiply pointwise, interpolate (inverse FFT).
//! * **Forward step** (size `2^m`, points `w_i = sum_j bit_j(i) beta_(j+1)`): the Taylor expansion
//!   `f(x) = g0(x^2 + x) + x g1(x^2 + x)`; since `w_i^2 + w_i = w_(i >> 1)`, with `u`, `v` the
//!   transforms of `g0`, `g1` of size `2^(m-1)`: `f(w_2k) = u_k + t_k v_k` and
//!   `f(w_(2k+1)) = f(w_2k) + v_k`, where `t_k = w_2k = sum_j bit_j(k) beta_(j+2)` (one twiddle
//!   table for every level). The inverse runs each step backwards.

use std::sync::OnceLock;

use zeroize::Zeroizing;

use super::kernel::Kernel;

/// Reduction of a 128-bit carry-less product modulo `z^64 + z^4 + z^3 + z + 1`.
#[inline]
pub(crate) fn reduce(p: u128) -> u64 {
    let (lo, hi) = (p as u64, (p >> 64) as u64);
    // hi * z^64 = hi * (z^4 + z^3 + z + 1): the bits shifted past z^63 are folded once more.
    let folded = hi ^ (hi << 1) ^ (hi << 3) ^ (hi << 4);
    let over = (hi >> 63) ^ (hi >> 61) ^ (hi >> 60);
    lo ^ folded ^ over ^ (over << 1) ^ (over << 3) ^ (over << 4)
}

/// Field product (portable).
fn mul_portable(a: u64, b: u64) -> u64 {
    reduce(super::clmul::clmul_soft(a, b))
}

/// Solves `y^2 + y = c` in the field (some solution), or `None` when `Tr(c) = 1`.
fn solve_artin_schreier(c: u64) -> Option<u64> {
    // y -> y^2 + y is GF(2)-linear: column j is the image of z^j.
    let square = |a: u64| reduce(super::clmul::clmul_soft(a, a));
    let cols: Vec<u64> = (0..64).map(|j| square(1 << j) ^ (1 << j)).collect();
    // Gaussian elimination on rows r (bit r of every column), augmented by bit r of c.
    let mut rows: Vec<(u64, bool)> = (0..64)
        .map(|r| {
            let row = (0..64).fold(0u64, |acc, j| acc | (((cols[j] >> r) & 1) << j));
            (row, (c >> r) & 1 == 1)
        })
        .collect();
    let mut pivots = Vec::new();
    let mut next = 0;
    for col in 0..64 {
        let Some(p) = (next..64).find(|&r| (rows[r].0 >> col) & 1 == 1) else {
            continue;
        };
        rows.swap(next, p);
        let pivot = rows[next];
        for (r, row) in rows.iter_mut().enumerate() {
            if r != next && (row.0 >> col) & 1 == 1 {
                row.0 ^= pivot.0;
                row.1 ^= pivot.1;
            }
        }
        pivots.push(col);
        next += 1;
    }
    if rows[next..].iter().any(|&(_, b)| b) {
        return None;
    }
    Some(
        pivots
            .iter()
            .enumerate()
            .fold(0u64, |y, (r, &col)| y | (u64::from(rows[r].1) << col)),
    )
}

/// Largest supported transform: `2^MAX_LOG` coefficients.
pub(crate) const MAX_LOG: usize = 32;

/// The Cantor basis `beta_1 .. beta_(MAX_LOG + 1)`.
fn cantor_basis() -> &'static [u64] {
    static BASIS: OnceLock<Vec<u64>> = OnceLock::new();
    BASIS.get_or_init(|| {
        let mut b = vec![1u64];
        while b.len() <= MAX_LOG {
            let prev = b[b.len() - 1];
            // GF(2^64) has a Cantor basis of dimension 64, so every step has a solution; pick the
            // one with the constant term 0 (the other is that plus 1).
            let y = solve_artin_schreier(prev).unwrap_or(0);
            b.push(if y & 1 == 1 { y ^ 1 } else { y });
        }
        b
    })
}

/// Twiddles `t_k = sum_j bit_j(k) beta_(j+2)` for `k < half`.
fn twiddles(half: usize) -> Vec<u64> {
    let basis = cantor_basis();
    let mut t = vec![0u64; half.max(1)];
    let mut size = 1;
    let mut j = 0;
    while size < half {
        let b = basis[j + 1];
        for k in 0..size {
            t[size + k] = t[k] ^ b;
        }
        size *= 2;
        j += 1;
    }
    t
}

/// Blocks of at most this many words are expanded level by level (no recursion, cache-resident);
/// larger ones recursively (depth first, so that each half then fits in cache).
const TAYLOR_FLAT: usize = 4096;

/// One expansion step on a block of `4d` words: `f = f0 + x^(2d) (f1 + x^d f2)` becomes
/// `A + (x^2 + x)^d B` with `A = f0 + x^d (f1 + f2)` in the low half, `B = (f1 + f2) + x^d f2` in
/// the high half.
#[inline]
fn taylor_step(block: &mut [u64], d: usize) {
    let (lo, hi) = block.split_at_mut(2 * d);
    let (f1, f2) = hi.split_at_mut(d);
    for (h, f) in f1.iter_mut().zip(f2.iter()) {
        *h ^= f;
    }
    for (l, h) in lo[d..].iter_mut().zip(f1.iter()) {
        *l ^= h;
    }
}

/// Inverse of [`taylor_step`].
#[inline]
fn taylor_step_inverse(block: &mut [u64], d: usize) {
    let (lo, hi) = block.split_at_mut(2 * d);
    let (f1, f2) = hi.split_at_mut(d);
    for (l, h) in lo[d..].iter_mut().zip(f1.iter()) {
        *l ^= h;
    }
    for (h, f) in f1.iter_mut().zip(f2.iter()) {
        *h ^= f;
    }
}

/// In-place Taylor expansion at `x^2 + x` (coefficient pairs of `(x^2 + x)^i` at `2i, 2i + 1`);
/// `a.len()` is a power of two.
fn taylor(kernel: Kernel, a: &mut [u64]) {
    let n = a.len();
    if n > TAYLOR_FLAT {
        taylor_step(a, n / 4);
        let (lo, hi) = a.split_at_mut(n / 2);
        taylor(kernel, lo);
        taylor(kernel, hi);
        return;
    }
    kernel.taylor_flat(a);
}

/// [`taylor`] level by level (for blocks of at most [`TAYLOR_FLAT`] words); inlined into the
/// kernels compiled for wider vectors.
#[inline(always)]
pub(crate) fn taylor_flat(a: &mut [u64]) {
    let n = a.len();
    let mut size = n;
    while size >= 8 {
        for block in a.chunks_exact_mut(size) {
            taylor_step(block, size / 4);
        }
        size /= 2;
    }
    if size == 4 {
        for b in a.chunks_exact_mut(4) {
            b[2] ^= b[3];
            b[1] ^= b[2];
        }
    }
}

/// Inverse of [`taylor`].
fn taylor_inverse(kernel: Kernel, a: &mut [u64]) {
    let n = a.len();
    if n > TAYLOR_FLAT {
        {
            let (lo, hi) = a.split_at_mut(n / 2);
            taylor_inverse(kernel, lo);
            taylor_inverse(kernel, hi);
        }
        taylor_step_inverse(a, n / 4);
        return;
    }
    kernel.taylor_flat_inverse(a);
}

/// [`taylor_inverse`] level by level (blocks of at most [`TAYLOR_FLAT`] words).
#[inline(always)]
pub(crate) fn taylor_flat_inverse(a: &mut [u64]) {
    let n = a.len();
    if n >= 4 {
        for b in a.chunks_exact_mut(4) {
            b[1] ^= b[2];
            b[2] ^= b[3];
        }
    }
    let mut size = 8;
    while size <= n {
        for block in a.chunks_exact_mut(size) {
            taylor_step_inverse(block, size / 4);
        }
        size *= 2;
    }
}

/// Forward transform of `a` (length a power of two) in place; `tmp` is scratch of the same length.
fn forward(kernel: Kernel, tw: &[u64], a: &mut [u64], tmp: &mut [u64]) {
    let n = a.len();
    if n == 1 {
        return;
    }
    taylor(kernel, a);
    let h = n / 2;
    for k in 0..h {
        tmp[k] = a[2 * k];
        tmp[h + k] = a[2 * k + 1];
    }
    let (u, v) = tmp.split_at_mut(h);
    let (a0, a1) = a.split_at_mut(h);
    forward(kernel, tw, u, a0);
    forward(kernel, tw, v, a1);
    kernel.gf_combine(&tw[..h], u, v, a);
}

/// Inverse of [`forward`].
fn inverse(kernel: Kernel, tw: &[u64], a: &mut [u64], tmp: &mut [u64]) {
    let n = a.len();
    if n == 1 {
        return;
    }
    let h = n / 2;
    {
        let (u, v) = tmp.split_at_mut(h);
        kernel.gf_split(&tw[..h], a, u, v);
        let (a0, a1) = a.split_at_mut(h);
        inverse(kernel, tw, u, a0);
        inverse(kernel, tw, v, a1);
    }
    for k in 0..h {
        a[2 * k] = tmp[k];
        a[2 * k + 1] = tmp[h + k];
    }
    taylor_inverse(kernel, a);
}

/// 32-bit chunks of the first `bits` bits of `words`, one per `u64`, into `out` (rest zero).
fn chunks32(words: &[u64], bits: usize, out: &mut [u64]) {
    out.fill(0);
    let nchunks = bits.div_ceil(32);
    for (i, o) in out.iter_mut().take(nchunks).enumerate() {
        let w = words.get(i / 2).copied().unwrap_or(0);
        let mut c = if i % 2 == 0 { w & 0xFFFF_FFFF } else { w >> 32 };
        let end = bits - 32 * i;
        if end < 32 {
            c &= (1u64 << end) - 1;
        }
        *o = c;
    }
}

/// Log2 of the transform length for an `m x n` Toeplitz hash (input `n` bits, seed `n + m - 1`),
/// or `None` beyond [`MAX_LOG`].
pub(crate) fn transform_log(n: usize, m: usize) -> Option<usize> {
    let terms = (n + m - 1).div_ceil(32) + n.div_ceil(32) - 1;
    let log = terms.next_power_of_two().trailing_zeros() as usize;
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
    let tw = twiddles(len / 2);
    let mut a = vec![0u64; len]; // seed: public
    let mut b = Zeroizing::new(vec![0u64; len]);
    let mut tmp = Zeroizing::new(vec![0u64; len]);
    chunks32(seed, n + m - 1, &mut a);
    chunks32(x, n, &mut b);
    forward(kernel, &tw, &mut a, &mut tmp);
    forward(kernel, &tw, &mut b, &mut tmp);
    kernel.gf_mul_into(&mut b, &a);
    inverse(kernel, &tw, &mut b, &mut tmp);
    // Output bit i is bit n - 1 + i of sum_k c_k z^(32 k); c_k has 63 bits, so word w of the
    // output collects chunks overlapping bits [n - 1 + 64 w, n - 1 + 64 w + 64).
    y.fill(0);
    let first = n - 1;
    for (w, out) in y.iter_mut().enumerate() {
        let lo_bit = first + 64 * w;
        let k_lo = (lo_bit / 32).saturating_sub(1);
        let k_hi = (lo_bit + 64).div_ceil(32).min(len);
        let mut acc = 0u64;
        for (k, &c) in b.iter().enumerate().take(k_hi).skip(k_lo) {
            let pos = 32 * k as i64 - lo_bit as i64;
            acc ^= if pos >= 0 {
                if pos < 64 { c << pos } else { 0 }
            } else if pos > -64 {
                c >> (-pos)
            } else {
                0
            };
        }
        *out = acc;
    }
    let tail = m % 64;
    if tail != 0
        && let Some(last) = y.last_mut()
    {
        *last &= (1u64 << tail) - 1;
    }
    true
}

/// Portable field kernels (used by [`Kernel`] for the portable backend and as reference).
pub(crate) mod portable {
    use super::mul_portable;

    /// `out[2k] = u[k] + t[k] v[k]`, `out[2k + 1] = out[2k] + v[k]`.
    pub(crate) fn combine(t: &[u64], u: &[u64], v: &[u64], out: &mut [u64]) {
        for (k, ((&tk, &uk), &vk)) in t.iter().zip(u).zip(v).enumerate() {
            let e = uk ^ mul_portable(tk, vk);
            out[2 * k] = e;
            out[2 * k + 1] = e ^ vk;
        }
    }

    /// Inverse of [`combine`]: `v[k] = a[2k] + a[2k + 1]`, `u[k] = a[2k] + t[k] v[k]`.
    pub(crate) fn split(t: &[u64], a: &[u64], u: &mut [u64], v: &mut [u64]) {
        for (k, (uk, vk)) in u.iter_mut().zip(v.iter_mut()).enumerate() {
            let d = a[2 * k] ^ a[2 * k + 1];
            *vk = d;
            *uk = a[2 * k] ^ mul_portable(t[k], d);
        }
    }

    /// `b[i] = b[i] a[i]` in the field.
    pub(crate) fn mul_into(b: &mut [u64], a: &[u64]) {
        for (x, &y) in b.iter_mut().zip(a) {
            *x = mul_portable(*x, y);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng, rngs::StdRng};

    #[test]
    fn cantor_basis_chain_holds() {
        let b = cantor_basis();
        assert_eq!(b[0], 1);
        for i in 1..b.len() {
            assert_eq!(mul_portable(b[i], b[i]) ^ b[i], b[i - 1], "beta_{}", i + 1);
        }
        // Linearly independent: rank of the set is its size.
        let mut rows = b.to_vec();
        let mut rank = 0;
        for bit in 0..64 {
            if let Some(p) = (rank..rows.len()).find(|&r| (rows[r] >> bit) & 1 == 1) {
                rows.swap(rank, p);
                let pivot = rows[rank];
                for (r, row) in rows.iter_mut().enumerate() {
                    if r != rank && (*row >> bit) & 1 == 1 {
                        *row ^= pivot;
                    }
                }
                rank += 1;
            }
        }
        assert_eq!(rank, b.len());
    }

    #[test]
    fn transform_evaluates_and_inverts() {
        let mut rng = StdRng::seed_from_u64(41);
        let basis = cantor_basis();
        for log in 0..7 {
            let len = 1usize << log;
            let tw = twiddles(len / 2);
            let f: Vec<u64> = (0..len).map(|_| rng.random()).collect();
            let mut a = f.clone();
            let mut tmp = vec![0u64; len];
            forward(Kernel::Portable, &tw, &mut a, &mut tmp);
            for (i, &val) in a.iter().enumerate() {
                let w = (0..log).fold(0u64, |acc, j| {
                    acc ^ if (i >> j) & 1 == 1 { basis[j] } else { 0 }
                });
                // Horner.
                let want = f
                    .iter()
                    .rev()
                    .fold(0u64, |acc, &c| mul_portable(acc, w) ^ c);
                assert_eq!(val, want, "len={len} point {i}");
            }
            inverse(Kernel::Portable, &tw, &mut a, &mut tmp);
            assert_eq!(a, f, "len={len}");
        }
    }

    #[test]
    fn kernels_agree_with_portable_field_ops() {
        let mut rng = StdRng::seed_from_u64(42);
        let kernels: Vec<Kernel> = super::super::ClmulBackend::available()
            .into_iter()
            .filter_map(Kernel::for_backend)
            .collect();
        for len in [1usize, 2, 7, 8, 9, 31, 64, 100] {
            let t: Vec<u64> = (0..len).map(|_| rng.random()).collect();
            let u: Vec<u64> = (0..len).map(|_| rng.random()).collect();
            let v: Vec<u64> = (0..len).map(|_| rng.random()).collect();
            let mut want = vec![0u64; 2 * len];
            portable::combine(&t, &u, &v, &mut want);
            for &k in &kernels {
                let mut got = vec![0u64; 2 * len];
                k.gf_combine(&t, &u, &v, &mut got);
                assert_eq!(got, want, "{k:?} combine {len}");
                let (mut u2, mut v2) = (vec![0u64; len], vec![0u64; len]);
                k.gf_split(&t, &got, &mut u2, &mut v2);
                assert_eq!((&u2, &v2), (&u, &v), "{k:?} split {len}");
                let mut p = u.clone();
                k.gf_mul_into(&mut p, &v);
                let mut q = u.clone();
                portable::mul_into(&mut q, &v);
                assert_eq!(p, q, "{k:?} mul {len}");
            }
        }
    }
}
