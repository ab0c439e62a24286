//! Conformance suite for [`ChannelAuth`].
//!
//! Backends are sans-IO, so the checks are plain (synchronous) functions. Each takes a fresh
//! connected pair `(a, b)` of ends (frames sealed by one open at the other, in order, with no key
//! replenished yet) and panics with a message naming the broken rule of the trait's contract.
//! Backends that consume key must be provisioned for at least 50 frames per direction; only
//! [`replenish_keeps_in_step`] refills them.
//! [`run_auth_suite`] runs every check, each on a fresh pair from the factory. For a backend whose
//! [`is_authenticating`](ChannelAuth::is_authenticating) is false ([`NoAuth`](crate::auth::NoAuth))
//! only the checks that do not concern security run.
//!
//! What is checked, for authenticating backends:
//! * round trips in both directions, of payloads from 0 bytes to 4 KiB, and frames no longer than
//!   the payload plus [`frame_overhead`](ChannelAuth::frame_overhead);
//! * every single-bit flip of a frame is rejected with [`AuthError::BadTag`] (frames above 1 KiB,
//!   such as signature frames, get a sample whose size [`AuthSuiteOptions`] sets);
//! * every truncation, and an extension by one byte, is rejected;
//! * replayed, reordered, reflected (sent back to its sealer) and random frames are rejected;
//! * a rejected frame changes nothing: the genuine frame that follows is accepted, no key is
//!   consumed, and only the `rejected` counter moves;
//! * usage counters are exact, and `key_bits_consumed + key_bits_available` only changes by what
//!   is replenished;
//! * replenishing both ends identically whenever either asks for key keeps them in step for
//!   hundreds of messages. The suite replenishes in multiples of 32 bytes.
//!
//! ```
//! use qkd_core::auth::{AesGcmAuth, AesGcmPolicy};
//! use qkd_core::SecretKey;
//! qkd_core::conformance::auth::run_auth_suite(|| {
//!     let policy = AesGcmPolicy { max_messages_per_key: 5, ..AesGcmPolicy::default() };
//!     AesGcmAuth::pair(SecretKey::from_vec(vec![3; 32 * 16]), policy).unwrap()
//! });
//! ```

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use crate::auth::{AuthUsage, ChannelAuth};
use crate::error::AuthError;
use crate::key::SecretKey;

/// Frames up to this many bits get every bit flipped; longer ones a sample.
const EXHAUSTIVE_FLIP_BITS: usize = 8192;

/// How hard the costly checks work on frames too long to test exhaustively (above 1 KiB, such as
/// signature frames). The defaults suit backends whose `open` takes microseconds; a backend with
/// expensive verification (SLH-DSA) may lower them and say so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthSuiteOptions {
    /// Single-bit flips tried on a long frame: half on its first bits (sequence number, header,
    /// payload), a quarter on its last bits, a quarter at fixed-seed random positions.
    pub flip_budget: usize,
    /// Truncation points tried on a long frame: the shortest cuts, evenly spread ones and the
    /// longest cuts.
    pub cut_budget: usize,
}

impl Default for AuthSuiteOptions {
    /// 3072 flips and 512 cuts.
    fn default() -> Self {
        Self {
            flip_budget: 3072,
            cut_budget: 512,
        }
    }
}

fn fail(check: &str, what: std::fmt::Arguments<'_>) -> ! {
    panic!("ChannelAuth conformance [{check}]: {what}")
}

fn payload(seed: usize, len: usize) -> Vec<u8> {
    (0..len)
        .map(|j| (seed.wrapping_mul(151) ^ j.wrapping_mul(13) ^ (j >> 8)) as u8)
        .collect()
}

fn seal<A: ChannelAuth>(check: &str, end: &mut A, data: &[u8]) -> Vec<u8> {
    match end.seal(data) {
        Ok(frame) => {
            let bound = data.len() + end.frame_overhead();
            if frame.len() > bound {
                fail(
                    check,
                    format_args!(
                        "a {}-byte payload gave a {}-byte frame, more than payload + \
                         frame_overhead ({bound})",
                        data.len(),
                        frame.len()
                    ),
                );
            }
            frame
        }
        Err(err) => fail(
            check,
            format_args!("seal of a {}-byte payload failed: {err}", data.len()),
        ),
    }
}

fn open_ok<A: ChannelAuth>(check: &str, end: &mut A, frame: &[u8], want: &[u8]) {
    match end.open(frame) {
        Ok(got) if got == want => {}
        Ok(got) => fail(
            check,
            format_args!(
                "open returned a {}-byte payload, {} bytes were sealed (or the content differs)",
                got.len(),
                want.len()
            ),
        ),
        Err(err) => fail(
            check,
            format_args!("a genuine {}-byte frame was rejected: {err}", frame.len()),
        ),
    }
}

fn open_rejected<A: ChannelAuth>(check: &str, end: &mut A, frame: &[u8], what: &str) -> AuthError {
    match end.open(frame) {
        Err(err) => err,
        Ok(_) => fail(check, format_args!("{what} was accepted")),
    }
}

/// Usage without the `rejected` counter, to check that rejections change nothing else.
fn without_rejected(u: AuthUsage) -> AuthUsage {
    AuthUsage { rejected: 0, ..u }
}

/// Bit positions to flip in a frame of `bits` bits.
fn flip_positions(bits: usize, budget: usize) -> Vec<usize> {
    if bits <= EXHAUSTIVE_FLIP_BITS || bits <= budget {
        return (0..bits).collect();
    }
    let head = budget / 2;
    let tail = budget / 4;
    let mut positions: Vec<usize> = (0..head).chain(bits - tail..bits).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(0xF11F);
    let middle = bits - head - tail;
    positions.extend((0..budget - head - tail).map(|_| head + (rng.next_u64() as usize) % middle));
    positions
}

/// Truncation points for a frame of `len` bytes.
fn cut_points(len: usize, budget: usize) -> Vec<usize> {
    if len <= 1024 || len <= budget {
        return (0..len).collect();
    }
    let edge = (budget / 4).max(1);
    let spread = (budget - 2 * edge).max(1);
    let mut cuts: Vec<usize> = (0..edge).chain(len - edge..len).collect();
    cuts.extend((0..spread).map(|i| edge + i * (len - 2 * edge) / spread));
    cuts
}

/// Sealed payloads of 0 to 4096 bytes open at the peer, in both directions, interleaved and in runs.
pub fn round_trip_both_directions<A: ChannelAuth>((mut a, mut b): (A, A)) {
    const CHECK: &str = "round_trip_both_directions";
    assert!(
        !a.name().is_empty(),
        "ChannelAuth conformance [{CHECK}]: name() is empty"
    );
    for (i, len) in [0usize, 1, 15, 16, 17, 100, 1000, 4096]
        .into_iter()
        .enumerate()
    {
        let p = payload(i, len);
        let f = seal(CHECK, &mut a, &p);
        open_ok(CHECK, &mut b, &f, &p);
        let q = payload(100 + i, len);
        let g = seal(CHECK, &mut b, &q);
        open_ok(CHECK, &mut a, &g, &q);
    }
    // Runs: several frames sealed before any is opened.
    let frames: Vec<(Vec<u8>, Vec<u8>)> = (0..10)
        .map(|i| {
            let p = payload(200 + i, 3 * i);
            (seal(CHECK, &mut a, &p), p)
        })
        .collect();
    for (f, p) in &frames {
        open_ok(CHECK, &mut b, f, p);
    }
    let frames: Vec<(Vec<u8>, Vec<u8>)> = (0..10)
        .map(|i| {
            let p = payload(300 + i, 5 * i);
            (seal(CHECK, &mut b, &p), p)
        })
        .collect();
    for (f, p) in &frames {
        open_ok(CHECK, &mut a, f, p);
    }
}

/// `sealed`, `opened` and `rejected` count exactly; key accounting is conserved without replenish.
pub fn usage_counters_exact<A: ChannelAuth>((mut a, mut b): (A, A)) {
    const CHECK: &str = "usage_counters_exact";
    let total = |u: AuthUsage| u.key_bits_consumed + u.key_bits_available;
    let (a0, b0) = (a.usage(), b.usage());
    if (a0.sealed, a0.opened, a0.rejected) != (0, 0, 0) {
        fail(CHECK, format_args!("a fresh end reports frames: {a0:?}"));
    }
    for i in 0..7 {
        let p = payload(i, 40);
        let f = seal(CHECK, &mut a, &p);
        open_ok(CHECK, &mut b, &f, &p);
    }
    for i in 0..3 {
        let p = payload(50 + i, 40);
        let f = seal(CHECK, &mut b, &p);
        open_ok(CHECK, &mut a, &f, &p);
    }
    let mut rejected = 0;
    if b.is_authenticating() {
        let f = seal(CHECK, &mut a, b"x");
        let mut bad = f.clone();
        bad[0] ^= 1;
        open_rejected(CHECK, &mut b, &bad, "a tampered frame");
        open_rejected(CHECK, &mut b, &[], "an empty frame");
        rejected = 2;
        open_ok(CHECK, &mut b, &f, b"x");
    } else {
        let f = seal(CHECK, &mut a, b"x");
        open_ok(CHECK, &mut b, &f, b"x");
    }
    let (ua, ub) = (a.usage(), b.usage());
    let want_a = (8, 3, 0);
    let want_b = (3, 8, rejected);
    if (ua.sealed, ua.opened, ua.rejected) != want_a {
        fail(
            CHECK,
            format_args!(
                "end a: (sealed, opened, rejected) = {:?}, expected {want_a:?}",
                (ua.sealed, ua.opened, ua.rejected)
            ),
        );
    }
    if (ub.sealed, ub.opened, ub.rejected) != want_b {
        fail(
            CHECK,
            format_args!(
                "end b: (sealed, opened, rejected) = {:?}, expected {want_b:?}",
                (ub.sealed, ub.opened, ub.rejected)
            ),
        );
    }
    if total(ua) != total(a0) || total(ub) != total(b0) {
        fail(
            CHECK,
            format_args!(
                "consumed + available key bits changed without replenish: a {} -> {}, b {} -> {}",
                total(a0),
                total(ua),
                total(b0),
                total(ub)
            ),
        );
    }
    if ua.key_bits_consumed < a0.key_bits_consumed || ub.key_bits_consumed < b0.key_bits_consumed {
        fail(CHECK, format_args!("key_bits_consumed decreased"));
    }
}

/// Every single-bit flip of a frame is rejected with `BadTag`; the rejections change nothing and
/// the genuine frame is accepted afterwards.
pub fn every_bit_flip_rejected<A: ChannelAuth>((mut a, mut b): (A, A), options: AuthSuiteOptions) {
    const CHECK: &str = "every_bit_flip_rejected";
    // Move past the first frame so that sequence numbers are not all zero.
    let warm = seal(CHECK, &mut a, b"warm-up");
    open_ok(CHECK, &mut b, &warm, b"warm-up");
    let p = payload(7, 32);
    let frame = seal(CHECK, &mut a, &p);
    let before = b.usage();
    let positions = flip_positions(frame.len() * 8, options.flip_budget);
    for &bit in &positions {
        let mut bad = frame.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        match b.open(&bad) {
            Err(AuthError::BadTag) => {}
            Err(other) => fail(
                CHECK,
                format_args!(
                    "flipping bit {bit} of a {}-byte frame gave {other:?}, expected BadTag",
                    frame.len()
                ),
            ),
            Ok(_) => fail(
                CHECK,
                format_args!(
                    "flipping bit {bit} of a {}-byte frame was accepted",
                    frame.len()
                ),
            ),
        }
    }
    let after = b.usage();
    if without_rejected(after) != without_rejected(before)
        || after.rejected != before.rejected + positions.len() as u64
    {
        fail(
            CHECK,
            format_args!(
                "{} rejections changed the receiver's usage from {before:?} to {after:?} \
                 (only `rejected` may move, by exactly that many)",
                positions.len()
            ),
        );
    }
    open_ok(CHECK, &mut b, &frame, &p);
}

/// Every truncation of a frame, and the frame with one extra byte, are rejected; the genuine frame
/// is accepted afterwards.
pub fn truncation_rejected<A: ChannelAuth>((mut a, mut b): (A, A), options: AuthSuiteOptions) {
    const CHECK: &str = "truncation_rejected";
    let p = payload(9, 48);
    let frame = seal(CHECK, &mut a, &p);
    let before = b.usage();
    let cuts = cut_points(frame.len(), options.cut_budget);
    for &cut in &cuts {
        match b.open(&frame[..cut]) {
            Err(AuthError::Truncated { .. } | AuthError::BadTag) => {}
            Err(other) => fail(
                CHECK,
                format_args!(
                    "a frame cut to {cut} bytes gave {other:?}, expected Truncated or BadTag"
                ),
            ),
            Ok(_) => fail(
                CHECK,
                format_args!("a frame cut to {cut} bytes was accepted"),
            ),
        }
    }
    let mut longer = frame.clone();
    longer.push(0);
    open_rejected(CHECK, &mut b, &longer, "the frame with one byte appended");
    let after = b.usage();
    if without_rejected(after) != without_rejected(before) {
        fail(
            CHECK,
            format_args!("rejections changed the usage: {before:?} -> {after:?}"),
        );
    }
    open_ok(CHECK, &mut b, &frame, &p);
}

/// A frame accepted once is rejected when it comes again, and later frames still open.
pub fn replay_rejected<A: ChannelAuth>((mut a, mut b): (A, A)) {
    const CHECK: &str = "replay_rejected";
    let f0 = seal(CHECK, &mut a, b"first");
    let f1 = seal(CHECK, &mut a, b"second");
    open_ok(CHECK, &mut b, &f0, b"first");
    let err = open_rejected(CHECK, &mut b, &f0, "a replay of the frame just accepted");
    if !matches!(err, AuthError::Replay { .. } | AuthError::BadTag) {
        fail(
            CHECK,
            format_args!("a replay gave {err:?}, expected Replay or BadTag"),
        );
    }
    open_ok(CHECK, &mut b, &f1, b"second");
    open_rejected(CHECK, &mut b, &f0, "a replay of an older frame");
    open_rejected(CHECK, &mut b, &f1, "a replay of the last frame");
    let f2 = seal(CHECK, &mut a, b"third");
    open_ok(CHECK, &mut b, &f2, b"third");
}

/// Frames delivered ahead of their turn are rejected; delivered in order afterwards, all open.
pub fn reordering_rejected<A: ChannelAuth>((mut a, mut b): (A, A)) {
    const CHECK: &str = "reordering_rejected";
    let frames: Vec<Vec<u8>> = (0..3)
        .map(|i| seal(CHECK, &mut a, &payload(i, 20)))
        .collect();
    let before = b.usage();
    for (i, what) in [(1, "frame 1 before frame 0"), (2, "frame 2 before frame 0")] {
        let err = open_rejected(CHECK, &mut b, &frames[i], what);
        if !matches!(err, AuthError::Replay { .. } | AuthError::BadTag) {
            fail(
                CHECK,
                format_args!("{what} gave {err:?}, expected Replay or BadTag"),
            );
        }
    }
    if without_rejected(b.usage()) != without_rejected(before) {
        fail(
            CHECK,
            format_args!("rejected out-of-order frames changed the usage"),
        );
    }
    for (i, f) in frames.iter().enumerate() {
        open_ok(CHECK, &mut b, f, &payload(i, 20));
    }
}

/// A frame sent back to the end that sealed it (reflection) is rejected: the directions are
/// separated.
pub fn reflection_rejected<A: ChannelAuth>((mut a, mut b): (A, A)) {
    const CHECK: &str = "reflection_rejected";
    let f = seal(CHECK, &mut a, b"to bob");
    open_rejected(CHECK, &mut a, &f, "a frame reflected back to its sealer");
    let g = seal(CHECK, &mut b, b"to alice");
    open_rejected(CHECK, &mut b, &g, "a frame reflected back to its sealer");
    open_ok(CHECK, &mut b, &f, b"to bob");
    open_ok(CHECK, &mut a, &g, b"to alice");
}

/// Random bytes (fixed seed) of the length of a genuine frame, and the empty frame, are rejected.
pub fn forgeries_rejected<A: ChannelAuth>((mut a, mut b): (A, A)) {
    const CHECK: &str = "forgeries_rejected";
    let p = payload(11, 64);
    let genuine = seal(CHECK, &mut a, &p);
    let mut rng = ChaCha8Rng::seed_from_u64(0xF0F6E);
    for i in 0..32 {
        let mut forged = vec![0u8; genuine.len()];
        rng.fill_bytes(&mut forged);
        open_rejected(CHECK, &mut b, &forged, &format!("random frame {i}"));
    }
    // The genuine header with a random body.
    let mut spliced = genuine.clone();
    let half = spliced.len() / 2;
    rng.fill_bytes(&mut spliced[half..]);
    open_rejected(
        CHECK,
        &mut b,
        &spliced,
        "the genuine frame with a random second half",
    );
    open_rejected(CHECK, &mut b, &[], "the empty frame");
    open_ok(CHECK, &mut b, &genuine, &p);
}

/// Replenishing both ends with identical material whenever either end asks for key keeps them in
/// step for 300 round trips (10 for backends that hold no shared key); accounting grows by exactly
/// what was replenished.
pub fn replenish_keeps_in_step<A: ChannelAuth>((mut a, mut b): (A, A)) {
    const CHECK: &str = "replenish_keeps_in_step";
    let total = |u: AuthUsage| u.key_bits_consumed + u.key_bits_available;
    let (ta, tb) = (total(a.usage()), total(b.usage()));
    let mut added_bits = 0u64;
    let mut rng = ChaCha8Rng::seed_from_u64(0x5EED);
    // Backends that hold no shared key (signatures) have nothing to replenish: a short run suffices.
    let holds_key = ta + tb > 0 || a.key_demand_bits() > 0 || b.key_demand_bits() > 0;
    let rounds = if holds_key { 300 } else { 10 };
    for i in 0..rounds {
        let demand = a.key_demand_bits().max(b.key_demand_bits());
        if demand > 0 {
            let bytes = demand.div_ceil(256) as usize * 32;
            let mut material = vec![0u8; bytes];
            rng.fill_bytes(&mut material);
            let key = SecretKey::from_vec(material);
            for (end, name) in [(&mut a, "a"), (&mut b, "b")] {
                if let Err(err) = end.replenish(key.clone()) {
                    fail(
                        CHECK,
                        format_args!("replenish of {bytes} bytes at end {name} failed: {err}"),
                    );
                }
            }
            added_bits += bytes as u64 * 8;
        }
        let p = payload(i, i % 200);
        let f = seal(CHECK, &mut a, &p);
        open_ok(CHECK, &mut b, &f, &p);
        let q = payload(1000 + i, (i * 7) % 300);
        let g = seal(CHECK, &mut b, &q);
        open_ok(CHECK, &mut a, &g, &q);
    }
    for (end, before, name) in [(&a, ta, "a"), (&b, tb, "b")] {
        let after = total(end.usage());
        if after != before + added_bits {
            fail(
                CHECK,
                format_args!(
                    "end {name}: consumed + available went from {before} to {after} bits after \
                     {added_bits} bits were replenished"
                ),
            );
        }
    }
}

/// Runs every check with the default [`AuthSuiteOptions`], each on a fresh pair from `factory`;
/// only the non-security checks for a backend that does not authenticate.
pub fn run_auth_suite<A, F>(factory: F)
where
    A: ChannelAuth,
    F: FnMut() -> (A, A),
{
    run_auth_suite_with(AuthSuiteOptions::default(), factory);
}

/// [`run_auth_suite`] with explicit options for the costly checks.
pub fn run_auth_suite_with<A, F>(options: AuthSuiteOptions, mut factory: F)
where
    A: ChannelAuth,
    F: FnMut() -> (A, A),
{
    round_trip_both_directions(factory());
    usage_counters_exact(factory());
    let probe = factory();
    if !probe.0.is_authenticating() {
        return;
    }
    every_bit_flip_rejected(probe, options);
    truncation_rejected(factory(), options);
    replay_rejected(factory());
    reordering_rejected(factory());
    reflection_rejected(factory());
    forgeries_rejected(factory());
    replenish_keeps_in_step(factory());
}
