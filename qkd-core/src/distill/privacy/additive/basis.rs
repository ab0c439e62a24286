//! Conversion between the monomial basis and the novel polynomial basis of Lin, Chung and Han
//! for the Cantor basis, in O(n log n log log n) XORs.
//!
//! With `s_0(x) = x`, `s_1(x) = x^2 + x` and `s_j = s_1 o s_(j-1)` (the subspace polynomial of
//! `span(beta_1 .. beta_j)`; all coefficients in GF(2), `s_(2^t)(x) = x^(2^(2^t)) + x`), the novel
//! basis is `X_i = prod_(j in bits(i)) s_j`, `deg X_i = i`.
//!
//! For `2^K` coefficients, let `P` be the largest power of two below `K`, `R = K - P` and
//! `S = s_P = x^(2^P) + x`. Then `X_(h 2^P + l) = X_h(S) X_l` (`l < 2^P`), since
//! `s_(P + j) = s_j o s_P`. So, seeing the array as `2^R` rows of `2^P` coefficients:
//! 1. expand `f = sum_h g_h S^h` (`deg g_h < 2^P`, `g_h` in row `h`) by halving steps (the
//!    "Taylor expansion at a binomial", [`taylor_step`]);
//! 2. convert every column `l` (the polynomial `sum_h g_(h,l) y^h`) to the novel basis: the same
//!    recursion on `2^R` coefficients whose units are whole rows;
//! 3. convert every row.
//!
//! Every step only XORs coefficient ranges, so it is the same for any coefficient type: here a
//! coefficient is a "unit" of one or more `u64` words, and a whole row can be a unit.

use zeroize::Zeroizing;

use super::super::kernel::Kernel;

/// `dst ^= src`, by the kernel's vector code for long ranges.
#[inline]
fn xor(kernel: Kernel, dst: &mut [u64], src: &[u64]) {
    if dst.len() >= 32 {
        kernel.xor_into(dst, src);
    } else {
        for (d, s) in dst.iter_mut().zip(src) {
            *d ^= s;
        }
    }
}

/// Largest power of two strictly below `k` (`k >= 2`).
fn split_point(k: u32) -> u32 {
    1 << (31 - (k - 1).leading_zeros())
}

/// One halving step on a block of `2D` units (`dd = D` units in words): `f = lo + x^D hi`
/// becomes `A + S^(D / 2^P) B` with `A` in the low half, `B` in the high half. With
/// `d = D / 2^P` units and `x^D = S^d + x^d`: `B = hi + (hi >> (D - d))` on its low `d` units and
/// `A = lo + x^d B` on the units `d .. D`.
#[inline]
fn taylor_step(kernel: Kernel, block: &mut [u64], p: u32) {
    let dd = block.len() / 2;
    let d = dd >> p;
    let (lo, hi) = block.split_at_mut(dd);
    {
        let (h0, h1) = hi.split_at_mut(dd - d);
        xor(kernel, &mut h0[..d], h1);
    }
    xor(kernel, &mut lo[d..], &hi[..dd - d]);
}

/// Inverse of [`taylor_step`].
#[inline]
fn taylor_step_inverse(kernel: Kernel, block: &mut [u64], p: u32) {
    let dd = block.len() / 2;
    let d = dd >> p;
    let (lo, hi) = block.split_at_mut(dd);
    xor(kernel, &mut lo[d..], &hi[..dd - d]);
    let (h0, h1) = hi.split_at_mut(dd - d);
    xor(kernel, &mut h0[..d], h1);
}

/// Expansion in powers of `S = x^(2^P) + x` of a block of `2^k` units (`row = 2^P` units in
/// words), depth first.
fn taylor(kernel: Kernel, a: &mut [u64], row: usize, p: u32) {
    if a.len() <= row {
        return;
    }
    taylor_step(kernel, a, p);
    let (lo, hi) = a.split_at_mut(a.len() / 2);
    taylor(kernel, lo, row, p);
    taylor(kernel, hi, row, p);
}

/// Inverse of [`taylor`]; only the words from index `need` on are wanted (those below may be
/// left wrong; see [`from_novel`]).
fn taylor_inverse(kernel: Kernel, a: &mut [u64], row: usize, p: u32, need: usize) {
    if a.len() <= row || a.len() <= need {
        return;
    }
    let half = a.len() / 2;
    {
        let (lo, hi) = a.split_at_mut(half);
        taylor_inverse(kernel, lo, row, p, need);
        taylor_inverse(kernel, hi, row, p, need.saturating_sub(half));
    }
    if half <= need {
        // Only the high half is wanted: its part of the step.
        let d = half >> p;
        let (h0, h1) = a[half..].split_at_mut(half - d);
        xor(kernel, &mut h0[..d], h1);
    } else {
        taylor_step_inverse(kernel, a, p);
    }
}

/// Arrays of at most this many words are converted in place; in larger ones the column step
/// works on strips of columns copied to a buffer of this size (L2-resident), so that it reads
/// and writes the array once instead of once per level.
const STRIP_BUFFER: usize = 1 << 15;

/// Arrays of at most this many words (1 MiB, half of L2) need no strips.
const IN_CACHE: usize = 1 << 17;

/// Applies `convert` (with `2^r` coefficients) to every column of `a` seen as `2^r` rows of
/// `row` words, i.e. `convert(a, r, row, need)`.
fn columns(kernel: Kernel, a: &mut [u64], r: u32, row: usize, need: usize, convert: Convert) {
    let rows = 1usize << r;
    if a.len() <= IN_CACHE || rows > STRIP_BUFFER / 8 || !row.is_power_of_two() {
        convert(kernel, a, r, row, need);
        return;
    }
    let strip = (STRIP_BUFFER / rows).min(row);
    // Rows below `need / row` are not wanted (`need` is a row boundary or inside one).
    let need_rows = need / row;
    let mut buf = Zeroizing::new(vec![0u64; strip * rows]);
    for start in (0..row).step_by(strip) {
        for (dst, src) in buf.chunks_exact_mut(strip).zip(a.chunks_exact(row)) {
            dst.copy_from_slice(&src[start..start + strip]);
        }
        convert(kernel, &mut buf, r, strip, need_rows * strip);
        for (src, dst) in buf.chunks_exact(strip).zip(a.chunks_exact_mut(row)) {
            dst[start..start + strip].copy_from_slice(src);
        }
    }
}

/// A conversion with the signature of [`from_novel`].
type Convert = fn(Kernel, &mut [u64], u32, usize, usize);

/// [`to_novel`] with the signature of [`from_novel`] (every word is wanted).
fn to_novel_all(kernel: Kernel, a: &mut [u64], k: u32, unit: usize, _need: usize) {
    to_novel(kernel, a, k, unit);
}

/// Monomial to novel basis, in place, for `2^k` coefficients of `unit` words each
/// (`a.len() == unit << k`).
pub(crate) fn to_novel(kernel: Kernel, a: &mut [u64], k: u32, unit: usize) {
    debug_assert_eq!(a.len(), unit << k);
    if unit == 1 && k == 4 {
        novel16(a);
        return;
    }
    if k <= 1 {
        // X_0 = 1, X_1 = x.
        return;
    }
    let p = split_point(k);
    let row = unit << p;
    taylor(kernel, a, row, p);
    columns(kernel, a, k - p, row, 0, to_novel_all);
    for r in a.chunks_exact_mut(row) {
        to_novel(kernel, r, p, unit);
    }
}

/// Novel to monomial basis: the inverse of [`to_novel`], where only the words from index `need`
/// on are wanted: those below may be left wrong, and work that only feeds them is skipped.
/// (Both conversions are triangular: a novel coefficient `i` only reaches monomial coefficients
/// `j <= i`, since `deg X_i = i`, so nothing below `need` feeds a wanted word.)
pub(crate) fn from_novel(kernel: Kernel, a: &mut [u64], k: u32, unit: usize, need: usize) {
    debug_assert_eq!(a.len(), unit << k);
    if a.len() <= need {
        return;
    }
    if unit == 1 && k == 4 {
        monomial16(a);
        return;
    }
    if k <= 1 {
        return;
    }
    let p = split_point(k);
    let row = unit << p;
    for (i, r) in a.chunks_exact_mut(row).enumerate() {
        from_novel(kernel, r, p, unit, need.saturating_sub(i * row));
    }
    columns(kernel, a, k - p, row, need, from_novel);
    taylor_inverse(kernel, a, row, p, need);
}

/// [`to_novel`] for 16 single-word coefficients, unrolled: the same steps (`P = 2`: halving
/// steps with `d = 2` and `d = 1`, the column step on units of 4 words, then each 4-word row).
#[inline]
fn novel16(a: &mut [u64]) {
    let a: &mut [u64; 16] = a.try_into().expect("16 words");
    a[8] ^= a[14];
    a[9] ^= a[15];
    for i in 2..8 {
        a[i] ^= a[i + 6];
    }
    for b in [0, 8] {
        a[b + 4] ^= a[b + 7];
        for i in 1..4 {
            a[b + i] ^= a[b + i + 3];
        }
    }
    for i in 8..12 {
        a[i] ^= a[i + 4];
    }
    for i in 4..8 {
        a[i] ^= a[i + 4];
    }
    for r in [0, 4, 8, 12] {
        a[r + 2] ^= a[r + 3];
        a[r + 1] ^= a[r + 2];
    }
}

/// Inverse of [`novel16`].
#[inline]
fn monomial16(a: &mut [u64]) {
    let a: &mut [u64; 16] = a.try_into().expect("16 words");
    for r in [0, 4, 8, 12] {
        a[r + 1] ^= a[r + 2];
        a[r + 2] ^= a[r + 3];
    }
    for i in 4..8 {
        a[i] ^= a[i + 4];
    }
    for i in 8..12 {
        a[i] ^= a[i + 4];
    }
    for b in [0, 8] {
        for i in 1..4 {
            a[b + i] ^= a[b + i + 3];
        }
        a[b + 4] ^= a[b + 7];
    }
    for i in 2..8 {
        a[i] ^= a[i + 6];
    }
    a[8] ^= a[14];
    a[9] ^= a[15];
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng, rngs::StdRng};

    /// `a * b` over GF(2) for polynomials given as bit vectors (one bool per coefficient).
    fn mul(a: &[bool], b: &[bool]) -> Vec<bool> {
        let mut out = vec![false; a.len() + b.len() - 1];
        for (i, &x) in a.iter().enumerate() {
            for (j, &y) in b.iter().enumerate() {
                out[i + j] ^= x & y;
            }
        }
        out
    }

    /// The novel basis polynomial `X_i` in monomial form.
    fn novel(i: usize) -> Vec<bool> {
        let mut s = vec![false, true]; // s_0 = x
        let mut x = vec![true];
        for j in 0..usize::BITS as usize {
            if i >> j == 0 {
                break;
            }
            if (i >> j) & 1 == 1 {
                x = mul(&x, &s);
            }
            // s_(j+1) = s_j^2 + s_j.
            let mut next = mul(&s, &s);
            for (c, &v) in next.iter_mut().zip(&s) {
                *c ^= v;
            }
            s = next;
        }
        x.truncate(i + 1);
        x
    }

    fn kernels() -> Vec<Kernel> {
        super::super::super::ClmulBackend::available()
            .into_iter()
            .filter_map(Kernel::for_backend)
            .collect()
    }

    /// `sum_i d_i X_i` equals the monomial input, word by word (64 independent GF(2)
    /// problems), for every size up to 2^9 and units of 1 and 3 words.
    #[test]
    fn novel_coefficients_rebuild_the_polynomial() {
        let mut rng = StdRng::seed_from_u64(51);
        for k in 0..=9u32 {
            let len = 1usize << k;
            let basis: Vec<Vec<bool>> = (0..len).map(novel).collect();
            for unit in [1usize, 3] {
                let f: Vec<u64> = (0..len * unit).map(|_| rng.random()).collect();
                for kernel in kernels() {
                    let mut d = f.clone();
                    to_novel(kernel, &mut d, k, unit);
                    let mut back = vec![0u64; len * unit];
                    for (i, x) in basis.iter().enumerate() {
                        for (deg, _) in x.iter().enumerate().filter(|&(_, &c)| c) {
                            for w in 0..unit {
                                back[deg * unit + w] ^= d[i * unit + w];
                            }
                        }
                    }
                    assert_eq!(back, f, "{kernel:?} k={k} unit={unit}");
                    from_novel(kernel, &mut d, k, unit, 0);
                    assert_eq!(d, f, "{kernel:?} k={k} unit={unit} inverse");
                }
            }
        }
    }

    /// The strip-wise column step equals converting each column on its own.
    #[test]
    fn columns_by_strips_equal_columns_one_by_one() {
        let mut rng = StdRng::seed_from_u64(53);
        for (r, row) in [(5u32, 1usize << 13), (2, 1 << 16), (12, 1 << 6)] {
            let a: Vec<u64> = (0..row << r).map(|_| rng.random()).collect();
            let mut want = a.clone();
            for l in 0..row {
                let mut col: Vec<u64> = (0..1usize << r).map(|h| a[h * row + l]).collect();
                to_novel(Kernel::Portable, &mut col, r, 1);
                for (h, &c) in col.iter().enumerate() {
                    want[h * row + l] = c;
                }
            }
            for kernel in kernels() {
                let mut got = a.clone();
                columns(kernel, &mut got, r, row, 0, to_novel_all);
                assert_eq!(got, want, "{kernel:?} r={r} row={row}");
                columns(kernel, &mut got, r, row, 0, from_novel);
                assert_eq!(got, a, "{kernel:?} r={r} row={row} inverse");
            }
        }
    }

    /// With `need`, the words from `need` on are those of the full conversion.
    #[test]
    fn partial_inverse_keeps_the_wanted_words() {
        let mut rng = StdRng::seed_from_u64(54);
        for k in [4u32, 9, 18] {
            let len = 1usize << k;
            let d: Vec<u64> = (0..len).map(|_| rng.random()).collect();
            let mut full = d.clone();
            from_novel(Kernel::Portable, &mut full, k, 1, 0);
            for need in [
                1,
                15,
                16,
                17,
                len / 3,
                len / 2 - 1,
                len / 2,
                len / 2 + 5,
                len - 1,
            ]
            .into_iter()
            .filter(|&w| w < len)
            {
                for kernel in kernels() {
                    let mut got = d.clone();
                    from_novel(kernel, &mut got, k, 1, need);
                    assert_eq!(got[need..], full[need..], "{kernel:?} k={k} need={need}");
                }
            }
        }
    }

    #[test]
    fn large_round_trip() {
        let mut rng = StdRng::seed_from_u64(52);
        for k in [13u32, 17] {
            let f: Vec<u64> = (0..1usize << k).map(|_| rng.random()).collect();
            let mut want = f.clone();
            to_novel(Kernel::Portable, &mut want, k, 1);
            for kernel in kernels() {
                let mut d = f.clone();
                to_novel(kernel, &mut d, k, 1);
                assert_eq!(d, want, "{kernel:?} k={k}");
                from_novel(kernel, &mut d, k, 1, 0);
                assert_eq!(d, f, "{kernel:?} k={k}");
            }
        }
    }
}
