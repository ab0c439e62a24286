//! An active attacker on the classical channel: a relay between Alice and Bob that alters one
//! frame. Whatever the authentication scope (every frame, or the block transcript), neither end
//! yields a key for the tampered block; with an honest relay both yield the same key.

use qkd_core::channel::TcpChannel;
use qkd_core::{ClassicalChannel, QuantumDevice, SecretKey};
use qkd_sim::device::distributed::{QuantumHop, TCP_MAX_FRAME_LEN, start_alice, start_bob};
use qkd_sim::device::{AuthConfig, AuthScope, LinkConfig};
use qkd_sim::qrng::RandomSource;
use tokio::net::TcpListener;

/// Relays Alice's classical frames to Bob and back, flipping one bit of Alice's frame number
/// `tamper_frame` (if any).
async fn relay(from_alice: TcpListener, to_bob: std::net::SocketAddr, tamper_frame: Option<usize>) {
    let Ok(mut alice) = TcpChannel::accept(&from_alice, TCP_MAX_FRAME_LEN).await else {
        return;
    };
    let Ok(mut bob) = TcpChannel::connect(to_bob, TCP_MAX_FRAME_LEN).await else {
        return;
    };
    let mut count = 0usize;
    loop {
        tokio::select! {
            frame = alice.recv() => {
                let Ok(mut frame) = frame else { return };
                if Some(count) == tamper_frame && !frame.is_empty() {
                    let middle = frame.len() / 2;
                    frame[middle] ^= 0x10;
                }
                count += 1;
                if bob.send(frame).await.is_err() { return; }
            }
            frame = bob.recv() => {
                let Ok(frame) = frame else { return };
                if alice.send(frame).await.is_err() { return; }
            }
        }
    }
}

/// Runs the first block of a TCP link through the relay; returns whether each end yielded a key,
/// and whether the keys agree when both did.
async fn first_block(
    scope: AuthScope,
    auth: AuthConfig,
    tamper_frame: Option<usize>,
) -> (bool, bool) {
    let mut config = LinkConfig::bb84(1 << 14, 0.02);
    config.randomness = RandomSource::Seeded(5);
    config.auth = auth;
    config.auth_scope = scope;
    let bootstrap = SecretKey::from_vec(vec![0x5a; auth.bootstrap_bytes()]); // throwaway test key
    let classical = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let quantum = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (bob_classical, bob_quantum, proxy_addr) = (
        classical.local_addr().unwrap(),
        quantum.local_addr().unwrap(),
        proxy.local_addr().unwrap(),
    );
    tokio::spawn(relay(proxy, bob_classical, tamper_frame));
    let (alice, bob) = tokio::join!(
        start_alice(
            &config,
            proxy_addr,
            QuantumHop::Direct(bob_quantum),
            bootstrap.clone()
        ),
        start_bob(&config, &classical, &quantum, bootstrap),
    );
    let (alice, bob) = (alice.unwrap(), bob.unwrap());
    let (a, b) = tokio::join!(alice.next_block(), bob.next_block());
    if let (Ok(a), Ok(b)) = (&a, &b) {
        assert_eq!(
            (a.index, &a.key),
            (b.index, &b.key),
            "yielded keys must agree"
        );
    }
    (a.is_ok(), b.is_ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_frame_never_yields_a_key_in_either_scope() {
    for scope in [AuthScope::EveryFrame, AuthScope::BlockTranscript] {
        for auth in [AuthConfig::aes_gcm(), AuthConfig::WegmanCarter] {
            assert_eq!(
                first_block(scope, auth, None).await,
                (true, true),
                "honest relay, {scope:?}, {auth:?}"
            );
            // Frame 0 carries Alice's bases; frame 3 is well into distillation.
            for frame in [0, 3] {
                assert_eq!(
                    first_block(scope, auth, Some(frame)).await,
                    (false, false),
                    "frame {frame} altered, {scope:?}, {auth:?}"
                );
            }
        }
    }
}
