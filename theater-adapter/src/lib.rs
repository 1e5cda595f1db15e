//! The wasmtime component host of the Theater TCP handler.
//!
//! - [`Host::start`] runs a set of actors ([`ActorSpec`]: an id and a component) on one TCP
//!   handler over real sockets. Each actor has its own wasmtime store (memory limit, epoch
//!   time budget and optional fuel per callback, see [`Limits`]) and one tokio task that runs
//!   its callbacks one at a time, threading its state through them (Theater's state-in /
//!   state-out convention). Host calls (`theater:simple/tcp`, `tcp-ext`, `runtime`) are async
//!   and await the driver; exports (`theater:simple/actor#init`, any subset of
//!   `theater:simple/tcp-client`) are looked up by name.
//! - An actor that traps (or exhausts its fuel, time or memory) is stopped: exactly its own
//!   connections and listeners close; the others keep running.
//! - [`Manifest`] is the TOML file that lists actors, the `[[handler]] type = "tcp"` table
//!   and the limits; its errors name the key.
//! - [`builtin_echo_component`] is the echo actor the `theater-tcp` binary serves by default.
//! - [`bench`] compares the host's echo with a raw tokio echo server.
//!
//! Everything but the manifest (and [`ActorSpec`]) needs the default feature `host`; the fuzz
//! target of the manifest parser (`fuzz/`) builds without it, and so without wasmtime.
//!
//! A synchronous `transfer` to an actor that, inside the callback it receives, synchronously
//! transfers back to the first actor deadlocks (each waits for the other's callback);
//! `transfer-async` avoids it.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "host")]
mod actor;
#[cfg(feature = "host")]
pub mod bench;
#[cfg(feature = "host")]
mod echo;
#[cfg(feature = "host")]
mod host;
mod manifest;
mod spec;

#[cfg(feature = "host")]
pub use echo::{EchoBuildError, builtin_echo_component};
#[cfg(feature = "host")]
pub use host::{CompiledActors, Host, HostError};
pub use manifest::{ActorEntry, Limits, Manifest, ManifestError};
pub use spec::{ActorSpec, ActorStatus, LOG_CAPACITY};
