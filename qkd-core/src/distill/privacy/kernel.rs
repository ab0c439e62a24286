//! Choice of the carry-less multiplication backend: the public [`ClmulBackend`] names, and the
//! internal [`Kernel`], which for a hardware backend carries the proof (a token from the
//! `clmul_x86` module) that the CPU supports it.

use super::additive;
use super::additive::field::Local;
use super::clmul::clmul_soft;
#[cfg(target_arch = "x86_64")]
use super::clmul_x86::{self, Avx512Clmul, Pclmul};

/// A carry-less multiplication backend for the Toeplitz product.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClmulBackend {
    /// Portable safe Rust ([`clmul_soft`](super::clmul::clmul_soft)): available everywhere.
    Portable,
    /// x86-64 `PCLMULQDQ`: one 64 x 64 product per instruction.
    Pclmulqdq,
    /// x86-64 AVX-512F with `VPCLMULQDQ`: four 64 x 64 products per instruction.
    Vpclmulqdq512,
}

impl ClmulBackend {
    /// Every backend, fastest last.
    pub const ALL: [ClmulBackend; 3] = [Self::Portable, Self::Pclmulqdq, Self::Vpclmulqdq512];

    /// Whether the running CPU supports this backend (checked at run time).
    pub fn is_available(self) -> bool {
        Kernel::for_backend(self).is_some()
    }

    /// The backends the running CPU supports, [`Portable`](Self::Portable) first.
    pub fn available() -> Vec<ClmulBackend> {
        Self::ALL.into_iter().filter(|b| b.is_available()).collect()
    }

    /// The fastest backend the running CPU supports (what [`ToeplitzHash::hash`] uses).
    ///
    /// [`ToeplitzHash::hash`]: super::ToeplitzHash::hash
    pub fn best() -> ClmulBackend {
        Kernel::best().backend()
    }
}

impl std::fmt::Display for ClmulBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Portable => "portable",
            Self::Pclmulqdq => "pclmulqdq",
            Self::Vpclmulqdq512 => "vpclmulqdq-avx512",
        })
    }
}

/// A backend the CPU is known to support.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kernel {
    /// [`clmul_soft`].
    Portable,
    /// `PCLMULQDQ`.
    #[cfg(target_arch = "x86_64")]
    Pclmul(Pclmul),
    /// AVX-512 `VPCLMULQDQ`.
    #[cfg(target_arch = "x86_64")]
    Avx512(Avx512Clmul),
}

impl Kernel {
    /// The kernel for `backend`, if the CPU supports it.
    pub(crate) fn for_backend(backend: ClmulBackend) -> Option<Kernel> {
        match backend {
            ClmulBackend::Portable => Some(Kernel::Portable),
            #[cfg(target_arch = "x86_64")]
            ClmulBackend::Pclmulqdq => Pclmul::detect().map(Kernel::Pclmul),
            #[cfg(target_arch = "x86_64")]
            ClmulBackend::Vpclmulqdq512 => Avx512Clmul::detect().map(Kernel::Avx512),
            #[cfg(not(target_arch = "x86_64"))]
            _ => None,
        }
    }

    /// The fastest supported kernel.
    pub(crate) fn best() -> Kernel {
        ClmulBackend::ALL
            .into_iter()
            .rev()
            .find_map(Kernel::for_backend)
            .unwrap_or(Kernel::Portable)
    }

    /// The public name of this kernel.
    pub(crate) fn backend(self) -> ClmulBackend {
        match self {
            Kernel::Portable => ClmulBackend::Portable,
            #[cfg(target_arch = "x86_64")]
            Kernel::Pclmul(_) => ClmulBackend::Pclmulqdq,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512(_) => ClmulBackend::Vpclmulqdq512,
        }
    }

    /// Whether this is a hardware kernel.
    pub(crate) fn is_hardware(self) -> bool {
        self != Kernel::Portable
    }

    /// 64 x 64 -> 128-bit carry-less product.
    #[inline]
    pub(crate) fn clmul(self, a: u64, b: u64) -> u128 {
        match self {
            Kernel::Portable => clmul_soft(a, b),
            #[cfg(target_arch = "x86_64")]
            Kernel::Pclmul(t) => clmul_x86::clmul(t, a, b),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512(_) => match Pclmul::detect() {
                Some(t) => clmul_x86::clmul(t, a, b),
                None => clmul_soft(a, b),
            },
        }
    }

    /// Words of scratch [`Kernel::block`] needs for full speed.
    pub(crate) const SCRATCH: usize = 256;

    /// Direct block product `y ^= T x` (seed `s`, `s.len() >= y.len() + x.len()`; see the
    /// `toeplitz` module for the word-level formulation). `scratch` (at least
    /// [`Kernel::SCRATCH`] words for the AVX-512 kernel) receives key-dependent intermediate
    /// values: the caller wipes it.
    pub(crate) fn block(self, s: &[u64], x: &[u64], y: &mut [u64], scratch: &mut [u64]) {
        #[cfg(not(target_arch = "x86_64"))]
        let _ = scratch;
        match self {
            Kernel::Portable => super::toeplitz::schoolbook(s, x, y),
            #[cfg(target_arch = "x86_64")]
            Kernel::Pclmul(t) => {
                let _ = scratch;
                if !clmul_x86::toeplitz_pclmul(t, s, x, y) {
                    super::toeplitz::schoolbook(s, x, y);
                }
            }
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512(t) => {
                if !clmul_x86::toeplitz_avx512(t, s, x, y, scratch) {
                    super::toeplitz::schoolbook(s, x, y);
                }
            }
        }
    }

    /// The hardware token for `PCLMULQDQ`, if this kernel implies it.
    #[cfg(target_arch = "x86_64")]
    fn pclmul(self) -> Option<Pclmul> {
        match self {
            Kernel::Portable => None,
            Kernel::Pclmul(t) => Some(t),
            // AVX-512 VPCLMULQDQ without PCLMULQDQ does not exist in practice; check anyway.
            Kernel::Avx512(_) => Pclmul::detect(),
        }
    }

    /// Pointwise field product `b[i] = b[i] a[i]`.
    pub(crate) fn gf_mul_into(self, b: &mut [u64], a: &[u64]) {
        #[cfg(target_arch = "x86_64")]
        if let Kernel::Avx512(tok) = self {
            clmul_x86::gf_mul_into_avx512(tok, b, a);
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if let Some(p) = self.pclmul() {
            clmul_x86::gf_mul_into_pclmul(p, b, a);
            return;
        }
        additive::portable::mul_into(b, a);
    }

    /// Every level of the additive FFT on a block of at most [`lch::CHUNK`] words with the
    /// block's twiddles `tw` (see the `additive::lch` module).
    ///
    /// [`lch::CHUNK`]: additive::lch::CHUNK
    pub(crate) fn lch_forward(self, tw: &Local<'_>, a: &mut [u64]) {
        #[cfg(target_arch = "x86_64")]
        if let Kernel::Avx512(tok) = self {
            clmul_x86::lch_forward_avx512(tok, tw, a);
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if let Some(p) = self.pclmul() {
            clmul_x86::lch_forward_pclmul(p, tw, a);
            return;
        }
        additive::portable::forward(tw, a);
    }

    /// Inverse of [`Kernel::lch_forward`].
    pub(crate) fn lch_inverse(self, tw: &Local<'_>, a: &mut [u64]) {
        #[cfg(target_arch = "x86_64")]
        if let Kernel::Avx512(tok) = self {
            clmul_x86::lch_inverse_avx512(tok, tw, a);
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if let Some(p) = self.pclmul() {
            clmul_x86::lch_inverse_pclmul(p, tw, a);
            return;
        }
        additive::portable::inverse(tw, a);
    }

    /// One forward butterfly level with one twiddle: `u += c v`, `v += u`.
    pub(crate) fn lch_butterfly_fwd(self, c: u64, u: &mut [u64], v: &mut [u64]) {
        #[cfg(target_arch = "x86_64")]
        if let Kernel::Avx512(tok) = self {
            clmul_x86::lch_butterfly_fwd_avx512(tok, c, u, v);
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if let Some(p) = self.pclmul() {
            clmul_x86::lch_butterfly_fwd_pclmul(p, c, u, v);
            return;
        }
        additive::portable::butterfly_fwd(c, u, v);
    }

    /// Inverse of [`Kernel::lch_butterfly_fwd`]: `v += u`, `u += c v`.
    pub(crate) fn lch_butterfly_inv(self, c: u64, u: &mut [u64], v: &mut [u64]) {
        #[cfg(target_arch = "x86_64")]
        if let Kernel::Avx512(tok) = self {
            clmul_x86::lch_butterfly_inv_avx512(tok, c, u, v);
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if let Some(p) = self.pclmul() {
            clmul_x86::lch_butterfly_inv_pclmul(p, c, u, v);
            return;
        }
        additive::portable::butterfly_inv(c, u, v);
    }

    /// Two forward butterfly levels in one pass over four quarters (see the `additive::lch`
    /// module).
    pub(crate) fn lch_radix4_fwd(self, c: [u64; 3], a: &mut [u64]) {
        #[cfg(target_arch = "x86_64")]
        if let Kernel::Avx512(tok) = self {
            clmul_x86::lch_radix4_fwd_avx512(tok, c, a);
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if let Some(p) = self.pclmul() {
            clmul_x86::lch_radix4_fwd_pclmul(p, c, a);
            return;
        }
        additive::portable::radix4_fwd(c, a);
    }

    /// Inverse of [`Kernel::lch_radix4_fwd`].
    pub(crate) fn lch_radix4_inv(self, c: [u64; 3], a: &mut [u64]) {
        #[cfg(target_arch = "x86_64")]
        if let Kernel::Avx512(tok) = self {
            clmul_x86::lch_radix4_inv_avx512(tok, c, a);
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if let Some(p) = self.pclmul() {
            clmul_x86::lch_radix4_inv_pclmul(p, c, a);
            return;
        }
        additive::portable::radix4_inv(c, a);
    }

    /// `dst ^= src` over the common length.
    #[inline]
    pub(crate) fn xor_into(self, dst: &mut [u64], src: &[u64]) {
        #[cfg(target_arch = "x86_64")]
        if let Kernel::Avx512(t) = self {
            clmul_x86::xor_into_avx512(t, dst, src);
            return;
        }
        for (d, s) in dst.iter_mut().zip(src) {
            *d ^= s;
        }
    }

    /// `dst = a ^ b` over the common length.
    #[inline]
    pub(crate) fn xor_to(self, dst: &mut [u64], a: &[u64], b: &[u64]) {
        #[cfg(target_arch = "x86_64")]
        if let Kernel::Avx512(t) = self {
            clmul_x86::xor_to_avx512(t, dst, a, b);
            return;
        }
        for ((d, p), q) in dst.iter_mut().zip(a).zip(b) {
            *d = p ^ q;
        }
    }

    /// Square blocks of at most this many words are multiplied directly by [`Kernel::block`];
    /// larger ones are split by Karatsuba. Chosen by measurement (docs/benchmarks.md, `pa-hw`).
    pub(crate) fn base_words(self) -> usize {
        match self {
            Kernel::Portable => 24,
            #[cfg(target_arch = "x86_64")]
            Kernel::Pclmul(_) => 32,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512(_) => 47,
        }
    }
}

#[cfg(target_arch = "x86_64")]
const _: () = assert!(Kernel::SCRATCH >= clmul_x86::AVX512_SCRATCH);
