//! [`SimulatedDevice`]: one end of a simulated link, implementing [`QuantumDevice`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use async_trait::async_trait;
use qkd_core::{DeviceError, DeviceInfo, DeviceState, DeviceStatus, KeyBlock, QuantumDevice};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;

use super::worker::{QueueItem, Worker, WorkerCounters};

/// Counters of a [`SimulatedDevice`] beyond [`DeviceStatus`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkCounters {
    /// Blocks the background task has finished (delivered or abandoned), including those still
    /// waiting in the buffer.
    pub blocks_attempted: u64,
    /// Final key bits diverted to replenish the classical channel's authentication backend.
    pub auth_bits_diverted: u64,
    /// Final key bits dropped so that every delivered key is a whole number of bytes.
    pub bits_truncated: u64,
    /// Classical frames this end's authentication backend has sealed (tagged or signed) so far,
    /// as of the last finished block.
    pub frames_sealed: u64,
}

#[derive(Debug)]
struct StatusInner {
    state: DeviceState,
    last_qber: Option<f64>,
    blocks_delivered: u64,
    blocks_aborted: u64,
    key_bits_delivered: u64,
    /// The fault that ended the link, repeated by every later call.
    fault: Option<DeviceError>,
}

/// One end (Alice or Bob) of a simulated QKD link.
///
/// Built by [`SimulatedLink`](super::SimulatedLink) (both ends in one process) or by the
/// distributed builders (one end per process). A background task produces blocks continuously into
/// a bounded buffer; [`next_block`](QuantumDevice::next_block) takes the next one. Counters in
/// [`status`](QuantumDevice::status) count what has been handed out by `next_block`.
///
/// Dropping the device (or calling [`shutdown`](Self::shutdown)) stops its task and closes its
/// channels, so the peer's next call fails with [`DeviceError::PeerUnreachable`].
pub struct SimulatedDevice {
    info: DeviceInfo,
    started: Instant,
    queue: tokio::sync::Mutex<mpsc::Receiver<QueueItem>>,
    status: Mutex<StatusInner>,
    counters: Arc<WorkerCounters>,
    stopped: AtomicBool,
    task: Mutex<Option<JoinHandle<()>>>,
    /// On-demand mode (`buffer_blocks == 0`): permits the worker takes, one per block.
    demand: Option<Arc<Semaphore>>,
}

impl SimulatedDevice {
    /// Starts `worker`'s task on the current Tokio runtime.
    pub(crate) fn start(
        info: DeviceInfo,
        buffer_blocks: usize,
        build: impl FnOnce(
            mpsc::Sender<QueueItem>,
            Arc<WorkerCounters>,
            Option<Arc<Semaphore>>,
        ) -> Worker,
    ) -> Result<Self, DeviceError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            DeviceError::InvalidConfig(
                "a simulated device must be started inside a Tokio runtime".into(),
            )
        })?;
        let (tx, rx) = mpsc::channel(buffer_blocks.max(1));
        let counters = Arc::new(WorkerCounters::default());
        let demand = (buffer_blocks == 0).then(|| Arc::new(Semaphore::new(0)));
        let worker = build(tx, Arc::clone(&counters), demand.clone());
        let task = runtime.spawn(worker.run());
        Ok(Self {
            info,
            started: Instant::now(),
            queue: tokio::sync::Mutex::new(rx),
            status: Mutex::new(StatusInner {
                state: DeviceState::Initializing,
                last_qber: None,
                blocks_delivered: 0,
                blocks_aborted: 0,
                key_bits_delivered: 0,
                fault: None,
            }),
            counters,
            stopped: AtomicBool::new(false),
            task: Mutex::new(Some(task)),
            demand,
        })
    }

    /// Stops the background task. Blocks still buffered are discarded (and zeroized); every later
    /// [`next_block`](QuantumDevice::next_block) returns [`DeviceError::Shutdown`].
    pub fn shutdown(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        if let Some(task) = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
        self.lock_status().state = DeviceState::Stopped;
    }

    /// Counters of the background task (diverted and truncated key bits, blocks attempted).
    pub fn counters(&self) -> LinkCounters {
        LinkCounters {
            blocks_attempted: self.counters.blocks_attempted.load(Ordering::Relaxed),
            auth_bits_diverted: self.counters.auth_bits_diverted.load(Ordering::Relaxed),
            bits_truncated: self.counters.bits_truncated.load(Ordering::Relaxed),
            frames_sealed: self.counters.frames_sealed.load(Ordering::Relaxed),
        }
    }

    fn lock_status(&self) -> std::sync::MutexGuard<'_, StatusInner> {
        self.status.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, item: &QueueItem) {
        let mut status = self.lock_status();
        match item {
            Ok(block) => {
                status.state = DeviceState::Running;
                status.last_qber = Some(block.stats.qber);
                status.blocks_delivered += 1;
                status.key_bits_delivered += block.stats.final_bits;
            }
            Err(DeviceError::QberAboveThreshold { qber, .. }) => {
                status.state = DeviceState::Degraded;
                status.last_qber = Some(*qber);
                status.blocks_aborted += 1;
            }
            Err(DeviceError::PostProcessing { .. }) => {
                status.state = DeviceState::Degraded;
                status.blocks_aborted += 1;
            }
            Err(fault) => {
                status.state = DeviceState::Failed;
                status.fault = Some(fault.clone());
            }
        }
    }
}

impl Drop for SimulatedDevice {
    fn drop(&mut self) {
        if let Some(task) = self
            .task
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
    }
}

impl std::fmt::Debug for SimulatedDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatedDevice")
            .field("info", &self.info)
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl QuantumDevice for SimulatedDevice {
    fn info(&self) -> DeviceInfo {
        self.info.clone()
    }

    async fn next_block(&self) -> Result<KeyBlock, DeviceError> {
        if self.stopped.load(Ordering::SeqCst) {
            return Err(DeviceError::Shutdown);
        }
        if let Some(fault) = self.lock_status().fault.clone() {
            return Err(fault);
        }
        let mut queue = self.queue.lock().await;
        if self.stopped.load(Ordering::SeqCst) {
            return Err(DeviceError::Shutdown);
        }
        // On demand: ask for one block, unless one is already waiting (left by a cancelled call).
        if let Some(demand) = &self.demand
            && queue.is_empty()
        {
            demand.add_permits(1);
        }
        let item = match queue.recv().await {
            Some(item) => item,
            // The task ended without queueing a fault: it was stopped.
            None => {
                let fault = self.lock_status().fault.clone();
                return Err(fault.unwrap_or(DeviceError::Shutdown));
            }
        };
        drop(queue);
        self.record(&item);
        item
    }

    fn status(&self) -> DeviceStatus {
        let status = self.lock_status();
        let uptime = self.started.elapsed();
        let secs = uptime.as_secs_f64();
        DeviceStatus {
            state: if self.stopped.load(Ordering::SeqCst) {
                DeviceState::Stopped
            } else {
                status.state
            },
            last_qber: status.last_qber,
            blocks_delivered: status.blocks_delivered,
            blocks_aborted: status.blocks_aborted,
            key_bits_delivered: status.key_bits_delivered,
            key_rate_bps: if secs > 0.0 {
                status.key_bits_delivered as f64 / secs
            } else {
                0.0
            },
            uptime,
        }
    }
}
