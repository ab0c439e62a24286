//! Tests of the pair source and the party engine.
//!
//! Statistical tolerances: an observed frequency of `n` Bernoulli trials with probability `p` has
//! standard deviation `sqrt(p (1 - p) / n)`; we accept 5 standard deviations (two-sided failure
//! probability 6e-7 per check for a random seed; the seeds are fixed, so the tests are
//! deterministic).

use qkd_core::Role;

use super::messages::bit;
use super::*;
use crate::channel::{Detector, Loss, QuantumChannel};
use crate::eve::{EveBases, EveConfig};
use crate::protocol::MeasBasis;
use crate::statevector::StateVector;

fn five_sigma(p: f64, n: u64) -> f64 {
    5.0 * (p * (1.0 - p) / n as f64).sqrt()
}

fn deg(d: f64) -> Analyser {
    Analyser::from_degrees(d).expect("finite angle")
}

fn frame(party: Role, table: Vec<Analyser>, choices: Vec<u8>) -> SettingsFrame {
    SettingsFrame {
        batch: 0,
        party,
        table,
        choices,
    }
}

fn source(config: SourceConfig, seed: u64) -> PairSource<rand_chacha::ChaCha8Rng> {
    PairSource::new(config, node_rng(seed, 2), node_rng(seed, 3)).expect("valid config")
}

#[test]
fn paper_circuit_prepares_the_singlet_and_phi_plus() {
    let r = std::f64::consts::FRAC_1_SQRT_2;
    let mut sv = StateVector::new(2).unwrap();
    BellState::Singlet.prepare(&mut sv).unwrap();
    // (|01> - |10>)/sqrt 2 with qubit 0 the low bit: index 2 (q1 = 1) is +, index 1 (q0 = 1) is -.
    let a = sv.amplitudes();
    for (i, want) in [(0, 0.0), (1, -r), (2, r), (3, 0.0)] {
        assert!(
            (a[i].re - want).abs() < 1e-12 && a[i].im.abs() < 1e-12,
            "singlet amp {i}"
        );
    }
    BellState::PhiPlus.prepare(&mut sv).unwrap();
    let a = sv.amplitudes();
    for (i, want) in [(0, r), (1, 0.0), (2, 0.0), (3, r)] {
        assert!(
            (a[i].re - want).abs() < 1e-12 && a[i].im.abs() < 1e-12,
            "phi+ amp {i}"
        );
    }
}

/// The joint statistics need the second measurement to act on the state collapsed by the first:
/// P(equal) = (1 + E)/2 with E = -cos(phi_a - phi_b) (singlet), while each marginal stays 1/2.
/// Without collapse P(equal) would be 1/2 for every angle pair.
#[test]
fn joint_statistics_follow_the_collapse() {
    let n = 20_000usize;
    for state in [BellState::Singlet, BellState::PhiPlus] {
        for (pa, pb) in [
            (0.0, 0.0),
            (0.0, 45.0),
            (90.0, 135.0),
            (0.0, 135.0),
            (30.0, 200.0),
        ] {
            let mut src = source(
                SourceConfig {
                    state,
                    ..SourceConfig::default()
                },
                11,
            );
            let [fa, fb] = src
                .play(
                    &frame(Role::Alice, vec![deg(pa)], vec![0; n]),
                    &frame(Role::Bob, vec![deg(pb)], vec![0; n]),
                )
                .unwrap();
            let equal = (0..n)
                .filter(|&i| bit(&fa.outcomes, i) == bit(&fb.outcomes, i))
                .count() as u64;
            let ones = (0..n).filter(|&i| bit(&fa.outcomes, i)).count() as u64;
            let p = (1.0 + state.correlation(deg(pa), deg(pb))) / 2.0;
            let got = equal as f64 / n as f64;
            // A certain outcome (p = 0 or 1) must hold exactly.
            let tol = five_sigma(p, n as u64).max(1e-12);
            assert!(
                (got - p).abs() <= tol,
                "{state:?} {pa}/{pb}: P(equal) {got} vs {p}"
            );
            let m = ones as f64 / n as f64;
            assert!((m - 0.5).abs() <= five_sigma(0.5, n as u64), "marginal {m}");
            assert_eq!(
                fa.detected.iter().map(|w| w.count_ones()).sum::<u32>() as usize,
                n
            );
        }
    }
}

#[test]
fn loss_and_dark_counts_set_the_detection_rates() {
    let n = 40_000usize;
    // Alice: 3 dB fixed loss and efficiency 0.8 -> t = 10^-0.3 * 0.8 = 0.4009.
    // Bob: 10 km at 0.2 dB/km, efficiency 0.5, dark count 0.1 -> t = 10^-0.2 * 0.5 = 0.3155 and
    // click probability t + (1 - t) * 0.1.
    let alice = QuantumChannel::ideal()
        .with_loss(Loss {
            attenuation_db_per_km: 0.2,
            length_km: 0.0,
            fixed_db: 3.0,
        })
        .unwrap()
        .with_detector(Detector {
            efficiency: 0.8,
            dark_count: 0.0,
        })
        .unwrap();
    let bob = QuantumChannel::ideal()
        .with_loss(Loss {
            attenuation_db_per_km: 0.2,
            length_km: 10.0,
            fixed_db: 0.0,
        })
        .unwrap()
        .with_detector(Detector {
            efficiency: 0.5,
            dark_count: 0.1,
        })
        .unwrap();
    let ta = 10f64.powf(-0.3) * 0.8;
    let tb = 10f64.powf(-0.2) * 0.5;
    assert!((alice.photon_detection_probability() - ta).abs() < 1e-12);
    let pb = tb + (1.0 - tb) * 0.1;
    let mut src = source(
        SourceConfig {
            alice,
            bob,
            ..SourceConfig::default()
        },
        5,
    );
    let [fa, fb] = src
        .play(
            &frame(Role::Alice, vec![deg(0.0)], vec![0; n]),
            &frame(Role::Bob, vec![deg(0.0)], vec![0; n]),
        )
        .unwrap();
    let count = |w: &[u64]| w.iter().map(|x| u64::from(x.count_ones())).sum::<u64>();
    let (da, db) = (count(&fa.detected), count(&fb.detected));
    let both = count(
        &fa.detected
            .iter()
            .zip(&fb.detected)
            .map(|(a, b)| a & b)
            .collect::<Vec<_>>(),
    );
    let n64 = n as u64;
    assert!((da as f64 / n as f64 - ta).abs() <= five_sigma(ta, n64));
    assert!((db as f64 / n as f64 - pb).abs() <= five_sigma(pb, n64));
    assert!((both as f64 / n as f64 - ta * pb).abs() <= five_sigma(ta * pb, n64));
    // Outcomes are only reported for clicks.
    for (o, d) in fa.outcomes.iter().zip(&fa.detected) {
        assert_eq!(o & !d, 0);
    }
}

#[test]
fn eve_attacks_the_chosen_fraction_and_keeps_a_record() {
    let n = 20_000usize;
    let p = 0.3;
    let mut src = source(
        SourceConfig {
            eve: Some(EveConfig::new(p, EveBases::Bb84).unwrap()),
            ..SourceConfig::default()
        },
        9,
    );
    let [fa, fb] = src
        .play(
            &frame(Role::Alice, vec![deg(0.0)], vec![0; n]),
            &frame(Role::Bob, vec![deg(0.0)], vec![0; n]),
        )
        .unwrap();
    let record = src.take_eve_record();
    assert_eq!(record.frames.len(), 1);
    let k = record.attacked();
    assert!((k as f64 / n as f64 - p).abs() <= five_sigma(p, n as u64));
    assert!(src.eve_record().frames.is_empty());
    let frame = record.frame(0).unwrap();
    assert_eq!(frame.len, n);
    // Eve measured Bob's half of a singlet: where she used Z (Alice's and Bob's basis here), Bob
    // sees exactly her outcome and Alice the opposite; in X, Bob's Z outcome is random.
    let (mut z, mut x, mut x_equal) = (0u64, 0u64, 0u64);
    for i in 0..n {
        match frame.get(i) {
            Some((MeasBasis::Z, o)) => {
                z += 1;
                assert_eq!(bit(&fb.outcomes, i), o);
                assert_ne!(bit(&fa.outcomes, i), o);
            }
            Some((MeasBasis::X, o)) => {
                x += 1;
                x_equal += u64::from(bit(&fb.outcomes, i) == o);
            }
            Some(other) => panic!("basis {other:?} outside Eve's BB84 set"),
            None => {}
        }
    }
    assert!(z > 0);
    assert!((x_equal as f64 / x as f64 - 0.5).abs() <= five_sigma(0.5, x));
}

#[test]
fn bad_parameters_are_errors() {
    assert!(Analyser::from_degrees(f64::NAN).is_err());
    assert!(Analyser::from_degrees(f64::INFINITY).is_err());
    assert!((Analyser::from_degrees(-90.0).unwrap().degrees() - 270.0).abs() < 1e-12);
    assert!(EveConfig::new(-0.5, EveBases::Bb84).is_err());
    // Schemes: empty tables, wrong kinds length, a key round on different directions.
    let t = vec![deg(0.0), deg(90.0)];
    assert!(Scheme::new(vec![], t.clone(), vec![]).is_err());
    assert!(Scheme::new(t.clone(), t.clone(), vec![RoundKind::Key; 3]).is_err());
    assert!(Scheme::new(t.clone(), t.clone(), vec![RoundKind::Key; 4]).is_err());
    assert!(
        Scheme::new(
            t.clone(),
            t.clone(),
            vec![
                RoundKind::Key,
                RoundKind::Discard,
                RoundKind::Discard,
                RoundKind::Key
            ]
        )
        .is_ok()
    );
    // Configs set field by field (or deserialised) are re-checked by the source: bad
    // probabilities, negative lengths, NaN angles and a bad Eve fraction are errors.
    let bad_channels = [
        QuantumChannel {
            depolarizing: 3.0,
            ..QuantumChannel::ideal()
        },
        QuantumChannel {
            misalignment: f64::NAN,
            ..QuantumChannel::ideal()
        },
        QuantumChannel {
            loss: Loss {
                length_km: -1.0,
                ..Loss::default()
            },
            ..QuantumChannel::ideal()
        },
        QuantumChannel {
            detector: Detector {
                efficiency: 1.5,
                dark_count: 0.0,
            },
            ..QuantumChannel::ideal()
        },
    ];
    for bad in bad_channels {
        for cfg in [
            SourceConfig {
                bob: bad,
                ..SourceConfig::default()
            },
            SourceConfig {
                alice: bad,
                ..SourceConfig::default()
            },
        ] {
            assert!(PairSource::new(cfg, node_rng(0, 2), node_rng(0, 3)).is_err());
        }
    }
    let cfg = SourceConfig {
        eve: Some(EveConfig {
            fraction: 1.01,
            bases: EveBases::Bb84,
        }),
        ..SourceConfig::default()
    };
    assert!(PairSource::new(cfg, node_rng(0, 2), node_rng(0, 3)).is_err());
    // Engines: zero pairs.
    let scheme = crate::protocol::bbm92::scheme();
    assert!(
        EntangledParty::new(
            Role::Alice,
            scheme,
            BellState::Singlet,
            0,
            0,
            node_rng(0, 0)
        )
        .is_err()
    );
}

#[test]
fn the_source_rejects_malformed_settings() {
    let mut src = source(SourceConfig::default(), 1);
    let a = frame(Role::Alice, vec![deg(0.0)], vec![0; 10]);
    let b = frame(Role::Bob, vec![deg(0.0)], vec![0; 10]);
    // Wrong roles, different lengths, different batches, index outside the table, empty table.
    assert!(src.play(&b, &a).is_err());
    assert!(
        src.play(&a, &frame(Role::Bob, vec![deg(0.0)], vec![0; 9]))
            .is_err()
    );
    let mut b2 = b.clone();
    b2.batch = 1;
    assert!(src.play(&a, &b2).is_err());
    assert!(
        src.play(&a, &frame(Role::Bob, vec![deg(0.0)], vec![1; 10]))
            .is_err()
    );
    assert!(
        src.play(&a, &frame(Role::Bob, vec![], vec![0; 10]))
            .is_err()
    );
    // A second frame from the same party before the batch is played.
    src.handle_settings(a.clone()).unwrap();
    assert!(src.handle_settings(a).is_err());
    src.handle_settings(b).unwrap();
    assert!(src.poll_detections().is_some() && src.poll_detections().is_some());
    assert!(src.poll_detections().is_none());
}

type Party = EntangledParty<rand_chacha::ChaCha8Rng>;

fn engines(pairs: usize) -> (Party, Party, PairSource<rand_chacha::ChaCha8Rng>) {
    let scheme = crate::protocol::e91::scheme();
    let a = EntangledParty::new(
        Role::Alice,
        scheme.clone(),
        BellState::Singlet,
        4,
        pairs,
        node_rng(3, 0),
    )
    .unwrap();
    let b = EntangledParty::new(
        Role::Bob,
        scheme,
        BellState::Singlet,
        4,
        pairs,
        node_rng(3, 1),
    )
    .unwrap();
    (a, b, source(SourceConfig::default(), 3))
}

#[test]
fn engines_reject_out_of_order_and_malformed_messages() {
    let (mut a, mut b, mut src) = engines(500);
    // Detections before the settings were polled.
    let fake = DetectionFrame {
        batch: 4,
        party: Role::Alice,
        pairs: 500,
        detected: vec![0; 8],
        outcomes: vec![0; 8],
    };
    assert!(a.handle_detections(&fake).is_err());
    src.handle_settings(a.poll_settings().unwrap()).unwrap();
    assert!(a.poll_settings().is_none());
    src.handle_settings(b.poll_settings().unwrap()).unwrap();
    let fa = src.poll_detections().unwrap();
    let fb = src.poll_detections().unwrap();
    // Bob's frame to Alice, a wrong batch, a wrong length.
    assert!(a.handle_detections(&fb).is_err());
    let mut wrong = fa.clone();
    wrong.batch = 5;
    assert!(a.handle_detections(&wrong).is_err());
    let mut short = fa.clone();
    short.detected.pop();
    assert!(a.handle_detections(&short).is_err());
    a.handle_detections(&fa).unwrap();
    assert!(a.handle_detections(&fa).is_err(), "duplicate detections");
    // Malformed settings from the peer: wrong length, index outside Bob's table, wrong batch.
    let bad = [
        EntangledMsg::Settings {
            batch: 4,
            choices: vec![0; 499],
            detected: vec![0; 8],
        },
        EntangledMsg::Settings {
            batch: 4,
            choices: vec![3; 500],
            detected: vec![0; 8],
        },
        EntangledMsg::Settings {
            batch: 9,
            choices: vec![0; 500],
            detected: vec![0; 8],
        },
        EntangledMsg::TestOutcomes {
            batch: 4,
            rounds: 10,
            outcomes: vec![],
        },
    ];
    for msg in bad {
        let (mut a2, _, _) = engines(500);
        assert!(a2.handle_classical(msg).is_err());
    }
    // Bob's settings reach Alice before Bob even got his detections? Impossible; but Alice's
    // settings may reach Bob before his detections: he buffers them.
    let from_a = a.poll_classical().unwrap();
    b.handle_classical(from_a.clone()).unwrap();
    assert!(b.handle_classical(from_a).is_err(), "duplicate settings");
    b.handle_detections(&fb).unwrap();
    // Bob has sifted: he sends settings and test outcomes; Alice finishes, then Bob.
    while let Some(m) = b.poll_classical() {
        a.handle_classical(m).unwrap();
    }
    while let Some(m) = a.poll_classical() {
        b.handle_classical(m).unwrap();
    }
    assert!(a.is_done() && b.is_done());
    let (ra, rb) = (a.result().unwrap(), b.result().unwrap());
    assert_eq!(ra.sifted_key, rb.sifted_key);
    assert_eq!(ra.stats, rb.stats);
    assert_eq!(ra.correlations, rb.correlations);
    assert!(
        a.handle_classical(EntangledMsg::TestOutcomes {
            batch: 4,
            rounds: 0,
            outcomes: vec![]
        })
        .is_err()
    );
    // Test-round count disagreeing with ours.
    let (mut a3, mut b3, mut src3) = engines(500);
    src3.handle_settings(a3.poll_settings().unwrap()).unwrap();
    src3.handle_settings(b3.poll_settings().unwrap()).unwrap();
    a3.handle_detections(&src3.poll_detections().unwrap())
        .unwrap();
    b3.handle_detections(&src3.poll_detections().unwrap())
        .unwrap();
    a3.handle_classical(b3.poll_classical().unwrap()).unwrap();
    assert!(
        a3.handle_classical(EntangledMsg::TestOutcomes {
            batch: 4,
            rounds: 1,
            outcomes: vec![0]
        })
        .is_err()
    );
}

#[test]
fn detection_frames_redact_outcomes() {
    let f = DetectionFrame {
        batch: 1,
        party: Role::Bob,
        pairs: 64,
        detected: vec![u64::MAX],
        outcomes: vec![0x0123_4567_89ab_cdef],
    };
    let s = format!("{f:?}");
    assert!(s.contains("REDACTED") && !s.contains("81985529216486895") && !s.contains("123"));
}

#[test]
fn stats_are_consistent() {
    let run = run_in_process(
        &crate::protocol::e91::scheme(),
        &SourceConfig::default(),
        9_000,
        2,
    )
    .unwrap();
    let s = run.alice.stats;
    assert_eq!(s.pairs, 9_000);
    assert_eq!(s.alice_detected, 9_000);
    assert_eq!(s.coincidences, s.key_rounds + s.test_rounds + s.discarded);
    assert_eq!(s.key_rounds as usize, run.alice.sifted_key.len());
    assert_eq!(run.alice.correlations.total(), s.test_rounds);
}

#[test]
fn analyser_shortcuts_measure_like_the_linear_basis() {
    // Z and X stand in for Linear(0) and Linear(pi/4): same probabilities on any state (a
    // single qubit here: a half of a Bell pair would give 1/2 in every basis).
    let mut sv = StateVector::new(1).unwrap();
    sv.apply(crate::statevector::Gate::Ry(0.7), 0).unwrap();
    sv.apply(crate::statevector::Gate::Rz(0.3), 0).unwrap();
    for (d, theta) in [(0.0, 0.0), (90.0, std::f64::consts::FRAC_PI_4)] {
        let fast = sv.probability(0, deg(d).basis()).unwrap();
        let slow = sv
            .probability(0, crate::statevector::Basis::Linear(theta))
            .unwrap();
        assert!((fast - slow).abs() < 1e-12, "{d}: {fast} vs {slow}");
        assert!(
            (fast - 0.5).abs() > 0.05,
            "the state must discriminate: {fast}"
        );
    }
}

/// Frames and messages cross process boundaries (the link's TCP transport): they must survive
/// serialisation unchanged, and a configuration too.
#[test]
fn frames_messages_and_configs_round_trip_through_serde() {
    let (mut a, mut b, mut src) = engines(300);
    let sa = a.poll_settings().unwrap();
    let sb = b.poll_settings().unwrap();
    let json = serde_json::to_string(&sa).unwrap();
    let sa2: SettingsFrame = serde_json::from_str(&json).unwrap();
    assert_eq!(sa, sa2);
    src.handle_settings(sa2).unwrap();
    src.handle_settings(sb).unwrap();
    for frame in [
        src.poll_detections().unwrap(),
        src.poll_detections().unwrap(),
    ] {
        let back: DetectionFrame =
            serde_json::from_str(&serde_json::to_string(&frame).unwrap()).unwrap();
        assert_eq!(back, frame);
        match back.party {
            Role::Alice => a.handle_detections(&back).unwrap(),
            Role::Bob => b.handle_detections(&back).unwrap(),
        }
    }
    let mut relayed = 0;
    loop {
        let mut moved = false;
        for dir in 0..2 {
            let (from, to) = if dir == 0 {
                (&mut a, &mut b)
            } else {
                (&mut b, &mut a)
            };
            while let Some(m) = from.poll_classical() {
                let back: EntangledMsg =
                    serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
                assert_eq!(back, m);
                to.handle_classical(back).unwrap();
                moved = true;
                relayed += 1;
            }
        }
        if !moved {
            break;
        }
    }
    assert_eq!(relayed, 4, "settings and test outcomes, each way");
    assert_eq!(
        a.result().unwrap().sifted_key,
        b.result().unwrap().sifted_key
    );
    let cfg = SourceConfig {
        state: BellState::PhiPlus,
        bob: QuantumChannel::ideal().with_depolarizing(0.1).unwrap(),
        eve: Some(EveConfig::new(0.5, EveBases::Breidbart).unwrap()),
        ..SourceConfig::default()
    };
    let back: SourceConfig = serde_json::from_str(&serde_json::to_string(&cfg).unwrap()).unwrap();
    assert_eq!(back, cfg);
}

/// A source serves batch after batch; Eve's record keeps one frame per batch.
#[test]
fn the_source_plays_successive_batches() {
    let cfg = SourceConfig {
        eve: Some(EveConfig::new(1.0, EveBases::Bb84).unwrap()),
        ..SourceConfig::default()
    };
    let mut src = source(cfg, 17);
    let scheme = crate::protocol::bbm92::scheme();
    let mut keys = 0;
    for batch in 0..3u64 {
        let mut parties = [Role::Alice, Role::Bob].map(|role| {
            EntangledParty::new(
                role,
                scheme.clone(),
                BellState::Singlet,
                batch,
                1000,
                node_rng(batch, role as u64),
            )
            .unwrap()
        });
        for p in parties.iter_mut() {
            src.handle_settings(p.poll_settings().unwrap()).unwrap();
        }
        while let Some(f) = src.poll_detections() {
            assert_eq!(f.batch, batch);
            let i = usize::from(f.party == Role::Bob);
            parties[i].handle_detections(&f).unwrap();
        }
        let [a, b] = &mut parties;
        while let Some(m) = a.poll_classical() {
            b.handle_classical(m).unwrap();
        }
        while let Some(m) = b.poll_classical() {
            a.handle_classical(m).unwrap();
        }
        assert!(a.is_done() && b.is_done());
        keys += a.result().unwrap().sifted_key.len();
    }
    let rec = src.eve_record();
    assert_eq!(rec.frames.len(), 3);
    assert_eq!(rec.attacked(), 3000);
    assert!((0..3).all(|s| rec.frame(s).is_some()));
    assert!(keys > 1200);
}

#[test]
fn deserialised_schemes_are_validated() {
    let good = serde_json::to_string(&crate::protocol::e91::scheme()).unwrap();
    let back: Scheme = serde_json::from_str(&good).unwrap();
    assert_eq!(back, crate::protocol::e91::scheme());
    // Too few round kinds would make `kind` index out of bounds: rejected on the way in.
    let short =
        r#"{"alice":[{"degrees":0.0}],"bob":[{"degrees":0.0},{"degrees":90.0}],"kinds":["Key"]}"#;
    assert!(serde_json::from_str::<Scheme>(short).is_err());
    let mismatched = r#"{"alice":[{"degrees":0.0}],"bob":[{"degrees":45.0}],"kinds":["Key"]}"#;
    assert!(serde_json::from_str::<Scheme>(mismatched).is_err());
}

mod props {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Without noise, dark counts or Eve the keys agree for any batch size, seed, pair state,
        /// loss and scheme, and the public counts add up at both ends.
        #[test]
        fn noiseless_keys_always_agree(
            pairs in 1usize..3000,
            seed in any::<u64>(),
            phi_plus in any::<bool>(),
            efficiency in 0.05f64..=1.0,
            e91 in any::<bool>(),
        ) {
            let half = QuantumChannel::ideal()
                .with_detector(Detector { efficiency, dark_count: 0.0 })
                .unwrap();
            let cfg = SourceConfig {
                state: if phi_plus { BellState::PhiPlus } else { BellState::Singlet },
                alice: half,
                bob: half,
                eve: None,
            };
            let scheme = if e91 {
                crate::protocol::e91::scheme()
            } else {
                crate::protocol::bbm92::scheme()
            };
            let run = run_in_process(&scheme, &cfg, pairs, seed).unwrap();
            prop_assert_eq!(&run.alice.sifted_key, &run.bob.sifted_key);
            prop_assert_eq!(run.key_errors, 0);
            let s = run.alice.stats;
            prop_assert_eq!(s, run.bob.stats);
            prop_assert_eq!(s.pairs, pairs as u64);
            prop_assert!(s.coincidences <= s.alice_detected.min(s.bob_detected));
            prop_assert_eq!(s.coincidences, s.key_rounds + s.test_rounds + s.discarded);
            prop_assert_eq!(run.alice.key_pairs.len() as u64, s.key_rounds);
            prop_assert_eq!(&run.alice.correlations, &run.bob.correlations);
        }
    }
}

#[test]
fn correlations_merge_adds_tallies_and_refuses_other_shapes() {
    let mut a = Correlations::new(3, 3);
    a.record(0, 2, true, true);
    a.record(0, 2, true, false);
    let mut b = Correlations::new(3, 3);
    b.record(0, 2, false, false);
    b.record(2, 0, true, true);
    a.merge(&b).unwrap();
    assert_eq!((a.rounds(0, 2), a.equal(0, 2)), (3, 2));
    assert_eq!((a.rounds(2, 0), a.equal(2, 0)), (1, 1));
    assert_eq!(a.total(), 4);
    let before = a.clone();
    assert!(a.merge(&Correlations::new(2, 2)).is_err());
    assert_eq!(a, before);
}
