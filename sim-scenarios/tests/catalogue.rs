//! Every scenario of `all` over a bounded seed range: each seed twice (same trace hash), its
//! trace replayed through a fresh core, and every oracle of the scenario. Plus checks that the
//! scenarios reach what they are there for (named coverage), so a scenario that silently
//! stopped exercising its path fails here.
//!
//! Reproduce a failing seed with the line the failure prints, e.g.
//! `THEATER_SIM_SEED=17 cargo run --release -p theater-tcp-scenarios --bin theater-tcp-sim -- --scenario echo`.

use std::ops::Range;
use theater_tcp_scenarios::report::repro_line;
use theater_tcp_scenarios::{SeedResult, find, run_seed};
use theater_tcp_sim::FaultKind;

/// Runs `name` over `seeds` and fails with every failed seed's reason and repro line.
fn sweep(name: &str, seeds: Range<u64>) -> Vec<SeedResult> {
    let scenario = find(name).unwrap_or_else(|| panic!("no scenario {name}"));
    let results: Vec<SeedResult> = seeds
        .map(|seed| run_seed(scenario, seed, scenario.plan(seed), false))
        .collect();
    let failures: Vec<String> = results
        .iter()
        .filter(|r| !r.verdict.passed())
        .map(|r| {
            format!(
                "seed {}: {:?}\n  reproduce: {}",
                r.seed,
                r.verdict,
                repro_line(name, r.seed, None)
            )
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} seeds of {name} failed:\n{}",
        failures.len(),
        results.len(),
        failures.join("\n")
    );
    for r in &results {
        assert!(r.trace_len > 0, "seed {}: empty trace", r.seed);
        assert_eq!(r.trace_hash, r.second_hash);
        fired_only_if_armed(r);
    }
    results
}

/// A counted fault kind fires only where the seed's plan switched it on.
fn fired_only_if_armed(r: &SeedResult) {
    let p = &r.plan;
    let s = &p.streams;
    let armed = [
        ("split-read", s.split_read > 0.0),
        ("merge-reads", s.merge_reads > 0.0),
        ("short-write", s.short_write > 0.0),
        ("stall", s.stall > 0.0 && s.max_stall_ms > 0),
        ("cut-fin", p.cuts.is_some_and(|c| c.rst_share < 1.0)),
        ("cut-rst", p.cuts.is_some_and(|c| c.rst_share > 0.0)),
        (
            "accept-delay",
            p.accepts.delay > 0.0 && p.accepts.max_delay_ms > 0,
        ),
        ("connect-refuse", p.connects.refuse > 0.0),
        ("connect-hang", p.connects.hang > 0.0),
    ];
    for (kind, on) in armed {
        assert!(
            on || fired(r, kind) == 0,
            "seed {}: {kind} fired {} times but the plan never armed it: {:?}",
            r.seed,
            fired(r, kind),
            r.coverage
        );
    }
    // What the coverage reports as fired is what the two hosts counted.
    for kind in FaultKind::ALL {
        let on_hosts: u64 = r.coverage.by_host.values().map(|c| c.get(kind)).sum();
        assert_eq!(fired(r, kind.name()), on_hosts, "seed {}: {kind}", r.seed);
    }
}

/// How often `fault` fired in one seed.
fn fired(r: &SeedResult, fault: &str) -> u64 {
    r.coverage.fired.get(fault).copied().unwrap_or(0)
}

fn seeds_reaching_probe(results: &[SeedResult], probe: &str) -> usize {
    results
        .iter()
        .filter(|r| r.coverage.probes.contains_key(probe))
        .count()
}

fn seeds_firing(results: &[SeedResult], fault: &str) -> usize {
    results.iter().filter(|r| fired(r, fault) > 0).count()
}

/// The per-operation faults of the lossless plans, as the fault layer counts them.
const LOSSLESS_COUNTED: [&str; 5] = [
    "split-read",
    "merge-reads",
    "short-write",
    "stall",
    "accept-delay",
];

#[test]
fn echo_100_seeds() {
    let results = sweep("echo", 0..100);
    // Seeds draw different paths through the core.
    let hashes: std::collections::BTreeSet<u64> = results.iter().map(|r| r.trace_hash).collect();
    assert_eq!(hashes.len(), results.len());
    // Every lossless fault kind really fires on some seeds; nothing lossy ever does.
    for fault in LOSSLESS_COUNTED {
        assert!(seeds_firing(&results, fault) > 0, "{fault} never fired");
    }
    for fault in ["cut-fin", "cut-rst", "connect-refuse", "connect-hang"] {
        assert_eq!(seeds_firing(&results, fault), 0, "{fault} fired");
    }
    // A plan without stream or accept faults counts nothing on either host.
    let quiet: Vec<&SeedResult> = results
        .iter()
        .filter(|r| {
            let s = &r.plan.streams;
            s.split_read == 0.0
                && s.merge_reads == 0.0
                && s.short_write == 0.0
                && s.stall == 0.0
                && r.plan.accepts.delay == 0.0
        })
        .collect();
    assert!(!quiet.is_empty());
    for r in quiet {
        assert!(
            r.coverage.by_host.values().all(|c| c.is_empty()),
            "seed {}: {:?}",
            r.seed,
            r.coverage.by_host
        );
    }
}

#[test]
fn transfer_100_seeds() {
    let results = sweep("transfer", 0..100);
    assert_eq!(
        seeds_reaching_probe(&results, "transfer.during_on_data"),
        100
    );
    assert!(seeds_reaching_probe(&results, "transfer.with_buffered_bytes") > 0);
}

#[test]
fn close_100_seeds() {
    sweep("close", 0..100);
}

#[test]
fn churn_60_seeds() {
    let results = sweep("churn", 0..60);
    // Half the seeds cut streams; some cuts are resets the driver reads.
    assert!(seeds_firing(&results, "reset") > 0);
    for fault in ["cut-fin", "cut-rst"] {
        assert!(seeds_firing(&results, fault) > 0, "{fault} never fired");
    }
    // Only the seeds whose plan cuts streams get cuts.
    for r in &results {
        if r.plan.cuts.is_none() {
            assert_eq!(
                fired(r, "cut-fin") + fired(r, "cut-rst"),
                0,
                "seed {}",
                r.seed
            );
        }
    }
}

/// Seeds 0..60 include 19, 58 and 89, which failed while the driver's drain stopped at the
/// peer's close_notify: its FIN then reached a released socket and turmoil answered with RST.
#[test]
fn tls_60_seeds() {
    sweep("tls", 0..60);
}

#[test]
fn timeouts_60_seeds() {
    let results = sweep("timeouts", 0..60);
    assert_eq!(seeds_firing(&results, "connect-timeout"), 20);
    // Lost SYNs: the one connect of a seed whose plan hangs connects hangs, and times out.
    let hanging: Vec<&SeedResult> = results
        .iter()
        .filter(|r| r.plan.connects.hang == 1.0)
        .collect();
    assert!(!hanging.is_empty());
    assert_eq!(seeds_firing(&results, "connect-hang"), hanging.len());
    for r in hanging {
        assert_eq!(fired(r, "connect-hang"), 1, "seed {}", r.seed);
        assert_eq!(fired(r, "connect-timeout"), 1, "seed {}", r.seed);
    }
    assert!(seeds_firing(&results, "partition") > 0);
    assert_eq!(seeds_reaching_probe(&results, "send.timeout"), 20);
}

#[test]
fn cuts_100_seeds() {
    let results = sweep("cuts", 0..100);
    assert!(seeds_firing(&results, "reset") > 0);
    // Every seed cuts some stream; both kinds of cut take effect.
    for fault in ["cut-fin", "cut-rst"] {
        assert!(seeds_firing(&results, fault) > 0, "{fault} never fired");
    }
    let cut = results
        .iter()
        .filter(|r| fired(r, "cut-fin") + fired(r, "cut-rst") > 0)
        .count();
    assert!(cut * 2 > results.len(), "only {cut} seeds cut a stream");
}

#[test]
fn chaos_100_seeds() {
    let results = sweep("chaos", 0..100);
    for fault in [
        "crash",
        "connect-refused",
        "connect-refuse",
        "connect-hang",
        "cut-fin",
        "cut-rst",
    ]
    .into_iter()
    .chain(LOSSLESS_COUNTED)
    {
        assert!(seeds_firing(&results, fault) > 0, "{fault} never fired");
    }
    for r in &results {
        // A connect the plan refused reaches the driver's trace as a refused connect.
        assert!(
            fired(r, "connect-refused") >= fired(r, "connect-refuse"),
            "seed {}: {:?}",
            r.seed,
            r.coverage.fired
        );
    }
}

#[test]
fn wasm_100_seeds() {
    // C wasm actors in the wasmtime host on the simulated driver: every seed passes and both
    // of its runs give one trace hash (`sweep` fails on either).
    let results = sweep("wasm", 0..100);
    let hashes: std::collections::BTreeSet<u64> = results.iter().map(|r| r.trace_hash).collect();
    assert_eq!(hashes.len(), results.len());
    for fault in LOSSLESS_COUNTED {
        assert!(seeds_firing(&results, fault) > 0, "{fault} never fired");
    }
}

#[test]
fn every_scenario_of_all_is_swept_here() {
    let swept = [
        "echo", "transfer", "close", "churn", "tls", "timeouts", "cuts", "chaos", "wasm",
    ];
    for s in theater_tcp_scenarios::catalogue::all() {
        assert!(swept.contains(&s.name), "{} has no sweep test", s.name);
    }
}
