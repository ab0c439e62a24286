//! Property tests: the fast Toeplitz hash equals the naive matrix-vector product exactly.

use proptest::prelude::*;
use qkd_core::BitString;
use qkd_core::distill::privacy::clmul::{clmul, clmul_reference, clmul_soft};
use qkd_core::distill::privacy::{
    ADDITIVE_THRESHOLD, ClmulBackend, FFT_THRESHOLD, PrivacyError, ToeplitzHash, seed_len,
    toeplitz_hash, toeplitz_hash_clmul, toeplitz_hash_naive,
};
use rand::{RngExt, SeedableRng, rngs::StdRng};

fn random_bits(rng: &mut StdRng, len: usize) -> BitString {
    let words = (0..len.div_ceil(64)).map(|_| rng.random::<u64>()).collect();
    BitString::from_words(words, len)
}

fn xor(a: &BitString, b: &BitString) -> BitString {
    BitString::from_words(
        a.words()
            .iter()
            .zip(b.words())
            .map(|(p, q)| p ^ q)
            .collect(),
        a.len(),
    )
}

fn check(n: usize, m: usize, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let s = random_bits(&mut rng, seed_len(n, m));
    let x = random_bits(&mut rng, n);
    let fast = toeplitz_hash(&s, &x, m).unwrap();
    let naive = toeplitz_hash_naive(&s, &x, m).unwrap();
    assert_eq!(fast, naive, "n={n} m={m} seed={seed}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn fast_equals_naive(n in 1usize..1500, frac in 0.0f64..=1.0, seed in any::<u64>()) {
        let m = ((n as f64 * frac) as usize).clamp(1, n);
        check(n, m, seed);
    }

    #[test]
    fn fast_equals_naive_m1_and_square(n in 1usize..1200, seed in any::<u64>()) {
        check(n, 1, seed);
        check(n, n, seed);
    }

    #[test]
    fn clmul_paths_agree(a in any::<u64>(), b in any::<u64>()) {
        prop_assert_eq!(clmul_soft(a, b), clmul_reference(a, b));
        prop_assert_eq!(clmul(a, b), clmul_reference(a, b));
    }

    #[test]
    fn hash_is_linear(n in 1usize..700, seed in any::<u64>()) {
        // T(x + x') = T x + T x' over GF(2).
        let mut rng = StdRng::seed_from_u64(seed);
        let m = (n / 2).max(1);
        let s = random_bits(&mut rng, seed_len(n, m));
        let (a, b) = (random_bits(&mut rng, n), random_bits(&mut rng, n));
        let ha = toeplitz_hash(&s, &a, m).unwrap();
        let hb = toeplitz_hash(&s, &b, m).unwrap();
        let hs = toeplitz_hash(&s, &xor(&a, &b), m).unwrap();
        prop_assert_eq!(hs, xor(&ha, &hb));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// The additive-FFT path equals the naive product (all transform sizes up to 2^7 chunks,
    /// every alignment of `n` and `m` to the 32-bit chunks and 64-bit words).
    #[test]
    fn additive_equals_naive(n in 1usize..1500, frac in 0.0f64..=1.0, seed in any::<u64>()) {
        let m = ((n as f64 * frac) as usize).clamp(1, n);
        let mut rng = StdRng::seed_from_u64(seed);
        let s = random_bits(&mut rng, seed_len(n, m));
        let x = random_bits(&mut rng, n);
        let h = ToeplitzHash::new(s.clone(), n, m).unwrap();
        prop_assert_eq!(h.hash_additive(&x).unwrap(), toeplitz_hash_naive(&s, &x, m).unwrap());
    }
}

/// The additive FFT equals carry-less Karatsuba on large odd sizes (transforms of 2^12 to 2^17
/// chunks, so the radix-4 passes, the strip-wise basis conversion and the reduced transform
/// modulo `x^65536 + x` run too), on both sides of the sizes where that reduced transform stops
/// applying (`n + m - 1 = 2^21` at `m = n / 2`; the wrapped terms reaching the output window at
/// `m = n`), and `hash` around `ADDITIVE_THRESHOLD`, where it switches from Karatsuba to it.
#[test]
fn additive_equals_clmul_large() {
    let t = ADDITIVE_THRESHOLD;
    let cases = [
        (65_537usize, 1usize),
        (100_000, 100_000),
        (200_003, 100_001),
        (1_398_101, 699_051),
        (1_398_111, 699_051),
        (1_048_500, 1_048_500),
        (1_048_576, 1_048_576),
        (t - 1, (t - 1) / 2),
        (t, t / 2),
        (t + 63, 12_345),
    ];
    for (k, &(n, m)) in cases.iter().enumerate() {
        let mut rng = StdRng::seed_from_u64(600 + k as u64);
        let s = random_bits(&mut rng, seed_len(n, m));
        let x = random_bits(&mut rng, n);
        let h = ToeplitzHash::new(s, n, m).unwrap();
        let exact = h.hash_clmul(&x).unwrap();
        assert_eq!(h.hash_additive(&x).unwrap(), exact, "n={n} m={m}");
        assert_eq!(h.hash(&x).unwrap(), exact, "hash n={n} m={m}");
    }
}

/// `T x` with one backend.
fn with_backend(s: &BitString, x: &BitString, m: usize, backend: ClmulBackend) -> BitString {
    ToeplitzHash::new(s.clone(), x.len(), m)
        .unwrap()
        .hash_clmul_with(x, backend)
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Every backend the CPU supports (the portable one included, also on x86) equals the naive
    /// product on small sizes (below and around the base cases).
    #[test]
    fn every_backend_equals_naive(n in 1usize..2200, frac in 0.0f64..=1.0, seed in any::<u64>()) {
        let m = ((n as f64 * frac) as usize).clamp(1, n);
        let mut rng = StdRng::seed_from_u64(seed);
        let s = random_bits(&mut rng, seed_len(n, m));
        let x = random_bits(&mut rng, n);
        let naive = toeplitz_hash_naive(&s, &x, m).unwrap();
        for backend in ClmulBackend::available() {
            prop_assert_eq!(&with_backend(&s, &x, m, backend), &naive, "{}", backend);
        }
    }

    /// Mid sizes (several levels of recursion for every backend): all backends agree with the
    /// portable one (itself checked against the naive product above and below).
    #[test]
    fn backends_agree_mid_sizes(n in 2000usize..40_000, frac in 0.0f64..=1.0, seed in any::<u64>()) {
        let m = ((n as f64 * frac) as usize).clamp(1, n);
        let mut rng = StdRng::seed_from_u64(seed);
        let s = random_bits(&mut rng, seed_len(n, m));
        let x = random_bits(&mut rng, n);
        let portable = with_backend(&s, &x, m, ClmulBackend::Portable);
        for backend in ClmulBackend::available() {
            prop_assert_eq!(&with_backend(&s, &x, m, backend), &portable, "{}", backend);
        }
    }
}

/// Sizes around the base-case thresholds of the hardware kernels (32 and 47 words: 2048 and 3008
/// bits) and one and two halvings above them, square and m = n/2, odd bit lengths included: every
/// backend against the naive product.
#[test]
fn backends_equal_naive_around_thresholds() {
    let mut k = 0;
    for words in [31usize, 32, 33, 46, 47, 48, 64, 65, 94, 95, 96] {
        for (n, m) in [
            (64 * words, 64 * words),
            (64 * words + 1, 64 * words - 63),
            (128 * words - 5, 64 * words),
        ] {
            k += 1;
            let mut rng = StdRng::seed_from_u64(5000 + k);
            let s = random_bits(&mut rng, seed_len(n, m));
            let x = random_bits(&mut rng, n);
            let naive = toeplitz_hash_naive(&s, &x, m).unwrap();
            for backend in ClmulBackend::available() {
                assert_eq!(
                    with_backend(&s, &x, m, backend),
                    naive,
                    "{backend} n={n} m={m}"
                );
            }
        }
    }
}

/// The portable backend stays covered on machines with hardware carry-less multiplication, and
/// naming an unsupported backend is an error, not a silent fallback.
#[test]
fn portable_backend_forced_and_unavailable_backend_rejected() {
    assert!(ClmulBackend::Portable.is_available());
    assert_eq!(ClmulBackend::available()[0], ClmulBackend::Portable);
    assert!(ClmulBackend::best().is_available());
    let mut rng = StdRng::seed_from_u64(77);
    let (n, m) = (5000, 2500);
    let s = random_bits(&mut rng, seed_len(n, m));
    let x = random_bits(&mut rng, n);
    let h = ToeplitzHash::new(s.clone(), n, m).unwrap();
    assert_eq!(
        h.hash_clmul_with(&x, ClmulBackend::Portable).unwrap(),
        toeplitz_hash_naive(&s, &x, m).unwrap()
    );
    for backend in ClmulBackend::ALL {
        match h.hash_clmul_with(&x, backend) {
            Ok(y) => assert!(backend.is_available() && y == h.hash(&x).unwrap()),
            Err(e) => {
                assert!(!backend.is_available());
                assert_eq!(e, PrivacyError::BackendUnavailable(backend));
            }
        }
    }
    // Wrong input length is still checked first.
    assert_eq!(
        h.hash_clmul_with(&BitString::zeros(n - 1), ClmulBackend::Portable),
        Err(PrivacyError::InputLength {
            expected: n,
            got: n - 1
        })
    );
}

/// Sizes around the recursion's base case and odd word counts, where padding paths are taken.
#[test]
fn structured_sizes_equal_naive() {
    let sizes = [
        (64, 64),
        (65, 1),
        (127, 127),
        (128, 64),
        (1536, 1536),
        (1537, 1000),
        (3100, 3100),
        (3200, 1500),
        (3200, 100),
        (2000, 1999),
        (3072 + 63, 3072 - 1),
    ];
    for (k, &(n, m)) in sizes.iter().enumerate() {
        check(n, m, 1000 + k as u64);
    }
}

/// Large sizes: compare the fast product with the naive one on some output bits (each output bit
/// is an inner product of the input with a seed window); the full naive product is too slow.
#[test]
fn large_sizes_spot_checked() {
    let cases = [
        (200_000usize, 120_000usize),
        (100_003, 99_999),
        (150_001, 7),
    ];
    for (k, &(n, m)) in cases.iter().enumerate() {
        let mut rng = StdRng::seed_from_u64(7 + k as u64);
        let s = random_bits(&mut rng, seed_len(n, m));
        let x = random_bits(&mut rng, n);
        let y = toeplitz_hash(&s, &x, m).unwrap();
        for i in [0, 1, 63, 64, m / 2, m.saturating_sub(2), m - 1] {
            let i = i.min(m - 1);
            let naive = (0..n).fold(false, |acc, j| acc ^ (s.get(i + n - 1 - j) & x.get(j)));
            assert_eq!(y.get(i), naive, "n={n} m={m} bit {i}");
        }
    }
}

/// Above the FFT threshold both fast paths (FFT and carry-less Karatsuba) must agree exactly; the
/// carry-less path is itself checked against the naive product above. (With hardware carry-less
/// multiplication `toeplitz_hash` does not use the FFT; the `fft` module's own tests cover it.)
#[test]
fn fft_path_equals_clmul_path() {
    let mut rng = StdRng::seed_from_u64(99);
    for _ in 0..6 {
        let n = FFT_THRESHOLD + rng.random_range(0..60_000);
        let m = match rng.random_range(0..3) {
            0 => 1,
            1 => n,
            _ => rng.random_range(1..=n),
        };
        let s = random_bits(&mut rng, seed_len(n, m));
        let x = random_bits(&mut rng, n);
        let fft = toeplitz_hash(&s, &x, m).unwrap();
        let clmul = toeplitz_hash_clmul(&s, &x, m).unwrap();
        assert_eq!(fft, clmul, "n={n} m={m}");
    }
}
