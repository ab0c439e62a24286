//! Final secret bits per block against the share of the sifted key sampled for parameter
//! estimation, on the simulated link of `benches/link.rs` (BB84, 2^20 sifted bits, QBER 2%,
//! Cascade + finite-key privacy amplification), next to the fraction
//! `keylength::optimal_sample_fraction` picks for that block, which `LinkConfig::bb84` uses.
//!
//! ```sh
//! cargo run --release --example sample_fraction [blocks per fraction, default 6]
//! ```

use qkd_core::{DeviceError, QuantumDevice};
use qkd_sim::device::{LinkConfig, SimulatedLink};
use qkd_sim::qrng::RandomSource;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let blocks: usize = match std::env::args().nth(1) {
        Some(arg) => arg.parse()?,
        None => 6,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let base = LinkConfig::bb84(1 << 20, 0.04);
    let chosen = base.distill.sample_fraction;
    println!("sifted bits per block: {}", base.sifted_bits_per_block);
    println!("fraction  mean final bits over {blocks} blocks");
    for fraction in [0.02, 0.03, 0.04, 0.05, chosen, 0.07, 0.1, 0.2] {
        let mut config = base.clone();
        config.randomness = RandomSource::Seeded(1);
        config.distill.sample_fraction = fraction;
        let final_bits = runtime.block_on(async {
            let (alice, bob) = SimulatedLink::start(config)?;
            // A block verification discards at both ends (rare) counts as zero bits.
            let mut total = 0u64;
            for _ in 0..blocks {
                match tokio::join!(alice.next_block(), bob.next_block()) {
                    (Ok(a), Ok(b)) => {
                        assert_eq!(a.key, b.key, "both ends deliver the same key");
                        total += a.stats.final_bits;
                    }
                    (Err(DeviceError::PostProcessing { .. }), Err(_)) => {}
                    (a, b) => {
                        a?;
                        b?;
                    }
                }
            }
            Ok::<_, Box<dyn std::error::Error>>(total as f64 / blocks as f64)
        })?;
        let mark = if fraction == chosen {
            "  <- optimal_sample_fraction"
        } else {
            ""
        };
        println!("{fraction:8.4}  {final_bits:>10.0}{mark}");
    }
    Ok(())
}
