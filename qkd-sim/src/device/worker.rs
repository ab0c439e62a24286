//! The background task of one end: runs blocks one after another and queues the results.
//!
//! One block at one end:
//! 1. the end's [`EndEngine`] runs the quantum phase, sifting and distillation over a
//!    [`BlockChannel`] (the link's authenticated classical channel, tagged per block);
//! 2. the end sends its [`BlockEnd`] marker and waits for the peer's;
//! 3. only if both ends report success with the same length is the key kept; the first
//!    `diverted` bits replenish the authentication backend (identically at both ends, before any
//!    frame of the next block), the rest is queued as a [`KeyBlock`];
//! 4. an abandoned block (QBER above threshold, verification failure, zero final length) queues an
//!    error naming its index; a fault (channel down, authentication failure, desynchronised
//!    indexes) queues an error and ends the task, which closes the link's channels so that the peer
//!    fails too.
//!
//! The queue is bounded: when it is full the task waits, the peer then waits for this end's
//! messages, and the whole link pauses (back-pressure) until a consumer takes a block.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use qkd_core::{
    AuthError, AuthUsage, BitString, BlockStats, ChannelError, ClassicalChannel, DeviceError,
    KeyBlock, SecretKey,
};
use tokio::sync::{Semaphore, mpsc};

use super::block_channel::{AbortReason, BlockChannel, BlockEnd};

/// Key is diverted to the authentication backend in whole units of this many bits (one AES-256
/// key, or one pair of Wegman-Carter pads).
pub(crate) const DIVERT_UNIT_BITS: u64 = 256;

/// The link's classical channel as the worker needs it: a framed channel plus access to the
/// authentication backend that protects it.
#[async_trait]
pub(crate) trait LinkChannel: ClassicalChannel {
    /// Confirms the block's transcript with the peer, for channels that authenticate it as a
    /// whole (a no-op for channels that authenticate every frame). Called by both ends after the
    /// end-of-block handshake, before any key of the block is used.
    async fn confirm_block(&mut self) -> Result<(), ChannelError> {
        Ok(())
    }

    /// The backend's counters.
    fn auth_usage(&self) -> AuthUsage;
    /// Fresh key bits the backend asks for now.
    fn auth_demand_bits(&self) -> u64;
    /// Gives the backend fresh shared key.
    fn replenish(&mut self, material: SecretKey) -> Result<(), AuthError>;
}

/// A block channel over the link's (type-erased) classical channel.
pub(crate) type LinkBlockChannel<'a> = BlockChannel<'a, dyn LinkChannel + 'a>;

/// What one end produced for a block before the end-of-block handshake.
pub(crate) struct BlockProduct {
    /// The final key at this end.
    pub key: BitString,
    /// Statistics; `final_bits`, `auth_bits_consumed` and `duration` are filled in by the worker.
    pub stats: BlockStats,
}

/// Why an engine could not produce a block.
#[derive(Debug)]
pub(crate) enum BlockFailure {
    /// The block is abandoned; the link goes on with the next index.
    Abort(AbortReason),
    /// The link cannot go on.
    Fatal(DeviceError),
}

impl From<ChannelError> for BlockFailure {
    fn from(e: ChannelError) -> Self {
        BlockFailure::Fatal(channel_fault(e))
    }
}

/// Maps a channel failure to the device error reported to callers.
pub(crate) fn channel_fault(e: ChannelError) -> DeviceError {
    match e {
        ChannelError::Closed => {
            DeviceError::PeerUnreachable("the link's channel was closed".into())
        }
        ChannelError::Io(reason) => DeviceError::PeerUnreachable(reason),
        ChannelError::Timeout => {
            DeviceError::PeerUnreachable("timed out waiting for the peer".into())
        }
        other => DeviceError::Channel(other),
    }
}

/// One end's protocol: everything between the start of a block and its final key.
#[async_trait]
pub(crate) trait EndEngine: Send {
    /// Runs block `index` over `classical`. Channel failures are `Fatal`; QBER and
    /// post-processing failures are `Abort`.
    async fn run_block(
        &mut self,
        index: u64,
        classical: &mut LinkBlockChannel<'_>,
    ) -> Result<BlockProduct, BlockFailure>;
}

/// An item of the block queue.
pub(crate) type QueueItem = Result<KeyBlock, DeviceError>;

/// Counters the worker shares with its device.
#[derive(Debug, Default)]
pub(crate) struct WorkerCounters {
    /// Blocks attempted (delivered or abandoned) by the worker.
    pub blocks_attempted: AtomicU64,
    /// Key bits handed to the authentication backend.
    pub auth_bits_diverted: AtomicU64,
    /// Final key bits dropped to make the delivered key a whole number of bytes.
    pub bits_truncated: AtomicU64,
    /// Frames sealed by the authentication backend, as of the last finished block.
    pub frames_sealed: AtomicU64,
}

/// The background task of one end.
pub(crate) struct Worker {
    pub engine: Box<dyn EndEngine>,
    pub channel: Box<dyn LinkChannel>,
    pub queue: mpsc::Sender<QueueItem>,
    pub counters: Arc<WorkerCounters>,
    pub block_timeout: Option<Duration>,
    /// Upper bound on the fraction of a block's final key diverted to authentication.
    pub max_divert_fraction: f64,
    /// On-demand mode: one permit per block asked for by the consumer (`None`: run ahead).
    pub demand: Option<Arc<Semaphore>>,
}

impl Worker {
    /// Runs blocks until a fault or until the device is dropped.
    pub(crate) async fn run(mut self) {
        let mut index = 0u64;
        loop {
            if let Some(demand) = &self.demand {
                match demand.acquire().await {
                    Ok(permit) => permit.forget(),
                    Err(_) => return,
                }
            }
            let item = match self.block_with_timeout(index).await {
                Ok(item) => item,
                Err(fault) => {
                    let _ = self.queue.send(Err(fault)).await;
                    return;
                }
            };
            index += 1;
            self.counters
                .blocks_attempted
                .fetch_add(1, Ordering::Relaxed);
            if self.queue.send(item).await.is_err() {
                return; // the device was dropped
            }
        }
    }

    async fn block_with_timeout(&mut self, index: u64) -> Result<QueueItem, DeviceError> {
        match self.block_timeout {
            None => self.block(index).await,
            Some(limit) => tokio::time::timeout(limit, self.block(index))
                .await
                .unwrap_or_else(|_| {
                    Err(DeviceError::PeerUnreachable(format!(
                        "block {index} did not complete within {limit:?}"
                    )))
                }),
        }
    }

    /// Runs one block. `Err` is a fault that ends the link.
    async fn block(&mut self, index: u64) -> Result<QueueItem, DeviceError> {
        let started = Instant::now();
        let consumed_before = self.channel.auth_usage().key_bits_consumed;
        let mut block_channel: LinkBlockChannel<'_> = BlockChannel::new(&mut *self.channel);
        let result = self.engine.run_block(index, &mut block_channel).await;
        let (outcome, product) = match result {
            Ok(product) => (Ok(product.key.len() as u64), Some(product)),
            Err(BlockFailure::Abort(reason)) => (Err(reason), None),
            Err(BlockFailure::Fatal(fault)) => match block_channel.peer_end() {
                // Our receive failed because the peer abandoned the block: not a fault.
                Some(peer) if peer.outcome.is_err() => (Err(peer_gave_up()), None),
                _ => return Err(fault),
            },
        };
        let mine = BlockEnd {
            index,
            outcome,
            auth_demand_bits: block_channel.inner().auth_demand_bits(),
        };
        let peer = block_channel.finish(&mine).await.map_err(channel_fault)?;
        // Nothing of the block is trusted before its transcript is confirmed.
        self.channel.confirm_block().await.map_err(channel_fault)?;
        self.counters
            .frames_sealed
            .store(self.channel.auth_usage().sealed, Ordering::Relaxed);
        let consumed = self
            .channel
            .auth_usage()
            .key_bits_consumed
            .saturating_sub(consumed_before);

        let (final_bits, product) = match (&mine.outcome, &peer.outcome, product) {
            (Ok(a), Ok(b), Some(product)) if a == b => (*a, product),
            (Ok(a), Ok(b), _) => {
                return Ok(Err(DeviceError::PostProcessing {
                    index,
                    reason: format!("final key lengths differ ({a} and {b} bits)"),
                }));
            }
            (mine_reason, peer_reason, _) => {
                let reason = pick_reason(mine_reason.as_ref().err(), peer_reason.as_ref().err());
                return Ok(Err(abort_error(index, reason)));
            }
        };

        // Both ends compute the same diversion from the two markers.
        let demand = mine.auth_demand_bits.max(peer.auth_demand_bits);
        let cap = (final_bits as f64 * self.max_divert_fraction) as u64;
        let diverted = (demand.min(cap) / DIVERT_UNIT_BITS * DIVERT_UNIT_BITS) as usize;
        let total = product.key.len();
        if diverted > 0 {
            let material = product.key.slice(0, diverted).to_secret_key();
            self.channel
                .replenish(material)
                .map_err(DeviceError::Auth)?;
            self.counters
                .auth_bits_diverted
                .fetch_add(diverted as u64, Ordering::Relaxed);
        }
        let delivered_bits = (total - diverted) / 8 * 8;
        self.counters.bits_truncated.fetch_add(
            (total - diverted - delivered_bits) as u64,
            Ordering::Relaxed,
        );
        let key = product
            .key
            .slice(diverted, diverted + delivered_bits)
            .to_secret_key();
        let mut stats = product.stats;
        stats.final_bits = delivered_bits as u64;
        stats.auth_bits_consumed = consumed;
        stats.duration = started.elapsed();
        Ok(Ok(KeyBlock { index, key, stats }))
    }
}

const PEER_GAVE_UP: &str = "the peer abandoned the block";

fn peer_gave_up() -> AbortReason {
    AbortReason::PostProcessing(PEER_GAVE_UP.into())
}

/// The reason reported for an abandoned block: a QBER abort from either end wins (it is the
/// physically meaningful one), then this end's own reason, then the peer's.
fn pick_reason<'a>(
    mine: Option<&'a AbortReason>,
    peer: Option<&'a AbortReason>,
) -> &'a AbortReason {
    const UNKNOWN: &AbortReason = &AbortReason::PostProcessing(String::new());
    let qber = |r: Option<&'a AbortReason>| r.filter(|r| matches!(r, AbortReason::Qber { .. }));
    let own = mine.filter(|r| **r != peer_gave_up());
    qber(mine)
        .or(qber(peer))
        .or(own)
        .or(peer)
        .or(mine)
        .unwrap_or(UNKNOWN)
}

fn abort_error(index: u64, reason: &AbortReason) -> DeviceError {
    match reason {
        AbortReason::Qber { qber, threshold } => DeviceError::QberAboveThreshold {
            index,
            qber: *qber,
            threshold: *threshold,
        },
        AbortReason::PostProcessing(reason) => DeviceError::PostProcessing {
            index,
            reason: reason.clone(),
        },
    }
}
