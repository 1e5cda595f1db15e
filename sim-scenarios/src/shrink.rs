//! Shrinking a failing fault plan: greedy, one simplification at a time, kept while the seed
//! still fails, until no single simplification of [`simplifications`] keeps it failing (or the
//! budget of tries runs out).
//!
//! Simplifications come biggest first: drop every timed event, drop each one, switch each
//! fault kind off, then halve each probability, byte offset and delay. The seed stays the
//! same; the per-operation draws it makes under a smaller plan differ, which is the point: the
//! result is a plan that fails with as few faults as the search could find.

use serde::Serialize;
use theater_tcp_sim::FaultPlan;
use theater_tcp_sim::plan::{AcceptFaults, ConnectFaults};

/// The result of [`shrink`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Shrunk {
    /// The smallest failing plan found.
    pub plan: FaultPlan,
    /// The simplifications kept, in order.
    pub steps: Vec<String>,
    /// How many candidate plans were tried.
    pub tries: usize,
    /// Whether the budget ran out before the plan was minimal.
    pub exhausted: bool,
}

/// Shrinks `plan` while `fails` holds, trying at most `budget` candidates.
pub fn shrink(
    plan: &FaultPlan,
    budget: usize,
    mut fails: impl FnMut(&FaultPlan) -> bool,
) -> Shrunk {
    let mut current = plan.clone();
    let mut steps = Vec::new();
    let mut tries = 0;
    'search: loop {
        for (step, candidate) in simplifications(&current) {
            if tries == budget {
                return Shrunk {
                    plan: current,
                    steps,
                    tries,
                    exhausted: true,
                };
            }
            tries += 1;
            if fails(&candidate) {
                current = candidate;
                steps.push(step);
                continue 'search;
            }
        }
        return Shrunk {
            plan: current,
            steps,
            tries,
            exhausted: false,
        };
    }
}

/// Halves a probability, down to nothing below 1 %.
fn halve(p: f64) -> f64 {
    if p <= 0.01 { 0.0 } else { p / 2.0 }
}

/// Every one-step simplification of `plan`, biggest first; each differs from `plan`.
pub fn simplifications(plan: &FaultPlan) -> Vec<(String, FaultPlan)> {
    let mut out: Vec<(String, FaultPlan)> = Vec::new();
    let mut push = |step: String, candidate: FaultPlan| {
        if candidate != *plan {
            out.push((step, candidate));
        }
    };
    let with = |f: &dyn Fn(&mut FaultPlan)| {
        let mut p = plan.clone();
        f(&mut p);
        p
    };

    // Off switches.
    if plan.events.len() > 1 {
        push("no timed events".into(), with(&|p| p.events.clear()));
    }
    for (i, event) in plan.events.iter().enumerate() {
        push(
            format!("without {:?} at {} ms", event.event, event.at_ms),
            with(&|p| {
                p.events.remove(i);
            }),
        );
    }
    push("no cuts".into(), with(&|p| p.cuts = None));
    push(
        "no connect faults".into(),
        with(&|p| p.connects = ConnectFaults::default()),
    );
    push(
        "no connect refusals".into(),
        with(&|p| p.connects.refuse = 0.0),
    );
    push("no connect hangs".into(), with(&|p| p.connects.hang = 0.0));
    push(
        "no accept delays".into(),
        with(&|p| p.accepts = AcceptFaults::default()),
    );
    push("default latency".into(), with(&|p| p.latency_ms = None));
    push("1 ms tick".into(), with(&|p| p.tick_ms = None));
    push(
        "no split reads".into(),
        with(&|p| p.streams.split_read = 0.0),
    );
    push(
        "no merged reads".into(),
        with(&|p| p.streams.merge_reads = 0.0),
    );
    push(
        "no short writes".into(),
        with(&|p| p.streams.short_write = 0.0),
    );
    push(
        "no stalls".into(),
        with(&|p| {
            p.streams.stall = 0.0;
            p.streams.max_stall_ms = 0;
        }),
    );

    // Halvings.
    if let Some(cuts) = plan.cuts {
        push(
            "cut probability halved".into(),
            with(&|p| {
                if let Some(c) = p.cuts.as_mut() {
                    c.probability = halve(cuts.probability);
                }
            }),
        );
        push(
            "cuts at the first byte".into(),
            with(&|p| {
                if let Some(c) = p.cuts.as_mut() {
                    c.max_after_bytes = 0;
                }
            }),
        );
        push(
            "cut offsets halved".into(),
            with(&|p| {
                if let Some(c) = p.cuts.as_mut() {
                    c.max_after_bytes = cuts.max_after_bytes / 2;
                }
            }),
        );
    }
    let c = plan.connects;
    push(
        "connect refusals halved".into(),
        with(&|p| p.connects.refuse = halve(c.refuse)),
    );
    push(
        "connect hangs halved".into(),
        with(&|p| p.connects.hang = halve(c.hang)),
    );
    let a = plan.accepts;
    push(
        "accept delays halved".into(),
        with(&|p| {
            p.accepts.delay = halve(a.delay);
            p.accepts.max_delay_ms = a.max_delay_ms / 2;
        }),
    );
    if let Some((lo, hi)) = plan.latency_ms {
        push(
            "latency halved".into(),
            with(&|p| p.latency_ms = Some((lo / 2, hi / 2))),
        );
    }
    let s = plan.streams.clone();
    push(
        "split reads halved".into(),
        with(&|p| p.streams.split_read = halve(s.split_read)),
    );
    push(
        "merged reads halved".into(),
        with(&|p| p.streams.merge_reads = halve(s.merge_reads)),
    );
    push(
        "short writes halved".into(),
        with(&|p| p.streams.short_write = halve(s.short_write)),
    );
    push(
        "stalls halved".into(),
        with(&|p| {
            p.streams.stall = halve(s.stall);
            p.streams.max_stall_ms = s.max_stall_ms / 2;
        }),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_simplification_differs_and_a_plan_without_faults_has_none() {
        for seed in 0..50 {
            let plan = FaultPlan::from_seed(seed);
            for (step, candidate) in simplifications(&plan) {
                assert_ne!(candidate, plan, "{step}");
            }
        }
        assert!(simplifications(&FaultPlan::none()).is_empty());
    }

    #[test]
    fn the_budget_bounds_the_tries() {
        let plan = (0..100)
            .map(FaultPlan::from_seed)
            .find(|p| simplifications(p).len() > 10)
            .expect("a plan with many faults");
        let shrunk = shrink(&plan, 3, |_| true);
        assert_eq!(shrunk.tries, 3);
        assert!(shrunk.exhausted);
        assert_eq!(shrunk.steps.len(), 3);
    }
}
