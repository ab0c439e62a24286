//! The paper's Table 1 on the simulated link: time to a 4096-bit final key (one block of 2^14
//! sifted bits on a noiseless channel, fresh link per run, one core), per authentication backend,
//! with every frame authenticated (as in the paper) or the block transcript once.
//!
//! ```sh
//! cargo bench --bench table1 -- --warm-up-time 1 --measurement-time 3
//! ```

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use qkd_core::QuantumDevice;
use qkd_sim::device::{AuthConfig, AuthScope, LinkConfig, SimulatedLink};
use qkd_sim::qrng::RandomSource;

/// Runs one block on a fresh link and returns the final bits produced at Alice.
fn run(runtime: &tokio::runtime::Runtime, config: &LinkConfig) -> u64 {
    runtime.block_on(async {
        let (alice, bob) = SimulatedLink::start(config.clone()).expect("valid config");
        let (a, b) = tokio::join!(alice.next_block(), bob.next_block());
        let (a, b) = (a.expect("alice block"), b.expect("bob block"));
        assert_eq!(a.key, b.key);
        a.stats.final_bits
    })
}

/// A noiseless BB84 link whose blocks of 2^14 sifted bits yield at least 4096 final bits with the
/// default finite-key distillation (checked before timing), as in `examples/paper_experiments.rs`.
fn table1_config(auth: AuthConfig, scope: AuthScope, randomness: RandomSource) -> LinkConfig {
    let mut config = LinkConfig::bb84(1 << 14, 0.0);
    config.auth = auth;
    config.auth_scope = scope;
    config.randomness = randomness;
    config.buffer_blocks = 0; // on demand: nothing runs ahead of the key being timed
    config
}

/// The paper's Table 1: time to a 4096-bit final key (one block whose final key is >= 4096 bits).
fn table1(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("table1_4096_bit_key");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(3));
    let (every, transcript) = (AuthScope::EveryFrame, AuthScope::BlockTranscript);
    let qrng = RandomSource::Qrng { register_qubits: 5 };
    for (name, auth, scope, randomness) in [
        (
            "baseline_noauth_csprng",
            AuthConfig::None,
            every,
            RandomSource::Csprng,
        ),
        (
            "aes_gcm",
            AuthConfig::aes_gcm(),
            every,
            RandomSource::Csprng,
        ),
        (
            "aes_gcm_transcript",
            AuthConfig::aes_gcm(),
            transcript,
            RandomSource::Csprng,
        ),
        ("qrng_aes_gcm", AuthConfig::aes_gcm(), every, qrng),
        ("ml_dsa_44", AuthConfig::MlDsa, every, RandomSource::Csprng),
        (
            "ml_dsa_44_transcript",
            AuthConfig::MlDsa,
            transcript,
            RandomSource::Csprng,
        ),
        // SLH-DSA on every frame signs each classical frame (tens of ms each): about a minute
        // per row even at the minimum of 10 samples.
        (
            "sphincs_slh_dsa",
            AuthConfig::SlhDsa,
            every,
            RandomSource::Csprng,
        ),
        (
            "sphincs_slh_dsa_transcript",
            AuthConfig::SlhDsa,
            transcript,
            RandomSource::Csprng,
        ),
        ("qrng_sphincs_slh_dsa", AuthConfig::SlhDsa, every, qrng),
        (
            "qrng_sphincs_slh_dsa_transcript",
            AuthConfig::SlhDsa,
            transcript,
            qrng,
        ),
        (
            "sphincs_slh_dsa_sha2_transcript",
            AuthConfig::SlhDsaSha2,
            transcript,
            RandomSource::Csprng,
        ),
        (
            "qrng_sphincs_slh_dsa_sha2_transcript",
            AuthConfig::SlhDsaSha2,
            transcript,
            qrng,
        ),
    ] {
        let config = table1_config(auth, scope, randomness);
        // Checked once, inside the first timed iteration's setup, so a filtered run does not
        // pay for rows it does not measure.
        let checked = std::cell::Cell::new(false);
        group.bench_function(name, |b| {
            if !checked.replace(true) {
                let bits = run(&runtime, &config);
                assert!(bits >= 4096, "{name}: {bits} final bits");
            }
            b.iter(|| run(&runtime, &config))
        });
    }
    group.finish();
}

criterion_group!(benches, table1);
criterion_main!(benches);
