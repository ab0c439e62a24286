//! Key storage: the [`KeyStore`] trait and the in-memory reference implementation [`MemoryStore`].
//!
//! A store holds key chunks per key stream ([`StreamId`]), each at an index. Chunks can be reserved
//! for an owner (for example while a peer KME confirms a key request), taken exactly once, released
//! back, or deleted.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::id::StreamId;
use crate::key::SecretKey;

/// Counts for one stream. Counts and capacities are not secret.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamCounts {
    /// Chunks stored and not reserved.
    pub available: u64,
    /// Chunks stored and reserved by some owner.
    pub reserved: u64,
    /// Maximum number of chunks (available + reserved) the stream may hold.
    pub capacity: u64,
}

impl StreamCounts {
    /// Chunks stored, reserved or not.
    pub fn stored(&self) -> u64 {
        self.available + self.reserved
    }

    /// Chunks that can still be put before the stream is full.
    pub fn free(&self) -> u64 {
        self.capacity.saturating_sub(self.stored())
    }
}

/// Storage of key chunks, per stream and index.
///
/// # Contract
/// * **Atomicity.** Every method that names several indexes acts on all of them or on none: on
///   error nothing changed.
/// * **Exactly once.** A chunk is returned by [`take`](KeyStore::take) at most once, even under
///   concurrent callers and (for durable stores) across crashes and restarts: the removal is
///   committed before the key is returned.
/// * **Reservation.** [`reserve`](KeyStore::reserve) and [`reserve_next`](KeyStore::reserve_next)
///   mark chunks as held by an `owner` (an opaque label, such as a key ID or request ID). A reserved
///   chunk is not counted as available, cannot be reserved again, and can only be taken or released
///   by the same owner. `take` with `owner: None` only takes unreserved chunks; with `Some(owner)`
///   only chunks reserved by that owner.
/// * **Capacity.** Each stream holds at most `capacity` chunks (reserved ones included); a `put`
///   that would exceed it fails with [`StoreError::CapacityExceeded`] and stores nothing. The store's
///   default capacity applies to streams with no explicit [`set_capacity`](KeyStore::set_capacity).
/// * **Durability.** For durable stores, a `put` that returned `Ok` survives a crash; so does a
///   `take`, `reserve`, `release` or `delete`. Memory stores lose everything on restart.
/// * **Zeroization.** Key bytes removed by `take` or `delete` are zeroized inside the store (the
///   caller owns the returned [`SecretKey`], which zeroizes itself on drop).
/// * **Indexes.** The store does not remember indexes that were taken or deleted; the producer
///   (the QKD module) never reuses an index within a stream.
/// * **Concurrency.** All methods may be called concurrently from many tasks.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Stores chunks at the given indexes of `stream`. Fails with [`StoreError::Duplicate`] if an
    /// index is present (or repeated in the batch), [`StoreError::CapacityExceeded`] if the stream
    /// would overflow, [`StoreError::InvalidRequest`] for an empty key.
    async fn put(&self, stream: StreamId, chunks: Vec<(u64, SecretKey)>) -> Result<(), StoreError>;

    /// Reserves the given chunks for `owner`.
    async fn reserve(
        &self,
        stream: StreamId,
        indexes: &[u64],
        owner: &str,
    ) -> Result<(), StoreError>;

    /// Reserves the `count` lowest-indexed available chunks for `owner` and returns their indexes
    /// in increasing order; fails with [`StoreError::Insufficient`] (reserving nothing) when fewer
    /// are available.
    async fn reserve_next(
        &self,
        stream: StreamId,
        count: u64,
        owner: &str,
    ) -> Result<Vec<u64>, StoreError>;

    /// Removes and returns the given chunks, in the order of `indexes`.
    async fn take(
        &self,
        stream: StreamId,
        indexes: &[u64],
        owner: Option<&str>,
    ) -> Result<Vec<SecretKey>, StoreError>;

    /// Releases chunks reserved by `owner`, making them available again.
    async fn release(
        &self,
        stream: StreamId,
        indexes: &[u64],
        owner: &str,
    ) -> Result<(), StoreError>;

    /// Deletes (and zeroizes) the given chunks whether reserved or not; indexes not present are
    /// ignored. Returns how many were deleted.
    async fn delete(&self, stream: StreamId, indexes: &[u64]) -> Result<u64, StoreError>;

    /// Deletes every chunk of the stream and forgets its capacity. Returns how many were deleted.
    async fn delete_stream(&self, stream: StreamId) -> Result<u64, StoreError>;

    /// Counts for the stream (zeros and the default capacity for an unknown stream).
    async fn counts(&self, stream: StreamId) -> Result<StreamCounts, StoreError>;

    /// Sets the stream's capacity. Lowering it below the number stored is allowed: later puts fail
    /// until enough chunks are taken.
    async fn set_capacity(&self, stream: StreamId, capacity: u64) -> Result<(), StoreError>;

    /// Streams that hold chunks or have an explicit capacity.
    async fn streams(&self) -> Result<Vec<StreamId>, StoreError>;
}

/// Default per-stream capacity of [`MemoryStore::new`].
pub const DEFAULT_STREAM_CAPACITY: u64 = 1 << 20;

#[derive(Default)]
struct StreamState {
    chunks: BTreeMap<u64, Entry>,
    capacity: Option<u64>,
    reserved: u64,
}

struct Entry {
    key: SecretKey,
    owner: Option<String>,
}

/// The in-memory reference [`KeyStore`]: fast, exact, and volatile (nothing survives a restart).
pub struct MemoryStore {
    default_capacity: u64,
    streams: Mutex<HashMap<StreamId, StreamState>>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store with [`DEFAULT_STREAM_CAPACITY`] per stream.
    pub fn new() -> Self {
        Self::with_default_capacity(DEFAULT_STREAM_CAPACITY)
    }

    /// An empty store whose streams hold at most `capacity` chunks unless set otherwise.
    pub fn with_default_capacity(capacity: u64) -> Self {
        Self {
            default_capacity: capacity,
            streams: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<StreamId, StreamState>> {
        // A panic while holding the lock cannot leave a half-applied change: every method validates
        // before it mutates. So a poisoned lock is still consistent.
        self.streams.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn counts_of(&self, state: Option<&StreamState>) -> StreamCounts {
        match state {
            None => StreamCounts {
                available: 0,
                reserved: 0,
                capacity: self.default_capacity,
            },
            Some(s) => StreamCounts {
                available: s.chunks.len() as u64 - s.reserved,
                reserved: s.reserved,
                capacity: s.capacity.unwrap_or(self.default_capacity),
            },
        }
    }
}

/// Checks that each index is present and held as `owner` requires; `owner: None` means unreserved.
fn check_owned(
    stream: StreamId,
    state: &StreamState,
    indexes: &[u64],
    owner: Option<&str>,
) -> Result<(), StoreError> {
    let mut seen = std::collections::HashSet::with_capacity(indexes.len());
    for &index in indexes {
        if !seen.insert(index) {
            return Err(StoreError::InvalidRequest("index repeated in request"));
        }
        let entry = state
            .chunks
            .get(&index)
            .ok_or(StoreError::NotFound { stream, index })?;
        match (entry.owner.as_deref(), owner) {
            (None, None) => {}
            (Some(held), Some(want)) if held == want => {}
            (None, Some(_)) => return Err(StoreError::NotReserved { stream, index }),
            (Some(_), _) => return Err(StoreError::ReservedByOther { stream, index }),
        }
    }
    Ok(())
}

#[async_trait]
impl KeyStore for MemoryStore {
    async fn put(&self, stream: StreamId, chunks: Vec<(u64, SecretKey)>) -> Result<(), StoreError> {
        let mut streams = self.lock();
        let counts = self.counts_of(streams.get(&stream));
        if chunks.iter().any(|(_, key)| key.is_empty()) {
            return Err(StoreError::InvalidRequest("empty key"));
        }
        let existing = streams.get(&stream);
        let mut seen = std::collections::HashSet::with_capacity(chunks.len());
        for (index, _) in &chunks {
            if !seen.insert(*index) || existing.is_some_and(|s| s.chunks.contains_key(index)) {
                return Err(StoreError::Duplicate {
                    stream,
                    index: *index,
                });
            }
        }
        if counts.stored() + chunks.len() as u64 > counts.capacity {
            return Err(StoreError::CapacityExceeded {
                stream,
                capacity: counts.capacity,
            });
        }
        let state = streams.entry(stream).or_default();
        for (index, key) in chunks {
            state.chunks.insert(index, Entry { key, owner: None });
        }
        Ok(())
    }

    async fn reserve(
        &self,
        stream: StreamId,
        indexes: &[u64],
        owner: &str,
    ) -> Result<(), StoreError> {
        if indexes.is_empty() {
            return Ok(());
        }
        let mut streams = self.lock();
        let state = streams.get_mut(&stream).ok_or(StoreError::NotFound {
            stream,
            index: indexes.first().copied().unwrap_or_default(),
        })?;
        check_owned(stream, state, indexes, None)?;
        for index in indexes {
            if let Some(entry) = state.chunks.get_mut(index) {
                entry.owner = Some(owner.to_owned());
            }
        }
        state.reserved += indexes.len() as u64;
        Ok(())
    }

    async fn reserve_next(
        &self,
        stream: StreamId,
        count: u64,
        owner: &str,
    ) -> Result<Vec<u64>, StoreError> {
        let mut streams = self.lock();
        let counts = self.counts_of(streams.get(&stream));
        if counts.available < count {
            return Err(StoreError::Insufficient {
                stream,
                available: counts.available,
                requested: count,
            });
        }
        let mut picked = Vec::with_capacity(count as usize);
        if count == 0 {
            return Ok(picked);
        }
        let state = streams
            .get_mut(&stream)
            .ok_or(StoreError::Backend("stream vanished".into()))?;
        for (index, entry) in state.chunks.iter_mut() {
            if picked.len() as u64 == count {
                break;
            }
            if entry.owner.is_none() {
                entry.owner = Some(owner.to_owned());
                picked.push(*index);
            }
        }
        state.reserved += count;
        Ok(picked)
    }

    async fn take(
        &self,
        stream: StreamId,
        indexes: &[u64],
        owner: Option<&str>,
    ) -> Result<Vec<SecretKey>, StoreError> {
        if indexes.is_empty() {
            return Ok(Vec::new());
        }
        let mut streams = self.lock();
        let state = streams.get_mut(&stream).ok_or(StoreError::NotFound {
            stream,
            index: indexes.first().copied().unwrap_or_default(),
        })?;
        check_owned(stream, state, indexes, owner)?;
        let mut keys = Vec::with_capacity(indexes.len());
        for index in indexes {
            if let Some(entry) = state.chunks.remove(index) {
                keys.push(entry.key);
            }
        }
        if owner.is_some() {
            state.reserved -= indexes.len() as u64;
        }
        Ok(keys)
    }

    async fn release(
        &self,
        stream: StreamId,
        indexes: &[u64],
        owner: &str,
    ) -> Result<(), StoreError> {
        if indexes.is_empty() {
            return Ok(());
        }
        let mut streams = self.lock();
        let state = streams.get_mut(&stream).ok_or(StoreError::NotFound {
            stream,
            index: indexes.first().copied().unwrap_or_default(),
        })?;
        check_owned(stream, state, indexes, Some(owner))?;
        for index in indexes {
            if let Some(entry) = state.chunks.get_mut(index) {
                entry.owner = None;
            }
        }
        state.reserved -= indexes.len() as u64;
        Ok(())
    }

    async fn delete(&self, stream: StreamId, indexes: &[u64]) -> Result<u64, StoreError> {
        let mut streams = self.lock();
        let Some(state) = streams.get_mut(&stream) else {
            return Ok(0);
        };
        let mut deleted = 0;
        for index in indexes {
            if let Some(entry) = state.chunks.remove(index) {
                if entry.owner.is_some() {
                    state.reserved -= 1;
                }
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    async fn delete_stream(&self, stream: StreamId) -> Result<u64, StoreError> {
        Ok(self
            .lock()
            .remove(&stream)
            .map_or(0, |s| s.chunks.len() as u64))
    }

    async fn counts(&self, stream: StreamId) -> Result<StreamCounts, StoreError> {
        let streams = self.lock();
        Ok(self.counts_of(streams.get(&stream)))
    }

    async fn set_capacity(&self, stream: StreamId, capacity: u64) -> Result<(), StoreError> {
        self.lock().entry(stream).or_default().capacity = Some(capacity);
        Ok(())
    }

    async fn streams(&self) -> Result<Vec<StreamId>, StoreError> {
        let mut ids: Vec<StreamId> = self.lock().keys().copied().collect();
        ids.sort();
        Ok(ids)
    }
}

#[async_trait]
impl<T: KeyStore + ?Sized> KeyStore for std::sync::Arc<T> {
    async fn put(&self, stream: StreamId, chunks: Vec<(u64, SecretKey)>) -> Result<(), StoreError> {
        (**self).put(stream, chunks).await
    }
    async fn reserve(
        &self,
        stream: StreamId,
        indexes: &[u64],
        owner: &str,
    ) -> Result<(), StoreError> {
        (**self).reserve(stream, indexes, owner).await
    }
    async fn reserve_next(
        &self,
        stream: StreamId,
        count: u64,
        owner: &str,
    ) -> Result<Vec<u64>, StoreError> {
        (**self).reserve_next(stream, count, owner).await
    }
    async fn take(
        &self,
        stream: StreamId,
        indexes: &[u64],
        owner: Option<&str>,
    ) -> Result<Vec<SecretKey>, StoreError> {
        (**self).take(stream, indexes, owner).await
    }
    async fn release(
        &self,
        stream: StreamId,
        indexes: &[u64],
        owner: &str,
    ) -> Result<(), StoreError> {
        (**self).release(stream, indexes, owner).await
    }
    async fn delete(&self, stream: StreamId, indexes: &[u64]) -> Result<u64, StoreError> {
        (**self).delete(stream, indexes).await
    }
    async fn delete_stream(&self, stream: StreamId) -> Result<u64, StoreError> {
        (**self).delete_stream(stream).await
    }
    async fn counts(&self, stream: StreamId) -> Result<StreamCounts, StoreError> {
        (**self).counts(stream).await
    }
    async fn set_capacity(&self, stream: StreamId, capacity: u64) -> Result<(), StoreError> {
        (**self).set_capacity(stream, capacity).await
    }
    async fn streams(&self) -> Result<Vec<StreamId>, StoreError> {
        (**self).streams().await
    }
}
