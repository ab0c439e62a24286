//! Deterministic pseudo-random choices from a shared seed: per-pass shuffles for Cascade and
//! sample positions for parameter estimation.
//!
//! Both ends of a link must derive exactly the same values, across machines and versions, so the
//! algorithms are fixed here rather than borrowed from `rand`'s distributions (whose values may
//! change between releases): the stream is ChaCha20 (`rand_chacha`, value-stable and tested
//! against reference vectors) keyed by the 256-bit seed, with the ChaCha nonce ("stream") set to
//! a purpose-specific number; integers below a bound use Lemire's widening-multiply method with
//! rejection (unbiased; 32-bit draws for bounds up to 2^32, 64-bit draws otherwise);
//! permutations use the Fisher-Yates shuffle.

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use zeroize::Zeroizing;

/// ChaCha stream reserved for parameter-estimation sampling.
pub(crate) const STREAM_ESTIMATION: u64 = 0x4553_5449_4d41_5445; // "ESTIMATE"
/// ChaCha stream of Cascade pass `p` is `STREAM_CASCADE_BASE + p`.
pub(crate) const STREAM_CASCADE_BASE: u64 = 0x4341_5343_0000_0000; // "CASC"
/// ChaCha stream of the structured shuffle of Cascade pass `p` is `STREAM_ROTATION_BASE + p`.
pub(crate) const STREAM_ROTATION_BASE: u64 = 0x524f_5441_0000_0000; // "ROTA"

/// A deterministic generator keyed by a shared seed.
pub(crate) struct SeededRng(ChaCha20Rng);

impl SeededRng {
    /// The generator for `seed` on stream `stream`.
    pub(crate) fn new(seed: &[u8; 32], stream: u64) -> Self {
        let mut rng = ChaCha20Rng::from_seed(*seed);
        rng.set_stream(stream);
        Self(rng)
    }

    /// A uniform integer in `0..bound` (`bound > 0`), by Lemire's method: the high word of
    /// `x * bound` for a uniform 64-bit `x`, rejecting the `2^64 mod bound` low values that
    /// would bias it. The rejection threshold is below `bound`, so it is computed (a division)
    /// only for the rare draw whose low word falls under `bound`: the values are those of the
    /// plain method, without a division per draw.
    pub(crate) fn below(&mut self, bound: u64) -> u64 {
        debug_assert!(bound > 0);
        let mut m = u128::from(self.0.next_u64()) * u128::from(bound);
        // The threshold is below `bound`: only a low word under `bound` needs the division.
        if (m as u64) < bound {
            let threshold = bound.wrapping_neg() % bound; // 2^64 mod bound
            while (m as u64) < threshold {
                m = u128::from(self.0.next_u64()) * u128::from(bound);
            }
        }
        (m >> 64) as u64
    }

    /// A uniform integer in `0..bound` (`0 < bound <= 2^32`), by the same method on a 32-bit
    /// draw (half the generator output per value).
    pub(crate) fn below_u32(&mut self, bound: u32) -> u32 {
        debug_assert!(bound > 0);
        let mut m = u64::from(self.0.next_u32()) * u64::from(bound);
        if (m as u32) < bound {
            let threshold = bound.wrapping_neg() % bound; // 2^32 mod bound
            while (m as u32) < threshold {
                m = u64::from(self.0.next_u32()) * u64::from(bound);
            }
        }
        (m >> 32) as u32
    }
}

/// A uniformly random permutation of `0..n` (Fisher-Yates, drawing `j` in `0..=i` with
/// [`SeededRng::below_u32`]), as a table `pos[x]` = new position of original position `x`.
/// `n` must fit in `u32` (checked by the callers).
pub(crate) fn permutation(n: usize, seed: &[u8; 32], stream: u64) -> Vec<u32> {
    let mut rng = SeededRng::new(seed, stream);
    let mut pos: Vec<u32> = (0..n as u32).collect();
    for i in (1..n).rev() {
        let j = rng.below_u32(i as u32 + 1) as usize;
        pos.swap(i, j);
    }
    pos
}

/// Number of column groups of a [`RowRotation`], each with its own row permutation.
pub(crate) const ROW_GROUPS: usize = 8;

/// A structured pseudo-random permutation of `0..n` whose shuffled ranges have cheap parities.
///
/// View the key as a matrix of 64 columns (bit `x` is column `x % 64` of row `x / 64`): `W =
/// n / 64` full rows, and, when `t = n % 64 > 0`, a last row holding only columns `0..t`, so
/// column `c` has `len(c) = W + [c < t]` entries. The shuffle
///
/// 1. splits the 64 columns into [`ROW_GROUPS`] groups of 8 by a uniformly random permutation
///    of the columns;
/// 2. permutes the `W` full rows of each group by its own uniformly random permutation
///    (Fisher-Yates); the partial last row stays last;
/// 3. rotates every column `c` cyclically by its own uniformly random amount `rot[c] < len(c)`.
///
/// The shuffled key keeps the matrix shape, so its positions are exactly `0..n`: shuffled
/// position `64 j + c` holds column `c` of row `rho_g^-1((j + rot[c]) mod len(c))`, `g` the
/// group of `c`.
///
/// Two key bits in the same row land in independently rotated columns, two bits in different
/// rows in independently permuted rows, so pairs of bits are separated as by a uniformly random
/// permutation. The separate row permutations per group matter for four errors on the corners
/// of a rectangle (rows `w, w'`, columns `c, c'`): with one row permutation for all columns the
/// two pairs `(w, c), (w', c)` and `(w, c'), (w', c')` would sit at the same shuffled distance
/// in every pass, which hides the four together in a two-block pass with probability about 2/3
/// instead of 1/2 and raised the measured frame error rate of `YanEtAl` about tenfold. The
/// shuffle is public and drawn from the shared seed, independent of the channel errors, as
/// Cascade requires.
///
/// Its point is speed: a run of whole shuffled rows `a..b` holds, in every column `c`, a cyclic
/// run of the row-permuted key, so its parity follows from 64 lookups in a prefix-XOR table of
/// the row-permuted key (see `plan::RotationView`) whatever its length, where a random
/// permutation needs one random bit read per position. Drawing it takes `8 W + 128` random
/// numbers instead of `n`, and it is stored in `64 W` bytes instead of `8 n`.
#[derive(Debug)]
pub(crate) struct RowRotation {
    /// `W`: number of full rows.
    pub(crate) rows: usize,
    /// `t = n % 64`: columns `0..t` have one more (partial-row) entry.
    pub(crate) tail: usize,
    /// `rho[w][g]`: permuted index of full row `w` in group `g` (the eight groups side by side,
    /// so a flip's lookups and a row's gathers touch one cache line).
    rho: RowTable,
    /// `rho_inv[r][g]`: the full row at permuted index `r` in group `g`.
    rho_inv: RowTable,
    /// Group of each column.
    group: [u8; 64],
    /// `masks[g]`: the columns of group `g`.
    pub(crate) masks: [u64; ROW_GROUPS],
    /// Rotation of each column, `rot[c] < len(c)`.
    pub(crate) rot: [u32; 64],
}

/// A table of `W` rows of [`ROW_GROUPS`] row indices. Stored in 16 bits when every index fits
/// (keys of up to 2^22 bits): the tables of all passes are read at random on every flip, and
/// half the bytes keep more of them in cache.
#[derive(Debug, PartialEq, Eq)]
enum RowTable {
    Narrow(Vec<[u16; ROW_GROUPS]>),
    Wide(Vec<[u32; ROW_GROUPS]>),
}

impl RowTable {
    fn new(rows: Vec<[u32; ROW_GROUPS]>) -> Self {
        if rows.len() <= 1 << 16 {
            Self::Narrow(rows.iter().map(|r| r.map(|w| w as u16)).collect())
        } else {
            Self::Wide(rows)
        }
    }

    /// Entry `g` of row `w`.
    #[inline]
    fn get(&self, w: usize, g: usize) -> usize {
        match self {
            Self::Narrow(t) => usize::from(t[w][g]),
            Self::Wide(t) => t[w][g] as usize,
        }
    }

    /// Calls `f` with each element of `out` and the row of the same rank from `first` on,
    /// widened: one plain loop per storage width (the width is matched once, not per row).
    #[inline(always)]
    fn zip_rows<O>(
        &self,
        first: usize,
        out: &mut [O],
        mut f: impl FnMut(&mut O, [usize; ROW_GROUPS]),
    ) {
        let rows = first..first + out.len();
        match self {
            Self::Narrow(t) => {
                for (o, r) in out.iter_mut().zip(&t[rows]) {
                    f(o, r.map(usize::from));
                }
            }
            Self::Wide(t) => {
                for (o, r) in out.iter_mut().zip(&t[rows]) {
                    f(o, r.map(|w| w as usize));
                }
            }
        }
    }
}

impl RowRotation {
    /// The shuffle of `0..n` (`64 <= n <= u32::MAX`, checked by the callers) drawn from `seed`
    /// on `stream`: the column permutation, the row permutations of the groups in order, then
    /// the 64 rotations.
    pub(crate) fn new(n: usize, seed: &[u8; 32], stream: u64) -> Self {
        let (rows, tail) = (n / 64, n % 64);
        debug_assert!(rows > 0);
        let mut rng = SeededRng::new(seed, stream);
        let mut cols: [u8; 64] = std::array::from_fn(|c| c as u8);
        for i in (1..64).rev() {
            let j = rng.below_u32(i as u32 + 1) as usize;
            cols.swap(i, j);
        }
        let (mut group, mut masks) = ([0u8; 64], [0u64; ROW_GROUPS]);
        for (slot, &c) in cols.iter().enumerate() {
            let g = slot * ROW_GROUPS / 64;
            group[c as usize] = g as u8;
            masks[g] |= 1u64 << c;
        }
        let mut rho_inv = vec![[0u32; ROW_GROUPS]; rows];
        let mut perm: Vec<u32> = Vec::with_capacity(rows);
        for g in 0..ROW_GROUPS {
            perm.clear();
            perm.extend(0..rows as u32);
            for i in (1..rows).rev() {
                let j = rng.below_u32(i as u32 + 1) as usize;
                perm.swap(i, j);
            }
            for (slot, &w) in rho_inv.iter_mut().zip(&perm) {
                slot[g] = w;
            }
        }
        let mut rho = vec![[0u32; ROW_GROUPS]; rows];
        for (r, slot) in rho_inv.iter().enumerate() {
            for (g, &w) in slot.iter().enumerate() {
                rho[w as usize][g] = r as u32;
            }
        }
        let mut rot = [0u32; 64];
        for (c, r) in rot.iter_mut().enumerate() {
            *r = rng.below_u32((rows + usize::from(c < tail)) as u32);
        }
        Self {
            rows,
            tail,
            rho: RowTable::new(rho),
            rho_inv: RowTable::new(rho_inv),
            group,
            masks,
            rot,
        }
    }

    /// Number of entries of column `c`.
    #[inline]
    pub(crate) fn column_len(&self, c: usize) -> usize {
        self.rows + usize::from(c < self.tail)
    }

    /// Shuffled position of key bit `x`.
    #[inline]
    pub(crate) fn forward(&self, x: usize) -> usize {
        let (w, c) = (x >> 6, x & 63);
        let r = if w < self.rows {
            self.rho.get(w, self.group[c] as usize)
        } else {
            self.rows
        };
        let len = self.column_len(c);
        let mut j = r + len - self.rot[c] as usize;
        if j >= len {
            j -= len;
        }
        (j << 6) | c
    }

    /// Which key bits land in shuffled positions `0..k`: bit `c` of word `w` of the result is set
    /// when key bit `64 w + c` does. Column by column, branch-free.
    pub(crate) fn head_mask(&self, k: usize) -> Vec<u64> {
        let n = 64 * self.rows + self.tail;
        let mut mask = vec![0u64; n.div_ceil(64)];
        let (full_rows, tail_cols) = (k / 64, k % 64);
        for c in 0..64 {
            let (len, rot, g) = (
                self.column_len(c),
                self.rot[c] as usize,
                self.group[c] as usize,
            );
            // Shuffled row j of column c is in 0..k when j < limit.
            let limit = full_rows + usize::from(c < tail_cols);
            let shuffled_row = |r: usize| {
                let j = r + len - rot;
                if j >= len { j - len } else { j }
            };
            self.rho.zip_rows(0, &mut mask[..self.rows], |m, rows| {
                *m |= u64::from(shuffled_row(rows[g]) < limit) << c;
            });
            if c < self.tail {
                // The partial last row keeps its place before the rotation.
                mask[self.rows] |= u64::from(shuffled_row(self.rows) < limit) << c;
            }
        }
        mask
    }

    /// Key bit at shuffled position `q`.
    #[inline]
    pub(crate) fn original(&self, q: usize) -> usize {
        let (j, c) = (q >> 6, q & 63);
        let r = self.permuted_row(j, c);
        let w = if r < self.rows {
            self.rho_inv.get(r, self.group[c] as usize)
        } else {
            self.rows
        };
        (w << 6) | c
    }

    /// Index in the row-permuted key of the entry shown at shuffled row `j`, column `c`.
    #[inline]
    pub(crate) fn permuted_row(&self, j: usize, c: usize) -> usize {
        let len = self.column_len(c);
        let r = j + self.rot[c] as usize;
        if r >= len { r - len } else { r }
    }

    /// The row-permuted key: word `r < W` holds, in the columns of each group `g`, the key row
    /// at permuted index `r` of that group; then the partial last row, if any. Written to `out`
    /// (cleared first): eight gathers of one word per row.
    pub(crate) fn permuted_words(&self, key: &[u64], out: &mut Vec<u64>) {
        out.clear();
        out.resize(self.rows + usize::from(self.tail > 0), 0);
        self.permuted_rows(key, 0, out);
    }

    /// Words `first..first + out.len()` of the [row-permuted key](Self::permuted_words) into
    /// `out` (eight gathers of one word per full row).
    fn permuted_rows(&self, key: &[u64], first: usize, out: &mut [u64]) {
        let gather = |rows: [usize; ROW_GROUPS]| {
            rows.iter()
                .zip(&self.masks)
                .fold(0u64, |acc, (&w, &m)| acc | (key[w] & m))
        };
        let full = out.len().min(self.rows.saturating_sub(first));
        let (body, partial) = out.split_at_mut(full);
        self.rho_inv
            .zip_rows(first, body, |o, rows| *o = gather(rows));
        if let Some(o) = partial.first_mut() {
            // The partial last row keeps its place.
            *o = key[self.rows];
        }
    }

    /// The shuffled key: bit `q` of `out` (`ceil(n / 64)` words, overwritten) is key bit
    /// [`original(q)`](Self::original). The row-permuted key is transposed tile by tile (64 by 64
    /// bits) so that each column becomes a bit string, every column is rotated with word shifts,
    /// and the result is transposed back, instead of a masked pass over all rows for each of
    /// the 64 columns.
    pub(crate) fn shuffle_into(&self, key: &[u64], out: &mut [u64]) {
        let rows = self.rows + usize::from(self.tail > 0);
        let tiles = rows.div_ceil(64);
        // Column c as a bit string of len(c) bits (zero beyond), plus a zero word so that any
        // 64-bit window starting inside it can be read.
        let stride = tiles + 1;
        let mut columns = Zeroizing::new(vec![0u64; 64 * stride]);
        let mut tile = Zeroizing::new([0u64; 64]);
        for t in 0..tiles {
            // The row-permuted words 64 t.., gathered straight into the tile.
            let count = (rows - 64 * t).min(64);
            self.permuted_rows(key, 64 * t, &mut tile[..count]);
            tile[count..].fill(0);
            transpose64(&mut tile);
            for (c, &w) in tile.iter().enumerate() {
                columns[c * stride + t] = w;
            }
        }
        // Rotated columns, tile by tile: word c of tile t is rows 64 t.. of rotated column c.
        let mut rotated = Zeroizing::new(vec![0u64; 64 * tiles]);
        for c in 0..64 {
            let (len, rot) = (self.column_len(c), self.rot[c] as usize);
            let column = &columns[c * stride..(c + 1) * stride];
            for t in 0..len.div_ceil(64) {
                // Shuffled row j of column c is permuted row (j + rot) mod len.
                let mut start = 64 * t + rot;
                if start >= len {
                    start -= len;
                }
                let w = if start + 64 <= len {
                    window(column, start)
                } else if len >= 64 {
                    // The window wraps once: `head` bits before the end, then the column's start.
                    let head = len - start;
                    (window(column, start) & ((1u64 << head) - 1)) | (column[0] << head)
                } else {
                    // A column shorter than a word (keys under 128 bits) wraps repeatedly.
                    (0..64).fold(0u64, |w, i| {
                        let r = (start + i) % len;
                        w | (((column[r / 64] >> (r % 64)) & 1) << i)
                    })
                };
                let valid = len - 64 * t;
                rotated[t * 64 + c] = if valid < 64 {
                    w & ((1u64 << valid) - 1)
                } else {
                    w
                };
            }
        }
        for t in 0..tiles {
            tile.copy_from_slice(&rotated[t * 64..t * 64 + 64]);
            transpose64(&mut tile);
            let dst = &mut out[64 * t..rows.min(64 * t + 64)];
            dst.copy_from_slice(&tile[..dst.len()]);
        }
    }
}

/// Bits `start..start + 64` of `words` as one word (`words` must extend past `start / 64`).
#[inline]
fn window(words: &[u64], start: usize) -> u64 {
    let (i, s) = (start / 64, start % 64);
    if s == 0 {
        words[i]
    } else {
        (words[i] >> s) | (words[i + 1] << (64 - s))
    }
}

/// Transposes a 64 by 64 bit matrix in place: afterwards bit `c` of `a[r]` is what bit `r` of
/// `a[c]` was. Six rounds of masked swaps between rows `j` apart (`j` = 32, 16, ..., 1).
pub(crate) fn transpose64(a: &mut [u64; 64]) {
    transpose_stage::<32>(a, 0x0000_0000_ffff_ffff);
    transpose_stage::<16>(a, 0x0000_ffff_0000_ffff);
    transpose_stage::<8>(a, 0x00ff_00ff_00ff_00ff);
    transpose_stage::<4>(a, 0x0f0f_0f0f_0f0f_0f0f);
    transpose_stage::<2>(a, 0x3333_3333_3333_3333);
    transpose_stage::<1>(a, 0x5555_5555_5555_5555);
}

/// One round of [`transpose64`]: in each block of `2 J` rows, swaps the `m`-masked bits of row
/// `r + J` with the `m << J`-masked bits of row `r` (for the first `J` rows `r`). A constant `J`
/// gives constant loop bounds and shifts, so the rounds vectorise.
#[inline(always)]
fn transpose_stage<const J: usize>(a: &mut [u64; 64], m: u64) {
    for pair in a.chunks_exact_mut(2 * J) {
        // Disjoint halves.
        let (top, bottom) = pair.split_at_mut(J);
        for (x, y) in top.iter_mut().zip(bottom) {
            let t = ((*x >> J) ^ *y) & m;
            *y ^= t;
            *x ^= t << J;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutation_is_a_bijection_and_deterministic() {
        let seed = [7u8; 32];
        let p = permutation(1000, &seed, 3);
        let mut seen = vec![false; 1000];
        for &q in &p {
            assert!(!seen[q as usize]);
            seen[q as usize] = true;
        }
        assert_eq!(p, permutation(1000, &seed, 3));
        assert_ne!(p, permutation(1000, &seed, 4));
        let other_seed = [8u8; 32];
        assert_ne!(p, permutation(1000, &other_seed, 3));
    }

    #[test]
    fn row_rotation_is_a_bijection_onto_0_n() {
        for n in [64, 65, 127, 128, 1000, 4096, 4159, 10_007] {
            let rr = RowRotation::new(n, &[3u8; 32], 9);
            let mut seen = vec![false; n];
            for x in 0..n {
                let q = rr.forward(x);
                assert!(q < n, "n={n} x={x} q={q}");
                assert!(!seen[q], "n={n}: {q} hit twice");
                seen[q] = true;
                assert_eq!(rr.original(q), x, "n={n}");
            }
        }
        let a = RowRotation::new(5000, &[3u8; 32], 1);
        let b = RowRotation::new(5000, &[3u8; 32], 2);
        assert!(a.rho_inv != b.rho_inv || a.rot != b.rot || a.masks != b.masks);
    }

    #[test]
    fn below_is_uniform_enough() {
        // 60_000 draws in 0..6: each count is Binomial(60000, 1/6), mean 10000, sd ~91.3;
        // 5 sigma is ~457, so each count must lie in 10000 +- 460.
        let mut rng = SeededRng::new(&[1u8; 32], 0);
        let mut counts = [0u32; 6];
        let mut counts32 = [0u32; 6];
        for _ in 0..60_000 {
            counts[rng.below(6) as usize] += 1;
            counts32[rng.below_u32(6) as usize] += 1;
        }
        for c in counts.into_iter().chain(counts32) {
            assert!((9540..=10460).contains(&c), "{counts:?} {counts32:?}");
        }
    }

    #[test]
    fn divisionless_draws_equal_the_plain_method() {
        // The reference: the threshold computed before every draw. Bounds just above a power
        // of two reject almost half of all draws, so both paths of the shortcut are exercised.
        let (seed, stream) = ([9u8; 32], 4);
        let mut fast = SeededRng::new(&seed, stream);
        let mut plain = ChaCha20Rng::from_seed(seed);
        plain.set_stream(stream);
        for bound in [1u64, 2, 3, 6, 1000, (1 << 32) + 1, (1 << 63) + 1, u64::MAX] {
            let threshold = bound.wrapping_neg() % bound;
            for _ in 0..2000 {
                let expected = loop {
                    let m = u128::from(plain.next_u64()) * u128::from(bound);
                    if (m as u64) >= threshold {
                        break (m >> 64) as u64;
                    }
                };
                assert_eq!(fast.below(bound), expected, "bound {bound}");
            }
        }
        for bound in [1u32, 2, 7, 1000, (1 << 31) + 1, u32::MAX] {
            let threshold = bound.wrapping_neg() % bound;
            for _ in 0..2000 {
                let expected = loop {
                    let m = u64::from(plain.next_u32()) * u64::from(bound);
                    if (m as u32) >= threshold {
                        break (m >> 32) as u32;
                    }
                };
                assert_eq!(fast.below_u32(bound), expected, "bound {bound}");
            }
        }
    }

    /// Keys of more than 2^22 bits keep 32-bit tables; their separate loops (forward,
    /// original, the shuffled copy, the head mask) agree with the definition too.
    #[test]
    fn wide_tables_follow_the_definition() {
        let n = (1usize << 22) + 64 * 3 + 5;
        let rr = RowRotation::new(n, &[9u8; 32], 4);
        assert!(matches!(rr.rho, RowTable::Wide(_)));
        let mut rng = SeededRng::new(&[2u8; 32], 1);
        let mut key: Vec<u64> = (0..n.div_ceil(64)).map(|_| rng.0.next_u64()).collect();
        *key.last_mut().unwrap() &= (1u64 << (n % 64)) - 1;
        let mut out = vec![0u64; key.len()];
        rr.shuffle_into(&key, &mut out);
        let k = n.div_ceil(2);
        let head = rr.head_mask(k);
        let bit = |words: &[u64], i: usize| (words[i / 64] >> (i % 64)) & 1;
        for x in (0..n).step_by(97).chain(n - 70..n) {
            let q = rr.forward(x);
            assert!(q < n);
            assert_eq!(rr.original(q), x);
            assert_eq!(bit(&out, q), bit(&key, x), "x = {x}");
            assert_eq!(bit(&head, x) == 1, q < k, "x = {x}");
        }
    }

    #[test]
    fn row_tables_narrow_only_when_every_index_fits() {
        for rows in [1usize, 1 << 16, (1 << 16) + 1] {
            let table: Vec<[u32; ROW_GROUPS]> = (0..rows)
                .map(|w| std::array::from_fn(|g| ((w * 7 + g * 911) % rows) as u32))
                .collect();
            let packed = RowTable::new(table.clone());
            assert_eq!(matches!(packed, RowTable::Narrow(_)), rows <= 1 << 16);
            for (w, row) in table.iter().enumerate() {
                for (g, &v) in row.iter().enumerate() {
                    assert_eq!(packed.get(w, g), v as usize);
                }
            }
        }
    }

    #[test]
    fn transpose64_transposes() {
        let mut rng = SeededRng::new(&[5u8; 32], 1);
        let a: [u64; 64] = std::array::from_fn(|_| rng.0.next_u64());
        let mut b = a;
        transpose64(&mut b);
        for (r, &row) in a.iter().enumerate() {
            for (c, &col) in b.iter().enumerate() {
                assert_eq!((row >> c) & 1, (col >> r) & 1, "({r}, {c})");
            }
        }
    }

    #[test]
    fn shuffle_into_places_every_bit_where_original_says() {
        // Lengths around tile and word boundaries, with and without a partial row.
        for n in [64, 65, 127, 4095, 4096, 4097, 4159, 8192 + 63, 100_000] {
            let rr = RowRotation::new(n, &[8u8; 32], 3);
            let mut rng = SeededRng::new(&[6u8; 32], n as u64);
            let mut key: Vec<u64> = (0..n.div_ceil(64)).map(|_| rng.0.next_u64()).collect();
            if n % 64 != 0 {
                *key.last_mut().unwrap() &= (1u64 << (n % 64)) - 1;
            }
            let mut out = vec![u64::MAX; n.div_ceil(64)];
            rr.shuffle_into(&key, &mut out);
            let bit = |words: &[u64], i: usize| (words[i / 64] >> (i % 64)) & 1;
            for q in 0..n {
                assert_eq!(bit(&out, q), bit(&key, rr.original(q)), "n = {n}, q = {q}");
            }
            if n % 64 != 0 {
                assert_eq!(
                    out[n / 64] >> (n % 64),
                    0,
                    "n = {n}: bits past the end are zero"
                );
            }
        }
    }
}
