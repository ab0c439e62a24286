//! Protocol engine benchmarks (qkd-sim): BB84 on the state-vector path for several register
//! sizes, and the bit-sliced fast path in qubits per second.
//!
//! `cargo bench --bench protocols -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use qkd_sim::channel::QuantumChannel;
use qkd_sim::protocol::{Backend, EngineConfig, Protocol, SimConfig, run_in_process};

/// BB84, 4096-bit sifted key, ideal channel, state-vector registers of `r` qubits.
fn bb84_state_vector(c: &mut Criterion) {
    let mut g = c.benchmark_group("bb84_sv_4096");
    g.sample_size(10);
    for r in [1usize, 5, 10, 12, 20] {
        let config = SimConfig::new(EngineConfig::new(
            Protocol::Bb84,
            Backend::StateVector { register_qubits: r },
            4096,
        ));
        if r == 20 {
            g.measurement_time(Duration::from_secs(20));
        }
        let mut seed = 0u64;
        g.bench_with_input(BenchmarkId::new("register_qubits", r), &config, |b, cfg| {
            b.iter(|| {
                seed += 1;
                let report = run_in_process(cfg, seed).expect("runs");
                assert_eq!(report.alice.key.len(), 4096);
                black_box(report.errors)
            })
        });
    }
    g.finish();
}

/// The fast path: BB84 with 5% depolarizing noise, sifting included, ~8.4 million qubits per run.
fn bb84_fast_path(c: &mut Criterion) {
    let mut g = c.benchmark_group("bb84_fast_path");
    g.sample_size(10);
    let channel = QuantumChannel::ideal()
        .with_depolarizing(0.05)
        .expect("valid");
    for (name, channel) in [
        ("ideal", QuantumChannel::ideal()),
        ("depolarizing_0.05", channel),
    ] {
        let mut engine = EngineConfig::new(Protocol::Bb84, Backend::Product, 1 << 22);
        engine.frame_qubits = 1 << 20;
        let config = SimConfig {
            engine,
            channel,
            eve: None,
        };
        let qubits = run_in_process(&config, 0).expect("runs").alice.stats.qubits;
        g.throughput(Throughput::Elements(qubits));
        let mut seed = 0u64;
        g.bench_with_input(BenchmarkId::new("qubits", name), &config, |b, cfg| {
            b.iter(|| {
                seed += 1;
                black_box(run_in_process(cfg, seed).expect("runs").errors)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bb84_state_vector, bb84_fast_path);
criterion_main!(benches);
