//! [`WegmanCarterAuth`]: information-theoretically secure authentication with a polynomial hash
//! over GF(2^128) and one-time-pad encrypted tags, all key taken from QKD output.
//!
//! # Construction
//! ```text
//! frame = version (1) = 1 | sender (1): 0x01 Alice, 0x02 Bob | seq (u64 BE) | payload | tag (16)
//! tag   = GHASH_k( B || payload, zero-padded to 16-byte blocks || L ) XOR pad_seq
//! ```
//! `B` is the 16-byte block `version | sender | 0^6 | seq` and `L` the block `0^8 | 8·len(payload)`
//! (u64 BE). GHASH is the polynomial hash of AES-GCM: `GHASH_k(X_1..X_m) = X_1·k^m + … + X_m·k`
//! in GF(2^128). `k` is a 128-bit hash key and `pad_seq` a fresh 128-bit one-time pad per frame.
//!
//! # Security (information-theoretic)
//! For two different messages of at most `m` blocks, `GHASH_k(X) + GHASH_k(X')` is a non-zero
//! polynomial in `k` of degree at most `m` with no constant term, so it equals any given value
//! for at most `m` of the 2^128 keys: GHASH is ε-almost-XOR-universal with `ε = m / 2^128`, and
//! `m ↦ GHASH_k(m) + pad` is ε-almost-strongly-universal (Wegman and Carter 1981; Stinson 1994).
//! With the encoding above, a payload of `n` bytes is `m = ceil(n / 16) + 2` blocks, hence
//! **each forgery attempt succeeds with probability at most `ε(n) = (ceil(n/16) + 2) / 2^128`**
//! (see [`forgery_bound`]): 2^-125.4 for 64 bytes, 2^-121.9 for 1 KiB, 2^-116 for 64 KiB. Since every
//! rejection leaves the receiver unchanged, `q` attempts succeed with probability at most `q·ε`.
//!
//! # Key use
//! * The hash key `k` (the first 16 bytes given to [`WegmanCarterAuth::new`]) is reused for every
//!   frame of both directions: this is safe because each tag is hidden by a one-time pad, so tags
//!   reveal nothing about `k`.
//! * Pads are never reused. Each direction has its own pad queue: every `replenish` splits its
//!   material in two halves, the first half for Alice→Bob, the second for Bob→Alice (identically at
//!   both ends). A pad is consumed when the sender seals a frame and when the receiver accepts it;
//!   a rejected frame consumes nothing, so injected or corrupted traffic cannot drain the pool.
//! * The last [`WegmanCarterPolicy::reserve_pads`] pads of each direction are held back for a
//!   re-bootstrap exchange until [`WegmanCarterAuth::release_reserve`]; the next `replenish`
//!   re-arms the reserve. When no usable pad is left, `seal` and `open` fail with
//!   [`AuthError::KeyExhausted`] and change nothing.
//! * `usage().key_bits_consumed` = 128 (hash key) + 128 per frame sealed + 128 per frame accepted;
//!   `key_bits_available` = 128 per pad still queued (both directions, reserve included).

use std::collections::VecDeque;
use std::fmt;

use ghash::GHash;
use ghash::universal_hash::UniversalHash;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::{AuthUsage, ChannelAuth, sender_byte};
use crate::device::Role;
use crate::error::AuthError;
use crate::key::SecretKey;

/// Length of the hash key, of each pad and of the tag, in bytes.
pub const WC_BLOCK_LEN: usize = 16;
/// Length of the frame header in bytes.
pub const WC_HEADER_LEN: usize = 10;
const VERSION: u8 = 1;
const BLOCK_BITS: u64 = (WC_BLOCK_LEN * 8) as u64;

/// Upper bound on the probability that one forgery attempt on a frame carrying `payload_len`
/// bytes is accepted: `(ceil(payload_len / 16) + 2) / 2^128`.
///
/// ```
/// let eps = qkd_core::auth::wegman_carter::forgery_bound(1024);
/// assert!(eps < 2f64.powi(-121));
/// ```
pub fn forgery_bound(payload_len: usize) -> f64 {
    (payload_len.div_ceil(WC_BLOCK_LEN) as f64 + 2.0) * 2f64.powi(-128)
}

/// How much pad [`WegmanCarterAuth`] keeps in hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WegmanCarterPolicy {
    /// Pads per direction held back for a re-bootstrap exchange.
    pub reserve_pads: usize,
    /// [`key_demand_bits`](ChannelAuth::key_demand_bits) asks for key when a direction has fewer
    /// than this many pads besides a full reserve.
    pub low_watermark_pads: usize,
}

impl Default for WegmanCarterPolicy {
    /// 64 reserve pads and a low watermark of 1024 pads (16 KiB) per direction.
    fn default() -> Self {
        Self {
            reserve_pads: 64,
            low_watermark_pads: 1024,
        }
    }
}

type Pad = Zeroizing<[u8; WC_BLOCK_LEN]>;

/// Wegman-Carter channel authentication (see the module docs for the construction, ε and the key
/// accounting).
///
/// ```
/// use qkd_core::auth::{ChannelAuth, WegmanCarterAuth, WegmanCarterPolicy};
/// use qkd_core::{Role, SecretKey};
/// // 16 bytes of hash key, then 32 bytes for each pair of pads (one frame each way); from QKD
/// // in a real link (here: a fixed demo key).
/// let initial = SecretKey::from_vec((0..16 + 32 * 8).map(|i| i as u8).collect());
/// let policy = WegmanCarterPolicy { reserve_pads: 2, low_watermark_pads: 4 };
/// let mut alice = WegmanCarterAuth::with_policy(Role::Alice, initial.clone(), policy)?;
/// let mut bob = WegmanCarterAuth::with_policy(Role::Bob, initial, policy)?;
/// let frame = alice.seal(b"syndrome 1101")?;
/// assert_eq!(bob.open(&frame)?, b"syndrome 1101");
/// assert_eq!(bob.usage().key_bits_consumed, 128 + 128);
/// # Ok::<(), qkd_core::AuthError>(())
/// ```
pub struct WegmanCarterAuth {
    role: Role,
    policy: WegmanCarterPolicy,
    hash: GHash,
    send_pads: VecDeque<Pad>,
    recv_pads: VecDeque<Pad>,
    send_seq: u64,
    recv_seq: u64,
    reserve_released: bool,
    usage: AuthUsage,
}

impl fmt::Debug for WegmanCarterAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WegmanCarterAuth")
            .field("role", &self.role)
            .field("policy", &self.policy)
            .field("send_seq", &self.send_seq)
            .field("recv_seq", &self.recv_seq)
            .field("send_pads", &self.send_pads.len())
            .field("recv_pads", &self.recv_pads.len())
            .field("usage", &self.usage)
            .finish_non_exhaustive()
    }
}

/// `GHASH_k(B || payload padded || L)` as described in the module docs.
pub(crate) fn hash_frame(hash: &GHash, sender: u8, seq: u64, payload: &[u8]) -> [u8; WC_BLOCK_LEN] {
    let mut first = [0u8; WC_BLOCK_LEN];
    first[0] = VERSION;
    first[1] = sender;
    first[8..].copy_from_slice(&seq.to_be_bytes());
    let mut last = [0u8; WC_BLOCK_LEN];
    last[8..].copy_from_slice(&(payload.len() as u64).wrapping_mul(8).to_be_bytes());
    let mut h = hash.clone();
    h.update(&[first.into()]);
    h.update_padded(payload);
    h.update(&[last.into()]);
    h.finalize().into()
}

fn xor(a: [u8; WC_BLOCK_LEN], b: &[u8; WC_BLOCK_LEN]) -> [u8; WC_BLOCK_LEN] {
    let mut out = a;
    for (o, x) in out.iter_mut().zip(b) {
        *o ^= x;
    }
    out
}

impl WegmanCarterAuth {
    /// One end with the default policy. `initial` is the 16-byte hash key followed by pad material
    /// (a multiple of 32 bytes, possibly none; split as in `replenish`).
    pub fn new(role: Role, initial: SecretKey) -> Result<Self, AuthError> {
        Self::with_policy(role, initial, WegmanCarterPolicy::default())
    }

    /// One end with an explicit policy.
    pub fn with_policy(
        role: Role,
        initial: SecretKey,
        policy: WegmanCarterPolicy,
    ) -> Result<Self, AuthError> {
        let bytes = initial.expose_secret();
        if bytes.len() < WC_BLOCK_LEN
            || !(bytes.len() - WC_BLOCK_LEN).is_multiple_of(2 * WC_BLOCK_LEN)
        {
            return Err(AuthError::Config(format!(
                "Wegman-Carter initial key must be 16 bytes of hash key plus a multiple of 32 bytes \
                 of pads, got {} bytes",
                bytes.len()
            )));
        }
        let key = Zeroizing::new(
            <[u8; WC_BLOCK_LEN]>::try_from(&bytes[..WC_BLOCK_LEN])
                .map_err(|_| AuthError::Config("Wegman-Carter hash key must be 16 bytes".into()))?,
        );
        let hash = GHash::new(&(*key).into());
        let mut auth = Self {
            role,
            policy,
            hash,
            send_pads: VecDeque::new(),
            recv_pads: VecDeque::new(),
            send_seq: 0,
            recv_seq: 0,
            reserve_released: false,
            usage: AuthUsage {
                key_bits_consumed: BLOCK_BITS,
                ..AuthUsage::default()
            },
        };
        auth.add_pads(&bytes[WC_BLOCK_LEN..]);
        Ok(auth)
    }

    /// Two connected ends (Alice, Bob) from the same initial key, for tests, benchmarks and
    /// in-process links.
    pub fn pair(
        initial: SecretKey,
        policy: WegmanCarterPolicy,
    ) -> Result<(WegmanCarterAuth, WegmanCarterAuth), AuthError> {
        Ok((
            Self::with_policy(Role::Alice, initial.clone(), policy)?,
            Self::with_policy(Role::Bob, initial, policy)?,
        ))
    }

    /// Pads left for sending and for receiving (reserve included).
    pub fn pads_left(&self) -> (usize, usize) {
        (self.send_pads.len(), self.recv_pads.len())
    }

    /// Lets both directions use their reserve pads (for a re-bootstrap exchange). Both ends must
    /// call it at the same point of the message sequence.
    pub fn release_reserve(&mut self) {
        self.reserve_released = true;
    }

    /// Splits `material` (a multiple of 32 bytes) into Alice→Bob and Bob→Alice pads.
    fn add_pads(&mut self, material: &[u8]) {
        let (alice_to_bob, bob_to_alice) = material.split_at(material.len() / 2);
        let (send, recv) = match self.role {
            Role::Alice => (alice_to_bob, bob_to_alice),
            Role::Bob => (bob_to_alice, alice_to_bob),
        };
        for (queue, bytes) in [(&mut self.send_pads, send), (&mut self.recv_pads, recv)] {
            for chunk in bytes.chunks_exact(WC_BLOCK_LEN) {
                let mut pad = Zeroizing::new([0u8; WC_BLOCK_LEN]);
                pad.copy_from_slice(chunk);
                queue.push_back(pad);
            }
        }
        self.update_available();
    }

    fn update_available(&mut self) {
        self.usage.key_bits_available =
            (self.send_pads.len() + self.recv_pads.len()) as u64 * BLOCK_BITS;
    }

    /// The next pad of a queue, unless only the reserve is left.
    fn usable_pad<'a>(
        queue: &'a VecDeque<Pad>,
        reserve: usize,
        released: bool,
        direction: &str,
    ) -> Result<&'a Pad, AuthError> {
        let held = if released { 0 } else { reserve };
        if queue.len() <= held {
            return Err(AuthError::KeyExhausted(format!(
                "Wegman-Carter {direction} pads exhausted ({} left, {held} held in reserve); \
                 replenish with QKD key",
                queue.len()
            )));
        }
        queue
            .front()
            .ok_or_else(|| AuthError::KeyExhausted(format!("no {direction} pad")))
    }

    fn open_inner(&mut self, frame: &[u8]) -> Result<Vec<u8>, AuthError> {
        if frame.len() < WC_HEADER_LEN + WC_BLOCK_LEN {
            return Err(AuthError::Truncated { len: frame.len() });
        }
        let (head, rest) = frame.split_at(WC_HEADER_LEN);
        let (payload, tag) = rest.split_at(rest.len() - WC_BLOCK_LEN);
        let peer = sender_byte(self.role.peer());
        let mut seq_bytes = [0u8; 8];
        seq_bytes.copy_from_slice(&head[2..10]);
        let seq = u64::from_be_bytes(seq_bytes);
        let pad = Self::usable_pad(
            &self.recv_pads,
            self.policy.reserve_pads,
            self.reserve_released,
            "receive",
        )?;
        // The tag binds version, sender and seq too (they are hashed), so any change to the header
        // fails here like a change to the payload.
        let expected = Zeroizing::new(xor(hash_frame(&self.hash, head[1], seq, payload), pad));
        let tag_ok = bool::from(expected.as_slice().ct_eq(tag));
        if !tag_ok || head[0] != VERSION || head[1] != peer {
            return Err(AuthError::BadTag);
        }
        if seq != self.recv_seq {
            // A valid tag under this position's pad with another sequence number is a forgery
            // that beat the ε bound; report it as out of order.
            return Err(AuthError::Replay {
                expected: self.recv_seq,
                got: seq,
            });
        }
        self.recv_pads.pop_front(); // zeroized on drop
        self.recv_seq += 1;
        self.usage.key_bits_consumed += BLOCK_BITS;
        self.update_available();
        Ok(payload.to_vec())
    }
}

impl ChannelAuth for WegmanCarterAuth {
    fn name(&self) -> &'static str {
        "wegman-carter-ghash-otp"
    }

    fn seal(&mut self, payload: &[u8]) -> Result<Vec<u8>, AuthError> {
        let pad = Self::usable_pad(
            &self.send_pads,
            self.policy.reserve_pads,
            self.reserve_released,
            "send",
        )?;
        let sender = sender_byte(self.role);
        let seq = self.send_seq;
        let tag = xor(hash_frame(&self.hash, sender, seq, payload), pad);
        let mut frame = Vec::with_capacity(WC_HEADER_LEN + payload.len() + WC_BLOCK_LEN);
        frame.push(VERSION);
        frame.push(sender);
        frame.extend_from_slice(&seq.to_be_bytes());
        frame.extend_from_slice(payload);
        frame.extend_from_slice(&tag);
        self.send_pads.pop_front(); // zeroized on drop
        self.send_seq += 1;
        self.usage.sealed += 1;
        self.usage.key_bits_consumed += BLOCK_BITS;
        self.update_available();
        Ok(frame)
    }

    fn open(&mut self, frame: &[u8]) -> Result<Vec<u8>, AuthError> {
        let result = self.open_inner(frame);
        self.usage.record_open(result)
    }

    /// Adds pads: `material` must be a non-empty multiple of 32 bytes; the first half becomes
    /// Alice→Bob pads, the second half Bob→Alice pads. Re-arms the reserve. Other lengths are
    /// refused whole with [`AuthError::Config`].
    fn replenish(&mut self, material: SecretKey) -> Result<(), AuthError> {
        let bytes = material.expose_secret();
        if bytes.is_empty() || !bytes.len().is_multiple_of(2 * WC_BLOCK_LEN) {
            return Err(AuthError::Config(format!(
                "Wegman-Carter pad material must be a non-empty multiple of 32 bytes, got {}",
                bytes.len()
            )));
        }
        self.add_pads(bytes);
        self.reserve_released = false;
        Ok(())
    }

    /// 256 bits (one pad per direction) for each pad the emptier direction lacks to reach the low
    /// watermark plus a full reserve.
    fn key_demand_bits(&self) -> u64 {
        let wanted = self
            .policy
            .low_watermark_pads
            .saturating_add(self.policy.reserve_pads);
        let lacking = wanted.saturating_sub(self.send_pads.len().min(self.recv_pads.len()));
        lacking as u64 * 2 * BLOCK_BITS
    }

    fn usage(&self) -> AuthUsage {
        self.usage
    }

    fn frame_overhead(&self) -> usize {
        WC_HEADER_LEN + WC_BLOCK_LEN
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes_gcm::aead::{Aead, KeyInit as _};
    use aes_gcm::{Aes128Gcm, Nonce};

    fn initial(pads_per_direction: usize) -> SecretKey {
        SecretKey::from_vec(
            (0..WC_BLOCK_LEN + 2 * WC_BLOCK_LEN * pads_per_direction)
                .map(|i| (i as u8).wrapping_mul(29) ^ 0x5c)
                .collect(),
        )
    }

    fn policy(reserve: usize, low: usize) -> WegmanCarterPolicy {
        WegmanCarterPolicy {
            reserve_pads: reserve,
            low_watermark_pads: low,
        }
    }

    /// Our GHASH (the universal hash) agrees with the published AES-GCM vectors: in Test Cases 1 and
    /// 2 of McGrew and Viega (AES-128, zero key and IV, H = AES_0(0) = 66e94bd4...), the tags differ
    /// exactly by GHASH_H(C || len block) with C = 0388dace... (one block). The tags are produced
    /// by the `aes-gcm` crate and compared with the published values.
    #[test]
    fn ghash_matches_the_gcm_test_vectors() {
        let cipher = Aes128Gcm::new(&[0u8; 16].into());
        let nonce = Nonce::from([0u8; 12]);
        let tc1 = cipher.encrypt(&nonce, &[][..]).unwrap();
        let tc2 = cipher.encrypt(&nonce, &[0u8; 16][..]).unwrap();
        assert_eq!(tc1, hex("58e2fccefa7e3061367f1d57a4e7455a"));
        assert_eq!(
            tc2,
            hex("0388dace60b6a392f328c2b971b2fe78ab6e47d42cec13bdf53a67b21257bddf")
        );
        let h: [u8; 16] = hex("66e94bd4ef8a2c3b884cfa59ca342b2e").try_into().unwrap();
        let mut g = GHash::new(&h.into());
        let c: [u8; 16] = tc2[..16].try_into().unwrap();
        let mut len_block = [0u8; 16];
        len_block[8..].copy_from_slice(&128u64.to_be_bytes());
        g.update(&[c.into(), len_block.into()]);
        let ghash: [u8; 16] = g.finalize().into();
        let tc1_tag: [u8; 16] = tc1.try_into().unwrap();
        assert_eq!(xor(ghash, &tc1_tag).to_vec(), tc2[16..].to_vec());
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn tag_is_ghash_of_the_encoding_xor_the_pad() {
        let key = initial(2);
        let (mut a, _) = WegmanCarterAuth::pair(key.clone(), policy(0, 0)).unwrap();
        let frame = a.seal(b"hello").unwrap();
        let k: [u8; 16] = key.expose_secret()[..16].try_into().unwrap();
        // Alice's first pad: the first 16 bytes of the Alice->Bob half of the pad material.
        let pad: [u8; 16] = key.expose_secret()[16..32].try_into().unwrap();
        let mut g = GHash::new(&k.into());
        let mut first = [0u8; 16];
        first[0] = 1;
        first[1] = 1;
        let mut body = [0u8; 16];
        body[..5].copy_from_slice(b"hello");
        let mut last = [0u8; 16];
        last[15] = 40;
        g.update(&[first.into(), body.into(), last.into()]);
        let want = xor(g.finalize().into(), &pad);
        assert_eq!(&frame[..10], &[1, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&frame[10..15], b"hello");
        assert_eq!(&frame[15..], &want);
    }

    #[test]
    fn every_pad_is_used_once_and_accounted() {
        let (mut a, mut b) = WegmanCarterAuth::pair(initial(10), policy(0, 0)).unwrap();
        assert_eq!(a.usage().key_bits_consumed, 128);
        assert_eq!(a.usage().key_bits_available, 20 * 128);
        let mut tags = std::collections::HashSet::new();
        for i in 0..10u8 {
            // Same payload every time: tags still differ because pads do.
            let f = a.seal(b"same").unwrap();
            assert!(tags.insert(f[f.len() - 16..].to_vec()));
            b.open(&f).unwrap();
            if i < 4 {
                let g = b.seal(b"back").unwrap();
                a.open(&g).unwrap();
            }
        }
        for end in [&a, &b] {
            let u = end.usage();
            assert_eq!(u.key_bits_consumed, 128 + 14 * 128);
            assert_eq!(u.key_bits_available, 6 * 128);
        }
        assert_eq!(a.pads_left(), (0, 6));
        assert_eq!(b.pads_left(), (6, 0));
        assert!(matches!(a.seal(b"x"), Err(AuthError::KeyExhausted(_))));
    }

    #[test]
    fn exhaustion_fails_closed_and_replenish_resumes() {
        let (mut a, mut b) = WegmanCarterAuth::pair(initial(1), policy(0, 3)).unwrap();
        let f = a.seal(b"1").unwrap();
        b.open(&f).unwrap();
        let before = a.usage();
        assert!(matches!(a.seal(b"2"), Err(AuthError::KeyExhausted(_))));
        assert_eq!(a.usage(), before);
        // A receiver without pads rejects (and counts) without changing anything else.
        let b_before = b.usage();
        assert!(matches!(b.open(&f), Err(AuthError::KeyExhausted(_))));
        assert_eq!(b.usage().rejected, b_before.rejected + 1);
        assert_eq!(b.usage().key_bits_consumed, b_before.key_bits_consumed);
        assert_eq!(a.key_demand_bits(), 3 * 256);
        let material = SecretKey::from_vec(vec![0x33; 3 * 32]);
        a.replenish(material.clone()).unwrap();
        b.replenish(material).unwrap();
        let f = a.seal(b"2").unwrap();
        assert_eq!(b.open(&f).unwrap(), b"2");
        assert_eq!(u64::from_be_bytes(f[2..10].try_into().unwrap()), 1);
    }

    #[test]
    fn reserve_is_held_until_released_and_rearmed_by_replenish() {
        let (mut a, mut b) = WegmanCarterAuth::pair(initial(3), policy(2, 0)).unwrap();
        let f = a.seal(b"1").unwrap();
        b.open(&f).unwrap();
        assert!(matches!(a.seal(b"2"), Err(AuthError::KeyExhausted(_))));
        a.release_reserve();
        b.release_reserve();
        for i in 0..2u8 {
            let f = a.seal(&[i]).unwrap();
            b.open(&f).unwrap();
        }
        assert!(matches!(a.seal(b"3"), Err(AuthError::KeyExhausted(_))));
        let material = SecretKey::from_vec(vec![0x44; 3 * 32]);
        a.replenish(material.clone()).unwrap();
        b.replenish(material).unwrap();
        let f = a.seal(b"3").unwrap();
        b.open(&f).unwrap();
        assert!(
            matches!(a.seal(b"4"), Err(AuthError::KeyExhausted(_))),
            "reserve of 2 re-armed"
        );
    }

    #[test]
    fn forgery_bound_follows_the_block_count() {
        assert_eq!(forgery_bound(0), 2.0 * 2f64.powi(-128));
        assert_eq!(forgery_bound(16), 3.0 * 2f64.powi(-128));
        assert_eq!(forgery_bound(17), 4.0 * 2f64.powi(-128));
        assert!(forgery_bound(64 << 10).log2() < -115.9);
    }

    #[test]
    fn bad_key_material_is_refused() {
        for len in [0usize, 15, 17, 16 + 16, 16 + 33] {
            assert!(matches!(
                WegmanCarterAuth::new(Role::Alice, SecretKey::from_vec(vec![1; len])),
                Err(AuthError::Config(_))
            ));
        }
        let mut a = WegmanCarterAuth::new(Role::Alice, initial(0)).unwrap();
        assert!(matches!(
            a.replenish(SecretKey::from_vec(vec![1; 16])),
            Err(AuthError::Config(_))
        ));
        assert_eq!(a.usage().key_bits_available, 0);
        assert!(!format!("{a:?}").contains("92"));
    }
}
