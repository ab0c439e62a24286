//! QRNG and RandomSource tests. Statistical checks use fixed seeds and 5-sigma binomial bounds:
//! for `n` fair bits the count of ones has standard deviation `sqrt(n)/2`, so an unbiased
//! generator fails `|ones - n/2| <= 5 sqrt(n)/2` with probability below 6e-7 per check.

use super::*;

fn five_sigma_fair(n: usize) -> f64 {
    5.0 * (n as f64).sqrt() / 2.0
}

/// `n` bits from `rng` (via next_u64, lowest bit first).
fn bits<R: Rng + ?Sized>(rng: &mut R, n: usize) -> Vec<bool> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let w = rng.next_u64();
        out.extend((0..64).map(|i| w >> i & 1 == 1).take(n - out.len()));
    }
    out
}

fn assert_balanced_and_uncorrelated(b: &[bool], what: &str) {
    let n = b.len();
    let ones = b.iter().filter(|&&x| x).count();
    assert!(
        (ones as f64 - n as f64 / 2.0).abs() <= five_sigma_fair(n),
        "{what}: {ones} ones of {n}"
    );
    // Serial correlation at lags 1, 2, 7: for independent fair bits, b[i] == b[i+lag] is a fair
    // coin as well (n - lag trials).
    for lag in [1, 2, 7] {
        let equal = b.windows(lag + 1).filter(|w| w[0] == w[lag]).count();
        let m = n - lag;
        assert!(
            (equal as f64 - m as f64 / 2.0).abs() <= five_sigma_fair(m),
            "{what}: lag {lag}: {equal} equal of {m}"
        );
    }
}

#[test]
fn hadamard_qrng_bits_are_balanced_and_uncorrelated() {
    for (qubits, seed) in [(1, 1), (5, 2), (7, 3)] {
        let mut q = HadamardQrng::seeded(qubits, seed).unwrap();
        let b = bits(&mut q, 1 << 16);
        assert_balanced_and_uncorrelated(&b, &format!("{qubits}-qubit QRNG"));
    }
}

#[test]
fn every_qubit_of_a_shot_is_fair() {
    // Catches a packing or gate bug that would bias one position of the register.
    let n_qubits = 6;
    let mut q = HadamardQrng::seeded(n_qubits, 4).unwrap();
    let shots = 20_000;
    let mut ones = vec![0usize; n_qubits];
    for _ in 0..shots {
        let s = q.shot();
        assert!(s < 1 << n_qubits);
        for (k, o) in ones.iter_mut().enumerate() {
            *o += (s >> k & 1) as usize;
        }
    }
    for (k, &o) in ones.iter().enumerate() {
        assert!(
            (o as f64 - shots as f64 / 2.0).abs() <= five_sigma_fair(shots),
            "qubit {k}: {o} of {shots}"
        );
    }
}

#[test]
fn identical_seeds_give_identical_output() {
    let mut a = HadamardQrng::seeded(5, 42).unwrap();
    let mut b = HadamardQrng::seeded(5, 42).unwrap();
    let mut c = HadamardQrng::seeded(5, 43).unwrap();
    let xa: Vec<u64> = (0..64).map(|_| a.next_u64()).collect();
    let xb: Vec<u64> = (0..64).map(|_| b.next_u64()).collect();
    let xc: Vec<u64> = (0..64).map(|_| c.next_u64()).collect();
    assert_eq!(xa, xb);
    assert_ne!(xa, xc);

    let mut s1 = RandomSource::Seeded(9).build().unwrap();
    let mut s2 = RandomSource::Seeded(9).build().unwrap();
    let mut b1 = [0u8; 100];
    let mut b2 = [0u8; 100];
    s1.fill_bytes(&mut b1);
    s2.fill_bytes(&mut b2);
    assert_eq!(b1, b2);
    assert_ne!(b1, [0u8; 100]);
}

#[test]
fn words_and_bytes_come_from_one_bit_stream() {
    // 3 qubits per shot do not divide 32 or 64: the buffer must carry leftover bits over.
    let mut a = HadamardQrng::seeded(3, 5).unwrap();
    let mut b = HadamardQrng::seeded(3, 5).unwrap();
    let w0 = a.next_u32();
    let w1 = a.next_u32();
    let w2 = a.next_u64();
    let mut expected = Vec::new();
    expected.extend_from_slice(&w0.to_le_bytes());
    expected.extend_from_slice(&w1.to_le_bytes());
    expected.extend_from_slice(&w2.to_le_bytes());
    let mut got = [0u8; 8];
    b.fill_bytes(&mut got);
    assert_eq!(
        &got[..],
        &expected[..8],
        "two u32 words = one u64 of the same stream"
    );
    let mut bits_a = HadamardQrng::seeded(3, 6).unwrap();
    let mut shots = HadamardQrng::seeded(3, 6).unwrap();
    // The first 63 bits are exactly 21 shots, lowest bits first.
    let word = bits_a.next_u64();
    let mut packed = 0u64;
    for k in 0..21 {
        packed |= shots.shot() << (3 * k);
    }
    assert_eq!(word & ((1 << 63) - 1), packed);
}

#[test]
fn register_size_is_checked() {
    assert!(matches!(
        HadamardQrng::seeded(0, 1),
        Err(SimError::RegisterSize { num_qubits: 0, .. })
    ));
    assert!(matches!(
        HadamardQrng::seeded(QRNG_MAX_QUBITS + 1, 1),
        Err(SimError::RegisterSize { .. })
    ));
    assert!(RandomSource::Qrng { register_qubits: 0 }.build().is_err());
    assert_eq!(HadamardQrng::seeded(12, 1).unwrap().register_qubits(), 12);
}

#[test]
fn os_seeded_sources_work_and_differ() {
    // Two OS-seeded generators agree on a 64-bit word with probability 2^-64.
    for source in [
        RandomSource::Csprng,
        RandomSource::Qrng { register_qubits: 4 },
    ] {
        let mut a = source.build().unwrap();
        let mut b = source.build().unwrap();
        // (No statistical check here: those run on fixed seeds above.)
        assert_ne!(a.next_u64(), b.next_u64(), "{source:?}");
    }
    assert_eq!(RandomSource::default(), RandomSource::Csprng);
}

#[test]
fn debug_output_hides_state() {
    let mut q = HadamardQrng::seeded(5, 1).unwrap();
    let _ = q.next_u32();
    assert_eq!(format!("{q:?}"), "HadamardQrng { register_qubits: 5, .. }");
}

#[test]
fn boxed_sources_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let r = RandomSource::Seeded(1).build().unwrap();
    assert_send(&r);
    let q = HadamardQrng::seeded(2, 1).unwrap();
    assert_send(&q);
}
