//! Shrinking: on a synthetic predicate whose minimal failing plan is known, the shrinker
//! reaches it and the result is 1-minimal; on a real scenario that fails under any plan, it
//! removes every fault.

use theater_tcp_scenarios::run::{run_seed, shrink_failure};
use theater_tcp_scenarios::shrink::{shrink, simplifications};
use theater_tcp_scenarios::{FaultPlan, find};

/// Fails when cuts happen often enough and reads are split: nothing else matters.
fn synthetic(plan: &FaultPlan) -> bool {
    plan.cuts.is_some_and(|c| c.probability >= 0.1) && plan.streams.split_read > 0.0
}

#[test]
fn a_synthetic_failure_shrinks_to_exactly_what_it_needs() {
    // A seed whose plan has every kind of fault, cuts and splits among them.
    let seed = (0..500)
        .find(|s| {
            let p = FaultPlan::from_seed(*s);
            synthetic(&p)
                && p.cuts.is_some_and(|c| c.probability >= 0.4)
                && !p.events.is_empty()
                && p.connects.refuse > 0.0
                && p.streams.short_write > 0.0
        })
        .expect("a seed with many faults");
    let plan = FaultPlan::from_seed(seed);
    let shrunk = shrink(&plan, 1_000, synthetic);
    assert!(!shrunk.exhausted);
    assert!(synthetic(&shrunk.plan), "the result must still fail");
    let p = &shrunk.plan;
    assert!(p.events.is_empty(), "{p:?}");
    assert_eq!(p.connects.refuse, 0.0);
    assert_eq!(p.connects.hang, 0.0);
    assert_eq!(p.streams.short_write, 0.0);
    assert_eq!(p.streams.merge_reads, 0.0);
    assert_eq!(p.streams.stall, 0.0);
    assert_eq!(p.latency_ms, None);
    assert_eq!(p.tick_ms, None, "the tick goes back to the harness's 1 ms");
    let cuts = p.cuts.expect("cuts kept");
    assert!((0.1..0.2).contains(&cuts.probability), "{cuts:?}");
    assert_eq!(cuts.max_after_bytes, 0);
    assert!(p.streams.split_read <= 0.01, "{p:?}");
    // 1-minimal: no single simplification still fails.
    for (step, candidate) in simplifications(p) {
        assert!(!synthetic(&candidate), "{step} still fails");
    }
    assert!(shrunk.steps.len() >= 5, "{:?}", shrunk.steps);
}

#[test]
fn a_failure_that_needs_its_coarse_tick_keeps_it() {
    let seed = (0..50)
        .find(|s| FaultPlan::from_seed(*s).tick_ms == Some(10))
        .expect("a seed at 10 ms");
    let plan = FaultPlan::from_seed(seed);
    let shrunk = shrink(&plan, 1_000, |p| p.tick_ms == Some(10));
    assert_eq!(shrunk.plan.tick_ms, Some(10));
    assert_eq!(shrunk.plan.latency_ms, None, "{:?}", shrunk.plan);
    let candidates = simplifications(&shrunk.plan);
    assert!(
        candidates
            .iter()
            .any(|(step, c)| step == "1 ms tick" && c.tick_ms.is_none()),
        "{candidates:?}"
    );
}

#[test]
fn a_plan_that_never_fails_is_not_shrunk() {
    let plan = FaultPlan::from_seed(3);
    let shrunk = shrink(&plan, 100, |_| false);
    assert_eq!(shrunk.plan, plan);
    assert!(shrunk.steps.is_empty());
    assert_eq!(shrunk.tries, simplifications(&plan).len());
}

#[test]
fn a_scenario_that_fails_without_faults_shrinks_to_no_faults() {
    let scenario = find("selftest-corrupt").expect("the self-test");
    let seed = (0..50)
        .find(|s| {
            let p = scenario.plan(*s);
            p.streams.split_read > 0.0 && p.latency_ms.is_some()
        })
        .expect("a seed with faults");
    let failed = run_seed(scenario, seed, scenario.plan(seed), false);
    assert!(!failed.verdict.passed());
    let shrunk = shrink_failure(scenario, &failed, 40);
    assert_eq!(shrunk.plan, FaultPlan::none(), "{:?}", shrunk.steps);
    // And it still fails there.
    assert!(
        !run_seed(scenario, seed, shrunk.plan, false)
            .verdict
            .passed()
    );
}
