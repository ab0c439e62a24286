//! How the two QKD modules of a link tell each other about key streams.
//!
//! ETSI GS QKD 004 leaves the module-to-module exchange to the implementation. Here it is three
//! request/response messages, carried by a [`PeerLink`]:
//!
//! * [`PeerMessage::Open`]: "an application opened KSID `k` here; it owns these slots from block
//!   `position` on (my puller's next block)". The peer registers the stream and answers with its own
//!   puller position; both ends then start the stream at the larger of the two positions (see
//!   [`schedule`](super::schedule)).
//! * [`PeerMessage::AppConnected`]: "the application at my end opened KSID `k` too" (turns status 1
//!   into 0 and lifts status 3 on `GET_KEY`).
//! * [`PeerMessage::Close`]: "KSID `k` is closed here, from block `position` on": the peer deletes
//!   its chunks and answers with its own position; the stream's last block is below the larger of
//!   the two at both ends, and its slots are free from there (see [`schedule`](super::schedule)).
//!
//! The key server (KME) implements [`PeerLink`] over its authenticated KME-to-KME channel and feeds
//! incoming messages to [`QkdModule::handle_peer`](super::QkdModule::handle_peer). For tests and
//! single-process deployments, [`InProcessPeer`] connects two modules directly. No message carries
//! key material.

use std::sync::{Arc, OnceLock, Weak};

use async_trait::async_trait;
use qkd_core::{Endpoint, Qos, StreamId};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A message from one QKD module to its peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerMessage {
    /// A stream was opened at the sender.
    Open {
        /// The key stream ID.
        ksid: StreamId,
        /// Source endpoint of OPEN_CONNECT.
        source: Endpoint,
        /// Destination endpoint of OPEN_CONNECT.
        destination: Endpoint,
        /// The QoS granted at the sender.
        qos: Qos,
        /// Number of slots of the link schedule (both ends must agree).
        slot_count: u32,
        /// The slots the stream owns.
        slots: Vec<u32>,
        /// The sender's puller position (next block index it will process).
        position: u64,
    },
    /// The application at the sender opened its end of the stream.
    AppConnected {
        /// The key stream ID.
        ksid: StreamId,
    },
    /// The stream was closed at the sender.
    Close {
        /// The key stream ID.
        ksid: StreamId,
        /// The sender's puller position when it closed the stream.
        position: u64,
    },
}

/// The answer to a [`PeerMessage`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerReply {
    /// Answer to [`PeerMessage::Open`]: the stream is registered at the peer.
    Opened {
        /// The peer's puller position when it registered the stream.
        position: u64,
        /// Whether the application at the peer has already opened the stream.
        app_connected: bool,
    },
    /// Answer to [`PeerMessage::Close`]: the stream is closed at the peer.
    Closed {
        /// The peer's puller position when it closed the stream (its own close position if it
        /// was closing the stream too).
        position: u64,
    },
    /// The message was applied.
    Ack,
    /// The message conflicts with the peer's state (KSID already in use there, slot taken,
    /// different schedule size).
    Conflict(String),
    /// The peer does not know the KSID.
    UnknownStream,
}

/// The peer module could not be reached.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("peer QKD module unreachable: {0}")]
pub struct PeerError(pub String);

/// Carries [`PeerMessage`]s to the QKD module at the other end of the link.
#[async_trait]
pub trait PeerLink: Send + Sync {
    /// Delivers `message` and returns the peer's reply.
    async fn send(&self, message: PeerMessage) -> Result<PeerReply, PeerError>;
}

/// Receives [`PeerMessage`]s (implemented by [`QkdModule`](super::QkdModule)).
#[async_trait]
pub trait PeerHandler: Send + Sync {
    /// Applies a message from the peer module and answers it.
    async fn handle_peer(&self, message: PeerMessage) -> PeerReply;
}

/// A [`PeerLink`] to a module in the same process. Create one per direction, then
/// [`connect`](InProcessPeer::connect) it to the receiving module.
#[derive(Default)]
pub struct InProcessPeer {
    target: OnceLock<Weak<dyn PeerHandler>>,
}

impl InProcessPeer {
    /// An unconnected link (messages fail with [`PeerError`] until connected).
    pub fn new() -> Self {
        Self::default()
    }

    /// Points the link at `target` (held weakly, so two paired modules do not leak each other).
    /// Returns false if the link was already connected.
    pub fn connect(&self, target: &Arc<dyn PeerHandler>) -> bool {
        self.target.set(Arc::downgrade(target)).is_ok()
    }
}

#[async_trait]
impl PeerLink for InProcessPeer {
    async fn send(&self, message: PeerMessage) -> Result<PeerReply, PeerError> {
        let target = self
            .target
            .get()
            .and_then(Weak::upgrade)
            .ok_or_else(|| PeerError("in-process peer not connected or dropped".into()))?;
        Ok(target.handle_peer(message).await)
    }
}
