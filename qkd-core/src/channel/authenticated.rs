//! [`AuthenticatedChannel`]: a [`ClassicalChannel`] whose every frame goes through a
//! [`ChannelAuth`] backend.
//!
//! `send` seals the payload and sends the frame; `recv` receives a frame and opens it. The first
//! frame that fails authentication closes the channel: the inner channel is dropped (so the peer
//! sees [`ChannelError::Closed`]), the failure is returned as [`ChannelError::Auth`], and every later
//! call returns [`ChannelError::Closed`]. A QKD block whose classical exchange was tampered with must
//! be abandoned, not resumed: the caller builds a fresh channel for the next attempt.

use async_trait::async_trait;

use super::ClassicalChannel;
use crate::auth::ChannelAuth;
use crate::error::ChannelError;

/// A classical channel that authenticates every frame with a [`ChannelAuth`] backend.
///
/// [`max_frame_len`](ClassicalChannel::max_frame_len) is the inner channel's limit minus the
/// backend's [`frame_overhead`](ChannelAuth::frame_overhead), so a payload that fits is never
/// refused by the inner channel after sealing.
///
/// ```
/// # use qkd_core::channel::{AuthenticatedChannel, ClassicalChannel, MemoryChannel};
/// # use qkd_core::auth::NoAuth;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (a, b) = MemoryChannel::pair();
/// // NoAuth keeps the example short; a real link uses e.g. `AesGcmAuth` or `WegmanCarterAuth`.
/// let mut alice = AuthenticatedChannel::new(a, NoAuth::new());
/// let mut bob = AuthenticatedChannel::new(b, NoAuth::new());
/// alice.send(b"bases: 0110".to_vec()).await?;
/// assert_eq!(bob.recv().await?, b"bases: 0110");
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct AuthenticatedChannel<C, A> {
    /// `None` once an authentication failure closed the channel.
    inner: Option<C>,
    auth: A,
    inner_max_frame_len: usize,
}

impl<C: ClassicalChannel, A: ChannelAuth> AuthenticatedChannel<C, A> {
    /// Wraps `inner`, authenticating with `auth`.
    pub fn new(inner: C, auth: A) -> Self {
        let inner_max_frame_len = inner.max_frame_len();
        Self {
            inner: Some(inner),
            auth,
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

    /// True once an authentication failure (or an unsendable sealed frame) closed the channel.
    pub fn is_closed(&self) -> bool {
        self.inner.is_none()
    }

    /// Takes the wrapper apart: the inner channel (`None` if it was closed) and the backend.
    pub fn into_parts(self) -> (Option<C>, A) {
        (self.inner, self.auth)
    }
}

#[async_trait]
impl<C: ClassicalChannel, A: ChannelAuth> ClassicalChannel for AuthenticatedChannel<C, A> {
    /// Seals and sends one payload. A payload over [`max_frame_len`](ClassicalChannel::max_frame_len)
    /// is refused before sealing (nothing is sent, no sequence number is used). A sealing failure
    /// (for example [`KeyExhausted`](crate::error::AuthError::KeyExhausted)) leaves the backend and
    /// the channel unchanged, so the caller may replenish the backend and retry.
    async fn send(&mut self, payload: Vec<u8>) -> Result<(), ChannelError> {
        if self.inner.is_none() {
            return Err(ChannelError::Closed);
        }
        let max = self.max_frame_len();
        if payload.len() > max {
            return Err(ChannelError::FrameTooLarge {
                len: payload.len(),
                max,
            });
        }
        let frame = self.auth.seal(&payload)?;
        if frame.len() > self.inner_max_frame_len {
            // The backend under-reported its overhead and has used a sequence number for a frame
            // that cannot be sent: the two ends are out of step, so the channel cannot continue.
            self.inner = None;
            return Err(ChannelError::FrameTooLarge {
                len: payload.len(),
                max,
            });
        }
        match self.inner.as_mut() {
            Some(inner) => inner.send(frame).await,
            None => Err(ChannelError::Closed),
        }
    }

    async fn recv(&mut self) -> Result<Vec<u8>, ChannelError> {
        let inner = self.inner.as_mut().ok_or(ChannelError::Closed)?;
        let frame = inner.recv().await?;
        match self.auth.open(&frame) {
            Ok(payload) => Ok(payload),
            Err(err) => {
                self.inner = None;
                Err(ChannelError::Auth(err))
            }
        }
    }

    fn max_frame_len(&self) -> usize {
        self.inner_max_frame_len
            .saturating_sub(self.auth.frame_overhead())
    }
}
