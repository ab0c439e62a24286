//! End-to-end tests of the in-process simulated link: trait conformance, agreement, Eve aborts,
//! authentication backends and key diversion.

use proptest::prelude::*;
use qkd_core::conformance::device::run_quantum_device_suite;
use qkd_core::{DeviceError, DeviceState, QuantumDevice};
use qkd_sim::device::{AuthConfig, EntangledProtocol, LinkConfig, SimulatedLink};
use qkd_sim::eve::{EveBases, EveConfig};
use qkd_sim::protocol::{Backend, Protocol};
use qkd_sim::qrng::RandomSource;

/// 2^16 sifted bits per block: large enough for a positive finite-key length at QBER ~1%
/// (statistical correction ~0.06 with the default eps), small enough to keep tests fast.
fn small(seed: u64, depolarizing: f64) -> LinkConfig {
    let mut config = LinkConfig::bb84(1 << 16, depolarizing);
    config.randomness = RandomSource::Seeded(seed);
    config.frame_qubits = 1 << 15;
    config.buffer_blocks = 2;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_the_quantum_device_conformance_suite() {
    let mut seed = 0;
    run_quantum_device_suite(|| {
        seed += 1;
        let config = small(seed, 0.02);
        async move { SimulatedLink::start(config).expect("valid config") }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_agree_and_statistics_add_up() {
    let (alice, bob) = SimulatedLink::start(small(11, 0.04)).unwrap();
    for index in 0..3 {
        let (a, b) = tokio::join!(alice.next_block(), bob.next_block());
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!((a.index, b.index), (index, index));
        assert_eq!(a.key, b.key);
        let s = &a.stats;
        assert_eq!(s.sifted_bits, 1 << 16);
        // BB84 sifting keeps about half the qubits: raw is roughly twice the sifted length.
        assert!(s.raw_bits > s.sifted_bits * 3 / 2 && s.raw_bits < s.sifted_bits * 3);
        assert!(s.final_bits > 0 && s.final_bits < s.sifted_bits - s.sampled_bits);
        assert!(s.disclosed_bits > 0);
        // Depolarizing 4% gives QBER 2%; the sample of ~6554 bits has sigma ~0.0017, so 5 sigma
        // is below 0.009.
        assert!((s.qber - 0.02).abs() < 0.009, "qber {}", s.qber);
    }
    assert_eq!(alice.status().blocks_delivered, 3);
    assert_eq!(bob.status().state, DeviceState::Running);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eve_above_threshold_aborts_every_block_at_both_ends() {
    let mut config = small(12, 0.0);
    config.eve = Some(EveConfig::new(1.0, EveBases::Bb84).unwrap());
    let (alice, bob) = SimulatedLink::start(config).unwrap();
    for index in 0..3 {
        let (a, b) = tokio::join!(alice.next_block(), bob.next_block());
        for result in [a, b] {
            match result {
                Err(DeviceError::QberAboveThreshold {
                    index: got,
                    qber,
                    threshold,
                }) => {
                    assert_eq!(got, index);
                    // Full intercept-resend: QBER 25%; the bound is above the estimate.
                    assert!(qber > 0.2, "{qber}");
                    assert_eq!(threshold, 0.11);
                }
                other => panic!("expected a QBER abort, got {other:?}"),
            }
        }
    }
    for device in [&alice, &bob] {
        let status = device.status();
        assert_eq!(status.state, DeviceState::Degraded);
        assert_eq!(status.blocks_aborted, 3);
        assert_eq!(status.blocks_delivered, 0);
        assert_eq!(status.key_bits_delivered, 0);
        assert!(status.last_qber.unwrap() > 0.2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_consuming_backends_are_replenished_from_the_link() {
    for auth in [
        AuthConfig::WegmanCarter,
        // A block of 2^16 sifted bits exchanges a few hundred frames (Cascade round trips):
        // rotating every 256 frames uses a few keys per block and forces replenishment.
        AuthConfig::AesGcm {
            max_messages_per_key: 256,
        },
    ] {
        let mut config = small(13, 0.02);
        config.auth = auth;
        let (alice, bob) = SimulatedLink::start(config).unwrap();
        let mut consumed = 0;
        for _ in 0..3 {
            let (a, b) = tokio::join!(alice.next_block(), bob.next_block());
            let (a, b) = (a.unwrap(), b.unwrap());
            assert_eq!(a.key, b.key, "{auth:?}");
            consumed += a.stats.auth_bits_consumed;
        }
        assert!(consumed > 0, "{auth:?}: no authentication key consumed");
        let diverted = alice.counters().auth_bits_diverted;
        assert!(diverted > 0, "{auth:?}: no key diverted");
        assert!(diverted.is_multiple_of(256));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_auth_link_consumes_no_key() {
    let mut config = small(14, 0.02);
    config.auth = AuthConfig::None;
    let (alice, bob) = SimulatedLink::start(config).unwrap();
    let (a, b) = tokio::join!(alice.next_block(), bob.next_block());
    let (b, a) = (b.expect("bob"), a.expect("alice"));
    assert_eq!(a.key, b.key);
    assert_eq!(a.stats.auth_bits_consumed, 0);
    assert_eq!(alice.counters().auth_bits_diverted, 0);
}

/// SLH-DSA and ML-DSA: each end gets its own key pair and the peer's public key; the link then
/// agrees on keys, signs every frame, and consumes no shared key at all.
#[cfg(feature = "pq-auth")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signature_backends_authenticate_without_consuming_key() {
    for auth in [AuthConfig::SlhDsa, AuthConfig::MlDsa] {
        // A small noiseless block keeps the number of signed frames (and the test) small.
        let mut config = LinkConfig::bb84(1 << 14, 0.0);
        config.randomness = RandomSource::Seeded(21);
        config.auth = auth;
        let (alice, bob) = SimulatedLink::start(config).unwrap();
        let (a, b) = tokio::join!(alice.next_block(), bob.next_block());
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!((a.index, &a.key), (b.index, &b.key), "{auth:?}");
        assert!(a.stats.final_bits > 0, "{auth:?}");
        assert_eq!(a.stats.auth_bits_consumed, 0, "{auth:?}");
        assert_eq!(alice.counters().auth_bits_diverted, 0, "{auth:?}");
        // Every classical frame of the block was signed (sifting, estimation, Cascade,
        // verification and the end-of-block marker: well over a handful).
        assert!(alice.counters().frames_sealed >= 5, "{auth:?}");
        assert!(bob.counters().frames_sealed >= 5, "{auth:?}");
        assert_eq!(auth.bootstrap_bytes(), 0);
        assert!(auth.uses_key_pairs());
    }
}

/// With the transcript scope each end seals exactly once per block (its transcript
/// confirmation), however many Cascade round trips the block needs: with signatures that is two
/// signatures per block instead of one per frame.
#[cfg(feature = "pq-auth")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transcript_scope_signs_once_per_block() {
    for auth in [
        AuthConfig::MlDsa,
        AuthConfig::SlhDsaSha2,
        AuthConfig::SlhDsa,
    ] {
        let mut config = LinkConfig::bb84(1 << 14, 0.04);
        config.randomness = RandomSource::Seeded(22);
        config.auth = auth;
        config.auth_scope = qkd_sim::device::AuthScope::BlockTranscript;
        config.buffer_blocks = 0; // on demand, so the counters are read between blocks
        let (alice, bob) = SimulatedLink::start(config).unwrap();
        for block in 1..=2u64 {
            let (a, b) = tokio::join!(alice.next_block(), bob.next_block());
            let (a, b) = (a.unwrap(), b.unwrap());
            assert_eq!((a.index, &a.key), (b.index, &b.key), "{auth:?}");
            assert!(a.stats.final_bits > 0, "{auth:?}");
            assert_eq!(alice.counters().frames_sealed, block, "{auth:?}");
            assert_eq!(bob.counters().frames_sealed, block, "{auth:?}");
        }
    }
}

/// The signature backends need the peer's public key, which a single end built from a bootstrap
/// secret (the distributed path) does not have: a configuration error, not a panic.
#[cfg(feature = "pq-auth")]
#[test]
fn signature_backends_cannot_be_built_from_a_bootstrap_secret() {
    for auth in [
        AuthConfig::SlhDsa,
        AuthConfig::SlhDsaSha2,
        AuthConfig::MlDsa,
    ] {
        let built = auth.build(
            qkd_core::Role::Alice,
            qkd_core::SecretKey::from_vec(Vec::new()),
        );
        assert!(
            matches!(built, Err(DeviceError::InvalidConfig(_))),
            "{auth:?}"
        );
    }
}

#[tokio::test]
async fn invalid_configurations_are_errors() {
    let mut bad = small(1, 0.02);
    bad.channel.depolarizing = 1.5;
    assert!(matches!(
        SimulatedLink::start(bad),
        Err(DeviceError::InvalidConfig(_))
    ));
    let mut bad = small(1, 0.02);
    bad.backend = Backend::StateVector { register_qubits: 0 };
    assert!(matches!(
        SimulatedLink::start(bad),
        Err(DeviceError::InvalidConfig(_))
    ));
    let mut bad = small(1, 0.02);
    bad.distill.qber_threshold = 2.0;
    assert!(matches!(
        SimulatedLink::start(bad),
        Err(DeviceError::InvalidConfig(_))
    ));
    let mut bad = small(1, 0.02);
    bad.max_auth_divert_fraction = 1.0;
    assert!(matches!(
        SimulatedLink::start(bad),
        Err(DeviceError::InvalidConfig(_))
    ));
}

fn protocol() -> impl Strategy<Value = Protocol> {
    prop_oneof![
        Just(Protocol::Bb84),
        Just(Protocol::SixState),
        Just(Protocol::B92)
    ]
}

fn backend() -> impl Strategy<Value = Backend> {
    prop_oneof![
        Just(Backend::Product),
        (1usize..=6).prop_map(|register_qubits| Backend::StateVector { register_qubits }),
    ]
}

fn run_blocks(
    config: LinkConfig,
    blocks: u64,
) -> Vec<[Result<qkd_core::KeyBlock, DeviceError>; 2]> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let (alice, bob) = SimulatedLink::start(config).unwrap();
        let mut out = Vec::new();
        for _ in 0..blocks {
            let (a, b) = tokio::join!(alice.next_block(), bob.next_block());
            out.push([a, b]);
        }
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    /// Below the threshold (depolarizing <= 6%, QBER <= 3%) the ends always yield identical blocks.
    #[test]
    fn below_threshold_the_ends_yield_identical_blocks(
        seed in any::<u64>(),
        protocol in protocol(),
        backend in backend(),
        depolarizing in 0.0f64..0.06,
    ) {
        let mut config = small(seed, depolarizing);
        config.protocol = protocol;
        config.backend = backend;
        for (index, [a, b]) in run_blocks(config, 2).into_iter().enumerate() {
            let (a, b) = (a.unwrap(), b.unwrap());
            prop_assert_eq!(a.index, index as u64);
            prop_assert_eq!(b.index, index as u64);
            prop_assert_eq!(&a.key, &b.key);
            prop_assert!(a.stats.final_bits > 0);
        }
    }

    /// With Eve intercepting (nearly) everything the QBER is far above 11%: never a key.
    #[test]
    fn above_threshold_the_ends_never_yield_a_key(
        seed in any::<u64>(),
        protocol in prop_oneof![Just(Protocol::Bb84), Just(Protocol::SixState)],
        backend in backend(),
        fraction in 0.8f64..=1.0,
    ) {
        let mut config = small(seed, 0.0);
        config.protocol = protocol;
        config.backend = backend;
        config.eve = Some(EveConfig::new(fraction, EveBases::Bb84).unwrap());
        for [a, b] in run_blocks(config, 2) {
            prop_assert!(matches!(a, Err(DeviceError::QberAboveThreshold { .. })), "{:?}", a.map(|k| k.index));
            prop_assert!(matches!(b, Err(DeviceError::QberAboveThreshold { .. })), "{:?}", b.map(|k| k.index));
        }
    }
}

/// E91 and BBM92 links: a pair source between the ends, the same distillation; both ends yield
/// the same final keys, and the block statistics count pairs and sifted bits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entangled_links_yield_identical_final_keys() {
    for protocol in [EntangledProtocol::Bbm92, EntangledProtocol::E91] {
        let mut config = LinkConfig::entangled(protocol, 1 << 16, 0.02);
        config.randomness = RandomSource::Seeded(31);
        config.buffer_blocks = 0;
        let (alice, bob) = SimulatedLink::start(config).unwrap();
        assert_eq!(alice.info().protocol, protocol.name());
        let (a, b) = tokio::join!(alice.next_block(), bob.next_block());
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!((a.index, &a.key), (b.index, &b.key), "{protocol:?}");
        assert!(a.stats.final_bits > 0, "{protocol:?}");
        assert_eq!(a.stats.sifted_bits, 1 << 16);
        // Key fraction 1/2 (BBM92) or 2/9 (E91) of the pairs, all detected on this channel.
        let min_pairs = match protocol {
            EntangledProtocol::Bbm92 => 2 << 16,
            EntangledProtocol::E91 => 4 << 16,
        };
        assert!(
            a.stats.raw_bits >= min_pairs,
            "{protocol:?}: {} pairs",
            a.stats.raw_bits
        );
        // Depolarizing 0.02 on Bob's half: QBER about 1%.
        assert!(a.stats.qber < 0.03, "{protocol:?}: QBER {}", a.stats.qber);
    }
}

/// Eve measuring every half on its way to Bob: every block aborts at both ends and no key is ever
/// yielded. BBM92 sees the QBER (about 25%) above threshold; E91 sees it first in its Bell test
/// (|S| drops to about sqrt 2, below the classical bound).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entangled_links_with_full_eve_never_yield_a_key() {
    for protocol in [EntangledProtocol::Bbm92, EntangledProtocol::E91] {
        let mut config = LinkConfig::entangled(protocol, 1 << 14, 0.0);
        config.randomness = RandomSource::Seeded(32);
        config.eve = Some(EveConfig {
            fraction: 1.0,
            bases: EveBases::Bb84,
        });
        config.buffer_blocks = 0;
        let (alice, bob) = SimulatedLink::start(config).unwrap();
        for _ in 0..2 {
            let (a, b) = tokio::join!(alice.next_block(), bob.next_block());
            for end in [a, b] {
                match (protocol, end) {
                    (EntangledProtocol::Bbm92, Err(DeviceError::QberAboveThreshold { .. })) => {}
                    (EntangledProtocol::E91, Err(DeviceError::PostProcessing { reason, .. }))
                        if reason.contains("CHSH") => {}
                    (_, other) => panic!("{protocol:?}: {other:?}"),
                }
            }
        }
    }
}

/// An E91 link over TCP on loopback: the middle process is the pair source; both ends yield the
/// same keys. Without a middle process (pairs need a source) the configuration is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entangled_links_run_distributed_with_the_source_in_the_middle() {
    use qkd_sim::device::distributed::{QuantumHop, run_middle, start_alice, start_bob};
    let mut config = LinkConfig::entangled(EntangledProtocol::E91, 1 << 16, 0.02);
    config.randomness = RandomSource::Seeded(33);
    config.buffer_blocks = 0;
    let bootstrap = qkd_core::SecretKey::from_vec(vec![0x33; config.auth.bootstrap_bytes()]); // test key
    let classical = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let quantum = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let middle = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (bob_classical, bob_quantum, middle_addr) = (
        classical.local_addr().unwrap(),
        quantum.local_addr().unwrap(),
        middle.local_addr().unwrap(),
    );
    let refused = start_alice(
        &config,
        bob_classical,
        QuantumHop::Direct(bob_quantum),
        bootstrap.clone(),
    )
    .await;
    assert!(matches!(refused, Err(DeviceError::InvalidConfig(_))));
    let middle_config = config.clone();
    let middle_task =
        tokio::spawn(async move { run_middle(&middle_config, &middle, bob_quantum).await });
    let (alice, bob) = tokio::join!(
        start_alice(
            &config,
            bob_classical,
            QuantumHop::Middle(middle_addr),
            bootstrap.clone()
        ),
        start_bob(&config, &classical, &quantum, bootstrap),
    );
    let (alice, bob) = (alice.unwrap(), bob.unwrap());
    for _ in 0..2 {
        let (a, b) = tokio::join!(alice.next_block(), bob.next_block());
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!((a.index, &a.key), (b.index, &b.key));
        assert!(a.stats.final_bits > 0);
    }
    drop((alice, bob));
    let report = middle_task.await.unwrap().unwrap();
    assert!(report.frames >= 2, "batches served: {}", report.frames);
}
