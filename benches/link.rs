//! End-to-end secret-key throughput of the simulated link (in process, current-thread runtime,
//! so both ends share one core). The paper's Table 1 scenarios are in `benches/table1.rs`.
//!
//! ```sh
//! cargo bench --bench link -- --warm-up-time 1 --measurement-time 3
//! ```

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use qkd_core::{DeviceError, QuantumDevice};
use qkd_sim::device::{LinkConfig, SimulatedDevice, SimulatedLink};
use qkd_sim::qrng::RandomSource;

/// The next block both ends deliver, and its final bits. A block that post-processing discards
/// at both ends (Cascade can leave an even number of errors undetected; verification then drops
/// the block) is part of the link's real cost: it is skipped, and the time spent on it stays in
/// the measurement.
async fn next_key(alice: &SimulatedDevice, bob: &SimulatedDevice) -> u64 {
    loop {
        match tokio::join!(alice.next_block(), bob.next_block()) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a.key, b.key);
                return a.stats.final_bits;
            }
            (Err(DeviceError::PostProcessing { .. }), Err(DeviceError::PostProcessing { .. })) => {
                continue;
            }
            (a, b) => panic!("block failed: {:?} / {:?}", a.err(), b.err()),
        }
    }
}

/// Runs `blocks` blocks on a fresh link and returns the final bits produced at Alice.
fn run(runtime: &tokio::runtime::Runtime, config: &LinkConfig, blocks: u64) -> u64 {
    runtime.block_on(async {
        let (alice, bob) = SimulatedLink::start(config.clone()).expect("valid config");
        let mut bits = 0;
        for _ in 0..blocks {
            bits += next_key(&alice, &bob).await;
        }
        bits
    })
}

fn one_core() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// BB84, QBER 2% (depolarizing 4%), Cascade + verification + finite-key PA + AES-256-GCM, one
/// core. Throughput is in final secret bits per second (one block of 2^20 sifted bits).
fn end_to_end(c: &mut Criterion) {
    let runtime = one_core();
    let mut config = LinkConfig::bb84(1 << 20, 0.04);
    config.randomness = RandomSource::Seeded(1);
    config.buffer_blocks = 1;
    let final_bits = run(&runtime, &config, 1);
    let mut group = c.benchmark_group("link_end_to_end");
    group.sample_size(10);
    group.throughput(Throughput::Elements(final_bits));
    group.bench_function("bb84_qber2_aes_gcm_2^20_sifted", |b| {
        b.iter(|| run(&runtime, &config, 1))
    });
    group.finish();

    // Steady state: one long-lived link, so blocks after the first reuse the pipeline's cached
    // Cascade plan (the figure quoted for `examples/qkd_link.rs`).
    let (alice, bob) =
        runtime.block_on(async { SimulatedLink::start(config.clone()).expect("valid config") });
    let next = || runtime.block_on(next_key(&alice, &bob));
    next(); // builds the plan
    let mut group = c.benchmark_group("link_steady_state");
    group.sample_size(10);
    group.throughput(Throughput::Elements(final_bits));
    group.bench_function("bb84_qber2_aes_gcm_2^20_sifted", |b| b.iter(next));
    group.finish();
}

criterion_group!(benches, end_to_end);
criterion_main!(benches);
