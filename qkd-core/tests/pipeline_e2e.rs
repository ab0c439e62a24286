//! End-to-end distillation over `MemoryChannel::pair()`: identical keys or an error, never
//! unequal keys.

use qkd_core::distill::DistillError;
use qkd_core::distill::cascade::CascadeVariant;
use qkd_core::distill::pipeline::{
    DistilledKey, Pipeline, PipelineConfig, PipelineError, PipelineRole,
};
use qkd_core::distill::verify::VerifyError;
use qkd_core::{BitString, MemoryChannel};
use rand::{RngExt, SeedableRng, rngs::StdRng};

type Outcome = Result<DistilledKey, PipelineError>;

fn random_key(rng: &mut StdRng, n: usize) -> BitString {
    BitString::from_words(
        (0..n.div_ceil(64)).map(|_| rng.random::<u64>()).collect(),
        n,
    )
}

/// Flips each bit independently with probability `q`.
fn with_errors(key: &BitString, q: f64, rng: &mut StdRng) -> BitString {
    let mut noisy = key.clone();
    for i in 0..key.len() {
        if rng.random::<f64>() < q {
            noisy.flip(i);
        }
    }
    noisy
}

/// Runs both ends as separate tasks that own their channel ends (an end that fails drops its
/// channel, so the other end sees `Closed` instead of waiting forever).
async fn run_pair(
    alice_cfg: PipelineConfig,
    bob_cfg: PipelineConfig,
    alice_key: BitString,
    bob_key: BitString,
    seed: u64,
) -> (Outcome, Outcome) {
    let (mut ca, mut cb) = MemoryChannel::pair();
    let alice = tokio::spawn(async move {
        let p = Pipeline::new(alice_cfg, PipelineRole::Initiator)?;
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
        p.run(alice_key, &mut ca, &mut rng).await
    });
    let bob = tokio::spawn(async move {
        let p = Pipeline::new(bob_cfg, PipelineRole::Responder)?;
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(0);
        p.run(bob_key, &mut cb, &mut rng).await
    });
    (
        alice.await.expect("alice task"),
        bob.await.expect("bob task"),
    )
}

fn assert_identical_or_both_fail(a: &Outcome, b: &Outcome) {
    match (a, b) {
        (Ok(ka), Ok(kb)) => {
            assert_eq!(ka.key, kb.key, "unequal final keys");
            assert_eq!(ka.stats.final_bits, kb.stats.final_bits);
            assert!(ka.stats.final_bits > 0);
        }
        (Err(_), Err(_)) => {}
        _ => panic!(
            "one end succeeded and the other failed: {:?} / {:?}",
            a.as_ref().err(),
            b.as_ref().err()
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_keys_at_several_qbers() {
    let n = 200_000;
    for (k, &q) in [0.01, 0.03, 0.05].iter().enumerate() {
        let mut rng = StdRng::seed_from_u64(100 + k as u64);
        let alice = random_key(&mut rng, n);
        let bob = with_errors(&alice, q, &mut rng);
        let cfg = PipelineConfig::default();
        let (a, b) = run_pair(cfg.clone(), cfg, alice, bob, 7 + k as u64).await;
        let (ka, kb) = (a.expect("alice"), b.expect("bob"));
        assert_eq!(ka.key, kb.key, "q = {q}");
        let s = &kb.stats;
        assert_eq!(s.sifted_bits, n as u64);
        assert_eq!(s.sampled_bits, (n / 10) as u64);
        assert_eq!(s.reconciled_bits, (n - n / 10) as u64);
        assert_eq!(s.verification_bits, 64);
        assert_eq!(s.disclosed_bits, s.cascade_disclosed + 64);
        assert_eq!(s.cascade_disclosed, ka.stats.cascade_disclosed);
        assert!(s.final_bits > 0 && s.final_bits < s.reconciled_bits - s.disclosed_bits);
        // 5-sigma binomial band for the sample estimate: k = 20000, sd = sqrt(q(1-q)/k).
        let sd = (q * (1.0 - q) / 20_000.0).sqrt();
        assert!(
            (s.qber_estimate - q).abs() < 5.0 * sd,
            "estimate {} for q = {q}",
            s.qber_estimate
        );
        // Errors corrected are about q * 180000 (5-sigma binomial band).
        let m = 180_000.0 * q;
        let sd = (180_000.0 * q * (1.0 - q)).sqrt();
        assert!(
            (s.errors_corrected as f64 - m).abs() < 5.0 * sd,
            "{} errors at q = {q}",
            s.errors_corrected
        );
        assert_eq!(ka.to_secret_key(), kb.to_secret_key());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn above_threshold_is_an_error_at_both_ends() {
    let n = 100_000;
    let mut rng = StdRng::seed_from_u64(5);
    let alice = random_key(&mut rng, n);
    let bob = with_errors(&alice, 0.15, &mut rng);
    let cfg = PipelineConfig::default();
    let (a, b) = run_pair(cfg.clone(), cfg, alice, bob, 1).await;
    for r in [a, b] {
        assert!(
            matches!(
                r,
                Err(PipelineError::Distill(
                    DistillError::QberAboveThreshold { .. }
                ))
            ),
            "{:?}",
            r.err()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn residual_errors_fail_verification_and_no_key_is_returned() {
    // One Cascade pass over the whole key discloses one parity and cannot fix an even number of
    // errors: verification must catch what is left.
    let n = 50_000;
    let mut rng = StdRng::seed_from_u64(9);
    let alice = random_key(&mut rng, n);
    let mut bob = alice.clone();
    for i in (0..n).step_by(997) {
        bob.flip(i);
    }
    let cfg = PipelineConfig {
        cascade: CascadeVariant::Custom(vec![n]),
        finite_key: false,
        ..PipelineConfig::default()
    };
    let (a, b) = run_pair(cfg.clone(), cfg, alice, bob, 3).await;
    assert_eq!(a.err(), Some(PipelineError::Verify(VerifyError::Mismatch)));
    assert_eq!(b.err(), Some(PipelineError::Verify(VerifyError::Mismatch)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_error_patterns_never_give_unequal_keys() {
    // Random QBERs up to 11%, small keys (many runs abort: that is allowed, unequal keys are not).
    let mut rng = StdRng::seed_from_u64(77);
    for run in 0..8u64 {
        let n = 20_000 + rng.random_range(0..20_000);
        let q = rng.random_range(0.0..0.11);
        let alice = random_key(&mut rng, n);
        let bob = with_errors(&alice, q, &mut rng);
        let cfg = PipelineConfig {
            finite_key: false,
            estimation_eps: 1e-3,
            ..PipelineConfig::default()
        };
        let (a, b) = run_pair(cfg.clone(), cfg, alice, bob, run).await;
        assert_identical_or_both_fail(&a, &b);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_blocks_give_zero_length_error() {
    let n = 5_000;
    let mut rng = StdRng::seed_from_u64(11);
    let alice = random_key(&mut rng, n);
    // 8% errors on 4500 key bits: the finite-key correction (mu = 0.23) leaves nothing, while the
    // lenient abort settings let the block reach the key-length step.
    let bob = with_errors(&alice, 0.08, &mut rng);
    let cfg = PipelineConfig {
        estimation_eps: 0.5,
        qber_threshold: 0.3,
        ..PipelineConfig::default()
    };
    let (a, b) = run_pair(cfg.clone(), cfg, alice, bob, 2).await;
    assert_eq!(a.err(), Some(PipelineError::ZeroLength));
    assert_eq!(b.err(), Some(PipelineError::ZeroLength));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_an_error() {
    let cfg = PipelineConfig::default();
    // Empty keys.
    let (a, b) = run_pair(
        cfg.clone(),
        cfg.clone(),
        BitString::zeros(0),
        BitString::zeros(0),
        1,
    )
    .await;
    assert_eq!(a.err(), Some(PipelineError::KeyTooShort(0)));
    assert_eq!(b.err(), Some(PipelineError::KeyTooShort(0)));
    // Mismatched lengths: the responder detects it, the initiator sees the channel close.
    let (a, b) = run_pair(
        cfg.clone(),
        cfg.clone(),
        BitString::zeros(10_000),
        BitString::zeros(9_000),
        1,
    )
    .await;
    assert_eq!(
        b.err(),
        Some(PipelineError::LengthMismatch {
            ours: 9_000,
            peer: 10_000
        })
    );
    assert!(a.is_err());
    // Different configurations.
    let other = PipelineConfig {
        qber_threshold: 0.08,
        ..cfg.clone()
    };
    let (a, b) = run_pair(
        cfg.clone(),
        other,
        BitString::zeros(10_000),
        BitString::zeros(10_000),
        1,
    )
    .await;
    assert_eq!(b.err(), Some(PipelineError::ConfigMismatch));
    assert!(a.is_err());
    // Invalid configurations.
    for bad in [
        PipelineConfig {
            qber_threshold: 0.0,
            ..cfg.clone()
        },
        PipelineConfig {
            qber_threshold: 0.7,
            ..cfg.clone()
        },
        PipelineConfig {
            sample_fraction: 1.0,
            ..cfg.clone()
        },
        PipelineConfig {
            eps_sec: 0.0,
            ..cfg.clone()
        },
        PipelineConfig {
            eps_cor: f64::NAN,
            ..cfg.clone()
        },
    ] {
        assert!(matches!(
            Pipeline::new(bad, PipelineRole::Initiator),
            Err(PipelineError::Config(_))
        ));
    }
}

#[tokio::test]
async fn garbage_from_the_peer_is_a_protocol_error() {
    use qkd_core::ClassicalChannel;
    let (mut ours, mut theirs) = MemoryChannel::pair();
    theirs.send(vec![0xff; 7]).await.unwrap();
    let p = Pipeline::new(PipelineConfig::default(), PipelineRole::Responder).unwrap();
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(0);
    let r = p.run(BitString::zeros(10_000), &mut ours, &mut rng).await;
    assert!(
        matches!(r, Err(PipelineError::Protocol(_))),
        "{:?}",
        r.err()
    );
    // A peer that goes away is a channel error, not a hang.
    drop(theirs);
    let r = p.run(BitString::zeros(10_000), &mut ours, &mut rng).await;
    assert!(matches!(r, Err(PipelineError::Channel(_))), "{:?}", r.err());
}
