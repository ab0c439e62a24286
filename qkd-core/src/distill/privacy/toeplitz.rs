//! Word-level Toeplitz matrix-vector product over GF(2), by a Karatsuba-style recursion on
//! Toeplitz blocks with a carry-less-multiplication base case.
//!
//! # Word-level formulation
//! Inputs are packed in 64-bit words (bit `i` = bit `i % 64` of word `i / 64`). With the input
//! length a multiple of 64 (`N` words, see [`super`] for how other lengths are padded), the
//! bit-level Toeplitz matrix `T[i][j] = s[i - j + n - 1]` splits into 64 x 64 blocks, and block
//! `(I, J)` depends only on `d = I - J + N - 1`: it maps input word `x` to bits `63..127` of the
//! carry-less product `(s_d + s_{d+1} z^64) * x`, where `s_d` is seed word `d`. So
//!
//! `y_I = (Q_I >> 63) ^ (low64(Q_{I+1}) << 1)` with `Q_I = XOR_J clmul(s[I - J + N - 1], x_J)`,
//!
//! and a word-level `M x N` product reads seed words `0 .. M + N`.
//!
//! # Recursion
//! A square `K x K` block Toeplitz matrix with `K = 2h` is `[[A, B], [C, A]]`, where `A`, `B` and
//! `C` are `h x h` block Toeplitz matrices using seed words `h..3h`, `0..2h` and `2h..4h`. Then
//! `y0 = A(v0 + v1) + (B + A) v1` and `y1 = A(v0 + v1) + (C + A) v0`: three half-size products
//! (the Toeplitz form of Karatsuba; `B + A` is the Toeplitz matrix of the XOR of the seeds).
//! Cost O(K^1.585) carry-less multiplications. The recursion allocates nothing: one scratch
//! buffer of `4K` words is split between the levels (`2h` words for the combined seeds, `h` for
//! `v0 + v1`, `h` for the product, the rest for the level below).
//!
//! The base case ([`Kernel::block`]) is the direct product with the chosen carry-less kernel
//! (portable, `PCLMULQDQ` or AVX-512 `VPCLMULQDQ`), at or below [`Kernel::base_words`] words.

use zeroize::Zeroizing;

use super::clmul::clmul_soft;
use super::kernel::Kernel;

/// Direct product with the portable carry-less multiply: `y[I] ^= ...` for `I < y.len()`,
/// `x.len() = N`, `s.len() >= y.len() + N`.
pub(crate) fn schoolbook(s: &[u64], x: &[u64], y: &mut [u64]) {
    let n = x.len();
    let m = y.len();
    if n == 0 || m == 0 || s.len() < m + n {
        return;
    }
    let q = |i: usize| -> u128 {
        // Q_i = XOR_J clmul(s[i + N - 1 - J], x_J)
        let base = i + n - 1;
        let mut acc = 0u128;
        for (j, &xj) in x.iter().enumerate() {
            acc ^= clmul_soft(s[base - j], xj);
        }
        acc
    };
    let mut q_cur = q(0);
    for (i, yi) in y.iter_mut().enumerate() {
        let q_next = q(i + 1);
        *yi ^= ((q_cur >> 63) as u64) ^ ((q_next as u64) << 1);
        q_cur = q_next;
    }
}

/// Square product `y ^= T x` with `x.len() == y.len() == K`, `s.len() >= 2K` and
/// `scratch.len() >= 4K + Kernel::SCRATCH` (wiped by the caller).
fn square(kernel: Kernel, s: &[u64], x: &[u64], y: &mut [u64], scratch: &mut [u64]) {
    let k = x.len();
    debug_assert_eq!(y.len(), k);
    debug_assert!(s.len() >= 2 * k);
    if k <= kernel.base_words() || k % 2 == 1 || scratch.len() < 4 * k + Kernel::SCRATCH {
        kernel.block(&s[..2 * k], x, y, scratch);
        return;
    }
    let h = k / 2;
    let (v0, v1) = x.split_at(h);
    let (y0, y1) = y.split_at_mut(h);
    let (t, rest) = scratch.split_at_mut(2 * h); // seeds of B + A, then C + A
    let (v, rest) = rest.split_at_mut(h); // v0 + v1
    let (p, rest) = rest.split_at_mut(h); // products
    // P0 = A (v0 + v1), added to both halves.
    kernel.xor_to(v, v0, v1);
    p.fill(0);
    square(kernel, &s[h..3 * h], v, p, rest);
    kernel.xor_into(y0, p);
    kernel.xor_into(y1, p);
    // P1 = (B + A) v1 into y0.
    kernel.xor_to(t, &s[0..2 * h], &s[h..3 * h]);
    square(kernel, t, v1, y0, rest);
    // P2 = (C + A) v0 into y1.
    kernel.xor_to(t, &s[2 * h..4 * h], &s[h..3 * h]);
    square(kernel, t, v0, y1, rest);
}

/// Smallest `K' >= k` that halves down to the base case without odd sizes: `b * 2^j` with
/// `b <= base`, so the recursion never meets an odd size above the base case.
fn padded_size(k: usize, base: usize) -> usize {
    let mut j = 0;
    while k.div_ceil(1 << j) > base {
        j += 1;
    }
    k.div_ceil(1 << j) << j
}

/// Buffers for [`square_padded`], allocated once per [`multiply`].
struct Workspace {
    /// Padded input, padded output, recursion scratch (all key-dependent).
    secret: Zeroizing<Vec<u64>>,
    /// Padded seed (public).
    seed: Vec<u64>,
}

impl Workspace {
    fn new(k: usize, base: usize) -> Self {
        let kp = padded_size(k, base);
        let padded = kp != k;
        Self {
            secret: Zeroizing::new(vec![
                0u64;
                if padded { 6 * kp } else { 4 * kp } + Kernel::SCRATCH
            ]),
            seed: vec![0u64; if padded { 2 * kp } else { 0 }],
        }
    }
}

/// Square product `y ^= T x` on sizes padded once to [`padded_size`]: the input gets zero words
/// at the bottom (block indices unchanged), the seed zero words on top, and the surplus outputs
/// are dropped.
fn square_padded(kernel: Kernel, s: &[u64], x: &[u64], y: &mut [u64], ws: &mut Workspace) {
    let k = x.len();
    let kp = padded_size(k, kernel.base_words());
    if kp == k {
        square(
            kernel,
            &s[..2 * k],
            x,
            y,
            &mut ws.secret[..4 * k + Kernel::SCRATCH],
        );
        return;
    }
    let pad = kp - k;
    let (xp, rest) = ws.secret.split_at_mut(kp);
    let (yp, scratch) = rest.split_at_mut(kp);
    xp[..pad].fill(0);
    xp[pad..].copy_from_slice(x);
    yp.fill(0);
    let sp = &mut ws.seed[..2 * kp];
    sp[..2 * k].copy_from_slice(&s[..2 * k]);
    sp[2 * k..].fill(0);
    square(kernel, sp, xp, yp, &mut scratch[..4 * kp + Kernel::SCRATCH]);
    kernel.xor_into(y, yp);
}

/// Rectangular product `y = T x` (`y` is overwritten) with `s.len() >= y.len() + x.len()`,
/// tiled into square blocks.
pub(crate) fn multiply(kernel: Kernel, s: &[u64], x: &[u64], y: &mut [u64]) {
    let (m, n) = (y.len(), x.len());
    y.fill(0);
    if m == 0 || n == 0 {
        return;
    }
    let base = kernel.base_words();
    if m <= n {
        // Pad x at the bottom to a multiple of m (block indices unchanged), then sum the m x m
        // products of each x chunk: chunk c (words c*m .. c*m + m of the padded input) sees seed
        // offset N' - m - c*m.
        let pad = (m - n % m) % m;
        let np = n + pad;
        let mut owned = Zeroizing::new(Vec::new());
        let xp: &[u64] = if pad == 0 {
            x
        } else {
            owned.resize(np, 0);
            owned[pad..].copy_from_slice(x);
            &owned
        };
        let need = np + m;
        let sp: std::borrow::Cow<'_, [u64]> = if s.len() >= need {
            s.into()
        } else {
            let mut v = s.to_vec();
            v.resize(need, 0);
            v.into()
        };
        let mut ws = Workspace::new(m, base);
        for c in 0..np / m {
            let off = np - m - c * m;
            square_padded(
                kernel,
                &sp[off..off + 2 * m],
                &xp[c * m..(c + 1) * m],
                y,
                &mut ws,
            );
        }
    } else {
        // Split y into chunks of n rows: chunk c sees seed offset c*n; pad the last chunk.
        let chunks = m.div_ceil(n);
        let need = chunks * n + n;
        let sp: std::borrow::Cow<'_, [u64]> = if s.len() >= need {
            s.into()
        } else {
            let mut v = s.to_vec();
            v.resize(need, 0);
            v.into()
        };
        let mut ws = Workspace::new(n, base);
        let mut tmp = Zeroizing::new(vec![0u64; n]);
        for c in 0..chunks {
            let off = c * n;
            tmp.fill(0);
            square_padded(kernel, &sp[off..off + 2 * n], x, &mut tmp, &mut ws);
            let end = ((c + 1) * n).min(m);
            y[c * n..end].copy_from_slice(&tmp[..end - c * n]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distill::privacy::ClmulBackend;
    use rand::{RngExt, SeedableRng, rngs::StdRng};

    fn words(rng: &mut StdRng, len: usize) -> Vec<u64> {
        (0..len).map(|_| rng.random()).collect()
    }

    fn kernels() -> Vec<Kernel> {
        let all: Vec<Kernel> = ClmulBackend::available()
            .into_iter()
            .filter_map(Kernel::for_backend)
            .collect();
        assert_eq!(all[0], Kernel::Portable);
        all
    }

    /// Every kernel's direct block product equals the portable schoolbook, on shapes that hit the
    /// AVX-512 kernel's partial lane groups (rows + 1 not a multiple of 8) and row chunks (> 64
    /// rows).
    #[test]
    fn block_kernels_equal_portable() {
        let mut rng = StdRng::seed_from_u64(31);
        let shapes = [
            (1, 1),
            (1, 5),
            (5, 1),
            (7, 7),
            (8, 3),
            (15, 16),
            (16, 16),
            (23, 40),
            (31, 31),
            (63, 2),
            (64, 9),
            (65, 65),
            (130, 17),
        ];
        for k in kernels() {
            for &(m, n) in &shapes {
                let s = words(&mut rng, m + n);
                let x = words(&mut rng, n);
                let init = words(&mut rng, m);
                let mut want = init.clone();
                schoolbook(&s, &x, &mut want);
                let mut got = init.clone();
                k.block(&s, &x, &mut got, &mut [0u64; Kernel::SCRATCH]);
                assert_eq!(got, want, "{k:?} m={m} n={n}");
            }
        }
    }

    /// The Karatsuba recursion equals the direct product for sizes around the base-case threshold
    /// of each kernel (one and two levels of recursion, padded and unpadded).
    #[test]
    fn recursion_equals_direct_around_thresholds() {
        let mut rng = StdRng::seed_from_u64(32);
        for k in kernels() {
            let b = k.base_words();
            for size in [b - 1, b, b + 1, 2 * b - 1, 2 * b, 2 * b + 1, 4 * b + 3] {
                let s = words(&mut rng, 2 * size);
                let x = words(&mut rng, size);
                let mut want = vec![0u64; size];
                schoolbook(&s, &x, &mut want);
                let mut got = vec![0u64; size];
                multiply(k, &s, &x, &mut got);
                assert_eq!(got, want, "{k:?} size={size}");
            }
        }
    }

    #[test]
    fn padded_sizes_halve_to_the_base() {
        for base in [16usize, 24, 32, 48] {
            for k in 1..2000 {
                let p = padded_size(k, base);
                assert!(p >= k);
                let mut r = p;
                while r > base {
                    assert_eq!(r % 2, 0, "k={k} base={base} p={p}");
                    r /= 2;
                }
                // Never more than one part in base/2 + 1 of padding.
                assert!(p - k <= p / (base / 2 + 1) + 1, "k={k} base={base} p={p}");
            }
        }
    }
}
