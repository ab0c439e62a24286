//! Toeplitz hashing by one real FFT convolution over `f64` (feature `fft`).
//!
//! `y_i = [z^(i+n-1)] S(z) X(z) mod 2`. With 0/1 coefficients the integer convolution
//! `c_p = sum_k s_k x_(p-k)` counts the one-terms at position `p`, and `y_i = c_(i+n-1) mod 2`.
//!
//! * **Cyclic length.** A cyclic convolution of length `L >= n + m - 1` suffices: the product
//!   has degree at most `2n + m - 3`, so wrapped-around terms land at indices at most
//!   `2n + m - 3 - L <= n - 2`, below the wanted window `n - 1 ..= n + m - 2`.
//! * **Exactness.** Each `c_p` is an integer in `[0, n]`, exactly representable. The computed
//!   value differs from it by at most about `eps * log2(L) * |s|_2 * |x|_2` times a small
//!   constant (error analysis of the FFT convolution; `eps = 2^-53`, and `|s|_2 |x|_2 <=
//!   sqrt((n + m) n)`): for `n = 1e8` this is of order `1e-6`, far below the `0.5` at which rounding
//!   could pick the wrong integer. The code does not rely on the bound alone: it measures the
//!   largest distance of any used output from its nearest integer and returns `None` (the caller
//!   falls back to the exact carry-less product) if it exceeds [`MAX_ROUNDING_ERROR`].
//!
//! Buffers that held key-dependent values are overwritten with zeros before they are freed.

use std::sync::{Mutex, OnceLock};

use realfft::RealFftPlanner;
use realfft::num_complex::Complex;
use zeroize::Zeroize;

use crate::bits::BitString;

/// Largest tolerated distance of an output from its nearest integer (the theoretical error is
/// orders of magnitude smaller; anything near 0.5 would make rounding ambiguous).
pub const MAX_ROUNDING_ERROR: f64 = 0.25;

/// Smallest `L >= min` of the form `2^a 3^b` with `a >= 1` (sizes rustfft transforms fast).
fn fft_len(min: usize) -> usize {
    let mut best = usize::MAX;
    let mut p3 = 1usize;
    while p3 < 2 * min.max(1) {
        let mut l = p3 * 2;
        while l < min {
            l *= 2;
        }
        best = best.min(l);
        p3 *= 3;
    }
    best
}

fn unpack_into(bits: &BitString, out: &mut [f64]) {
    for (k, &w) in bits.words().iter().enumerate() {
        let base = 64 * k;
        let end = (base + 64).min(bits.len());
        for (t, o) in out[base..end].iter_mut().enumerate() {
            *o = ((w >> t) & 1) as f64;
        }
    }
}

fn wipe(spectrum: &mut [Complex<f64>]) {
    for c in spectrum.iter_mut() {
        c.re = 0.0;
        c.im = 0.0;
    }
    std::hint::black_box(&spectrum);
}

/// `T x` by FFT, with `seed` exactly `n + m - 1` bits and `1 <= m <= n = x.len()`. `None` when
/// the measured rounding error is too large (or the transform fails), so that the caller uses
/// the exact path.
pub(crate) fn toeplitz_fft(seed: &BitString, x: &BitString, m: usize) -> Option<BitString> {
    let n = x.len();
    let len = fft_len(n + m - 1);
    let (forward, inverse) = {
        // Plans are cached by length inside the planner; planning a large size is costly.
        static PLANNER: OnceLock<Mutex<RealFftPlanner<f64>>> = OnceLock::new();
        let mut planner = PLANNER
            .get_or_init(|| Mutex::new(RealFftPlanner::new()))
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        (planner.plan_fft_forward(len), planner.plan_fft_inverse(len))
    };

    let mut buf = vec![0f64; len];
    unpack_into(seed, &mut buf);
    let mut spec_s = forward.make_output_vec();
    forward.process(&mut buf, &mut spec_s).ok()?;

    buf.fill(0.0);
    unpack_into(x, &mut buf);
    let mut spec_x = forward.make_output_vec();
    let ok = forward.process(&mut buf, &mut spec_x).is_ok();
    for (a, b) in spec_s.iter_mut().zip(&spec_x) {
        *a *= b;
    }
    wipe(&mut spec_x);
    drop(spec_x);
    if let Some(c) = spec_s.first_mut() {
        c.im = 0.0;
    }
    if let Some(c) = spec_s.last_mut() {
        c.im = 0.0;
    }
    let ok = ok && inverse.process(&mut spec_s, &mut buf).is_ok();
    wipe(&mut spec_s);
    if !ok {
        buf.zeroize();
        return None;
    }

    let scale = 1.0 / len as f64;
    let mut out = BitString::zeros(m);
    let mut max_err = 0f64;
    for (k, word) in out.words_mut().iter_mut().enumerate() {
        let mut w = 0u64;
        let base = n - 1 + 64 * k;
        let end = (64 * k + 64).min(m) - 64 * k;
        for (t, &v) in buf[base..base + end].iter().enumerate() {
            let v = v * scale;
            let r = v.round();
            max_err = max_err.max((v - r).abs());
            w |= ((r as i64 & 1) as u64) << t;
        }
        *word = w;
    }
    buf.zeroize();
    (max_err <= MAX_ROUNDING_ERROR).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distill::privacy::{seed_len, toeplitz_hash_naive};
    use rand::{RngExt, SeedableRng, rngs::StdRng};

    #[test]
    fn small_sizes_equal_naive() {
        let mut rng = StdRng::seed_from_u64(21);
        let mut bits = |len: usize| {
            BitString::from_words(
                (0..len.div_ceil(64)).map(|_| rng.random::<u64>()).collect(),
                len,
            )
        };
        for n in [1usize, 2, 3, 63, 64, 65, 127, 200, 333] {
            for m in [1, n / 3, n / 2, n - 1, n] {
                if m == 0 {
                    continue;
                }
                let (s, x) = (bits(seed_len(n, m)), bits(n));
                let fast = toeplitz_fft(&s, &x, m).expect("rounding error within bound");
                assert_eq!(fast, toeplitz_hash_naive(&s, &x, m).unwrap(), "n={n} m={m}");
            }
        }
    }

    #[test]
    fn large_sizes_round_cleanly_and_equal_clmul() {
        let mut rng = StdRng::seed_from_u64(22);
        for (n, m) in [
            (20_000usize, 10_000usize),
            (100_000, 50_000),
            (300_001, 123_457),
        ] {
            let s = BitString::from_words(
                (0..seed_len(n, m).div_ceil(64))
                    .map(|_| rng.random())
                    .collect(),
                seed_len(n, m),
            );
            let x = BitString::from_words((0..n.div_ceil(64)).map(|_| rng.random()).collect(), n);
            let fft = toeplitz_fft(&s, &x, m).expect("rounding error within bound");
            // The exact carry-less path (with whatever backend the CPU has) is checked against
            // the naive product in tests/privacy_props.rs.
            let exact = crate::distill::privacy::toeplitz_hash_clmul(&s, &x, m).unwrap();
            assert_eq!(fft, exact, "n={n} m={m}");
        }
    }

    #[test]
    fn lengths_are_smooth_and_large_enough() {
        for min in [1usize, 2, 3, 5, 7, 100, 1000, 1_500_000, 150_000_000] {
            let l = fft_len(min);
            assert!(l >= min && l.is_multiple_of(2), "{min} -> {l}");
            let mut r = l;
            while r.is_multiple_of(2) {
                r /= 2;
            }
            while r.is_multiple_of(3) {
                r /= 3;
            }
            assert_eq!(r, 1);
            // Never more than 4/3 of the minimum (plus the small cases).
            assert!(min < 8 || l * 3 <= min * 4 + 3, "{min} -> {l}");
        }
    }
}
