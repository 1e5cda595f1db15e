//! `cuts`: lossy streams. Every seed ends some streams early with a FIN or RST at a random
//! byte offset, on either host, on top of the lossless faults. Three peers at once stream
//! through echo actors in active or once mode.
//!
//! Byte-exactness cannot hold when a stream is cut, so the stream oracles are the weaker
//! prefix properties; the close-notice and leak oracles stay strict, because every way a cut
//! ends a stream must still end the connection exactly once.

use super::{
    LEAK_WAIT, PULL, accept_active, callback_within, connect, listen, lossy_peer, watch_after_close,
};
use crate::oracle::{self, CloseLog};
use crate::scenario::{Scenario, ScenarioFuture, default_config};
use std::time::Duration;
use theater_tcp_core::Callback;
use theater_tcp_sim::plan::CutPlan;
use theater_tcp_sim::{FaultPlan, SimContext, SimRng};

/// See the [module docs](self).
pub(crate) const SCENARIO: Scenario = Scenario {
    name: "cuts",
    about: "three echoes at once (active or once mode) under FIN/RST cuts at random offsets \
            on both hosts",
    oracles: "weaker stream properties (a cut loses the tail): what the actor received is a \
              prefix of what the peer sent, what the peer got back is a prefix of that; strict: \
              every connection gets exactly one on-close and no on-data after it, and nothing \
              leaks",
    in_all: true,
    draw,
    config: default_config,
    limit: Duration::from_secs(60),
    body,
};

fn draw(seed: u64) -> FaultPlan {
    let mut plan = FaultPlan::lossless_from_seed(seed);
    let mut rng = SimRng::new(seed).fork(0xc7_75);
    plan.cuts = Some(CutPlan {
        probability: rng.range(30, 100) as f64 / 100.0,
        max_after_bytes: rng.range(0, 32 * 1024),
        rst_share: rng.range(0, 100) as f64 / 100.0,
    });
    plan
}

fn body(ctx: SimContext) -> ScenarioFuture {
    Box::pin(async move {
        let mut rng = ctx.rng(1);
        let sizes = [0, 1, 2].map(|_| rng.range(1, 32 * 1024) as usize);
        let modes = [0, 1, 2].map(|_| if rng.chance(0.5) { "active" } else { "once" });
        let (a, b, c) = tokio::join!(
            cut_echo(&ctx, 0, modes[0], sizes[0]),
            cut_echo(&ctx, 1, modes[1], sizes[1]),
            cut_echo(&ctx, 2, modes[2], sizes[2]),
        );
        for (i, r) in [a, b, c].into_iter().enumerate() {
            r.map_err(|e| format!("echo {i} ({} mode, {} bytes): {e}", modes[i], sizes[i]))?;
        }
        oracle::no_leaks(&ctx, LEAK_WAIT).await
    })
}

async fn cut_echo(ctx: &SimContext, n: u64, mode: &str, sent: usize) -> Result<(), String> {
    let seed = 0xc0 + n;
    let mut actor = ctx.driver.actor(format!("cut-echo-{n}").as_str(), PULL);
    let (listener, addr) = listen(ctx, &actor).await?;
    let mut rng = ctx.rng(10 + n);
    let peer = async {
        let stream = connect(ctx, addr).await?;
        let (got, _) = lossy_peer(stream, seed, sent, &mut rng).await;
        Ok::<_, String>(got)
    };
    let server = async {
        let conn = accept_active(&actor, &listener, mode).await?;
        let mut got = Vec::new();
        let mut log = CloseLog::default();
        loop {
            // Every stream ends somehow; waiting longer than this is a liveness failure.
            let Some(event) = callback_within(&mut actor, LEAK_WAIT).await? else {
                return Err(format!(
                    "no on-close within {LEAK_WAIT:?} after {} bytes",
                    got.len()
                ));
            };
            match &event.callback {
                Callback::OnData { data, .. } => {
                    log.data(data.len());
                    got.extend_from_slice(data);
                    // The connection may be failing already: the echo may not get through.
                    let _ = actor.send(&conn, data.clone()).await;
                    if mode == "once" {
                        let _ = actor.set_active(&conn, "once").await;
                    }
                    event.ok();
                }
                Callback::OnClose { reason, .. } => {
                    log.close(reason);
                    event.ok();
                    break;
                }
                other => return Err(format!("unexpected callback {other:?}")),
            }
        }
        watch_after_close(&mut actor, &mut log, false).await?;
        Ok::<_, String>((got, log))
    };
    let (back, (got, log)) = tokio::try_join!(peer, server)?;
    oracle::prefix_stream("peer to actor", seed, &got, sent)?;
    oracle::prefix_stream("echo back to the peer", seed, &back, got.len())?;
    log.exactly_once("actor", |_| true)
}
