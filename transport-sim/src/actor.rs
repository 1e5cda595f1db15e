//! Scripted actors: test actors written as async functions against the driver's handle,
//! usable in this crate's simulations and in the `tests` crate on real sockets alike (nothing
//! here depends on the network the driver runs on).
//!
//! ```no_run
//! # async fn demo(driver: theater_tcp_tokio::DriverHandle) -> Result<(), String> {
//! use theater_tcp_sim::actor::{Script, next_callback, text};
//! use theater_tcp_core::{Callback, Exports};
//! let server = Script::spawn(&driver, "server", Exports::ALL, |mut actor| async move {
//!     let listener = actor.listen("0.0.0.0:7000").await.map_err(text)?;
//!     let conn = actor.accept(&listener).await.map_err(text)?;
//!     actor.activate(&conn).await.map_err(text)?;
//!     actor.set_active(&conn, "once").await.map_err(text)?;
//!     let event = next_callback(&mut actor).await?;
//!     let got = match &event.callback {
//!         Callback::OnData { data, .. } => data.clone(),
//!         other => return Err(format!("unexpected {other:?}")),
//!     };
//!     event.ok();
//!     Ok(got)
//! });
//! let bytes: Vec<u8> = server.join().await?;
//! # let _ = bytes; Ok(()) }
//! ```

use std::future::Future;
use theater_tcp_core::{Error, Exports};
use theater_tcp_tokio::{ActorHandle, CallbackEvent, DriverHandle};
use tokio::task::JoinHandle;

/// A running scripted actor; [`join`](Self::join) waits for its result.
#[derive(Debug)]
pub struct Script<T> {
    name: String,
    task: JoinHandle<Result<T, String>>,
}

impl<T: Send + 'static> Script<T> {
    /// Starts actor `name` with `exports` and runs `script` with its handle on a new task.
    /// The actor stops (its connections close) when the script drops the handle.
    pub fn spawn<F, Fut>(driver: &DriverHandle, name: &str, exports: Exports, script: F) -> Self
    where
        F: FnOnce(ActorHandle) -> Fut,
        Fut: Future<Output = Result<T, String>> + Send + 'static,
    {
        let actor = driver.actor(name, exports);
        Script {
            name: name.to_owned(),
            task: tokio::spawn(script(actor)),
        }
    }

    /// The script's result; a panic in it is an `Err` naming the actor.
    pub async fn join(self) -> Result<T, String> {
        match self.task.await {
            Ok(result) => result.map_err(|e| format!("actor {}: {e}", self.name)),
            Err(e) => Err(format!(
                "actor {} panicked or was cancelled: {e}",
                self.name
            )),
        }
    }

    /// Stops the script where it is (its actor stops with it).
    pub fn abort(&self) {
        self.task.abort();
    }
}

/// The actor's next callback, or an error once the driver stopped.
pub async fn next_callback(actor: &mut ActorHandle) -> Result<CallbackEvent, String> {
    actor
        .next_callback()
        .await
        .ok_or_else(|| format!("actor {}: the driver stopped", actor.actor()))
}

/// A handler error as the text an actor sees.
pub fn text(e: Error) -> String {
    e.to_string()
}
