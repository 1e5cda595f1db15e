//! The seeded simulation harness: [`Sim::new(seed, plan)`](Sim::new) builds a turmoil world
//! with two hosts, `"server"` (the real driver on a [`SimNetwork`], restarted on a bounce)
//! and `"client"` (the scenario: test peers on their own `SimNetwork`, and the scripted actors,
//! which reach the driver through its in-process handle as actors in the same process would),
//! applies the plan's timed network events between steps, records the core's trace, and
//! returns an [`Outcome`] with the trace hash and the faults that fired on each host.
//!
//! [`Sweep`] runs a scenario over many seeds, each **twice**, and fails on a differing trace
//! hash (nondeterminism) as on a failed oracle; every failure comes with a one-line command
//! that reproduces it (`THEATER_SIM_SEED=<seed> cargo test ...`, the workspace's one repro-line
//! format, [`crate::repro`]).

use crate::fault::{FaultCounters, FaultCounts};
use crate::net::{Partitions, SimNetwork};
use crate::plan::{FaultPlan, NetEvent};
use crate::repro::{Repro, seed_from_env};
use crate::rng::SimRng;
use crate::tls::SimClock;
use crate::trace::{SharedRecorder, TraceEvent, TraceRecord};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use theater_tcp_core::{Config, Instant};
use theater_tcp_test_support::scenarios::Setup;
use theater_tcp_tokio::{Driver, DriverHandle, DriverOptions};

/// The host running the driver.
pub const SERVER: &str = "server";
/// The host running test peers and the scenario.
pub const CLIENT: &str = "client";

/// Environment variable that makes a [`Sweep`] run only the given seed (for reproduction).
pub use crate::repro::SEED_VAR;

/// One simulated run: a seed, a fault plan, the driver's config and the simulation's clock.
#[derive(Debug, Clone)]
pub struct Sim {
    seed: u64,
    plan: FaultPlan,
    config: Config,
    tick: Duration,
    limit: Duration,
    keep_trace: bool,
    trace: bool,
}

/// What a scenario gets: the driver, the peer's network, and how to reach the server.
#[derive(Debug, Clone)]
pub struct SimContext {
    /// The driver under test (on the server host).
    pub driver: DriverHandle,
    /// The client host's network, for test peers.
    pub peer: SimNetwork,
    /// The server host's address.
    pub server: IpAddr,
    /// The run's seed.
    pub seed: u64,
    /// The run's fault plan.
    pub plan: FaultPlan,
    /// The faults that fired so far on the server host's network (the driver's side; the
    /// peer's are [`SimNetwork::fault_counters`] of [`peer`](Self::peer)).
    pub server_faults: FaultCounters,
}

impl SimContext {
    /// A [`Setup`] for the shared scenario bodies (`theater_tcp_test_support::scenarios`):
    /// actors listen on the server host's every address, peers connect to the server's address.
    pub fn setup(&self) -> Setup<'_, SimNetwork> {
        let server = self.server;
        Setup {
            driver: &self.driver,
            peer: &self.peer,
            listen: "0.0.0.0:0".into(),
            reach: Box::new(move |a| SocketAddr::new(server, a.port())),
        }
    }

    /// A generator for the scenario's own choices, forked from the seed.
    pub fn rng(&self, tag: u64) -> SimRng {
        SimRng::new(self.seed).fork(0x5343_454e ^ tag) // "SCEN"
    }
}

/// The result of one run.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The seed.
    pub seed: u64,
    /// The scenario's verdict, or why the simulation itself failed (time limit, host error).
    pub result: Result<(), String>,
    /// Hash of the core's trace.
    pub trace_hash: u64,
    /// Records in the trace.
    pub trace_len: u64,
    /// Simulated time the run took.
    pub sim_elapsed: Duration,
    /// The records, when the run kept them ([`Sim::keep_trace`]).
    pub records: Vec<TraceRecord>,
    /// The faults that fired on the server host's network (the driver's streams, accepts and
    /// connects), over every generation of the driver.
    pub server_faults: FaultCounts,
    /// The faults that fired on the client host's network (the test peers' streams).
    pub peer_faults: FaultCounts,
}

impl Sim {
    /// A run of `seed` under `plan`, with the default config, a 1 ms tick (unless the plan
    /// sets its own, [`FaultPlan::tick_ms`]) and a 120 s limit.
    pub fn new(seed: u64, plan: FaultPlan) -> Sim {
        Sim {
            seed,
            plan,
            config: Config::default(),
            tick: Duration::from_millis(1),
            limit: Duration::from_secs(120),
            keep_trace: false,
            trace: true,
        }
    }

    /// The driver's config.
    pub fn config(mut self, config: Config) -> Sim {
        self.config = config;
        self
    }

    /// Simulated time per step, for plans that do not set their own
    /// ([`FaultPlan::tick_ms`]).
    pub fn tick(mut self, tick: Duration) -> Sim {
        self.tick = tick;
        self
    }

    /// Simulated time after which an unfinished scenario fails.
    pub fn limit(mut self, limit: Duration) -> Sim {
        self.limit = limit;
        self
    }

    /// Keep the trace records in the [`Outcome`] (the hash is always computed).
    pub fn keep_trace(mut self, keep: bool) -> Sim {
        self.keep_trace = keep;
        self
    }

    /// Record the trace at all (default on). Off, the hash stays at its initial value: for
    /// measuring what recording costs, never for determinism checks.
    pub fn trace(mut self, on: bool) -> Sim {
        self.trace = on;
        self
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The fault plan.
    pub fn plan(&self) -> &FaultPlan {
        &self.plan
    }

    /// Runs `scenario` on the client host until it returns, or until the time limit.
    pub fn run<F, Fut>(&self, scenario: F) -> Outcome
    where
        F: FnOnce(SimContext) -> Fut + 'static,
        Fut: Future<Output = Result<(), String>> + 'static,
    {
        if let Err(e) = self.plan.check() {
            return Outcome {
                seed: self.seed,
                result: Err(format!("the fault plan cannot run: {e}")),
                trace_hash: SharedRecorder::new(false).with(|r| r.hash()),
                trace_len: 0,
                sim_elapsed: Duration::ZERO,
                records: Vec::new(),
                server_faults: FaultCounts::default(),
                peer_faults: FaultCounts::default(),
            };
        }
        let tick = self.plan.tick_ms.map_or(self.tick, Duration::from_millis);
        let mut builder = turmoil::Builder::new();
        builder
            .rng_seed(self.seed)
            .epoch(crate::tls::epoch())
            .tick_duration(tick)
            .simulation_duration(self.limit);
        if let Some((lo, hi)) = self.plan.latency_ms {
            builder
                .min_message_latency(Duration::from_millis(lo))
                .max_message_latency(Duration::from_millis(hi.max(lo)));
        }
        let mut sim = builder.build();
        let root = SimRng::new(self.seed);
        let partitions = Partitions::default();
        let hosts = [SERVER, CLIENT];
        let recorder = SharedRecorder::new(self.keep_trace);
        let (publish, mut published) = tokio::sync::watch::channel(None::<DriverHandle>);
        let publish = Arc::new(publish);

        let server_net = SimNetwork::new(
            SERVER,
            &hosts,
            self.plan.clone(),
            root.fork(1),
            partitions.clone(),
        );
        let server_faults = server_net.fault_counters().clone();
        let config = self.config.clone();
        let server_recorder = recorder.clone();
        let trace = self.trace;
        let generation = Arc::new(AtomicU64::new(0));
        sim.host(SERVER, move || {
            let network = server_net.clone();
            let config = config.clone();
            let recorder = server_recorder.clone();
            let publish = publish.clone();
            let generation = generation.fetch_add(1, Ordering::Relaxed);
            async move {
                recorder.with(|r| {
                    r.record(TraceRecord {
                        at: Instant::ZERO,
                        event: TraceEvent::DriverStarted { generation },
                    })
                });
                let options = DriverOptions {
                    observer: trace.then(|| recorder.observer()),
                    tls_time: Some(SimClock::shared()),
                };
                let driver = Driver::start_with(config, network, options)?;
                publish.send_replace(Some(driver));
                std::future::pending::<()>().await;
                Ok(())
            }
        });

        // Connect faults are the driver's: test peers connect for real.
        let mut peer_plan = self.plan.clone();
        peer_plan.connects = Default::default();
        let peer = SimNetwork::new(CLIENT, &hosts, peer_plan, root.fork(2), partitions.clone());
        let peer_faults = peer.fault_counters().clone();
        let context_faults = server_faults.clone();
        let verdict: Arc<Mutex<Option<Result<(), String>>>> = Arc::default();
        let slot = verdict.clone();
        let seed = self.seed;
        let plan = self.plan.clone();
        sim.client(CLIENT, async move {
            let driver = loop {
                if let Some(driver) = published.borrow_and_update().clone() {
                    break driver;
                }
                if published.changed().await.is_err() {
                    return Err("the server host never started a driver".into());
                }
            };
            let context = SimContext {
                driver,
                peer,
                server: turmoil::lookup(SERVER),
                seed,
                plan,
                server_faults: context_faults,
            };
            let result = scenario(context).await;
            *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
            Ok(())
        });

        let mut events = self.plan.events.clone();
        events.sort_by_key(|e| e.at_ms);
        let mut events = events.into_iter().peekable();
        let mut crashed = false;
        let mut healed = false;
        let failure = loop {
            let now = sim.elapsed();
            while let Some(event) = events.next_if(|e| Duration::from_millis(e.at_ms) <= now) {
                if healed {
                    continue;
                }
                match event.event {
                    NetEvent::CrashServer => crashed = true,
                    NetEvent::BounceServer => crashed = false,
                    NetEvent::Heal => healed = true,
                    _ => {}
                }
                apply(&mut sim, &partitions, event.event, crashed);
                if event.event == NetEvent::Heal {
                    crashed = false;
                }
            }
            match sim.step() {
                Ok(true) => break None,
                Ok(false) => {}
                Err(e) => break Some(format!("simulation: {e}")),
            }
        };
        let sim_elapsed = sim.elapsed();
        drop(sim);
        let result = match failure {
            Some(f) => Err(f),
            None => verdict
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .unwrap_or_else(|| Err("the scenario ended without a verdict".into())),
        };
        let (trace_hash, trace_len, records) =
            recorder.with(|r| (r.hash(), r.len(), r.take_records()));
        Outcome {
            seed: self.seed,
            result,
            trace_hash,
            trace_len,
            sim_elapsed,
            records,
            server_faults: server_faults.snapshot(),
            peer_faults: peer_faults.snapshot(),
        }
    }
}

/// Applies `event`; `crashed` says whether the server host is down (a heal restarts it).
fn apply(sim: &mut turmoil::Sim<'_>, partitions: &Partitions, event: NetEvent, crashed: bool) {
    match event {
        NetEvent::Partition => {
            sim.partition(SERVER, CLIENT);
            partitions.cut(SERVER, CLIENT);
            partitions.cut(CLIENT, SERVER);
        }
        NetEvent::PartitionServerToClient => {
            sim.partition_oneway(SERVER, CLIENT);
            partitions.cut(SERVER, CLIENT);
        }
        NetEvent::PartitionClientToServer => {
            sim.partition_oneway(CLIENT, SERVER);
            partitions.cut(CLIENT, SERVER);
        }
        NetEvent::Repair => {
            sim.repair(SERVER, CLIENT);
            partitions.heal();
        }
        NetEvent::Hold => sim.hold(SERVER, CLIENT),
        NetEvent::Release => sim.release(SERVER, CLIENT),
        NetEvent::CrashServer => sim.crash(SERVER),
        NetEvent::BounceServer => sim.bounce(SERVER),
        NetEvent::Heal => {
            sim.repair(SERVER, CLIENT);
            partitions.heal();
            sim.release(SERVER, CLIENT);
            partitions.switch().turn_off();
            if crashed {
                sim.bounce(SERVER);
            }
        }
    }
}

/// One seed's two runs in a [`Sweep`].
#[derive(Debug, Clone)]
pub struct SeedReport {
    /// The first run.
    pub first: Outcome,
    /// The second run's trace hash.
    pub second_hash: u64,
    /// The second run's verdict.
    pub second_result: Result<(), String>,
}

impl SeedReport {
    /// Why the two runs of this seed differ, if they do.
    pub fn nondeterminism(&self) -> Option<String> {
        if self.first.trace_hash != self.second_hash {
            return Some(format!(
                "nondeterministic: trace hash {:016x} then {:016x}",
                self.first.trace_hash, self.second_hash
            ));
        }
        if self.first.result != self.second_result {
            return Some(format!(
                "nondeterministic verdict: {:?} then {:?}",
                self.first.result, self.second_result
            ));
        }
        None
    }

    /// The failure of this seed: two runs that differ, or a failed oracle.
    pub fn failure(&self) -> Option<String> {
        self.nondeterminism().or_else(|| {
            self.first
                .result
                .clone()
                .err()
                .map(|e| format!("{e} (trace hash {:016x})", self.first.trace_hash))
        })
    }
}

/// Many seeds of one scenario, each run twice; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct Sweep {
    test_binary: String,
    test_name: String,
    features: Option<String>,
}

/// Every seed of a [`Sweep`].
#[derive(Debug, Clone)]
pub struct SweepReport {
    /// Per seed, in order.
    pub seeds: Vec<SeedReport>,
    repro: Vec<(u64, String)>,
}

impl SweepReport {
    /// Seeds that failed, with why and the command that reproduces each.
    pub fn failures(&self) -> Vec<(u64, String, String)> {
        self.seeds
            .iter()
            .filter_map(|s| {
                s.failure()
                    .map(|f| (s.first.seed, f, self.line(s.first.seed)))
            })
            .collect()
    }

    /// Seeds whose two runs differ, with why and the command that reproduces each.
    pub fn nondeterministic(&self) -> Vec<(u64, String, String)> {
        self.seeds
            .iter()
            .filter_map(|s| {
                s.nondeterminism()
                    .map(|f| (s.first.seed, f, self.line(s.first.seed)))
            })
            .collect()
    }

    fn line(&self, seed: u64) -> String {
        self.repro
            .iter()
            .find(|(s, _)| *s == seed)
            .map(|(_, l)| l.clone())
            .unwrap_or_default()
    }

    /// Panics, listing each seed whose two runs differ, if any did; failed oracles are
    /// allowed (for sweeps under destructive faults, where failing is an outcome).
    pub fn assert_deterministic(&self) {
        fail_with(&self.nondeterministic(), self.seeds.len());
    }

    /// Panics, listing each failed seed with its reproduction line, if any seed failed.
    pub fn assert_ok(&self) {
        fail_with(&self.failures(), self.seeds.len());
    }
}

fn fail_with(failures: &[(u64, String, String)], of: usize) {
    if failures.is_empty() {
        return;
    }
    let mut text = format!("{} of {of} seeds failed:\n", failures.len());
    for (seed, why, line) in failures.iter().take(10) {
        text.push_str(&format!("seed {seed}: {why}\n  reproduce: {line}\n"));
    }
    panic!("{text}");
}

impl Sweep {
    /// A sweep of the test `test_name` in the integration-test target `test_binary` (both
    /// appear in reproduction lines).
    pub fn new(test_binary: &str, test_name: &str) -> Sweep {
        Sweep {
            test_binary: test_binary.to_owned(),
            test_name: test_name.to_owned(),
            features: None,
        }
    }

    /// Cargo features the test needs (added to reproduction lines).
    pub fn features(mut self, features: &str) -> Sweep {
        self.features = Some(features.to_owned());
        self
    }

    /// The command that reruns `seed` alone ([`Repro`], the format `theater-tcp-sim` prints
    /// too).
    pub fn repro_line(&self, seed: u64) -> String {
        Repro::test(seed, "theater-tcp-sim", &self.test_binary, &self.test_name)
            .features(self.features.as_deref())
            .line()
    }

    /// `seeds`, or only the seed in [`SEED_VAR`] when it is set (it may lie outside them).
    ///
    /// # Panics
    /// When [`SEED_VAR`] is set to something that is not a seed.
    pub fn seeds(&self, seeds: Range<u64>) -> Vec<u64> {
        match seed_from_env() {
            Ok(Some(seed)) => vec![seed],
            Ok(None) => seeds.collect(),
            Err(e) => panic!("{e}"),
        }
    }

    /// Runs each seed twice with the `Sim` that `sim` builds for it and the scenario that
    /// `scenario` builds; prints a line per failed seed with its reproduction command.
    pub fn run<S, F, Fut>(&self, seeds: Range<u64>, sim: S, scenario: F) -> SweepReport
    where
        S: Fn(u64) -> Sim,
        F: Fn(SimContext) -> Fut + Clone + 'static,
        Fut: Future<Output = Result<(), String>> + 'static,
    {
        let mut report = SweepReport {
            seeds: Vec::new(),
            repro: Vec::new(),
        };
        for seed in self.seeds(seeds) {
            let first = sim(seed).run(scenario.clone());
            let second = sim(seed).run(scenario.clone());
            let seed_report = SeedReport {
                first,
                second_hash: second.trace_hash,
                second_result: second.result,
            };
            if seed_report.failure().is_some() {
                report.repro.push((seed, self.repro_line(seed)));
            }
            report.seeds.push(seed_report);
        }
        report
    }
}
