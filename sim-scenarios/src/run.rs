//! Running a scenario for one seed: the run twice (determinism), the core replay (determinism
//! of the core itself, and its probes), the scenario's own oracles, liveness (the limit), and
//! coverage; and shrinking the plan of a seed that failed.

use crate::coverage::{self, Coverage};
use crate::scenario::Scenario;
use crate::shrink::{self, Shrunk};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use theater_tcp_sim::harness::SeedReport;
use theater_tcp_sim::{FaultPlan, TraceRecord};

/// The verdict on one seed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", content = "why", rename_all = "snake_case")]
pub enum Verdict {
    /// Every oracle held, both runs agreed.
    Pass,
    /// An oracle failed (safety, or liveness: the run did not finish in time).
    Fail(String),
    /// The two runs differ, or the replayed core differs from the recorded one.
    Nondeterministic(String),
}

impl Verdict {
    /// Whether the seed passed.
    pub fn passed(&self) -> bool {
        matches!(self, Verdict::Pass)
    }

    /// The one-word name of the verdict.
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail(_) => "FAIL",
            Verdict::Nondeterministic(_) => "NONDETERMINISTIC",
        }
    }

    /// Why it did not pass.
    pub fn why(&self) -> Option<&str> {
        match self {
            Verdict::Pass => None,
            Verdict::Fail(why) | Verdict::Nondeterministic(why) => Some(why),
        }
    }
}

/// Everything one seed of one scenario produced.
#[derive(Debug, Clone)]
pub struct SeedResult {
    /// The scenario's name.
    pub scenario: &'static str,
    /// The seed.
    pub seed: u64,
    /// The fault plan it ran under.
    pub plan: FaultPlan,
    /// The verdict.
    pub verdict: Verdict,
    /// The first run's trace hash.
    pub trace_hash: u64,
    /// The second run's trace hash.
    pub second_hash: u64,
    /// Records in the first run's trace.
    pub trace_len: u64,
    /// Simulated time of the first run.
    pub sim_elapsed: Duration,
    /// Wall-clock time of both runs and the replay.
    pub wall: Duration,
    /// What the first run reached.
    pub coverage: Coverage,
    /// The first run's trace, when asked for.
    pub records: Vec<TraceRecord>,
}

/// A saved seed, as `theater-tcp-sim --save-failures DIR` writes it and `theater-tcp-sim replay
/// FILE` runs it: the scenario, the seed and the fault plan to run it under (the minimal one
/// when the failure was shrunk), and the trace hash that run gave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Regression {
    /// The scenario's name.
    pub scenario: String,
    /// The seed.
    pub seed: u64,
    /// The fault plan, instead of the one the seed draws.
    pub plan: FaultPlan,
    /// The expected trace hash, 16 hex digits as result lines print it; a replay that gives
    /// another one fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_hash: Option<String>,
    /// Why the seed failed when it was saved (for the reader; a replay ignores it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// The prefix of turmoil's error when a run reaches its time limit.
const TIME_LIMIT: &str = "simulation: Ran for duration";

/// Runs `scenario` for `seed` under `plan` twice, replays the first run's trace through a
/// fresh core, and judges it. Keeps the trace records in the result when `keep_records`.
pub fn run_seed(scenario: &Scenario, seed: u64, plan: FaultPlan, keep_records: bool) -> SeedResult {
    let started = std::time::Instant::now();
    let mut result = SeedResult {
        scenario: scenario.name,
        seed,
        plan: plan.clone(),
        verdict: Verdict::Pass,
        trace_hash: 0,
        second_hash: 0,
        trace_len: 0,
        sim_elapsed: Duration::ZERO,
        wall: Duration::ZERO,
        coverage: Coverage::default(),
        records: Vec::new(),
    };
    let (sim, config) = match scenario.sim(seed, plan.clone()) {
        Ok(setup) => setup,
        Err(e) => {
            result.verdict = Verdict::Fail(format!("setup: {e}"));
            return result;
        }
    };
    let first = sim.run(scenario.body);
    let second = sim.clone().keep_trace(false).run(scenario.body);
    let report = SeedReport {
        first,
        second_hash: second.trace_hash,
        second_result: second.result,
    };
    let replayed = coverage::replay(&config, &report.first.records);
    let (fired, armed) = coverage::faults(&plan, &report.first);
    result.verdict = if let Some(why) = report.nondeterminism() {
        Verdict::Nondeterministic(why)
    } else if let Err(why) = &replayed {
        Verdict::Nondeterministic(format!("core replay: {why}"))
    } else {
        match &report.first.result {
            Ok(()) => Verdict::Pass,
            Err(why) if why.starts_with(TIME_LIMIT) => Verdict::Fail(format!(
                "liveness: not finished within {:?} of simulated time ({why})",
                scenario.limit
            )),
            Err(why) => Verdict::Fail(why.clone()),
        }
    };
    result.coverage = Coverage {
        probes: replayed.unwrap_or_default(),
        fired,
        armed,
        by_host: coverage::by_host(&report.first),
    };
    result.trace_hash = report.first.trace_hash;
    result.second_hash = report.second_hash;
    result.trace_len = report.first.trace_len;
    result.sim_elapsed = report.first.sim_elapsed;
    if keep_records {
        result.records = report.first.records;
    }
    result.wall = started.elapsed();
    result
}

/// Shrinks the plan of a failed seed: a candidate plan counts as failing when its verdict is
/// of the same kind (an oracle failure, or nondeterminism) as the original's.
pub fn shrink_failure(scenario: &Scenario, failed: &SeedResult, budget: usize) -> Shrunk {
    let same_kind = |v: &Verdict| {
        std::mem::discriminant(v) == std::mem::discriminant(&failed.verdict) && !v.passed()
    };
    shrink::shrink(&failed.plan, budget, |candidate| {
        same_kind(&run_seed(scenario, failed.seed, candidate.clone(), false).verdict)
    })
}
