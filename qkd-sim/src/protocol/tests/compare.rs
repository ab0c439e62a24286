//! The fast path against the state-vector path: same statistics within binomial bounds.

use super::{SV5, run};
use crate::channel::{Detector, QuantumChannel};
use crate::eve::{EveBases, EveConfig};
use crate::protocol::{Backend, Protocol, RunReport};

/// Two proportions x1/n1 and x2/n2 from the same true p agree within 5 sigma of their difference:
/// sigma = sqrt(p (1 - p) (1/n1 + 1/n2)), with p estimated by pooling (plus a small floor so
/// that p = 0 cases demand exact equality up to 1e-12).
fn assert_same_proportion(what: &str, x1: u64, n1: u64, x2: u64, n2: u64) {
    let (p1, p2) = (x1 as f64 / n1 as f64, x2 as f64 / n2 as f64);
    let p = (x1 + x2) as f64 / (n1 + n2) as f64;
    let sigma = (p * (1.0 - p) * (1.0 / n1 as f64 + 1.0 / n2 as f64)).sqrt();
    assert!(
        (p1 - p2).abs() <= 5.0 * sigma + 1e-12,
        "{what}: fast {p1:.5} vs state-vector {p2:.5} (5 sigma {:.5})",
        5.0 * sigma
    );
}

fn compare(what: &str, fast: &RunReport, sv: &RunReport) {
    let n_f = fast.alice.key.len() as u64;
    let n_s = sv.alice.key.len() as u64;
    assert_same_proportion(&format!("{what}: QBER"), fast.errors, n_f, sv.errors, n_s);
    assert_same_proportion(
        &format!("{what}: ones in Bob's key"),
        fast.bob.key.count_ones() as u64,
        n_f,
        sv.bob.key.count_ones() as u64,
        n_s,
    );
    assert_same_proportion(
        &format!("{what}: detection rate"),
        fast.bob.stats.detected,
        fast.bob.stats.qubits,
        sv.bob.stats.detected,
        sv.bob.stats.qubits,
    );
    assert_same_proportion(
        &format!("{what}: sifting yield"),
        fast.alice.stats.sifted_untruncated,
        fast.alice.stats.qubits,
        sv.alice.stats.sifted_untruncated,
        sv.alice.stats.qubits,
    );
    if let (Some(a), Some(b)) = (fast.eve_knowledge, sv.eve_knowledge) {
        assert_same_proportion(
            &format!("{what}: Eve accuracy"),
            a.correct,
            a.attacked,
            b.correct,
            b.attacked,
        );
        assert_same_proportion(
            &format!("{what}: Eve share"),
            a.attacked,
            a.sifted_bits,
            b.attacked,
            b.sifted_bits,
        );
    }
}

#[test]
fn fast_path_matches_state_vector_path() {
    let noisy = QuantumChannel::ideal()
        .with_depolarizing(0.08)
        .and_then(|c| c.with_misalignment(0.15))
        .and_then(|c| {
            c.with_detector(Detector {
                efficiency: 0.7,
                dark_count: 0.02,
            })
        })
        .expect("valid");
    let cases: [(&str, Protocol, QuantumChannel, Option<EveConfig>); 7] = [
        ("bb84 ideal", Protocol::Bb84, QuantumChannel::ideal(), None),
        ("bb84 noisy", Protocol::Bb84, noisy, None),
        (
            "bb84 eve 0.6",
            Protocol::Bb84,
            QuantumChannel::ideal(),
            EveConfig::new(0.6, EveBases::Bb84).ok(),
        ),
        (
            "bb84 breidbart + noise",
            Protocol::Bb84,
            noisy,
            EveConfig::new(1.0, EveBases::Breidbart).ok(),
        ),
        (
            "six-state eve + noise",
            Protocol::SixState,
            noisy,
            EveConfig::new(0.5, EveBases::SixState).ok(),
        ),
        ("b92 noisy", Protocol::B92, noisy, None),
        (
            "b92 eve",
            Protocol::B92,
            QuantumChannel::ideal(),
            EveConfig::new(0.7, EveBases::Bb84).ok(),
        ),
    ];
    for (i, (what, protocol, channel, eve)) in cases.into_iter().enumerate() {
        let seed = 1000 + i as u64;
        let fast = run(protocol, Backend::Product, 12_000, channel, eve, seed);
        let sv = run(protocol, SV5, 4000, channel, eve, seed + 500);
        compare(what, &fast, &sv);
    }
    // Large registers (Bob absorbs measured qubits) with noise, loss and Eve.
    let eve = EveConfig::new(0.5, EveBases::Bb84).ok();
    let lossy = noisy
        .with_detector(Detector {
            efficiency: 0.5,
            dark_count: 0.01,
        })
        .expect("valid");
    let fast = run(Protocol::Bb84, Backend::Product, 12_000, lossy, eve, 2000);
    let sv = run(
        Protocol::Bb84,
        Backend::StateVector {
            register_qubits: 11,
        },
        3000,
        lossy,
        eve,
        2001,
    );
    compare("bb84 11-qubit registers, lossy, eve", &fast, &sv);
}
