//! The `ChannelAuth` conformance suite run against every backend in qkd-core, alone and inside an
//! `AuthenticatedChannel` (which must then pass the `ClassicalChannel` suite too).

use qkd_core::SecretKey;
use qkd_core::auth::{AesGcmAuth, AesGcmPolicy, NoAuth, WegmanCarterAuth, WegmanCarterPolicy};
use qkd_core::channel::{AuthenticatedChannel, MemoryChannel, TcpChannel};
use qkd_core::conformance::auth::run_auth_suite;
use qkd_core::conformance::channel::run_channel_suite;

fn key_material(seed: u8, len: usize) -> SecretKey {
    SecretKey::from_vec(
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31) ^ seed)
            .collect(),
    )
}

#[test]
fn no_auth_runs_the_non_security_checks() {
    run_auth_suite(|| (NoAuth::new(), NoAuth::new()));
}

#[test]
fn aes_gcm_default_policy() {
    run_auth_suite(|| {
        AesGcmAuth::pair(key_material(1, 32 * 8), AesGcmPolicy::default()).expect("valid pair")
    });
}

#[test]
fn aes_gcm_rotating_every_few_messages() {
    // Rotation inside every check, replenishment inside the long one.
    run_auth_suite(|| {
        let policy = AesGcmPolicy {
            max_messages_per_key: 3,
            max_bytes_per_key: 1 << 20,
            reserve_keys: 1,
            low_watermark_keys: 2,
        };
        AesGcmAuth::pair(key_material(2, 32 * 30), policy).expect("valid pair")
    });
}

#[test]
fn aes_gcm_rotating_on_bytes() {
    run_auth_suite(|| {
        let policy = AesGcmPolicy {
            max_messages_per_key: u64::MAX,
            max_bytes_per_key: 100,
            reserve_keys: 0,
            low_watermark_keys: 8,
        };
        AesGcmAuth::pair(key_material(3, 32 * 200), policy).expect("valid pair")
    });
}

#[tokio::test]
async fn authenticated_memory_channel_with_aes_gcm() {
    run_channel_suite(|| async {
        let (a, b) = MemoryChannel::pair_with(4, 1 << 16);
        let (x, y) = AesGcmAuth::pair(key_material(4, 64), AesGcmPolicy::default()).unwrap();
        (
            AuthenticatedChannel::new(a, x),
            AuthenticatedChannel::new(b, y),
        )
    })
    .await;
}

#[tokio::test]
async fn authenticated_tcp_channel_with_aes_gcm() {
    run_channel_suite(|| async {
        let (a, b) = TcpChannel::loopback_pair(1 << 16).await.unwrap();
        let (x, y) = AesGcmAuth::pair(key_material(5, 64), AesGcmPolicy::default()).unwrap();
        (
            AuthenticatedChannel::new(a, x),
            AuthenticatedChannel::new(b, y),
        )
    })
    .await;
}

fn wc_pair(
    pads_per_direction: usize,
    policy: WegmanCarterPolicy,
) -> (WegmanCarterAuth, WegmanCarterAuth) {
    WegmanCarterAuth::pair(key_material(6, 16 + 32 * pads_per_direction), policy)
        .expect("valid pair")
}

#[test]
fn wegman_carter_with_ample_pads() {
    run_auth_suite(|| wc_pair(2000, WegmanCarterPolicy::default()));
}

#[test]
fn wegman_carter_refilled_as_it_goes() {
    // Few pads: the long check runs dry repeatedly and is refilled through key_demand_bits.
    run_auth_suite(|| {
        wc_pair(
            40,
            WegmanCarterPolicy {
                reserve_pads: 2,
                low_watermark_pads: 8,
            },
        )
    });
}

#[tokio::test]
async fn authenticated_tcp_channel_with_wegman_carter() {
    run_channel_suite(|| async {
        let (a, b) = TcpChannel::loopback_pair(1 << 16).await.unwrap();
        // The suite sends a little over 4000 frames each way on one pair.
        let (x, y) = wc_pair(4500, WegmanCarterPolicy::default());
        (
            AuthenticatedChannel::new(a, x),
            AuthenticatedChannel::new(b, y),
        )
    })
    .await;
}
