//! The sans-IO engine of one party (Alice or Bob) of an entanglement-based protocol.

use std::collections::VecDeque;

use qkd_core::{BitString, Role};
use rand::RngExt;
use rand_core::Rng;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::messages::{DetectionFrame, EntangledMsg, SettingsFrame, bit, set_bit};
use super::scheme::{Correlations, RoundKind, Scheme};
use super::source::BellState;
use crate::SimError;

/// Counts of one batch, identical at both parties (everything in it is public).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PairStats {
    /// Pairs emitted by the source in the batch.
    pub pairs: u64,
    /// Pairs detected by Alice.
    pub alice_detected: u64,
    /// Pairs detected by Bob.
    pub bob_detected: u64,
    /// Pairs detected by both (coincidences): the raw key length.
    pub coincidences: u64,
    /// Coincidences with matching settings: the sifted key length.
    pub key_rounds: u64,
    /// Coincidences used as test rounds (outcomes revealed).
    pub test_rounds: u64,
    /// Coincidences neither key nor test.
    pub discarded: u64,
}

/// What a party holds at the end of a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct PartyResult {
    /// The sifted key (Bob's bits are flipped when the pair state anti-correlates, so that the
    /// keys agree).
    pub sifted_key: BitString,
    /// For each key bit, the index of its pair in the batch (public after sifting).
    pub key_pairs: Vec<u32>,
    /// Public counts.
    pub stats: PairStats,
    /// Test-round tallies per settings pair (empty for schemes without test rounds).
    pub correlations: Correlations,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The settings frame for the source has not been polled yet.
    Start,
    /// Waiting for this party's detections and the peer's settings.
    Detecting,
    /// Sifted; waiting for the peer's test outcomes.
    Testing,
    /// Finished.
    Done,
}

/// One party of an entanglement-based protocol (E91, BBM92, ...), as a sans-IO state machine.
///
/// One engine handles one batch of `pairs` pairs:
/// 1. [`poll_settings`](Self::poll_settings) yields the [`SettingsFrame`] for the pair source (the
///    party's random setting per pair, drawn from its own RNG);
/// 2. [`handle_detections`](Self::handle_detections) takes the source's [`DetectionFrame`];
/// 3. the parties exchange [`EntangledMsg`]s through [`poll_classical`](Self::poll_classical) and
///    [`handle_classical`](Self::handle_classical): first their settings and detection flags
///    (both sift: coincidences with matching settings are key, others may be test rounds), then,
///    if the scheme has test rounds, their test-round outcomes;
/// 4. [`result`](Self::result) returns the sifted key, counts and test tallies.
///
/// Messages may arrive in any order that respects causality (a peer's settings before this
/// party's detections are buffered). Duplicates, wrong batches and wrong lengths are
/// [`SimError::Protocol`] errors.
pub struct EntangledParty<R> {
    role: Role,
    scheme: Scheme,
    flip_key: bool,
    has_tests: bool,
    batch: u64,
    pairs: usize,
    rng: R,
    phase: Phase,
    choices: Vec<u8>,
    detected: Vec<u64>,
    outcomes: Zeroizing<Vec<u64>>,
    have_detections: bool,
    peer_choices: Option<Vec<u8>>,
    peer_detected: Vec<u64>,
    /// Indices of this batch's test rounds, in order.
    tests: Vec<u32>,
    peer_tests: Option<(usize, Vec<u64>)>,
    outbox: VecDeque<EntangledMsg>,
    key: BitString,
    key_pairs: Vec<u32>,
    stats: PairStats,
    correlations: Correlations,
}

impl<R: Rng> EntangledParty<R> {
    /// A party engine for batch `batch` of `pairs` pairs (1 to `u32::MAX`), with its own RNG for
    /// its setting choices. `state` is the pair state the source emits (public): it decides whether
    /// Bob flips his key bits.
    pub fn new(
        role: Role,
        scheme: Scheme,
        state: BellState,
        batch: u64,
        pairs: usize,
        rng: R,
    ) -> Result<Self, SimError> {
        if pairs == 0 || pairs > u32::MAX as usize {
            return Err(SimError::InvalidParameter {
                name: "pairs",
                reason: format!("need 1 to {} pairs per batch, got {pairs}", u32::MAX),
            });
        }
        let words = pairs.div_ceil(64);
        let has_tests = (0..scheme.alice().len()).any(|a| {
            (0..scheme.bob().len()).any(|b| scheme.kind(a as u8, b as u8) == Some(RoundKind::Test))
        });
        let correlations = Correlations::new(scheme.alice().len(), scheme.bob().len());
        Ok(Self {
            role,
            flip_key: role == Role::Bob && state.anticorrelated(),
            scheme,
            has_tests,
            batch,
            pairs,
            rng,
            phase: Phase::Start,
            choices: Vec::new(),
            detected: vec![0; words],
            outcomes: Zeroizing::new(vec![0; words]),
            have_detections: false,
            peer_choices: None,
            peer_detected: Vec::new(),
            tests: Vec::new(),
            peer_tests: None,
            outbox: VecDeque::new(),
            key: BitString::default(),
            key_pairs: Vec::new(),
            stats: PairStats::default(),
            correlations,
        })
    }

    /// This party's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The batch number.
    pub fn batch(&self) -> u64 {
        self.batch
    }

    /// The settings frame for the source: `Some` once, on the first call.
    pub fn poll_settings(&mut self) -> Option<SettingsFrame> {
        if self.phase != Phase::Start {
            return None;
        }
        let table = match self.role {
            Role::Alice => self.scheme.alice().to_vec(),
            Role::Bob => self.scheme.bob().to_vec(),
        };
        let n = table.len() as u32;
        self.choices.clear();
        self.choices.reserve_exact(self.pairs);
        for _ in 0..self.pairs {
            self.choices.push(self.rng.random_range(0..n) as u8);
        }
        self.phase = Phase::Detecting;
        Some(SettingsFrame {
            batch: self.batch,
            party: self.role,
            table,
            choices: self.choices.clone(),
        })
    }

    /// Takes this party's detections from the source.
    pub fn handle_detections(&mut self, frame: &DetectionFrame) -> Result<(), SimError> {
        if self.phase != Phase::Detecting || self.have_detections {
            return Err(self.protocol_error("unexpected detection frame"));
        }
        let words = self.pairs.div_ceil(64);
        if frame.batch != self.batch
            || frame.party != self.role
            || frame.pairs != self.pairs
            || frame.detected.len() != words
            || frame.outcomes.len() != words
        {
            return Err(self.protocol_error("detection frame does not match the batch"));
        }
        self.detected.copy_from_slice(&frame.detected);
        self.outcomes.copy_from_slice(&frame.outcomes);
        clear_tail(&mut self.detected, self.pairs);
        for (o, d) in self.outcomes.iter_mut().zip(&self.detected) {
            *o &= d;
        }
        self.have_detections = true;
        self.outbox.push_back(EntangledMsg::Settings {
            batch: self.batch,
            choices: self.choices.clone(),
            detected: self.detected.clone(),
        });
        self.advance()
    }

    /// The next classical message for the peer, if any.
    pub fn poll_classical(&mut self) -> Option<EntangledMsg> {
        self.outbox.pop_front()
    }

    /// Takes a classical message from the peer.
    pub fn handle_classical(&mut self, msg: EntangledMsg) -> Result<(), SimError> {
        match msg {
            EntangledMsg::Settings {
                batch,
                choices,
                detected,
            } => {
                if batch != self.batch || self.peer_choices.is_some() || self.phase == Phase::Done {
                    return Err(self.protocol_error("unexpected settings message"));
                }
                let peer_table = match self.role {
                    Role::Alice => self.scheme.bob().len(),
                    Role::Bob => self.scheme.alice().len(),
                };
                if choices.len() != self.pairs
                    || detected.len() != self.pairs.div_ceil(64)
                    || choices.iter().any(|&c| c as usize >= peer_table)
                {
                    return Err(self.protocol_error("malformed settings message"));
                }
                let mut detected = detected;
                clear_tail(&mut detected, self.pairs);
                self.peer_choices = Some(choices);
                self.peer_detected = detected;
            }
            EntangledMsg::TestOutcomes {
                batch,
                rounds,
                outcomes,
            } => {
                if batch != self.batch
                    || !self.has_tests
                    || self.peer_tests.is_some()
                    || self.phase == Phase::Done
                {
                    return Err(self.protocol_error("unexpected test outcomes"));
                }
                if outcomes.len() != rounds.div_ceil(64) {
                    return Err(self.protocol_error("malformed test outcomes"));
                }
                // The round count is checked against our own sifting in `advance`.
                self.peer_tests = Some((rounds, outcomes));
            }
        }
        self.advance()
    }

    /// True once the batch is complete.
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// The result, once [`is_done`](Self::is_done).
    pub fn result(&self) -> Option<PartyResult> {
        self.is_done().then(|| PartyResult {
            sifted_key: self.key.clone(),
            key_pairs: self.key_pairs.clone(),
            stats: self.stats,
            correlations: self.correlations.clone(),
        })
    }

    fn advance(&mut self) -> Result<(), SimError> {
        if self.phase == Phase::Detecting && self.have_detections && self.peer_choices.is_some() {
            self.sift();
            self.phase = if self.has_tests {
                Phase::Testing
            } else {
                Phase::Done
            };
        }
        if self.phase == Phase::Testing && self.peer_tests.is_some() {
            self.tally()?;
            self.phase = Phase::Done;
        }
        Ok(())
    }

    /// Compares settings, extracts the key and queues this party's test outcomes.
    fn sift(&mut self) {
        let peer_choices = self.peer_choices.as_deref().unwrap_or_default();
        let (alice_choices, bob_choices, alice_det, bob_det) = match self.role {
            Role::Alice => (
                &self.choices[..],
                peer_choices,
                &self.detected[..],
                &self.peer_detected[..],
            ),
            Role::Bob => (
                peer_choices,
                &self.choices[..],
                &self.peer_detected[..],
                &self.detected[..],
            ),
        };
        let mut stats = PairStats {
            pairs: self.pairs as u64,
            alice_detected: alice_det.iter().map(|w| u64::from(w.count_ones())).sum(),
            bob_detected: bob_det.iter().map(|w| u64::from(w.count_ones())).sum(),
            ..PairStats::default()
        };
        let mut key_words: Vec<u64> = Vec::with_capacity(self.pairs / 64 + 1);
        let mut key_len = 0usize;
        let mut test_words: Vec<u64> = Vec::new();
        self.tests.clear();
        self.key_pairs.clear();
        for (w, (&da, &db)) in alice_det.iter().zip(bob_det).enumerate() {
            let mut both = da & db;
            stats.coincidences += u64::from(both.count_ones());
            while both != 0 {
                let i = w * 64 + both.trailing_zeros() as usize;
                both &= both - 1;
                let kind = self
                    .scheme
                    .kind(alice_choices[i], bob_choices[i])
                    .unwrap_or(RoundKind::Discard);
                match kind {
                    RoundKind::Key => {
                        if key_len.is_multiple_of(64) {
                            key_words.push(0);
                        }
                        let b = bit(&self.outcomes, i) ^ self.flip_key;
                        set_bit(&mut key_words, key_len, b);
                        key_len += 1;
                        self.key_pairs.push(i as u32);
                    }
                    RoundKind::Test => {
                        let k = self.tests.len();
                        if k.is_multiple_of(64) {
                            test_words.push(0);
                        }
                        set_bit(&mut test_words, k, bit(&self.outcomes, i));
                        self.tests.push(i as u32);
                    }
                    RoundKind::Discard => stats.discarded += 1,
                }
            }
        }
        stats.key_rounds = key_len as u64;
        stats.test_rounds = self.tests.len() as u64;
        self.stats = stats;
        self.key = BitString::from_words(key_words, key_len);
        if self.has_tests {
            self.outbox.push_back(EntangledMsg::TestOutcomes {
                batch: self.batch,
                rounds: self.tests.len(),
                outcomes: test_words,
            });
        }
    }

    /// Tallies the test rounds once both outcome lists are known.
    fn tally(&mut self) -> Result<(), SimError> {
        let (rounds, peer) = self.peer_tests.take().unwrap_or_default();
        if rounds != self.tests.len() {
            return Err(self.protocol_error("test outcome count differs from ours"));
        }
        let peer_choices = self.peer_choices.as_deref().unwrap_or_default();
        for (k, &i) in self.tests.iter().enumerate() {
            let i = i as usize;
            let own = bit(&self.outcomes, i);
            let theirs = bit(&peer, k);
            let (a, b, oa, ob) = match self.role {
                Role::Alice => (self.choices[i], peer_choices[i], own, theirs),
                Role::Bob => (peer_choices[i], self.choices[i], theirs, own),
            };
            self.correlations.record(a, b, oa, ob);
        }
        Ok(())
    }

    fn protocol_error(&self, what: &str) -> SimError {
        SimError::Protocol(format!(
            "{what} ({:?}, batch {}, phase {:?})",
            self.role, self.batch, self.phase
        ))
    }
}

/// Clears the bits past `len` in packed words.
pub(crate) fn clear_tail(words: &mut [u64], len: usize) {
    if !len.is_multiple_of(64)
        && let Some(last) = words.get_mut(len / 64)
    {
        *last &= (1u64 << (len % 64)) - 1;
    }
}
