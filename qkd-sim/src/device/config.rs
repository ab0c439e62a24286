//! Configuration of a simulated link.

use std::time::Duration;

use qkd_core::auth::{AesGcmAuth, AesGcmPolicy, WegmanCarterAuth, WegmanCarterPolicy};
use qkd_core::distill::keylength::{Security, optimal_sample_fraction};
use qkd_core::distill::pipeline::PipelineConfig;
use qkd_core::{ChannelAuth, DeviceError, NoAuth, Role, SecretKey};
use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};

use crate::channel::QuantumChannel;
use crate::eve::EveConfig;
use crate::protocol::{Backend, EngineConfig, MAX_REGISTER_QUBITS, Protocol};
use crate::qrng::RandomSource;

use super::entangled::EntangledProtocol;

/// How the classical channel between the two ends is authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthConfig {
    /// No authentication (baselines only: not secure against an active attacker).
    None,
    /// AES-256-GCM with keys rotated from fresh QKD key ([`AesGcmAuth`]); the pre-shared
    /// bootstrap holds [`AES_GCM_BOOTSTRAP_KEYS`] keys of 256 bits.
    AesGcm {
        /// Frames one direction protects under one key before rotating to the next.
        max_messages_per_key: u64,
    },
    /// Wegman-Carter: GHASH with one-time-pad tags, information-theoretically secure
    /// ([`WegmanCarterAuth`]); every frame consumes 128 bits of pad at each end.
    WegmanCarter,
    /// SLH-DSA-SHAKE-128f signatures (FIPS 205, the paper's SPHINCS+ option; feature `pq-auth`).
    /// Each end signs with its own key pair, generated from the link's randomness, and verifies
    /// with the peer's public key; no shared secret is consumed. In-process links only (the
    /// public keys are exchanged out of band by [`SimulatedLink`](super::SimulatedLink)).
    SlhDsa,
    /// SLH-DSA-SHA2-128f signatures (FIPS 205 over SHA-256: the same construction and sizes as
    /// [`SlhDsa`](Self::SlhDsa), about 15x faster here with the CPU's SHA extensions; feature
    /// `pq-auth`), set up like [`SlhDsa`](Self::SlhDsa).
    SlhDsaSha2,
    /// ML-DSA-44 signatures (FIPS 204, a faster post-quantum option; feature `pq-auth`), set up
    /// like [`SlhDsa`](Self::SlhDsa).
    MlDsa,
}

/// Which classical frames the authentication backend protects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthScope {
    /// Every frame is sealed by the sender and checked on arrival
    /// ([`AuthenticatedChannel`](qkd_core::channel::AuthenticatedChannel)): a tampered frame is
    /// caught at once. One seal per frame (a signature per Cascade round trip with the signature
    /// backends, a pad per frame with Wegman-Carter).
    #[default]
    EveryFrame,
    /// The whole transcript of a block is confirmed once, after the end-of-block handshake and
    /// before the block's key is released ([`TranscriptChannel`](qkd_core::channel::TranscriptChannel)):
    /// one seal per end per block, whatever the number of round trips. A tampered block is caught
    /// at its end and fails the link. With Wegman-Carter this trades information-theoretic for
    /// computational security (SHA-256 collision resistance).
    BlockTranscript,
}

/// The authentication backends of both ends of a link: (Alice, Bob).
pub type AuthPair = (Box<dyn ChannelAuth>, Box<dyn ChannelAuth>);

/// Keys of 256 bits in the pre-shared AES-GCM bootstrap (key 0, spares, and the reserve key).
pub const AES_GCM_BOOTSTRAP_KEYS: usize = 8;
/// Pad pairs (one pad per direction) in the pre-shared Wegman-Carter bootstrap: the reserve plus
/// the low watermark of [`wegman_carter_policy`]. One block's classical exchange (every Cascade
/// round trip is a frame) must fit in it, since fresh pads arrive only at the end of a block.
pub const WEGMAN_CARTER_BOOTSTRAP_PADS: usize = 64 + 8192;

/// The Wegman-Carter policy of a link: 64 reserve pads, and demand for key whenever fewer than
/// 8192 pads per direction are left.
pub fn wegman_carter_policy() -> WegmanCarterPolicy {
    WegmanCarterPolicy {
        reserve_pads: 64,
        low_watermark_pads: 8192,
    }
}

impl AuthConfig {
    /// AES-256-GCM rotating keys every 1024 frames per direction.
    pub fn aes_gcm() -> Self {
        AuthConfig::AesGcm {
            max_messages_per_key: 1024,
        }
    }

    /// Short name for tables.
    pub fn name(&self) -> &'static str {
        match self {
            AuthConfig::None => "none",
            AuthConfig::AesGcm { .. } => "aes-256-gcm",
            AuthConfig::WegmanCarter => "wegman-carter",
            AuthConfig::SlhDsa => "slh-dsa-shake-128f",
            AuthConfig::SlhDsaSha2 => "slh-dsa-sha2-128f",
            AuthConfig::MlDsa => "ml-dsa-44",
        }
    }

    /// Bytes of pre-shared secret both ends need before the first block.
    pub fn bootstrap_bytes(&self) -> usize {
        match self {
            AuthConfig::None | AuthConfig::SlhDsa | AuthConfig::SlhDsaSha2 | AuthConfig::MlDsa => 0,
            AuthConfig::AesGcm { .. } => 32 * AES_GCM_BOOTSTRAP_KEYS,
            AuthConfig::WegmanCarter => 16 + 32 * WEGMAN_CARTER_BOOTSTRAP_PADS,
        }
    }

    /// Whether the backend authenticates with per-end key pairs (signatures) rather than a
    /// pre-shared secret.
    pub fn uses_key_pairs(&self) -> bool {
        matches!(
            self,
            AuthConfig::SlhDsa | AuthConfig::SlhDsaSha2 | AuthConfig::MlDsa
        )
    }

    /// Builds the backends of both ends (Alice, Bob) of an in-process link: from the pre-shared
    /// bootstrap secret, or for the signature backends from fresh key pairs drawn from `rng`, each
    /// end receiving the other's public key.
    pub fn build_pair<R: CryptoRng + ?Sized>(
        &self,
        bootstrap: SecretKey,
        rng: &mut R,
    ) -> Result<AuthPair, DeviceError> {
        match self {
            AuthConfig::SlhDsa | AuthConfig::SlhDsaSha2 | AuthConfig::MlDsa => {
                signature_pair(*self, rng)
            }
            _ => Ok((
                self.build(Role::Alice, bootstrap.clone())?,
                self.build(Role::Bob, bootstrap)?,
            )),
        }
    }

    /// Builds the backend of one end from the pre-shared bootstrap secret. The signature
    /// backends need the peer's public key and are built by [`build_pair`](Self::build_pair)
    /// instead (an error here).
    pub fn build(
        &self,
        role: Role,
        bootstrap: SecretKey,
    ) -> Result<Box<dyn ChannelAuth>, DeviceError> {
        if bootstrap.len() != self.bootstrap_bytes() {
            return Err(DeviceError::InvalidConfig(format!(
                "{} needs {} bytes of pre-shared key, got {}",
                self.name(),
                self.bootstrap_bytes(),
                bootstrap.len()
            )));
        }
        Ok(match *self {
            AuthConfig::None => Box::new(NoAuth::new()),
            AuthConfig::AesGcm {
                max_messages_per_key,
            } => {
                let policy = AesGcmPolicy {
                    max_messages_per_key,
                    ..AesGcmPolicy::default()
                };
                Box::new(AesGcmAuth::with_policy(role, bootstrap, policy)?)
            }
            AuthConfig::WegmanCarter => Box::new(WegmanCarterAuth::with_policy(
                role,
                bootstrap,
                wegman_carter_policy(),
            )?),
            AuthConfig::SlhDsa | AuthConfig::SlhDsaSha2 | AuthConfig::MlDsa => {
                return Err(DeviceError::InvalidConfig(format!(
                    "{} needs key pairs exchanged out of band; it is available on in-process \
                     links only",
                    self.name()
                )));
            }
        })
    }
}

/// Two signature backends with fresh key pairs, each holding the other's public key.
#[cfg(feature = "pq-auth")]
fn signature_pair<R: CryptoRng + ?Sized>(
    auth: AuthConfig,
    rng: &mut R,
) -> Result<AuthPair, DeviceError> {
    use qkd_core::auth::{MlDsa44Auth, SlhDsaAuth, SlhDsaSha2Auth};
    Ok(match auth {
        AuthConfig::SlhDsa => {
            let (a, b) = SlhDsaAuth::generate_pair(rng);
            (Box::new(a), Box::new(b))
        }
        AuthConfig::SlhDsaSha2 => {
            let (a, b) = SlhDsaSha2Auth::generate_pair(rng);
            (Box::new(a), Box::new(b))
        }
        AuthConfig::MlDsa => {
            let (a, b) = MlDsa44Auth::generate_pair(rng);
            (Box::new(a), Box::new(b))
        }
        other => {
            return Err(DeviceError::InvalidConfig(format!(
                "{} is not a signature backend",
                other.name()
            )));
        }
    })
}

/// Without feature `pq-auth` the signature backends are not compiled in.
#[cfg(not(feature = "pq-auth"))]
fn signature_pair<R: CryptoRng + ?Sized>(
    auth: AuthConfig,
    _rng: &mut R,
) -> Result<AuthPair, DeviceError> {
    Err(DeviceError::InvalidConfig(format!(
        "{} needs qkd-sim's feature `pq-auth`",
        auth.name()
    )))
}

/// Everything that defines a simulated link. Both ends must use equal values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkConfig {
    /// Identifies the link in [`DeviceInfo`](qkd_core::DeviceInfo).
    pub link_id: String,
    /// The prepare-and-measure protocol (ignored when `entangled` is set).
    pub protocol: Protocol,
    /// An entanglement-based protocol instead of `protocol`: a pair source between the ends
    /// (in the middle process of a distributed link). The channel model and Eve then act on
    /// Bob's half; `backend` does not apply (pairs are always played on the state vector) and
    /// `frame_qubits` caps the pairs of one batch.
    #[serde(default)]
    pub entangled: Option<EntangledProtocol>,
    /// State-vector registers or the product-state fast path.
    pub backend: Backend,
    /// Sifted bits per block (before parameter estimation and distillation).
    pub sifted_bits_per_block: usize,
    /// Largest quantum frame, in qubits.
    pub frame_qubits: usize,
    /// The quantum channel model (noise, loss, detectors).
    pub channel: QuantumChannel,
    /// The eavesdropper, if any.
    pub eve: Option<EveConfig>,
    /// Authentication of the classical channel.
    pub auth: AuthConfig,
    /// Which frames `auth` protects: each one, or the block's transcript once.
    #[serde(default)]
    pub auth_scope: AuthScope,
    /// Where each end draws its randomness (bases, bits, public seeds). With
    /// [`RandomSource::Seeded`] each end, the channel and Eve get distinct derived seeds.
    pub randomness: RandomSource,
    /// Distillation (estimation, Cascade, verification, key length, privacy amplification).
    pub distill: PipelineConfig,
    /// Blocks each end produces ahead of its consumer. 0 means on demand: a block is started
    /// only when [`next_block`](qkd_core::QuantumDevice::next_block) asks for one (both ends'
    /// consumers must ask, as with any back-pressure), so no work runs ahead, e.g. when timing
    /// the first key of a link.
    pub buffer_blocks: usize,
    /// A block taking longer than this is a fault (the peer is considered unreachable).
    pub block_timeout: Option<Duration>,
    /// At most this fraction of a block's final key is diverted to replenish the authentication
    /// backend (in [0, 1)).
    pub max_auth_divert_fraction: f64,
}

impl Default for LinkConfig {
    /// BB84 on the fast path, 2^18 sifted bits per block, 2% depolarizing noise (QBER 1%),
    /// AES-256-GCM, OS-seeded CSPRNG, default distillation.
    fn default() -> Self {
        Self::bb84(1 << 18, 0.02)
    }
}

impl LinkConfig {
    /// BB84 on the fast path with `sifted_bits_per_block` and depolarizing probability
    /// `depolarizing` (QBER = d/2 with the channel's convention), AES-256-GCM, CSPRNG. The
    /// parameter-estimation sample is sized for the block: the fraction that maximises the
    /// finite-key length at the channel's QBER (at least 1%) with Cascade's efficiency of about
    /// 1.05 ([`optimal_sample_fraction`](qkd_core::distill::keylength::optimal_sample_fraction));
    /// about 6% for 2^20 sifted bits at QBER 2%, 10% for 2^18, 15% for 2^16.
    pub fn bb84(sifted_bits_per_block: usize, depolarizing: f64) -> Self {
        let distill = PipelineConfig {
            sample_fraction: optimal_sample_fraction(
                sifted_bits_per_block as u64,
                (depolarizing / 2.0).clamp(0.01, 0.5),
                1.05,
                Security::default(),
            )
            .unwrap_or(PipelineConfig::default().sample_fraction),
            ..PipelineConfig::default()
        };
        Self {
            link_id: "sim-link".into(),
            protocol: Protocol::Bb84,
            entangled: None,
            backend: Backend::Product,
            sifted_bits_per_block,
            frame_qubits: 1 << 18,
            channel: QuantumChannel {
                depolarizing,
                ..QuantumChannel::ideal()
            },
            eve: None,
            auth: AuthConfig::aes_gcm(),
            auth_scope: AuthScope::EveryFrame,
            randomness: RandomSource::Csprng,
            distill,
            buffer_blocks: 4,
            block_timeout: Some(Duration::from_secs(120)),
            max_auth_divert_fraction: 0.5,
        }
    }

    /// Checks every parameter (channel, Eve, engine, sizes).
    pub fn validate(&self) -> Result<(), DeviceError> {
        let invalid = |e: crate::SimError| DeviceError::InvalidConfig(e.to_string());
        self.channel.validate().map_err(invalid)?;
        if let Some(eve) = &self.eve {
            eve.validate().map_err(invalid)?;
        }
        self.engine_config().validate().map_err(invalid)?;
        if let Backend::StateVector { register_qubits } = self.backend
            && (register_qubits == 0 || register_qubits > MAX_REGISTER_QUBITS)
        {
            return Err(DeviceError::InvalidConfig(format!(
                "register of {register_qubits} qubits (1 to {MAX_REGISTER_QUBITS})"
            )));
        }
        if self.sifted_bits_per_block < 64 {
            return Err(DeviceError::InvalidConfig(
                "sifted_bits_per_block must be at least 64".into(),
            ));
        }
        if !(0.0..1.0).contains(&self.max_auth_divert_fraction) {
            return Err(DeviceError::InvalidConfig(
                "max_auth_divert_fraction must be in [0, 1)".into(),
            ));
        }
        if self.link_id.is_empty() {
            return Err(DeviceError::InvalidConfig(
                "link_id must not be empty".into(),
            ));
        }
        qkd_core::distill::pipeline::Pipeline::new(
            self.distill.clone(),
            qkd_core::distill::pipeline::PipelineRole::Initiator,
        )
        .map_err(|e| DeviceError::InvalidConfig(e.to_string()))?;
        Ok(())
    }

    /// The protocol engines' configuration.
    pub fn engine_config(&self) -> EngineConfig {
        let mut config = EngineConfig::new(self.protocol, self.backend, self.sifted_bits_per_block);
        config.frame_qubits = self.frame_qubits;
        config
    }

    /// An entanglement-based link (E91 or BBM92) with `sifted_bits_per_block` and depolarizing
    /// probability `depolarizing` on Bob's half; otherwise as [`bb84`](Self::bb84).
    pub fn entangled(
        protocol: EntangledProtocol,
        sifted_bits_per_block: usize,
        depolarizing: f64,
    ) -> Self {
        Self {
            entangled: Some(protocol),
            frame_qubits: 1 << 16,
            ..Self::bb84(sifted_bits_per_block, depolarizing)
        }
    }

    /// Protocol name reported in [`DeviceInfo`](qkd_core::DeviceInfo).
    pub fn protocol_name(&self) -> &'static str {
        if let Some(p) = self.entangled {
            return p.name();
        }
        match self.protocol {
            Protocol::Bb84 => "BB84",
            Protocol::SixState => "six-state",
            Protocol::B92 => "B92",
        }
    }

    /// The randomness source of one party: `stream` 1 is Alice, 2 Bob, 3 the channel, 4 Eve,
    /// 5 the pre-shared bootstrap key (distinct derived seeds when seeded).
    pub(crate) fn source_for(&self, stream: u64) -> RandomSource {
        match self.randomness {
            RandomSource::Seeded(seed) => RandomSource::Seeded(derive_seed(seed, stream)),
            other => other,
        }
    }
}

/// SplitMix64 over (seed, stream): nearby seeds give unrelated streams.
pub(crate) fn derive_seed(seed: u64, stream: u64) -> u64 {
    let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
