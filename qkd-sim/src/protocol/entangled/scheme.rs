//! Measurement settings of an entanglement-based protocol: which analyser directions each party
//! chooses from, and what a round is used for given both choices.

use serde::{Deserialize, Serialize};

use crate::SimError;
use crate::statevector::Basis;

/// A measurement setting: the direction of a party's analyser in the x-z plane of the Bloch
/// sphere, given by Ekert's angle `phi` in degrees (Ekert 1991 uses spin-1/2 analysers).
///
/// For polarisation qubits the equivalent polariser angle is `phi / 2`: measuring with the
/// analyser at `phi` is measuring in [`Basis::Linear`]`(phi / 2)`. So Ekert's Alice angles 0, 45,
/// 90 degrees are polariser angles 0, 22.5, 45 degrees. (Taking 0/45/90 as *polariser* angles would
/// put 0 and 90 in the same basis and give S = 0; the Bell violation needs the Bloch angles.)
///
/// With this convention the singlet gives the correlation `E(a, b) = -cos(phi_a - phi_b)` and the
/// state Phi+ gives `+cos(phi_a - phi_b)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Analyser {
    degrees: f64,
}

impl Analyser {
    /// The analyser at Ekert angle `degrees` (any finite value; taken modulo 360).
    pub fn from_degrees(degrees: f64) -> Result<Self, SimError> {
        if !degrees.is_finite() {
            return Err(SimError::InvalidParameter {
                name: "analyser angle",
                reason: format!("must be finite, got {degrees}"),
            });
        }
        Ok(Self {
            degrees: degrees.rem_euclid(360.0),
        })
    }

    /// For constant tables in `[0, 360)` (checked by the callers' tests).
    pub(crate) const fn from_degrees_const(degrees: f64) -> Self {
        Self { degrees }
    }

    /// Ekert's angle in degrees, in `[0, 360)`.
    pub fn degrees(self) -> f64 {
        self.degrees
    }

    /// The equivalent polariser angle in degrees (`degrees / 2`).
    pub fn polariser_degrees(self) -> f64 {
        self.degrees / 2.0
    }

    /// The measurement basis on the state-vector engine: [`Basis::Linear`]`(phi / 2)` in radians.
    /// Outcome `false` is the first basis vector (the analyser's "+" output).
    ///
    /// Angles 0 and 90 give [`Basis::Z`] and [`Basis::X`], the same measurements as
    /// `Linear(0)` and `Linear(pi/4)` (X's second vector differs by a global phase only) without
    /// trigonometry per measurement.
    pub fn basis(self) -> Basis {
        if self.degrees == 0.0 {
            Basis::Z
        } else if self.degrees == 90.0 {
            Basis::X
        } else {
            Basis::Linear(self.polariser_degrees().to_radians())
        }
    }

    /// True when both analysers measure along the same direction (same basis, same outcome labels).
    pub fn same_direction(self, other: Analyser) -> bool {
        let d = (self.degrees - other.degrees).rem_euclid(360.0);
        d < 1e-9 || 360.0 - d < 1e-9
    }
}

/// What a round is used for, given both parties' settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RoundKind {
    /// Matching settings: the outcomes become key bits.
    Key,
    /// A test round: both parties reveal their outcomes (e.g. for the CHSH value).
    Test,
    /// Neither key nor test: discarded after the settings are compared.
    Discard,
}

/// The settings tables of both parties and the use of each combination.
///
/// Each party picks a setting uniformly at random per pair from its own table. Settings are sent as
/// indices (`u8`) into these tables, so a table holds at most 255 entries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "SchemeWire")]
pub struct Scheme {
    alice: Vec<Analyser>,
    bob: Vec<Analyser>,
    /// Row-major: `kinds[a * bob.len() + b]`.
    kinds: Vec<RoundKind>,
}

/// The serialised form of a [`Scheme`], validated by [`Scheme::new`] on the way in.
#[derive(Deserialize)]
struct SchemeWire {
    alice: Vec<Analyser>,
    bob: Vec<Analyser>,
    kinds: Vec<RoundKind>,
}

impl TryFrom<SchemeWire> for Scheme {
    type Error = SimError;
    fn try_from(w: SchemeWire) -> Result<Self, SimError> {
        let finite = |t: &[Analyser]| t.iter().all(|a| a.degrees.is_finite());
        if !finite(&w.alice) || !finite(&w.bob) {
            return Err(SimError::InvalidParameter {
                name: "analyser angle",
                reason: "must be finite".into(),
            });
        }
        Scheme::new(w.alice, w.bob, w.kinds)
    }
}

impl Scheme {
    /// A scheme from both tables and the `alice.len() * bob.len()` round kinds in row-major order
    /// (`kinds[a * bob.len() + b]`). Key combinations must measure along the same direction.
    pub fn new(
        alice: Vec<Analyser>,
        bob: Vec<Analyser>,
        kinds: Vec<RoundKind>,
    ) -> Result<Self, SimError> {
        for (name, table) in [("alice settings", &alice), ("bob settings", &bob)] {
            if table.is_empty() || table.len() > 255 {
                return Err(SimError::InvalidParameter {
                    name,
                    reason: format!("need 1 to 255 settings, got {}", table.len()),
                });
            }
        }
        if kinds.len() != alice.len() * bob.len() {
            return Err(SimError::InvalidParameter {
                name: "round kinds",
                reason: format!(
                    "need {} entries (alice x bob settings), got {}",
                    alice.len() * bob.len(),
                    kinds.len()
                ),
            });
        }
        for (a, &sa) in alice.iter().enumerate() {
            for (b, &sb) in bob.iter().enumerate() {
                if kinds[a * bob.len() + b] == RoundKind::Key && !sa.same_direction(sb) {
                    return Err(SimError::InvalidParameter {
                        name: "round kinds",
                        reason: format!(
                            "key round for alice setting {a} ({} deg) and bob setting {b} ({} deg) \
                             whose directions differ",
                            sa.degrees(),
                            sb.degrees()
                        ),
                    });
                }
            }
        }
        Ok(Self { alice, bob, kinds })
    }

    /// A scheme from constant tables known to be valid (checked by the callers' tests).
    pub(crate) fn from_parts(
        alice: Vec<Analyser>,
        bob: Vec<Analyser>,
        kinds: Vec<RoundKind>,
    ) -> Self {
        Self { alice, bob, kinds }
    }

    /// Alice's settings table.
    pub fn alice(&self) -> &[Analyser] {
        &self.alice
    }

    /// Bob's settings table.
    pub fn bob(&self) -> &[Analyser] {
        &self.bob
    }

    /// The fraction of coincidences expected to become key with uniform setting choices
    /// (2/9 for E91, 1/2 for BBM92): sifted bits ~ pairs x detection probabilities x this.
    pub fn key_fraction(&self) -> f64 {
        let keys = self.kinds.iter().filter(|&&k| k == RoundKind::Key).count();
        keys as f64 / self.kinds.len() as f64
    }

    /// The kind of a round where Alice chose `a` and Bob chose `b`; `None` for indices outside
    /// the tables.
    pub fn kind(&self, a: u8, b: u8) -> Option<RoundKind> {
        let (a, b) = (a as usize, b as usize);
        if a < self.alice.len() && b < self.bob.len() {
            Some(self.kinds[a * self.bob.len() + b])
        } else {
            None
        }
    }
}

/// Tallies of test-round outcomes per pair of settings: the data of a Bell test.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Correlations {
    bob_settings: usize,
    rounds: Vec<u64>,
    equal: Vec<u64>,
}

impl Correlations {
    /// Empty tallies for tables of the given sizes.
    pub fn new(alice_settings: usize, bob_settings: usize) -> Self {
        Self {
            bob_settings,
            rounds: vec![0; alice_settings * bob_settings],
            equal: vec![0; alice_settings * bob_settings],
        }
    }

    /// Records one round with settings `(a, b)` and raw outcomes.
    pub(crate) fn record(&mut self, a: u8, b: u8, alice_outcome: bool, bob_outcome: bool) {
        let i = a as usize * self.bob_settings + b as usize;
        self.rounds[i] += 1;
        self.equal[i] += u64::from(alice_outcome == bob_outcome);
    }

    /// Number of recorded rounds with settings `(a, b)` (0 outside the tables).
    pub fn rounds(&self, a: usize, b: usize) -> u64 {
        self.index(a, b).map_or(0, |i| self.rounds[i])
    }

    /// Number of those rounds in which both outcomes were equal.
    pub fn equal(&self, a: usize, b: usize) -> u64 {
        self.index(a, b).map_or(0, |i| self.equal[i])
    }

    /// The correlation coefficient `E(a, b) = P(equal) - P(different)`, or `None` without rounds.
    pub fn correlation(&self, a: usize, b: usize) -> Option<f64> {
        let n = self.rounds(a, b);
        (n > 0).then(|| (2.0 * self.equal(a, b) as f64 - n as f64) / n as f64)
    }

    /// Adds the tallies of `other` (for example another batch of the same scheme). Errors, changing
    /// nothing, if the tables have different shapes.
    pub fn merge(&mut self, other: &Correlations) -> Result<(), SimError> {
        if other.bob_settings != self.bob_settings || other.rounds.len() != self.rounds.len() {
            return Err(SimError::InvalidParameter {
                name: "correlations",
                reason: "tallies of different schemes cannot be merged".into(),
            });
        }
        for (mine, theirs) in self.rounds.iter_mut().zip(&other.rounds) {
            *mine += theirs;
        }
        for (mine, theirs) in self.equal.iter_mut().zip(&other.equal) {
            *mine += theirs;
        }
        Ok(())
    }

    /// Total number of recorded rounds.
    pub fn total(&self) -> u64 {
        self.rounds.iter().sum()
    }

    fn index(&self, a: usize, b: usize) -> Option<usize> {
        let i = a.checked_mul(self.bob_settings)?.checked_add(b)?;
        (b < self.bob_settings && i < self.rounds.len()).then_some(i)
    }
}
