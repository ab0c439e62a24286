//! Cascade over a long key cut into frames that run in lock-step.
//!
//! A key of a million bits can be corrected as a few frames of about 10^5 bits instead of one
//! Cascade run. The frames run in lock-step, one batch of messages per round trip, so the
//! exchange takes the round trips of its longest frame: about 800 at QBER 2% for frames of
//! 1.3e5 bits against about 1500 for one run over 10^6 bits, which halves Cascade's latency on a
//! real link. Each frame's shuffle tables, views and search trees stay small, and every frame of
//! one length shares one [`CascadePlan`]; in-process, on the development machine, 2^20 bits take
//! about the same time either way (22-25 ms). Every parity is still counted and the efficiency
//! barely changes (f = 1.034 at 10^5 bits against 1.030 at 10^6, QBER 2%).
//!
//! [`FrameLayout`] cuts `n` bits into `ceil(n / frame_bits)` consecutive frames whose lengths differ
//! by at most one bit (so at most two plans). [`FramedCorrector`] and [`FramedResponder`] wrap one
//! [`CascadeCorrector`] / [`CascadeResponder`] per frame; a batch carries one message per frame
//! still running, in frame order. A frame leaves the batch after its closing message, so both
//! ends always agree on which frames a batch addresses.

use std::sync::Arc;

use super::{CascadeCorrector, CascadeMessage, CascadePlan, CascadeResponder, CascadeStats};
use crate::bits::BitString;
use crate::distill::DistillError;

/// How a key is cut into frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameLayout {
    lengths: Vec<usize>,
}

impl FrameLayout {
    /// `n` bits in `ceil(n / frame_bits)` frames of `floor` or `ceil` of `n / frames` bits (the
    /// longer ones first).
    ///
    /// Errors: [`DistillError::EmptyKey`] if `n` is 0; [`DistillError::InvalidParameter`] if
    /// `frame_bits` is 0.
    pub fn new(n: usize, frame_bits: usize) -> Result<Self, DistillError> {
        if n == 0 {
            return Err(DistillError::EmptyKey);
        }
        if frame_bits == 0 {
            return Err(DistillError::InvalidParameter("frame length 0".into()));
        }
        let frames = n.div_ceil(frame_bits);
        let (base, longer) = (n / frames, n % frames);
        Ok(Self {
            lengths: (0..frames)
                .map(|i| base + usize::from(i < longer))
                .collect(),
        })
    }

    /// Frame lengths in key order.
    pub fn lengths(&self) -> &[usize] {
        &self.lengths
    }

    /// Total bits.
    pub fn key_len(&self) -> usize {
        self.lengths.iter().sum()
    }

    /// Checks that `plans` has one plan per frame, of the frame's length.
    fn check_plans(&self, plans: &[Arc<CascadePlan>]) -> Result<(), DistillError> {
        if plans.len() != self.lengths.len()
            || plans
                .iter()
                .zip(&self.lengths)
                .any(|(p, &len)| p.key_len() != len)
        {
            return Err(DistillError::InvalidParameter(
                "one plan of the frame's length is needed per frame".into(),
            ));
        }
        Ok(())
    }

    /// One engine per frame of `key`, made by `engine` from the frame and its plan (after
    /// checking the plans and the key length).
    fn engines<E>(
        &self,
        key: &BitString,
        plans: &[Arc<CascadePlan>],
        engine: impl Fn(BitString, Arc<CascadePlan>) -> Result<E, DistillError>,
    ) -> Result<Vec<E>, DistillError> {
        self.check_plans(plans)?;
        self.split(key)?
            .into_iter()
            .zip(plans)
            .map(|(frame, plan)| engine(frame, plan.clone()))
            .collect()
    }

    /// Cuts `key` into its frames.
    fn split(&self, key: &BitString) -> Result<Vec<BitString>, DistillError> {
        if key.len() != self.key_len() {
            return Err(DistillError::LengthMismatch {
                expected: self.key_len(),
                actual: key.len(),
            });
        }
        let mut start = 0;
        Ok(self
            .lengths
            .iter()
            .map(|&len| {
                start += len;
                key.slice(start - len, start)
            })
            .collect())
    }
}

/// Joins frame keys back into one key.
fn join(frames: Vec<BitString>) -> BitString {
    let n = frames.iter().map(BitString::len).sum();
    let mut key = BitString::with_capacity(n);
    for frame in &frames {
        key.extend_from_range(frame, 0, frame.len());
    }
    key
}

/// Sums the per-frame counters: parities and flips add up; a round trip carries every frame, so
/// the exchange's round trips are the longest frame's.
fn combine<'a>(stats: impl Iterator<Item = &'a CascadeStats>, messages: u32) -> CascadeStats {
    let mut total = CascadeStats {
        messages,
        ..CascadeStats::default()
    };
    for s in stats {
        total.key_len += s.key_len;
        total.passes = total.passes.max(s.passes);
        total.parities_disclosed += s.parities_disclosed;
        total.errors_corrected += s.errors_corrected;
        total.round_trips = total.round_trips.max(s.round_trips);
    }
    total
}

/// The correcting end of a framed exchange.
#[derive(Debug)]
pub struct FramedCorrector {
    frames: Vec<CascadeCorrector>,
    /// Frames still running, in frame order: the ones the next batch addresses.
    running: Vec<usize>,
    started: bool,
    failed: bool,
    batches: u32,
}

impl FramedCorrector {
    /// A corrector for the noisy `key` cut as `layout` says, with one plan per frame.
    ///
    /// Errors: [`DistillError::LengthMismatch`] if `key` is not the layout's length;
    /// [`DistillError::InvalidParameter`] if `plans` does not match the frames.
    pub fn new(
        key: &BitString,
        layout: &FrameLayout,
        plans: &[Arc<CascadePlan>],
    ) -> Result<Self, DistillError> {
        let frames = layout.engines(key, plans, CascadeCorrector::new)?;
        Ok(Self {
            running: (0..frames.len()).collect(),
            frames,
            started: false,
            failed: false,
            batches: 0,
        })
    }

    /// The first batch: every frame's first request. Call once.
    ///
    /// Errors: [`DistillError::InvalidState`] if already started.
    pub fn start(&mut self) -> Result<Vec<CascadeMessage>, DistillError> {
        if self.started {
            return Err(DistillError::InvalidState("cascade already started"));
        }
        self.started = true;
        let batch = self
            .frames
            .iter_mut()
            .map(CascadeCorrector::start)
            .collect::<Result<Vec<_>, _>>()?;
        self.batches += 1;
        Ok(batch)
    }

    /// Handles a batch of replies (one per running frame, in frame order) and returns the next
    /// batch. Frames whose message in it is their closing one stop running; once none runs,
    /// [`is_finished`](Self::is_finished) is true and the batch is the last.
    ///
    /// Errors: [`DistillError::Protocol`] for a batch of the wrong size, or whatever a frame's
    /// corrector reports; [`DistillError::InvalidState`] before the start, after the end or
    /// after an error.
    pub fn handle(
        &mut self,
        replies: &[CascadeMessage],
    ) -> Result<Vec<CascadeMessage>, DistillError> {
        if !self.started || self.failed || self.is_finished() {
            return Err(DistillError::InvalidState(
                "no batch of Cascade replies is expected",
            ));
        }
        let result = self.handle_inner(replies);
        self.failed = result.is_err();
        result
    }

    fn handle_inner(
        &mut self,
        replies: &[CascadeMessage],
    ) -> Result<Vec<CascadeMessage>, DistillError> {
        if replies.len() != self.running.len() {
            return Err(DistillError::Protocol(format!(
                "batch of {} Cascade replies for {} running frames",
                replies.len(),
                self.running.len()
            )));
        }
        let batch = self
            .running
            .iter()
            .zip(replies)
            .map(|(&f, reply)| self.frames[f].handle(reply))
            .collect::<Result<Vec<_>, _>>()?;
        let frames = &self.frames;
        self.running.retain(|&f| !frames[f].is_finished());
        self.batches += 2;
        Ok(batch)
    }

    /// True once every frame has sent its closing message.
    pub fn is_finished(&self) -> bool {
        self.started && self.running.is_empty()
    }

    /// The combined counters: parities and flips summed over the frames; round trips those of
    /// the longest frame (a round trip carries every frame).
    pub fn stats(&self) -> CascadeStats {
        combine(
            self.frames.iter().map(CascadeCorrector::stats),
            self.batches,
        )
    }

    /// The corrected key.
    ///
    /// Errors: [`DistillError::InvalidState`] unless [`is_finished`](Self::is_finished).
    pub fn into_key(self) -> Result<BitString, DistillError> {
        if !self.is_finished() {
            return Err(DistillError::InvalidState("cascade not finished"));
        }
        let frames = self
            .frames
            .into_iter()
            .map(CascadeCorrector::into_key)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(join(frames))
    }
}

/// The reference end of a framed exchange.
#[derive(Debug)]
pub struct FramedResponder {
    frames: Vec<CascadeResponder>,
    running: Vec<usize>,
    failed: bool,
    batches: u32,
}

impl FramedResponder {
    /// A responder for the reference `key` cut as `layout` says, with one plan per frame.
    ///
    /// Errors: as [`FramedCorrector::new`].
    pub fn new(
        key: &BitString,
        layout: &FrameLayout,
        plans: &[Arc<CascadePlan>],
    ) -> Result<Self, DistillError> {
        let frames = layout.engines(key, plans, CascadeResponder::new)?;
        Ok(Self {
            running: (0..frames.len()).collect(),
            frames,
            failed: false,
            batches: 0,
        })
    }

    /// Handles a batch from the corrector (one message per running frame, in frame order):
    /// `Some(replies)` for the frames still running, `None` once every frame has closed.
    ///
    /// Errors: [`DistillError::Protocol`] for a batch of the wrong size, or whatever a frame's
    /// responder reports; [`DistillError::InvalidState`] after the end or after an error.
    pub fn handle(
        &mut self,
        batch: &[CascadeMessage],
    ) -> Result<Option<Vec<CascadeMessage>>, DistillError> {
        if self.failed || self.is_finished() {
            return Err(DistillError::InvalidState(
                "no batch of Cascade requests is expected",
            ));
        }
        let result = self.handle_inner(batch);
        self.failed = result.is_err();
        result
    }

    fn handle_inner(
        &mut self,
        batch: &[CascadeMessage],
    ) -> Result<Option<Vec<CascadeMessage>>, DistillError> {
        if batch.len() != self.running.len() {
            return Err(DistillError::Protocol(format!(
                "batch of {} Cascade messages for {} running frames",
                batch.len(),
                self.running.len()
            )));
        }
        let mut replies = Vec::with_capacity(batch.len());
        for (&f, msg) in self.running.iter().zip(batch) {
            if let Some(reply) = self.frames[f].handle(msg)? {
                replies.push(reply);
            }
        }
        let frames = &self.frames;
        self.running.retain(|&f| !frames[f].is_finished());
        self.batches += 1;
        if replies.is_empty() {
            return Ok(None);
        }
        if replies.len() != self.running.len() {
            // A frame closed while another in the same batch did not answer: impossible with
            // the state machines above, checked for robustness.
            return Err(DistillError::Protocol("inconsistent Cascade batch".into()));
        }
        self.batches += 1;
        Ok(Some(replies))
    }

    /// True once every frame's closing message was accepted.
    pub fn is_finished(&self) -> bool {
        self.running.is_empty()
    }

    /// The combined counters; the responder's `parities_disclosed` is the authoritative leakage.
    pub fn stats(&self) -> CascadeStats {
        combine(
            self.frames.iter().map(CascadeResponder::stats),
            self.batches,
        )
    }

    /// Gives the reference key back.
    pub fn into_key(self) -> BitString {
        join(
            self.frames
                .into_iter()
                .map(CascadeResponder::into_key)
                .collect(),
        )
    }
}

/// Runs both framed state machines in one loop (as [`reconcile_in_process`](super::reconcile_in_process)
/// does for one frame).
///
/// Errors: whatever either end reports.
///
/// ```
/// use qkd_core::BitString;
/// use qkd_core::distill::cascade::{
///     CascadeConfig, CascadePlan, CascadeVariant, FrameLayout, reconcile_framed_in_process,
/// };
///
/// let n = 100_000;
/// let reference = BitString::from_bytes(&[0xa7; 12_500], n);
/// let mut noisy = reference.clone();
/// for i in (0..n).step_by(97) {
///     noisy.flip(i); // about 1% errors
/// }
/// let layout = FrameLayout::new(n, 40_000)?; // 3 frames of 33_334, 33_333, 33_333 bits
/// let config = CascadeConfig::new(CascadeVariant::Optimized, [42; 32]);
/// let plans = layout
///     .lengths()
///     .iter()
///     .map(|&len| CascadePlan::shared(&config, len, 0.01))
///     .collect::<Result<Vec<_>, _>>()?;
/// let out = reconcile_framed_in_process(reference, noisy, &layout, &plans)?;
/// assert_eq!(out.corrected, out.reference);
/// # Ok::<(), qkd_core::distill::DistillError>(())
/// ```
pub fn reconcile_framed_in_process(
    reference: BitString,
    noisy: BitString,
    layout: &FrameLayout,
    plans: &[Arc<CascadePlan>],
) -> Result<super::InProcessOutcome, DistillError> {
    let mut responder = FramedResponder::new(&reference, layout, plans)?;
    let mut corrector = FramedCorrector::new(&noisy, layout, plans)?;
    drop((reference, noisy));
    let mut batch = corrector.start()?;
    while let Some(replies) = responder.handle(&batch)? {
        batch = corrector.handle(&replies)?;
    }
    if !responder.is_finished() || !corrector.is_finished() {
        return Err(DistillError::Protocol("exchange ended early".into()));
    }
    let stats = corrector.stats();
    Ok(super::InProcessOutcome {
        reference: responder.into_key(),
        corrected: corrector.into_key()?,
        stats,
    })
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::super::{CascadeConfig, CascadeVariant, reconcile_in_process};
    use super::*;

    fn plans(layout: &FrameLayout, q: f64) -> Vec<Arc<CascadePlan>> {
        let config = CascadeConfig::new(CascadeVariant::Optimized, [5; 32]);
        layout
            .lengths()
            .iter()
            .map(|&len| CascadePlan::shared(&config, len, q).unwrap())
            .collect()
    }

    #[test]
    fn layouts_cover_the_key_with_near_equal_frames() {
        assert_eq!(FrameLayout::new(10, 3).unwrap().lengths(), &[3, 3, 2, 2]);
        assert_eq!(FrameLayout::new(10, 10).unwrap().lengths(), &[10]);
        assert_eq!(FrameLayout::new(10, 100).unwrap().lengths(), &[10]);
        for (n, f) in [(1_000_003, 131_072), (943_718, 131_072), (7, 1), (65, 64)] {
            let layout = FrameLayout::new(n, f).unwrap();
            let l = layout.lengths();
            assert_eq!(layout.key_len(), n);
            assert_eq!(l.len(), n.div_ceil(f));
            assert!(l.iter().all(|&x| x <= f && x + 1 >= l[0] && x <= l[0]));
        }
        assert_eq!(FrameLayout::new(0, 5), Err(DistillError::EmptyKey));
        assert!(matches!(
            FrameLayout::new(5, 0),
            Err(DistillError::InvalidParameter(_))
        ));
    }

    #[test]
    fn frames_correct_like_single_runs_and_count_every_parity() {
        let mut rng = StdRng::seed_from_u64(11);
        let (n, q) = (200_001, 0.03);
        let layout = FrameLayout::new(n, 70_000).unwrap(); // 3 frames of 66_667 bits
        let plans = plans(&layout, q);
        let reference = BitString::random(n, &mut rng);
        let noisy = reference.noisy_copy(q, &mut rng);
        let errors = reference.hamming_distance(&noisy) as u64;
        let out =
            reconcile_framed_in_process(reference.clone(), noisy.clone(), &layout, &plans).unwrap();
        assert_eq!(out.corrected, out.reference);
        assert_eq!(out.reference, reference);
        assert_eq!(out.stats.errors_corrected, errors);
        assert_eq!(out.stats.key_len, n);
        // The same frames run one by one disclose exactly the same parities: framing changes
        // the schedule of messages, not the protocol.
        let (mut parities, mut rounds, mut start) = (0, 0, 0);
        for (len, plan) in layout.lengths().iter().zip(&plans) {
            let single = reconcile_in_process(
                reference.slice(start, start + len),
                noisy.slice(start, start + len),
                plan.clone(),
            )
            .unwrap();
            parities += single.stats.parities_disclosed;
            rounds = rounds.max(single.stats.round_trips);
            start += len;
        }
        assert_eq!(out.stats.parities_disclosed, parities);
        assert_eq!(out.stats.round_trips, rounds);
    }

    #[test]
    fn malformed_batches_are_errors() {
        let mut rng = StdRng::seed_from_u64(12);
        let n = 5_000;
        let layout = FrameLayout::new(n, 2_000).unwrap();
        let plans = plans(&layout, 0.02);
        let key = BitString::random(n, &mut rng);
        let noisy = key.noisy_copy(0.02, &mut rng);
        let mut corrector = FramedCorrector::new(&noisy, &layout, &plans).unwrap();
        assert!(matches!(
            corrector.handle(&[]),
            Err(DistillError::InvalidState(_))
        ));
        let batch = corrector.start().unwrap();
        assert_eq!(batch.len(), 3);
        let mut responder = FramedResponder::new(&key, &layout, &plans).unwrap();
        assert!(matches!(
            responder.handle(&batch[..2]),
            Err(DistillError::Protocol(_))
        ));
        // A failed responder stays failed.
        assert!(matches!(
            responder.handle(&batch),
            Err(DistillError::InvalidState(_))
        ));
        let mut responder = FramedResponder::new(&key, &layout, &plans).unwrap();
        let replies = responder.handle(&batch).unwrap().unwrap();
        assert!(matches!(
            corrector.handle(&replies[1..]),
            Err(DistillError::Protocol(_))
        ));
        // Wrong plans or key lengths.
        assert!(FramedCorrector::new(&noisy, &layout, &plans[..2]).is_err());
        assert!(FramedResponder::new(&key.slice(0, n - 1), &layout, &plans).is_err());
    }
}
