//! Conformance suite for [`QuantumDevice`], and [`PairedTestDevice`], a deterministic stand-in for a
//! QKD link that layers above the device (QKD module, key server) can test against.
//!
//! ```
//! # async fn demo() {
//! use qkd_core::conformance::device::{run_quantum_device_suite, PairedTestDevice};
//! run_quantum_device_suite(|| async { PairedTestDevice::pair(7, 64) }).await;
//! # }
//! ```

use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

use crate::device::{DeviceInfo, DeviceState, DeviceStatus, QuantumDevice, Role};
use crate::error::DeviceError;
use crate::key::{BlockStats, KeyBlock, SecretKey};

/// How many blocks the suite draws from each end.
pub const SUITE_BLOCKS: u64 = 8;

/// Runs the whole suite on a fresh pair from `factory` (Alice first, Bob second).
///
/// The suite drives both ends concurrently (as the two sites of a real link run independently), so
/// implementations whose ends exchange messages with each other work unchanged.
pub async fn run_quantum_device_suite<D, F, Fut>(mut factory: F)
where
    D: QuantumDevice + 'static,
    F: FnMut() -> Fut,
    Fut: Future<Output = (D, D)>,
{
    let (alice, bob) = factory().await;
    info_is_consistent(&alice, &bob);
    ends_agree_on_blocks(&alice, &bob, SUITE_BLOCKS).await;
    status_counts_blocks(&alice, &bob, SUITE_BLOCKS);
    let (alice, bob) = factory().await;
    usable_as_trait_objects(Box::new(alice), Box::new(bob)).await;
}

/// Both ends describe the same link from opposite roles.
pub fn info_is_consistent(alice: &dyn QuantumDevice, bob: &dyn QuantumDevice) {
    let (a, b) = (alice.info(), bob.info());
    assert_eq!(a.role, Role::Alice, "first device of the pair is Alice");
    assert_eq!(b.role, Role::Bob, "second device of the pair is Bob");
    assert_eq!(a.link_id, b.link_id, "both ends report the same link_id");
    assert_eq!(a.protocol, b.protocol, "both ends report the same protocol");
    assert!(!a.protocol.is_empty(), "protocol is named");
}

/// Draws `blocks` blocks from both ends concurrently and checks index agreement, key agreement,
/// consecutive indexes, non-empty and distinct keys, and consistent statistics.
pub async fn ends_agree_on_blocks(alice: &dyn QuantumDevice, bob: &dyn QuantumDevice, blocks: u64) {
    let mut last_index: Option<u64> = None;
    let mut previous: Option<SecretKey> = None;
    for _ in 0..blocks {
        let (a, b) = tokio::join!(alice.next_block(), bob.next_block());
        match (a, b) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a.index, b.index, "both ends deliver the same index");
                assert_eq!(a.key, b.key, "both ends deliver the same key for an index");
                assert!(!a.key.is_empty(), "a delivered block carries key");
                assert_eq!(
                    a.stats.final_bits,
                    a.key.bit_len() as u64,
                    "stats.final_bits equals the key length in bits"
                );
                if let Some(last) = last_index {
                    assert!(a.index > last, "indexes increase");
                }
                if let Some(prev) = &previous {
                    assert_ne!(prev, &a.key, "consecutive blocks carry different keys");
                }
                last_index = Some(a.index);
                previous = Some(a.key);
            }
            (Err(ea), Err(eb)) => {
                // An aborted block is allowed, but both ends must abort it.
                assert!(
                    !matches!(ea, DeviceError::Shutdown) && !matches!(eb, DeviceError::Shutdown),
                    "device shut down during the suite"
                );
            }
            (a, b) => panic!(
                "ends disagree on whether a block succeeded: alice {:?}, bob {:?}",
                a.map(|k| k.index),
                b.map(|k| k.index)
            ),
        }
    }
}

/// After [`ends_agree_on_blocks`], both ends' counters add up to the blocks drawn.
pub fn status_counts_blocks(alice: &dyn QuantumDevice, bob: &dyn QuantumDevice, blocks: u64) {
    for (name, dev) in [("alice", alice), ("bob", bob)] {
        let st = dev.status();
        assert_eq!(
            st.blocks_delivered + st.blocks_aborted,
            blocks,
            "{name}: delivered + aborted equals blocks drawn"
        );
        assert!(st.blocks_delivered > 0, "{name}: some blocks delivered");
        assert!(st.key_bits_delivered > 0, "{name}: key bits counted");
        assert!(
            matches!(st.state, DeviceState::Running | DeviceState::Degraded),
            "{name}: running after delivering blocks"
        );
    }
}

/// The trait is object safe and boxed devices work as the unboxed ones.
pub async fn usable_as_trait_objects(alice: Box<dyn QuantumDevice>, bob: Box<dyn QuantumDevice>) {
    ends_agree_on_blocks(alice.as_ref(), bob.as_ref(), 2).await;
}

/// One end of a deterministic test link: both ends derive block `i` from a shared seed, so they
/// agree without any communication. It is **not** QKD and provides no secrecy; it exists so that
/// the QKD module and the key server can be tested without a simulator.
pub struct PairedTestDevice {
    seed: u64,
    role: Role,
    block_bytes: usize,
    interval: Duration,
    abort_every: Option<u64>,
    next_index: AtomicU64,
    delivered: AtomicU64,
    aborted: AtomicU64,
    shut_down: AtomicBool,
    started: Instant,
    last_block_at: Mutex<Option<Instant>>,
}

impl PairedTestDevice {
    /// Alice and Bob ends sharing `seed`, each block carrying `block_bytes` bytes of key.
    pub fn pair(seed: u64, block_bytes: usize) -> (PairedTestDevice, PairedTestDevice) {
        (
            Self::end(seed, Role::Alice, block_bytes),
            Self::end(seed, Role::Bob, block_bytes),
        )
    }

    /// One end of the pair (useful when the two ends live in different places).
    pub fn end(seed: u64, role: Role, block_bytes: usize) -> PairedTestDevice {
        PairedTestDevice {
            seed,
            role,
            block_bytes: block_bytes.max(1),
            interval: Duration::ZERO,
            abort_every: None,
            next_index: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            aborted: AtomicU64::new(0),
            shut_down: AtomicBool::new(false),
            started: Instant::now(),
            last_block_at: Mutex::new(None),
        }
    }

    /// Delivers at most one block per `interval` (simulates a device's key rate).
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Aborts every block whose index is a multiple of `n` (n >= 2), as a QBER abort would.
    pub fn with_abort_every(mut self, n: u64) -> Self {
        self.abort_every = (n >= 2).then_some(n);
        self
    }

    /// Stops the device: every later `next_block` returns [`DeviceError::Shutdown`].
    pub fn shutdown(&self) {
        self.shut_down.store(true, Ordering::SeqCst);
    }

    /// The key both ends deliver at `index`.
    pub fn key_at(seed: u64, index: u64, block_bytes: usize) -> SecretKey {
        let mut material = [0u8; 32];
        material[..8].copy_from_slice(&seed.to_le_bytes());
        material[8..16].copy_from_slice(&index.to_le_bytes());
        let mut rng = ChaCha20Rng::from_seed(material);
        let mut bytes = vec![0u8; block_bytes];
        rng.fill_bytes(&mut bytes);
        SecretKey::from_vec(bytes)
    }
}

#[async_trait]
impl QuantumDevice for PairedTestDevice {
    fn info(&self) -> DeviceInfo {
        DeviceInfo {
            link_id: format!("paired-test-{}", self.seed),
            protocol: "TEST".to_owned(),
            role: self.role,
            peer: format!("{:?}", self.role.peer()),
            vendor: "qkd-core PairedTestDevice".to_owned(),
            nominal_key_rate_bps: None,
            block_bits: (self.block_bytes * 8) as u64,
        }
    }

    async fn next_block(&self) -> Result<KeyBlock, DeviceError> {
        if self.shut_down.load(Ordering::SeqCst) {
            return Err(DeviceError::Shutdown);
        }
        if !self.interval.is_zero() {
            let wait = {
                let last = self.last_block_at.lock().unwrap_or_else(|e| e.into_inner());
                last.map(|t| self.interval.saturating_sub(t.elapsed()))
            };
            if let Some(wait) = wait {
                tokio::time::sleep(wait).await;
            }
            *self.last_block_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        }
        let index = self.next_index.fetch_add(1, Ordering::SeqCst);
        if self.abort_every.is_some_and(|n| index.is_multiple_of(n)) {
            self.aborted.fetch_add(1, Ordering::SeqCst);
            return Err(DeviceError::QberAboveThreshold {
                index,
                qber: 0.25,
                threshold: 0.11,
            });
        }
        self.delivered.fetch_add(1, Ordering::SeqCst);
        let key = Self::key_at(self.seed, index, self.block_bytes);
        let bits = key.bit_len() as u64;
        Ok(KeyBlock {
            index,
            key,
            stats: BlockStats {
                raw_bits: bits * 4,
                sifted_bits: bits * 2,
                final_bits: bits,
                ..BlockStats::default()
            },
        })
    }

    fn status(&self) -> DeviceStatus {
        let delivered = self.delivered.load(Ordering::SeqCst);
        let uptime = self.started.elapsed();
        let bits = delivered * (self.block_bytes as u64) * 8;
        DeviceStatus {
            state: if self.shut_down.load(Ordering::SeqCst) {
                DeviceState::Stopped
            } else if delivered == 0 {
                DeviceState::Initializing
            } else {
                DeviceState::Running
            },
            last_qber: None,
            blocks_delivered: delivered,
            blocks_aborted: self.aborted.load(Ordering::SeqCst),
            key_bits_delivered: bits,
            key_rate_bps: bits as f64 / uptime.as_secs_f64().max(1e-9),
            uptime,
        }
    }
}
