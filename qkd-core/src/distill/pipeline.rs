//! The distillation pipeline: sifted key in, identical secret key (or an error) out.
//!
//! Both ends run a [`Pipeline`] with the same [`PipelineConfig`] over a
//! [`ClassicalChannel`] (authenticated by a wrapper, not here):
//! the *initiator* (usually Alice) holds the reference key and draws every public random seed from
//! its RNG; the *responder* (usually Bob) corrects its key towards the initiator's.
//!
//! 1. **Hello** (initiator -> responder): key length, configuration fingerprint, sampling and
//!    Cascade seeds.
//! 2. **Parameter estimation**: both derive the same random sample, exchange its bits, estimate
//!    the QBER with an upper bound and abort above the threshold; the sample is dropped from the key.
//! 3. **Cascade**: the responder corrects, the initiator answers; every parity disclosed is
//!    counted. A key longer than [`PipelineConfig::cascade_frame_bits`] is cut into frames of
//!    near-equal length that run in lock-step ([`FramedCorrector`], [`FramedResponder`]): one
//!    batch of messages per round trip, one plan per frame length, and about half the round
//!    trips of one long run.
//! 4. **Verification**: the initiator draws the hash keys *after* Cascade and sends its tags; the
//!    responder compares; on mismatch both discard the block ([`verify`]).
//! 5. **Key length**: both compute the same length from public quantities
//!    ([`keylength`](super::keylength)); zero is an error.
//! 6. **Privacy amplification**: the initiator draws the Toeplitz seed (`n + m - 1` truly random
//!    bits, sent in frames that fit the channel), both hash ([`privacy`](super::privacy)); the
//!    responder confirms with a last message, so the initiator never keeps a key that the
//!    responder failed to produce.
//!
//! A run either returns the final key with [`PipelineStats`] or fails with a [`PipelineError`];
//! it never returns a partial key, and keys that failed verification are never returned.
//!
//! Messages are serialised with `postcard`: a compact, varint-based serde format with no schema
//! to maintain, well kept, and several times smaller than JSON for these messages; their large
//! arrays (Cascade ranges and parities, revealed bits, seed words) are fixed-width byte strings
//! ([`packed`](crate::packed)), which encode with one copy.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::DistillError;
use super::cascade::{
    CascadeConfig, CascadeMessage, CascadePlan, CascadeVariant, FrameLayout, FramedCorrector,
    FramedResponder,
};
use super::estimate::{QberEstimate, RevealedBits, SEED_BYTES, Sample};
use super::keylength::{KeyLengthError, Security, asymptotic_length, finite_key_length};
use super::privacy::{PrivacyError, ToeplitzHash, seed_len};
use super::verify::{self, VerifyError, VerifyRequest, VerifyResponse, tags_needed};
use crate::bits::BitString;
use crate::channel::ClassicalChannel;
use crate::error::ChannelError;
use crate::key::SecretKey;

/// Which end of the link runs this pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PipelineRole {
    /// Holds the reference key and chooses all public seeds (Cascade responder).
    Initiator,
    /// Corrects its key towards the initiator's (Cascade corrector).
    Responder,
}

/// Version of the pipeline's messages on the wire, part of the configuration fingerprint.
/// Version 2: Cascade's parity ranges as fixed-width records sized per message; the estimation
/// sample drawn with 32-bit values.
pub const WIRE_VERSION: &[u8] = b"qkd-stack pipeline wire v2";

/// Configuration; both ends must use equal values (checked through a fingerprint).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineConfig {
    /// Abort when the QBER upper bound exceeds this (default 0.11).
    pub qber_threshold: f64,
    /// Fraction of the sifted bits revealed for parameter estimation (default 0.1).
    pub sample_fraction: f64,
    /// Failure probability of the QBER upper bound used for the abort decision (default 1e-10).
    pub estimation_eps: f64,
    /// Secrecy and correctness parameters (default `eps_sec = 1e-10`, `eps_cor = 1e-12`).
    pub eps_sec: f64,
    /// See `eps_sec`.
    pub eps_cor: f64,
    /// Finite-key length (Tomamichel et al. 2012) when true, asymptotic otherwise (default true).
    pub finite_key: bool,
    /// Cascade block-size schedule (default [`CascadeVariant::Optimized`]).
    pub cascade: CascadeVariant,
    /// Lower floor of the QBER used to plan Cascade when the sample shows (almost) no errors
    /// (default 0.005).
    pub min_plan_qber: f64,
    /// Longest Cascade frame in bits (default 2^17 = 131072; at least 1024): longer keys are
    /// corrected as frames running in lock-step (see the module notes), which halves Cascade's
    /// round trips for a 2^20-bit block; efficiency at QBER 2% is f = 1.034 at 10^5 bits
    /// against 1.030 at 10^6.
    #[serde(default = "default_frame_bits")]
    pub cascade_frame_bits: usize,
}

fn default_frame_bits() -> usize {
    1 << 17
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            qber_threshold: 0.11,
            sample_fraction: 0.1,
            estimation_eps: 1e-10,
            eps_sec: 1e-10,
            eps_cor: 1e-12,
            finite_key: true,
            cascade: CascadeVariant::Optimized,
            min_plan_qber: 0.005,
            cascade_frame_bits: default_frame_bits(),
        }
    }
}

impl PipelineConfig {
    fn validate(&self) -> Result<(), PipelineError> {
        let open01 = |x: f64| x > 0.0 && x < 1.0;
        if !(self.qber_threshold > 0.0 && self.qber_threshold <= 0.5) {
            return Err(PipelineError::Config("qber_threshold must be in (0, 0.5]"));
        }
        if !(self.sample_fraction > 0.0 && self.sample_fraction < 1.0) {
            return Err(PipelineError::Config("sample_fraction must be in (0, 1)"));
        }
        if !open01(self.estimation_eps) || !open01(self.eps_sec) || !open01(self.eps_cor) {
            return Err(PipelineError::Config("eps values must be in (0, 1)"));
        }
        if !(self.min_plan_qber > 0.0 && self.min_plan_qber < 0.5) {
            return Err(PipelineError::Config("min_plan_qber must be in (0, 0.5)"));
        }
        if self.cascade_frame_bits < 1024 {
            return Err(PipelineError::Config(
                "cascade_frame_bits must be at least 1024",
            ));
        }
        Ok(())
    }

    /// A 64-bit fingerprint exchanged in the Hello message: FNV-1a of the wire-format version
    /// ([`WIRE_VERSION`]) and the configuration's postcard encoding, so that ends whose
    /// releases encode messages differently fail at the Hello, not in the middle of a block.
    fn fingerprint(&self) -> u64 {
        let bytes = postcard::to_allocvec(self).unwrap_or_default();
        WIRE_VERSION
            .iter()
            .chain(&bytes)
            .fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
                (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
            })
    }
}

/// What went wrong. No variant carries key material.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum PipelineError {
    /// Invalid configuration.
    #[error("invalid pipeline configuration: {0}")]
    Config(&'static str),
    /// The two ends hold sifted keys of different lengths.
    #[error("sifted key lengths differ: ours {ours}, peer {peer}")]
    LengthMismatch {
        /// Our length.
        ours: u64,
        /// The peer's length.
        peer: u64,
    },
    /// The sifted key is too short to sample and keep a key.
    #[error("sifted key of {0} bits is too short")]
    KeyTooShort(usize),
    /// The two ends use different configurations.
    #[error("the peer's pipeline configuration differs from ours")]
    ConfigMismatch,
    /// Estimation or Cascade failed (including a QBER above the threshold).
    #[error(transparent)]
    Distill(#[from] DistillError),
    /// Verification failed: the keys differ after error correction; the block was discarded.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// Invalid key-length parameters.
    #[error(transparent)]
    KeyLength(#[from] KeyLengthError),
    /// Privacy amplification rejected its input.
    #[error(transparent)]
    Privacy(#[from] PrivacyError),
    /// No secret key can be extracted from this block (final length zero).
    #[error("final key length is zero: nothing secret can be extracted from this block")]
    ZeroLength,
    /// The classical channel failed.
    #[error(transparent)]
    Channel(#[from] ChannelError),
    /// The peer sent something unexpected or undecodable.
    #[error("protocol violation: {0}")]
    Protocol(String),
}

/// Statistics of one run (both ends report the same values except `errors_corrected`, which
/// only the responder knows, and the durations).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PipelineStats {
    /// Bits of sifted key that entered the pipeline.
    pub sifted_bits: u64,
    /// Bits revealed (and dropped) for parameter estimation.
    pub sampled_bits: u64,
    /// Errors in the sample.
    pub sample_errors: u64,
    /// Point estimate of the QBER from the sample.
    pub qber_estimate: f64,
    /// Upper bound on the key's QBER used for the abort decision.
    pub qber_upper_bound: f64,
    /// Parity bits disclosed by Cascade.
    pub cascade_disclosed: u64,
    /// Bits flipped by Cascade (responder only; 0 at the initiator).
    pub errors_corrected: u64,
    /// Cascade round trips.
    pub cascade_round_trips: u32,
    /// Verification tag bits disclosed.
    pub verification_bits: u64,
    /// Total disclosed about the key: Cascade parities plus verification tags.
    pub disclosed_bits: u64,
    /// Bits entering privacy amplification.
    pub reconciled_bits: u64,
    /// Bits of the final key.
    pub final_bits: u64,
    /// Time spent in parameter estimation (including its messages).
    pub estimation_time: Duration,
    /// Time spent in Cascade.
    pub cascade_time: Duration,
    /// Time spent in verification.
    pub verification_time: Duration,
    /// Time spent in privacy amplification (including sending the seed).
    pub privacy_time: Duration,
    /// Wall-clock time of the whole run.
    pub total_time: Duration,
}

/// The result of a successful run: the final key (zeroized on drop) and statistics.
#[derive(Debug, Clone)]
pub struct DistilledKey {
    /// The final secret key, identical at both ends.
    pub key: BitString,
    /// How it was produced.
    pub stats: PipelineStats,
}

impl DistilledKey {
    /// The key as bytes (the last byte zero-padded when the length is not a multiple of 8).
    pub fn to_secret_key(&self) -> SecretKey {
        self.key.to_secret_key()
    }
}

/// The messages of the pipeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum Message {
    Hello {
        key_len: u64,
        config: u64,
        sample_seed: [u8; SEED_BYTES],
        cascade_seed: [u8; 32],
    },
    Revealed(RevealedBits),
    /// One Cascade message per running frame, in frame order.
    Cascade(Vec<CascadeMessage>),
    Verify(VerifyRequest),
    Verified(VerifyResponse),
    PrivacySeed {
        output_len: u64,
        seed_bits: u64,
        /// Seed words in this frame; more `SeedChunk`s follow until `seed_bits` are sent.
        #[serde(with = "crate::packed::words")]
        words: Vec<u64>,
    },
    SeedChunk(#[serde(with = "crate::packed::words")] Vec<u64>),
    /// The responder has its final key (sent last, so that the initiator never keeps a key the
    /// responder lacks).
    Done {
        final_bits: u64,
    },
}

/// One end of the distillation pipeline.
///
/// Clones share one cache of Cascade plans: building a plan (shuffles and block masks) costs more
/// than running Cascade on it, so consecutive blocks of one link reuse it. The initiator draws the
/// Cascade shuffle seed once per pipeline and sends it with every block; shuffles are public
/// (announced in the clear) and deterministic shuffles are standard in Cascade, so reusing them
/// leaks nothing beyond the parities, all of which are counted as disclosed.
#[derive(Debug, Clone)]
pub struct Pipeline {
    config: PipelineConfig,
    role: PipelineRole,
    plans: Arc<Mutex<PlanCache>>,
}

/// How many Cascade plans one pipeline keeps (a plan for 1e6 bits takes about 100 MB).
const PLAN_CACHE_ENTRIES: usize = 4;

/// What a Cascade plan depends on: shuffle seed, key length, and the block sizes the planning
/// QBER gives (the optimised schedules round them to powers of two, so neighbouring estimates
/// share a plan).
type PlanKey = ([u8; 32], usize, Vec<usize>);

/// Cascade plans by [`PlanKey`], most recently used last.
#[derive(Default)]
struct PlanCache {
    cascade_seed: Option<[u8; 32]>,
    plans: Vec<(PlanKey, Arc<CascadePlan>)>,
}

impl std::fmt::Debug for PlanCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PlanCache({} plans)", self.plans.len())
    }
}

/// The planning QBER rounded up to a geometric grid of eight steps per octave (about 9% apart), so
/// that blocks whose estimates differ only by sampling noise share one plan; rounding up plans
/// slightly smaller blocks, never larger. Both ends round the same estimate the same way.
fn planning_qber(q: f64) -> f64 {
    2f64.powf((q.log2() * 8.0).ceil() / 8.0)
}

struct Io<'a, C: ClassicalChannel + ?Sized> {
    channel: &'a mut C,
    /// Size of the last message sent: the next one starts with that capacity (Cascade's
    /// requests shrink slowly from round to round), instead of growing from empty by doubling.
    last_len: usize,
}

/// A postcard output that starts with a given capacity.
struct Presized(Vec<u8>);

impl postcard::ser_flavors::Flavor for Presized {
    type Output = Vec<u8>;
    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(data);
        Ok(())
    }
    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.push(data);
        Ok(())
    }
    fn finalize(self) -> postcard::Result<Vec<u8>> {
        Ok(self.0)
    }
}

impl<C: ClassicalChannel + ?Sized> Io<'_, C> {
    async fn send(&mut self, msg: &Message) -> Result<(), PipelineError> {
        let buffer = Presized(Vec::with_capacity(self.last_len.max(64)));
        let bytes = postcard::serialize_with_flavor(msg, buffer)
            .map_err(|e| PipelineError::Protocol(format!("encode: {e}")))?;
        self.last_len = bytes.len();
        Ok(self.channel.send(bytes).await?)
    }

    async fn recv(&mut self) -> Result<Message, PipelineError> {
        let bytes = self.channel.recv().await?;
        postcard::from_bytes(&bytes).map_err(|e| PipelineError::Protocol(format!("decode: {e}")))
    }
}

fn unexpected(what: &str) -> PipelineError {
    PipelineError::Protocol(format!("unexpected message, expected {what}"))
}

impl Pipeline {
    /// A pipeline end with `config` (validated) in `role`.
    pub fn new(config: PipelineConfig, role: PipelineRole) -> Result<Self, PipelineError> {
        config.validate()?;
        Ok(Self {
            config,
            role,
            plans: Arc::new(Mutex::new(PlanCache::default())),
        })
    }

    fn lock_plans(&self) -> std::sync::MutexGuard<'_, PlanCache> {
        // The cache holds only immutable plans; a panic elsewhere cannot leave it inconsistent.
        self.plans.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The Cascade plan for this seed, key length and planning QBER, from the cache or built.
    fn plan(&self, seed: [u8; 32], n: usize, qber: f64) -> Result<Arc<CascadePlan>, PipelineError> {
        let key: PlanKey = (seed, n, self.config.cascade.block_sizes(n, qber));
        if let Some(plan) = {
            let mut cache = self.lock_plans();
            let found = cache.plans.iter().position(|(k, _)| *k == key);
            found.map(|i| {
                let entry = cache.plans.remove(i);
                let plan = entry.1.clone();
                cache.plans.push(entry);
                plan
            })
        } {
            return Ok(plan);
        }
        // Built outside the lock: planning a large block takes a while.
        let config = CascadeConfig::new(self.config.cascade.clone(), seed);
        let plan = CascadePlan::shared(&config, n, qber)?;
        let mut cache = self.lock_plans();
        if cache.plans.len() >= PLAN_CACHE_ENTRIES {
            cache.plans.remove(0);
        }
        cache.plans.push((key, plan.clone()));
        Ok(plan)
    }

    /// The configuration.
    pub fn config(&self) -> &PipelineConfig {
        &self.config
    }

    /// This end's role.
    pub fn role(&self) -> PipelineRole {
        self.role
    }

    /// Runs the pipeline on `sifted` over `channel`. The initiator draws its seeds from `rng`;
    /// the responder does not use it.
    pub async fn run<C, R>(
        &self,
        sifted: BitString,
        channel: &mut C,
        rng: &mut R,
    ) -> Result<DistilledKey, PipelineError>
    where
        C: ClassicalChannel + ?Sized,
        R: CryptoRng + ?Sized,
    {
        let start = Instant::now();
        let mut stats = PipelineStats {
            sifted_bits: sifted.len() as u64,
            ..PipelineStats::default()
        };
        let n_sifted = sifted.len();
        let sample_size = ((n_sifted as f64) * self.config.sample_fraction).round() as usize;
        if n_sifted < 2 || sample_size == 0 || sample_size >= n_sifted {
            return Err(PipelineError::KeyTooShort(n_sifted));
        }
        let mut io = Io {
            channel,
            last_len: 0,
        };
        let initiator = self.role == PipelineRole::Initiator;

        // 1. Hello.
        let t = Instant::now();
        let (sample_seed, cascade_seed) = if initiator {
            let mut sample_seed = [0u8; SEED_BYTES];
            rng.fill_bytes(&mut sample_seed);
            let cascade_seed = *self.lock_plans().cascade_seed.get_or_insert_with(|| {
                let mut seed = [0u8; 32];
                rng.fill_bytes(&mut seed);
                seed
            });
            io.send(&Message::Hello {
                key_len: n_sifted as u64,
                config: self.config.fingerprint(),
                sample_seed,
                cascade_seed,
            })
            .await?;
            (sample_seed, cascade_seed)
        } else {
            match io.recv().await? {
                Message::Hello {
                    key_len,
                    config,
                    sample_seed,
                    cascade_seed,
                } => {
                    if key_len != n_sifted as u64 {
                        return Err(PipelineError::LengthMismatch {
                            ours: n_sifted as u64,
                            peer: key_len,
                        });
                    }
                    if config != self.config.fingerprint() {
                        return Err(PipelineError::ConfigMismatch);
                    }
                    (sample_seed, cascade_seed)
                }
                _ => return Err(unexpected("Hello")),
            }
        };

        // 2. Parameter estimation: the initiator reveals first, then the responder.
        let sample = Sample::choose(n_sifted, sample_size, &sample_seed)?;
        let mine = sample.reveal(&sifted)?;
        let theirs = if initiator {
            io.send(&Message::Revealed(mine.clone())).await?;
            match io.recv().await? {
                Message::Revealed(r) => r,
                _ => return Err(unexpected("Revealed")),
            }
        } else {
            let r = match io.recv().await? {
                Message::Revealed(r) => r,
                _ => return Err(unexpected("Revealed")),
            };
            io.send(&Message::Revealed(mine.clone())).await?;
            r
        };
        let key = sample.remove_from(&sifted)?;
        drop(sifted);
        let n = key.len();
        let estimate = QberEstimate::from_revealed(&mine, &theirs, n, self.config.estimation_eps)?;
        stats.sampled_bits = sample.len() as u64;
        stats.sample_errors = estimate.errors as u64;
        stats.qber_estimate = estimate.qber;
        stats.qber_upper_bound = estimate.upper_bound;
        stats.reconciled_bits = n as u64;
        estimate.check(self.config.qber_threshold)?;
        stats.estimation_time = t.elapsed();

        // 3. Cascade.
        let t = Instant::now();
        let plan_qber = planning_qber(estimate.qber.clamp(self.config.min_plan_qber, 0.49));
        let layout = FrameLayout::new(n, self.config.cascade_frame_bits)?;
        let plans = layout
            .lengths()
            .iter()
            .map(|&len| self.plan(cascade_seed, len, plan_qber))
            .collect::<Result<Vec<_>, _>>()?;
        let key = if initiator {
            let mut responder = FramedResponder::new(&key, &layout, &plans)?;
            drop(key);
            loop {
                let batch = match io.recv().await? {
                    Message::Cascade(m) => m,
                    _ => return Err(unexpected("Cascade")),
                };
                match responder.handle(&batch)? {
                    Some(replies) => io.send(&Message::Cascade(replies)).await?,
                    None => break,
                }
            }
            stats.cascade_disclosed = responder.stats().parities_disclosed;
            stats.cascade_round_trips = responder.stats().round_trips;
            responder.into_key()
        } else {
            let mut corrector = FramedCorrector::new(&key, &layout, &plans)?;
            drop(key);
            let mut batch = corrector.start()?;
            loop {
                io.send(&Message::Cascade(batch)).await?;
                if corrector.is_finished() {
                    break;
                }
                let replies = match io.recv().await? {
                    Message::Cascade(m) => m,
                    _ => return Err(unexpected("Cascade")),
                };
                batch = corrector.handle(&replies)?;
            }
            let cascade = corrector.stats();
            stats.cascade_disclosed = cascade.parities_disclosed;
            stats.cascade_round_trips = cascade.round_trips;
            stats.errors_corrected = cascade.errors_corrected;
            corrector.into_key()?
        };
        stats.cascade_time = t.elapsed();

        // 4. Verification.
        let t = Instant::now();
        let tags = tags_needed(n, self.config.eps_cor)?;
        if initiator {
            let hash_keys = (0..tags).map(|_| rng.next_u64()).collect();
            let request = VerifyRequest::new(&key, hash_keys)?;
            io.send(&Message::Verify(request)).await?;
            match io.recv().await? {
                Message::Verified(resp) => verify::finish(&resp)?,
                _ => return Err(unexpected("Verified")),
            }
        } else {
            let request = match io.recv().await? {
                Message::Verify(r) => r,
                _ => return Err(unexpected("Verify")),
            };
            if request.tags.len() != tags {
                return Err(PipelineError::Protocol(
                    "wrong number of verification tags".into(),
                ));
            }
            let (response, outcome) = verify::respond(&key, &request);
            io.send(&Message::Verified(response)).await?;
            outcome?;
        }
        stats.verification_bits = 64 * tags as u64;
        stats.disclosed_bits = stats.cascade_disclosed + stats.verification_bits;
        stats.verification_time = t.elapsed();

        // 5. Key length.
        let final_len = if self.config.finite_key {
            let security = Security {
                eps_sec: self.config.eps_sec,
                eps_cor: self.config.eps_cor,
            };
            finite_key_length(
                n as u64,
                stats.sampled_bits,
                estimate.qber,
                stats.cascade_disclosed,
                stats.verification_bits,
                security,
            )?
        } else {
            asymptotic_length(
                n as u64,
                estimate.qber,
                stats.cascade_disclosed,
                stats.verification_bits,
            )?
        };
        let final_len = usize::try_from(final_len).unwrap_or(usize::MAX).min(n);
        if final_len == 0 {
            return Err(PipelineError::ZeroLength);
        }

        // 6. Privacy amplification.
        let t = Instant::now();
        let seed_bits = seed_len(n, final_len);
        // Frames carry at most max_frame_len bytes; keep a margin for the envelope.
        let words_per_frame = (io.channel.max_frame_len().saturating_sub(64) / 10).max(1);
        let seed = if initiator {
            let mut words: Vec<u64> = (0..seed_bits.div_ceil(64))
                .map(|_| rng.next_u64())
                .collect();
            let seed = BitString::from_words(std::mem::take(&mut words), seed_bits);
            let mut chunks = seed.words().chunks(words_per_frame);
            io.send(&Message::PrivacySeed {
                output_len: final_len as u64,
                seed_bits: seed_bits as u64,
                words: chunks.next().unwrap_or(&[]).to_vec(),
            })
            .await?;
            for chunk in chunks {
                io.send(&Message::SeedChunk(chunk.to_vec())).await?;
            }
            seed
        } else {
            let (output_len, bits, mut words) = match io.recv().await? {
                Message::PrivacySeed {
                    output_len,
                    seed_bits,
                    words,
                } => (output_len, seed_bits, words),
                _ => return Err(unexpected("PrivacySeed")),
            };
            if output_len != final_len as u64 || bits != seed_bits as u64 {
                return Err(PipelineError::Protocol(format!(
                    "peer computed a final length of {output_len} bits, we computed {final_len}"
                )));
            }
            let total = seed_bits.div_ceil(64);
            while words.len() < total {
                match io.recv().await? {
                    Message::SeedChunk(more) => words.extend_from_slice(&more),
                    _ => return Err(unexpected("SeedChunk")),
                }
            }
            if words.len() != total {
                return Err(PipelineError::Protocol(
                    "privacy seed has the wrong length".into(),
                ));
            }
            BitString::from_words(words, seed_bits)
        };
        let final_key = ToeplitzHash::new(seed, n, final_len)?.hash(&key)?;
        if initiator {
            match io.recv().await? {
                Message::Done { final_bits } if final_bits == final_len as u64 => {}
                _ => return Err(unexpected("Done")),
            }
        } else {
            io.send(&Message::Done {
                final_bits: final_len as u64,
            })
            .await?;
        }
        stats.final_bits = final_key.len() as u64;
        stats.privacy_time = t.elapsed();
        stats.total_time = start.elapsed();
        Ok(DistilledKey {
            key: final_key,
            stats,
        })
    }
}

#[cfg(test)]
mod plan_cache_tests {
    use super::*;

    #[test]
    fn planning_qber_keeps_two_significant_digits() {
        for q in [0.001, 0.0094, 0.0101, 0.02, 0.0496, 0.123] {
            let p = planning_qber(q);
            assert!(
                p >= q && p < q * 1.0906,
                "{q} -> {p}: rounded up by less than one step"
            );
        }
        assert_eq!(
            planning_qber(0.0095).to_bits(),
            planning_qber(0.0101).to_bits()
        );
        assert_eq!(planning_qber(0.125), 0.125, "grid points map to themselves");
    }

    #[test]
    fn plans_are_reused_and_bounded() {
        let pipeline = Pipeline::new(PipelineConfig::default(), PipelineRole::Initiator).unwrap();
        let a = pipeline.plan([1; 32], 4096, 0.02).unwrap();
        let b = pipeline.plan([1; 32], 4096, 0.02).unwrap();
        assert!(Arc::ptr_eq(&a, &b), "same parameters reuse the plan");
        // 0.021 gives the Optimized schedule of 0.02 (block sizes are powers of two).
        let e = pipeline.plan([1; 32], 4096, 0.021).unwrap();
        assert!(
            Arc::ptr_eq(&a, &e),
            "a QBER with the same block sizes shares the plan"
        );
        let c = pipeline.clone().plan([1; 32], 4096, 0.03).unwrap();
        assert!(!Arc::ptr_eq(&a, &c), "other block sizes get their own plan");
        // Fill the cache: `a` is now the least recently used entry.
        for seed in 2..=PLAN_CACHE_ENTRIES as u8 {
            pipeline.plan([seed; 32], 4096, 0.02).unwrap();
        }
        assert_eq!(pipeline.lock_plans().plans.len(), PLAN_CACHE_ENTRIES);
        let d = pipeline.plan([1; 32], 4096, 0.02).unwrap();
        assert!(
            !Arc::ptr_eq(&a, &d),
            "the least recently used plan was evicted"
        );
    }
}
