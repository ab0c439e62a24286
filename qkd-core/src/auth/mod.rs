//! Authentication of the classical channel: the [`ChannelAuth`] trait and the [`NoAuth`] baseline.
//!
//! QKD is only secure if the classical messages (sifting, error correction, privacy amplification
//! seeds) are authenticated. A [`ChannelAuth`] backend is a sans-IO object: it turns an outgoing
//! payload into an authenticated frame ([`seal`](ChannelAuth::seal)) and checks an incoming frame
//! ([`open`](ChannelAuth::open)); it never touches a socket. Backends:
//!
//! | backend | security | shared key consumed | overhead per frame |
//! |---|---|---|---|
//! | [`NoAuth`] | none (baselines only) | none | 0 |
//! | [`AesGcmAuth`] | computational (AES-256), keys rotated from QKD key | 256 bits per rotation | 30 B |
//! | [`WegmanCarterAuth`] | information-theoretic, ε = (⌈n/16⌉+2)/2^128 per forgery attempt | 128 bits per frame | 26 B |
//! | `SlhDsaAuth`, `SlhDsaSha2Auth` (feature `pq-auth`) | post-quantum signature (FIPS 205, SHAKE-128f or SHA2-128f) | none | 17 096 B |
//! | `MlDsa44Auth`, `MlDsa65Auth` (feature `pq-auth`) | post-quantum signature (FIPS 204) | none | 2 428 B / 3 317 B |
//!
//! All of them pass the `conformance::auth` suite (feature `conformance`).
//!
//! A backend protects either every frame ([`AuthenticatedChannel`](crate::channel::AuthenticatedChannel))
//! or a whole exchange once at its end ([`TranscriptChannel`](crate::channel::TranscriptChannel):
//! one seal per end per key block, which makes the signature backends practical and spends one
//! Wegman-Carter tag per block instead of one per frame).

use serde::{Deserialize, Serialize};

pub mod aes_gcm;
#[cfg(feature = "pq-auth")]
pub mod ml_dsa;
pub mod signature;
#[cfg(feature = "pq-auth")]
pub mod slh_dsa;
pub mod wegman_carter;

pub use aes_gcm::{AesGcmAuth, AesGcmPolicy};
#[cfg(feature = "pq-auth")]
pub use ml_dsa::{MlDsa44Auth, MlDsa65Auth};
pub use signature::{SignatureAuth, SignatureScheme};
#[cfg(feature = "pq-auth")]
pub use slh_dsa::{SlhDsaAuth, SlhDsaSha2Auth};
pub use wegman_carter::{WegmanCarterAuth, WegmanCarterPolicy};

use crate::error::AuthError;
use crate::key::SecretKey;

/// The byte that names the sending end in authenticated data (nonces, signed headers), so a frame
/// can never be reflected back to its sender as the peer's.
pub(crate) fn sender_byte(role: crate::device::Role) -> u8 {
    match role {
        crate::device::Role::Alice => 0x01,
        crate::device::Role::Bob => 0x02,
    }
}

/// Counters every backend reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthUsage {
    /// Frames produced by `seal`.
    pub sealed: u64,
    /// Frames accepted by `open`.
    pub opened: u64,
    /// Frames rejected by `open`.
    pub rejected: u64,
    /// Secret key bits consumed (one-time-pad tags, rotated symmetric keys). Zero for backends
    /// that consume no shared secret (signatures, `NoAuth`).
    pub key_bits_consumed: u64,
    /// Secret key bits currently provisioned and not yet consumed.
    pub key_bits_available: u64,
}

impl AuthUsage {
    /// Counts the outcome of one `open` (accepted or rejected) and passes it through.
    pub fn record_open<T>(&mut self, result: Result<T, AuthError>) -> Result<T, AuthError> {
        match &result {
            Ok(_) => self.opened += 1,
            Err(_) => self.rejected += 1,
        }
        result
    }
}

/// Authenticates the messages of one direction pair of a classical channel.
///
/// # Contract
/// * Each end holds one `ChannelAuth`. Frames sealed by one end are opened by the other, in order.
/// * `open` rejects a frame that was modified, truncated, forged, replayed or delivered out of
///   order ([`AuthError::BadTag`], [`AuthError::Truncated`], [`AuthError::Replay`]). A rejected frame
///   does not change the receiver's state: the genuine frame can still be opened afterwards.
/// * Backends that consume shared secret key (one-time pads, rotated keys) are refilled with
///   [`replenish`](ChannelAuth::replenish) from fresh QKD key, identically at both ends and at the
///   same point of the message sequence; when they run dry they fail with
///   [`AuthError::KeyExhausted`] rather than weakening authentication.
/// * [`usage`](ChannelAuth::usage) accounts every frame and every key bit consumed.
/// * The object is used by one task at a time (`&mut self`), and may move between threads.
pub trait ChannelAuth: Send {
    /// A short name of the backend, e.g. `"aes-256-gcm"`.
    fn name(&self) -> &'static str;

    /// Whether the backend actually authenticates. Only [`NoAuth`] returns false.
    fn is_authenticating(&self) -> bool {
        true
    }

    /// Produces the authenticated frame for `payload` (the next message this end sends).
    fn seal(&mut self, payload: &[u8]) -> Result<Vec<u8>, AuthError>;

    /// Verifies the next frame from the peer and returns its payload.
    fn open(&mut self, frame: &[u8]) -> Result<Vec<u8>, AuthError>;

    /// Adds fresh shared secret key (taken from QKD output). Backends that consume no key ignore it.
    fn replenish(&mut self, material: SecretKey) -> Result<(), AuthError> {
        drop(material);
        Ok(())
    }

    /// How many fresh key bits the backend would like to receive now to keep working
    /// (0 when it needs none).
    fn key_demand_bits(&self) -> u64 {
        0
    }

    /// Counters of frames and key consumed.
    fn usage(&self) -> AuthUsage;

    /// An upper bound on the bytes [`seal`](ChannelAuth::seal) adds to a payload (header, tag or
    /// signature), so that a channel can tell how large a payload still fits in its frames.
    /// The default, 0, suits backends whose frames are their payloads.
    fn frame_overhead(&self) -> usize {
        0
    }
}

impl<T: ChannelAuth + ?Sized> ChannelAuth for Box<T> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn is_authenticating(&self) -> bool {
        (**self).is_authenticating()
    }
    fn seal(&mut self, payload: &[u8]) -> Result<Vec<u8>, AuthError> {
        (**self).seal(payload)
    }
    fn open(&mut self, frame: &[u8]) -> Result<Vec<u8>, AuthError> {
        (**self).open(frame)
    }
    fn replenish(&mut self, material: SecretKey) -> Result<(), AuthError> {
        (**self).replenish(material)
    }
    fn key_demand_bits(&self) -> u64 {
        (**self).key_demand_bits()
    }
    fn usage(&self) -> AuthUsage {
        (**self).usage()
    }
    fn frame_overhead(&self) -> usize {
        (**self).frame_overhead()
    }
}

/// No authentication at all: frames are the payloads. For baselines and benchmarks only; a link
/// using it is not secure against an active attacker.
#[derive(Debug, Default)]
pub struct NoAuth {
    usage: AuthUsage,
}

impl NoAuth {
    /// The baseline backend.
    pub fn new() -> Self {
        Self::default()
    }
}

impl ChannelAuth for NoAuth {
    fn name(&self) -> &'static str {
        "none"
    }

    fn is_authenticating(&self) -> bool {
        false
    }

    fn seal(&mut self, payload: &[u8]) -> Result<Vec<u8>, AuthError> {
        self.usage.sealed += 1;
        Ok(payload.to_vec())
    }

    fn open(&mut self, frame: &[u8]) -> Result<Vec<u8>, AuthError> {
        self.usage.opened += 1;
        Ok(frame.to_vec())
    }

    fn usage(&self) -> AuthUsage {
        self.usage
    }
}
