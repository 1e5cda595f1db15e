//! `close`: graceful close and half-close, four connections at once under lossless faults, one
//! per way a stream can end:
//! - the peer sends and shuts its write side while the actor reads in active, once or credit
//!   mode: the actor gets every byte, then `on-close(eof)` exactly once; with
//!   `keep_open_on_peer_close` (drawn per seed) the actor then still sends a reply and closes;
//! - the actor sends and closes: the peer reads every byte, then EOF; no callback follows the
//!   actor's own close;
//! - the actor sends and shuts its write side (a later `send` is refused), then reads the peer's
//!   bytes until EOF;
//! - the peer sends and shuts its write side while the actor reads passively: `receive`
//!   returns every byte, then an empty list, and the actor's write side still works.

use super::{
    LEAK_WAIT, PULL, QUIET, accept_active, callback_within, connect, listen, peer_sends_then_reads,
    read_all, receive_all, size, text, watch_after_close, write_pattern,
};
use crate::oracle::{self, CloseLog, exact_stream};
use crate::scenario::{Scenario, ScenarioFuture};
use std::time::Duration;
use theater_tcp_core::{Callback, Config};
use theater_tcp_sim::actor::next_callback;
use theater_tcp_sim::{FaultPlan, SimContext, SimRng};
use tokio::io::AsyncWriteExt;

/// See the [module docs](self).
pub(crate) const SCENARIO: Scenario = Scenario {
    name: "close",
    about: "graceful close and half-close from either side, four connections at once, \
            keep_open_on_peer_close by seed",
    oracles: "every byte sent before a close or shutdown arrives, exactly once (byte-exact both \
              ways); on-close(eof) exactly once and never followed by on-data; no callback \
              after the actor's own close; send after shutdown(write) refused; no leak",
    in_all: true,
    draw: FaultPlan::lossless_from_seed,
    config,
    limit: Duration::from_secs(60),
    body,
};

const MAX: u64 = 24 * 1024;

fn keep_open(seed: u64) -> bool {
    SimRng::new(seed).fork(0xc105e).chance(0.5)
}

fn config(seed: u64) -> Result<Config, String> {
    Ok(Config {
        keep_open_on_peer_close: keep_open(seed),
        ..Config::default()
    })
}

fn body(ctx: SimContext) -> ScenarioFuture {
    Box::pin(async move {
        let mut rng = ctx.rng(1);
        let mode = ["active", "once", "3"][rng.range(0, 2) as usize];
        let (a, b, c, d) = tokio::join!(
            peer_closes_first(&ctx, mode, size(&mut rng, MAX), size(&mut rng, MAX)),
            actor_closes_first(&ctx, size(&mut rng, MAX)),
            actor_half_closes(&ctx, size(&mut rng, MAX), size(&mut rng, MAX)),
            peer_half_closes_in_passive_mode(&ctx, size(&mut rng, MAX), size(&mut rng, MAX)),
        );
        a.map_err(|e| format!("peer closes first ({mode} mode): {e}"))?;
        b.map_err(|e| format!("actor closes first: {e}"))?;
        c.map_err(|e| format!("actor half-closes: {e}"))?;
        d.map_err(|e| format!("peer half-closes, passive actor: {e}"))?;
        oracle::no_leaks(&ctx, LEAK_WAIT).await
    })
}

async fn peer_closes_first(
    ctx: &SimContext,
    mode: &str,
    sent: usize,
    reply: usize,
) -> Result<(), String> {
    const IN: u64 = 0xa1;
    const OUT: u64 = 0xa2;
    let keep_open = keep_open(ctx.seed);
    let mut actor = ctx.driver.actor("peer-closes", PULL);
    let (listener, addr) = listen(ctx, &actor).await?;
    let mut rng = ctx.rng(2);
    let peer = peer_sends_then_reads(ctx, addr, IN, sent, &mut rng);
    let server = async {
        let conn = accept_active(&actor, &listener, mode).await?;
        let mut got = Vec::new();
        let mut log = CloseLog::default();
        loop {
            let event = next_callback(&mut actor).await?;
            match &event.callback {
                Callback::OnData { data, .. } => {
                    log.data(data.len());
                    got.extend_from_slice(data);
                    if mode == "once" {
                        actor.set_active(&conn, "once").await.map_err(text)?;
                    }
                    event.ok();
                }
                Callback::OnPassive { .. } => {
                    event.ok();
                    actor.set_active(&conn, mode).await.map_err(text)?;
                }
                Callback::OnClose { reason, .. } => {
                    log.close(reason);
                    event.ok();
                    break;
                }
                other => return Err(format!("unexpected callback {other:?}")),
            }
        }
        if keep_open {
            // The peer only shut its write side: ours is still open.
            let bytes = oracle::pattern(OUT, reply);
            actor.send(&conn, bytes).await.map_err(text)?;
            actor.close(&conn).await.map_err(text)?;
        }
        watch_after_close(&mut actor, &mut log, false).await?;
        Ok::<_, String>((got, log))
    };
    let (back, (got, log)) = tokio::try_join!(peer, server)?;
    exact_stream("peer to actor", IN, &got, sent)?;
    log.exactly_once("actor", |r| r == "eof")?;
    if keep_open {
        exact_stream(
            "reply after on-close (keep_open_on_peer_close)",
            OUT,
            &back,
            reply,
        )
    } else if back.is_empty() {
        Ok(())
    } else {
        Err(format!("the peer read {} bytes nobody sent", back.len()))
    }
}

async fn actor_closes_first(ctx: &SimContext, sent: usize) -> Result<(), String> {
    const OUT: u64 = 0xb1;
    let mut actor = ctx.driver.actor("actor-closes", PULL);
    let (listener, addr) = listen(ctx, &actor).await?;
    let mut rng = ctx.rng(3);
    let peer = async {
        let stream = connect(ctx, addr).await?;
        let (mut rd, _wr) = tokio::io::split(stream);
        read_all(&mut rd).await
    };
    let server = async {
        let conn = accept_active(&actor, &listener, "active").await?;
        let bytes = oracle::pattern(OUT, sent);
        let mut at = 0;
        while at < bytes.len() {
            let n = (rng.range(1, 8 * 1024) as usize).min(bytes.len() - at);
            actor
                .send(&conn, bytes[at..at + n].to_vec())
                .await
                .map_err(text)?;
            at += n;
        }
        actor.close(&conn).await.map_err(text)?;
        // The peer's FIN comes after our close: no on-close for it, nor anything else.
        if let Some(event) = callback_within(&mut actor, QUIET).await? {
            return Err(format!(
                "callback after the actor's own close: {:?}",
                event.callback
            ));
        }
        Ok(())
    };
    let (got, ()) = tokio::try_join!(peer, server)?;
    exact_stream("actor to peer before close", OUT, &got, sent)
}

async fn actor_half_closes(ctx: &SimContext, sent: usize, answer: usize) -> Result<(), String> {
    const OUT: u64 = 0xc1;
    const IN: u64 = 0xc2;
    let actor = ctx.driver.actor("actor-half-closes", PULL);
    let (listener, addr) = listen(ctx, &actor).await?;
    let mut rng = ctx.rng(4);
    let peer = async {
        let stream = connect(ctx, addr).await?;
        let (mut rd, mut wr) = tokio::io::split(stream);
        let got = read_all(&mut rd).await?;
        // Our side is still open after the actor's FIN.
        write_pattern(&mut wr, IN, answer, &mut rng).await?;
        wr.shutdown().await.map_err(|e| e.to_string())?;
        Ok::<_, String>(got)
    };
    let server = async {
        let conn = actor.accept(&listener).await.map_err(text)?;
        actor.activate(&conn).await.map_err(text)?;
        actor
            .send(&conn, oracle::pattern(OUT, sent))
            .await
            .map_err(text)?;
        actor.shutdown(&conn, "write").await.map_err(text)?;
        match actor.send(&conn, vec![1]).await {
            Err(e) if e.to_string().contains("write side is shut down") => {}
            other => return Err(format!("send after shutdown(write) gave {other:?}")),
        }
        let got = receive_all(&actor, &conn).await?;
        actor.close(&conn).await.map_err(text)?;
        Ok::<_, String>(got)
    };
    let (at_peer, at_actor) = tokio::try_join!(peer, server)?;
    exact_stream("actor to peer before shutdown", OUT, &at_peer, sent)?;
    exact_stream(
        "peer to actor after the actor's shutdown",
        IN,
        &at_actor,
        answer,
    )
}

async fn peer_half_closes_in_passive_mode(
    ctx: &SimContext,
    sent: usize,
    reply: usize,
) -> Result<(), String> {
    const IN: u64 = 0xd1;
    const OUT: u64 = 0xd2;
    let actor = ctx.driver.actor("peer-half-closes", PULL);
    let (listener, addr) = listen(ctx, &actor).await?;
    let mut rng = ctx.rng(5);
    let peer = peer_sends_then_reads(ctx, addr, IN, sent, &mut rng);
    let server = async {
        let conn = actor.accept(&listener).await.map_err(text)?;
        actor.activate(&conn).await.map_err(text)?;
        let got = receive_all(&actor, &conn).await?;
        actor
            .send(&conn, oracle::pattern(OUT, reply))
            .await
            .map_err(text)?;
        actor.close(&conn).await.map_err(text)?;
        Ok::<_, String>(got)
    };
    let (at_peer, at_actor) = tokio::try_join!(peer, server)?;
    exact_stream("peer to actor before its shutdown", IN, &at_actor, sent)?;
    exact_stream(
        "actor's reply after the peer's shutdown",
        OUT,
        &at_peer,
        reply,
    )
}
