//! Quantum frames: batches of qubits in flight on the quantum channel.
//!
//! A [`QuantumFrame`] is what Alice's engine emits, what the channel and Eve transform, and what
//! Bob's engine consumes. It is serde-serialisable, so the middle of the link (channel, Eve) can
//! run in another process. Two payloads exist:
//!
//! * [`FramePayload::Registers`]: the state-vector path. The frame's qubits are grouped into
//!   registers of up to [`MAX_REGISTER_QUBITS`] qubits, each carried as its `2^n` amplitudes
//!   (like the paper's 5-qubit Qiskit registers). Frame qubit `i` is qubit `i % r` of register
//!   `i / r` (`r` = register size); qubit `q` of a register is bit `q` of the amplitude index.
//! * [`FramePayload::Product`]: the product-state fast path, a bit-sliced [`ProductFrame`].
//!
//! Both payloads also carry, per qubit, a *vacuum* flag (the photon was lost in the fibre or not
//! registered by Bob's detector) and a *dark* flag (Bob's detector fires a dark count in that
//! detection window, giving a random outcome).
//!
//! Frames describe prepared quantum states, which encode Alice's raw bits: their `Debug` output is
//! redacted and the product planes are zeroized on drop.

use std::fmt;

use num_complex::Complex64;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::SimError;
use crate::statevector::StateVector;

/// Largest register (in qubits) a [`Register`] may hold (`2^20` amplitudes, 16 MiB).
pub const MAX_REGISTER_QUBITS: usize = 20;

/// A batch of qubits travelling on the quantum channel.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantumFrame {
    /// Sequence number set by the sender (0, 1, 2, ...); classical messages refer to it.
    pub seq: u64,
    /// The qubits.
    pub payload: FramePayload,
}

impl fmt::Debug for QuantumFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.payload {
            FramePayload::Registers(_) => "registers",
            FramePayload::Product(_) => "product",
        };
        write!(
            f,
            "QuantumFrame {{ seq: {}, {kind}, qubits: {} }}",
            self.seq,
            self.num_qubits()
        )
    }
}

impl QuantumFrame {
    /// Number of qubits (photon slots) in the frame.
    pub fn num_qubits(&self) -> usize {
        match &self.payload {
            FramePayload::Registers(regs) => regs.iter().map(Register::num_qubits).sum(),
            FramePayload::Product(p) => p.len(),
        }
    }
}

/// The qubits of a frame.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub enum FramePayload {
    /// State-vector registers (frame qubit `i` is qubit `i % r` of register `i / r`).
    Registers(Vec<Register>),
    /// Bit-sliced product states (fast path).
    Product(ProductFrame),
}

/// One state-vector register: a [`StateVector`] of 1 to [`MAX_REGISTER_QUBITS`] qubits plus
/// per-qubit vacuum and dark-count flags. Serialised as its amplitudes (validated on the way in).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RegisterWire", into = "RegisterWire")]
pub struct Register {
    state: StateVector,
    vacuum: u32,
    dark: u32,
}

impl fmt::Debug for Register {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Register([REDACTED; {} qubits])", self.num_qubits())
    }
}

#[derive(Serialize, Deserialize)]
struct RegisterWire {
    amplitudes: Vec<Complex64>,
    vacuum: u32,
    dark: u32,
}

impl TryFrom<RegisterWire> for Register {
    type Error = SimError;
    fn try_from(w: RegisterWire) -> Result<Self, SimError> {
        let mut r = Register::from_amplitudes(w.amplitudes)?;
        let mask = low_mask32(r.num_qubits());
        r.vacuum = w.vacuum & mask;
        r.dark = w.dark & mask;
        Ok(r)
    }
}

impl From<Register> for RegisterWire {
    fn from(r: Register) -> Self {
        RegisterWire {
            amplitudes: r.state.amplitudes().to_vec(),
            vacuum: r.vacuum,
            dark: r.dark,
        }
    }
}

fn low_mask32(n: usize) -> u32 {
    if n >= 32 { u32::MAX } else { (1u32 << n) - 1 }
}

impl Register {
    /// A register holding `state` (1 to [`MAX_REGISTER_QUBITS`] qubits); no qubit lost or dark.
    pub fn new(state: StateVector) -> Result<Self, SimError> {
        let n = state.num_qubits();
        if n == 0 || n > MAX_REGISTER_QUBITS {
            return Err(SimError::RegisterSize {
                num_qubits: n,
                max: MAX_REGISTER_QUBITS,
            });
        }
        Ok(Self {
            state,
            vacuum: 0,
            dark: 0,
        })
    }

    /// A register from its amplitudes (validated by [`StateVector::from_amplitudes`], at most
    /// [`MAX_REGISTER_QUBITS`] qubits).
    pub fn from_amplitudes(amplitudes: Vec<Complex64>) -> Result<Self, SimError> {
        let len = amplitudes.len();
        if len > (1 << MAX_REGISTER_QUBITS) {
            return Err(SimError::RegisterSize {
                num_qubits: len.ilog2() as usize,
                max: MAX_REGISTER_QUBITS,
            });
        }
        Register::new(StateVector::from_amplitudes(amplitudes)?)
    }

    /// Number of qubits.
    pub fn num_qubits(&self) -> usize {
        self.state.num_qubits()
    }

    /// The state (qubit `q` is bit `q` of the amplitude index).
    pub fn state(&self) -> &StateVector {
        &self.state
    }

    /// The state, to apply gates or measure.
    pub fn state_mut(&mut self) -> &mut StateVector {
        &mut self.state
    }

    /// The state and the vacuum and dark masks, consuming the register.
    #[cfg(test)]
    pub(crate) fn into_parts(self) -> (StateVector, u32, u32) {
        (self.state, self.vacuum, self.dark)
    }

    /// Bit `q` set: qubit `q`'s photon did not reach Bob's detector.
    pub fn vacuum_mask(&self) -> u32 {
        self.vacuum
    }

    /// Bit `q` set: Bob's detector fires a dark count in qubit `q`'s detection window.
    pub fn dark_mask(&self) -> u32 {
        self.dark
    }

    /// Marks qubits (bits of `mask`) as lost.
    pub fn mark_vacuum(&mut self, mask: u32) {
        self.vacuum |= mask & low_mask32(self.num_qubits());
    }

    /// Marks dark counts (bits of `mask`).
    pub fn mark_dark(&mut self, mask: u32) {
        self.dark |= mask & low_mask32(self.num_qubits());
    }
}

/// The state of one qubit on the fast path: a pure state on one of the axes the protocols,
/// channel and Eve use.
///
/// `Linear(k)` (`k` in `0..8`) is the Bloch vector at angle `k * pi/4` from `+z` towards `+x` in the
/// x-z plane, i.e. the state `cos(k pi/8)|0> + sin(k pi/8)|1>` (so `Linear(0) = |0>`,
/// `Linear(4) = |1>`, `Linear(2) = |+>`, `Linear(6) = |->`, `Linear(1)` and `Linear(5)` the
/// Breidbart states). `CircularPlus`/`CircularMinus` are `|+i>`/`|-i>`. This set is closed under
/// the Pauli operators, which is what makes depolarizing, bit-flip and phase-flip noise exact on
/// the fast path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SliceState {
    /// Bloch angle `k * pi/4` in the x-z plane.
    Linear(u8),
    /// `|+i> = (|0> + i|1>)/sqrt 2`.
    CircularPlus,
    /// `|-i> = (|0> - i|1>)/sqrt 2`.
    CircularMinus,
}

/// A bit-sliced batch of product-state qubits (the fast path): 64 qubits per `u64` word.
///
/// Planes, bit `i % 64` of word `i / 64` for qubit `i`: `k0, k1, k2` the three bits of the
/// [`SliceState::Linear`] index (for circular states `k2` is the sign: 0 for `|+i>`, 1 for `|-i>`),
/// `y` set for circular states, `vacuum` and `dark` as in the module docs. Bits past `len` are zero.
/// `rotation` is a misalignment rotation about the y axis of the Bloch sphere (radians of Bloch
/// angle) that applies to every qubit *after* the states described by the planes.
#[derive(Clone, PartialEq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct ProductFrame {
    pub(crate) len: usize,
    #[serde(with = "qkd_core::packed::words")]
    pub(crate) k0: Vec<u64>,
    #[serde(with = "qkd_core::packed::words")]
    pub(crate) k1: Vec<u64>,
    #[serde(with = "qkd_core::packed::words")]
    pub(crate) k2: Vec<u64>,
    #[serde(with = "qkd_core::packed::words")]
    pub(crate) y: Vec<u64>,
    #[serde(with = "qkd_core::packed::words")]
    pub(crate) vacuum: Vec<u64>,
    #[serde(with = "qkd_core::packed::words")]
    pub(crate) dark: Vec<u64>,
    pub(crate) rotation: f64,
}

impl fmt::Debug for ProductFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProductFrame([REDACTED; {} qubits])", self.len)
    }
}

impl ProductFrame {
    /// `len` qubits, all `|0>`, none lost or dark, no rotation.
    pub fn zeros(len: usize) -> Self {
        let w = len.div_ceil(64);
        Self {
            len,
            k0: vec![0; w],
            k1: vec![0; w],
            k2: vec![0; w],
            y: vec![0; w],
            vacuum: vec![0; w],
            dark: vec![0; w],
            rotation: 0.0,
        }
    }

    /// A frame from one state per qubit. Errors if a `Linear` index is not below 8.
    pub fn from_states(states: &[SliceState]) -> Result<Self, SimError> {
        let mut f = Self::zeros(states.len());
        for (i, s) in states.iter().enumerate() {
            let (w, b) = (i / 64, 1u64 << (i % 64));
            match *s {
                SliceState::Linear(k) => {
                    if k >= 8 {
                        return Err(SimError::InvalidParameter {
                            name: "state",
                            reason: format!("Linear index {k} not in 0..8"),
                        });
                    }
                    if k & 1 != 0 {
                        f.k0[w] |= b;
                    }
                    if k & 2 != 0 {
                        f.k1[w] |= b;
                    }
                    if k & 4 != 0 {
                        f.k2[w] |= b;
                    }
                }
                SliceState::CircularPlus => f.y[w] |= b,
                SliceState::CircularMinus => {
                    f.y[w] |= b;
                    f.k2[w] |= b;
                }
            }
        }
        Ok(f)
    }

    /// Number of qubits.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the frame holds no qubit.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The state of qubit `i` (before [`rotation`](Self::rotation)), or `None` past the end.
    pub fn state(&self, i: usize) -> Option<SliceState> {
        if i >= self.len {
            return None;
        }
        let (w, s) = (i / 64, i % 64);
        let bit = |v: &Vec<u64>| ((v[w] >> s) & 1) as u8;
        Some(if bit(&self.y) == 1 {
            if bit(&self.k2) == 1 {
                SliceState::CircularMinus
            } else {
                SliceState::CircularPlus
            }
        } else {
            SliceState::Linear(bit(&self.k0) | (bit(&self.k1) << 1) | (bit(&self.k2) << 2))
        })
    }

    /// True when qubit `i`'s photon was lost (false past the end).
    pub fn is_vacuum(&self, i: usize) -> bool {
        i < self.len && (self.vacuum[i / 64] >> (i % 64)) & 1 == 1
    }

    /// True when Bob's detector fires a dark count for qubit `i` (false past the end).
    pub fn is_dark(&self, i: usize) -> bool {
        i < self.len && (self.dark[i / 64] >> (i % 64)) & 1 == 1
    }

    /// The misalignment rotation (Bloch angle, radians, about the y axis) applied after the states.
    pub fn rotation(&self) -> f64 {
        self.rotation
    }

    /// Number of 64-qubit words.
    pub(crate) fn words(&self) -> usize {
        self.k0.len()
    }

    /// Mask of the valid lanes of word `w`.
    pub(crate) fn lane_mask(&self, w: usize) -> u64 {
        let rem = self.len - w * 64;
        if rem >= 64 {
            u64::MAX
        } else {
            (1u64 << rem) - 1
        }
    }

    /// Checks the plane lengths (a deserialised frame may be malformed).
    pub(crate) fn check_shape(&self) -> Result<(), SimError> {
        let w = self.len.div_ceil(64);
        let ok = [
            &self.k0,
            &self.k1,
            &self.k2,
            &self.y,
            &self.vacuum,
            &self.dark,
        ]
        .iter()
        .all(|p| p.len() == w);
        if !ok || !self.rotation.is_finite() {
            return Err(SimError::InvalidParameter {
                name: "frame",
                reason: format!("malformed product frame of {} qubits", self.len),
            });
        }
        Ok(())
    }
}
