//! The `theater-tcp-sim` command line: arguments it refuses (exit status 2, a message that says
//! what is wrong), `--help`, a passing run (exit 0, one line per seed with its trace hash, the
//! summary table), a failing run (exit 1, the failure with its minimal plan and a repro line
//! that reproduces it with the same trace hash), and the same as JSON lines.

use std::process::{Command, Output};
use theater_tcp_scenarios::cli::{self, ArgError, Request};

fn sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_theater-tcp-sim"))
        .args(args)
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
        "all", "echo", "transfer", "close", "churn", "tls", "timeouts", "cuts", "chaos",
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
    assert!(parse_error(&["--seeds"]).contains("--seeds needs a value"));
    assert!(parse_error(&["--scenario"]).contains("--scenario needs a value"));
    assert!(parse_error(&["--bogus"]).contains("unknown option '--bogus'"));
    assert!(parse_error(&["echo"]).contains("unexpected argument 'echo'"));
    assert!(parse_error(&["--json=yes"]).contains("--json takes no value"));
    assert!(parse_error(&["--plan", "{nope"]).contains("--plan is not a fault plan"));
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
        "--scenario NAME|all",
        "--seeds A..B",
        "--trace",
        "--json",
        "--plan JSON",
        "--no-shrink",
        "--list",
        "--help",
        "exit status",
    ] {
        assert!(help.contains(option), "--help lacks {option}:\n{help}");
    }
    for s in theater_tcp_scenarios::catalogue() {
        assert!(help.contains(s.name), "--help lacks scenario {}", s.name);
    }
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
    let repro = "cargo run --release -p theater-tcp-scenarios --bin theater-tcp-sim -- \
                 --scenario selftest-corrupt --seeds 4..5";
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
    // What the repro line runs fails the same way with the same trace hash.
    let again = sim(&[
        "--scenario",
        "selftest-corrupt",
        "--seeds",
        "4..5",
        "--no-shrink",
    ]);
    let again_out = text(&again.stdout);
    assert_eq!(again.status.code(), Some(1));
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
            .is_some_and(|r| r.ends_with("--seeds 0..1"))
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
