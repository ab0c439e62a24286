//! Privacy amplification (Toeplitz hashing), verification and pipeline throughput.
//!
//! `cargo bench --bench privacy -- --warm-up-time 1 --measurement-time 3`
//! Add `RUSTFLAGS="-C target-cpu=native"` to use the PCLMULQDQ instruction (see
//! `qkd_core::distill::privacy::clmul`).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use qkd_core::BitString;
use qkd_core::distill::privacy::{ToeplitzHash, seed_len};
use qkd_core::distill::verify::{VerifyRequest, respond};

/// Deterministic pseudo-random bits (SplitMix64), enough for benchmarks.
fn bits(len: usize, mut state: u64) -> BitString {
    let words = (0..len.div_ceil(64))
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        })
        .collect();
    BitString::from_words(words, len)
}

fn privacy_amplification(c: &mut Criterion) {
    let mut group = c.benchmark_group("toeplitz");
    for &n in &[10_000usize, 1_000_000, 10_000_000, 100_000_000] {
        if n >= 10_000_000 {
            group.sample_size(10);
        }
        let m = n / 2;
        let hash = ToeplitzHash::new(bits(seed_len(n, m), 1), n, m).expect("valid sizes");
        let input = bits(n, 2);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("n_m=n/2", n), &input, |b, x| {
            b.iter(|| hash.hash(x).expect("hash"))
        });
    }
    group.finish();
}

fn verification(c: &mut Criterion) {
    let mut group = c.benchmark_group("verify");
    for &n in &[1_000_000usize] {
        let key = bits(n, 3);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("tag_and_check", n), &key, |b, k| {
            b.iter(|| {
                let req = VerifyRequest::new(k, vec![0x1234_5678_9abc_def1]).expect("request");
                respond(k, &req).0
            })
        });
    }
    group.finish();
}

criterion_group!(benches, privacy_amplification, verification);
criterion_main!(benches);
