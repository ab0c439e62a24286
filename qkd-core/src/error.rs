//! Error types, one enum per domain.
//!
//! None of them carries key material: variants hold identifiers, indexes, counts and static
//! descriptions only, so an error can be logged or returned to a remote caller safely.

use thiserror::Error;

use crate::id::StreamId;

/// A string could not be parsed as an identifier.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IdError {
    /// The input was empty.
    #[error("{kind} must not be empty")]
    Empty {
        /// Which identifier was being parsed.
        kind: &'static str,
    },
    /// The input was longer than allowed.
    #[error("{kind} is {len} bytes long; at most {max} are allowed")]
    TooLong {
        /// Which identifier was being parsed.
        kind: &'static str,
        /// The input length in bytes.
        len: usize,
        /// The maximum length in bytes.
        max: usize,
    },
    /// The input contained a character that is not printable ASCII (or a space).
    #[error("{kind} contains a character that is not printable ASCII at byte {position}")]
    NonPrintable {
        /// Which identifier was being parsed.
        kind: &'static str,
        /// Byte offset of the first offending character.
        position: usize,
    },
    /// The input was not a hyphenated UUID.
    #[error("{kind} is not a UUID: {reason}")]
    MalformedUuid {
        /// Which identifier was being parsed.
        kind: &'static str,
        /// What was wrong.
        reason: &'static str,
    },
    /// The input was a UUID, but not a random (version 4) one.
    #[error("{kind} must be a random (version 4) UUID, got version {version}")]
    NotRandomUuid {
        /// Which identifier was being parsed.
        kind: &'static str,
        /// The UUID version found.
        version: usize,
    },
}

/// Failures of a [`QuantumDevice`](crate::device::QuantumDevice).
#[derive(Debug, Clone, PartialEq, Error)]
pub enum DeviceError {
    /// The block was abandoned because the estimated QBER exceeded the abort threshold
    /// (for example because of an eavesdropper). No key was produced for it.
    #[error("block {index} aborted: QBER {qber:.4} exceeds threshold {threshold:.4}")]
    QberAboveThreshold {
        /// Index of the abandoned block.
        index: u64,
        /// The estimated QBER (upper bound used for the decision).
        qber: f64,
        /// The configured threshold.
        threshold: f64,
    },
    /// Post-processing failed (reconciliation, verification, privacy amplification or a finite-key
    /// length of zero). No key was produced for the block.
    #[error("block {index} aborted during post-processing: {reason}")]
    PostProcessing {
        /// Index of the abandoned block.
        index: u64,
        /// What failed.
        reason: String,
    },
    /// The peer device is not reachable (quantum or classical channel down).
    #[error("peer device unreachable: {0}")]
    PeerUnreachable(String),
    /// The classical channel failed.
    #[error("classical channel: {0}")]
    Channel(#[from] ChannelError),
    /// Authentication of the classical channel failed.
    #[error("classical channel authentication: {0}")]
    Auth(#[from] AuthError),
    /// The device was shut down; no further blocks will be produced.
    #[error("device is shut down")]
    Shutdown,
    /// The device configuration is invalid.
    #[error("invalid device configuration: {0}")]
    InvalidConfig(String),
    /// A hardware or driver fault.
    #[error("device fault: {0}")]
    Hardware(String),
}

/// Failures of a [`KeyStore`](crate::store::KeyStore).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StoreError {
    /// No chunk with this index exists in the stream (never stored, already taken or deleted).
    #[error("no key at index {index} in stream {stream}")]
    NotFound {
        /// The stream.
        stream: StreamId,
        /// The missing index.
        index: u64,
    },
    /// A chunk with this index is already stored in the stream.
    #[error("index {index} already present in stream {stream}")]
    Duplicate {
        /// The stream.
        stream: StreamId,
        /// The duplicated index.
        index: u64,
    },
    /// The chunk is reserved by another owner.
    #[error("index {index} in stream {stream} is reserved by another owner")]
    ReservedByOther {
        /// The stream.
        stream: StreamId,
        /// The reserved index.
        index: u64,
    },
    /// The chunk is not reserved (release of an unreserved chunk).
    #[error("index {index} in stream {stream} is not reserved")]
    NotReserved {
        /// The stream.
        stream: StreamId,
        /// The index.
        index: u64,
    },
    /// Storing would exceed the stream's capacity.
    #[error("stream {stream} is full ({capacity} keys)")]
    CapacityExceeded {
        /// The stream.
        stream: StreamId,
        /// The capacity in keys.
        capacity: u64,
    },
    /// Fewer chunks are available than requested.
    #[error("stream {stream} has {available} available keys, {requested} requested")]
    Insufficient {
        /// The stream.
        stream: StreamId,
        /// Chunks available (not reserved).
        available: u64,
        /// Chunks requested.
        requested: u64,
    },
    /// The request itself is malformed (for example an empty key).
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),
    /// Stored data failed an integrity check (decryption or checksum failure).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The storage backend failed (I/O, database, network).
    #[error("storage backend: {0}")]
    Backend(String),
}

/// Failures of a [`ChannelAuth`](crate::auth::ChannelAuth) backend.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuthError {
    /// The tag or signature did not verify: the message was tampered with or forged.
    #[error("message authentication failed")]
    BadTag,
    /// The message is shorter than the authentication framing requires.
    #[error("authenticated frame truncated ({len} bytes)")]
    Truncated {
        /// The frame length received.
        len: usize,
    },
    /// The message was already received once, or arrived out of order.
    #[error("replayed or reordered message: expected sequence {expected}, got {got}")]
    Replay {
        /// The next sequence number expected.
        expected: u64,
        /// The sequence number found.
        got: u64,
    },
    /// The backend has no key material left to authenticate with.
    #[error("authentication key material exhausted: {0}")]
    KeyExhausted(String),
    /// The backend is misconfigured (bad key length, missing peer key).
    #[error("authentication misconfigured: {0}")]
    Config(String),
}

/// Failures of a [`ClassicalChannel`](crate::channel::ClassicalChannel).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ChannelError {
    /// The peer closed the channel (or the process on the other end went away).
    #[error("channel closed by peer")]
    Closed,
    /// A frame exceeded the channel's maximum frame size.
    #[error("frame of {len} bytes exceeds the maximum of {max}")]
    FrameTooLarge {
        /// The frame length.
        len: usize,
        /// The maximum frame length.
        max: usize,
    },
    /// The peer sent something that is not a valid frame or message.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// No frame arrived in time.
    #[error("timed out waiting for the peer")]
    Timeout,
    /// The underlying transport failed.
    #[error("transport: {0}")]
    Io(String),
    /// Authentication of a frame failed; the channel is closed.
    #[error("authentication: {0}")]
    Auth(#[from] AuthError),
}
