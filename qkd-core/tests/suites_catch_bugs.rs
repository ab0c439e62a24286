//! The conformance suites must fail on broken implementations: each mutant below breaks one rule
//! and the matching check must panic, naming that check.

use std::panic::{AssertUnwindSafe, catch_unwind};

use async_trait::async_trait;
use qkd_core::auth::{AesGcmAuth, AesGcmPolicy, AuthUsage, ChannelAuth};
use qkd_core::channel::{ClassicalChannel, MemoryChannel};
use qkd_core::conformance::{auth, channel};
use qkd_core::{AuthError, ChannelError, SecretKey};

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

fn expect_sync_panic(check: &str, f: impl FnOnce()) {
    let err = catch_unwind(AssertUnwindSafe(f)).expect_err("the suite must reject the mutant");
    let text = panic_text(err);
    assert!(text.contains(check), "panic should name [{check}]: {text}");
}

// ---------------------------------------------------------------- ChannelAuth mutants

#[derive(Clone, Copy, PartialEq)]
enum AuthBug {
    /// Accepts the last accepted frame again.
    AcceptsReplay,
    /// Does not count rejections.
    ForgetsRejections,
    /// Reports key consumed by every rejection.
    ChargesRejections,
}

struct Mutant {
    inner: AesGcmAuth,
    bug: AuthBug,
    last: Option<(Vec<u8>, Vec<u8>)>,
    rejections: u64,
}

impl ChannelAuth for Mutant {
    fn name(&self) -> &'static str {
        "mutant"
    }
    fn seal(&mut self, payload: &[u8]) -> Result<Vec<u8>, AuthError> {
        self.inner.seal(payload)
    }
    fn open(&mut self, frame: &[u8]) -> Result<Vec<u8>, AuthError> {
        if self.bug == AuthBug::AcceptsReplay
            && let Some((f, p)) = &self.last
            && f == frame
        {
            return Ok(p.clone());
        }
        let result = self.inner.open(frame);
        match &result {
            Ok(p) => self.last = Some((frame.to_vec(), p.clone())),
            Err(_) => self.rejections += 1,
        }
        result
    }
    fn usage(&self) -> AuthUsage {
        let mut u = self.inner.usage();
        match self.bug {
            AuthBug::ForgetsRejections => u.rejected = 0,
            AuthBug::ChargesRejections => u.key_bits_consumed += self.rejections,
            AuthBug::AcceptsReplay => {}
        }
        u
    }
    fn frame_overhead(&self) -> usize {
        self.inner.frame_overhead()
    }
}

fn mutant_pair(bug: AuthBug) -> (Mutant, Mutant) {
    let (a, b) =
        AesGcmAuth::pair(SecretKey::from_vec(vec![9; 64]), AesGcmPolicy::default()).unwrap();
    let wrap = |inner| Mutant {
        inner,
        bug,
        last: None,
        rejections: 0,
    };
    (wrap(a), wrap(b))
}

/// Claims to authenticate but frames are bare payloads.
#[derive(Default)]
struct Pretender {
    usage: AuthUsage,
}

impl ChannelAuth for Pretender {
    fn name(&self) -> &'static str {
        "pretender"
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

#[test]
fn auth_suite_catches_a_backend_that_accepts_replays() {
    expect_sync_panic("replay_rejected", || {
        auth::replay_rejected(mutant_pair(AuthBug::AcceptsReplay))
    });
}

#[test]
fn auth_suite_catches_wrong_rejection_counts() {
    expect_sync_panic("usage_counters_exact", || {
        auth::usage_counters_exact(mutant_pair(AuthBug::ForgetsRejections))
    });
}

#[test]
fn auth_suite_catches_key_charged_for_rejections() {
    expect_sync_panic("every_bit_flip_rejected", || {
        auth::every_bit_flip_rejected(
            mutant_pair(AuthBug::ChargesRejections),
            auth::AuthSuiteOptions::default(),
        )
    });
}

#[test]
fn auth_suite_catches_a_backend_that_does_not_authenticate() {
    // The whole suite stops at the first check that tampers with a frame.
    expect_sync_panic("a tampered frame was accepted", || {
        auth::run_auth_suite(|| (Pretender::default(), Pretender::default()))
    });
    expect_sync_panic("every_bit_flip_rejected", || {
        auth::every_bit_flip_rejected(
            (Pretender::default(), Pretender::default()),
            auth::AuthSuiteOptions::default(),
        )
    });
}

// ---------------------------------------------------------------- ClassicalChannel mutants

#[derive(Clone, Copy, PartialEq)]
enum ChannelBug {
    DropsEmptyFrames,
    IgnoresTheLimit,
    SwapsPairs,
}

struct BadChannel {
    inner: MemoryChannel,
    bug: ChannelBug,
    held: Option<Vec<u8>>,
}

#[async_trait]
impl ClassicalChannel for BadChannel {
    async fn send(&mut self, frame: Vec<u8>) -> Result<(), ChannelError> {
        match self.bug {
            ChannelBug::DropsEmptyFrames if frame.is_empty() => Ok(()),
            ChannelBug::SwapsPairs => match self.held.take() {
                None => {
                    self.held = Some(frame);
                    Ok(())
                }
                Some(first) => {
                    self.inner.send(frame).await?;
                    self.inner.send(first).await
                }
            },
            _ => self.inner.send(frame).await,
        }
    }
    async fn recv(&mut self) -> Result<Vec<u8>, ChannelError> {
        self.inner.recv().await
    }
    fn max_frame_len(&self) -> usize {
        match self.bug {
            // Reports a limit it does not enforce (the inner channel allows more).
            ChannelBug::IgnoresTheLimit => 100,
            _ => self.inner.max_frame_len(),
        }
    }
}

fn bad_pair(bug: ChannelBug) -> (BadChannel, BadChannel) {
    let (a, b) = MemoryChannel::pair_with(64, 1 << 12);
    let wrap = |inner| BadChannel {
        inner,
        bug,
        held: None,
    };
    (wrap(a), wrap(b))
}

async fn expect_async_panic<F>(check: &str, fut: F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let err = tokio::spawn(fut)
        .await
        .expect_err("the suite must reject the mutant");
    assert!(err.is_panic());
    let text = panic_text(err.into_panic());
    assert!(text.contains(check), "panic should name [{check}]: {text}");
}

#[tokio::test]
async fn channel_suite_catches_dropped_empty_frames() {
    expect_async_panic(
        "empty_frame",
        channel::empty_frame(bad_pair(ChannelBug::DropsEmptyFrames)),
    )
    .await;
}

#[tokio::test]
async fn channel_suite_catches_an_unenforced_limit() {
    expect_async_panic(
        "oversize_refused",
        channel::oversize_refused(bad_pair(ChannelBug::IgnoresTheLimit)),
    )
    .await;
}

#[tokio::test]
async fn channel_suite_catches_reordering() {
    expect_async_panic(
        "ordered_delivery",
        channel::ordered_delivery(bad_pair(ChannelBug::SwapsPairs)),
    )
    .await;
}
