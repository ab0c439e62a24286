//! `TcpChannel` behaviour the generic suite cannot reach: the wire format and hostile peers that
//! speak raw TCP. Loopback (127.0.0.1) only.

use std::time::Duration;

use qkd_core::ChannelError;
use qkd_core::channel::{ClassicalChannel, TcpChannel};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const WAIT: Duration = Duration::from_secs(10);

/// A `TcpChannel` (server side, limit `max`) and a raw client socket connected to it.
async fn channel_and_raw(max: usize) -> (TcpChannel, TcpStream) {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (raw, channel) = tokio::join!(TcpStream::connect(addr), TcpChannel::accept(&listener, max));
    (channel.unwrap(), raw.unwrap())
}

async fn recv(ch: &mut TcpChannel) -> Result<Vec<u8>, ChannelError> {
    tokio::time::timeout(WAIT, ch.recv())
        .await
        .expect("recv must not hang")
}

/// The raw peer sees end of stream (the channel shut its write half or went away).
async fn assert_raw_sees_eof(raw: &mut TcpStream) {
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(WAIT, raw.read(&mut buf))
        .await
        .expect("the peer must see the channel close")
        .unwrap_or(0);
    assert_eq!(n, 0, "no data expected, only end of stream");
}

#[tokio::test]
async fn wire_format_is_u32_big_endian_length_then_bytes() {
    let (mut ch, mut raw) = channel_and_raw(1024).await;
    ch.send(b"abc".to_vec()).await.unwrap();
    ch.send(Vec::new()).await.unwrap();
    let mut buf = [0u8; 11];
    raw.read_exact(&mut buf).await.unwrap();
    assert_eq!(buf, [0, 0, 0, 3, b'a', b'b', b'c', 0, 0, 0, 0]);

    raw.write_all(&[0, 0, 1, 2]).await.unwrap();
    raw.write_all(&[7u8; 258]).await.unwrap();
    assert_eq!(recv(&mut ch).await.unwrap(), vec![7u8; 258]);
}

#[tokio::test]
async fn oversized_length_prefix_closes_the_channel() {
    let (mut ch, mut raw) = channel_and_raw(64).await;
    raw.write_all(&[0, 0, 0, 65]).await.unwrap();
    raw.write_all(&[0u8; 65]).await.unwrap();
    assert_eq!(
        recv(&mut ch).await,
        Err(ChannelError::FrameTooLarge { len: 65, max: 64 })
    );
    assert_eq!(recv(&mut ch).await, Err(ChannelError::Closed));
    assert_eq!(ch.send(b"x".to_vec()).await, Err(ChannelError::Closed));
    assert_raw_sees_eof(&mut raw).await;
}

#[tokio::test]
async fn huge_length_prefix_is_refused_without_waiting_for_its_payload() {
    // 4 GiB announced, nothing sent after it: the channel must answer at once rather than wait
    // (or reserve memory) for a frame it will never accept.
    let (mut ch, _raw_kept_open) = {
        let (ch, mut raw) = channel_and_raw(1 << 20).await;
        raw.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
        (ch, raw)
    };
    assert_eq!(
        recv(&mut ch).await,
        Err(ChannelError::FrameTooLarge {
            len: u32::MAX as usize,
            max: 1 << 20
        })
    );
}

#[tokio::test]
async fn frames_before_a_bad_prefix_are_delivered_first() {
    let (mut ch, mut raw) = channel_and_raw(16).await;
    raw.write_all(&[0, 0, 0, 2, 9, 9, 0, 0, 0, 17])
        .await
        .unwrap();
    assert_eq!(recv(&mut ch).await.unwrap(), vec![9, 9]);
    assert!(matches!(
        recv(&mut ch).await,
        Err(ChannelError::FrameTooLarge { len: 17, max: 16 })
    ));
}

#[tokio::test]
async fn connection_ending_inside_a_frame_is_malformed() {
    let (mut ch, mut raw) = channel_and_raw(1024).await;
    raw.write_all(&[0, 0, 0, 10, 1, 2, 3]).await.unwrap();
    raw.shutdown().await.unwrap();
    match recv(&mut ch).await {
        Err(ChannelError::Malformed(msg)) => assert!(msg.contains("inside a frame"), "{msg}"),
        other => panic!("expected Malformed, got {other:?}"),
    }
    assert_eq!(recv(&mut ch).await, Err(ChannelError::Closed));
}

#[tokio::test]
async fn connection_ending_inside_a_length_prefix_is_malformed() {
    let (mut ch, mut raw) = channel_and_raw(1024).await;
    raw.write_all(&[0, 0]).await.unwrap();
    drop(raw);
    assert!(matches!(
        recv(&mut ch).await,
        Err(ChannelError::Malformed(_))
    ));
}

#[tokio::test]
async fn clean_end_of_stream_is_closed() {
    let (mut ch, mut raw) = channel_and_raw(1024).await;
    raw.write_all(&[0, 0, 0, 1, 42]).await.unwrap();
    drop(raw);
    assert_eq!(recv(&mut ch).await.unwrap(), vec![42]);
    assert_eq!(recv(&mut ch).await, Err(ChannelError::Closed));
    assert_eq!(recv(&mut ch).await, Err(ChannelError::Closed));
}

#[tokio::test]
async fn frames_dribbled_byte_by_byte_are_reassembled() {
    let (mut ch, mut raw) = channel_and_raw(1024).await;
    let mut wire = Vec::new();
    for len in [0usize, 1, 5, 300] {
        wire.extend_from_slice(&(len as u32).to_be_bytes());
        wire.extend((0..len).map(|i| i as u8));
    }
    let writer = async {
        for byte in &wire {
            raw.write_all(&[*byte]).await.unwrap();
            raw.flush().await.unwrap();
        }
    };
    let reader = async {
        let mut got = Vec::new();
        for _ in 0..4 {
            got.push(recv(&mut ch).await.unwrap());
        }
        got
    };
    let ((), got) = tokio::join!(writer, reader);
    let want: Vec<Vec<u8>> = [0usize, 1, 5, 300]
        .iter()
        .map(|&len| (0..len).map(|i| i as u8).collect())
        .collect();
    assert_eq!(got, want);
}

#[tokio::test]
async fn recv_is_cancellation_safe() {
    let (mut ch, mut raw) = channel_and_raw(1024).await;
    raw.write_all(&[0, 0, 0, 6, 1, 2, 3]).await.unwrap();
    // The first half arrives, then the receive is abandoned.
    let cancelled = tokio::time::timeout(Duration::from_millis(100), ch.recv()).await;
    assert!(
        cancelled.is_err(),
        "the frame is incomplete; recv must still be waiting"
    );
    raw.write_all(&[4, 5, 6]).await.unwrap();
    assert_eq!(recv(&mut ch).await.unwrap(), vec![1, 2, 3, 4, 5, 6]);
}

#[tokio::test]
async fn connect_and_accept_helpers_report_addresses() {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (client, server) = tokio::join!(
        TcpChannel::connect(addr, 100),
        TcpChannel::accept(&listener, 100)
    );
    let (mut client, mut server) = (client.unwrap(), server.unwrap());
    assert_eq!(client.peer_addr(), addr);
    assert_eq!(server.peer_addr(), client.local_addr());
    assert_eq!(client.max_frame_len(), 100);
    client.send(b"ping".to_vec()).await.unwrap();
    assert_eq!(recv(&mut server).await.unwrap(), b"ping");
    assert!(format!("{client:?}").contains("TcpChannel"));
}

#[tokio::test]
async fn connect_to_a_closed_port_is_an_error_not_a_panic() {
    // Bind then drop a listener so that the port is (almost certainly) closed.
    let addr = {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        listener.local_addr().unwrap()
    };
    let result = TcpChannel::connect(addr, 100).await;
    assert!(result.is_err());
}

#[tokio::test]
async fn max_frame_len_is_capped_at_what_the_prefix_can_express() {
    let (ch, _raw) = channel_and_raw(usize::MAX).await;
    assert_eq!(ch.max_frame_len(), u32::MAX as usize);
}
