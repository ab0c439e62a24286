//! Drives a sans-IO prepare-and-measure [`Engine`] over a quantum port and a classical channel.
//!
//! The engine's own messages ([`ClassicalMessage`]) travel in a small envelope, [`SiftWire`],
//! which adds one notice per quantum frame: Alice announces on the classical channel every frame
//! she has put on the quantum port, so Bob always knows which of his two inputs to wait on and
//! never has to race them (a race would lose data on a stream transport). Real QKD systems send
//! the same kind of frame-synchronisation messages.

use qkd_core::{ChannelError, ClassicalChannel};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::port::QuantumPort;
use super::worker::BlockFailure;
use crate::SimError;
use crate::protocol::{ClassicalMessage, Engine, QuantumFrame, SiftOutcome};

/// How sifting messages are named in errors.
const SIFTING: &str = "sifting message";

/// A classical frame of the sifting phase.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum SiftWire {
    /// Alice put quantum frame `seq` on the quantum port.
    FrameSent {
        /// The frame's sequence number.
        seq: u64,
    },
    /// A message of the protocol engine.
    Engine(ClassicalMessage),
}

/// Encodes a classical message of the quantum phase (`what` names it in errors).
pub(crate) fn encode<T: Serialize>(message: &T, what: &str) -> Result<Vec<u8>, BlockFailure> {
    postcard::to_stdvec(message)
        .map_err(|e| ChannelError::Malformed(format!("cannot encode {what}: {e}")).into())
}

/// Decodes a classical message of the quantum phase (`what` names it in errors).
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, BlockFailure> {
    postcard::from_bytes(bytes)
        .map_err(|e| ChannelError::Malformed(format!("bad {what}: {e}")).into())
}

/// A protocol engine's own failure: the link cannot go on.
pub(crate) fn engine_fault(e: SimError) -> BlockFailure {
    BlockFailure::Fatal(qkd_core::DeviceError::Hardware(format!(
        "protocol engine: {e}"
    )))
}

async fn flush_classical<E, C>(engine: &mut E, classical: &mut C) -> Result<(), BlockFailure>
where
    E: Engine + ?Sized,
    C: ClassicalChannel + ?Sized,
{
    while let Some(msg) = engine.poll_classical() {
        classical
            .send(encode(&SiftWire::Engine(msg), SIFTING)?)
            .await?;
    }
    Ok(())
}

fn take_outcome<E: Engine + ?Sized>(engine: &mut E) -> Result<SiftOutcome, BlockFailure> {
    engine
        .take_outcome()
        .ok_or_else(|| engine_fault(SimError::Protocol("finished without an outcome".into())))
}

/// Runs the sending end (Alice): emits frames onto `port`, announces each one, and answers Bob.
pub(crate) async fn run_sender<E, P, C>(
    engine: &mut E,
    port: &mut P,
    classical: &mut C,
) -> Result<SiftOutcome, BlockFailure>
where
    E: Engine + Send + ?Sized,
    P: QuantumPort<QuantumFrame> + ?Sized,
    C: ClassicalChannel + ?Sized,
{
    loop {
        // The engine's messages about earlier frames go first: Bob handles a frame only after
        // the sift of the previous one.
        flush_classical(engine, classical).await?;
        while let Some(frame) = engine.poll_frame() {
            let seq = frame.seq;
            port.send_frame(frame).await?;
            classical
                .send(encode(&SiftWire::FrameSent { seq }, SIFTING)?)
                .await?;
        }
        flush_classical(engine, classical).await?;
        if engine.is_finished() {
            return take_outcome(engine);
        }
        match decode::<SiftWire>(&classical.recv().await?, SIFTING)? {
            SiftWire::Engine(msg) => engine.handle_classical(msg).map_err(engine_fault)?,
            SiftWire::FrameSent { .. } => {
                return Err(
                    ChannelError::Malformed("the receiver announced a frame".into()).into(),
                );
            }
        }
    }
}

/// Runs the receiving end (Bob): measures announced frames and follows Alice's messages.
pub(crate) async fn run_receiver<E, P, C>(
    engine: &mut E,
    port: &mut P,
    classical: &mut C,
) -> Result<SiftOutcome, BlockFailure>
where
    E: Engine + Send + ?Sized,
    P: QuantumPort<QuantumFrame> + ?Sized,
    C: ClassicalChannel + ?Sized,
{
    loop {
        flush_classical(engine, classical).await?;
        if engine.is_finished() {
            return take_outcome(engine);
        }
        match decode::<SiftWire>(&classical.recv().await?, SIFTING)? {
            SiftWire::FrameSent { seq } => {
                let frame = port.recv_frame().await?;
                if frame.seq != seq {
                    return Err(ChannelError::Malformed(format!(
                        "quantum frame {} arrived where frame {seq} was announced",
                        frame.seq
                    ))
                    .into());
                }
                engine.handle_frame(frame).map_err(engine_fault)?;
            }
            SiftWire::Engine(msg) => engine.handle_classical(msg).map_err(engine_fault)?,
        }
    }
}
