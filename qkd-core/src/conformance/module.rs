//! Conformance suite for [`KeyModule`] (ETSI GS QKD 004 semantics).
//!
//! The factory returns a fresh [`ModulePair`]: the two modules at the ends of one link (each with
//! its own device end and store, already connected to each other) and two endpoint names. The
//! link must keep producing key while the suite runs (a test device pair with no interval is
//! ideal), the modules must grant [`Qos::default()`] and chunk sizes up to 64 bytes, refuse
//! `key_chunk_size` 0 and `u32::MAX`, and support the `application/json` metadata type only among
//! `application/json` and `application/x-qkd-unsupported`.
//!
//! ```no_run
//! # async fn demo<A: qkd_core::KeyModule + 'static, B: qkd_core::KeyModule + 'static>(
//! #     make: impl FnMut() -> std::future::Ready<qkd_core::conformance::module::ModulePair<A, B>>) {
//! use qkd_core::conformance::module::run_key_module_suite;
//! run_key_module_suite(make).await;
//! # }
//! ```

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::id::{Endpoint, StreamId};
use crate::key::SecretKey;
use crate::module::{KeyModule, ModuleError, Qos, Status};

/// The two modules of one link, as a factory returns them.
pub struct ModulePair<A, B> {
    /// The module at one end (applications there call it "source").
    pub alice: A,
    /// The module at the other end.
    pub bob: B,
    /// The application endpoint at Alice's end.
    pub source: Endpoint,
    /// The application endpoint at Bob's end.
    pub destination: Endpoint,
}

/// How long a check waits for key that the link should produce promptly.
const PATIENCE_MS: u32 = 10_000;

fn qos(chunk: u32) -> Qos {
    Qos {
        key_chunk_size: chunk,
        timeout: PATIENCE_MS,
        ..Qos::default()
    }
}

/// Runs every check, each on a fresh pair from `factory`.
pub async fn run_key_module_suite<A, B, F, Fut>(mut factory: F)
where
    A: KeyModule + 'static,
    B: KeyModule + 'static,
    F: FnMut() -> Fut,
    Fut: Future<Output = ModulePair<A, B>>,
{
    open_reports_peer_connection(&factory().await).await;
    ksid_in_use(&factory().await).await;
    both_ends_get_the_same_key(&factory().await).await;
    insufficient_key_with_zero_timeout(&factory().await).await;
    timeout_reports_status_6(&factory().await).await;
    qos_counter_proposal_can_be_accepted(&factory().await).await;
    metadata_too_small_keeps_the_key(&factory().await).await;
    unknown_and_closed_ksid(&factory().await).await;
    streams_in_both_directions_never_share_key(&factory().await).await;
    concurrent_readers_agree(Arc::new(factory().await)).await;
}

/// Opens a stream at Alice and its other end at Bob; returns the KSID.
pub async fn open_both<A: KeyModule, B: KeyModule>(p: &ModulePair<A, B>, q: &Qos) -> StreamId {
    let first = p
        .alice
        .open_connect(&p.source, &p.destination, q, None)
        .await
        .expect("OPEN_CONNECT at the first end");
    let second = p
        .bob
        .open_connect(&p.destination, &p.source, q, Some(first.ksid))
        .await
        .expect("OPEN_CONNECT at the second end");
    assert_eq!(second.ksid, first.ksid, "the second end keeps the KSID");
    assert_eq!(
        second.status,
        Status::Successful,
        "status 0 once both applications have opened the KSID"
    );
    first.ksid
}

/// Status 1 before the peer application opens, 0 after; GET_KEY is status 3 in between.
pub async fn open_reports_peer_connection<A: KeyModule, B: KeyModule>(p: &ModulePair<A, B>) {
    let q = qos(32);
    let first = p
        .alice
        .open_connect(&p.source, &p.destination, &q, None)
        .await
        .expect("OPEN_CONNECT");
    assert_eq!(
        first.status,
        Status::PeerNotConnected,
        "status 1 while the peer application has not opened the KSID"
    );
    assert_eq!(first.qos, q, "an acceptable QoS is granted unchanged");
    assert_eq!(
        p.alice
            .get_key(first.ksid, Some(0), 1024)
            .await
            .unwrap_err()
            .status(),
        Status::PeerApplicationNotConnected,
        "GET_KEY before the peer application connects is status 3"
    );
    let second = p
        .bob
        .open_connect(&p.destination, &p.source, &q, Some(first.ksid))
        .await
        .expect("OPEN_CONNECT at the peer");
    assert_eq!(
        second.status,
        Status::Successful,
        "status 0 at the second end"
    );
    let a = p
        .alice
        .get_key(first.ksid, Some(0), 1024)
        .await
        .expect("GET_KEY");
    let b = p
        .bob
        .get_key(first.ksid, Some(0), 1024)
        .await
        .expect("GET_KEY");
    assert_eq!(a.key, b.key, "both ends return the same key for index 0");
}

/// Opening an open KSID again is status 5, at either end.
pub async fn ksid_in_use<A: KeyModule, B: KeyModule>(p: &ModulePair<A, B>) {
    let q = qos(32);
    let ksid = open_both(p, &q).await;
    let again = p
        .alice
        .open_connect(&p.source, &p.destination, &q, Some(ksid))
        .await;
    assert!(
        matches!(again, Err(ModuleError::KsidInUse(k)) if k == ksid),
        "re-opening at the first end is status 5"
    );
    let again = p
        .bob
        .open_connect(&p.destination, &p.source, &q, Some(ksid))
        .await;
    assert_eq!(
        again.unwrap_err().status(),
        Status::KsidInUse,
        "re-opening at the second end is status 5"
    );
}

/// Both ends return identical chunks of the granted size for every index, read by index or in
/// sequence, and different indexes carry different keys.
pub async fn both_ends_get_the_same_key<A: KeyModule, B: KeyModule>(p: &ModulePair<A, B>) {
    let q = qos(24);
    let ksid = open_both(p, &q).await;
    let mut seen: Vec<SecretKey> = Vec::new();
    for i in 0..12u64 {
        let a = p
            .alice
            .get_key(ksid, None, 1024)
            .await
            .expect("GET_KEY (sequential)");
        let b = p
            .bob
            .get_key(ksid, Some(i), 1024)
            .await
            .expect("GET_KEY (by index)");
        assert_eq!(
            a.index, i,
            "sequential GET_KEY returns indexes 0, 1, 2, ..."
        );
        assert_eq!(b.index, i, "GET_KEY by index returns that index");
        assert_eq!(a.key.len(), 24, "chunks have the granted key_chunk_size");
        assert_eq!(a.key, b.key, "both ends agree on the key at index {i}");
        assert!(
            !seen.contains(&a.key),
            "index {i} repeats an earlier chunk's key"
        );
        seen.push(a.key);
    }
}

/// With timeout 0, a chunk that is not buffered is status 2 at once.
pub async fn insufficient_key_with_zero_timeout<A: KeyModule, B: KeyModule>(p: &ModulePair<A, B>) {
    let q = Qos {
        timeout: 0,
        ..qos(32)
    };
    let ksid = open_both(p, &q).await;
    let started = Instant::now();
    let err = p
        .alice
        .get_key(ksid, Some(1 << 40), 1024)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Status::InsufficientKey, "timeout 0: status 2");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "status 2 is returned without waiting"
    );
}

/// A chunk that does not arrive within the QoS timeout is status 6, after about that long.
pub async fn timeout_reports_status_6<A: KeyModule, B: KeyModule>(p: &ModulePair<A, B>) {
    let q = Qos {
        timeout: 150,
        ..qos(32)
    };
    let ksid = open_both(p, &q).await;
    let started = Instant::now();
    let err = p.bob.get_key(ksid, Some(u64::MAX), 1024).await.unwrap_err();
    assert_eq!(
        err.status(),
        Status::Timeout,
        "an index that never arrives: status 6"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(140),
        "status 6 only after the QoS timeout"
    );
}

/// Unmeetable QoS is status 7 with a counter-proposal that, when accepted, opens the stream.
pub async fn qos_counter_proposal_can_be_accepted<A: KeyModule, B: KeyModule>(
    p: &ModulePair<A, B>,
) {
    for bad in [
        qos(0),
        qos(u32::MAX),
        Qos {
            metadata_mimetype: "application/x-qkd-unsupported".to_owned(),
            ..qos(32)
        },
    ] {
        let err = p
            .alice
            .open_connect(&p.source, &p.destination, &bad, None)
            .await
            .unwrap_err();
        let ModuleError::QosNotMet { counter_proposal } = err else {
            panic!("QoS {bad:?} must be status 7, got {err:?}");
        };
        assert_ne!(
            counter_proposal, bad,
            "the counter-proposal differs from the request"
        );
        assert!(
            counter_proposal.key_chunk_size > 0,
            "the counter-proposal is usable"
        );
        let ksid = open_both(p, &counter_proposal).await;
        let a = p.alice.get_key(ksid, Some(0), 4096).await.expect("GET_KEY");
        assert_eq!(a.key.len(), counter_proposal.key_chunk_size as usize);
        p.alice.close(ksid).await.expect("CLOSE");
    }
}

/// A metadata buffer that is too small is status 8, naming the size needed; the key stays.
pub async fn metadata_too_small_keeps_the_key<A: KeyModule, B: KeyModule>(p: &ModulePair<A, B>) {
    let ksid = open_both(p, &qos(32)).await;
    let err = p.alice.get_key(ksid, Some(0), 0).await.unwrap_err();
    let ModuleError::MetadataSizeInsufficient { capacity, required } = err else {
        panic!("a zero-byte metadata buffer must be status 8, got {err:?}");
    };
    assert_eq!(capacity, 0, "status 8 reports the caller's capacity");
    assert!(required > 0, "status 8 reports the size needed");
    let chunk = p
        .alice
        .get_key(ksid, Some(0), required)
        .await
        .expect("GET_KEY with the size status 8 named");
    assert!(chunk.metadata.len() <= required);
    let peer = p.bob.get_key(ksid, Some(0), 4096).await.expect("GET_KEY");
    assert_eq!(
        chunk.key, peer.key,
        "status 8 did not consume or shift the key"
    );
}

/// Unknown KSIDs, and KSIDs after CLOSE, are status 4 for every call.
pub async fn unknown_and_closed_ksid<A: KeyModule, B: KeyModule>(p: &ModulePair<A, B>) {
    let unknown = StreamId::new_random();
    let status = |r: Result<(), ModuleError>| r.unwrap_err().status();
    assert_eq!(
        status(p.alice.get_key(unknown, None, 1024).await.map(drop)),
        Status::NoQkdConnection,
        "GET_KEY of an unknown KSID is status 4"
    );
    assert_eq!(
        status(p.alice.close(unknown).await),
        Status::NoQkdConnection
    );
    assert_eq!(
        status(p.bob.available(unknown).await.map(drop)),
        Status::NoQkdConnection
    );
    let ksid = open_both(p, &qos(32)).await;
    p.alice.get_key(ksid, Some(0), 1024).await.expect("GET_KEY");
    p.alice.close(ksid).await.expect("CLOSE");
    assert_eq!(
        status(p.alice.get_key(ksid, Some(1), 1024).await.map(drop)),
        Status::NoQkdConnection,
        "GET_KEY after CLOSE is status 4"
    );
    assert_eq!(
        status(p.alice.close(ksid).await),
        Status::NoQkdConnection,
        "a second CLOSE is status 4"
    );
}

/// Streams opened from either end at the same time get disjoint key.
pub async fn streams_in_both_directions_never_share_key<A: KeyModule, B: KeyModule>(
    p: &ModulePair<A, B>,
) {
    let q = qos(16);
    let (x, y) = tokio::join!(
        p.alice.open_connect(&p.source, &p.destination, &q, None),
        p.bob.open_connect(&p.destination, &p.source, &q, None),
    );
    let (x, y) = (x.expect("open at Alice").ksid, y.expect("open at Bob").ksid);
    assert_ne!(x, y);
    p.bob
        .open_connect(&p.destination, &p.source, &q, Some(x))
        .await
        .expect("attach X at Bob");
    p.alice
        .open_connect(&p.source, &p.destination, &q, Some(y))
        .await
        .expect("attach Y at Alice");
    let mut all: Vec<SecretKey> = Vec::new();
    for i in 0..16u64 {
        for ksid in [x, y] {
            let a = p.alice.get_key(ksid, Some(i), 1024).await.expect("GET_KEY");
            let b = p.bob.get_key(ksid, Some(i), 1024).await.expect("GET_KEY");
            assert_eq!(a.key, b.key, "ends agree on stream {ksid} index {i}");
            assert!(
                !all.contains(&a.key),
                "a chunk of {ksid} repeats key handed out on another stream or index"
            );
            all.push(a.key);
        }
    }
}

/// Many tasks reading distinct indexes at both ends concurrently get matching keys.
pub async fn concurrent_readers_agree<A, B>(p: Arc<ModulePair<A, B>>)
where
    A: KeyModule + 'static,
    B: KeyModule + 'static,
{
    let ksid = open_both(&p, &qos(32)).await;
    let mut tasks = Vec::new();
    for i in 0..32u64 {
        let p = Arc::clone(&p);
        tasks.push(tokio::spawn(async move {
            let (a, b) = tokio::join!(
                p.alice.get_key(ksid, Some(i), 1024),
                p.bob.get_key(ksid, Some(i), 1024)
            );
            let (a, b) = (a.expect("GET_KEY"), b.expect("GET_KEY"));
            assert_eq!(a.key, b.key, "concurrent readers agree at index {i}");
            a.key
        }));
    }
    let mut keys = Vec::new();
    for t in tasks {
        keys.push(t.await.expect("reader task"));
    }
    for (i, k) in keys.iter().enumerate() {
        assert!(
            !keys[i + 1..].contains(k),
            "two indexes returned the same key"
        );
    }
}
