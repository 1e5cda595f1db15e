//! A wasm component as the actor under test: the adapter's wasmtime host started on the
//! simulation's driver ([`Host::start_on`]), the same `.wasm` a deployment runs.
//!
//! The host runs without a time budget, so it reads no clock: each callback is bounded by
//! fuel instead, and a seed gives the same trace every time.

use crate::actor::{ActorUnderTest, Running};
use std::time::Duration;
use theater_tcp_adapter::{ActorSpec, ActorStatus, CompiledActors, Host, HostError, Limits};
use theater_tcp_tokio::DriverHandle;

/// Fuel for one callback by default: far more than a protocol step takes; a runaway loop
/// meets it and stops its actor (which fails the run).
pub const DEFAULT_FUEL: u64 = 2_000_000_000;

/// One or more wasm components run by the adapter's host; the first receives the connections
/// of the listen address (through `handle-connection`, or waiting for its `accept`), the
/// others are reached by `transfer` or listen themselves. Compiled once, started once per run.
/// An actor that stops on its own during a run (trap, fuel) fails that run.
#[derive(Debug, Clone)]
pub struct Wasm {
    name: String,
    compiled: CompiledActors,
    listen: Option<String>,
}

impl Wasm {
    /// `actors` as `(id, component bytes)`, the first listening on `listen` (for example
    /// `0.0.0.0:7000`; peers reach it with `Peers::connect(7000)`), each callback bounded by
    /// [`DEFAULT_FUEL`]. Errors name the actor that does not compile.
    pub fn new(actors: Vec<(String, Vec<u8>)>, listen: Option<&str>) -> Result<Wasm, HostError> {
        Wasm::with_limits(
            actors,
            listen,
            Limits {
                fuel_per_callback: Some(DEFAULT_FUEL),
                ..Limits::default()
            },
        )
    }

    /// As [`Wasm::new`] with other limits; `callback_time_ms` is ignored (turned off), since
    /// wall time has no place in a simulation.
    pub fn with_limits(
        actors: Vec<(String, Vec<u8>)>,
        listen: Option<&str>,
        limits: Limits,
    ) -> Result<Wasm, HostError> {
        let name = actors.first().map(|a| a.0.clone()).unwrap_or_default();
        let specs = actors
            .into_iter()
            .map(|(id, component)| ActorSpec { id, component })
            .collect();
        let limits = Limits {
            callback_time_ms: None,
            ..limits
        };
        Ok(Wasm {
            name,
            compiled: CompiledActors::compile(limits, specs)?,
            listen: listen.map(str::to_owned),
        })
    }
}

impl ActorUnderTest for Wasm {
    fn name(&self) -> &str {
        &self.name
    }

    fn start(&self, driver: &DriverHandle) -> Running {
        let compiled = self.compiled.clone();
        let listen = self.listen.clone();
        let driver = driver.clone();
        let task = tokio::spawn(async move {
            let host = Host::start_on(driver, &compiled, listen.as_deref())
                .await
                .map_err(|e| e.to_string())?;
            // Runs until the run stops it (the task is aborted and the host dropped, which
            // stops every actor); an actor that stops before that fails the run. Watched on
            // the simulated clock.
            let ids = host.actor_ids();
            loop {
                for id in &ids {
                    if let Some(ActorStatus::Stopped { reason }) = host.actor_status(id) {
                        return Err(format!("wasm actor {id} stopped: {reason}"));
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        Running::new(&self.name, task)
    }
}
