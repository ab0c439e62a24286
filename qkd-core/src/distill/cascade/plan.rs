//! [`CascadePlan`]: the parameters both ends must share (key length, block size of each pass,
//! shuffles), derived from a [`CascadeConfig`], the key length and the QBER estimate.
//!
//! A plan is immutable and reusable: the shuffles of a given seed and key length are the same for
//! every block, so a link builds the plan once per (config, key length, QBER estimate) and
//! shares it (`Arc`) between blocks and between the two state machines of an in-process test.

use std::sync::Arc;

use super::shuffle::{STREAM_CASCADE_BASE, permutation};
use super::{CascadeConfig, CascadeVariant};
use crate::bits::BitString;
use crate::distill::DistillError;

/// Passes with at most this many blocks compute their top-level parities from precomputed
/// membership masks (word-parallel popcount over the unshuffled key) instead of a shuffled copy.
const MASK_BLOCKS: usize = 4;
/// Upper bound on the number of passes a plan may have.
pub const MAX_PASSES: usize = 64;

/// The shared parameters of one Cascade run: key length, per-pass block sizes and shuffles.
#[derive(Debug)]
pub struct CascadePlan {
    n: usize,
    passes: Vec<PassPlan>,
    /// Shuffled position of key bit `x` in pass `p` at `positions[x * passes + p]`: all the
    /// passes' positions of one bit share a cache line, so propagating a flip to every pass
    /// costs one memory access rather than one per pass.
    positions: Vec<u32>,
    digest: u64,
}

/// One pass: block size and shuffle.
pub(crate) struct PassPlan {
    pub(crate) block_size: usize,
    pub(crate) blocks: usize,
    /// `orig[q]`: key bit at shuffled position `q`; `None` for the identity (unshuffled pass).
    orig: Option<Vec<u32>>,
    /// For passes with few blocks: `masks[b]` marks the key bits of block `b` (all blocks but
    /// the last, whose parity is the total parity minus the others).
    pub(crate) masks: Option<Vec<Vec<u64>>>,
}

impl std::fmt::Debug for PassPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PassPlan")
            .field("block_size", &self.block_size)
            .field("blocks", &self.blocks)
            .field("shuffled", &self.orig.is_some())
            .finish()
    }
}

impl PassPlan {
    /// The key bit at shuffled position `q`.
    pub(crate) fn original(&self, q: usize) -> usize {
        match self.orig_table() {
            None => q,
            Some(orig) => orig[q] as usize,
        }
    }

    /// The inverse shuffle table (`None` for an unshuffled pass).
    fn orig_table(&self) -> Option<&[u32]> {
        self.orig.as_deref()
    }
}

impl CascadePlan {
    /// The plan for `config` on a key of `key_len` bits whose QBER is estimated at `qber`
    /// (the block sizes of [`CascadeVariant`] depend on it; both ends must use the same value).
    ///
    /// Errors: [`DistillError::EmptyKey`] if `key_len` is 0; [`DistillError::QberOutOfRange`]
    /// unless `0 < qber < 0.5`; [`DistillError::InvalidParameter`] if `key_len` exceeds
    /// `u32::MAX` or a custom schedule is invalid.
    pub fn new(config: &CascadeConfig, key_len: usize, qber: f64) -> Result<Self, DistillError> {
        if key_len == 0 {
            return Err(DistillError::EmptyKey);
        }
        if !(qber > 0.0 && qber < 0.5) {
            return Err(DistillError::QberOutOfRange {
                qber,
                min: 0.0,
                max: 0.5,
            });
        }
        let sizes = config.variant.block_sizes(key_len, qber);
        Self::with_block_sizes(key_len, &sizes, config)
    }

    /// A plan with explicit block sizes (one per pass; each is capped at `key_len`), shuffled
    /// as `config` says (its `variant` is ignored).
    ///
    /// Errors: [`DistillError::EmptyKey`] if `key_len` is 0; [`DistillError::InvalidParameter`]
    /// if there is no pass or more than [`MAX_PASSES`], a block size is 0, or `key_len`
    /// exceeds `u32::MAX`.
    pub fn with_block_sizes(
        key_len: usize,
        block_sizes: &[usize],
        config: &CascadeConfig,
    ) -> Result<Self, DistillError> {
        if key_len == 0 {
            return Err(DistillError::EmptyKey);
        }
        if u32::try_from(key_len).is_err() {
            return Err(DistillError::InvalidParameter(format!(
                "key of {key_len} bits is longer than Cascade supports (u32::MAX)"
            )));
        }
        if block_sizes.is_empty() || block_sizes.len() > MAX_PASSES {
            return Err(DistillError::InvalidParameter(format!(
                "{} passes; 1..={MAX_PASSES} are supported",
                block_sizes.len()
            )));
        }
        if block_sizes.contains(&0) {
            return Err(DistillError::InvalidParameter("block size 0".into()));
        }
        // Round 1 asks for every top-level parity in one message, counted in a u32.
        let total_blocks: u64 = block_sizes
            .iter()
            .map(|&k| key_len.div_ceil(k.min(key_len)) as u64)
            .sum();
        if total_blocks > u64::from(u32::MAX) {
            return Err(DistillError::InvalidParameter(format!(
                "{total_blocks} top-level blocks in total; at most {} are supported",
                u32::MAX
            )));
        }
        let mut digest = Fnv::new();
        digest.write(b"qkd-stack cascade plan v1");
        digest.write_u64(key_len as u64);
        digest.write_u64(block_sizes.len() as u64);
        digest.write(&config.seed);
        digest.write_u64(u64::from(config.shuffle_first_pass));
        let stride = block_sizes.len();
        let mut tables: Vec<Option<Vec<u32>>> = Vec::with_capacity(stride);
        let passes = block_sizes
            .iter()
            .enumerate()
            .map(|(p, &k)| {
                let k = k.min(key_len);
                digest.write_u64(k as u64);
                let shuffled = p > 0 || config.shuffle_first_pass;
                let blocks = key_len.div_ceil(k);
                if !shuffled {
                    tables.push(None);
                    return PassPlan {
                        block_size: k,
                        blocks,
                        orig: None,
                        masks: None,
                    };
                }
                let pos = permutation(key_len, &config.seed, STREAM_CASCADE_BASE + p as u64);
                let mut orig = vec![0u32; key_len];
                for (x, &q) in pos.iter().enumerate() {
                    orig[q as usize] = x as u32;
                }
                let masks = (blocks <= MASK_BLOCKS).then(|| block_masks(&pos, k, blocks));
                tables.push(Some(pos));
                PassPlan {
                    block_size: k,
                    blocks,
                    orig: Some(orig),
                    masks,
                }
            })
            .collect();
        // Interleave row by row: sequential reads of every table, sequential writes.
        let mut positions = Vec::with_capacity(key_len * stride);
        for x in 0..key_len {
            positions.extend(tables.iter().map(|t| match t {
                Some(pos) => pos[x],
                None => x as u32,
            }));
        }
        Ok(Self {
            n: key_len,
            passes,
            positions,
            digest: digest.finish(),
        })
    }

    /// Convenience: [`new`](Self::new) wrapped in an `Arc` for sharing.
    pub fn shared(
        config: &CascadeConfig,
        key_len: usize,
        qber: f64,
    ) -> Result<Arc<Self>, DistillError> {
        Self::new(config, key_len, qber).map(Arc::new)
    }

    /// Checks that `key` can be reconciled under this plan: non-empty and of the plan's length.
    pub fn check_key(&self, key: &BitString) -> Result<(), DistillError> {
        if key.is_empty() {
            return Err(DistillError::EmptyKey);
        }
        if key.len() != self.key_len() {
            return Err(DistillError::LengthMismatch {
                expected: self.key_len(),
                actual: key.len(),
            });
        }
        Ok(())
    }

    /// Key length in bits.
    pub fn key_len(&self) -> usize {
        self.n
    }

    /// Number of passes.
    pub fn passes(&self) -> usize {
        self.passes.len()
    }

    /// Block size of each pass.
    pub fn block_sizes(&self) -> Vec<usize> {
        self.passes.iter().map(|p| p.block_size).collect()
    }

    /// A 64-bit fingerprint of the plan (key length, block sizes, seed), carried by every message
    /// so that two ends with different plans fail fast instead of mis-correcting.
    pub fn digest(&self) -> u64 {
        self.digest
    }

    pub(crate) fn pass(&self, p: usize) -> &PassPlan {
        &self.passes[p]
    }

    /// The shuffled positions of key bit `x`, one per pass.
    #[inline]
    pub(crate) fn positions_of(&self, x: usize) -> &[u32] {
        let stride = self.passes.len();
        &self.positions[x * stride..(x + 1) * stride]
    }
}

fn block_masks(pos: &[u32], k: usize, blocks: usize) -> Vec<Vec<u64>> {
    let words = pos.len().div_ceil(64);
    let mut masks = vec![vec![0u64; words]; blocks - 1];
    for (x, &q) in pos.iter().enumerate() {
        let b = q as usize / k;
        if b + 1 < blocks {
            masks[b][x / 64] |= 1 << (x % 64);
        }
    }
    masks
}

/// The per-pass views of a key: the shuffled copies (built on first use, kept up to date on
/// every flip) and the top-level block parities.
pub(crate) struct Views {
    copies: Vec<Option<BitString>>,
    /// For passes with at most [`MASK_BLOCKS`] blocks: bitmap of the blocks shuffled so far
    /// (a flip inside an unbuilt block only touches bits that the build overwrites).
    built: Vec<u8>,
}

impl Views {
    pub(crate) fn new(passes: usize) -> Self {
        Self {
            copies: (0..passes).map(|_| None).collect(),
            built: vec![0; passes],
        }
    }

    /// The key in the order of pass `p` (the key itself for an unshuffled pass), valid at least
    /// on the shuffled positions `lo..hi` (`lo < hi`). Passes with many blocks are shuffled
    /// whole on first use; passes with a few large blocks only block by block, as their
    /// blocks are searched (their top-level parities come from the masks).
    pub(crate) fn view_range<'a>(
        &'a mut self,
        plan: &CascadePlan,
        p: usize,
        key: &'a BitString,
        lo: usize,
        hi: usize,
    ) -> &'a BitString {
        let pass = plan.pass(p);
        let Some(orig) = pass.orig_table() else {
            return key;
        };
        if pass.masks.is_none() {
            return self.copies[p].get_or_insert_with(|| gather(key, orig));
        }
        let copy = self.copies[p].get_or_insert_with(|| BitString::zeros(key.len()));
        let (n, k) = (key.len(), pass.block_size);
        for b in lo / k..=(hi - 1) / k {
            if self.built[p] & (1 << b) == 0 {
                self.built[p] |= 1 << b;
                gather_range(key, orig, copy, b * k, ((b + 1) * k).min(n));
            }
        }
        copy
    }

    /// Records the flip of shuffled position `q` of pass `p` in its copy, if built.
    #[inline]
    pub(crate) fn flip_at(&mut self, p: usize, q: usize) {
        if let Some(copy) = &mut self.copies[p] {
            copy.flip(q);
        }
    }

    /// The parity of every top-level block of pass `p`, appended to `out` in block order.
    pub(crate) fn block_parities(
        &mut self,
        plan: &CascadePlan,
        p: usize,
        key: &BitString,
        out: &mut ParityWriter,
    ) {
        let pass = plan.pass(p);
        if let Some(masks) = &pass.masks {
            let total = key.count_ones() & 1 == 1;
            let mut acc = false;
            for mask in masks {
                let ones: u32 = key
                    .words()
                    .iter()
                    .zip(mask)
                    .map(|(w, m)| (w & m).count_ones())
                    .sum();
                let parity = ones & 1 == 1;
                acc ^= parity;
                out.push(parity);
            }
            out.push(total ^ acc);
            return;
        }
        let (n, k) = (plan.key_len(), pass.block_size);
        let view = self.view_range(plan, p, key, 0, n);
        for b in 0..pass.blocks {
            out.push(parity(view.words(), b * k, ((b + 1) * k).min(n)));
        }
    }
}

/// The key shuffled: bit `q` of the result is key bit `orig[q]`. Gathering word by word keeps
/// the loads independent (the key is small enough to stay in cache), which is faster than
/// scattering the one bits.
fn gather(key: &BitString, orig: &[u32]) -> BitString {
    let src = key.words();
    let mut out = BitString::zeros(key.len());
    for (dst, chunk) in out.words_mut().iter_mut().zip(orig.chunks(64)) {
        let mut w = 0u64;
        for (i, &x) in chunk.iter().enumerate() {
            let x = x as usize;
            w |= ((src[x / 64] >> (x % 64)) & 1) << i;
        }
        *dst = w;
    }
    out
}

/// Shuffles positions `lo..hi` (`lo < hi`) of `copy` from `key`: bit `q` becomes key bit
/// `orig[q]`; the other bits of `copy` are left alone.
fn gather_range(key: &BitString, orig: &[u32], copy: &mut BitString, lo: usize, hi: usize) {
    let src = key.words();
    let dst = copy.words_mut();
    let mut q = lo;
    while q < hi {
        let wi = q / 64;
        let end = ((wi + 1) * 64).min(hi);
        let mask = (u64::MAX << (q % 64)) & (u64::MAX >> (63 - (end - 1) % 64));
        let mut w = 0u64;
        for (i, &x) in orig[q..end].iter().enumerate() {
            let x = x as usize;
            w |= ((src[x / 64] >> (x % 64)) & 1) << ((q + i) % 64);
        }
        dst[wi] = (dst[wi] & !mask) | w;
        q = end;
    }
}

/// Parity of bits `lo..hi` (`lo < hi <= 64 * words.len()`) of packed words; the hot path of
/// both ends, kept inlinable here.
#[inline]
pub(crate) fn parity(words: &[u64], lo: usize, hi: usize) -> bool {
    let (sw, ew) = (lo / 64, (hi - 1) / 64);
    let lo_mask = u64::MAX << (lo % 64);
    let hi_mask = u64::MAX >> (63 - (hi - 1) % 64);
    if sw == ew {
        return (words[sw] & lo_mask & hi_mask).count_ones() & 1 == 1;
    }
    let mut acc = (words[sw] & lo_mask) ^ (words[ew] & hi_mask);
    for w in &words[sw + 1..ew] {
        acc ^= w;
    }
    acc.count_ones() & 1 == 1
}

/// Packs parity bits into words (bit `i` is bit `i % 64` of word `i / 64`).
#[derive(Default)]
pub(crate) struct ParityWriter {
    pub(crate) words: Vec<u64>,
    pub(crate) len: usize,
}

impl ParityWriter {
    #[inline]
    pub(crate) fn push(&mut self, bit: bool) {
        if self.len.is_multiple_of(64) {
            self.words.push(0);
        }
        if bit {
            self.words[self.len / 64] |= 1 << (self.len % 64);
        }
        self.len += 1;
    }
}

/// FNV-1a, 64 bit: a fixed, portable fingerprint (not a security mechanism: the classical
/// channel is authenticated).
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.write(&v.to_le_bytes());
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

impl CascadeVariant {
    /// The block size of each pass for a key of `n` bits at QBER `q` (`0 < q < 0.5`); sizes
    /// larger than `n` are capped by the plan.
    pub fn block_sizes(&self, n: usize, q: f64) -> Vec<usize> {
        let half = (n / 2).max(1);
        match self {
            CascadeVariant::Original => {
                // Brassard-Salvail 1993: k1 = 0.73/Q, doubling, 4 passes.
                let k1 = (0.73 / q).ceil() as usize;
                (0..4).map(|i| k1.saturating_mul(1 << i)).collect()
            }
            CascadeVariant::YanEtAl => {
                // Yan et al. 2008 ("Cascade opt. (2)" in Martinez-Mateo et al. 2015):
                // k1 = 0.8/Q, k2 = 5 k1, then n/2; 10 passes.
                let k1 = (0.80 / q).ceil() as usize;
                let mut v = vec![k1, k1.saturating_mul(5)];
                v.extend(std::iter::repeat_n(half, 8));
                v
            }
            CascadeVariant::Optimized => {
                // Martinez-Mateo et al. 2015, "Cascade opt. (8)": alpha = log2(1/Q) - 1/2,
                // k1 = 2^ceil(alpha), k2 = 2^ceil((alpha + 12)/2), k3 = 4096, then n/2;
                // 14 passes.
                let alpha = (1.0 / q).log2() - 0.5;
                let k1 = 2f64.powf(alpha.ceil()) as usize;
                let k2 = 2f64.powf(((alpha + 12.0) / 2.0).ceil()) as usize;
                let mut v = vec![k1.max(1), k2.max(1), 4096];
                v.extend(std::iter::repeat_n(half, 11));
                v
            }
            CascadeVariant::Custom(sizes) => sizes.clone(),
        }
    }
}
