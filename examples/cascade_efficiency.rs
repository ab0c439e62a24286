//! Prints the Cascade efficiency table: for each variant, QBER and key length, the mean
//! efficiency f = disclosed / (n h(Q)) over many runs (with its standard error), the frame error
//! rate (runs that left residual errors), and the mean round trips.
//!
//! Q is the channel's error probability: each bit of the noisy key is flipped independently
//! with probability Q, and the plan is built for that Q (the "known QBER" setting of the
//! literature).
//!
//! ```text
//! cargo run --release --no-default-features --example cascade_efficiency [RUN_SCALE]
//! ```
//!
//! `RUN_SCALE` (default 1.0) multiplies the number of runs per cell (400 at n = 1e4, 60 at
//! 1e5, 12 at 1e6).

use std::time::Instant;

use qkd_core::BitString;
use qkd_core::distill::binary_entropy;
use qkd_core::distill::cascade::{
    CascadeConfig, CascadePlan, CascadeVariant, reconcile_in_process,
};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let scale: f64 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1.0);
    println!(
        "| variant | QBER | n | runs | mean f | std err of f | frame error rate | mean round trips | mean s/run |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for variant in [
        CascadeVariant::Original,
        CascadeVariant::YanEtAl,
        CascadeVariant::Optimized,
    ] {
        for q in [0.01, 0.02, 0.05, 0.08] {
            for (n, runs) in [(10_000usize, 400.0), (100_000, 60.0), (1_000_000, 12.0)] {
                let runs = ((runs * scale) as usize).max(2);
                let config = CascadeConfig::new(variant.clone(), [7; 32]);
                let plan = CascadePlan::shared(&config, n, q)?;
                let mut rng = ChaCha8Rng::seed_from_u64(n as u64 ^ (q * 1e4) as u64);
                let (mut sum, mut sum2, mut frames, mut rounds) = (0.0, 0.0, 0usize, 0u64);
                let start = Instant::now();
                for _ in 0..runs {
                    let a = BitString::random(n, &mut rng);
                    let b = a.noisy_copy(q, &mut rng);
                    let out = reconcile_in_process(a, b, plan.clone())?;
                    let f = out.stats.parities_disclosed as f64 / (n as f64 * binary_entropy(q));
                    sum += f;
                    sum2 += f * f;
                    rounds += u64::from(out.stats.round_trips);
                    if out.corrected != out.reference {
                        frames += 1;
                    }
                }
                let r = runs as f64;
                let mean = sum / r;
                let sd = ((sum2 / r - mean * mean).max(0.0) * r / (r - 1.0)).sqrt();
                println!(
                    "| {variant:?} | {q} | {n} | {runs} | {mean:.3} | {:.4} | {frames}/{runs} | {:.1} | {:.4} |",
                    sd / r.sqrt(),
                    rounds as f64 / r,
                    start.elapsed().as_secs_f64() / r
                );
            }
        }
    }
    Ok(())
}
