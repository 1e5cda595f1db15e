//! The named scenarios. A [`Scenario`] is a fault-plan draw from the seed, the driver's config
//! for that seed, a simulated time limit, and a body that runs actors and peers in a
//! [`Sim`] and checks its oracles. [`catalogue`] lists them in the order `all` runs them.

use crate::scenarios;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use theater_tcp_core::Config;
use theater_tcp_sim::{FaultPlan, Sim, SimContext};

/// What a scenario body returns: `Ok` when every oracle held, else what went wrong.
pub type ScenarioFuture = Pin<Box<dyn Future<Output = Result<(), String>>>>;

/// One named scenario of the catalogue. Fields are public so that tests (and later crates) can
/// build scenarios of their own and run them with [`crate::run::run_seed`].
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// The name `--scenario` takes.
    pub name: &'static str,
    /// What it does, in one line.
    pub about: &'static str,
    /// What its oracles check, including the weaker properties it settles for under lossy
    /// faults.
    pub oracles: &'static str,
    /// Whether `--scenario all` (the default) runs it; self-tests that must fail do not.
    pub in_all: bool,
    /// The seed's fault plan (swarm style: which fault kinds are on, and how strongly).
    pub draw: fn(u64) -> FaultPlan,
    /// The driver's config for a seed.
    pub config: fn(u64) -> Result<Config, String>,
    /// Simulated time after which an unfinished run fails the liveness oracle.
    pub limit: Duration,
    /// The body: actors, peers and the scenario's own oracles.
    pub body: fn(SimContext) -> ScenarioFuture,
}

impl Scenario {
    /// The fault plan that `seed` draws.
    pub fn plan(&self, seed: u64) -> FaultPlan {
        (self.draw)(seed)
    }

    /// The simulation of `seed` under `plan`, recording its trace (the runner replays it).
    pub fn sim(&self, seed: u64, plan: FaultPlan) -> Result<(Sim, Config), String> {
        let config = (self.config)(seed)?;
        let sim = Sim::new(seed, plan)
            .config(config.clone())
            .limit(self.limit)
            .keep_trace(true);
        Ok((sim, config))
    }
}

/// The default config, for scenarios that need no other.
pub(crate) fn default_config(_seed: u64) -> Result<Config, String> {
    Ok(Config::default())
}

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
