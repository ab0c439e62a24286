//! [`SignatureAuth`]: channel authentication by post-quantum signatures with the peer's public key
//! (feature `pq-auth`). The schemes are in [`slh_dsa`](super::slh_dsa) (FIPS 205, the paper's
//! SPHINCS+ option) and [`ml_dsa`](super::ml_dsa) (FIPS 204, faster).
//!
//! # Frame
//! ```text
//! seq (u64 BE) | payload | signature (fixed length per scheme)
//! ```
//! The signature covers `"qkd-stack/channel-auth/v1" | scheme name | sender (0x01 Alice, 0x02 Bob)
//! | seq | payload`, so a frame cannot be moved to the other direction, to another scheme or to
//! another position of the sequence. `open` verifies the signature first (any change to the frame
//! is [`AuthError::BadTag`]), then requires `seq` to be the next expected one (a genuine frame at
//! the wrong position is [`AuthError::Replay`]). No shared secret is consumed: `key_bits_*` stay 0.
//! Signing is deterministic (the FIPS variants without fresh randomness), so sealing needs no RNG.

use std::fmt;

use rand_core::CryptoRng;

use super::{AuthUsage, ChannelAuth, sender_byte};
use crate::device::Role;
use crate::error::AuthError;

const DOMAIN: &[u8] = b"qkd-stack/channel-auth/v1";
const SEQ_LEN: usize = 8;

/// A signature scheme usable by [`SignatureAuth`].
pub trait SignatureScheme: Send + 'static {
    /// The private key (zeroized on drop by the implementing crates).
    type SigningKey: Send;
    /// The public key.
    type VerifyingKey: Send + Clone;
    /// The backend name reported by [`ChannelAuth::name`].
    const NAME: &'static str;
    /// Length of every signature in bytes.
    const SIGNATURE_LEN: usize;

    /// A fresh key pair from `rng`.
    fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> (Self::SigningKey, Self::VerifyingKey);

    /// The public key of a private key.
    fn verifying_key(key: &Self::SigningKey) -> Self::VerifyingKey;

    /// Signs the concatenation of `parts`; the result is exactly `SIGNATURE_LEN` bytes.
    fn sign(key: &Self::SigningKey, parts: &[&[u8]]) -> Result<Vec<u8>, AuthError>;

    /// Whether `signature` is valid for the concatenation of `parts`.
    fn verify(key: &Self::VerifyingKey, parts: &[&[u8]], signature: &[u8]) -> bool;

    /// The public key in its standard encoding.
    fn encode_verifying_key(key: &Self::VerifyingKey) -> Vec<u8>;

    /// Parses a public key; [`AuthError::Config`] if malformed.
    fn decode_verifying_key(bytes: &[u8]) -> Result<Self::VerifyingKey, AuthError>;
}

/// One end of a signature-authenticated channel: signs with its own private key, verifies with the
/// peer's public key.
pub struct SignatureAuth<S: SignatureScheme> {
    role: Role,
    signing_key: S::SigningKey,
    peer_key: S::VerifyingKey,
    send_seq: u64,
    recv_seq: u64,
    usage: AuthUsage,
}

impl<S: SignatureScheme> fmt::Debug for SignatureAuth<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignatureAuth")
            .field("scheme", &S::NAME)
            .field("role", &self.role)
            .field("send_seq", &self.send_seq)
            .field("recv_seq", &self.recv_seq)
            .field("usage", &self.usage)
            .finish_non_exhaustive()
    }
}

impl<S: SignatureScheme> SignatureAuth<S> {
    /// One end: `role`, this end's private key and the peer's public key (exchanged and checked
    /// out of band, e.g. pinned in configuration).
    pub fn new(role: Role, signing_key: S::SigningKey, peer_key: S::VerifyingKey) -> Self {
        Self {
            role,
            signing_key,
            peer_key,
            send_seq: 0,
            recv_seq: 0,
            usage: AuthUsage::default(),
        }
    }

    /// A fresh key pair (private key, public key).
    pub fn generate_keypair<R: CryptoRng + ?Sized>(
        rng: &mut R,
    ) -> (S::SigningKey, S::VerifyingKey) {
        S::generate(rng)
    }

    /// Two connected ends (Alice, Bob), each with a fresh key pair and the other's public key, for
    /// tests, benchmarks and in-process links.
    pub fn generate_pair<R: CryptoRng + ?Sized>(rng: &mut R) -> (Self, Self) {
        let (alice_sk, alice_pk) = S::generate(rng);
        let (bob_sk, bob_pk) = S::generate(rng);
        (
            Self::new(Role::Alice, alice_sk, bob_pk),
            Self::new(Role::Bob, bob_sk, alice_pk),
        )
    }

    /// This end's public key, to hand to the peer.
    pub fn verifying_key(&self) -> S::VerifyingKey {
        S::verifying_key(&self.signing_key)
    }

    fn open_inner(&mut self, frame: &[u8]) -> Result<Vec<u8>, AuthError> {
        if frame.len() < SEQ_LEN + S::SIGNATURE_LEN {
            return Err(AuthError::Truncated { len: frame.len() });
        }
        let (head, rest) = frame.split_at(SEQ_LEN);
        let (payload, signature) = rest.split_at(rest.len() - S::SIGNATURE_LEN);
        let sender = [sender_byte(self.role.peer())];
        let parts = [DOMAIN, S::NAME.as_bytes(), &sender, head, payload];
        if !S::verify(&self.peer_key, &parts, signature) {
            return Err(AuthError::BadTag);
        }
        let mut seq_bytes = [0u8; SEQ_LEN];
        seq_bytes.copy_from_slice(head);
        let seq = u64::from_be_bytes(seq_bytes);
        if seq != self.recv_seq {
            return Err(AuthError::Replay {
                expected: self.recv_seq,
                got: seq,
            });
        }
        self.recv_seq += 1;
        Ok(payload.to_vec())
    }
}

impl<S: SignatureScheme> ChannelAuth for SignatureAuth<S> {
    fn name(&self) -> &'static str {
        S::NAME
    }

    fn seal(&mut self, payload: &[u8]) -> Result<Vec<u8>, AuthError> {
        let seq = self.send_seq.to_be_bytes();
        let sender = [sender_byte(self.role)];
        let parts = [DOMAIN, S::NAME.as_bytes(), &sender, &seq, payload];
        let signature = S::sign(&self.signing_key, &parts)?;
        if signature.len() != S::SIGNATURE_LEN {
            return Err(AuthError::Config(format!(
                "{} produced a {}-byte signature, expected {}",
                S::NAME,
                signature.len(),
                S::SIGNATURE_LEN
            )));
        }
        let mut frame = Vec::with_capacity(SEQ_LEN + payload.len() + S::SIGNATURE_LEN);
        frame.extend_from_slice(&seq);
        frame.extend_from_slice(payload);
        frame.extend_from_slice(&signature);
        self.send_seq += 1;
        self.usage.sealed += 1;
        Ok(frame)
    }

    fn open(&mut self, frame: &[u8]) -> Result<Vec<u8>, AuthError> {
        let result = self.open_inner(frame);
        self.usage.record_open(result)
    }

    fn usage(&self) -> AuthUsage {
        self.usage
    }

    fn frame_overhead(&self) -> usize {
        SEQ_LEN + S::SIGNATURE_LEN
    }
}
