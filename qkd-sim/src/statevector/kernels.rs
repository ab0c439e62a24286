//! The amplitude-update kernels: one pass over the state per operation, no dense operators.
//!
//! Qubit `q` is bit `q` of the basis-state index, so the amplitudes with bit `q` clear and set
//! come in runs of `s = 2^q`: the state splits into chunks of `2s`, whose lower half has the bit
//! clear and upper half set. Every kernel walks these chunks with `chunks_exact_mut` and
//! `split_at_mut` so that the inner loops run over contiguous slices the compiler can vectorise.
//! For `q = 0` (runs of one amplitude) a dedicated loop over pairs avoids the per-chunk overhead.

use num_complex::Complex64;

/// Calls `f(a, b)` for every pair of amplitudes that differ only in bit `q` (`a` has the bit
/// clear, `b` set). `amps.len()` must be a power of two larger than `2^q`.
#[inline(always)]
pub(crate) fn for_each_pair<F>(amps: &mut [Complex64], q: usize, f: F)
where
    F: FnMut(&mut Complex64, &mut Complex64),
{
    // Low qubits have short runs: fixed-size chunks let the compiler unroll them completely.
    match q {
        0 => {
            let mut f = f;
            for [a, b] in amps.as_chunks_mut::<2>().0 {
                f(a, b);
            }
        }
        1 => pairs_fixed::<4, F>(amps, f),
        2 => pairs_fixed::<8, F>(amps, f),
        _ => pairs_runs(amps, 1usize << q, f),
    }
}

#[inline(always)]
fn pairs_fixed<const N: usize, F>(amps: &mut [Complex64], mut f: F)
where
    F: FnMut(&mut Complex64, &mut Complex64),
{
    let (chunks, _) = amps.as_chunks_mut::<N>();
    for chunk in chunks {
        let (lo, hi) = chunk.split_at_mut(N / 2);
        for (a, b) in lo.iter_mut().zip(hi.iter_mut()) {
            f(a, b);
        }
    }
}

#[inline(always)]
fn pairs_runs<F>(amps: &mut [Complex64], s: usize, mut f: F)
where
    F: FnMut(&mut Complex64, &mut Complex64),
{
    for chunk in amps.chunks_exact_mut(2 * s) {
        let (lo, hi) = chunk.split_at_mut(s);
        for (a, b) in lo.iter_mut().zip(hi.iter_mut()) {
            f(a, b);
        }
    }
}

/// Calls `f` on every run of amplitudes that have bit `q` set (`upper`) or clear (`!upper`).
#[inline(always)]
pub(crate) fn for_each_half<F>(amps: &mut [Complex64], q: usize, upper: bool, mut f: F)
where
    F: FnMut(&mut [Complex64]),
{
    let s = 1usize << q;
    for chunk in amps.chunks_exact_mut(2 * s) {
        let (lo, hi) = chunk.split_at_mut(s);
        f(if upper { hi } else { lo });
    }
}

/// Read-only counterpart of [`for_each_half`].
#[inline(always)]
pub(crate) fn for_each_half_ref<F>(amps: &[Complex64], q: usize, upper: bool, mut f: F)
where
    F: FnMut(&[Complex64]),
{
    let s = 1usize << q;
    for chunk in amps.chunks_exact(2 * s) {
        let (lo, hi) = chunk.split_at(s);
        f(if upper { hi } else { lo });
    }
}

/// Pauli X on qubit `q`: swaps the halves.
pub(crate) fn x(amps: &mut [Complex64], q: usize) {
    for_each_pair(amps, q, std::mem::swap);
}

/// Negates every amplitude with bit `q` set (Pauli Z).
pub(crate) fn negate_upper(amps: &mut [Complex64], q: usize) {
    if q == 0 {
        for pair in amps.as_chunks_mut::<2>().0 {
            pair[1] = -pair[1];
        }
    } else {
        for_each_half(amps, q, true, |half| {
            for z in half {
                *z = -*z;
            }
        });
    }
}

/// CNOT: flips `target` on the amplitudes whose `control` bit is set.
pub(crate) fn cnot(amps: &mut [Complex64], control: usize, target: usize) {
    let sc = 1usize << control;
    let st = 1usize << target;
    if control > target {
        // Within the control-set half of every control chunk, X on the target.
        for_each_half(amps, control, true, |half| x(half, target));
    } else {
        // Within every target chunk, swap the control-set runs of its lower and upper halves.
        for chunk in amps.chunks_exact_mut(2 * st) {
            let (lo, hi) = chunk.split_at_mut(st);
            for (l, h) in lo.chunks_exact_mut(2 * sc).zip(hi.chunks_exact_mut(2 * sc)) {
                l[sc..].swap_with_slice(&mut h[sc..]);
            }
        }
    }
}

/// CZ: negates the amplitudes with both bits set. Requires `a != b`.
pub(crate) fn cz(amps: &mut [Complex64], a: usize, b: usize) {
    let (low, high) = if a < b { (a, b) } else { (b, a) };
    for_each_half(amps, high, true, |half| negate_upper(half, low));
}

/// SWAP: exchanges the amplitudes with bits `(a, b) = (1, 0)` and `(0, 1)`. Requires `a != b`.
pub(crate) fn swap(amps: &mut [Complex64], a: usize, b: usize) {
    let (low, high) = if a < b { (a, b) } else { (b, a) };
    let sl = 1usize << low;
    let sh = 1usize << high;
    for chunk in amps.chunks_exact_mut(2 * sh) {
        let (h0, h1) = chunk.split_at_mut(sh);
        for (c0, c1) in h0.chunks_exact_mut(2 * sl).zip(h1.chunks_exact_mut(2 * sl)) {
            // c0[sl..]: low bit set, high clear; c1[..sl]: high bit set, low clear.
            c0[sl..].swap_with_slice(&mut c1[..sl]);
        }
    }
}

/// Sum of `|z|^2` over a slice.
#[inline]
pub(crate) fn norm_sqr(amps: &[Complex64]) -> f64 {
    // Four accumulators break the dependency chain so the loop pipelines and vectorises.
    let mut acc = [0.0f64; 4];
    let mut chunks = amps.chunks_exact(2);
    for c in &mut chunks {
        acc[0] += c[0].re * c[0].re;
        acc[1] += c[0].im * c[0].im;
        acc[2] += c[1].re * c[1].re;
        acc[3] += c[1].im * c[1].im;
    }
    for z in chunks.remainder() {
        acc[0] += z.norm_sqr();
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}
