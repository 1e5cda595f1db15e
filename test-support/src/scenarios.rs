//! Scenario bodies generic over the [`Network`], shared by `theater-tcp-tokio`'s tests on real
//! sockets and the simulation crate's tests on turmoil. Each runs scripted actors against a
//! driver and a test peer that reaches them through its own `Network`, and returns what went
//! wrong as text (an oracle failure), or `Ok` when every actor-visible and peer-visible check
//! held.

use crate::Pattern;
use std::net::SocketAddr;
use theater_tcp_core::{Callback, Error, Exports};
use theater_tcp_tokio::{ActorHandle, DriverHandle, Network};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Where the actors listen and how the peer reaches them.
pub struct Setup<'a, N: Network> {
    /// The driver under test.
    pub driver: &'a DriverHandle,
    /// The test peer's network (its own host under simulation).
    pub peer: &'a N,
    /// The address the actor listens on (`127.0.0.1:0` on real sockets).
    pub listen: String,
    /// Maps the address a listener reports to the address the peer connects to.
    pub reach: Box<dyn Fn(SocketAddr) -> SocketAddr + Send + Sync + 'a>,
}

impl<'a, N: Network> Setup<'a, N> {
    /// A setup on one host's loopback: the peer connects where the listener is.
    pub fn loopback(driver: &'a DriverHandle, peer: &'a N) -> Self {
        Setup {
            driver,
            peer,
            listen: "127.0.0.1:0".into(),
            reach: Box::new(|a| a),
        }
    }
}

/// The data mode an echo actor reads in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EchoMode {
    /// `receive` in a loop.
    Passive,
    /// `set-active(active)`.
    Active,
    /// `set-active(once)`, re-armed inside every `on-data`.
    Once,
    /// `set-active(N)`, re-armed on every `on-passive`.
    Credit(u16),
    /// Switches mode every few chunks, in and out of callbacks, through every mode.
    Switching,
}

fn text(e: Error) -> String {
    e.to_string()
}

/// The bytes written to the peer side in chunks of this size.
const CHUNK: usize = 64 * 1024;

/// Connects the peer, streams `total` bytes of `Pattern::new(seed)` and shuts down its write
/// side, while reading everything sent back until EOF. Returns the bytes read back.
async fn stream_and_collect<N: Network>(
    peer: &N,
    addr: SocketAddr,
    total: usize,
    seed: u64,
    check_echo: bool,
) -> Result<Vec<u8>, String> {
    let stream = peer
        .connect(addr)
        .await
        .map_err(|e| format!("peer connect: {e}"))?;
    let (mut rd, mut wr) = tokio::io::split(stream);
    let writer = async move {
        let mut pattern = Pattern::new(seed);
        let mut buf = vec![0; CHUNK];
        let mut sent = 0;
        while sent < total {
            let n = CHUNK.min(total - sent);
            pattern.fill(&mut buf[..n]);
            wr.write_all(&buf[..n])
                .await
                .map_err(|e| format!("peer write at {sent}: {e}"))?;
            sent += n;
        }
        wr.shutdown()
            .await
            .map_err(|e| format!("peer shutdown: {e}"))?;
        Ok::<_, String>(wr)
    };
    let reader = async move {
        let mut pattern = Pattern::new(seed);
        let mut buf = vec![0; CHUNK];
        let mut kept = Vec::new();
        let mut got = 0usize;
        loop {
            let n = rd
                .read(&mut buf)
                .await
                .map_err(|e| format!("peer read at {got}: {e}"))?;
            if n == 0 {
                break;
            }
            if check_echo {
                pattern.check(&buf[..n]).map_err(|e| format!("echo: {e}"))?;
            } else {
                kept.extend_from_slice(&buf[..n]);
            }
            got += n;
        }
        if check_echo && got != total {
            return Err(format!("echo: peer read {got} bytes, sent {total}"));
        }
        Ok::<_, String>(kept)
    };
    let (_wr, kept) = tokio::try_join!(writer, reader)?;
    Ok(kept)
}

async fn listener_target<N: Network>(
    setup: &Setup<'_, N>,
    actor: &ActorHandle,
) -> Result<(String, SocketAddr), String> {
    let listener = actor.listen(&setup.listen).await.map_err(text)?;
    let local = actor.local_address(&listener).await.map_err(text)?;
    let addr: SocketAddr = local
        .parse()
        .map_err(|e| format!("listener address {local}: {e}"))?;
    Ok((listener, (setup.reach)(addr)))
}

/// Echo of `total` random bytes through an actor reading in `mode`; the peer compares every
/// byte it gets back and sees EOF after the last one.
pub async fn echo<N: Network>(
    setup: &Setup<'_, N>,
    mode: EchoMode,
    total: usize,
) -> Result<(), String> {
    let actor = setup.driver.actor("echo", Exports::ALL);
    let (listener, addr) = listener_target(setup, &actor).await?;
    let server = tokio::spawn(echo_actor(actor, listener, mode));
    stream_and_collect(setup.peer, addr, total, 7, true).await?;
    let echoed = server
        .await
        .map_err(|e| format!("echo actor panicked: {e}"))??;
    if echoed != total as u64 {
        return Err(format!("actor echoed {echoed} bytes of {total}"));
    }
    Ok(())
}

/// The mode cycle of [`EchoMode::Switching`]: passive, push, once, credits, in every order.
const SWITCHES: [&str; 8] = [
    "passive", "active", "once", "3", "passive", "2", "once", "active",
];
/// Chunks per step of the cycle.
const PER_MODE: u32 = 3;

async fn echo_actor(
    mut actor: ActorHandle,
    listener: String,
    mode: EchoMode,
) -> Result<u64, String> {
    let conn = actor.accept(&listener).await.map_err(text)?;
    actor.activate(&conn).await.map_err(text)?;
    let plan: Vec<String> = match mode {
        EchoMode::Passive => vec!["passive".into()],
        EchoMode::Active => vec!["active".into()],
        EchoMode::Once => vec!["once".into()],
        EchoMode::Credit(n) => vec![n.to_string()],
        EchoMode::Switching => SWITCHES.iter().map(|s| s.to_string()).collect(),
    };
    let switching = plan.len() > 1;
    let mut step = 0usize;
    let mut in_step = 0u32;
    let mut echoed = 0u64;
    actor.set_active(&conn, &plan[0]).await.map_err(text)?;
    loop {
        let current = &plan[step % plan.len()];
        if current == "passive" {
            let data = actor.receive(&conn, 65_536).await.map_err(text)?;
            if data.is_empty() {
                actor.close(&conn).await.map_err(text)?;
                return Ok(echoed);
            }
            echoed += data.len() as u64;
            actor.send(&conn, data).await.map_err(text)?;
            in_step += 1;
            if switching && in_step == PER_MODE {
                step += 1;
                in_step = 0;
                actor
                    .set_active(&conn, &plan[step % plan.len()])
                    .await
                    .map_err(text)?;
            }
            continue;
        }
        let event = actor
            .next_callback()
            .await
            .ok_or("driver stopped while the echo actor waited")?;
        match &event.callback {
            Callback::OnData { data, .. } => {
                echoed += data.len() as u64;
                actor.send(&conn, data.clone()).await.map_err(text)?;
                in_step += 1;
                if switching && in_step == PER_MODE {
                    // Switch from inside on-data.
                    step += 1;
                    in_step = 0;
                    actor
                        .set_active(&conn, &plan[step % plan.len()])
                        .await
                        .map_err(text)?;
                } else if current == "once" {
                    actor.set_active(&conn, "once").await.map_err(text)?;
                }
                event.ok();
            }
            Callback::OnPassive { .. } => {
                event.ok();
                // Credits ran out before the step ended: re-arm (or move on when switching).
                if current.parse::<u16>().is_ok() {
                    if switching {
                        step += 1;
                        in_step = 0;
                    }
                    actor
                        .set_active(&conn, &plan[step % plan.len()])
                        .await
                        .map_err(text)?;
                }
            }
            Callback::OnClose { reason, .. } => {
                let reason = reason.clone();
                event.ok();
                // After on-close returns the host closes the connection itself.
                return if reason == "eof" {
                    Ok(echoed)
                } else {
                    Err(format!("echo actor: on-close({reason})"))
                };
            }
            other => {
                let other = format!("{other:?}");
                event.ok();
                return Err(format!("echo actor: unexpected callback {other}"));
            }
        }
    }
}

/// The owner of a connection transfers it (synchronously, from inside `on-data`) to a second
/// actor while the peer streams `total` bytes: the two actors together receive every byte
/// exactly once, in order, and the peer sees EOF when the second actor is done.
pub async fn transfer_while_streaming<N: Network>(
    setup: &Setup<'_, N>,
    total: usize,
) -> Result<(), String> {
    let first = setup.driver.actor("first", Exports::ALL);
    let second = setup.driver.actor("second", Exports::ALL);
    let (listener, addr) = listener_target(setup, &first).await?;
    let handover_after = (total / 4).max(1);
    let first_task = tokio::spawn(async move {
        let mut actor = first;
        let conn = actor.accept(&listener).await.map_err(text)?;
        actor.activate(&conn).await.map_err(text)?;
        actor.set_active(&conn, "active").await.map_err(text)?;
        let mut got = Vec::new();
        while got.len() < handover_after {
            let event = actor.next_callback().await.ok_or("driver stopped")?;
            match &event.callback {
                Callback::OnData { data, .. } => {
                    got.extend_from_slice(data);
                    if got.len() >= handover_after {
                        actor.transfer(&conn, "second").await.map_err(text)?;
                    }
                    event.ok();
                }
                other => {
                    let other = format!("{other:?}");
                    event.ok();
                    return Err(format!("first actor: unexpected callback {other}"));
                }
            }
        }
        Ok::<_, String>((got, actor))
    });
    let second_task = tokio::spawn(async move {
        let mut actor = second;
        let mut got = Vec::new();
        loop {
            let event = actor.next_callback().await.ok_or("driver stopped")?;
            match &event.callback {
                Callback::HandleConnectionTransfer { connection } => {
                    let connection = connection.clone();
                    actor
                        .set_active(&connection, "active")
                        .await
                        .map_err(text)?;
                    event.ok();
                }
                Callback::OnData { data, .. } => {
                    got.extend_from_slice(data);
                    event.ok();
                }
                Callback::OnClose { reason, .. } if reason == "eof" => {
                    event.ok();
                    return Ok::<_, String>((got, actor));
                }
                other => {
                    let other = format!("{other:?}");
                    event.ok();
                    return Err(format!("second actor: unexpected callback {other}"));
                }
            }
        }
    });
    stream_and_collect(setup.peer, addr, total, 11, false).await?;
    let (mut all, _first) = first_task
        .await
        .map_err(|e| format!("first actor panicked: {e}"))??;
    let (tail, _second) = second_task
        .await
        .map_err(|e| format!("second actor panicked: {e}"))??;
    all.extend_from_slice(&tail);
    if all.len() != total {
        return Err(format!(
            "the actors received {} bytes ({} + {}), the peer sent {total}",
            all.len(),
            all.len() - tail.len(),
            tail.len()
        ));
    }
    Pattern::new(11).check(&all)
}
