//! Deterministic simulation of the Theater TCP handler.
//!
//! The real driver of `theater-tcp-tokio` runs on turmoil's simulated network, wrapped in a
//! byte-stream fault layer ([`fault`]), with every random choice drawn from one seed ([`rng`]).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod fault;
pub mod rng;

pub use fault::{Cut, CutKind, FaultStream, StreamFaults};
pub use rng::SimRng;
