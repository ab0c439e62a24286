//! GF(2^64) kernels of the additive FFT (see the `additive` module): pointwise products and the
//! Lin-Chung-Han butterflies, with `PCLMULQDQ` (one product per instruction) or `VPCLMULQDQ` on
//! 512-bit vectors (eight products per two instructions). Same safety scheme as the parent
//! module: safe wrappers taking a detection token call `#[target_feature]` functions.

use core::arch::x86_64::{
    __m512i, _mm512_clmulepi64_epi128, _mm512_maskz_loadu_epi64, _mm512_permutex2var_epi64,
    _mm512_permutexvar_epi64, _mm512_set_epi64, _mm512_set1_epi64, _mm512_setzero_si512,
    _mm512_slli_epi64, _mm512_srli_epi64, _mm512_unpackhi_epi64, _mm512_unpacklo_epi64,
    _mm512_xor_si512,
};

use super::super::additive::field::{Local, reduce};
use super::super::additive::lch;
use super::{Avx512Clmul, Pclmul, clmul_pclmul, lane_mask, load8, store8};

/// Pointwise product `b[i] = b[i] a[i]` in GF(2^64).
pub(crate) fn gf_mul_into_pclmul(_: Pclmul, b: &mut [u64], a: &[u64]) {
    // SAFETY: the token proves `PCLMULQDQ` is available; the function is safe slice code.
    unsafe { gf_mul_into_impl(b, a) }
}

/// [`gf_mul_into_pclmul`] eight products at a time with `VPCLMULQDQ`.
pub(crate) fn gf_mul_into_avx512(_: Avx512Clmul, b: &mut [u64], a: &[u64]) {
    // SAFETY: the token proves AVX-512F and `VPCLMULQDQ` (hence `PCLMULQDQ`) are available; the
    // memory accesses are on bounds-checked eight-word slices (see `load8`, `store8`).
    unsafe { gf_mul_into_avx512_impl(b, a) }
}

/// All levels of the forward transform of a block (see [`lch::forward_generic`]).
pub(crate) fn lch_forward_pclmul(_: Pclmul, tw: &Local<'_>, a: &mut [u64]) {
    // SAFETY: the token proves `PCLMULQDQ` is available; the function is safe slice code.
    unsafe { forward_pclmul_impl(tw, a) }
}

/// Inverse of [`lch_forward_pclmul`].
pub(crate) fn lch_inverse_pclmul(_: Pclmul, tw: &Local<'_>, a: &mut [u64]) {
    // SAFETY: as for `lch_forward_pclmul`.
    unsafe { inverse_pclmul_impl(tw, a) }
}

/// One forward butterfly level `u += c v`, `v += u`.
pub(crate) fn lch_butterfly_fwd_pclmul(_: Pclmul, c: u64, u: &mut [u64], v: &mut [u64]) {
    // SAFETY: as for `lch_forward_pclmul`.
    unsafe { butterfly_fwd_pclmul_impl(c, u, v) }
}

/// One inverse butterfly level `v += u`, `u += c v`.
pub(crate) fn lch_butterfly_inv_pclmul(_: Pclmul, c: u64, u: &mut [u64], v: &mut [u64]) {
    // SAFETY: as for `lch_forward_pclmul`.
    unsafe { butterfly_inv_pclmul_impl(c, u, v) }
}

/// [`lch_forward_pclmul`] eight butterflies at a time with `VPCLMULQDQ`.
pub(crate) fn lch_forward_avx512(_: Avx512Clmul, tw: &Local<'_>, a: &mut [u64]) {
    // SAFETY: as for `gf_mul_into_avx512`; the twiddle loads are masked to in-bounds lanes.
    unsafe { forward_avx512_impl(tw, a) }
}

/// [`lch_inverse_pclmul`] eight butterflies at a time with `VPCLMULQDQ`.
pub(crate) fn lch_inverse_avx512(_: Avx512Clmul, tw: &Local<'_>, a: &mut [u64]) {
    // SAFETY: as for `lch_forward_avx512`.
    unsafe { inverse_avx512_impl(tw, a) }
}

/// [`lch_butterfly_fwd_pclmul`] eight butterflies at a time with `VPCLMULQDQ`.
pub(crate) fn lch_butterfly_fwd_avx512(_: Avx512Clmul, c: u64, u: &mut [u64], v: &mut [u64]) {
    // SAFETY: as for `gf_mul_into_avx512`.
    unsafe { butterfly_fwd_avx512(c, u, v) }
}

/// [`lch_butterfly_inv_pclmul`] eight butterflies at a time with `VPCLMULQDQ`.
pub(crate) fn lch_butterfly_inv_avx512(_: Avx512Clmul, c: u64, u: &mut [u64], v: &mut [u64]) {
    // SAFETY: as for `gf_mul_into_avx512`.
    unsafe { butterfly_inv_avx512(c, u, v) }
}

/// Two forward butterfly levels in one pass (see [`lch::radix4_fwd_generic`]).
pub(crate) fn lch_radix4_fwd_pclmul(_: Pclmul, c: [u64; 3], a: &mut [u64]) {
    // SAFETY: as for `lch_forward_pclmul`.
    unsafe { radix4_fwd_pclmul_impl(c, a) }
}

/// Inverse of [`lch_radix4_fwd_pclmul`].
pub(crate) fn lch_radix4_inv_pclmul(_: Pclmul, c: [u64; 3], a: &mut [u64]) {
    // SAFETY: as for `lch_forward_pclmul`.
    unsafe { radix4_inv_pclmul_impl(c, a) }
}

/// [`lch_radix4_fwd_pclmul`] eight positions at a time with `VPCLMULQDQ`.
pub(crate) fn lch_radix4_fwd_avx512(_: Avx512Clmul, c: [u64; 3], a: &mut [u64]) {
    // SAFETY: as for `gf_mul_into_avx512`.
    unsafe { radix4_avx512_impl(c, a, false) }
}

/// [`lch_radix4_inv_pclmul`] eight positions at a time with `VPCLMULQDQ`.
pub(crate) fn lch_radix4_inv_avx512(_: Avx512Clmul, c: [u64; 3], a: &mut [u64]) {
    // SAFETY: as for `gf_mul_into_avx512`.
    unsafe { radix4_avx512_impl(c, a, true) }
}

#[target_feature(enable = "pclmulqdq")]
fn radix4_fwd_pclmul_impl(c: [u64; 3], a: &mut [u64]) {
    lch::radix4_fwd_generic(|x, y| gf_mul(x, y), c, a);
}

#[target_feature(enable = "pclmulqdq")]
fn radix4_inv_pclmul_impl(c: [u64; 3], a: &mut [u64]) {
    lch::radix4_inv_generic(|x, y| gf_mul(x, y), c, a);
}

#[target_feature(enable = "avx512f,vpclmulqdq,pclmulqdq")]
fn radix4_avx512_impl(c: [u64; 3], a: &mut [u64], inverse: bool) {
    let q = a.len() / 4;
    if !q.is_multiple_of(8) {
        if inverse {
            lch::radix4_inv_generic(|x, y| gf_mul(x, y), c, a);
        } else {
            lch::radix4_fwd_generic(|x, y| gf_mul(x, y), c, a);
        }
        return;
    }
    let [c0, c1, c2] = c.map(|t| Twiddle::new(t));
    let (h0, h1) = a.split_at_mut(2 * q);
    let (q0, q1) = h0.split_at_mut(q);
    let (q2, q3) = h1.split_at_mut(q);
    let quarters = q0
        .chunks_exact_mut(8)
        .zip(q1.chunks_exact_mut(8))
        .zip(q2.chunks_exact_mut(8))
        .zip(q3.chunks_exact_mut(8));
    for (((p0, p1), p2), p3) in quarters {
        let (mut w, mut x, mut y, mut z) = (load8(p0), load8(p1), load8(p2), load8(p3));
        if inverse {
            x = _mm512_xor_si512(x, w);
            w = _mm512_xor_si512(w, c1.mul(x));
            z = _mm512_xor_si512(z, y);
            y = _mm512_xor_si512(y, c2.mul(z));
            y = _mm512_xor_si512(y, w);
            w = _mm512_xor_si512(w, c0.mul(y));
            z = _mm512_xor_si512(z, x);
            x = _mm512_xor_si512(x, c0.mul(z));
        } else {
            w = _mm512_xor_si512(w, c0.mul(y));
            y = _mm512_xor_si512(y, w);
            x = _mm512_xor_si512(x, c0.mul(z));
            z = _mm512_xor_si512(z, x);
            w = _mm512_xor_si512(w, c1.mul(x));
            x = _mm512_xor_si512(x, w);
            y = _mm512_xor_si512(y, c2.mul(z));
            z = _mm512_xor_si512(z, y);
        }
        store8(p0, w);
        store8(p1, x);
        store8(p2, y);
        store8(p3, z);
    }
}

#[target_feature(enable = "pclmulqdq")]
#[inline]
fn gf_mul(a: u64, b: u64) -> u64 {
    reduce(clmul_pclmul(a, b))
}

#[target_feature(enable = "pclmulqdq")]
fn gf_mul_into_impl(b: &mut [u64], a: &[u64]) {
    for (x, &y) in b.iter_mut().zip(a) {
        *x = gf_mul(*x, y);
    }
}

#[target_feature(enable = "pclmulqdq")]
fn forward_pclmul_impl(tw: &Local<'_>, a: &mut [u64]) {
    lch::forward_generic(|x, y| gf_mul(x, y), tw, a);
}

#[target_feature(enable = "pclmulqdq")]
fn inverse_pclmul_impl(tw: &Local<'_>, a: &mut [u64]) {
    lch::inverse_generic(|x, y| gf_mul(x, y), tw, a);
}

#[target_feature(enable = "pclmulqdq")]
fn butterfly_fwd_pclmul_impl(c: u64, u: &mut [u64], v: &mut [u64]) {
    lch::butterfly_fwd_generic(|x, y| gf_mul(x, y), c, u, v);
}

#[target_feature(enable = "pclmulqdq")]
fn butterfly_inv_pclmul_impl(c: u64, u: &mut [u64], v: &mut [u64]) {
    lch::butterfly_inv_generic(|x, y| gf_mul(x, y), c, u, v);
}

/// Eight GF(2^64) products `a[i] b[i]` (modulus `z^64 + z^4 + z^3 + z + 1`).
#[target_feature(enable = "avx512f,vpclmulqdq")]
#[inline]
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

/// A broadcast twiddle; the top level of every transform (and the first block of each level) has
/// the twiddle 0, whose products are skipped.
#[derive(Clone, Copy)]
struct Twiddle {
    c: __m512i,
    zero: bool,
}

impl Twiddle {
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn new(c: u64) -> Self {
        Self {
            c: _mm512_set1_epi64(c as i64),
            zero: c == 0,
        }
    }

    /// `c v` in each lane.
    #[target_feature(enable = "avx512f,vpclmulqdq")]
    #[inline]
    fn mul(self, v: __m512i) -> __m512i {
        if self.zero {
            _mm512_setzero_si512()
        } else {
            gf_mul8(self.c, v)
        }
    }
}

#[target_feature(enable = "avx512f,vpclmulqdq,pclmulqdq")]
fn gf_mul_into_avx512_impl(b: &mut [u64], a: &[u64]) {
    let n = b.len().min(a.len());
    let full = n / 8 * 8;
    for (bc, ac) in b[..full].chunks_exact_mut(8).zip(a.chunks_exact(8)) {
        store8(bc, gf_mul8(load8(bc), load8(ac)));
    }
    gf_mul_into_impl(&mut b[full..n], &a[full..n]);
}

#[target_feature(enable = "avx512f,vpclmulqdq,pclmulqdq")]
#[inline]
fn butterfly_fwd_avx512(c: u64, u: &mut [u64], v: &mut [u64]) {
    let n = u.len().min(v.len());
    let full = n / 8 * 8;
    let cv = Twiddle::new(c);
    for (uc, vc) in u[..full].chunks_exact_mut(8).zip(v.chunks_exact_mut(8)) {
        let vv = load8(vc);
        let uu = _mm512_xor_si512(load8(uc), cv.mul(vv));
        store8(uc, uu);
        store8(vc, _mm512_xor_si512(vv, uu));
    }
    lch::butterfly_fwd_generic(|x, y| gf_mul(x, y), c, &mut u[full..n], &mut v[full..n]);
}

#[target_feature(enable = "avx512f,vpclmulqdq,pclmulqdq")]
#[inline]
fn butterfly_inv_avx512(c: u64, u: &mut [u64], v: &mut [u64]) {
    let n = u.len().min(v.len());
    let full = n / 8 * 8;
    let cv = Twiddle::new(c);
    for (uc, vc) in u[..full].chunks_exact_mut(8).zip(v.chunks_exact_mut(8)) {
        let uu = load8(uc);
        let vv = _mm512_xor_si512(load8(vc), uu);
        store8(vc, vv);
        store8(uc, _mm512_xor_si512(uu, cv.mul(vv)));
    }
    lch::butterfly_inv_generic(|x, y| gf_mul(x, y), c, &mut u[full..n], &mut v[full..n]);
}

#[target_feature(enable = "avx512f")]
#[inline]
fn vector(l: [i64; 8]) -> __m512i {
    _mm512_set_epi64(l[7], l[6], l[5], l[4], l[3], l[2], l[1], l[0])
}

/// Permutations for a level with half-blocks of `h` words (`h` in 1, 2, 4) on 16 words `p | q`:
/// gather the `u` words, the `v` words, scatter back to `p` and `q`, and spread the `8 / h`
/// twiddles of the group (lane `i` belongs to block `i / h`).
#[target_feature(enable = "avx512f")]
#[inline]
fn small_indices(h: usize) -> [__m512i; 5] {
    let (mut iu, mut iv, mut it) = ([0i64; 8], [0i64; 8], [0i64; 8]);
    for i in 0..8 {
        let w = 2 * h * (i / h) + i % h;
        iu[i] = w as i64;
        iv[i] = (w + h) as i64;
        it[i] = (i / h) as i64;
    }
    let mut back = [0i64; 16];
    for (l, b) in back.iter_mut().enumerate() {
        let (j, r) = (l / (2 * h), l % (2 * h));
        *b = if r < h { j * h + r } else { 8 + j * h + r - h } as i64;
    }
    let (mut ip, mut iq) = ([0i64; 8], [0i64; 8]);
    ip.copy_from_slice(&back[..8]);
    iq.copy_from_slice(&back[8..]);
    [vector(iu), vector(iv), vector(ip), vector(iq), vector(it)]
}

/// Up to eight words (lanes past `words.len()` are zero).
#[target_feature(enable = "avx512f")]
#[inline]
fn load_upto8(words: &[u64]) -> __m512i {
    let n = words.len().min(8);
    // SAFETY: the mask enables exactly the first `n <= words.len()` lanes; masked-off lanes are
    // not accessed (no fault).
    unsafe { _mm512_maskz_loadu_epi64(lane_mask(n), words.as_ptr().cast()) }
}

/// One level with half-blocks of `h < 8` words over `a` (a multiple of 16 words), forward
/// (`inverse == false`) or inverse.
#[target_feature(enable = "avx512f,vpclmulqdq")]
#[inline]
fn small_level(tw: &Local<'_>, a: &mut [u64], h: usize, inverse: bool) {
    let k = (2 * h).trailing_zeros();
    let [iu, iv, ip, iq, it] = small_indices(h);
    let blocks = 8 / h;
    let base = _mm512_set1_epi64(tw.base[k as usize] as i64);
    for (g, grp) in a.chunks_exact_mut(16).enumerate() {
        let t0 = (16 * g) >> k;
        let local = load_upto8(&tw.small[t0..t0 + blocks]);
        let t = _mm512_permutexvar_epi64(it, _mm512_xor_si512(local, base));
        let (pc, qc) = grp.split_at_mut(8);
        let (p, q) = (load8(pc), load8(qc));
        let u = _mm512_permutex2var_epi64(p, iu, q);
        let v = _mm512_permutex2var_epi64(p, iv, q);
        let (u, v) = if inverse {
            let v = _mm512_xor_si512(v, u);
            (_mm512_xor_si512(u, gf_mul8(t, v)), v)
        } else {
            let u = _mm512_xor_si512(u, gf_mul8(t, v));
            (u, _mm512_xor_si512(v, u))
        };
        store8(pc, _mm512_permutex2var_epi64(u, ip, v));
        store8(qc, _mm512_permutex2var_epi64(u, iq, v));
    }
}

#[target_feature(enable = "avx512f,vpclmulqdq,pclmulqdq")]
fn forward_avx512_impl(tw: &Local<'_>, a: &mut [u64]) {
    let n = a.len();
    if n < 16 || !n.is_power_of_two() {
        lch::forward_generic(|x, y| gf_mul(x, y), tw, a);
        return;
    }
    let mut half = n / 2;
    let mut k = n.trailing_zeros();
    while half >= 8 {
        for (b, block) in a.chunks_exact_mut(2 * half).enumerate() {
            let (u, v) = block.split_at_mut(half);
            butterfly_fwd_avx512(tw.get(k, b), u, v);
        }
        half /= 2;
        k -= 1;
    }
    for h in [4, 2, 1] {
        small_level(tw, a, h, false);
    }
}

#[target_feature(enable = "avx512f,vpclmulqdq,pclmulqdq")]
fn inverse_avx512_impl(tw: &Local<'_>, a: &mut [u64]) {
    let n = a.len();
    if n < 16 || !n.is_power_of_two() {
        lch::inverse_generic(|x, y| gf_mul(x, y), tw, a);
        return;
    }
    for h in [1, 2, 4] {
        small_level(tw, a, h, true);
    }
    let mut half = 8;
    let mut k = 4;
    while half < n {
        for (b, block) in a.chunks_exact_mut(2 * half).enumerate() {
            let (u, v) = block.split_at_mut(half);
            butterfly_inv_avx512(tw.get(k, b), u, v);
        }
        half *= 2;
        k += 1;
    }
}
