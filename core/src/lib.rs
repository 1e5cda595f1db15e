//! The sans-IO core of the Theater TCP handler.
//!
//! Every rule of the handler's behaviour contract (`SEMANTICS.md`) is decided here, in one
//! deterministic state machine, [`Handler`]: actor calls, I/O events, callback results and time
//! go in; commands for a transport and notices for actors come out. The same core runs on real
//! sockets, in a seeded network simulation and under property tests.
//!
//! The crate does no I/O, reads no clock, spawns nothing, draws no randomness and iterates only
//! ordered maps, so a run is a pure function of its inputs; every input and output is `serde`
//! so a run can be recorded as a trace.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod address;
mod buffer;
mod bytes;
mod call;
mod config;
mod error;
mod handler;
mod ids;
mod io;
mod state;
mod time;
mod timers;
mod trace;
mod transition;

pub use address::{AddressPattern, AddressPolicy, Host, HostPort, NameVerdict};
pub use call::{Call, Callback, ConnectionStats, Exports, Notice, Reply, TlsInfo};
pub use config::{ClientTls, Config, ConfigError, ServerTls, Settings};
pub use error::Error;
pub use handler::{Census, Handler};
pub use ids::{ActorId, CallId, CallbackId, ConnId, ListenerId, ObjectId, ResolveId};
pub use io::{Command, IoEvent, SocketOption, StreamEnd, TlsRole};
pub use time::Instant;
pub use trace::{Input, Output};
pub use transition::{
    ConnectionPhase, DataMode, ListenerPhase, ReadRequest, ReadSide, TlsPhase, Transition,
};

#[cfg(feature = "testkit")]
pub mod testkit;
