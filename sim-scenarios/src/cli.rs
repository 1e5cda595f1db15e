//! The `theater-tcp-sim` command line (ARCHITECTURE.md, "Command-line contract"):
//! `theater-tcp-sim [--scenario NAME|all] [--seeds A..B] [--trace] [--json]`, plus `--plan`,
//! `--no-shrink`, `--list`, `--help`, and for CI and long runs `--jobs`, `--shard`,
//! `--budget`, `--junit`, `--save-failures`, `--progress` and `replay FILE`. Exit status 0
//! when every seed passed, 1 when any failed or was nondeterministic, 2 on bad arguments.
//! `THEATER_SIM_SEED=N` in the environment runs seed N alone: the seed of every repro line
//! (`theater_tcp_sim::repro`, the format a simulation test's `Sweep` prints too).
//!
//! A run is a list of (scenario, seed) runs: scenario by scenario, each over its seeds in
//! order; with `--budget`, seed by seed (every scenario of a seed before the next seed), so
//! that whatever the budget allows covers every scenario alike. Worker threads (`--jobs`) take
//! runs from that list in order; results are printed in list order, so the output is the same
//! whatever the number of jobs.

use crate::catalogue::{self, Scenario};
use crate::report::{self, BudgetReport, Failure, Printer, ReplayCheck, Summary};
use crate::run::{Regression, SeedResult, Verdict, run_seed, shrink_failure};
use clap::error::ErrorKind;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::collections::BTreeMap;
use std::fmt;
use std::io::{IsTerminal, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use theater_tcp_sim::FaultPlan;
use theater_tcp_sim::repro::{SEED_VAR, parse_seed};

/// Seeds run when `--seeds` is not given.
pub const DEFAULT_SEEDS: Range<u64> = 0..20;

/// Candidate plans tried when shrinking one failure (each runs the seed twice).
pub const SHRINK_BUDGET: usize = 100;

/// Exit status: every seed passed.
pub const EXIT_OK: i32 = 0;
/// Exit status: a seed failed or was nondeterministic.
pub const EXIT_FAILED: i32 = 1;
/// Exit status: bad arguments.
pub const EXIT_USAGE: i32 = 2;

/// How often the progress line is refreshed (and how long a sweep runs before the first one).
pub const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// Stack of each worker thread: a scenario's futures are deep in unoptimised builds, and a
/// spawned thread's default (2 MiB) is smaller than the main thread's.
const WORKER_STACK: usize = 16 * 1024 * 1024;

/// The short form of the usage, printed after an argument error.
const USAGE: &str = "usage: theater-tcp-sim [--scenario NAME|all]... [--seeds A..B] [--jobs N] \
[--shard I/N]
                       [--budget DURATION] [--trace] [--json] [--plan JSON] [--no-shrink]
                       [--junit FILE] [--save-failures DIR] [--progress] [--list] [--help]
       theater-tcp-sim replay FILE [--trace] [--json] [--junit FILE] [--progress]";

/// What the arguments ask for.
#[derive(Debug, Clone)]
pub enum Request {
    /// Print this help text.
    Help(String),
    /// Print the catalogue.
    List,
    /// Run scenarios.
    Run(Box<Options>),
}

/// Options of a run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The scenarios, in catalogue order.
    pub scenarios: Vec<&'static Scenario>,
    /// The seeds (end excluded; `u64::MAX` when `--seeds A..` left the end open, which only a
    /// budget may do).
    pub seeds: Range<u64>,
    /// Print each run's trace.
    pub trace: bool,
    /// JSON lines instead of text.
    pub json: bool,
    /// A plan that replaces every seed's own draw.
    pub plan: Option<FaultPlan>,
    /// Shrink the plans of failed seeds.
    pub shrink: bool,
    /// Worker threads.
    pub jobs: usize,
    /// Run only this shard's seeds.
    pub shard: Option<Shard>,
    /// Stop starting runs once this much wall-clock time has passed.
    pub budget: Option<Duration>,
    /// Write a JUnit XML report here.
    pub junit: Option<PathBuf>,
    /// Write a regression file per failing seed into this directory.
    pub save_failures: Option<PathBuf>,
    /// Print the progress line even when stderr is not a terminal.
    pub progress: bool,
    /// The regression file this run replays, with the trace hash it expects.
    pub replay: Option<(PathBuf, Option<u64>)>,
}

/// `--shard I/N`: the seeds `s` with `s % count == index` (shards are numbered from 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This shard, `0..count`.
    pub index: u64,
    /// How many shards there are.
    pub count: u64,
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Bad arguments, with a message that says what is wrong and what would be right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgError(pub String);

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ArgError {}

/// The valid `--scenario` values, for error messages and help.
pub fn scenario_names() -> String {
    let mut names = vec!["all"];
    names.extend(catalogue::catalogue().iter().map(|s| s.name));
    names.join(", ")
}

/// The catalogue with every oracle, for `--list`.
pub fn listing() -> String {
    let mut text = String::new();
    for s in catalogue::catalogue() {
        let note = if s.in_all { "" } else { " (not in all)" };
        text.push_str(&format!(
            "{}{note}\n  {}\n  oracles: {}\n  limit: {:?} of simulated time\n",
            s.name, s.about, s.oracles, s.limit
        ));
    }
    text
}

/// One `--scenario` value: a name, or `all`.
#[derive(Debug, Clone)]
struct Selection(Vec<&'static Scenario>);

fn parse_scenario(text: &str) -> Result<Selection, ArgError> {
    let name = text.trim();
    if name == "all" {
        Ok(Selection(catalogue::all()))
    } else if let Some(s) = catalogue::find(name) {
        Ok(Selection(vec![s]))
    } else {
        Err(ArgError(format!(
            "unknown scenario '{name}'; valid names: {}",
            scenario_names()
        )))
    }
}

/// Parses a seed range: `A..B` (B excluded, A < B) or one seed `N`.
pub fn parse_seeds(text: &str) -> Result<Range<u64>, ArgError> {
    let malformed = || {
        ArgError(format!(
            "malformed seed range '{text}': expected A..B with whole numbers A < B (B is \
             excluded), e.g. --seeds 0..20, or one seed, e.g. --seeds 17, or A.. with --budget"
        ))
    };
    let number = |s: &str| s.trim().parse::<u64>().map_err(|_| malformed());
    match text.split_once("..") {
        None => {
            let seed = number(text)?;
            let end = seed.checked_add(1).ok_or_else(malformed)?;
            Ok(seed..end)
        }
        // Open: as many seeds as a budget allows.
        Some((a, "")) => Ok(number(a)?..u64::MAX),
        Some((a, b)) => {
            let (a, b) = (number(a)?, number(b)?);
            if a >= b {
                return Err(ArgError(format!(
                    "empty seed range '{text}': B is excluded, so B must be greater than A \
                     (for one seed N write N..N+1 or just N)"
                )));
            }
            Ok(a..b)
        }
    }
}

/// Parses `--shard I/N`: `N` at least 1, `I` in `0..N`.
pub fn parse_shard(text: &str) -> Result<Shard, ArgError> {
    let malformed = || {
        ArgError(format!(
            "malformed shard '{text}': expected I/N, shard I of N numbered from 0 \
             (0 <= I < N), e.g. --shard 0/4 ... --shard 3/4"
        ))
    };
    let (i, n) = text.split_once('/').ok_or_else(malformed)?;
    let index = i.trim().parse::<u64>().map_err(|_| malformed())?;
    let count = n.trim().parse::<u64>().map_err(|_| malformed())?;
    if count == 0 {
        return Err(ArgError(format!(
            "shard '{text}': the number of shards N must be at least 1"
        )));
    }
    if index >= count {
        return Err(ArgError(format!(
            "shard '{text}' does not exist: shards are numbered from 0, so with {count} \
             shards I is 0 to {}",
            count - 1
        )));
    }
    Ok(Shard { index, count })
}

/// Parses a duration: whole numbers with a unit, `h`, `m`, `s` or `ms`, e.g. `90s`, `10m`,
/// `1h30m`; more than zero.
pub fn parse_duration(text: &str) -> Result<Duration, ArgError> {
    let malformed = || {
        ArgError(format!(
            "malformed duration '{text}': expected whole numbers with units h, m, s or ms, \
             e.g. 90s, 10m, 1h or 1h30m"
        ))
    };
    let mut total = Duration::ZERO;
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(malformed());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let n: u64 = rest[..digits].parse().map_err(|_| malformed())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "h" => Duration::from_secs(3600),
            "m" => Duration::from_secs(60),
            "s" => Duration::from_secs(1),
            "ms" => Duration::from_millis(1),
            _ => return Err(malformed()),
        };
        rest = &rest[unit_len..];
        let part = u32::try_from(n)
            .ok()
            .and_then(|n| unit.checked_mul(n))
            .ok_or_else(malformed)?;
        total = total.checked_add(part).ok_or_else(malformed)?;
    }
    if total.is_zero() {
        return Err(ArgError(format!(
            "budget '{text}' is zero: give a time to run for, e.g. --budget 10m"
        )));
    }
    Ok(total)
}

fn parse_jobs(text: &str) -> Result<usize, ArgError> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err(ArgError(
            "--jobs must be at least 1 (the number of worker threads)".into(),
        )),
        Ok(n) => Ok(n),
        Err(_) => Err(ArgError(format!(
            "malformed job count '{text}': expected a whole number of worker threads, e.g. --jobs 2"
        ))),
    }
}

fn parse_plan(text: &str) -> Result<FaultPlan, ArgError> {
    let plan: FaultPlan = serde_json::from_str(text).map_err(|e| {
        ArgError(format!(
            "not a fault plan ({e}); pass the JSON a failure prints"
        ))
    })?;
    plan.check()
        .map_err(|e| ArgError(format!("not a plan that can run: {e}")))?;
    Ok(plan)
}

/// A duration as the options take it: `1h30m`, `90s` is `1m30s`, `1500ms` is `1s500ms`.
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let mut text = String::new();
    for (n, unit) in [
        (secs / 3600, "h"),
        (secs / 60 % 60, "m"),
        (secs % 60, "s"),
        (u64::from(d.subsec_millis()), "ms"),
    ] {
        if n > 0 {
            text.push_str(&format!("{n}{unit}"));
        }
    }
    if text.is_empty() {
        text.push_str("0s");
    }
    text
}

/// The arguments, as clap parses them.
#[derive(Debug, Parser)]
#[command(
    name = "theater-tcp-sim",
    about = "Runs the Theater TCP handler's simulation scenarios, each seed twice, and judges \
             them with safety, liveness and determinism oracles.",
    disable_version_flag = true,
    disable_help_subcommand = true,
    max_term_width = 100,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Run this scenario (repeat, or separate names with commas); default: all (every scenario
    /// listed below except self-tests).
    #[arg(long, value_name = "NAME|all", value_delimiter = ',', value_parser = parse_scenario)]
    scenario: Vec<Selection>,
    /// Run seeds A to B-1 (B excluded), or one seed N; A.. (no end) runs until --budget is
    /// used up; default: 0..20.
    #[arg(long, value_name = "A..B", value_parser = parse_seeds)]
    seeds: Option<Range<u64>>,
    /// Run the seeds on N worker threads; the output is the same as with one.
    #[arg(long, value_name = "N", default_value = "1", value_parser = parse_jobs)]
    jobs: usize,
    /// Run only shard I of N: the seeds s of the range with s % N == I (numbered from 0, so
    /// --shard 0/2 and --shard 1/2 split a sweep in two; interleaved, so every shard gets
    /// seeds from the whole range and takes about as long as the others).
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    shard: Option<Shard>,
    /// Run seeds from the start of the range, seed by seed (every requested scenario of a seed
    /// before the next seed), until DURATION of wall-clock time is used up (e.g. 90s, 10m,
    /// 1h30m); runs already started finish and are reported. Caps --seeds A..B, and is
    /// needed by --seeds A.. (no end). Running no seed at all is a failure.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    budget: Option<Duration>,
    /// After each result line, print the first run's recorded trace (every core input and
    /// output with its time; long byte lists shortened).
    #[arg(long, global = true)]
    trace: bool,
    /// Print JSON lines instead of text: one {"kind":"result"} per seed, {"kind":"trace"} per
    /// trace record, {"kind":"failure"} per failure, {"kind":"budget"} and {"kind":"replay"}
    /// when asked for, then one {"kind":"summary"}.
    #[arg(long, global = true)]
    json: bool,
    /// Run every seed under this fault plan (the JSON a failure prints) instead of the plan
    /// the seed draws.
    #[arg(long, value_name = "JSON", value_parser = parse_plan)]
    plan: Option<FaultPlan>,
    /// Do not shrink the fault plans of failing seeds.
    #[arg(long)]
    no_shrink: bool,
    /// Write a JUnit XML report to FILE: one testsuite per scenario, one testcase per seed,
    /// with each failure's reason and the command that reproduces it.
    #[arg(long, value_name = "FILE", global = true)]
    junit: Option<PathBuf>,
    /// Write one regression file per failing seed into DIR (scenario, seed, the minimal plan
    /// when shrunk, its trace hash), and print the `replay` command for it.
    #[arg(long, value_name = "DIR")]
    save_failures: Option<PathBuf>,
    /// Print a progress line on stderr every 2 s even when stderr is not a terminal (on a
    /// terminal it is printed anyway, for sweeps longer than 2 s).
    #[arg(long, global = true)]
    progress: bool,
    /// List the scenarios with what their oracles check, and exit.
    #[arg(long)]
    list: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a saved regression file (JSON: scenario, seed, plan, and optionally the expected
    /// trace_hash) exactly; exit 1 when it fails, or when its trace hash differs from the
    /// expected one.
    Replay {
        /// The regression file, as --save-failures writes it.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

fn after_help() -> String {
    let mut text = format!(
        "Output: one line per (scenario, seed) with its verdict and trace hash, a summary table \
(scenario, seeds, passed, failed, nondeterministic) with coverage (core probes reached, fault \
kinds fired with how often, latency as armed since it cannot be counted), and for each failure \
its minimal fault plan and a command that reproduces it. Lines come scenario by scenario, each \
over its seeds in order (with --budget: seed by seed), whatever --jobs is. The progress line \
goes to stderr only.

Exit status: 0 every seed passed, 1 a seed failed or its two runs differed (or a replay's trace \
hash differs from the saved one, or a budget ran out before any seed ran), 2 bad arguments.

Environment: THEATER_SIM_SEED=N runs seed N alone, as --seeds N would; every repro line sets it \
(the form a simulation test's sweep reads too). It cannot be combined with --seeds or replay.

Default seeds: {}..{}. Scenarios:
",
        DEFAULT_SEEDS.start, DEFAULT_SEEDS.end
    );
    for s in catalogue::catalogue() {
        text.push_str(&format!("  {:<17} {}\n", s.name, s.about));
    }
    text
}

fn command() -> clap::Command {
    Cli::command().after_help(after_help())
}

/// The help text.
pub fn usage() -> String {
    command().render_help().to_string()
}

/// The message of a clap error, without its `error: ` prefix and its usage section.
fn clap_message(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let text = text.strip_prefix("error: ").unwrap_or(&text);
    let text = text.split("\n\nUsage:").next().unwrap_or(text);
    let text = text
        .split("\n\nFor more information")
        .next()
        .unwrap_or(text);
    text.trim_end().to_owned()
}

/// Parses the arguments (without the program name), as if `THEATER_SIM_SEED` were not set.
pub fn parse_args<I, S>(args: I) -> Result<Request, ArgError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    parse_command_line(args, None)
}

/// Parses the arguments (without the program name) and `seed_var`, the value of
/// `THEATER_SIM_SEED` when it is set: that seed alone runs, as `--seeds N` would (the seed of
/// every repro line, which a simulation test's `Sweep` reads too); it and `--seeds` or
/// `replay` together are refused.
pub fn parse_command_line<I, S>(args: I, seed_var: Option<&str>) -> Result<Request, ArgError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let env_seed = match seed_var {
        None => None,
        Some(value) => Some(parse_seed(value).map_err(ArgError)?),
    };
    let args =
        std::iter::once("theater-tcp-sim".to_owned()).chain(args.into_iter().map(Into::into));
    let matches = match command().try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::DisplayHelp => {
            return Ok(Request::Help(e.render().to_string()));
        }
        Err(e) => return Err(ArgError(clap_message(&e))),
    };
    let cli = Cli::from_arg_matches(&matches).map_err(|e| ArgError(clap_message(&e)))?;
    if cli.list {
        return Ok(Request::List);
    }
    if let Some(seed) = env_seed {
        let other = match (&cli.seeds, &cli.command) {
            (Some(_), _) => Some("--seeds"),
            (None, Some(Command::Replay { .. })) => Some("replay"),
            (None, None) => None,
        };
        if let Some(other) = other {
            return Err(ArgError(format!(
                "{SEED_VAR}={seed} and {other} both choose the seeds: give one (unset \
                 {SEED_VAR} to run {other})"
            )));
        }
    }
    let seeds = env_seed.map(|seed| seed..seed.saturating_add(1));
    let mut options = Options {
        scenarios: Vec::new(),
        seeds: seeds.or(cli.seeds.clone()).unwrap_or(DEFAULT_SEEDS),
        trace: cli.trace,
        json: cli.json,
        plan: cli.plan,
        shrink: !cli.no_shrink,
        jobs: cli.jobs,
        shard: cli.shard,
        budget: cli.budget,
        junit: cli.junit,
        save_failures: cli.save_failures,
        progress: cli.progress,
        replay: None,
    };
    if let Some(Command::Replay { file }) = cli.command {
        let regression = read_regression(&file)?;
        let scenario = catalogue::find(&regression.scenario).ok_or_else(|| {
            ArgError(format!(
                "{}: unknown scenario '{}'; valid names: {}",
                file.display(),
                regression.scenario,
                scenario_names()
            ))
        })?;
        let expected = match &regression.trace_hash {
            None => None,
            Some(hex) => Some(u64::from_str_radix(hex, 16).map_err(|_| {
                ArgError(format!(
                    "{}: trace_hash '{hex}' is not a hash as printed (16 hex digits)",
                    file.display()
                ))
            })?),
        };
        options.scenarios = vec![scenario];
        options.seeds = regression.seed..regression.seed.saturating_add(1);
        options.plan = Some(regression.plan);
        options.shrink = false;
        options.replay = Some((file, expected));
        return Ok(Request::Run(Box::new(options)));
    }
    for selection in cli.scenario {
        options.scenarios.extend(selection.0);
    }
    if options.scenarios.is_empty() {
        options.scenarios = catalogue::all();
    }
    // Catalogue order, each once.
    let order = |s: &&Scenario| catalogue::catalogue().iter().position(|c| c.name == s.name);
    options.scenarios.sort_by_key(order);
    options.scenarios.dedup_by_key(|s| s.name);
    if options.seeds.end == u64::MAX && options.budget.is_none() {
        return Err(ArgError(format!(
            "--seeds {}.. has no end: give an end (--seeds {}..{}) or a --budget to stop at",
            options.seeds.start,
            options.seeds.start,
            options.seeds.start.saturating_add(20)
        )));
    }
    if Seeds::new(options.seeds.clone(), options.shard).count == 0 {
        let shard = options.shard.map(|s| s.to_string()).unwrap_or_default();
        return Err(ArgError(format!(
            "--shard {shard} leaves no seed of {}..{}: no seed s there has s % N == I",
            options.seeds.start, options.seeds.end
        )));
    }
    Ok(Request::Run(Box::new(options)))
}

/// Reads a regression file.
pub fn read_regression(file: &Path) -> Result<Regression, ArgError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| ArgError(format!("cannot read {}: {e}", file.display())))?;
    let regression: Regression = serde_json::from_str(&text).map_err(|e| {
        ArgError(format!(
            "{} is not a regression file ({e}); expected JSON with scenario, seed, plan and \
             optionally trace_hash, as --save-failures writes it",
            file.display()
        ))
    })?;
    regression
        .plan
        .check()
        .map_err(|e| ArgError(format!("{}: its plan cannot run: {e}", file.display())))?;
    Ok(regression)
}

/// Runs the command line: `args` without the program name; normal output to `out`, usage
/// errors and the progress line to `err`. Returns the exit status.
pub fn main_with<I, S>(args: I, out: &mut dyn Write, err: &mut dyn Write) -> i32
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let usage_error = |err: &mut dyn Write, e: &dyn fmt::Display| {
        let _ = writeln!(err, "theater-tcp-sim: {e}\n{USAGE}\nsee --help");
        EXIT_USAGE
    };
    let seed_var = std::env::var_os(SEED_VAR).map(|v| v.to_string_lossy().into_owned());
    let options = match parse_command_line(args, seed_var.as_deref()) {
        Ok(Request::Help(text)) => {
            let _ = write!(out, "{text}");
            return EXIT_OK;
        }
        Ok(Request::List) => {
            let _ = write!(out, "{}", listing());
            return EXIT_OK;
        }
        Ok(Request::Run(options)) => options,
        Err(e) => return usage_error(err, &e),
    };
    // Where the results go must be writable before anything runs.
    let junit = match &options.junit {
        None => None,
        Some(path) => match std::fs::File::create(path) {
            Ok(file) => Some(file),
            Err(e) => {
                return usage_error(err, &format!("--junit {}: {e}", path.display()));
            }
        },
    };
    if let Some(dir) = &options.save_failures
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        return usage_error(err, &format!("--save-failures {}: {e}", dir.display()));
    }
    let terminal = std::io::stderr().is_terminal();
    let progress = (options.progress || terminal).then_some(Progress::new(terminal));
    match run(&options, out, err, progress) {
        Ok(sweep) => {
            if let (Some(mut file), Some(path)) = (junit, &options.junit) {
                let xml = report::junit(&sweep.cases, options.plan.is_some());
                if let Err(e) = file.write_all(xml.as_bytes()) {
                    let _ = writeln!(err, "theater-tcp-sim: writing {}: {e}", path.display());
                    return EXIT_FAILED;
                }
            }
            if options.budget.is_some() && sweep.runs == 0 {
                let _ = writeln!(
                    err,
                    "theater-tcp-sim: the budget ran out before any seed ran"
                );
                return EXIT_FAILED;
            }
            if sweep.ok { EXIT_OK } else { EXIT_FAILED }
        }
        Err(e) => {
            let _ = writeln!(err, "theater-tcp-sim: {e}");
            EXIT_FAILED
        }
    }
}

/// The seeds of a range that a shard runs, in order.
#[derive(Debug, Clone, Copy)]
struct Seeds {
    first: u64,
    step: u64,
    /// How many (`u64::MAX` for an open range, which ends with the budget).
    count: u64,
}

impl Seeds {
    fn new(range: Range<u64>, shard: Option<Shard>) -> Self {
        let Shard { index, count } = shard.unwrap_or(Shard { index: 0, count: 1 });
        // The distance from the range's start to the next seed s with s % count == index.
        let rest = range.start % count;
        let offset = if index >= rest {
            index - rest
        } else {
            count - (rest - index)
        };
        let Some(first) = range.start.checked_add(offset).filter(|f| *f < range.end) else {
            return Seeds {
                first: range.start,
                step: count,
                count: 0,
            };
        };
        let n = if range.end == u64::MAX {
            u64::MAX
        } else {
            (range.end - 1 - first) / count + 1
        };
        Seeds {
            first,
            step: count,
            count: n,
        }
    }

    fn nth(&self, k: u64) -> u64 {
        self.first.saturating_add(k.saturating_mul(self.step))
    }
}

/// The list of (scenario, seed) runs of an invocation, by index.
struct Work<'a> {
    scenarios: &'a [&'static Scenario],
    seeds: Seeds,
    /// Seed by seed (with a budget) instead of scenario by scenario.
    seed_major: bool,
}

impl Work<'_> {
    fn total(&self) -> u64 {
        self.seeds.count.saturating_mul(self.scenarios.len() as u64)
    }

    fn unit(&self, i: u64) -> (&'static Scenario, u64) {
        let n = self.scenarios.len() as u64;
        let (scenario, k) = if self.seed_major {
            (i % n, i / n)
        } else {
            (i / self.seeds.count, i % self.seeds.count)
        };
        (self.scenarios[scenario as usize], self.seeds.nth(k))
    }
}

/// What a worker sends back for one run.
struct Unit {
    result: SeedResult,
    shrunk: Option<crate::shrink::Shrunk>,
    /// The regression file's content, when failures are saved.
    regression: Option<Regression>,
}

fn run_unit(options: &Options, scenario: &'static Scenario, seed: u64) -> Unit {
    let attempt = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let plan = options.plan.clone().unwrap_or_else(|| scenario.plan(seed));
        let result = run_seed(scenario, seed, plan, options.trace);
        let failed = !result.verdict.passed();
        let shrunk =
            (failed && options.shrink).then(|| shrink_failure(scenario, &result, SHRINK_BUDGET));
        let regression = (failed && options.save_failures.is_some()).then(|| {
            let (plan, hash) = match &shrunk {
                // The minimal plan's own run gives the hash a replay of the file must see.
                Some(s) => (
                    s.plan.clone(),
                    run_seed(scenario, seed, s.plan.clone(), false).trace_hash,
                ),
                None => (result.plan.clone(), result.trace_hash),
            };
            Regression {
                scenario: scenario.name.to_owned(),
                seed,
                plan,
                trace_hash: Some(format!("{hash:016x}")),
                why: result.verdict.why().map(str::to_owned),
            }
        });
        Unit {
            result,
            shrunk,
            regression,
        }
    }));
    attempt.unwrap_or_else(|panic| {
        let why = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into());
        Unit {
            result: SeedResult {
                scenario: scenario.name,
                seed,
                plan: options.plan.clone().unwrap_or_else(|| scenario.plan(seed)),
                verdict: Verdict::Fail(format!("panicked: {why}")),
                trace_hash: 0,
                second_hash: 0,
                trace_len: 0,
                sim_elapsed: Duration::ZERO,
                wall: Duration::ZERO,
                coverage: Default::default(),
                records: Vec::new(),
            },
            shrunk: None,
            regression: None,
        }
    })
}

/// The progress line on stderr.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Rewrite one line in place (stderr is a terminal) instead of printing lines.
    pub in_place: bool,
    shown: bool,
}

impl Progress {
    /// A progress line, rewritten in place on a terminal.
    pub fn new(in_place: bool) -> Self {
        Progress {
            in_place,
            shown: false,
        }
    }

    fn show(&mut self, err: &mut dyn Write, line: &str) {
        let _ = if self.in_place {
            write!(err, "\r{line}\x1b[K")
        } else {
            writeln!(err, "{line}")
        };
        let _ = err.flush();
        self.shown = true;
    }

    fn finish(&mut self, err: &mut dyn Write) {
        if self.in_place && self.shown {
            let _ = write!(err, "\r\x1b[K");
            let _ = err.flush();
        }
    }
}

/// The progress line: runs done (of how many, or the budget left), failures, speed, time.
fn progress_line(
    runs: u64,
    total: u64,
    failed: usize,
    started: Instant,
    deadline: Option<Instant>,
) -> String {
    let now = Instant::now();
    let secs = now.duration_since(started).as_secs_f64();
    let rate = runs as f64 / secs.max(0.001);
    let of = match deadline {
        Some(d) => format!(
            " (budget: {} left)",
            format_duration(Duration::from_secs(
                d.saturating_duration_since(now).as_secs()
            ))
        ),
        None => format!("/{total}"),
    };
    format!("theater-tcp-sim: {runs}{of} runs done, {failed} failed, {rate:.1} runs/s, {secs:.0}s")
}

/// What a whole invocation ran.
#[derive(Debug, Default)]
pub struct Sweep {
    /// Every seed passed (and a replay's hash matched).
    pub ok: bool,
    /// (scenario, seed) runs done.
    pub runs: u64,
    /// Each run, its records dropped, with its failure's shrunk plan (kept for `--junit`).
    pub cases: Vec<Failure>,
}

/// Runs every (scenario, seed) of `options` on `options.jobs` worker threads, printing the
/// results in order as they come; the progress line, when given, goes to `err`.
pub fn run(
    options: &Options,
    out: &mut dyn Write,
    err: &mut dyn Write,
    mut progress: Option<Progress>,
) -> std::io::Result<Sweep> {
    let printer = Printer {
        json: options.json,
        plan_given: options.plan.is_some(),
    };
    let work = Work {
        scenarios: &options.scenarios,
        seeds: Seeds::new(options.seeds.clone(), options.shard),
        seed_major: options.budget.is_some(),
    };
    let total = work.total();
    let started = Instant::now();
    let deadline = options.budget.map(|b| started + b);
    let next = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let mut summary = Summary::default();
    let mut failures = Vec::new();
    let mut sweep = Sweep::default();
    let mut replay_hash = None;
    let mut outcome = Ok(());
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<(u64, Unit)>();
        for w in 0..options.jobs {
            let tx = tx.clone();
            let (work, next, stop) = (&work, &next, &stop);
            let spawned = std::thread::Builder::new()
                .name(format!("sim-worker-{w}"))
                .stack_size(WORKER_STACK)
                .spawn_scoped(scope, move || {
                    // Indices are taken in order, so those taken are always a prefix of the
                    // list, and each one taken is run to the end.
                    while !stop.load(Ordering::SeqCst) {
                        if deadline.is_some_and(|d| Instant::now() >= d) {
                            stop.store(true, Ordering::SeqCst);
                            break;
                        }
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        if i >= total {
                            break;
                        }
                        let (scenario, seed) = work.unit(i);
                        if tx.send((i, run_unit(options, scenario, seed))).is_err() {
                            break;
                        }
                    }
                });
            if let Err(e) = spawned {
                stop.store(true, Ordering::SeqCst);
                outcome = Err(e);
                break;
            }
        }
        drop(tx);
        let mut pending = BTreeMap::new();
        let mut next_tick = started + PROGRESS_EVERY;
        loop {
            let wait = next_tick.saturating_duration_since(Instant::now());
            match rx.recv_timeout(wait) {
                Ok((i, unit)) => {
                    pending.insert(i, unit);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            while let Some(mut unit) = pending.remove(&sweep.runs) {
                sweep.runs += 1;
                if outcome.is_err() {
                    continue;
                }
                let step = (|| {
                    printer.result(out, &unit.result)?;
                    if options.trace {
                        printer.trace(out, &unit.result)?;
                    }
                    Ok::<(), std::io::Error>(())
                })();
                if let Err(e) = step {
                    stop.store(true, Ordering::SeqCst);
                    outcome = Err(e);
                    continue;
                }
                summary.add(&unit.result);
                replay_hash.get_or_insert(unit.result.trace_hash);
                unit.result.records = Vec::new();
                let saved = match (&unit.regression, &options.save_failures) {
                    (Some(regression), Some(dir)) => match save(dir, regression) {
                        Ok(path) => Some(path),
                        Err(e) => {
                            stop.store(true, Ordering::SeqCst);
                            outcome = Err(e);
                            continue;
                        }
                    },
                    _ => None,
                };
                let case = Failure {
                    result: unit.result,
                    shrunk: unit.shrunk,
                    saved,
                };
                if !case.result.verdict.passed() {
                    failures.push(case.clone());
                }
                if options.junit.is_some() {
                    sweep.cases.push(case);
                }
            }
            let now = Instant::now();
            if now >= next_tick {
                next_tick = now + PROGRESS_EVERY;
                if let Some(p) = &mut progress {
                    let line = progress_line(sweep.runs, total, failures.len(), started, deadline);
                    p.show(err, &line);
                }
            }
        }
    });
    if let Some(p) = &mut progress {
        // Lines written for a log end with where the sweep got to.
        if !p.in_place && started.elapsed() >= PROGRESS_EVERY {
            let line = progress_line(sweep.runs, total, failures.len(), started, deadline);
            p.show(err, &line);
        }
        p.finish(err);
    }
    outcome?;
    if let Some(budget) = options.budget {
        let n = options.scenarios.len() as u64;
        printer.budget(
            out,
            &BudgetReport {
                budget: format_duration(budget),
                wall: started.elapsed(),
                runs: sweep.runs,
                scenarios: n,
                first_seed: work.seeds.nth(0),
                last_seed: (sweep.runs > 0).then(|| work.seeds.nth((sweep.runs - 1) / n)),
                complete_seeds: sweep.runs / n,
                range_done: sweep.runs == total,
                shard: options.shard.map(|s| s.to_string()),
            },
        )?;
    }
    let mut replay_ok = true;
    if let Some((file, expected)) = &options.replay {
        let check = ReplayCheck {
            file: file.display().to_string(),
            expected: *expected,
            got: replay_hash.unwrap_or_default(),
        };
        replay_ok = check.matches();
        printer.replay(out, &check)?;
    }
    printer.summary(out, &summary, &failures)?;
    sweep.ok = failures.is_empty() && replay_ok;
    Ok(sweep)
}

/// Writes `regression` as `DIR/SCENARIO-seed-SEED.json`; returns its path.
fn save(dir: &Path, regression: &Regression) -> std::io::Result<PathBuf> {
    let path = dir.join(format!(
        "{}-seed-{}.json",
        regression.scenario, regression.seed
    ));
    let text = serde_json::to_string_pretty(regression).map_err(std::io::Error::other)?;
    std::fs::write(&path, format!("{text}\n"))
        .map_err(|e| std::io::Error::new(e.kind(), format!("writing {}: {e}", path.display())))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_refuse_the_rest() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        for bad in ["", "10", "m", "10x", "1.5s", "-1s", "0s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} parsed");
        }
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1s500ms");
    }

    #[test]
    fn a_shard_takes_every_nth_seed_from_its_index() {
        let seeds = |range: Range<u64>, shard| {
            let s = Seeds::new(range, shard);
            (0..s.count).map(|k| s.nth(k)).collect::<Vec<_>>()
        };
        let shard = |index, count| Some(Shard { index, count });
        assert_eq!(seeds(0..10, shard(0, 3)), [0, 3, 6, 9]);
        assert_eq!(seeds(0..10, shard(2, 3)), [2, 5, 8]);
        assert_eq!(seeds(7..12, shard(0, 2)), [8, 10]);
        assert_eq!(seeds(7..12, shard(1, 2)), [7, 9, 11]);
        assert_eq!(seeds(5..6, shard(0, 2)), Vec::<u64>::new());
        assert_eq!(seeds(3..6, None), [3, 4, 5]);
        let open = Seeds::new(10..u64::MAX, shard(1, 4));
        assert_eq!((open.nth(0), open.nth(1), open.count), (13, 17, u64::MAX));
    }

    #[test]
    fn runs_are_listed_by_scenario_or_by_seed_with_a_budget() {
        let scenarios = [catalogue::catalogue()[0], catalogue::catalogue()[1]];
        let scenarios: Vec<&'static Scenario> = scenarios
            .iter()
            .map(|s| catalogue::find(s.name).expect("in the catalogue"))
            .collect();
        let list = |seed_major| {
            let work = Work {
                scenarios: &scenarios,
                seeds: Seeds::new(4..6, None),
                seed_major,
            };
            (0..work.total())
                .map(|i| {
                    let (s, seed) = work.unit(i);
                    (s.name, seed)
                })
                .collect::<Vec<_>>()
        };
        let (a, b) = (scenarios[0].name, scenarios[1].name);
        assert_eq!(list(false), [(a, 4), (a, 5), (b, 4), (b, 5)]);
        assert_eq!(list(true), [(a, 4), (b, 4), (a, 5), (b, 5)]);
    }
}
