//! The QKD module: ETSI GS QKD 004 (`OPEN_CONNECT` / `GET_KEY` / `CLOSE`) over any
//! [`QuantumDevice`] and [`KeyStore`].
//!
//! # Shape
//! [`QkdModule::start`] spawns one **puller** task that reads blocks from the device, hands each
//! block to the stream that owns it (see [`schedule`] for the deterministic block -> (KSID, index)
//! scheme), cuts it into chunks of the stream's `key_chunk_size` and puts them into the store
//! (store stream = KSID). When a stream's buffer (its store capacity,
//! [`ModuleConfig::buffer_chunks`]) is full the puller waits, so it stops pulling from the device
//! until an application reads key; when no stream is open it does not pull at all. Each end of a
//! link runs its own module with its own store; they agree through [`peer`] messages.
//!
//! # Status codes
//! | code | when |
//! |------|------|
//! | 0 | `OPEN_CONNECT` when the peer application has opened the KSID too; every successful call |
//! | 1 | `OPEN_CONNECT` succeeded but the peer application has not opened the KSID yet |
//! | 2 | `GET_KEY` with `timeout = 0` and the chunk not yet buffered; or the index was already read |
//! | 3 | `GET_KEY` before the peer application opened the KSID |
//! | 4 | unknown or closed KSID; the peer module is unreachable; no free slot on the link |
//! | 5 | `OPEN_CONNECT` with a KSID already open at this module |
//! | 6 | `GET_KEY` waited `timeout` ms without the chunk arriving |
//! | 7 | `OPEN_CONNECT` QoS not met (see [`qos::negotiate`]); the counter-proposal is returned |
//! | 8 | `GET_KEY` metadata buffer smaller than the metadata (the key is not consumed) |
//!
//! Bad input never panics: a huge index just waits for the timeout (6); chunk size 0 or huge is a
//! counter-proposal (7); an unknown KSID is 4.
//!
//! # QoS fields
//! All eight are enforced:
//! * `key_chunk_size`: chunk size; `metadata_mimetype`: `application/json` metadata (KSID, index,
//!   chunk size); `timeout`: how long `GET_KEY` waits (status 6 after it).
//! * `min_bps`, `max_bps`, `jitter`: how many of the link's slots the stream owns, and which ones
//!   (spread evenly); see [`qos::negotiate`] for the rules and the counter-proposals (status 7).
//! * `max_bps = 0` makes the stream *elastic*: besides its own slots it takes the link's spare
//!   blocks, shared by `priority` (the highest priority present takes them all; equal priorities
//!   share evenly). A lone elastic stream therefore gets the whole link, and a stream's own slots
//!   keep it from starving whatever the priorities (see [`schedule`]).
//! * `ttl` (seconds, 0 = no limit): a chunk nobody has read `ttl` seconds after it was stored is
//!   deleted (zeroized) at that end; reading it later is status 2. Expiry frees buffer space, so
//!   an abandoned stream with a TTL cannot stall the link for long (see below). Each end expires
//!   by its own clock, so a chunk read at one end just before its TTL may have expired at the other.
//!
//! # Close
//! `CLOSE` at either end ends the stream at **both** modules: both delete (zeroize) their
//! remaining chunks and, once the two have agreed the last block of the stream, free its slots;
//! later calls for the KSID fail with status 4 at both ends.
//!
//! # Known limitations
//! * **Head-of-line blocking.** Blocks cannot be skipped without desynchronising the ends, so a
//!   stream whose buffer is full (its application stopped reading) stalls the puller, and with it
//!   every stream of the link, until it is read, closed, or its chunks reach their TTL. Use a TTL
//!   for streams whose readers may vanish.
//! * **No preemption.** When every slot of a direction is owned, a new stream is refused (status
//!   4) whatever its priority; priority only orders the spare capacity.
//! * **Simultaneous first opens of one KSID** at both modules: both peers answer `Conflict` and both
//!   callers get status 5; a retry at one end succeeds.
//! * The module's stream table is in memory: after a restart, open streams must be re-opened
//!   (chunks already in a durable store stay there, but no new ones are added to old KSIDs).
//! * Both ends must deliver (or abort) the same block indexes, as the `QuantumDevice` contract
//!   says; an asymmetric abort would shift the chunk sequence of the stream owning that slot.
//! * `jitter` and `min_bps` are promised for the device's nominal rate
//!   ([`ModuleConfig::key_rate_bps`] or the device's own figure); a slower device delivers less.

pub mod chunker;
pub mod peer;
pub mod qos;
pub mod schedule;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use qkd_core::{
    DeviceError, Endpoint, KeyChunk, KeyModule, KeyStore, ModuleError, OpenConnect, Qos,
    QuantumDevice, SecretKey, Status, StoreError, StreamId,
};
use tokio::sync::{Notify, watch};

use self::chunker::Chunker;
use self::peer::{InProcessPeer, PeerHandler, PeerLink, PeerMessage, PeerReply};
use self::qos::{LinkOffer, Negotiated, negotiate};
use self::schedule::{Claim, Schedule};

/// Blocks the puller may hold while a change it started waits for the peer (see
/// `wait_for_handshakes`).
const MAX_HELD_BLOCKS: usize = 256;

/// How often expired chunks are looked for.
const EXPIRY_TICK: Duration = Duration::from_millis(100);

/// Configuration of a [`QkdModule`]. Both modules of a link must use the same `slot_count`.
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleConfig {
    /// Slots of the link schedule (even; half per direction). Default 16.
    pub slot_count: u32,
    /// Largest `key_chunk_size` granted, in bytes. Default 4096.
    pub max_chunk_size: u32,
    /// Chunk size proposed when a request asks for 0. Default 32.
    pub default_chunk_size: u32,
    /// Chunks buffered per stream before the puller waits (the stream's store capacity).
    /// Default 1024.
    pub buffer_chunks: u64,
    /// Largest `timeout` granted, in milliseconds. Default 60 000.
    pub max_timeout_ms: u32,
    /// Largest `ttl` granted, in seconds. Default 86 400 (one day).
    pub max_ttl_s: u32,
    /// Metadata MIME types supported. Default `["application/json"]`.
    pub supported_mimetypes: Vec<String>,
    /// Secret-key rate of the link in bits per second, overriding the device's nominal rate (used
    /// to check `min_bps`). Default `None`.
    pub key_rate_bps: Option<f64>,
}

impl Default for ModuleConfig {
    fn default() -> Self {
        Self {
            slot_count: 16,
            max_chunk_size: 4096,
            default_chunk_size: 32,
            buffer_chunks: 1024,
            max_timeout_ms: 60_000,
            max_ttl_s: 86_400,
            supported_mimetypes: vec!["application/json".to_owned()],
            key_rate_bps: None,
        }
    }
}

struct StreamState {
    qos: Qos,
    local_app: bool,
    peer_app: bool,
    /// Blocks assigned to this stream, not yet cut into chunks, in block order.
    pending: VecDeque<SecretKey>,
    /// Stored chunk ranges `[first, end)` and when they expire (streams with a TTL only).
    expiry: VecDeque<(u64, u64, tokio::time::Instant)>,
    chunker: Chunker,
    /// Index of the next chunk to cut.
    next_index: u64,
    /// Number of chunks stored so far (all indexes below it have been put).
    produced: watch::Sender<u64>,
    /// Next index for `GET_KEY` without an index.
    cursor: Arc<tokio::sync::Mutex<u64>>,
}

struct State {
    schedule: Schedule,
    /// Next block index the puller will fetch.
    position: u64,
    /// Blocks fetched but not yet assigned to a stream, because a change this module started
    /// (open or close) still waits for the peer's answer (see [`Schedule::frontier`]).
    held: VecDeque<(u64, SecretKey)>,
    /// Streams open at this module (the schedule also keeps closed ones until their end).
    streams: HashMap<StreamId, StreamState>,
}

impl State {
    /// Hands every held block below the schedule's frontier to its stream, in block order, and
    /// drops what no stream gets (zeroized by `SecretKey`).
    fn assign_ready(&mut self) {
        let frontier = self.schedule.frontier();
        while self
            .held
            .front()
            .is_some_and(|(index, _)| *index < frontier)
        {
            let Some((index, key)) = self.held.pop_front() else {
                break;
            };
            if let Some(owner) = self.schedule.assign(index)
                && let Some(stream) = self.streams.get_mut(&owner)
            {
                stream.pending.push_back(key);
            }
        }
        let assigned = self.held.front().map_or(self.position, |(index, _)| *index);
        self.schedule.retire(assigned);
    }
}

struct Shared<D, S> {
    device: D,
    store: S,
    peer: Arc<dyn PeerLink>,
    config: ModuleConfig,
    state: Mutex<State>,
    /// Serialises chunk production (puller and open-time drains).
    produce: tokio::sync::Mutex<()>,
    /// Signalled when slots are claimed (wakes an idle puller).
    claims: Notify,
    /// Signalled when key is read or a stream closes (wakes a producer waiting for room).
    room: Notify,
    /// Set when the module is dropped: background loops exit.
    stopped: AtomicBool,
}

/// The QKD module of one end of a link (see the module docs).
///
/// ```
/// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
/// # async fn main() {
/// use qkd_core::conformance::device::PairedTestDevice;
/// use qkd_core::{Endpoint, KeyModule, Qos, Status};
/// use qkd_kms::{MemoryStore, ModuleConfig, QkdModule};
///
/// let (dev_a, dev_b) = PairedTestDevice::pair(1, 64);
/// let (alice, bob) = QkdModule::pair_in_process(
///     (dev_a, MemoryStore::new()),
///     (dev_b, MemoryStore::new()),
///     ModuleConfig::default(),
/// );
/// let (a, b) = (Endpoint::new("qkd://sae-a").unwrap(), Endpoint::new("qkd://sae-b").unwrap());
/// let opened = alice.open_connect(&a, &b, &Qos::default(), None).await.unwrap();
/// assert_eq!(opened.status, Status::PeerNotConnected);
/// let joined = bob.open_connect(&b, &a, &Qos::default(), Some(opened.ksid)).await.unwrap();
/// assert_eq!(joined.status, Status::Successful);
/// let ka = alice.get_key(opened.ksid, Some(0), 1024).await.unwrap();
/// let kb = bob.get_key(opened.ksid, Some(0), 1024).await.unwrap();
/// assert_eq!(ka.key, kb.key);
/// # }
/// ```
pub struct QkdModule<D, S> {
    shared: Arc<Shared<D, S>>,
    puller: tokio::task::JoinHandle<()>,
    expirer: tokio::task::JoinHandle<()>,
}

impl<D, S> Drop for QkdModule<D, S> {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        self.shared.room.notify_waiters();
        self.puller.abort();
        self.expirer.abort();
    }
}

fn no_connection(what: impl Into<String>) -> ModuleError {
    ModuleError::NoQkdConnection(what.into())
}

impl<D, S> QkdModule<D, S>
where
    D: QuantumDevice + 'static,
    S: KeyStore + 'static,
{
    /// Starts a module over `device` and `store`, talking to its peer module through `peer`.
    /// Must be called inside a tokio runtime (it spawns the puller task).
    pub fn start(device: D, store: S, peer: Arc<dyn PeerLink>, config: ModuleConfig) -> Arc<Self> {
        let role = device.info().role;
        let shared = Arc::new(Shared {
            device,
            store,
            peer,
            state: Mutex::new(State {
                schedule: Schedule::new(config.slot_count, role),
                position: 0,
                held: VecDeque::new(),
                streams: HashMap::new(),
            }),
            config,
            produce: tokio::sync::Mutex::new(()),
            claims: Notify::new(),
            room: Notify::new(),
            stopped: AtomicBool::new(false),
        });
        let puller = tokio::spawn(Arc::clone(&shared).pull());
        let expirer = tokio::spawn(Arc::clone(&shared).expire());
        Arc::new(Self {
            shared,
            puller,
            expirer,
        })
    }

    /// Starts the two modules of a link in this process, connected by [`InProcessPeer`]s.
    pub fn pair_in_process<D2, S2>(
        alice: (D, S),
        bob: (D2, S2),
        config: ModuleConfig,
    ) -> (Arc<Self>, Arc<QkdModule<D2, S2>>)
    where
        D2: QuantumDevice + 'static,
        S2: KeyStore + 'static,
    {
        let to_bob = Arc::new(InProcessPeer::new());
        let to_alice = Arc::new(InProcessPeer::new());
        let a = Self::start(alice.0, alice.1, to_bob.clone(), config.clone());
        let b = QkdModule::start(bob.0, bob.1, to_alice.clone(), config);
        let a_handler: Arc<dyn PeerHandler> = a.clone();
        let b_handler: Arc<dyn PeerHandler> = b.clone();
        to_bob.connect(&b_handler);
        to_alice.connect(&a_handler);
        (a, b)
    }

    /// The module's store (for inspection).
    pub fn store(&self) -> &S {
        &self.shared.store
    }

    /// The module's device.
    pub fn device(&self) -> &D {
        &self.shared.device
    }

    /// Next block index the puller will process.
    pub fn position(&self) -> u64 {
        self.shared.lock().position
    }

    /// The slots of the schedule owned by `ksid` (empty if unknown).
    pub fn slots_of(&self, ksid: StreamId) -> Vec<u32> {
        self.shared.lock().schedule.slots_of(ksid)
    }
}

impl<D, S> Shared<D, S>
where
    D: QuantumDevice + 'static,
    S: KeyStore + 'static,
{
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the state consistent before anything that can panic.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The puller task: device -> pending queues -> chunks in the store.
    async fn pull(self: Arc<Self>) {
        loop {
            loop {
                let notified = self.claims.notified();
                if !self.lock().schedule.is_idle() {
                    break;
                }
                // Idle: nothing would keep the blocks. Wait for a claim (re-check periodically).
                let _ = tokio::time::timeout(Duration::from_millis(200), notified).await;
            }
            match self.device.next_block().await {
                Ok(block) => {
                    {
                        let mut state = self.lock();
                        if block.index >= state.position {
                            state.position = block.index + 1;
                            state.held.push_back((block.index, block.key));
                            state.assign_ready();
                        }
                        // A block index seen before (a misbehaving device) is dropped.
                    }
                    self.drain().await;
                    self.wait_for_handshakes().await;
                }
                Err(DeviceError::Shutdown) => return,
                Err(
                    DeviceError::QberAboveThreshold { index, .. }
                    | DeviceError::PostProcessing { index, .. },
                ) => {
                    let mut state = self.lock();
                    state.position = state.position.max(index + 1);
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Bounds the blocks held while a change waits for the peer: the puller pauses while
    /// [`MAX_HELD_BLOCKS`] are held.
    async fn wait_for_handshakes(&self) {
        loop {
            let waiting = self.lock().held.len() >= MAX_HELD_BLOCKS;
            if !waiting || self.stopped.load(Ordering::SeqCst) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Cuts every ready pending block into chunks and stores them, in block order per stream.
    async fn drain(&self) {
        let _producer = self.produce.lock().await;
        loop {
            let job = {
                let mut state = self.lock();
                let mut job = None;
                for (ksid, stream) in state.streams.iter_mut() {
                    while let Some(key) = stream.pending.pop_front() {
                        let chunks = stream.chunker.push(&key);
                        if chunks.is_empty() {
                            continue;
                        }
                        let first = stream.next_index;
                        stream.next_index += chunks.len() as u64;
                        job = Some((*ksid, first, chunks));
                        break;
                    }
                    if job.is_some() {
                        break;
                    }
                }
                job
            };
            let Some((ksid, first, chunks)) = job else {
                return;
            };
            self.store_chunks(ksid, first, chunks).await;
        }
    }

    /// Puts chunks `first..` of `ksid`, waiting for room in the stream's buffer.
    async fn store_chunks(&self, ksid: StreamId, first: u64, chunks: Vec<SecretKey>) {
        let mut next = first;
        let mut chunks: VecDeque<SecretKey> = chunks.into();
        while !chunks.is_empty() {
            let room = self.room.notified();
            if self.stopped.load(Ordering::SeqCst) || !self.lock().streams.contains_key(&ksid) {
                return; // closed: the chunks drop and zeroize
            }
            let free = match self.store.counts(ksid).await {
                Ok(c) => c.free(),
                Err(_) => 0,
            };
            if free == 0 {
                let _ = tokio::time::timeout(Duration::from_millis(50), room).await;
                continue;
            }
            let n = (free as usize).min(chunks.len());
            let batch: Vec<(u64, SecretKey)> = chunks
                .drain(..n)
                .enumerate()
                .map(|(i, key)| (next + i as u64, key))
                .collect();
            if let Err(StoreError::Backend(_)) = self.store.put(ksid, batch).await {
                // The store failed; the chunks of this batch are lost at this end, so the stream
                // can no longer be kept in step with the peer. Stop feeding it.
                return;
            }
            let stored_from = next;
            next += n as u64;
            let gone = {
                let mut state = self.lock();
                match state.streams.get_mut(&ksid) {
                    Some(stream) => {
                        if stream.qos.ttl > 0 {
                            let deadline = tokio::time::Instant::now()
                                + Duration::from_secs(u64::from(stream.qos.ttl));
                            stream.expiry.push_back((stored_from, next, deadline));
                        }
                        stream.produced.send_replace(next);
                        false
                    }
                    None => true,
                }
            };
            if gone {
                // Closed while we were putting: remove what we just stored.
                let _ = self.store.delete_stream(ksid).await;
                return;
            }
        }
    }

    fn key_rate(&self) -> Option<f64> {
        self.config
            .key_rate_bps
            .or_else(|| self.device.info().nominal_key_rate_bps)
    }

    fn new_stream(&self, qos: Qos) -> StreamState {
        StreamState {
            chunker: Chunker::new(qos.key_chunk_size as usize),
            qos,
            local_app: false,
            peer_app: false,
            pending: VecDeque::new(),
            expiry: VecDeque::new(),
            next_index: 0,
            produced: watch::Sender::new(0),
            cursor: Arc::new(tokio::sync::Mutex::new(0)),
        }
    }

    /// Cuts and stores whatever became assignable, without making the caller wait for room.
    fn drain_in_background(self: &Arc<Self>) {
        let shared = Arc::clone(self);
        tokio::spawn(async move { shared.drain().await });
    }

    /// Forgets a stream whose open failed: it never became active, at either end.
    async fn abandon_open(&self, ksid: StreamId) {
        {
            let mut state = self.lock();
            state.streams.remove(&ksid);
            state.schedule.remove(ksid);
            state.assign_ready();
        }
        let _ = self.store.delete_stream(ksid).await;
        self.room.notify_waiters();
    }

    /// The TTL task: deletes chunks nobody read within their stream's `ttl`.
    async fn expire(self: Arc<Self>) {
        loop {
            tokio::time::sleep(EXPIRY_TICK).await;
            if self.stopped.load(Ordering::SeqCst) {
                return;
            }
            let now = tokio::time::Instant::now();
            let due: Vec<(StreamId, Vec<u64>)> = {
                let mut state = self.lock();
                state
                    .streams
                    .iter_mut()
                    .filter_map(|(ksid, stream)| {
                        let mut indexes = Vec::new();
                        while let Some(&(first, end, deadline)) = stream.expiry.front() {
                            if deadline > now {
                                break;
                            }
                            stream.expiry.pop_front();
                            indexes.extend(first..end);
                        }
                        (!indexes.is_empty()).then_some((*ksid, indexes))
                    })
                    .collect()
            };
            for (ksid, indexes) in due {
                // Chunks already read are gone; `delete` skips them.
                let _ = self.store.delete(ksid, &indexes).await;
                self.room.notify_waiters();
            }
        }
    }

    async fn open_new(
        self: &Arc<Self>,
        source: &Endpoint,
        destination: &Endpoint,
        requested: &Qos,
        ksid: StreamId,
    ) -> Result<OpenConnect, ModuleError> {
        let (granted, slots, position, slot_count) = {
            let mut state = self.lock();
            if state.streams.contains_key(&ksid) || state.schedule.contains(ksid) {
                return Err(ModuleError::KsidInUse(ksid));
            }
            let free = state.schedule.free_own_slots();
            let slot_count = state.schedule.slot_count();
            if free.is_empty() {
                return Err(no_connection(format!(
                    "all {} key slots of this direction are in use",
                    state.schedule.own_slot_count()
                )));
            }
            let offer = LinkOffer {
                rate_bps: self.key_rate(),
                block_bits: self.device.info().block_bits,
                slot_count,
                free: &free,
            };
            let (qos, slots) = match negotiate(requested, &self.config, offer) {
                Negotiated::Granted { qos, slots } => (qos, slots),
                Negotiated::CounterProposal(counter_proposal) => {
                    return Err(ModuleError::QosNotMet { counter_proposal });
                }
            };
            let position = state.position;
            state
                .schedule
                .claim(ksid, claim_of(&qos, slots.clone()), position, None)
                .map_err(no_connection)?;
            let mut stream = self.new_stream(qos.clone());
            stream.local_app = true;
            state.streams.insert(ksid, stream);
            (qos, slots, position, slot_count)
        };
        if let Err(e) = self
            .store
            .set_capacity(ksid, self.config.buffer_chunks)
            .await
        {
            self.abandon_open(ksid).await;
            return Err(no_connection(format!("key store: {e}")));
        }
        self.claims.notify_waiters();
        let reply = self
            .peer
            .send(PeerMessage::Open {
                ksid,
                source: source.clone(),
                destination: destination.clone(),
                qos: granted.clone(),
                slot_count,
                slots,
                position,
            })
            .await;
        match reply {
            Ok(PeerReply::Opened {
                position: peer_position,
                app_connected,
            }) => {
                {
                    let mut state = self.lock();
                    state
                        .schedule
                        .resolve_start(ksid, position.max(peer_position));
                    if let Some(stream) = state.streams.get_mut(&ksid) {
                        stream.peer_app |= app_connected;
                    }
                    state.assign_ready();
                }
                self.drain_in_background();
                let status = if app_connected {
                    Status::Successful
                } else {
                    Status::PeerNotConnected
                };
                Ok(OpenConnect {
                    ksid,
                    qos: granted,
                    status,
                })
            }
            Ok(PeerReply::Conflict(_)) => {
                self.abandon_open(ksid).await;
                self.drain_in_background();
                Err(ModuleError::KsidInUse(ksid))
            }
            Ok(other) => {
                self.abandon_open(ksid).await;
                self.drain_in_background();
                Err(no_connection(format!("unexpected peer reply {other:?}")))
            }
            Err(e) => {
                self.abandon_open(ksid).await;
                self.drain_in_background();
                Err(no_connection(e.to_string()))
            }
        }
    }

    /// The application at this end opens a stream the peer already registered.
    async fn attach(&self, requested: &Qos, ksid: StreamId) -> Result<OpenConnect, ModuleError> {
        let granted = {
            let mut state = self.lock();
            let stream = state
                .streams
                .get_mut(&ksid)
                .ok_or_else(|| no_connection("stream vanished"))?;
            if stream.local_app {
                return Err(ModuleError::KsidInUse(ksid));
            }
            if requested.key_chunk_size != stream.qos.key_chunk_size
                || requested.metadata_mimetype != stream.qos.metadata_mimetype
            {
                return Err(ModuleError::QosNotMet {
                    counter_proposal: stream.qos.clone(),
                });
            }
            stream.local_app = true;
            stream.qos.clone()
        };
        match self.peer.send(PeerMessage::AppConnected { ksid }).await {
            Ok(PeerReply::Ack) => {}
            Ok(other) => {
                if let Some(s) = self.lock().streams.get_mut(&ksid) {
                    s.local_app = false;
                }
                return Err(no_connection(format!("peer refused: {other:?}")));
            }
            Err(e) => {
                if let Some(s) = self.lock().streams.get_mut(&ksid) {
                    s.local_app = false;
                }
                return Err(no_connection(e.to_string()));
            }
        }
        let peer_app = self.lock().streams.get(&ksid).is_some_and(|s| s.peer_app);
        Ok(OpenConnect {
            ksid,
            qos: granted,
            status: if peer_app {
                Status::Successful
            } else {
                Status::PeerNotConnected
            },
        })
    }

    fn metadata(&self, ksid: StreamId, index: u64, qos: &Qos) -> Vec<u8> {
        serde_json::json!({
            "ksid": ksid.to_string(),
            "index": index,
            "key_chunk_size": qos.key_chunk_size,
        })
        .to_string()
        .into_bytes()
    }
}

#[async_trait]
impl<D, S> PeerHandler for QkdModule<D, S>
where
    D: QuantumDevice + 'static,
    S: KeyStore + 'static,
{
    async fn handle_peer(&self, message: PeerMessage) -> PeerReply {
        let sh = &self.shared;
        match message {
            PeerMessage::Open {
                ksid,
                qos,
                slot_count,
                slots,
                position,
                ..
            } => {
                let registered = {
                    let mut state = sh.lock();
                    register_peer_stream(&mut state, sh, ksid, qos, slot_count, &slots, position)
                };
                let here = match registered {
                    Ok(here) => here,
                    Err(reply) => return reply,
                };
                if let Err(e) = sh.store.set_capacity(ksid, sh.config.buffer_chunks).await {
                    sh.abandon_open(ksid).await;
                    return PeerReply::Conflict(format!("key store: {e}"));
                }
                sh.claims.notify_waiters();
                PeerReply::Opened {
                    position: here,
                    app_connected: false,
                }
            }
            PeerMessage::AppConnected { ksid } => match sh.lock().streams.get_mut(&ksid) {
                Some(stream) => {
                    stream.peer_app = true;
                    PeerReply::Ack
                }
                None => PeerReply::UnknownStream,
            },
            PeerMessage::Close { ksid, position } => {
                let here = {
                    let mut state = sh.lock();
                    state.streams.remove(&ksid);
                    let here = state.position;
                    let answer = state.schedule.close_remote(ksid, position, here);
                    state.assign_ready();
                    answer.unwrap_or(here)
                };
                let _ = sh.store.delete_stream(ksid).await;
                sh.room.notify_waiters();
                sh.drain_in_background();
                PeerReply::Closed { position: here }
            }
        }
    }
}

#[async_trait]
impl<D, S> KeyModule for QkdModule<D, S>
where
    D: QuantumDevice + 'static,
    S: KeyStore + 'static,
{
    async fn open_connect(
        &self,
        source: &Endpoint,
        destination: &Endpoint,
        qos: &Qos,
        ksid: Option<StreamId>,
    ) -> Result<OpenConnect, ModuleError> {
        let sh = &self.shared;
        let ksid = ksid.unwrap_or_else(StreamId::new_random);
        let known = sh.lock().streams.contains_key(&ksid);
        if known {
            sh.attach(qos, ksid).await
        } else {
            sh.open_new(source, destination, qos, ksid).await
        }
    }

    async fn get_key(
        &self,
        ksid: StreamId,
        index: Option<u64>,
        metadata_capacity: usize,
    ) -> Result<KeyChunk, ModuleError> {
        let sh = &self.shared;
        let (qos, mut produced, cursor) = {
            let state = sh.lock();
            let stream = state
                .streams
                .get(&ksid)
                .filter(|s| s.local_app)
                .ok_or_else(|| no_connection(format!("unknown or closed key stream {ksid}")))?;
            if !stream.peer_app {
                return Err(ModuleError::PeerApplicationNotConnected);
            }
            (
                stream.qos.clone(),
                stream.produced.subscribe(),
                Arc::clone(&stream.cursor),
            )
        };
        let mut cursor_guard = match index {
            Some(_) => None,
            None => Some(cursor.lock().await),
        };
        let deadline = tokio::time::Instant::now() + Duration::from_millis(u64::from(qos.timeout));
        loop {
            let index = match (index, cursor_guard.as_deref()) {
                (Some(i), _) => i,
                (None, Some(c)) => *c,
                (None, None) => unreachable_cursor()?,
            };
            let metadata = sh.metadata(ksid, index, &qos);
            if metadata.len() > metadata_capacity {
                return Err(ModuleError::MetadataSizeInsufficient {
                    capacity: metadata_capacity,
                    required: metadata.len(),
                });
            }
            if *produced.borrow_and_update() <= index {
                if qos.timeout == 0 {
                    return Err(ModuleError::InsufficientKey);
                }
                match tokio::time::timeout_at(deadline, produced.wait_for(|p| *p > index)).await {
                    Err(_) => return Err(ModuleError::Timeout),
                    Ok(Err(_)) => {
                        return Err(no_connection(format!("key stream {ksid} closed")));
                    }
                    Ok(Ok(_)) => {}
                }
            }
            match sh.store.take(ksid, &[index], None).await {
                Ok(mut keys) => {
                    let key = keys.pop().ok_or(ModuleError::InsufficientKey)?;
                    if let Some(c) = cursor_guard.as_deref_mut() {
                        *c = index + 1;
                    }
                    sh.room.notify_waiters();
                    return Ok(KeyChunk {
                        index,
                        key,
                        metadata,
                    });
                }
                Err(StoreError::NotFound { .. }) => {
                    if !sh.lock().streams.contains_key(&ksid) {
                        return Err(no_connection(format!("key stream {ksid} closed")));
                    }
                    match cursor_guard.as_deref_mut() {
                        // Sequential read: this index was read explicitly; move on.
                        Some(c) => *c = index + 1,
                        // Explicit index already read at this end.
                        None => return Err(ModuleError::InsufficientKey),
                    }
                }
                Err(e) => return Err(no_connection(format!("key store: {e}"))),
            }
        }
    }

    async fn close(&self, ksid: StreamId) -> Result<(), ModuleError> {
        let sh = &self.shared;
        {
            let mut state = sh.lock();
            if !state.streams.get(&ksid).is_some_and(|s| s.local_app) {
                return Err(no_connection(format!(
                    "unknown or closed key stream {ksid}"
                )));
            }
            // Unregister now (GET_KEY fails with 4 from here on). The schedule keeps the stream
            // until the peer has agreed its last block, so its slots are never claimed twice and
            // both ends stop feeding it at the same block.
            state.streams.remove(&ksid);
        }
        let _ = sh.store.delete_stream(ksid).await;
        sh.room.notify_waiters();
        let local = {
            let mut state = sh.lock();
            let here = state.position;
            state.schedule.close_local(ksid, here).unwrap_or(here)
        };
        // An unreachable peer cannot be told; the stream ends here at this module's position, and
        // the peer frees its side when it learns (or when its own application closes).
        let peer_position = match sh
            .peer
            .send(PeerMessage::Close {
                ksid,
                position: local,
            })
            .await
        {
            Ok(PeerReply::Closed { position }) => Some(position),
            _ => None,
        };
        {
            let mut state = sh.lock();
            state.schedule.resolve_end(ksid, peer_position);
            state.assign_ready();
        }
        sh.drain_in_background();
        Ok(())
    }

    async fn available(&self, ksid: StreamId) -> Result<u64, ModuleError> {
        let sh = &self.shared;
        if !sh.lock().streams.get(&ksid).is_some_and(|s| s.local_app) {
            return Err(no_connection(format!(
                "unknown or closed key stream {ksid}"
            )));
        }
        sh.store
            .counts(ksid)
            .await
            .map(|c| c.available)
            .map_err(|e| no_connection(format!("key store: {e}")))
    }
}

/// Registers a stream opened at the peer; returns this end's position (or the conflict reply).
fn register_peer_stream<D, S>(
    state: &mut State,
    sh: &Shared<D, S>,
    ksid: StreamId,
    qos: Qos,
    slot_count: u32,
    slots: &[u32],
    position: u64,
) -> Result<u64, PeerReply>
where
    D: QuantumDevice + 'static,
    S: KeyStore + 'static,
{
    if slot_count != state.schedule.slot_count() {
        return Err(PeerReply::Conflict(format!(
            "schedule has {} slots here, {slot_count} at the peer",
            state.schedule.slot_count()
        )));
    }
    if state.streams.contains_key(&ksid) || state.schedule.contains(ksid) {
        return Err(PeerReply::Conflict("KSID in use".into()));
    }
    if qos.key_chunk_size == 0 {
        return Err(PeerReply::Conflict("chunk size 0".into()));
    }
    let here = state.position;
    // The sender has fetched nothing at or beyond `position`, this end nothing at or beyond
    // `here`: from the larger one on, both assign blocks to the stream.
    state
        .schedule
        .claim(
            ksid,
            claim_of(&qos, slots.to_vec()),
            here,
            Some(here.max(position)),
        )
        .map_err(PeerReply::Conflict)?;
    let mut stream = sh.new_stream(qos);
    stream.peer_app = true;
    state.streams.insert(ksid, stream);
    Ok(here)
}

/// What the schedule needs to know of a stream granted `qos` with `slots`.
fn claim_of(qos: &Qos, slots: Vec<u32>) -> Claim {
    Claim {
        slots,
        elastic: qos.max_bps == 0,
        priority: qos.priority,
    }
}

fn unreachable_cursor() -> Result<u64, ModuleError> {
    Err(no_connection("internal: sequential read without cursor"))
}

pub use self::peer::PeerError;
