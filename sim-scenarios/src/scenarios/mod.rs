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

use std::net::SocketAddr;
use std::time::Duration;
use theater_tcp_core::{Error, Exports};
use theater_tcp_sim::{SimContext, SimRng, SimStream};
use theater_tcp_tokio::scenarios::Pattern;
use theater_tcp_tokio::{ActorHandle, CallbackEvent, Caller, Network};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// How long [`crate::oracle::no_leaks`] may wait after the actors stopped: the default close
/// linger (2 s) plus latency and held messages.
pub(crate) const LEAK_WAIT: Duration = Duration::from_secs(10);

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

/// A size in `0..=max` (zero with a fixed chance, since empty streams are an edge of their own).
pub(crate) fn size(rng: &mut SimRng, max: u64) -> usize {
    if rng.chance(0.15) {
        0
    } else {
        rng.range(1, max) as usize
    }
}
