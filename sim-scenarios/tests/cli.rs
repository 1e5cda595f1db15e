//! The `theater-tcp-sim` command line: arguments it refuses (exit status 2, a message that says
//! what is wrong), `--help`, a passing run (exit 0, one line per seed with its trace hash, the
//! summary table), a failing run (exit 1, the failure with its minimal plan and a repro line
//! that reproduces it with the same trace hash), and the same as JSON lines; and the options
//! for CI and long runs: `--jobs` (output identical to one job), `--shard` (shards cover the
//! sweep exactly), `--budget`, `--junit`, `--save-failures` and `replay FILE`.

use std::process::{Command, Output};
use theater_tcp_scenarios::cli::{self, ArgError, Request};

fn sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_theater-tcp-sim"))
        .args(args)
        .env_remove("THEATER_SIM_SEED")
        .output()
        .expect("run theater-tcp-sim")
}

/// `theater-tcp-sim` with `THEATER_SIM_SEED=seed`, as a repro line runs it.
fn sim_seed(seed: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_theater-tcp-sim"))
        .args(args)
        .env("THEATER_SIM_SEED", seed)
        .output()
        .expect("run theater-tcp-sim")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn parse_error(args: &[&str]) -> String {
    match cli::parse_args(args.iter().copied()) {
        Err(ArgError(message)) => message,
        Ok(request) => panic!("{args:?} parsed as {request:?}"),
    }
}

#[test]
fn bad_arguments_are_refused_with_what_is_wrong() {
    let unknown = parse_error(&["--scenario", "ecko"]);
    assert!(unknown.contains("unknown scenario 'ecko'"), "{unknown}");
    for name in [
        "all", "echo", "transfer", "close", "churn", "tls", "timeouts", "cuts", "chaos", "wasm",
    ] {
        assert!(unknown.contains(name), "{unknown} lacks {name}");
    }
    let malformed = parse_error(&["--seeds", "5-9"]);
    assert!(
        malformed.contains("malformed seed range '5-9'"),
        "{malformed}"
    );
    assert!(malformed.contains("A..B"), "{malformed}");
    assert!(parse_error(&["--seeds", "a..3"]).contains("malformed"));
    assert!(parse_error(&["--seeds", "1..x"]).contains("malformed"));
    let empty = parse_error(&["--seeds", "9..9"]);
    assert!(empty.contains("empty seed range '9..9'"), "{empty}");
    let missing = parse_error(&["--seeds"]);
    assert!(
        missing.contains("a value is required for '--seeds <A..B>'"),
        "{missing}"
    );
    assert!(parse_error(&["--scenario"]).contains("a value is required for '--scenario"));
    let unknown = parse_error(&["--bogus"]);
    assert!(
        unknown.contains("unexpected argument '--bogus'"),
        "{unknown}"
    );
    let positional = parse_error(&["echo"]);
    assert!(
        positional.contains("unrecognized subcommand 'echo'"),
        "{positional}"
    );
    let valued = parse_error(&["--json=yes"]);
    assert!(
        valued.contains("unexpected value 'yes' for '--json'"),
        "{valued}"
    );
    let plan = parse_error(&["--plan", "{nope"]);
    assert!(plan.contains("'--plan <JSON>': not a fault plan"), "{plan}");
    let open = parse_error(&["--seeds", "5.."]);
    assert!(open.contains("--seeds 5.. has no end"), "{open}");
}

#[test]
fn good_arguments_parse() {
    let Ok(Request::Run(options)) =
        cli::parse_args(["--seeds=3..7", "--scenario", "tls,echo", "--json"])
    else {
        panic!("did not parse");
    };
    assert_eq!(options.seeds, 3..7);
    // Catalogue order, whatever the order given.
    let names: Vec<&str> = options.scenarios.iter().map(|s| s.name).collect();
    assert_eq!(names, ["echo", "tls"]);
    assert!(options.json && !options.trace && options.shrink);
    let Ok(Request::Run(options)) = cli::parse_args(["--seeds", "17"]) else {
        panic!("did not parse");
    };
    assert_eq!(options.seeds, 17..18);
    let all: Vec<&str> = options.scenarios.iter().map(|s| s.name).collect();
    assert!(all.contains(&"chaos") && !all.contains(&"selftest-corrupt"));
    assert_eq!(
        cli::parse_args(["--seeds", "0..2", "--scenario", "all", "--scenario", "echo"]).map(|r| {
            match r {
                Request::Run(o) => o.scenarios.len(),
                _ => 0,
            }
        }),
        Ok(all.len())
    );
}

#[test]
fn the_seed_of_a_repro_line_runs_alone_and_cannot_be_given_twice() {
    let parsed =
        |args: &[&str], seed: &str| cli::parse_command_line(args.iter().copied(), Some(seed));
    let Ok(Request::Run(options)) = parsed(&["--scenario", "echo"], "17") else {
        panic!("THEATER_SIM_SEED=17 is one seed");
    };
    assert_eq!(options.seeds, 17..18);
    let Err(ArgError(both)) = parsed(&["--seeds", "0..3"], "17") else {
        panic!("the seed given twice");
    };
    assert!(
        both.contains("THEATER_SIM_SEED=17 and --seeds both choose the seeds"),
        "{both}"
    );
    let Err(ArgError(replay)) = parsed(&["replay", "x.json"], "17") else {
        panic!("a seed and a replay");
    };
    assert!(
        replay.contains("and replay both choose the seeds"),
        "{replay}"
    );
    let Err(ArgError(bad)) = parsed(&[], "0..3") else {
        panic!("a range is not a seed");
    };
    assert!(bad.contains("THEATER_SIM_SEED=0..3 is not a seed"), "{bad}");
    // The binary reads it from its environment.
    let out = sim_seed("5", &["--scenario", "echo", "--seeds", "0..2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("both choose the seeds"));
    let out = sim_seed("5", &["--scenario", "echo"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    assert_eq!(row(&stdout, "echo"), [1, 1, 0, 0]);
    assert_eq!(hash_of(&stdout, "echo", 5).len(), 16);
}

#[test]
fn the_binary_exits_2_on_bad_arguments_with_the_message_on_stderr() {
    let out = sim(&["--scenario", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("unknown scenario 'nope'; valid names: all, echo"),
        "{err}"
    );
    assert!(err.contains("usage: theater-tcp-sim"), "{err}");
    assert!(out.stdout.is_empty());
    let out = sim(&["--seeds", "3..1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("empty seed range '3..1'"));
}

#[test]
fn help_documents_every_option_and_scenario() {
    let out = sim(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    for option in [
        "--scenario <NAME|all>",
        "--seeds <A..B>",
        "--jobs <N>",
        "--shard <I/N>",
        "--budget <DURATION>",
        "--trace",
        "--json",
        "--plan <JSON>",
        "--no-shrink",
        "--junit <FILE>",
        "--save-failures <DIR>",
        "--progress",
        "--list",
        "--help",
        "replay",
        "Exit status: 0",
    ] {
        assert!(help.contains(option), "--help lacks {option}:\n{help}");
    }
    for s in theater_tcp_scenarios::catalogue() {
        assert!(help.contains(s.name), "--help lacks scenario {}", s.name);
    }
    assert_eq!(text(&sim(&["-h"]).stdout), help);
    let replay = text(&sim(&["replay", "--help"]).stdout);
    assert!(replay.contains("<FILE>"), "{replay}");
    let list = text(&sim(&["--list"]).stdout);
    assert!(list.contains("oracles: byte-exact echo"), "{list}");
}

/// The summary row of `scenario`: seeds, passed, failed, nondeterministic.
fn row(stdout: &str, scenario: &str) -> Vec<u64> {
    stdout
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| {
            f.len() == 5 && f[0] == scenario && f[1..].iter().all(|n| n.parse::<u64>().is_ok())
        })
        .unwrap_or_else(|| panic!("no summary row for {scenario} in\n{stdout}"))[1..]
        .iter()
        .map(|n| n.parse().unwrap_or_default())
        .collect()
}

/// The hash printed for `seed` on a result line.
fn hash_of(stdout: &str, scenario: &str, seed: u64) -> String {
    let line = stdout
        .lines()
        .find(|l| l.starts_with(scenario) && l.contains(&format!(" seed {seed} ")))
        .unwrap_or_else(|| panic!("no line for {scenario} seed {seed} in\n{stdout}"));
    let at = line.find("hash ").expect("a hash") + 5;
    line[at..at + 16].to_owned()
}

#[test]
fn a_passing_run_exits_0_with_a_line_per_seed_and_the_summary() {
    let out = sim(&["--scenario", "echo", "--seeds", "0..3", "--trace"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    for seed in 0..3 {
        assert_eq!(hash_of(&stdout, "echo", seed).len(), 16);
    }
    assert!(stdout.contains("scenario          seeds  passed  failed  nondeterministic"));
    assert_eq!(row(&stdout, "echo"), [3, 3, 0, 0]);
    // --trace: the records of each run.
    assert!(
        stdout.contains("{\"DriverStarted\":{\"generation\":0}}"),
        "{stdout}"
    );
    assert!(stdout.contains("\"Listen\""));
    assert!(!stdout.contains("failures:"));
}

#[test]
fn a_failing_scenario_exits_1_with_its_minimal_plan_and_a_repro_line_that_reproduces_it() {
    let out = sim(&["--scenario", "selftest-corrupt", "--seeds", "3..5"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert_eq!(row(&stdout, "selftest-corrupt"), [2, 0, 2, 0]);
    assert!(
        stdout.contains("echo: not a prefix of the sent stream: byte "),
        "{stdout}"
    );
    let repro = "THEATER_SIM_SEED=4 cargo run --release -p theater-tcp-scenarios \
                 --bin theater-tcp-sim -- --scenario selftest-corrupt";
    assert!(
        stdout.contains(&format!("reproduce: {repro}\n")),
        "{stdout}"
    );
    // The corruption needs no fault at all: shrinking removes every one.
    let none = theater_tcp_scenarios::report::compact(&theater_tcp_scenarios::FaultPlan::none());
    assert!(stdout.contains(&format!("): {none}\n")), "{stdout}");
    assert!(stdout.contains(&format!(
        "reproduce with the minimal plan: {repro} --plan '"
    )));
    // What the repro line runs (seed 4 alone) fails the same way with the same trace hash.
    let again = sim_seed("4", &["--scenario", "selftest-corrupt", "--no-shrink"]);
    let again_out = text(&again.stdout);
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(row(&again_out, "selftest-corrupt"), [1, 0, 1, 0]);
    assert_eq!(
        hash_of(&again_out, "selftest-corrupt", 4),
        hash_of(&stdout, "selftest-corrupt", 4)
    );
}

#[test]
fn json_lines_carry_results_failures_and_the_summary() {
    let out = sim(&[
        "--scenario",
        "selftest-corrupt,echo",
        "--seeds",
        "0..2",
        "--json",
        "--no-shrink",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let kind = |k: &str| lines.iter().filter(|l| l["kind"] == k).count();
    assert_eq!(kind("result"), 4);
    assert_eq!(kind("failure"), 2);
    assert_eq!(kind("summary"), 1);
    let failure = lines
        .iter()
        .find(|l| l["kind"] == "failure")
        .expect("a failure");
    assert_eq!(failure["scenario"], "selftest-corrupt");
    assert_eq!(failure["verdict"]["verdict"], "fail");
    assert!(
        failure["repro"]
            .as_str()
            .is_some_and(|r| r.starts_with("THEATER_SIM_SEED=0 cargo run ")
                && r.ends_with("--bin theater-tcp-sim -- --scenario selftest-corrupt"))
    );
    let summary = lines.last().expect("a summary");
    assert_eq!(summary["kind"], "summary");
    assert_eq!(summary["all_passed"], false);
    let echo = lines
        .iter()
        .find(|l| l["kind"] == "result" && l["scenario"] == "echo")
        .expect("an echo result");
    assert_eq!(echo["verdict"]["verdict"], "pass");
    assert_eq!(echo["trace_hash"], echo["second_hash"]);
}

#[test]
fn json_trace_lines_are_the_records_of_the_run() {
    let out = sim(&["--scenario", "echo", "--seeds", "1..2", "--json", "--trace"]);
    assert_eq!(out.status.code(), Some(0));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let result = lines
        .iter()
        .find(|l| l["kind"] == "result")
        .expect("a result");
    let traces: Vec<&serde_json::Value> = lines.iter().filter(|l| l["kind"] == "trace").collect();
    assert_eq!(Some(traces.len() as u64), result["trace_len"].as_u64());
    assert_eq!(traces[0]["event"]["DriverStarted"]["generation"], 0);
    assert!(traces.iter().all(|t| t["seed"] == 1 && t["at_ns"].is_u64()));
}

/// Exits 2 with `message` on stderr and nothing on stdout.
#[track_caller]
fn refused(args: &[&str], message: &str) {
    let out = sim(args);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(err.contains(message), "{args:?}: {err} lacks {message}");
    assert!(err.contains("usage: theater-tcp-sim"), "{err}");
    assert!(out.stdout.is_empty(), "{args:?}");
}

#[test]
fn bad_jobs_shards_and_budgets_exit_2_with_what_is_wrong() {
    refused(&["--jobs", "0"], "--jobs must be at least 1");
    refused(&["--jobs", "two"], "malformed job count 'two'");
    refused(
        &["--shard", "2/2"],
        "shard '2/2' does not exist: shards are numbered from 0",
    );
    refused(
        &["--shard", "0/0"],
        "the number of shards N must be at least 1",
    );
    refused(&["--shard", "1"], "malformed shard '1': expected I/N");
    refused(&["--shard", "a/2"], "malformed shard 'a/2'");
    refused(
        &["--seeds", "4", "--shard", "1/2"],
        "--shard 1/2 leaves no seed of 4..5",
    );
    refused(&["--budget", "10x"], "malformed duration '10x'");
    refused(&["--budget", "10"], "malformed duration '10'");
    refused(&["--budget", "0s"], "budget '0s' is zero");
    refused(&["--seeds", "0.."], "--seeds 0.. has no end");
    refused(
        &["--seeds", "0..3", "replay", "x.json"],
        "cannot be used with",
    );
    refused(
        &["replay", "/nonexistent/x.json"],
        "cannot read /nonexistent/x.json",
    );
}

/// Result lines and the summary, with each line's wall-clock time blanked.
fn without_wall_times(stdout: &str) -> String {
    stdout
        .lines()
        .map(|line| match line.find("  wall ") {
            Some(at) => {
                let rest = &line[at + 7..];
                let rest = rest.trim_start();
                let after = rest.find(' ').map_or("", |i| &rest[i..]);
                format!("{}  wall -{after}", &line[..at])
            }
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn two_jobs_print_exactly_what_one_job_prints() {
    let args = |jobs| {
        [
            "--scenario",
            "echo,selftest-corrupt",
            "--seeds",
            "0..10",
            "--no-shrink",
            "--jobs",
            jobs,
        ]
    };
    let one = sim(&args("1"));
    let two = sim(&args("2"));
    assert_eq!(one.status.code(), Some(1));
    assert_eq!(two.status.code(), Some(1));
    let (one, two) = (text(&one.stdout), text(&two.stdout));
    assert_eq!(without_wall_times(&one), without_wall_times(&two));
    // Not two empty outputs: every seed's line, in (scenario, seed) order, and the failures.
    let order: Vec<(String, u64)> = two
        .lines()
        .take(20)
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0].to_owned(), f[2].parse().expect("a seed"))
        })
        .collect();
    let expected: Vec<(String, u64)> = ["echo", "selftest-corrupt"]
        .iter()
        .flat_map(|s| (0..10).map(move |seed| (s.to_string(), seed)))
        .collect();
    assert_eq!(order, expected);
    assert_eq!(row(&two, "echo"), [10, 10, 0, 0]);
    assert_eq!(row(&two, "selftest-corrupt"), [10, 0, 10, 0]);
    assert_eq!(two.matches("    reproduce: ").count(), 10);
}

#[test]
fn two_shards_together_run_exactly_the_unsharded_seeds_with_the_same_hashes() {
    let run = |extra: &[&str]| {
        let mut args = vec!["--scenario", "echo", "--seeds", "3..13", "--jobs", "2"];
        args.extend_from_slice(extra);
        let out = sim(&args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        text(&out.stdout)
    };
    let seeds_and_hashes = |stdout: &str| {
        stdout
            .lines()
            .filter(|l| l.starts_with("echo ") && l.contains(" hash "))
            .map(|l| {
                let seed: u64 = l
                    .split_whitespace()
                    .nth(2)
                    .expect("seed")
                    .parse()
                    .expect("seed");
                (seed, hash_of(stdout, "echo", seed))
            })
            .collect::<Vec<_>>()
    };
    let all = seeds_and_hashes(&run(&[]));
    let first = seeds_and_hashes(&run(&["--shard", "0/2"]));
    let second = seeds_and_hashes(&run(&["--shard", "1/2"]));
    assert_eq!(all.len(), 10);
    assert!(first.iter().all(|(seed, _)| seed % 2 == 0), "{first:?}");
    assert!(second.iter().all(|(seed, _)| seed % 2 == 1), "{second:?}");
    let mut both = [first, second].concat();
    both.sort();
    assert_eq!(both, all);
}

#[test]
fn a_budget_stops_starting_seeds_and_reports_how_far_it_got() {
    let started = std::time::Instant::now();
    let out = sim(&[
        "--scenario",
        "echo,close",
        "--seeds",
        "100..",
        "--budget",
        "2s",
        "--json",
        "--progress",
    ]);
    let wall = started.elapsed();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let results: Vec<(String, u64)> = lines
        .iter()
        .filter(|l| l["kind"] == "result")
        .map(|l| {
            (
                l["scenario"].as_str().unwrap_or_default().to_owned(),
                l["seed"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    // Seed by seed from the start of the range: echo 100, close 100, echo 101, ...
    let expected: Vec<(String, u64)> = (0..results.len() as u64)
        .map(|i| {
            (
                (if i % 2 == 0 { "echo" } else { "close" }).to_owned(),
                100 + i / 2,
            )
        })
        .collect();
    assert!(!results.is_empty());
    assert_eq!(results, expected);
    let budget = lines
        .iter()
        .find(|l| l["kind"] == "budget")
        .expect("a budget line");
    assert_eq!(budget["budget"], "2s");
    assert_eq!(budget["runs"].as_u64(), Some(results.len() as u64));
    assert_eq!(budget["first_seed"], 100);
    assert_eq!(budget["range_done"], false);
    assert!(
        budget["wall_ms"].as_u64().is_some_and(|ms| ms >= 2_000),
        "{budget}"
    );
    // The runs in flight finish; an echo seed takes well under a second.
    assert!(wall < std::time::Duration::from_secs(30), "{wall:?}");
    assert_eq!(
        lines.last().map(|l| l["kind"].clone()),
        Some("summary".into())
    );
    // --progress: lines on stderr (not a terminal here), none on stdout.
    let err = text(&out.stderr);
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(&format!("theater-tcp-sim: {} (budget: ", results.len()))
            && last.contains(" runs done, 0 failed, "),
        "{err}"
    );
    assert!(!stdout.contains("runs done"));

    // A range shorter than the budget runs whole.
    let out = sim(&["--scenario", "echo", "--seeds", "0..3", "--budget", "1h"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("budget 1h: 3 seeds (0 to 2), 3 runs in "),
        "{stdout}"
    );
    assert!(stdout.contains("; the seed range ended first"), "{stdout}");
    assert_eq!(row(&stdout, "echo"), [3, 3, 0, 0]);
}

/// A fresh directory for one test's files.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

#[test]
fn junit_has_a_suite_per_scenario_a_case_per_seed_and_each_failure() {
    let dir = scratch("junit");
    let file = dir.join("report.xml");
    let path = file.to_str().expect("a UTF-8 path");
    let out = sim(&[
        "--scenario",
        "selftest-corrupt,echo",
        "--seeds",
        "0..3",
        "--no-shrink",
        "--jobs",
        "2",
        "--junit",
        path,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let xml = std::fs::read_to_string(&file).expect("the report");
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}:\n{xml}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(root.attribute("tests"), Some("6"));
    assert_eq!(root.attribute("failures"), Some("3"));
    let suites: Vec<_> = root
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    let names: Vec<_> = suites.iter().filter_map(|s| s.attribute("name")).collect();
    assert_eq!(names, ["echo", "selftest-corrupt"]);
    let cases = |suite: &roxmltree::Node| {
        suite
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .map(|c| {
                let failure = c.children().find(|n| n.has_tag_name("failure"));
                (
                    c.attribute("name").unwrap_or_default().to_owned(),
                    failure.map(|f| {
                        (
                            f.attribute("message").unwrap_or_default().to_owned(),
                            f.text().unwrap_or_default().to_owned(),
                        )
                    }),
                )
            })
            .collect::<Vec<_>>()
    };
    let echo = cases(&suites[0]);
    assert_eq!(suites[0].attribute("failures"), Some("0"));
    assert_eq!(
        echo.iter()
            .map(|(n, f)| (n.as_str(), f.is_some()))
            .collect::<Vec<_>>(),
        [("seed 0", false), ("seed 1", false), ("seed 2", false)]
    );
    let failing = cases(&suites[1]);
    assert_eq!(suites[1].attribute("tests"), Some("3"));
    assert_eq!(suites[1].attribute("failures"), Some("3"));
    for (seed, (name, failure)) in failing.iter().enumerate() {
        assert_eq!(name, &format!("seed {seed}"));
        let (message, body) = failure.as_ref().expect("a failure");
        assert!(
            message.starts_with("echo: not a prefix of the sent stream"),
            "{message}"
        );
        // The plan's JSON (quotes, braces) came through the escaping intact.
        assert!(body.contains("\nplan: {\"accepts\":{"), "{body}");
        assert!(body.contains("\"streams\":{"), "{body}");
        assert!(
            body.contains(&format!(
                "reproduce: THEATER_SIM_SEED={seed} cargo run --release \
                 -p theater-tcp-scenarios --bin theater-tcp-sim -- --scenario selftest-corrupt"
            )),
            "{body}"
        );
    }
    assert!(suites.iter().all(|s| {
        s.attribute("time")
            .is_some_and(|t| t.parse::<f64>().is_ok())
    }));
}

#[test]
fn a_saved_failure_replays_with_its_hash_and_a_changed_hash_fails_the_replay() {
    let dir = scratch("replay");
    let dir_text = dir.to_str().expect("a UTF-8 path");
    let out = sim(&[
        "--scenario",
        "selftest-corrupt",
        "--seeds",
        "4..5",
        "--save-failures",
        dir_text,
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let file = dir.join("selftest-corrupt-seed-4.json");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("the saved failure"))
            .expect("JSON");
    assert_eq!(saved["scenario"], "selftest-corrupt");
    assert_eq!(saved["seed"], 4);
    // Shrunk: the corruption needs no fault.
    let none = serde_json::to_value(theater_tcp_scenarios::FaultPlan::none()).expect("a plan");
    assert_eq!(saved["plan"], none);
    let file_text = file.to_str().expect("a UTF-8 path");
    assert!(
        stdout.contains(&format!(
            "replay: cargo run --release -p theater-tcp-scenarios --bin theater-tcp-sim -- \
             replay {file_text}\n"
        )),
        "{stdout}"
    );
    let expected = saved["trace_hash"].as_str().expect("a hash").to_owned();
    // The replay runs the minimal plan and gets the saved hash (and still fails).
    let replay = sim(&["replay", file_text]);
    let replayed = text(&replay.stdout);
    assert_eq!(replay.status.code(), Some(1), "{replayed}");
    assert_eq!(hash_of(&replayed, "selftest-corrupt", 4), expected);
    assert!(
        replayed.contains(&format!("trace hash {expected}, as expected")),
        "{replayed}"
    );

    // A passing regression: exit 0 with its hash, 1 with another.
    let write = |hash: Option<&str>| {
        let mut regression = serde_json::json!({"scenario": "echo", "seed": 2, "plan": none});
        if let Some(hash) = hash {
            regression["trace_hash"] = hash.into();
        }
        let path = dir.join("echo-2.json");
        std::fs::write(&path, regression.to_string()).expect("write");
        path.to_str().expect("a UTF-8 path").to_owned()
    };
    let path = write(None);
    let out = sim(&["replay", &path]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let hash = hash_of(&stdout, "echo", 2);
    let out = sim(&["replay", &write(Some(&hash)), "--json"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("\"matches\":true"));
    let other = format!("{:016x}", u64::from_str_radix(&hash, 16).expect("hex") ^ 1);
    let out = sim(&["replay", &write(Some(&other))]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "trace hash {hash} DIFFERS from the expected {other}"
        )),
        "{stdout}"
    );
    refused(
        &["replay", &dir.join("nope.json").display().to_string()],
        "cannot read",
    );
    std::fs::write(dir.join("bad.json"), "{\"seed\": 1}").expect("write");
    refused(
        &["replay", &dir.join("bad.json").display().to_string()],
        "is not a regression file",
    );
    // A plan that cannot run (a zero tick would never advance time) is refused before
    // anything runs, from a file or from --plan.
    let mut stuck = none.clone();
    stuck["tick_ms"] = 0.into();
    std::fs::write(
        dir.join("stuck.json"),
        serde_json::json!({"scenario": "echo", "seed": 2, "plan": stuck}).to_string(),
    )
    .expect("write");
    refused(
        &["replay", &dir.join("stuck.json").display().to_string()],
        "stuck.json: its plan cannot run: tick_ms 0: the network's tick must be 1 to 100 ms",
    );
    refused(
        &["--plan", &stuck.to_string()],
        "not a plan that can run: tick_ms 0",
    );
}

/// `--trace` tells the run as a story: every lifecycle transition of the core is a line of its
/// own (`conn-2 connection: pending => open`), between the input that caused it and the
/// outputs; JSON keeps them as records.
#[test]
fn the_text_trace_reads_as_a_story_of_transitions() {
    let out = sim(&[
        "--scenario",
        "tls",
        "--seeds",
        "3..4",
        "--trace",
        "--no-shrink",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for line in [
        "listener-1 listener: binding => listening",
        "connection: pending => open",
        "tls: handshaking => secure",
    ] {
        assert!(stdout.contains(line), "no `{line}` in the trace:\n{stdout}");
    }
    let json = sim(&["--scenario", "tls", "--seeds", "3..4", "--trace", "--json"]);
    assert!(text(&json.stdout).contains(r#""event":{"Transition":{"Tls":{"#));
}
