//! [`RedbStore`]: the embedded, durable, encrypted default [`KeyStore`].
//!
//! # Durability contract
//! Every mutation (`put`, `reserve`, `reserve_next`, `take`, `release`, `delete`, `delete_stream`,
//! `set_capacity`) returns only after the redb transaction holding it has committed with
//! `Durability::Immediate` (the file is fsynced). Concurrent callers are coalesced by a single writer
//! thread into one transaction (group commit, see [`writer`]), which amortises the fsync without
//! acknowledging anyone early. Consequently:
//! * an acknowledged `put` survives a crash (process kill or power loss, as far as the disk honours
//!   fsync);
//! * a `take` commits the removal before returning the key, so after a crash and restart the key is
//!   gone: a key is never returned twice;
//! * an unacknowledged operation (the process died before the reply) either fully happened or not at
//!   all (redb transactions are atomic).
//!
//! # Encryption
//! Key bytes are sealed with AES-256-GCM under a [`MasterKey`], bound to their (stream, index) by the
//! associated data (see [`crypto`](crate::store::crypto)). Stream IDs, indexes, owners and counts are
//! stored in clear: they are not secret. A database remembers a check record of its master key;
//! opening it with another key fails with [`OpenError::WrongMasterKey`]. A record that fails
//! authentication on `take` fails with [`StoreError::Corrupt`]; garbage is never returned.
//!
//! Plaintext exists only in memory, in zeroizing buffers. redb is copy-on-write: freed pages may keep
//! old *ciphertext* until reused, so keys taken or deleted remain recoverable by someone who later
//! obtains both the database file and the master key (no forward secrecy at rest).
//!
//! # Reads
//! `counts` and `streams` read the last committed state on a blocking thread.
//!
//! [`KeyStore`]: qkd_core::KeyStore

mod tables;
pub mod writer;

use std::path::Path;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use async_trait::async_trait;
use qkd_core::{KeyStore, SecretKey, StoreError, StreamCounts, StreamId};
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata};
use thiserror::Error;
use tokio::sync::oneshot;

use self::tables::{
    FORMAT, FORMAT_VERSION, KEY_CHECK, META, META_U64, NONCE_COUNTER, STREAMS, StreamRow, backend,
    stream_key, stream_of,
};
use self::writer::{Op, Writer};
use crate::store::crypto::RecordCipher;
use crate::store::master_key::MasterKey;

/// Default per-stream capacity of a [`RedbStore`] (chunks), unless set per stream.
pub const DEFAULT_CAPACITY: u64 = 1 << 20;

/// Default maximum number of operations coalesced into one transaction.
pub const DEFAULT_MAX_BATCH: usize = 4096;

/// Options of [`RedbStore::open_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedbOptions {
    /// Capacity (chunks) of streams with no explicit [`KeyStore::set_capacity`]. Not persisted:
    /// give the same value on every open.
    pub default_capacity: u64,
    /// Maximum operations per group commit (at least 1).
    pub max_batch: usize,
}

impl Default for RedbOptions {
    fn default() -> Self {
        Self {
            default_capacity: DEFAULT_CAPACITY,
            max_batch: DEFAULT_MAX_BATCH,
        }
    }
}

/// Why a [`RedbStore`] could not be opened. Never contains key material.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OpenError {
    /// The database was created under another master key.
    #[error("wrong master key: the database at {0} was created under a different master key")]
    WrongMasterKey(String),
    /// The file is not a qkd-kms database of a supported format.
    #[error("unsupported database format {found} (this build reads format {FORMAT_VERSION})")]
    Format {
        /// The format found.
        found: u64,
    },
    /// redb or the file system failed.
    #[error("cannot open key store: {0}")]
    Database(String),
}

fn open_err(e: impl std::fmt::Display) -> OpenError {
    OpenError::Database(e.to_string())
}

/// The durable, encrypted [`KeyStore`] on redb (see the module docs for the contract).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use qkd_core::{KeyStore, SecretKey, StreamId};
/// use qkd_kms::store::{MasterKey, RedbStore};
///
/// let dir = tempfile::tempdir().unwrap();
/// // In production: MasterKey::from_file("/etc/qkd/master.key") or MasterKey::from_env("QKD_MASTER_KEY").
/// let key = MasterKey::parse_text(b"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f").unwrap();
/// let store = RedbStore::open(dir.path().join("keys.redb"), &key).unwrap();
/// let stream = StreamId::new_random();
/// store.put(stream, vec![(0, SecretKey::from_vec(vec![7; 32]))]).await.unwrap();
/// let taken = store.take(stream, &[0], None).await.unwrap();
/// assert_eq!(taken[0].expose_secret(), &[7; 32]);
/// # }
/// ```
///
/// Dropping the store (or [`close`](RedbStore::close)) joins the writer thread, which finishes the
/// operations already queued; this blocks briefly.
pub struct RedbStore {
    db: Arc<Database>,
    tx: Mutex<Option<Sender<Op>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    default_capacity: u64,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore")
            .field("default_capacity", &self.default_capacity)
            .finish_non_exhaustive()
    }
}

impl RedbStore {
    /// Opens (or creates) the store at `path` with default options.
    pub fn open(path: impl AsRef<Path>, key: &MasterKey) -> Result<Self, OpenError> {
        Self::open_with(path, key, RedbOptions::default())
    }

    /// Opens (or creates) the store at `path`. Fails with [`OpenError::WrongMasterKey`] if the
    /// database was created under another key.
    pub fn open_with(
        path: impl AsRef<Path>,
        key: &MasterKey,
        options: RedbOptions,
    ) -> Result<Self, OpenError> {
        let path = path.as_ref();
        let db = Database::create(path).map_err(open_err)?;
        let cipher = RecordCipher::new(key);
        let nonce_counter = initialise(&db, &cipher, path)?;
        let db = Arc::new(db);
        let (tx, rx) = mpsc::channel();
        let writer = Writer {
            db: Arc::clone(&db),
            cipher,
            nonce_counter,
            default_capacity: options.default_capacity,
            max_batch: options.max_batch.max(1),
        };
        let handle = std::thread::Builder::new()
            .name("qkd-kms-redb-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(open_err)?;
        Ok(Self {
            db,
            tx: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(handle)),
            default_capacity: options.default_capacity,
        })
    }

    /// Stops the writer thread after the operations already queued, and releases the database
    /// file so it can be reopened. Later calls fail with [`StoreError::Backend`]. Dropping the store
    /// does the same.
    pub fn close(&self) {
        drop(self.tx.lock().unwrap_or_else(|e| e.into_inner()).take());
        let handle = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(handle) = handle {
            // A writer that panicked has nothing left to clean up.
            let _ = handle.join();
        }
    }

    async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Op,
    ) -> Result<T, StoreError> {
        let (reply, rx) = oneshot::channel();
        {
            let guard = self.tx.lock().unwrap_or_else(|e| e.into_inner());
            let tx = guard.as_ref().ok_or_else(stopped)?;
            tx.send(make(reply)).map_err(|_| stopped())?;
        }
        rx.await.map_err(|_| stopped())?
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(|e| StoreError::Backend(format!("read task failed: {e}")))?
    }
}

fn stopped() -> StoreError {
    StoreError::Backend("key store is closed (writer thread stopped)".into())
}

impl Drop for RedbStore {
    fn drop(&mut self) {
        self.close();
    }
}

/// Creates the tables and the master-key check on a new database, or verifies them on an existing
/// one. Returns the persisted nonce counter.
fn initialise(db: &Database, cipher: &RecordCipher, path: &Path) -> Result<u64, OpenError> {
    let txn = db.begin_write().map_err(open_err)?;
    let counter = {
        let mut meta = txn.open_table(META).map_err(open_err)?;
        let mut meta_u64 = txn.open_table(META_U64).map_err(open_err)?;
        let check = meta
            .get(KEY_CHECK)
            .map_err(open_err)?
            .map(|g| g.value().to_vec());
        match check {
            Some(record) => {
                let format = meta_u64.get(FORMAT).map_err(open_err)?.map(|g| g.value());
                if format != Some(FORMAT_VERSION) {
                    return Err(OpenError::Format {
                        found: format.unwrap_or(0),
                    });
                }
                if !cipher.verify_key_check(&record) {
                    return Err(OpenError::WrongMasterKey(path.display().to_string()));
                }
            }
            None => {
                let record = cipher.key_check().map_err(open_err)?;
                meta.insert(KEY_CHECK, record.as_slice())
                    .map_err(open_err)?;
                meta_u64.insert(FORMAT, FORMAT_VERSION).map_err(open_err)?;
                // Counter 0 is used by the key check record itself.
                meta_u64.insert(NONCE_COUNTER, 1).map_err(open_err)?;
            }
        }
        let counter = meta_u64
            .get(NONCE_COUNTER)
            .map_err(open_err)?
            .map_or(1, |g| g.value());
        // Make sure the other tables exist so that readers can open them.
        txn.open_table(tables::CHUNKS).map_err(open_err)?;
        txn.open_table(tables::OWNERS).map_err(open_err)?;
        txn.open_table(STREAMS).map_err(open_err)?;
        counter
    };
    txn.commit().map_err(open_err)?;
    Ok(counter)
}

#[async_trait]
impl KeyStore for RedbStore {
    async fn put(&self, stream: StreamId, chunks: Vec<(u64, SecretKey)>) -> Result<(), StoreError> {
        if chunks.is_empty() {
            return Ok(());
        }
        self.call(|reply| Op::Put {
            stream,
            chunks,
            reply,
        })
        .await
    }

    async fn reserve(
        &self,
        stream: StreamId,
        indexes: &[u64],
        owner: &str,
    ) -> Result<(), StoreError> {
        if indexes.is_empty() {
            return Ok(());
        }
        self.call(|reply| Op::Reserve {
            stream,
            indexes: indexes.to_vec(),
            owner: owner.to_owned(),
            reply,
        })
        .await
    }

    async fn reserve_next(
        &self,
        stream: StreamId,
        count: u64,
        owner: &str,
    ) -> Result<Vec<u64>, StoreError> {
        self.call(|reply| Op::ReserveNext {
            stream,
            count,
            owner: owner.to_owned(),
            reply,
        })
        .await
    }

    async fn take(
        &self,
        stream: StreamId,
        indexes: &[u64],
        owner: Option<&str>,
    ) -> Result<Vec<SecretKey>, StoreError> {
        if indexes.is_empty() {
            return Ok(Vec::new());
        }
        self.call(|reply| Op::Take {
            stream,
            indexes: indexes.to_vec(),
            owner: owner.map(str::to_owned),
            reply,
        })
        .await
    }

    async fn release(
        &self,
        stream: StreamId,
        indexes: &[u64],
        owner: &str,
    ) -> Result<(), StoreError> {
        if indexes.is_empty() {
            return Ok(());
        }
        self.call(|reply| Op::Release {
            stream,
            indexes: indexes.to_vec(),
            owner: owner.to_owned(),
            reply,
        })
        .await
    }

    async fn delete(&self, stream: StreamId, indexes: &[u64]) -> Result<u64, StoreError> {
        if indexes.is_empty() {
            return Ok(0);
        }
        self.call(|reply| Op::Delete {
            stream,
            indexes: indexes.to_vec(),
            reply,
        })
        .await
    }

    async fn delete_stream(&self, stream: StreamId) -> Result<u64, StoreError> {
        self.call(|reply| Op::DeleteStream { stream, reply }).await
    }

    async fn counts(&self, stream: StreamId) -> Result<StreamCounts, StoreError> {
        let default_capacity = self.default_capacity;
        self.read(move |db| {
            let txn = db.begin_read().map_err(backend)?;
            let table = txn.open_table(STREAMS).map_err(backend)?;
            let row = table
                .get(stream_key(stream))
                .map_err(backend)?
                .map(|g| StreamRow::from_tuple(g.value()))
                .unwrap_or_default();
            Ok(StreamCounts {
                available: row.stored - row.reserved,
                reserved: row.reserved,
                capacity: row.capacity.unwrap_or(default_capacity),
            })
        })
        .await
    }

    async fn set_capacity(&self, stream: StreamId, capacity: u64) -> Result<(), StoreError> {
        self.call(|reply| Op::SetCapacity {
            stream,
            capacity,
            reply,
        })
        .await
    }

    async fn streams(&self) -> Result<Vec<StreamId>, StoreError> {
        self.read(|db| {
            let txn = db.begin_read().map_err(backend)?;
            let table = txn.open_table(STREAMS).map_err(backend)?;
            let mut ids =
                Vec::with_capacity(usize::try_from(table.len().map_err(backend)?).unwrap_or(0));
            for entry in table.iter().map_err(backend)? {
                let (key, _) = entry.map_err(backend)?;
                ids.push(stream_of(key.value())?);
            }
            ids.sort();
            Ok(ids)
        })
        .await
    }
}
