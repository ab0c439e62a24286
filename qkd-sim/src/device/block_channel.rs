//! The per-block view of the classical channel, and the end-of-block handshake.
//!
//! Every classical frame of a link carries a one-byte trailer: [`TAG_DATA`] for a message of the
//! block's protocol (sifting, distillation), [`TAG_END`] for the [`BlockEnd`] marker that each end
//! sends exactly once per block. The trailer is appended (not prepended) so wrapping a message
//! costs no copy.
//!
//! The handshake makes aborts safe: an end whose post-processing fails sends its `BlockEnd` at
//! once; the peer's protocol code then sees its next receive fail, finishes with its own
//! `BlockEnd`, and both ends skip any protocol frames still in flight until they hold the peer's
//! marker. A key is yielded only when both markers say `Ok` with the same length, so neither end
//! ever yields a block the other end abandoned.

use async_trait::async_trait;
use qkd_core::{ChannelError, ClassicalChannel};
use serde::{Deserialize, Serialize};

/// Trailer byte of a protocol message.
pub(crate) const TAG_DATA: u8 = 0xD0;
/// Trailer byte of an end-of-block marker.
pub(crate) const TAG_END: u8 = 0xE0;

/// Why an end abandoned a block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum AbortReason {
    /// The estimated QBER exceeded the threshold.
    Qber {
        /// The estimate used for the decision.
        qber: f64,
        /// The threshold.
        threshold: f64,
    },
    /// Any other post-processing failure (verification, zero final length, ...).
    PostProcessing(String),
}

/// The marker each end sends exactly once at the end of every block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct BlockEnd {
    /// The block index (both ends must agree).
    pub index: u64,
    /// `Ok(final key bits)` or why the block was abandoned.
    pub outcome: Result<u64, AbortReason>,
    /// Bits of fresh key this end's authentication backend asks for (see `SimulatedDevice`).
    pub auth_demand_bits: u64,
}

impl BlockEnd {
    fn encode(&self) -> Result<Vec<u8>, ChannelError> {
        let mut frame = postcard::to_stdvec(self)
            .map_err(|e| ChannelError::Malformed(format!("cannot encode block end: {e}")))?;
        frame.push(TAG_END);
        Ok(frame)
    }

    fn decode(body: &[u8]) -> Result<Self, ChannelError> {
        postcard::from_bytes(body)
            .map_err(|e| ChannelError::Malformed(format!("bad block end marker: {e}")))
    }
}

/// Wraps the link's classical channel for the duration of one block.
///
/// Implements [`ClassicalChannel`] so that protocol engines and the distillation pipeline run over
/// it unchanged. A receive that meets the peer's end-of-block marker fails with
/// [`ChannelError::Malformed`] and records the marker.
pub(crate) struct BlockChannel<'a, C: ClassicalChannel + ?Sized> {
    inner: &'a mut C,
    peer_end: Option<BlockEnd>,
}

impl<'a, C: ClassicalChannel + ?Sized> BlockChannel<'a, C> {
    /// Borrows the link's channel for one block.
    pub(crate) fn new(inner: &'a mut C) -> Self {
        Self {
            inner,
            peer_end: None,
        }
    }

    /// The wrapped channel.
    pub(crate) fn inner(&self) -> &C {
        self.inner
    }

    /// The peer's marker, if it has arrived (the peer abandoned the block early).
    pub(crate) fn peer_end(&self) -> Option<&BlockEnd> {
        self.peer_end.as_ref()
    }

    /// Sends this end's marker, then waits for the peer's (skipping protocol frames still in
    /// flight) and returns it. Fails if the channel fails or the peer's index differs.
    pub(crate) async fn finish(mut self, mine: &BlockEnd) -> Result<BlockEnd, ChannelError> {
        self.inner.send(mine.encode()?).await?;
        let peer = match self.peer_end.take() {
            Some(end) => end,
            None => loop {
                let mut frame = self.inner.recv().await?;
                match frame.pop() {
                    Some(TAG_DATA) => continue,
                    Some(TAG_END) => break BlockEnd::decode(&frame)?,
                    _ => {
                        return Err(ChannelError::Malformed(
                            "frame without a link trailer".into(),
                        ));
                    }
                }
            },
        };
        if peer.index != mine.index {
            return Err(ChannelError::Malformed(format!(
                "block index mismatch: this end is at {}, the peer at {}",
                mine.index, peer.index
            )));
        }
        Ok(peer)
    }
}

#[async_trait]
impl<C: ClassicalChannel + ?Sized> ClassicalChannel for BlockChannel<'_, C> {
    async fn send(&mut self, mut frame: Vec<u8>) -> Result<(), ChannelError> {
        let max = self.max_frame_len();
        if frame.len() > max {
            return Err(ChannelError::FrameTooLarge {
                len: frame.len(),
                max,
            });
        }
        frame.push(TAG_DATA);
        self.inner.send(frame).await
    }

    async fn recv(&mut self) -> Result<Vec<u8>, ChannelError> {
        if self.peer_end.is_some() {
            return Err(ChannelError::Malformed(
                "the peer abandoned the block".into(),
            ));
        }
        let mut frame = self.inner.recv().await?;
        match frame.pop() {
            Some(TAG_DATA) => Ok(frame),
            Some(TAG_END) => {
                self.peer_end = Some(BlockEnd::decode(&frame)?);
                Err(ChannelError::Malformed(
                    "the peer abandoned the block".into(),
                ))
            }
            _ => Err(ChannelError::Malformed(
                "frame without a link trailer".into(),
            )),
        }
    }

    fn max_frame_len(&self) -> usize {
        self.inner.max_frame_len().saturating_sub(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qkd_core::MemoryChannel;

    fn end(index: u64, outcome: Result<u64, AbortReason>) -> BlockEnd {
        BlockEnd {
            index,
            outcome,
            auth_demand_bits: 7,
        }
    }

    #[tokio::test]
    async fn data_round_trips_and_markers_are_exchanged() {
        let (mut a, mut b) = MemoryChannel::pair();
        let mut ca = BlockChannel::new(&mut a);
        let mut cb = BlockChannel::new(&mut b);
        ca.send(vec![1, 2, 3]).await.unwrap();
        ca.send(Vec::new()).await.unwrap();
        assert_eq!(cb.recv().await.unwrap(), vec![1, 2, 3]);
        assert_eq!(cb.recv().await.unwrap(), Vec::<u8>::new());
        let (ea, eb) = (end(3, Ok(80)), end(3, Ok(80)));
        let (ra, rb) = tokio::join!(ca.finish(&ea), cb.finish(&eb));
        assert_eq!(ra.unwrap(), end(3, Ok(80)));
        assert_eq!(rb.unwrap(), end(3, Ok(80)));
    }

    #[tokio::test]
    async fn early_abort_is_seen_by_the_peer_and_stale_frames_are_skipped() {
        let (mut a, mut b) = MemoryChannel::pair();
        let ca = BlockChannel::new(&mut a);
        let mut cb = BlockChannel::new(&mut b);
        // Bob sent protocol data Alice will never read, then Alice aborts.
        cb.send(vec![9; 10]).await.unwrap();
        let abort = end(0, Err(AbortReason::PostProcessing("test".into())));
        let alice = ca.finish(&abort);
        let bob_end = end(0, Err(AbortReason::PostProcessing("peer".into())));
        let bob = async {
            // Bob's protocol code waits for a message and finds Alice's marker instead.
            let err = cb.recv().await.unwrap_err();
            assert!(matches!(err, ChannelError::Malformed(_)));
            assert!(cb.peer_end().is_some());
            assert!(cb.recv().await.is_err());
            cb.finish(&bob_end).await
        };
        let (ra, rb) = tokio::join!(alice, bob);
        assert!(ra.unwrap().outcome.is_err());
        assert_eq!(rb.unwrap(), abort);
    }

    #[tokio::test]
    async fn index_mismatch_and_untagged_frames_fail() {
        let (mut a, mut b) = MemoryChannel::pair();
        let (e1, e2) = (end(1, Ok(8)), end(2, Ok(8)));
        let (ra, rb) = tokio::join!(
            BlockChannel::new(&mut a).finish(&e1),
            BlockChannel::new(&mut b).finish(&e2)
        );
        assert!(ra.is_err() && rb.is_err());
        let (mut a, mut b) = MemoryChannel::pair();
        a.send(vec![1, 2, 0x00]).await.unwrap();
        assert!(BlockChannel::new(&mut b).recv().await.is_err());
        a.send(Vec::new()).await.unwrap();
        assert!(BlockChannel::new(&mut b).recv().await.is_err());
    }

    #[tokio::test]
    async fn oversize_is_refused_before_sending() {
        let (mut a, mut b) = MemoryChannel::pair_with(4, 8);
        let mut ca = BlockChannel::new(&mut a);
        assert_eq!(ca.max_frame_len(), 7);
        assert!(matches!(
            ca.send(vec![0; 8]).await,
            Err(ChannelError::FrameTooLarge { len: 8, max: 7 })
        ));
        ca.send(vec![0; 7]).await.unwrap();
        assert_eq!(BlockChannel::new(&mut b).recv().await.unwrap(), vec![0; 7]);
    }
}
