//! One end of a QKD link: the [`QuantumDevice`] trait.
//!
//! A vendor wraps its hardware (or its hardware's key-delivery interface) in this trait; the
//! simulator in `qkd-sim` is another implementation. The QKD module above it only ever sees
//! indexed [`KeyBlock`]s.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::DeviceError;
use crate::key::KeyBlock;

/// Which end of the link a device is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The sending / initiating end (transmitter).
    Alice,
    /// The receiving / responding end (receiver).
    Bob,
}

impl Role {
    /// The other end.
    pub fn peer(self) -> Role {
        match self {
            Role::Alice => Role::Bob,
            Role::Bob => Role::Alice,
        }
    }
}

/// Static description of a device, fixed for its lifetime.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// Identifies the link (both ends report the same value).
    pub link_id: String,
    /// The QKD protocol, e.g. `"BB84"`, `"E91"`, `"COW"`, `"CV-QKD"`.
    pub protocol: String,
    /// Which end this is.
    pub role: Role,
    /// Human-readable name of the peer device or site.
    pub peer: String,
    /// Vendor or implementation name and version.
    pub vendor: String,
    /// Nominal secret-key rate in bits per second, if known.
    pub nominal_key_rate_bps: Option<f64>,
    /// Typical size of a delivered block, in bits.
    pub block_bits: u64,
}

/// Operational state of a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceState {
    /// Starting up, aligning, or waiting for the peer.
    Initializing,
    /// Producing key.
    Running,
    /// Running but the last blocks aborted (e.g. QBER above threshold).
    Degraded,
    /// Stopped; `next_block` returns [`DeviceError::Shutdown`].
    Stopped,
    /// Failed; see the last error.
    Failed,
}

/// A snapshot of a device's health and throughput.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceStatus {
    /// Current state.
    pub state: DeviceState,
    /// QBER of the most recent block (delivered or aborted), if any.
    pub last_qber: Option<f64>,
    /// Blocks delivered so far.
    pub blocks_delivered: u64,
    /// Blocks aborted so far (QBER above threshold or post-processing failure).
    pub blocks_aborted: u64,
    /// Secret-key bits delivered so far.
    pub key_bits_delivered: u64,
    /// Measured secret-key rate over the device's lifetime, in bits per second.
    pub key_rate_bps: f64,
    /// Time since the device started.
    pub uptime: Duration,
}

/// One end of a QKD link.
///
/// # Contract
/// * **Agreement.** Both ends of a link produce the same sequence of block indexes. For every
///   index at which both ends return `Ok`, the two [`KeyBlock`]s carry equal keys. Indexes start at
///   0 and increase by one for every attempted block, so an aborted block consumes its index at
///   both ends and the ends never drift apart.
/// * **Aborts.** A block whose estimated QBER exceeds the threshold, or whose post-processing
///   fails, returns an error naming the index and never yields key; the following call attempts
///   the next index.
/// * **Who calls it.** The QKD module (one puller task per device) calls [`next_block`]; any task
///   may call [`info`] and [`status`] concurrently, so implementations use interior mutability and
///   must be `Send + Sync`. [`next_block`] is not called concurrently on the same device.
/// * **Blocking.** [`next_block`] waits (asynchronously) until a block is ready; cancelling the
///   future must leave the device usable.
/// * **Durability.** A device does not persist keys: once returned, a block is the caller's to store.
/// * **Shutdown.** After [`DeviceError::Shutdown`] every later call returns it too.
///
/// [`next_block`]: QuantumDevice::next_block
/// [`info`]: QuantumDevice::info
/// [`status`]: QuantumDevice::status
#[async_trait]
pub trait QuantumDevice: Send + Sync {
    /// Static description of this end of the link.
    fn info(&self) -> DeviceInfo;

    /// Waits for the next block of key, identical to the peer's block with the same index.
    async fn next_block(&self) -> Result<KeyBlock, DeviceError>;

    /// A snapshot of the device's health and counters.
    fn status(&self) -> DeviceStatus;
}

#[async_trait]
impl<T: QuantumDevice + ?Sized> QuantumDevice for Box<T> {
    fn info(&self) -> DeviceInfo {
        (**self).info()
    }
    async fn next_block(&self) -> Result<KeyBlock, DeviceError> {
        (**self).next_block().await
    }
    fn status(&self) -> DeviceStatus {
        (**self).status()
    }
}

#[async_trait]
impl<T: QuantumDevice + ?Sized> QuantumDevice for std::sync::Arc<T> {
    fn info(&self) -> DeviceInfo {
        (**self).info()
    }
    async fn next_block(&self) -> Result<KeyBlock, DeviceError> {
        (**self).next_block().await
    }
    fn status(&self) -> DeviceStatus {
        (**self).status()
    }
}
