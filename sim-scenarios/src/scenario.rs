//! What a scenario is: a fault-plan draw from the seed, the driver's config for that seed, a
//! simulated time limit, and a body. The catalogue lists them; each body lives in
//! `crate::scenarios`.

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
