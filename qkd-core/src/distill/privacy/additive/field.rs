//! GF(2^64) = GF(2)\[z\]/(z^64 + z^4 + z^3 + z + 1): reduction, the portable product, the Cantor
//! basis and the twiddle table of the additive FFT.

use std::sync::OnceLock;

/// Reduction of a 128-bit carry-less product modulo `z^64 + z^4 + z^3 + z + 1`.
#[inline]
pub(crate) fn reduce(p: u128) -> u64 {
    let (lo, hi) = (p as u64, (p >> 64) as u64);
    // hi * z^64 = hi * (z^4 + z^3 + z + 1): the bits shifted past z^63 are folded once more.
    let folded = hi ^ (hi << 1) ^ (hi << 3) ^ (hi << 4);
    let over = (hi >> 63) ^ (hi >> 61) ^ (hi >> 60);
    lo ^ folded ^ over ^ (over << 1) ^ (over << 3) ^ (over << 4)
}

/// Field product (portable).
#[inline]
pub(crate) fn mul_portable(a: u64, b: u64) -> u64 {
    reduce(super::super::clmul::clmul_soft(a, b))
}

/// Solves `y^2 + y = c` in the field (some solution), or `None` when `Tr(c) = 1`.
fn solve_artin_schreier(c: u64) -> Option<u64> {
    // y -> y^2 + y is GF(2)-linear: column j is the image of z^j.
    let cols: Vec<u64> = (0..64)
        .map(|j| mul_portable(1 << j, 1 << j) ^ (1 << j))
        .collect();
    // Gaussian elimination on rows r (bit r of every column), augmented by bit r of c.
    let mut rows: Vec<(u64, bool)> = (0..64)
        .map(|r| {
            let row = (0..64).fold(0u64, |acc, j| acc | (((cols[j] >> r) & 1) << j));
            (row, (c >> r) & 1 == 1)
        })
        .collect();
    let mut pivots = Vec::new();
    let mut next = 0;
    for col in 0..64 {
        let Some(p) = (next..64).find(|&r| (rows[r].0 >> col) & 1 == 1) else {
            continue;
        };
        rows.swap(next, p);
        let pivot = rows[next];
        for (r, row) in rows.iter_mut().enumerate() {
            if r != next && (row.0 >> col) & 1 == 1 {
                row.0 ^= pivot.0;
                row.1 ^= pivot.1;
            }
        }
        pivots.push(col);
        next += 1;
    }
    if rows[next..].iter().any(|&(_, b)| b) {
        return None;
    }
    Some(
        pivots
            .iter()
            .enumerate()
            .fold(0u64, |y, (r, &col)| y | (u64::from(rows[r].1) << col)),
    )
}

/// Largest supported transform: `2^MAX_LOG` coefficients.
pub(crate) const MAX_LOG: usize = 32;

/// The Cantor basis `beta_1 .. beta_(MAX_LOG + 1)`: `beta_1 = 1`, `beta_(i+1)^2 + beta_(i+1) =
/// beta_i`.
pub(crate) fn cantor_basis() -> &'static [u64] {
    static BASIS: OnceLock<Vec<u64>> = OnceLock::new();
    BASIS.get_or_init(|| {
        let mut b = vec![1u64];
        while b.len() <= MAX_LOG {
            let prev = b[b.len() - 1];
            // GF(2^64) has a Cantor basis of dimension 64, so every step has a solution; pick the
            // one with the constant term 0 (the other is that plus 1).
            let y = solve_artin_schreier(prev).unwrap_or(0);
            b.push(if y & 1 == 1 { y ^ 1 } else { y });
        }
        b
    })
}

/// Twiddles `t_q = sum_i bit_i(q) beta_(i+2)` for `q < half` (at least one entry).
pub(crate) fn twiddles(half: usize) -> Vec<u64> {
    let basis = cantor_basis();
    let mut t = vec![0u64; half.max(1)];
    let mut size = 1;
    let mut j = 0;
    while size < half {
        let b = basis[j + 1];
        let (done, rest) = t.split_at_mut(size);
        for (dst, &src) in rest.iter_mut().zip(done.iter()) {
            *dst = src ^ b;
        }
        size *= 2;
        j += 1;
    }
    t
}

/// Words of the low twiddle table of [`Twiddles`] (covers the blocks of one chunk).
const LOW: usize = 1 << 10;

/// The twiddles `t_q` for `q < half` of a transform, without a table of `half` words: `t` is
/// GF(2)-linear in `q`, so `t_q = hi[q >> 10] ^ lo[q & 1023]` from two tables of `1024` and
/// `half / 1024` words (40 KiB at 2^23 points instead of 32 MiB).
pub(crate) struct Twiddles {
    lo: Vec<u64>,
    hi: Vec<u64>,
}

impl Twiddles {
    /// The tables for `q < half`.
    pub(crate) fn new(half: usize) -> Self {
        let basis = cantor_basis();
        let hi_len = (half / LOW).max(1);
        let mut hi = vec![0u64; hi_len];
        let mut size = 1;
        let mut j = 0;
        while size < hi_len {
            // Bit j of q >> 10 is bit j + 10 of q: beta_(j + 12) = basis[j + 11].
            let b = basis[j + 11];
            let (done, rest) = hi.split_at_mut(size);
            for (dst, &src) in rest.iter_mut().zip(done.iter()) {
                *dst = src ^ b;
            }
            size *= 2;
            j += 1;
        }
        Self {
            lo: twiddles(LOW),
            hi,
        }
    }

    /// `t_q`.
    #[inline]
    pub(crate) fn get(&self, q: usize) -> u64 {
        self.hi[q / LOW] ^ self.lo[q % LOW]
    }

    /// The twiddles of a block of `n <= 2 * LOW` points starting at `off` (a multiple of `n`).
    pub(crate) fn local(&self, off: usize, n: usize) -> Local<'_> {
        let mut base = [0u64; LOCAL_LEVELS];
        let levels = n.trailing_zeros() as usize;
        for (k, b) in base.iter_mut().enumerate().take(levels + 1).skip(1) {
            *b = self.get(off >> k);
        }
        Local {
            small: &self.lo,
            base,
        }
    }
}

/// Levels covered by [`Local`] (blocks of up to `2^(LOCAL_LEVELS - 1)` points).
pub(crate) const LOCAL_LEVELS: usize = 12;

/// Twiddles of one block of points starting at `off`: block `b` of level `k` (blocks of `2^k`
/// points) has `t_((off >> k) + b) = base[k] ^ small[b]` (the bits of `off >> k` and `b` are
/// disjoint).
#[derive(Clone, Copy)]
pub(crate) struct Local<'a> {
    /// `t_b` for `b < 1024`.
    pub(crate) small: &'a [u64],
    /// `t_(off >> k)` for each level `k`.
    pub(crate) base: [u64; LOCAL_LEVELS],
}

impl Local<'_> {
    /// The twiddle of block `b` of level `k`.
    #[inline(always)]
    pub(crate) fn get(&self, k: u32, b: usize) -> u64 {
        self.base[k as usize] ^ self.small[b]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cantor_basis_chain_holds() {
        let b = cantor_basis();
        assert_eq!(b[0], 1);
        for i in 1..b.len() {
            assert_eq!(mul_portable(b[i], b[i]) ^ b[i], b[i - 1], "beta_{}", i + 1);
        }
        // Linearly independent: rank of the set is its size.
        let mut rows = b.to_vec();
        let mut rank = 0;
        for bit in 0..64 {
            if let Some(p) = (rank..rows.len()).find(|&r| (rows[r] >> bit) & 1 == 1) {
                rows.swap(rank, p);
                let pivot = rows[rank];
                for (r, row) in rows.iter_mut().enumerate() {
                    if r != rank && (*row >> bit) & 1 == 1 {
                        *row ^= pivot;
                    }
                }
                rank += 1;
            }
        }
        assert_eq!(rank, b.len());
    }

    #[test]
    fn twiddles_are_subset_sums() {
        let b = cantor_basis();
        let t = twiddles(64);
        let big = twiddles(1 << 14);
        let split = Twiddles::new(1 << 14);
        for q in (0..1 << 14).step_by(7) {
            assert_eq!(split.get(q), big[q], "q={q}");
        }
        let local = split.local(3 << 11, 1 << 11);
        for k in 1..=11u32 {
            for b in 0..(1 << (11 - k)) {
                assert_eq!(local.get(k, b), big[((3 << 11) >> k) + b], "k={k} b={b}");
            }
        }
        for (q, &tq) in t.iter().enumerate() {
            let want = (0..6).fold(0, |acc, i| {
                acc ^ if (q >> i) & 1 == 1 { b[i + 1] } else { 0 }
            });
            assert_eq!(tq, want, "t_{q}");
        }
    }
}
