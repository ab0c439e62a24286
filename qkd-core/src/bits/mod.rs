//! [`BitString`]: a packed string of bits, the currency of sifting, error correction and privacy
//! amplification.
//!
//! Bits are packed little-endian into `u64` words: bit `i` is bit `i % 64` of word `i / 64`. Bits
//! past `len` in the last word are always zero. The contents are zeroized on drop because sifted
//! and corrected keys are secret.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::key::SecretKey;

mod compress;

/// A packed, zeroizing string of bits.
#[derive(Clone, Default, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct BitString {
    words: Vec<u64>,
    len: usize,
}

impl fmt::Debug for BitString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BitString([REDACTED; {} bits])", self.len)
    }
}

impl BitString {
    /// `len` zero bits.
    pub fn zeros(len: usize) -> Self {
        Self {
            words: vec![0; len.div_ceil(64)],
            len,
        }
    }

    /// `len` uniformly random bits: one `next_u64` per 64-bit word, in order, so a seeded RNG gives
    /// a reproducible string.
    pub fn random<R: rand_core::Rng + ?Sized>(len: usize, rng: &mut R) -> Self {
        let words = (0..len.div_ceil(64)).map(|_| rng.next_u64()).collect();
        Self::from_words(words, len)
    }

    /// A copy with each bit flipped independently with probability `flip_probability` (a binary
    /// symmetric channel): one `next_u64` per bit, compared with `p * 2^64`. For tests, benchmarks
    /// and simulations of noisy sifted keys.
    pub fn noisy_copy<R: rand_core::Rng + ?Sized>(
        &self,
        flip_probability: f64,
        rng: &mut R,
    ) -> Self {
        let mut out = self.clone();
        let threshold = (flip_probability.clamp(0.0, 1.0) * 2f64.powi(64)) as u64;
        for i in 0..self.len {
            if rng.next_u64() < threshold {
                out.flip(i);
            }
        }
        out
    }

    /// From one `bool` per bit.
    pub fn from_bools(bits: &[bool]) -> Self {
        let mut s = Self::zeros(bits.len());
        for (i, &b) in bits.iter().enumerate() {
            if b {
                s.words[i / 64] |= 1 << (i % 64);
            }
        }
        s
    }

    /// From packed words; bits at positions `>= len` are cleared. Panics never: missing words
    /// are taken as zero, surplus words dropped.
    pub fn from_words(mut words: Vec<u64>, len: usize) -> Self {
        words.resize(len.div_ceil(64), 0);
        let mut s = Self { words, len };
        s.clear_tail();
        s
    }

    /// From bytes, bit `i` being bit `i % 8` of byte `i / 8` (little-endian bit order), using the
    /// first `len` bits (`len` is capped at `8 * bytes.len()`).
    pub fn from_bytes(bytes: &[u8], len: usize) -> Self {
        let len = len.min(bytes.len() * 8);
        let mut words = vec![0u64; len.div_ceil(64)];
        for (i, chunk) in bytes.chunks(8).enumerate().take(words.len()) {
            let mut buf = [0u8; 8];
            buf[..chunk.len()].copy_from_slice(chunk);
            words[i] = u64::from_le_bytes(buf);
        }
        Self::from_words(words, len)
    }

    /// Packs the bits into bytes (little-endian bit order); the last byte is zero-padded.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len.div_ceil(8));
        for w in &self.words {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.truncate(self.len.div_ceil(8));
        out
    }

    /// The bits as a [`SecretKey`] (see [`to_bytes`](Self::to_bytes) for the bit order).
    pub fn to_secret_key(&self) -> SecretKey {
        SecretKey::from_vec(self.to_bytes())
    }

    /// Number of bits.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are no bits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The packed words (bits past `len` are zero).
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    /// Mutable packed words. Callers must keep bits past `len` zero (see [`clear_tail`](Self::clear_tail)).
    pub fn words_mut(&mut self) -> &mut [u64] {
        &mut self.words
    }

    /// Bit `i`. Panics if `i >= len` (an indexing bug, like slice indexing).
    #[inline]
    pub fn get(&self, i: usize) -> bool {
        assert!(i < self.len, "bit index {i} out of range {}", self.len);
        (self.words[i / 64] >> (i % 64)) & 1 == 1
    }

    /// Sets bit `i` to `value`. Panics if `i >= len`.
    #[inline]
    pub fn set(&mut self, i: usize, value: bool) {
        assert!(i < self.len, "bit index {i} out of range {}", self.len);
        let mask = 1u64 << (i % 64);
        if value {
            self.words[i / 64] |= mask;
        } else {
            self.words[i / 64] &= !mask;
        }
    }

    /// Flips bit `i`. Panics if `i >= len`.
    #[inline]
    pub fn flip(&mut self, i: usize) {
        assert!(i < self.len, "bit index {i} out of range {}", self.len);
        self.words[i / 64] ^= 1u64 << (i % 64);
    }

    /// Appends one bit. When the storage must grow, the old storage is zeroized before it is
    /// freed.
    pub fn push(&mut self, value: bool) {
        if self.len.is_multiple_of(64) {
            self.reserve_words(self.words.len() + 1);
            self.words.push(0);
        }
        self.len += 1;
        let i = self.len - 1;
        if value {
            self.words[i / 64] |= 1 << (i % 64);
        }
    }

    /// An empty string with room for `bits` bits, so that appending up to that many never
    /// reallocates (a reallocation would leave a copy of the bits in freed memory).
    pub fn with_capacity(bits: usize) -> Self {
        Self {
            words: Vec::with_capacity(bits.div_ceil(64)),
            len: 0,
        }
    }

    /// Appends bits `start..end` of `src`, up to 64 at a time. When the storage must grow, the
    /// old storage is zeroized before it is freed. Panics if the range is out of bounds.
    pub fn extend_from_range(&mut self, src: &BitString, start: usize, end: usize) {
        assert!(
            start <= end && end <= src.len,
            "range {start}..{end} out of {}",
            src.len
        );
        self.reserve_words((self.len + (end - start)).div_ceil(64));
        let mut i = start;
        while i < end {
            let n = (end - i).min(64);
            let (w, b) = (i / 64, i % 64);
            let mut v = src.words[w] >> b;
            if b != 0 && b + n > 64 {
                v |= src.words[w + 1] << (64 - b);
            }
            if n < 64 {
                v &= (1u64 << n) - 1;
            }
            let at = self.len;
            self.len += n;
            self.words.resize(self.len.div_ceil(64), 0);
            let (dw, db) = (at / 64, at % 64);
            self.words[dw] |= v << db;
            if db != 0 && db + n > 64 {
                self.words[dw + 1] |= v >> (64 - db);
            }
            i += n;
        }
    }

    /// Appends, word by word, the bits of `values[i]` at the set positions of `masks[i]`, lowest
    /// first: a parallel bit extract over whole arrays, as sifting keeps the bits whose bases
    /// matched. Words past the shorter slice are ignored. Uses one `PEXT` a word on x86-64 CPUs
    /// with BMI2 and AVX-512F (where `PEXT` is known to be fast), a byte table elsewhere. When
    /// the storage must grow, the old storage is zeroized before it is freed.
    ///
    /// ```
    /// use qkd_core::BitString;
    ///
    /// let mut kept = BitString::zeros(0);
    /// kept.extend_selected(&[0b1011, 0b01], &[0b1110, 0b11]);
    /// assert_eq!(kept, BitString::from_bools(&[true, false, true, true, false]));
    /// ```
    pub fn extend_selected(&mut self, values: &[u64], masks: &[u64]) {
        self.extend(compress::Selection {
            values,
            masks,
            invert: false,
            last_keep: u64::MAX,
        });
    }

    /// The bits of `self` at the positions set in `select`, in order. Panics if the lengths
    /// differ.
    pub fn selected(&self, select: &BitString) -> BitString {
        self.select_with(select, false)
    }

    /// The bits of `self` at the positions clear in `select`, in order (what is left after the
    /// [`selected`](Self::selected) bits are taken out). Panics if the lengths differ.
    pub fn unselected(&self, select: &BitString) -> BitString {
        self.select_with(select, true)
    }

    fn select_with(&self, select: &BitString, invert: bool) -> BitString {
        assert_eq!(
            self.len, select.len,
            "selection of {} bits for a string of {}",
            select.len, self.len
        );
        let mut out = BitString::zeros(0);
        out.extend(compress::Selection {
            values: &self.words,
            masks: &select.words,
            invert,
            last_keep: match self.len % 64 {
                0 => u64::MAX,
                tail => (1u64 << tail) - 1,
            },
        });
        out
    }

    fn extend(&mut self, sel: compress::Selection<'_>) {
        let added = compress::selected_count(sel);
        // With the writer's slack (see `compress::Appender`).
        self.reserve_words((self.len + added) / 64 + 2);
        compress::compress_into(sel, added, &mut self.words, &mut self.len);
    }

    /// Makes room for `needed` words without letting `Vec` reallocate: a grown copy is made
    /// (at least doubling) and the old storage zeroized before it is freed.
    fn reserve_words(&mut self, needed: usize) {
        if needed > self.words.capacity() {
            let mut grown = Vec::with_capacity(needed.max(2 * self.words.capacity()));
            grown.extend_from_slice(&self.words);
            self.words.zeroize();
            self.words = grown;
        }
    }

    /// Number of one bits.
    pub fn count_ones(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Parity (XOR) of bits `start..end`. Panics if the range is out of bounds.
    pub fn parity_range(&self, start: usize, end: usize) -> bool {
        assert!(
            start <= end && end <= self.len,
            "range {start}..{end} out of {}",
            self.len
        );
        if start == end {
            return false;
        }
        words_parity(&self.words, start, end)
    }

    /// Number of positions where `self` and `other` differ (over the shorter length's words when
    /// lengths differ; callers compare equal-length strings).
    pub fn hamming_distance(&self, other: &BitString) -> usize {
        self.words
            .iter()
            .zip(&other.words)
            .map(|(a, b)| (a ^ b).count_ones() as usize)
            .sum()
    }

    /// Bits `start..end` as a new string. Panics if the range is out of bounds.
    pub fn slice(&self, start: usize, end: usize) -> BitString {
        assert!(
            start <= end && end <= self.len,
            "range {start}..{end} out of {}",
            self.len
        );
        let len = end - start;
        let mut out = BitString::zeros(len);
        let shift = start % 64;
        let first = start / 64;
        for (k, w) in out.words.iter_mut().enumerate() {
            let lo = self.words.get(first + k).copied().unwrap_or(0) >> shift;
            let hi = if shift == 0 {
                0
            } else {
                self.words.get(first + k + 1).copied().unwrap_or(0) << (64 - shift)
            };
            *w = lo | hi;
        }
        out.clear_tail();
        out
    }

    /// Shortens the string to its first `len` bits (no effect if it is not longer); the dropped
    /// bits are zeroized.
    pub fn truncate(&mut self, len: usize) {
        if len >= self.len {
            return;
        }
        self.words[len.div_ceil(64)..].zeroize();
        self.words.truncate(len.div_ceil(64));
        self.len = len;
        self.clear_tail();
    }

    /// Zeroes the unused bits of the last word.
    pub fn clear_tail(&mut self) {
        if !self.len.is_multiple_of(64)
            && let Some(last) = self.words.last_mut()
        {
            *last &= (1u64 << (self.len % 64)) - 1;
        }
    }

    /// Iterates over the bits.
    pub fn iter(&self) -> impl Iterator<Item = bool> + '_ {
        (0..self.len).map(move |i| (self.words[i / 64] >> (i % 64)) & 1 == 1)
    }
}

/// Parity of bits `lo..hi` (`lo < hi <= 64 * words.len()`) of packed words: the hot path of
/// Cascade's two ends, kept inlinable.
#[inline(always)]
pub(crate) fn words_parity(words: &[u64], lo: usize, hi: usize) -> bool {
    let (sw, ew) = (lo / 64, (hi - 1) / 64);
    let lo_mask = u64::MAX << (lo % 64);
    let hi_mask = u64::MAX >> (63 - (hi - 1) % 64);
    if sw == ew {
        return word_parity(words[sw] & lo_mask & hi_mask);
    }
    let mut acc = (words[sw] & lo_mask) ^ (words[ew] & hi_mask);
    for w in &words[sw + 1..ew] {
        acc ^= w;
    }
    word_parity(acc)
}

/// Parity of the bits of one word. The baseline x86-64 target has no `POPCNT`, and
/// `count_ones` then costs a dozen operations and a multiply; folding needs fewer.
#[inline(always)]
pub(crate) fn word_parity(x: u64) -> bool {
    #[cfg(any(target_feature = "popcnt", not(target_arch = "x86_64")))]
    {
        x.count_ones() & 1 == 1
    }
    #[cfg(not(any(target_feature = "popcnt", not(target_arch = "x86_64"))))]
    {
        // Bit 4i becomes the parity of nibble i; the multiply sums the sixteen nibble parities
        // into the top nibble (mod 16), whose low bit is the parity.
        let x = x ^ (x >> 1);
        let x = x ^ (x >> 2);
        ((x & 0x1111_1111_1111_1111).wrapping_mul(0x1111_1111_1111_1111) >> 60) & 1 == 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_parity_is_the_popcount_parity() {
        use rand_chacha::ChaCha8Rng;
        use rand_core::{Rng, SeedableRng};
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for x in [0, 1, u64::MAX, 1 << 63, 0xffff, 0x8000_0000_0000_0001] {
            assert_eq!(word_parity(x), x.count_ones() % 2 == 1, "{x:#x}");
        }
        for _ in 0..10_000 {
            let x = rng.next_u64() & rng.next_u64();
            assert_eq!(word_parity(x), x.count_ones() % 2 == 1, "{x:#x}");
        }
    }

    #[test]
    fn set_get_flip_push() {
        let mut b = BitString::zeros(130);
        b.set(0, true);
        b.set(64, true);
        b.flip(129);
        assert!(b.get(0) && b.get(64) && b.get(129) && !b.get(1));
        assert_eq!(b.count_ones(), 3);
        b.push(true);
        assert_eq!(b.len(), 131);
        assert!(b.get(130));
        let mut c = BitString::default();
        for i in 0..200 {
            c.push(i % 3 == 0);
        }
        assert_eq!(c.count_ones(), 67);
    }

    #[test]
    fn selected_and_unselected_split_the_string() {
        use rand_chacha::ChaCha8Rng;
        use rand_core::SeedableRng;
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for len in [1, 63, 64, 65, 200, 1000] {
            let key = BitString::random(len, &mut rng);
            let select = BitString::random(len, &mut rng);
            let (taken, left) = (key.selected(&select), key.unselected(&select));
            assert_eq!(taken.len(), select.count_ones());
            assert_eq!(taken.len() + left.len(), len);
            let (mut t, mut l) = (taken.iter(), left.iter());
            for i in 0..len {
                let bit = if select.get(i) { t.next() } else { l.next() };
                assert_eq!(bit, Some(key.get(i)), "len {len}, bit {i}");
            }
            let mut cut = key.clone();
            cut.truncate(len / 2);
            assert_eq!(cut, key.slice(0, len / 2));
            cut.truncate(len);
            assert_eq!(cut.len(), len / 2, "truncate never lengthens");
        }
    }

    proptest::proptest! {
        /// Appending ranges equals appending their bits one by one, at any alignment.
        #[test]
        fn extend_from_range_matches_push(
            bools in proptest::collection::vec(proptest::bool::ANY, 0..300),
            prefix in 0usize..140,
            cuts in proptest::collection::vec((0usize..300, 0usize..300), 0..6),
        ) {
            let src = BitString::from_bools(&bools);
            let mut fast = BitString::with_capacity(8);
            let mut slow = BitString::default();
            for i in 0..prefix {
                fast.push(i % 3 == 1);
                slow.push(i % 3 == 1);
            }
            for (a, b) in cuts {
                let (start, end) = (a.min(b).min(src.len()), a.max(b).min(src.len()));
                fast.extend_from_range(&src, start, end);
                for i in start..end {
                    slow.push(src.get(i));
                }
            }
            proptest::prop_assert_eq!(fast, slow);
        }
    }

    #[test]
    fn parity_and_slice_match_naive() {
        let bools: Vec<bool> = (0..300).map(|i| (i * 7919 + i / 3) % 5 < 2).collect();
        let b = BitString::from_bools(&bools);
        for (s, e) in [
            (0, 0),
            (0, 1),
            (3, 64),
            (63, 65),
            (0, 300),
            (64, 128),
            (5, 250),
            (299, 300),
        ] {
            let naive = bools[s..e].iter().filter(|&&x| x).count() % 2 == 1;
            assert_eq!(b.parity_range(s, e), naive, "{s}..{e}");
            let sl = b.slice(s, e);
            assert_eq!(sl.len(), e - s);
            assert!(sl.iter().eq(bools[s..e].iter().copied()));
        }
    }

    #[test]
    fn random_and_noisy_copy() {
        use rand_chacha::ChaCha8Rng;
        use rand_core::SeedableRng;
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let a = BitString::random(10_000, &mut rng);
        assert_eq!(a.len(), 10_000);
        // Ones in 10^4 fair bits: mean 5000, sd 50; 5 sd = 250.
        assert!(a.count_ones().abs_diff(5000) < 250);
        assert_eq!(a.noisy_copy(0.0, &mut rng), a);
        assert_eq!(a.noisy_copy(1.0, &mut rng).hamming_distance(&a), 10_000);
        // Flips at p = 0.1: mean 1000, sd sqrt(900) = 30; 5 sd = 150.
        let flips = a.noisy_copy(0.1, &mut rng).hamming_distance(&a);
        assert!(flips.abs_diff(1000) < 150, "{flips}");
    }

    #[test]
    fn bytes_round_trip_and_debug_redacted() {
        let bytes = [0xA5u8, 0x01, 0xFF];
        let b = BitString::from_bytes(&bytes, 20);
        assert_eq!(b.len(), 20);
        assert_eq!(b.to_bytes(), vec![0xA5, 0x01, 0x0F]);
        assert!(b.get(0) && !b.get(1));
        assert_eq!(format!("{b:?}"), "BitString([REDACTED; 20 bits])");
        assert_eq!(BitString::from_bytes(&bytes, 100).len(), 24);
        let other = BitString::from_bytes(&[0xA4, 0x01, 0x0E], 20);
        assert_eq!(b.hamming_distance(&other), 2);
    }
}
