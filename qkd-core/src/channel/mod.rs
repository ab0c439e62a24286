//! Classical channels: the [`ClassicalChannel`] trait, the in-memory [`MemoryChannel`], the
//! [`TcpChannel`] and the authenticating wrappers [`AuthenticatedChannel`] (every frame) and
//! [`TranscriptChannel`] (the whole exchange, once per block).
//!
//! A classical channel carries framed messages between the two ends of a QKD link (sifting, error
//! correction, verification, privacy amplification). Frames are delivered whole, in order, at most
//! [`max_frame_len`](ClassicalChannel::max_frame_len) bytes each.

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::error::ChannelError;

pub mod authenticated;
pub mod tcp;
pub mod transcript;

pub use authenticated::AuthenticatedChannel;
pub use tcp::TcpChannel;
pub use transcript::TranscriptChannel;

/// Default maximum frame size: 16 MiB.
pub const DEFAULT_MAX_FRAME_LEN: usize = 16 << 20;

/// A bidirectional, ordered, reliable channel of framed messages.
///
/// # Contract
/// * Frames arrive whole and in the order sent; an empty frame is a valid frame.
/// * `send` of a frame longer than [`max_frame_len`](ClassicalChannel::max_frame_len) fails with
///   [`ChannelError::FrameTooLarge`] and sends nothing; receiving an oversized or malformed frame
///   closes the channel with an error.
/// * When the peer goes away, `recv` returns frames already delivered and then
///   [`ChannelError::Closed`]; `send` may fail with [`ChannelError::Closed`].
/// * `send` may wait for buffer space (back-pressure). One task drives each end (`&mut self`).
/// * A channel is not authenticated by itself; wrap it with a [`ChannelAuth`](crate::auth::ChannelAuth).
#[async_trait]
pub trait ClassicalChannel: Send {
    /// Sends one frame.
    async fn send(&mut self, frame: Vec<u8>) -> Result<(), ChannelError>;

    /// Receives the next frame.
    async fn recv(&mut self) -> Result<Vec<u8>, ChannelError>;

    /// The largest frame this channel carries, in bytes.
    fn max_frame_len(&self) -> usize;
}

#[async_trait]
impl<T: ClassicalChannel + ?Sized> ClassicalChannel for Box<T> {
    async fn send(&mut self, frame: Vec<u8>) -> Result<(), ChannelError> {
        (**self).send(frame).await
    }
    async fn recv(&mut self) -> Result<Vec<u8>, ChannelError> {
        (**self).recv().await
    }
    fn max_frame_len(&self) -> usize {
        (**self).max_frame_len()
    }
}

/// One end of an in-process channel pair (tokio queues). Zero latency, bounded buffering.
#[derive(Debug)]
pub struct MemoryChannel {
    tx: mpsc::Sender<Vec<u8>>,
    rx: mpsc::Receiver<Vec<u8>>,
    max_frame_len: usize,
}

impl MemoryChannel {
    /// Two connected ends with [`DEFAULT_MAX_FRAME_LEN`] and room for 1024 frames each way.
    pub fn pair() -> (MemoryChannel, MemoryChannel) {
        Self::pair_with(1024, DEFAULT_MAX_FRAME_LEN)
    }

    /// Two connected ends buffering up to `capacity` frames each way (at least 1), carrying frames of
    /// at most `max_frame_len` bytes.
    pub fn pair_with(capacity: usize, max_frame_len: usize) -> (MemoryChannel, MemoryChannel) {
        let (a_tx, b_rx) = mpsc::channel(capacity.max(1));
        let (b_tx, a_rx) = mpsc::channel(capacity.max(1));
        (
            MemoryChannel {
                tx: a_tx,
                rx: a_rx,
                max_frame_len,
            },
            MemoryChannel {
                tx: b_tx,
                rx: b_rx,
                max_frame_len,
            },
        )
    }
}

#[async_trait]
impl ClassicalChannel for MemoryChannel {
    async fn send(&mut self, frame: Vec<u8>) -> Result<(), ChannelError> {
        if frame.len() > self.max_frame_len {
            return Err(ChannelError::FrameTooLarge {
                len: frame.len(),
                max: self.max_frame_len,
            });
        }
        self.tx.send(frame).await.map_err(|_| ChannelError::Closed)
    }

    async fn recv(&mut self) -> Result<Vec<u8>, ChannelError> {
        self.rx.recv().await.ok_or(ChannelError::Closed)
    }

    fn max_frame_len(&self) -> usize {
        self.max_frame_len
    }
}
