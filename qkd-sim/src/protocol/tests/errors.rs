//! Bad parameters and protocol violations return errors, never panic.

use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::SimError;
use crate::channel::{Detector, Loss, QuantumChannel};
use crate::eve::{Eve, EveBases, EveConfig};
use crate::protocol::{
    Backend, ClassicalMessage, Engine, EngineConfig, FramePayload, PmAlice, PmBob, ProductFrame,
    Protocol, QuantumFrame, Register, SimConfig, run_in_process,
};

fn invalid<T: std::fmt::Debug>(r: Result<T, SimError>) {
    assert!(
        matches!(
            r,
            Err(SimError::InvalidParameter { .. }) | Err(SimError::RegisterSize { .. })
        ),
        "expected a parameter error, got {r:?}"
    );
}

#[test]
fn bad_channel_parameters() {
    let c = QuantumChannel::ideal();
    for p in [-0.1, 1.1, f64::NAN, f64::INFINITY] {
        invalid(c.with_depolarizing(p));
        invalid(c.with_bit_flip(p));
        invalid(c.with_phase_flip(p));
        invalid(c.with_detector(Detector {
            efficiency: p,
            dark_count: 0.0,
        }));
        invalid(c.with_detector(Detector {
            efficiency: 1.0,
            dark_count: p,
        }));
        invalid(EveConfig::new(p, EveBases::Bb84));
    }
    invalid(c.with_misalignment(f64::NAN));
    invalid(c.with_misalignment(f64::NEG_INFINITY));
    for (a, l, f) in [
        (-0.2, 1.0, 0.0),
        (0.2, -1.0, 0.0),
        (0.2, 1.0, -3.0),
        (f64::NAN, 1.0, 0.0),
        (0.2, f64::INFINITY, 0.0),
    ] {
        invalid(c.with_loss(Loss {
            attenuation_db_per_km: a,
            length_km: l,
            fixed_db: f,
        }));
    }
    // A channel built by hand with a bad field is caught at use.
    let bad = QuantumChannel {
        depolarizing: 2.0,
        ..QuantumChannel::ideal()
    };
    let frame = QuantumFrame {
        seq: 0,
        payload: FramePayload::Product(ProductFrame::zeros(10)),
    };
    invalid(bad.transmit(frame, &mut StdRng::seed_from_u64(0)));
    let cfg = SimConfig {
        channel: bad,
        ..SimConfig::new(EngineConfig::new(Protocol::Bb84, Backend::Product, 10))
    };
    invalid(run_in_process(&cfg, 1));
}

#[test]
fn bad_engine_parameters() {
    for rq in [0, 21, 1000] {
        let cfg = EngineConfig::new(
            Protocol::Bb84,
            Backend::StateVector {
                register_qubits: rq,
            },
            100,
        );
        invalid(PmAlice::new(cfg, StdRng::seed_from_u64(0)));
        invalid(PmBob::new(cfg, StdRng::seed_from_u64(0)));
    }
    let mut cfg = EngineConfig::new(Protocol::Bb84, Backend::Product, 100);
    cfg.frame_qubits = 0;
    invalid(PmAlice::new(cfg, StdRng::seed_from_u64(0)));
    invalid(Register::from_amplitudes(vec![]));
    invalid(Register::from_amplitudes(vec![
        num_complex::Complex64::new(
            1.0, 0.0
        );
        3
    ]));
    invalid(Register::from_amplitudes(vec![
        num_complex::Complex64::new(
            1.0, 0.0
        );
        2
    ]));
    invalid(ProductFrame::from_states(&[
        crate::protocol::SliceState::Linear(8),
    ]));
    invalid(Eve::new(EveConfig {
        fraction: -1.0,
        bases: EveBases::Bb84,
    }));
}

#[test]
fn zero_target_and_total_loss_terminate() {
    let r = run_in_process(
        &SimConfig::new(EngineConfig::new(Protocol::Bb84, Backend::Product, 0)),
        3,
    )
    .expect("runs");
    assert_eq!(r.alice.key.len(), 0);
    // Total loss: no detections; Alice stops at her qubit budget with an empty key.
    let mut engine = EngineConfig::new(Protocol::Bb84, Backend::Product, 100);
    engine.max_qubits = 10_000;
    let channel = QuantumChannel::ideal()
        .with_detector(Detector {
            efficiency: 0.0,
            dark_count: 0.0,
        })
        .expect("valid");
    let r = run_in_process(
        &SimConfig {
            engine,
            channel,
            eve: None,
        },
        4,
    )
    .expect("runs");
    assert_eq!(r.alice.key.len(), 0);
    assert_eq!(r.bob.key.len(), 0);
    assert!(r.alice.stats.qubits >= 10_000);
}

#[test]
fn protocol_violations_are_errors() {
    let cfg = EngineConfig::new(Protocol::Bb84, Backend::Product, 100);
    let mut alice = PmAlice::new(cfg, StdRng::seed_from_u64(1)).expect("valid");
    let mut bob = PmBob::new(cfg, StdRng::seed_from_u64(2)).expect("valid");
    // Messages before any frame.
    assert!(
        alice
            .handle_classical(ClassicalMessage::Done { sifted_bits: 0 })
            .is_err()
    );
    assert!(
        alice
            .handle_classical(ClassicalMessage::Detections {
                seq: 0,
                len: 1,
                detected: vec![1],
                bases_lo: vec![0],
                bases_hi: vec![]
            })
            .is_err()
    );
    assert!(
        bob.handle_classical(ClassicalMessage::Sift {
            seq: 0,
            keep: vec![]
        })
        .is_err()
    );
    assert!(
        bob.handle_classical(ClassicalMessage::Done { sifted_bits: 5 })
            .is_err()
    );
    let frame = alice.poll_frame().expect("a frame");
    assert!(alice.poll_frame().is_none(), "one frame in flight");
    assert!(alice.handle_frame(frame.clone()).is_err());
    // Wrong backend.
    let sv_cfg = EngineConfig::new(
        Protocol::Bb84,
        Backend::StateVector { register_qubits: 5 },
        100,
    );
    let mut sv_bob = PmBob::new(sv_cfg, StdRng::seed_from_u64(3)).expect("valid");
    assert!(sv_bob.handle_frame(frame.clone()).is_err());
    // Malformed frame.
    let mut broken = ProductFrame::zeros(100);
    broken.k0.pop();
    assert!(
        bob.handle_frame(QuantumFrame {
            seq: 0,
            payload: FramePayload::Product(broken)
        })
        .is_err()
    );
    bob.handle_frame(frame.clone()).expect("measures");
    assert!(bob.handle_frame(frame).is_err(), "second frame before sift");
    let Some(ClassicalMessage::Detections {
        seq,
        len,
        detected,
        bases_lo,
        bases_hi,
    }) = bob.poll_classical()
    else {
        panic!("Bob announces detections");
    };
    // Wrong sequence number, wrong lengths, then the right message.
    assert!(
        alice
            .handle_classical(ClassicalMessage::Detections {
                seq: seq + 1,
                len,
                detected: detected.clone(),
                bases_lo: bases_lo.clone(),
                bases_hi: bases_hi.clone()
            })
            .is_err()
    );
    assert!(
        alice
            .handle_classical(ClassicalMessage::Detections {
                seq,
                len,
                detected: vec![],
                bases_lo: bases_lo.clone(),
                bases_hi: bases_hi.clone()
            })
            .is_err()
    );
    alice
        .handle_classical(ClassicalMessage::Detections {
            seq,
            len,
            detected,
            bases_lo,
            bases_hi,
        })
        .expect("valid");
    let Some(ClassicalMessage::Sift { seq, mut keep }) = alice.poll_classical() else {
        panic!("Alice answers with the sift");
    };
    // Keeping an undetected position is refused (flip a bit that Bob cannot have detected: past len).
    let last = keep.len() - 1;
    keep[last] |= 1 << 63;
    let bad = ClassicalMessage::Sift {
        seq,
        keep: keep.clone(),
    };
    if len % 64 != 0 {
        assert!(bob.handle_classical(bad).is_err());
        keep[last] &= !(1 << 63);
    } else {
        keep[last] &= !(1 << 63);
    }
    bob.handle_classical(ClassicalMessage::Sift { seq, keep })
        .expect("valid sift");
    // Done with more bits than Bob holds.
    assert!(
        bob.handle_classical(ClassicalMessage::Done {
            sifted_bits: u64::MAX
        })
        .is_err()
    );
}

#[test]
fn eve_after_misaligned_channel_on_fast_path_is_an_error() {
    let ch = QuantumChannel::ideal()
        .with_misalignment(0.1)
        .expect("valid");
    let mut rng = StdRng::seed_from_u64(5);
    let frame = QuantumFrame {
        seq: 0,
        payload: FramePayload::Product(ProductFrame::zeros(64)),
    };
    let frame = ch.transmit(frame, &mut rng).expect("transmits");
    let mut eve = Eve::new(EveConfig::new(1.0, EveBases::Bb84).expect("valid")).expect("valid");
    invalid(eve.transmit(frame.clone(), &mut rng));
    let flips = QuantumChannel::ideal().with_bit_flip(0.1).expect("valid");
    invalid(flips.transmit(frame, &mut rng));
}

#[test]
fn frames_and_messages_round_trip_through_serde_and_debug_is_redacted() {
    let cfg = EngineConfig::new(
        Protocol::SixState,
        Backend::StateVector { register_qubits: 3 },
        50,
    );
    let mut alice = PmAlice::new(cfg, StdRng::seed_from_u64(6)).expect("valid");
    let frame = alice.poll_frame().expect("frame");
    let json = serde_json::to_string(&frame).expect("serialises");
    let back: QuantumFrame = serde_json::from_str(&json).expect("deserialises");
    assert_eq!(back, frame);
    assert!(format!("{frame:?}").contains("qubits"));
    if let FramePayload::Registers(regs) = &frame.payload {
        assert!(format!("{:?}", regs[0]).contains("REDACTED"));
    }
    let p = ProductFrame::zeros(70);
    assert!(format!("{p:?}").contains("REDACTED"));
    let msg = ClassicalMessage::Sift {
        seq: 3,
        keep: vec![1, 2],
    };
    let back: ClassicalMessage =
        serde_json::from_str(&serde_json::to_string(&msg).expect("ser")).expect("de");
    assert_eq!(back, msg);
    let bad_reg = r#"{"amplitudes":[[3.0,0.0],[0.0,0.0]],"vacuum":0,"dark":0}"#;
    assert!(serde_json::from_str::<Register>(bad_reg).is_err());
}
