//! `transfer`: the shared transfer body of `theater-tcp-test-support`: an actor hands its
//! connection to a second actor from inside `on-data` while the peer streams, under lossless
//! faults.

use super::LEAK_WAIT;
use crate::oracle;
use crate::scenario::{Scenario, ScenarioFuture, default_config};
use std::time::Duration;
use theater_tcp_sim::{FaultPlan, SimContext};
use theater_tcp_test_support::scenarios;

/// See the [module docs](self).
pub(crate) const SCENARIO: Scenario = Scenario {
    name: "transfer",
    about: "transfer from inside on-data while the peer streams 32-256 KiB",
    oracles: "the two actors together receive every byte exactly once and in order (no byte \
              lost or duplicated across the hand-over); the peer sees EOF; no leak",
    in_all: true,
    draw: FaultPlan::lossless_from_seed,
    config: default_config,
    limit: Duration::from_secs(60),
    body,
};

fn body(ctx: SimContext) -> ScenarioFuture {
    Box::pin(async move {
        let total = super::echo::size(ctx.seed.wrapping_add(1));
        scenarios::transfer_while_streaming(&ctx.setup(), total)
            .await
            .map_err(|e| format!("transfer of {total} bytes: {e}"))?;
        oracle::no_leaks(&ctx, LEAK_WAIT).await
    })
}
