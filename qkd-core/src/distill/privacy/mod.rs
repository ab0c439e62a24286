//! Privacy amplification by Toeplitz hashing over GF(2).
//!
//! An `m x n` Toeplitz matrix `T` is fixed by `n + m - 1` seed bits `s`; we use
//! `T[i][j] = s[i - j + n - 1]` (first row `s[n-1], s[n-2], ..., s[0]`, first column
//! `s[n-1], s[n], ..., s[n+m-2]`). The hash of an `n`-bit input `x` is the `m`-bit
//! `y = T x` over GF(2). Toeplitz matrices with a uniformly random seed form a universal\_2
//! family, so by the leftover hash lemma `y` is close to uniform and independent of an
//! adversary's information when `m` is chosen as in [`keylength`](super::keylength).
//!
//! `y_i` is the coefficient of `z^(i + n - 1)` in the GF(2)\[z\] product `S(z) X(z)`
//! (`S = sum s_k z^k`, `X = sum x_j z^j`): the hash is a slice of a polynomial product. Exact
//! ways to compute it, chosen by size and CPU:
//! * by default, on 64-bit words with carry-less multiplication and a Karatsuba-style recursion
//!   on Toeplitz blocks (see the `toeplitz` module source), after shifting the input up by
//!   `(64 - n % 64) % 64` zero bits so that its length is a multiple of 64 (this leaves `y`
//!   unchanged). The 64 x 64-bit carry-less products come from the fastest [`ClmulBackend`] the
//!   CPU supports (AVX-512 `VPCLMULQDQ`, `PCLMULQDQ`, or portable Rust), detected at run time;
//! * with hardware carry-less multiplication, from [`ADDITIVE_THRESHOLD`] input bits on: an exact
//!   additive FFT over GF(2^64) on 32-bit chunks in the novel polynomial basis of Lin, Chung and
//!   Han (see the `additive` module source);
//! * without hardware carry-less multiplication, from [`FFT_THRESHOLD`] input bits on (feature
//!   `fft`): one real `f64` FFT convolution, rounded, with the rounding error measured at run time
//!   and the carry-less path as fallback (see the `fft` module source).
//!
//! The tests check every path and backend against [`toeplitz_hash_naive`], the bit-by-bit
//! matrix-vector product, and against each other.
//!
//! ```
//! use qkd_core::BitString;
//! use qkd_core::distill::privacy::{ToeplitzHash, toeplitz_hash_naive};
//!
//! let (n, m) = (1000, 300);
//! let seed = BitString::from_bools(&(0..n + m - 1).map(|i| i % 3 == 0).collect::<Vec<_>>());
//! let key = BitString::from_bools(&(0..n).map(|i| i % 7 < 3).collect::<Vec<_>>());
//! let hash = ToeplitzHash::new(seed.clone(), n, m).unwrap();
//! let out = hash.hash(&key).unwrap();
//! assert_eq!(out.len(), m);
//! assert_eq!(out, toeplitz_hash_naive(&seed, &key, m).unwrap());
//! ```

mod additive;
pub mod clmul;
#[cfg(target_arch = "x86_64")]
mod clmul_x86;
#[cfg(feature = "fft")]
mod fft;
mod kernel;
mod toeplitz;

pub use kernel::ClmulBackend;
use kernel::Kernel;

use thiserror::Error;
use zeroize::Zeroizing;

use crate::bits::BitString;

/// Invalid input to privacy amplification. Carries lengths only, never key bits.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PrivacyError {
    /// The input key is empty.
    #[error("privacy amplification input is empty")]
    EmptyInput,
    /// The requested output length is zero.
    #[error("privacy amplification output length is zero")]
    EmptyOutput,
    /// The output would be longer than the input (`m > n`).
    #[error("output length {output} exceeds input length {input}")]
    OutputLongerThanInput {
        /// Requested output bits `m`.
        output: usize,
        /// Input bits `n`.
        input: usize,
    },
    /// The seed has fewer than `n + m - 1` bits.
    #[error("Toeplitz seed has {got} bits; {needed} are needed")]
    SeedTooShort {
        /// Bits needed (`n + m - 1`).
        needed: usize,
        /// Bits supplied.
        got: usize,
    },
    /// The input does not have the length the hash was built for.
    #[error("input has {got} bits; the hash was built for {expected}")]
    InputLength {
        /// Length the hash was built for.
        expected: usize,
        /// Length supplied.
        got: usize,
    },
    /// The requested carry-less multiplication backend is not supported by this CPU.
    #[error("carry-less multiplication backend {0} is not available on this CPU")]
    BackendUnavailable(ClmulBackend),
}

/// Without a hardware carry-less multiply, inputs of at least this many bits are hashed by FFT
/// (feature `fft`, the default) and shorter ones by the portable carry-less product. Chosen by
/// measurement (see docs/benchmarks.md). With hardware carry-less multiplication the FFT is not
/// used.
pub const FFT_THRESHOLD: usize = 20_000;

/// With hardware carry-less multiplication, inputs of at least this many bits are hashed by the
/// additive FFT over GF(2^64) ([`ToeplitzHash::hash_additive`]), shorter ones by carry-less
/// Karatsuba. Chosen by measurement at `m = n / 2` (docs/benchmarks.md, section `pa-speed2`:
/// the two cost the same near 7.5e5 bits).
pub const ADDITIVE_THRESHOLD: usize = 750_000;

/// The carry-less (Karatsuba) product with the fastest supported backend, whatever the size: the
/// exact path that the FFT path falls back to. Exposed for tests and benchmarks.
pub fn toeplitz_hash_clmul(
    seed: &BitString,
    input: &BitString,
    output_len: usize,
) -> Result<BitString, PrivacyError> {
    ToeplitzHash::new(seed.clone(), input.len(), output_len)?.hash_clmul(input)
}

/// Number of seed bits for an `output_len x input_len` Toeplitz matrix: `n + m - 1`.
pub fn seed_len(input_len: usize, output_len: usize) -> usize {
    (input_len + output_len).saturating_sub(1)
}

fn check(seed_bits: usize, n: usize, m: usize) -> Result<(), PrivacyError> {
    if n == 0 {
        return Err(PrivacyError::EmptyInput);
    }
    if m == 0 {
        return Err(PrivacyError::EmptyOutput);
    }
    if m > n {
        return Err(PrivacyError::OutputLongerThanInput {
            output: m,
            input: n,
        });
    }
    let needed = seed_len(n, m);
    if seed_bits < needed {
        return Err(PrivacyError::SeedTooShort {
            needed,
            got: seed_bits,
        });
    }
    Ok(())
}

/// A Toeplitz hash `{0,1}^n -> {0,1}^m` fixed by its seed. The seed is public (sent over the
/// authenticated channel); inputs and outputs are secret and only ever held in zeroizing buffers.
#[derive(Clone)]
pub struct ToeplitzHash {
    /// Seed words, truncated to `n + m - 1` bits, for the padded word-level product.
    seed_words: Vec<u64>,
    input_len: usize,
    output_len: usize,
}

impl std::fmt::Debug for ToeplitzHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToeplitzHash")
            .field("input_len", &self.input_len)
            .field("output_len", &self.output_len)
            .finish_non_exhaustive()
    }
}

impl ToeplitzHash {
    /// The hash with seed `seed` (at least `n + m - 1` bits; surplus bits are ignored) from
    /// `input_len = n` to `output_len = m` bits. Errors when `n` or `m` is zero, `m > n`, or the
    /// seed is too short.
    pub fn new(seed: BitString, input_len: usize, output_len: usize) -> Result<Self, PrivacyError> {
        check(seed.len(), input_len, output_len)?;
        let seed = seed.slice(0, seed_len(input_len, output_len));
        Ok(Self {
            seed_words: seed.words().to_vec(),
            input_len,
            output_len,
        })
    }

    /// Input length `n` in bits.
    pub fn input_len(&self) -> usize {
        self.input_len
    }

    /// Output length `m` in bits.
    pub fn output_len(&self) -> usize {
        self.output_len
    }

    /// `T x` by carry-less multiplication only, with the fastest backend the CPU supports (see
    /// [`toeplitz_hash_clmul`]).
    pub fn hash_clmul(&self, input: &BitString) -> Result<BitString, PrivacyError> {
        self.check_input(input)?;
        Ok(self.clmul_product(Kernel::best(), input))
    }

    /// `T x` by carry-less multiplication with the given backend; errors with
    /// [`PrivacyError::BackendUnavailable`] when the CPU does not support it. For tests and
    /// benchmarks of each kernel: [`hash`](Self::hash) picks the fastest by itself.
    pub fn hash_clmul_with(
        &self,
        input: &BitString,
        backend: ClmulBackend,
    ) -> Result<BitString, PrivacyError> {
        self.check_input(input)?;
        let kernel =
            Kernel::for_backend(backend).ok_or(PrivacyError::BackendUnavailable(backend))?;
        Ok(self.clmul_product(kernel, input))
    }

    /// `T x` by the additive FFT over GF(2^64) (see the `additive` module source) with the fastest
    /// supported backend for its field products, whatever the size. Exposed for tests and
    /// benchmarks: [`hash`](Self::hash) uses it from [`ADDITIVE_THRESHOLD`] bits on.
    pub fn hash_additive(&self, input: &BitString) -> Result<BitString, PrivacyError> {
        self.check_input(input)?;
        let kernel = Kernel::best();
        let (n, m) = (self.input_len, self.output_len);
        let mut y = Zeroizing::new(vec![0u64; m.div_ceil(64)]);
        if additive::toeplitz(kernel, &self.seed_words, input.words(), n, m, &mut y) {
            Ok(BitString::from_words(std::mem::take(&mut *y), m))
        } else {
            Ok(self.clmul_product(kernel, input))
        }
    }

    /// `T x` for an input of exactly `n` bits. With a hardware carry-less multiply
    /// ([`ClmulBackend::best`] is not `Portable`) by the additive FFT from
    /// [`ADDITIVE_THRESHOLD`] bits on and by carry-less Karatsuba below; without one, by the
    /// `f64` FFT from [`FFT_THRESHOLD`] bits on (when the `fft` feature is on), else by the
    /// portable carry-less product.
    pub fn hash(&self, input: &BitString) -> Result<BitString, PrivacyError> {
        self.check_input(input)?;
        let kernel = Kernel::best();
        if kernel.is_hardware() && self.input_len >= ADDITIVE_THRESHOLD {
            return self.hash_additive(input);
        }
        #[cfg(feature = "fft")]
        if !kernel.is_hardware() && self.input_len >= FFT_THRESHOLD {
            let (n, m) = (self.input_len, self.output_len);
            let seed = BitString::from_words(self.seed_words.clone(), seed_len(n, m));
            if let Some(y) = fft::toeplitz_fft(&seed, input, m) {
                return Ok(y);
            }
        }
        Ok(self.clmul_product(kernel, input))
    }

    fn check_input(&self, input: &BitString) -> Result<(), PrivacyError> {
        if input.len() != self.input_len {
            return Err(PrivacyError::InputLength {
                expected: self.input_len,
                got: input.len(),
            });
        }
        Ok(())
    }

    fn clmul_product(&self, kernel: Kernel, input: &BitString) -> BitString {
        let (n, m) = (self.input_len, self.output_len);
        let shift = (64 - n % 64) % 64;
        let nw = (n + shift) / 64;
        let mw = m.div_ceil(64);
        // Input shifted up by `shift` bits: x'_{j + shift} = x_j.
        let mut x = Zeroizing::new(vec![0u64; nw]);
        let src = input.words();
        if shift == 0 {
            x.copy_from_slice(src);
        } else {
            for (k, w) in x.iter_mut().enumerate() {
                let lo = if k == 0 {
                    0
                } else {
                    src[k - 1] >> (64 - shift)
                };
                let hi = src.get(k).map_or(0, |&v| v << shift);
                *w = lo | hi;
            }
        }
        let mut y = Zeroizing::new(vec![0u64; mw]);
        toeplitz::multiply(kernel, &self.seed_words, &x, &mut y);
        BitString::from_words(std::mem::take(&mut *y), m)
    }
}

/// `T x` for a seed of at least `n + m - 1` bits: [`ToeplitzHash::new`] then
/// [`ToeplitzHash::hash`].
pub fn toeplitz_hash(
    seed: &BitString,
    input: &BitString,
    output_len: usize,
) -> Result<BitString, PrivacyError> {
    ToeplitzHash::new(seed.clone(), input.len(), output_len)?.hash(input)
}

/// The bit-by-bit matrix-vector product `y_i = XOR_j s[i - j + n - 1] x_j`: O(n m), the reference
/// the fast product is tested against. Same errors as [`toeplitz_hash`].
pub fn toeplitz_hash_naive(
    seed: &BitString,
    input: &BitString,
    output_len: usize,
) -> Result<BitString, PrivacyError> {
    let (n, m) = (input.len(), output_len);
    check(seed.len(), n, m)?;
    let mut out = BitString::zeros(m);
    for i in 0..m {
        let mut acc = false;
        for j in 0..n {
            acc ^= seed.get(i + n - 1 - j) & input.get(j);
        }
        out.set(i, acc);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_on_bad_input() {
        let seed = BitString::zeros(100);
        let x = BitString::zeros(60);
        assert_eq!(
            toeplitz_hash(&seed, &BitString::zeros(0), 1),
            Err(PrivacyError::EmptyInput)
        );
        assert_eq!(toeplitz_hash(&seed, &x, 0), Err(PrivacyError::EmptyOutput));
        assert_eq!(
            toeplitz_hash(&seed, &x, 61),
            Err(PrivacyError::OutputLongerThanInput {
                output: 61,
                input: 60
            })
        );
        assert_eq!(
            toeplitz_hash(&seed, &x, 42),
            Err(PrivacyError::SeedTooShort {
                needed: 101,
                got: 100
            })
        );
        assert!(toeplitz_hash(&seed, &x, 41).is_ok());
        let h = ToeplitzHash::new(seed, 60, 41).unwrap();
        assert_eq!(
            h.hash(&BitString::zeros(59)),
            Err(PrivacyError::InputLength {
                expected: 60,
                got: 59
            })
        );
        assert!(!format!("{h:?}").contains("seed_words"));
    }

    #[test]
    fn unit_vectors_select_seed_windows() {
        // T e_j is column j: bits s[n-1-j .. n-1-j+m].
        let (n, m) = (130, 70);
        let seed = BitString::from_bools(
            &(0..n + m - 1)
                .map(|i| (i * i + 3) % 5 < 2)
                .collect::<Vec<_>>(),
        );
        for j in [0, 1, 63, 64, 65, 129] {
            let mut e = BitString::zeros(n);
            e.set(j, true);
            let y = toeplitz_hash(&seed, &e, m).unwrap();
            assert_eq!(y, seed.slice(n - 1 - j, n - 1 - j + m), "column {j}");
        }
    }
}
