//! The QKD module passes the KeyModule conformance suite over both stores, and module-specific
//! behaviour: the documented block -> chunk scheme, buffer back-pressure, close at both ends,
//! status codes for slot exhaustion, unreachable peers and re-reads.

use std::sync::Arc;
use std::time::Duration;

use qkd_core::conformance::device::PairedTestDevice;
use qkd_core::conformance::module::{ModulePair, open_both, run_key_module_suite};
use qkd_core::{Endpoint, KeyModule, KeyStore, ModuleError, Qos, SecretKey, Status};
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

/// The chunks are exactly the documented scheme: the concatenation of the stream's slot blocks
/// from a common start block, cut into key_chunk_size pieces.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunks_follow_the_documented_schedule() {
    let seed = 7;
    let p = memory_pair(seed, ModuleConfig::default());
    let ksid = open_both(&p, &qos(24)).await;
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
    let n = 40u64;
    let mut got = Vec::new();
    for i in 0..n {
        got.extend_from_slice(
            p.alice
                .get_key(ksid, Some(i), 1024)
                .await
                .unwrap()
                .key
                .expose_secret(),
        );
    }
    // Find the start block: the first slot-0 block from which the concatenation matches.
    let slot_count = u64::from(ModuleConfig::default().slot_count);
    let position = p.alice.position().max(p.bob.position());
    let start = (0..=position / slot_count)
        .map(|k| k * slot_count)
        .find(|&start| {
            let mut expect = Vec::new();
            let mut b = start;
            while expect.len() < got.len() {
                expect.extend_from_slice(
                    PairedTestDevice::key_at(seed, b, BLOCK_BYTES).expose_secret(),
                );
                b += slot_count;
            }
            expect[..got.len()] == got[..]
        });
    assert!(
        start.is_some(),
        "chunks are not the slot-0 blocks concatenated from any start"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_ends_the_stream_at_both_modules_and_deletes_chunks() {
    let p = memory_pair(8, ModuleConfig::default());
    let ksid = open_both(&p, &qos(32)).await;
    p.bob.get_key(ksid, Some(3), 1024).await.unwrap();
    assert!(p.alice.available(ksid).await.unwrap() > 0);
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
    // Reading makes room; pulling resumes and later indexes arrive and still agree.
    for i in 0..12u64 {
        let a = p.alice.get_key(ksid, Some(i), 1024).await.unwrap();
        let b = p.bob.get_key(ksid, Some(i), 1024).await.unwrap();
        assert_eq!(a.key, b.key);
    }
    assert!(p.alice.position() > before);
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
