//! Conformance suite for [`KeyStore`].
//!
//! ```
//! # async fn demo() {
//! use qkd_core::conformance::store::run_key_store_suite;
//! use qkd_core::MemoryStore;
//! run_key_store_suite(|capacity| async move { MemoryStore::with_default_capacity(capacity) }).await;
//! # }
//! ```
//!
//! The factory receives the default per-stream capacity the store must apply and returns a fresh,
//! empty store. Each check panics with a message naming the violated clause of the contract.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;

use crate::error::StoreError;
use crate::id::StreamId;
use crate::key::SecretKey;
use crate::store::KeyStore;

/// Capacity the suite asks factories for, unless a check needs a smaller one.
pub const SUITE_CAPACITY: u64 = 10_000;

fn key(stream_seed: u8, index: u64) -> SecretKey {
    let mut bytes = [0u8; 32];
    bytes[0] = stream_seed;
    bytes[1..9].copy_from_slice(&index.to_le_bytes());
    bytes[9..].fill(0x5a ^ stream_seed);
    SecretKey::from_slice(&bytes)
}

fn chunks(seed: u8, range: std::ops::Range<u64>) -> Vec<(u64, SecretKey)> {
    range.map(|i| (i, key(seed, i))).collect()
}

/// Runs every check of the suite, each on a fresh store from `factory`.
pub async fn run_key_store_suite<S, F, Fut>(mut factory: F)
where
    S: KeyStore + 'static,
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = S>,
{
    put_take_round_trip(&factory(SUITE_CAPACITY).await).await;
    take_is_exactly_once(&factory(SUITE_CAPACITY).await).await;
    batches_are_atomic(&factory(SUITE_CAPACITY).await).await;
    reservation_ownership(&factory(SUITE_CAPACITY).await).await;
    reserve_next_picks_lowest(&factory(SUITE_CAPACITY).await).await;
    capacity_is_enforced(&factory(4).await).await;
    delete_and_counts(&factory(SUITE_CAPACITY).await).await;
    streams_are_independent(&factory(SUITE_CAPACITY).await).await;
    bad_requests_are_errors(&factory(SUITE_CAPACITY).await).await;
    concurrent_takers_get_each_key_once(Arc::new(factory(SUITE_CAPACITY).await)).await;
    concurrent_reservers_never_share(Arc::new(factory(SUITE_CAPACITY).await)).await;
}

/// A put chunk comes back unchanged from `take`, in the order of the requested indexes.
pub async fn put_take_round_trip(store: &dyn KeyStore) {
    let s = StreamId::new_random();
    store.put(s, chunks(1, 0..8)).await.expect("put");
    let counts = store.counts(s).await.expect("counts");
    assert_eq!(counts.available, 8, "counts after put");
    assert_eq!(counts.reserved, 0, "nothing reserved after put");
    let got = store.take(s, &[5, 2, 7], None).await.expect("take");
    assert_eq!(got.len(), 3, "take returns one key per index");
    assert_eq!(
        got[0],
        key(1, 5),
        "take returns the stored bytes, in request order"
    );
    assert_eq!(
        got[1],
        key(1, 2),
        "take returns the stored bytes, in request order"
    );
    assert_eq!(
        got[2],
        key(1, 7),
        "take returns the stored bytes, in request order"
    );
    assert_eq!(store.counts(s).await.unwrap().available, 5, "take removes");
    assert!(
        store.streams().await.unwrap().contains(&s),
        "streams lists the stream"
    );
}

/// A taken chunk cannot be taken again.
pub async fn take_is_exactly_once(store: &dyn KeyStore) {
    let s = StreamId::new_random();
    store.put(s, chunks(2, 0..3)).await.unwrap();
    store.take(s, &[1], None).await.expect("first take");
    assert_eq!(
        store.take(s, &[1], None).await.unwrap_err(),
        StoreError::NotFound {
            stream: s,
            index: 1
        },
        "second take of the same index must fail with NotFound"
    );
}

/// A failing batch changes nothing.
pub async fn batches_are_atomic(store: &dyn KeyStore) {
    let s = StreamId::new_random();
    store.put(s, chunks(3, 0..4)).await.unwrap();
    // Put with one duplicate index stores none of the batch.
    let mut batch = chunks(3, 10..13);
    batch.push((2, key(3, 2)));
    assert!(
        matches!(
            store.put(s, batch).await,
            Err(StoreError::Duplicate { index: 2, .. })
        ),
        "put of an existing index fails with Duplicate"
    );
    assert_eq!(
        store.counts(s).await.unwrap().available,
        4,
        "failed put stores nothing"
    );
    // Repeated index inside one batch.
    assert!(
        store
            .put(s, vec![(20, key(3, 20)), (20, key(3, 21))])
            .await
            .is_err(),
        "an index repeated within a batch is refused"
    );
    assert_eq!(
        store.counts(s).await.unwrap().available,
        4,
        "failed put stores nothing"
    );
    // Take with one missing index takes nothing.
    assert!(
        matches!(
            store.take(s, &[0, 99], None).await,
            Err(StoreError::NotFound { index: 99, .. })
        ),
        "take naming a missing index fails with NotFound"
    );
    assert_eq!(
        store.counts(s).await.unwrap().available,
        4,
        "failed take removes nothing"
    );
    store
        .take(s, &[0], None)
        .await
        .expect("index 0 still there after failed batch");
    // Reserve with one missing index reserves nothing.
    assert!(
        store.reserve(s, &[1, 99], "o").await.is_err(),
        "reserve of a missing index fails"
    );
    assert_eq!(
        store.counts(s).await.unwrap().reserved,
        0,
        "failed reserve reserves nothing"
    );
}

/// Reserved chunks belong to their owner.
pub async fn reservation_ownership(store: &dyn KeyStore) {
    let s = StreamId::new_random();
    store.put(s, chunks(4, 0..6)).await.unwrap();
    store.reserve(s, &[0, 1], "alice").await.expect("reserve");
    let counts = store.counts(s).await.unwrap();
    assert_eq!(
        (counts.available, counts.reserved),
        (4, 2),
        "reserved are not available"
    );
    assert!(
        matches!(
            store.reserve(s, &[1], "bob").await,
            Err(StoreError::ReservedByOther { index: 1, .. })
        ),
        "a reserved chunk cannot be reserved by another owner"
    );
    assert!(
        matches!(
            store.reserve(s, &[1], "alice").await,
            Err(StoreError::ReservedByOther { .. })
        ),
        "a reserved chunk cannot be reserved twice, even by its owner"
    );
    assert!(
        matches!(
            store.take(s, &[0], None).await,
            Err(StoreError::ReservedByOther { index: 0, .. })
        ),
        "take without owner must not take a reserved chunk"
    );
    assert!(
        matches!(
            store.take(s, &[0], Some("bob")).await,
            Err(StoreError::ReservedByOther { .. })
        ),
        "take by another owner must fail"
    );
    assert!(
        matches!(
            store.take(s, &[2], Some("alice")).await,
            Err(StoreError::NotReserved { index: 2, .. })
        ),
        "take with an owner requires the chunk to be reserved by that owner"
    );
    assert!(
        matches!(
            store.release(s, &[0], "bob").await,
            Err(StoreError::ReservedByOther { .. })
        ),
        "release by another owner must fail"
    );
    assert!(
        matches!(
            store.release(s, &[3], "alice").await,
            Err(StoreError::NotReserved { .. })
        ),
        "release of an unreserved chunk must fail"
    );
    let got = store
        .take(s, &[0], Some("alice"))
        .await
        .expect("owner takes");
    assert_eq!(got[0], key(4, 0), "owner gets the stored bytes");
    store
        .release(s, &[1], "alice")
        .await
        .expect("owner releases");
    let counts = store.counts(s).await.unwrap();
    assert_eq!(
        (counts.available, counts.reserved),
        (5, 0),
        "release makes available"
    );
    store
        .take(s, &[1], None)
        .await
        .expect("released chunk takeable without owner");
}

/// `reserve_next` reserves the lowest available indexes, all or nothing.
pub async fn reserve_next_picks_lowest(store: &dyn KeyStore) {
    let s = StreamId::new_random();
    store.put(s, chunks(5, 10..20)).await.unwrap();
    store.reserve(s, &[11], "x").await.unwrap();
    let got = store.reserve_next(s, 3, "y").await.expect("reserve_next");
    assert_eq!(
        got,
        vec![10, 12, 13],
        "lowest available indexes, skipping reserved ones"
    );
    assert!(
        matches!(
            store.reserve_next(s, 100, "z").await,
            Err(StoreError::Insufficient {
                available: 6,
                requested: 100,
                ..
            })
        ),
        "reserve_next beyond availability fails with Insufficient"
    );
    assert_eq!(
        store.counts(s).await.unwrap().reserved,
        4,
        "failed reserve_next reserves nothing"
    );
    assert_eq!(
        store.reserve_next(s, 0, "z").await.unwrap(),
        Vec::<u64>::new()
    );
    let unknown = StreamId::new_random();
    assert!(
        matches!(
            store.reserve_next(unknown, 1, "z").await,
            Err(StoreError::Insufficient { available: 0, .. })
        ),
        "reserve_next on an unknown stream fails with Insufficient"
    );
}

/// Capacity limits puts, counting reserved chunks, and can be set per stream.
/// The factory for this check was asked for a default capacity of 4.
pub async fn capacity_is_enforced(store: &dyn KeyStore) {
    let s = StreamId::new_random();
    assert_eq!(
        store.counts(s).await.unwrap().capacity,
        4,
        "default capacity applies"
    );
    store.put(s, chunks(6, 0..3)).await.unwrap();
    store.reserve(s, &[0], "r").await.unwrap();
    assert!(
        matches!(
            store.put(s, chunks(6, 3..5)).await,
            Err(StoreError::CapacityExceeded { capacity: 4, .. })
        ),
        "put beyond capacity fails (reserved chunks count)"
    );
    assert_eq!(
        store.counts(s).await.unwrap().stored(),
        3,
        "failed put stores nothing"
    );
    store.put(s, chunks(6, 3..4)).await.expect("fits exactly");
    assert_eq!(store.counts(s).await.unwrap().free(), 0);
    store.set_capacity(s, 6).await.unwrap();
    assert_eq!(
        store.counts(s).await.unwrap().capacity,
        6,
        "set_capacity applies"
    );
    store
        .put(s, chunks(6, 4..6))
        .await
        .expect("room after raising capacity");
    let other = StreamId::new_random();
    assert_eq!(
        store.counts(other).await.unwrap().capacity,
        4,
        "other streams keep the default"
    );
}

/// Delete removes reserved and unreserved chunks and reports how many.
pub async fn delete_and_counts(store: &dyn KeyStore) {
    let s = StreamId::new_random();
    store.put(s, chunks(7, 0..10)).await.unwrap();
    store.reserve(s, &[0, 1], "d").await.unwrap();
    assert_eq!(
        store.delete(s, &[1, 2, 99]).await.unwrap(),
        2,
        "delete counts what it removed"
    );
    let counts = store.counts(s).await.unwrap();
    assert_eq!(
        (counts.available, counts.reserved),
        (7, 1),
        "delete updates counts"
    );
    assert!(
        store.take(s, &[2], None).await.is_err(),
        "deleted chunk is gone"
    );
    assert_eq!(
        store.delete_stream(s).await.unwrap(),
        8,
        "delete_stream counts what it removed"
    );
    assert_eq!(
        store.counts(s).await.unwrap().stored(),
        0,
        "stream empty after delete_stream"
    );
    assert_eq!(store.delete(StreamId::new_random(), &[1]).await.unwrap(), 0);
}

/// Streams do not see each other's chunks.
pub async fn streams_are_independent(store: &dyn KeyStore) {
    let (a, b) = (StreamId::new_random(), StreamId::new_random());
    store.put(a, chunks(8, 0..2)).await.unwrap();
    store
        .put(b, chunks(9, 0..2))
        .await
        .expect("same index in another stream");
    assert_eq!(store.take(a, &[0], None).await.unwrap()[0], key(8, 0));
    assert_eq!(store.take(b, &[0], None).await.unwrap()[0], key(9, 0));
    let mut listed = store.streams().await.unwrap();
    listed.retain(|s| *s == a || *s == b);
    assert_eq!(listed.len(), 2, "streams lists both");
}

/// Malformed requests are errors, not panics.
pub async fn bad_requests_are_errors(store: &dyn KeyStore) {
    let s = StreamId::new_random();
    assert!(
        matches!(
            store
                .put(s, vec![(0, SecretKey::from_vec(Vec::new()))])
                .await,
            Err(StoreError::InvalidRequest(_))
        ),
        "empty key refused"
    );
    assert!(
        matches!(
            store.take(s, &[0], None).await,
            Err(StoreError::NotFound { .. })
        ),
        "take from unknown stream is NotFound"
    );
    store.put(s, chunks(10, 0..2)).await.unwrap();
    assert!(
        store.take(s, &[0, 0], None).await.is_err(),
        "repeated index in take refused"
    );
    assert_eq!(
        store.counts(s).await.unwrap().available,
        2,
        "refused take removes nothing"
    );
    assert!(
        store.take(s, &[], None).await.unwrap().is_empty(),
        "empty take is a no-op"
    );
    store
        .put(s, Vec::new())
        .await
        .expect("empty put is a no-op");
}

/// Many tasks taking from one stream concurrently: every key is handed out exactly once.
pub async fn concurrent_takers_get_each_key_once<S: KeyStore + 'static>(store: Arc<S>) {
    const KEYS: u64 = 400;
    const TASKS: u64 = 16;
    let s = StreamId::new_random();
    store.put(s, chunks(11, 0..KEYS)).await.unwrap();
    let mut handles = Vec::new();
    for t in 0..TASKS {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            let mut won = Vec::new();
            // Every task tries every index, starting at a different offset.
            for k in 0..KEYS {
                let index = (k + t * 25) % KEYS;
                match store.take(s, &[index], None).await {
                    Ok(keys) => {
                        assert_eq!(keys[0], key(11, index), "taken bytes match");
                        won.push(index);
                    }
                    Err(StoreError::NotFound { .. }) => {}
                    Err(e) => panic!("unexpected error from concurrent take: {e}"),
                }
            }
            won
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.expect("task"));
    }
    let unique: HashSet<u64> = all.iter().copied().collect();
    assert_eq!(
        all.len() as u64,
        KEYS,
        "each key handed out exactly once in total"
    );
    assert_eq!(unique.len() as u64, KEYS, "no key handed out twice");
    assert_eq!(store.counts(s).await.unwrap().stored(), 0);
}

/// Many tasks reserving from one stream concurrently never get the same index.
pub async fn concurrent_reservers_never_share<S: KeyStore + 'static>(store: Arc<S>) {
    const KEYS: u64 = 300;
    let s = StreamId::new_random();
    store.put(s, chunks(12, 0..KEYS)).await.unwrap();
    let mut handles = Vec::new();
    for t in 0..10u64 {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            let owner = format!("owner-{t}");
            let mut mine = Vec::new();
            while let Ok(got) = store.reserve_next(s, 3, &owner).await {
                let keys = store
                    .take(s, &got, Some(&owner))
                    .await
                    .expect("owner takes its reservation");
                assert_eq!(keys.len(), got.len());
                mine.extend(got);
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.expect("task"));
    }
    let unique: HashSet<u64> = all.iter().copied().collect();
    assert_eq!(unique.len(), all.len(), "no index reserved by two owners");
    assert_eq!(
        all.len() as u64,
        KEYS,
        "every chunk reserved and taken once"
    );
}
