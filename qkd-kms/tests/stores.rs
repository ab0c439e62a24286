//! Both key stores pass the `KeyStore` conformance suite; RedbStore-specific durability and
//! encryption properties.

use std::sync::Arc;

use qkd_core::conformance::store::run_key_store_suite;
use qkd_core::{KeyStore, SecretKey, StoreError, StreamId};
use qkd_kms::store::{MasterKey, MemoryStore, OpenError, RedbOptions, RedbStore};

fn master(seed: u8) -> MasterKey {
    MasterKey::from_bytes(std::array::from_fn(|i| {
        seed.wrapping_mul(31)
            .wrapping_add((i as u8).wrapping_mul(11))
    }))
    .unwrap()
}

fn chunk(i: u64) -> SecretKey {
    let mut bytes = vec![0x3c; 32];
    bytes[..8].copy_from_slice(&i.to_le_bytes());
    SecretKey::from_vec(bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_passes_key_store_suite() {
    run_key_store_suite(|capacity| async move { MemoryStore::with_default_capacity(capacity) })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redb_store_passes_key_store_suite() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0;
    let path = dir.path().to_owned();
    run_key_store_suite(move |capacity| {
        n += 1;
        let file = path.join(format!("suite-{n}.redb"));
        async move {
            let options = RedbOptions {
                default_capacity: capacity,
                ..RedbOptions::default()
            };
            RedbStore::open_with(file, &master(1), options).unwrap()
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redb_state_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.redb");
    let s = StreamId::new_random();
    let t = StreamId::new_random();
    {
        let store = RedbStore::open(&path, &master(2)).unwrap();
        store
            .put(s, (0..10).map(|i| (i, chunk(i))).collect())
            .await
            .unwrap();
        store.set_capacity(t, 7).await.unwrap();
        store.reserve(s, &[3, 4], "req-1").await.unwrap();
        let taken = store.take(s, &[0, 1], None).await.unwrap();
        assert_eq!(taken, vec![chunk(0), chunk(1)]);
        store.close();
        // A closed store refuses work with a clear error instead of panicking.
        assert!(matches!(
            store.put(s, vec![(99, chunk(99))]).await,
            Err(StoreError::Backend(_))
        ));
    }
    let store = RedbStore::open(&path, &master(2)).unwrap();
    let counts = store.counts(s).await.unwrap();
    assert_eq!((counts.available, counts.reserved), (6, 2));
    assert_eq!(store.counts(t).await.unwrap().capacity, 7);
    assert_eq!(store.streams().await.unwrap().len(), 2);
    // Taken keys stay taken; reservations persist with their owner.
    assert!(matches!(
        store.take(s, &[0], None).await,
        Err(StoreError::NotFound { index: 0, .. })
    ));
    assert!(matches!(
        store.take(s, &[3], None).await,
        Err(StoreError::ReservedByOther { index: 3, .. })
    ));
    assert_eq!(
        store.take(s, &[3, 4], Some("req-1")).await.unwrap(),
        vec![chunk(3), chunk(4)]
    );
    assert_eq!(store.take(s, &[9], None).await.unwrap(), vec![chunk(9)]);
}

#[tokio::test]
async fn redb_wrong_master_key_is_refused_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.redb");
    {
        let store = RedbStore::open(&path, &master(3)).unwrap();
        store
            .put(StreamId::new_random(), vec![(0, chunk(0))])
            .await
            .unwrap();
    }
    let err = RedbStore::open(&path, &master(4)).unwrap_err();
    assert!(matches!(err, OpenError::WrongMasterKey(_)), "{err}");
    assert!(err.to_string().contains("wrong master key"));
    // The right key still works after the refused attempt.
    assert!(RedbStore::open(&path, &master(3)).is_ok());
}

#[tokio::test]
async fn redb_file_holds_no_plaintext_and_rejects_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.redb");
    let s = StreamId::new_random();
    // A distinctive 64-byte key: if it were stored in clear, the file would contain it.
    let secret: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(37) ^ 0xa5).collect();
    {
        let store = RedbStore::open(&path, &master(5)).unwrap();
        store
            .put(s, vec![(0, SecretKey::from_slice(&secret))])
            .await
            .unwrap();
    }
    let file = std::fs::read(&path).unwrap();
    let found = file.windows(16).position(|w| w == &secret[..16]);
    assert!(
        found.is_none(),
        "plaintext key bytes found in the database file"
    );

    // Tamper with the file through redb itself (the table layout is documented in
    // `store::redb::tables`): swap the records of indexes 1 and 2, and flip one bit of index 3.
    {
        let store = RedbStore::open(&path, &master(5)).unwrap();
        store
            .put(s, (1..5).map(|i| (i, chunk(i))).collect())
            .await
            .unwrap();
    }
    {
        use redb::ReadableTable;
        const CHUNKS: redb::TableDefinition<(u128, u64), &[u8]> =
            redb::TableDefinition::new("chunks");
        let sk = s.as_uuid().as_u128();
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut table = txn.open_table(CHUNKS).unwrap();
            let r1 = table.get((sk, 1)).unwrap().unwrap().value().to_vec();
            let r2 = table.get((sk, 2)).unwrap().unwrap().value().to_vec();
            let mut r3 = table.get((sk, 3)).unwrap().unwrap().value().to_vec();
            let last = r3.len() - 1;
            r3[last] ^= 1;
            table.insert((sk, 1), r2.as_slice()).unwrap();
            table.insert((sk, 2), r1.as_slice()).unwrap();
            table.insert((sk, 3), r3.as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }
    let store = RedbStore::open(&path, &master(5)).unwrap();
    for index in [1, 2, 3] {
        assert!(
            matches!(
                store.take(s, &[index], None).await,
                Err(StoreError::Corrupt(_))
            ),
            "tampered record {index} must fail authentication"
        );
    }
    // A failed take removes nothing; untouched records still decrypt.
    assert_eq!(store.counts(s).await.unwrap().available, 5);
    assert_eq!(
        store.take(s, &[0, 4], None).await.unwrap(),
        vec![SecretKey::from_slice(&secret), chunk(4)]
    );
    // A take naming a good and a tampered index is atomic: it fails and takes nothing.
    assert!(store.take(s, &[1], None).await.is_err());
    assert_eq!(store.counts(s).await.unwrap().available, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redb_group_commit_serves_many_concurrent_callers() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RedbStore::open(dir.path().join("k.redb"), &master(6)).unwrap());
    let s = StreamId::new_random();
    let mut tasks = Vec::new();
    for task in 0..32u64 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            for j in 0..20u64 {
                let i = task * 100 + j;
                store.put(s, vec![(i, chunk(i))]).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(store.counts(s).await.unwrap().available, 640);
    let mut tasks = Vec::new();
    for task in 0..32u64 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let idx: Vec<u64> = (0..20).map(|j| task * 100 + j).collect();
            let keys = store.take(s, &idx, None).await.unwrap();
            for (i, k) in idx.iter().zip(keys) {
                assert_eq!(k, chunk(*i));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(store.counts(s).await.unwrap().available, 0);
    assert!(store.streams().await.unwrap().is_empty());
}
