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

mod gf;

pub(crate) use gf::{
    gf_mul_into_avx512, gf_mul_into_pclmul, lch_butterfly_fwd_avx512, lch_butterfly_fwd_pclmul,
    lch_butterfly_inv_avx512, lch_butterfly_inv_pclmul, lch_forward_avx512, lch_forward_pclmul,
    lch_inverse_avx512, lch_inverse_pclmul, lch_radix4_fwd_avx512, lch_radix4_fwd_pclmul,
    lch_radix4_inv_avx512, lch_radix4_inv_pclmul,
};

use core::arch::x86_64::{
    __m128i, __m512i, _mm_clmulepi64_si128, _mm_cvtsi64_si128, _mm_cvtsi128_si64,
    _mm_setzero_si128, _mm_unpackhi_epi64, _mm_xor_si128, _mm512_alignr_epi64,
    _mm512_clmulepi64_epi128, _mm512_mask_storeu_epi64, _mm512_maskz_loadu_epi64,
    _mm512_set1_epi64, _mm512_setzero_si512, _mm512_slli_epi64, _mm512_srli_epi64,
    _mm512_unpackhi_epi64, _mm512_unpacklo_epi64, _mm512_xor_si512,
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

#[target_feature(enable = "pclmulqdq")]
#[inline]
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
#[inline]
fn load8(words: &[u64]) -> __m512i {
    let words: &[u64; 8] = words.try_into().expect("eight words");
    // SAFETY: `words` is exactly 64 readable bytes; the load is unaligned.
    unsafe { _mm512_maskz_loadu_epi64(0xFF, words.as_ptr().cast()) }
}

#[target_feature(enable = "avx512f")]
#[inline]
fn store8(words: &mut [u64], v: __m512i) {
    let words: &mut [u64; 8] = words.try_into().expect("eight words");
    // SAFETY: `words` is exactly 64 writable bytes; the store is unaligned.
    unsafe { _mm512_mask_storeu_epi64(words.as_mut_ptr().cast(), 0xFF, v) }
}
