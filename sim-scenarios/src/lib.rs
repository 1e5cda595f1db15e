//! The scenario catalogue of the Theater TCP handler: seeded fault scenarios run in the
//! simulation of `theater-tcp-sim` (the real driver and core on turmoil, behind the fault
//! layer), judged by safety, liveness and determinism oracles, with shrinking of failing fault
//! plans and the `theater-tcp-sim` binary.
//!
//! ```text
//! cargo run --release -p theater-tcp-scenarios --bin theater-tcp-sim -- --scenario echo --seeds 0..50
//! ```
//!
//! # The catalogue
//!
//! Each [`Scenario`] draws a fault plan from its seed, swarm style (which fault kinds are on and
//! how strongly: [`FaultPlan::from_seed`], [`FaultPlan::lossless_from_seed`], or a scenario's
//! own draw on top of them), picks the driver's config for the seed, and runs a body of
//! scripted actors and test peers with its own oracles. `theater-tcp-sim --list` prints them:
//!
//! | name | what | fault plan |
//! |---|---|---|
//! | `echo` | byte-exact echo, mode by seed: passive, active, once, credit N, switching | lossless |
//! | `transfer` | transfer from inside `on-data` while the peer streams | lossless |
//! | `close` | graceful close and half-close from either side; `keep_open_on_peer_close` | lossless |
//! | `churn` | 16-40 short connections ending every way (close, abort, transfer, peer drop, pending close, pending timeout) | lossless, cuts on half the seeds |
//! | `tls` | STARTTLS with the real TLS; plaintext injected behind the command | lossless |
//! | `timeouts` | liveness: connect timeout (lost SYNs, permanent partition), pending timeout, send timeout | lossless plus the fault the timer needs |
//! | `cuts` | echoes under FIN/RST cuts at random offsets | lossless plus cuts |
//! | `chaos` | echo and outbound connect under every fault kind, crashes included | every kind |
//! | `selftest-corrupt` | must fail: the actor corrupts a byte (not in `all`) | lossless |
//!
//! # Oracles
//!
//! - **Safety**, in the scenario bodies ([`oracle`]): byte-exact streams
//!   ([`oracle::exact_stream`]); exactly-once close notices and no data after them
//!   ([`oracle::CloseLog`]); no leaks: after the actors stop, the driver's census
//!   (`DriverHandle::stats().census`) is all zero and the transport holds no connection
//!   ([`oracle::no_leaks`]); timers fire neither early nor late ([`oracle::within`]). Where a
//!   lossy plan makes a strict oracle inapplicable the scenario states and checks the weaker
//!   property: a received stream is a **prefix** of what was sent ([`oracle::prefix_stream`]),
//!   close notices come **at most** once. Every scenario documents which it uses
//!   ([`Scenario::oracles`]).
//! - **Liveness**: every run has a simulated time limit ([`Scenario::limit`]); a run that does
//!   not finish within it fails, and so does a scenario step that waits past its own deadline
//!   (a connection that never ends, a timer that never fires).
//! - **Determinism** ([`run::run_seed`]): each seed runs twice and both runs must give the same
//!   trace hash and verdict; and the first run's trace is replayed through a fresh core
//!   ([`coverage::replay`]), which must emit exactly the recorded outputs.
//!
//! # Shrinking and coverage
//!
//! A failing seed's plan is shrunk ([`shrink`]): fault kinds switched off one at a time,
//! events dropped, probabilities and offsets halved, each step kept while the seed still fails
//! the same way. The failure report prints the minimal plan as JSON with two commands: one that
//! reruns the seed, one that reruns it under the minimal plan (`--plan`).
//!
//! Coverage ([`coverage`]) names what each scenario reached: the core's "sometimes" probes,
//! counted by the replay, and the fault kinds that fired, with how often: per-operation faults
//! as the fault layer counted them on either host, resets, refusals and timeouts as the trace
//! shows them, timed events once applied. Only latency, which turmoil applies out of the fault
//! layer's sight, is reported as merely armed.
//!
//! # Adding a scenario
//!
//! 1. Write a module under `src/scenarios/` with a `pub(crate) const SCENARIO: Scenario`: a
//!    name, a one-line `about`, an `oracles` text that states every property it checks (and
//!    the weaker one wherever faults make a strict one inapplicable), a `draw` of the seed's
//!    fault plan, a `config`, a `limit`, and a `body(ctx: SimContext) -> ScenarioFuture`.
//! 2. In the body, derive every choice from the seed (`ctx.seed`, `ctx.rng(tag)`), run actors
//!    with `ctx.driver` and peers with `ctx.peer`, return `Err(text)` when an oracle fails,
//!    and end with [`oracle::no_leaks`] when the plan cannot crash the driver.
//! 3. Add it to [`catalogue()`]; the tests in `tests/catalogue.rs` then run it over a bounded
//!    seed range.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod catalogue;
pub mod cli;
pub mod coverage;
mod json;
pub mod oracle;
pub mod report;
pub mod run;
pub mod scenario;
mod scenarios;
pub mod shrink;

pub use catalogue::{Scenario, ScenarioFuture, catalogue, find};
pub use run::{SeedResult, Verdict, run_seed};
pub use theater_tcp_sim::FaultPlan;
