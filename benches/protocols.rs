//! Protocol engine benchmarks (qkd-sim): BB84 on the state-vector path for several register
//! sizes, and the bit-sliced fast path in qubits per second.
//!
//! `cargo bench --bench protocols -- --warm-up-time 1 --measurement-time 3`
//!
//! The state-vector group also runs with the benchmark thread's own CPU time (ids prefixed
//! `cpu/`, from `/proc/thread-self/schedstat`), which stays meaningful when other processes
//! compete for the cores.

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::Measurement;
use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use qkd_sim::channel::QuantumChannel;
use qkd_sim::protocol::{Backend, EngineConfig, Protocol, SimConfig, run_in_process};

#[path = "support/thread_cpu.rs"]
mod thread_cpu;
use thread_cpu::ThreadCpu;

/// BB84, 4096-bit sifted key, ideal channel, state-vector registers of `r` qubits.
fn bb84_state_vector<M: Measurement>(c: &mut Criterion<M>, prefix: &str) {
    let mut g = c.benchmark_group(format!("{prefix}bb84_sv_4096"));
    // Many short samples for the small registers (a key takes well under a millisecond), so that
    // the median is not at the mercy of a few disturbed samples on a shared machine.
    g.sample_size(100);
    if !prefix.is_empty() {
        // The CPU clock advances in scheduler ticks: equal samples spanning many ticks.
        g.sampling_mode(SamplingMode::Flat);
    }
    for r in [1usize, 5, 10, 12, 20] {
        let config = SimConfig::new(EngineConfig::new(
            Protocol::Bb84,
            Backend::StateVector { register_qubits: r },
            4096,
        ));
        if r >= 10 {
            g.sample_size(10);
        }
        if r == 20 {
            g.measurement_time(Duration::from_secs(5));
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

fn bb84_state_vector_wall(c: &mut Criterion) {
    bb84_state_vector(c, "");
}

fn bb84_state_vector_cpu(c: &mut Criterion<ThreadCpu>) {
    bb84_state_vector(c, "cpu/");
}

criterion_group!(benches, bb84_state_vector_wall, bb84_fast_path);
criterion_group! {
    name = cpu_benches;
    config = Criterion::default().with_measurement(ThreadCpu);
    targets = bb84_state_vector_cpu
}
criterion_main!(benches, cpu_benches);
