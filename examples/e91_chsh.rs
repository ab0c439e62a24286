//! E91 with a Bell test: the CHSH value S without Eve, under intercept-resend attacks and with
//! depolarizing noise, against the classical bound 2 and the quantum (Tsirelson) bound 2 sqrt 2.
//!
//! Run: `cargo run --release --example e91_chsh [pairs] [seed]` (default 100000 pairs, seed 1).

use std::process::ExitCode;

use qkd_sim::SimError;
use qkd_sim::channel::QuantumChannel;
use qkd_sim::eve::{EveBases, EveConfig};
use qkd_sim::protocol::e91::{self, CLASSICAL_BOUND, EVE_BOUND, QUANTUM_BOUND};
use qkd_sim::protocol::entangled::SourceConfig;

struct Row {
    label: String,
    config: SourceConfig,
    /// |S| expected from theory.
    expected: f64,
}

fn rows() -> Result<Vec<Row>, SimError> {
    let mut rows = vec![Row {
        label: "no noise, no Eve".into(),
        config: SourceConfig::default(),
        expected: QUANTUM_BOUND,
    }];
    for p in [0.25, 0.5, 1.0] {
        rows.push(Row {
            label: format!("Eve (BB84 bases) on {:.0}% of Bob's halves", p * 100.0),
            config: SourceConfig {
                eve: Some(EveConfig::new(p, EveBases::Bb84)?),
                ..SourceConfig::default()
            },
            // A fraction p of pairs gives S = -sqrt 2, the rest -2 sqrt 2.
            expected: (1.0 - p) * QUANTUM_BOUND + p * EVE_BOUND,
        });
    }
    rows.push(Row {
        label: "Eve (Breidbart basis) on all".into(),
        config: SourceConfig {
            eve: Some(EveConfig::new(1.0, EveBases::Breidbart)?),
            ..SourceConfig::default()
        },
        expected: EVE_BOUND,
    });
    for d in [0.02, 0.05, 0.1, 0.2, 0.3] {
        let half = QuantumChannel::ideal().with_depolarizing(d)?;
        let q = (1.0 - (1.0 - d) * (1.0 - d)) / 2.0;
        rows.push(Row {
            label: format!("depolarizing d = {d:.2} on each half"),
            config: SourceConfig {
                alice: half,
                bob: half,
                ..SourceConfig::default()
            },
            expected: QUANTUM_BOUND * (1.0 - 2.0 * q),
        });
    }
    Ok(rows)
}

fn run(pairs: usize, seed: u64) -> Result<(), SimError> {
    println!("E91 (Ekert 1991): singlet pairs, Alice at 0/45/90, Bob at 45/90/135 degrees");
    println!(
        "(Ekert's analyser angles; polariser angles are half). {pairs} pairs per row, seed {seed}."
    );
    println!(
        "Bounds: classical |S| <= {CLASSICAL_BOUND}, quantum |S| <= 2 sqrt 2 = {QUANTUM_BOUND:.4}, \
         intercept-resend |S| <= sqrt 2 = {EVE_BOUND:.4}.\n"
    );
    println!(
        "{:<42} {:>8} {:>8} {:>7} {:>17} {:>8} {:>12} {:>6}",
        "scenario", "raw", "sifted", "QBER", "S +- sigma", "|S| th.", "2sqrt2(1-2Q)", "Bell?"
    );
    for (k, row) in rows()?.into_iter().enumerate() {
        let r = e91::run_in_process(&row.config, pairs, seed.wrapping_add(k as u64))?;
        let q = r.qber();
        println!(
            "{:<42} {:>8} {:>8} {:>7.4} {:>8.4} +- {:.4} {:>8.4} {:>12.4} {:>6}",
            row.label,
            r.raw(),
            r.sifted(),
            q,
            r.chsh.s,
            r.chsh.std_error,
            row.expected,
            QUANTUM_BOUND * (1.0 - 2.0 * q),
            if r.chsh.violates_classical_bound() {
                "yes"
            } else {
                "no"
            }
        );
    }
    println!(
        "\nS is negative for the singlet (E(a,b) = -cos(a-b)); |S| > 2 certifies entanglement. \
         Keys are built from the 45/45 and 90/90 rounds (Bob flips his bits)."
    );
    Ok(())
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let pairs = match args.next().map(|a| a.parse::<usize>()) {
        None => 100_000,
        Some(Ok(n)) => n,
        Some(Err(e)) => {
            eprintln!("pairs must be a positive integer: {e}");
            return ExitCode::FAILURE;
        }
    };
    let seed = match args.next().map(|a| a.parse::<u64>()) {
        None => 1,
        Some(Ok(s)) => s,
        Some(Err(e)) => {
            eprintln!("seed must be an unsigned integer: {e}");
            return ExitCode::FAILURE;
        }
    };
    match run(pairs, seed) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
