//! Property tests of Cascade (proptest, plus seeded loops for the frame error rate).
//!
//! Cascade does not promise to find every error: an even number of errors can hide in a block
//! of every pass. These tests therefore assert that it never panics, never errs on honest
//! input, keeps its counts consistent, flips exactly the bits it reports, and leaves residual
//! errors in only a small fraction of runs (the frame error rate); verification (a separate
//! step) catches the rest.

use std::sync::Arc;

use proptest::prelude::*;
use qkd_core::BitString;
use qkd_core::distill::DistillError;
use qkd_core::distill::cascade::{
    CascadeConfig, CascadeCorrector, CascadeMessage, CascadePlan, CascadeResponder, CascadeVariant,
    ParityRange, ParityReply, ParityRequest, reconcile_in_process,
};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
fn variant_strategy() -> impl Strategy<Value = CascadeVariant> {
    prop_oneof![
        Just(CascadeVariant::Original),
        Just(CascadeVariant::YanEtAl),
        Just(CascadeVariant::Optimized),
        prop::collection::vec(1usize..400, 1..6).prop_map(CascadeVariant::Custom),
    ]
}

/// Runs both ends message by message, through JSON, checking the counts on both sides.
fn run_checked(
    a: &BitString,
    b: &BitString,
    plan: Arc<CascadePlan>,
) -> Result<(BitString, u64, u64), DistillError> {
    let mut responder = CascadeResponder::new(a.clone(), plan.clone())?;
    let mut corrector = CascadeCorrector::new(b.clone(), plan)?;
    let mut msg = corrector.start()?;
    let mut sent = 1u32;
    while let Some(reply) = responder.handle(&msg)? {
        sent += 1;
        let json = serde_json::to_vec(&reply).expect("serialise");
        let reply: CascadeMessage = serde_json::from_slice(&json).expect("deserialise");
        msg = corrector.handle(&reply)?;
        sent += 1;
    }
    assert!(responder.is_finished() && corrector.is_finished());
    let (r, c) = (responder.stats().clone(), corrector.stats().clone());
    assert_eq!(r.parities_disclosed, c.parities_disclosed);
    assert_eq!(r.round_trips, c.round_trips);
    assert_eq!(r.messages, sent);
    assert_eq!(c.messages, sent);
    assert_eq!(sent, 2 * c.round_trips + 1);
    Ok((
        corrector.into_key()?,
        c.errors_corrected,
        c.parities_disclosed,
    ))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Honest runs up to 11% QBER: no error, consistent counts, and the corrector flipped
    /// exactly the bits it reports (its key differs from the noisy input in exactly
    /// `errors_corrected` positions).
    #[test]
    fn honest_runs_are_consistent(
        n in 1usize..3000,
        q in 0.001f64..0.11,
        plan_q in 0.005f64..0.15,
        variant in variant_strategy(),
        seed in any::<[u8; 32]>(),
        key_seed in any::<u64>(),
        shuffle_first in any::<bool>(),
    ) {
        let mut rng = ChaCha8Rng::seed_from_u64(key_seed);
        let a = BitString::random(n, &mut rng);
        let b = a.noisy_copy(q, &mut rng);
        let config = CascadeConfig { variant, seed, shuffle_first_pass: shuffle_first };
        let plan = CascadePlan::shared(&config, n, plan_q).unwrap();
        let (corrected, flipped, disclosed) = run_checked(&a, &b, plan).unwrap();
        prop_assert_eq!(corrected.len(), n);
        prop_assert_eq!(corrected.hamming_distance(&b) as u64, flipped);
        // Every flip fixes an error: never more residual errors than at the start.
        prop_assert!(corrected.hamming_distance(&a) <= a.hamming_distance(&b));
        prop_assert!(flipped <= a.hamming_distance(&b) as u64);
        prop_assert!(disclosed >= 1);
    }

    /// Arbitrary requests never make the responder panic: it answers exactly the parities
    /// asked, or reports a protocol error.
    #[test]
    fn arbitrary_requests_never_panic(
        n in 1usize..500,
        session_ok in any::<bool>(),
        round in 0u32..3,
        block_passes in prop::collection::vec(0u16..20, 0..6),
        ranges in prop::collection::vec((0u16..20, 0u32..600, 0u32..600), 0..20),
    ) {
        let mut rng = ChaCha8Rng::seed_from_u64(n as u64);
        let a = BitString::random(n, &mut rng);
        let config = CascadeConfig::new(CascadeVariant::Optimized, [1; 32]);
        let plan = CascadePlan::shared(&config, n, 0.05).unwrap();
        let mut responder = CascadeResponder::new(a, plan.clone()).unwrap();
        let req = ParityRequest {
            session: if session_ok { plan.digest() } else { plan.digest() ^ 1 },
            round,
            block_passes,
            ranges: ranges
                .into_iter()
                .map(|(pass, start, end)| ParityRange { pass, start, end })
                .collect(),
        };
        match responder.handle(&CascadeMessage::Request(req.clone())) {
            Ok(Some(CascadeMessage::Reply(reply))) => {
                let blocks: usize = req
                    .block_passes
                    .iter()
                    .map(|&p| n.div_ceil(plan.block_sizes()[p as usize]))
                    .sum();
                prop_assert_eq!(reply.count as usize, blocks + req.ranges.len());
            }
            Ok(other) => prop_assert!(false, "unexpected answer {:?}", other),
            Err(e) => prop_assert!(matches!(e, DistillError::Protocol(_))),
        }
    }

    /// Arbitrary replies never make the corrector panic.
    #[test]
    fn arbitrary_replies_never_panic(
        n in 1usize..500,
        count_delta in -2i64..3,
        words in prop::collection::vec(any::<u64>(), 0..12),
        round_delta in 0u32..2,
    ) {
        let mut rng = ChaCha8Rng::seed_from_u64(n as u64);
        let b = BitString::random(n, &mut rng);
        let config = CascadeConfig::new(CascadeVariant::Original, [2; 32]);
        let plan = CascadePlan::shared(&config, n, 0.05).unwrap();
        let mut corrector = CascadeCorrector::new(b, plan.clone()).unwrap();
        corrector.start().unwrap();
        let blocks: i64 = plan.block_sizes().iter().map(|&k| n.div_ceil(k) as i64).sum();
        let reply = ParityReply {
            session: plan.digest(),
            round: 1 + round_delta,
            count: (blocks + count_delta).max(0) as u32,
            parities: words,
        };
        match corrector.handle(&CascadeMessage::Reply(reply)) {
            Ok(_) => {}
            Err(e) => prop_assert!(matches!(e, DistillError::Protocol(_))),
        }
    }
}

/// Frame error rate at small keys (the hardest case for Cascade) stays small. 300 runs per
/// variant at n = 2000 with QBER spread over [1%, 11%]. With these fixed seeds each variant
/// leaves residual errors in 1 run of 300. The assertion allows 10: if the true rate were
/// 0.5% the count would be Binomial(300, 0.005), mean 1.5 and standard deviation 1.22, so 10
/// is 7 standard deviations out; exceeding it means a real regression.
#[test]
fn frame_error_rate_is_small_at_small_keys() {
    for variant in [
        CascadeVariant::Original,
        CascadeVariant::YanEtAl,
        CascadeVariant::Optimized,
    ] {
        let mut rng = ChaCha8Rng::seed_from_u64(99);
        let mut frames = 0;
        for run in 0..300u32 {
            let q = 0.01 + 0.10 * f64::from(run % 11) / 10.0;
            let a = BitString::random(2000, &mut rng);
            let b = a.noisy_copy(q, &mut rng);
            let mut seed = [0u8; 32];
            seed[..4].copy_from_slice(&run.to_le_bytes());
            let plan =
                CascadePlan::shared(&CascadeConfig::new(variant.clone(), seed), 2000, q).unwrap();
            let out = reconcile_in_process(a, b, plan).unwrap();
            if out.corrected != out.reference {
                frames += 1;
            }
        }
        eprintln!("{variant:?}: frame error rate {frames}/300 at n = 2000, QBER 1%..11%");
        assert!(
            frames <= 10,
            "{variant:?}: {frames}/300 frames with residual errors"
        );
    }
}
