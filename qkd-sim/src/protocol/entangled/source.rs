//! The entangled-pair source: prepares each pair on a two-qubit state vector, sends the halves
//! through their channels (and Eve), and carries out both parties' measurements on the joint state.

use std::collections::VecDeque;

use qkd_core::Role;
use rand::RngExt;
use rand::distr::Bernoulli;
use rand_core::Rng;
use serde::{Deserialize, Serialize};

use super::messages::{DetectionFrame, SettingsFrame, set_bit};
use super::scheme::Analyser;
use crate::SimError;
use crate::statevector::{Basis, Gate, StateVector};

/// Alice's half is qubit 0 of the source's register, Bob's half qubit 1.
const ALICE: usize = 0;
const BOB: usize = 1;

/// The two-qubit state the source emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum BellState {
    /// The singlet `(|01> - |10>)/sqrt 2`, prepared as in the paper: both qubits set to `|1>`
    /// (X on each), H on qubit 0, CNOT 0 -> 1. Outcomes are anti-correlated in every common
    /// linear basis, so Bob flips his key bits.
    #[default]
    Singlet,
    /// `Phi+ = (|00> + |11>)/sqrt 2`: H on qubit 0, CNOT 0 -> 1. Outcomes are equal in every
    /// common linear basis.
    PhiPlus,
}

impl BellState {
    /// Resets `sv` (two or more qubits) and prepares the pair on qubits 0 and 1 with gates.
    pub fn prepare(self, sv: &mut StateVector) -> Result<(), SimError> {
        sv.reset();
        if self == BellState::Singlet {
            sv.apply(Gate::X, ALICE)?;
            sv.apply(Gate::X, BOB)?;
        }
        sv.apply(Gate::H, ALICE)?;
        sv.cnot(ALICE, BOB)
    }

    /// True when outcomes at equal settings are opposite (the singlet).
    pub fn anticorrelated(self) -> bool {
        self == BellState::Singlet
    }

    /// The ideal correlation `E(a, b) = P(equal) - P(different)` for analysers `a` (Alice) and
    /// `b` (Bob): `-cos(phi_a - phi_b)` for the singlet, `+cos(phi_a - phi_b)` for Phi+.
    pub fn correlation(self, a: Analyser, b: Analyser) -> f64 {
        let c = (a.degrees() - b.degrees()).to_radians().cos();
        if self.anticorrelated() { -c } else { c }
    }
}

fn probability(name: &'static str, p: f64) -> Result<Bernoulli, SimError> {
    Bernoulli::new(p).map_err(|_| SimError::InvalidParameter {
        name,
        reason: format!("probability must be in [0, 1], got {p}"),
    })
}

/// The path of one half from the source to a party's detector.
///
/// Noise convention (depolarizing): with probability `depolarizing` the half is replaced by the
/// maximally mixed state. It is simulated by applying, with that probability, one of I, X, Y, Z
/// chosen uniformly (`rho -> (1-d) rho + d I/2` exactly). If each half is depolarized with
/// probability `d`, correlations shrink by `(1-d)^2`, the key QBER is `Q = (1 - (1-d)^2) / 2`, and
/// the CHSH value is `|S| = 2 sqrt 2 (1 - 2Q)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HalfChannel {
    pub(super) depolarizing: f64,
    pub(super) misalignment_degrees: f64,
    pub(super) transmittance: f64,
    pub(super) dark_count: f64,
}

impl Default for HalfChannel {
    fn default() -> Self {
        Self::ideal()
    }
}

impl HalfChannel {
    /// A perfect channel and detector: no noise, no loss, no dark counts.
    pub fn ideal() -> Self {
        Self {
            depolarizing: 0.0,
            misalignment_degrees: 0.0,
            transmittance: 1.0,
            dark_count: 0.0,
        }
    }

    /// Depolarizing probability `d` in [0, 1] (see the type docs for the convention).
    pub fn with_depolarizing(mut self, d: f64) -> Result<Self, SimError> {
        probability("depolarizing", d)?;
        self.depolarizing = d;
        Ok(self)
    }

    /// Polarisation misalignment: the half's polarisation is rotated by `degrees` (a rotation of
    /// `2 * degrees` about the Bloch y axis). Must be finite.
    pub fn with_misalignment(mut self, degrees: f64) -> Result<Self, SimError> {
        if !degrees.is_finite() {
            return Err(SimError::InvalidParameter {
                name: "misalignment",
                reason: format!("must be finite, got {degrees}"),
            });
        }
        self.misalignment_degrees = degrees;
        Ok(self)
    }

    /// Loss: fibre attenuation `db_per_km` (>= 0) over `km` (>= 0), plus fixed losses `extra_db`
    /// (>= 0), and the detector efficiency in [0, 1]. The half reaches the detector and clicks
    /// with probability `10^(-(db_per_km * km + extra_db)/10) * efficiency`.
    pub fn with_loss(
        mut self,
        db_per_km: f64,
        km: f64,
        extra_db: f64,
        efficiency: f64,
    ) -> Result<Self, SimError> {
        for (name, v) in [
            ("attenuation", db_per_km),
            ("length", km),
            ("fixed loss", extra_db),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(SimError::InvalidParameter {
                    name,
                    reason: format!("must be finite and non-negative, got {v}"),
                });
            }
        }
        probability("detector efficiency", efficiency)?;
        let t = 10f64.powf(-(db_per_km * km + extra_db) / 10.0) * efficiency;
        self.transmittance = t.clamp(0.0, 1.0);
        Ok(self)
    }

    /// Dark-count probability per detection gate in [0, 1]: when no photon clicks, the detector
    /// still clicks with this probability, with a uniformly random outcome.
    pub fn with_dark_count(mut self, p: f64) -> Result<Self, SimError> {
        probability("dark count", p)?;
        self.dark_count = p;
        Ok(self)
    }

    /// The depolarizing probability.
    pub fn depolarizing(&self) -> f64 {
        self.depolarizing
    }

    /// The probability that a photon reaches the detector and clicks.
    pub fn transmittance(&self) -> f64 {
        self.transmittance
    }

    fn compile(&self) -> Result<CompiledHalf, SimError> {
        Ok(CompiledHalf {
            depolarize: probability("depolarizing", self.depolarizing)?,
            noisy: self.depolarizing > 0.0,
            rotation: (self.misalignment_degrees != 0.0)
                .then(|| Gate::Ry(2.0 * self.misalignment_degrees.to_radians())),
            arrive: probability("transmittance", self.transmittance)?,
            dark: probability("dark count", self.dark_count)?,
        })
    }
}

/// A [`HalfChannel`] with its Bernoulli samplers built once.
#[derive(Debug, Clone, Copy)]
struct CompiledHalf {
    depolarize: Bernoulli,
    noisy: bool,
    rotation: Option<Gate>,
    arrive: Bernoulli,
    dark: Bernoulli,
}

impl CompiledHalf {
    /// Noise on the half travelling in qubit `q`.
    fn disturb<R: Rng + ?Sized>(
        &self,
        sv: &mut StateVector,
        q: usize,
        rng: &mut R,
    ) -> Result<(), SimError> {
        if let Some(g) = self.rotation {
            sv.apply(g, q)?;
        }
        if self.noisy && rng.sample(self.depolarize) {
            match rng.next_u32() & 3 {
                1 => sv.apply(Gate::X, q)?,
                2 => sv.apply(Gate::Y, q)?,
                3 => sv.apply(Gate::Z, q)?,
                _ => {}
            }
        }
        Ok(())
    }
}

/// Eve's intercept-resend attack on the halves travelling to Bob.
///
/// On each half with probability `fraction` she measures in an analyser setting drawn uniformly
/// from her `bases` (a real projective measurement of qubit 1 of the joint state, which collapses
/// Alice's half too) and resends a photon in the state she observed. The post-measurement state of
/// the half *is* the basis vector she saw, so the state vector after her measurement already holds
/// her resent photon. She keeps an [`EveRecord`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairEve {
    fraction: f64,
    bases: Vec<Analyser>,
}

impl PairEve {
    /// Intercepts a `fraction` in [0, 1] of Bob's halves, measuring in a setting drawn uniformly
    /// from `bases` (1 to 255 entries).
    pub fn new(fraction: f64, bases: Vec<Analyser>) -> Result<Self, SimError> {
        probability("eve fraction", fraction)?;
        if bases.is_empty() || bases.len() > 255 {
            return Err(SimError::InvalidParameter {
                name: "eve bases",
                reason: format!("need 1 to 255 bases, got {}", bases.len()),
            });
        }
        Ok(Self { fraction, bases })
    }

    /// The BB84 basis set: Z and X (Ekert angles 0 and 90 degrees).
    pub fn bb84(fraction: f64) -> Result<Self, SimError> {
        Self::new(
            fraction,
            vec![Analyser::from_degrees(0.0)?, Analyser::from_degrees(90.0)?],
        )
    }

    /// The Breidbart basis, halfway between Z and X (Ekert angle 45 degrees, polariser 22.5).
    pub fn breidbart(fraction: f64) -> Result<Self, SimError> {
        Self::new(fraction, vec![Analyser::from_degrees(45.0)?])
    }

    /// The attacked fraction.
    pub fn fraction(&self) -> f64 {
        self.fraction
    }

    /// Eve's settings table.
    pub fn bases(&self) -> &[Analyser] {
        &self.bases
    }
}

/// One of Eve's measurements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EveObservation {
    /// Batch number.
    pub batch: u64,
    /// Pair index within the batch.
    pub pair: u32,
    /// Index into her settings table.
    pub basis: u8,
    /// Her outcome (`true` = the analyser's second output).
    pub outcome: bool,
}

/// Everything Eve measured, in order.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct EveRecord {
    /// Her settings table.
    pub bases: Vec<Analyser>,
    /// Her observations.
    pub observations: Vec<EveObservation>,
}

/// Configuration of a [`PairSource`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SourceConfig {
    /// The emitted pair state.
    pub state: BellState,
    /// Path of Alice's half (qubit 0).
    pub alice: HalfChannel,
    /// Path of Bob's half (qubit 1), after Eve.
    pub bob: HalfChannel,
    /// Eve on Bob's half, if any.
    pub eve: Option<PairEve>,
}

/// The entangled-pair source node, as a sans-IO state machine.
///
/// # Simulation choice
/// The source holds the joint two-qubit state of each pair for its whole life. Each party sends
/// the source a [`SettingsFrame`] (its analyser setting per pair); the source then plays each pair:
/// prepare the Bell state with gates (paper's circuit), Eve's intercept-resend on Bob's half,
/// channel noise on both halves, then the detections: Alice's half is measured first in her
/// setting, which collapses the joint state, and Bob's half is measured in his setting *on the
/// collapsed state*. This reproduces the joint statistics exactly (the order of two space-like
/// separated measurements does not change them), while each party only ever receives its own
/// [`DetectionFrame`]. A half lost in the channel is not measured; the other half's statistics
/// are then its (correct) marginal. A detector without a photon may click from a dark count, with
/// a random outcome.
///
/// One register is reused for every pair (no per-pair allocation).
pub struct PairSource<R> {
    config: SourceConfig,
    alice: CompiledHalf,
    bob: CompiledHalf,
    eve: Option<Bernoulli>,
    sv: StateVector,
    rng: R,
    eve_rng: R,
    record: EveRecord,
    pending: [Option<SettingsFrame>; 2],
    out: VecDeque<DetectionFrame>,
}

impl<R: Rng> PairSource<R> {
    /// A source with its own randomness: `rng` drives the physics (measurement outcomes, noise,
    /// loss), `eve_rng` Eve's choices.
    pub fn new(config: SourceConfig, rng: R, eve_rng: R) -> Result<Self, SimError> {
        let alice = config.alice.compile()?;
        let bob = config.bob.compile()?;
        let eve = match &config.eve {
            Some(e) => Some(probability("eve fraction", e.fraction)?),
            None => None,
        };
        let record = EveRecord {
            bases: config
                .eve
                .as_ref()
                .map(|e| e.bases.clone())
                .unwrap_or_default(),
            observations: Vec::new(),
        };
        Ok(Self {
            config,
            alice,
            bob,
            eve,
            sv: StateVector::new(2)?,
            rng,
            eve_rng,
            record,
            pending: [None, None],
            out: VecDeque::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SourceConfig {
        &self.config
    }

    /// Eve's record so far.
    pub fn eve_record(&self) -> &EveRecord {
        &self.record
    }

    /// Takes Eve's record, leaving it empty.
    pub fn take_eve_record(&mut self) -> EveRecord {
        EveRecord {
            bases: self.record.bases.clone(),
            observations: std::mem::take(&mut self.record.observations),
        }
    }

    /// Takes a party's settings frame. Once both parties' frames of a batch are in, the batch is
    /// played and both detection frames become available from
    /// [`poll_detections`](Self::poll_detections).
    pub fn handle_settings(&mut self, frame: SettingsFrame) -> Result<(), SimError> {
        let slot = match frame.party {
            Role::Alice => 0,
            Role::Bob => 1,
        };
        if self.pending[slot].is_some() {
            return Err(SimError::Protocol(format!(
                "second settings frame from {:?} before the batch was played",
                frame.party
            )));
        }
        self.pending[slot] = Some(frame);
        if self.pending.iter().all(Option::is_some) {
            let [Some(a), Some(b)] = std::mem::take(&mut self.pending) else {
                return Err(SimError::Protocol("settings frames missing".into()));
            };
            let [fa, fb] = self.play(&a, &b)?;
            self.out.push_back(fa);
            self.out.push_back(fb);
        }
        Ok(())
    }

    /// The next detection frame (one for each party per batch, Alice's first).
    pub fn poll_detections(&mut self) -> Option<DetectionFrame> {
        self.out.pop_front()
    }

    /// Plays one batch directly: both parties' settings in, both detection frames out.
    pub fn play(
        &mut self,
        alice: &SettingsFrame,
        bob: &SettingsFrame,
    ) -> Result<[DetectionFrame; 2], SimError> {
        if alice.party != Role::Alice || bob.party != Role::Bob {
            return Err(SimError::Protocol(
                "settings frames must be Alice's and Bob's".into(),
            ));
        }
        if alice.batch != bob.batch || alice.choices.len() != bob.choices.len() {
            return Err(SimError::Protocol(format!(
                "settings frames disagree: batch {} with {} pairs vs batch {} with {} pairs",
                alice.batch,
                alice.choices.len(),
                bob.batch,
                bob.choices.len()
            )));
        }
        let pairs = alice.choices.len();
        if pairs > u32::MAX as usize {
            return Err(SimError::Protocol("batch too large".into()));
        }
        let a_bases = bases_of(alice)?;
        let b_bases = bases_of(bob)?;
        let words = pairs.div_ceil(64);
        let mut fa = DetectionFrame {
            batch: alice.batch,
            party: Role::Alice,
            pairs,
            detected: vec![0; words],
            outcomes: vec![0; words],
        };
        let mut fb = DetectionFrame {
            batch: alice.batch,
            party: Role::Bob,
            pairs,
            detected: vec![0; words],
            outcomes: vec![0; words],
        };
        for i in 0..pairs {
            let a_basis = a_bases[alice.choices[i] as usize];
            let b_basis = b_bases[bob.choices[i] as usize];
            let (da, oa, db, ob) = self.play_pair(alice.batch, i as u32, a_basis, b_basis)?;
            set_bit(&mut fa.detected, i, da);
            set_bit(&mut fa.outcomes, i, oa);
            set_bit(&mut fb.detected, i, db);
            set_bit(&mut fb.outcomes, i, ob);
        }
        Ok([fa, fb])
    }

    /// One pair: returns (Alice detected, her outcome, Bob detected, his outcome).
    fn play_pair(
        &mut self,
        batch: u64,
        pair: u32,
        a_basis: Basis,
        b_basis: Basis,
    ) -> Result<(bool, bool, bool, bool), SimError> {
        self.config.state.prepare(&mut self.sv)?;
        if let (Some(attack), Some(eve)) = (self.eve, &self.config.eve)
            && self.eve_rng.sample(attack)
        {
            let k = self.eve_rng.random_range(0..eve.bases.len());
            let outcome = self.sv.measure(BOB, eve.bases[k].basis(), &mut self.rng)?;
            self.record.observations.push(EveObservation {
                batch,
                pair,
                basis: k as u8,
                outcome,
            });
        }
        self.alice.disturb(&mut self.sv, ALICE, &mut self.rng)?;
        self.bob.disturb(&mut self.sv, BOB, &mut self.rng)?;
        let (da, oa) = detect(&self.alice, &mut self.sv, ALICE, a_basis, &mut self.rng)?;
        let (db, ob) = detect(&self.bob, &mut self.sv, BOB, b_basis, &mut self.rng)?;
        Ok((da, oa, db, ob))
    }
}

/// A party's detector: the photon arrives and clicks (measured on the joint state), or a dark
/// count clicks with a random outcome, or nothing.
fn detect<R: Rng + ?Sized>(
    half: &CompiledHalf,
    sv: &mut StateVector,
    q: usize,
    basis: Basis,
    rng: &mut R,
) -> Result<(bool, bool), SimError> {
    if rng.sample(half.arrive) {
        Ok((true, sv.measure(q, basis, rng)?))
    } else if rng.sample(half.dark) {
        Ok((true, rng.next_u32() & 1 == 1))
    } else {
        Ok((false, false))
    }
}

/// Validates a settings frame and maps its table to bases.
fn bases_of(frame: &SettingsFrame) -> Result<Vec<Basis>, SimError> {
    let n = frame.table.len();
    if n == 0 || n > 255 || frame.choices.iter().any(|&c| c as usize >= n) {
        return Err(SimError::Protocol(format!(
            "malformed settings frame from {:?}",
            frame.party
        )));
    }
    Ok(frame.table.iter().map(|a| a.basis()).collect())
}
