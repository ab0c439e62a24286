//! [`CascadeResponder`]: the end holding the reference key; it answers parity requests.

use std::sync::Arc;

use super::messages::{CascadeMessage, ParityReply};
use super::plan::{ParityWriter, Views};
use super::{CascadePlan, CascadeStats};
use crate::bits::BitString;
use crate::distill::DistillError;

/// The reference end of Cascade. See the [module notes](super).
pub struct CascadeResponder {
    plan: Arc<CascadePlan>,
    key: BitString,
    views: Views,
    stats: CascadeStats,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Serving,
    Finished,
    Failed,
}

impl std::fmt::Debug for CascadeResponder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CascadeResponder")
            .field("key", &self.key)
            .field("state", &self.state)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl CascadeResponder {
    /// A responder for `key` under `plan`.
    ///
    /// Errors: [`DistillError::EmptyKey`]; [`DistillError::LengthMismatch`] if the key length is
    /// not the plan's.
    pub fn new(key: BitString, plan: Arc<CascadePlan>) -> Result<Self, DistillError> {
        plan.check_key(&key)?;
        let stats = CascadeStats {
            key_len: key.len(),
            passes: plan.passes(),
            ..CascadeStats::default()
        };
        Ok(Self {
            views: Views::new(plan.passes()),
            plan,
            key,
            stats,
            state: State::Serving,
        })
    }

    /// Handles one message from the corrector: a request gets `Some(reply)`; the closing
    /// message gets `None` and finishes the exchange.
    ///
    /// Errors: [`DistillError::Protocol`] for a message from another plan, out of order,
    /// malformed (unknown pass, empty or out-of-range range, duplicate pass), a reply (only the
    /// corrector receives those), or a closing message whose counts differ from the
    /// responder's; [`DistillError::InvalidState`] after the exchange finished or failed. After
    /// an error the responder stays failed.
    pub fn handle(&mut self, msg: &CascadeMessage) -> Result<Option<CascadeMessage>, DistillError> {
        match self.state {
            State::Serving => {}
            State::Finished => return Err(DistillError::InvalidState("cascade already finished")),
            State::Failed => return Err(DistillError::InvalidState("cascade failed earlier")),
        }
        let result = self.handle_inner(msg);
        if result.is_err() {
            self.state = State::Failed;
        }
        result
    }

    fn handle_inner(
        &mut self,
        msg: &CascadeMessage,
    ) -> Result<Option<CascadeMessage>, DistillError> {
        let digest = self.plan.digest();
        match msg {
            CascadeMessage::Request(req) => {
                if req.session != digest {
                    return Err(DistillError::Protocol("request from another plan".into()));
                }
                if req.round != self.stats.round_trips + 1 {
                    return Err(DistillError::Protocol(format!(
                        "request for round {} while expecting round {}",
                        req.round,
                        self.stats.round_trips + 1
                    )));
                }
                let (passes, n) = (self.plan.passes(), self.plan.key_len());
                let mut seen = if req.block_passes.is_empty() {
                    Vec::new()
                } else {
                    vec![false; passes]
                };
                for &p in &req.block_passes {
                    let p = p as usize;
                    if p >= passes || std::mem::replace(&mut seen[p], true) {
                        return Err(DistillError::Protocol(format!(
                            "bad or repeated pass {p} in block request"
                        )));
                    }
                }
                if req.ranges.len() > n {
                    return Err(DistillError::Protocol("too many ranges".into()));
                }
                let count: usize = req
                    .block_passes
                    .iter()
                    .map(|&p| self.plan.pass(p as usize).blocks)
                    .sum::<usize>()
                    + req.ranges.len();
                let mut out = ParityWriter::sized(count);
                for &p in &req.block_passes {
                    self.views
                        .block_parities(&self.plan, p as usize, &self.key, &mut out);
                }
                // Each range is checked as it is answered; a bad one fails the whole request
                // (the parities computed so far are dropped unsent).
                for r in &req.ranges {
                    let (p, lo, hi) = (r.pass as usize, r.start as usize, r.end as usize);
                    if p >= passes || lo >= hi || hi > n {
                        return Err(DistillError::Protocol(format!(
                            "bad range {}..{} in pass {}",
                            r.start, r.end, r.pass
                        )));
                    }
                    out.push(self.views.range_parity(&self.plan, p, &self.key, lo, hi));
                }
                let count = u32::try_from(out.len)
                    .map_err(|_| DistillError::Protocol("reply too large".into()))?;
                self.stats.round_trips += 1;
                self.stats.messages += 2;
                self.stats.parities_disclosed += u64::from(count);
                Ok(Some(CascadeMessage::Reply(ParityReply {
                    session: digest,
                    round: req.round,
                    count,
                    parities: out.words,
                })))
            }
            CascadeMessage::Done(done) => {
                if done.session != digest
                    || done.rounds != self.stats.round_trips
                    || done.parities != self.stats.parities_disclosed
                {
                    return Err(DistillError::Protocol(format!(
                        "closing counts ({} rounds, {} parities) differ from ours ({}, {})",
                        done.rounds,
                        done.parities,
                        self.stats.round_trips,
                        self.stats.parities_disclosed
                    )));
                }
                self.stats.messages += 1;
                self.state = State::Finished;
                Ok(None)
            }
            CascadeMessage::Reply(_) => Err(DistillError::Protocol(
                "the responder does not accept replies".into(),
            )),
        }
    }

    /// True once the corrector's closing message was accepted.
    pub fn is_finished(&self) -> bool {
        self.state == State::Finished
    }

    /// The responder's counters (its `parities_disclosed` is the authoritative leakage).
    pub fn stats(&self) -> &CascadeStats {
        &self.stats
    }

    /// Gives the reference key back.
    pub fn into_key(self) -> BitString {
        self.key
    }
}
