//! Entanglement-based protocols: pairs per second for E91 and BBM92 (in-process: source, both
//! parties, sifting and, for E91, the CHSH test), and the pair source alone.
//!
//! Run briefly with `cargo bench --bench entangled -- --warm-up-time 1 --measurement-time 3`.
//! Every benchmark runs twice: with criterion's wall clock (group `entangled`) and with the
//! benchmark thread's own CPU time (group `entangled_cpu`, read from `/proc/thread-self/schedstat`
//! on Linux), which stays meaningful when other processes compete for the cores.

use criterion::measurement::Measurement;
use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main,
};
use qkd_core::Role;
use qkd_sim::channel::QuantumChannel;
use qkd_sim::eve::{EveBases, EveConfig};
use qkd_sim::protocol::entangled::{PairSource, SettingsFrame, SourceConfig, node_rng};
use qkd_sim::protocol::{bbm92, e91};

fn configs() -> Vec<(&'static str, SourceConfig)> {
    let noisy = QuantumChannel::ideal()
        .with_depolarizing(0.02)
        .expect("valid probability");
    vec![
        ("ideal", SourceConfig::default()),
        (
            "depolarizing_0.02",
            SourceConfig {
                alice: noisy,
                bob: noisy,
                ..SourceConfig::default()
            },
        ),
        (
            "eve_full",
            SourceConfig {
                eve: Some(EveConfig::new(1.0, EveBases::Bb84).expect("valid fraction")),
                ..SourceConfig::default()
            },
        ),
    ]
}

#[path = "support/thread_cpu.rs"]
mod thread_cpu;
use thread_cpu::ThreadCpu;

fn protocols(c: &mut Criterion) {
    group(&mut c.benchmark_group("entangled"));
    let mut cpu = Criterion::default()
        .with_measurement(ThreadCpu)
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3))
        .configure_from_args();
    group(&mut cpu.benchmark_group("entangled_cpu"));
}

fn group<M: Measurement>(g: &mut BenchmarkGroup<'_, M>) {
    const PAIRS: usize = 100_000;
    g.sample_size(10);
    g.throughput(Throughput::Elements(PAIRS as u64));
    for (name, cfg) in configs() {
        g.bench_with_input(BenchmarkId::new("e91", name), &cfg, |b, cfg| {
            b.iter(|| e91::run_in_process(cfg, PAIRS, 1).expect("e91 run"))
        });
        g.bench_with_input(BenchmarkId::new("bbm92", name), &cfg, |b, cfg| {
            b.iter(|| bbm92::run_in_process(cfg, PAIRS, 1).expect("bbm92 run"))
        });
    }
    // The source alone (pair preparation, channels, both measurements on the joint state).
    let scheme = e91::scheme();
    let frame = |party, table: &[_]| SettingsFrame {
        batch: 0,
        party,
        table: table.to_vec(),
        choices: (0..PAIRS).map(|i| (i % 3) as u8).collect(),
    };
    let (fa, fb) = (
        frame(Role::Alice, scheme.alice()),
        frame(Role::Bob, scheme.bob()),
    );
    g.bench_function("source_only/ideal", |b| {
        let mut src = PairSource::new(SourceConfig::default(), node_rng(1, 2), node_rng(1, 3))
            .expect("valid config");
        b.iter(|| src.play(&fa, &fb).expect("play"))
    });
}

criterion_group!(benches, protocols);
criterion_main!(benches);
