//! The link schedule: which block of the link feeds which key stream. Both ends compute the same
//! answer for every block, without exchanging a message per block.
//!
//! # The scheme
//! * The link has `S` **slots** (`S` even, equal at both ends). Block `b` belongs to slot `b mod S`.
//! * A stream **owns** a set of slots, claimed by the module where the stream is first opened: the
//!   Alice-role module claims even slots, the Bob-role module odd slots, so streams opened
//!   concurrently at the two ends (in either direction) never claim the same slot.
//! * A stream is **active** for blocks `start <= b < end`. Both bounds are agreed by the two
//!   modules through [`peer`](super::peer) messages: each change (open, close) carries the
//!   sender's puller position (next block it will fetch) and the receiver answers with its own; the
//!   bound is the larger of the two. The receiver has fetched nothing at or beyond its own position,
//!   so it knows the bound before it needs it; the sender **holds** every block it fetches from its
//!   own position on until the answer arrives (see [`Schedule::frontier`]).
//! * Block `b` goes to the active stream owning its slot. A block whose slot no active stream owns
//!   is **spare**: it goes to the active *elastic* streams (those opened with `max_bps = 0`) of the
//!   highest `priority`; among several, a fixed mix of `b` picks one. Spare blocks with no elastic
//!   stream to take them are dropped (zeroized) at both ends.
//! * A stream's key is the concatenation, by increasing block index, of the blocks it gets. Chunk
//!   `i` is bytes `[i*c, (i+1)*c)` of that concatenation (`c` = key_chunk_size).
//!
//! So (KSID, index) names the same bytes at both ends, no block reaches two streams, a lone
//! elastic stream gets the whole link, a stream's own slots guarantee its `min_bps` whatever the
//! priorities, and higher priority wins the spare capacity. This relies on the device contract that
//! both ends deliver (or abort) the same block indexes.

use std::collections::BTreeMap;

use qkd_core::{Role, StreamId};

/// When a stream stops being active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Still open.
    Open,
    /// Closed here at this puller position; the agreed end is not known yet.
    Closing {
        /// This module's position when it closed the stream.
        local: u64,
    },
    /// Active for blocks below this index.
    At(u64),
}

#[derive(Debug, Clone)]
struct Entry {
    slots: Vec<u32>,
    /// This module's position when the stream was registered here.
    claimed_at: u64,
    /// First active block, once agreed.
    start: Option<u64>,
    end: End,
    elastic: bool,
    priority: u32,
}

impl Entry {
    /// Active for block `b`. Only asked for blocks below [`Schedule::frontier`], where `start` is
    /// known and a `Closing` end lies beyond `b`.
    fn active_at(&self, b: u64) -> bool {
        self.start.is_some_and(|s| s <= b)
            && match self.end {
                End::Open | End::Closing { .. } => true,
                End::At(e) => b < e,
            }
    }

    /// Still holds its slots against new claims by this module.
    fn holds_slots(&self) -> bool {
        !matches!(self.end, End::At(_))
    }
}

/// The parameters of a stream that the schedule needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// Slots the stream owns.
    pub slots: Vec<u32>,
    /// Takes spare blocks (`max_bps = 0`).
    pub elastic: bool,
    /// Priority for spare blocks (higher wins).
    pub priority: u32,
}

/// The agreed timeline of stream ownership over the link's blocks (see the module docs).
#[derive(Debug, Clone)]
pub struct Schedule {
    slot_count: u32,
    parity: u32,
    entries: BTreeMap<StreamId, Entry>,
}

impl Schedule {
    /// A schedule of `slot_count` slots (rounded up to an even number, at least 2) for the module
    /// whose device has `role`.
    pub fn new(slot_count: u32, role: Role) -> Self {
        Self {
            slot_count: slot_count.max(2).div_ceil(2) * 2,
            parity: match role {
                Role::Alice => 0,
                Role::Bob => 1,
            },
            entries: BTreeMap::new(),
        }
    }

    /// Number of slots.
    pub fn slot_count(&self) -> u32 {
        self.slot_count
    }

    /// Slots of this module's parity (the most one direction can hold).
    pub fn own_slot_count(&self) -> u32 {
        self.slot_count / 2
    }

    /// Free slots this module may claim (its parity, not held by a stream that is open or whose
    /// close is not agreed yet), lowest first.
    pub fn free_own_slots(&self) -> Vec<u32> {
        (0..self.slot_count)
            .filter(|s| s % 2 == self.parity && !self.held_by_other(*s, None, false))
            .collect()
    }

    fn held_by_other(&self, slot: u32, ksid: Option<StreamId>, allow_closing: bool) -> bool {
        self.entries.iter().any(|(k, e)| {
            Some(*k) != ksid
                && e.slots.contains(&slot)
                && match e.end {
                    End::Open => true,
                    End::Closing { .. } => !allow_closing,
                    End::At(_) => false,
                }
        })
    }

    /// True if `ksid` is in the schedule (open, closing, or closed but not yet past its end).
    pub fn contains(&self, ksid: StreamId) -> bool {
        self.entries.contains_key(&ksid)
    }

    /// Registers `ksid` with `claim`, at this module's puller `position`. `start` is the agreed
    /// first block when known (the receiver of an open), `None` at the module that opened it until
    /// [`resolve_start`](Self::resolve_start). A receiver (`start` known) may claim slots of a stream
    /// whose close is still being agreed: the new start cannot precede that end (both positions only
    /// grow). Fails, changing nothing, if the KSID is known or a slot is out of range or held.
    pub fn claim(
        &mut self,
        ksid: StreamId,
        claim: Claim,
        position: u64,
        start: Option<u64>,
    ) -> Result<(), String> {
        if self.entries.contains_key(&ksid) {
            return Err("KSID in use".into());
        }
        if claim.slots.is_empty() {
            return Err("a stream needs at least one slot".into());
        }
        for &s in &claim.slots {
            if s >= self.slot_count {
                return Err(format!("slot {s} out of range"));
            }
            if self.held_by_other(s, Some(ksid), start.is_some()) {
                return Err(format!("slot {s} is owned by another stream"));
            }
        }
        self.entries.insert(
            ksid,
            Entry {
                slots: claim.slots,
                claimed_at: position,
                start,
                end: End::Open,
                elastic: claim.elastic,
                priority: claim.priority,
            },
        );
        Ok(())
    }

    /// Records the agreed first block of a stream this module opened.
    pub fn resolve_start(&mut self, ksid: StreamId, start: u64) {
        if let Some(e) = self.entries.get_mut(&ksid) {
            e.start = Some(start.max(e.claimed_at));
        }
    }

    /// Forgets a stream whose open failed (it never became active at either end).
    pub fn remove(&mut self, ksid: StreamId) {
        self.entries.remove(&ksid);
    }

    /// This module closes `ksid` at its puller `position`; the end is agreed with the peer next
    /// ([`resolve_end`](Self::resolve_end)). Returns the position to send (for a stream already
    /// being closed, the first one), or `None` if unknown.
    pub fn close_local(&mut self, ksid: StreamId, position: u64) -> Option<u64> {
        let e = self.entries.get_mut(&ksid)?;
        match e.end {
            End::Open => {
                e.end = End::Closing { local: position };
                Some(position)
            }
            End::Closing { local } => Some(local),
            End::At(end) => Some(end),
        }
    }

    /// The peer closed `ksid` at its position `peer_position`: fixes the end and returns the position
    /// to answer with (this module's own close position if it is closing the stream too, so that
    /// both ends compute the same maximum), or `None` if the stream is unknown.
    pub fn close_remote(
        &mut self,
        ksid: StreamId,
        peer_position: u64,
        position: u64,
    ) -> Option<u64> {
        let e = self.entries.get_mut(&ksid)?;
        let (here, end) = match e.end {
            End::Open => (position, position.max(peer_position)),
            End::Closing { local } => (local, local.max(peer_position)),
            End::At(end) => (end, end),
        };
        e.end = End::At(end.max(e.start.unwrap_or(0)));
        Some(here)
    }

    /// Records the end agreed for a stream this module closed: the larger of its own close position
    /// and the peer's answer (`None` when the peer could not be told: the end is then this module's).
    pub fn resolve_end(&mut self, ksid: StreamId, peer_position: Option<u64>) {
        if let Some(e) = self.entries.get_mut(&ksid) {
            let start = e.start.unwrap_or(0);
            e.end = match e.end {
                End::Closing { local } => End::At(local.max(peer_position.unwrap_or(0)).max(start)),
                End::Open => End::At(peer_position.unwrap_or(0).max(start)),
                at @ End::At(_) => at,
            };
            if e.start.is_none() {
                e.start = Some(e.claimed_at);
            }
        }
    }

    /// Blocks below this index can be assigned: no change this module started is still waiting
    /// for the peer's answer at or before them.
    pub fn frontier(&self) -> u64 {
        self.entries
            .values()
            .filter_map(|e| match (e.start, e.end) {
                (None, _) => Some(e.claimed_at),
                (_, End::Closing { local }) => Some(local),
                _ => None,
            })
            .min()
            .unwrap_or(u64::MAX)
    }

    /// The stream that gets block `index` (below [`frontier`](Self::frontier)), if any.
    pub fn assign(&self, index: u64) -> Option<StreamId> {
        let slot = (index % u64::from(self.slot_count)) as u32;
        let active = || self.entries.iter().filter(|(_, e)| e.active_at(index));
        if let Some((k, _)) = active().find(|(_, e)| e.slots.contains(&slot)) {
            return Some(*k);
        }
        let top = active()
            .filter(|(_, e)| e.elastic)
            .map(|(_, e)| e.priority)
            .max()?;
        let count = active()
            .filter(|(_, e)| e.elastic && e.priority == top)
            .count() as u64;
        let pick = (mix(index) % count) as usize;
        active()
            .filter(|(_, e)| e.elastic && e.priority == top)
            .nth(pick)
            .map(|(k, _)| *k)
    }

    /// Drops streams whose agreed end is at or below `assigned` (the next block to assign): no
    /// later block can reach them.
    pub fn retire(&mut self, assigned: u64) {
        self.entries
            .retain(|_, e| !matches!(e.end, End::At(end) if end <= assigned));
    }

    /// The slots owned by `ksid` (empty if unknown).
    pub fn slots_of(&self, ksid: StreamId) -> Vec<u32> {
        self.entries
            .get(&ksid)
            .map(|e| e.slots.clone())
            .unwrap_or_default()
    }

    /// True when no stream is open (nothing would keep a block).
    pub fn is_idle(&self) -> bool {
        self.entries.values().all(|e| !e.holds_slots())
    }
}

/// SplitMix64 finaliser: spreads consecutive block indexes evenly over the candidates.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Picks `n` of the `free` slots (sorted) spread as evenly as possible around the cycle of
/// `slot_count`, so that the longest gap between the chosen slots is small.
pub fn spread(free: &[u32], n: usize, slot_count: u32) -> Vec<u32> {
    let n = n.min(free.len());
    if n == 0 {
        return Vec::new();
    }
    let first = free[0];
    let mut chosen: Vec<u32> = Vec::with_capacity(n);
    for i in 0..n as u64 {
        let target = (u64::from(first) + i * u64::from(slot_count) / n as u64) as u32 % slot_count;
        let distance = |s: u32| (s + slot_count - target) % slot_count;
        if let Some(&best) = free
            .iter()
            .filter(|s| !chosen.contains(s))
            .min_by_key(|s| distance(**s))
        {
            chosen.push(best);
        }
    }
    chosen.sort_unstable();
    chosen
}

/// The longest run of blocks between two consecutive blocks of `slots` (cyclic), in block
/// periods: one slot of `S` gives `S`; all slots give 1.
pub fn max_gap(slots: &[u32], slot_count: u32) -> u32 {
    let mut sorted = slots.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    match sorted.as_slice() {
        [] => u32::MAX,
        [_] => slot_count,
        all => {
            let wrap = all[0] + slot_count - all[all.len() - 1];
            all.windows(2).map(|w| w[1] - w[0]).fold(wrap, u32::max)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(slots: &[u32], elastic: bool, priority: u32) -> Claim {
        Claim {
            slots: slots.to_vec(),
            elastic,
            priority,
        }
    }

    #[test]
    fn parities_split_slots_between_directions() {
        let mut alice = Schedule::new(8, Role::Alice);
        let bob = Schedule::new(8, Role::Bob);
        assert_eq!(alice.free_own_slots(), vec![0, 2, 4, 6]);
        assert_eq!(bob.free_own_slots(), vec![1, 3, 5, 7]);
        let k = StreamId::new_random();
        alice
            .claim(k, claim(&[2, 6], false, 0), 0, Some(0))
            .unwrap();
        assert_eq!(alice.assign(10), Some(k));
        assert_eq!(alice.assign(11), None, "spare block, no elastic stream");
        assert_eq!(alice.free_own_slots(), vec![0, 4]);
        let other = StreamId::new_random();
        assert!(alice.claim(other, claim(&[2], false, 0), 0, None).is_err());
        assert!(alice.claim(other, claim(&[99], false, 0), 0, None).is_err());
        assert!(alice.claim(other, claim(&[], false, 0), 0, None).is_err());
        assert!(alice.claim(k, claim(&[4], false, 0), 0, None).is_err());
        assert_eq!(Schedule::new(7, Role::Alice).slot_count(), 8);
        assert_eq!(Schedule::new(0, Role::Alice).slot_count(), 2);
    }

    #[test]
    fn a_lone_elastic_stream_gets_every_block_from_its_start() {
        let mut s = Schedule::new(16, Role::Alice);
        let k = StreamId::new_random();
        s.claim(k, claim(&[0], true, 0), 5, Some(9)).unwrap();
        assert!((0..9).all(|b| s.assign(b).is_none()));
        assert!((9..200).all(|b| s.assign(b) == Some(k)));
    }

    #[test]
    fn spare_blocks_go_to_the_highest_priority_and_are_shared_among_equals() {
        let mut s = Schedule::new(16, Role::Alice);
        let (low, high_a, high_b) = (
            StreamId::new_random(),
            StreamId::new_random(),
            StreamId::new_random(),
        );
        s.claim(low, claim(&[0], true, 1), 0, Some(0)).unwrap();
        s.claim(high_a, claim(&[2], true, 7), 0, Some(0)).unwrap();
        s.claim(high_b, claim(&[4], true, 7), 0, Some(0)).unwrap();
        let blocks = 16_000u64;
        let count = |k| (0..blocks).filter(|b| s.assign(*b) == Some(k)).count() as f64;
        // The low-priority stream keeps exactly its own slot: 1/16 of the blocks.
        assert_eq!(count(low), blocks as f64 / 16.0);
        // The 13 spare slots split between the two high-priority streams. Each spare block picks
        // one of two by a fixed mix of its index, so each gets Binomial(13000, 1/2) spares:
        // sd = sqrt(13000/4) ~ 57; 5 sd ~ 285 blocks.
        let spares = 13.0 * blocks as f64 / 16.0;
        for k in [high_a, high_b] {
            let got = count(k) - blocks as f64 / 16.0;
            assert!(
                (got - spares / 2.0).abs() < 285.0,
                "{got} spare blocks, expected about {}",
                spares / 2.0
            );
        }
        // A stream with max_bps set (not elastic) never takes spares.
        let mut t = Schedule::new(16, Role::Alice);
        t.claim(low, claim(&[0], false, 9), 0, Some(0)).unwrap();
        assert_eq!((0..160).filter(|b| t.assign(*b).is_some()).count(), 10);
    }

    #[test]
    fn unresolved_changes_hold_the_frontier_and_both_ends_agree_on_bounds() {
        let mut alice = Schedule::new(8, Role::Alice);
        let mut bob = Schedule::new(8, Role::Bob);
        let k = StreamId::new_random();
        assert_eq!(alice.frontier(), u64::MAX);
        // Alice opens at position 10; Bob registers at his position 14: start = 14.
        alice.claim(k, claim(&[0], true, 0), 10, None).unwrap();
        assert_eq!(
            alice.frontier(),
            10,
            "blocks from 10 on wait for the answer"
        );
        bob.claim(k, claim(&[0], true, 0), 14, Some(14)).unwrap();
        alice.resolve_start(k, 14);
        assert_eq!(alice.frontier(), u64::MAX);
        // Both close at once: Alice at 30, Bob at 33; each answers the other with its own close
        // position, so both agree on 33.
        assert_eq!(alice.close_local(k, 30), Some(30));
        assert_eq!(bob.close_local(k, 33), Some(33));
        assert_eq!(alice.frontier(), 30);
        let alice_answer = alice.close_remote(k, 33, 31).unwrap();
        let bob_answer = bob.close_remote(k, 30, 35).unwrap();
        alice.resolve_end(k, Some(bob_answer));
        bob.resolve_end(k, Some(alice_answer));
        for b in 0..60 {
            assert_eq!(alice.assign(b), bob.assign(b), "block {b}");
        }
        assert_eq!(alice.assign(32), Some(k));
        assert_eq!(alice.assign(33), None);
        assert!(alice.free_own_slots().contains(&0));
        alice.retire(33);
        assert!(!alice.contains(k));
    }

    #[test]
    fn a_receiver_may_claim_a_slot_whose_close_is_in_flight() {
        let mut bob = Schedule::new(8, Role::Bob);
        let (old, new) = (StreamId::new_random(), StreamId::new_random());
        bob.claim(old, claim(&[0], false, 0), 0, Some(0)).unwrap();
        bob.close_local(old, 20);
        // Alice, having answered Bob's close, reuses slot 0.
        bob.claim(new, claim(&[0], false, 0), 22, Some(25)).unwrap();
        bob.resolve_end(old, Some(21));
        assert_eq!(bob.assign(16), Some(old));
        assert_eq!(bob.assign(24), None);
        assert_eq!(bob.assign(32), Some(new));
    }

    #[test]
    fn spread_and_gap() {
        assert_eq!(spread(&[0, 2, 4, 6, 8, 10, 12, 14], 1, 16), vec![0]);
        assert_eq!(spread(&[0, 2, 4, 6, 8, 10, 12, 14], 2, 16), vec![0, 8]);
        assert_eq!(
            spread(&[0, 2, 4, 6, 8, 10, 12, 14], 4, 16),
            vec![0, 4, 8, 12]
        );
        assert_eq!(spread(&[2, 4], 5, 16), vec![2, 4]);
        assert_eq!(max_gap(&[0], 16), 16);
        assert_eq!(max_gap(&[0, 8], 16), 8);
        assert_eq!(max_gap(&[0, 2], 16), 14);
        assert_eq!(max_gap(&(0..16).collect::<Vec<_>>(), 16), 1);
        assert_eq!(max_gap(&[], 16), u32::MAX);
    }
}
