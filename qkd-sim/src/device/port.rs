//! Quantum ports: how quantum frames travel from Alice towards Bob.
//!
//! In one process a port is a bounded tokio queue of frame values (no serialisation). Between
//! processes a port serialises each frame with `postcard` into one frame of a byte
//! [`ClassicalChannel`] (in practice a TCP channel: length-prefixed frames with a maximum size),
//! so a frame that does not decode closes the link with an error instead of a panic. A
//! [`Transform`] applies the quantum channel model and the eavesdropper to every frame that passes;
//! it runs inside Alice's port when the link has no middle process, or in the middle process.

use async_trait::async_trait;
use qkd_core::{ChannelError, ClassicalChannel};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

/// Frames buffered by an in-process port before the sender waits.
pub const MEMORY_PORT_CAPACITY: usize = 16;

/// One direction of a quantum link carrying frames of type `F`.
#[async_trait]
pub trait QuantumPort<F: Send + 'static>: Send {
    /// Sends one frame (Alice's side, or the middle process towards Bob).
    async fn send_frame(&mut self, frame: F) -> Result<(), ChannelError>;

    /// Receives the next frame (Bob's side, or the middle process from Alice).
    async fn recv_frame(&mut self) -> Result<F, ChannelError>;
}

#[async_trait]
impl<F: Send + 'static, P: QuantumPort<F> + ?Sized> QuantumPort<F> for Box<P> {
    async fn send_frame(&mut self, frame: F) -> Result<(), ChannelError> {
        (**self).send_frame(frame).await
    }
    async fn recv_frame(&mut self) -> Result<F, ChannelError> {
        (**self).recv_frame().await
    }
}

/// An in-process port: a bounded queue of frame values.
#[derive(Debug)]
pub struct MemoryPort<F> {
    tx: Option<mpsc::Sender<F>>,
    rx: Option<mpsc::Receiver<F>>,
}

impl<F: Send + 'static> MemoryPort<F> {
    /// The sending and the receiving end of one queue holding up to `capacity` frames (at least 1).
    pub fn pair(capacity: usize) -> (MemoryPort<F>, MemoryPort<F>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (
            MemoryPort {
                tx: Some(tx),
                rx: None,
            },
            MemoryPort {
                tx: None,
                rx: Some(rx),
            },
        )
    }
}

#[async_trait]
impl<F: Send + 'static> QuantumPort<F> for MemoryPort<F> {
    async fn send_frame(&mut self, frame: F) -> Result<(), ChannelError> {
        match &self.tx {
            Some(tx) => tx.send(frame).await.map_err(|_| ChannelError::Closed),
            None => Err(ChannelError::Io(
                "this end of the quantum port only receives".into(),
            )),
        }
    }

    async fn recv_frame(&mut self) -> Result<F, ChannelError> {
        match &mut self.rx {
            Some(rx) => rx.recv().await.ok_or(ChannelError::Closed),
            None => Err(ChannelError::Io(
                "this end of the quantum port only sends".into(),
            )),
        }
    }
}

/// A port over a byte channel: each frame is one `postcard` message.
#[derive(Debug)]
pub struct WirePort<C> {
    channel: C,
}

impl<C: ClassicalChannel> WirePort<C> {
    /// Carries frames over `channel` (for example a TCP channel to the middle process or to Bob).
    pub fn new(channel: C) -> Self {
        Self { channel }
    }

    /// The underlying channel.
    pub fn into_inner(self) -> C {
        self.channel
    }
}

#[async_trait]
impl<F, C> QuantumPort<F> for WirePort<C>
where
    F: Serialize + DeserializeOwned + Send + Sync + 'static,
    C: ClassicalChannel,
{
    async fn send_frame(&mut self, frame: F) -> Result<(), ChannelError> {
        let bytes = postcard::to_stdvec(&frame)
            .map_err(|e| ChannelError::Malformed(format!("cannot encode quantum frame: {e}")))?;
        self.channel.send(bytes).await
    }

    async fn recv_frame(&mut self) -> Result<F, ChannelError> {
        let bytes = self.channel.recv().await?;
        postcard::from_bytes(&bytes)
            .map_err(|e| ChannelError::Malformed(format!("bad quantum frame: {e}")))
    }
}

/// Something that acts on every frame in flight: the quantum channel model and the eavesdropper.
pub trait Transform<F>: Send {
    /// Transforms one frame. An error means the channel model cannot be applied (a frame that
    /// does not fit the configuration); the link treats it as a fault.
    fn apply(&mut self, frame: F) -> Result<F, String>;
}

impl<F, T: FnMut(F) -> Result<F, String> + Send> Transform<F> for T {
    fn apply(&mut self, frame: F) -> Result<F, String> {
        self(frame)
    }
}

/// A sending port that transforms every frame before passing it on.
pub struct TransformingPort<P, T> {
    inner: P,
    transform: T,
}

impl<P, T> TransformingPort<P, T> {
    /// Applies `transform` to every frame sent through `inner`.
    pub fn new(inner: P, transform: T) -> Self {
        Self { inner, transform }
    }
}

#[async_trait]
impl<F, P, T> QuantumPort<F> for TransformingPort<P, T>
where
    F: Send + 'static,
    P: QuantumPort<F>,
    T: Transform<F>,
{
    async fn send_frame(&mut self, frame: F) -> Result<(), ChannelError> {
        let frame = self
            .transform
            .apply(frame)
            .map_err(ChannelError::Malformed)?;
        self.inner.send_frame(frame).await
    }

    async fn recv_frame(&mut self) -> Result<F, ChannelError> {
        self.inner.recv_frame().await
    }
}

/// Forwards frames from `upstream` to `downstream` through `transform` until either side closes.
/// Returns the number of frames relayed and how the relay ended (`Closed` when Alice hung up).
/// This is the whole job of the middle process of a distributed link.
pub async fn relay<F, U, D, T>(
    upstream: &mut U,
    downstream: &mut D,
    transform: &mut T,
) -> (u64, ChannelError)
where
    F: Send + 'static,
    U: QuantumPort<F> + ?Sized,
    D: QuantumPort<F> + ?Sized,
    T: Transform<F> + ?Sized,
{
    let mut relayed = 0;
    loop {
        let frame = match upstream.recv_frame().await {
            Ok(frame) => frame,
            Err(e) => return (relayed, e),
        };
        let frame = match transform.apply(frame) {
            Ok(frame) => frame,
            Err(reason) => return (relayed, ChannelError::Malformed(reason)),
        };
        if let Err(e) = downstream.send_frame(frame).await {
            return (relayed, e);
        }
        relayed += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qkd_core::MemoryChannel;

    #[tokio::test]
    async fn memory_port_is_one_way_and_reports_closure() {
        let (mut tx, mut rx) = MemoryPort::<u32>::pair(2);
        tx.send_frame(5).await.unwrap();
        assert_eq!(rx.recv_frame().await.unwrap(), 5);
        assert!(tx.recv_frame().await.is_err());
        assert!(rx.send_frame(1).await.is_err());
        drop(tx);
        assert_eq!(rx.recv_frame().await, Err(ChannelError::Closed));
    }

    #[tokio::test]
    async fn wire_port_round_trips_and_rejects_garbage() {
        let (a, mut b) = MemoryChannel::pair();
        let mut tx = WirePort::new(a);
        QuantumPort::<Vec<u64>>::send_frame(&mut tx, vec![1, u64::MAX, 3])
            .await
            .unwrap();
        let mut rx = WirePort::new(b);
        let got: Vec<u64> = rx.recv_frame().await.unwrap();
        assert_eq!(got, vec![1, u64::MAX, 3]);
        b = rx.into_inner();
        let mut a = tx.into_inner();
        a.send(vec![0xff; 3]).await.unwrap();
        let mut rx = WirePort::new(b);
        let bad: Result<Vec<u64>, _> = rx.recv_frame().await;
        assert!(matches!(bad, Err(ChannelError::Malformed(_))));
    }

    #[tokio::test]
    async fn relay_transforms_every_frame_and_stops_when_alice_leaves() {
        let (mut alice, mut up) = MemoryPort::<u32>::pair(4);
        let (mut down, mut bob) = MemoryPort::<u32>::pair(4);
        for x in 0..3 {
            alice.send_frame(x).await.unwrap();
        }
        drop(alice);
        let mut double = |x: u32| Ok(x * 2);
        let (n, end) = relay(&mut up, &mut down, &mut double).await;
        assert_eq!((n, end), (3, ChannelError::Closed));
        for x in 0..3 {
            assert_eq!(bob.recv_frame().await.unwrap(), x * 2);
        }
        let (mut alice, mut up) = MemoryPort::<u32>::pair(4);
        alice.send_frame(1).await.unwrap();
        let mut failing = |_: u32| Err("no".to_string());
        let (n, end) = relay(&mut up, &mut down, &mut failing).await;
        assert_eq!((n, end), (0, ChannelError::Malformed("no".into())));
        let mut port = TransformingPort::new(MemoryPort::<u32>::pair(1).0, |x: u32| Ok(x + 1));
        assert!(port.recv_frame().await.is_err());
    }
}
