//! The prepare-and-measure engines shared by BB84, six-state and B92 (rules in their modules).

use std::collections::VecDeque;

use qkd_core::BitString;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng, RngExt, SeedableRng};
use zeroize::Zeroizing;

use super::fastpath::{self, BasisWord, ClassTable};
use super::frame::{FramePayload, ProductFrame, QuantumFrame, Register};
use super::svpath::{BobFrames, RegisterStates};
use super::{
    Backend, ClassicalMessage, Engine, EngineConfig, MeasBasis, Protocol, SiftOutcome, SiftStats,
    b92, bb84, six_state, svpath,
};
use crate::SimError;
use crate::statevector::INLINE_QUBITS;

/// Alice's random choices for 64 qubits: key bits and basis planes.
pub(crate) struct PrepWord {
    pub(crate) bit: u64,
    pub(crate) lo: u64,
    pub(crate) hi: u64,
}

/// The prepared states of 64 qubits as [`ProductFrame`] planes.
pub(crate) struct StateWord {
    pub(crate) k0: u64,
    pub(crate) k1: u64,
    pub(crate) k2: u64,
    pub(crate) y: u64,
}

/// Alice's choices for `words` words of 64 qubits: key bits and basis planes. With `bulk` (the
/// state-vector path) BB84's uniform bits are drawn with one `fill` per plane; otherwise (and for
/// the other protocols) word by word, which keeps the fast path's random stream as it was.
fn alice_words<R: Rng + ?Sized>(
    p: Protocol,
    rng: &mut R,
    words: usize,
    bulk: bool,
) -> (Zeroizing<Vec<u64>>, Vec<u64>, Vec<u64>) {
    let mut bits = Zeroizing::new(vec![0u64; words]);
    let mut lo = vec![0u64; words];
    let mut hi = vec![0u64; words];
    if bulk && p == Protocol::Bb84 {
        rng.fill(&mut bits[..]);
        rng.fill(&mut lo[..]);
    } else {
        for w in 0..words {
            let x = alice_word(p, rng);
            (bits[w], lo[w], hi[w]) = (x.bit, x.lo, x.hi);
        }
    }
    (bits, lo, hi)
}

/// Bob's bases for `words` words of 64 qubits as `(lo, hi)` planes (drawn in bulk for BB84).
fn bob_words<R: Rng + ?Sized>(p: Protocol, rng: &mut R, words: usize) -> (Vec<u64>, Vec<u64>) {
    let mut lo = vec![0u64; words];
    let mut hi = vec![0u64; words];
    if p == Protocol::Bb84 {
        rng.fill(&mut lo[..]);
    } else {
        for w in 0..words {
            (lo[w], hi[w]) = bob_bases(p, rng);
        }
    }
    (lo, hi)
}

/// Bits `start .. start + n` of a packed plane (`n` at most 32, all within the plane).
fn bits_at(plane: &[u64], start: usize, n: usize) -> u32 {
    let (w, s) = (start / 64, start % 64);
    let mut v = plane[w] >> s;
    if s + n > 64 {
        v |= plane[w + 1] << (64 - s);
    }
    (v & ((1u64 << n) - 1)) as u32
}

/// Bytes of registers Alice aims to put in one state-vector frame (512 KiB, at least one
/// register). Small registers then stay in the core's cache between Alice's preparation and
/// Bob's measurement (and malloc hands the same memory back frame after frame); large ones are
/// sent a few at a time instead of allocating gigabytes per frame (2^20 amplitudes are 16 MiB).
const FRAME_BYTES: usize = 1 << 19;

/// The largest state-vector frame for registers of `r` qubits: a whole number of registers.
fn register_frame_qubits(r: usize) -> usize {
    let bytes = std::mem::size_of::<Register>().max(16usize << r.min(40));
    (FRAME_BYTES / bytes).max(1) * r
}

fn alice_word<R: Rng + ?Sized>(p: Protocol, rng: &mut R) -> PrepWord {
    match p {
        Protocol::Bb84 => bb84::alice_word(rng),
        Protocol::SixState => six_state::alice_word(rng),
        Protocol::B92 => b92::alice_word(rng),
    }
}

fn encode(p: Protocol, w: &PrepWord) -> StateWord {
    match p {
        Protocol::Bb84 => bb84::encode(w),
        Protocol::SixState => six_state::encode(w),
        Protocol::B92 => b92::encode(w),
    }
}

fn bob_bases<R: Rng + ?Sized>(p: Protocol, rng: &mut R) -> (u64, u64) {
    match p {
        Protocol::Bb84 => bb84::bob_bases(rng),
        Protocol::SixState => six_state::bob_bases(rng),
        Protocol::B92 => b92::bob_bases(rng),
    }
}

fn protocol_error(msg: impl Into<String>) -> SimError {
    SimError::Protocol(msg.into())
}

/// The sifted key so far (a [`BitString`]: zeroized on drop and when it grows).
#[derive(Default)]
struct KeySink(BitString);

impl KeySink {
    /// The first `len` bits (the sink is emptied).
    fn take(&mut self, len: usize) -> BitString {
        let mut key = std::mem::take(&mut self.0);
        key.truncate(len);
        key
    }
}

/// Alice's record of a frame in flight.
struct AliceFrame {
    seq: u64,
    len: usize,
    bits: Zeroizing<Vec<u64>>,
    lo: Vec<u64>,
    hi: Vec<u64>,
}

/// The sending end (Alice) of BB84, six-state or B92 (see the [module docs](super)).
pub struct PmAlice<R> {
    config: EngineConfig,
    rng: R,
    next_seq: u64,
    in_flight: Option<AliceFrame>,
    out: VecDeque<ClassicalMessage>,
    key: KeySink,
    stats: SiftStats,
    finished: bool,
    outcome: Option<SiftOutcome>,
}

impl<R> std::fmt::Debug for PmAlice<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PmAlice")
            .field("protocol", &self.config.protocol)
            .field("stats", &self.stats)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl<R: Rng> PmAlice<R> {
    /// Alice with `config` (validated), drawing her choices from `rng`.
    pub fn new(config: EngineConfig, rng: R) -> Result<Self, SimError> {
        config.validate()?;
        let mut a = Self {
            config,
            rng,
            next_seq: 0,
            in_flight: None,
            out: VecDeque::new(),
            key: KeySink::default(),
            stats: SiftStats::default(),
            finished: false,
            outcome: None,
        };
        a.maybe_finish();
        Ok(a)
    }

    /// Counts so far.
    pub fn stats(&self) -> SiftStats {
        self.stats
    }

    fn maybe_finish(&mut self) {
        if self.finished || self.in_flight.is_some() {
            return;
        }
        let have = self.key.0.len();
        if have >= self.config.target_sifted_bits || self.stats.qubits >= self.config.max_qubits {
            let len = have.min(self.config.target_sifted_bits);
            self.stats.sifted_untruncated = have as u64;
            self.stats.sifted = len as u64;
            self.finished = true;
            self.out.push_back(ClassicalMessage::Done {
                sifted_bits: len as u64,
            });
            self.outcome = Some(SiftOutcome {
                key: self.key.take(len),
                stats: self.stats,
            });
        }
    }

    /// Qubits for the next frame: enough for the missing bits at the yield seen so far (or the
    /// protocol's ideal yield), plus 10% and 64, within the frame and budget limits.
    fn next_frame_len(&self) -> usize {
        let missing = self
            .config
            .target_sifted_bits
            .saturating_sub(self.key.0.len()) as f64;
        let observed = if self.stats.qubits > 0 {
            self.key.0.len() as f64 / self.stats.qubits as f64
        } else {
            self.config.protocol.ideal_yield()
        };
        let budget = self.config.max_qubits.saturating_sub(self.stats.qubits);
        let want = if observed > 0.0 {
            (missing / observed * 1.1).ceil() + 64.0
        } else {
            f64::INFINITY
        };
        let mut cap = (self.config.frame_qubits as u64).min(budget);
        if let Backend::StateVector { register_qubits } = self.config.backend {
            cap = cap.min(register_frame_qubits(register_qubits) as u64);
        }
        want.min(cap as f64).max(1.0) as usize
    }
}

impl<R: Rng> Engine for PmAlice<R> {
    fn poll_frame(&mut self) -> Option<QuantumFrame> {
        if self.finished || self.in_flight.is_some() {
            return None;
        }
        let len = self.next_frame_len();
        let words = len.div_ceil(64);
        let protocol = self.config.protocol;
        let bulk = matches!(self.config.backend, Backend::StateVector { .. });
        let (mut bits, mut lo, mut hi) = alice_words(protocol, &mut self.rng, words, bulk);
        let mut frame = ProductFrame::zeros(len);
        for w in 0..words {
            let m = fastpath::lane_mask(len, w);
            bits[w] &= m;
            lo[w] &= m;
            hi[w] &= m;
            let p = PrepWord {
                bit: bits[w],
                lo: lo[w],
                hi: hi[w],
            };
            let s = encode(protocol, &p);
            frame.k0[w] = s.k0 & m;
            frame.k1[w] = s.k1 & m;
            frame.k2[w] = s.k2 & m;
            frame.y[w] = s.y & m;
        }
        let payload = match self.config.backend {
            Backend::Product => FramePayload::Product(frame),
            Backend::StateVector { register_qubits } => {
                let mut regs = Vec::with_capacity(len.div_ceil(register_qubits));
                // Small registers are prepared in one scratch register, reset between uses
                // (only its nonzero amplitudes are cleared), and copied into the frame (no
                // allocation: they hold their amplitudes inline). Large ones are allocated and
                // prepared in place (a copy would cost as much as a fresh one).
                let mut scratch = if register_qubits <= INLINE_QUBITS {
                    match svpath::zero_register(register_qubits) {
                        Ok(r) => Some(r),
                        // Cannot happen for a validated configuration; stop cleanly.
                        Err(_) => return None,
                    }
                } else {
                    None
                };
                for start in (0..len).step_by(register_qubits) {
                    let n = register_qubits.min(len - start);
                    let states = RegisterStates {
                        k0: bits_at(&frame.k0, start, n),
                        k1: bits_at(&frame.k1, start, n),
                        k2: bits_at(&frame.k2, start, n),
                        y: bits_at(&frame.y, start, n),
                    };
                    match (&mut scratch, n == register_qubits) {
                        (Some(reg), true) => {
                            reg.state_mut().reset();
                            svpath::prepare(reg.state_mut(), states);
                            regs.push(reg.clone());
                        }
                        _ => match svpath::zero_register(n) {
                            Ok(mut r) => {
                                svpath::prepare(r.state_mut(), states);
                                regs.push(r);
                            }
                            Err(_) => return None,
                        },
                    }
                }
                FramePayload::Registers(regs)
            }
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        self.stats.frames += 1;
        self.stats.qubits += len as u64;
        self.in_flight = Some(AliceFrame {
            seq,
            len,
            bits,
            lo,
            hi,
        });
        Some(QuantumFrame { seq, payload })
    }

    fn handle_frame(&mut self, _frame: QuantumFrame) -> Result<(), SimError> {
        Err(protocol_error("Alice does not receive quantum frames"))
    }

    fn poll_classical(&mut self) -> Option<ClassicalMessage> {
        self.out.pop_front()
    }

    fn handle_classical(&mut self, msg: ClassicalMessage) -> Result<(), SimError> {
        let ClassicalMessage::Detections {
            seq,
            len,
            detected,
            bases_lo,
            bases_hi,
        } = msg
        else {
            return Err(protocol_error("Alice expects only Detections messages"));
        };
        let Some(fr) = self.in_flight.as_ref() else {
            return Err(protocol_error(format!(
                "Detections for frame {seq}, none in flight"
            )));
        };
        if fr.seq != seq || fr.len != len {
            return Err(protocol_error(format!(
                "Detections for frame {seq} ({len} qubits), expected frame {} ({} qubits)",
                fr.seq, fr.len
            )));
        }
        let words = len.div_ceil(64);
        let protocol = self.config.protocol;
        let (need_lo, need_hi) = match protocol {
            Protocol::Bb84 => (words, 0),
            Protocol::SixState => (words, words),
            Protocol::B92 => (0, 0),
        };
        if detected.len() != words || bases_lo.len() != need_lo || bases_hi.len() != need_hi {
            return Err(protocol_error(
                "Detections message has planes of the wrong length",
            ));
        }
        let mut keep = Vec::with_capacity(words);
        let mut ndet = 0u64;
        for w in 0..words {
            let d = detected[w] & fastpath::lane_mask(len, w);
            ndet += d.count_ones() as u64;
            let k = match protocol {
                Protocol::Bb84 => d & !(fr.lo[w] ^ bases_lo[w]),
                Protocol::SixState => d & !(fr.lo[w] ^ bases_lo[w]) & !(fr.hi[w] ^ bases_hi[w]),
                Protocol::B92 => d,
            };
            keep.push(k);
        }
        self.key.0.extend_selected(&fr.bits, &keep);
        self.stats.detected += ndet;
        self.in_flight = None;
        self.out.push_back(ClassicalMessage::Sift { seq, keep });
        self.maybe_finish();
        Ok(())
    }

    fn is_finished(&self) -> bool {
        self.finished
    }

    fn take_outcome(&mut self) -> Option<SiftOutcome> {
        self.outcome.take()
    }
}

/// Bob's record of a measured frame awaiting Alice's sift.
struct BobFrame {
    seq: u64,
    detected: Vec<u64>,
    bits: Zeroizing<Vec<u64>>,
}

/// The receiving end (Bob) of BB84, six-state or B92 (see the [module docs](super)).
pub struct PmBob<R> {
    config: EngineConfig,
    rng: R,
    pending: Option<BobFrame>,
    out: VecDeque<ClassicalMessage>,
    key: KeySink,
    stats: SiftStats,
    finished: bool,
    outcome: Option<SiftOutcome>,
}

impl<R> std::fmt::Debug for PmBob<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PmBob")
            .field("protocol", &self.config.protocol)
            .field("stats", &self.stats)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl<R: Rng> PmBob<R> {
    /// Bob with `config` (validated; the same as Alice's), drawing his choices from `rng`.
    pub fn new(config: EngineConfig, rng: R) -> Result<Self, SimError> {
        config.validate()?;
        Ok(Self {
            config,
            rng,
            pending: None,
            out: VecDeque::new(),
            key: KeySink::default(),
            stats: SiftStats::default(),
            finished: false,
            outcome: None,
        })
    }

    /// Counts so far.
    pub fn stats(&self) -> SiftStats {
        self.stats
    }

    /// Measures a product frame: returns (click, outcome, lo, hi) planes.
    fn measure_product(&mut self, f: &ProductFrame) -> Result<MeasuredPlanes, SimError> {
        f.check_shape()?;
        let words = f.words();
        let mut m = MeasuredPlanes::with_capacity(words);
        let table = ClassTable::new(f.rotation);
        for w in 0..words {
            let lanes = f.lane_mask(w);
            let (lo, hi) = bob_bases(self.config.protocol, &mut self.rng);
            let (lo, hi) = (lo & !hi & lanes, hi & lanes);
            let basis = BasisWord {
                b1: lo,
                y: hi,
                ..BasisWord::default()
            };
            let photon = lanes & !f.vacuum[w];
            let dark = f.dark[w] & lanes;
            let mut out = fastpath::measure_word(f, w, &basis, &table, photon, &mut self.rng);
            if dark != 0 {
                out = (out & !dark) | (self.rng.next_u64() & dark);
            }
            m.click.push(photon | dark);
            m.outcome.push(out);
            m.lo.push(lo);
            m.hi.push(hi);
        }
        Ok(m)
    }

    /// Measures state-vector registers qubit by qubit in Bob's random bases (each register in
    /// place: the detector absorbs every measured photon, see `svpath::measure_and_absorb`).
    fn measure_registers(&mut self, mut regs: Vec<Register>) -> Result<MeasuredPlanes, SimError> {
        let len: usize = regs.iter().map(Register::num_qubits).sum();
        let words = len.div_ceil(64);
        let mut m = MeasuredPlanes::with_capacity(words);
        let (los, his) = bob_words(self.config.protocol, &mut self.rng, words);
        for w in 0..words {
            let lanes = fastpath::lane_mask(len, w);
            m.lo.push(los[w] & !his[w] & lanes);
            m.hi.push(his[w] & lanes);
            m.click.push(0);
            m.outcome.push(0);
        }
        let frames = BobFrames::new();
        // The physics draws (measurement outcomes, dark-count outcomes) come from a fast
        // generator seeded from Bob's source for each frame: reproducible for a given seed, and
        // not key choices (the bases above come from Bob's source itself).
        let mut phys = Xoshiro256PlusPlus::from_rng(&mut self.rng);
        let mut offset = 0usize;
        for reg in &mut regs {
            let n = reg.num_qubits();
            let (lo, hi) = (bits_at(&m.lo, offset, n), bits_at(&m.hi, offset, n));
            let dark = reg.dark_mask();
            let photon = !reg.vacuum_mask() & low_mask(n);
            let sv = reg.state_mut();
            let mut outcome = 0u32;
            // A lost photon is never measured: the others' statistics do not depend on it.
            let mut todo = photon;
            if hi & photon == 0 {
                // Z and X only (always for BB84 and B92): the branch-free real kernel, the basis
                // picked by index. Measurements of distinct qubits commute, so the qubits that
                // are in superposition go first: each then becomes known (absorbed), which
                // halves the amplitudes the remaining measurements visit.
                let free = sv.free_mask() as u32;
                for set in [photon & free, photon & !free] {
                    let mut set = set;
                    while set != 0 {
                        let q = set.trailing_zeros() as usize;
                        set &= set - 1;
                        let w = &frames.1[(lo >> q & 1) as usize];
                        let o = sv.measure_absorb_real(q, w, uniform(&mut phys));
                        outcome |= u32::from(o) << q;
                    }
                }
                todo = 0;
            }
            while todo != 0 {
                let q = todo.trailing_zeros() as usize;
                todo &= todo - 1;
                let basis = if hi >> q & 1 == 1 {
                    MeasBasis::Y
                } else if lo >> q & 1 == 1 {
                    MeasBasis::X
                } else {
                    MeasBasis::Z
                };
                let u = uniform(&mut phys);
                let o = svpath::measure_and_absorb(sv, q, frames.get(basis), u);
                outcome |= u32::from(o) << q;
            }
            // A dark count gives a random outcome.
            let mut todo = dark;
            while todo != 0 {
                let q = todo.trailing_zeros() as usize;
                todo &= todo - 1;
                outcome = (outcome & !(1 << q)) | (((phys.next_u64() & 1) as u32) << q);
            }
            set_bits(&mut m.click, offset, n, photon | dark);
            set_bits(&mut m.outcome, offset, n, outcome);
            offset += n;
        }
        Ok(m)
    }
}

/// The lowest `n` bits set (`n` at most 32).
fn low_mask(n: usize) -> u32 {
    if n >= 32 { u32::MAX } else { (1u32 << n) - 1 }
}

/// ORs the `n` low bits of `v` into a packed plane at bit `start`.
fn set_bits(plane: &mut [u64], start: usize, n: usize, v: u32) {
    let (w, s) = (start / 64, start % 64);
    let v = u64::from(v & low_mask(n));
    plane[w] |= v << s;
    if s + n > 64 {
        plane[w + 1] |= v >> (64 - s);
    }
}

/// A uniform `f64` in `[0, 1)` with 53 random bits.
fn uniform<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Bob's raw measurement record of a frame.
struct MeasuredPlanes {
    click: Vec<u64>,
    outcome: Zeroizing<Vec<u64>>,
    lo: Vec<u64>,
    hi: Vec<u64>,
}

impl MeasuredPlanes {
    fn with_capacity(words: usize) -> Self {
        Self {
            click: Vec::with_capacity(words),
            outcome: Zeroizing::new(Vec::with_capacity(words)),
            lo: Vec::with_capacity(words),
            hi: Vec::with_capacity(words),
        }
    }
}

impl<R: Rng> Engine for PmBob<R> {
    fn poll_frame(&mut self) -> Option<QuantumFrame> {
        None
    }

    fn handle_frame(&mut self, frame: QuantumFrame) -> Result<(), SimError> {
        if self.finished {
            return Err(protocol_error("Bob received a frame after Done"));
        }
        if self.pending.is_some() {
            return Err(protocol_error(
                "Bob received a frame before the previous sift",
            ));
        }
        let QuantumFrame { seq, payload } = frame;
        let (len, m) = match (payload, self.config.backend) {
            (FramePayload::Product(f), Backend::Product) => (f.len(), self.measure_product(&f)?),
            (FramePayload::Registers(regs), Backend::StateVector { .. }) => {
                let len = regs.iter().map(Register::num_qubits).sum();
                (len, self.measure_registers(regs)?)
            }
            _ => {
                return Err(protocol_error(
                    "frame payload does not match the configured backend",
                ));
            }
        };
        let words = m.click.len();
        let protocol = self.config.protocol;
        let (detected, bits, bases_lo, bases_hi) = match protocol {
            Protocol::Bb84 => (m.click, m.outcome, m.lo, Vec::new()),
            Protocol::SixState => (m.click, m.outcome, m.lo, m.hi),
            Protocol::B92 => {
                let mut det = Vec::with_capacity(words);
                let mut bits = Zeroizing::new(Vec::with_capacity(words));
                for w in 0..words {
                    let (d, b) = b92::decide(m.click[w], m.outcome[w], m.lo[w]);
                    det.push(d);
                    bits.push(b & d);
                }
                (det, bits, Vec::new(), Vec::new())
            }
        };
        self.stats.frames += 1;
        self.stats.qubits += len as u64;
        self.stats.detected += detected.iter().map(|w| w.count_ones() as u64).sum::<u64>();
        self.out.push_back(ClassicalMessage::Detections {
            seq,
            len,
            detected: detected.clone(),
            bases_lo,
            bases_hi,
        });
        self.pending = Some(BobFrame {
            seq,
            detected,
            bits,
        });
        Ok(())
    }

    fn poll_classical(&mut self) -> Option<ClassicalMessage> {
        self.out.pop_front()
    }

    fn handle_classical(&mut self, msg: ClassicalMessage) -> Result<(), SimError> {
        match msg {
            ClassicalMessage::Sift { seq, keep } => {
                let Some(p) = self.pending.take() else {
                    return Err(protocol_error(format!(
                        "Sift for frame {seq}, none pending"
                    )));
                };
                if p.seq != seq || keep.len() != p.detected.len() {
                    let expected = p.seq;
                    self.pending = Some(p);
                    return Err(protocol_error(format!(
                        "Sift for frame {seq}, expected frame {expected} of matching length"
                    )));
                }
                if keep.iter().zip(&p.detected).any(|(k, d)| k & !d != 0) {
                    self.pending = Some(p);
                    return Err(protocol_error("Sift keeps positions Bob did not detect"));
                }
                self.key.0.extend_selected(&p.bits, &keep);
                Ok(())
            }
            ClassicalMessage::Done { sifted_bits } => {
                if self.pending.is_some() {
                    return Err(protocol_error("Done before the last sift"));
                }
                let have = self.key.0.len() as u64;
                if sifted_bits > have {
                    return Err(protocol_error(format!(
                        "Done announces {sifted_bits} bits, Bob holds {have}"
                    )));
                }
                self.stats.sifted_untruncated = have;
                self.stats.sifted = sifted_bits;
                self.finished = true;
                self.outcome = Some(SiftOutcome {
                    key: self.key.take(sifted_bits as usize),
                    stats: self.stats,
                });
                Ok(())
            }
            ClassicalMessage::Detections { .. } => {
                Err(protocol_error("Bob does not accept Detections messages"))
            }
        }
    }

    fn is_finished(&self) -> bool {
        self.finished
    }

    fn take_outcome(&mut self) -> Option<SiftOutcome> {
        self.outcome.take()
    }
}
