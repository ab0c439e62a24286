//! The QKD module passes the KeyModule conformance suite over both stores, and module-specific
//! behaviour: the documented block -> chunk scheme, buffer back-pressure, close at both ends,
//! status codes for slot exhaustion, unreachable peers and re-reads.

use std::sync::Arc;
use std::time::Duration;

use qkd_core::conformance::device::PairedTestDevice;
use qkd_core::conformance::module::{ModulePair, open_both, run_key_module_suite};
use qkd_core::{Endpoint, KeyModule, KeyStore, ModuleError, Qos, SecretKey, Status, StreamId};
use qkd_kms::module::peer::InProcessPeer;
use qkd_kms::store::{MasterKey, MemoryStore, RedbStore};
use qkd_kms::{ModuleConfig, QkdModule};

type MemModule = QkdModule<PairedTestDevice, MemoryStore>;

const BLOCK_BYTES: usize = 40;

fn endpoints() -> (Endpoint, Endpoint) {
    (
        Endpoint::new("qkd://sae-a@site-a").unwrap(),
        Endpoint::new("qkd://sae-b@site-b").unwrap(),
    )
}

fn memory_pair(seed: u64, config: ModuleConfig) -> ModulePair<Arc<MemModule>, Arc<MemModule>> {
    let (da, db) = PairedTestDevice::pair(seed, BLOCK_BYTES);
    let (alice, bob) =
        QkdModule::pair_in_process((da, MemoryStore::new()), (db, MemoryStore::new()), config);
    let (source, destination) = endpoints();
    ModulePair {
        alice,
        bob,
        source,
        destination,
    }
}

fn qos(chunk: u32) -> Qos {
    Qos {
        key_chunk_size: chunk,
        timeout: 10_000,
        ..Qos::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn module_over_memory_store_passes_key_module_suite() {
    let mut seed = 100;
    run_key_module_suite(|| {
        seed += 1;
        std::future::ready(memory_pair(seed, ModuleConfig::default()))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn module_over_redb_store_passes_key_module_suite() {
    let dir = tempfile::tempdir().unwrap();
    let key =
        MasterKey::from_bytes(std::array::from_fn(|i| (i as u8).wrapping_mul(29) ^ 0x6b)).unwrap();
    let mut n = 0u64;
    run_key_module_suite(|| {
        n += 1;
        let (da, db) = PairedTestDevice::pair(200 + n, BLOCK_BYTES);
        let sa = RedbStore::open(dir.path().join(format!("a{n}.redb")), &key).unwrap();
        let sb = RedbStore::open(dir.path().join(format!("b{n}.redb")), &key).unwrap();
        let (alice, bob) = QkdModule::pair_in_process((da, sa), (db, sb), ModuleConfig::default());
        let (source, destination) = endpoints();
        std::future::ready(ModulePair {
            alice,
            bob,
            source,
            destination,
        })
    })
    .await;
}

/// Reads chunks `0..n` of `ksid` at Alice and Bob, checks they agree, and returns Alice's bytes.
async fn read_both(
    p: &ModulePair<Arc<MemModule>, Arc<MemModule>>,
    ksid: StreamId,
    n: u64,
) -> Vec<u8> {
    let mut got = Vec::new();
    for i in 0..n {
        let a = p.alice.get_key(ksid, Some(i), 1024).await.unwrap();
        let b = p.bob.get_key(ksid, Some(i), 1024).await.unwrap();
        assert_eq!(a.key, b.key, "chunk {i} of {ksid}");
        got.extend_from_slice(a.key.expose_secret());
    }
    got
}

/// Whether `got` is the concatenation of the device blocks `start, start + step, ...`.
fn is_blocks_from(seed: u64, got: &[u8], start: u64, step: u64) -> bool {
    let mut expect = Vec::new();
    let mut b = start;
    while expect.len() < got.len() {
        expect.extend_from_slice(PairedTestDevice::key_at(seed, b, BLOCK_BYTES).expose_secret());
        b += step;
    }
    expect[..got.len()] == got[..]
}

/// A stream with `max_bps` set owns its slots and nothing else: its chunks are exactly its slot
/// blocks from a common start block, concatenated and cut into key_chunk_size pieces.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_stream_gets_exactly_its_slot_blocks() {
    let seed = 7;
    let p = memory_pair(seed, ModuleConfig::default());
    let limited = Qos {
        max_bps: 1,
        ..qos(24)
    };
    let ksid = open_both(&p, &limited).await;
    let slots = p.alice.slots_of(ksid);
    assert_eq!(
        slots,
        p.bob.slots_of(ksid),
        "both ends record the same slots"
    );
    assert_eq!(
        slots,
        vec![0],
        "the first stream opened at Alice takes slot 0"
    );
    let got = read_both(&p, ksid, 40).await;
    let slot_count = u64::from(ModuleConfig::default().slot_count);
    let position = p.alice.position().max(p.bob.position());
    assert!(
        (0..=position / slot_count).any(|k| is_blocks_from(seed, &got, k * slot_count, slot_count)),
        "chunks are not the slot-0 blocks concatenated from any start"
    );
}

/// A lone elastic stream (`max_bps = 0`) takes the spare blocks too: the whole link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_elastic_stream_gets_every_block() {
    let seed = 17;
    let p = memory_pair(seed, ModuleConfig::default());
    let ksid = open_both(&p, &qos(24)).await;
    let got = read_both(&p, ksid, 40).await;
    let position = p.alice.position().max(p.bob.position());
    assert!(
        (0..=position).any(|start| is_blocks_from(seed, &got, start, 1)),
        "chunks are not consecutive device blocks"
    );
}

/// Spare blocks go to the highest priority; the lower one keeps its own slot and no more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priority_decides_who_gets_the_spare_blocks() {
    let config = ModuleConfig {
        buffer_chunks: 100_000,
        ..ModuleConfig::default()
    };
    let p = memory_pair(18, config);
    let chunk = BLOCK_BYTES as u32; // one chunk per block
    let low = open_both(
        &p,
        &Qos {
            priority: 1,
            ..qos(chunk)
        },
    )
    .await;
    let high = open_both(
        &p,
        &Qos {
            priority: 9,
            ..qos(chunk)
        },
    )
    .await;
    let count = |ksid| {
        let module = Arc::clone(&p.alice);
        async move { module.available(ksid).await.unwrap() }
    };
    // Let the blocks held during the opens reach the store, then count from there.
    let settled = p.alice.position() + 400;
    while p.alice.position() < settled {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (l0, h0) = (count(low).await, count(high).await);
    // Let 50 rounds of the 16-slot schedule pass.
    let target = p.alice.position() + 800;
    while p.alice.position() < target || p.bob.position() < target {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (l, h) = (count(low).await - l0, count(high).await - h0);
    // From here on `low` gets its one slot in 16 and `high` the other 15 (800 blocks: 50 and 750,
    // give or take the blocks in flight when the counts were read).
    assert!(h >= 10 * l, "high priority got {h} blocks, low {l}");
    assert!(
        l >= 40,
        "the low-priority stream keeps its own slot: {l} blocks"
    );
    read_both(&p, low, 30).await;
    read_both(&p, high, 30).await;
}

/// Unread chunks expire after the stream's TTL (status 2 at both ends afterwards), which frees the
/// buffer so the link moves on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_expires_unread_chunks_and_unblocks_the_link() {
    let config = ModuleConfig {
        buffer_chunks: 4,
        ..ModuleConfig::default()
    };
    let p = memory_pair(19, config);
    let ksid = open_both(&p, &Qos { ttl: 1, ..qos(32) }).await;
    for _ in 0..200 {
        if p.alice.available(ksid).await.unwrap() == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stalled_at = p.alice.position();
    tokio::time::sleep(Duration::from_millis(1600)).await;
    for module in [&p.alice, &p.bob] {
        assert_eq!(
            module.get_key(ksid, Some(0), 1024).await.unwrap_err(),
            ModuleError::InsufficientKey,
            "chunk 0 expired"
        );
    }
    // The puller moves on once expiry made room; on a loaded machine that can take a while
    // after the 100 ms expiry tick (bounded wait).
    for _ in 0..200 {
        if p.alice.position() > stalled_at {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        p.alice.position() > stalled_at,
        "expiry made room and the puller moved on"
    );
    // Later chunks still agree at both ends.
    let next = p.alice.get_key(ksid, None, 1024).await.unwrap();
    let other = p.bob.get_key(ksid, Some(next.index), 1024).await.unwrap();
    assert_eq!(next.key, other.key);
    assert!(next.index >= 4);
}

/// `jitter` buys evenly spread slots, or a counter-proposal with the best bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jitter_is_negotiated_against_the_block_period() {
    // 320-bit blocks at 5120 bit/s: one block every 62.5 ms; one slot of 16 every second.
    let config = ModuleConfig {
        key_rate_bps: Some(5120.0),
        ..ModuleConfig::default()
    };
    let p = memory_pair(20, config);
    let (src, dst) = (&p.source, &p.destination);
    let err = p
        .alice
        .open_connect(
            src,
            dst,
            &Qos {
                jitter: 100,
                ..qos(32)
            },
            None,
        )
        .await
        .unwrap_err();
    let ModuleError::QosNotMet { counter_proposal } = err else {
        panic!("expected status 7, got {err:?}");
    };
    assert_eq!(counter_proposal.jitter, 125, "every other slot: 2 blocks");
    let ksid = open_both(
        &p,
        &Qos {
            jitter: 300,
            ..qos(32)
        },
    )
    .await;
    assert_eq!(p.alice.slots_of(ksid), vec![0, 4, 8, 12]);
    assert_eq!(p.bob.slots_of(ksid), vec![0, 4, 8, 12]);
    read_both(&p, ksid, 5).await;
}

/// Whichever end closes a stream (or both at once), the two agree on its last block, so the
/// elastic stream that inherits its blocks stays in step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_at_either_end_keeps_the_other_streams_in_step() {
    let p = memory_pair(21, ModuleConfig::default());
    for round in 0..5 {
        let first = open_both(&p, &qos(16)).await;
        let second = open_both(&p, &qos(16)).await;
        read_both(&p, first, 3).await;
        match round % 3 {
            0 => p.alice.close(first).await.unwrap(),
            1 => p.bob.close(first).await.unwrap(),
            _ => {
                let (a, b) = tokio::join!(p.alice.close(first), p.bob.close(first));
                // One close may find the stream already closed by the other (status 4).
                assert!(a.is_ok() || b.is_ok(), "round {round}");
            }
        }
        read_both(&p, second, 20).await;
        p.alice.close(second).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_ends_the_stream_at_both_modules_and_deletes_chunks() {
    let p = memory_pair(8, ModuleConfig::default());
    let ksid = open_both(&p, &qos(32)).await;
    p.bob.get_key(ksid, Some(3), 1024).await.unwrap();
    // Waiting for index 3 at Alice means chunks 0-2 are buffered there.
    p.alice.get_key(ksid, Some(3), 1024).await.unwrap();
    assert!(p.alice.available(ksid).await.unwrap() >= 3);
    p.bob.close(ksid).await.unwrap();
    for module in [&p.alice, &p.bob] {
        assert_eq!(
            module
                .get_key(ksid, Some(0), 1024)
                .await
                .unwrap_err()
                .status(),
            Status::NoQkdConnection
        );
        let counts = module.store().counts(ksid).await.unwrap();
        assert_eq!(counts.stored(), 0, "close deletes the buffered chunks");
    }
    // The slots are free again: a new stream gets slot 0 back.
    let again = open_both(&p, &qos(32)).await;
    assert_eq!(p.alice.slots_of(again), vec![0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_buffer_stops_pulling_until_key_is_read() {
    let config = ModuleConfig {
        buffer_chunks: 4,
        ..ModuleConfig::default()
    };
    let p = memory_pair(9, config);
    let ksid = open_both(&p, &qos(32)).await;
    // Wait until the buffer is full at Alice.
    for _ in 0..200 {
        if p.alice.available(ksid).await.unwrap() == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(p.alice.available(ksid).await.unwrap(), 4);
    let before = p.alice.position();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        p.alice.position(),
        before,
        "the puller does not take blocks from the device while the buffer is full"
    );
    assert_eq!(
        p.alice.available(ksid).await.unwrap(),
        4,
        "never above capacity"
    );
    // Reading makes room; pulling resumes and later indexes arrive and still agree. The chunks
    // of the last block pulled may wait in the module's queue when the buffer fills, so the
    // first reads can be served without a new pull: read on until the position moves, which
    // must happen within the buffer plus a few blocks' worth of chunks.
    let mut i = 0u64;
    while p.alice.position() == before && i < 200 {
        let a = p.alice.get_key(ksid, Some(i), 1024).await.unwrap();
        let b = p.bob.get_key(ksid, Some(i), 1024).await.unwrap();
        assert_eq!(a.key, b.key);
        i += 1;
    }
    assert!(
        p.alice.position() > before,
        "pulling resumed after {i} reads"
    );
    for j in i..i + 8 {
        let a = p.alice.get_key(ksid, Some(j), 1024).await.unwrap();
        let b = p.bob.get_key(ksid, Some(j), 1024).await.unwrap();
        assert_eq!(a.key, b.key, "index {j}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_an_index_twice_is_status_2() {
    let p = memory_pair(10, ModuleConfig::default());
    let ksid = open_both(&p, &qos(32)).await;
    p.alice.get_key(ksid, Some(0), 1024).await.unwrap();
    assert_eq!(
        p.alice.get_key(ksid, Some(0), 1024).await.unwrap_err(),
        ModuleError::InsufficientKey
    );
    // Sequential reads skip the index already read by index.
    assert_eq!(p.alice.get_key(ksid, None, 1024).await.unwrap().index, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_bps_counter_proposal_and_slot_exhaustion() {
    // 16 slots at 1600 bit/s: 100 bit/s per slot, 8 slots (800 bit/s) per direction.
    let config = ModuleConfig {
        key_rate_bps: Some(1600.0),
        ..ModuleConfig::default()
    };
    let p = memory_pair(11, config);
    let (src, dst) = (&p.source, &p.destination);
    let too_much = Qos {
        min_bps: 900,
        ..qos(32)
    };
    let err = p
        .alice
        .open_connect(src, dst, &too_much, None)
        .await
        .unwrap_err();
    let ModuleError::QosNotMet { counter_proposal } = err else {
        panic!("expected status 7, got {err:?}");
    };
    assert_eq!(counter_proposal.min_bps, 800);
    let ksid = open_both(&p, &counter_proposal).await;
    assert_eq!(p.alice.slots_of(ksid), vec![0, 2, 4, 6, 8, 10, 12, 14]);
    // Alice's direction is full: another stream from Alice cannot get a slot (status 4) ...
    let err = p
        .alice
        .open_connect(src, dst, &qos(32), None)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Status::NoQkdConnection);
    // ... while Bob's direction still has all its slots.
    let from_bob = p.bob.open_connect(dst, src, &qos(32), None).await.unwrap();
    assert_eq!(p.bob.slots_of(from_bob.ksid), vec![1]);
    let a = p.alice.get_key(ksid, Some(5), 1024).await.unwrap();
    let b = p.bob.get_key(ksid, Some(5), 1024).await.unwrap();
    assert_eq!(a.key, b.key);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_peer_is_status_4_and_leaves_nothing_behind() {
    let (da, _db) = PairedTestDevice::pair(12, BLOCK_BYTES);
    let lonely = QkdModule::start(
        da,
        MemoryStore::new(),
        Arc::new(InProcessPeer::new()),
        ModuleConfig::default(),
    );
    let (src, dst) = endpoints();
    let err = lonely
        .open_connect(&src, &dst, &qos(32), None)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Status::NoQkdConnection);
    assert!(lonely.store().streams().await.unwrap().is_empty());
    // Nothing is left registered: the same KSID can be tried again (status 4 again, not 5).
    let ksid = qkd_core::StreamId::new_random();
    for _ in 0..2 {
        let err = lonely
            .open_connect(&src, &dst, &qos(32), Some(ksid))
            .await
            .unwrap_err();
        assert_eq!(err.status(), Status::NoQkdConnection);
        assert!(
            lonely.slots_of(ksid).is_empty(),
            "slots released after the failure"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborted_blocks_and_large_chunks_keep_both_ends_in_step() {
    let (da, db) = PairedTestDevice::pair(13, BLOCK_BYTES);
    let (alice, bob) = QkdModule::pair_in_process(
        (da.with_abort_every(3), MemoryStore::new()),
        (db.with_abort_every(3), MemoryStore::new()),
        ModuleConfig::default(),
    );
    let (source, destination) = endpoints();
    let p = ModulePair {
        alice,
        bob,
        source,
        destination,
    };
    // A chunk of 100 bytes spans several 40-byte blocks.
    let ksid = open_both(&p, &qos(100)).await;
    let mut keys: Vec<SecretKey> = Vec::new();
    for i in 0..10u64 {
        let a = p.alice.get_key(ksid, Some(i), 1024).await.unwrap();
        let b = p.bob.get_key(ksid, Some(i), 1024).await.unwrap();
        assert_eq!(a.key.len(), 100);
        assert_eq!(a.key, b.key, "index {i}");
        assert!(!keys.contains(&a.key));
        keys.push(a.key);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_streams_in_both_directions_are_disjoint() {
    let p = memory_pair(14, ModuleConfig::default());
    let (src, dst) = (&p.source, &p.destination);
    let mut streams = Vec::new();
    for k in 0..6 {
        let opened = if k % 2 == 0 {
            let o = p
                .alice
                .open_connect(src, dst, &qos(20), None)
                .await
                .unwrap();
            p.bob
                .open_connect(dst, src, &qos(20), Some(o.ksid))
                .await
                .unwrap();
            o.ksid
        } else {
            let o = p.bob.open_connect(dst, src, &qos(20), None).await.unwrap();
            p.alice
                .open_connect(src, dst, &qos(20), Some(o.ksid))
                .await
                .unwrap();
            o.ksid
        };
        streams.push(opened);
    }
    let mut all = Vec::new();
    for i in 0..8u64 {
        for &ksid in &streams {
            let a = p.alice.get_key(ksid, Some(i), 1024).await.unwrap();
            let b = p.bob.get_key(ksid, Some(i), 1024).await.unwrap();
            assert_eq!(a.key, b.key);
            assert!(
                !all.contains(&a.key),
                "key shared between streams or indexes"
            );
            all.push(a.key);
        }
    }
}
