//! The `ClassicalChannel` conformance suite run against every channel in qkd-core.

use qkd_core::auth::NoAuth;
use qkd_core::channel::{AuthenticatedChannel, MemoryChannel, TcpChannel};
use qkd_core::conformance::channel::run_channel_suite;

#[tokio::test]
async fn memory_channel_default() {
    // The default limit (16 MiB) is within the suite's bound.
    run_channel_suite(|| async { MemoryChannel::pair() }).await;
}

#[tokio::test]
async fn memory_channel_capacity_one() {
    run_channel_suite(|| async { MemoryChannel::pair_with(1, 4096) }).await;
}

#[tokio::test]
async fn tcp_channel_loopback() {
    run_channel_suite(|| async {
        TcpChannel::loopback_pair(1 << 20)
            .await
            .expect("loopback pair")
    })
    .await;
}

#[tokio::test]
async fn tcp_channel_loopback_tiny_frames() {
    run_channel_suite(|| async { TcpChannel::loopback_pair(64).await.expect("loopback pair") })
        .await;
}

#[tokio::test]
async fn authenticated_no_auth_over_memory() {
    run_channel_suite(|| async {
        let (a, b) = MemoryChannel::pair_with(8, 1 << 16);
        (
            AuthenticatedChannel::new(a, NoAuth::new()),
            AuthenticatedChannel::new(b, NoAuth::new()),
        )
    })
    .await;
}
