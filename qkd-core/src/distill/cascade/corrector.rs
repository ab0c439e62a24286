//! [`CascadeCorrector`]: the end holding the noisy key; it asks for parities and flips bits.

use std::sync::Arc;

use super::messages::{CascadeDone, CascadeMessage, ParityRange, ParityRequest};
use super::plan::{ParityWriter, Views};
use super::tree::{Node, PassTree};
use super::{CascadePlan, CascadeStats};
use crate::bits::BitString;
use crate::distill::DistillError;

/// The correcting end of Cascade. See the [module notes](super).
pub struct CascadeCorrector {
    plan: Arc<CascadePlan>,
    key: BitString,
    views: Views,
    trees: Vec<PassTree>,
    /// Blocks to (re)examine, per pass, and a membership bitmap to avoid duplicates.
    queue: Vec<Vec<u32>>,
    queued: Vec<Vec<u64>>,
    /// Searches awaiting the parity of their node's left child: (pass, node).
    active: Vec<(usize, Node)>,
    /// The previous round's `active` buffer, kept for reuse.
    spare: Vec<(usize, Node)>,
    /// Empty block lists kept for reuse by `schedule`.
    spare_blocks: Vec<u32>,
    deferred: Vec<u32>,
    /// Per pass: blocks with an active search (bitmap).
    busy: Vec<Vec<u64>>,
    /// Parities asked in the outstanding request.
    asked: u32,
    /// The responder's top-level parities of every pass, in pass then block order, as received
    /// in round 1 (public: they were sent in the clear).
    block_parities: Vec<u64>,
    /// Index of the first top-level parity of each pass in `block_parities`.
    block_offsets: Vec<usize>,
    /// Passes `0..reached` are live: their views and trees follow every flip. A pass is
    /// reached when every lower pass is settled; only then are its own top-level parities
    /// computed, from the key as corrected so far, so the flips made before cost it nothing.
    reached: usize,
    stats: CascadeStats,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    New,
    AwaitBlocks,
    AwaitSearch,
    Finished,
    Failed,
}

impl std::fmt::Debug for CascadeCorrector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CascadeCorrector")
            .field("key", &self.key)
            .field("state", &self.state)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl CascadeCorrector {
    /// A corrector for the noisy `key` under `plan`.
    ///
    /// Errors: [`DistillError::EmptyKey`]; [`DistillError::LengthMismatch`] if the key length is
    /// not the plan's.
    pub fn new(key: BitString, plan: Arc<CascadePlan>) -> Result<Self, DistillError> {
        plan.check_key(&key)?;
        let n = key.len();
        let passes = plan.passes();
        let trees = (0..passes)
            .map(|p| {
                let pass = plan.pass(p);
                PassTree::new(n, pass.block_size, pass.blocks)
            })
            .collect();
        let queued: Vec<Vec<u64>> = (0..passes)
            .map(|p| vec![0u64; plan.pass(p).blocks.div_ceil(64)])
            .collect();
        let stats = CascadeStats {
            key_len: n,
            passes,
            ..CascadeStats::default()
        };
        Ok(Self {
            views: Views::new(passes),
            trees,
            queue: vec![Vec::new(); passes],
            busy: queued.clone(),
            queued,
            active: Vec::new(),
            spare: Vec::new(),
            spare_blocks: Vec::new(),
            deferred: Vec::new(),
            asked: 0,
            block_parities: Vec::new(),
            block_offsets: Vec::new(),
            reached: 0,
            plan,
            key,
            stats,
            state: State::New,
        })
    }

    /// The first message: the top-level parities of every pass. Call once.
    ///
    /// Errors: [`DistillError::InvalidState`] if already started.
    pub fn start(&mut self) -> Result<CascadeMessage, DistillError> {
        if self.state != State::New {
            return Err(DistillError::InvalidState("cascade already started"));
        }
        let passes = self.plan.passes();
        self.asked = (0..passes).map(|p| self.plan.pass(p).blocks as u32).sum();
        self.state = State::AwaitBlocks;
        Ok(self.request((0..passes as u16).collect(), Vec::new()))
    }

    /// Handles the responder's reply and returns the next message: another request, or the
    /// closing [`CascadeMessage::Done`] once no odd block is left (then
    /// [`is_finished`](Self::is_finished) is true).
    ///
    /// Errors: [`DistillError::Protocol`] for a reply from another plan, for another round, with
    /// the wrong number of parities, or a message that is not a reply; also if the replies are
    /// inconsistent enough to make the corrector flip more bits than the key has (forged
    /// parities). [`DistillError::InvalidState`] when no reply is expected. After an error the
    /// corrector stays failed.
    pub fn handle(&mut self, msg: &CascadeMessage) -> Result<CascadeMessage, DistillError> {
        match self.state {
            State::AwaitBlocks | State::AwaitSearch => {}
            State::New => return Err(DistillError::InvalidState("cascade not started")),
            State::Finished => return Err(DistillError::InvalidState("cascade already finished")),
            State::Failed => return Err(DistillError::InvalidState("cascade failed earlier")),
        }
        let result = self.handle_inner(msg);
        if result.is_err() {
            self.state = State::Failed;
        }
        result
    }

    /// True once the closing message has been emitted.
    pub fn is_finished(&self) -> bool {
        self.state == State::Finished
    }

    /// The corrector's counters.
    pub fn stats(&self) -> &CascadeStats {
        &self.stats
    }

    /// The corrected key.
    ///
    /// Errors: [`DistillError::InvalidState`] unless [`is_finished`](Self::is_finished).
    pub fn into_key(self) -> Result<BitString, DistillError> {
        if self.state != State::Finished {
            return Err(DistillError::InvalidState("cascade not finished"));
        }
        Ok(self.key)
    }

    fn request(&mut self, block_passes: Vec<u16>, ranges: Vec<ParityRange>) -> CascadeMessage {
        self.stats.round_trips += 1;
        self.stats.messages += 2;
        self.stats.parities_disclosed += u64::from(self.asked);
        CascadeMessage::Request(ParityRequest {
            session: self.plan.digest(),
            round: self.stats.round_trips,
            block_passes,
            ranges,
        })
    }

    fn handle_inner(&mut self, msg: &CascadeMessage) -> Result<CascadeMessage, DistillError> {
        let CascadeMessage::Reply(reply) = msg else {
            return Err(DistillError::Protocol("expected a parity reply".into()));
        };
        if reply.session != self.plan.digest() {
            return Err(DistillError::Protocol("reply from another plan".into()));
        }
        if reply.round != self.stats.round_trips {
            return Err(DistillError::Protocol(format!(
                "reply for round {} while expecting round {}",
                reply.round, self.stats.round_trips
            )));
        }
        if reply.count != self.asked || reply.parities.len() != (self.asked as usize).div_ceil(64) {
            return Err(DistillError::Protocol(format!(
                "reply carries {} parities in {} words; {} were asked",
                reply.count,
                reply.parities.len(),
                self.asked
            )));
        }
        if self.state == State::AwaitBlocks {
            self.learn_blocks(&reply.parities);
        } else {
            self.advance_searches(|i| reply.bit(i))?;
        }
        self.schedule()?;
        if self.active.is_empty() {
            self.state = State::Finished;
            self.stats.messages += 1;
            return Ok(CascadeMessage::Done(CascadeDone {
                session: self.plan.digest(),
                rounds: self.stats.round_trips,
                parities: self.stats.parities_disclosed,
            }));
        }
        self.state = State::AwaitSearch;
        let ranges: Vec<ParityRange> = self
            .active
            .iter()
            .map(|&(p, node)| ParityRange {
                pass: p as u16,
                start: node.lo as u32,
                end: node.mid() as u32,
            })
            .collect();
        self.asked = ranges.len() as u32;
        Ok(self.request(Vec::new(), ranges))
    }

    /// Round 1: keeps the responder's top-level parities of every pass for when each pass is
    /// reached.
    fn learn_blocks(&mut self, parities: &[u64]) {
        self.block_parities = parities.to_vec();
        let mut offset = 0;
        self.block_offsets = (0..self.plan.passes())
            .map(|p| {
                let at = offset;
                offset += self.plan.pass(p).blocks;
                at
            })
            .collect();
    }

    /// Makes the next pass live: compares its top-level parities, taken from the key as
    /// corrected so far, with the responder's, and queues its odd blocks.
    fn reach_next(&mut self) {
        let p = self.reached;
        self.reached += 1;
        let blocks = self.plan.pass(p).blocks;
        let offset = self.block_offsets[p];
        let mut parities = ParityWriter::sized(blocks);
        self.views
            .block_parities(&self.plan, p, &self.key, &mut parities);
        // Odd flags gathered in words, then the odd blocks queued in order: which blocks are
        // odd is random, and a branch on each would be mispredicted about half the time.
        let mut odd_blocks = vec![0u64; blocks.div_ceil(64)];
        for b in 0..blocks {
            let local = parities.get(b);
            let i = offset + b;
            let odd = local ^ ((self.block_parities[i / 64] >> (i % 64)) & 1 == 1);
            let root = self.trees[p].root(b);
            self.trees[p].learn(&root, odd);
            odd_blocks[b / 64] |= u64::from(odd) << (b % 64);
        }
        for (w, &word) in odd_blocks.iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                self.enqueue(p, w * 64 + bits.trailing_zeros() as usize);
                bits &= bits - 1;
            }
        }
    }

    /// Later rounds: the parity of each active search's left child.
    fn advance_searches(&mut self, bit: impl Fn(usize) -> bool) -> Result<(), DistillError> {
        // Swap in the spare buffer: `descend` pushes the next round's searches onto `active`.
        let mut searches = std::mem::replace(&mut self.active, std::mem::take(&mut self.spare));
        for (i, &(p, node)) in searches.iter().enumerate() {
            let left = node.left();
            let local = self
                .views
                .range_parity(&self.plan, p, &self.key, left.lo, left.hi);
            let tree = &mut self.trees[p];
            let left_odd = local ^ bit(i);
            // A flip made earlier in this round may have changed the node; its children's
            // responder parities are facts regardless, and `diff` stays consistent.
            let node_odd = tree.is_odd(&node);
            tree.learn_children(&node, left_odd, node_odd ^ left_odd);
            if node_odd {
                // Exactly one child is odd: continue the search there. Usually its children are
                // unknown: it is the next search step, and the block stays busy.
                let child = node.child(!left_odd);
                if !child.is_leaf() && !tree.is_known(&child.left()) {
                    self.active.push((p, child));
                    continue;
                }
                self.set_busy(p, node.block, false);
                self.descend(p, child)?;
            } else {
                self.set_busy(p, node.block, false);
                if self.trees[p].has_odd(node.block) {
                    self.enqueue(p, node.block);
                }
            }
        }
        searches.clear();
        self.spare = searches;
        Ok(())
    }

    /// From a known odd node, descends through known children; flips the bit if it reaches a
    /// leaf, or makes the node with unknown children an active search. Inlined: called out of
    /// line, the node it is given went through the stack, and queueing it right after stalled
    /// on the store.
    #[inline(always)]
    fn descend(&mut self, p: usize, mut node: Node) -> Result<(), DistillError> {
        loop {
            if node.is_leaf() {
                let x = self.plan.pass(p).original(node.lo);
                self.flip(x)?;
                // Another odd sub-block may remain in this block.
                if self.trees[p].has_odd(node.block) {
                    self.enqueue(p, node.block);
                }
                return Ok(());
            }
            let left = node.left();
            let tree = &self.trees[p];
            if !tree.is_known(&left) {
                self.set_busy(p, node.block, true);
                self.active.push((p, node));
                return Ok(());
            }
            node = node.child(!tree.is_odd(&left));
        }
    }

    fn flip(&mut self, x: usize) -> Result<(), DistillError> {
        if self.stats.errors_corrected >= self.key.len() as u64 {
            return Err(DistillError::Protocol(
                "inconsistent parities: more flips than key bits".into(),
            ));
        }
        self.stats.errors_corrected += 1;
        self.key.flip(x);
        let n = self.key.len();
        for p in 0..self.reached {
            let q = self.plan.pass(p).forward(x);
            self.views.flip_at(p, q, n);
            let (b, odd) = self.trees[p].flip(q);
            if odd {
                self.enqueue(p, b);
            }
        }
        Ok(())
    }

    fn set_busy(&mut self, p: usize, b: usize, busy: bool) {
        let (w, m) = (b / 64, 1u64 << (b % 64));
        if busy {
            self.busy[p][w] |= m;
        } else {
            self.busy[p][w] &= !m;
        }
    }

    fn is_busy(&self, p: usize, b: usize) -> bool {
        self.busy[p][b / 64] & (1u64 << (b % 64)) != 0
    }

    fn enqueue(&mut self, p: usize, b: usize) {
        let (w, m) = (b / 64, 1u64 << (b % 64));
        if self.queued[p][w] & m == 0 {
            self.queued[p][w] |= m;
            self.queue[p].push(b as u32);
        }
    }

    /// Starts new searches. Cascade's order is kept: the lowest pass `m` that has an active
    /// search or a queued block is served; its queued blocks without an active search start now
    /// (searches running in higher passes continue meanwhile: that is the "cascade" of a flip
    /// into the earlier passes); higher passes wait until every lower pass is settled, because
    /// correcting the lower passes may make their blocks even. When every live pass is settled,
    /// the next pass is reached.
    fn schedule(&mut self) -> Result<(), DistillError> {
        loop {
            let lowest_active = self.active.iter().map(|&(p, _)| p).min();
            let lowest_queued = self.queue.iter().position(|q| !q.is_empty());
            let p = match (lowest_active, lowest_queued) {
                (None, None) if self.reached < self.plan.passes() => {
                    self.reach_next();
                    continue;
                }
                (_, None) => return Ok(()),
                (Some(a), Some(q)) if a < q => return Ok(()),
                (_, Some(q)) => q,
            };
            // Take the queue, leaving an empty buffer kept from earlier rounds in its place.
            let mut blocks =
                std::mem::replace(&mut self.queue[p], std::mem::take(&mut self.spare_blocks));
            let mut deferred = std::mem::take(&mut self.deferred);
            for &b in &blocks {
                let b = b as usize;
                if self.is_busy(p, b) {
                    deferred.push(b as u32);
                } else {
                    self.queued[p][b / 64] &= !(1u64 << (b % 64));
                }
            }
            for &b in &blocks {
                let b = b as usize;
                if self.is_busy(p, b) {
                    continue;
                }
                if let Some(node) = self.trees[p].find_odd(b) {
                    self.descend(p, node)?;
                }
            }
            let progressed = deferred.len() < blocks.len();
            self.queue[p].extend_from_slice(&deferred);
            blocks.clear();
            deferred.clear();
            (self.spare_blocks, self.deferred) = (blocks, deferred);
            if !progressed {
                // Only blocks with a running search are queued here: wait for their replies.
                return Ok(());
            }
        }
    }
}
