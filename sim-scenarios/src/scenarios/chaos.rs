//! `chaos`: every fault kind the plan knows, swarm-drawn per seed (`FaultPlan::from_seed`):
//! cuts, refused and hanging connects, partitions (which turmoil never retransmits across),
//! crashes and bounces of the driver's host, on top of the lossless faults. An echo actor
//! serves one peer while a dialer actor connects out to a peer's echo server.
//!
//! Under a partition or a crash a stream can stall for good, so every peer gives up after a
//! deadline and failing steps are allowed; what must still hold is stated below. Seeds whose
//! plan happens to be lossless get the strict oracles.

use super::{
    LEAK_WAIT, PULL, callback_within, connect, listen, lossy_peer, text, watch_after_close,
};
use crate::oracle::{self, CloseLog};
use crate::scenario::{Scenario, ScenarioFuture, default_config};
use std::time::Duration;
use theater_tcp_core::{Callback, Exports};
use theater_tcp_sim::{FaultPlan, SimContext, peer};
use theater_tcp_tokio::{NetListener, Network};

/// See the [module docs](self).
pub(crate) const SCENARIO: Scenario = Scenario {
    name: "chaos",
    about: "inbound echo plus an outbound connect under every fault kind (cuts, refused and \
            hanging connects, partitions, crash and bounce)",
    oracles: "weaker (streams may stall or break): what the actor received is a prefix of what \
              the peer sent, the peer's echo a prefix of that, the dialer's bytes a prefix of \
              its peer's echo; never two on-close, never on-data after one; the run ends before \
              its limit; strict when the seed's plan is lossless: byte-exact both ways, \
              on-close(eof) exactly once, no leak",
    in_all: true,
    draw: FaultPlan::from_seed,
    config: default_config,
    limit: Duration::from_secs(90),
    body,
};

/// How long each party waits before giving up on a stalled exchange.
const GIVE_UP: Duration = Duration::from_secs(20);
const IN: u64 = 0xca05;
const OUT: u64 = 0xca06;
const DIALED: usize = 1000;

fn body(ctx: SimContext) -> ScenarioFuture {
    Box::pin(async move {
        let strict = ctx.plan.is_lossless();
        let total = ctx.rng(1).range(1, 32 * 1024) as usize;
        let (inbound, outbound) =
            tokio::join!(inbound(&ctx, total, strict), outbound(&ctx, strict));
        inbound.map_err(|e| format!("inbound echo of {total} bytes: {e}"))?;
        outbound.map_err(|e| format!("outbound connect: {e}"))?;
        if strict {
            oracle::no_leaks(&ctx, LEAK_WAIT).await?;
        }
        Ok(())
    })
}

async fn inbound(ctx: &SimContext, sent: usize, strict: bool) -> Result<(), String> {
    let mut actor = ctx.driver.actor("chaos-echo", PULL);
    let (listener, addr) = match listen(ctx, &actor).await {
        Ok(l) => l,
        // A driver crashed before the first call answers nothing.
        Err(_) if !strict => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut rng = ctx.rng(2);
    let peer = async {
        // A crashed or partitioned server may refuse the connect.
        let stream = match connect(ctx, addr).await {
            Ok(stream) => stream,
            Err(e) if !strict => return Ok((Vec::new(), Err(e))),
            Err(e) => return Err(e),
        };
        Ok::<_, String>(lossy_peer(stream, IN, sent, &mut rng).await)
    };
    let peer = async {
        match tokio::time::timeout(GIVE_UP, peer).await {
            Ok(result) => result,
            Err(_) => Ok((Vec::new(), Err("gave up".to_owned()))),
        }
    };
    let server = async {
        let mut got = Vec::new();
        let mut log = CloseLog::default();
        let Ok(Ok(conn)) = tokio::time::timeout(GIVE_UP, actor.accept(&listener)).await else {
            return Ok((got, log, false));
        };
        let active = async {
            actor.activate(&conn).await?;
            actor.set_active(&conn, "active").await
        };
        if active.await.is_err() {
            return Ok((got, log, false));
        }
        loop {
            let Some(event) = callback_within(&mut actor, GIVE_UP).await.ok().flatten() else {
                return Ok((got, log, false));
            };
            match &event.callback {
                Callback::OnData { data, .. } => {
                    log.data(data.len());
                    got.extend_from_slice(data);
                    let _ = actor.send(&conn, data.clone()).await;
                    event.ok();
                }
                Callback::OnClose { reason, .. } => {
                    log.close(reason);
                    let clean = reason == "eof";
                    event.ok();
                    // A crash may stop the driver while we watch.
                    watch_after_close(&mut actor, &mut log, true).await?;
                    return Ok::<_, String>((got, log, clean));
                }
                other => return Err(format!("unexpected callback {other:?}")),
            }
        }
    };
    let ((back, ended), (got, log, clean)) = tokio::try_join!(peer, server)?;
    oracle::prefix_stream("peer to actor", IN, &got, sent)?;
    oracle::prefix_stream("echo back to the peer", IN, &back, got.len())?;
    log.at_most_once("echo actor")?;
    if strict {
        ended.map_err(|e| format!("peer: {e}"))?;
        oracle::exact_stream("peer to actor", IN, &got, sent)?;
        oracle::exact_stream("echo back to the peer", IN, &back, sent)?;
        log.exactly_once("echo actor", |r| r == "eof")?;
        if !clean {
            return Err("the connection did not end with eof".into());
        }
    }
    Ok(())
}

async fn outbound(ctx: &SimContext, strict: bool) -> Result<(), String> {
    let net = ctx.peer.clone();
    let echo_server = tokio::spawn(async move {
        let addr = "0.0.0.0:9000".parse().map_err(|e| format!("{e}"))?;
        let listener = net
            .listen(addr)
            .await
            .map_err(|e| format!("peer listen: {e}"))?;
        let (stream, _) = listener.accept().await.map_err(|e| e.to_string())?;
        peer::echo(stream).await
    });
    let actor = ctx.driver.actor("chaos-dialer", Exports::ALL);
    let dial = async {
        let conn = actor.connect("client:9000").await.map_err(text)?;
        actor
            .send(&conn, oracle::pattern(OUT, DIALED))
            .await
            .map_err(text)?;
        actor.shutdown(&conn, "write").await.map_err(text)?;
        let mut got = Vec::new();
        loop {
            let data = actor.receive(&conn, 4096).await.map_err(text)?;
            if data.is_empty() {
                break;
            }
            got.extend_from_slice(&data);
            // Checked as it comes: a wrong byte is a failure even if the exchange stalls later.
            oracle::prefix_stream("dialer's echo", OUT, &got, DIALED)?;
        }
        actor.close(&conn).await.map_err(text)?;
        Ok::<_, String>(got)
    };
    let result = tokio::time::timeout(GIVE_UP, dial).await;
    echo_server.abort();
    match result {
        Ok(Ok(got)) => {
            oracle::prefix_stream("dialer's echo", OUT, &got, DIALED)?;
            if strict {
                oracle::exact_stream("dialer's echo", OUT, &got, DIALED)?;
            }
            Ok(())
        }
        // Checked prefixes fail loudly; other failures are allowed under faults.
        Ok(Err(e)) if e.contains("not a prefix") || e.contains("duplicated") => Err(e),
        Ok(Err(e)) if strict => Err(e),
        Err(_) if strict => Err(format!("no answer within {GIVE_UP:?}")),
        Ok(Err(_)) | Err(_) => Ok(()),
    }
}
