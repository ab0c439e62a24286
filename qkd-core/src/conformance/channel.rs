//! Conformance suite for [`ClassicalChannel`].
//!
//! Every function takes a fresh connected pair of ends `(a, b)` and panics with a message naming
//! the broken rule of the trait's contract. [`run_channel_suite`] runs them all, calling the factory once per
//! check. Sends and receives that may wait on the peer are driven concurrently, so implementations
//! with little buffering (even a capacity of one frame) pass. Every receive is bounded by a
//! generous timeout so that a broken implementation fails instead of hanging.
//!
//! The suite allocates frames of the channel's [`max_frame_len`](ClassicalChannel::max_frame_len);
//! it refuses channels whose limit is above 64 MiB (build them with a smaller limit for the suite).
//!
//! ```
//! # use qkd_core::MemoryChannel;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! qkd_core::conformance::channel::run_channel_suite(|| async { MemoryChannel::pair_with(4, 1 << 16) }).await;
//! # }
//! ```

use std::future::Future;
use std::time::Duration;

use crate::channel::ClassicalChannel;
use crate::error::ChannelError;

/// Longest wait for a single send or receive before the suite declares the channel hung.
const TIMEOUT: Duration = Duration::from_secs(30);
/// Largest `max_frame_len` the suite agrees to exercise.
const SUITE_MAX_FRAME: usize = 64 << 20;

async fn recv_within<C: ClassicalChannel + ?Sized>(
    ch: &mut C,
    check: &str,
) -> Result<Vec<u8>, ChannelError> {
    match tokio::time::timeout(TIMEOUT, ch.recv()).await {
        Ok(result) => result,
        Err(_) => panic!("ClassicalChannel conformance [{check}]: recv hung for {TIMEOUT:?}"),
    }
}

async fn send_within<C: ClassicalChannel + ?Sized>(
    ch: &mut C,
    frame: Vec<u8>,
    check: &str,
) -> Result<(), ChannelError> {
    match tokio::time::timeout(TIMEOUT, ch.send(frame)).await {
        Ok(result) => result,
        Err(_) => panic!("ClassicalChannel conformance [{check}]: send hung for {TIMEOUT:?}"),
    }
}

async fn send_ok<C: ClassicalChannel + ?Sized>(ch: &mut C, frame: Vec<u8>, check: &str) {
    let len = frame.len();
    if let Err(err) = send_within(ch, frame, check).await {
        panic!("ClassicalChannel conformance [{check}]: send of a {len}-byte frame failed: {err}");
    }
}

async fn recv_ok<C: ClassicalChannel + ?Sized>(ch: &mut C, check: &str) -> Vec<u8> {
    match recv_within(ch, check).await {
        Ok(frame) => frame,
        Err(err) => panic!("ClassicalChannel conformance [{check}]: recv failed: {err}"),
    }
}

/// Deterministic, position- and frame-dependent content, so that swapped, shifted or truncated
/// frames are noticed.
pub(crate) fn pattern(seed: usize, len: usize) -> Vec<u8> {
    (0..len)
        .map(|j| (seed.wrapping_mul(131) ^ j.wrapping_mul(7) ^ (j >> 8)) as u8)
        .collect()
}

fn assert_frame(check: &str, index: usize, got: &[u8], want: &[u8]) {
    if got != want {
        let first_diff = got.iter().zip(want).position(|(x, y)| x != y);
        panic!(
            "ClassicalChannel conformance [{check}]: frame {index} differs: got {} bytes, sent {} \
             bytes, first differing byte at {first_diff:?}",
            got.len(),
            want.len()
        );
    }
}

fn check_limit<C: ClassicalChannel>(ch: &C, check: &str) -> usize {
    let max = ch.max_frame_len();
    assert!(
        max <= SUITE_MAX_FRAME,
        "ClassicalChannel conformance [{check}]: max_frame_len {max} is above the suite's limit of \
         {SUITE_MAX_FRAME} bytes; build the channel under test with a smaller limit"
    );
    max
}

/// Frames of varied lengths sent one way arrive whole, unchanged and in order.
pub async fn ordered_delivery<C: ClassicalChannel>((mut a, mut b): (C, C)) {
    const CHECK: &str = "ordered_delivery";
    let max = check_limit(&a, CHECK);
    let frames: Vec<Vec<u8>> = (0..64)
        .map(|i| pattern(i, (i * 37) % (max.min(4096) + 1)))
        .collect();
    let sender = async {
        for frame in &frames {
            send_ok(&mut a, frame.clone(), CHECK).await;
        }
    };
    let receiver = async {
        for (i, want) in frames.iter().enumerate() {
            let got = recv_ok(&mut b, CHECK).await;
            assert_frame(CHECK, i, &got, want);
        }
    };
    tokio::join!(sender, receiver);
}

/// Both ends send and receive: strict ping-pong, then both ends sending and receiving at once.
pub async fn both_directions<C: ClassicalChannel>((mut a, mut b): (C, C)) {
    const CHECK: &str = "both_directions";
    let max = check_limit(&a, CHECK);
    let len = |n: usize| n.min(max);
    for i in 0..16 {
        send_ok(&mut a, pattern(i, len(10 + i)), CHECK).await;
        let got = recv_ok(&mut b, CHECK).await;
        assert_frame(CHECK, i, &got, &pattern(i, len(10 + i)));
        send_ok(&mut b, pattern(1000 + i, len(20 + i)), CHECK).await;
        let got = recv_ok(&mut a, CHECK).await;
        assert_frame(CHECK, i, &got, &pattern(1000 + i, len(20 + i)));
    }
    // Full duplex: each end alternates send and receive without waiting for the other.
    let end_a = async {
        for i in 0..32 {
            send_ok(&mut a, pattern(2000 + i, len(64)), CHECK).await;
            let got = recv_ok(&mut a, CHECK).await;
            assert_frame(CHECK, i, &got, &pattern(3000 + i, len(48)));
        }
    };
    let end_b = async {
        for i in 0..32 {
            send_ok(&mut b, pattern(3000 + i, len(48)), CHECK).await;
            let got = recv_ok(&mut b, CHECK).await;
            assert_frame(CHECK, i, &got, &pattern(2000 + i, len(64)));
        }
    };
    tokio::join!(end_a, end_b);
}

/// An empty frame is a frame: it is delivered as an empty frame, in its place.
pub async fn empty_frame<C: ClassicalChannel>((mut a, mut b): (C, C)) {
    const CHECK: &str = "empty_frame";
    check_limit(&a, CHECK);
    let frames = [vec![], pattern(1, 3.min(a.max_frame_len())), vec![], vec![]];
    let sender = async {
        for frame in &frames {
            send_ok(&mut a, frame.clone(), CHECK).await;
        }
    };
    let receiver = async {
        for (i, want) in frames.iter().enumerate() {
            let got = recv_ok(&mut b, CHECK).await;
            assert_frame(CHECK, i, &got, want);
        }
    };
    tokio::join!(sender, receiver);
}

/// A frame of exactly `max_frame_len` bytes is carried, in both directions.
pub async fn max_size_frame<C: ClassicalChannel>((mut a, mut b): (C, C)) {
    const CHECK: &str = "max_size_frame";
    let max = check_limit(&a, CHECK);
    assert_eq!(
        max,
        b.max_frame_len(),
        "ClassicalChannel conformance [{CHECK}]: the two ends report different max_frame_len"
    );
    let big = pattern(7, max);
    let (_, got) = tokio::join!(send_ok(&mut a, big.clone(), CHECK), recv_ok(&mut b, CHECK));
    assert_frame(CHECK, 0, &got, &big);
    let (_, got) = tokio::join!(send_ok(&mut b, big.clone(), CHECK), recv_ok(&mut a, CHECK));
    assert_frame(CHECK, 1, &got, &big);
    // The channel still works afterwards.
    let small = pattern(8, 5.min(max));
    let (_, got) = tokio::join!(
        send_ok(&mut a, small.clone(), CHECK),
        recv_ok(&mut b, CHECK)
    );
    assert_frame(CHECK, 2, &got, &small);
}

/// A frame one byte over the limit is refused with `FrameTooLarge` and nothing reaches the peer;
/// the channel stays usable.
pub async fn oversize_refused<C: ClassicalChannel>((mut a, mut b): (C, C)) {
    const CHECK: &str = "oversize_refused";
    let max = check_limit(&a, CHECK);
    match send_within(&mut a, vec![0xA5; max + 1], CHECK).await {
        Err(ChannelError::FrameTooLarge { len, max: reported }) => {
            assert_eq!(
                (len, reported),
                (max + 1, max),
                "ClassicalChannel conformance [{CHECK}]: FrameTooLarge reports wrong sizes"
            );
        }
        other => panic!(
            "ClassicalChannel conformance [{CHECK}]: sending {} bytes over a {max}-byte limit \
             returned {other:?}, expected FrameTooLarge",
            max + 1
        ),
    }
    // If anything of the refused frame had been sent, the next frame received would not be this one.
    let marker = pattern(9, 17.min(max));
    let (_, got) = tokio::join!(
        send_ok(&mut a, marker.clone(), CHECK),
        recv_ok(&mut b, CHECK)
    );
    assert_frame(CHECK, 0, &got, &marker);
}

/// When one end is dropped, the other receives every frame sent before the drop, then `Closed`
/// (and `Closed` again on later calls).
pub async fn closed_after_peer_drop<C: ClassicalChannel>((a, mut b): (C, C)) {
    const CHECK: &str = "closed_after_peer_drop";
    let max = check_limit(&a, CHECK);
    let len = move |i: usize| (100 * i + 1).min(max);
    let frames: Vec<Vec<u8>> = (0..3).map(|i| pattern(40 + i, len(i))).collect();
    let sender = async move {
        let mut a = a;
        for frame in &frames {
            send_ok(&mut a, frame.clone(), CHECK).await;
        }
        drop(a);
    };
    let receiver = async {
        for i in 0..3 {
            let got = recv_ok(&mut b, CHECK).await;
            assert_frame(CHECK, i, &got, &pattern(40 + i, len(i)));
        }
        for attempt in 0..2 {
            match recv_within(&mut b, CHECK).await {
                Err(ChannelError::Closed) => {}
                other => panic!(
                    "ClassicalChannel conformance [{CHECK}]: recv #{attempt} after the peer was \
                     dropped returned {other:?}, expected Closed"
                ),
            }
        }
    };
    tokio::join!(sender, receiver);
}

/// Many small frames sent back to back without waiting are all delivered in order, each way.
pub async fn pipelined<C: ClassicalChannel>((mut a, mut b): (C, C)) {
    const CHECK: &str = "pipelined";
    let max = check_limit(&a, CHECK);
    const COUNT: usize = 2000;
    let len = |i: usize| (i % 97).min(max);
    for round in 0..2 {
        let (tx, rx) = if round == 0 {
            (&mut a, &mut b)
        } else {
            (&mut b, &mut a)
        };
        let sender = async {
            for i in 0..COUNT {
                send_ok(tx, pattern(round * COUNT + i, len(i)), CHECK).await;
            }
        };
        let receiver = async {
            for i in 0..COUNT {
                let got = recv_ok(rx, CHECK).await;
                assert_frame(CHECK, i, &got, &pattern(round * COUNT + i, len(i)));
            }
        };
        tokio::join!(sender, receiver);
    }
}

/// Runs every check, each on a fresh pair from `factory`.
pub async fn run_channel_suite<C, F, Fut>(mut factory: F)
where
    C: ClassicalChannel,
    F: FnMut() -> Fut,
    Fut: Future<Output = (C, C)>,
{
    ordered_delivery(factory().await).await;
    both_directions(factory().await).await;
    empty_frame(factory().await).await;
    max_size_frame(factory().await).await;
    oversize_refused(factory().await).await;
    closed_after_peer_drop(factory().await).await;
    pipelined(factory().await).await;
}
