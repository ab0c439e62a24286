//! [`AesGcmAuth`]: AES-256-GCM with pre-shared keys rotated from fresh QKD key.
//!
//! # Frame
//! ```text
//! version (1) = 1 | sender (1): 0x01 Alice, 0x02 Bob | key id (u32 BE) | seq (u64 BE) | ciphertext | tag (16)
//! ```
//! The 14-byte header is the associated data; the payload is encrypted. The nonce is
//! `sender || 0x000000 || seq` (12 bytes): sequence numbers count frames per direction from 0 and
//! never repeat, and the sender byte separates the two directions, so no nonce is ever used twice
//! under one key even though both directions share the pool of keys.
//!
//! # Keys and rotation
//! Keys are 256 bits. Key 0 is the pre-shared bootstrap key given to [`AesGcmAuth::new`]; every 256
//! bits passed to [`replenish`](crate::auth::ChannelAuth::replenish) become the next key id, in
//! order. Each direction starts on key 0 and moves to the next id once it has protected
//! [`AesGcmPolicy::max_messages_per_key`] frames or would exceed
//! [`AesGcmPolicy::max_bytes_per_key`] payload bytes under its current key. The rule depends only on
//! the frames of that direction, so the sender and the receiver rotate at exactly the same frame;
//! the key id in the header lets the receiver confirm it. A key is erased (zeroized) as soon as
//! both directions have moved past it.
//!
//! # Refill policy (what happens when the pool runs out)
//! * Nothing is consumed by failures: a frame that `open` rejects, for any reason, leaves all state
//!   unchanged (no counter moves, no key is used up), and rotation is decided only by accepted
//!   traffic. An attacker who injects or corrupts frames therefore cannot drain the pool.
//! * The last [`AesGcmPolicy::reserve_keys`] keys of the pool are held back from rotation: they are
//!   kept to authenticate a re-bootstrap exchange when QKD has stopped producing key (for example
//!   because an eavesdropper pushed the QBER over the threshold and every block aborted).
//!   [`AesGcmAuth::release_reserve`] makes them usable; both ends must call it at the same point.
//! * When a direction must rotate and no usable key is left, `seal` fails with
//!   [`AuthError::KeyExhausted`] and `open` rejects the frame with the same error. The backend
//!   fails closed: a key is never used past its limits, and state is unchanged, so
//!   [`replenish`](crate::auth::ChannelAuth::replenish) followed by a retry continues the sequence.
//! * [`key_demand_bits`](crate::auth::ChannelAuth::key_demand_bits) asks for enough key to have
//!   [`AesGcmPolicy::low_watermark_keys`] unused keys besides a full reserve.
//!
//! # Accounting
//! `key_bits_consumed` is 256 times the number of keys put into use by either direction (the
//! bootstrap key counts from the start); `key_bits_available` is 256 times the keys provisioned and
//! not yet in use (reserve included). Their sum is everything provisioned.

use std::collections::VecDeque;
use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use zeroize::Zeroizing;

use super::{AuthUsage, ChannelAuth, sender_byte};
use crate::device::Role;
use crate::error::AuthError;
use crate::key::SecretKey;

/// Length of one rotated key in bytes.
pub const AES_GCM_KEY_LEN: usize = 32;
const KEY_BITS: u64 = (AES_GCM_KEY_LEN * 8) as u64;
const VERSION: u8 = 1;
/// Length of the frame header in bytes.
pub const AES_GCM_HEADER_LEN: usize = 14;
/// Length of the GCM tag in bytes.
pub const AES_GCM_TAG_LEN: usize = 16;
/// GCM's plaintext limit (NIST SP 800-38D): 2^39 - 256 bits.
const GCM_MAX_PAYLOAD: u64 = (1 << 36) - 32;

/// When [`AesGcmAuth`] rotates keys and how much key it keeps in hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AesGcmPolicy {
    /// Frames one direction protects under one key before moving to the next (at least 1).
    pub max_messages_per_key: u64,
    /// Payload bytes one direction protects under one key before moving to the next (at least 1).
    /// A single frame larger than this is still allowed as the first frame under a fresh key.
    pub max_bytes_per_key: u64,
    /// Keys at the end of the pool held back for a re-bootstrap exchange (see
    /// [`AesGcmAuth::release_reserve`]).
    pub reserve_keys: usize,
    /// [`key_demand_bits`](ChannelAuth::key_demand_bits) asks for key when fewer unused keys than
    /// this are left outside the reserve.
    pub low_watermark_keys: usize,
}

impl Default for AesGcmPolicy {
    /// 2^20 frames or 1 GiB per key and direction, one reserve key, demand below 4 spare keys.
    fn default() -> Self {
        Self {
            max_messages_per_key: 1 << 20,
            max_bytes_per_key: 1 << 30,
            reserve_keys: 1,
            low_watermark_keys: 4,
        }
    }
}

/// The state of one direction.
struct Direction {
    /// Key id in use.
    key_id: u32,
    cipher: Aes256Gcm,
    /// Next sequence number (frames of this direction so far).
    seq: u64,
    /// Frames and payload bytes protected under `key_id`.
    messages: u64,
    bytes: u64,
}

impl Direction {
    /// Whether a payload of `len` bytes must go under the next key.
    fn must_rotate(&self, policy: &AesGcmPolicy, len: u64) -> bool {
        self.messages >= policy.max_messages_per_key
            || (self.messages > 0 && self.bytes.saturating_add(len) > policy.max_bytes_per_key)
    }
}

/// AES-256-GCM channel authentication with keys rotated from QKD key (see the module docs for the
/// frame, the rotation rule and the refill policy).
///
/// ```
/// use qkd_core::auth::{AesGcmAuth, ChannelAuth};
/// use qkd_core::{Role, SecretKey};
/// let bootstrap = SecretKey::from_vec(vec![0x11; 32]); // pre-shared out of band
/// let mut alice = AesGcmAuth::new(Role::Alice, bootstrap.clone())?;
/// let mut bob = AesGcmAuth::new(Role::Bob, bootstrap)?;
/// let frame = alice.seal(b"parities 0101")?;
/// assert_eq!(bob.open(&frame)?, b"parities 0101");
/// assert!(bob.open(&frame).is_err()); // replay
/// # Ok::<(), qkd_core::AuthError>(())
/// ```
pub struct AesGcmAuth {
    role: Role,
    policy: AesGcmPolicy,
    /// Keys still needed, `pool[i]` having id `first_id + i`.
    pool: VecDeque<Zeroizing<[u8; AES_GCM_KEY_LEN]>>,
    first_id: u32,
    /// Id the next provisioned key receives (= number of keys ever provisioned).
    next_id: u32,
    reserve_released: bool,
    send: Direction,
    recv: Direction,
    usage: AuthUsage,
}

impl fmt::Debug for AesGcmAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AesGcmAuth")
            .field("role", &self.role)
            .field("policy", &self.policy)
            .field("send_key_id", &self.send.key_id)
            .field("recv_key_id", &self.recv.key_id)
            .field("keys_provisioned", &self.next_id)
            .field("usage", &self.usage)
            .finish_non_exhaustive()
    }
}

fn nonce(sender: u8, seq: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[0] = sender;
    n[4..].copy_from_slice(&seq.to_be_bytes());
    n
}

fn header(sender: u8, key_id: u32, seq: u64) -> [u8; AES_GCM_HEADER_LEN] {
    let mut h = [0u8; AES_GCM_HEADER_LEN];
    h[0] = VERSION;
    h[1] = sender;
    h[2..6].copy_from_slice(&key_id.to_be_bytes());
    h[6..14].copy_from_slice(&seq.to_be_bytes());
    h
}

/// AES-256-GCM encryption exactly as the backend uses it: ciphertext followed by the 16-byte tag.
pub(crate) fn gcm_encrypt(
    cipher: &Aes256Gcm,
    nonce: &[u8; 12],
    aad: &[u8],
    payload: &[u8],
) -> Result<Vec<u8>, AuthError> {
    cipher
        .encrypt(&Nonce::from(*nonce), Payload { msg: payload, aad })
        .map_err(|_| AuthError::Config("AES-GCM refused the payload (too long)".into()))
}

/// AES-256-GCM decryption and tag check; `BadTag` on failure.
pub(crate) fn gcm_decrypt(
    cipher: &Aes256Gcm,
    nonce: &[u8; 12],
    aad: &[u8],
    sealed: &[u8],
) -> Result<Vec<u8>, AuthError> {
    cipher
        .decrypt(&Nonce::from(*nonce), Payload { msg: sealed, aad })
        .map_err(|_| AuthError::BadTag)
}

pub(crate) fn cipher_from(key: &[u8; AES_GCM_KEY_LEN]) -> Aes256Gcm {
    Aes256Gcm::new(&(*key).into())
}

impl AesGcmAuth {
    /// One end with the default [`AesGcmPolicy`]. `bootstrap` is the pre-shared key: 32 bytes, or a
    /// multiple of 32 whose first 32 bytes are key 0 and the rest the next keys of the pool.
    pub fn new(role: Role, bootstrap: SecretKey) -> Result<Self, AuthError> {
        Self::with_policy(role, bootstrap, AesGcmPolicy::default())
    }

    /// One end with an explicit policy.
    pub fn with_policy(
        role: Role,
        bootstrap: SecretKey,
        policy: AesGcmPolicy,
    ) -> Result<Self, AuthError> {
        if policy.max_messages_per_key == 0 || policy.max_bytes_per_key == 0 {
            return Err(AuthError::Config(
                "AES-GCM policy limits per key must be at least 1".into(),
            ));
        }
        let keys = split_keys(&bootstrap)?;
        let cipher0 = cipher_from(&keys[0]);
        let direction = |cipher| Direction {
            key_id: 0,
            cipher,
            seq: 0,
            messages: 0,
            bytes: 0,
        };
        let next_id = u32::try_from(keys.len())
            .map_err(|_| AuthError::Config("too many AES-GCM keys".into()))?;
        let mut auth = Self {
            role,
            policy,
            pool: keys.into_iter().collect(),
            first_id: 0,
            next_id,
            reserve_released: false,
            send: direction(cipher0.clone()),
            recv: direction(cipher0),
            usage: AuthUsage::default(),
        };
        auth.update_key_usage();
        Ok(auth)
    }

    /// Two connected ends (Alice, Bob) sharing `bootstrap`, for tests, benchmarks and in-process links.
    pub fn pair(
        bootstrap: SecretKey,
        policy: AesGcmPolicy,
    ) -> Result<(AesGcmAuth, AesGcmAuth), AuthError> {
        Ok((
            Self::with_policy(Role::Alice, bootstrap.clone(), policy)?,
            Self::with_policy(Role::Bob, bootstrap, policy)?,
        ))
    }

    /// The policy in force.
    pub fn policy(&self) -> &AesGcmPolicy {
        &self.policy
    }

    /// Key ids currently used for sending and for receiving.
    pub fn key_ids(&self) -> (u32, u32) {
        (self.send.key_id, self.recv.key_id)
    }

    /// Lets rotation use the reserve keys (for a re-bootstrap exchange once the ordinary pool is
    /// empty). Both ends must call it at the same point of the message sequence.
    pub fn release_reserve(&mut self) {
        self.reserve_released = true;
        self.update_key_usage();
    }

    /// Highest key id that rotation may move to (exclusive bound), given the reserve rule.
    fn usable_end(&self) -> u32 {
        if self.reserve_released {
            self.next_id
        } else {
            let reserve = u32::try_from(self.policy.reserve_keys).unwrap_or(u32::MAX);
            self.next_id.saturating_sub(reserve)
        }
    }

    fn key(&self, id: u32) -> Option<&[u8; AES_GCM_KEY_LEN]> {
        let offset = id.checked_sub(self.first_id)?;
        self.pool.get(offset as usize).map(|k| &**k)
    }

    /// The key a direction moves to on rotation, or `KeyExhausted`.
    fn next_key_for(&self, current: u32) -> Result<Aes256Gcm, AuthError> {
        let id = current
            .checked_add(1)
            .ok_or_else(|| AuthError::KeyExhausted("AES-GCM key id space exhausted".into()))?;
        if id >= self.usable_end() {
            return Err(AuthError::KeyExhausted(format!(
                "AES-GCM key {current} reached its limit and no fresh key is left ({} provisioned, \
                 {} held in reserve{}); replenish with QKD key",
                self.next_id,
                if self.reserve_released {
                    0
                } else {
                    self.policy.reserve_keys
                },
                if self.reserve_released {
                    ", reserve released"
                } else {
                    ""
                },
            )));
        }
        let key = self
            .key(id)
            .ok_or_else(|| AuthError::KeyExhausted(format!("AES-GCM key {id} is not held")))?;
        Ok(cipher_from(key))
    }

    /// Erases keys both directions have left behind and refreshes the key counters.
    fn update_key_usage(&mut self) {
        let oldest_needed = self.send.key_id.min(self.recv.key_id);
        while self.first_id < oldest_needed && !self.pool.is_empty() {
            self.pool.pop_front(); // Zeroizing: wiped on drop.
            self.first_id += 1;
        }
        let in_use = u64::from(self.send.key_id.max(self.recv.key_id)) + 1;
        self.usage.key_bits_consumed = in_use * KEY_BITS;
        self.usage.key_bits_available = (u64::from(self.next_id) - in_use) * KEY_BITS;
    }

    /// The verdict on a frame that is not the expected next one: `Replay` if it is a genuine frame
    /// of the peer at another position (or an old one whose key is already erased), else `BadTag`.
    fn classify_unexpected(
        &self,
        key_id: u32,
        seq: u64,
        nonce: &[u8; 12],
        aad: &[u8],
        sealed: &[u8],
    ) -> AuthError {
        let replay = AuthError::Replay {
            expected: self.recv.seq,
            got: seq,
        };
        match self.key(key_id) {
            Some(key) => {
                if gcm_decrypt(&cipher_from(key), nonce, aad, sealed).is_ok() {
                    replay
                } else {
                    AuthError::BadTag
                }
            }
            _ if key_id < self.first_id && seq < self.recv.seq => replay,
            _ => AuthError::BadTag,
        }
    }

    fn open_inner(&mut self, frame: &[u8]) -> Result<Vec<u8>, AuthError> {
        if frame.len() < AES_GCM_HEADER_LEN + AES_GCM_TAG_LEN {
            return Err(AuthError::Truncated { len: frame.len() });
        }
        let (head, sealed) = frame.split_at(AES_GCM_HEADER_LEN);
        let peer = sender_byte(self.role.peer());
        if head[0] != VERSION || head[1] != peer {
            return Err(AuthError::BadTag);
        }
        let key_id = u32::from_be_bytes([head[2], head[3], head[4], head[5]]);
        let mut seq_bytes = [0u8; 8];
        seq_bytes.copy_from_slice(&head[6..14]);
        let seq = u64::from_be_bytes(seq_bytes);
        let nonce = nonce(peer, seq);
        let len = (sealed.len() - AES_GCM_TAG_LEN) as u64;

        let rotate = self.recv.must_rotate(&self.policy, len);
        let expected_key = if rotate {
            self.recv.key_id.saturating_add(1)
        } else {
            self.recv.key_id
        };
        if key_id != expected_key || seq != self.recv.seq {
            return Err(self.classify_unexpected(key_id, seq, &nonce, head, sealed));
        }
        let payload = if rotate {
            let cipher = self.next_key_for(self.recv.key_id)?;
            let payload = gcm_decrypt(&cipher, &nonce, head, sealed)?;
            self.recv.cipher = cipher;
            self.recv.key_id = expected_key;
            self.recv.messages = 0;
            self.recv.bytes = 0;
            payload
        } else {
            gcm_decrypt(&self.recv.cipher, &nonce, head, sealed)?
        };
        self.recv.messages += 1;
        self.recv.bytes = self.recv.bytes.saturating_add(len);
        self.recv.seq += 1;
        if rotate {
            self.update_key_usage();
        }
        Ok(payload)
    }
}

/// Splits key material into 256-bit keys (a non-empty multiple of 32 bytes).
fn split_keys(material: &SecretKey) -> Result<Vec<Zeroizing<[u8; AES_GCM_KEY_LEN]>>, AuthError> {
    let bytes = material.expose_secret();
    if bytes.is_empty() || !bytes.len().is_multiple_of(AES_GCM_KEY_LEN) {
        return Err(AuthError::Config(format!(
            "AES-GCM key material must be a non-empty multiple of {AES_GCM_KEY_LEN} bytes, got {}",
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(AES_GCM_KEY_LEN)
        .map(|chunk| {
            let mut key = Zeroizing::new([0u8; AES_GCM_KEY_LEN]);
            key.copy_from_slice(chunk);
            key
        })
        .collect())
}

impl ChannelAuth for AesGcmAuth {
    fn name(&self) -> &'static str {
        "aes-256-gcm"
    }

    fn seal(&mut self, payload: &[u8]) -> Result<Vec<u8>, AuthError> {
        let len = payload.len() as u64;
        if len > GCM_MAX_PAYLOAD {
            return Err(AuthError::Config(format!(
                "payload of {len} bytes exceeds the AES-GCM limit of {GCM_MAX_PAYLOAD}"
            )));
        }
        let sender = sender_byte(self.role);
        let rotate = self.send.must_rotate(&self.policy, len);
        let fresh = if rotate {
            Some(self.next_key_for(self.send.key_id)?)
        } else {
            None
        };
        let key_id = self.send.key_id + u32::from(rotate);
        let seq = self.send.seq;
        let head = header(sender, key_id, seq);
        let cipher = fresh.as_ref().unwrap_or(&self.send.cipher);
        let sealed = gcm_encrypt(cipher, &nonce(sender, seq), &head, payload)?;
        // Commit only now that the frame exists.
        if let Some(cipher) = fresh {
            self.send.cipher = cipher;
            self.send.key_id = key_id;
            self.send.messages = 0;
            self.send.bytes = 0;
            self.update_key_usage();
        }
        self.send.messages += 1;
        self.send.bytes = self.send.bytes.saturating_add(len);
        self.send.seq += 1;
        self.usage.sealed += 1;
        let mut frame = Vec::with_capacity(AES_GCM_HEADER_LEN + sealed.len());
        frame.extend_from_slice(&head);
        frame.extend_from_slice(&sealed);
        Ok(frame)
    }

    fn open(&mut self, frame: &[u8]) -> Result<Vec<u8>, AuthError> {
        let result = self.open_inner(frame);
        self.usage.record_open(result)
    }

    /// Adds `material` (a non-empty multiple of 32 bytes) as the next keys of the pool and re-arms
    /// the reserve. Material of another length is refused whole with [`AuthError::Config`],
    /// identically at both ends.
    fn replenish(&mut self, material: SecretKey) -> Result<(), AuthError> {
        let keys = split_keys(&material)?;
        let count = u32::try_from(keys.len())
            .ok()
            .and_then(|n| self.next_id.checked_add(n))
            .ok_or_else(|| AuthError::Config("AES-GCM key id space exhausted".into()))?;
        self.pool.extend(keys);
        self.next_id = count;
        // Fresh key re-arms the reserve (identically at both ends).
        self.reserve_released = false;
        self.update_key_usage();
        Ok(())
    }

    fn key_demand_bits(&self) -> u64 {
        // Wanted: `low_watermark_keys` unused keys plus a full, unused reserve.
        let in_use = u64::from(self.send.key_id.max(self.recv.key_id)) + 1;
        let unused = u64::from(self.next_id) - in_use;
        let wanted =
            (self.policy.low_watermark_keys as u64).saturating_add(self.policy.reserve_keys as u64);
        wanted.saturating_sub(unused) * KEY_BITS
    }

    fn usage(&self) -> AuthUsage {
        self.usage
    }

    fn frame_overhead(&self) -> usize {
        AES_GCM_HEADER_LEN + AES_GCM_TAG_LEN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn material(seed: u8, keys: usize) -> SecretKey {
        SecretKey::from_vec(
            (0..keys * AES_GCM_KEY_LEN)
                .map(|i| (i as u8).wrapping_mul(7) ^ seed)
                .collect(),
        )
    }

    fn policy(messages: u64, reserve: usize) -> AesGcmPolicy {
        AesGcmPolicy {
            max_messages_per_key: messages,
            max_bytes_per_key: u64::MAX,
            reserve_keys: reserve,
            low_watermark_keys: 1,
        }
    }

    /// Test Case 16 of McGrew and Viega, "The Galois/Counter Mode of Operation (GCM)" (the
    /// AES-256 vector with a 96-bit IV and associated data, also used by NIST's GCM validation).
    #[test]
    fn aes_256_gcm_matches_published_vector() {
        let key: [u8; 32] = hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
            .try_into()
            .unwrap();
        let iv: [u8; 12] = hex("cafebabefacedbaddecaf888").try_into().unwrap();
        let plaintext = hex(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
             1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        );
        let aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        let expected = hex(
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
             8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662\
             76fc6ece0f4e1768cddf8853bb2d551b",
        );
        let cipher = cipher_from(&key);
        let sealed = gcm_encrypt(&cipher, &iv, &aad, &plaintext).unwrap();
        assert_eq!(sealed, expected);
        assert_eq!(gcm_decrypt(&cipher, &iv, &aad, &sealed).unwrap(), plaintext);
        let mut bad_aad = aad.clone();
        bad_aad[0] ^= 0x80;
        assert_eq!(
            gcm_decrypt(&cipher, &iv, &bad_aad, &sealed),
            Err(AuthError::BadTag)
        );
    }

    /// The frame is exactly header || AES-256-GCM(key 0, nonce(sender, seq), aad = header).
    #[test]
    fn frame_layout_is_header_then_gcm_output() {
        let keys = material(1, 1);
        let mut alice = AesGcmAuth::new(Role::Alice, keys.clone()).unwrap();
        let mut bob = AesGcmAuth::new(Role::Bob, keys.clone()).unwrap();
        alice.seal(b"zero").unwrap();
        let frame = alice.seal(b"one").unwrap();
        let key: [u8; 32] = keys.expose_secret().try_into().unwrap();
        let head = header(0x01, 0, 1);
        assert_eq!(&frame[..14], &head, "version 1, sender Alice, key 0, seq 1");
        let body = gcm_encrypt(&cipher_from(&key), &nonce(0x01, 1), &head, b"one").unwrap();
        assert_eq!(&frame[14..], &body[..]);
        // Bob's frames carry his sender byte and an independent sequence.
        let from_bob = bob.seal(b"b").unwrap();
        assert_eq!(&from_bob[..14], &header(0x02, 0, 0));
        assert_ne!(nonce(0x01, 0), nonce(0x02, 0));
    }

    #[test]
    fn both_ends_rotate_at_the_same_frame_and_erase_old_keys() {
        let (mut a, mut b) = AesGcmAuth::pair(material(2, 5), policy(2, 0)).unwrap();
        let mut key_ids = Vec::new();
        for i in 0..9u8 {
            let frame = a.seal(&[i]).unwrap();
            key_ids.push(u32::from_be_bytes(frame[2..6].try_into().unwrap()));
            assert_eq!(b.open(&frame).unwrap(), vec![i]);
            assert_eq!(a.key_ids().0, b.key_ids().1, "sender and receiver agree");
        }
        assert_eq!(key_ids, [0, 0, 1, 1, 2, 2, 3, 3, 4]);
        // Bob never sent: his sending direction is still on key 0, so keys 0..=4 are all held.
        assert_eq!(b.pool.len(), 5);
        // Once Bob's direction moves on, the keys behind both directions are erased.
        for i in 0..8u8 {
            let frame = b.seal(&[i]).unwrap();
            a.open(&frame).unwrap();
        }
        assert_eq!(b.key_ids(), (3, 4));
        assert_eq!(b.first_id, 3);
        assert_eq!(b.pool.len(), 2);
        // Accounting: 5 keys provisioned, all in use (key 4 by one direction).
        let u = b.usage();
        assert_eq!(u.key_bits_consumed, 5 * 256);
        assert_eq!(u.key_bits_available, 0);
    }

    #[test]
    fn byte_limit_rotates_before_the_frame_that_would_exceed_it() {
        let policy = AesGcmPolicy {
            max_messages_per_key: u64::MAX,
            max_bytes_per_key: 10,
            reserve_keys: 0,
            low_watermark_keys: 0,
        };
        let (mut a, mut b) = AesGcmAuth::pair(material(3, 4), policy).unwrap();
        let mut ids = Vec::new();
        for len in [6usize, 4, 1, 30, 0, 10] {
            let frame = a.seal(&vec![1; len]).unwrap();
            ids.push(u32::from_be_bytes(frame[2..6].try_into().unwrap()));
            b.open(&frame).unwrap();
        }
        // 6+4 = 10 fits key 0; 1 more exceeds -> key 1; 30 alone exceeds -> key 2 (first frame
        // under a fresh key is always allowed); 0 bytes after 30 -> key 3; 10 after 0 fits key 3.
        assert_eq!(ids, [0, 0, 1, 2, 3, 3]);
    }

    #[test]
    fn exhaustion_fails_closed_and_replenish_resumes_the_sequence() {
        let (mut a, mut b) = AesGcmAuth::pair(material(4, 2), policy(1, 0)).unwrap();
        for i in 0..2u8 {
            let f = a.seal(&[i]).unwrap();
            b.open(&f).unwrap();
        }
        // Key 1 is used up: the third frame would need key 2.
        let before = a.usage();
        match a.seal(b"more") {
            Err(AuthError::KeyExhausted(msg)) => assert!(msg.contains("replenish"), "{msg}"),
            other => panic!("expected KeyExhausted, got {other:?}"),
        }
        assert_eq!(a.usage(), before, "a failed seal changes nothing");
        assert_eq!(a.key_demand_bits(), 256);
        for end in [&mut a, &mut b] {
            end.replenish(material(40, 1)).unwrap();
        }
        let f = a.seal(b"more").unwrap();
        assert_eq!(u32::from_be_bytes(f[2..6].try_into().unwrap()), 2);
        assert_eq!(u64::from_be_bytes(f[6..14].try_into().unwrap()), 2);
        assert_eq!(b.open(&f).unwrap(), b"more");
    }

    #[test]
    fn the_reserve_is_kept_until_released() {
        let (mut a, mut b) = AesGcmAuth::pair(material(5, 3), policy(1, 1)).unwrap();
        for i in 0..2u8 {
            let f = a.seal(&[i]).unwrap();
            b.open(&f).unwrap();
        }
        // Keys 0 and 1 used; key 2 is the reserve.
        assert!(matches!(a.seal(b"x"), Err(AuthError::KeyExhausted(_))));
        assert_eq!(
            a.usage().key_bits_available,
            256,
            "the reserve is still there"
        );
        // Demand: low watermark (1) + reserve (1) - unused (1) = 1 key.
        assert_eq!(a.key_demand_bits(), 256);
        a.release_reserve();
        b.release_reserve();
        let f = a.seal(b"bootstrap").unwrap();
        assert_eq!(b.open(&f).unwrap(), b"bootstrap");
        assert_eq!(a.key_ids().0, 2);
        assert!(matches!(a.seal(b"y"), Err(AuthError::KeyExhausted(_))));
        // Fresh key re-arms the reserve: with 2 new keys, one is usable and one reserved.
        for end in [&mut a, &mut b] {
            end.replenish(material(50, 2)).unwrap();
        }
        let f = a.seal(b"y").unwrap();
        b.open(&f).unwrap();
        assert!(matches!(a.seal(b"z"), Err(AuthError::KeyExhausted(_))));
    }

    #[test]
    fn rejected_frames_never_consume_key_even_at_a_rotation_point() {
        // A DoS that corrupts every frame at the moment a rotation is due must not advance the pool.
        let (mut a, mut b) = AesGcmAuth::pair(material(6, 3), policy(1, 0)).unwrap();
        let f0 = a.seal(b"0").unwrap();
        b.open(&f0).unwrap();
        let f1 = a.seal(b"1").unwrap(); // first frame under key 1
        let usage = b.usage();
        for i in 0..f1.len() * 8 {
            let mut bad = f1.clone();
            bad[i / 8] ^= 1 << (i % 8);
            assert!(b.open(&bad).is_err());
        }
        assert_eq!(b.key_ids().1, 0, "no rotation on rejected traffic");
        assert_eq!(b.usage().key_bits_consumed, usage.key_bits_consumed);
        assert_eq!(b.usage().rejected, usage.rejected + f1.len() as u64 * 8);
        assert_eq!(b.open(&f1).unwrap(), b"1");
        assert_eq!(b.key_ids().1, 1);
    }

    #[test]
    fn replay_of_a_frame_under_an_erased_key_is_still_a_replay() {
        let (mut a, mut b) = AesGcmAuth::pair(material(7, 4), policy(1, 0)).unwrap();
        let first = a.seal(b"0").unwrap();
        b.open(&first).unwrap();
        for i in 1..4u8 {
            let f = a.seal(&[i]).unwrap();
            b.open(&f).unwrap();
            let g = b.seal(&[i]).unwrap();
            a.open(&g).unwrap();
        }
        assert!(b.first_id > 0, "key 0 has been erased");
        assert_eq!(
            b.open(&first),
            Err(AuthError::Replay {
                expected: 4,
                got: 0
            })
        );
    }

    #[test]
    fn bad_configuration_is_an_error() {
        assert!(matches!(
            AesGcmAuth::new(Role::Alice, SecretKey::from_vec(vec![1; 31])),
            Err(AuthError::Config(_))
        ));
        assert!(matches!(
            AesGcmAuth::new(Role::Alice, SecretKey::from_vec(Vec::new())),
            Err(AuthError::Config(_))
        ));
        assert!(matches!(
            AesGcmAuth::with_policy(Role::Alice, material(1, 1), policy(0, 0)),
            Err(AuthError::Config(_))
        ));
        let mut a = AesGcmAuth::new(Role::Alice, material(1, 1)).unwrap();
        let before = a.usage();
        assert!(matches!(
            a.replenish(SecretKey::from_vec(vec![0; 48])),
            Err(AuthError::Config(_))
        ));
        assert_eq!(a.usage(), before, "refused material is not added");
        assert_eq!(a.frame_overhead(), 30);
    }

    #[test]
    fn debug_output_shows_no_key_material() {
        let keys = SecretKey::from_vec(vec![0xAB; 64]);
        let a = AesGcmAuth::new(Role::Alice, keys).unwrap();
        let text = format!("{a:?}");
        assert!(text.contains("AesGcmAuth"));
        assert!(!text.to_lowercase().contains("ab, ab") && !text.contains("171"));
    }
}
