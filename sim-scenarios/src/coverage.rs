//! Named coverage of a run, and the core-replay determinism oracle that computes part of it.
//!
//! The driver does not expose the core's "sometimes" probes ([`Handler::probes`]), but the
//! trace holds every input the core saw, with its time. [`replay`] feeds those inputs to a
//! fresh [`Handler`] (a new one at every `DriverStarted`, as after a bounce) and checks that it
//! emits exactly the recorded outputs, in order: the core is a pure function of its inputs,
//! and nothing reached it that the trace does not show. Its probe counts are then the run's.
//!
//! Fault kinds are reported as **fired**, with how often, from three sources:
//! - the fault layer's counters ([`theater_tcp_sim::FaultCounters`]), both hosts added up:
//!   `split-read`, `merge-reads`, `short-write`, `stall`, `cut-fin`, `cut-rst`, `accept-delay`,
//!   `connect-refuse`, `connect-hang`, each counted where it takes effect (per host in
//!   [`Coverage::by_host`]);
//! - the driver's trace: `reset` (a reset read or write), `connect-refused` (a refused connect,
//!   by the plan or because nothing listened), `connect-timeout`, `driver-restarted`;
//! - timed events applied before the run ended: `partition`, `hold`, `crash`, ... (see
//!   [`event_name`]).
//!
//! Only `latency` cannot be counted (turmoil applies it to every message, out of the fault
//! layer's sight): it is reported as **armed** when the plan sets it.

use crate::json::compact;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;
use theater_tcp_core::{Config, Error, Handler, Input, IoEvent, Notice, Output, StreamEnd};
use theater_tcp_sim::plan::NetEvent;
use theater_tcp_sim::{FaultCounts, FaultPlan, Outcome, TraceEvent, TraceRecord};

/// What one run reached.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Coverage {
    /// Core probes taken, with how often, from [`replay`] (empty when the replay failed).
    pub probes: BTreeMap<String, u64>,
    /// Fault kinds that fired, with how often (see the [module docs](self)).
    pub fired: BTreeMap<String, u64>,
    /// Fault kinds the plan switched on that cannot be counted: only `latency`.
    pub armed: BTreeSet<String>,
    /// The fault layer's counts per host (`server`: the driver's network, `client`: the
    /// peers').
    pub by_host: BTreeMap<String, FaultCounts>,
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
    let fresh = || {
        let mut handler = Handler::new(settings.clone());
        handler.record_transitions(true);
        handler
    };
    let mut core: Option<Handler> = None;
    // What the replayed core did after the last input: its transitions, then its outputs.
    let mut replayed: VecDeque<TraceEvent> = VecDeque::new();
    let missing = |i: usize, o: &TraceEvent| {
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
                core = Some(fresh());
            }
            TraceEvent::Input(input) => {
                if let Some(o) = replayed.front() {
                    return Err(missing(i, o));
                }
                let Some(handler) = core.as_mut() else {
                    return Err(format!("record {i}: an input before any driver started"));
                };
                handler.handle(record.at, input.clone());
                while let Some(t) = handler.poll_transition() {
                    replayed.push_back(TraceEvent::Transition(t));
                }
                replayed.extend(handler.drain_outputs().into_iter().map(TraceEvent::Output));
            }
            recorded @ (TraceEvent::Output(_) | TraceEvent::Transition(_)) => {
                match replayed.pop_front() {
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
                }
            }
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

/// What a run under `plan` reached of its faults: the kinds that fired with how often, and
/// those armed but not countable (see the [module docs](self)).
pub fn faults(plan: &FaultPlan, outcome: &Outcome) -> (BTreeMap<String, u64>, BTreeSet<String>) {
    let mut fired: BTreeMap<String, u64> = BTreeMap::new();
    let mut fire = |name: &str, n: u64| *fired.entry(name.to_owned()).or_default() += n;
    for counts in [&outcome.server_faults, &outcome.peer_faults] {
        for (kind, n) in counts.iter() {
            fire(kind.name(), n);
        }
    }
    for record in &outcome.records {
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
        fire(kind, 1);
    }
    for event in &plan.events {
        // The harness applies an event before the first step at or after its time.
        if Duration::from_millis(event.at_ms) < outcome.sim_elapsed {
            fire(event_name(event.event), 1);
        }
    }
    let mut armed = BTreeSet::new();
    if plan.latency_ms.is_some() {
        armed.insert("latency".to_owned());
    }
    (fired, armed)
}

/// The fault layer's counts of a run per host, as [`Coverage::by_host`] reports them.
pub fn by_host(outcome: &Outcome) -> BTreeMap<String, FaultCounts> {
    BTreeMap::from([
        ("server".to_owned(), outcome.server_faults.clone()),
        ("client".to_owned(), outcome.peer_faults.clone()),
    ])
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
        NetEvent::Heal => "heal",
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
        core.record_transitions(true);
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
            while let Some(t) = core.poll_transition() {
                records.push(record(at, TraceEvent::Transition(t)));
            }
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
        // A transition missing, and one the core never made.
        let transition = records
            .iter()
            .position(|r| matches!(r.event, TraceEvent::Transition(_)))
            .expect("a transition");
        let mut untold = records.clone();
        untold.remove(transition);
        assert!(replay(&Config::default(), &untold).is_err());
        let mut invented = records.clone();
        invented.insert(transition, records[transition].clone());
        assert!(replay(&Config::default(), &invented).is_err());
        // An input the trace does not show: the replayed outputs differ.
        let mut hidden = records.clone();
        let at = hidden
            .iter()
            .position(|r| matches!(r.event, TraceEvent::Input(Input::Call { .. })))
            .expect("a call");
        hidden.remove(at);
        assert!(replay(&Config::default(), &hidden).is_err());
    }

    fn outcome(records: Vec<TraceRecord>, sim_elapsed: Duration) -> Outcome {
        Outcome {
            seed: 0,
            result: Ok(()),
            trace_hash: 0,
            trace_len: records.len() as u64,
            sim_elapsed,
            records,
            server_faults: FaultCounts::default(),
            peer_faults: FaultCounts::default(),
        }
    }

    #[test]
    fn applied_events_fire_once_each_and_only_latency_is_armed() {
        let mut plan = FaultPlan::lossless_from_seed(3);
        plan.streams.split_read = 0.5;
        plan.latency_ms = Some((1, 5));
        plan.events = [
            (10, NetEvent::Hold),
            (20, NetEvent::Hold),
            (5_000, NetEvent::Release),
        ]
        .map(|(at_ms, event)| theater_tcp_sim::plan::TimedEvent { at_ms, event })
        .to_vec();
        let (fired, armed) = faults(&plan, &outcome(Vec::new(), Duration::from_secs(1)));
        assert_eq!(fired.get("hold"), Some(&2));
        assert!(!fired.contains_key("release"));
        // Switched on but never counted: not fired, and not armed either.
        assert!(!fired.contains_key("split-read"));
        assert_eq!(armed, BTreeSet::from(["latency".to_owned()]));
    }

    #[test]
    fn counted_faults_of_both_hosts_and_trace_events_add_up() {
        use theater_tcp_sim::{FaultCounters, FaultKind};
        let server = FaultCounters::new();
        let client = FaultCounters::new();
        for _ in 0..3 {
            server.add(FaultKind::SplitRead);
        }
        client.add(FaultKind::SplitRead);
        client.add(FaultKind::CutRst);
        server.add(FaultKind::ConnectRefuse);
        let reset = TraceEvent::Input(Input::Io(IoEvent::ReadEnded {
            connection: theater_tcp_core::ConnId(1),
            end: StreamEnd::Reset,
        }));
        let mut run = outcome(
            vec![record(0, reset.clone()), record(1, reset)],
            Duration::from_secs(1),
        );
        run.server_faults = server.snapshot();
        run.peer_faults = client.snapshot();
        let (fired, armed) = faults(&FaultPlan::none(), &run);
        let expected: BTreeMap<String, u64> = [
            ("split-read", 4),
            ("cut-rst", 1),
            ("connect-refuse", 1),
            ("reset", 2),
        ]
        .into_iter()
        .map(|(k, n)| (k.to_owned(), n))
        .collect();
        assert_eq!(fired, expected);
        assert!(armed.is_empty());
        let hosts = by_host(&run);
        assert_eq!(hosts["server"].get(FaultKind::SplitRead), 3);
        assert_eq!(hosts["client"].get(FaultKind::SplitRead), 1);
        assert_eq!(hosts["client"].get(FaultKind::ConnectRefuse), 0);
    }
}
