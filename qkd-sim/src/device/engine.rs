//! One end's work per block for the prepare-and-measure protocols: the quantum phase and sifting
//! (a [`PmAlice`] or [`PmBob`] engine), then the distillation [`Pipeline`].

use async_trait::async_trait;
use qkd_core::channel::{AuthenticatedChannel, TranscriptChannel};
use qkd_core::distill::DistillError;
use qkd_core::distill::pipeline::{Pipeline, PipelineError, PipelineRole};
use qkd_core::{
    AuthError, AuthUsage, BlockStats, ChannelAuth, ChannelError, ClassicalChannel, DeviceError,
    Role, SecretKey,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use super::block_channel::AbortReason;
use super::config::LinkConfig;
use super::port::{QuantumPort, Transform};
use super::sifting::{run_receiver, run_sender};
use super::worker::{BlockFailure, BlockProduct, EndEngine, LinkBlockChannel, LinkChannel};
use crate::channel::QuantumChannel;
use crate::eve::{Eve, EveConfig};
use crate::protocol::{EngineConfig, PmAlice, PmBob, QuantumFrame};

/// The backend accessors of [`LinkChannel`], for wrappers that expose `auth()` and `auth_mut()`.
macro_rules! forward_to_auth_backend {
    () => {
        fn auth_usage(&self) -> AuthUsage {
            self.auth().usage()
        }
        fn auth_demand_bits(&self) -> u64 {
            self.auth().key_demand_bits()
        }
        fn replenish(&mut self, material: SecretKey) -> Result<(), AuthError> {
            self.auth_mut().replenish(material)
        }
    };
}

#[async_trait]
impl<C: ClassicalChannel> LinkChannel for AuthenticatedChannel<C, Box<dyn ChannelAuth>> {
    forward_to_auth_backend!();
}

#[async_trait]
impl<C: ClassicalChannel> LinkChannel for TranscriptChannel<C, Box<dyn ChannelAuth>> {
    async fn confirm_block(&mut self) -> Result<(), ChannelError> {
        self.confirm().await
    }
    forward_to_auth_backend!();
}

/// The quantum channel between the ends: Eve (at Alice's output), then the channel model.
///
/// Eve is re-created for every frame, so her record never grows without bound on a long-running
/// link (each frame is attacked independently anyway). Used inside Alice's port for an in-process
/// link and by the middle process of a distributed one.
pub struct ChannelStage {
    channel: QuantumChannel,
    eve: Option<EveConfig>,
    rng: Box<dyn Rng + Send>,
}

impl ChannelStage {
    /// A stage applying `eve` (if any) and then `channel`, drawing randomness from `rng`.
    pub fn new(channel: QuantumChannel, eve: Option<EveConfig>, rng: Box<dyn Rng + Send>) -> Self {
        Self { channel, eve, rng }
    }
}

impl Transform<QuantumFrame> for ChannelStage {
    fn apply(&mut self, mut frame: QuantumFrame) -> Result<QuantumFrame, String> {
        if let Some(config) = self.eve {
            let mut eve = Eve::new(config).map_err(|e| e.to_string())?;
            frame = eve
                .transmit(frame, &mut *self.rng)
                .map_err(|e| e.to_string())?;
        }
        self.channel
            .transmit(frame, &mut *self.rng)
            .map_err(|e| e.to_string())
    }
}

/// One end of a prepare-and-measure link.
pub(crate) struct PmEnd {
    role: Role,
    engine: EngineConfig,
    pipeline: Pipeline,
    port: Box<dyn QuantumPort<QuantumFrame>>,
    rng: Box<dyn Rng + Send>,
}

impl PmEnd {
    /// The end `role` of a link configured by `config`, sending (Alice) or receiving (Bob) quantum
    /// frames on `port`.
    pub(crate) fn new(
        role: Role,
        config: &LinkConfig,
        port: Box<dyn QuantumPort<QuantumFrame>>,
        rng: Box<dyn Rng + Send>,
    ) -> Result<Self, DeviceError> {
        let pipeline_role = match role {
            Role::Alice => PipelineRole::Initiator,
            Role::Bob => PipelineRole::Responder,
        };
        let pipeline = Pipeline::new(config.distill.clone(), pipeline_role)
            .map_err(|e| DeviceError::InvalidConfig(e.to_string()))?;
        Ok(Self {
            role,
            engine: config.engine_config(),
            pipeline,
            port,
            rng,
        })
    }
}

pub(crate) fn pipeline_failure(e: PipelineError) -> BlockFailure {
    match e {
        PipelineError::Distill(DistillError::QberAboveThreshold {
            bound, threshold, ..
        }) => BlockFailure::Abort(AbortReason::Qber {
            qber: bound,
            threshold,
        }),
        PipelineError::Channel(e) => e.into(),
        PipelineError::Config(_) | PipelineError::ConfigMismatch => {
            BlockFailure::Fatal(DeviceError::InvalidConfig(e.to_string()))
        }
        PipelineError::Protocol(_) => BlockFailure::Fatal(DeviceError::Hardware(e.to_string())),
        other => BlockFailure::Abort(AbortReason::PostProcessing(other.to_string())),
    }
}

#[async_trait]
impl EndEngine for PmEnd {
    async fn run_block(
        &mut self,
        _index: u64,
        classical: &mut LinkBlockChannel<'_>,
    ) -> Result<BlockProduct, BlockFailure> {
        let engine_error =
            |e: crate::SimError| BlockFailure::Fatal(DeviceError::InvalidConfig(e.to_string()));
        let sifted = match self.role {
            Role::Alice => {
                let mut engine = PmAlice::new(self.engine, &mut *self.rng).map_err(engine_error)?;
                run_sender(&mut engine, &mut *self.port, classical).await?
            }
            Role::Bob => {
                let mut engine = PmBob::new(self.engine, &mut *self.rng).map_err(engine_error)?;
                run_receiver(&mut engine, &mut *self.port, classical).await?
            }
        };
        // The pipeline's public seeds come from a ChaCha20 generator keyed by this end's
        // randomness source (the OS CSPRNG or the QRNG), fresh for every block.
        let mut seed = [0u8; 32];
        self.rng.fill_bytes(&mut seed);
        let mut seeds = ChaCha20Rng::from_seed(seed);
        let distilled = self
            .pipeline
            .run(sifted.key, classical, &mut seeds)
            .await
            .map_err(pipeline_failure)?;
        let stats = BlockStats {
            raw_bits: sifted.stats.qubits,
            sifted_bits: sifted.stats.sifted,
            sampled_bits: distilled.stats.sampled_bits,
            disclosed_bits: distilled.stats.disclosed_bits,
            qber: distilled.stats.qber_estimate,
            ..BlockStats::default()
        };
        Ok(BlockProduct {
            key: distilled.key,
            stats,
        })
    }
}
