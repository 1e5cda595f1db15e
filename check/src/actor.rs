//! The actor under test: anything that can start on the simulated driver as one actor and run
//! until stopped. [`Scripted`] is a Rust actor written against the driver's handle, as the
//! harness runs them; another kind (a wasm component run by the adapter's host on the
//! simulation's driver) plugs in by implementing [`ActorUnderTest`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use theater_tcp_core::Exports;
use theater_tcp_tokio::{ActorHandle, DriverHandle};
use tokio::task::JoinHandle;

/// An actor a [`Check`](crate::Check) runs on the simulated driver, once per run.
pub trait ActorUnderTest {
    /// The actor's id on the driver (what the trace names it).
    fn name(&self) -> &str;

    /// Starts the actor on `driver` (on the simulation's client host, inside its runtime).
    fn start(&self, driver: &DriverHandle) -> Running;
}

/// A started actor: its task, whose result says whether it failed.
#[derive(Debug)]
pub struct Running {
    name: String,
    task: JoinHandle<Result<(), String>>,
}

impl Running {
    /// An actor named `name` running as `task`; aborting the task stops the actor.
    pub fn new(name: &str, task: JoinHandle<Result<(), String>>) -> Running {
        Running {
            name: name.to_owned(),
            task,
        }
    }

    /// Stops the actor if it still runs; its error if it ended with one (or panicked).
    pub async fn stop(self) -> Result<(), String> {
        if !self.task.is_finished() {
            self.task.abort();
            return Ok(());
        }
        match self.task.await {
            Ok(result) => result.map_err(|e| format!("actor {}: {e}", self.name)),
            Err(e) => Err(format!("actor {} panicked: {e}", self.name)),
        }
    }
}

type Body = Arc<dyn Fn(ActorHandle) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>>>;

/// A Rust actor: an async function of the actor's [`ActorHandle`], started once per run with
/// the given exports. It stops (its connections close) when the run's workload is over, or
/// when it returns; returning `Err` fails the run.
#[derive(Clone)]
pub struct Scripted {
    name: String,
    exports: Exports,
    body: Body,
}

impl std::fmt::Debug for Scripted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scripted")
            .field("name", &self.name)
            .field("exports", &self.exports)
            .finish()
    }
}

impl Scripted {
    /// Actor `name` with `exports`, running `body`.
    pub fn new<F, Fut>(name: &str, exports: Exports, body: F) -> Scripted
    where
        F: Fn(ActorHandle) -> Fut + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        Scripted {
            name: name.to_owned(),
            exports,
            body: Arc::new(move |actor| Box::pin(body(actor))),
        }
    }
}

impl ActorUnderTest for Scripted {
    fn name(&self) -> &str {
        &self.name
    }

    fn start(&self, driver: &DriverHandle) -> Running {
        let actor = driver.actor(self.name.as_str(), self.exports);
        Running::new(&self.name, tokio::spawn((self.body)(actor)))
    }
}
