//! [`TranscriptChannel`]: a [`ClassicalChannel`] that authenticates the whole transcript of an
//! exchange once, at [`confirm`](TranscriptChannel::confirm), instead of every frame.
//!
//! # Why
//! QKD post-processing needs the classical messages of a block to be authentic before its key is
//! used, not each one as it arrives. With a signature backend, signing every frame costs one
//! signature per Cascade round trip (SLH-DSA-SHAKE-128f: a 17 kB signature and tens of milliseconds
//! each); signing the transcript costs one signature per end per block. With a one-time-pad
//! backend it spends one tag per block instead of one per frame.
//!
//! # How
//! Frames travel unchanged. Each end hashes (SHA-256) every frame of each direction, in order and
//! length-prefixed, into two running digests: Alice-to-Bob and Bob-to-Alice.
//! [`confirm`](TranscriptChannel::confirm) ends a transcript: each end seals, with its [`ChannelAuth`]
//! backend, the message `(label, transcript number, digest A->B, digest B->A)` and sends it, then
//! opens the peer's and compares it with its own (in constant time). Any frame added, dropped,
//! altered or reordered in either direction makes the digests differ, and the confirmation
//! fails with [`AuthError::BadTag`]; a confirmation replayed from an earlier transcript carries
//! the wrong number (and the backend's own replay protection rejects it too).
//!
//! # Security
//! Nothing received before a successful `confirm` may be trusted: the caller must not use a key
//! distilled from the transcript until `confirm` succeeds (the simulated device yields a block only
//! after it). A failed confirmation closes the channel, as an authentication failure does in
//! [`AuthenticatedChannel`](super::AuthenticatedChannel). The binding is as strong as the backend
//! and SHA-256's collision resistance, so with [`WegmanCarterAuth`](crate::auth::WegmanCarterAuth)
//! the scheme is computationally (not information-theoretically) secure: keep per-frame
//! authentication where information-theoretic security is required.

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::ClassicalChannel;
use crate::auth::ChannelAuth;
use crate::device::Role;
use crate::error::{AuthError, ChannelError};

/// Domain separation label of a transcript confirmation.
const LABEL: &[u8; 24] = b"qkd-stack transcript v1\0";
/// Length of a confirmation message: label, number, two digests.
const CONFIRMATION_LEN: usize = LABEL.len() + 8 + 32 + 32;

/// A classical channel whose transcript is authenticated at [`confirm`](Self::confirm) (see the
/// module docs).
///
/// ```
/// # use qkd_core::channel::{ClassicalChannel, MemoryChannel, TranscriptChannel};
/// # use qkd_core::auth::AesGcmAuth;
/// # use qkd_core::{Role, SecretKey};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (a, b) = MemoryChannel::pair();
/// let psk = SecretKey::from_vec(vec![7; 32]); // a throwaway test key
/// let mut alice = TranscriptChannel::new(a, Role::Alice, AesGcmAuth::new(Role::Alice, psk.clone())?);
/// let mut bob = TranscriptChannel::new(b, Role::Bob, AesGcmAuth::new(Role::Bob, psk)?);
/// alice.send(b"bases: 0110".to_vec()).await?;
/// assert_eq!(bob.recv().await?, b"bases: 0110");
/// bob.send(b"keep: 0101".to_vec()).await?;
/// alice.recv().await?;
/// let (a, b) = tokio::join!(alice.confirm(), bob.confirm());
/// a?;
/// b?;
/// # Ok(())
/// # }
/// ```
pub struct TranscriptChannel<C, A> {
    /// `None` once a failed confirmation closed the channel.
    inner: Option<C>,
    auth: A,
    role: Role,
    sent: Sha256,
    received: Sha256,
    /// Number of the current transcript (confirmations so far).
    number: u64,
    inner_max_frame_len: usize,
}

impl<C, A> std::fmt::Debug for TranscriptChannel<C, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TranscriptChannel")
            .field("role", &self.role)
            .field("transcript", &self.number)
            .field("closed", &self.inner.is_none())
            .finish_non_exhaustive()
    }
}

impl<C: ClassicalChannel, A: ChannelAuth> TranscriptChannel<C, A> {
    /// Wraps `inner` for the end `role`, confirming transcripts with `auth`.
    pub fn new(inner: C, role: Role, auth: A) -> Self {
        let inner_max_frame_len = inner.max_frame_len();
        Self {
            inner: Some(inner),
            auth,
            role,
            sent: Sha256::new(),
            received: Sha256::new(),
            number: 0,
            inner_max_frame_len,
        }
    }

    /// The backend (for example to read its [`usage`](ChannelAuth::usage)).
    pub fn auth(&self) -> &A {
        &self.auth
    }

    /// The backend, mutably (for example to [`replenish`](ChannelAuth::replenish) it).
    pub fn auth_mut(&mut self) -> &mut A {
        &mut self.auth
    }

    /// True once a failed confirmation (or a transport failure during one) closed the channel.
    pub fn is_closed(&self) -> bool {
        self.inner.is_none()
    }

    /// Transcripts confirmed so far.
    pub fn confirmed(&self) -> u64 {
        self.number
    }

    /// Ends the current transcript: exchanges sealed digests of both directions with the peer and
    /// checks them. Both ends must call it at the same point of the exchange. On success a new
    /// transcript starts; on failure the channel is closed (later calls fail with
    /// [`ChannelError::Closed`]) and the error is returned ([`ChannelError::Auth`] for a transcript
    /// that differs or a confirmation that does not authenticate).
    pub async fn confirm(&mut self) -> Result<(), ChannelError> {
        let result = self.exchange_confirmations().await;
        if result.is_err() {
            self.inner = None;
        }
        result
    }

    async fn exchange_confirmations(&mut self) -> Result<(), ChannelError> {
        let inner = self.inner.as_mut().ok_or(ChannelError::Closed)?;
        let sent: [u8; 32] = std::mem::take(&mut self.sent).finalize().into();
        let received: [u8; 32] = std::mem::take(&mut self.received).finalize().into();
        let (a_to_b, b_to_a) = match self.role {
            Role::Alice => (sent, received),
            Role::Bob => (received, sent),
        };
        let mut expected = Vec::with_capacity(CONFIRMATION_LEN);
        expected.extend_from_slice(LABEL);
        expected.extend_from_slice(&self.number.to_le_bytes());
        expected.extend_from_slice(&a_to_b);
        expected.extend_from_slice(&b_to_a);
        let frame = self.auth.seal(&expected)?;
        inner.send(frame).await?;
        let peer = inner.recv().await?;
        let opened = self.auth.open(&peer)?;
        if !bool::from(opened.as_slice().ct_eq(&expected)) {
            return Err(ChannelError::Auth(AuthError::BadTag));
        }
        self.number += 1;
        Ok(())
    }
}

fn absorb(hash: &mut Sha256, frame: &[u8]) {
    hash.update((frame.len() as u64).to_le_bytes());
    hash.update(frame);
}

#[async_trait]
impl<C: ClassicalChannel, A: ChannelAuth> ClassicalChannel for TranscriptChannel<C, A> {
    async fn send(&mut self, frame: Vec<u8>) -> Result<(), ChannelError> {
        let inner = self.inner.as_mut().ok_or(ChannelError::Closed)?;
        if frame.len() > self.inner_max_frame_len {
            return Err(ChannelError::FrameTooLarge {
                len: frame.len(),
                max: self.inner_max_frame_len,
            });
        }
        absorb(&mut self.sent, &frame);
        inner.send(frame).await
    }

    async fn recv(&mut self) -> Result<Vec<u8>, ChannelError> {
        let inner = self.inner.as_mut().ok_or(ChannelError::Closed)?;
        let frame = inner.recv().await?;
        absorb(&mut self.received, &frame);
        Ok(frame)
    }

    fn max_frame_len(&self) -> usize {
        self.inner_max_frame_len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{AesGcmAuth, NoAuth, WegmanCarterAuth};
    use crate::channel::MemoryChannel;
    use crate::key::SecretKey;

    type Aes = TranscriptChannel<MemoryChannel, AesGcmAuth>;

    fn aes_pair() -> (Aes, Aes) {
        let (a, b) = MemoryChannel::pair();
        let psk = SecretKey::from_vec((0u8..32).collect());
        (
            TranscriptChannel::new(
                a,
                Role::Alice,
                AesGcmAuth::new(Role::Alice, psk.clone()).unwrap(),
            ),
            TranscriptChannel::new(b, Role::Bob, AesGcmAuth::new(Role::Bob, psk).unwrap()),
        )
    }

    async fn talk(alice: &mut Aes, bob: &mut Aes) {
        for i in 0..5u8 {
            alice.send(vec![i; 3 + usize::from(i)]).await.unwrap();
            assert_eq!(bob.recv().await.unwrap(), vec![i; 3 + usize::from(i)]);
            bob.send(vec![!i; 2]).await.unwrap();
            alice.recv().await.unwrap();
        }
    }

    #[tokio::test]
    async fn honest_transcripts_confirm_block_after_block() {
        let (mut alice, mut bob) = aes_pair();
        for round in 0..3 {
            talk(&mut alice, &mut bob).await;
            let (a, b) = tokio::join!(alice.confirm(), bob.confirm());
            a.unwrap();
            b.unwrap();
            assert_eq!(alice.confirmed(), round + 1);
        }
        // One seal and one open per end per transcript.
        assert_eq!(alice.auth().usage().sealed, 3);
        assert_eq!(bob.auth().usage().opened, 3);
    }

    /// A man in the middle that can rewrite frames: Alice <-> (mitm) <-> Bob.
    async fn with_tampering(tamper: impl Fn(usize, &mut Vec<u8>) -> bool) -> (bool, bool) {
        let (a, mitm_a) = MemoryChannel::pair();
        let (mitm_b, b) = MemoryChannel::pair();
        let psk = SecretKey::from_vec((0u8..32).collect());
        let mut alice = TranscriptChannel::new(
            a,
            Role::Alice,
            AesGcmAuth::new(Role::Alice, psk.clone()).unwrap(),
        );
        let mut bob =
            TranscriptChannel::new(b, Role::Bob, AesGcmAuth::new(Role::Bob, psk).unwrap());
        let (mut ma, mut mb) = (mitm_a, mitm_b);
        // Alice sends four frames, Bob answers one; the relay may alter, drop or reorder them.
        for i in 0..4u8 {
            alice.send(vec![i; 4]).await.unwrap();
        }
        let mut frames = Vec::new();
        for _ in 0..4 {
            frames.push(ma.recv().await.unwrap());
        }
        let mut forwarded = 0;
        for (i, mut f) in frames.into_iter().enumerate() {
            if tamper(i, &mut f) {
                mb.send(f).await.unwrap();
                forwarded += 1;
            }
        }
        for _ in 0..forwarded {
            bob.recv().await.unwrap();
        }
        bob.send(vec![9; 2]).await.unwrap();
        ma.send(mb.recv().await.unwrap()).await.unwrap();
        alice.recv().await.unwrap();
        // Relay the two confirmations unchanged.
        let relay = async {
            let from_alice = ma.recv().await.unwrap();
            let from_bob = mb.recv().await.unwrap();
            mb.send(from_alice).await.unwrap();
            ma.send(from_bob).await.unwrap();
        };
        let (a, b, ()) = tokio::join!(alice.confirm(), bob.confirm(), relay);
        (a.is_ok(), b.is_ok())
    }

    #[tokio::test]
    async fn altered_dropped_and_reordered_frames_fail_confirmation_at_both_ends() {
        assert_eq!(
            with_tampering(|_, _| true).await,
            (true, true),
            "honest relay"
        );
        let altered = with_tampering(|i, f| {
            if i == 2 {
                f[0] ^= 1;
            }
            true
        })
        .await;
        assert_eq!(altered, (false, false));
        assert_eq!(
            with_tampering(|i, _| i != 1).await,
            (false, false),
            "dropped"
        );
        let swapped = with_tampering(|i, f| {
            // Swap the contents of frames 0 and 1 (same length): a reordering.
            if i < 2 {
                f.fill(1 - i as u8);
            }
            true
        })
        .await;
        assert_eq!(swapped, (false, false));
    }

    /// The transcript number is bound into the confirmation: replaying Bob's confirmation of
    /// transcript 0 during transcript 1 fails even with a backend that has no replay protection.
    #[tokio::test]
    async fn a_replayed_confirmation_is_refused_and_closes_the_channel() {
        let (a, mitm_a) = MemoryChannel::pair();
        let (mitm_b, b) = MemoryChannel::pair();
        let (mut ma, mut mb) = (mitm_a, mitm_b);
        let mut alice = TranscriptChannel::new(a, Role::Alice, NoAuth::new());
        let mut bob = TranscriptChannel::new(b, Role::Bob, NoAuth::new());
        let mut captured = Vec::new();
        let relay = async {
            let from_alice = ma.recv().await.unwrap();
            let from_bob = mb.recv().await.unwrap();
            captured = from_bob.clone();
            mb.send(from_alice).await.unwrap();
            ma.send(from_bob).await.unwrap();
        };
        let (x, y, ()) = tokio::join!(alice.confirm(), bob.confirm(), relay);
        assert!(x.is_ok() && y.is_ok());
        // Transcript 1 (empty again, so only the number differs): Alice gets the old answer.
        let replay = async {
            ma.recv().await.unwrap();
            ma.send(captured.clone()).await.unwrap();
        };
        let (x, ()) = tokio::join!(alice.confirm(), replay);
        assert!(
            matches!(x, Err(ChannelError::Auth(AuthError::BadTag))),
            "{x:?}"
        );
        assert!(alice.is_closed());
        assert!(matches!(alice.recv().await, Err(ChannelError::Closed)));
    }

    #[tokio::test]
    async fn any_backend_confirms_and_a_wrong_key_fails() {
        let (a, b) = MemoryChannel::pair();
        let mut alice = TranscriptChannel::new(a, Role::Alice, NoAuth::new());
        let mut bob = TranscriptChannel::new(b, Role::Bob, NoAuth::new());
        alice.send(vec![1]).await.unwrap();
        bob.recv().await.unwrap();
        let (x, y) = tokio::join!(alice.confirm(), bob.confirm());
        assert!(x.is_ok() && y.is_ok());

        let (a, b) = MemoryChannel::pair();
        let key = |fill: u8| SecretKey::from_vec(vec![fill; 16 + 32 * 4]); // throwaway test keys
        let mut alice = TranscriptChannel::new(
            a,
            Role::Alice,
            WegmanCarterAuth::new(Role::Alice, key(1)).unwrap(),
        );
        let mut bob = TranscriptChannel::new(
            b,
            Role::Bob,
            WegmanCarterAuth::new(Role::Bob, key(2)).unwrap(),
        );
        let (x, y) = tokio::join!(alice.confirm(), bob.confirm());
        assert!(x.is_err() && y.is_err(), "different keys cannot confirm");
        assert!(matches!(
            alice.send(vec![0]).await,
            Err(ChannelError::Closed)
        ));
    }
}
