//! The scenario bodies: scripted actors on the driver and test peers on the client host, one
//! module per scenario, and the small helpers they share (listening, peer I/O, callbacks with a
//! deadline).

pub(crate) mod chaos;
pub(crate) mod churn;
pub(crate) mod close;
pub(crate) mod cuts;
pub(crate) mod echo;
pub(crate) mod selftest;
pub(crate) mod timeouts;
pub(crate) mod tls;
pub(crate) mod transfer;
pub(crate) mod wasm;

use crate::oracle::CloseLog;
use std::net::SocketAddr;
use std::time::Duration;
use theater_tcp_core::{Callback, Error, Exports};
use theater_tcp_sim::{SimContext, SimRng, SimStream};
use theater_tcp_test_support::Pattern;
use theater_tcp_tokio::{ActorHandle, CallbackEvent, Caller, Network};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// How long [`crate::oracle::no_leaks`] may wait after the actors stopped: a closed
/// connection may take the default `send_timeout_ms` (30 s) to flush to a peer that stopped
/// reading (a cut stream), then the default linger (2 s) to drain, plus latency and held
/// messages. The oracle returns as soon as everything is gone.
pub(crate) const LEAK_WAIT: Duration = Duration::from_secs(40);

/// How long a connection is watched for callbacks that must not come.
pub(crate) const QUIET: Duration = Duration::from_millis(500);

/// The exports of an actor that takes its connections with `accept()`: without
/// `handle-connection`, a connection that arrives before the `accept` call waits for it
/// instead of being pushed.
pub(crate) const PULL: Exports = Exports {
    handle_connection: false,
    ..Exports::ALL
};

/// A handler error as the text an actor sees.
pub(crate) fn text(e: Error) -> String {
    e.to_string()
}

/// Listens on every address of the server host; returns the listener and where a peer on the
/// client host reaches it.
pub(crate) async fn listen(
    ctx: &SimContext,
    actor: &Caller,
) -> Result<(String, SocketAddr), String> {
    let listener = actor.listen("0.0.0.0:0").await.map_err(text)?;
    let local = actor.local_address(&listener).await.map_err(text)?;
    let local: SocketAddr = local
        .parse()
        .map_err(|e| format!("listener address {local}: {e}"))?;
    Ok((listener, SocketAddr::new(ctx.server, local.port())))
}

/// Accepts a connection on `listener`, activates it and sets its data mode to `mode`.
pub(crate) async fn accept_active(
    actor: &Caller,
    listener: &str,
    mode: &str,
) -> Result<String, String> {
    let conn = actor.accept(listener).await.map_err(text)?;
    actor.activate(&conn).await.map_err(text)?;
    actor.set_active(&conn, mode).await.map_err(text)?;
    Ok(conn)
}

/// Receives (passive mode) until end of stream; returns every byte.
pub(crate) async fn receive_all(actor: &Caller, conn: &str) -> Result<Vec<u8>, String> {
    let mut got = Vec::new();
    loop {
        let data = actor.receive(conn, 4096).await.map_err(text)?;
        if data.is_empty() {
            return Ok(got);
        }
        got.extend_from_slice(&data);
    }
}

/// A peer's connection to `addr`.
pub(crate) async fn connect(ctx: &SimContext, addr: SocketAddr) -> Result<SimStream, String> {
    ctx.peer
        .connect(addr)
        .await
        .map_err(|e| format!("peer connect to {addr}: {e}"))
}

/// Writes `len` bytes of stream `seed` in pieces of random sizes drawn from `rng`.
pub(crate) async fn write_pattern<W: AsyncWrite + Unpin>(
    wr: &mut W,
    seed: u64,
    len: usize,
    rng: &mut SimRng,
) -> Result<(), String> {
    let mut pattern = Pattern::new(seed);
    let mut sent = 0;
    while sent < len {
        let n = (rng.range(1, 16 * 1024) as usize).min(len - sent);
        let mut piece = vec![0; n];
        pattern.fill(&mut piece);
        wr.write_all(&piece)
            .await
            .map_err(|e| format!("peer write at byte {sent}: {e}"))?;
        sent += n;
    }
    Ok(())
}

/// Reads until end of stream; an error is a failure.
pub(crate) async fn read_all<R: AsyncRead + Unpin>(rd: &mut R) -> Result<Vec<u8>, String> {
    let mut got = Vec::new();
    rd.read_to_end(&mut got)
        .await
        .map_err(|e| format!("peer read after {} bytes: {e}", got.len()))?;
    Ok(got)
}

/// A peer that connects to `addr`, writes `len` bytes of stream `seed` (pieces drawn from
/// `rng`), shuts its write side, then reads until end of stream; returns what it read.
pub(crate) async fn peer_sends_then_reads(
    ctx: &SimContext,
    addr: SocketAddr,
    seed: u64,
    len: usize,
    rng: &mut SimRng,
) -> Result<Vec<u8>, String> {
    let stream = connect(ctx, addr).await?;
    let (mut rd, mut wr) = tokio::io::split(stream);
    write_pattern(&mut wr, seed, len, rng).await?;
    wr.shutdown().await.map_err(|e| e.to_string())?;
    read_all(&mut rd).await
}

/// A peer on a lossy stream: writes `len` bytes of stream `seed` (then shuts its write side,
/// unless a write failed) while it reads until end of stream or an error; returns what it read
/// and how the stream ended.
pub(crate) async fn lossy_peer(
    stream: SimStream,
    seed: u64,
    len: usize,
    rng: &mut SimRng,
) -> (Vec<u8>, Result<(), String>) {
    let (mut rd, mut wr) = tokio::io::split(stream);
    let writer = async {
        // A cut may fail any write: the reads decide.
        if write_pattern(&mut wr, seed, len, rng).await.is_ok() {
            let _ = wr.shutdown().await;
        }
    };
    let ((), read) = tokio::join!(writer, read_until_end(&mut rd));
    read
}

/// Reads until end of stream or an error (under lossy faults either may end a stream); returns
/// the bytes and how the stream ended.
pub(crate) async fn read_until_end<R: AsyncRead + Unpin>(
    rd: &mut R,
) -> (Vec<u8>, Result<(), String>) {
    let mut got = Vec::new();
    let mut buf = vec![0; 16 * 1024];
    loop {
        match rd.read(&mut buf).await {
            Ok(0) => return (got, Ok(())),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => return (got, Err(e.to_string())),
        }
    }
}

/// The actor's next callback within `wait` of simulated time, `None` if none came.
pub(crate) async fn callback_within(
    actor: &mut ActorHandle,
    wait: Duration,
) -> Result<Option<CallbackEvent>, String> {
    match tokio::time::timeout(wait, actor.next_callback()).await {
        Err(_) => Ok(None),
        Ok(Some(event)) => Ok(Some(event)),
        Ok(None) => Err(format!("actor {}: the driver stopped", actor.actor())),
    }
}

/// After an actor's `on-close`: watches it until [`QUIET`] passes without a callback. A further
/// `on-data` or `on-close` goes into `log` (whose oracles judge it); any other callback is a
/// violation. When the driver stops meanwhile (a crash), the watch fails, or just ends when
/// `driver_may_stop`.
pub(crate) async fn watch_after_close(
    actor: &mut ActorHandle,
    log: &mut CloseLog,
    driver_may_stop: bool,
) -> Result<(), String> {
    loop {
        let event = match callback_within(actor, QUIET).await {
            Ok(Some(event)) => event,
            Ok(None) => return Ok(()),
            Err(_) if driver_may_stop => return Ok(()),
            Err(e) => return Err(e),
        };
        match &event.callback {
            Callback::OnData { data, .. } => log.data(data.len()),
            Callback::OnClose { reason, .. } => log.close(reason),
            other => return Err(format!("callback after on-close: {other:?}")),
        }
        event.ok();
    }
}

/// A size in `0..=max` (zero with a fixed chance, since empty streams are an edge of their own).
pub(crate) fn size(rng: &mut SimRng, max: u64) -> usize {
    if rng.chance(0.15) {
        0
    } else {
        rng.range(1, max) as usize
    }
}
