//! `AuthenticatedChannel` behaviour beyond the channel suite: tampering closes the channel, refused
//! sends consume nothing, and a sealing failure can be recovered by replenishing.

use qkd_core::auth::{AesGcmAuth, AesGcmPolicy, ChannelAuth, WegmanCarterAuth, WegmanCarterPolicy};
use qkd_core::channel::{AuthenticatedChannel, ClassicalChannel, MemoryChannel};
use qkd_core::{AuthError, ChannelError, SecretKey};

fn wc_pair(pads: usize) -> (WegmanCarterAuth, WegmanCarterAuth) {
    let policy = WegmanCarterPolicy {
        reserve_pads: 0,
        low_watermark_pads: 1,
    };
    WegmanCarterAuth::pair(SecretKey::from_vec(vec![0x21; 16 + 32 * pads]), policy).unwrap()
}

#[tokio::test]
async fn a_tampered_frame_closes_the_channel_at_both_ends() {
    // Alice writes to a raw channel; a "man in the middle" forwards to Bob, flipping one bit of
    // the second frame.
    let (alice_raw, mitm_in) = MemoryChannel::pair_with(8, 1 << 16);
    let (mut mitm_out, bob_raw) = MemoryChannel::pair_with(8, 1 << 16);
    let (x, y) = wc_pair(16);
    let mut alice = AuthenticatedChannel::new(alice_raw, x);
    let mut bob = AuthenticatedChannel::new(bob_raw, y);
    let mut mitm_in = mitm_in;

    alice.send(b"one".to_vec()).await.unwrap();
    alice.send(b"two".to_vec()).await.unwrap();
    let f1 = mitm_in.recv().await.unwrap();
    let mut f2 = mitm_in.recv().await.unwrap();
    f2[11] ^= 0x04;
    mitm_out.send(f1).await.unwrap();
    mitm_out.send(f2).await.unwrap();

    assert_eq!(bob.recv().await.unwrap(), b"one");
    assert_eq!(bob.recv().await, Err(ChannelError::Auth(AuthError::BadTag)));
    assert!(bob.is_closed());
    assert_eq!(bob.recv().await, Err(ChannelError::Closed));
    assert_eq!(bob.send(b"x".to_vec()).await, Err(ChannelError::Closed));
    // Bob dropped his side: the middle (and so Alice's path) sees the close.
    assert_eq!(mitm_out.recv().await, Err(ChannelError::Closed));
    assert_eq!(bob.auth().usage().rejected, 1);
    assert_eq!(bob.auth().usage().opened, 1);
}

#[tokio::test]
async fn oversize_payloads_are_refused_before_sealing() {
    let (a, b) = MemoryChannel::pair_with(8, 100);
    let (x, y) = wc_pair(4);
    let mut alice = AuthenticatedChannel::new(a, x);
    let mut bob = AuthenticatedChannel::new(b, y);
    assert_eq!(alice.max_frame_len(), 100 - 26);
    assert_eq!(
        alice.send(vec![0; 75]).await,
        Err(ChannelError::FrameTooLarge { len: 75, max: 74 })
    );
    assert_eq!(
        alice.auth().usage().sealed,
        0,
        "no pad spent on a refused send"
    );
    alice.send(vec![1; 74]).await.unwrap();
    assert_eq!(bob.recv().await.unwrap(), vec![1; 74]);
}

#[tokio::test]
async fn exhausted_key_fails_the_send_and_replenish_recovers() {
    let (a, b) = MemoryChannel::pair();
    let policy = AesGcmPolicy {
        max_messages_per_key: 2,
        max_bytes_per_key: u64::MAX,
        reserve_keys: 0,
        low_watermark_keys: 1,
    };
    let (x, y) = AesGcmAuth::pair(SecretKey::from_vec(vec![0x42; 32]), policy).unwrap();
    let mut alice = AuthenticatedChannel::new(a, x);
    let mut bob = AuthenticatedChannel::new(b, y);
    for i in 0..2u8 {
        alice.send(vec![i]).await.unwrap();
        assert_eq!(bob.recv().await.unwrap(), vec![i]);
    }
    assert!(matches!(
        alice.send(vec![2]).await,
        Err(ChannelError::Auth(AuthError::KeyExhausted(_)))
    ));
    assert!(
        !alice.is_closed(),
        "a sealing failure sends nothing and keeps the channel"
    );
    let fresh = SecretKey::from_vec(vec![0x43; 32]);
    alice.auth_mut().replenish(fresh.clone()).unwrap();
    bob.auth_mut().replenish(fresh).unwrap();
    alice.send(vec![2]).await.unwrap();
    assert_eq!(bob.recv().await.unwrap(), vec![2]);
    assert_eq!(alice.auth().key_ids().0, 1);
    assert_eq!(bob.auth().key_ids().1, 1);
}

#[tokio::test]
async fn inner_channel_errors_pass_through() {
    let (a, b) = MemoryChannel::pair();
    let (x, _y) = wc_pair(2);
    let mut alice = AuthenticatedChannel::new(a, x);
    drop(b);
    assert_eq!(alice.recv().await, Err(ChannelError::Closed));
    let (inner, auth) = alice.into_parts();
    assert!(
        inner.is_some(),
        "a peer going away is not an authentication failure"
    );
    assert_eq!(auth.usage().rejected, 0);
}
