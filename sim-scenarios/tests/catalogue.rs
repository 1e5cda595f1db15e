//! Every scenario of `all` over a bounded seed range: each seed twice (same trace hash), its
//! trace replayed through a fresh core, and every oracle of the scenario. Plus checks that the
//! scenarios reach what they are there for (named coverage), so a scenario that silently
//! stopped exercising its path fails here.
//!
//! Reproduce a failing seed with the line the failure prints, e.g.
//! `cargo run --release -p theater-tcp-scenarios --bin theater-tcp-sim -- --scenario echo --seeds 17..18`.

use std::ops::Range;
use theater_tcp_scenarios::report::repro_line;
use theater_tcp_scenarios::{SeedResult, find, run_seed};

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
    }
    results
}

fn seeds_reaching_probe(results: &[SeedResult], probe: &str) -> usize {
    results
        .iter()
        .filter(|r| r.coverage.probes.contains_key(probe))
        .count()
}

fn seeds_firing(results: &[SeedResult], fault: &str) -> usize {
    results
        .iter()
        .filter(|r| r.coverage.fired.contains(fault))
        .count()
}

#[test]
fn echo_100_seeds() {
    let results = sweep("echo", 0..100);
    // Seeds draw different paths through the core.
    let hashes: std::collections::BTreeSet<u64> = results.iter().map(|r| r.trace_hash).collect();
    assert_eq!(hashes.len(), results.len());
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
    assert!(seeds_firing(&results, "partition") > 0);
    assert_eq!(seeds_reaching_probe(&results, "send.timeout"), 20);
}

#[test]
fn cuts_100_seeds() {
    let results = sweep("cuts", 0..100);
    assert!(seeds_firing(&results, "reset") > 0);
}

#[test]
fn chaos_100_seeds() {
    let results = sweep("chaos", 0..100);
    for fault in ["crash", "connect-refused"] {
        assert!(seeds_firing(&results, fault) > 0, "{fault} never fired");
    }
}

#[test]
fn every_scenario_of_all_is_swept_here() {
    let swept = [
        "echo", "transfer", "close", "churn", "tls", "timeouts", "cuts", "chaos",
    ];
    for s in theater_tcp_scenarios::catalogue::all() {
        assert!(swept.contains(&s.name), "{} has no sweep test", s.name);
    }
}
