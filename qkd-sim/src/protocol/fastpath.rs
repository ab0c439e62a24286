//! Bit-sliced kernels of the product-state fast path.
//!
//! Every routine works on 64 qubits at once: one `u64` word per plane (see
//! [`ProductFrame`]). Randomness is drawn as whole words:
//!
//! * a fair coin per lane is one random word;
//! * a Bernoulli(`p`) mask with the same `p` in every lane uses *geometric skipping* when `p` (or
//!   `1 - p`) is small (one logarithm per hit) and otherwise [`bernoulli_classes`], which compares a
//!   bit-sliced uniform variable with the binary expansion of `p` most significant bit first and stops
//!   as soon as every lane is decided (about 8 random words per 64 lanes, exact to `2^-64`);
//! * lanes with different probabilities (measurement of states at different angles) also go through
//!   [`bernoulli_classes`], each class of lanes with its own threshold.
//!
//! The measurement probabilities follow from the Bloch picture: measuring a state at Bloch angle
//! `a` (x-z plane) along the axis at angle `b` gives the first outcome with probability
//! `cos^2((a - b)/2)`; a circular state measured in the x-z plane, or a linear state measured in the
//! circular basis, gives a fair coin.

use rand::Rng;

use super::frame::ProductFrame;

/// A probability as a 64-bit fixed-point threshold: an event of probability `p` happens when a
/// uniform `U` in `[0, 1)` is below `p`. `ONE` marks certainty (not representable as a fraction).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prob {
    /// Never.
    Zero,
    /// Always.
    One,
    /// Exactly one half.
    Half,
    /// `t / 2^64`.
    Frac(u64),
}

impl Prob {
    /// From a probability in `[0, 1]` (callers validate; out-of-range values saturate).
    pub(crate) fn new(p: f64) -> Self {
        if p.is_nan() || p <= 0.0 {
            Prob::Zero
        } else if p >= 1.0 {
            Prob::One
        } else if p == 0.5 {
            Prob::Half
        } else {
            // 2^64 * p, rounded; p < 1 so this stays below 2^64 except for p within 2^-65 of 1.
            let t = (p * 18_446_744_073_709_551_616.0).round();
            if t >= 18_446_744_073_709_551_615.0 {
                Prob::One
            } else if t < 1.0 {
                Prob::Zero
            } else {
                Prob::Frac(t as u64)
            }
        }
    }
}

/// Samples one outcome bit per lane: lanes of `classes[c].0` are 1 with probability
/// `classes[c].1`. Lanes in no class are 0. Class masks must be disjoint.
pub(crate) fn bernoulli_classes<R: Rng + ?Sized>(rng: &mut R, classes: &[(u64, Prob)]) -> u64 {
    let mut out = 0u64;
    let mut undecided = 0u64;
    let mut half = 0u64;
    for &(mask, p) in classes {
        match p {
            Prob::Zero => {}
            Prob::One => out |= mask,
            Prob::Half => half |= mask,
            Prob::Frac(_) => undecided |= mask,
        }
    }
    if half != 0 {
        out |= half & rng.next_u64();
    }
    // Compare a bit-sliced uniform U (one random word per binary digit, most significant first)
    // with each lane's threshold t: the lane is 1 when U < t. At the first digit where U and t
    // differ the lane is decided; lanes still equal carry on.
    let mut bit = 63u32;
    while undecided != 0 {
        let mut t_word = 0u64;
        for &(mask, p) in classes {
            if let Prob::Frac(t) = p
                && (t >> bit) & 1 == 1
            {
                t_word |= mask;
            }
        }
        let r = rng.next_u64();
        out |= undecided & t_word & !r;
        undecided &= !(t_word ^ r);
        if bit == 0 {
            break; // U == t to 64 bits: U is not below t.
        }
        bit -= 1;
    }
    out
}

/// Fills a fresh mask of `len` lanes (`len.div_ceil(64)` words), each lane 1 with probability `p`.
pub(crate) fn bernoulli_mask<R: Rng + ?Sized>(rng: &mut R, p: Prob, len: usize) -> Vec<u64> {
    let words = len.div_ceil(64);
    let mut out = vec![0u64; words];
    bernoulli_fill(rng, p, len, &mut out);
    out
}

/// Below this probability (or above one minus it) geometric skipping beats word comparison.
const SKIP_BELOW: f64 = 1.0 / 16.0;

/// Sets each of the first `len` lanes of `out` (which must be zero) with probability `p`.
pub(crate) fn bernoulli_fill<R: Rng + ?Sized>(rng: &mut R, p: Prob, len: usize, out: &mut [u64]) {
    let pf = match p {
        Prob::Zero => return,
        Prob::One => {
            fill_ones(out, len);
            return;
        }
        Prob::Half => 0.5,
        Prob::Frac(t) => t as f64 / 18_446_744_073_709_551_616.0,
    };
    if pf < SKIP_BELOW {
        geometric_hits(rng, pf, len, |i| out[i / 64] |= 1 << (i % 64));
    } else if pf > 1.0 - SKIP_BELOW {
        fill_ones(out, len);
        geometric_hits(rng, 1.0 - pf, len, |i| out[i / 64] &= !(1 << (i % 64)));
    } else {
        for (w, o) in out.iter_mut().enumerate() {
            *o = bernoulli_classes(rng, &[(lane_mask(len, w), p)]);
        }
    }
}

fn fill_ones(out: &mut [u64], len: usize) {
    for (w, o) in out.iter_mut().enumerate() {
        *o = lane_mask(len, w);
    }
}

/// The valid lanes of word `w` of a `len`-lane mask.
#[inline]
pub(crate) fn lane_mask(len: usize, w: usize) -> u64 {
    let rem = len.saturating_sub(w * 64);
    if rem >= 64 {
        u64::MAX
    } else {
        (1u64 << rem) - 1
    }
}

/// Calls `hit(i)` for each index `i < len` selected independently with probability `p` (0 < p < 1),
/// by drawing the geometric gaps between hits.
fn geometric_hits<R: Rng + ?Sized>(rng: &mut R, p: f64, len: usize, mut hit: impl FnMut(usize)) {
    let log_q = (-p).ln_1p(); // ln(1 - p) < 0
    let mut i = 0usize;
    loop {
        // u uniform in (0, 1]: 53 random bits plus one, scaled.
        let u = ((rng.next_u64() >> 11) + 1) as f64 * (1.0 / 9_007_199_254_740_992.0);
        // The gap is floor(ln u / ln q) >= 0; truncation is that floor, without a libm call.
        let gap = u.ln() / log_q;
        if gap.is_nan() || gap >= (len - i) as f64 {
            return;
        }
        i += gap as usize;
        hit(i);
        i += 1;
        if i >= len {
            return;
        }
    }
}

/// Uniform choice among three values per lane, as two planes `(lo, hi)` with value `lo + 2 hi` in
/// `0..3` (rejection of the fourth value, lane by lane).
pub(crate) fn uniform3<R: Rng + ?Sized>(rng: &mut R) -> (u64, u64) {
    let mut lo = rng.next_u64();
    let mut hi = rng.next_u64();
    let mut reject = lo & hi;
    while reject != 0 {
        lo = (lo & !reject) | (rng.next_u64() & reject);
        hi = (hi & !reject) | (rng.next_u64() & reject);
        reject = lo & hi;
    }
    (lo, hi)
}

/// A measurement basis per lane: lanes of `y` measure in the circular basis (`|+i>` is outcome 0);
/// the others along the x-z axis at Bloch angle `k * pi/4`, `k = b0 + 2 b1 + 4 b2` (outcome 0 is the
/// state `Linear(k)`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct BasisWord {
    pub(crate) b0: u64,
    pub(crate) b1: u64,
    pub(crate) b2: u64,
    pub(crate) y: u64,
}

/// Probability of outcome 1 for each angle difference `d` (in units of pi/4) between a linear
/// state and a linear measurement axis, for a given extra rotation of the state.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClassTable {
    one: [Prob; 8],
    unrotated: bool,
}

impl ClassTable {
    /// For states rotated by `rotation` (Bloch angle, radians) about the y axis.
    pub(crate) fn new(rotation: f64) -> Self {
        let mut one = [Prob::Zero; 8];
        if rotation == 0.0 {
            // Exact values for the unrotated case.
            let c = std::f64::consts::FRAC_PI_8.cos().powi(2);
            one = [
                Prob::Zero,
                Prob::new(1.0 - c),
                Prob::Half,
                Prob::new(c),
                Prob::One,
                Prob::new(c),
                Prob::Half,
                Prob::new(1.0 - c),
            ];
        } else {
            for (d, o) in one.iter_mut().enumerate() {
                let angle = d as f64 * std::f64::consts::FRAC_PI_4 + rotation;
                *o = Prob::new((angle / 2.0).sin().powi(2));
            }
        }
        Self {
            one,
            unrotated: rotation == 0.0,
        }
    }
}

/// Measures word `w` of `frame` in `basis` (the states rotated by the table's rotation) and returns
/// the outcome bits (lanes outside `active` are 0). The frame is not changed.
pub(crate) fn measure_word<R: Rng + ?Sized>(
    frame: &ProductFrame,
    w: usize,
    basis: &BasisWord,
    table: &ClassTable,
    active: u64,
    rng: &mut R,
) -> u64 {
    let (k0, k1, k2, sy) = (frame.k0[w], frame.k1[w], frame.k2[w], frame.y[w]);
    if table.unrotated && (k0 | sy | basis.b0 | basis.b2 | basis.y) & active == 0 {
        // Common case (BB84/B92 states, Z/X bases, no rotation): the angle difference is even,
        // d = 2 (k1 ^ b1) + 4 (k2 ^ (!k1 & b1)) mod 8: d = 0 -> 0, d = 4 -> 1, d = 2 or 6 -> coin.
        let d1 = k1 ^ basis.b1;
        let d2 = k2 ^ (!k1 & basis.b1);
        let coin = if d1 & active != 0 { rng.next_u64() } else { 0 };
        return active & ((!d1 & d2) | (d1 & coin));
    }
    // Circular state in the circular basis: deterministic, outcome = sign.
    let yy = active & sy & basis.y;
    // Circular state measured linearly, or linear state measured circularly: fair coin.
    let fair = active & (sy ^ basis.y);
    // Linear state, linear basis: difference d = k - b (mod 8), bit-sliced subtraction.
    let lin = active & !sy & !basis.y;
    let d0 = k0 ^ basis.b0;
    let br0 = !k0 & basis.b0;
    let d1 = k1 ^ basis.b1 ^ br0;
    let br1 = (!k1 & (basis.b1 | br0)) | (basis.b1 & br0);
    let d2 = k2 ^ basis.b2 ^ br1;
    let mut classes = [(0u64, Prob::Zero); 10];
    for (d, slot) in classes.iter_mut().take(8).enumerate() {
        let m0 = if d & 1 == 1 { d0 } else { !d0 };
        let m1 = if d & 2 == 2 { d1 } else { !d1 };
        let m2 = if d & 4 == 4 { d2 } else { !d2 };
        *slot = (lin & m0 & m1 & m2, table.one[d]);
    }
    classes[8] = (fair, Prob::Half);
    classes[9] = (yy & k2, Prob::One);
    bernoulli_classes(rng, &classes)
}

/// Applies Pauli X to the lanes of `m` in word `w`.
pub(crate) fn apply_x(frame: &mut ProductFrame, w: usize, m: u64) {
    // Linear: k -> 4 - k = (-k) + 4; circular: sign flips (k2 ^= 1).
    negate_linear(frame, w, m & !frame.y[w]);
    frame.k2[w] ^= m;
}

/// Applies Pauli Z to the lanes of `m` in word `w`.
pub(crate) fn apply_z(frame: &mut ProductFrame, w: usize, m: u64) {
    // Linear: k -> -k; circular: sign flips.
    let circ = m & frame.y[w];
    negate_linear(frame, w, m & !frame.y[w]);
    frame.k2[w] ^= circ;
}

/// Applies Pauli Y to the lanes of `m` in word `w`.
pub(crate) fn apply_y(frame: &mut ProductFrame, w: usize, m: u64) {
    // Linear: k -> k + 4; circular: unchanged.
    frame.k2[w] ^= m & !frame.y[w];
}

/// k -> -k (mod 8) on the lanes of `m`.
fn negate_linear(frame: &mut ProductFrame, w: usize, m: u64) {
    let (a0, a1) = (frame.k0[w], frame.k1[w]);
    frame.k1[w] ^= m & a0;
    frame.k2[w] ^= m & (a0 | a1);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::SliceState;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    /// Bernoulli masks hit the requested rate. n = 2^20 lanes; 5 sigma of a binomial proportion is
    /// 5 sqrt(p(1-p)/n) <= 5 * 0.5 / 1024 ~ 0.0025.
    #[test]
    fn bernoulli_rates() {
        let mut rng = StdRng::seed_from_u64(3);
        let n = 1 << 20;
        for p in [0.0, 0.001, 0.05, 0.3, 0.5, 0.7, 0.95, 0.999, 1.0] {
            let mask = bernoulli_mask(&mut rng, Prob::new(p), n - 3);
            let ones: u64 = mask.iter().map(|w| w.count_ones() as u64).sum();
            let rate = ones as f64 / (n - 3) as f64;
            let sigma = (p * (1.0 - p) / n as f64).sqrt();
            assert!((rate - p).abs() <= 5.0 * sigma + 1e-12, "p={p} rate={rate}");
            assert_eq!(
                mask.last().copied().unwrap_or(0) >> 61,
                0,
                "tail lanes stay clear"
            );
        }
    }

    /// Pauli actions on every representable state agree with their Bloch-sphere action.
    #[test]
    fn paulis_act_as_on_bloch_sphere() {
        let mut states: Vec<SliceState> = (0..8).map(SliceState::Linear).collect();
        states.push(SliceState::CircularPlus);
        states.push(SliceState::CircularMinus);
        let expect = |s: SliceState, op: char| match (s, op) {
            (SliceState::Linear(k), 'x') => SliceState::Linear((12 - k) % 8),
            (SliceState::Linear(k), 'z') => SliceState::Linear((8 - k) % 8),
            (SliceState::Linear(k), 'y') => SliceState::Linear((k + 4) % 8),
            (SliceState::CircularPlus, 'y') => SliceState::CircularPlus,
            (SliceState::CircularMinus, 'y') => SliceState::CircularMinus,
            (SliceState::CircularPlus, _) => SliceState::CircularMinus,
            (SliceState::CircularMinus, _) => SliceState::CircularPlus,
            _ => unreachable!(),
        };
        for op in ['x', 'y', 'z'] {
            let mut f = ProductFrame::from_states(&states).expect("valid states");
            let m = lane_mask(states.len(), 0);
            match op {
                'x' => apply_x(&mut f, 0, m),
                'y' => apply_y(&mut f, 0, m),
                _ => apply_z(&mut f, 0, m),
            }
            for (i, &s) in states.iter().enumerate() {
                assert_eq!(f.state(i), Some(expect(s, op)), "{op} on {s:?}");
            }
        }
    }

    /// Measurement statistics match cos^2 of half the Bloch angle, for every state/basis pair.
    /// 64 * 2000 = 128000 trials per pair; 5 sigma <= 5 * 0.5 / sqrt(128000) ~ 0.007.
    #[test]
    fn measurement_probabilities() {
        let mut rng = StdRng::seed_from_u64(4);
        let trials = 2000;
        for rotation in [0.0, 0.3] {
            let table = ClassTable::new(rotation);
            for k in 0..8u8 {
                for kb in 0..8u8 {
                    let mut f =
                        ProductFrame::from_states(&[SliceState::Linear(k); 64]).expect("valid");
                    f.rotation = rotation;
                    let basis = BasisWord {
                        b0: if kb & 1 == 1 { u64::MAX } else { 0 },
                        b1: if kb & 2 == 2 { u64::MAX } else { 0 },
                        b2: if kb & 4 == 4 { u64::MAX } else { 0 },
                        y: 0,
                    };
                    let mut ones = 0u64;
                    for _ in 0..trials {
                        ones += measure_word(&f, 0, &basis, &table, u64::MAX, &mut rng).count_ones()
                            as u64;
                    }
                    let n = (64 * trials) as f64;
                    let angle = (k as f64 - kb as f64) * std::f64::consts::FRAC_PI_4 + rotation;
                    let p = (angle / 2.0).sin().powi(2);
                    let sigma = (p * (1.0 - p) / n).sqrt();
                    let rate = ones as f64 / n;
                    assert!(
                        (rate - p).abs() <= 5.0 * sigma + 1e-12,
                        "k={k} kb={kb} rot={rotation}: {rate} vs {p}"
                    );
                }
            }
        }
        // Circular states: deterministic in the circular basis, fair otherwise.
        let f = ProductFrame::from_states(&[SliceState::CircularMinus; 64]).expect("valid");
        let table = ClassTable::new(0.0);
        let ybasis = BasisWord {
            y: u64::MAX,
            ..BasisWord::default()
        };
        assert_eq!(
            measure_word(&f, 0, &ybasis, &table, u64::MAX, &mut rng),
            u64::MAX
        );
        let zbasis = BasisWord::default();
        let ones: u32 = (0..trials)
            .map(|_| measure_word(&f, 0, &zbasis, &table, u64::MAX, &mut rng).count_ones())
            .sum();
        let rate = ones as f64 / (64 * trials) as f64;
        assert!((rate - 0.5).abs() < 0.007, "{rate}");
    }
}
