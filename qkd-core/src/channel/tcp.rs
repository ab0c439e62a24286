//! [`TcpChannel`]: framed messages over a TCP connection (tokio).
//!
//! # Wire format
//! Each frame is a 4-byte big-endian length `n` followed by `n` bytes of payload. Nothing else is
//! sent: no handshake, no padding. The channel is not authenticated or encrypted by itself; wrap it
//! in an [`AuthenticatedChannel`](crate::channel::AuthenticatedChannel).
//!
//! # Failure behaviour
//! * An incoming length prefix above [`max_frame_len`](ClassicalChannel::max_frame_len) is rejected
//!   before any of its payload is buffered ([`ChannelError::FrameTooLarge`]); a connection that ends
//!   in the middle of a frame yields [`ChannelError::Malformed`]. Either closes the channel: the write
//!   half is shut down (the peer sees end of stream) and later calls return [`ChannelError::Closed`].
//! * End of stream at a frame boundary is [`ChannelError::Closed`] after every complete frame has
//!   been returned.
//! * Memory is committed as bytes arrive (at most 64 KiB ahead of them), so a peer that announces a
//!   large frame and sends nothing cannot make this end allocate the whole frame.
//!
//! # Cancellation
//! `recv` is cancellation safe: bytes already read stay buffered for the next call. `send` is not:
//! if its future is dropped part-way, a partial frame may have been written and the stream is then
//! out of step; drop the channel in that case.

use std::fmt;
use std::net::SocketAddr;

use async_trait::async_trait;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};

use super::ClassicalChannel;
use crate::error::ChannelError;

/// Size of the length prefix in bytes.
const HEADER_LEN: usize = 4;
/// Largest amount of buffer reserved ahead of data actually received.
const READ_AHEAD: usize = 64 << 10;
/// Capacity of the write buffer (frames above it bypass the buffer).
const WRITE_BUFFER: usize = 64 << 10;

/// One end of a TCP connection carrying length-prefixed frames.
///
/// ```
/// # use qkd_core::channel::{ClassicalChannel, TcpChannel};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), qkd_core::ChannelError> {
/// let (mut alice, mut bob) = TcpChannel::loopback_pair(1 << 20).await?;
/// alice.send(b"sifting".to_vec()).await?;
/// assert_eq!(bob.recv().await?, b"sifting");
/// # Ok(())
/// # }
/// ```
pub struct TcpChannel {
    reader: OwnedReadHalf,
    writer: BufWriter<OwnedWriteHalf>,
    /// Bytes received but not yet returned (a partial header or frame at the front).
    rbuf: Vec<u8>,
    max_frame_len: usize,
    /// Set once the receive side failed or reached end of stream; every later call is `Closed`.
    closed: bool,
    local: SocketAddr,
    peer: SocketAddr,
}

impl fmt::Debug for TcpChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpChannel")
            .field("local", &self.local)
            .field("peer", &self.peer)
            .field("max_frame_len", &self.max_frame_len)
            .field("buffered", &self.rbuf.len())
            .field("closed", &self.closed)
            .finish()
    }
}

fn io_error(err: std::io::Error) -> ChannelError {
    use std::io::ErrorKind;
    match err.kind() {
        ErrorKind::BrokenPipe
        | ErrorKind::ConnectionReset
        | ErrorKind::ConnectionAborted
        | ErrorKind::UnexpectedEof
        | ErrorKind::NotConnected => ChannelError::Closed,
        _ => ChannelError::Io(err.to_string()),
    }
}

impl TcpChannel {
    /// Wraps a connected stream. `max_frame_len` is capped at `u32::MAX` (the largest length the
    /// prefix can express). Disables Nagle's algorithm: protocol messages are latency bound.
    pub fn new(stream: TcpStream, max_frame_len: usize) -> Result<Self, ChannelError> {
        stream.set_nodelay(true).map_err(io_error)?;
        let local = stream.local_addr().map_err(io_error)?;
        let peer = stream.peer_addr().map_err(io_error)?;
        let (reader, writer) = stream.into_split();
        Ok(Self {
            reader,
            writer: BufWriter::with_capacity(WRITE_BUFFER, writer),
            rbuf: Vec::new(),
            max_frame_len: max_frame_len.min(u32::MAX as usize),
            closed: false,
            local,
            peer,
        })
    }

    /// Connects to `addr`.
    pub async fn connect<A: ToSocketAddrs>(
        addr: A,
        max_frame_len: usize,
    ) -> Result<Self, ChannelError> {
        let stream = TcpStream::connect(addr).await.map_err(io_error)?;
        Self::new(stream, max_frame_len)
    }

    /// Accepts the next connection on `listener`.
    pub async fn accept(
        listener: &TcpListener,
        max_frame_len: usize,
    ) -> Result<Self, ChannelError> {
        let (stream, _) = listener.accept().await.map_err(io_error)?;
        Self::new(stream, max_frame_len)
    }

    /// Two connected ends over the loopback interface (127.0.0.1, an ephemeral port), for tests and
    /// single-process setups that want real sockets.
    pub async fn loopback_pair(max_frame_len: usize) -> Result<(Self, Self), ChannelError> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(io_error)?;
        let addr = listener.local_addr().map_err(io_error)?;
        // The kernel completes the handshake from the listen backlog, so connecting before
        // accepting does not deadlock.
        let client = Self::connect(addr, max_frame_len).await?;
        let server = Self::accept(&listener, max_frame_len).await?;
        Ok((client, server))
    }

    /// The local address of the connection.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// Marks the channel closed after a receive failure and shuts the write half down (best effort)
    /// so the peer sees end of stream. Returns `err` for convenience.
    async fn fail(&mut self, err: ChannelError) -> ChannelError {
        self.closed = true;
        self.rbuf = Vec::new();
        // The peer may already be gone; there is nothing more to report than `err`.
        let _ = self.writer.shutdown().await;
        err
    }

    /// A complete frame at the front of the buffer, if there is one; an error for an oversized
    /// length prefix.
    fn take_buffered_frame(&mut self) -> Result<Option<Vec<u8>>, ChannelError> {
        let Some(header) = self.rbuf.first_chunk::<HEADER_LEN>() else {
            return Ok(None);
        };
        let len = u32::from_be_bytes(*header) as usize;
        if len > self.max_frame_len {
            return Err(ChannelError::FrameTooLarge {
                len,
                max: self.max_frame_len,
            });
        }
        if self.rbuf.len() < HEADER_LEN + len {
            return Ok(None);
        }
        let rest = self.rbuf.split_off(HEADER_LEN + len);
        let mut frame = std::mem::replace(&mut self.rbuf, rest);
        frame.drain(..HEADER_LEN);
        Ok(Some(frame))
    }

    /// Bytes still missing before the frame at the front of the buffer is complete (or the header).
    fn missing(&self) -> usize {
        match self.rbuf.first_chunk::<HEADER_LEN>() {
            None => HEADER_LEN - self.rbuf.len(),
            Some(header) => HEADER_LEN + u32::from_be_bytes(*header) as usize - self.rbuf.len(),
        }
    }
}

#[async_trait]
impl ClassicalChannel for TcpChannel {
    async fn send(&mut self, frame: Vec<u8>) -> Result<(), ChannelError> {
        if self.closed {
            return Err(ChannelError::Closed);
        }
        if frame.len() > self.max_frame_len {
            return Err(ChannelError::FrameTooLarge {
                len: frame.len(),
                max: self.max_frame_len,
            });
        }
        // Cannot truncate: max_frame_len <= u32::MAX.
        let header = (frame.len() as u32).to_be_bytes();
        self.writer.write_all(&header).await.map_err(io_error)?;
        self.writer.write_all(&frame).await.map_err(io_error)?;
        self.writer.flush().await.map_err(io_error)
    }

    async fn recv(&mut self) -> Result<Vec<u8>, ChannelError> {
        if self.closed {
            return Err(ChannelError::Closed);
        }
        loop {
            match self.take_buffered_frame() {
                Ok(Some(frame)) => return Ok(frame),
                Ok(None) => {}
                Err(err) => return Err(self.fail(err).await),
            }
            self.rbuf.reserve(self.missing().min(READ_AHEAD));
            let read = self.reader.read_buf(&mut self.rbuf).await;
            match read {
                Ok(0) if self.rbuf.is_empty() => {
                    self.closed = true;
                    return Err(ChannelError::Closed);
                }
                Ok(0) => {
                    let err = ChannelError::Malformed(format!(
                        "connection ended inside a frame ({} bytes of it received, {} missing)",
                        self.rbuf.len(),
                        self.missing()
                    ));
                    return Err(self.fail(err).await);
                }
                Ok(_) => {}
                Err(err) => return Err(self.fail(io_error(err)).await),
            }
        }
    }

    fn max_frame_len(&self) -> usize {
        self.max_frame_len
    }
}
