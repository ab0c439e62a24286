//! Crash test for RedbStore: a child process puts and takes keys in a loop and is killed with
//! SIGKILL at random moments (fixed seed), many times. After each kill the parent checks the
//! database:
//!
//! * it opens (redb recovers), its counts match its records, and every record decrypts and holds
//!   the key that was put at its index (no torn or garbled record);
//! * every put the child saw acknowledged (`P i` in the log) and did not start to take is present;
//! * every key a take returned (`T i`) is absent, and no index is ever returned by two takes;
//! * nothing is present that the child never started to put (`p i`).
//!
//! The child logs an intent line (`p i` / `t i`) before each call and a completion line (`P i` /
//! `T i`) after it returns, each followed by fsync, so a crash between the store's commit and the
//! log write is recognised as "may or may not have happened", never as a violation.
//!
//! This file is a `harness = false` test: run without the child environment variable it is the
//! parent; the parent re-runs this same executable as the child.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use qkd_core::{KeyStore, SecretKey, StoreError, StreamId};
use qkd_kms::store::crypto::RecordCipher;
use qkd_kms::store::{MasterKey, RedbStore};
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use redb::{ReadableDatabase, ReadableTable};

const CHILD_ENV: &str = "QKD_KMS_CRASH_CHILD_DIR";
const SEED_ENV: &str = "QKD_KMS_CRASH_CHILD_SEED";
const KILLS: u64 = 40;
const SEED: u64 = 0x5eed_c0de;

fn master() -> MasterKey {
    MasterKey::from_bytes(std::array::from_fn(|i| (i as u8).wrapping_mul(53) ^ 0x3d)).unwrap()
}

fn stream() -> StreamId {
    StreamId::from_random_bytes([0x42; 16])
}

/// The key stored at `index` (distinct per index, checkable after a crash).
fn key_of(index: u64) -> SecretKey {
    let mut rng = ChaCha8Rng::seed_from_u64(index ^ 0xabcdef);
    let mut bytes = vec![0u8; 32];
    rng.fill_bytes(&mut bytes);
    SecretKey::from_vec(bytes)
}

/// What the log says about one index.
#[derive(Debug, Default, Clone, Copy)]
struct Fate {
    put_intent: bool,
    put_acked: bool,
    take_intent: bool,
    takes_returned: u32,
}

fn read_log(path: &Path) -> BTreeMap<u64, Fate> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut fates: BTreeMap<u64, Fate> = BTreeMap::new();
    // Only complete lines count: a kill may cut the last one.
    let complete = match text.rfind('\n') {
        Some(end) => &text[..=end],
        None => "",
    };
    for line in complete.lines() {
        let (tag, index) = line.split_once(' ').expect("log line");
        let index: u64 = index.parse().expect("log index");
        let fate = fates.entry(index).or_default();
        match tag {
            "p" => fate.put_intent = true,
            "P" => fate.put_acked = true,
            "t" => fate.take_intent = true,
            "T" => fate.takes_returned += 1,
            "X" => panic!("child saw a wrong key returned for index {index}"),
            other => panic!("unknown log tag {other}"),
        }
    }
    fates
}

fn log_line(log: &mut File, tag: &str, index: u64) {
    // One write call per line (the file is in append mode), then fsync.
    log.write_all(format!("{tag} {index}\n").as_bytes())
        .expect("log write");
    log.sync_data().expect("log fsync");
}

/// Cuts a line a kill left incomplete, so the next child's lines start on a fresh line. An
/// incomplete line never counts: an intent cut short means the call never started; a completion
/// cut short is treated as "may or may not have happened", which its intent line already allows.
fn drop_partial_line(path: &Path) {
    let Ok(bytes) = std::fs::read(path) else {
        return;
    };
    let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    if keep < bytes.len() {
        let file = OpenOptions::new().write(true).open(path).expect("log");
        file.set_len(keep as u64).expect("truncate log");
        file.sync_all().expect("log fsync");
    }
}

/// The child: put and take forever (until killed).
fn child(dir: &Path, seed: u64) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    drop_partial_line(&dir.join("log"));
    let fates = read_log(&dir.join("log"));
    let mut known: Vec<u64> = fates.keys().copied().collect();
    let mut next = fates.keys().next_back().map_or(0, |m| m + 1);
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("log"))
        .expect("log");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let store = RedbStore::open(dir.join("store.redb"), &master()).expect("child open");
    runtime.block_on(async {
        loop {
            if known.is_empty() || rng.random_range(0..100) < 55 {
                let n = rng.random_range(1..=4u64);
                let indexes: Vec<u64> = (next..next + n).collect();
                next += n;
                for &i in &indexes {
                    log_line(&mut log, "p", i);
                }
                store
                    .put(stream(), indexes.iter().map(|&i| (i, key_of(i))).collect())
                    .await
                    .expect("put");
                for &i in &indexes {
                    log_line(&mut log, "P", i);
                    known.push(i);
                }
            } else {
                // Any index ever put, including ones taken before: those must stay gone.
                let i = known[rng.random_range(0..known.len())];
                log_line(&mut log, "t", i);
                match store.take(stream(), &[i], None).await {
                    Ok(keys) => {
                        if keys.len() != 1 || keys[0] != key_of(i) {
                            log_line(&mut log, "X", i);
                            std::process::exit(3);
                        }
                        log_line(&mut log, "T", i);
                    }
                    Err(StoreError::NotFound { .. }) => {}
                    Err(e) => panic!("take: {e}"),
                }
            }
        }
    });
}

/// Checks the database against the log; returns (present, acked puts, returned takes).
fn check(dir: &Path, runtime: &tokio::runtime::Runtime) -> (usize, usize, usize) {
    let fates = read_log(&dir.join("log"));
    let path = dir.join("store.redb");
    // 1. The store opens and its counts agree with its records.
    let stored = runtime.block_on(async {
        let store = RedbStore::open(&path, &master()).expect("store opens after a kill");
        let counts = store.counts(stream()).await.expect("counts");
        store.close();
        counts.stored()
    });
    // 2. Every record decrypts to the key of its index.
    let cipher = RecordCipher::new(&master());
    let mut present = BTreeSet::new();
    {
        const CHUNKS: redb::TableDefinition<(u128, u64), &[u8]> =
            redb::TableDefinition::new("chunks");
        let db = redb::Database::create(&path).expect("raw open");
        let txn = db.begin_read().expect("read");
        let table = txn.open_table(CHUNKS).expect("chunks table");
        for entry in table.iter().expect("iter") {
            let (k, v) = entry.expect("entry");
            let (s, index) = k.value();
            assert_eq!(
                s,
                stream().as_uuid().as_u128(),
                "record of an unknown stream"
            );
            let key = cipher
                .open(stream(), index, v.value())
                .unwrap_or_else(|e| panic!("record {index} does not decrypt: {e}"));
            assert_eq!(key, key_of(index), "record {index} holds another key");
            present.insert(index);
        }
    }
    assert_eq!(stored, present.len() as u64, "counts disagree with records");
    // 3. The log and the records agree.
    for (&index, fate) in &fates {
        assert!(
            fate.takes_returned <= 1,
            "index {index} was returned by {} takes",
            fate.takes_returned
        );
        if fate.takes_returned == 1 {
            assert!(
                !present.contains(&index),
                "taken index {index} is present again"
            );
        }
        if fate.put_acked && !fate.take_intent {
            assert!(
                present.contains(&index),
                "acknowledged put {index} was lost"
            );
        }
    }
    for index in &present {
        assert!(
            fates.get(index).is_some_and(|f| f.put_intent),
            "index {index} is present but was never put"
        );
    }
    let acked = fates.values().filter(|f| f.put_acked).count();
    let taken = fates.values().filter(|f| f.takes_returned > 0).count();
    (present.len(), acked, taken)
}

fn parent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe: PathBuf = std::env::current_exe().expect("current exe");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let started = Instant::now();
    let mut last = (0, 0, 0);
    for run in 0..KILLS {
        let mut child = Command::new(&exe)
            .env(CHILD_ENV, dir.path())
            .env(SEED_ENV, (SEED ^ run).to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn child");
        std::thread::sleep(Duration::from_millis(rng.random_range(30..250)));
        if let Some(status) = child.try_wait().expect("try_wait") {
            panic!("child {run} exited on its own: {status}");
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        last = check(dir.path(), &runtime);
    }
    let (present, acked, taken) = last;
    println!(
        "crash test: {KILLS} kills in {:.1?}; {acked} acknowledged puts, {taken} returned takes, \
         {present} keys present; all invariants held",
        started.elapsed()
    );
    assert!(
        acked > 100,
        "the children did too little work ({acked} puts)"
    );
    assert!(
        taken > 20,
        "the children did too little work ({taken} takes)"
    );
}

fn main() {
    match std::env::var_os(CHILD_ENV) {
        Some(dir) => {
            let seed = std::env::var(SEED_ENV)
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(1);
            child(Path::new(&dir), seed);
        }
        None => parent(),
    }
}
