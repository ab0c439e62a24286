//! Physical predictions: QBER under Eve and noise, loss, dark counts, what Eve learns.

use super::{SV5, assert_proportion, run};
use crate::channel::{Detector, Loss, QuantumChannel};
use crate::eve::{EveBases, EveConfig};
use crate::protocol::{Backend, Protocol};

fn depol(d: f64) -> QuantumChannel {
    QuantumChannel::ideal()
        .with_depolarizing(d)
        .expect("valid probability")
}

#[test]
fn ideal_channel_gives_identical_keys_of_exact_length() {
    let backends = [
        Backend::Product,
        SV5,
        Backend::StateVector { register_qubits: 1 },
        Backend::StateVector { register_qubits: 7 },
        // Larger registers: Bob's detector absorbs each measured qubit (resets it to |0>).
        Backend::StateVector { register_qubits: 9 },
        Backend::StateVector {
            register_qubits: 12,
        },
    ];
    for protocol in [Protocol::Bb84, Protocol::SixState, Protocol::B92] {
        for backend in backends {
            let r = run(protocol, backend, 3000, QuantumChannel::ideal(), None, 11);
            assert_eq!(r.alice.key.len(), 3000, "{protocol:?} {backend:?}");
            assert_eq!(r.alice.key, r.bob.key, "{protocol:?} {backend:?}");
            assert_eq!(r.errors, 0);
            assert_eq!(r.alice.stats.sifted, 3000);
            assert!(r.alice.stats.sifted_untruncated >= 3000);
            // Sifting yield (untruncated sifted / sent): 5 sigma of a binomial proportion.
            assert_proportion(
                &format!("yield {protocol:?} {backend:?}"),
                r.alice.stats.sifted_untruncated,
                r.alice.stats.qubits,
                protocol.ideal_yield(),
            );
        }
    }
}

/// Intercept-resend on a fraction p in the BB84 bases: Eve picks the wrong basis half the time,
/// and then Bob errs half the time, so QBER = p/4. 20000 sifted bits: 5 sigma <= 0.0153.
#[test]
fn bb84_intercept_resend_qber_is_p_over_4() {
    for (i, p) in [0.0, 0.25, 0.5, 0.75, 1.0].into_iter().enumerate() {
        let eve = EveConfig::new(p, EveBases::Bb84).expect("valid");
        let r = run(
            Protocol::Bb84,
            Backend::Product,
            20_000,
            QuantumChannel::ideal(),
            Some(eve),
            100 + i as u64,
        );
        assert_proportion(&format!("fast QBER at p={p}"), r.errors, 20_000, p / 4.0);
        // Eve attacked a fraction p of the sifted positions.
        let k = r.eve_knowledge.expect("eve present");
        assert_proportion(
            &format!("attacked share at p={p}"),
            k.attacked,
            k.sifted_bits,
            p,
        );
    }
    // The state-vector path, smaller: 4000 bits, 5 sigma <= 0.034.
    for (i, p) in [0.0, 0.5, 1.0].into_iter().enumerate() {
        let eve = EveConfig::new(p, EveBases::Bb84).expect("valid");
        let r = run(
            Protocol::Bb84,
            SV5,
            4000,
            QuantumChannel::ideal(),
            Some(eve),
            200 + i as u64,
        );
        assert_proportion(
            &format!("state-vector QBER at p={p}"),
            r.errors,
            4000,
            p / 4.0,
        );
    }
}

/// Depolarizing d replaces the qubit by I/2 with probability d: error d/2 in the sifted key.
#[test]
fn depolarizing_qber_is_d_over_2() {
    for (i, d) in [0.02, 0.1, 0.3].into_iter().enumerate() {
        for protocol in [Protocol::Bb84, Protocol::SixState] {
            let r = run(
                protocol,
                Backend::Product,
                20_000,
                depol(d),
                None,
                300 + i as u64,
            );
            assert_proportion(
                &format!("{protocol:?} fast d={d}"),
                r.errors,
                20_000,
                d / 2.0,
            );
        }
        let r = run(Protocol::Bb84, SV5, 4000, depol(d), None, 310 + i as u64);
        assert_proportion(&format!("state-vector d={d}"), r.errors, 4000, d / 2.0);
    }
}

/// Bit flip p_x: Z-basis bits flip (X-basis states are X eigenstates): QBER p_x/2 in BB84.
/// Phase flip likewise flips only X-basis bits. Misalignment theta: QBER sin^2 theta.
#[test]
fn flips_and_misalignment() {
    let ch = QuantumChannel::ideal().with_bit_flip(0.2).expect("valid");
    for backend in [Backend::Product, SV5] {
        let r = run(Protocol::Bb84, backend, 6000, ch, None, 400);
        assert_proportion(&format!("bit flip {backend:?}"), r.errors, 6000, 0.1);
    }
    let ch = QuantumChannel::ideal().with_phase_flip(0.3).expect("valid");
    for backend in [Backend::Product, SV5] {
        let r = run(Protocol::Bb84, backend, 6000, ch, None, 401);
        assert_proportion(&format!("phase flip {backend:?}"), r.errors, 6000, 0.15);
    }
    let theta: f64 = 0.2;
    let ch = QuantumChannel::ideal()
        .with_misalignment(theta)
        .expect("valid");
    for backend in [Backend::Product, SV5] {
        for protocol in [Protocol::Bb84, Protocol::SixState] {
            let r = run(protocol, backend, 6000, ch, None, 402);
            // Six-state: Y states are unchanged by the rotation about y, so the QBER is
            // (2/3) sin^2 theta.
            let q = match protocol {
                Protocol::SixState => 2.0 / 3.0 * theta.sin().powi(2),
                _ => theta.sin().powi(2),
            };
            assert_proportion(
                &format!("misalignment {protocol:?} {backend:?}"),
                r.errors,
                6000,
                q,
            );
        }
    }
}

/// Six-state full intercept-resend in the three bases: Eve's basis is wrong 2/3 of the time, and
/// then Bob errs half the time: QBER 1/3.
#[test]
fn six_state_full_intercept_qber_is_one_third() {
    let eve = EveConfig::new(1.0, EveBases::SixState).expect("valid");
    let r = run(
        Protocol::SixState,
        Backend::Product,
        20_000,
        QuantumChannel::ideal(),
        Some(eve),
        500,
    );
    assert_proportion("six-state fast", r.errors, 20_000, 1.0 / 3.0);
    let r = run(
        Protocol::SixState,
        SV5,
        3000,
        QuantumChannel::ideal(),
        Some(eve),
        501,
    );
    assert_proportion("six-state state-vector", r.errors, 3000, 1.0 / 3.0);
}

/// B92: an ideal channel gives identical keys (tested above); full intercept-resend in the BB84
/// bases gives errors. Expected QBER: a conclusive result happens with probability 1/4 per qubit
/// without Eve; with Eve, enumerate (Alice state, Eve basis, Eve outcome, Bob basis):
/// P(conclusive and wrong) = 1/16, P(conclusive) = 1/4 + 1/16 ... computed below exactly.
#[test]
fn b92_eve_causes_errors() {
    // Exact: Alice |0> or |+>; Eve measures Z or X and resends her outcome state; Bob measures Z or
    // X and keeps outcome 1 (|1> -> bit 1, |-> -> bit 0).
    let states = [(0.0f64, false), (std::f64::consts::FRAC_PI_2, true)]; // (Bloch angle, bit)
    let axes = [0.0f64, std::f64::consts::FRAC_PI_2];
    let (mut p_conc, mut p_err) = (0.0, 0.0);
    for &(a, bit) in &states {
        for &e in &axes {
            for eo in [0.0, std::f64::consts::PI] {
                let pe = ((a - e - eo) / 2.0).cos().powi(2);
                let resent = e + eo;
                for &b in &axes {
                    // Bob's outcome 1 = antipode of axis b.
                    let p1 = ((resent - b) / 2.0).sin().powi(2);
                    let w = 0.5 * 0.5 * 0.5 * pe * p1;
                    p_conc += w;
                    let bob_bit = b == 0.0;
                    if bob_bit != bit {
                        p_err += w;
                    }
                }
            }
        }
    }
    let q = p_err / p_conc;
    let eve = EveConfig::new(1.0, EveBases::Bb84).expect("valid");
    for (backend, n) in [(Backend::Product, 20_000u64), (SV5, 3000)] {
        let r = run(
            Protocol::B92,
            backend,
            n as usize,
            QuantumChannel::ideal(),
            Some(eve),
            600,
        );
        assert!(r.errors > 0);
        assert_proportion(&format!("B92 QBER {backend:?}"), r.errors, n, q);
    }
}

/// Loss: detected / sent = 10^(-dB/10) * efficiency.
#[test]
fn loss_and_efficiency_scale_detections() {
    let loss = Loss {
        attenuation_db_per_km: 0.2,
        length_km: 25.0,
        fixed_db: 1.0,
    };
    let det = Detector {
        efficiency: 0.6,
        dark_count: 0.0,
    };
    let ch = QuantumChannel::ideal()
        .with_loss(loss)
        .and_then(|c| c.with_detector(det))
        .expect("valid");
    let expected = 10f64.powf(-6.0 / 10.0) * 0.6;
    assert!((ch.photon_detection_probability() - expected).abs() < 1e-12);
    let sv10 = Backend::StateVector {
        register_qubits: 10,
    };
    for (backend, bits) in [(Backend::Product, 5000), (SV5, 1000), (sv10, 1000)] {
        let r = run(Protocol::Bb84, backend, bits, ch, None, 700);
        assert_eq!(r.errors, 0);
        assert_proportion(
            &format!("detection rate {backend:?}"),
            r.bob.stats.detected,
            r.bob.stats.qubits,
            expected,
        );
    }
}

/// Dark counts with no photon arriving (efficiency 0): clicks at the dark-count rate, and the
/// sifted bits are coin flips against Alice's (QBER 1/2).
#[test]
fn dark_counts_click_at_random() {
    let det = Detector {
        efficiency: 0.0,
        dark_count: 0.05,
    };
    let ch = QuantumChannel::ideal().with_detector(det).expect("valid");
    for (backend, bits) in [(Backend::Product, 4000u64), (SV5, 600)] {
        let r = run(Protocol::Bb84, backend, bits as usize, ch, None, 800);
        assert_proportion(
            &format!("dark rate {backend:?}"),
            r.bob.stats.detected,
            r.bob.stats.qubits,
            0.05,
        );
        assert_proportion(&format!("dark QBER {backend:?}"), r.errors, bits, 0.5);
    }
}

/// What Eve learns about the sifted key. BB84 bases: right basis half the time (certain bit),
/// else a coin: accuracy 3/4. Breidbart basis: accuracy cos^2(pi/8) ~ 0.854, QBER still 1/4.
#[test]
fn eve_knowledge_bb84_vs_breidbart() {
    for (backend, n) in [(Backend::Product, 20_000u64), (SV5, 3000)] {
        let eve = EveConfig::new(1.0, EveBases::Bb84).expect("valid");
        let r = run(
            Protocol::Bb84,
            backend,
            n as usize,
            QuantumChannel::ideal(),
            Some(eve),
            900,
        );
        let k = r.eve_knowledge.expect("eve present");
        assert_eq!(k.attacked, n);
        assert_proportion(
            &format!("BB84-basis accuracy {backend:?}"),
            k.correct,
            k.attacked,
            0.75,
        );
        assert_proportion(&format!("BB84-basis QBER {backend:?}"), r.errors, n, 0.25);

        let eve = EveConfig::new(1.0, EveBases::Breidbart).expect("valid");
        let r = run(
            Protocol::Bb84,
            backend,
            n as usize,
            QuantumChannel::ideal(),
            Some(eve),
            901,
        );
        let k = r.eve_knowledge.expect("eve present");
        let c = std::f64::consts::FRAC_PI_8.cos().powi(2);
        assert_proportion(
            &format!("Breidbart accuracy {backend:?}"),
            k.correct,
            k.attacked,
            c,
        );
        // Bob agrees with Eve's resent state w.p. c; Eve agrees with Alice w.p. c: Q = 2c(1-c) = 1/4.
        assert_proportion(
            &format!("Breidbart QBER {backend:?}"),
            r.errors,
            n,
            2.0 * c * (1.0 - c),
        );
    }
}
