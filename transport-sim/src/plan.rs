//! What goes wrong in one run, as data: a [`FaultPlan`] is drawn from a seed
//! ([`FaultPlan::from_seed`], swarm style: each fault on or off, with a random intensity) or
//! written by hand, in Rust or JSON. The harness applies it; every per-operation choice it
//! leaves open (where a read splits, which connect is refused) is drawn from the run's seed.

use crate::fault::{CutKind, StreamFaults};
use crate::rng::SimRng;
use serde::{Deserialize, Serialize};

/// Every fault of one run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultPlan {
    /// Byte-stream faults of every stream, on both hosts (split, merge, short write, stall).
    /// Its `cut` field is ignored: cuts are drawn per connection from [`FaultPlan::cuts`].
    pub streams: StreamFaults,
    /// FIN or RST at a random byte offset of some connections.
    pub cuts: Option<CutPlan>,
    /// Outbound connects of the driver (the server host) that fail.
    pub connects: ConnectFaults,
    /// Accepted connections that sit in a full accept queue for a while.
    pub accepts: AcceptFaults,
    /// Message latency of turmoil's links, in milliseconds (`None`: turmoil's default).
    pub latency_ms: Option<(u64, u64)>,
    /// Timed network events: partitions, hold and release, crash and bounce.
    pub events: Vec<TimedEvent>,
    /// The network's tick in milliseconds, 1 to [`MAX_TICK_MS`] (`None`: the harness's own,
    /// 1 ms unless [`Sim::tick`](crate::harness::Sim::tick) says otherwise). Turmoil moves
    /// messages only between steps of one tick, so this is the time resolution of delivery:
    /// a message sent during a step arrives at a later step, never within the same one, while
    /// timers still fire at their exact time inside a step. Every step costs the same whether
    /// or not anything happens, so a coarser tick makes idle simulated time cheaper.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tick_ms: Option<u64>,
}

/// The coarsest tick a plan may ask for.
pub const MAX_TICK_MS: u64 = 100;

/// The ticks a seed draws from, each equally likely (see [`FaultPlan::from_seed`]).
pub const SWARM_TICKS_MS: [u64; 5] = [1, 2, 5, 10, 20];

/// Cuts of incoming streams.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CutPlan {
    /// Chance that a new stream is cut.
    pub probability: f64,
    /// The cut comes after `0..=max_after_bytes` delivered bytes.
    pub max_after_bytes: u64,
    /// Chance that a cut is RST rather than FIN.
    pub rst_share: f64,
}

/// Outbound connects that fail.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ConnectFaults {
    /// Chance of an immediate `ConnectionRefused`.
    pub refuse: f64,
    /// Chance that the connect never completes (SYNs lost), so the core's timeout fires.
    pub hang: f64,
}

/// Accepted connections held back, as by a full accept queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct AcceptFaults {
    /// Chance that an accepted connection is handed out late.
    pub delay: f64,
    /// Longest delay, in milliseconds.
    pub max_delay_ms: u64,
}

/// A network event at a simulated time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimedEvent {
    /// When, in simulated milliseconds since the start.
    pub at_ms: u64,
    /// What.
    pub event: NetEvent,
}

/// A network event between the "server" host (the driver) and the "client" host (peers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetEvent {
    /// Drop every message both ways.
    Partition,
    /// Drop messages from the server to the client only.
    PartitionServerToClient,
    /// Drop messages from the client to the server only.
    PartitionClientToServer,
    /// Undo every partition.
    Repair,
    /// Hold messages both ways (delivered at `Release`).
    Hold,
    /// Deliver held messages.
    Release,
    /// Stop the server host's software (the driver and its sockets vanish).
    CrashServer,
    /// Restart the server host's software (a fresh driver).
    BounceServer,
    /// The end of every fault: partitions repaired, held messages released, a crashed server
    /// host restarted, and from then on no fault of the layer fires (no split, merge, short
    /// write, stall, cut not yet applied, refused or hanging connect, accept delay) and no later
    /// timed event applies. Latency stays. For "eventually after heal" properties.
    Heal,
}

impl NetEvent {
    /// Whether the event loses or breaks data (as opposed to only delaying it).
    pub fn is_destructive(self) -> bool {
        !matches!(self, NetEvent::Hold | NetEvent::Release | NetEvent::Heal)
    }
}

/// The tick of a swarm-drawn plan: from its own fork of the seed, so that every other draw of
/// the plan is what it was before ticks were drawn.
fn swarm_tick_ms(seed: u64) -> u64 {
    let mut rng = SimRng::new(seed).fork(0x5449_434b); // "TICK"
    SWARM_TICKS_MS[rng.range(0, SWARM_TICKS_MS.len() as u64 - 1) as usize]
}

impl FaultPlan {
    /// No faults at all.
    pub fn none() -> FaultPlan {
        FaultPlan::default()
    }

    /// Every fault kind, each switched on by the seed with a random intensity: some seeds run
    /// clean, some with one fault, some with everything at once. The network's tick is drawn
    /// too, from [`SWARM_TICKS_MS`]: a fifth of the seeds keep the finest resolution, the
    /// rest trade some of it for fewer steps (turmoil steps through idle time one tick at a
    /// time, which is most of what a sweep costs).
    pub fn from_seed(seed: u64) -> FaultPlan {
        let mut rng = SimRng::new(seed).fork(0x504c_414e); // "PLAN"
        let mut plan = FaultPlan::lossless_from(&mut rng);
        plan.tick_ms = Some(swarm_tick_ms(seed));
        if rng.chance(0.3) {
            plan.cuts = Some(CutPlan {
                probability: rng.range(10, 60) as f64 / 100.0,
                max_after_bytes: rng.range(0, 64 * 1024),
                rst_share: rng.range(0, 100) as f64 / 100.0,
            });
        }
        if rng.chance(0.5) {
            plan.connects = ConnectFaults {
                refuse: rng.range(0, 50) as f64 / 100.0,
                hang: rng.range(0, 50) as f64 / 100.0,
            };
        }
        if rng.chance(0.3) {
            let at = rng.range(1, 400);
            let event = match rng.range(0, 2) {
                0 => NetEvent::Partition,
                1 => NetEvent::PartitionServerToClient,
                _ => NetEvent::PartitionClientToServer,
            };
            plan.events.push(TimedEvent { at_ms: at, event });
            plan.events.push(TimedEvent {
                at_ms: at + rng.range(1, 3_000),
                event: NetEvent::Repair,
            });
        }
        if rng.chance(0.15) {
            let at = rng.range(1, 400);
            plan.events.push(TimedEvent {
                at_ms: at,
                event: NetEvent::CrashServer,
            });
            if rng.chance(0.5) {
                plan.events.push(TimedEvent {
                    at_ms: at + rng.range(1, 2_000),
                    event: NetEvent::BounceServer,
                });
            }
        }
        plan.events.sort_by_key(|e| e.at_ms);
        plan
    }

    /// Only faults that change timing and segmentation, never the bytes: splits, merges,
    /// short writes, stalls, accept-queue delays, latency, and hold/release. A correct handler
    /// delivers every byte under any of these plans.
    pub fn lossless_from_seed(seed: u64) -> FaultPlan {
        let mut rng = SimRng::new(seed).fork(0x504c_414e);
        let mut plan = FaultPlan::lossless_from(&mut rng);
        plan.tick_ms = Some(swarm_tick_ms(seed));
        plan
    }

    /// Whether the plan can run: a tick of 1 to [`MAX_TICK_MS`] milliseconds (a zero tick
    /// would never advance simulated time) and probabilities within 0 to 1.
    pub fn check(&self) -> Result<(), String> {
        if let Some(tick) = self.tick_ms
            && !(1..=MAX_TICK_MS).contains(&tick)
        {
            return Err(format!(
                "tick_ms {tick}: the network's tick must be 1 to {MAX_TICK_MS} ms"
            ));
        }
        let s = &self.streams;
        let mut chances = vec![
            ("streams.split_read", s.split_read),
            ("streams.merge_reads", s.merge_reads),
            ("streams.short_write", s.short_write),
            ("streams.stall", s.stall),
            ("connects.refuse", self.connects.refuse),
            ("connects.hang", self.connects.hang),
            ("accepts.delay", self.accepts.delay),
        ];
        if let Some(c) = &self.cuts {
            chances.push(("cuts.probability", c.probability));
            chances.push(("cuts.rst_share", c.rst_share));
        }
        for (name, p) in chances {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("{name} {p}: a probability must be 0 to 1"));
            }
        }
        Ok(())
    }

    fn lossless_from(rng: &mut SimRng) -> FaultPlan {
        let p = |rng: &mut SimRng, on: f64, max_percent: u64| {
            if rng.chance(on) {
                rng.range(1, max_percent) as f64 / 100.0
            } else {
                0.0
            }
        };
        let streams = StreamFaults {
            split_read: p(rng, 0.6, 90),
            merge_reads: p(rng, 0.5, 90),
            short_write: p(rng, 0.5, 90),
            stall: p(rng, 0.4, 20),
            max_stall_ms: rng.range(1, 50),
            cut: None,
        };
        let accepts = if rng.chance(0.4) {
            AcceptFaults {
                delay: rng.range(20, 100) as f64 / 100.0,
                max_delay_ms: rng.range(1, 500),
            }
        } else {
            AcceptFaults::default()
        };
        let latency_ms = if rng.chance(0.5) {
            let lo = rng.range(0, 5);
            Some((lo, lo + rng.range(0, 20)))
        } else {
            None
        };
        let mut events = Vec::new();
        if rng.chance(0.4) {
            let mut at = rng.range(0, 50);
            for _ in 0..rng.range(1, 3) {
                let hold_for = rng.range(1, 200);
                events.push(TimedEvent {
                    at_ms: at,
                    event: NetEvent::Hold,
                });
                events.push(TimedEvent {
                    at_ms: at + hold_for,
                    event: NetEvent::Release,
                });
                at += hold_for + rng.range(1, 100);
            }
        }
        FaultPlan {
            streams,
            cuts: None,
            connects: ConnectFaults::default(),
            accepts,
            latency_ms,
            events,
            tick_ms: None,
        }
    }

    /// Whether every fault of the plan preserves the bytes of every stream.
    pub fn is_lossless(&self) -> bool {
        self.cuts.is_none()
            && self.connects.refuse == 0.0
            && self.connects.hang == 0.0
            && self.events.iter().all(|e| !e.event.is_destructive())
    }

    /// The faults of stream number `n` of a host, drawn from `rng` (already forked for it).
    pub(crate) fn stream_faults(&self, rng: &mut SimRng) -> StreamFaults {
        let mut faults = self.streams.clone();
        faults.cut = self.cuts.and_then(|c| {
            rng.chance(c.probability).then(|| crate::fault::Cut {
                after_bytes: rng.range(0, c.max_after_bytes),
                kind: if rng.chance(c.rst_share) {
                    CutKind::Rst
                } else {
                    CutKind::Fin
                },
            })
        });
        faults
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_is_a_pure_function_of_its_seed_and_round_trips_through_json() {
        for seed in 0..50 {
            let plan = FaultPlan::from_seed(seed);
            assert_eq!(plan, FaultPlan::from_seed(seed));
            let json = serde_json::to_string(&plan).expect("serialize");
            let back: FaultPlan = serde_json::from_str(&json).expect("deserialize");
            assert_eq!(back, plan);
            assert!(FaultPlan::lossless_from_seed(seed).is_lossless());
        }
    }

    #[test]
    fn seeds_draw_every_tick_and_nothing_else_moves() {
        let mut seen = std::collections::BTreeSet::new();
        for seed in 0..200 {
            let plan = FaultPlan::from_seed(seed);
            let lossless = FaultPlan::lossless_from_seed(seed);
            let tick = plan.tick_ms.expect("a drawn plan sets its tick");
            assert!(SWARM_TICKS_MS.contains(&tick), "seed {seed}: tick {tick}");
            assert_eq!(lossless.tick_ms, Some(tick), "seed {seed}");
            seen.insert(tick);
            // The tick comes from its own fork: the faults are those the seed drew before.
            let mut rng = SimRng::new(seed).fork(0x504c_414e);
            assert_eq!(
                FaultPlan {
                    tick_ms: None,
                    ..lossless
                },
                FaultPlan::lossless_from(&mut rng)
            );
            assert!(plan.check().is_ok(), "seed {seed}: {:?}", plan.check());
        }
        assert_eq!(
            seen.into_iter().collect::<Vec<_>>(),
            SWARM_TICKS_MS.to_vec()
        );
        assert_eq!(FaultPlan::none().tick_ms, None);
    }

    #[test]
    fn a_plan_saved_before_ticks_were_drawn_reads_as_the_harness_tick() {
        let mut plan = FaultPlan::from_seed(7);
        plan.tick_ms = None;
        let json = serde_json::to_string(&plan).expect("serialize");
        assert!(!json.contains("tick_ms"), "{json}");
        let back: FaultPlan = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, plan);
        plan.tick_ms = Some(5);
        let json = serde_json::to_string(&plan).expect("serialize");
        assert!(json.contains("\"tick_ms\":5"), "{json}");
    }

    #[test]
    fn a_plan_that_cannot_run_says_why() {
        let ok = FaultPlan::from_seed(1);
        for (tick, fine) in [
            (0, false),
            (1, true),
            (MAX_TICK_MS, true),
            (MAX_TICK_MS + 1, false),
        ] {
            let plan = FaultPlan {
                tick_ms: Some(tick),
                ..ok.clone()
            };
            match plan.check() {
                Ok(()) => assert!(fine, "tick {tick} accepted"),
                Err(e) => {
                    assert!(!fine, "tick {tick} refused: {e}");
                    assert_eq!(
                        e,
                        format!("tick_ms {tick}: the network's tick must be 1 to {MAX_TICK_MS} ms")
                    );
                }
            }
        }
        let mut plan = ok.clone();
        plan.connects.hang = 1.5;
        assert_eq!(
            plan.check(),
            Err("connects.hang 1.5: a probability must be 0 to 1".into())
        );
        let mut plan = ok.clone();
        plan.streams.split_read = f64::NAN;
        assert_eq!(
            plan.check(),
            Err("streams.split_read NaN: a probability must be 0 to 1".into())
        );
        let mut plan = ok;
        plan.cuts = Some(CutPlan {
            probability: 0.5,
            max_after_bytes: 10,
            rst_share: -0.1,
        });
        assert_eq!(
            plan.check(),
            Err("cuts.rst_share -0.1: a probability must be 0 to 1".into())
        );
    }

    #[test]
    fn seeds_switch_faults_on_and_off() {
        let plans: Vec<FaultPlan> = (0..200).map(FaultPlan::from_seed).collect();
        assert!(plans.iter().any(|p| p.streams.split_read == 0.0));
        assert!(plans.iter().any(|p| p.streams.split_read > 0.0));
        assert!(plans.iter().any(|p| p.cuts.is_some()));
        assert!(plans.iter().any(|p| p.is_lossless()));
        assert!(plans.iter().any(|p| !p.is_lossless()));
        assert!(
            plans
                .iter()
                .any(|p| p.events.iter().any(|e| e.event == NetEvent::CrashServer))
        );
    }
}
