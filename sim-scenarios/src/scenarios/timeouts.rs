//! `timeouts`: liveness. One of three timers per seed, with a timeout drawn from the seed, must
//! fire (the run would otherwise hit the simulated time limit) and fire on time:
//! - `connect`: an outbound connect whose SYNs are lost (the fault plan's hang), or that
//!   crosses a partition that never heals, ends with `connect timed out`;
//! - `pending`: an accepted connection nobody activates gets `on-close(timeout)`, and the peer
//!   sees its stream end;
//! - `send`: a peer that never reads makes `send` fail with `send timed out`, and the
//!   connection is closed afterwards.

use super::{LEAK_WAIT, PULL, connect, listen, read_until_end, text};
use crate::oracle::{self, within};
use crate::scenario::{Scenario, ScenarioFuture};
use std::time::Duration;
use theater_tcp_core::{Callback, Config, Exports};
use theater_tcp_sim::actor::next_callback;
use theater_tcp_sim::plan::{NetEvent, TimedEvent};
use theater_tcp_sim::{FaultPlan, SimContext, SimRng};
use tokio::time::Instant;

/// See the [module docs](self).
pub(crate) const SCENARIO: Scenario = Scenario {
    name: "timeouts",
    about: "liveness: connect timeout (lost SYNs or a permanent partition), pending-connection \
            timeout, send timeout against a peer that never reads; timeouts of 0.2-3 s by seed",
    oracles: "the timeout fires (else the run hits its time limit), with its exact error or \
              on-close reason, no earlier than configured and at most a bounded slack later; \
              the connection is gone afterwards (the peer sees its stream end; a later send \
              fails); no leak",
    in_all: true,
    draw,
    config,
    limit: Duration::from_secs(60),
    body,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    Connect,
    Pending,
    Send,
}

fn timer(seed: u64) -> Timer {
    match seed % 3 {
        0 => Timer::Connect,
        1 => Timer::Pending,
        _ => Timer::Send,
    }
}

fn timeout(seed: u64) -> Duration {
    Duration::from_millis(SimRng::new(seed).fork(0x71_3e).range(200, 3_000))
}

fn draw(seed: u64) -> FaultPlan {
    let mut plan = FaultPlan::lossless_from_seed(seed);
    let mut rng = SimRng::new(seed).fork(0x71_3f);
    if timer(seed) == Timer::Connect {
        if rng.chance(0.5) {
            plan.connects.hang = 1.0;
        } else {
            // Held messages would be released into the partition: keep the plan simple.
            plan.events.clear();
            plan.events.push(TimedEvent {
                at_ms: 0,
                event: NetEvent::Partition,
            });
        }
    }
    plan
}

fn config(seed: u64) -> Result<Config, String> {
    let ms = timeout(seed).as_millis() as u64;
    let mut config = Config::default();
    match timer(seed) {
        Timer::Connect => config.connect_timeout_ms = ms,
        Timer::Pending => config.pending_timeout_ms = ms,
        Timer::Send => {
            config.send_timeout_ms = ms;
            config.write_buffer = 16 * 1024;
        }
    }
    Ok(config)
}

/// Latency, held messages and stalls of the lossless plans, plus filling a stalled stream.
const SLACK: Duration = Duration::from_secs(2);

fn body(ctx: SimContext) -> ScenarioFuture {
    Box::pin(async move {
        let configured = timeout(ctx.seed);
        let what = timer(ctx.seed);
        match what {
            Timer::Connect => connect_timeout(&ctx, configured).await,
            Timer::Pending => pending_timeout(&ctx, configured).await,
            Timer::Send => send_timeout(&ctx, configured).await,
        }
        .map_err(|e| format!("{what:?} timeout of {configured:?}: {e}"))?;
        oracle::no_leaks(&ctx, LEAK_WAIT).await
    })
}

async fn connect_timeout(ctx: &SimContext, configured: Duration) -> Result<(), String> {
    let actor = ctx.driver.actor("dialer", Exports::ALL);
    let started = Instant::now();
    let result = actor.connect("client:9000").await;
    let elapsed = started.elapsed();
    match result {
        Err(e) if e.to_string() == "connect timed out" => {}
        other => return Err(format!("connect gave {other:?}")),
    }
    // The call is in-process: its timer starts within a tick of `started`.
    within(
        "connect timeout",
        configured,
        elapsed,
        elapsed,
        Duration::from_millis(50),
    )
}

async fn pending_timeout(ctx: &SimContext, configured: Duration) -> Result<(), String> {
    let mut actor = ctx.driver.actor("idle", PULL);
    let (listener, addr) = listen(ctx, &actor).await?;
    let before_connect = Instant::now();
    let mut stream = connect(ctx, addr).await?;
    let conn = actor.accept(&listener).await.map_err(text)?;
    let accepted = Instant::now();
    let event = next_callback(&mut actor).await?;
    let fired = Instant::now();
    match &event.callback {
        Callback::OnClose { connection, reason } if *connection == conn && reason == "timeout" => {}
        other => return Err(format!("expected on-close({conn}, timeout), got {other:?}")),
    }
    event.ok();
    // The timer starts after the peer began to connect and before accept() returned.
    within(
        "pending timeout",
        configured,
        fired - before_connect,
        fired - accepted,
        Duration::from_millis(50),
    )?;
    let ended = tokio::time::timeout(LEAK_WAIT, read_until_end(&mut stream)).await;
    match ended {
        Ok((got, _)) if got.is_empty() => Ok(()),
        Ok((got, _)) => Err(format!("the peer of a pending connection got {got:?}")),
        Err(_) => Err("the peer never saw the timed-out connection end".into()),
    }
}

async fn send_timeout(ctx: &SimContext, configured: Duration) -> Result<(), String> {
    let actor = ctx.driver.actor("sender", PULL);
    let (listener, addr) = listen(ctx, &actor).await?;
    // The peer connects and never reads; it keeps the stream open until the end.
    let _stream = connect(ctx, addr).await?;
    let conn = actor.accept(&listener).await.map_err(text)?;
    actor.activate(&conn).await.map_err(text)?;
    let first = Instant::now();
    let mut sent = 0u64;
    let (last_started, error) = loop {
        let started = Instant::now();
        match actor.send(&conn, vec![0x5a; 64 * 1024]).await {
            Ok(n) => sent += n,
            Err(e) => break (started, e.to_string()),
        }
        if first.elapsed() > configured * 20 + SLACK {
            return Err(format!("{sent} bytes accepted by a peer that never reads"));
        }
    };
    let fired = Instant::now();
    if error != "send timed out" {
        return Err(format!("send failed with {error:?} after {sent} bytes"));
    }
    within(
        "send timeout",
        configured,
        fired - first,
        fired - last_started,
        SLACK,
    )?;
    match actor.send(&conn, vec![1]).await {
        Err(_) => Ok(()),
        Ok(_) => Err("send succeeded on a connection closed by its send timeout".into()),
    }
}
