//! Property tests of your own protocol actor on the Theater TCP handler, under network faults.
//!
//! A [`Check`] runs an actor (a Rust [`Scripted`] actor, or any [`ActorUnderTest`]) on the
//! real driver inside the deterministic simulation of `theater-tcp-sim`, talks to it with a
//! workload of peers written as async Rust (its input drawn by a proptest [`Strategy`]), and
//! judges three kinds of property:
//!
//! - **always** ([`Check::always`], [`Check::always_on_each`]): every run, at its end, with
//!   the workload's observations ([`Peers::record`]), the core's trace and the case at hand;
//! - **sometimes** ([`Check::sometimes`]): at least one seed of the sweep, else the sweep
//!   fails naming it (fault injection that never reaches a path is a failure, not a pass);
//! - **eventually after heal** ([`Check::heal_at`], [`Check::eventually`]): once faults stop
//!   at a simulated time, the work completes within a bound of simulated time.
//!
//! Each seed draws its fault plan from a [`FaultAlphabet`] swarm-style (each kind on or off,
//! with a random intensity). The first failing seed is shrunk, the fault plan and the input
//! together, saved as a regression file that later runs replay first, and reported with the
//! one command that replays it (setting [`REPLAY_VAR`]). [`FaultAlphabet::plans`] is the
//! same plans as a proptest [`Strategy`] for your own `proptest!` tests.
//!
//! ```no_run
//! use proptest::prelude::*;
//! use std::time::Duration;
//! use theater_tcp_check::{Check, FaultAlphabet, Scripted};
//! use theater_tcp_core::Exports;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! // The actor under test: echoes one connection on port 7000.
//! let actor = Scripted::new("echo", Exports::default(), |actor| async move {
//!     let listener = actor.listen("0.0.0.0:7000").await.map_err(|e| e.to_string())?;
//!     let conn = actor.accept(&listener).await.map_err(|e| e.to_string())?;
//!     actor.activate(&conn).await.map_err(|e| e.to_string())?;
//!     loop {
//!         let data = actor.receive(&conn, 4096).await.map_err(|e| e.to_string())?;
//!         if data.is_empty() {
//!             return actor.close(&conn).await.map_err(|e| e.to_string());
//!         }
//!         actor.send(&conn, data).await.map_err(|e| e.to_string())?;
//!     }
//! });
//! Check::new(
//!     "echo_under_faults",
//!     actor,
//!     proptest::collection::vec(any::<u8>(), 1..2048),
//!     |peers, bytes: Vec<u8>| async move {
//!         let mut stream = peers.connect(7000).await.map_err(|e| e.to_string())?;
//!         stream.write_all(&bytes).await.map_err(|e| e.to_string())?;
//!         stream.shutdown().await.map_err(|e| e.to_string())?;
//!         let mut back = Vec::new();
//!         stream.read_to_end(&mut back).await.map_err(|e| e.to_string())?;
//!         peers.record(back);
//!         Ok(())
//!     },
//! )
//! .always("echoed exactly", |run| {
//!     match run.observations().next() {
//!         Some(back) if back == &run.case.input => Ok(()),
//!         other => Err(format!("got {other:?}")),
//!     }
//! })
//! .sometimes("a read was split", |run| run.deliveries().len() > 1)
//! .heal_at(Duration::from_secs(2))
//! .eventually("echo done", Duration::from_secs(5), |run| run.finished.is_some())
//! .alphabet(FaultAlphabet::lossless())
//! .seeds(0..100)
//! .regressions("tests/regressions")
//! .replay_command("cargo test --test echo -- --exact echo_under_faults")
//! .run();
//! ```
//!
//! # Wasm actors
//!
//! [`Wasm`] (feature `wasm`, on by default) checks a wasm component, the same `.wasm` a
//! deployment runs: the adapter's host starts it on the simulation's driver, without a clock
//! (fuel bounds each callback), so a seed replays to the same trace hash.
//!
//! ```ignore
//! let actor = Wasm::new(vec![("echo".into(), std::fs::read("echo.wasm")?)], Some("0.0.0.0:7000"))?;
//! Check::new("wasm_echo", actor, strategy, workload).always(/* ... */).run();
//! ```
//!
//! # Adding another kind of actor
//!
//! [`ActorUnderTest`] has two methods: the actor's name and `start(&DriverHandle) -> Running`.
//! Anything that can run as actors on a [`theater_tcp_tokio::DriverHandle`] plugs into
//! [`Check::new`] by implementing it, as [`Scripted`] and [`Wasm`] do.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod actor;
pub mod alphabet;
pub mod check;
pub mod peers;
#[cfg(feature = "wasm")]
pub mod wasm;

pub use actor::{ActorUnderTest, Running, Scripted};
pub use alphabet::{Fault, FaultAlphabet, fault_count, fault_names};
pub use check::{
    Case, Check, CheckFailure, Counterexample, REPLAY_VAR, Replayed, Report, Run, Violation,
};
pub use peers::Peers;
pub use proptest::strategy::Strategy;
pub use theater_tcp_sim::FaultPlan;
#[cfg(feature = "wasm")]
pub use wasm::Wasm;
