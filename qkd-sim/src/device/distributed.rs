//! Distributed ends: Alice and Bob in different processes, connected by TCP, with an optional
//! middle process on the quantum path that applies the channel model and Eve (the paper's Fig. 4).
//!
//! ```text
//!  Alice --quantum frames (TCP)--> [middle: Eve + channel] --quantum frames (TCP)--> Bob
//!  Alice <=========== authenticated classical channel (TCP) ===========================> Bob
//! ```
//!
//! Bob listens on two sockets (classical and quantum); the middle process listens for Alice and
//! connects to Bob's quantum socket; Alice connects to Bob's classical socket and to the middle
//! process (or straight to Bob's quantum socket, applying the channel model herself). Frames on
//! both paths are length-prefixed ([`TcpChannel`]) with a maximum size; a frame that is oversized
//! or does not decode closes the link with an error. Both ends must be built from equal
//! [`LinkConfig`]s and the same pre-shared bootstrap secret. If any process dies, the sockets
//! close, the ends' background tasks fail, and both devices report
//! [`DeviceError::PeerUnreachable`] (or a channel error): a block in progress is never delivered.
//!
//! Entanglement-based links (E91, BBM92; [`LinkConfig::entangled`]) use the same sockets with the
//! pair source in the middle process: each end sends its analyser settings to the middle and gets
//! its detections back over its quantum connection (Alice's to the middle, the middle's to Bob),
//! so they need a middle process (`QuantumHop::Middle`).
//!
//! Only loopback addresses are used by the examples and tests.

use std::net::SocketAddr;

use qkd_core::channel::TcpChannel;
use qkd_core::{ChannelError, DeviceError, Role, SecretKey};
use tokio::net::TcpListener;

use super::config::LinkConfig;
use super::engine::ChannelStage;
use super::entangled::run_source;
use super::handle::SimulatedDevice;
use super::link::{build_rng, entangled_end, pair_source, start_end, start_with_engine};
use super::port::{QuantumPort, TransformingPort, WirePort, relay};
use super::worker::channel_fault;
use crate::protocol::QuantumFrame;

/// Largest frame on the TCP links (quantum frames of 2^20 qubits on the state-vector path with
/// small registers need a few tens of MiB).
pub const TCP_MAX_FRAME_LEN: usize = 64 << 20;

/// Where Alice's quantum frames go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantumHop {
    /// To a middle process, which applies the channel model and Eve.
    Middle(SocketAddr),
    /// Straight to Bob; Alice applies the channel model and Eve to her own output.
    Direct(SocketAddr),
}

fn connect_error(what: &str, e: ChannelError) -> DeviceError {
    DeviceError::PeerUnreachable(format!("{what}: {e}"))
}

/// Starts Alice: connects to Bob's classical socket and to the quantum next hop.
pub async fn start_alice(
    config: &LinkConfig,
    bob_classical: SocketAddr,
    quantum: QuantumHop,
    bootstrap: SecretKey,
) -> Result<SimulatedDevice, DeviceError> {
    config.validate()?;
    if let (Some(p), QuantumHop::Direct(_)) = (config.entangled, quantum) {
        return Err(DeviceError::InvalidConfig(format!(
            "{} needs the pair source of a middle process (QuantumHop::Middle)",
            p.name()
        )));
    }
    let classical = TcpChannel::connect(bob_classical, TCP_MAX_FRAME_LEN)
        .await
        .map_err(|e| connect_error("classical channel to Bob", e))?;
    if let (Some(protocol), QuantumHop::Middle(addr)) = (config.entangled, quantum) {
        let channel = TcpChannel::connect(addr, TCP_MAX_FRAME_LEN)
            .await
            .map_err(|e| connect_error("connection to the pair source", e))?;
        let engine = entangled_end(
            Role::Alice,
            config,
            protocol,
            Box::new(WirePort::new(channel)),
        )?;
        let auth = config.auth.build(Role::Alice, bootstrap)?;
        return start_with_engine(Role::Alice, config, classical, auth, engine);
    }
    let port: Box<dyn QuantumPort<QuantumFrame>> = match quantum {
        QuantumHop::Middle(addr) => {
            let channel = TcpChannel::connect(addr, TCP_MAX_FRAME_LEN)
                .await
                .map_err(|e| connect_error("quantum channel to the middle process", e))?;
            Box::new(WirePort::new(channel))
        }
        QuantumHop::Direct(addr) => {
            let channel = TcpChannel::connect(addr, TCP_MAX_FRAME_LEN)
                .await
                .map_err(|e| connect_error("quantum channel to Bob", e))?;
            let stage =
                ChannelStage::new(config.channel, config.eve, build_rng(config.source_for(3))?);
            Box::new(TransformingPort::new(WirePort::new(channel), stage))
        }
    };
    let auth = config.auth.build(Role::Alice, bootstrap)?;
    start_end(Role::Alice, config, classical, port, auth)
}

/// Starts Bob: accepts the classical connection from Alice and the quantum connection (from the
/// middle process or from Alice), in either order.
pub async fn start_bob(
    config: &LinkConfig,
    classical: &TcpListener,
    quantum: &TcpListener,
    bootstrap: SecretKey,
) -> Result<SimulatedDevice, DeviceError> {
    config.validate()?;
    let (classical, quantum) = tokio::try_join!(
        TcpChannel::accept(classical, TCP_MAX_FRAME_LEN),
        TcpChannel::accept(quantum, TCP_MAX_FRAME_LEN)
    )
    .map_err(|e| connect_error("accepting Alice", e))?;
    if let Some(protocol) = config.entangled {
        let engine = entangled_end(
            Role::Bob,
            config,
            protocol,
            Box::new(WirePort::new(quantum)),
        )?;
        let auth = config.auth.build(Role::Bob, bootstrap)?;
        return start_with_engine(Role::Bob, config, classical, auth, engine);
    }
    start_end(
        Role::Bob,
        config,
        classical,
        Box::new(WirePort::new(quantum)),
        config.auth.build(Role::Bob, bootstrap)?,
    )
}

/// What the middle process did before it stopped.
#[derive(Debug, Clone, PartialEq)]
pub struct MiddleReport {
    /// Frames relayed from Alice to Bob (for an entanglement-based link: batches of pairs served).
    pub frames: u64,
    /// Why relaying stopped ([`ChannelError::Closed`] when Alice hung up).
    pub ended_by: ChannelError,
}

/// Runs the middle process: accepts Alice on `from_alice`, connects to Bob's quantum socket, and
/// relays every frame through Eve and the channel model until either side closes (for an
/// entanglement-based link: serves as the pair source of both ends).
pub async fn run_middle(
    config: &LinkConfig,
    from_alice: &TcpListener,
    bob_quantum: SocketAddr,
) -> Result<MiddleReport, DeviceError> {
    config.validate()?;
    let upstream = TcpChannel::accept(from_alice, TCP_MAX_FRAME_LEN)
        .await
        .map_err(channel_fault)?;
    let downstream = TcpChannel::connect(bob_quantum, TCP_MAX_FRAME_LEN)
        .await
        .map_err(|e| connect_error("quantum channel to Bob", e))?;
    if config.entangled.is_some() {
        // The pair source: Alice's connection and Bob's carry settings in, detections out.
        let source = pair_source(config)?;
        let (frames, ended_by) = run_source(
            source,
            Box::new(WirePort::new(upstream)),
            Box::new(WirePort::new(downstream)),
        )
        .await;
        return Ok(MiddleReport { frames, ended_by });
    }
    let mut upstream = WirePort::new(upstream);
    let mut downstream = WirePort::new(downstream);
    let mut stage = ChannelStage::new(config.channel, config.eve, build_rng(config.source_for(3))?);
    let (frames, ended_by) =
        relay::<QuantumFrame, _, _, _>(&mut upstream, &mut downstream, &mut stage).await;
    Ok(MiddleReport { frames, ended_by })
}
