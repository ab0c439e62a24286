//! Tests of the device machinery (worker, handshake, buffer, status) with a scripted engine, so
//! that the link logic is checked independently of the protocol and distillation code.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use qkd_core::{
    AuthError, AuthUsage, BitString, BlockStats, ChannelError, ClassicalChannel, DeviceError,
    DeviceInfo, DeviceState, MemoryChannel, QuantumDevice, Role, SecretKey,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha20Rng;

use super::SimulatedDevice;
use super::block_channel::AbortReason;
use super::worker::{BlockFailure, BlockProduct, EndEngine, LinkBlockChannel, LinkChannel, Worker};

/// A memory channel with a fake authentication account: every frame sent costs 8 key bits, the
/// backend always asks for `demand` bits, and replenished material is recorded.
struct CountingChannel {
    inner: MemoryChannel,
    usage: AuthUsage,
    demand: u64,
    received: Arc<Mutex<Vec<Vec<u8>>>>,
}

#[async_trait]
impl ClassicalChannel for CountingChannel {
    async fn send(&mut self, frame: Vec<u8>) -> Result<(), ChannelError> {
        self.usage.sealed += 1;
        self.usage.key_bits_consumed += 8;
        self.inner.send(frame).await
    }
    async fn recv(&mut self) -> Result<Vec<u8>, ChannelError> {
        self.inner.recv().await
    }
    fn max_frame_len(&self) -> usize {
        self.inner.max_frame_len()
    }
}

#[async_trait::async_trait]
impl LinkChannel for CountingChannel {
    fn auth_usage(&self) -> AuthUsage {
        self.usage
    }
    fn auth_demand_bits(&self) -> u64 {
        self.demand
    }
    fn replenish(&mut self, material: SecretKey) -> Result<(), AuthError> {
        self.usage.key_bits_available += material.bit_len() as u64;
        self.received
            .lock()
            .unwrap()
            .push(material.expose_secret().to_vec());
        Ok(())
    }
}

/// Alice draws `bits` key bits from a seeded RNG and sends them; Bob adopts them. The script
/// makes one end abandon given blocks, or stall.
struct ScriptedEngine {
    role: Role,
    seed: u64,
    bits: usize,
    aborts: HashMap<u64, (Role, AbortReason)>,
    stall_at: Option<u64>,
}

#[async_trait]
impl EndEngine for ScriptedEngine {
    async fn run_block(
        &mut self,
        index: u64,
        classical: &mut LinkBlockChannel<'_>,
    ) -> Result<BlockProduct, BlockFailure> {
        if self.stall_at == Some(index) {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        let abort = self.aborts.get(&index).filter(|(r, _)| *r == self.role);
        let key = match self.role {
            Role::Alice => {
                if let Some((_, reason)) = abort {
                    return Err(BlockFailure::Abort(reason.clone()));
                }
                let mut rng = ChaCha20Rng::seed_from_u64(self.seed ^ index);
                let bools: Vec<bool> = (0..self.bits).map(|_| rng.random()).collect();
                let key = BitString::from_bools(&bools);
                classical.send(key.to_bytes()).await?;
                key
            }
            Role::Bob => {
                let bytes = classical.recv().await?;
                if let Some((_, reason)) = abort {
                    return Err(BlockFailure::Abort(reason.clone()));
                }
                BitString::from_bytes(&bytes, self.bits)
            }
        };
        Ok(BlockProduct {
            stats: BlockStats {
                raw_bits: 4 * self.bits as u64,
                sifted_bits: 2 * self.bits as u64,
                qber: 0.01,
                ..BlockStats::default()
            },
            key,
        })
    }
}

struct Pair {
    alice: SimulatedDevice,
    bob: SimulatedDevice,
    material: [Arc<Mutex<Vec<Vec<u8>>>>; 2],
}

fn start_pair(
    bits: usize,
    demand: u64,
    buffer: usize,
    aborts: HashMap<u64, (Role, AbortReason)>,
    stall_at: Option<u64>,
    timeout: Option<Duration>,
) -> Pair {
    let (a, b) = MemoryChannel::pair();
    let material = [Arc::default(), Arc::default()];
    let mut devices = Vec::new();
    for (role, channel, seen) in [(Role::Alice, a, &material[0]), (Role::Bob, b, &material[1])] {
        let info = DeviceInfo {
            link_id: "test-link".into(),
            protocol: "scripted".into(),
            role,
            peer: format!("{:?}", role.peer()),
            vendor: "qkd-sim test".into(),
            nominal_key_rate_bps: None,
            block_bits: bits as u64,
        };
        let engine = ScriptedEngine {
            role,
            seed: 42,
            bits,
            aborts: aborts.clone(),
            stall_at,
        };
        let channel = CountingChannel {
            inner: channel,
            usage: AuthUsage::default(),
            demand,
            received: Arc::clone(seen),
        };
        devices.push(
            SimulatedDevice::start(info, buffer, |queue, counters, demand| Worker {
                engine: Box::new(engine),
                channel: Box::new(channel),
                queue,
                counters,
                block_timeout: timeout,
                max_divert_fraction: 0.5,
                demand,
            })
            .unwrap(),
        );
    }
    let bob = devices.pop().unwrap();
    let alice = devices.pop().unwrap();
    Pair {
        alice,
        bob,
        material,
    }
}

fn qber_abort() -> AbortReason {
    AbortReason::Qber {
        qber: 0.25,
        threshold: 0.11,
    }
}

#[tokio::test]
async fn both_ends_yield_equal_blocks_with_equal_indexes() {
    let pair = start_pair(1000, 0, 2, HashMap::new(), None, None);
    for expected in 0..5 {
        let a = pair.alice.next_block().await.unwrap();
        let b = pair.bob.next_block().await.unwrap();
        assert_eq!(a.index, expected);
        assert_eq!(b.index, expected);
        assert_eq!(a.key, b.key);
        // 1000 bits delivered as 125 whole bytes; one data frame + one marker sent per end.
        assert_eq!(a.stats.final_bits, 1000);
        assert_eq!(a.key.bit_len(), 1000);
        assert_eq!(a.stats.auth_bits_consumed, 16);
        assert_eq!(b.stats.auth_bits_consumed, 8);
        assert_eq!(a.stats.raw_bits, 4000);
    }
    let status = pair.alice.status();
    assert_eq!(status.state, DeviceState::Running);
    assert_eq!(status.blocks_delivered, 5);
    assert_eq!(status.key_bits_delivered, 5000);
    assert_eq!(status.last_qber, Some(0.01));
}

#[tokio::test]
async fn aborted_blocks_consume_their_index_at_both_ends_and_never_yield() {
    let aborts = HashMap::from([
        (1, (Role::Alice, qber_abort())),
        (2, (Role::Bob, qber_abort())),
        (
            3,
            (
                Role::Bob,
                AbortReason::PostProcessing("verification failed".into()),
            ),
        ),
    ]);
    let pair = start_pair(64, 0, 1, aborts, None, None);
    // The ends are drained concurrently, as a QKD module does: with back-pressure, one end cannot
    // run more than a buffer ahead of the other.
    let mut results = Vec::new();
    for _ in 0..5 {
        let (a, b) = tokio::join!(pair.alice.next_block(), pair.bob.next_block());
        results.push([a, b]);
    }
    for (end, name) in [(0, "alice"), (1, "bob")] {
        assert_eq!(results[0][end].as_ref().unwrap().index, 0, "{name}");
        for index in [1u64, 2] {
            match &results[index as usize][end] {
                Err(DeviceError::QberAboveThreshold {
                    index: got,
                    qber,
                    threshold,
                }) => assert_eq!((*got, *qber, *threshold), (index, 0.25, 0.11), "{name}"),
                other => panic!("{name} block {index}: expected a QBER abort, got {other:?}"),
            }
        }
        match &results[3][end] {
            Err(DeviceError::PostProcessing { index: 3, reason }) => {
                assert_eq!(reason, "verification failed", "{name}")
            }
            other => panic!("{name}: expected a post-processing abort, got {other:?}"),
        }
        assert_eq!(results[4][end].as_ref().unwrap().index, 4, "{name}");
    }
    assert_eq!(
        results[4][0].as_ref().unwrap().key,
        results[4][1].as_ref().unwrap().key
    );
    for device in [&pair.alice, &pair.bob] {
        let status = device.status();
        assert_eq!(status.blocks_aborted, 3);
        assert_eq!(status.blocks_delivered, 2);
        assert_eq!(status.state, DeviceState::Running);
    }
}

#[tokio::test]
async fn status_reports_degraded_after_an_abort() {
    let aborts = HashMap::from([(0, (Role::Alice, qber_abort()))]);
    let pair = start_pair(64, 0, 1, aborts, None, None);
    assert!(pair.alice.next_block().await.is_err());
    let status = pair.alice.status();
    assert_eq!(status.state, DeviceState::Degraded);
    assert_eq!(status.last_qber, Some(0.25));
    assert_eq!(status.blocks_aborted, 1);
}

#[tokio::test]
async fn authentication_demand_is_met_from_the_key_identically_at_both_ends() {
    // Demand 600 bits, capped at half of 1000 final bits -> 256 bits (one whole unit) diverted.
    let pair = start_pair(1000, 600, 1, HashMap::new(), None, None);
    let a = pair.alice.next_block().await.unwrap();
    let b = pair.bob.next_block().await.unwrap();
    assert_eq!(a.key, b.key);
    assert_eq!(a.stats.final_bits, 744);
    // The background tasks go on producing blocks, so counters grow by 256 bits per block.
    let diverted = pair.alice.counters().auth_bits_diverted;
    assert!(
        diverted >= 256 && diverted.is_multiple_of(256),
        "{diverted}"
    );
    let seen_a = pair.material[0].lock().unwrap().clone();
    let seen_b = pair.material[1].lock().unwrap().clone();
    assert!(!seen_a.is_empty() && !seen_b.is_empty());
    assert_eq!(seen_a[0], seen_b[0]);
    assert_eq!(seen_a[0].len(), 32);
    // The diverted bits are not part of the delivered key: the key is what follows them.
    let mut rng = ChaCha20Rng::seed_from_u64(42);
    let bools: Vec<bool> = (0..1000).map(|_| rng.random()).collect();
    let all = BitString::from_bools(&bools);
    assert_eq!(all.slice(0, 256).to_bytes(), seen_a[0]);
    assert_eq!(
        a.key.expose_secret(),
        all.slice(256, 1000).to_bytes().as_slice()
    );
    // A demand below one unit diverts nothing.
    let pair = start_pair(100, 200, 1, HashMap::new(), None, None);
    assert_eq!(pair.bob.next_block().await.unwrap().stats.final_bits, 96);
    assert_eq!(pair.bob.counters().auth_bits_diverted, 0);
    let truncated = pair.bob.counters().bits_truncated;
    assert!(truncated >= 4 && truncated.is_multiple_of(4), "{truncated}");
}

#[tokio::test]
async fn the_buffer_is_bounded() {
    let pair = start_pair(64, 0, 3, HashMap::new(), None, None);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Three blocks wait in each buffer; the fourth is finished but blocked on the full queue.
    let attempted = pair.alice.counters().blocks_attempted;
    assert!((3..=4).contains(&attempted), "{attempted}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(pair.alice.counters().blocks_attempted, attempted);
    pair.alice.next_block().await.unwrap();
    pair.bob.next_block().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(pair.alice.counters().blocks_attempted, attempted + 1);
}

#[tokio::test]
async fn on_demand_devices_run_no_block_ahead() {
    let pair = start_pair(64, 0, 0, HashMap::new(), None, None);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        pair.alice.counters().blocks_attempted,
        0,
        "nothing asked yet"
    );
    for round in 1..=3u64 {
        let (a, b) = tokio::join!(pair.alice.next_block(), pair.bob.next_block());
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!((a.index, &a.key), (b.index, &b.key));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(pair.alice.counters().blocks_attempted, round);
        assert_eq!(pair.bob.counters().blocks_attempted, round);
    }
}

#[tokio::test]
async fn dropping_one_end_fails_the_other_without_partial_keys() {
    let pair = start_pair(64, 0, 1, HashMap::new(), None, None);
    let Pair { alice, bob, .. } = pair;
    drop(alice);
    // Bob may still hand out blocks completed before Alice went away, then reports the fault
    // and keeps reporting it.
    let mut delivered = 0;
    let fault = loop {
        match bob.next_block().await {
            Ok(_) => delivered += 1,
            Err(e) => break e,
        }
    };
    assert!(delivered <= 2, "{delivered}");
    assert!(
        matches!(fault, DeviceError::PeerUnreachable(_)),
        "{fault:?}"
    );
    assert_eq!(bob.next_block().await.unwrap_err(), fault);
    assert_eq!(bob.status().state, DeviceState::Failed);
}

#[tokio::test]
async fn shutdown_is_final() {
    let pair = start_pair(64, 0, 1, HashMap::new(), None, None);
    pair.alice.next_block().await.unwrap();
    pair.alice.shutdown();
    assert_eq!(pair.alice.next_block().await, Err(DeviceError::Shutdown));
    assert_eq!(pair.alice.next_block().await, Err(DeviceError::Shutdown));
    assert_eq!(pair.alice.status().state, DeviceState::Stopped);
}

#[tokio::test]
async fn a_stalled_block_times_out_as_a_fault() {
    let pair = start_pair(
        64,
        0,
        1,
        HashMap::new(),
        Some(0),
        Some(Duration::from_millis(100)),
    );
    let err = pair.alice.next_block().await.unwrap_err();
    assert!(
        matches!(err, DeviceError::PeerUnreachable(ref m) if m.contains("block 0")),
        "{err:?}"
    );
}

#[tokio::test]
async fn cancelled_next_block_leaves_the_device_usable() {
    let pair = start_pair(64, 0, 1, HashMap::new(), Some(0), None);
    let cancelled = tokio::time::timeout(Duration::from_millis(50), pair.alice.next_block()).await;
    assert!(cancelled.is_err());
    assert_eq!(pair.alice.status().blocks_delivered, 0);
    assert_eq!(pair.alice.status().state, DeviceState::Initializing);
}

#[test]
fn starting_outside_a_runtime_is_an_error() {
    let (a, _b) = MemoryChannel::pair();
    let info = DeviceInfo {
        link_id: "x".into(),
        protocol: "scripted".into(),
        role: Role::Alice,
        peer: "bob".into(),
        vendor: "test".into(),
        nominal_key_rate_bps: None,
        block_bits: 8,
    };
    let result = SimulatedDevice::start(info, 1, |queue, counters, demand| Worker {
        engine: Box::new(ScriptedEngine {
            role: Role::Alice,
            seed: 0,
            bits: 8,
            aborts: HashMap::new(),
            stall_at: None,
        }),
        channel: Box::new(CountingChannel {
            inner: a,
            usage: AuthUsage::default(),
            demand: 0,
            received: Arc::default(),
        }),
        queue,
        counters,
        block_timeout: None,
        max_divert_fraction: 0.5,
        demand,
    });
    assert!(matches!(result, Err(DeviceError::InvalidConfig(_))));
}

#[test]
fn bb84_configs_size_the_sample_for_the_block() {
    use super::LinkConfig;
    // The estimation sample maximises the finite-key length: a smaller share of longer blocks.
    let fraction = |bits: usize, depolarizing: f64| {
        LinkConfig::bb84(bits, depolarizing).distill.sample_fraction
    };
    let (f16, f18, f20) = (
        fraction(1 << 16, 0.04),
        fraction(1 << 18, 0.04),
        fraction(1 << 20, 0.04),
    );
    assert!((0.12..0.18).contains(&f16), "{f16}");
    assert!((0.08..0.12).contains(&f18), "{f18}");
    assert!((0.05..0.08).contains(&f20), "{f20}");
    // A noiseless channel plans for a QBER of 1%, not 0.
    assert_eq!(fraction(1 << 16, 0.0), fraction(1 << 16, 0.02));
    // A block too short for any key keeps the default.
    assert_eq!(fraction(256, 0.2), 0.1);
}
