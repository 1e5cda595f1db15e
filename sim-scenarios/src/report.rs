//! What `theater-tcp-sim` prints: one line per (scenario, seed), the trace when asked, a
//! summary table with coverage, and per failure its minimal plan and the command that
//! reproduces it; as human text or as JSON lines (one object per line, field `kind` says
//! which: `result`, `trace`, `failure`, `summary`).

use crate::run::{SeedResult, Verdict};
use crate::shrink::Shrunk;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{self, Write};
use theater_tcp_sim::FaultPlan;

/// A value as one line of JSON, with byte lists longer than 16 shown as `"<N bytes>"` (trace
/// records carry every data byte).
pub fn compact<T: Serialize>(value: &T) -> String {
    fn shorten(v: Value) -> Value {
        match v {
            Value::Array(items) if items.len() > 16 && items.iter().all(Value::is_u64) => {
                Value::String(format!("<{} bytes>", items.len()))
            }
            Value::Array(items) => Value::Array(items.into_iter().map(shorten).collect()),
            Value::Object(map) => {
                Value::Object(map.into_iter().map(|(k, v)| (k, shorten(v))).collect())
            }
            other => other,
        }
    }
    match serde_json::to_value(value) {
        Ok(v) => shorten(v).to_string(),
        Err(e) => format!("<unserializable: {e}>"),
    }
}

/// The command that reruns `seed` of `scenario` alone (with `plan` instead of the seed's own
/// draw, when given).
pub fn repro_line(scenario: &str, seed: u64, plan: Option<&FaultPlan>) -> String {
    let features = if cfg!(feature = "planted-bug") {
        " --features planted-bug"
    } else {
        ""
    };
    let mut line = format!(
        "cargo run --release -p theater-tcp-scenarios{features} --bin theater-tcp-sim -- \
         --scenario {scenario} --seeds {seed}..{}",
        seed.saturating_add(1)
    );
    if let Some(plan) = plan {
        // A plan's JSON has no single quotes: it is safe inside them in a POSIX shell.
        let json = serde_json::to_string(plan).unwrap_or_default();
        line.push_str(&format!(" --plan '{json}'"));
    }
    line
}

/// A seed that did not pass, with its shrunk plan.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The failed seed (its records dropped).
    pub result: SeedResult,
    /// The minimal plan, when shrinking ran.
    pub shrunk: Option<Shrunk>,
}

impl Failure {
    /// The command that reruns the seed as it failed.
    pub fn repro(&self, plan_given: bool) -> String {
        let plan = plan_given.then_some(&self.result.plan);
        repro_line(self.result.scenario, self.result.seed, plan)
    }

    /// The command that reruns the seed under its minimal plan.
    pub fn repro_minimal(&self) -> Option<String> {
        self.shrunk
            .as_ref()
            .map(|s| repro_line(self.result.scenario, self.result.seed, Some(&s.plan)))
    }
}

/// Per scenario: seed counts by verdict, and in how many seeds each probe and fault kind was
/// reached.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Row {
    /// The scenario.
    pub scenario: String,
    /// Seeds run.
    pub seeds: u64,
    /// Seeds that passed.
    pub passed: u64,
    /// Seeds whose oracles failed.
    pub failed: u64,
    /// Seeds whose runs differed.
    pub nondeterministic: u64,
    /// Core probe name: seeds that took it.
    pub probes: BTreeMap<String, u64>,
    /// Fault kind: seeds where it fired.
    pub faults_fired: BTreeMap<String, u64>,
    /// Fault kind: how often it fired, over every seed.
    pub faults_fired_times: BTreeMap<String, u64>,
    /// Fault kind: seeds where it was armed but cannot be counted (only `latency`).
    pub faults_armed: BTreeMap<String, u64>,
}

/// The summary of a whole invocation, one [`Row`] per scenario in run order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// The rows.
    pub rows: Vec<Row>,
}

impl Summary {
    /// Counts one seed's result.
    pub fn add(&mut self, r: &SeedResult) {
        let at = match self.rows.iter().position(|row| row.scenario == r.scenario) {
            Some(at) => at,
            None => {
                self.rows.push(Row {
                    scenario: r.scenario.to_owned(),
                    ..Row::default()
                });
                self.rows.len() - 1
            }
        };
        let row = &mut self.rows[at];
        row.seeds += 1;
        match r.verdict {
            Verdict::Pass => row.passed += 1,
            Verdict::Fail(_) => row.failed += 1,
            Verdict::Nondeterministic(_) => row.nondeterministic += 1,
        }
        for name in r.coverage.probes.keys() {
            *row.probes.entry(name.clone()).or_default() += 1;
        }
        for (name, n) in &r.coverage.fired {
            *row.faults_fired.entry(name.clone()).or_default() += 1;
            *row.faults_fired_times.entry(name.clone()).or_default() += n;
        }
        for name in &r.coverage.armed {
            *row.faults_armed.entry(name.clone()).or_default() += 1;
        }
    }

    /// Whether every seed passed.
    pub fn all_passed(&self) -> bool {
        self.rows.iter().all(|r| r.passed == r.seeds)
    }
}

/// Writes lines as humans read them or as JSON lines.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    /// JSON lines instead of text.
    pub json: bool,
    /// Whether `--plan` replaced the seeds' own plans (repro lines must carry it).
    pub plan_given: bool,
}

fn counts(map: &BTreeMap<String, u64>) -> String {
    if map.is_empty() {
        return "none".into();
    }
    map.iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `name seeds (times)` per fault kind.
fn seeds_and_times(seeds: &BTreeMap<String, u64>, times: &BTreeMap<String, u64>) -> String {
    if seeds.is_empty() {
        return "none".into();
    }
    seeds
        .iter()
        .map(|(k, n)| format!("{k} {n} ({})", times.get(k).copied().unwrap_or(0)))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Printer {
    /// The line of one seed.
    pub fn result(&self, out: &mut dyn Write, r: &SeedResult) -> io::Result<()> {
        if self.json {
            let line = json!({
                "kind": "result",
                "scenario": r.scenario,
                "seed": r.seed,
                "verdict": r.verdict,
                "trace_hash": format!("{:016x}", r.trace_hash),
                "second_hash": format!("{:016x}", r.second_hash),
                "trace_len": r.trace_len,
                "sim_ms": r.sim_elapsed.as_millis() as u64,
                "wall_ms": r.wall.as_millis() as u64,
                "plan": r.plan,
                "coverage": r.coverage,
            });
            writeln!(out, "{line}")?;
        } else {
            write!(
                out,
                "{:<16} seed {:<6} {:<4} hash {:016x}  records {:<7} sim {:>7.3}s  wall {:>6.3}s",
                r.scenario,
                r.seed,
                r.verdict.label(),
                r.trace_hash,
                r.trace_len,
                r.sim_elapsed.as_secs_f64(),
                r.wall.as_secs_f64(),
            )?;
            match r.verdict.why() {
                Some(why) => writeln!(out, "  {why}")?,
                None => writeln!(out)?,
            }
        }
        out.flush()
    }

    /// The recorded trace of one seed's first run.
    pub fn trace(&self, out: &mut dyn Write, r: &SeedResult) -> io::Result<()> {
        for record in &r.records {
            if self.json {
                writeln!(
                    out,
                    "{{\"kind\":\"trace\",\"scenario\":{},\"seed\":{},\"at_ns\":{},\"event\":{}}}",
                    Value::from(r.scenario),
                    r.seed,
                    record.at.as_nanos(),
                    compact(&record.event)
                )?;
            } else {
                writeln!(
                    out,
                    "    {:>14}  {}",
                    record.at.to_string(),
                    compact(&record.event)
                )?;
            }
        }
        out.flush()
    }

    /// The summary table, coverage, and failures with their repro lines.
    pub fn summary(
        &self,
        out: &mut dyn Write,
        summary: &Summary,
        failures: &[Failure],
    ) -> io::Result<()> {
        if self.json {
            for f in failures {
                let line = json!({
                    "kind": "failure",
                    "scenario": f.result.scenario,
                    "seed": f.result.seed,
                    "verdict": f.result.verdict,
                    "trace_hash": format!("{:016x}", f.result.trace_hash),
                    "plan": f.result.plan,
                    "minimal_plan": f.shrunk.as_ref().map(|s| &s.plan),
                    "shrink_steps": f.shrunk.as_ref().map(|s| &s.steps),
                    "shrink_tries": f.shrunk.as_ref().map(|s| s.tries),
                    "repro": f.repro(self.plan_given),
                    "repro_minimal": f.repro_minimal(),
                });
                writeln!(out, "{line}")?;
            }
            let line = json!({
                "kind": "summary",
                "all_passed": summary.all_passed(),
                "scenarios": summary.rows,
            });
            writeln!(out, "{line}")?;
            return out.flush();
        }
        writeln!(out)?;
        writeln!(
            out,
            "{:<16} {:>6} {:>7} {:>7} {:>17}",
            "scenario", "seeds", "passed", "failed", "nondeterministic"
        )?;
        let mut total = Row {
            scenario: "total".into(),
            ..Row::default()
        };
        for row in &summary.rows {
            writeln!(
                out,
                "{:<16} {:>6} {:>7} {:>7} {:>17}",
                row.scenario, row.seeds, row.passed, row.failed, row.nondeterministic
            )?;
            total.seeds += row.seeds;
            total.passed += row.passed;
            total.failed += row.failed;
            total.nondeterministic += row.nondeterministic;
        }
        writeln!(
            out,
            "{:<16} {:>6} {:>7} {:>7} {:>17}",
            total.scenario, total.seeds, total.passed, total.failed, total.nondeterministic
        )?;
        writeln!(out)?;
        writeln!(
            out,
            "coverage (number of seeds that reached each; for faults fired, in brackets, how \
             often in all):"
        )?;
        for row in &summary.rows {
            writeln!(out, "{}", row.scenario)?;
            writeln!(out, "  core probes:  {}", counts(&row.probes))?;
            writeln!(
                out,
                "  faults fired (seeds, times): {}",
                seeds_and_times(&row.faults_fired, &row.faults_fired_times)
            )?;
            writeln!(
                out,
                "  faults armed, not countable: {}",
                counts(&row.faults_armed)
            )?;
        }
        if !failures.is_empty() {
            writeln!(out)?;
            writeln!(out, "failures:")?;
            for f in failures {
                let r = &f.result;
                writeln!(
                    out,
                    "  {} seed {} ({}, trace hash {:016x}): {}",
                    r.scenario,
                    r.seed,
                    r.verdict.label(),
                    r.trace_hash,
                    r.verdict.why().unwrap_or_default()
                )?;
                writeln!(out, "    plan: {}", compact(&r.plan))?;
                if let Some(s) = &f.shrunk {
                    let steps = if s.steps.is_empty() {
                        "none kept".to_owned()
                    } else {
                        s.steps.join(", ")
                    };
                    writeln!(
                        out,
                        "    minimal plan ({} tries{}; kept: {steps}): {}",
                        s.tries,
                        if s.exhausted {
                            ", budget exhausted"
                        } else {
                            ""
                        },
                        compact(&s.plan)
                    )?;
                }
                writeln!(out, "    reproduce: {}", f.repro(self.plan_given))?;
                if let Some(line) = f.repro_minimal() {
                    writeln!(out, "    reproduce with the minimal plan: {line}")?;
                }
            }
        }
        out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_byte_lists_are_shortened_and_short_ones_kept() {
        let v = json!({"data": (0..100).collect::<Vec<u32>>(), "small": [1, 2], "s": "x"});
        let text = compact(&v);
        assert!(text.contains("\"<100 bytes>\""), "{text}");
        assert!(text.contains("[1,2]"), "{text}");
    }

    #[test]
    fn a_repro_line_names_the_scenario_and_one_seed_and_quotes_a_plan() {
        let line = repro_line("echo", 17, None);
        assert!(line.ends_with("--scenario echo --seeds 17..18"), "{line}");
        let line = repro_line("echo", 17, Some(&FaultPlan::none()));
        assert!(line.contains("--plan '{\"streams\""), "{line}");
    }
}
