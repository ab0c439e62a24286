//! Secret-key length: how many bits privacy amplification may output.
//!
//! # Asymptotic
//! `ell = n (1 - h(Q)) - leak_EC - v`, with `n` the bits entering privacy amplification, `Q` the
//! QBER, `h` the binary entropy, `leak_EC` the bits disclosed by error correction and `v` the
//! verification tag bits. This is the Shor-Preskill rate for BB84 with one-way post-processing; it
//! ignores statistical fluctuations and is only right for very large `n`.
//!
//! # Finite key (Tomamichel, Lim, Gisin, Renner 2012)
//! M. Tomamichel, C. C. W. Lim, N. Gisin, R. Renner, "Tight finite-key analysis for quantum
//! cryptography", Nat. Commun. 3, 634 (2012), arXiv:1103.4130. For BB84 with `n` key bits, `k`
//! sampled bits (revealed for parameter estimation) with error rate at most `Q`, the protocol is
//! `eps_sec`-secret and `eps_cor`-correct with
//!
//! `ell = floor( n (1 - h(Q + mu)) - leak_EC - v - log2(2 / (eps_sec^2 eps_cor)) )`,
//! `mu = sqrt( (n + k) / (n k) * (k + 1) / k * ln(2 / eps_sec) )`.
//!
//! `mu` bounds (except with probability about `eps_sec`) how much larger the error rate of the `n`
//! key bits can be than that of the random sample of `k` bits. The paper's `q` (preparation
//! quality) is 1 for ideal BB84 sources, as here. In the paper `leak_EC` includes the
//! verification hash; we pass the tag bits `v` separately and subtract both (the same total).
//! The paper fixes a tolerated `Q_tol` in advance and aborts above it; a pipeline that uses the
//! sample's observed error rate as `Q` must also abort when that rate exceeds its threshold.
//!
//! A result of zero means no secret key can be extracted: the block must be discarded.

use thiserror::Error;

use super::binary_entropy;

/// Invalid key-length parameters.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum KeyLengthError {
    /// No key bits (`n = 0`).
    #[error("no key bits to compute a length for")]
    EmptyKey,
    /// The finite-key bound needs a parameter-estimation sample (`k > 0`).
    #[error("finite-key length needs a non-empty parameter-estimation sample")]
    EmptySample,
    /// QBER outside `[0, 0.5]` or not a number.
    #[error("QBER {0} is outside [0, 0.5]")]
    QberOutOfRange(f64),
    /// A security parameter outside `(0, 1)`.
    #[error("{name} must be in (0, 1), got {value}")]
    BadEpsilon {
        /// Which parameter.
        name: &'static str,
        /// The value given.
        value: f64,
    },
}

/// Security parameters of the finite-key bound.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Security {
    /// Secrecy: trace distance of the final key from an ideal key independent of Eve.
    pub eps_sec: f64,
    /// Correctness: probability that the two final keys differ without an abort.
    pub eps_cor: f64,
}

impl Default for Security {
    /// `eps_sec = 1e-10`, `eps_cor = 1e-12`.
    fn default() -> Self {
        Self {
            eps_sec: 1e-10,
            eps_cor: 1e-12,
        }
    }
}

fn check_qber(q: f64) -> Result<(), KeyLengthError> {
    if (0.0..=0.5).contains(&q) {
        Ok(())
    } else {
        Err(KeyLengthError::QberOutOfRange(q))
    }
}

fn check_eps(name: &'static str, value: f64) -> Result<(), KeyLengthError> {
    if value > 0.0 && value < 1.0 {
        Ok(())
    } else {
        Err(KeyLengthError::BadEpsilon { name, value })
    }
}

fn floor_nonneg(x: f64) -> u64 {
    if x.is_finite() && x > 0.0 {
        x.floor() as u64
    } else {
        0
    }
}

/// Asymptotic length `n (1 - h(Q)) - leak_ec - verification_bits`, floored at zero.
///
/// ```
/// use qkd_core::distill::keylength::asymptotic_length;
/// // h(0.02) = 0.1414: 1e6 bits at 2% QBER with 1.1 * n h(Q) disclosed.
/// let l = asymptotic_length(1_000_000, 0.02, 155_555, 64).unwrap();
/// assert!((700_000..710_000).contains(&l));
/// ```
pub fn asymptotic_length(
    n: u64,
    qber: f64,
    leak_ec: u64,
    verification_bits: u64,
) -> Result<u64, KeyLengthError> {
    if n == 0 {
        return Err(KeyLengthError::EmptyKey);
    }
    check_qber(qber)?;
    let n = n as f64;
    Ok(floor_nonneg(
        n * (1.0 - binary_entropy(qber)) - leak_ec as f64 - verification_bits as f64,
    ))
}

/// The statistical correction `mu = sqrt((n + k)/(n k) * (k + 1)/k * ln(2/eps_sec))`.
pub fn statistical_correction(n: u64, k: u64, eps_sec: f64) -> Result<f64, KeyLengthError> {
    if n == 0 {
        return Err(KeyLengthError::EmptyKey);
    }
    if k == 0 {
        return Err(KeyLengthError::EmptySample);
    }
    check_eps("eps_sec", eps_sec)?;
    let (n, k) = (n as f64, k as f64);
    Ok(((n + k) / (n * k) * (k + 1.0) / k * (2.0 / eps_sec).ln()).sqrt())
}

/// Finite-key length of Tomamichel et al. (2012), floored at zero; see the
/// [module documentation](self) for the formula.
///
/// ```
/// use qkd_core::distill::keylength::{Security, asymptotic_length, finite_key_length};
/// let sec = Security::default();
/// let finite = finite_key_length(1_000_000, 100_000, 0.02, 155_555, 64, sec).unwrap();
/// let asym = asymptotic_length(1_000_000, 0.02, 155_555, 64).unwrap();
/// assert!(finite > 0 && finite < asym);
/// ```
pub fn finite_key_length(
    n: u64,
    k: u64,
    qber: f64,
    leak_ec: u64,
    verification_bits: u64,
    security: Security,
) -> Result<u64, KeyLengthError> {
    check_qber(qber)?;
    check_eps("eps_cor", security.eps_cor)?;
    let mu = statistical_correction(n, k, security.eps_sec)?;
    let q = (qber + mu).min(0.5);
    let penalty = (2.0 / (security.eps_sec * security.eps_sec * security.eps_cor)).log2();
    Ok(floor_nonneg(
        n as f64 * (1.0 - binary_entropy(q)) - leak_ec as f64 - verification_bits as f64 - penalty,
    ))
}

/// The fraction of a sifted key of `n_sifted` bits to sample for parameter estimation that
/// maximises the [finite-key length](finite_key_length), for an expected QBER `qber` and error
/// correction disclosing `efficiency * n h(qber)` bits (64 verification bits). Sampling more
/// tightens `mu` but leaves fewer key bits, so the best sample grows more slowly than the key
/// (about as `n^(2/3)`): for 2^20 sifted bits at QBER 2% it is about 6%, for 2^16 about 15%.
/// Searched on a geometric grid of 2^(1/8) steps within `[0.01, 0.5]`; if no fraction gives a
/// key (the block is too short or the QBER too high) the result is 0.1.
///
/// ```
/// use qkd_core::distill::keylength::{Security, optimal_sample_fraction};
/// let f = optimal_sample_fraction(1 << 20, 0.02, 1.05, Security::default()).unwrap();
/// assert!((0.04..0.08).contains(&f));
/// ```
///
/// Errors: [`KeyLengthError::EmptyKey`] if `n_sifted < 2`, [`KeyLengthError::QberOutOfRange`],
/// [`KeyLengthError::BadEpsilon`] for bad security parameters.
pub fn optimal_sample_fraction(
    n_sifted: u64,
    qber: f64,
    efficiency: f64,
    security: Security,
) -> Result<f64, KeyLengthError> {
    if n_sifted < 2 {
        return Err(KeyLengthError::EmptyKey);
    }
    check_qber(qber)?;
    check_eps("eps_sec", security.eps_sec)?;
    check_eps("eps_cor", security.eps_cor)?;
    let mut best = (0u64, 0.1);
    let mut fraction = 0.01f64;
    while fraction <= 0.5 {
        let k = ((n_sifted as f64 * fraction).round() as u64).clamp(1, n_sifted - 1);
        let n = n_sifted - k;
        let leak = (efficiency.max(1.0) * n as f64 * binary_entropy(qber)).ceil() as u64;
        let length = finite_key_length(n, k, qber, leak, 64, security)?;
        if length > best.0 {
            best = (length, fraction);
        }
        fraction *= 2f64.powf(0.125);
    }
    Ok(best.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Security = Security {
        eps_sec: 1e-10,
        eps_cor: 1e-12,
    };

    #[test]
    fn known_values() {
        // Independent evaluation (Python, math module) of the same formulas:
        // mu(1e6, 1e5, 1e-10) = sqrt(1.1e6/1e11 * 100001/100000 * ln 2e10) = 0.0161527...
        let mu = statistical_correction(1_000_000, 100_000, 1e-10).unwrap();
        assert!((mu - 0.016_152_76).abs() < 1e-7, "{mu}");
        // The length is the closed form, floored.
        let l = finite_key_length(1_000_000, 100_000, 0.02, 0, 0, SEC).unwrap();
        let expect = 1e6 * (1.0 - binary_entropy(0.02 + mu)) - (2.0f64 / (1e-20 * 1e-12)).log2();
        assert_eq!(l, expect.floor() as u64);
        assert_eq!(asymptotic_length(1000, 0.0, 0, 0).unwrap(), 1000);
        assert_eq!(asymptotic_length(1000, 0.5, 0, 0).unwrap(), 0);
        // log2(2 / (1e-20 * 1e-12)) = 1 + 32 log2(10) = 107.3...
        let l0 = finite_key_length(u64::MAX / 4, u64::MAX / 4, 0.0, 0, 0, SEC).unwrap();
        assert!(l0 > 0);
    }

    #[test]
    fn longer_blocks_give_larger_fractions_approaching_asymptotic() {
        let q = 0.03;
        let f = 1.1;
        let frac = |n: u64| {
            let leak = (f * n as f64 * binary_entropy(q)) as u64;
            finite_key_length(n, n / 10, q, leak, 64, SEC).unwrap() as f64 / n as f64
        };
        let asym = 1.0 - binary_entropy(q) - f * binary_entropy(q);
        let mut last = 0.0;
        for n in [
            10_000u64,
            100_000,
            1_000_000,
            10_000_000,
            100_000_000,
            10_000_000_000,
        ] {
            let r = frac(n);
            assert!(r >= last, "fraction fell at n = {n}: {r} < {last}");
            assert!(r < asym);
            last = r;
        }
        assert!(asym - last < 0.01, "{last} vs {asym}");
        // Small blocks yield nothing at all.
        assert_eq!(frac(1_000), 0.0);
    }

    #[test]
    fn zero_when_qber_too_high() {
        let n = 10_000_000u64;
        for q in [0.11, 0.2, 0.5] {
            let leak = (1.05 * n as f64 * binary_entropy(q)) as u64;
            assert_eq!(
                finite_key_length(n, n / 10, q, leak, 64, SEC).unwrap(),
                0,
                "{q}"
            );
            assert_eq!(asymptotic_length(n, q, leak, 64).unwrap(), 0, "{q}");
        }
        // Leak larger than what is left: zero, not an underflow.
        assert_eq!(asymptotic_length(100, 0.01, 1_000, 64).unwrap(), 0);
    }

    #[test]
    fn stricter_security_shortens_the_key() {
        let args = (1_000_000u64, 200_000u64, 0.02, 150_000u64, 64u64);
        let base = finite_key_length(args.0, args.1, args.2, args.3, args.4, SEC).unwrap();
        let strict = Security {
            eps_sec: 1e-15,
            eps_cor: 1e-15,
        };
        let tight = finite_key_length(args.0, args.1, args.2, args.3, args.4, strict).unwrap();
        assert!(tight < base);
        let more_sample = finite_key_length(args.0, 400_000, args.2, args.3, args.4, SEC).unwrap();
        assert!(more_sample > base);
    }

    #[test]
    fn bad_input_is_an_error() {
        assert_eq!(
            asymptotic_length(0, 0.01, 0, 0),
            Err(KeyLengthError::EmptyKey)
        );
        assert_eq!(
            asymptotic_length(10, -0.1, 0, 0),
            Err(KeyLengthError::QberOutOfRange(-0.1))
        );
        assert!(asymptotic_length(10, f64::NAN, 0, 0).is_err());
        assert_eq!(
            finite_key_length(10, 0, 0.01, 0, 0, SEC),
            Err(KeyLengthError::EmptySample)
        );
        assert!(finite_key_length(10, 5, 0.6, 0, 0, SEC).is_err());
        let bad = Security {
            eps_sec: 0.0,
            eps_cor: 1e-12,
        };
        assert!(matches!(
            finite_key_length(10, 5, 0.01, 0, 0, bad),
            Err(KeyLengthError::BadEpsilon {
                name: "eps_sec",
                ..
            })
        ));
        let bad = Security {
            eps_sec: 1e-10,
            eps_cor: 1.0,
        };
        assert!(finite_key_length(10, 5, 0.01, 0, 0, bad).is_err());
    }

    #[test]
    fn optimal_sample_fraction_beats_its_neighbours() {
        let length = |n_sifted: u64, f: f64| {
            let k = (n_sifted as f64 * f).round() as u64;
            let n = n_sifted - k;
            let leak = (1.05 * n as f64 * binary_entropy(0.02)).ceil() as u64;
            finite_key_length(n, k, 0.02, leak, 64, SEC).unwrap()
        };
        let mut last = 1.0;
        for n in [1u64 << 14, 1 << 16, 1 << 18, 1 << 20, 1 << 22] {
            let f = optimal_sample_fraction(n, 0.02, 1.05, SEC).unwrap();
            // A local maximum on the grid, and shrinking with the block.
            assert!(length(n, f) >= length(n, f * 1.2), "n = {n}, f = {f}");
            assert!(length(n, f) >= length(n, f / 1.2), "n = {n}, f = {f}");
            assert!(f < last, "n = {n}: {f} after {last}");
            last = f;
        }
        // Nothing to gain: the fallback.
        assert_eq!(optimal_sample_fraction(100, 0.2, 1.1, SEC).unwrap(), 0.1);
        assert!(optimal_sample_fraction(1, 0.02, 1.0, SEC).is_err());
        assert!(optimal_sample_fraction(1000, 0.7, 1.0, SEC).is_err());
    }
}
