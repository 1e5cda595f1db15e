//! The named scenarios, in the order `all` runs them. A [`Scenario`] (`crate::scenario`) is a fault-plan draw from the seed, the driver's config
//! for that seed, a simulated time limit, and a body that runs actors and peers in a
//! [`Sim`] and checks its oracles. [`catalogue`] lists them in the order `all` runs them.

pub use crate::scenario::{Scenario, ScenarioFuture};
use crate::scenarios;

/// Every scenario, in the order `all` runs them (self-tests, which `all` skips, last).
pub fn catalogue() -> &'static [Scenario] {
    const CATALOGUE: &[Scenario] = &[
        scenarios::echo::SCENARIO,
        scenarios::transfer::SCENARIO,
        scenarios::close::SCENARIO,
        scenarios::churn::SCENARIO,
        scenarios::tls::SCENARIO,
        scenarios::timeouts::SCENARIO,
        scenarios::cuts::SCENARIO,
        scenarios::chaos::SCENARIO,
        scenarios::wasm::SCENARIO,
        scenarios::selftest::SCENARIO,
    ];
    CATALOGUE
}

/// The scenario called `name`.
pub fn find(name: &str) -> Option<&'static Scenario> {
    catalogue().iter().find(|s| s.name == name)
}

/// The scenarios `all` runs.
pub fn all() -> Vec<&'static Scenario> {
    catalogue().iter().filter(|s| s.in_all).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found() {
        let mut names: Vec<&str> = catalogue().iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), catalogue().len());
        for s in catalogue() {
            assert_eq!(find(s.name).map(|f| f.name), Some(s.name));
        }
        assert!(find("nope").is_none());
        assert!(all().iter().all(|s| s.in_all));
    }

    #[test]
    fn every_plan_and_config_is_a_pure_function_of_the_seed() {
        for s in catalogue() {
            for seed in 0..20 {
                assert_eq!(s.plan(seed), s.plan(seed), "{}", s.name);
                assert_eq!(
                    (s.config)(seed).map(|c| format!("{c:?}")),
                    (s.config)(seed).map(|c| format!("{c:?}")),
                    "{}",
                    s.name
                );
            }
        }
    }
}
