//! The `PEXT` kernel of [`compress_into`](super::compress_into). With `clmul_x86`, the only
//! modules of the crate that may contain `unsafe` code.
//!
//! The kernel is a `#[target_feature]` function; calling it from ordinary code is `unsafe`, and
//! only [`compress`] does, with a zero-sized [`FastPext`] token that [`FastPext::detect`] alone
//! creates, after checking the CPU at run time.
#![allow(unsafe_code)]

use core::arch::x86_64::_pext_u64;

use super::{Appender, Selection};

/// Proof that the CPU has BMI2, POPCNT and AVX-512F. AVX-512F is not used by the kernel: it is
/// a conservative sign that `PEXT` is a single fast instruction. AMD processors before Zen 3
/// implement `PEXT` in microcode, tens of times slower than the portable table, and have no
/// AVX-512F; Intel server processors since Skylake-SP and AMD Zen 4 on have both. CPUs with a
/// fast `PEXT` but no AVX-512F (AMD Zen 3, most Intel client processors) use the portable
/// kernel too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FastPext(());

impl FastPext {
    /// The token, if the running CPU qualifies (the result is cached by the standard library).
    pub(crate) fn detect() -> Option<Self> {
        (std::arch::is_x86_feature_detected!("bmi2")
            && std::arch::is_x86_feature_detected!("popcnt")
            && std::arch::is_x86_feature_detected!("avx512f"))
        .then_some(Self(()))
    }
}

/// [`compress_into`](super::compress_into) with one `PEXT` a word.
pub(crate) fn compress(
    _: FastPext,
    sel: Selection<'_>,
    added: usize,
    words: &mut Vec<u64>,
    len: &mut usize,
) {
    // SAFETY: the token exists only if BMI2 and POPCNT were detected at run time; the kernel
    // has no other precondition (it indexes slices with bounds checks).
    unsafe { compress_bmi2(sel, added, words, len) }
}

#[target_feature(enable = "bmi2,popcnt")]
fn compress_bmi2(sel: Selection<'_>, added: usize, words: &mut Vec<u64>, len: &mut usize) {
    let mut out = Appender::new(words, *len, added);
    for i in 0..sel.words() {
        let mask = sel.mask(i);
        out.push(_pext_u64(sel.values[i], mask), mask.count_ones() as usize);
    }
    *len = out.finish();
}
