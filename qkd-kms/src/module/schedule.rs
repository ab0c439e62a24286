//! The link schedule: which block of the link feeds which key stream, and how blocks become chunks.
//!
//! # The scheme (both ends compute the same thing)
//! * The link has `S` **slots** (`S` even, equal at both ends). Block `b` belongs to slot `b mod S`.
//! * A stream owns a set of slots. Slots are taken by the module where the stream is **first**
//!   opened: the Alice-role module takes even slots, the Bob-role module odd slots, so streams opened
//!   concurrently at the two ends (in either direction) never claim the same slot.
//! * A stream starts at block `start = max(pA, pB)`, where `pA`, `pB` are the two modules' puller
//!   positions (next block to process) when each registered the claim; the opener sends its position
//!   in the open notice and the peer answers with its own (see [`peer`](super::peer)). Each end keeps
//!   every block of the stream's slots from its own position on and drops those below `start`.
//! * The stream's key is the concatenation, by increasing block index, of the blocks `b >= start` in
//!   its slots. Chunk `i` is bytes `[i*c, (i+1)*c)` of that concatenation (`c` = key_chunk_size);
//!   a block's tail that does not fill a chunk is carried into the next block of the stream.
//!
//! So (KSID, index) names the same bytes at both ends, streams never share a block, and no key byte
//! reaches two streams. Blocks of unclaimed slots are dropped (zeroized) at both ends. This relies on
//! the device contract that both ends deliver (or abort) the same block indexes.

use qkd_core::{Role, SecretKey, StreamId};
use zeroize::Zeroizing;

/// Which stream owns each slot, and which slots this module may claim.
#[derive(Debug, Clone)]
pub struct Schedule {
    owners: Vec<Option<StreamId>>,
    parity: u32,
}

impl Schedule {
    /// A schedule of `slot_count` slots (rounded up to an even number, at least 2) for the module
    /// whose device has `role`.
    pub fn new(slot_count: u32, role: Role) -> Self {
        let n = slot_count.max(2).div_ceil(2) * 2;
        Self {
            owners: vec![None; n as usize],
            parity: match role {
                Role::Alice => 0,
                Role::Bob => 1,
            },
        }
    }

    /// Number of slots.
    pub fn slot_count(&self) -> u32 {
        self.owners.len() as u32
    }

    /// The slot of block `index`.
    pub fn slot_of(&self, index: u64) -> u32 {
        (index % u64::from(self.slot_count())) as u32
    }

    /// The stream owning the slot of block `index`, if any.
    pub fn owner(&self, index: u64) -> Option<StreamId> {
        self.owners[self.slot_of(index) as usize]
    }

    /// Free slots this module may claim (its parity), lowest first.
    pub fn free_own_slots(&self) -> Vec<u32> {
        (0..self.slot_count())
            .filter(|s| s % 2 == self.parity && self.owners[*s as usize].is_none())
            .collect()
    }

    /// Slots of this module's parity (the most one direction can hold).
    pub fn own_slot_count(&self) -> u32 {
        self.slot_count() / 2
    }

    /// Gives `slots` to `ksid`. Fails (changing nothing) if a slot is out of range or owned.
    pub fn claim(&mut self, ksid: StreamId, slots: &[u32]) -> Result<(), String> {
        for &s in slots {
            match self.owners.get(s as usize) {
                None => return Err(format!("slot {s} out of range")),
                Some(Some(other)) if *other != ksid => {
                    return Err(format!("slot {s} is owned by another stream"));
                }
                _ => {}
            }
        }
        for &s in slots {
            self.owners[s as usize] = Some(ksid);
        }
        Ok(())
    }

    /// Frees every slot of `ksid`.
    pub fn release(&mut self, ksid: StreamId) {
        for owner in &mut self.owners {
            if *owner == Some(ksid) {
                *owner = None;
            }
        }
    }

    /// The stream owning `slot`, if any.
    pub fn owner_of_slot(&self, slot: u32) -> Option<StreamId> {
        self.owners.get(slot as usize).copied().flatten()
    }

    /// True when no slot is owned.
    pub fn is_idle(&self) -> bool {
        self.owners.iter().all(Option::is_none)
    }
}

/// Cuts a stream's blocks into chunks of a fixed size, carrying partial chunks over.
pub struct Chunker {
    chunk_size: usize,
    residual: Zeroizing<Vec<u8>>,
}

impl Chunker {
    /// A chunker for chunks of `chunk_size` bytes (at least 1).
    pub fn new(chunk_size: usize) -> Self {
        Self {
            chunk_size: chunk_size.max(1),
            residual: Zeroizing::new(Vec::new()),
        }
    }

    /// Appends a block and returns the chunks it completes, in order.
    pub fn push(&mut self, block: &SecretKey) -> Vec<SecretKey> {
        self.residual.extend_from_slice(block.expose_secret());
        let full = self.residual.len() / self.chunk_size * self.chunk_size;
        let chunks = self.residual[..full]
            .chunks_exact(self.chunk_size)
            .map(SecretKey::from_slice)
            .collect();
        // Shift the tail to the front; the vector's old bytes are overwritten, and the Zeroizing
        // wrapper clears the rest on drop.
        self.residual.copy_within(full.., 0);
        let tail = self.residual.len() - full;
        self.residual[tail..].iter_mut().for_each(|b| *b = 0);
        self.residual.truncate(tail);
        chunks
    }

    /// Bytes waiting for the next chunk.
    pub fn pending_bytes(&self) -> usize {
        self.residual.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parities_split_slots_between_directions() {
        let mut alice = Schedule::new(8, Role::Alice);
        let bob = Schedule::new(8, Role::Bob);
        assert_eq!(alice.free_own_slots(), vec![0, 2, 4, 6]);
        assert_eq!(bob.free_own_slots(), vec![1, 3, 5, 7]);
        let k = StreamId::new_random();
        alice.claim(k, &[2, 6]).unwrap();
        assert_eq!(alice.owner(10), Some(k));
        assert_eq!(alice.owner(11), None);
        assert_eq!(alice.free_own_slots(), vec![0, 4]);
        assert!(alice.claim(StreamId::new_random(), &[2]).is_err());
        assert!(alice.claim(StreamId::new_random(), &[99]).is_err());
        alice.release(k);
        assert!(alice.is_idle());
        assert_eq!(Schedule::new(7, Role::Alice).slot_count(), 8);
        assert_eq!(Schedule::new(0, Role::Alice).slot_count(), 2);
    }

    proptest::proptest! {
        /// The chunks are exactly the concatenated blocks cut at multiples of the chunk size: no
        /// byte is lost, repeated or reordered, whatever the block and chunk sizes.
        #[test]
        fn chunks_are_the_concatenation_cut_evenly(
            chunk in 1usize..100,
            blocks in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..90), 0..20),
        ) {
            let mut chunker = Chunker::new(chunk);
            let mut out = Vec::new();
            let mut all = Vec::new();
            for block in &blocks {
                all.extend_from_slice(block);
                for c in chunker.push(&SecretKey::from_slice(block)) {
                    proptest::prop_assert_eq!(c.len(), chunk);
                    out.extend_from_slice(c.expose_secret());
                }
            }
            proptest::prop_assert_eq!(out.len(), all.len() / chunk * chunk);
            proptest::prop_assert_eq!(&out[..], &all[..out.len()]);
            proptest::prop_assert_eq!(chunker.pending_bytes(), all.len() % chunk);
        }
    }

    #[test]
    fn chunker_carries_tails_and_preserves_bytes() {
        let mut chunker = Chunker::new(4);
        let a = SecretKey::from_vec((0u8..6).collect());
        let b = SecretKey::from_vec((6u8..13).collect());
        let first = chunker.push(&a);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].expose_secret(), &[0, 1, 2, 3]);
        assert_eq!(chunker.pending_bytes(), 2);
        let second = chunker.push(&b);
        assert_eq!(second.len(), 2);
        assert_eq!(second[0].expose_secret(), &[4, 5, 6, 7]);
        assert_eq!(second[1].expose_secret(), &[8, 9, 10, 11]);
        assert_eq!(chunker.pending_bytes(), 1);
        // Chunks larger than a block complete over several blocks.
        let mut big = Chunker::new(10);
        assert!(big.push(&a).is_empty());
        let out = big.push(&b);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].expose_secret(), &(0u8..10).collect::<Vec<_>>()[..]);
    }
}
