//! `wasm`: the C test actors of `tests/actors` (wasm components, the same bytes as the
//! end-to-end tests run on real sockets) in the adapter's host, on the simulated network.
//!
//! The host runs on the scenario's driver ([`Host::start_on`]) with no time budget, so it reads
//! no clock: callbacks are bounded by fuel, and a run is the same every time. Components are
//! compiled once per process and shared by every seed.

use super::{LEAK_WAIT, peer_sends_then_reads};
use crate::oracle;
use crate::scenario::{Scenario, ScenarioFuture, default_config};
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;
use theater_tcp_adapter::{ActorSpec, CompiledActors, Host, Limits};
use theater_tcp_sim::{FaultPlan, SimContext};
use theater_tcp_test_support::Pattern;

/// See the [module docs](self).
pub(crate) const SCENARIO: Scenario = Scenario {
    name: "wasm",
    about: "echo of 16-128 KiB through a C wasm actor of tests/actors in the wasmtime host: \
            echo_passive, echo_active, echo_once, or acceptor transferring to worker, by seed",
    oracles: "byte-exact echo, then EOF; no leak after the host shut down; the host reads no \
              clock (fuel bounds callbacks), so both runs of a seed give one trace hash",
    in_all: true,
    draw: FaultPlan::lossless_from_seed,
    config: default_config,
    limit: Duration::from_secs(60),
    body,
};

/// The actor set of a seed: `(id, folder of tests/actors)`, the first one gets the
/// connections.
fn actors(seed: u64) -> &'static [(&'static str, &'static str)] {
    match seed % 4 {
        0 => &[("echo", "echo_passive")],
        1 => &[("echo", "echo_active")],
        2 => &[("echo", "echo_once")],
        _ => &[("acceptor", "acceptor"), ("worker", "worker")],
    }
}

/// Fuel for one callback: far more than an echo of a chunk takes, so only a runaway actor
/// meets it.
const FUEL: u64 = 2_000_000_000;

/// The four actor sets, compiled once.
fn compiled(seed: u64) -> Result<&'static CompiledActors, String> {
    static SETS: [OnceLock<Result<CompiledActors, String>>; 4] = [
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
    ];
    SETS[(seed % 4) as usize]
        .get_or_init(|| {
            let limits = Limits {
                fuel_per_callback: Some(FUEL),
                callback_time_ms: None,
                ..Limits::default()
            };
            let specs = actors(seed)
                .iter()
                .map(|(id, folder)| ActorSpec {
                    id: (*id).into(),
                    component: theater_tcp_tests::actor(folder),
                })
                .collect();
            CompiledActors::compile(limits, specs).map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// 16 to 128 KiB, by seed.
fn size(seed: u64) -> usize {
    16 * 1024 + (seed as usize).wrapping_mul(7919) % (112 * 1024)
}

fn body(ctx: SimContext) -> ScenarioFuture {
    Box::pin(async move {
        let set = actors(ctx.seed);
        let host = Host::start_on(ctx.driver.clone(), compiled(ctx.seed)?, Some("0.0.0.0:0"))
            .await
            .map_err(|e| format!("host start: {e}"))?;
        let port = host
            .listen_address()
            .and_then(|a| a.parse::<SocketAddr>().ok())
            .map(|a| a.port())
            .ok_or("the host did not report its listen address")?;
        let total = size(ctx.seed);
        let mut rng = ctx.rng(1);
        let got = peer_sends_then_reads(
            &ctx,
            SocketAddr::new(ctx.server, port),
            ctx.seed,
            total,
            &mut rng,
        )
        .await;
        let verdict = got.and_then(|got| {
            if got.len() != total {
                return Err(format!("{} of {total} bytes came back", got.len()));
            }
            Pattern::new(ctx.seed).check(&got)
        });
        let statuses: Vec<String> = host
            .actor_ids()
            .iter()
            .map(|id| format!("{id}: {:?}", host.actor_status(id)))
            .collect();
        host.shutdown().await;
        verdict
            .map_err(|e| format!("echo of {total} bytes through {set:?}: {e} ({statuses:?})"))?;
        oracle::no_leaks(&ctx, LEAK_WAIT).await
    })
}
