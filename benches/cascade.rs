//! Cascade benchmarks: in-process reconciliation (both state machines in one loop, zero-latency
//! channel) at QBER 2%, n = 1e5, for each variant. Throughput is reported in bits of corrected
//! key per second; the disclosed-parity efficiency of the same runs is printed once per variant.
//!
//! ```text
//! cargo bench --no-default-features --bench cascade -- --warm-up-time 1 --measurement-time 3
//! ```

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use qkd_core::BitString;
use qkd_core::distill::binary_entropy;
use qkd_core::distill::cascade::{
    CascadeConfig, CascadePlan, CascadeVariant, reconcile_in_process,
};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

fn random_key(n: usize, rng: &mut ChaCha8Rng) -> BitString {
    let words = (0..n.div_ceil(64)).map(|_| rng.next_u64()).collect();
    BitString::from_words(words, n)
}

fn noisy_copy(key: &BitString, q: f64, rng: &mut ChaCha8Rng) -> BitString {
    let mut out = key.clone();
    let threshold = (q * 2f64.powi(64)) as u64;
    for i in 0..key.len() {
        if rng.next_u64() < threshold {
            out.flip(i);
        }
    }
    out
}

fn bench_cascade(c: &mut Criterion) {
    let (n, q) = (100_000usize, 0.02);
    let mut group = c.benchmark_group("cascade_q2_n1e5");
    group.throughput(Throughput::Elements(n as u64));
    for variant in [
        CascadeVariant::Original,
        CascadeVariant::YanEtAl,
        CascadeVariant::Optimized,
    ] {
        let config = CascadeConfig::new(variant.clone(), [7; 32]);
        let plan = CascadePlan::shared(&config, n, q).expect("plan");
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        // Efficiency of this configuration over 20 runs, for the record.
        let mut f = 0.0;
        for _ in 0..20 {
            let a = random_key(n, &mut rng);
            let b = noisy_copy(&a, q, &mut rng);
            let out = reconcile_in_process(a, b, plan.clone()).expect("cascade");
            f += out.stats.parities_disclosed as f64 / (n as f64 * binary_entropy(q)) / 20.0;
        }
        eprintln!("{variant:?}: mean efficiency f = {f:.3} over 20 runs (Q = {q}, n = {n})");
        group.bench_function(format!("{variant:?}"), |bench| {
            bench.iter_batched(
                || {
                    let a = random_key(n, &mut rng);
                    let b = noisy_copy(&a, q, &mut rng);
                    (a, b)
                },
                |(a, b)| black_box(reconcile_in_process(a, b, plan.clone()).expect("cascade")),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench_cascade);
criterion_main!(benches);
