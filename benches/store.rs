//! Key store throughput: puts and takes per second for the durable RedbStore (durability on,
//! group commit) and the in-memory MemoryStore.
//!
//! * `single/*/<n>-callers`: `n` concurrent tasks each put (or take) one 32-byte chunk per call; the
//!   RedbStore writer coalesces concurrent calls into one fsynced transaction (group commit). Every
//!   call returns only after its transaction committed.
//! * `batch/*`: one caller puts (or takes) `BATCH` chunks per call, one transaction per call.
//!
//! Run: `cargo bench --bench store -- --warm-up-time 1 --measurement-time 3`

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use qkd_core::{KeyStore, SecretKey, StreamId};
use qkd_kms::store::{MasterKey, MemoryStore, RedbStore};

/// Operations per measured iteration.
const OPS: u64 = 4096;
/// Numbers of concurrent callers in the `single` benchmarks.
const CALLERS: [u64; 2] = [64, 512];
/// Chunks per call in the `batch` benchmarks.
const BATCH: u64 = 256;

fn chunk(i: u64) -> SecretKey {
    let mut bytes = vec![0x5a; 32];
    bytes[..8].copy_from_slice(&i.to_le_bytes());
    SecretKey::from_vec(bytes)
}

fn master() -> MasterKey {
    MasterKey::from_bytes(std::array::from_fn(|i| (i as u8).wrapping_mul(73) ^ 0x9c)).unwrap()
}

/// Puts `OPS` chunks starting at `base`, one per call, from `CALLERS` concurrent tasks.
async fn concurrent_puts<S: KeyStore + 'static>(
    store: &Arc<S>,
    stream: StreamId,
    base: u64,
    callers: u64,
) {
    let per = OPS / callers;
    let mut tasks = Vec::with_capacity(callers as usize);
    for c in 0..callers {
        let store = Arc::clone(store);
        tasks.push(tokio::spawn(async move {
            for j in 0..per {
                let i = base + c * per + j;
                store.put(stream, vec![(i, chunk(i))]).await.expect("put");
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
}

/// Takes `OPS` chunks starting at `base`, one per call, from `CALLERS` concurrent tasks.
async fn concurrent_takes<S: KeyStore + 'static>(
    store: &Arc<S>,
    stream: StreamId,
    base: u64,
    callers: u64,
) {
    let per = OPS / callers;
    let mut tasks = Vec::with_capacity(callers as usize);
    for c in 0..callers {
        let store = Arc::clone(store);
        tasks.push(tokio::spawn(async move {
            for j in 0..per {
                let i = base + c * per + j;
                let keys = store.take(stream, &[i], None).await.expect("take");
                assert_eq!(keys.len(), 1);
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
}

async fn prefill<S: KeyStore>(store: &S, stream: StreamId, base: u64, n: u64) {
    for start in (base..base + n).step_by(1024) {
        let end = (start + 1024).min(base + n);
        store
            .put(stream, (start..end).map(|i| (i, chunk(i))).collect())
            .await
            .expect("prefill");
    }
}

fn bench_store<S: KeyStore + 'static>(c: &mut Criterion, name: &str, store: Arc<S>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let stream = StreamId::new_random();
    let mut next = 0u64;
    let mut group = c.benchmark_group(format!("store/{name}"));
    group.throughput(Throughput::Elements(OPS));

    for callers in CALLERS {
        group.bench_function(format!("single/put/{callers}-callers"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let base = next;
                    next += OPS;
                    let start = Instant::now();
                    rt.block_on(concurrent_puts(&store, stream, base, callers));
                    total += start.elapsed();
                    // Keep the store small: remove what was just measured (untimed).
                    let idx: Vec<u64> = (base..base + OPS).collect();
                    rt.block_on(store.delete(stream, &idx)).expect("delete");
                }
                total
            });
        });

        group.bench_function(format!("single/take/{callers}-callers"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let base = next;
                    next += OPS;
                    rt.block_on(prefill(store.as_ref(), stream, base, OPS));
                    let start = Instant::now();
                    rt.block_on(concurrent_takes(&store, stream, base, callers));
                    total += start.elapsed();
                }
                total
            });
        });
    }

    group.throughput(Throughput::Elements(BATCH));
    group.bench_function("batch/put", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let base = next;
                next += BATCH;
                let chunks: Vec<_> = (base..base + BATCH).map(|i| (i, chunk(i))).collect();
                let start = Instant::now();
                rt.block_on(store.put(stream, chunks)).expect("put");
                total += start.elapsed();
                let idx: Vec<u64> = (base..base + BATCH).collect();
                rt.block_on(store.delete(stream, &idx)).expect("delete");
            }
            total
        });
    });

    group.bench_function("batch/take", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let base = next;
                next += BATCH;
                rt.block_on(prefill(store.as_ref(), stream, base, BATCH));
                let idx: Vec<u64> = (base..base + BATCH).collect();
                let start = Instant::now();
                let keys = rt.block_on(store.take(stream, &idx, None)).expect("take");
                total += start.elapsed();
                assert_eq!(keys.len() as u64, BATCH);
            }
            total
        });
    });
    group.finish();
}

fn stores(c: &mut Criterion) {
    bench_store(c, "memory", Arc::new(MemoryStore::new()));
    let dir = tempfile::tempdir().expect("tempdir");
    let redb = RedbStore::open(dir.path().join("bench.redb"), &master()).expect("open");
    bench_store(c, "redb", Arc::new(redb));
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = stores
}
criterion_main!(benches);
