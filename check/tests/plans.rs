//! `FaultAlphabet::plans` as a proptest strategy: inside a `proptest!` block its plans use
//! only the alphabet's kinds and survive JSON, and a failing property shrinks a plan down to
//! the faults it needs.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestError, TestRunner};
use theater_tcp_check::{Fault, FaultAlphabet, FaultPlan, fault_count};
use theater_tcp_sim::plan::NetEvent;

proptest! {
    #![proptest_config(Config::with_cases(200))]

    #[test]
    fn lossless_plans_keep_every_byte_and_round_trip_through_json(
        plan in FaultAlphabet::lossless().plans()
    ) {
        prop_assert!(plan.is_lossless());
        prop_assert!(plan.cuts.is_none());
        prop_assert!(plan.events.iter().all(|e| matches!(e.event, NetEvent::Hold | NetEvent::Release)));
        let json = serde_json::to_string(&plan).expect("serialize");
        let back: FaultPlan = serde_json::from_str(&json).expect("deserialize");
        prop_assert_eq!(back, plan);
    }

    #[test]
    fn a_one_letter_alphabet_draws_that_fault_or_nothing(
        plan in FaultAlphabet::only(&[Fault::Partition]).plans(),
        seed in any::<u64>(),
    ) {
        let _ = seed;
        prop_assert!(fault_count(&plan) <= 1);
        prop_assert_eq!(plan.streams.split_read, 0.0);
        prop_assert_eq!(plan.latency_ms, None);
        if fault_count(&plan) == 1 {
            prop_assert!(!plan.is_lossless());
            prop_assert_eq!(plan.events.len(), 2, "a partition and its repair: {:?}", plan.events);
        }
    }
}

#[test]
fn every_kind_of_the_full_alphabet_is_drawn_and_the_empty_one_draws_none() {
    let mut runner = TestRunner::deterministic();
    let mut seen = [false; Fault::ALL.len()];
    for _ in 0..200 {
        let plan = FaultAlphabet::all()
            .plans()
            .new_tree(&mut runner)
            .expect("tree")
            .current();
        let names = theater_tcp_check::fault_names(&plan).join(" ");
        for (i, fault) in Fault::ALL.iter().enumerate() {
            let word = match fault {
                Fault::Hold => "Hold",
                Fault::Partition => "Partition",
                Fault::Crash => "CrashServer",
                other => other.name(),
            };
            seen[i] |= names.contains(word);
        }
        let none = FaultAlphabet::none()
            .plans()
            .new_tree(&mut runner)
            .expect("tree")
            .current();
        assert_eq!(none, FaultPlan::none());
    }
    assert_eq!(seen, [true; Fault::ALL.len()], "{:?}", Fault::ALL);
}

#[test]
fn a_failing_property_shrinks_the_plan_to_the_faults_it_needs() {
    // Fails whenever reads split and writes are cut short: the minimal plan has exactly those.
    let mut runner = TestRunner::new(Config::with_cases(500));
    let result = runner.run(&FaultAlphabet::all().plans(), |plan| {
        prop_assert!(plan.streams.split_read == 0.0 || plan.streams.short_write == 0.0);
        Ok(())
    });
    let Err(TestError::Fail(_, minimal)) = result else {
        panic!("no plan with both faults in 500 cases: {result:?}");
    };
    assert_eq!(fault_count(&minimal), 2, "{minimal:?}");
    assert_eq!(minimal.streams.split_read, 0.01);
    assert_eq!(minimal.streams.short_write, 0.01);
}
