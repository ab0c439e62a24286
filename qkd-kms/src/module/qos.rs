//! QoS negotiation for OPEN_CONNECT: grant the request or build a counter-proposal (status 7).

use qkd_core::Qos;

use super::ModuleConfig;

/// The outcome of negotiating a requested QoS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Negotiated {
    /// The request can be met with `slots` slots of the link schedule.
    Granted {
        /// The QoS granted (the request, unchanged).
        qos: Qos,
        /// Number of slots to claim.
        slots: u32,
    },
    /// The request cannot be met; the counter-proposal can (if slots stay free).
    CounterProposal(Qos),
}

/// Negotiates `requested` given the module's configuration, the link's secret-key rate (if known),
/// the slot count `slot_count` of the schedule and the `free` slots this module may claim.
///
/// Rules (each failed rule adjusts the counter-proposal; any failure means status 7):
/// * `key_chunk_size` must be in `1..=max_chunk_size` (0 -> the default size; too big -> the
///   maximum);
/// * `metadata_mimetype` must be supported (-> the first supported type);
/// * `timeout` must not exceed `max_timeout_ms` (-> the maximum);
/// * `max_bps`, if non-zero, must be at least `min_bps` (-> `max_bps = min_bps`);
/// * `min_bps` must be deliverable: each slot carries `rate / slot_count` bits per second, so the
///   stream needs `ceil(min_bps / (rate / slot_count))` slots, at most `free` (-> the rate `free`
///   slots deliver, rounded down). With an unknown rate only `min_bps = 0` can be granted.
///
/// A granted stream takes the slots `min_bps` needs (at least one), or more up to `max_bps` when
/// `max_bps` is non-zero, never more than `free`.
pub fn negotiate(
    requested: &Qos,
    config: &ModuleConfig,
    rate_bps: Option<f64>,
    slot_count: u32,
    free: u32,
) -> Negotiated {
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
    if requested.max_bps != 0 && requested.max_bps < requested.min_bps {
        counter.max_bps = requested.min_bps;
        met = false;
    }
    let per_slot = rate_bps
        .filter(|r| r.is_finite() && *r > 0.0)
        .map(|r| r / f64::from(slot_count.max(1)));
    let needed = |bps: u32| -> Option<u32> {
        if bps == 0 {
            return Some(1);
        }
        let per_slot = per_slot?;
        let n = (f64::from(bps) / per_slot).ceil();
        Some(if n > f64::from(u32::MAX) {
            u32::MAX
        } else {
            (n as u32).max(1)
        })
    };
    let min_slots = match needed(requested.min_bps) {
        Some(n) if n <= free => n,
        _ => {
            let deliverable = per_slot.map_or(0.0, |p| (p * f64::from(free)).floor());
            counter.min_bps = if deliverable >= f64::from(u32::MAX) {
                u32::MAX
            } else {
                deliverable as u32
            };
            met = false;
            1
        }
    };
    if !met {
        return Negotiated::CounterProposal(counter);
    }
    let slots = if requested.max_bps != 0 {
        needed(requested.max_bps)
            .unwrap_or(min_slots)
            .clamp(min_slots, free.max(min_slots))
    } else {
        min_slots
    };
    Negotiated::Granted {
        qos: requested.clone(),
        slots,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ModuleConfig {
        ModuleConfig::default()
    }

    #[test]
    fn default_qos_is_granted_one_slot() {
        match negotiate(&Qos::default(), &config(), None, 16, 8) {
            Negotiated::Granted { slots, .. } => assert_eq!(slots, 1),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_fields_get_counter_proposals() {
        let cfg = config();
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
                    min_bps: 100,
                    max_bps: 10,
                    ..Qos::default()
                },
                Box::new(|c: &Qos| c.max_bps == 100),
            ),
        ];
        for (req, check) in cases {
            match negotiate(&req, &cfg, Some(1.0e6), 16, 8) {
                Negotiated::CounterProposal(c) => {
                    assert!(check(&c), "bad counter-proposal {c:?} for {req:?}");
                    // The counter-proposal itself is granted.
                    assert!(matches!(
                        negotiate(&c, &cfg, Some(1.0e6), 16, 8),
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
        let req = Qos {
            min_bps: 250,
            ..Qos::default()
        };
        assert_eq!(
            negotiate(&req, &cfg, Some(1600.0), 16, 3),
            Negotiated::Granted {
                qos: req.clone(),
                slots: 3
            }
        );
        let req = Qos {
            min_bps: 301,
            ..Qos::default()
        };
        match negotiate(&req, &cfg, Some(1600.0), 16, 3) {
            Negotiated::CounterProposal(c) => assert_eq!(c.min_bps, 300),
            other => panic!("{other:?}"),
        }
        // Unknown rate: only min_bps = 0 can be promised.
        match negotiate(
            &Qos {
                min_bps: 1,
                ..Qos::default()
            },
            &cfg,
            None,
            16,
            8,
        ) {
            Negotiated::CounterProposal(c) => assert_eq!(c.min_bps, 0),
            other => panic!("{other:?}"),
        }
        // max_bps asks for more slots, capped by the free ones.
        let req = Qos {
            min_bps: 100,
            max_bps: 1000,
            ..Qos::default()
        };
        assert_eq!(
            negotiate(&req, &cfg, Some(1600.0), 16, 4),
            Negotiated::Granted {
                qos: req.clone(),
                slots: 4
            }
        );
    }
}
