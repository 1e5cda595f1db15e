//! The host: one wasmtime engine, one driver on real sockets, and one task per actor.

use crate::actor::{ActorCtx, ActorTask, ExportIndices, Exported, TcpHost, chain};
use crate::manifest::{Limits, ManifestError};
use crate::spec::{ActorSpec, ActorStatus, LogBuffer};
use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;
use theater_tcp_core::Config;
use theater_tcp_tokio::{Caller, Driver, DriverHandle, StartError, TokioNetwork};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Engine, Store, StoreLimitsBuilder};

/// How often the engine's epoch ticks: the granularity of the per-callback time budget.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Why the host did not start. Each actor error names the actor and the step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostError {
    /// No actor was given.
    NoActors,
    /// Two actors share an id.
    DuplicateActor(String),
    /// A limit is invalid.
    Limits(ManifestError),
    /// The wasm engine could not be set up.
    Engine(String),
    /// The driver refused the configuration (invalid key, TLS files that cannot be loaded).
    Driver(StartError),
    /// One actor could not be started.
    Actor {
        /// The actor's id.
        actor: String,
        /// The step: `compile`, `instantiate`, `exports`, `init`, `listen`.
        step: &'static str,
        /// What went wrong.
        message: String,
    },
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::NoActors => f.write_str("no actor to run"),
            HostError::DuplicateActor(id) => write!(f, "two actors have the id `{id}`"),
            HostError::Limits(e) => write!(f, "invalid limits: {e}"),
            HostError::Engine(e) => write!(f, "cannot set up the wasm engine: {e}"),
            HostError::Driver(e) => write!(f, "cannot start the TCP handler: {e}"),
            HostError::Actor {
                actor,
                step,
                message,
            } => write!(f, "actor `{actor}`: {step} failed: {message}"),
        }
    }
}

impl std::error::Error for HostError {}

struct Slot {
    id: String,
    /// Calls on the actor's behalf (the host's `listen`); a clone of its task's caller.
    caller: Caller,
    status: watch::Receiver<ActorStatus>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// A running set of actors on one TCP handler. Dropping it stops every actor (without
/// waiting); [`Host::shutdown`] stops them and waits.
pub struct Host {
    driver: DriverHandle,
    slots: Vec<Slot>,
    logs: LogBuffer,
    listen_address: Option<String>,
    _engine: Engine,
}

impl fmt::Debug for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Host")
            .field(
                "actors",
                &self.slots.iter().map(|s| &s.id).collect::<Vec<_>>(),
            )
            .field("listen_address", &self.listen_address)
            .finish()
    }
}

/// The engine for `limits`. With `callback_time_ms` set, an epoch ticker thread (every
/// [`EPOCH_TICK`]) interrupts wasm to check the budget and to let other tasks run. Without it
/// the host reads no clock at all: callbacks are bounded by fuel only, and a long callback
/// yields to the runtime every [`FUEL_YIELD`] units of fuel, so that a run under the simulator
/// is the same every time.
fn engine(limits: &Limits) -> Result<Engine, HostError> {
    let mut config = wasmtime::Config::new();
    let wall_clock = limits.callback_time_ms.is_some();
    config.epoch_interruption(wall_clock);
    config.consume_fuel(limits.fuel_per_callback.is_some());
    let engine = Engine::new(&config).map_err(|e| HostError::Engine(chain(&e)))?;
    if !wall_clock {
        return Ok(engine);
    }
    // The ticker ends once the engine (every store and this host) is gone.
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("theater-tcp-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .map_err(|e| HostError::Engine(format!("cannot start the epoch ticker: {e}")))?;
    Ok(engine)
}

/// Without a time budget, a callback yields to the runtime after this much fuel.
const FUEL_YIELD: u64 = 100_000;

/// Actors compiled once, to start on any number of hosts ([`Host::start_on`]): the engine
/// (set up for the limits), the linker and each actor's component.
#[derive(Clone)]
pub struct CompiledActors {
    engine: Engine,
    linker: Linker<ActorCtx>,
    limits: Limits,
    actors: Vec<(String, Component, ExportIndices)>,
}

impl fmt::Debug for CompiledActors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompiledActors")
            .field(
                "actors",
                &self.actors.iter().map(|a| &a.0).collect::<Vec<_>>(),
            )
            .field("limits", &self.limits)
            .finish()
    }
}

impl CompiledActors {
    /// Checks the limits and the ids, and compiles every actor. Errors name the actor and the
    /// step (`compile`).
    pub fn compile(limits: Limits, actors: Vec<ActorSpec>) -> Result<Self, HostError> {
        limits.validate().map_err(HostError::Limits)?;
        if actors.is_empty() {
            return Err(HostError::NoActors);
        }
        let mut ids = BTreeSet::new();
        for spec in &actors {
            if !ids.insert(spec.id.as_str()) {
                return Err(HostError::DuplicateActor(spec.id.clone()));
            }
        }
        let engine = engine(&limits)?;
        let mut linker: Linker<ActorCtx> = Linker::new(&engine);
        TcpHost::add_to_linker::<ActorCtx, HasSelf<ActorCtx>>(&mut linker, |ctx| ctx)
            .map_err(|e| HostError::Engine(chain(&e)))?;
        crate::actor::link_fast_send(&mut linker).map_err(|e| HostError::Engine(chain(&e)))?;
        let mut compiled = Vec::with_capacity(actors.len());
        for spec in actors {
            let component =
                Component::new(&engine, &spec.component).map_err(|e| HostError::Actor {
                    actor: spec.id.clone(),
                    step: "compile",
                    message: chain(&e),
                })?;
            let indices = ExportIndices::of(&component);
            compiled.push((spec.id, component, indices));
        }
        Ok(CompiledActors {
            engine,
            linker,
            limits,
            actors: compiled,
        })
    }
}

impl Host {
    /// Starts the driver on real sockets with `config`, compiles and instantiates every actor
    /// (each in its own store, with `limits`), runs each actor's `init(none, (id,))`, then,
    /// when `config.listen` is set, listens there on behalf of the first actor (connections
    /// are pushed to it through `handle-connection`, or wait for its `accept`).
    ///
    /// This is the one place that acts on `config.listen` (ARCHITECTURE.md, "The adapter"):
    /// the core checks the key's syntax but opens nothing for it, because which actor owns
    /// that listener and when it may open are the host's to know (the manifest's first actor;
    /// after every `init`, so that no connection reaches an actor before its `init` ran). The
    /// listener itself is the actor's ordinary `listen` call, so every rule of it (the address
    /// policy, the per-actor quota, the hand-out order) is the core's.
    ///
    /// Must be called within a tokio runtime. Errors name the actor and the step that failed;
    /// on error every actor started so far is stopped.
    pub async fn start(
        config: Config,
        limits: Limits,
        actors: Vec<ActorSpec>,
    ) -> Result<Host, HostError> {
        let compiled = CompiledActors::compile(limits, actors)?;
        let listen = config.listen.clone();
        let driver = Driver::start(config, TokioNetwork).map_err(HostError::Driver)?;
        Host::start_on(driver, &compiled, listen.as_deref()).await
    }

    /// Starts `actors` on a driver that is already running, on whatever network it runs (real
    /// sockets, or the simulator's `SimNetwork`), then listens on `listen` for the first actor
    /// as [`Host::start`] does for `config.listen`. With `limits.callback_time_ms = None` (and
    /// fuel for a bound) the host reads no clock, so the simulator runs wasm actors
    /// deterministically. Must be called within a tokio runtime.
    pub async fn start_on(
        driver: DriverHandle,
        compiled: &CompiledActors,
        listen: Option<&str>,
    ) -> Result<Host, HostError> {
        let CompiledActors {
            engine,
            linker,
            limits,
            actors,
        } = compiled;
        let logs = LogBuffer::default();
        let mut host = Host {
            driver,
            slots: Vec::new(),
            logs,
            listen_address: None,
            _engine: engine.clone(),
        };

        // Every actor is registered and its task spawned before any `init` runs, so that an
        // `init` may already transfer to another actor.
        let mut inits = Vec::new();
        for (id, component, indices) in actors.iter().cloned() {
            let handle = host.driver.actor(id.as_str(), indices.exports());
            let store_limits = StoreLimitsBuilder::new()
                .memory_size(limits.max_memory_bytes)
                .table_elements(limits.max_memory_bytes / 8)
                .build();
            let ctx = ActorCtx::new(id.clone(), handle.caller(), store_limits, host.logs.clone());
            let mut store = Store::new(engine, ctx);
            store.limiter(|ctx| &mut ctx.limits);
            if limits.callback_time_ms.is_some() {
                crate::actor::install_time_budget(&mut store, limits);
            } else if limits.fuel_per_callback.is_some()
                && let Err(e) = store.fuel_async_yield_interval(Some(FUEL_YIELD))
            {
                let error = HostError::Engine(chain(&e));
                host.shutdown().await;
                return Err(error);
            }
            let failed = |step, message| HostError::Actor {
                actor: id.clone(),
                step,
                message,
            };
            // Instantiation runs guest code too (data initialisers, start functions).
            if let Some(fuel) = limits.fuel_per_callback
                && let Err(e) = store.set_fuel(fuel)
            {
                let error = failed("instantiate", chain(&e));
                host.shutdown().await;
                return Err(error);
            }
            store.set_epoch_deadline(1);
            let instance = match linker.instantiate_async(&mut store, &component).await {
                Ok(instance) => instance,
                Err(e) => {
                    let error = failed("instantiate", chain(&e));
                    host.shutdown().await;
                    return Err(error);
                }
            };
            let exported = match Exported::typed(&mut store, &instance, &indices) {
                Ok(exported) => exported,
                Err(message) => {
                    let error = failed("exports", message);
                    host.shutdown().await;
                    return Err(error);
                }
            };
            let caller = handle.caller();
            let (status_tx, status) = watch::channel(ActorStatus::Running);
            let (stop, stop_rx) = watch::channel(false);
            let (init_tx, init_rx) = oneshot::channel();
            let task = ActorTask {
                id: id.clone(),
                store,
                exported,
                handle,
                fuel: limits.fuel_per_callback,
                status: status_tx,
                stop: stop_rx,
            };
            let task = tokio::spawn(task.run(init_tx));
            inits.push((id.clone(), init_rx));
            host.slots.push(Slot {
                id,
                caller,
                status,
                stop,
                task,
            });
        }
        for (id, init) in inits {
            let outcome = init
                .await
                .unwrap_or_else(|_| Err("the actor's task ended during init".into()));
            if let Err(message) = outcome {
                host.shutdown().await;
                return Err(HostError::Actor {
                    actor: id,
                    step: "init",
                    message,
                });
            }
        }

        // The configured listener: the first actor's, once every `init` has run.
        if let Some(address) = listen {
            let first = host.slots[0].id.clone();
            match host.listen_for(&first, address).await {
                Ok(local) => host.listen_address = Some(local),
                Err(message) => {
                    host.shutdown().await;
                    return Err(HostError::Actor {
                        actor: first,
                        step: "listen",
                        message,
                    });
                }
            }
        }
        Ok(host)
    }

    /// Listens on `address` as `actor` and returns the bound `ip:port`.
    async fn listen_for(&self, actor: &str, address: &str) -> Result<String, String> {
        let caller = self
            .slot(actor)
            .map(|s| s.caller.clone())
            .ok_or_else(|| format!("no actor `{actor}`"))?;
        let listener = caller.listen(address).await.map_err(|e| e.to_string())?;
        caller
            .local_address(&listener)
            .await
            .map_err(|e| e.to_string())
    }

    /// The driver's handle (for [`DriverHandle::stats`] in tests and tools).
    pub fn driver(&self) -> &DriverHandle {
        &self.driver
    }

    /// The `ip:port` the host listens on for the first actor (`config.listen`, resolved:
    /// `127.0.0.1:0` becomes the real port), if it listens.
    pub fn listen_address(&self) -> Option<&str> {
        self.listen_address.as_deref()
    }

    /// The actors' ids, in start order.
    pub fn actor_ids(&self) -> Vec<String> {
        self.slots.iter().map(|s| s.id.clone()).collect()
    }

    /// An actor's status now; `None` for an unknown id.
    pub fn actor_status(&self, id: &str) -> Option<ActorStatus> {
        self.slot(id).map(|s| s.status.borrow().clone())
    }

    /// Resolves when the actor stopped (trapped, failed its init, or stopped by the host).
    /// An unknown id resolves at once as stopped.
    pub async fn wait_stopped(&self, id: &str) -> ActorStatus {
        let Some(slot) = self.slot(id) else {
            return ActorStatus::Stopped {
                reason: format!("no actor `{id}` in this host"),
            };
        };
        let mut status = slot.status.clone();
        let stopped = status
            .wait_for(|s| matches!(s, ActorStatus::Stopped { .. }))
            .await
            .map(|s| s.clone());
        // The sender lives in the actor's task, which publishes `Stopped` before it ends.
        stopped.unwrap_or_else(|_| ActorStatus::Stopped {
            reason: "the actor's task ended".into(),
        })
    }

    /// Stops one actor (its connections and listeners close) and waits until it stopped.
    pub async fn stop_actor(&self, id: &str) -> ActorStatus {
        if let Some(slot) = self.slot(id) {
            let _ = slot.stop.send(true);
        }
        self.wait_stopped(id).await
    }

    /// What actors wrote with `runtime.log`, oldest first, as `(actor, line)`; at most
    /// [`LOG_CAPACITY`] lines.
    pub fn logs(&self) -> Vec<(String, String)> {
        self.logs.snapshot()
    }

    /// Stops every actor (a callback blocked in a host call is abandoned), waits for their
    /// tasks, then gives their connections up to a second to close gracefully.
    pub async fn shutdown(self) {
        for slot in &self.slots {
            let _ = slot.stop.send(true);
        }
        for slot in self.slots {
            let _ = slot.task.await;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
        while tokio::time::Instant::now() < deadline {
            let census = self.driver.stats().await.census;
            if census.connections == 0 && census.closing == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn slot(&self, id: &str) -> Option<&Slot> {
        self.slots.iter().find(|s| s.id == id)
    }
}
