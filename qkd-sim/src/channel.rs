//! Quantum channel models: noise, fibre loss and Bob's detector.
//!
//! A [`QuantumChannel`] composes, in this order, for every qubit of a
//! [`QuantumFrame`]:
//!
//! 1. **Depolarizing** with probability `d`: the qubit is replaced by the maximally mixed state
//!    (implemented exactly as a uniformly random Pauli `I, X, Y, Z`, whose average is `I/2`). A
//!    qubit measured in the basis it was prepared in is then wrong with probability `d/2`, so the
//!    BB84 QBER is `d/2` (six-state: also `d/2`).
//! 2. **Bit flip** (`X`) with probability `p_x`.
//! 3. **Phase flip** (`Z`) with probability `p_z`.
//! 4. **Polarisation misalignment** by an angle `theta` (radians of polarisation): the qubit is
//!    rotated by `Ry(2 theta)` (polarisation angle `theta` is Bloch angle `2 theta`), so a qubit
//!    measured in its preparation basis (Z or X) is wrong with probability `sin^2 theta`.
//! 5. **Loss**: the photon survives the fibre with probability `10^(-(alpha L + fixed)/10)`
//!    (`alpha` in dB/km, `L` in km, `fixed` dB of connectors and optics) and is registered by Bob's
//!    detector with probability `eta` (efficiency); a lost photon is marked *vacuum*.
//! 6. **Dark counts** with probability `p_dark` per detection window: the detector clicks whether or
//!    not a photon arrived, and the outcome is a uniformly random bit (a dark count alone picks
//!    either detector; a dark count together with a photon is a double click, resolved at random).
//!
//! Stages 5 and 6 belong physically to the fibre and to Bob's detector; they are modelled here, just
//! before Bob's measurement, so that the whole link between Alice's output (where Eve sits) and Bob's
//! measurement is one transform. Detection probability per qubit:
//! `1 - (1 - T eta)(1 - p_dark)`.
//!
//! Every parameter is validated ([`QuantumChannel::validate`]); bad values return
//! [`SimError::InvalidParameter`], never a panic.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::SimError;
use crate::protocol::fastpath::{self, Prob};
use crate::protocol::frame::{FramePayload, ProductFrame, QuantumFrame, Register};
use crate::protocol::svpath::{self, RegOp};

/// Fibre and fixed losses.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Loss {
    /// Fibre attenuation in dB per km (about 0.2 for telecom fibre at 1550 nm).
    pub attenuation_db_per_km: f64,
    /// Fibre length in km.
    pub length_km: f64,
    /// Fixed losses (connectors, optics) in dB.
    pub fixed_db: f64,
}

impl Default for Loss {
    fn default() -> Self {
        Self {
            attenuation_db_per_km: 0.2,
            length_km: 0.0,
            fixed_db: 0.0,
        }
    }
}

impl Loss {
    /// Total loss in dB.
    pub fn total_db(&self) -> f64 {
        self.attenuation_db_per_km * self.length_km + self.fixed_db
    }

    /// Probability that a photon survives: `10^(-total_db / 10)`.
    pub fn transmittance(&self) -> f64 {
        10f64.powf(-self.total_db() / 10.0)
    }

    /// Checks that every value is finite and non-negative.
    pub fn validate(&self) -> Result<(), SimError> {
        non_negative("attenuation_db_per_km", self.attenuation_db_per_km)?;
        non_negative("length_km", self.length_km)?;
        non_negative("fixed_db", self.fixed_db)
    }
}

/// Bob's single-photon detector.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Detector {
    /// Probability that an arriving photon is registered.
    pub efficiency: f64,
    /// Probability of a dark count per detection window (gate).
    pub dark_count: f64,
}

impl Default for Detector {
    fn default() -> Self {
        Self {
            efficiency: 1.0,
            dark_count: 0.0,
        }
    }
}

impl Detector {
    /// Checks that both values are probabilities.
    pub fn validate(&self) -> Result<(), SimError> {
        probability("efficiency", self.efficiency)?;
        probability("dark_count", self.dark_count)
    }
}

/// A composable quantum channel: noise, loss and detector (see the module docs for the order and
/// conventions). [`QuantumChannel::ideal`] (also `Default`) changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QuantumChannel {
    /// Depolarizing probability `d` (replacement by the maximally mixed state).
    pub depolarizing: f64,
    /// Bit-flip probability.
    pub bit_flip: f64,
    /// Phase-flip probability.
    pub phase_flip: f64,
    /// Polarisation misalignment angle in radians (finite; Bloch rotation `Ry(2 theta)`).
    pub misalignment: f64,
    /// Fibre and fixed losses.
    pub loss: Loss,
    /// Bob's detector.
    pub detector: Detector,
}

impl Default for QuantumChannel {
    fn default() -> Self {
        Self::ideal()
    }
}

impl QuantumChannel {
    /// No noise, no loss, a perfect detector.
    pub fn ideal() -> Self {
        Self {
            depolarizing: 0.0,
            bit_flip: 0.0,
            phase_flip: 0.0,
            misalignment: 0.0,
            loss: Loss::default(),
            detector: Detector::default(),
        }
    }

    /// With depolarizing probability `d` (validated).
    pub fn with_depolarizing(mut self, d: f64) -> Result<Self, SimError> {
        probability("depolarizing", d)?;
        self.depolarizing = d;
        Ok(self)
    }

    /// With bit-flip probability `p` (validated).
    pub fn with_bit_flip(mut self, p: f64) -> Result<Self, SimError> {
        probability("bit_flip", p)?;
        self.bit_flip = p;
        Ok(self)
    }

    /// With phase-flip probability `p` (validated).
    pub fn with_phase_flip(mut self, p: f64) -> Result<Self, SimError> {
        probability("phase_flip", p)?;
        self.phase_flip = p;
        Ok(self)
    }

    /// With a polarisation misalignment of `theta` radians (validated: finite).
    pub fn with_misalignment(mut self, theta: f64) -> Result<Self, SimError> {
        finite("misalignment", theta)?;
        self.misalignment = theta;
        Ok(self)
    }

    /// With fibre and fixed losses (validated).
    pub fn with_loss(mut self, loss: Loss) -> Result<Self, SimError> {
        loss.validate()?;
        self.loss = loss;
        Ok(self)
    }

    /// With a detector (validated).
    pub fn with_detector(mut self, detector: Detector) -> Result<Self, SimError> {
        detector.validate()?;
        self.detector = detector;
        Ok(self)
    }

    /// Checks every parameter (for values set directly or deserialised).
    pub fn validate(&self) -> Result<(), SimError> {
        probability("depolarizing", self.depolarizing)?;
        probability("bit_flip", self.bit_flip)?;
        probability("phase_flip", self.phase_flip)?;
        finite("misalignment", self.misalignment)?;
        self.loss.validate()?;
        self.detector.validate()
    }

    /// Probability that a photon reaches Bob and is registered: fibre transmittance times detector
    /// efficiency.
    pub fn photon_detection_probability(&self) -> f64 {
        self.loss.transmittance() * self.detector.efficiency
    }

    /// Probability that Bob's detector clicks in a detection window (photon or dark count).
    pub fn click_probability(&self) -> f64 {
        1.0 - (1.0 - self.photon_detection_probability()) * (1.0 - self.detector.dark_count)
    }

    /// Sends `frame` through the channel, drawing randomness from `rng`.
    ///
    /// On the fast path, bit-flip and phase-flip noise and a second misalignment cannot be applied
    /// exactly after an earlier misalignment (the frame's rotation would stop being common to all
    /// qubits); such a combination returns [`SimError::InvalidParameter`] (use the state-vector
    /// path). A single channel is always exact.
    pub fn transmit<R: Rng + ?Sized>(
        &self,
        frame: QuantumFrame,
        rng: &mut R,
    ) -> Result<QuantumFrame, SimError> {
        self.validate()?;
        let QuantumFrame { seq, payload } = frame;
        let payload = match payload {
            FramePayload::Product(mut p) => {
                self.transmit_product(&mut p, rng)?;
                FramePayload::Product(p)
            }
            FramePayload::Registers(mut regs) => {
                for r in regs.iter_mut() {
                    self.transmit_register(r, rng)?;
                }
                FramePayload::Registers(regs)
            }
        };
        Ok(QuantumFrame { seq, payload })
    }

    fn transmit_product<R: Rng + ?Sized>(
        &self,
        f: &mut ProductFrame,
        rng: &mut R,
    ) -> Result<(), SimError> {
        f.check_shape()?;
        let len = f.len();
        if f.rotation != 0.0 && (self.bit_flip > 0.0 || self.phase_flip > 0.0) {
            return Err(SimError::InvalidParameter {
                name: "channel",
                reason: "fast path: bit/phase flips after an earlier misalignment are not \
                         representable; use the state-vector path"
                    .into(),
            });
        }
        if self.depolarizing > 0.0 {
            // Depolarizing commutes with any rotation, so it is exact even after a misalignment.
            let hits = fastpath::bernoulli_mask(rng, Prob::new(self.depolarizing), len);
            for (w, &h) in hits.iter().enumerate() {
                if h == 0 {
                    continue;
                }
                let (rx, rz) = (rng.next_u64(), rng.next_u64());
                // (rx, rz) uniform per lane: I, X, Z or Y, each with probability 1/4.
                fastpath::apply_x(f, w, h & rx & !rz);
                fastpath::apply_z(f, w, h & rz & !rx);
                fastpath::apply_y(f, w, h & rx & rz);
            }
        }
        if self.bit_flip > 0.0 {
            let m = fastpath::bernoulli_mask(rng, Prob::new(self.bit_flip), len);
            for (w, &x) in m.iter().enumerate() {
                fastpath::apply_x(f, w, x);
            }
        }
        if self.phase_flip > 0.0 {
            let m = fastpath::bernoulli_mask(rng, Prob::new(self.phase_flip), len);
            for (w, &z) in m.iter().enumerate() {
                fastpath::apply_z(f, w, z);
            }
        }
        f.rotation += 2.0 * self.misalignment;
        let p_lost = 1.0 - self.photon_detection_probability();
        if p_lost > 0.0 {
            let m = fastpath::bernoulli_mask(rng, Prob::new(p_lost), len);
            for (v, x) in f.vacuum.iter_mut().zip(m) {
                *v |= x;
            }
        }
        if self.detector.dark_count > 0.0 {
            let m = fastpath::bernoulli_mask(rng, Prob::new(self.detector.dark_count), len);
            for (v, x) in f.dark.iter_mut().zip(m) {
                *v |= x;
            }
        }
        Ok(())
    }

    fn transmit_register<R: Rng + ?Sized>(
        &self,
        reg: &mut Register,
        rng: &mut R,
    ) -> Result<(), SimError> {
        let n = reg.num_qubits();
        let noisy = self.depolarizing > 0.0
            || self.bit_flip > 0.0
            || self.phase_flip > 0.0
            || self.misalignment != 0.0;
        if noisy {
            let mut ops = Vec::with_capacity(4 * n);
            for q in 0..n {
                if self.depolarizing > 0.0 && bernoulli(rng, self.depolarizing) {
                    match rng.next_u64() & 3 {
                        1 => ops.push((RegOp::X, q)),
                        2 => ops.push((RegOp::Y, q)),
                        3 => ops.push((RegOp::Z, q)),
                        _ => {}
                    }
                }
                if self.bit_flip > 0.0 && bernoulli(rng, self.bit_flip) {
                    ops.push((RegOp::X, q));
                }
                if self.phase_flip > 0.0 && bernoulli(rng, self.phase_flip) {
                    ops.push((RegOp::Z, q));
                }
                if self.misalignment != 0.0 {
                    ops.push((RegOp::Ry(2.0 * self.misalignment), q));
                }
            }
            svpath::apply_ops(reg, &ops)?;
        }
        let p_lost = 1.0 - self.photon_detection_probability();
        let mut lost = 0u32;
        let mut dark = 0u32;
        for q in 0..n {
            if p_lost > 0.0 && bernoulli(rng, p_lost) {
                lost |= 1 << q;
            }
            if self.detector.dark_count > 0.0 && bernoulli(rng, self.detector.dark_count) {
                dark |= 1 << q;
            }
        }
        reg.mark_vacuum(lost);
        reg.mark_dark(dark);
        Ok(())
    }
}

/// One Bernoulli(`p`) draw with 53-bit resolution.
pub(crate) fn bernoulli<R: Rng + ?Sized>(rng: &mut R, p: f64) -> bool {
    ((rng.next_u64() >> 11) as f64) * (1.0 / 9_007_199_254_740_992.0) < p
}

pub(crate) fn probability(name: &'static str, p: f64) -> Result<(), SimError> {
    if (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(SimError::InvalidParameter {
            name,
            reason: format!("{p} is not a probability in [0, 1]"),
        })
    }
}

pub(crate) fn non_negative(name: &'static str, x: f64) -> Result<(), SimError> {
    if x.is_finite() && x >= 0.0 {
        Ok(())
    } else {
        Err(SimError::InvalidParameter {
            name,
            reason: format!("{x} is not a finite non-negative number"),
        })
    }
}

pub(crate) fn finite(name: &'static str, x: f64) -> Result<(), SimError> {
    if x.is_finite() {
        Ok(())
    } else {
        Err(SimError::InvalidParameter {
            name,
            reason: format!("{x} is not finite"),
        })
    }
}
