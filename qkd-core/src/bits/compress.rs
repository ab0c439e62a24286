//! Parallel bit extract over whole arrays ("compress"): the bits of each value word at the set
//! positions of its mask word, appended in order to a packed bit string. Sifting keeps the bits
//! whose bases matched this way, and parameter estimation reveals and drops its sample.
//!
//! Two kernels compute the same thing: a portable one (a 64 KiB byte table, eight lookups a
//! word) and, on x86-64 CPUs with BMI2 and AVX-512F (where `PEXT` is known to be fast), one
//! `PEXT` and one `POPCNT` a word (`compress_x86`). The choice is made once per call, never per
//! word.

#[cfg(target_arch = "x86_64")]
mod compress_x86;

/// Which words to take the bits from and which bits: word `i` contributes the bits of
/// `values[i]` at the set positions of `masks[i]` (of `!masks[i]` when `invert`), the last word
/// only those also set in `last_keep`.
#[derive(Clone, Copy)]
pub(crate) struct Selection<'a> {
    pub(crate) values: &'a [u64],
    pub(crate) masks: &'a [u64],
    pub(crate) invert: bool,
    pub(crate) last_keep: u64,
}

impl Selection<'_> {
    /// Number of words taken (the shorter of the two slices).
    pub(crate) fn words(&self) -> usize {
        self.values.len().min(self.masks.len())
    }

    /// The effective mask of word `i` (`i < words()`).
    #[inline(always)]
    pub(crate) fn mask(&self, i: usize) -> u64 {
        let m = if self.invert {
            !self.masks[i]
        } else {
            self.masks[i]
        };
        if i + 1 == self.words() {
            m & self.last_keep
        } else {
            m
        }
    }
}

/// Appends the selected bits, `added` of them ([`selected_count`]), to the packed string
/// `(words, len)` (bits past `len` zero). The caller reserves room for `(len + added) / 64 + 2`
/// words (the writer's slack), so that `words` never reallocates.
pub(crate) fn compress_into(
    sel: Selection<'_>,
    added: usize,
    words: &mut Vec<u64>,
    len: &mut usize,
) {
    #[cfg(target_arch = "x86_64")]
    if let Some(token) = compress_x86::FastPext::detect() {
        compress_x86::compress(token, sel, added, words, len);
        return;
    }
    compress_portable(sel, added, words, len);
}

/// Number of selected bits.
pub(crate) fn selected_count(sel: Selection<'_>) -> usize {
    (0..sel.words())
        .map(|i| sel.mask(i).count_ones() as usize)
        .sum()
}

/// The portable kernel.
pub(crate) fn compress_portable(
    sel: Selection<'_>,
    added: usize,
    words: &mut Vec<u64>,
    len: &mut usize,
) {
    let table = pext_table();
    let mut out = Appender::new(words, *len, added);
    for i in 0..sel.words() {
        let (value, mask) = (sel.values[i], sel.mask(i));
        let (mut packed, mut shift) = (0u64, 0u32);
        // Branch-free over the eight bytes; the byte popcounts come from a table, as the
        // baseline target has no POPCNT.
        for byte in 0..8 {
            let m = ((mask >> (8 * byte)) & 0xff) as usize;
            let v = ((value >> (8 * byte)) & 0xff) as usize;
            packed |= u64::from(table[(m << 8) | v]) << shift;
            shift += u32::from(BYTE_ONES[m]);
        }
        out.push(packed, shift as usize);
    }
    *len = out.finish();
}

/// Appends runs of up to 64 bits to a packed string, without a branch on where a word fills
/// up (that depends on the masks, and was mispredicted about once a word): every run is
/// written to its word and, shifted, to the next, into storage sized up front with slack
/// (two words past the last full one: a run at the very end still writes two words).
pub(crate) struct Appender<'a> {
    words: &'a mut Vec<u64>,
    /// Bit position of the next run.
    pos: usize,
}

impl<'a> Appender<'a> {
    /// Continues the string `(words, len)`, which will grow by `added` bits.
    #[inline(always)]
    pub(crate) fn new(words: &'a mut Vec<u64>, len: usize, added: usize) -> Self {
        words.resize((len + added) / 64 + 2, 0);
        Self { words, pos: len }
    }

    /// Appends the low `n` bits of `bits` (`n <= 64`, bits above `n` zero).
    #[inline(always)]
    pub(crate) fn push(&mut self, bits: u64, n: usize) {
        let (w, s) = (self.pos / 64, self.pos % 64);
        self.words[w] |= bits << s;
        // The bits that did not fit (none when `s` is 0: the shift is then by 64 in all).
        self.words[w + 1] |= (bits >> 1) >> (63 - s);
        self.pos += n;
    }

    /// Drops the slack (zero) words; the new length.
    #[inline(always)]
    pub(crate) fn finish(self) -> usize {
        self.words.truncate(self.pos.div_ceil(64));
        self.pos
    }
}

/// Number of set bits of each byte value.
const BYTE_ONES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = (i as u32).count_ones() as u8;
        i += 1;
    }
    t
};

/// `table[(m << 8) | v]`: the bits of byte `v` at the set positions of byte `m`, packed low.
fn pext_table() -> &'static [u8] {
    static TABLE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = vec![0u8; 1 << 16];
        for m in 0..256usize {
            for v in 0..256usize {
                let mut out = 0u8;
                let mut j = 0;
                for b in 0..8 {
                    if (m >> b) & 1 == 1 {
                        out |= (((v >> b) & 1) as u8) << j;
                        j += 1;
                    }
                }
                t[(m << 8) | v] = out;
            }
        }
        t
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha8Rng;
    use rand_core::{Rng, SeedableRng};

    type Kernel = fn(Selection<'_>, usize, &mut Vec<u64>, &mut usize);

    /// Bit by bit, the definition.
    fn naive(sel: Selection<'_>, mut bits: Vec<bool>) -> Vec<bool> {
        for i in 0..sel.words() {
            for b in 0..64 {
                if (sel.mask(i) >> b) & 1 == 1 {
                    bits.push((sel.values[i] >> b) & 1 == 1);
                }
            }
        }
        bits
    }

    fn unpack(words: &[u64], len: usize) -> Vec<bool> {
        (0..len)
            .map(|i| (words[i / 64] >> (i % 64)) & 1 == 1)
            .collect()
    }

    /// Every kernel the CPU offers, against the definition: sparse, dense, empty and full
    /// masks, appended after prefixes of every alignment, inverted or not, with a clipped last
    /// word.
    #[test]
    fn kernels_match_the_definition() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for case in 0..400usize {
            let n = (case % 37) + 1;
            let values: Vec<u64> = (0..n).map(|_| rng.next_u64()).collect();
            let masks: Vec<u64> = (0..n)
                .map(|i| match (case + i) % 5 {
                    0 => 0,
                    1 => u64::MAX,
                    2 => rng.next_u64() & rng.next_u64() & rng.next_u64(),
                    _ => rng.next_u64(),
                })
                .collect();
            let sel = Selection {
                values: &values,
                masks: &masks,
                invert: case % 2 == 1,
                last_keep: if case % 3 == 0 {
                    u64::MAX
                } else {
                    (1u64 << (case % 64)) - 1
                },
            };
            let prefix_len = case % 130;
            let prefix: Vec<u64> = (0..prefix_len.div_ceil(64))
                .map(|_| rng.next_u64())
                .collect();
            let mut prefix = prefix;
            if prefix_len % 64 != 0 {
                *prefix.last_mut().unwrap() &= (1u64 << (prefix_len % 64)) - 1;
            }
            let expect = naive(sel, unpack(&prefix, prefix_len));
            assert_eq!(selected_count(sel), expect.len() - prefix_len);
            let mut kernels: Vec<(&str, Kernel)> = vec![
                ("portable", compress_portable),
                ("dispatched", compress_into),
            ];
            #[cfg(target_arch = "x86_64")]
            if compress_x86::FastPext::detect().is_some() {
                kernels.push(("pext", |sel, added, words, len| {
                    let token = compress_x86::FastPext::detect().expect("detected");
                    compress_x86::compress(token, sel, added, words, len)
                }));
            }
            for (name, kernel) in kernels {
                let (mut words, mut len) = (prefix.clone(), prefix_len);
                // Reserved as `BitString::extend` does: the kernel must not reallocate.
                let added = selected_count(sel);
                words.reserve_exact((len + added) / 64 + 2 - words.len());
                let storage = words.as_ptr();
                kernel(sel, added, &mut words, &mut len);
                assert_eq!(words.as_ptr(), storage, "{name}, case {case}: reallocated");
                assert_eq!(len, expect.len(), "{name}, case {case}");
                assert_eq!(words.len(), len.div_ceil(64), "{name}, case {case}");
                assert_eq!(unpack(&words, len), expect, "{name}, case {case}");
                if len % 64 != 0 {
                    assert_eq!(words[len / 64] >> (len % 64), 0, "{name}: tail is zero");
                }
            }
        }
    }
}
