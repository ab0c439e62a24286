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
//! Cost O(K^1.585) carry-less multiplications.

use zeroize::Zeroizing;

use super::clmul::clmul;

/// Below this many words a square block is multiplied directly.
const BASE: usize = 24;

/// Direct product: `y[I] ^= ...` for `I < y.len()`, `x.len() = N`, `s.len() >= y.len() + N`.
pub(crate) fn schoolbook(s: &[u64], x: &[u64], y: &mut [u64]) {
    let n = x.len();
    let m = y.len();
    debug_assert!(s.len() >= m + n);
    if n == 0 || m == 0 {
        return;
    }
    // q_prev = Q_I, computed fresh for each I + 1.
    let q = |i: usize| -> u128 {
        // Q_i = XOR_J clmul(s[i + N - 1 - J], x_J)
        let base = i + n - 1;
        let mut acc = 0u128;
        for (j, &xj) in x.iter().enumerate() {
            acc ^= clmul(s[base - j], xj);
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

/// Square product `y ^= T x` with `x.len() == y.len() == K` and `s.len() >= 2K`.
fn square(s: &[u64], x: &[u64], y: &mut [u64]) {
    let k = x.len();
    debug_assert_eq!(y.len(), k);
    debug_assert!(s.len() >= 2 * k);
    if k <= BASE {
        schoolbook(&s[..2 * k], x, y);
        return;
    }
    if k % 2 == 1 {
        // Pad the input with one zero word at the bottom: block indices d are unchanged, and one
        // extra output word (dropped) reads two extra seed words (zero).
        let mut xp = Zeroizing::new(Vec::with_capacity(k + 1));
        xp.push(0);
        xp.extend_from_slice(x);
        let mut sp = Vec::with_capacity(2 * k + 2);
        sp.extend_from_slice(&s[..2 * k]);
        sp.extend_from_slice(&[0, 0]);
        let mut yp = Zeroizing::new(vec![0u64; k + 1]);
        square(&sp, &xp, &mut yp);
        for (a, b) in y.iter_mut().zip(yp.iter()) {
            *a ^= b;
        }
        return;
    }
    let h = k / 2;
    let (v0, v1) = x.split_at(h);
    let (y0, y1) = y.split_at_mut(h);
    let mut t = vec![0u64; 2 * h]; // seeds of B + A, then C + A
    let mut v = Zeroizing::new(vec![0u64; h]); // v0 + v1
    let mut p = Zeroizing::new(vec![0u64; h]); // products
    // P0 = A (v0 + v1), added to both halves.
    for ((vi, a), b) in v.iter_mut().zip(v0).zip(v1) {
        *vi = a ^ b;
    }
    square(&s[h..3 * h], &v, &mut p);
    for ((a, b), pi) in y0.iter_mut().zip(y1.iter_mut()).zip(p.iter()) {
        *a ^= pi;
        *b ^= pi;
    }
    // P1 = (B + A) v1 into y0.
    for ((ti, a), b) in t.iter_mut().zip(&s[0..2 * h]).zip(&s[h..3 * h]) {
        *ti = a ^ b;
    }
    square(&t, v1, y0);
    // P2 = (C + A) v0 into y1.
    for ((ti, a), b) in t.iter_mut().zip(&s[2 * h..4 * h]).zip(&s[h..3 * h]) {
        *ti = a ^ b;
    }
    square(&t, v0, y1);
}

/// Smallest `K' >= k` that halves down to the base case without odd sizes: `b * 2^j` with
/// `b <= BASE`, so the recursion never pads again.
fn padded_size(k: usize) -> usize {
    let mut j = 0;
    while k.div_ceil(1 << j) > BASE {
        j += 1;
    }
    k.div_ceil(1 << j) << j
}

/// Square product `y ^= T x` on sizes padded once to [`padded_size`]: the input gets zero words
/// at the bottom (block indices unchanged), the seed zero words on top, and the surplus outputs
/// are dropped.
fn square_padded(s: &[u64], x: &[u64], y: &mut [u64]) {
    let k = x.len();
    let kp = padded_size(k);
    if kp == k {
        square(&s[..2 * k], x, y);
        return;
    }
    let pad = kp - k;
    let mut xp = Zeroizing::new(vec![0u64; kp]);
    xp[pad..].copy_from_slice(x);
    let mut sp = vec![0u64; 2 * kp];
    sp[..2 * k].copy_from_slice(&s[..2 * k]);
    let mut yp = Zeroizing::new(vec![0u64; kp]);
    square(&sp, &xp, &mut yp);
    for (a, b) in y.iter_mut().zip(yp.iter()) {
        *a ^= b;
    }
}

/// Rectangular product `y = T x` (`y` is overwritten) with `s.len() >= y.len() + x.len()`,
/// tiled into square blocks.
pub(crate) fn multiply(s: &[u64], x: &[u64], y: &mut [u64]) {
    let (m, n) = (y.len(), x.len());
    y.fill(0);
    if m == 0 || n == 0 {
        return;
    }
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
        for c in 0..np / m {
            let off = np - m - c * m;
            square_padded(&sp[off..off + 2 * m], &xp[c * m..(c + 1) * m], y);
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
        let mut tmp = Zeroizing::new(vec![0u64; n]);
        for c in 0..chunks {
            let off = c * n;
            tmp.fill(0);
            square_padded(&sp[off..off + 2 * n], x, &mut tmp);
            let end = ((c + 1) * n).min(m);
            y[c * n..end].copy_from_slice(&tmp[..end - c * n]);
        }
    }
}
