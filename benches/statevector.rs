//! State-vector engine and QRNG benchmarks (branch sim-sv). Figures: docs/benchmarks.md.
//!
//! Run briefly with
//! `cargo bench --bench statevector -- --warm-up-time 1 --measurement-time 3`.
//!
//! Every group runs twice: with criterion's wall-clock timer, and (ids prefixed `cpu/`) with the
//! benchmark thread's own CPU time from `/proc/thread-self/schedstat` (Linux), which stays
//! meaningful when other processes compete for the cores. The CPU clock advances at scheduler
//! ticks and context switches, so single samples are coarse; criterion's regression over many
//! samples averages that out.

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::Measurement;
use criterion::{
    BatchSize, BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group,
    criterion_main,
};
use qkd_sim::qrng::HadamardQrng;
use qkd_sim::statevector::{Basis, Complex64, Gate, StateVector};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

#[path = "support/thread_cpu.rs"]
mod thread_cpu;
use thread_cpu::ThreadCpu;

/// The CPU clock advances in scheduler ticks: for the `cpu/` variants take 10 equal samples
/// (each a tenth of the measurement time) so that every sample spans many ticks.
fn cpu_settings<M: Measurement>(g: &mut BenchmarkGroup<'_, M>, prefix: &str) {
    if !prefix.is_empty() {
        g.sample_size(10);
        g.sampling_mode(SamplingMode::Flat);
    }
}

/// The uniform superposition `|+>^n` (all amplitudes nonzero, so no kernel runs on zeros only),
/// built in one pass.
fn dense_state(n: usize) -> StateVector {
    let a = Complex64::new((1u64 << n) as f64, 0.0).inv().sqrt();
    StateVector::from_amplitudes(vec![a; 1 << n]).expect("normalised")
}

/// A generic entangled n-qubit state (amplitudes of varied magnitude and phase).
fn generic_state(n: usize) -> StateVector {
    let mut psi = StateVector::new(n).expect("register");
    for q in 0..n {
        psi.apply(Gate::Ry(0.3 + 0.1 * q as f64), q).expect("gate");
    }
    for q in 1..n {
        psi.cnot(q - 1, q).expect("cnot");
        psi.apply(Gate::T, q).expect("gate");
    }
    psi
}

/// One gate (or CNOT) per iteration on large registers: memory-bandwidth bound kernels.
fn large_gates<M: Measurement>(c: &mut Criterion<M>, prefix: &str) {
    let mut g = c.benchmark_group(format!("{prefix}sv_gate"));
    cpu_settings(&mut g, prefix);
    g.sample_size(10);
    for n in [20usize, 24] {
        // Built on first use, so that filtered-out benchmarks cost nothing.
        let mut state: Option<StateVector> = None;
        // Bytes read and written by one full pass over the state.
        g.throughput(Throughput::Bytes(2 * 16 * (1u64 << n)));
        let mid = n / 2;
        for (name, gate, q) in [
            ("H_q0", Gate::H, 0),
            ("H_mid", Gate::H, mid),
            ("H_top", Gate::H, n - 1),
            ("X_mid", Gate::X, mid),
            ("Rz_mid", Gate::Rz(0.3), mid),
            ("Rx_mid", Gate::Rx(0.3), mid),
            ("U_mid", Gate::Unitary(Gate::Ry(0.4).matrix()), mid),
        ] {
            g.bench_function(BenchmarkId::new(name, n), |b| {
                let psi = state.get_or_insert_with(|| dense_state(n));
                b.iter(|| psi.apply(black_box(gate), black_box(q)).expect("gate"))
            });
        }
        g.bench_function(BenchmarkId::new("CNOT_0_mid", n), |b| {
            let psi = state.get_or_insert_with(|| dense_state(n));
            b.iter(|| psi.cnot(black_box(0), black_box(mid)).expect("cnot"))
        });
        // Reference for the memory-bandwidth bound: the simplest read+write pass over the same
        // number of bytes (each amplitude scaled by a real factor of 1).
        g.bench_function(BenchmarkId::new("baseline_scale_pass", n), |b| {
            let plain = state.get_or_insert_with(|| dense_state(n));
            let mut plain = plain.amplitudes().to_vec();
            b.iter(|| {
                let f = black_box(1.0f64);
                for z in plain.iter_mut() {
                    *z *= f;
                }
            })
        });
    }
    g.finish();
}

/// 26 qubits (1 GiB), a single gate kind, few samples.
fn gate_26<M: Measurement>(c: &mut Criterion<M>, prefix: &str) {
    let mut g = c.benchmark_group(format!("{prefix}sv_gate26"));
    cpu_settings(&mut g, prefix);
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(500));
    let n = 26;
    g.throughput(Throughput::Bytes(2 * 16 * (1u64 << n)));
    g.bench_function(BenchmarkId::new("H_mid", n), |b| {
        let mut psi = dense_state(n);
        b.iter(|| psi.apply(black_box(Gate::H), black_box(13)).expect("gate"))
    });
    g.finish();
}

/// Measurement of one qubit (probability pass + collapse pass) and sampling at 20 qubits.
fn measurement<M: Measurement>(c: &mut Criterion<M>, prefix: &str) {
    let mut g = c.benchmark_group(format!("{prefix}sv_measure"));
    cpu_settings(&mut g, prefix);
    g.sample_size(10);
    let n = 20;
    let base = generic_state(n);
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    for (name, basis) in [
        ("Z", Basis::Z),
        ("X", Basis::X),
        ("Linear", Basis::Linear(0.3)),
    ] {
        // A fresh copy of the state per measurement (the copy is not timed): measuring a qubit
        // that an earlier iteration already collapsed in Z would take the known-qubit shortcut.
        g.bench_function(BenchmarkId::new(format!("measure_{name}"), n), |b| {
            b.iter_batched_ref(
                || base.clone(),
                |psi| {
                    psi.measure(black_box(10), basis, &mut rng)
                        .expect("measure")
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.bench_function(BenchmarkId::new("probability_X", n), |b| {
        b.iter(|| {
            base.probability(black_box(10), Basis::X)
                .expect("probability")
        })
    });
    g.bench_function(BenchmarkId::new("sample_1000", n), |b| {
        b.iter(|| base.sample(black_box(1000), &mut rng))
    });
    g.finish();
}

/// The BB84 pattern on small registers: reset, prepare each qubit (X for bit 1, H for the
/// diagonal basis), measure each in a random basis. Reported per register; divide by n for the
/// cost per qubit.
fn small_registers<M: Measurement>(c: &mut Criterion<M>, prefix: &str) {
    let mut g = c.benchmark_group(format!("{prefix}sv_bb84_register"));
    cpu_settings(&mut g, prefix);
    for n in [1usize, 5, 10, 12] {
        let mut psi = StateVector::new(n).expect("register");
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| {
                psi.reset();
                let r = rng.next_u64();
                for q in 0..n {
                    if r >> (2 * q) & 1 == 1 {
                        psi.apply(Gate::X, q).expect("gate");
                    }
                    if r >> (2 * q + 1) & 1 == 1 {
                        psi.apply(Gate::H, q).expect("gate");
                    }
                }
                let bases = rng.next_u64();
                let mut bits = 0u64;
                for q in 0..n {
                    let basis = if bases >> q & 1 == 1 {
                        Basis::X
                    } else {
                        Basis::Z
                    };
                    bits |= u64::from(psi.measure(q, basis, &mut rng).expect("measure")) << q;
                }
                bits
            })
        });
    }
    g.finish();
}

/// QRNG throughput in bytes per second, by register size.
fn qrng<M: Measurement>(c: &mut Criterion<M>, prefix: &str) {
    let mut g = c.benchmark_group(format!("{prefix}qrng"));
    cpu_settings(&mut g, prefix);
    let mut buf = vec![0u8; 4096];
    g.throughput(Throughput::Bytes(buf.len() as u64));
    for n in [1usize, 5, 8, 12] {
        let mut q = HadamardQrng::seeded(n, 3).expect("qrng");
        g.bench_function(BenchmarkId::new("hadamard", n), |b| {
            b.iter(|| q.fill_bytes(black_box(&mut buf)))
        });
    }
    let mut chacha = ChaCha20Rng::seed_from_u64(4);
    g.bench_function("chacha20", |b| {
        b.iter(|| chacha.fill_bytes(black_box(&mut buf)))
    });
    g.finish();
}

macro_rules! timers {
    ($($name:ident),*) => {
        /// Wall-clock variants.
        mod wall {
            use super::*;
            $(pub fn $name(c: &mut Criterion) { super::$name(c, "") })*
        }
        /// Thread-CPU-time variants.
        mod cpu {
            use super::*;
            $(pub fn $name(c: &mut Criterion<ThreadCpu>) { super::$name(c, "cpu/") })*
        }
    };
}
timers!(large_gates, gate_26, measurement, small_registers, qrng);

criterion_group!(
    benches,
    wall::large_gates,
    wall::gate_26,
    wall::measurement,
    wall::small_registers,
    wall::qrng
);
criterion_group! {
    name = cpu_benches;
    config = Criterion::default().with_measurement(ThreadCpu);
    targets = cpu::large_gates, cpu::gate_26, cpu::measurement, cpu::small_registers, cpu::qrng
}
criterion_main!(benches, cpu_benches);
