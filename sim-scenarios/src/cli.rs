//! The `theater-tcp-sim` command line (ARCHITECTURE.md, "Command-line contract"):
//! `theater-tcp-sim [--scenario NAME|all] [--seeds A..B] [--trace] [--json]`, plus `--plan`,
//! `--no-shrink`, `--list` and `--help`. Exit status 0 when every seed passed, 1 when any
//! failed or was nondeterministic, 2 on bad arguments.

use crate::catalogue::{self, Scenario};
use crate::report::{Failure, Printer, Summary};
use crate::run::{run_seed, shrink_failure};
use std::fmt;
use std::io::Write;
use std::ops::Range;
use theater_tcp_sim::FaultPlan;

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

/// What the arguments ask for.
#[derive(Debug, Clone)]
pub enum Request {
    /// Print the help text.
    Help,
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
    /// The seeds (end excluded).
    pub seeds: Range<u64>,
    /// Print each run's trace.
    pub trace: bool,
    /// JSON lines instead of text.
    pub json: bool,
    /// A plan that replaces every seed's own draw.
    pub plan: Option<FaultPlan>,
    /// Shrink the plans of failed seeds.
    pub shrink: bool,
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

/// The help text.
pub fn usage() -> String {
    let mut text = format!(
        "theater-tcp-sim: runs the Theater TCP handler's simulation scenarios, each seed twice, \
and judges them with safety, liveness and determinism oracles.

usage: theater-tcp-sim [--scenario NAME|all]... [--seeds A..B] [--trace] [--json]
                       [--plan JSON] [--no-shrink] [--list] [--help]

options:
  --scenario NAME|all  run this scenario (repeat, or separate names with commas);
                       default: all (every scenario below except self-tests)
  --seeds A..B         run seeds A to B-1 (B excluded), or one seed: --seeds N;
                       default: {}..{}
  --trace              after each result line, print the first run's recorded trace
                       (every core input and output with its time; long byte lists shortened)
  --json               print JSON lines instead of text: one {{\"kind\":\"result\"}} per seed,
                       {{\"kind\":\"trace\"}} per trace record, {{\"kind\":\"failure\"}} per failure,
                       then one {{\"kind\":\"summary\"}}
  --plan JSON          run every seed under this fault plan (the JSON a failure prints)
                       instead of the plan the seed draws
  --no-shrink          do not shrink the fault plans of failing seeds
  --list               list the scenarios with what their oracles check, and exit
  --help, -h           print this help and exit

output: one line per (scenario, seed) with its verdict and trace hash, a summary table
(scenario, seeds, passed, failed, nondeterministic) with coverage (core probes reached, fault
kinds fired with how often, latency as armed since it cannot be counted), and for each
failure its minimal fault plan and a command that reproduces it.

exit status: 0 every seed passed, 1 a seed failed or its two runs differed, 2 bad arguments.

scenarios:
",
        DEFAULT_SEEDS.start, DEFAULT_SEEDS.end
    );
    for s in catalogue::catalogue() {
        text.push_str(&format!("  {:<17} {}\n", s.name, s.about));
    }
    text
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

/// Parses a seed range: `A..B` (B excluded, A < B) or one seed `N`.
pub fn parse_seeds(text: &str) -> Result<Range<u64>, ArgError> {
    let malformed = || {
        ArgError(format!(
            "malformed seed range '{text}': expected A..B with whole numbers A < B (B is \
             excluded), e.g. --seeds 0..20, or one seed, e.g. --seeds 17"
        ))
    };
    let number = |s: &str| s.trim().parse::<u64>().map_err(|_| malformed());
    match text.split_once("..") {
        None => {
            let seed = number(text)?;
            let end = seed.checked_add(1).ok_or_else(malformed)?;
            Ok(seed..end)
        }
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

/// Parses the arguments (without the program name).
pub fn parse_args<I, S>(args: I) -> Result<Request, ArgError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut scenarios: Vec<&'static Scenario> = Vec::new();
    let mut seeds = None;
    let mut trace = false;
    let mut json = false;
    let mut plan = None;
    let mut shrink = true;
    let mut args = args.into_iter().map(Into::into);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = |example: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| ArgError(format!("{flag} needs a value, e.g. {flag} {example}")))
        };
        match flag.as_str() {
            "--help" | "-h" => return Ok(Request::Help),
            "--list" => return Ok(Request::List),
            "--scenario" => {
                let names = value("echo")?;
                for name in names.split(',') {
                    let name = name.trim();
                    if name == "all" {
                        scenarios.extend(catalogue::all());
                    } else if let Some(s) = catalogue::find(name) {
                        scenarios.push(s);
                    } else {
                        return Err(ArgError(format!(
                            "unknown scenario '{name}'; valid names: {}",
                            scenario_names()
                        )));
                    }
                }
            }
            "--seeds" => seeds = Some(parse_seeds(&value("0..20")?)?),
            "--plan" => {
                let text = value("'{\"streams\":{...},...}'")?;
                let parsed: FaultPlan = serde_json::from_str(&text).map_err(|e| {
                    ArgError(format!(
                        "--plan is not a fault plan ({e}); pass the JSON a failure prints"
                    ))
                })?;
                plan = Some(parsed);
            }
            "--trace" | "--json" | "--no-shrink" if inline.is_some() => {
                return Err(ArgError(format!("{flag} takes no value")));
            }
            "--trace" => trace = true,
            "--json" => json = true,
            "--no-shrink" => shrink = false,
            other if other.starts_with('-') => {
                return Err(ArgError(format!("unknown option '{other}'; see --help")));
            }
            other => {
                return Err(ArgError(format!(
                    "unexpected argument '{other}'; scenarios are named with --scenario, \
                     see --help"
                )));
            }
        }
    }
    if scenarios.is_empty() {
        scenarios = catalogue::all();
    }
    // Catalogue order, each once.
    let order = |s: &&Scenario| catalogue::catalogue().iter().position(|c| c.name == s.name);
    scenarios.sort_by_key(order);
    scenarios.dedup_by_key(|s| s.name);
    Ok(Request::Run(Box::new(Options {
        scenarios,
        seeds: seeds.unwrap_or(DEFAULT_SEEDS),
        trace,
        json,
        plan,
        shrink,
    })))
}

/// Runs the command line: `args` without the program name; normal output to `out`, usage
/// errors to `err`. Returns the exit status.
pub fn main_with<I, S>(args: I, out: &mut dyn Write, err: &mut dyn Write) -> i32
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let options = match parse_args(args) {
        Ok(Request::Help) => {
            let _ = write!(out, "{}", usage());
            return EXIT_OK;
        }
        Ok(Request::List) => {
            let _ = write!(out, "{}", listing());
            return EXIT_OK;
        }
        Ok(Request::Run(options)) => options,
        Err(e) => {
            let _ = writeln!(
                err,
                "theater-tcp-sim: {e}\nusage: theater-tcp-sim [--scenario NAME|all] \
                 [--seeds A..B] [--trace] [--json] [--plan JSON] [--no-shrink] [--list] [--help]"
            );
            return EXIT_USAGE;
        }
    };
    match run(&options, out) {
        Ok(true) => EXIT_OK,
        Ok(false) => EXIT_FAILED,
        Err(e) => {
            let _ = writeln!(err, "theater-tcp-sim: writing output: {e}");
            EXIT_FAILED
        }
    }
}

/// Runs every (scenario, seed) of `options`, printing as it goes; `Ok(true)` when all passed.
pub fn run(options: &Options, out: &mut dyn Write) -> std::io::Result<bool> {
    let printer = Printer {
        json: options.json,
        plan_given: options.plan.is_some(),
    };
    let mut summary = Summary::default();
    let mut failures = Vec::new();
    for scenario in &options.scenarios {
        for seed in options.seeds.clone() {
            let plan = options.plan.clone().unwrap_or_else(|| scenario.plan(seed));
            let mut result = run_seed(scenario, seed, plan, options.trace);
            printer.result(out, &result)?;
            if options.trace {
                printer.trace(out, &result)?;
            }
            summary.add(&result);
            if !result.verdict.passed() {
                result.records = Vec::new();
                let shrunk = options
                    .shrink
                    .then(|| shrink_failure(scenario, &result, SHRINK_BUDGET));
                failures.push(Failure { result, shrunk });
            }
        }
    }
    printer.summary(out, &summary, &failures)?;
    Ok(failures.is_empty())
}
