//! `echo`: the shared echo body of `theater-tcp-test-support` (the same code as on real sockets)
//! through an actor reading in one data mode per seed, under lossless faults.

use super::LEAK_WAIT;
use crate::oracle;
use crate::scenario::{Scenario, ScenarioFuture, default_config};
use std::time::Duration;
use theater_tcp_sim::{FaultPlan, SimContext};
use theater_tcp_test_support::scenarios::{self, EchoMode};

/// See the [module docs](self).
pub(crate) const SCENARIO: Scenario = Scenario {
    name: "echo",
    about: "echo of 32-256 KiB through one actor, mode by seed: passive, active, once, credit N, \
            switching between all of them",
    oracles: "byte-exact echo (every byte back once, in order, then EOF); the actor echoed \
              exactly what was sent; no leak (census all zero after the actor stopped)",
    in_all: true,
    draw: FaultPlan::lossless_from_seed,
    config: default_config,
    limit: Duration::from_secs(60),
    body,
};

/// The data mode of a seed.
pub(crate) fn mode(seed: u64) -> EchoMode {
    match seed % 5 {
        0 => EchoMode::Passive,
        1 => EchoMode::Active,
        2 => EchoMode::Once,
        3 => EchoMode::Credit(1 + (seed / 5 % 7) as u16),
        _ => EchoMode::Switching,
    }
}

/// 32 to 256 KiB, by seed: enough chunks that mode switches meet buffered bytes.
pub(crate) fn size(seed: u64) -> usize {
    32 * 1024 + (seed as usize).wrapping_mul(7919) % (224 * 1024)
}

fn body(ctx: SimContext) -> ScenarioFuture {
    Box::pin(async move {
        let mode = mode(ctx.seed);
        let total = size(ctx.seed);
        scenarios::echo(&ctx.setup(), mode, total)
            .await
            .map_err(|e| format!("echo of {total} bytes in {mode:?} mode: {e}"))?;
        oracle::no_leaks(&ctx, LEAK_WAIT).await
    })
}
