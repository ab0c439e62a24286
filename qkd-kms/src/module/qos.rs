//! QoS negotiation for OPEN_CONNECT: grant the request or build a counter-proposal (status 7).

use qkd_core::Qos;

use super::ModuleConfig;
use super::schedule::{max_gap, spread};

/// The outcome of negotiating a requested QoS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Negotiated {
    /// The request can be met with these slots of the link schedule.
    Granted {
        /// The QoS granted (the request, unchanged).
        qos: Qos,
        /// The slots to claim.
        slots: Vec<u32>,
    },
    /// The request cannot be met; the counter-proposal can (if slots stay free).
    CounterProposal(Qos),
}

/// What the link offers when a stream is negotiated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkOffer<'a> {
    /// Secret-key rate of the link in bits per second, if known.
    pub rate_bps: Option<f64>,
    /// Bits per delivered block (0 if unknown).
    pub block_bits: u64,
    /// Slots of the link schedule.
    pub slot_count: u32,
    /// Free slots this module may claim, lowest first.
    pub free: &'a [u32],
}

impl LinkOffer<'_> {
    /// Bits per second one slot carries.
    fn per_slot_bps(&self) -> Option<f64> {
        self.rate_bps
            .filter(|r| r.is_finite() && *r > 0.0)
            .map(|r| r / f64::from(self.slot_count.max(1)))
    }

    /// Milliseconds between two blocks of the link.
    fn block_period_ms(&self) -> Option<f64> {
        let rate = self.rate_bps.filter(|r| r.is_finite() && *r > 0.0)?;
        (self.block_bits > 0).then(|| self.block_bits as f64 / rate * 1000.0)
    }

    /// The longest wait between two key deliveries to a stream owning `slots`, in milliseconds.
    fn delivery_gap_ms(&self, slots: &[u32]) -> Option<f64> {
        Some(f64::from(max_gap(slots, self.slot_count)) * self.block_period_ms()?)
    }
}

fn saturate(x: f64) -> u32 {
    if x >= f64::from(u32::MAX) {
        u32::MAX
    } else if x > 0.0 {
        x as u32
    } else {
        0
    }
}

/// Negotiates `requested` given the module's configuration and what the link offers.
///
/// Rules (each failed rule adjusts the counter-proposal; any failure means status 7):
/// * `key_chunk_size` must be in `1..=max_chunk_size` (0 -> the default size; too big -> the
///   maximum);
/// * `metadata_mimetype` must be supported (-> the first supported type);
/// * `timeout` must not exceed `max_timeout_ms` (-> the maximum);
/// * `ttl` must not exceed `max_ttl_s` (-> the maximum);
/// * `max_bps`, if non-zero, must be at least `min_bps` (-> `max_bps = min_bps`);
/// * `min_bps` must be deliverable by the stream's own slots: each slot carries
///   `rate / slot_count` bits per second, so the stream needs `ceil(min_bps / (rate / slot_count))`
///   slots, at most the free ones (-> the rate the free slots deliver, rounded down). With an
///   unknown rate only `min_bps = 0` can be granted.
/// * `jitter`, if non-zero, is the longest wait in milliseconds between two deliveries of key the
///   stream accepts. Its own slots, spread evenly over the schedule, bound that wait by
///   `max_gap(slots) * block_bits / rate`; more slots are taken until the bound is met, and if even
///   all free slots cannot meet it the counter-proposal carries the best bound (rounded up). With
///   an unknown rate or block size only `jitter = 0` (no bound) can be granted.
///
/// A granted stream owns the slots `min_bps` and `jitter` need (at least one), or more up to
/// `max_bps` when `max_bps` is non-zero. A stream with `max_bps = 0` is *elastic*: on top of its
/// own slots it takes spare blocks of the link by `priority` (see [`schedule`](super::schedule)).
pub fn negotiate(requested: &Qos, config: &ModuleConfig, link: LinkOffer<'_>) -> Negotiated {
    let mut counter = requested.clone();
    let mut met = true;
    if requested.key_chunk_size == 0 {
        counter.key_chunk_size = config.default_chunk_size.min(config.max_chunk_size).max(1);
        met = false;
    } else if requested.key_chunk_size > config.max_chunk_size {
        counter.key_chunk_size = config.max_chunk_size;
        met = false;
    }
    if !config
        .supported_mimetypes
        .iter()
        .any(|m| m == &requested.metadata_mimetype)
    {
        counter.metadata_mimetype = config
            .supported_mimetypes
            .first()
            .cloned()
            .unwrap_or_else(|| "application/json".to_owned());
        met = false;
    }
    if requested.timeout > config.max_timeout_ms {
        counter.timeout = config.max_timeout_ms;
        met = false;
    }
    if requested.ttl > config.max_ttl_s {
        counter.ttl = config.max_ttl_s;
        met = false;
    }
    if requested.max_bps != 0 && requested.max_bps < requested.min_bps {
        counter.max_bps = requested.min_bps;
        met = false;
    }
    let free = link.free.len() as u32;
    let per_slot = link.per_slot_bps();
    let needed = |bps: u32| -> Option<u32> {
        if bps == 0 {
            return Some(1);
        }
        Some(saturate((f64::from(bps) / per_slot?).ceil()).max(1))
    };
    let mut min_slots = match needed(requested.min_bps) {
        Some(n) if n <= free => n,
        _ => {
            counter.min_bps = saturate(per_slot.map_or(0.0, |p| (p * f64::from(free)).floor()));
            met = false;
            1
        }
    };
    if requested.jitter != 0 {
        let fits = |n: u32| {
            link.delivery_gap_ms(&spread(link.free, n as usize, link.slot_count))
                .is_some_and(|gap| gap <= f64::from(requested.jitter))
        };
        match (min_slots..=free.max(min_slots)).find(|n| fits(*n)) {
            Some(n) => min_slots = n,
            None => {
                counter.jitter = link
                    .delivery_gap_ms(&spread(link.free, free as usize, link.slot_count))
                    .map_or(0, |gap| saturate(gap.ceil()));
                met = false;
            }
        }
    }
    if !met {
        return Negotiated::CounterProposal(counter);
    }
    let count = if requested.max_bps != 0 {
        needed(requested.max_bps)
            .unwrap_or(min_slots)
            .clamp(min_slots, free.max(min_slots))
    } else {
        min_slots
    };
    Negotiated::Granted {
        qos: requested.clone(),
        slots: spread(link.free, count as usize, link.slot_count),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ModuleConfig {
        ModuleConfig::default()
    }

    /// The first `n` even slots of 16 are free.
    fn free(n: u32) -> Vec<u32> {
        (0..n).map(|i| 2 * i).collect()
    }

    fn offer(rate: Option<f64>, free: &[u32]) -> LinkOffer<'_> {
        LinkOffer {
            rate_bps: rate,
            block_bits: 1000,
            slot_count: 16,
            free,
        }
    }

    #[test]
    fn default_qos_is_granted_one_slot() {
        match negotiate(&Qos::default(), &config(), offer(None, &free(8))) {
            Negotiated::Granted { slots, .. } => assert_eq!(slots, vec![0]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_fields_get_counter_proposals() {
        let cfg = config();
        let slots = free(8);
        type Check = Box<dyn Fn(&Qos) -> bool>;
        let cases: Vec<(Qos, Check)> = vec![
            (
                Qos {
                    key_chunk_size: 0,
                    ..Qos::default()
                },
                Box::new(|c: &Qos| c.key_chunk_size == 32),
            ),
            (
                Qos {
                    key_chunk_size: u32::MAX,
                    ..Qos::default()
                },
                Box::new(move |c: &Qos| c.key_chunk_size == ModuleConfig::default().max_chunk_size),
            ),
            (
                Qos {
                    metadata_mimetype: "text/x-nope".into(),
                    ..Qos::default()
                },
                Box::new(|c: &Qos| c.metadata_mimetype == "application/json"),
            ),
            (
                Qos {
                    timeout: u32::MAX,
                    ..Qos::default()
                },
                Box::new(move |c: &Qos| c.timeout == ModuleConfig::default().max_timeout_ms),
            ),
            (
                Qos {
                    ttl: u32::MAX,
                    ..Qos::default()
                },
                Box::new(move |c: &Qos| c.ttl == ModuleConfig::default().max_ttl_s),
            ),
            (
                Qos {
                    min_bps: 100,
                    max_bps: 10,
                    ..Qos::default()
                },
                Box::new(|c: &Qos| c.max_bps == 100),
            ),
        ];
        for (req, check) in cases {
            match negotiate(&req, &cfg, offer(Some(1.0e6), &slots)) {
                Negotiated::CounterProposal(c) => {
                    assert!(check(&c), "bad counter-proposal {c:?} for {req:?}");
                    // The counter-proposal itself is granted.
                    assert!(matches!(
                        negotiate(&c, &cfg, offer(Some(1.0e6), &slots)),
                        Negotiated::Granted { .. }
                    ));
                }
                other => panic!("{req:?} granted: {other:?}"),
            }
        }
    }

    #[test]
    fn min_bps_is_checked_against_free_slots() {
        let cfg = config();
        // 16 slots at 1600 bit/s: 100 bit/s per slot; 3 free slots deliver 300 bit/s.
        let three = free(3);
        let req = Qos {
            min_bps: 250,
            ..Qos::default()
        };
        assert_eq!(
            negotiate(&req, &cfg, offer(Some(1600.0), &three)),
            Negotiated::Granted {
                qos: req.clone(),
                slots: vec![0, 2, 4]
            }
        );
        let req = Qos {
            min_bps: 301,
            ..Qos::default()
        };
        match negotiate(&req, &cfg, offer(Some(1600.0), &three)) {
            Negotiated::CounterProposal(c) => assert_eq!(c.min_bps, 300),
            other => panic!("{other:?}"),
        }
        // Unknown rate: only min_bps = 0 can be promised.
        let req = Qos {
            min_bps: 1,
            ..Qos::default()
        };
        match negotiate(&req, &cfg, offer(None, &free(8))) {
            Negotiated::CounterProposal(c) => assert_eq!(c.min_bps, 0),
            other => panic!("{other:?}"),
        }
        // max_bps asks for more slots, capped by the free ones.
        let four = free(4);
        let req = Qos {
            min_bps: 100,
            max_bps: 1000,
            ..Qos::default()
        };
        assert_eq!(
            negotiate(&req, &cfg, offer(Some(1600.0), &four)),
            Negotiated::Granted {
                qos: req.clone(),
                slots: vec![0, 2, 4, 6]
            }
        );
    }

    #[test]
    fn jitter_takes_evenly_spread_slots_or_counter_proposes_the_best_bound() {
        let cfg = config();
        let all = free(8);
        // 1000-bit blocks at 16 000 bit/s: one block every 62.5 ms. One slot of 16 delivers every
        // 1000 ms, two opposite slots every 500 ms, eight every 125 ms.
        let with_jitter = |ms| Qos {
            jitter: ms,
            ..Qos::default()
        };
        let slots = |q: &Qos, free: &[u32]| match negotiate(q, &cfg, offer(Some(16_000.0), free)) {
            Negotiated::Granted { slots, .. } => Ok(slots),
            Negotiated::CounterProposal(c) => Err(c.jitter),
        };
        assert_eq!(slots(&with_jitter(1000), &all), Ok(vec![0]));
        assert_eq!(slots(&with_jitter(999), &all), Ok(vec![0, 8]));
        assert_eq!(slots(&with_jitter(250), &all), Ok(vec![0, 4, 8, 12]));
        assert_eq!(slots(&with_jitter(125), &all).map(|s| s.len()), Ok(8));
        // Every other slot is the best one direction can do: 125 ms.
        assert_eq!(slots(&with_jitter(100), &all), Err(125));
        // With only slots 0 and 2 free the longest gap is 14 blocks = 875 ms.
        assert_eq!(slots(&with_jitter(500), &free(2)), Err(875));
        // Unknown rate: no bound can be promised.
        match negotiate(&with_jitter(10), &cfg, offer(None, &all)) {
            Negotiated::CounterProposal(c) => assert_eq!(c.jitter, 0),
            other => panic!("{other:?}"),
        }
    }
}
