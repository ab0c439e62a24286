//! In-process driver: Alice -> Eve -> channel -> Bob in one thread.

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use super::{ClassicalMessage, Engine, EngineConfig, PmAlice, PmBob, SiftOutcome};
use crate::SimError;
use crate::channel::QuantumChannel;
use crate::eve::{Eve, EveConfig, EveRecord};

/// Everything [`run_in_process`] needs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SimConfig {
    /// Protocol, backend and key length (shared by both ends).
    pub engine: EngineConfig,
    /// The quantum channel between Eve (at Alice's output) and Bob's measurement.
    pub channel: QuantumChannel,
    /// The eavesdropper, if any.
    pub eve: Option<EveConfig>,
}

impl SimConfig {
    /// An ideal channel without Eve.
    pub fn new(engine: EngineConfig) -> Self {
        Self {
            engine,
            channel: QuantumChannel::ideal(),
            eve: None,
        }
    }
}

/// What Eve knows about the final sifted key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EveKnowledge {
    /// Bits of the sifted key.
    pub sifted_bits: u64,
    /// Sifted bits whose qubit she measured.
    pub attacked: u64,
    /// Attacked sifted bits where her guess equals Alice's bit.
    pub correct: u64,
}

impl EveKnowledge {
    /// Fraction of attacked sifted bits she guessed right (0 when she attacked none).
    pub fn accuracy(&self) -> f64 {
        if self.attacked == 0 {
            0.0
        } else {
            self.correct as f64 / self.attacked as f64
        }
    }
}

/// The result of [`run_in_process`].
#[derive(Debug, Clone)]
pub struct RunReport {
    /// Alice's sifted key and counts.
    pub alice: SiftOutcome,
    /// Bob's sifted key and counts.
    pub bob: SiftOutcome,
    /// Positions where the two sifted keys differ (the true error count).
    pub errors: u64,
    /// Eve's record, when she was present.
    pub eve: Option<EveRecord>,
    /// What Eve knows about the sifted key, when she was present.
    pub eve_knowledge: Option<EveKnowledge>,
}

impl RunReport {
    /// True quantum bit error rate of the sifted keys (0 for empty keys).
    pub fn qber(&self) -> f64 {
        if self.alice.key.is_empty() {
            0.0
        } else {
            self.errors as f64 / self.alice.key.len() as f64
        }
    }
}

/// Independent RNG streams derived from one seed: Alice, Bob, the channel and Eve each get their own.
fn stream(seed: u64, id: u64) -> StdRng {
    // SplitMix64 finaliser over (seed, id) so that nearby seeds give unrelated streams.
    let mut z = seed ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    StdRng::seed_from_u64(z ^ (z >> 31))
}

/// Runs a prepare-and-measure protocol in process: Alice's frames pass through Eve (if any) and
/// then the channel to Bob; classical messages pass unchanged. Deterministic for a given `seed`.
pub fn run_in_process(config: &SimConfig, seed: u64) -> Result<RunReport, SimError> {
    config.channel.validate()?;
    let mut alice = PmAlice::new(config.engine, stream(seed, 1))?;
    let mut bob = PmBob::new(config.engine, stream(seed, 2))?;
    let mut channel_rng = stream(seed, 3);
    let mut eve_rng = stream(seed, 4);
    let mut eve = config.eve.map(Eve::new).transpose()?;
    // (frame, kept positions) in sift order, to map Eve's record onto the sifted key.
    let mut sifts: Vec<(u64, Vec<u64>)> = Vec::new();
    loop {
        let mut progressed = false;
        while let Some(mut frame) = alice.poll_frame() {
            progressed = true;
            if let Some(e) = eve.as_mut() {
                frame = e.transmit(frame, &mut eve_rng)?;
            }
            frame = config.channel.transmit(frame, &mut channel_rng)?;
            bob.handle_frame(frame)?;
        }
        while let Some(msg) = bob.poll_classical() {
            progressed = true;
            alice.handle_classical(msg)?;
        }
        while let Some(msg) = alice.poll_classical() {
            progressed = true;
            if let (Some(_), ClassicalMessage::Sift { seq, keep }) = (&eve, &msg) {
                sifts.push((*seq, keep.clone()));
            }
            bob.handle_classical(msg)?;
        }
        if alice.is_finished() && bob.is_finished() {
            break;
        }
        if !progressed {
            return Err(SimError::Protocol("engines stalled".into()));
        }
    }
    let (Some(a), Some(b)) = (alice.take_outcome(), bob.take_outcome()) else {
        return Err(SimError::Protocol("finished without outcome".into()));
    };
    if a.key.len() != b.key.len() {
        return Err(SimError::Protocol(format!(
            "sifted lengths differ: Alice {} Bob {}",
            a.key.len(),
            b.key.len()
        )));
    }
    let errors = a.key.hamming_distance(&b.key) as u64;
    let record = eve.map(Eve::into_record);
    let eve_knowledge = record
        .as_ref()
        .map(|r| knowledge(r, &sifts, &a, config.engine.protocol));
    Ok(RunReport {
        alice: a,
        bob: b,
        errors,
        eve: record,
        eve_knowledge,
    })
}

fn knowledge(
    record: &EveRecord,
    sifts: &[(u64, Vec<u64>)],
    alice: &SiftOutcome,
    protocol: super::Protocol,
) -> EveKnowledge {
    let total = alice.key.len();
    let mut k = EveKnowledge {
        sifted_bits: total as u64,
        ..EveKnowledge::default()
    };
    let mut pos = 0usize;
    'frames: for (seq, keep) in sifts {
        let fr = record.frame(*seq);
        for (w, &word) in keep.iter().enumerate() {
            let mut m = word;
            while m != 0 {
                if pos >= total {
                    break 'frames;
                }
                let i = w * 64 + m.trailing_zeros() as usize;
                m &= m - 1;
                if let Some(guess) = fr.and_then(|f| f.guess(i, protocol)) {
                    k.attacked += 1;
                    if guess == alice.key.get(pos) {
                        k.correct += 1;
                    }
                }
                pos += 1;
            }
        }
    }
    k
}
