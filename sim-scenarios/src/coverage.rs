//! Named coverage of a run, and the core-replay determinism oracle that computes part of it.
//!
//! The driver does not expose the core's "sometimes" probes ([`Handler::probes`]), but the
//! trace holds every input the core saw, with its time. [`replay`] feeds those inputs to a
//! fresh [`Handler`] (a new one at every `DriverStarted`, as after a bounce) and checks that it
//! emits exactly the recorded outputs, in order: the core is a pure function of its inputs,
//! and nothing reached it that the trace does not show. Its probe counts are then the run's.
//!
//! Fault kinds are reported in two groups: **fired**, whose effect the driver's trace shows
//! (a reset read by the driver, a refused connect, a connect timeout) or whose timed event was
//! applied before the run ended; and **armed**, switched on by the plan but per-operation and
//! invisible in the core's trace (splits, merges, short writes, stalls, latency, accept delays,
//! FIN cuts, and anything on the peer's side of a stream).

use crate::report::compact;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;
use theater_tcp_core::{Config, Error, Handler, Input, IoEvent, Notice, Output, StreamEnd};
use theater_tcp_sim::plan::NetEvent;
use theater_tcp_sim::{FaultPlan, TraceEvent, TraceRecord};

/// What one run reached.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Coverage {
    /// Core probes taken, with how often, from [`replay`] (empty when the replay failed).
    pub probes: BTreeMap<String, u64>,
    /// Fault kinds whose effect the trace shows or whose timed event was applied.
    pub fired: BTreeSet<String>,
    /// Fault kinds the plan switched on whose effect the core's trace cannot show.
    pub armed: BTreeSet<String>,
}

/// Replays the recorded inputs through fresh cores built from `config`; returns the probe
/// counts, or where the replayed outputs first differ from the recorded ones.
pub fn replay(config: &Config, records: &[TraceRecord]) -> Result<BTreeMap<String, u64>, String> {
    let settings = config
        .clone()
        .validate()
        .map_err(|e| format!("config: {e}"))?;
    let mut probes: BTreeMap<String, u64> = BTreeMap::new();
    let mut add = |handler: &Handler| {
        for (name, n) in handler.probes() {
            *probes.entry((*name).to_owned()).or_default() += n;
        }
    };
    let mut core: Option<Handler> = None;
    let mut replayed: VecDeque<Output> = VecDeque::new();
    let missing = |i: usize, o: &Output| {
        format!(
            "record {i}: the replayed core emitted {} which the trace lacks",
            compact(o)
        )
    };
    for (i, record) in records.iter().enumerate() {
        match &record.event {
            TraceEvent::DriverStarted { .. } => {
                if let Some(o) = replayed.front() {
                    return Err(missing(i, o));
                }
                if let Some(old) = core.take() {
                    add(&old);
                }
                core = Some(Handler::new(settings.clone()));
            }
            TraceEvent::Input(input) => {
                if let Some(o) = replayed.front() {
                    return Err(missing(i, o));
                }
                let Some(handler) = core.as_mut() else {
                    return Err(format!("record {i}: an input before any driver started"));
                };
                handler.handle(record.at, input.clone());
                replayed.extend(handler.drain_outputs());
            }
            TraceEvent::Output(recorded) => match replayed.pop_front() {
                Some(o) if o == *recorded => {}
                Some(o) => {
                    return Err(format!(
                        "record {i}: recorded {} but the replayed core emitted {}",
                        compact(recorded),
                        compact(&o)
                    ));
                }
                None => {
                    return Err(format!(
                        "record {i}: recorded {} which the replayed core did not emit",
                        compact(recorded)
                    ));
                }
            },
        }
    }
    if let Some(o) = replayed.front() {
        return Err(missing(records.len(), o));
    }
    if let Some(last) = core {
        add(&last);
    }
    Ok(probes)
}

/// The fault kinds of `plan` that fired in a run (see the [module docs](self)), and those
/// armed but not observable.
pub fn faults(
    plan: &FaultPlan,
    records: &[TraceRecord],
    sim_elapsed: Duration,
) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut fired = BTreeSet::new();
    for record in records {
        let kind = match &record.event {
            TraceEvent::Input(Input::Io(
                IoEvent::ReadEnded {
                    end: StreamEnd::Reset,
                    ..
                }
                | IoEvent::WriteFailed {
                    end: StreamEnd::Reset,
                    ..
                },
            )) => "reset",
            TraceEvent::Input(Input::Io(IoEvent::ConnectFailed { error, .. }))
                if error.contains("refused") =>
            {
                "connect-refused"
            }
            TraceEvent::Output(Output::Notice(Notice::CallCompleted {
                result: Err(Error::ConnectTimedOut),
                ..
            })) => "connect-timeout",
            TraceEvent::DriverStarted { generation } if *generation > 0 => "driver-restarted",
            _ => continue,
        };
        fired.insert(kind.to_owned());
    }
    for event in &plan.events {
        // The harness applies an event before the first step at or after its time.
        if Duration::from_millis(event.at_ms) < sim_elapsed {
            fired.insert(event_name(event.event).to_owned());
        }
    }
    let mut armed = BTreeSet::new();
    let s = &plan.streams;
    let switches = [
        (s.split_read > 0.0, "split-read"),
        (s.merge_reads > 0.0, "merge-reads"),
        (s.short_write > 0.0, "short-write"),
        (s.stall > 0.0 && s.max_stall_ms > 0, "stall"),
        (plan.cuts.is_some(), "cut"),
        (
            plan.accepts.delay > 0.0 && plan.accepts.max_delay_ms > 0,
            "accept-delay",
        ),
        (plan.latency_ms.is_some(), "latency"),
        (plan.connects.refuse > 0.0, "connect-refuse"),
        (plan.connects.hang > 0.0, "connect-hang"),
    ];
    for (on, name) in switches {
        if on {
            armed.insert(name.to_owned());
        }
    }
    (fired, armed)
}

/// The name a timed event is reported under.
pub fn event_name(event: NetEvent) -> &'static str {
    match event {
        NetEvent::Partition => "partition",
        NetEvent::PartitionServerToClient => "partition-server-to-client",
        NetEvent::PartitionClientToServer => "partition-client-to-server",
        NetEvent::Repair => "repair",
        NetEvent::Hold => "hold",
        NetEvent::Release => "release",
        NetEvent::CrashServer => "crash",
        NetEvent::BounceServer => "bounce",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use theater_tcp_core::{Call, Exports, Instant};

    fn record(at: u64, event: TraceEvent) -> TraceRecord {
        TraceRecord {
            at: Instant::from_nanos(at),
            event,
        }
    }

    /// A real trace of a tiny run: every input, then what the core emitted for it.
    fn trace() -> Vec<TraceRecord> {
        let settings = Config::default().validate().expect("config");
        let mut core = Handler::new(settings);
        let inputs = [
            Input::ActorStarted {
                actor: "a".into(),
                exports: Exports::ALL,
            },
            Input::Call {
                actor: "a".into(),
                call: Call::Listen {
                    address: "127.0.0.1:0".into(),
                },
            },
            Input::Call {
                actor: "a".into(),
                call: Call::Connect {
                    address: "127.0.0.1:9".into(),
                },
            },
        ];
        let mut records = vec![record(0, TraceEvent::DriverStarted { generation: 0 })];
        for (i, input) in inputs.into_iter().enumerate() {
            let at = i as u64 * 1_000;
            records.push(record(at, TraceEvent::Input(input.clone())));
            core.handle(Instant::from_nanos(at), input);
            for o in core.drain_outputs() {
                records.push(record(at, TraceEvent::Output(o)));
            }
        }
        records
    }

    #[test]
    fn a_faithful_trace_replays_and_a_tampered_one_does_not() {
        let records = trace();
        assert!(records.len() > 4, "{records:?}");
        replay(&Config::default(), &records).expect("replays");
        // An output the core never emitted.
        let mut extra = records.clone();
        let last = extra.last().cloned().expect("a record");
        extra.push(last);
        assert!(replay(&Config::default(), &extra).is_err());
        // An output missing.
        let mut missing = records.clone();
        let at = missing
            .iter()
            .position(|r| matches!(r.event, TraceEvent::Output(_)))
            .expect("an output");
        missing.remove(at);
        assert!(replay(&Config::default(), &missing).is_err());
        // An input the trace does not show: the replayed outputs differ.
        let mut hidden = records.clone();
        let at = hidden
            .iter()
            .position(|r| matches!(r.event, TraceEvent::Input(Input::Call { .. })))
            .expect("a call");
        hidden.remove(at);
        assert!(replay(&Config::default(), &hidden).is_err());
    }

    #[test]
    fn applied_events_fire_and_per_operation_faults_are_armed() {
        let mut plan = FaultPlan::lossless_from_seed(3);
        plan.streams.split_read = 0.5;
        plan.events = vec![
            theater_tcp_sim::plan::TimedEvent {
                at_ms: 10,
                event: NetEvent::Hold,
            },
            theater_tcp_sim::plan::TimedEvent {
                at_ms: 5_000,
                event: NetEvent::Release,
            },
        ];
        let (fired, armed) = faults(&plan, &[], Duration::from_secs(1));
        assert!(fired.contains("hold"));
        assert!(!fired.contains("release"));
        assert!(armed.contains("split-read"));
    }
}
