//! [`CascadePlan`]: the parameters both ends must share (key length, block size of each pass,
//! shuffles), derived from a [`CascadeConfig`], the key length and the QBER estimate.
//!
//! A plan is immutable and reusable: the shuffles of a given seed and key length are the same for
//! every block, so a link builds the plan once per (config, key length, QBER estimate) and
//! shares it (`Arc`) between blocks and between the two state machines of an in-process test.

use std::sync::Arc;

use zeroize::Zeroizing;

use super::shuffle::{RowRotation, STREAM_CASCADE_BASE, STREAM_ROTATION_BASE, permutation};
use super::{CascadeConfig, CascadeVariant};
use crate::bits::{BitString, word_parity, words_parity as parity};
use crate::distill::DistillError;

/// Keys of at least this many bits use the structured [`RowRotation`] shuffle (whose ranges have
/// cheap parities); shorter keys use uniformly random permutations (Fisher-Yates), which are
/// cheap at that size. Measured reason for the threshold: at n = 1e4 and QBER 5-8%, `YanEtAl`
/// with structured shuffles left residual errors in about 0.3% of runs against 0.05% with
/// random ones (2000 runs each); from n = 4e4 on no difference was seen (see
/// docs/benchmarks.md, section cascade-speed).
pub(crate) const MIN_ROTATION_LEN: usize = 1 << 15;
/// Structured passes with at least this many blocks are materialised (a shuffled copy, built
/// column by column in `O(n)` word operations) because most of their searches ask for short
/// ranges, whose parities a copy gives in a word or two; passes with fewer, larger blocks answer
/// from prefix XORs (64 lookups per range whatever its length) and are never materialised.
const COPY_MIN_BLOCKS: usize = 16;
/// Upper bound on the number of passes a plan may have.
pub const MAX_PASSES: usize = 64;

/// The shared parameters of one Cascade run: key length, per-pass block sizes and shuffles.
#[derive(Debug)]
pub struct CascadePlan {
    n: usize,
    passes: Vec<PassPlan>,
    digest: u64,
}

/// One pass: block size and shuffle.
pub(crate) struct PassPlan {
    pub(crate) block_size: usize,
    pub(crate) blocks: usize,
    shuffle: Shuffle,
    /// For a structured pass of two blocks: bit `c` of word `w` is set when key bit `64 w + c`
    /// lies in block 0. The two top-level parities then take one AND-XOR sweep over the key
    /// instead of building the pass's view (searches in these late passes are rare, so most
    /// runs never build it).
    block0: Option<Vec<u64>>,
}

/// How a pass orders the key.
enum Shuffle {
    /// The key's own order (the unshuffled first pass).
    Identity,
    /// A uniformly random permutation (short keys): `pos[x]` is the shuffled position of key bit
    /// `x`, `orig[q]` the key bit at shuffled position `q`.
    Table { pos: Vec<u32>, orig: Vec<u32> },
    /// The structured shuffle (keys of at least [`MIN_ROTATION_LEN`] bits).
    Rotation(Box<RowRotation>),
}

impl std::fmt::Debug for PassPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shuffle = match self.shuffle {
            Shuffle::Identity => "identity",
            Shuffle::Table { .. } => "random permutation",
            Shuffle::Rotation(_) => "row permutation + column rotations",
        };
        f.debug_struct("PassPlan")
            .field("block_size", &self.block_size)
            .field("blocks", &self.blocks)
            .field("shuffle", &shuffle)
            .finish()
    }
}

impl PassPlan {
    /// The key bit at shuffled position `q`.
    #[inline]
    pub(crate) fn original(&self, q: usize) -> usize {
        match &self.shuffle {
            Shuffle::Identity => q,
            Shuffle::Table { orig, .. } => orig[q] as usize,
            Shuffle::Rotation(rr) => rr.original(q),
        }
    }

    /// The shuffled position of key bit `x`.
    #[inline]
    pub(crate) fn forward(&self, x: usize) -> usize {
        match &self.shuffle {
            Shuffle::Identity => x,
            Shuffle::Table { pos, .. } => pos[x] as usize,
            Shuffle::Rotation(rr) => rr.forward(x),
        }
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
        // v2: structured shuffles for keys of MIN_ROTATION_LEN bits or more; v3: their first
        // pass is always shuffled.
        digest.write(b"qkd-stack cascade plan v3");
        digest.write_u64(key_len as u64);
        digest.write_u64(block_sizes.len() as u64);
        digest.write(&config.seed);
        digest.write_u64(u64::from(config.shuffle_first_pass));
        let passes = block_sizes
            .iter()
            .enumerate()
            .map(|(p, &k)| {
                let k = k.min(key_len);
                digest.write_u64(k as u64);
                let structured = key_len >= MIN_ROTATION_LEN;
                let shuffle = if p == 0 && !config.shuffle_first_pass && !structured {
                    Shuffle::Identity
                } else if structured {
                    Shuffle::Rotation(Box::new(RowRotation::new(
                        key_len,
                        &config.seed,
                        STREAM_ROTATION_BASE + p as u64,
                    )))
                } else {
                    let pos = permutation(key_len, &config.seed, STREAM_CASCADE_BASE + p as u64);
                    let mut orig = vec![0u32; key_len];
                    for (x, &q) in pos.iter().enumerate() {
                        orig[q as usize] = x as u32;
                    }
                    Shuffle::Table { pos, orig }
                };
                let blocks = key_len.div_ceil(k);
                let block0 = match &shuffle {
                    Shuffle::Rotation(rr) if blocks == 2 => Some(rr.head_mask(k)),
                    _ => None,
                };
                PassPlan {
                    block_size: k,
                    blocks,
                    shuffle,
                    block0,
                }
            })
            .collect();
        Ok(Self {
            n: key_len,
            passes,
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
}

/// The per-pass views of a key through which both ends compute parities of shuffled ranges.
/// Each is built on first use from the key as it is then; the corrector reports every later
/// flip ([`flip_at`](Self::flip_at)).
pub(crate) struct Views {
    views: Vec<View>,
}

enum View {
    Unbuilt,
    /// An unshuffled pass: parities come from the key itself.
    Identity,
    /// A random-permutation pass: the shuffled copy, kept up to date.
    Copy(BitString),
    /// A structured pass: prefix XORs of the row-permuted key at build time, plus the flips
    /// made since.
    Rotation(RotationView),
}

/// Parities of shuffled ranges of a [`RowRotation`] pass without materialising it.
struct RotationView {
    /// `prefix[r]`: XOR of the first `r` words of the row-permuted key (the `W` full rows in
    /// permuted order, then the partial row), as built. Derived from key material: zeroized.
    prefix: Zeroizing<Vec<u64>>,
    /// Flips since the build, at their shuffled positions (allocated on the first flip).
    delta: Option<BitString>,
}

impl RotationView {
    fn new(rr: &RowRotation, key: &BitString) -> Self {
        let mut prefix = Zeroizing::new(Vec::with_capacity(rr.rows + 2));
        rr.permuted_words(key.words(), &mut prefix);
        // In place: prefix[r] becomes the XOR of words 0..r.
        let mut acc = 0u64;
        for w in prefix.iter_mut() {
            acc ^= *w;
            *w = acc;
        }
        prefix.insert(0, 0);
        Self {
            prefix,
            delta: None,
        }
    }

    /// Parity of shuffled positions `lo..hi` (`lo < hi <= n`).
    fn parity(&self, rr: &RowRotation, lo: usize, hi: usize) -> bool {
        let (ja, ca) = (lo >> 6, lo & 63);
        let (jb, cb) = (hi >> 6, hi & 63);
        let acc = if ja == jb {
            self.partial_row(rr, ja, ca, cb)
        } else {
            let first_full = if ca == 0 { ja } else { ja + 1 };
            let mut acc = 0;
            if ca != 0 {
                acc ^= self.partial_row(rr, ja, ca, 64);
            }
            if first_full < jb {
                acc ^= self.full_rows(rr, first_full, jb);
            }
            if cb != 0 {
                acc ^= self.partial_row(rr, jb, 0, cb);
            }
            acc
        };
        let odd = word_parity(acc);
        match &self.delta {
            Some(delta) => odd ^ parity(delta.words(), lo, hi),
            None => odd,
        }
    }

    /// The bits of shuffled row `j`, columns `c0..c1`, as a word (other bits zero).
    #[inline]
    fn partial_row(&self, rr: &RowRotation, j: usize, c0: usize, c1: usize) -> u64 {
        let s = &self.prefix;
        let mut acc = 0u64;
        for c in c0..c1 {
            let r = rr.permuted_row(j, c);
            acc ^= (s[r] ^ s[r + 1]) & (1u64 << c);
        }
        acc
    }

    /// The XOR, column by column, of the whole shuffled rows `a..b` (`a < b <= W`): in column
    /// `c` they are the cyclic run of `b - a` row-permuted words from `(a + rot[c]) mod len(c)`,
    /// whose XOR two or three prefix lookups give.
    #[inline]
    fn full_rows(&self, rr: &RowRotation, a: usize, b: usize) -> u64 {
        let s = &self.prefix[..];
        let span = b - a;
        let mut acc = 0u64;
        // Columns 0..t have len W + 1, the others W: two loops with a constant length.
        for (len, lo, hi) in [(rr.rows + 1, 0, rr.tail), (rr.rows, rr.tail, 64)] {
            if lo == hi {
                continue; // no partial last row: no column of length W + 1
            }
            let all = s[len];
            for (c, &rot) in rr.rot.iter().enumerate().take(hi).skip(lo) {
                let mut s0 = a + rot as usize;
                if s0 >= len {
                    s0 -= len;
                }
                let mut e = s0 + span;
                let mut v = s[s0];
                if e > len {
                    // The run wraps: rows s0..len, then 0..e - len.
                    e -= len;
                    v ^= all;
                }
                acc ^= (v ^ s[e]) & (1u64 << c);
            }
        }
        acc
    }
}

impl Views {
    pub(crate) fn new(passes: usize) -> Self {
        Self {
            views: (0..passes).map(|_| View::Unbuilt).collect(),
        }
    }

    /// Builds the view of pass `p` from `key` if not built yet.
    #[cold]
    #[inline(never)]
    fn build(&mut self, plan: &CascadePlan, p: usize, key: &BitString) {
        if !matches!(self.views[p], View::Unbuilt) {
            return;
        }
        let pass = plan.pass(p);
        self.views[p] = match &pass.shuffle {
            Shuffle::Identity => View::Identity,
            Shuffle::Table { orig, .. } => View::Copy(gather(key, orig)),
            Shuffle::Rotation(rr) if pass.blocks >= COPY_MIN_BLOCKS => View::Copy(rotate(rr, key)),
            Shuffle::Rotation(rr) => View::Rotation(RotationView::new(rr, key)),
        };
    }

    /// The parity of the key at shuffled positions `lo..hi` (`lo < hi <= n`) of pass `p`.
    #[inline(always)]
    pub(crate) fn range_parity(
        &mut self,
        plan: &CascadePlan,
        p: usize,
        key: &BitString,
        lo: usize,
        hi: usize,
    ) -> bool {
        // The copies (the early passes, where nearly all searches run) answer inline.
        if let View::Copy(copy) = &self.views[p] {
            return parity(copy.words(), lo, hi);
        }
        self.other_range_parity(plan, p, key, lo, hi)
    }

    /// [`range_parity`](Self::range_parity) for the other views, building the view first if
    /// needed.
    #[inline(never)]
    fn other_range_parity(
        &mut self,
        plan: &CascadePlan,
        p: usize,
        key: &BitString,
        lo: usize,
        hi: usize,
    ) -> bool {
        match (&self.views[p], &plan.pass(p).shuffle) {
            (View::Identity, _) => parity(key.words(), lo, hi),
            (View::Copy(copy), _) => parity(copy.words(), lo, hi),
            (View::Rotation(view), Shuffle::Rotation(rr)) => view.parity(rr, lo, hi),
            _ => {
                self.build(plan, p, key);
                self.other_range_parity(plan, p, key, lo, hi)
            }
        }
    }

    /// Records the flip of shuffled position `q` of pass `p` (nothing to do if the view is not
    /// built yet: it will be built from the flipped key).
    #[inline]
    pub(crate) fn flip_at(&mut self, p: usize, q: usize, n: usize) {
        match &mut self.views[p] {
            View::Unbuilt | View::Identity => {}
            View::Copy(copy) => copy.words_mut()[q / 64] ^= 1u64 << (q % 64),
            View::Rotation(view) => view
                .delta
                .get_or_insert_with(|| BitString::zeros(n))
                .flip(q),
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
        if let Some(mask) = &pass.block0 {
            // One sweep: block 0 is the masked bits, block 1 the rest (the whole key's parity
            // minus block 0's).
            let (first, all) = key
                .words()
                .iter()
                .zip(mask)
                .fold((0u64, 0u64), |(f, a), (&w, &m)| (f ^ (w & m), a ^ w));
            out.push(word_parity(first));
            out.push(word_parity(first ^ all));
            return;
        }
        let (n, k) = (plan.key_len(), pass.block_size);
        for b in 0..pass.blocks {
            out.push(self.range_parity(plan, p, key, b * k, ((b + 1) * k).min(n)));
        }
    }
}

/// The key shuffled by a [`RowRotation`] (see [`RowRotation::shuffle_into`]).
fn rotate(rr: &RowRotation, key: &BitString) -> BitString {
    let mut out = BitString::zeros(key.len());
    rr.shuffle_into(key.words(), out.words_mut());
    out
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

/// Packs parity bits into words (bit `i` is bit `i % 64` of word `i / 64`), into storage
/// sized up front ([`sized`](Self::sized)).
pub(crate) struct ParityWriter {
    pub(crate) words: Vec<u64>,
    pub(crate) len: usize,
}

impl ParityWriter {
    /// A writer for up to `bits` parities, its words allocated and zeroed up front (the
    /// callers know the count; pushing more panics).
    pub(crate) fn sized(bits: usize) -> Self {
        Self {
            words: vec![0; bits.div_ceil(64)],
            len: 0,
        }
    }

    /// Parity bit `i` (`i < len`).
    #[inline]
    pub(crate) fn get(&self, i: usize) -> bool {
        (self.words[i / 64] >> (i % 64)) & 1 == 1
    }

    /// Appends one parity, without a branch: parities are as unpredictable as coin flips, and
    /// a branch on them (or on starting a new word) was mispredicted often.
    #[inline]
    pub(crate) fn push(&mut self, bit: bool) {
        self.words[self.len / 64] |= u64::from(bit) << (self.len % 64);
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
        // Half the key, rounded up: two blocks also for odd `n` (rounding down would leave a
        // third block of one bit).
        let half = n.div_ceil(2).max(1);
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
