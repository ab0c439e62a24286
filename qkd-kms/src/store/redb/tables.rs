//! Table layout of the redb store.
//!
//! | table            | key                       | value                                   |
//! |------------------|---------------------------|-----------------------------------------|
//! | `chunks`         | (stream as u128, index)   | sealed record (see `store::crypto`)     |
//! | `owners`         | (stream as u128, index)   | owner label of a reserved chunk         |
//! | `streams`        | stream as u128            | (stored, reserved, explicit capacity)   |
//! | `meta`           | name                      | bytes: `key_check`                      |
//! | `meta_u64`       | name                      | u64: `format`, `nonce_counter`          |
//!
//! Invariants (hold after every committed transaction):
//! * `streams[s].stored` = number of `chunks` keys with stream `s`;
//! * `streams[s].reserved` = number of `owners` keys with stream `s`, and every `owners` key is
//!   also a `chunks` key;
//! * a `streams` row exists iff the stream holds a chunk or has an explicit capacity;
//! * `meta_u64["nonce_counter"]` exceeds every nonce counter used by a committed record.

use qkd_core::{StoreError, StreamId};
use redb::TableDefinition;

/// Sealed chunk records.
pub const CHUNKS: TableDefinition<(u128, u64), &[u8]> = TableDefinition::new("chunks");
/// Owners of reserved chunks.
pub const OWNERS: TableDefinition<(u128, u64), &str> = TableDefinition::new("owners");
/// Per-stream counts and capacity.
pub const STREAMS: TableDefinition<u128, (u64, u64, Option<u64>)> = TableDefinition::new("streams");
/// Byte-valued metadata.
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// Integer metadata.
pub const META_U64: TableDefinition<&str, u64> = TableDefinition::new("meta_u64");

/// Name of the master-key check record in [`META`].
pub const KEY_CHECK: &str = "key_check";
/// Name of the format version in [`META_U64`].
pub const FORMAT: &str = "format";
/// Name of the persisted nonce counter in [`META_U64`].
pub const NONCE_COUNTER: &str = "nonce_counter";
/// Current on-disk format.
pub const FORMAT_VERSION: u64 = 1;

/// One stream's row in [`STREAMS`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamRow {
    /// Chunks stored (reserved or not).
    pub stored: u64,
    /// Chunks reserved.
    pub reserved: u64,
    /// Explicit capacity, if set.
    pub capacity: Option<u64>,
}

impl StreamRow {
    /// The row as stored.
    pub fn to_tuple(self) -> (u64, u64, Option<u64>) {
        (self.stored, self.reserved, self.capacity)
    }

    /// The row from its stored form.
    pub fn from_tuple((stored, reserved, capacity): (u64, u64, Option<u64>)) -> Self {
        Self {
            stored,
            reserved,
            capacity,
        }
    }

    /// True when the row carries no information and can be removed.
    pub fn is_empty(&self) -> bool {
        self.stored == 0 && self.capacity.is_none()
    }
}

/// The table key of a stream.
pub fn stream_key(stream: StreamId) -> u128 {
    stream.as_uuid().as_u128()
}

/// The stream of a table key.
pub fn stream_of(key: u128) -> Result<StreamId, StoreError> {
    StreamId::from_uuid(uuid::Uuid::from_u128(key))
        .map_err(|e| StoreError::Corrupt(format!("stream table holds a bad stream ID: {e}")))
}

/// Maps a redb error to a backend error (the message names no key material).
pub fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("redb: {e}"))
}
