//! Property tests: the fast Toeplitz hash equals the naive matrix-vector product exactly.

use proptest::prelude::*;
use qkd_core::BitString;
use qkd_core::distill::privacy::clmul::{clmul, clmul_reference, clmul_soft};
use qkd_core::distill::privacy::{
    FFT_THRESHOLD, seed_len, toeplitz_hash, toeplitz_hash_clmul, toeplitz_hash_naive,
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
/// carry-less path is itself checked against the naive product above.
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
