//! What `theater-tcp-sim` prints: one line per (scenario, seed), the trace when asked, a
//! summary table with coverage, and per failure its minimal plan and the command that
//! reproduces it; as human text or as JSON lines (one object per line, field `kind` says
//! which: `result`, `trace`, `failure`, `summary`).

pub use crate::json::compact;
use crate::run::{SeedResult, Verdict};
use crate::shrink::Shrunk;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;
use theater_tcp_sim::{FaultPlan, Repro, TraceEvent};

/// The cargo features this build of `theater-tcp-sim` was made with, for the lines that rerun
/// it.
fn features() -> Option<&'static str> {
    cfg!(feature = "planted-bug").then_some("planted-bug")
}

/// The command that reruns `seed` of `scenario` alone (with `plan` instead of the seed's own
/// draw, when given): the workspace's one repro-line format ([`Repro`], which a simulation
/// test's `Sweep` prints too), the seed in `THEATER_SIM_SEED`.
pub fn repro_line(scenario: &str, seed: u64, plan: Option<&FaultPlan>) -> String {
    let mut args = vec!["--scenario".to_owned(), scenario.to_owned()];
    if let Some(plan) = plan {
        args.push("--plan".into());
        args.push(serde_json::to_string(plan).unwrap_or_default());
    }
    Repro::bin(seed, "theater-tcp-scenarios", "theater-tcp-sim", args)
        .features(features())
        .line()
}

/// `path` as one word of a POSIX shell command: as it is when it holds only safe characters,
/// else in single quotes.
pub fn shell_word(path: &Path) -> String {
    theater_tcp_sim::repro::shell_word(&path.display().to_string())
}

/// The command that runs the regression file `path`.
pub fn replay_line(path: &Path) -> String {
    let features = features()
        .map(|f| format!(" --features {f}"))
        .unwrap_or_default();
    format!(
        "cargo run --release -p theater-tcp-scenarios{features} --bin theater-tcp-sim -- \
         replay {}",
        shell_word(path)
    )
}

/// A seed that ran (a failure when its verdict is not a pass), with its shrunk plan.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The seed (its records dropped).
    pub result: SeedResult,
    /// The minimal plan, when shrinking ran.
    pub shrunk: Option<Shrunk>,
    /// The regression file written for it (`--save-failures`).
    pub saved: Option<PathBuf>,
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

/// How far a `--budget` run got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BudgetReport {
    /// The budget, as `--budget` takes it.
    pub budget: String,
    /// Wall-clock time the runs took (runs started before the budget ran out finish).
    pub wall: Duration,
    /// (scenario, seed) runs done.
    pub runs: u64,
    /// Scenarios per seed.
    pub scenarios: u64,
    /// The first seed run.
    pub first_seed: u64,
    /// The last seed run (some of its scenarios only, when `runs` is not a multiple of
    /// `scenarios`).
    pub last_seed: Option<u64>,
    /// Seeds that ran every requested scenario.
    pub complete_seeds: u64,
    /// Whether the seed range ended before the budget did.
    pub range_done: bool,
    /// The shard, when `--shard` was given.
    pub shard: Option<String>,
}

/// A replayed regression file's trace hash against the one it saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayCheck {
    /// The file.
    pub file: String,
    /// The hash it expects, if it has one.
    pub expected: Option<u64>,
    /// The hash of the run.
    pub got: u64,
}

impl ReplayCheck {
    /// Whether the run gave the expected hash (or none was expected).
    pub fn matches(&self) -> bool {
        self.expected.is_none_or(|e| e == self.got)
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
            } else if let TraceEvent::Transition(t) = &record.event {
                // The story line: `conn-3 connection: pending => open`.
                writeln!(out, "    {:>14}  {t}", record.at.to_string())?;
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

    /// How far a `--budget` run got (printed before the summary).
    pub fn budget(&self, out: &mut dyn Write, b: &BudgetReport) -> io::Result<()> {
        if self.json {
            let line = json!({
                "kind": "budget",
                "budget": b.budget,
                "wall_ms": b.wall.as_millis() as u64,
                "runs": b.runs,
                "first_seed": b.first_seed,
                "last_seed": b.last_seed,
                "complete_seeds": b.complete_seeds,
                "range_done": b.range_done,
                "shard": b.shard,
            });
            writeln!(out, "{line}")?;
            return out.flush();
        }
        let shard = b
            .shard
            .as_ref()
            .map(|s| format!(" of shard {s}"))
            .unwrap_or_default();
        let seeds = match b.last_seed {
            None => "no seed".to_owned(),
            Some(last) => {
                let seeds =
                    b.complete_seeds + u64::from(!b.runs.is_multiple_of(b.scenarios.max(1)));
                format!(
                    "{seeds} {}{shard} ({} to {last}), {} {}",
                    if seeds == 1 { "seed" } else { "seeds" },
                    b.first_seed,
                    b.runs,
                    if b.runs == 1 { "run" } else { "runs" },
                )
            }
        };
        let partial = if !b.runs.is_multiple_of(b.scenarios.max(1)) {
            format!(
                "; seed {} ran {} of {} scenarios",
                b.last_seed.unwrap_or_default(),
                b.runs % b.scenarios,
                b.scenarios
            )
        } else {
            String::new()
        };
        let end = if b.range_done {
            "the seed range ended first"
        } else {
            "stopped by the budget"
        };
        writeln!(out)?;
        writeln!(
            out,
            "budget {}: {seeds} in {:.1}s{partial}; {end}",
            b.budget,
            b.wall.as_secs_f64()
        )?;
        out.flush()
    }

    /// Whether a replayed file gave its expected trace hash (printed before the summary).
    pub fn replay(&self, out: &mut dyn Write, r: &ReplayCheck) -> io::Result<()> {
        if self.json {
            let line = json!({
                "kind": "replay",
                "file": r.file,
                "expected_hash": r.expected.map(|h| format!("{h:016x}")),
                "trace_hash": format!("{:016x}", r.got),
                "matches": r.matches(),
            });
            writeln!(out, "{line}")?;
            return out.flush();
        }
        writeln!(out)?;
        match r.expected {
            None => writeln!(
                out,
                "replay {}: trace hash {:016x} (the file expects none)",
                r.file, r.got
            )?,
            Some(e) if e == r.got => writeln!(
                out,
                "replay {}: trace hash {:016x}, as expected",
                r.file, r.got
            )?,
            Some(e) => writeln!(
                out,
                "replay {}: trace hash {:016x} DIFFERS from the expected {e:016x}: the run is \
                 not the one saved (the core, the scenario or the build changed)",
                r.file, r.got
            )?,
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
                    "replay": f.saved.as_deref().map(replay_line),
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
                if let Some(path) = &f.saved {
                    writeln!(
                        out,
                        "    saved: {}; replay: {}",
                        path.display(),
                        replay_line(path)
                    )?;
                }
            }
        }
        out.flush()
    }
}

/// `text` escaped for XML attribute values and character data; characters XML 1.0 cannot
/// hold (most control characters) become U+FFFD.
pub fn xml_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            '\t' | '\n' | '\r' => escaped.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {
                escaped.push('\u{fffd}');
            }
            c => escaped.push(c),
        }
    }
    escaped
}

/// A JUnit XML report of `cases`: one `testsuite` per scenario (in the order they first ran),
/// one `testcase` per seed (`name="seed N"`, `classname="theater-tcp-sim.SCENARIO"`, `time` in
/// seconds of wall-clock time), and for a seed that did not pass a `failure` (`type` is
/// `FAIL` or `NONDETERMINISTIC`) whose message is the reason and whose text carries the trace
/// hash, the plan and the commands that reproduce it.
pub fn junit(cases: &[Failure], plan_given: bool) -> String {
    let mut suites: Vec<(&str, Vec<&Failure>)> = Vec::new();
    for case in cases {
        match suites
            .iter_mut()
            .find(|(name, _)| *name == case.result.scenario)
        {
            Some((_, list)) => list.push(case),
            None => suites.push((case.result.scenario, vec![case])),
        }
    }
    let secs = |cases: &[&Failure]| {
        cases
            .iter()
            .map(|c| c.result.wall.as_secs_f64())
            .sum::<f64>()
    };
    let failed = |cases: &[&Failure]| cases.iter().filter(|c| !c.result.verdict.passed()).count();
    let all: Vec<&Failure> = cases.iter().collect();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    xml.push_str(&format!(
        "<testsuites name=\"theater-tcp-sim\" tests=\"{}\" failures=\"{}\" errors=\"0\" \
         time=\"{:.3}\">\n",
        all.len(),
        failed(&all),
        secs(&all)
    ));
    for (name, list) in &suites {
        xml.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" \
             skipped=\"0\" time=\"{:.3}\">\n",
            xml_escape(name),
            list.len(),
            failed(list),
            secs(list)
        ));
        for case in list {
            let r = &case.result;
            let open = format!(
                "    <testcase classname=\"theater-tcp-sim.{}\" name=\"seed {}\" time=\"{:.3}\"",
                xml_escape(name),
                r.seed,
                r.wall.as_secs_f64()
            );
            let Some(why) = r.verdict.why() else {
                xml.push_str(&open);
                xml.push_str("/>\n");
                continue;
            };
            let mut text = format!(
                "{} seed {} ({}, trace hash {:016x}): {why}\nplan: {}\nreproduce: {}\n",
                r.scenario,
                r.seed,
                r.verdict.label(),
                r.trace_hash,
                compact(&r.plan),
                case.repro(plan_given)
            );
            if let Some(s) = &case.shrunk {
                text.push_str(&format!("minimal plan: {}\n", compact(&s.plan)));
            }
            if let Some(line) = case.repro_minimal() {
                text.push_str(&format!("reproduce with the minimal plan: {line}\n"));
            }
            if let Some(path) = &case.saved {
                text.push_str(&format!("replay: {}\n", replay_line(path)));
            }
            xml.push_str(&format!(
                "{open}>\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    \
                 </testcase>\n",
                xml_escape(why),
                r.verdict.label(),
                xml_escape(&text)
            ));
        }
        xml.push_str("  </testsuite>\n");
    }
    xml.push_str("</testsuites>\n");
    xml
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
    fn xml_text_is_escaped_and_control_characters_replaced() {
        assert_eq!(
            xml_escape("a<b & \"c\" 'd'>\u{1}\n"),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;\u{fffd}\n"
        );
    }

    #[test]
    fn paths_are_quoted_for_the_shell_only_when_needed() {
        assert_eq!(
            shell_word(Path::new("out/echo-seed-3.json")),
            "out/echo-seed-3.json"
        );
        assert_eq!(
            shell_word(Path::new("my dir/it's.json")),
            "'my dir/it'\\''s.json'"
        );
    }

    #[test]
    fn a_repro_line_names_the_scenario_and_one_seed_and_quotes_a_plan() {
        let line = repro_line("echo", 17, None);
        assert!(line.starts_with("THEATER_SIM_SEED=17 cargo run "), "{line}");
        assert!(
            line.ends_with("--bin theater-tcp-sim -- --scenario echo"),
            "{line}"
        );
        let line = repro_line("echo", 17, Some(&FaultPlan::none()));
        assert!(
            line.contains(" --scenario echo --plan '{\"streams\""),
            "{line}"
        );
    }
}
