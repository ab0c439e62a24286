//! QBER of BB84 against the fraction of qubits Eve intercepts (the paper's Fig. 11), for an
//! 8192-bit sifted key on the state-vector path (5-qubit registers) and on the fast path.
//!
//! Eve really measures each intercepted qubit in a random BB84 basis and resends what she saw, so
//! the QBER follows `p/4`. Prints a table and writes an SVG plot.
//!
//! `cargo run --release --example bb84_eve [-- out.svg]` (default output: `bb84_eve.svg`)

use std::fmt::Write as _;

use qkd_sim::SimError;
use qkd_sim::channel::QuantumChannel;
use qkd_sim::eve::{EveBases, EveConfig};
use qkd_sim::protocol::{Backend, EngineConfig, Protocol, SimConfig, run_in_process};

const KEY_BITS: usize = 8192;
const STEPS: usize = 20;

struct Point {
    fraction: f64,
    qber_sv: f64,
    qber_fast: f64,
    eve_accuracy: f64,
}

fn qber(backend: Backend, fraction: f64, seed: u64) -> Result<(f64, f64), SimError> {
    let config = SimConfig {
        engine: EngineConfig::new(Protocol::Bb84, backend, KEY_BITS),
        channel: QuantumChannel::ideal(),
        eve: Some(EveConfig::new(fraction, EveBases::Bb84)?),
    };
    let r = run_in_process(&config, seed)?;
    let acc = r.eve_knowledge.map(|k| k.accuracy()).unwrap_or(0.0);
    Ok((r.qber(), acc))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "bb84_eve.svg".into());
    let mut points = Vec::new();
    println!("BB84, {KEY_BITS}-bit sifted key, intercept-resend in random BB84 bases");
    println!(
        "{:>9} {:>12} {:>12} {:>10} {:>13}",
        "attacked", "QBER (sv,5q)", "QBER (fast)", "p/4", "Eve accuracy"
    );
    for i in 0..=STEPS {
        let fraction = i as f64 / STEPS as f64;
        let (qber_sv, eve_accuracy) = qber(
            Backend::StateVector { register_qubits: 5 },
            fraction,
            i as u64,
        )?;
        let (qber_fast, _) = qber(Backend::Product, fraction, 1000 + i as u64)?;
        println!(
            "{:>8.0}% {:>12.4} {:>12.4} {:>10.4} {:>13.3}",
            100.0 * fraction,
            qber_sv,
            qber_fast,
            fraction / 4.0,
            eve_accuracy
        );
        points.push(Point {
            fraction,
            qber_sv,
            qber_fast,
            eve_accuracy,
        });
    }
    std::fs::write(&out, svg(&points))?;
    println!("plot written to {out}");
    Ok(())
}

/// A hand-written SVG line chart: QBER (both paths) and the p/4 prediction.
fn svg(points: &[Point]) -> String {
    let (w, h, left, right, top, bottom) = (640.0, 420.0, 70.0, 20.0, 40.0, 60.0);
    let (pw, ph) = (w - left - right, h - top - bottom);
    let y_max = 0.30;
    let x = |f: f64| left + f * pw;
    let y = |q: f64| top + ph - q / y_max * ph;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = write!(
        s,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="14">BB84 QBER against the attacked fraction ({KEY_BITS}-bit sifted key)</text>"#,
        w / 2.0
    );
    for i in 0..=6 {
        let q = i as f64 * 0.05;
        let _ = write!(
            s,
            "<line x1=\"{left}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" stroke=\"#ddd\"/><text x=\"{2}\" y=\"{3}\" text-anchor=\"end\">{q:.2}</text>",
            y(q),
            left + pw,
            left - 6.0,
            y(q) + 4.0
        );
    }
    for i in 0..=10 {
        let f = i as f64 / 10.0;
        let _ = write!(
            s,
            "<line x1=\"{0}\" y1=\"{top}\" x2=\"{0}\" y2=\"{1}\" stroke=\"#eee\"/><text x=\"{0}\" y=\"{2}\" text-anchor=\"middle\">{3:.0}%</text>",
            x(f),
            top + ph,
            top + ph + 18.0,
            100.0 * f
        );
    }
    let _ = write!(
        s,
        "<rect x=\"{left}\" y=\"{top}\" width=\"{pw}\" height=\"{ph}\" fill=\"none\" stroke=\"#333\"/>"
    );
    let _ = write!(
        s,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">qubits intercepted by Eve</text>",
        left + pw / 2.0,
        h - 15.0
    );
    let _ = write!(
        s,
        "<text x=\"18\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 18 {})\">QBER</text>",
        top + ph / 2.0,
        top + ph / 2.0
    );
    let _ = write!(
        s,
        "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#999\" stroke-dasharray=\"6 4\"/>",
        x(0.0),
        y(0.0),
        x(1.0),
        y(0.25)
    );
    let line = |sel: &dyn Fn(&Point) -> f64| {
        points
            .iter()
            .map(|p| format!("{:.1},{:.1}", x(p.fraction), y(sel(p))))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let _ = write!(
        s,
        "<polyline points=\"{}\" fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\"/>",
        line(&|p| p.qber_sv)
    );
    let _ = write!(
        s,
        "<polyline points=\"{}\" fill=\"none\" stroke=\"#d62728\" stroke-width=\"1.5\"/>",
        line(&|p| p.qber_fast)
    );
    for p in points {
        let _ = write!(
            s,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"#1f77b4\"><title>{:.0}%: QBER {:.4}, Eve accuracy {:.3}</title></circle>",
            x(p.fraction),
            y(p.qber_sv),
            100.0 * p.fraction,
            p.qber_sv,
            p.eve_accuracy
        );
    }
    let legend = [
        ("#1f77b4", "state-vector path (5-qubit registers)"),
        ("#d62728", "product-state fast path"),
        ("#999", "prediction p/4"),
    ];
    for (i, (colour, label)) in legend.iter().enumerate() {
        let ly = top + 16.0 + 18.0 * i as f64;
        let _ = write!(
            s,
            "<line x1=\"{0}\" y1=\"{ly}\" x2=\"{1}\" y2=\"{ly}\" stroke=\"{colour}\" stroke-width=\"2\"/><text x=\"{2}\" y=\"{3}\">{label}</text>",
            left + 12.0,
            left + 36.0,
            left + 42.0,
            ly + 4.0
        );
    }
    s.push_str("</svg>\n");
    s
}
