//! Test support of the Theater TCP handler, kept out of the crates that ship (`publish = false`;
//! no shipped crate or binary depends on it, see ARCHITECTURE.md, "Workspace"):
//!
//! - [`splitmix64`]: the workspace's one seeded generator step. The simulation's `SimRng`, the
//!   end-to-end tests' bytes and [`Pattern`] all draw from it.
//! - [`Pattern`]: a deterministic byte stream that can be checked however it is cut.
//! - [`scenarios`]: scenario bodies generic over the driver's `Network`, run by
//!   `theater-tcp-tokio`'s tests on real sockets and by the simulation crate's tests on turmoil
//!   (the same bodies, not copies).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod rng;
pub mod scenarios;

pub use rng::{Pattern, SPLITMIX64_GAMMA, splitmix64};
