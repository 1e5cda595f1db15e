//! The driver of the Theater TCP handler: runs the sans-IO core (`theater-tcp-core`) on a
//! [`Network`] — real sockets through [`TokioNetwork`], or turmoil's in the simulation crate —
//! with TLS through tokio-rustls.
//!
//! - [`Driver::start`] validates the config, loads TLS (failing closed) and puts the core
//!   behind the lock every task feeds it through (see the `driver` module).
//! - [`DriverHandle::actor`] starts an actor; its [`ActorHandle`] makes calls (awaiting their
//!   results) and yields its callbacks as [`CallbackEvent`]s to answer.
//! - [`DriverHandle::stats`] reports the driver's own accounting of per-connection memory.
//! - [`buffers`] recycles the large buffers of the data path across tasks.
//!
//! The transport holds no policy: every decision is the core's; this crate executes commands
//! and reports what sockets did.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod buffers;
mod conn;
mod driver;
mod handle;
mod mailbox;
mod network;
mod report;
mod tls;
mod tls_socket;

pub use driver::{Driver, DriverOptions, Observed, Observer, StartError};
pub use handle::{
    ActorHandle, CallbackEvent, Caller, ConnectionMemory, DriverHandle, DriverStats, LockStats,
};
pub use network::{NetListener, NetStream, Network, TokioNetwork};
pub use tls::{TlsConfigError, TlsContext, provider};
