//! The writer thread: applies every mutation of a [`RedbStore`](super::RedbStore) in group commits.
//!
//! Callers send [`Op`]s over a channel and await a reply. The thread takes the first waiting op,
//! drains up to `max_batch - 1` more, applies them in arrival order inside ONE redb write transaction
//! (durability `Immediate`: `commit` returns after fsync), and only after the commit succeeds sends
//! the replies. So no caller is acknowledged before its change is durable, and a key returned by
//! `take` has had its removal committed. If the commit fails, every op of the batch fails with
//! [`StoreError::Backend`] and nothing of the batch is visible.
//!
//! Each op validates before it mutates, so an op rejected with a logical error (duplicate, not
//! found, capacity ...) changes nothing and does not affect the other ops of its batch. A storage
//! error while mutating aborts the whole batch ([`Fail::Fatal`]).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::mpsc::Receiver;

use qkd_core::{SecretKey, StoreError, StreamId};
use redb::{Database, ReadableTable, Table, WriteTransaction};
use tokio::sync::oneshot;

use super::tables::{
    CHUNKS, META_U64, NONCE_COUNTER, OWNERS, STREAMS, StreamRow, backend, stream_key,
};
use crate::store::crypto::RecordCipher;

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// A mutation requested by a caller.
pub enum Op {
    /// `KeyStore::put`.
    Put {
        /// Stream.
        stream: StreamId,
        /// Chunks to store.
        chunks: Vec<(u64, SecretKey)>,
        /// Reply channel.
        reply: Reply<()>,
    },
    /// `KeyStore::reserve`.
    Reserve {
        /// Stream.
        stream: StreamId,
        /// Indexes.
        indexes: Vec<u64>,
        /// Owner label.
        owner: String,
        /// Reply channel.
        reply: Reply<()>,
    },
    /// `KeyStore::reserve_next`.
    ReserveNext {
        /// Stream.
        stream: StreamId,
        /// How many.
        count: u64,
        /// Owner label.
        owner: String,
        /// Reply channel.
        reply: Reply<Vec<u64>>,
    },
    /// `KeyStore::take`.
    Take {
        /// Stream.
        stream: StreamId,
        /// Indexes.
        indexes: Vec<u64>,
        /// Owner label, if taking reserved chunks.
        owner: Option<String>,
        /// Reply channel.
        reply: Reply<Vec<SecretKey>>,
    },
    /// `KeyStore::release`.
    Release {
        /// Stream.
        stream: StreamId,
        /// Indexes.
        indexes: Vec<u64>,
        /// Owner label.
        owner: String,
        /// Reply channel.
        reply: Reply<()>,
    },
    /// `KeyStore::delete`.
    Delete {
        /// Stream.
        stream: StreamId,
        /// Indexes.
        indexes: Vec<u64>,
        /// Reply channel.
        reply: Reply<u64>,
    },
    /// `KeyStore::delete_stream`.
    DeleteStream {
        /// Stream.
        stream: StreamId,
        /// Reply channel.
        reply: Reply<u64>,
    },
    /// `KeyStore::set_capacity`.
    SetCapacity {
        /// Stream.
        stream: StreamId,
        /// New capacity.
        capacity: u64,
        /// Reply channel.
        reply: Reply<()>,
    },
}

/// Why an op failed: a rejected request (nothing changed) or a storage failure (batch aborted).
pub enum Fail {
    /// The request was rejected before any change.
    Logical(StoreError),
    /// The storage failed; the transaction must be aborted.
    Fatal(StoreError),
}

impl From<redb::StorageError> for Fail {
    fn from(e: redb::StorageError) -> Self {
        Fail::Fatal(backend(e))
    }
}

/// An op's result waiting for the commit.
enum Done {
    Unit(Reply<()>, Result<(), StoreError>),
    Count(Reply<u64>, Result<u64, StoreError>),
    Indexes(Reply<Vec<u64>>, Result<Vec<u64>, StoreError>),
    Keys(Reply<Vec<SecretKey>>, Result<Vec<SecretKey>, StoreError>),
}

impl Done {
    fn send(self) {
        // A caller that gave up (dropped its future) no longer wants the reply; the change is
        // committed regardless, and dropped keys zeroize themselves.
        let _ = match self {
            Done::Unit(tx, r) => tx.send(r).map_err(drop),
            Done::Count(tx, r) => tx.send(r).map_err(drop),
            Done::Indexes(tx, r) => tx.send(r).map_err(drop),
            Done::Keys(tx, r) => tx.send(r).map_err(drop),
        };
    }

    fn fail(self, err: &StoreError) {
        match self {
            Done::Unit(tx, _) => Done::Unit(tx, Err(err.clone())),
            Done::Count(tx, _) => Done::Count(tx, Err(err.clone())),
            Done::Indexes(tx, _) => Done::Indexes(tx, Err(err.clone())),
            Done::Keys(tx, _) => Done::Keys(tx, Err(err.clone())),
        }
        .send();
    }
}

/// State owned by the writer thread.
pub struct Writer {
    /// The database.
    pub db: Arc<Database>,
    /// The record cipher.
    pub cipher: RecordCipher,
    /// Next nonce counter (persisted at each commit that used one).
    pub nonce_counter: u64,
    /// Capacity of streams without an explicit one.
    pub default_capacity: u64,
    /// Maximum ops per transaction.
    pub max_batch: usize,
}

struct Tables<'t> {
    chunks: Table<'t, (u128, u64), &'static [u8]>,
    owners: Table<'t, (u128, u64), &'static str>,
    streams: Table<'t, u128, (u64, u64, Option<u64>)>,
}

impl Writer {
    /// Runs until every sender is dropped.
    pub fn run(mut self, rx: Receiver<Op>) {
        while let Ok(first) = rx.recv() {
            let mut batch = Vec::with_capacity(64);
            batch.push(first);
            while batch.len() < self.max_batch {
                match rx.try_recv() {
                    Ok(op) => batch.push(op),
                    Err(_) => break,
                }
            }
            self.process(batch);
        }
    }

    fn process(&mut self, batch: Vec<Op>) {
        let mut done = Vec::with_capacity(batch.len());
        match self.apply_batch(batch, &mut done) {
            Ok(()) => done.into_iter().for_each(Done::send),
            // Nothing of the batch was committed. The nonce counter stays advanced: skipping
            // values is harmless, reusing one is not.
            Err(err) => done.into_iter().for_each(|d| d.fail(&err)),
        }
    }

    fn apply_batch(&mut self, batch: Vec<Op>, done: &mut Vec<Done>) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(backend)?;
        let counter_before = self.nonce_counter;
        let mut fatal = None;
        {
            let mut tables = open_tables(&txn)?;
            for op in batch {
                if fatal.is_some() {
                    // The transaction is being aborted; fail the rest without applying them.
                    done.push(unapplied(op));
                    continue;
                }
                let d = self.apply(&mut tables, op);
                if let Some(err) = d.1 {
                    fatal = Some(err);
                }
                done.push(d.0);
            }
        }
        if let Some(err) = fatal {
            txn.abort().map_err(backend)?;
            return Err(err);
        }
        if self.nonce_counter != counter_before {
            let mut meta = txn.open_table(META_U64).map_err(backend)?;
            meta.insert(NONCE_COUNTER, self.nonce_counter)
                .map_err(backend)?;
        }
        txn.commit().map_err(backend)
    }

    /// Applies one op; returns its pending reply and, on a storage failure, the fatal error.
    fn apply(&mut self, t: &mut Tables<'_>, op: Op) -> (Done, Option<StoreError>) {
        fn split<T>(r: Result<T, Fail>) -> (Result<T, StoreError>, Option<StoreError>) {
            match r {
                Ok(v) => (Ok(v), None),
                Err(Fail::Logical(e)) => (Err(e), None),
                Err(Fail::Fatal(e)) => (Err(e.clone()), Some(e)),
            }
        }
        match op {
            Op::Put {
                stream,
                chunks,
                reply,
            } => {
                let (r, f) = split(self.put(t, stream, chunks));
                (Done::Unit(reply, r), f)
            }
            Op::Reserve {
                stream,
                indexes,
                owner,
                reply,
            } => {
                let (r, f) = split(reserve(t, stream, &indexes, &owner));
                (Done::Unit(reply, r), f)
            }
            Op::ReserveNext {
                stream,
                count,
                owner,
                reply,
            } => {
                let (r, f) = split(reserve_next(t, stream, count, &owner));
                (Done::Indexes(reply, r), f)
            }
            Op::Take {
                stream,
                indexes,
                owner,
                reply,
            } => {
                let (r, f) = split(self.take(t, stream, &indexes, owner.as_deref()));
                (Done::Keys(reply, r), f)
            }
            Op::Release {
                stream,
                indexes,
                owner,
                reply,
            } => {
                let (r, f) = split(release(t, stream, &indexes, &owner));
                (Done::Unit(reply, r), f)
            }
            Op::Delete {
                stream,
                indexes,
                reply,
            } => {
                let (r, f) = split(delete(t, stream, &indexes));
                (Done::Count(reply, r), f)
            }
            Op::DeleteStream { stream, reply } => {
                let (r, f) = split(delete_stream(t, stream));
                (Done::Count(reply, r), f)
            }
            Op::SetCapacity {
                stream,
                capacity,
                reply,
            } => {
                let (r, f) = split(set_capacity(t, stream, capacity));
                (Done::Unit(reply, r), f)
            }
        }
    }

    fn put(
        &mut self,
        t: &mut Tables<'_>,
        stream: StreamId,
        chunks: Vec<(u64, SecretKey)>,
    ) -> Result<(), Fail> {
        if chunks.iter().any(|(_, key)| key.is_empty()) {
            return Err(Fail::Logical(StoreError::InvalidRequest("empty key")));
        }
        let sk = stream_key(stream);
        let mut row = load_row(t, sk)?;
        let mut seen = HashSet::with_capacity(chunks.len());
        for (index, _) in &chunks {
            if !seen.insert(*index) || t.chunks.get((sk, *index))?.is_some() {
                return Err(Fail::Logical(StoreError::Duplicate {
                    stream,
                    index: *index,
                }));
            }
        }
        let capacity = row.capacity.unwrap_or(self.default_capacity);
        if row.stored.saturating_add(chunks.len() as u64) > capacity {
            return Err(Fail::Logical(StoreError::CapacityExceeded {
                stream,
                capacity,
            }));
        }
        for (index, key) in &chunks {
            let counter = self.nonce_counter;
            self.nonce_counter = counter.checked_add(1).ok_or_else(|| {
                Fail::Fatal(StoreError::Backend("nonce counter exhausted".into()))
            })?;
            let record = self
                .cipher
                .seal(stream, *index, counter, key)
                .map_err(Fail::Fatal)?;
            t.chunks.insert((sk, *index), record.as_slice())?;
        }
        row.stored += chunks.len() as u64;
        save_row(t, sk, row)?;
        Ok(())
    }

    fn take(
        &mut self,
        t: &mut Tables<'_>,
        stream: StreamId,
        indexes: &[u64],
        owner: Option<&str>,
    ) -> Result<Vec<SecretKey>, Fail> {
        if indexes.is_empty() {
            return Ok(Vec::new());
        }
        let sk = stream_key(stream);
        check_owned(t, stream, indexes, owner)?;
        // Decrypt everything before removing anything: a corrupt record fails the whole take.
        let mut keys = Vec::with_capacity(indexes.len());
        for &index in indexes {
            let record = t
                .chunks
                .get((sk, index))?
                .ok_or(Fail::Logical(StoreError::NotFound { stream, index }))?;
            keys.push(
                self.cipher
                    .open(stream, index, record.value())
                    .map_err(Fail::Logical)?,
            );
        }
        for &index in indexes {
            t.chunks.remove((sk, index))?;
            if owner.is_some() {
                t.owners.remove((sk, index))?;
            }
        }
        let mut row = load_row(t, sk)?;
        row.stored -= indexes.len() as u64;
        if owner.is_some() {
            row.reserved -= indexes.len() as u64;
        }
        save_row(t, sk, row)?;
        Ok(keys)
    }
}

fn open_tables(txn: &WriteTransaction) -> Result<Tables<'_>, StoreError> {
    Ok(Tables {
        chunks: txn.open_table(CHUNKS).map_err(backend)?,
        owners: txn.open_table(OWNERS).map_err(backend)?,
        streams: txn.open_table(STREAMS).map_err(backend)?,
    })
}

fn unapplied(op: Op) -> Done {
    let err = Err(StoreError::Backend("transaction aborted".into()));
    match op {
        Op::Put { reply, .. }
        | Op::Reserve { reply, .. }
        | Op::Release { reply, .. }
        | Op::SetCapacity { reply, .. } => Done::Unit(reply, err),
        Op::ReserveNext { reply, .. } => Done::Indexes(
            reply,
            Err(StoreError::Backend("transaction aborted".into())),
        ),
        Op::Take { reply, .. } => Done::Keys(
            reply,
            Err(StoreError::Backend("transaction aborted".into())),
        ),
        Op::Delete { reply, .. } | Op::DeleteStream { reply, .. } => Done::Count(
            reply,
            Err(StoreError::Backend("transaction aborted".into())),
        ),
    }
}

fn load_row(t: &Tables<'_>, sk: u128) -> Result<StreamRow, Fail> {
    Ok(t.streams
        .get(sk)?
        .map(|g| StreamRow::from_tuple(g.value()))
        .unwrap_or_default())
}

fn save_row(t: &mut Tables<'_>, sk: u128, row: StreamRow) -> Result<(), Fail> {
    if row.is_empty() {
        t.streams.remove(sk)?;
    } else {
        t.streams.insert(sk, row.to_tuple())?;
    }
    Ok(())
}

/// Checks that each index is present, not repeated, and held as `owner` requires
/// (`None`: unreserved; `Some(o)`: reserved by `o`).
fn check_owned(
    t: &Tables<'_>,
    stream: StreamId,
    indexes: &[u64],
    owner: Option<&str>,
) -> Result<(), Fail> {
    let sk = stream_key(stream);
    let mut seen = HashSet::with_capacity(indexes.len());
    for &index in indexes {
        if !seen.insert(index) {
            return Err(Fail::Logical(StoreError::InvalidRequest(
                "index repeated in request",
            )));
        }
        if t.chunks.get((sk, index))?.is_none() {
            return Err(Fail::Logical(StoreError::NotFound { stream, index }));
        }
        let held = t.owners.get((sk, index))?;
        match (held.as_ref().map(|g| g.value()), owner) {
            (None, None) => {}
            (Some(h), Some(w)) if h == w => {}
            (None, Some(_)) => {
                return Err(Fail::Logical(StoreError::NotReserved { stream, index }));
            }
            (Some(_), _) => {
                return Err(Fail::Logical(StoreError::ReservedByOther { stream, index }));
            }
        }
    }
    Ok(())
}

fn reserve(t: &mut Tables<'_>, stream: StreamId, indexes: &[u64], owner: &str) -> Result<(), Fail> {
    if indexes.is_empty() {
        return Ok(());
    }
    check_owned(t, stream, indexes, None)?;
    let sk = stream_key(stream);
    for &index in indexes {
        t.owners.insert((sk, index), owner)?;
    }
    let mut row = load_row(t, sk)?;
    row.reserved += indexes.len() as u64;
    save_row(t, sk, row)
}

fn reserve_next(
    t: &mut Tables<'_>,
    stream: StreamId,
    count: u64,
    owner: &str,
) -> Result<Vec<u64>, Fail> {
    let sk = stream_key(stream);
    let mut row = load_row(t, sk)?;
    let available = row.stored - row.reserved;
    if available < count {
        return Err(Fail::Logical(StoreError::Insufficient {
            stream,
            available,
            requested: count,
        }));
    }
    let mut picked = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    if count == 0 {
        return Ok(picked);
    }
    for entry in t.chunks.range((sk, 0)..=(sk, u64::MAX))? {
        if picked.len() as u64 == count {
            break;
        }
        let (key, _) = entry?;
        let index = key.value().1;
        if t.owners.get((sk, index))?.is_none() {
            picked.push(index);
        }
    }
    if (picked.len() as u64) < count {
        return Err(Fail::Fatal(StoreError::Corrupt(
            "stream counts disagree with stored chunks".into(),
        )));
    }
    for &index in &picked {
        t.owners.insert((sk, index), owner)?;
    }
    row.reserved += count;
    save_row(t, sk, row)?;
    Ok(picked)
}

fn release(t: &mut Tables<'_>, stream: StreamId, indexes: &[u64], owner: &str) -> Result<(), Fail> {
    if indexes.is_empty() {
        return Ok(());
    }
    check_owned(t, stream, indexes, Some(owner))?;
    let sk = stream_key(stream);
    for &index in indexes {
        t.owners.remove((sk, index))?;
    }
    let mut row = load_row(t, sk)?;
    row.reserved -= indexes.len() as u64;
    save_row(t, sk, row)
}

fn delete(t: &mut Tables<'_>, stream: StreamId, indexes: &[u64]) -> Result<u64, Fail> {
    let sk = stream_key(stream);
    let mut row = load_row(t, sk)?;
    let mut deleted = 0;
    for &index in indexes {
        if t.chunks.remove((sk, index))?.is_some() {
            deleted += 1;
            row.stored -= 1;
            if t.owners.remove((sk, index))?.is_some() {
                row.reserved -= 1;
            }
        }
    }
    if deleted > 0 {
        save_row(t, sk, row)?;
    }
    Ok(deleted)
}

fn delete_stream(t: &mut Tables<'_>, stream: StreamId) -> Result<u64, Fail> {
    let sk = stream_key(stream);
    let mut deleted = 0u64;
    t.chunks.retain_in((sk, 0)..=(sk, u64::MAX), |_, _| {
        deleted += 1;
        false
    })?;
    t.owners.retain_in((sk, 0)..=(sk, u64::MAX), |_, _| false)?;
    t.streams.remove(sk)?;
    Ok(deleted)
}

fn set_capacity(t: &mut Tables<'_>, stream: StreamId, capacity: u64) -> Result<(), Fail> {
    let sk = stream_key(stream);
    let mut row = load_row(t, sk)?;
    row.capacity = Some(capacity);
    save_row(t, sk, row)
}
