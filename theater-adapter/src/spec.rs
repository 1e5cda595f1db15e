//! What the host's modules share, so that none imports another both ways: an actor to run,
//! its status, and the ring of `runtime.log` lines.

#[cfg(feature = "host")]
use std::collections::VecDeque;
#[cfg(feature = "host")]
use std::sync::{Arc, Mutex, PoisonError};

/// How many `runtime.log` lines [`Host::logs`](crate::Host::logs) keeps (the oldest are dropped first).
pub const LOG_CAPACITY: usize = 4096;

/// One actor to run: its id (what `transfer` names) and its component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActorSpec {
    /// The actor's id, unique in the host.
    pub id: String,
    /// The component binary (`.wasm` bytes of a component, not a core module).
    pub component: Vec<u8>,
}

/// Whether an actor runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActorStatus {
    /// Its task takes callbacks.
    Running,
    /// It stopped; its connections and listeners were closed.
    Stopped {
        /// Why: `trapped in on-data: ...`, `stopped by the host`, `init failed: ...`.
        reason: String,
    },
}

/// The bounded ring of `runtime.log` lines, shared by every actor of a host.
#[cfg(feature = "host")]
#[derive(Debug, Clone, Default)]
pub(crate) struct LogBuffer(Arc<Mutex<VecDeque<(String, String)>>>);

#[cfg(feature = "host")]
impl LogBuffer {
    pub(crate) fn push(&self, actor: &str, msg: String) {
        let mut lines = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if lines.len() == LOG_CAPACITY {
            lines.pop_front();
        }
        lines.push_back((actor.to_owned(), msg));
    }

    pub(crate) fn snapshot(&self) -> Vec<(String, String)> {
        let lines = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        lines.iter().cloned().collect()
    }
}
