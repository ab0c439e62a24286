//! Privacy amplification (Toeplitz hashing), verification and pipeline throughput.
//!
//! `cargo bench --bench privacy -- --warm-up-time 1 --measurement-time 3`
//! Figures and the machine they ran on: docs/benchmarks.md, sections `distill-pa`, `pa-hw` and
//! `pa-speed2`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use qkd_core::BitString;
use qkd_core::MemoryChannel;
use qkd_core::distill::pipeline::{Pipeline, PipelineConfig, PipelineRole};
use qkd_core::distill::privacy::{ClmulBackend, ToeplitzHash, seed_len};
use qkd_core::distill::verify::{VerifyRequest, respond};
use rand_core::SeedableRng;

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
    for &n in &[10_000usize, 100_000, 1_000_000, 10_000_000, 100_000_000] {
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

/// The carry-less product with each backend the CPU supports (the portable one only up to 1e5).
fn backends(c: &mut Criterion) {
    let mut group = c.benchmark_group("toeplitz_backend");
    for &n in &[10_000usize, 100_000, 1_000_000] {
        let m = n / 2;
        let hash = ToeplitzHash::new(bits(seed_len(n, m), 1), n, m).expect("valid sizes");
        let input = bits(n, 2);
        group.throughput(Throughput::Elements(n as u64));
        for backend in ClmulBackend::available() {
            if backend == ClmulBackend::Portable && n > 100_000 {
                continue;
            }
            let id = BenchmarkId::new(backend.to_string(), n);
            group.bench_with_input(id, &input, |b, x| {
                b.iter(|| hash.hash_clmul_with(x, backend).expect("hash"))
            });
        }
    }
    group.finish();
}

fn verification(c: &mut Criterion) {
    let mut group = c.benchmark_group("verify");
    for &n in &[10_000usize, 1_000_000] {
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

/// The whole pipeline on 1e6 sifted bits at QBER 2%, both ends in-process over a MemoryChannel.
fn pipeline(c: &mut Criterion) {
    let n = 1_000_000;
    let alice = bits(n, 5);
    let mut bob = alice.clone();
    // 2% errors at pseudo-random positions: word k of `noise` below 0.02 * 2^64 flips bit k.
    let noise = bits(64 * n, 6);
    let limit = (0.02 * u64::MAX as f64) as u64;
    for (i, &w) in noise.words().iter().enumerate() {
        if w < limit {
            bob.flip(i);
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("pipeline");
    group.sample_size(10);
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function(BenchmarkId::new("qber_2pct", n), |b| {
        b.iter(|| {
            runtime.block_on(async {
                let (mut ca, mut cb) = MemoryChannel::pair();
                let (a, bk) = (alice.clone(), bob.clone());
                let ta = tokio::spawn(async move {
                    let p = Pipeline::new(PipelineConfig::default(), PipelineRole::Initiator)?;
                    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
                    p.run(a, &mut ca, &mut rng).await
                });
                let tb = tokio::spawn(async move {
                    let p = Pipeline::new(PipelineConfig::default(), PipelineRole::Responder)?;
                    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(2);
                    p.run(bk, &mut cb, &mut rng).await
                });
                let (ka, kb) = (ta.await.expect("task"), tb.await.expect("task"));
                let (ka, kb) = (ka.expect("alice"), kb.expect("bob"));
                assert_eq!(ka.key, kb.key);
                ka.stats.final_bits
            })
        })
    });
    group.finish();
}

/// The two fast paths with the best backend: carry-less Karatsuba and the additive FFT (on both
/// sides of `ADDITIVE_THRESHOLD` = 7.5e5, and at the sizes of the targets).
fn paths(c: &mut Criterion) {
    let mut group = c.benchmark_group("toeplitz_path");
    group.sample_size(10);
    for &n in &[500_000usize, 1_000_000, 10_000_000, 100_000_000] {
        let m = n / 2;
        let hash = ToeplitzHash::new(bits(seed_len(n, m), 1), n, m).expect("valid sizes");
        let input = bits(n, 2);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("karatsuba", n), &input, |b, x| {
            b.iter(|| hash.hash_clmul(x).expect("hash"))
        });
        group.bench_with_input(BenchmarkId::new("additive_fft", n), &input, |b, x| {
            b.iter(|| hash.hash_additive(x).expect("hash"))
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    privacy_amplification,
    backends,
    paths,
    verification,
    pipeline
);
criterion_main!(benches);
