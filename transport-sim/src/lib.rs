//! Deterministic simulation of the Theater TCP handler: the real driver of
//! `theater-tcp-tokio`, with its real TLS, on turmoil's simulated network, behind a seeded
//! byte-stream fault layer, reproducibly from one seed.
//!
//! - [`net::SimNetwork`]: the driver's `Network` on turmoil, every stream wrapped in
//!   [`FaultStream`] (splits, merges, short writes, stalls, FIN/RST at an offset), plus
//!   refused and hanging connects and a full accept queue.
//! - [`FaultCounters`]: how often each [`FaultKind`] really fired, per network; an
//!   [`Outcome`] carries both hosts' counts.
//! - [`plan::FaultPlan`]: a run's faults as data (serde), drawn from the seed or hand-written.
//! - [`harness::Sim`]: one run (`Sim::new(seed, plan).run(scenario)`), with the core's trace
//!   and its hash; [`harness::Sweep`]: many seeds, each run twice to check determinism, with a
//!   reproduction line per failure; [`repro`]: that line, in the one format every seed runner
//!   of the workspace prints.
//! - [`actor`]: scripted actors as async functions; [`peer`]: test peers' helpers (an echo).
//! - [`tls`]: the simulated clock for rustls, deterministic certificates, and a TLS client
//!   that trusts them.
//!
//! # What turmoil models, and the limits this crate relies on
//!
//! turmoil 0.7 runs every host on one thread, in a fixed order, in simulated time that moves
//! one tick per step; its randomness (latency, random link failures) comes from
//! `Builder::rng_seed`. TCP is modelled as ordered segments, one per write, with a per-stream
//! flow-control window counted in segments (`tcp_capacity`, default 64) and latency per
//! segment. Things it does **not** model, and what we do about them:
//! - **No retransmission.** A segment dropped by a partition is gone; later segments wait
//!   behind the gap forever. A partition in the middle of a stream therefore stalls that
//!   stream for good (real TCP would retransmit, or give up with a reset after minutes). Fault
//!   plans that must keep every byte ([`plan::FaultPlan::lossless_from_seed`]) use hold and
//!   release instead, which delay segments without losing them.
//! - **Connects across a partition are refused at once** (the SYN's reply channel is
//!   dropped). Real SYNs are retried; [`net::SimNetwork`] waits while the harness reports a
//!   partition, and can make a connect hang outright, so the core's connect timeout is tested.
//! - **A full SYN queue panics** (`server socket buffer full`) instead of refusing. Scenarios
//!   keep fewer than `tcp_capacity` connects waiting on one listener.
//! - **No socket options, no SO_LINGER**: `nodelay`/`keepalive` are accepted and ignored; an
//!   abort sends RST only if unread input remains (turmoil's drop rule), else FIN.
//! - **No byte-level segmentation**: a read returns at most one written segment, and never
//!   merges two. The fault layer adds arbitrary splits and merges.
//! - **Segment order across hosts**: turmoil delivers messages to a host in the order of its
//!   queue, not strictly by send time across different senders (its documented FIXME).
//!
//! Determinism also needs the code under test to avoid unseeded randomness: the driver's
//! `select!`s are `biased` (an unbiased `tokio::select!` draws from tokio's per-thread RNG,
//! which turmoil seeds only under `--cfg tokio_unstable`); maps the driver iterates are
//! ordered. TLS key shares come from the system RNG, so ciphertext bytes differ between runs
//! but not their lengths; certificates use Ed25519 (fixed-length signatures) so handshake
//! sizes, and with them the fault layer's cuts, are the same every run.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod actor;
pub mod fault;
pub mod harness;
pub mod net;
pub mod peer;
pub mod plan;
pub mod repro;
pub mod rng;
pub mod tls;
pub mod trace;
mod trace_hash;

pub use fault::{Cut, CutKind, FaultCounters, FaultCounts, FaultKind, FaultStream, StreamFaults};
pub use harness::{Outcome, Sim, SimContext, Sweep, SweepReport};
pub use net::{SimListener, SimNetwork, SimStream};
pub use plan::FaultPlan;
pub use repro::Repro;
pub use rng::SimRng;
pub use trace::{TraceEvent, TraceRecord};
