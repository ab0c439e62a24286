//! The QKD module: ETSI GS QKD 004 V2.1.1 application interface semantics, as the [`KeyModule`] trait.
//!
//! An application (here: the key server) opens a key stream between two endpoints with
//! `OPEN_CONNECT`, reads key chunks by index with `GET_KEY`, and ends the stream with `CLOSE`.
//! Both ends of a stream read the same chunk at the same index.

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::id::{Endpoint, StreamId};
use crate::key::SecretKey;

/// Quality of service of a key stream (ETSI GS QKD 004 `QoS`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Qos {
    /// Size of each key chunk delivered by `GET_KEY`, in bytes.
    pub key_chunk_size: u32,
    /// Maximum key rate the application will consume, in bits per second.
    pub max_bps: u32,
    /// Minimum key rate the application requires, in bits per second.
    pub min_bps: u32,
    /// Maximum tolerated jitter of key delivery, in milliseconds.
    pub jitter: u32,
    /// Priority of the stream (higher is more important).
    pub priority: u32,
    /// How long `GET_KEY` may wait for key before failing with [`Status::Timeout`], in milliseconds.
    pub timeout: u32,
    /// How long key material of the stream may be kept before it is discarded, in seconds.
    pub ttl: u32,
    /// MIME type of the metadata returned by `GET_KEY` (e.g. `application/json`).
    pub metadata_mimetype: String,
}

impl Default for Qos {
    fn default() -> Self {
        Self {
            key_chunk_size: 32,
            max_bps: 0,
            min_bps: 0,
            jitter: 0,
            priority: 0,
            timeout: 1_000,
            ttl: 0,
            metadata_mimetype: "application/json".to_owned(),
        }
    }
}

/// ETSI GS QKD 004 status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum Status {
    /// 0: successful.
    Successful = 0,
    /// 1: successful connection, but the peer is not connected.
    PeerNotConnected = 1,
    /// 2: `GET_KEY` failed because insufficient key is available.
    InsufficientKey = 2,
    /// 3: `GET_KEY` failed because the peer application is not yet connected.
    PeerApplicationNotConnected = 3,
    /// 4: no QKD connection available.
    NoQkdConnection = 4,
    /// 5: `OPEN_CONNECT` failed because the key stream ID is already in use.
    KsidInUse = 5,
    /// 6: timeout.
    Timeout = 6,
    /// 7: `OPEN_CONNECT` failed because the QoS could not be met; a counter-proposal is returned.
    QosNotMet = 7,
    /// 8: `GET_KEY` failed because the metadata buffer is too small.
    MetadataSizeInsufficient = 8,
}

impl Status {
    /// The numeric code on the wire.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// Parses a numeric code; `None` for codes the standard does not define.
    pub fn from_code(code: u8) -> Option<Status> {
        Some(match code {
            0 => Status::Successful,
            1 => Status::PeerNotConnected,
            2 => Status::InsufficientKey,
            3 => Status::PeerApplicationNotConnected,
            4 => Status::NoQkdConnection,
            5 => Status::KsidInUse,
            6 => Status::Timeout,
            7 => Status::QosNotMet,
            8 => Status::MetadataSizeInsufficient,
            _ => return None,
        })
    }

    /// True for the codes that report success (0 and 1).
    pub fn is_success(self) -> bool {
        matches!(self, Status::Successful | Status::PeerNotConnected)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Status::Successful => "successful",
            Status::PeerNotConnected => "successful connection, but peer not connected",
            Status::InsufficientKey => "insufficient key available",
            Status::PeerApplicationNotConnected => "peer application not yet connected",
            Status::NoQkdConnection => "no QKD connection available",
            Status::KsidInUse => "key stream ID already in use",
            Status::Timeout => "timeout",
            Status::QosNotMet => "requested QoS could not be met",
            Status::MetadataSizeInsufficient => "metadata buffer too small",
        };
        write!(f, "{} ({text})", self.code())
    }
}

/// A failed ETSI GS QKD 004 call, carrying the standard's status code.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ModuleError {
    /// Status 2: not enough key is buffered yet for this index.
    #[error("status 2: insufficient key available")]
    InsufficientKey,
    /// Status 3: the peer application has not opened its end of the stream.
    #[error("status 3: peer application not yet connected")]
    PeerApplicationNotConnected,
    /// Status 4: no QKD connection to the destination, or an unknown / closed key stream ID.
    #[error("status 4: no QKD connection available: {0}")]
    NoQkdConnection(String),
    /// Status 5: the requested key stream ID is already open.
    #[error("status 5: key stream ID {0} already in use")]
    KsidInUse(StreamId),
    /// Status 6: no key arrived within the stream's timeout.
    #[error("status 6: timeout")]
    Timeout,
    /// Status 7: the requested QoS cannot be met; `counter_proposal` is what the module can offer.
    #[error("status 7: requested QoS could not be met")]
    QosNotMet {
        /// The QoS the module offers instead.
        counter_proposal: Qos,
    },
    /// Status 8: the caller's metadata buffer is smaller than the metadata.
    #[error("status 8: metadata buffer of {capacity} bytes too small, {required} needed")]
    MetadataSizeInsufficient {
        /// Bytes offered by the caller.
        capacity: usize,
        /// Bytes needed.
        required: usize,
    },
}

impl ModuleError {
    /// The ETSI GS QKD 004 status code of this failure.
    pub fn status(&self) -> Status {
        match self {
            ModuleError::InsufficientKey => Status::InsufficientKey,
            ModuleError::PeerApplicationNotConnected => Status::PeerApplicationNotConnected,
            ModuleError::NoQkdConnection(_) => Status::NoQkdConnection,
            ModuleError::KsidInUse(_) => Status::KsidInUse,
            ModuleError::Timeout => Status::Timeout,
            ModuleError::QosNotMet { .. } => Status::QosNotMet,
            ModuleError::MetadataSizeInsufficient { .. } => Status::MetadataSizeInsufficient,
        }
    }
}

/// The successful result of `OPEN_CONNECT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenConnect {
    /// The key stream ID (the caller's, or a new one when the caller passed none).
    pub ksid: StreamId,
    /// The QoS granted.
    pub qos: Qos,
    /// [`Status::Successful`] when the peer application has opened its end too, otherwise
    /// [`Status::PeerNotConnected`].
    pub status: Status,
}

/// One key chunk returned by `GET_KEY`.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyChunk {
    /// Index of the chunk within its stream.
    pub index: u64,
    /// The key chunk (`key_chunk_size` bytes).
    pub key: SecretKey,
    /// Metadata in the stream's `metadata_mimetype` (e.g. block statistics). Never key material.
    pub metadata: Vec<u8>,
}

/// The QKD module interface (ETSI GS QKD 004 semantics).
///
/// # Contract
/// * `open_connect` with `ksid: None` creates a stream and returns a new KSID; the peer
///   application then opens the same KSID at the module on the other end of the link. Opening a
///   KSID that is already open at this module fails with status 5. A QoS that cannot be met
///   (including a `key_chunk_size` of 0 or above what the module supports) fails with status 7 and a
///   counter-proposal the caller may accept by opening again with it.
/// * `get_key(ksid, Some(i))` returns chunk `i`; `get_key(ksid, None)` returns the next chunk in
///   sequence for this caller. Both modules of a link return the same key for the same KSID and
///   index. A chunk not yet buffered waits up to the QoS `timeout` and then fails with status 6
///   (status 2 when the timeout is 0). Unknown or closed KSIDs fail with status 4.
/// * `close` ends the stream; remaining chunks are deleted (zeroized).
/// * All methods may be called concurrently from many tasks.
#[async_trait]
pub trait KeyModule: Send + Sync {
    /// ETSI 004 `OPEN_CONNECT`.
    async fn open_connect(
        &self,
        source: &Endpoint,
        destination: &Endpoint,
        qos: &Qos,
        ksid: Option<StreamId>,
    ) -> Result<OpenConnect, ModuleError>;

    /// ETSI 004 `GET_KEY`. `metadata_capacity` is the size of the caller's metadata buffer in bytes.
    async fn get_key(
        &self,
        ksid: StreamId,
        index: Option<u64>,
        metadata_capacity: usize,
    ) -> Result<KeyChunk, ModuleError>;

    /// ETSI 004 `CLOSE`.
    async fn close(&self, ksid: StreamId) -> Result<(), ModuleError>;

    /// Number of chunks buffered and not yet read for this stream.
    async fn available(&self, ksid: StreamId) -> Result<u64, ModuleError>;
}

#[async_trait]
impl<T: KeyModule + ?Sized> KeyModule for std::sync::Arc<T> {
    async fn open_connect(
        &self,
        source: &Endpoint,
        destination: &Endpoint,
        qos: &Qos,
        ksid: Option<StreamId>,
    ) -> Result<OpenConnect, ModuleError> {
        (**self).open_connect(source, destination, qos, ksid).await
    }
    async fn get_key(
        &self,
        ksid: StreamId,
        index: Option<u64>,
        metadata_capacity: usize,
    ) -> Result<KeyChunk, ModuleError> {
        (**self).get_key(ksid, index, metadata_capacity).await
    }
    async fn close(&self, ksid: StreamId) -> Result<(), ModuleError> {
        (**self).close(ksid).await
    }
    async fn available(&self, ksid: StreamId) -> Result<u64, ModuleError> {
        (**self).available(ksid).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_round_trip() {
        for code in 0..=8u8 {
            let status = Status::from_code(code).unwrap();
            assert_eq!(status.code(), code);
            assert!(status.to_string().starts_with(&code.to_string()));
        }
        assert_eq!(Status::from_code(9), None);
        assert!(Status::Successful.is_success() && Status::PeerNotConnected.is_success());
        assert!(!Status::Timeout.is_success());
    }

    #[test]
    fn errors_map_to_their_status() {
        let ksid = StreamId::new_random();
        let cases = [
            (ModuleError::InsufficientKey, 2),
            (ModuleError::PeerApplicationNotConnected, 3),
            (ModuleError::NoQkdConnection("x".into()), 4),
            (ModuleError::KsidInUse(ksid), 5),
            (ModuleError::Timeout, 6),
            (
                ModuleError::QosNotMet {
                    counter_proposal: Qos::default(),
                },
                7,
            ),
            (
                ModuleError::MetadataSizeInsufficient {
                    capacity: 1,
                    required: 2,
                },
                8,
            ),
        ];
        for (err, code) in cases {
            assert_eq!(err.status().code(), code);
            assert!(err.to_string().starts_with(&format!("status {code}")));
        }
    }
}
