//! Entanglement-based links (E91, BBM92): one end's work per block, and the pair source between
//! the ends.
//!
//! ```text
//!  Alice end  --SettingsFrame-->  PairSource  <--SettingsFrame--  Bob end
//!             <--DetectionFrame--            --DetectionFrame-->
//!             <======== authenticated classical channel (EntangledMsg) ========>
//! ```
//!
//! Per block, each end runs [`EntangledParty`] batches until it holds the block's sifted bits:
//! it sends its analyser settings to the source, takes its detections, sifts with the peer over
//! the classical channel, and appends the batch's key. Both ends size every batch from the bits
//! still missing (equal at both ends, since sifting is symmetric), so they agree on every batch
//! without a message. The sifted key, truncated to the block size, then goes through the same
//! distillation [`Pipeline`] as the prepare-and-measure links.
//!
//! E91 also checks its Bell test before distilling: the block's CHSH value `S` (from all its
//! batches' test rounds) must violate the classical bound with confidence, `|S| - 5 sigma > 2`
//! (`sigma` its standard error), or the block is abandoned. An intercept-resend Eve brings `|S|`
//! down to about `sqrt 2`; the quantum value is `2 sqrt 2`, and `2 sqrt 2 (1 - 2Q)` with noise.
//!
//! The source is a task of its own ([`run_source`]), in this process or in the middle process of a
//! distributed link: it waits for both ends' settings of a batch,
//! plays the pairs on the joint state vector (see [`PairSource`]), and answers each end. The
//! link's channel model applies to Bob's half (with Eve, if any, at the source's output on Bob's
//! side); Alice's half is ideal, so the model means the same as on a prepare-and-measure link.

use async_trait::async_trait;
use qkd_core::distill::pipeline::{Pipeline, PipelineRole};
use qkd_core::{BitString, BlockStats, ChannelError, ClassicalChannel, DeviceError, Role};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};

use super::block_channel::AbortReason;
use super::engine::pipeline_failure;
use super::port::MEMORY_PORT_CAPACITY;
use super::port::{MemoryPort, QuantumPort, WirePort};
use super::sifting::{decode, encode, engine_fault};
use super::worker::{BlockFailure, BlockProduct, EndEngine, LinkBlockChannel};
use crate::SimError;
use crate::protocol::e91::Chsh;
use crate::protocol::entangled::{
    BellState, Correlations, DetectionFrame, EntangledMsg, EntangledParty, PairSource, PartyResult,
    Scheme, SettingsFrame,
};
use crate::protocol::{bbm92, e91};

/// An entanglement-based protocol for [`LinkConfig::entangled`](super::LinkConfig::entangled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntangledProtocol {
    /// Ekert 1991: key from matching analysers, CHSH test rounds from the others (key fraction
    /// 2/9 of the detected pairs).
    E91,
    /// Bennett-Brassard-Mermin 1992: BB84 bases on both halves (key fraction 1/2).
    Bbm92,
}

impl EntangledProtocol {
    /// The analyser settings and round kinds.
    pub fn scheme(self) -> Scheme {
        match self {
            EntangledProtocol::E91 => e91::scheme(),
            EntangledProtocol::Bbm92 => bbm92::scheme(),
        }
    }

    /// Name reported in [`DeviceInfo`](qkd_core::DeviceInfo).
    pub fn name(self) -> &'static str {
        match self {
            EntangledProtocol::E91 => "E91",
            EntangledProtocol::Bbm92 => "BBM92",
        }
    }
}

/// Batches one block may run before the end gives up (a channel that loses almost everything).
const MAX_BATCHES_PER_BLOCK: usize = 4096;

/// An end's connection to the pair source: its settings out, its detections back.
#[async_trait]
pub(crate) trait SourceLink: Send {
    async fn send_settings(&mut self, frame: SettingsFrame) -> Result<(), ChannelError>;
    async fn recv_detections(&mut self) -> Result<DetectionFrame, ChannelError>;
}

/// The source's connection to one end: that end's settings in, its detections out.
#[async_trait]
pub(crate) trait PartyLink: Send {
    async fn recv_settings(&mut self) -> Result<SettingsFrame, ChannelError>;
    async fn send_detections(&mut self, frame: DetectionFrame) -> Result<(), ChannelError>;
}

/// One direction of in-process queues each way.
pub(crate) struct MemoryDuplex<S, R> {
    tx: MemoryPort<S>,
    rx: MemoryPort<R>,
}

/// Connected in-process links: (the end's side, the source's side).
pub(crate) fn memory_source_link() -> (
    MemoryDuplex<SettingsFrame, DetectionFrame>,
    MemoryDuplex<DetectionFrame, SettingsFrame>,
) {
    let (settings_tx, settings_rx) = MemoryPort::pair(MEMORY_PORT_CAPACITY);
    let (detections_tx, detections_rx) = MemoryPort::pair(MEMORY_PORT_CAPACITY);
    (
        MemoryDuplex {
            tx: settings_tx,
            rx: detections_rx,
        },
        MemoryDuplex {
            tx: detections_tx,
            rx: settings_rx,
        },
    )
}

#[async_trait]
impl SourceLink for MemoryDuplex<SettingsFrame, DetectionFrame> {
    async fn send_settings(&mut self, frame: SettingsFrame) -> Result<(), ChannelError> {
        self.tx.send_frame(frame).await
    }
    async fn recv_detections(&mut self) -> Result<DetectionFrame, ChannelError> {
        self.rx.recv_frame().await
    }
}

#[async_trait]
impl PartyLink for MemoryDuplex<DetectionFrame, SettingsFrame> {
    async fn recv_settings(&mut self) -> Result<SettingsFrame, ChannelError> {
        self.rx.recv_frame().await
    }
    async fn send_detections(&mut self, frame: DetectionFrame) -> Result<(), ChannelError> {
        self.tx.send_frame(frame).await
    }
}

/// Over a framed connection (TCP to or from the middle process), both directions share it.
#[async_trait]
impl<C: ClassicalChannel> SourceLink for WirePort<C> {
    async fn send_settings(&mut self, frame: SettingsFrame) -> Result<(), ChannelError> {
        QuantumPort::<SettingsFrame>::send_frame(self, frame).await
    }
    async fn recv_detections(&mut self) -> Result<DetectionFrame, ChannelError> {
        QuantumPort::<DetectionFrame>::recv_frame(self).await
    }
}

#[async_trait]
impl<C: ClassicalChannel> PartyLink for WirePort<C> {
    async fn recv_settings(&mut self) -> Result<SettingsFrame, ChannelError> {
        QuantumPort::<SettingsFrame>::recv_frame(self).await
    }
    async fn send_detections(&mut self, frame: DetectionFrame) -> Result<(), ChannelError> {
        QuantumPort::<DetectionFrame>::send_frame(self, frame).await
    }
}

/// One end of an entanglement-based link.
pub(crate) struct EntangledEnd {
    role: Role,
    protocol: EntangledProtocol,
    scheme: Scheme,
    state: BellState,
    target: usize,
    max_batch_pairs: usize,
    next_batch: u64,
    pipeline: Pipeline,
    source: Box<dyn SourceLink>,
    rng: Box<dyn Rng + Send>,
}

/// The settings needed to build an [`EntangledEnd`].
pub(crate) struct EntangledEndConfig {
    pub protocol: EntangledProtocol,
    pub state: BellState,
    pub sifted_bits_per_block: usize,
    pub max_batch_pairs: usize,
    pub distill: qkd_core::distill::pipeline::PipelineConfig,
}

impl EntangledEnd {
    pub(crate) fn new(
        role: Role,
        config: EntangledEndConfig,
        source: Box<dyn SourceLink>,
        rng: Box<dyn Rng + Send>,
    ) -> Result<Self, DeviceError> {
        let pipeline_role = match role {
            Role::Alice => PipelineRole::Initiator,
            Role::Bob => PipelineRole::Responder,
        };
        let pipeline = Pipeline::new(config.distill, pipeline_role)
            .map_err(|e| DeviceError::InvalidConfig(e.to_string()))?;
        Ok(Self {
            role,
            protocol: config.protocol,
            scheme: config.protocol.scheme(),
            state: config.state,
            target: config.sifted_bits_per_block,
            max_batch_pairs: config.max_batch_pairs.max(64),
            next_batch: 0,
            pipeline,
            source,
            rng,
        })
    }

    /// Pairs of the next batch: enough for the missing bits at the ideal key fraction (plus a
    /// margin), within the frame limit. A function of `missing` only, so both ends agree.
    fn batch_pairs(&self, missing: usize) -> usize {
        let fraction = self.scheme.key_fraction().max(1e-3);
        let wanted = (missing as f64 / fraction * 1.1).ceil() as usize + 64;
        wanted.min(self.max_batch_pairs)
    }

    /// Runs one batch: settings to the source, detections back, sifting with the peer.
    async fn batch(
        &mut self,
        pairs: usize,
        classical: &mut LinkBlockChannel<'_>,
    ) -> Result<PartyResult, BlockFailure> {
        let mut party = EntangledParty::new(
            self.role,
            self.scheme.clone(),
            self.state,
            self.next_batch,
            pairs,
            &mut *self.rng,
        )
        .map_err(engine_fault)?;
        self.next_batch += 1;
        let settings = party
            .poll_settings()
            .ok_or_else(|| engine_fault(SimError::Protocol("no settings to send".into())))?;
        self.source.send_settings(settings).await?;
        let detections = self.source.recv_detections().await?;
        party.handle_detections(&detections).map_err(engine_fault)?;
        loop {
            while let Some(msg) = party.poll_classical() {
                classical.send(encode(&msg, ENTANGLED)?).await?;
            }
            if party.is_done() {
                break;
            }
            let msg = decode::<EntangledMsg>(&classical.recv().await?, ENTANGLED)?;
            party.handle_classical(msg).map_err(engine_fault)?;
        }
        party
            .result()
            .ok_or_else(|| engine_fault(SimError::Protocol("batch did not finish".into())))
    }

    /// E91's Bell test over the block's test rounds (see the module docs); other schemes pass.
    fn bell_test(&self, tallies: &Correlations) -> Result<(), BlockFailure> {
        if self.protocol != EntangledProtocol::E91 {
            return Ok(());
        }
        let verdict = match Chsh::from_correlations(tallies) {
            Ok(chsh) if chsh.s.abs() - 5.0 * chsh.std_error > e91::CLASSICAL_BOUND => return Ok(()),
            Ok(chsh) => format!(
                "CHSH |S| = {:.3} +- {:.3} does not violate the classical bound 2 with confidence",
                chsh.s.abs(),
                chsh.std_error
            ),
            Err(e) => format!("CHSH test: {e}"),
        };
        Err(BlockFailure::Abort(AbortReason::PostProcessing(verdict)))
    }
}

/// How the parties' messages are named in errors.
const ENTANGLED: &str = "entangled message";

#[async_trait]
impl EndEngine for EntangledEnd {
    async fn run_block(
        &mut self,
        _index: u64,
        classical: &mut LinkBlockChannel<'_>,
    ) -> Result<BlockProduct, BlockFailure> {
        let mut sifted = BitString::with_capacity(self.target + self.max_batch_pairs);
        let mut pairs_sent = 0u64;
        let mut tallies = Correlations::new(self.scheme.alice().len(), self.scheme.bob().len());
        for _ in 0..MAX_BATCHES_PER_BLOCK {
            if sifted.len() >= self.target {
                break;
            }
            let pairs = self.batch_pairs(self.target - sifted.len());
            let result = self.batch(pairs, classical).await?;
            pairs_sent += pairs as u64;
            sifted.extend_from_range(&result.sifted_key, 0, result.sifted_key.len());
            tallies.merge(&result.correlations).map_err(engine_fault)?;
        }
        if sifted.len() < self.target {
            return Err(BlockFailure::Fatal(DeviceError::Hardware(format!(
                "only {} of {} sifted bits after {MAX_BATCHES_PER_BLOCK} batches: the channel \
                 delivers (almost) no coincidences",
                sifted.len(),
                self.target
            ))));
        }
        self.bell_test(&tallies)?;
        let sifted = sifted.slice(0, self.target);
        let mut seed = [0u8; 32];
        self.rng.fill_bytes(&mut seed);
        let mut seeds = ChaCha20Rng::from_seed(seed);
        let distilled = self
            .pipeline
            .run(sifted, classical, &mut seeds)
            .await
            .map_err(pipeline_failure)?;
        Ok(BlockProduct {
            key: distilled.key,
            stats: BlockStats {
                raw_bits: pairs_sent,
                sifted_bits: self.target as u64,
                sampled_bits: distilled.stats.sampled_bits,
                disclosed_bits: distilled.stats.disclosed_bits,
                qber: distilled.stats.qber_estimate,
                ..BlockStats::default()
            },
        })
    }
}

/// The pair source: for every batch, waits for both ends' settings, plays the pairs and answers
/// each end with its detections. Returns the batches served and why it stopped: an end went away
/// ([`ChannelError::Closed`]) or sent something invalid (the ends then see their connection
/// closed and fail the link).
pub(crate) async fn run_source<R: Rng + Send>(
    mut source: PairSource<R>,
    mut alice: Box<dyn PartyLink>,
    mut bob: Box<dyn PartyLink>,
) -> (u64, ChannelError) {
    let mut batches = 0;
    loop {
        let (a, b) = tokio::join!(alice.recv_settings(), bob.recv_settings());
        let (a, b) = match (a, b) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => return (batches, e),
        };
        if a.party != Role::Alice || b.party != Role::Bob {
            return (
                batches,
                ChannelError::Malformed("a settings frame names the wrong party".into()),
            );
        }
        if let Err(e) = source
            .handle_settings(a)
            .and_then(|()| source.handle_settings(b))
        {
            return (batches, ChannelError::Malformed(e.to_string()));
        }
        // Eve's record of the batch is not needed by the link: drop it so it never grows.
        drop(source.take_eve_record());
        while let Some(frame) = source.poll_detections() {
            let sent = match frame.party {
                Role::Alice => alice.send_detections(frame).await,
                Role::Bob => bob.send_detections(frame).await,
            };
            if let Err(e) = sent {
                return (batches, e);
            }
        }
        batches += 1;
    }
}
