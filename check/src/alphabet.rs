//! Which faults may fire: a [`FaultAlphabet`], and [`FaultAlphabet::plans`], the proptest
//! [`Strategy`] of the [`FaultPlan`]s it allows, drawn swarm-style (each fault kind of the
//! alphabet on in about half the plans, with a random intensity). A plan shrinks by switching
//! kinds off first, then by lowering their intensity.

use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use theater_tcp_sim::FaultPlan;
use theater_tcp_sim::fault::StreamFaults;
use theater_tcp_sim::plan::{AcceptFaults, ConnectFaults, CutPlan, NetEvent, TimedEvent};

/// One kind of fault a plan may contain; the letters of a [`FaultAlphabet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    /// Reads return fewer bytes than were there (a split at any byte).
    SplitRead,
    /// Reads gather several writes at once.
    MergeReads,
    /// Writes take only a prefix of their buffer.
    ShortWrite,
    /// A direction of a stream stalls for a while.
    Stall,
    /// FIN or RST at a byte offset of some streams (loses bytes).
    Cut,
    /// The driver's outbound connects are refused (loses connections).
    ConnectRefuse,
    /// The driver's outbound connects hang until its connect timeout (loses connections).
    ConnectHang,
    /// Accepted connections wait, as in a full accept queue.
    AcceptDelay,
    /// Message latency between the hosts.
    Latency,
    /// Messages held both ways for a while, then delivered.
    Hold,
    /// A partition between the hosts, later repaired (loses segments: turmoil has no
    /// retransmission).
    Partition,
    /// The driver's host crashes, and maybe comes back (loses every connection).
    Crash,
}

impl Fault {
    /// Every kind.
    pub const ALL: [Fault; 12] = [
        Fault::SplitRead,
        Fault::MergeReads,
        Fault::ShortWrite,
        Fault::Stall,
        Fault::Cut,
        Fault::ConnectRefuse,
        Fault::ConnectHang,
        Fault::AcceptDelay,
        Fault::Latency,
        Fault::Hold,
        Fault::Partition,
        Fault::Crash,
    ];

    /// The kinds that keep every byte of every stream (they change only timing and
    /// segmentation).
    pub const LOSSLESS: [Fault; 7] = [
        Fault::SplitRead,
        Fault::MergeReads,
        Fault::ShortWrite,
        Fault::Stall,
        Fault::AcceptDelay,
        Fault::Latency,
        Fault::Hold,
    ];

    /// The stable name (the serde name too).
    pub fn name(self) -> &'static str {
        match self {
            Fault::SplitRead => "split-read",
            Fault::MergeReads => "merge-reads",
            Fault::ShortWrite => "short-write",
            Fault::Stall => "stall",
            Fault::Cut => "cut",
            Fault::ConnectRefuse => "connect-refuse",
            Fault::ConnectHang => "connect-hang",
            Fault::AcceptDelay => "accept-delay",
            Fault::Latency => "latency",
            Fault::Hold => "hold",
            Fault::Partition => "partition",
            Fault::Crash => "crash",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The fault kinds a check may draw; see the [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultAlphabet(BTreeSet<Fault>);

impl FaultAlphabet {
    /// Every fault kind, crashes and partitions included.
    pub fn all() -> FaultAlphabet {
        FaultAlphabet(Fault::ALL.into_iter().collect())
    }

    /// The kinds that keep every byte ([`Fault::LOSSLESS`]): a correct actor's work completes
    /// under any plan of them.
    pub fn lossless() -> FaultAlphabet {
        FaultAlphabet(Fault::LOSSLESS.into_iter().collect())
    }

    /// Exactly `faults`.
    pub fn only(faults: &[Fault]) -> FaultAlphabet {
        FaultAlphabet(faults.iter().copied().collect())
    }

    /// No fault at all (every plan is [`FaultPlan::none`]).
    pub fn none() -> FaultAlphabet {
        FaultAlphabet(BTreeSet::new())
    }

    /// This alphabet and `fault`.
    pub fn with(mut self, fault: Fault) -> FaultAlphabet {
        self.0.insert(fault);
        self
    }

    /// This alphabet without `fault`.
    pub fn without(mut self, fault: Fault) -> FaultAlphabet {
        self.0.remove(&fault);
        self
    }

    /// Whether `fault` may fire.
    pub fn allows(&self, fault: Fault) -> bool {
        self.0.contains(&fault)
    }

    /// The kinds, in [`Fault::ALL`] order.
    pub fn faults(&self) -> impl Iterator<Item = Fault> + '_ {
        self.0.iter().copied()
    }

    /// The plans of this alphabet, as a proptest strategy: each kind of the alphabet is on in
    /// about half the plans, with a random intensity (probabilities up to 90 %, timed events
    /// in the first 400 ms of simulated time). Usable in any `proptest!` block:
    ///
    /// ```
    /// use proptest::prelude::*;
    /// use theater_tcp_check::{Fault, FaultAlphabet};
    ///
    /// proptest! {
    ///     // `#[test]` in a test file.
    ///     fn plans_only_use_their_alphabet(plan in FaultAlphabet::only(&[Fault::SplitRead]).plans()) {
    ///         prop_assert!(plan.is_lossless());
    ///         prop_assert_eq!(plan.streams.short_write, 0.0);
    ///     }
    /// }
    /// plans_only_use_their_alphabet();
    /// ```
    pub fn plans(&self) -> BoxedStrategy<FaultPlan> {
        let percent = |fault: Fault, max: u64| -> BoxedStrategy<Option<u64>> {
            if self.allows(fault) {
                proptest::option::of(1..=max).boxed()
            } else {
                Just(None).boxed()
            }
        };
        let streams = (
            percent(Fault::SplitRead, 90),
            percent(Fault::MergeReads, 90),
            percent(Fault::ShortWrite, 90),
            when(self.allows(Fault::Stall), (1..=20u64, 1..=50u64).boxed()),
        );
        let connects = (
            percent(Fault::ConnectRefuse, 50),
            percent(Fault::ConnectHang, 50),
        );
        let others = (
            when(
                self.allows(Fault::Cut),
                (10..=60u64, 0..=64 * 1024u64, 0..=100u64).boxed(),
            ),
            when(
                self.allows(Fault::AcceptDelay),
                (20..=100u64, 1..=500u64).boxed(),
            ),
            when(self.allows(Fault::Latency), (0..=5u64, 0..=20u64).boxed()),
        );
        let events = (
            when(
                self.allows(Fault::Hold),
                proptest::collection::vec((0..=300u64, 1..=200u64), 1..=2).boxed(),
            ),
            when(
                self.allows(Fault::Partition),
                (1..=400u64, 1..=3_000u64, 0..=2u8).boxed(),
            ),
            when(
                self.allows(Fault::Crash),
                (1..=400u64, proptest::option::of(1..=2_000u64)).boxed(),
            ),
        );
        (streams, connects, others, events)
            .prop_map(|(streams, connects, others, events)| {
                let share = |p: Option<u64>| p.map_or(0.0, |p| p as f64 / 100.0);
                let (split, merge, short, stall) = streams;
                let (refuse, hang) = connects;
                let (cut, accept, latency) = others;
                let (holds, partition, crash) = events;
                let mut timed = Vec::new();
                for (at, length) in holds.unwrap_or_default() {
                    timed.push(TimedEvent {
                        at_ms: at,
                        event: NetEvent::Hold,
                    });
                    timed.push(TimedEvent {
                        at_ms: at + length,
                        event: NetEvent::Release,
                    });
                }
                if let Some((at, length, which)) = partition {
                    let event = match which {
                        0 => NetEvent::Partition,
                        1 => NetEvent::PartitionServerToClient,
                        _ => NetEvent::PartitionClientToServer,
                    };
                    timed.push(TimedEvent { at_ms: at, event });
                    timed.push(TimedEvent {
                        at_ms: at + length,
                        event: NetEvent::Repair,
                    });
                }
                if let Some((at, bounce)) = crash {
                    timed.push(TimedEvent {
                        at_ms: at,
                        event: NetEvent::CrashServer,
                    });
                    if let Some(after) = bounce {
                        timed.push(TimedEvent {
                            at_ms: at + after,
                            event: NetEvent::BounceServer,
                        });
                    }
                }
                timed.sort_by_key(|e| e.at_ms);
                FaultPlan {
                    streams: StreamFaults {
                        split_read: share(split),
                        merge_reads: share(merge),
                        short_write: share(short),
                        stall: share(stall.map(|(p, _)| p)),
                        max_stall_ms: stall.map_or(0, |(_, ms)| ms),
                        cut: None,
                    },
                    cuts: cut.map(|(p, after, rst)| CutPlan {
                        probability: p as f64 / 100.0,
                        max_after_bytes: after,
                        rst_share: rst as f64 / 100.0,
                    }),
                    connects: ConnectFaults {
                        refuse: share(refuse),
                        hang: share(hang),
                    },
                    accepts: accept.map_or(AcceptFaults::default(), |(p, ms)| AcceptFaults {
                        delay: p as f64 / 100.0,
                        max_delay_ms: ms,
                    }),
                    latency_ms: latency.map(|(lo, spread)| (lo, lo + spread)),
                    events: timed,
                    tick_ms: None,
                }
            })
            .boxed()
    }
}

/// `strategy`'s values as `Some`, or only `None` when the kind is off.
fn when<T: Clone + fmt::Debug + 'static>(
    on: bool,
    strategy: BoxedStrategy<T>,
) -> BoxedStrategy<Option<T>> {
    if on {
        proptest::option::of(strategy).boxed()
    } else {
        Just(None).boxed()
    }
}

impl fmt::Display for FaultAlphabet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.faults().map(Fault::name).collect();
        write!(f, "[{}]", names.join(", "))
    }
}

/// How many faults `plan` holds: each fault-layer knob that is on (split reads, merged reads,
/// short writes, stalls, cuts, connect refusals, connect hangs, accept delays, latency), and
/// each timed event that starts a fault (a hold, a partition, a crash; their ends, the release,
/// repair and bounce, and a heal, are not counted).
pub fn fault_count(plan: &FaultPlan) -> usize {
    let knobs = [
        plan.streams.split_read > 0.0,
        plan.streams.merge_reads > 0.0,
        plan.streams.short_write > 0.0,
        plan.streams.stall > 0.0 && plan.streams.max_stall_ms > 0,
        plan.cuts.is_some_and(|c| c.probability > 0.0),
        plan.connects.refuse > 0.0,
        plan.connects.hang > 0.0,
        plan.accepts.delay > 0.0 && plan.accepts.max_delay_ms > 0,
        plan.latency_ms.is_some(),
    ];
    let events = plan.events.iter().filter(|e| {
        matches!(
            e.event,
            NetEvent::Hold
                | NetEvent::Partition
                | NetEvent::PartitionServerToClient
                | NetEvent::PartitionClientToServer
                | NetEvent::CrashServer
        )
    });
    knobs.iter().filter(|on| **on).count() + events.count()
}

/// The faults of `plan` by name, as [`fault_count`] counts them (for failure reports).
pub fn fault_names(plan: &FaultPlan) -> Vec<String> {
    let mut names = Vec::new();
    let s = &plan.streams;
    let mut knob = |on: bool, text: String| {
        if on {
            names.push(text);
        }
    };
    knob(
        s.split_read > 0.0,
        format!("split-read {:.0} %", s.split_read * 100.0),
    );
    knob(
        s.merge_reads > 0.0,
        format!("merge-reads {:.0} %", s.merge_reads * 100.0),
    );
    knob(
        s.short_write > 0.0,
        format!("short-write {:.0} %", s.short_write * 100.0),
    );
    knob(
        s.stall > 0.0 && s.max_stall_ms > 0,
        format!("stall {:.0} % up to {} ms", s.stall * 100.0, s.max_stall_ms),
    );
    if let Some(c) = plan.cuts.filter(|c| c.probability > 0.0) {
        names.push(format!(
            "cut {:.0} % within {} bytes",
            c.probability * 100.0,
            c.max_after_bytes
        ));
    }
    let c = plan.connects;
    let a = plan.accepts;
    let mut knob = |on: bool, text: String| {
        if on {
            names.push(text);
        }
    };
    knob(
        c.refuse > 0.0,
        format!("connect-refuse {:.0} %", c.refuse * 100.0),
    );
    knob(
        c.hang > 0.0,
        format!("connect-hang {:.0} %", c.hang * 100.0),
    );
    knob(
        a.delay > 0.0 && a.max_delay_ms > 0,
        format!(
            "accept-delay {:.0} % up to {} ms",
            a.delay * 100.0,
            a.max_delay_ms
        ),
    );
    if let Some((lo, hi)) = plan.latency_ms {
        names.push(format!("latency {lo}-{hi} ms"));
    }
    for e in &plan.events {
        if matches!(
            e.event,
            NetEvent::Hold
                | NetEvent::Partition
                | NetEvent::PartitionServerToClient
                | NetEvent::PartitionClientToServer
                | NetEvent::CrashServer
        ) {
            names.push(format!("{:?} at {} ms", e.event, e.at_ms));
        }
    }
    names
}

/// Every plan with one fault of `plan` fewer (a knob switched off, or a timed fault removed
/// with the event that ends it): the last pass of shrinking, after the value trees.
pub(crate) fn without_each_fault(plan: &FaultPlan) -> Vec<FaultPlan> {
    let offs: [fn(&mut FaultPlan); 9] = [
        |p| p.streams.split_read = 0.0,
        |p| p.streams.merge_reads = 0.0,
        |p| p.streams.short_write = 0.0,
        |p| {
            p.streams.stall = 0.0;
            p.streams.max_stall_ms = 0;
        },
        |p| p.cuts = None,
        |p| p.connects.refuse = 0.0,
        |p| p.connects.hang = 0.0,
        |p| p.accepts = AcceptFaults::default(),
        |p| p.latency_ms = None,
    ];
    let mut out = Vec::new();
    let count = fault_count(plan);
    for off in offs {
        let mut p = plan.clone();
        off(&mut p);
        if fault_count(&p) < count {
            out.push(p);
        }
    }
    for (i, event) in plan.events.iter().enumerate() {
        let end = match event.event {
            NetEvent::Hold => NetEvent::Release,
            NetEvent::Partition
            | NetEvent::PartitionServerToClient
            | NetEvent::PartitionClientToServer => NetEvent::Repair,
            NetEvent::CrashServer => NetEvent::BounceServer,
            _ => continue,
        };
        let mut p = plan.clone();
        p.events.remove(i);
        if let Some(j) = p.events[i..].iter().position(|e| e.event == end) {
            p.events.remove(i + j);
        }
        out.push(p);
    }
    out
}
