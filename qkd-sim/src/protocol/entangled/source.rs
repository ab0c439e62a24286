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
use crate::channel::QuantumChannel;
use crate::eve::{EveBases, EveConfig, EveFrameRecord, EveRecord};
use crate::protocol::MeasBasis;
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

/// A half's [`QuantumChannel`] with its Bernoulli samplers built once.
///
/// The conventions are the channel module's, applied to one half of the pair on the joint state
/// vector: depolarizing `d` is a uniformly random Pauli with probability `d` (the half becomes
/// maximally mixed), then bit flip, phase flip, misalignment `Ry(2 theta)`, loss (fibre and
/// detector efficiency: the half is not measured) and dark counts (a click with a random outcome,
/// also when a photon arrived: a double click resolved at random). If each half is depolarized
/// with probability `d`, correlations shrink by `(1-d)^2`, the key QBER is `(1 - (1-d)^2) / 2` and
/// `|S| = 2 sqrt 2 (1 - 2Q)`.
#[derive(Debug, Clone, Copy)]
struct CompiledHalf {
    depolarize: Option<Bernoulli>,
    bit_flip: Option<Bernoulli>,
    phase_flip: Option<Bernoulli>,
    rotation: Option<Gate>,
    arrive: Bernoulli,
    dark: Option<Bernoulli>,
}

impl CompiledHalf {
    fn new(c: &QuantumChannel) -> Result<Self, SimError> {
        c.validate()?;
        let optional = |name, p: f64| -> Result<Option<Bernoulli>, SimError> {
            Ok(if p > 0.0 {
                Some(probability(name, p)?)
            } else {
                None
            })
        };
        Ok(Self {
            depolarize: optional("depolarizing", c.depolarizing)?,
            bit_flip: optional("bit_flip", c.bit_flip)?,
            phase_flip: optional("phase_flip", c.phase_flip)?,
            rotation: (c.misalignment != 0.0).then_some(Gate::Ry(2.0 * c.misalignment)),
            arrive: probability(
                "photon detection probability",
                c.photon_detection_probability().clamp(0.0, 1.0),
            )?,
            dark: optional("dark_count", c.detector.dark_count)?,
        })
    }

    /// Noise on the half travelling in qubit `q`.
    fn disturb<R: Rng + ?Sized>(
        &self,
        sv: &mut StateVector,
        q: usize,
        rng: &mut R,
    ) -> Result<(), SimError> {
        if let Some(d) = self.depolarize
            && rng.sample(d)
        {
            match rng.next_u32() & 3 {
                1 => sv.apply(Gate::X, q)?,
                2 => sv.apply(Gate::Y, q)?,
                3 => sv.apply(Gate::Z, q)?,
                _ => {}
            }
        }
        if let Some(p) = self.bit_flip
            && rng.sample(p)
        {
            sv.apply(Gate::X, q)?;
        }
        if let Some(p) = self.phase_flip
            && rng.sample(p)
        {
            sv.apply(Gate::Z, q)?;
        }
        if let Some(g) = self.rotation {
            sv.apply(g, q)?;
        }
        Ok(())
    }

    /// The party's detector: the photon arrives and is measured on the joint state (collapsing
    /// it), and/or a dark count clicks; returns (click, outcome).
    fn detect<R: Rng + ?Sized>(
        &self,
        sv: &mut StateVector,
        q: usize,
        basis: Basis,
        rng: &mut R,
    ) -> Result<(bool, bool), SimError> {
        let photon = rng.sample(self.arrive);
        let mut outcome = if photon {
            sv.measure(q, basis, rng)?
        } else {
            false
        };
        let dark = self.dark.is_some_and(|d| rng.sample(d));
        if dark {
            outcome = rng.next_u32() & 1 == 1;
        }
        Ok((photon || dark, outcome))
    }
}

/// The state-vector basis of one of Eve's bases.
fn eve_basis(b: MeasBasis) -> Basis {
    match b {
        MeasBasis::Z => Basis::Z,
        MeasBasis::X => Basis::X,
        MeasBasis::Y => Basis::Y,
        MeasBasis::Breidbart => Basis::Linear(std::f64::consts::PI / 8.0),
    }
}

/// Eve's basis choice, uniformly from her set.
fn pick_eve_basis<R: Rng + ?Sized>(bases: EveBases, rng: &mut R) -> MeasBasis {
    match bases {
        EveBases::Bb84 => {
            if rng.next_u32() & 1 == 0 {
                MeasBasis::Z
            } else {
                MeasBasis::X
            }
        }
        EveBases::SixState => match rng.random_range(0..3u32) {
            0 => MeasBasis::Z,
            1 => MeasBasis::X,
            _ => MeasBasis::Y,
        },
        EveBases::Breidbart => MeasBasis::Breidbart,
    }
}

/// Records one of Eve's measurements in a frame record (basis code `lo + 2 hi`, Z = 0, X = 1,
/// Y = 2, Breidbart = 3, as in [`EveFrameRecord`]).
fn record_eve(rec: &mut EveFrameRecord, i: usize, basis: MeasBasis, outcome: bool) {
    let (lo, hi) = match basis {
        MeasBasis::Z => (false, false),
        MeasBasis::X => (true, false),
        MeasBasis::Y => (false, true),
        MeasBasis::Breidbart => (true, true),
    };
    set_bit(&mut rec.attacked, i, true);
    set_bit(&mut rec.basis_lo, i, lo);
    set_bit(&mut rec.basis_hi, i, hi);
    set_bit(&mut rec.outcome, i, outcome);
}

/// Configuration of a [`PairSource`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SourceConfig {
    /// The emitted pair state.
    pub state: BellState,
    /// Path of Alice's half (qubit 0): fibre, noise and her detector.
    pub alice: QuantumChannel,
    /// Path of Bob's half (qubit 1) after Eve: fibre, noise and his detector.
    pub bob: QuantumChannel,
    /// Eve's intercept-resend attack on Bob's half, if any. She sits at the source's output, so
    /// every half reaches her; on the chosen fraction she measures qubit 1 of the joint state in a
    /// basis from her set (a real projective measurement, which collapses Alice's half too) and
    /// sends on the basis vector she saw (the post-measurement state of the half is exactly that
    /// photon). Her record is an [`EveRecord`] with one [`EveFrameRecord`] per batch (`seq` = batch
    /// number, qubit `i` = pair `i`).
    pub eve: Option<EveConfig>,
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
    eve: Option<(Bernoulli, EveBases)>,
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
        let alice = CompiledHalf::new(&config.alice)?;
        let bob = CompiledHalf::new(&config.bob)?;
        let eve = match &config.eve {
            Some(e) => {
                e.validate()?;
                Some((probability("eve fraction", e.fraction)?, e.bases))
            }
            None => None,
        };
        let record = EveRecord::default();
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
        std::mem::take(&mut self.record)
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
        let mut rec = self.eve.map(|_| EveFrameRecord {
            seq: alice.batch,
            len: pairs,
            attacked: vec![0; words],
            basis_lo: vec![0; words],
            basis_hi: vec![0; words],
            outcome: vec![0; words],
        });
        for i in 0..pairs {
            let a_basis = a_bases[alice.choices[i] as usize];
            let b_basis = b_bases[bob.choices[i] as usize];
            let (da, oa, db, ob) = self.play_pair(rec.as_mut(), i, a_basis, b_basis)?;
            set_bit(&mut fa.detected, i, da);
            set_bit(&mut fa.outcomes, i, oa);
            set_bit(&mut fb.detected, i, db);
            set_bit(&mut fb.outcomes, i, ob);
        }
        if let Some(rec) = rec {
            self.record.frames.push(rec);
        }
        Ok([fa, fb])
    }

    /// One pair: returns (Alice clicked, her outcome, Bob clicked, his outcome).
    fn play_pair(
        &mut self,
        rec: Option<&mut EveFrameRecord>,
        pair: usize,
        a_basis: Basis,
        b_basis: Basis,
    ) -> Result<(bool, bool, bool, bool), SimError> {
        self.config.state.prepare(&mut self.sv)?;
        if let (Some((attack, bases)), Some(rec)) = (self.eve, rec)
            && self.eve_rng.sample(attack)
        {
            let basis = pick_eve_basis(bases, &mut self.eve_rng);
            let outcome = self.sv.measure(BOB, eve_basis(basis), &mut self.rng)?;
            record_eve(rec, pair, basis, outcome);
        }
        self.alice.disturb(&mut self.sv, ALICE, &mut self.rng)?;
        self.bob.disturb(&mut self.sv, BOB, &mut self.rng)?;
        let (da, oa) = self
            .alice
            .detect(&mut self.sv, ALICE, a_basis, &mut self.rng)?;
        let (db, ob) = self.bob.detect(&mut self.sv, BOB, b_basis, &mut self.rng)?;
        Ok((da, oa, db, ob))
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
