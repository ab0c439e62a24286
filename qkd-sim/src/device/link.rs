//! [`SimulatedLink`]: both ends of a link in one process.

use qkd_core::channel::{AuthenticatedChannel, TranscriptChannel};
use qkd_core::{
    ChannelAuth, ClassicalChannel, DeviceError, DeviceInfo, MemoryChannel, Role, SecretKey,
};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use zeroize::Zeroizing;

use super::config::{AuthPair, AuthScope, LinkConfig};
use super::engine::{ChannelStage, PmEnd};
use super::entangled::{
    EntangledEnd, EntangledEndConfig, EntangledProtocol, SourceLink, memory_source_link, run_source,
};
use super::handle::SimulatedDevice;
use super::port::{MEMORY_PORT_CAPACITY, MemoryPort, QuantumPort, TransformingPort};
use super::worker::{EndEngine, LinkChannel, Worker};
use crate::channel::QuantumChannel;
use crate::protocol::QuantumFrame;
use crate::protocol::entangled::{BellState, PairSource, SourceConfig};
use crate::qrng::RandomSource;

/// Builds both ends of a simulated QKD link in this process.
///
/// Alice's quantum frames pass through Eve (if configured) and the channel model on their way to
/// Bob over an in-process queue; the classical channel is an
/// [`AuthenticatedChannel`] over a [`MemoryChannel`] with the configured backend, whose
/// pre-shared bootstrap secret is drawn here (stream 5 of the configured randomness) and given to
/// both ends.
///
/// ```
/// use qkd_core::QuantumDevice;
/// use qkd_sim::device::{LinkConfig, SimulatedLink};
/// use qkd_sim::qrng::RandomSource;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), qkd_core::DeviceError> {
/// let mut config = LinkConfig::bb84(1 << 14, 0.02);
/// config.randomness = RandomSource::Seeded(7);
/// let (alice, bob) = SimulatedLink::start(config)?;
/// let (a, b) = tokio::join!(alice.next_block(), bob.next_block());
/// let (a, b) = (a?, b?);
/// assert_eq!((a.index, a.key.clone()), (b.index, b.key));
/// assert!(a.stats.final_bits > 0);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct SimulatedLink;

impl SimulatedLink {
    /// Validates `config` and starts both ends (Alice first) on the current Tokio runtime.
    pub fn start(config: LinkConfig) -> Result<(SimulatedDevice, SimulatedDevice), DeviceError> {
        config.validate()?;
        let bootstrap = bootstrap_secret(&config)?;
        // Signature backends: both key pairs come from stream 6 of the configured randomness
        // (through ChaCha20, which the signature crates accept as a CSPRNG); the public keys are
        // handed across here, out of band.
        let mut seed = Zeroizing::new([0u8; 32]);
        build_rng(config.source_for(6))?.fill_bytes(&mut *seed);
        let (auth_a, auth_b) = config
            .auth
            .build_pair(bootstrap, &mut ChaCha20Rng::from_seed(*seed))?;
        let (ca, cb) = MemoryChannel::pair();
        if let Some(protocol) = config.entangled {
            return start_entangled(&config, protocol, (ca, cb), (auth_a, auth_b));
        }
        let (tx, rx) = MemoryPort::<QuantumFrame>::pair(MEMORY_PORT_CAPACITY);
        let stage = ChannelStage::new(config.channel, config.eve, build_rng(config.source_for(3))?);
        let alice = start_end(
            Role::Alice,
            &config,
            ca,
            Box::new(TransformingPort::new(tx, stage)),
            auth_a,
        )?;
        let bob = start_end(Role::Bob, &config, cb, Box::new(rx), auth_b)?;
        Ok((alice, bob))
    }
}

pub(crate) fn build_rng(source: RandomSource) -> Result<Box<dyn rand::Rng + Send>, DeviceError> {
    source
        .build()
        .map_err(|e| DeviceError::InvalidConfig(format!("randomness source: {e}")))
}

/// Draws the pre-shared authentication secret for an in-process link.
fn bootstrap_secret(config: &LinkConfig) -> Result<SecretKey, DeviceError> {
    let mut bytes = Zeroizing::new(vec![0u8; config.auth.bootstrap_bytes()]);
    build_rng(config.source_for(5))?.fill_bytes(&mut bytes);
    Ok(SecretKey::from_zeroizing(bytes))
}

/// Starts both ends of an entanglement-based link and the pair source between them.
fn start_entangled(
    config: &LinkConfig,
    protocol: EntangledProtocol,
    (ca, cb): (MemoryChannel, MemoryChannel),
    (auth_a, auth_b): AuthPair,
) -> Result<(SimulatedDevice, SimulatedDevice), DeviceError> {
    let source = pair_source(config)?;
    let (alice_link, source_alice) = memory_source_link();
    let (bob_link, source_bob) = memory_source_link();
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
        DeviceError::InvalidConfig(
            "a simulated device must be started inside a Tokio runtime".into(),
        )
    })?;
    let alice_engine = entangled_end(Role::Alice, config, protocol, Box::new(alice_link))?;
    let bob_engine = entangled_end(Role::Bob, config, protocol, Box::new(bob_link))?;
    let alice = start_with_engine(Role::Alice, config, ca, auth_a, alice_engine)?;
    let bob = start_with_engine(Role::Bob, config, cb, auth_b, bob_engine)?;
    runtime.spawn(run_source(
        source,
        Box::new(source_alice),
        Box::new(source_bob),
    ));
    Ok((alice, bob))
}

/// The pair state an entanglement-based link's source emits (both ends must know it: it decides
/// whether Bob flips his key bits).
const PAIR_STATE: BellState = BellState::Singlet;

/// The pair source of an entanglement-based link: the link's channel model and Eve act on Bob's
/// half, Alice's half is ideal; physics from stream 3 of the configured randomness, Eve from 4.
pub(crate) fn pair_source(
    config: &LinkConfig,
) -> Result<PairSource<Box<dyn rand::Rng + Send>>, DeviceError> {
    let source_config = SourceConfig {
        state: PAIR_STATE,
        alice: QuantumChannel::ideal(),
        bob: config.channel,
        eve: config.eve,
    };
    PairSource::new(
        source_config,
        build_rng(config.source_for(3))?,
        build_rng(config.source_for(4))?,
    )
    .map_err(|e| DeviceError::InvalidConfig(e.to_string()))
}

/// The engine of one end of an entanglement-based link, talking to the source over `source`.
pub(crate) fn entangled_end(
    role: Role,
    config: &LinkConfig,
    protocol: EntangledProtocol,
    source: Box<dyn SourceLink>,
) -> Result<Box<dyn EndEngine>, DeviceError> {
    let rng = build_rng(config.source_for(match role {
        Role::Alice => 1,
        Role::Bob => 2,
    }))?;
    let end_config = EntangledEndConfig {
        protocol,
        state: PAIR_STATE,
        sifted_bits_per_block: config.sifted_bits_per_block,
        max_batch_pairs: config.frame_qubits,
        distill: config.distill.clone(),
    };
    Ok(Box::new(EntangledEnd::new(role, end_config, source, rng)?))
}

/// Starts one end over `classical` (authenticated here by `auth`) and `port`.
pub(crate) fn start_end<C: ClassicalChannel + 'static>(
    role: Role,
    config: &LinkConfig,
    classical: C,
    port: Box<dyn QuantumPort<QuantumFrame>>,
    auth: Box<dyn ChannelAuth>,
) -> Result<SimulatedDevice, DeviceError> {
    let rng = build_rng(config.source_for(match role {
        Role::Alice => 1,
        Role::Bob => 2,
    }))?;
    let engine = PmEnd::new(role, config, port, rng)?;
    start_with_engine(role, config, classical, auth, Box::new(engine))
}

/// Starts one end running `engine` over `classical`, authenticated by `auth`.
pub(crate) fn start_with_engine<C: ClassicalChannel + 'static>(
    role: Role,
    config: &LinkConfig,
    classical: C,
    auth: Box<dyn ChannelAuth>,
    engine: Box<dyn EndEngine>,
) -> Result<SimulatedDevice, DeviceError> {
    let channel: Box<dyn LinkChannel> = match config.auth_scope {
        AuthScope::EveryFrame => Box::new(AuthenticatedChannel::new(classical, auth)),
        AuthScope::BlockTranscript => Box::new(TranscriptChannel::new(classical, role, auth)),
    };
    let info = DeviceInfo {
        link_id: config.link_id.clone(),
        protocol: config.protocol_name().into(),
        role,
        peer: format!("{}/{:?}", config.link_id, role.peer()).to_lowercase(),
        vendor: concat!("qkd-sim ", env!("CARGO_PKG_VERSION"), " (simulated)").into(),
        nominal_key_rate_bps: None,
        block_bits: config.sifted_bits_per_block as u64,
    };
    SimulatedDevice::start(info, config.buffer_blocks, |queue, counters, demand| {
        Worker {
            engine,
            channel,
            queue,
            counters,
            block_timeout: config.block_timeout,
            max_divert_fraction: config.max_auth_divert_fraction,
            demand,
        }
    })
}
