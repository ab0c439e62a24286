//! Cutting a stream's blocks into chunks of the negotiated size.

use qkd_core::SecretKey;
use zeroize::Zeroizing;

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
