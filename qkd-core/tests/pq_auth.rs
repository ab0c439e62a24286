//! The post-quantum signature backends (feature `pq-auth`): the `ChannelAuth` suite, the channel
//! suite through `AuthenticatedChannel`, key handling and failure cases.

use qkd_core::auth::ml_dsa::{self, MlDsa, MlDsa44, MlDsa65};
use qkd_core::auth::signature::SignatureScheme;
use qkd_core::auth::slh_dsa::{self, SlhDsaShake128f};
use qkd_core::auth::{ChannelAuth, MlDsa44Auth, MlDsa65Auth, SlhDsaAuth, SlhDsaSha2Auth};
use qkd_core::channel::{AuthenticatedChannel, TcpChannel};
use qkd_core::conformance::auth::{self as auth_checks, AuthSuiteOptions, run_auth_suite};
use qkd_core::{AuthError, Role, SecretKey};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// SLH-DSA signing takes tens to hundreds of milliseconds here, so instead of the whole suite
/// (hundreds of signatures) it runs the security checks with small sampling budgets. The engine it
/// shares with ML-DSA (`SignatureAuth`: framing, sequence numbers, counters) runs the full suite
/// below; what is specific to SLH-DSA is signing and verifying, which every check here exercises.
#[test]
fn slh_dsa_passes_the_security_checks() {
    let mut rng = ChaCha20Rng::seed_from_u64(205);
    // Key generation is costly too: generate once, rebuild the ends from the encodings per check.
    let (a_sk, a_pk) = SlhDsaAuth::generate_keypair(&mut rng);
    let (b_sk, b_pk) = SlhDsaAuth::generate_keypair(&mut rng);
    let a_enc = slh_dsa::encode_signing_key(&a_sk);
    let b_enc = slh_dsa::encode_signing_key(&b_sk);
    let pair = || {
        (
            SlhDsaAuth::new(
                Role::Alice,
                slh_dsa::decode_signing_key(&a_enc).unwrap(),
                b_pk.clone(),
            ),
            SlhDsaAuth::new(
                Role::Bob,
                slh_dsa::decode_signing_key(&b_enc).unwrap(),
                a_pk.clone(),
            ),
        )
    };
    // 64 flips: the whole sequence number and the first half of the payload, 16 bits at the end of
    // the signature, 16 random bits of the signature.
    let options = AuthSuiteOptions {
        flip_budget: 128,
        cut_budget: 32,
    };
    auth_checks::every_bit_flip_rejected(pair(), options);
    auth_checks::truncation_rejected(pair(), options);
    auth_checks::replay_rejected(pair());
    auth_checks::reflection_rejected(pair());
}

/// SLH-DSA-SHA2-128f shares everything with SHAKE-128f but the hash: the same security checks,
/// with small budgets (about 10 ms per signature), and frames never cross parameter sets.
#[test]
fn slh_dsa_sha2_passes_the_security_checks_and_frames_do_not_cross_hashes() {
    let mut rng = ChaCha20Rng::seed_from_u64(256);
    let options = AuthSuiteOptions {
        flip_budget: 64,
        cut_budget: 16,
    };
    auth_checks::every_bit_flip_rejected(SlhDsaSha2Auth::generate_pair(&mut rng), options);
    auth_checks::truncation_rejected(SlhDsaSha2Auth::generate_pair(&mut rng), options);
    auth_checks::replay_rejected(SlhDsaSha2Auth::generate_pair(&mut rng));
    auth_checks::reflection_rejected(SlhDsaSha2Auth::generate_pair(&mut rng));
    let (mut sha2, _) = SlhDsaSha2Auth::generate_pair(&mut rng);
    assert_eq!(sha2.seal(b"").unwrap().len(), 8 + 17_088);
    // A SHA2 frame under a SHAKE receiver (even with the same seed) is refused.
    let frame = sha2.seal(b"x").unwrap();
    let (_, mut shake) = SlhDsaAuth::generate_pair(&mut ChaCha20Rng::seed_from_u64(256));
    assert!(shake.open(&frame).is_err());
}

#[test]
fn ml_dsa_44_passes_the_auth_suite() {
    let mut rng = ChaCha20Rng::seed_from_u64(44);
    run_auth_suite(|| MlDsa44Auth::generate_pair(&mut rng));
}

#[test]
fn ml_dsa_65_passes_the_auth_suite() {
    let mut rng = ChaCha20Rng::seed_from_u64(65);
    run_auth_suite(|| MlDsa65Auth::generate_pair(&mut rng));
}

#[tokio::test]
async fn ml_dsa_over_tcp_authenticates_and_closes_on_tampering() {
    use qkd_core::ChannelError;
    use qkd_core::channel::ClassicalChannel;
    let mut rng = ChaCha20Rng::seed_from_u64(6565);
    let (x, y) = MlDsa44Auth::generate_pair(&mut rng);
    let (a, b) = TcpChannel::loopback_pair(1 << 16).await.unwrap();
    let mut alice = AuthenticatedChannel::new(a, x);
    let mut bob = AuthenticatedChannel::new(b, y);
    assert_eq!(alice.max_frame_len(), (1 << 16) - 8 - 2420);
    for i in 0..5u8 {
        alice.send(vec![i; 100]).await.unwrap();
        assert_eq!(bob.recv().await.unwrap(), vec![i; 100]);
        bob.send(vec![i; 3]).await.unwrap();
        assert_eq!(alice.recv().await.unwrap(), vec![i; 3]);
    }
    // A frame signed by someone holding another key, injected on Alice's raw socket: Bob rejects
    // it, closes the channel, and Alice's side sees the connection close.
    let (mut mallory, _) = MlDsa44Auth::generate_pair(&mut rng);
    let (raw, _alice_auth) = alice.into_parts();
    let mut raw = raw.expect("Alice's channel is still open");
    raw.send(mallory.seal(b"forged").unwrap()).await.unwrap();
    assert_eq!(bob.recv().await, Err(ChannelError::Auth(AuthError::BadTag)));
    assert!(bob.is_closed());
    assert_eq!(bob.recv().await, Err(ChannelError::Closed));
    assert_eq!(bob.send(b"more".to_vec()).await, Err(ChannelError::Closed));
    assert_eq!(raw.recv().await, Err(ChannelError::Closed));
}

#[test]
fn signature_lengths_match_the_standards() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let (mut a, _) = SlhDsaAuth::generate_pair(&mut rng);
    assert_eq!(a.seal(b"").unwrap().len(), 8 + 17_088);
    assert_eq!(a.frame_overhead(), 8 + 17_088);
    let (mut a, _) = MlDsa44Auth::generate_pair(&mut rng);
    assert_eq!(a.seal(b"").unwrap().len(), 8 + 2420);
    let (mut a, _) = MlDsa65Auth::generate_pair(&mut rng);
    assert_eq!(a.seal(b"abc").unwrap().len(), 8 + 3 + 3309);
    assert_eq!(a.usage().key_bits_consumed, 0);
    assert_eq!(a.key_demand_bits(), 0);
}

#[test]
fn a_frame_signed_by_a_stranger_is_rejected() {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let (_, mut bob) = MlDsa65Auth::generate_pair(&mut rng);
    let (mut mallory, _) = MlDsa65Auth::generate_pair(&mut rng);
    let forged = mallory.seal(b"trust me").unwrap();
    assert_eq!(bob.open(&forged), Err(AuthError::BadTag));
    assert_eq!(bob.usage().rejected, 1);
}

#[test]
fn frames_do_not_cross_schemes() {
    // Same key seed, different parameter sets: a 44 frame is not a valid 65 frame, and an honest
    // frame is refused by a receiver configured with the wrong scheme.
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let (mut a44, _) = MlDsa44Auth::generate_pair(&mut rng);
    let (_, mut b65) = MlDsa65Auth::generate_pair(&mut rng);
    let frame = a44.seal(b"x").unwrap();
    assert!(b65.open(&frame).is_err());
}

#[test]
fn public_keys_round_trip_through_their_encoding() {
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let (sk, pk) = SlhDsaAuth::generate_keypair(&mut rng);
    let bytes = SlhDsaShake128f::encode_verifying_key(&pk);
    assert_eq!(bytes.len(), 32);
    let decoded = SlhDsaShake128f::decode_verifying_key(&bytes).unwrap();
    let (bob_sk, bob_pk) = SlhDsaAuth::generate_keypair(&mut rng);
    let mut alice = SlhDsaAuth::new(Role::Alice, sk, bob_pk);
    let mut bob = SlhDsaAuth::new(Role::Bob, bob_sk, decoded);
    let f = alice.seal(b"hello").unwrap();
    assert_eq!(bob.open(&f).unwrap(), b"hello");
    assert!(matches!(
        SlhDsaShake128f::decode_verifying_key(&bytes[..31]),
        Err(AuthError::Config(_))
    ));

    let (sk, pk) = MlDsa65Auth::generate_keypair(&mut rng);
    let bytes = MlDsa::<MlDsa65>::encode_verifying_key(&pk);
    assert_eq!(bytes.len(), 1952);
    assert_eq!(MlDsa::<MlDsa65>::decode_verifying_key(&bytes).unwrap(), pk);
    assert!(MlDsa::<MlDsa65>::decode_verifying_key(&bytes[1..]).is_err());
    let seed = ml_dsa::encode_signing_key(&sk);
    assert_eq!(seed.len(), 32);
    let rebuilt = ml_dsa::decode_signing_key::<MlDsa65>(&seed).unwrap();
    assert_eq!(MlDsa::<MlDsa65>::verifying_key(&rebuilt), pk);
    assert!(ml_dsa::decode_signing_key::<MlDsa44>(&SecretKey::from_vec(vec![0; 31])).is_err());
    assert!(slh_dsa::decode_signing_key(&SecretKey::from_vec(vec![0; 63])).is_err());
}

#[test]
fn debug_output_names_the_scheme_but_no_key() {
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let (a, _) = MlDsa44Auth::generate_pair(&mut rng);
    let text = format!("{a:?}");
    assert!(text.contains("ml-dsa-44"), "{text}");
    assert!(!text.contains("signing_key"), "{text}");
}
