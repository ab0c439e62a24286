//! Hardware carry-less multiplication kernels for x86-64 (`PCLMULQDQ`, and `VPCLMULQDQ` on
//! 512-bit vectors with AVX-512F). The only module of the crate that may contain `unsafe` code.
//!
//! Each kernel is a `#[target_feature]` function; inside it the `core::arch` intrinsics are safe
//! to call (Rust 1.87+), except the raw-pointer vector loads and stores, each in its own `unsafe`
//! block on a bounds-checked slice. Calling a `#[target_feature]` function from ordinary code is
//! `unsafe`: that call is made only by the safe wrappers below, which take a zero-sized token
//! ([`Pclmul`] or [`Avx512Clmul`]) that can only be obtained from `detect()`, i.e. after the CPU
//! has been checked at run time to support the features the kernel is compiled for.
//!
//! Kernels compute the word-level Toeplitz block product described in the `toeplitz` module:
//! `y[I] ^= (Q_I >> 63) ^ (low64(Q_{I+1}) << 1)` with `Q_I = XOR_J clmul(s[I + N - 1 - J], x[J])`,
//! `N = x.len()`, for `I < y.len()`, reading seed words `0 .. y.len() + N`.
#![allow(unsafe_code)]

use core::arch::x86_64::{
    __m128i, __m512i, _mm_clmulepi64_si128, _mm_cvtsi64_si128, _mm_cvtsi128_si64,
    _mm_setzero_si128, _mm_unpackhi_epi64, _mm_xor_si128, _mm512_alignr_epi64,
    _mm512_clmulepi64_epi128, _mm512_mask_storeu_epi64, _mm512_maskz_loadu_epi64,
    _mm512_permutex2var_epi64, _mm512_set_epi64, _mm512_set1_epi64, _mm512_setzero_si512,
    _mm512_slli_epi64, _mm512_srli_epi64, _mm512_unpackhi_epi64, _mm512_unpacklo_epi64,
    _mm512_xor_si512,
};

/// Proof that the CPU supports `PCLMULQDQ` (and SSE2, part of x86-64). Only [`Pclmul::detect`]
/// creates it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pclmul(());

impl Pclmul {
    /// The token, if the running CPU has `PCLMULQDQ`.
    pub(crate) fn detect() -> Option<Self> {
        std::arch::is_x86_feature_detected!("pclmulqdq").then_some(Self(()))
    }
}

/// Proof that the CPU supports AVX-512F and `VPCLMULQDQ` (carry-less multiplication on 512-bit
/// vectors, four 64x64 products per instruction). Only [`Avx512Clmul::detect`] creates it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Avx512Clmul(());

impl Avx512Clmul {
    /// The token, if the running CPU has AVX-512F and `VPCLMULQDQ`.
    pub(crate) fn detect() -> Option<Self> {
        (std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("vpclmulqdq"))
        .then_some(Self(()))
    }
}

/// 64 x 64 -> 128-bit carry-less product by one `PCLMULQDQ`.
#[inline]
pub(crate) fn clmul(_: Pclmul, a: u64, b: u64) -> u128 {
    // SAFETY: the `Pclmul` token exists only if `PCLMULQDQ` was detected at run time; SSE2 is
    // part of the x86-64 baseline. The function has no other precondition.
    unsafe { clmul_pclmul(a, b) }
}

/// Toeplitz block product (see the module docs) with one `PCLMULQDQ` per 64 x 64 product.
/// Requires `s.len() >= y.len() + x.len()` (checked: otherwise nothing is computed and `false`
/// is returned).
pub(crate) fn toeplitz_pclmul(_: Pclmul, s: &[u64], x: &[u64], y: &mut [u64]) -> bool {
    if s.len() < y.len() + x.len() {
        return false;
    }
    // SAFETY: the token proves `PCLMULQDQ` is available (SSE2 is baseline); the kernel indexes
    // slices with bounds checks only.
    unsafe { toeplitz_pclmul_impl(s, x, y) };
    true
}

/// Words of scratch [`toeplitz_avx512`] needs.
pub(crate) const AVX512_SCRATCH: usize = 2 * (ROWS + 32);

/// Toeplitz block product (see the module docs) with `VPCLMULQDQ` on 512-bit vectors: sixteen
/// output rows at a time, four instructions (sixteen products) per input word. Requires
/// `s.len() >= y.len() + x.len()` and `scratch.len() >= AVX512_SCRATCH` (checked: otherwise
/// nothing is computed and `false` is returned). The scratch receives key-dependent row sums:
/// the caller owns (and wipes) it, so that no per-call stack buffer has to be cleared.
pub(crate) fn toeplitz_avx512(
    _: Avx512Clmul,
    s: &[u64],
    x: &[u64],
    y: &mut [u64],
    scratch: &mut [u64],
) -> bool {
    if s.len() < y.len() + x.len() || scratch.len() < AVX512_SCRATCH {
        return false;
    }
    let (lo, rest) = scratch.split_at_mut(ROWS + 32);
    // SAFETY: the token proves AVX-512F and `VPCLMULQDQ` are available; the kernel's memory
    // accesses are checked as documented on each unsafe block inside it.
    unsafe { toeplitz_avx512_impl(s, x, y, lo, &mut rest[..ROWS + 32]) };
    true
}

/// `dst ^= src` (over the common length), compiled for AVX-512F (the Karatsuba additions).
pub(crate) fn xor_into_avx512(_: Avx512Clmul, dst: &mut [u64], src: &[u64]) {
    // SAFETY: the token proves AVX-512F is available; the function is safe slice code.
    unsafe { xor_into_impl(dst, src) }
}

/// `dst = a ^ b` (over the common length), compiled for AVX-512F.
pub(crate) fn xor_to_avx512(_: Avx512Clmul, dst: &mut [u64], a: &[u64], b: &[u64]) {
    // SAFETY: the token proves AVX-512F is available; the function is safe slice code.
    unsafe { xor_to_impl(dst, a, b) }
}

/// The additive FFT's flat Taylor expansion, compiled for AVX-512F.
pub(crate) fn taylor_flat_avx512(_: Avx512Clmul, a: &mut [u64]) {
    // SAFETY: the token proves AVX-512F is available; the function is safe slice code.
    unsafe { taylor_flat_impl(a) }
}

/// Its inverse, compiled for AVX-512F.
pub(crate) fn taylor_flat_inverse_avx512(_: Avx512Clmul, a: &mut [u64]) {
    // SAFETY: the token proves AVX-512F is available; the function is safe slice code.
    unsafe { taylor_flat_inverse_impl(a) }
}

#[target_feature(enable = "avx512f")]
fn taylor_flat_impl(a: &mut [u64]) {
    super::additive::taylor_flat(a);
}

#[target_feature(enable = "avx512f")]
fn taylor_flat_inverse_impl(a: &mut [u64]) {
    super::additive::taylor_flat_inverse(a);
}

#[target_feature(enable = "avx512f")]
fn xor_into_impl(dst: &mut [u64], src: &[u64]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d ^= s;
    }
}

#[target_feature(enable = "avx512f")]
fn xor_to_impl(dst: &mut [u64], a: &[u64], b: &[u64]) {
    for ((d, p), q) in dst.iter_mut().zip(a).zip(b) {
        *d = p ^ q;
    }
}

/// Additive-FFT butterfly `out[2k] = u[k] + t[k] v[k]`, `out[2k + 1] = out[2k] + v[k]` in
/// GF(2^64), one `PCLMULQDQ` per product (see the `additive` module).
pub(crate) fn gf_combine_pclmul(_: Pclmul, t: &[u64], u: &[u64], v: &[u64], out: &mut [u64]) {
    // SAFETY: the token proves `PCLMULQDQ` is available; the function is safe slice code.
    unsafe { gf_combine_impl(t, u, v, out) }
}

/// Inverse butterfly `v[k] = a[2k] + a[2k + 1]`, `u[k] = a[2k] + t[k] v[k]` in GF(2^64).
pub(crate) fn gf_split_pclmul(_: Pclmul, t: &[u64], a: &[u64], u: &mut [u64], v: &mut [u64]) {
    // SAFETY: the token proves `PCLMULQDQ` is available; the function is safe slice code.
    unsafe { gf_split_impl(t, a, u, v) }
}

/// Pointwise product `b[i] = b[i] a[i]` in GF(2^64).
pub(crate) fn gf_mul_into_pclmul(_: Pclmul, b: &mut [u64], a: &[u64]) {
    // SAFETY: the token proves `PCLMULQDQ` is available; the function is safe slice code.
    unsafe { gf_mul_into_impl(b, a) }
}

/// [`gf_combine_pclmul`] eight butterflies at a time with `VPCLMULQDQ`.
pub(crate) fn gf_combine_avx512(_: Avx512Clmul, t: &[u64], u: &[u64], v: &[u64], out: &mut [u64]) {
    // SAFETY: the token proves AVX-512F and `VPCLMULQDQ` are available; the memory accesses are
    // on bounds-checked eight-word slices (see `load8`, `store8`).
    unsafe { gf_combine_avx512_impl(t, u, v, out) }
}

/// [`gf_split_pclmul`] eight butterflies at a time with `VPCLMULQDQ`.
pub(crate) fn gf_split_avx512(_: Avx512Clmul, t: &[u64], a: &[u64], u: &mut [u64], v: &mut [u64]) {
    // SAFETY: as for `gf_combine_avx512`.
    unsafe { gf_split_avx512_impl(t, a, u, v) }
}

/// [`gf_mul_into_pclmul`] eight products at a time with `VPCLMULQDQ`.
pub(crate) fn gf_mul_into_avx512(_: Avx512Clmul, b: &mut [u64], a: &[u64]) {
    // SAFETY: as for `gf_combine_avx512`.
    unsafe { gf_mul_into_avx512_impl(b, a) }
}

/// Eight GF(2^64) products `a[i] b[i]` (modulus `z^64 + z^4 + z^3 + z + 1`).
#[target_feature(enable = "avx512f,vpclmulqdq")]
fn gf_mul8(a: __m512i, b: __m512i) -> __m512i {
    let even = _mm512_clmulepi64_epi128::<0x00>(a, b);
    let odd = _mm512_clmulepi64_epi128::<0x11>(a, b);
    let lo = _mm512_unpacklo_epi64(even, odd);
    let hi = _mm512_unpackhi_epi64(even, odd);
    let fold = |h: __m512i| {
        _mm512_xor_si512(
            _mm512_xor_si512(h, _mm512_slli_epi64::<1>(h)),
            _mm512_xor_si512(_mm512_slli_epi64::<3>(h), _mm512_slli_epi64::<4>(h)),
        )
    };
    let over = _mm512_xor_si512(
        _mm512_srli_epi64::<63>(hi),
        _mm512_xor_si512(_mm512_srli_epi64::<61>(hi), _mm512_srli_epi64::<60>(hi)),
    );
    _mm512_xor_si512(lo, _mm512_xor_si512(fold(hi), fold(over)))
}

#[target_feature(enable = "avx512f,vpclmulqdq")]
fn gf_combine_avx512_impl(t: &[u64], u: &[u64], v: &[u64], out: &mut [u64]) {
    let h = t.len().min(u.len()).min(v.len()).min(out.len() / 2);
    let full = h / 8 * 8;
    for k in (0..full).step_by(8) {
        let vk = load8(&v[k..k + 8]);
        let e = _mm512_xor_si512(load8(&u[k..k + 8]), gf_mul8(load8(&t[k..k + 8]), vk));
        let o = _mm512_xor_si512(e, vk);
        // out[2k + 2i] = e_i, out[2k + 2i + 1] = o_i.
        let first = _mm512_permutex2var_epi64(e, _mm512_set_epi64(11, 3, 10, 2, 9, 1, 8, 0), o);
        let second = _mm512_permutex2var_epi64(e, _mm512_set_epi64(15, 7, 14, 6, 13, 5, 12, 4), o);
        store8(&mut out[2 * k..2 * k + 8], first);
        store8(&mut out[2 * k + 8..2 * k + 16], second);
    }
    gf_combine_impl(
        &t[full..h],
        &u[full..h],
        &v[full..h],
        &mut out[2 * full..2 * h],
    );
}

#[target_feature(enable = "avx512f,vpclmulqdq")]
fn gf_split_avx512_impl(t: &[u64], a: &[u64], u: &mut [u64], v: &mut [u64]) {
    let h = t.len().min(u.len()).min(v.len()).min(a.len() / 2);
    let full = h / 8 * 8;
    for k in (0..full).step_by(8) {
        let p = load8(&a[2 * k..2 * k + 8]);
        let q = load8(&a[2 * k + 8..2 * k + 16]);
        let even = _mm512_permutex2var_epi64(p, _mm512_set_epi64(14, 12, 10, 8, 6, 4, 2, 0), q);
        let odd = _mm512_permutex2var_epi64(p, _mm512_set_epi64(15, 13, 11, 9, 7, 5, 3, 1), q);
        let d = _mm512_xor_si512(even, odd);
        store8(&mut v[k..k + 8], d);
        store8(
            &mut u[k..k + 8],
            _mm512_xor_si512(even, gf_mul8(load8(&t[k..k + 8]), d)),
        );
    }
    gf_split_impl(
        &t[full..h],
        &a[2 * full..2 * h],
        &mut u[full..h],
        &mut v[full..h],
    );
}

#[target_feature(enable = "avx512f,vpclmulqdq")]
fn gf_mul_into_avx512_impl(b: &mut [u64], a: &[u64]) {
    let n = b.len().min(a.len());
    let full = n / 8 * 8;
    for k in (0..full).step_by(8) {
        let r = gf_mul8(load8(&b[k..k + 8]), load8(&a[k..k + 8]));
        store8(&mut b[k..k + 8], r);
    }
    gf_mul_into_impl(&mut b[full..n], &a[full..n]);
}

#[target_feature(enable = "pclmulqdq")]
fn gf_mul(a: u64, b: u64) -> u64 {
    super::additive::reduce(clmul_pclmul(a, b))
}

#[target_feature(enable = "pclmulqdq")]
fn gf_combine_impl(t: &[u64], u: &[u64], v: &[u64], out: &mut [u64]) {
    for (pair, ((&tk, &uk), &vk)) in out.chunks_exact_mut(2).zip(t.iter().zip(u).zip(v)) {
        let e = uk ^ gf_mul(tk, vk);
        pair[0] = e;
        pair[1] = e ^ vk;
    }
}

#[target_feature(enable = "pclmulqdq")]
fn gf_split_impl(t: &[u64], a: &[u64], u: &mut [u64], v: &mut [u64]) {
    for (pair, ((&tk, uk), vk)) in a
        .chunks_exact(2)
        .zip(t.iter().zip(u.iter_mut()).zip(v.iter_mut()))
    {
        let d = pair[0] ^ pair[1];
        *vk = d;
        *uk = pair[0] ^ gf_mul(tk, d);
    }
}

#[target_feature(enable = "pclmulqdq")]
fn gf_mul_into_impl(b: &mut [u64], a: &[u64]) {
    for (x, &y) in b.iter_mut().zip(a) {
        *x = gf_mul(*x, y);
    }
}

#[target_feature(enable = "pclmulqdq")]
fn clmul_pclmul(a: u64, b: u64) -> u128 {
    let p = _mm_clmulepi64_si128::<0x00>(_mm_cvtsi64_si128(a as i64), _mm_cvtsi64_si128(b as i64));
    to_u128(p)
}

#[target_feature(enable = "pclmulqdq")]
fn to_u128(v: __m128i) -> u128 {
    let lo = _mm_cvtsi128_si64(v) as u64;
    let hi = _mm_cvtsi128_si64(_mm_unpackhi_epi64(v, v)) as u64;
    (u128::from(hi) << 64) | u128::from(lo)
}

#[target_feature(enable = "pclmulqdq")]
fn toeplitz_pclmul_impl(s: &[u64], x: &[u64], y: &mut [u64]) {
    let (n, m) = (x.len(), y.len());
    if n == 0 || m == 0 {
        return;
    }
    let q = |i: usize| -> u128 {
        let window = &s[i..i + n];
        let mut acc = _mm_setzero_si128();
        for (&sw, &xw) in window.iter().rev().zip(x) {
            let p = _mm_clmulepi64_si128::<0x00>(
                _mm_cvtsi64_si128(sw as i64),
                _mm_cvtsi64_si128(xw as i64),
            );
            acc = _mm_xor_si128(acc, p);
        }
        to_u128(acc)
    };
    let mut q_cur = q(0);
    for (i, yi) in y.iter_mut().enumerate() {
        let q_next = q(i + 1);
        *yi ^= ((q_cur >> 63) as u64) ^ ((q_next as u64) << 1);
        q_cur = q_next;
    }
}

/// Rows per chunk of the AVX-512 kernel (multiple of 16); the chunk's 128-bit row sums are kept
/// in two scratch arrays of `ROWS + 32` words.
const ROWS: usize = 64;

#[target_feature(enable = "avx512f,vpclmulqdq")]
fn toeplitz_avx512_impl(s: &[u64], x: &[u64], y: &mut [u64], lo: &mut [u64], hi: &mut [u64]) {
    let (n, m) = (x.len(), y.len());
    if n == 0 || m == 0 {
        return;
    }
    let mut row0 = 0;
    while row0 < m {
        let rows = (m - row0).min(ROWS);
        // Q_I for I in row0 ..= row0 + rows (rows + 1 sums), eight at a time.
        let sums = rows + 1;
        let mut g = 0;
        while g < sums {
            // Sixteen sums per pass (two vectors of eight seed words share each broadcast x word).
            let valid = (sums - g).min(16);
            let (m0, m1) = (lane_mask(valid), lane_mask(valid.saturating_sub(8)));
            // Seed words read in this pass: `d .. d + valid` for `d = row0 + g + n - 1 - j`,
            // `j < n`, i.e. exactly `win` (bounds-checked here, once).
            let win = &s[row0 + g..row0 + g + n - 1 + valid];
            let base = win.as_ptr();
            let (mut e0, mut o0) = (_mm512_setzero_si512(), _mm512_setzero_si512());
            let (mut e1, mut o1) = (_mm512_setzero_si512(), _mm512_setzero_si512());
            for (j, &xw) in x.iter().enumerate() {
                let off = n - 1 - j;
                // SAFETY: lanes enabled by `m0` are words `off .. off + min(valid, 8)` and by
                // `m1` words `off + 8 .. off + valid` of `win`, all below `n - 1 + valid =
                // win.len()`; AVX-512 masked loads do not access masked-off lanes (no fault), and
                // the pointers are formed with `wrapping_add`, so no out-of-bounds pointer
                // arithmetic happens when `m1` is empty.
                let (a, b) = unsafe {
                    (
                        _mm512_maskz_loadu_epi64(m0, base.wrapping_add(off).cast()),
                        _mm512_maskz_loadu_epi64(m1, base.wrapping_add(off + 8).cast()),
                    )
                };
                let xv = _mm512_set1_epi64(xw as i64);
                e0 = _mm512_xor_si512(e0, _mm512_clmulepi64_epi128::<0x00>(a, xv));
                o0 = _mm512_xor_si512(o0, _mm512_clmulepi64_epi128::<0x01>(a, xv));
                e1 = _mm512_xor_si512(e1, _mm512_clmulepi64_epi128::<0x00>(b, xv));
                o1 = _mm512_xor_si512(o1, _mm512_clmulepi64_epi128::<0x01>(b, xv));
            }
            // Lane k of `e0` is Q_{g + 2k}, of `o0` Q_{g + 2k + 1} (`e1`, `o1`: eight rows on):
            // interleave the halves.
            store8(&mut lo[g..g + 8], _mm512_unpacklo_epi64(e0, o0));
            store8(&mut hi[g..g + 8], _mm512_unpackhi_epi64(e0, o0));
            store8(&mut lo[g + 8..g + 16], _mm512_unpacklo_epi64(e1, o1));
            store8(&mut hi[g + 8..g + 16], _mm512_unpackhi_epi64(e1, o1));
            g += 16;
        }
        // y_I ^= (lo_I >> 63) ^ (hi_I << 1) ^ (lo_{I+1} << 1), eight rows at a time.
        let mut r = 0;
        while r < rows {
            let valid = (rows - r).min(8);
            let l0 = load8(&lo[r..r + 8]);
            let l1 = load8(&lo[r + 8..r + 16]);
            let h0 = load8(&hi[r..r + 8]);
            let next = _mm512_alignr_epi64::<1>(l1, l0);
            let v = _mm512_xor_si512(
                _mm512_xor_si512(_mm512_srli_epi64::<63>(l0), _mm512_slli_epi64::<1>(h0)),
                _mm512_slli_epi64::<1>(next),
            );
            let out = &mut y[row0 + r..row0 + r + valid];
            let mask = lane_mask(valid);
            // SAFETY: `out` has `valid` words and the masks enable exactly the first `valid`
            // lanes, so only those are read and written.
            unsafe {
                let cur = _mm512_maskz_loadu_epi64(mask, out.as_ptr().cast());
                _mm512_mask_storeu_epi64(out.as_mut_ptr().cast(), mask, _mm512_xor_si512(cur, v));
            }
            r += 8;
        }
        row0 += rows;
    }
}

/// Mask of the first `min(valid, 8)` of eight lanes.
fn lane_mask(valid: usize) -> u8 {
    (0xFFu16 >> (8 - valid.min(8))) as u8
}

#[target_feature(enable = "avx512f")]
fn load8(words: &[u64]) -> __m512i {
    let words: &[u64; 8] = words.try_into().expect("eight words");
    // SAFETY: `words` is exactly 64 readable bytes; the load is unaligned.
    unsafe { _mm512_maskz_loadu_epi64(0xFF, words.as_ptr().cast()) }
}

#[target_feature(enable = "avx512f")]
fn store8(words: &mut [u64], v: __m512i) {
    let words: &mut [u64; 8] = words.try_into().expect("eight words");
    // SAFETY: `words` is exactly 64 writable bytes; the store is unaligned.
    unsafe { _mm512_mask_storeu_epi64(words.as_mut_ptr().cast(), 0xFF, v) }
}
