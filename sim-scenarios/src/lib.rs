//! The scenario catalogue of the Theater TCP handler: seeded fault scenarios with safety,
//! liveness and determinism oracles, sweeps and shrinking, and the `theater-tcp-sim` binary.
//!
//! Not written yet: the simulation harness itself lives in `theater-tcp-sim` (transport-sim),
//! whose tests already sweep the shared echo and transfer scenarios; this crate will gather the
//! catalogue and the command-line contract of ARCHITECTURE.md.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
