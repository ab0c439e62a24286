//! Walking the amplitudes that can be nonzero.
//!
//! [`StateVector`](super::StateVector) tracks which qubits are *known*: in a computational basis
//! state `|v>` (product with the rest). A register fresh from `new`/`reset`, or right after a
//! computational-basis measurement, has many such qubits, and then only the amplitudes whose
//! index agrees with the known values can be nonzero: `2^f` of them for `f` free qubits. The
//! kernels here visit just those, by enumerating the submasks of the free-qubit mask (the
//! `sub = (sub - mask) & mask` step visits them in increasing order). With no known qubits they
//! fall back to the chunked dense kernels of [`kernels`].
//!
//! This is what makes small registers cheap (a BB84 register mostly holds a handful of nonzero
//! amplitudes), and it changes no result: every kernel does the same arithmetic on the same
//! nonzero amplitudes, in the same (increasing-index) order for the order-sensitive scans.

use num_complex::Complex64;

use super::kernels;

/// Which amplitudes an operation on qubit `q` must visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Space {
    /// Every amplitude (no qubit is known).
    Full,
    /// Indices `base | sub | (0 or 1 << q)` for every submask `sub` of `mask`; `base` has bit `q`
    /// clear and `mask` excludes `q`.
    Sub {
        /// The values of the known qubits.
        base: u64,
        /// The free qubits other than the one operated on.
        mask: u64,
    },
}

/// Calls `f` on every submask of `mask` in increasing order (including 0 and `mask`).
#[inline(always)]
pub(crate) fn for_each_submask(mask: u64, mut f: impl FnMut(u64)) {
    let mut sub = 0u64;
    loop {
        f(sub);
        if sub == mask {
            break;
        }
        sub = sub.wrapping_sub(mask) & mask;
    }
}

/// Two distinct elements of a slice, mutably (`i != j`, both in range).
#[inline(always)]
fn two(amps: &mut [Complex64], i: usize, j: usize) -> (&mut Complex64, &mut Complex64) {
    if i < j {
        let (lo, hi) = amps.split_at_mut(j);
        (&mut lo[i], &mut hi[0])
    } else {
        let (lo, hi) = amps.split_at_mut(i);
        (&mut hi[0], &mut lo[j])
    }
}

/// Calls `f(a, b)` on the amplitude pairs of qubit `q` (`a` with the bit clear, `b` set).
#[inline(always)]
pub(crate) fn pairs<F>(amps: &mut [Complex64], q: usize, space: Space, mut f: F)
where
    F: FnMut(&mut Complex64, &mut Complex64),
{
    match space {
        Space::Full => kernels::for_each_pair(amps, q, f),
        Space::Sub { base, mask } => {
            let bit = 1u64 << q;
            for_each_submask(mask, |sub| {
                let i = (base | sub) as usize;
                let (a, b) = two(amps, i, i | bit as usize);
                f(a, b);
            });
        }
    }
}

/// Read-only [`pairs`].
#[inline(always)]
pub(crate) fn pairs_ref<F>(amps: &[Complex64], q: usize, space: Space, mut f: F)
where
    F: FnMut(Complex64, Complex64),
{
    match space {
        Space::Full => {
            let s = 1usize << q;
            for chunk in amps.chunks_exact(2 * s) {
                let (lo, hi) = chunk.split_at(s);
                for (a, b) in lo.iter().zip(hi) {
                    f(*a, *b);
                }
            }
        }
        Space::Sub { base, mask } => {
            let bit = 1usize << q;
            for_each_submask(mask, |sub| {
                let i = (base | sub) as usize;
                f(amps[i], amps[i | bit]);
            });
        }
    }
}

/// Calls `f` on every amplitude with bit `q` set.
#[inline(always)]
pub(crate) fn upper<F>(amps: &mut [Complex64], q: usize, space: Space, mut f: F)
where
    F: FnMut(&mut Complex64),
{
    match space {
        Space::Full => {
            if q == 0 {
                for pair in amps.as_chunks_mut::<2>().0 {
                    f(&mut pair[1]);
                }
            } else {
                kernels::for_each_half(amps, q, true, |half| half.iter_mut().for_each(&mut f));
            }
        }
        Space::Sub { base, mask } => {
            let bit = 1u64 << q;
            for_each_submask(mask, |sub| f(&mut amps[(base | sub | bit) as usize]));
        }
    }
}

/// Calls `f` on every amplitude of the subspace `base | sub` (all of them for `mask` = every
/// qubit and `base` = 0), in increasing index order.
#[inline(always)]
pub(crate) fn each<F>(amps: &mut [Complex64], base: u64, mask: u64, mut f: F)
where
    F: FnMut(usize, &mut Complex64),
{
    for_each_submask(mask, |sub| {
        let i = (base | sub) as usize;
        f(i, &mut amps[i]);
    });
}

/// CNOT on the subspace: `base` has the control and target bits clear, `mask` excludes both.
pub(crate) fn cnot_sub(
    amps: &mut [Complex64],
    control: usize,
    target: usize,
    base: u64,
    mask: u64,
) {
    let (c, t) = (1u64 << control, 1u64 << target);
    for_each_submask(mask, |sub| {
        let i = (base | sub | c) as usize;
        amps.swap(i, i | t as usize);
    });
}

/// CZ on the subspace: `base` has both bits clear, `mask` excludes both.
pub(crate) fn cz_sub(amps: &mut [Complex64], a: usize, b: usize, base: u64, mask: u64) {
    let both = (1u64 << a) | (1u64 << b);
    for_each_submask(mask, |sub| {
        let z = &mut amps[(base | sub | both) as usize];
        *z = -*z;
    });
}

/// SWAP on the subspace: `base` has both bits clear, `mask` excludes both.
pub(crate) fn swap_sub(amps: &mut [Complex64], a: usize, b: usize, base: u64, mask: u64) {
    let (ba, bb) = (1u64 << a, 1u64 << b);
    for_each_submask(mask, |sub| {
        let i = base | sub;
        amps.swap((i | ba) as usize, (i | bb) as usize);
    });
}
