//! Eve: an intercept-resend eavesdropper that really measures.
//!
//! On a chosen fraction of the qubits that reach her (photons, not vacuum), Eve picks a basis at
//! random from her basis set, measures the qubit (on the state-vector path a projective measurement
//! of the register; on the fast path by the exact Born probabilities), and sends on the state she
//! saw (the basis vector of her outcome). She keeps a record of which qubits she attacked, in which
//! basis, and what she got, so tests can measure what she learned about the sifted key.
//!
//! Place her on Alice's side of the channel (the [`run_in_process`](crate::protocol::run_in_process)
//! driver does): her transform must run before a [`QuantumChannel`](crate::channel::QuantumChannel)
//! with misalignment on the fast path (an error is returned otherwise).

use std::fmt;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::SimError;
use crate::channel::{bernoulli, probability};
use crate::protocol::fastpath::{self, BasisWord, ClassTable, Prob};
use crate::protocol::frame::{FramePayload, ProductFrame, QuantumFrame, Register};
use crate::protocol::svpath;
use crate::protocol::{MeasBasis, Protocol};

/// The bases Eve chooses from (uniformly).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EveBases {
    /// Z and X (the BB84 bases).
    Bb84,
    /// Z, X and Y (the six-state bases).
    SixState,
    /// Always the Breidbart basis (between Z and X): she learns more per bit about a BB84 key
    /// (`cos^2(pi/8)` ~ 0.854 agreement instead of 0.75) for the same 25% QBER.
    Breidbart,
}

/// Eve's strategy.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EveConfig {
    /// Fraction of the arriving photons she intercepts, in `[0, 1]`.
    pub fraction: f64,
    /// Her basis set.
    pub bases: EveBases,
}

impl EveConfig {
    /// Intercept-resend on `fraction` of the photons with bases from `bases` (validated).
    pub fn new(fraction: f64, bases: EveBases) -> Result<Self, SimError> {
        let c = Self { fraction, bases };
        c.validate()?;
        Ok(c)
    }

    /// Checks the fraction.
    pub fn validate(&self) -> Result<(), SimError> {
        probability("eve fraction", self.fraction)
    }
}

/// What Eve did to one frame. Planes are packed like the frame (bit `i % 64` of word `i / 64` is
/// qubit `i`); her basis is `lo + 2 hi` with Z = 0, X = 1, Y = 2, Breidbart = 3.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EveFrameRecord {
    /// The frame's sequence number.
    pub seq: u64,
    /// Qubits in the frame.
    pub len: usize,
    /// Qubits she measured.
    pub attacked: Vec<u64>,
    /// Low bit of her basis.
    pub basis_lo: Vec<u64>,
    /// High bit of her basis.
    pub basis_hi: Vec<u64>,
    /// Her outcomes (0: first basis vector).
    pub outcome: Vec<u64>,
}

impl fmt::Debug for EveFrameRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n: u32 = self.attacked.iter().map(|w| w.count_ones()).sum();
        write!(
            f,
            "EveFrameRecord {{ seq: {}, len: {}, attacked: {n} }}",
            self.seq, self.len
        )
    }
}

impl EveFrameRecord {
    fn new(seq: u64, len: usize) -> Self {
        let w = len.div_ceil(64);
        Self {
            seq,
            len,
            attacked: vec![0; w],
            basis_lo: vec![0; w],
            basis_hi: vec![0; w],
            outcome: vec![0; w],
        }
    }

    /// Her basis and outcome for qubit `i`, or `None` if she left it alone (or `i` is out of range).
    pub fn get(&self, i: usize) -> Option<(MeasBasis, bool)> {
        if i >= self.len {
            return None;
        }
        let (w, s) = (i / 64, i % 64);
        if (self.attacked[w] >> s) & 1 == 0 {
            return None;
        }
        let lo = (self.basis_lo[w] >> s) & 1;
        let hi = (self.basis_hi[w] >> s) & 1;
        let basis = match (lo, hi) {
            (0, 0) => MeasBasis::Z,
            (1, 0) => MeasBasis::X,
            (0, _) => MeasBasis::Y,
            _ => MeasBasis::Breidbart,
        };
        Some((basis, (self.outcome[w] >> s) & 1 == 1))
    }

    /// Eve's best guess of the key bit of qubit `i` under `protocol`, if she measured it. BB84 and
    /// six-state: her outcome (bit 0 is the first vector of every basis, and the Breidbart outcome 0
    /// leans to both `|0>` and `|+>`). B92 (bit 0 = `|0>`, bit 1 = `|+>`): a Z outcome 1 or an X
    /// outcome 0 points to bit 1.
    pub fn guess(&self, i: usize, protocol: Protocol) -> Option<bool> {
        let (basis, outcome) = self.get(i)?;
        Some(match (protocol, basis) {
            (Protocol::B92, MeasBasis::X) => !outcome,
            _ => outcome,
        })
    }

    fn set(&mut self, i: usize, basis: MeasBasis, outcome: bool) {
        let (w, b) = (i / 64, 1u64 << (i % 64));
        self.attacked[w] |= b;
        let (lo, hi) = basis_code(basis);
        if lo {
            self.basis_lo[w] |= b;
        }
        if hi {
            self.basis_hi[w] |= b;
        }
        if outcome {
            self.outcome[w] |= b;
        }
    }
}

fn basis_code(b: MeasBasis) -> (bool, bool) {
    match b {
        MeasBasis::Z => (false, false),
        MeasBasis::X => (true, false),
        MeasBasis::Y => (false, true),
        MeasBasis::Breidbart => (true, true),
    }
}

/// Everything Eve did, frame by frame.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EveRecord {
    /// One entry per frame she saw, in arrival order.
    pub frames: Vec<EveFrameRecord>,
}

impl fmt::Debug for EveRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "EveRecord {{ frames: {}, attacked: {} }}",
            self.frames.len(),
            self.attacked()
        )
    }
}

impl EveRecord {
    /// Total number of qubits she measured.
    pub fn attacked(&self) -> u64 {
        self.frames
            .iter()
            .flat_map(|f| f.attacked.iter())
            .map(|w| w.count_ones() as u64)
            .sum()
    }

    /// The record of frame `seq`, if she saw it.
    pub fn frame(&self, seq: u64) -> Option<&EveFrameRecord> {
        self.frames.iter().find(|f| f.seq == seq)
    }
}

/// The eavesdropper: a frame transform with a memory.
#[derive(Debug, Clone)]
pub struct Eve {
    config: EveConfig,
    record: EveRecord,
}

impl Eve {
    /// An eavesdropper with the given strategy (validated).
    pub fn new(config: EveConfig) -> Result<Self, SimError> {
        config.validate()?;
        Ok(Self {
            config,
            record: EveRecord::default(),
        })
    }

    /// Her strategy.
    pub fn config(&self) -> &EveConfig {
        &self.config
    }

    /// What she did so far.
    pub fn record(&self) -> &EveRecord {
        &self.record
    }

    /// Consumes Eve, returning her record.
    pub fn into_record(self) -> EveRecord {
        self.record
    }

    /// Intercepts `frame`: measures the chosen qubits and sends on what she saw.
    pub fn transmit<R: Rng + ?Sized>(
        &mut self,
        frame: QuantumFrame,
        rng: &mut R,
    ) -> Result<QuantumFrame, SimError> {
        self.config.validate()?;
        let QuantumFrame { seq, payload } = frame;
        let (payload, rec) = match payload {
            FramePayload::Product(mut p) => {
                let rec = self.attack_product(seq, &mut p, rng)?;
                (FramePayload::Product(p), rec)
            }
            FramePayload::Registers(mut regs) => {
                let len = regs.iter().map(Register::num_qubits).sum();
                let mut rec = EveFrameRecord::new(seq, len);
                let mut offset = 0;
                for r in regs.iter_mut() {
                    self.attack_register(r, offset, &mut rec, rng)?;
                    offset += r.num_qubits();
                }
                (FramePayload::Registers(regs), rec)
            }
        };
        self.record.frames.push(rec);
        Ok(QuantumFrame { seq, payload })
    }

    fn pick_basis<R: Rng + ?Sized>(&self, rng: &mut R) -> MeasBasis {
        match self.config.bases {
            EveBases::Bb84 => {
                if rng.next_u64() & 1 == 0 {
                    MeasBasis::Z
                } else {
                    MeasBasis::X
                }
            }
            EveBases::SixState => match rng.next_u64() % 3 {
                // 2^64 mod 3 = 1: the bias is 2^-64, far below anything measurable.
                0 => MeasBasis::Z,
                1 => MeasBasis::X,
                _ => MeasBasis::Y,
            },
            EveBases::Breidbart => MeasBasis::Breidbart,
        }
    }

    fn attack_register<R: Rng + ?Sized>(
        &self,
        reg: &mut Register,
        offset: usize,
        rec: &mut EveFrameRecord,
        rng: &mut R,
    ) -> Result<(), SimError> {
        for q in 0..reg.num_qubits() {
            if (reg.vacuum_mask() >> q) & 1 == 1 {
                continue;
            }
            if self.config.fraction > 0.0 && bernoulli(rng, self.config.fraction) {
                let basis = self.pick_basis(rng);
                // A projective measurement: the qubit collapses onto the basis vector of the
                // outcome, which is exactly the state she re-prepares and sends on.
                let outcome = svpath::measure(reg, q, basis, rng)?;
                rec.set(offset + q, basis, outcome);
            }
        }
        Ok(())
    }

    fn attack_product<R: Rng + ?Sized>(
        &self,
        seq: u64,
        f: &mut ProductFrame,
        rng: &mut R,
    ) -> Result<EveFrameRecord, SimError> {
        f.check_shape()?;
        if f.rotation != 0.0 {
            return Err(SimError::InvalidParameter {
                name: "eve",
                reason: "fast path: Eve must intercept before a misaligned channel".into(),
            });
        }
        let mut rec = EveFrameRecord::new(seq, f.len());
        let hits = fastpath::bernoulli_mask(rng, Prob::new(self.config.fraction), f.len());
        let table = ClassTable::new(0.0);
        for (w, &hit) in hits.iter().enumerate() {
            let a = hit & !f.vacuum[w] & f.lane_mask(w);
            if a == 0 {
                continue;
            }
            let (lo, hi) = match self.config.bases {
                EveBases::Bb84 => (rng.next_u64(), 0),
                EveBases::SixState => fastpath::uniform3(rng),
                EveBases::Breidbart => (u64::MAX, u64::MAX),
            };
            let basis = match self.config.bases {
                // Breidbart: Linear(1).
                EveBases::Breidbart => BasisWord {
                    b0: u64::MAX,
                    ..BasisWord::default()
                },
                // Z = Linear(0), X = Linear(2), Y = circular.
                _ => BasisWord {
                    b1: lo,
                    y: hi,
                    ..BasisWord::default()
                },
            };
            let out = fastpath::measure_word(f, w, &basis, &table, a, rng);
            // Re-prepare the basis vector of the outcome: Linear(kb + 4 o) or circular with sign o.
            f.k0[w] = (f.k0[w] & !a) | (basis.b0 & !basis.y & a);
            f.k1[w] = (f.k1[w] & !a) | (basis.b1 & !basis.y & a);
            f.k2[w] = (f.k2[w] & !a) | (out & a);
            f.y[w] = (f.y[w] & !a) | (basis.y & a);
            rec.attacked[w] = a;
            rec.basis_lo[w] = lo & a;
            rec.basis_hi[w] = hi & a;
            rec.outcome[w] = out & a;
        }
        Ok(rec)
    }
}
