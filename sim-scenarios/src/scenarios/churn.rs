//! `churn`: many short connections, a few at a time, each ending a different way, so that
//! every path that releases a connection runs many times per seed:
//! - `E` the actor echoes until the peer's EOF, then closes;
//! - `S` the actor sends and closes first;
//! - `A` the actor aborts;
//! - `T` the acceptor transfers the connection (sync or async) to a worker that echoes in
//!   active mode until `on-close`;
//! - `D` the peer drops its socket mid-stream;
//! - by peer port, some connections are closed while still `Pending`, and some are left
//!   `Pending` until the pending timeout closes them with `on-close(timeout)`.
//!
//! Accepted connections reach the acceptor by `handle-connection` or by `accept()`, by seed.
//! Half of the seeds add stream cuts (FIN or RST at a random byte), under which the byte
//! oracles weaken to prefixes; the leak oracle stays strict.

use super::{LEAK_WAIT, listen, read_until_end, text, write_pattern};
use crate::oracle::{self, CloseLog};
use crate::scenario::{Scenario, ScenarioFuture};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;
use theater_tcp_core::{Callback, Config, Exports};
use theater_tcp_sim::plan::CutPlan;
use theater_tcp_sim::{FaultPlan, SimContext, SimNetwork, SimRng};
use theater_tcp_tokio::{ActorHandle, Caller, NetStream, Network};
use tokio::io::AsyncWriteExt;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// See the [module docs](self).
pub(crate) const SCENARIO: Scenario = Scenario {
    name: "churn",
    about: "16-40 short connections, 2-8 at a time, ending by echo+EOF, actor close, abort, \
            transfer, peer drop, close while pending, pending timeout; cuts on half the seeds",
    oracles: "no leak: census all zero and no transport connection after the actors stop; \
              without cuts every stream byte-exact and every actor step succeeds, with cuts \
              every stream a prefix of what was sent; on-close exactly once per transferred \
              connection (reason eof without cuts) and exactly once, reason timeout, per \
              connection left pending; at most once everywhere else; aborted and pending \
              connections deliver no data to the peer",
    in_all: true,
    draw,
    config,
    limit: Duration::from_secs(90),
    body,
};

fn draw(seed: u64) -> FaultPlan {
    let mut plan = FaultPlan::lossless_from_seed(seed);
    let mut rng = SimRng::new(seed).fork(0xc4_0e);
    if rng.chance(0.5) {
        plan.cuts = Some(CutPlan {
            probability: rng.range(5, 50) as f64 / 100.0,
            max_after_bytes: rng.range(0, 4096),
            rst_share: rng.range(0, 100) as f64 / 100.0,
        });
    }
    plan
}

fn pending_timeout_ms(seed: u64) -> u64 {
    SimRng::new(seed).fork(0xc4_0f).range(200, 1500)
}

fn config(seed: u64) -> Result<Config, String> {
    Ok(Config {
        pending_timeout_ms: pending_timeout_ms(seed),
        ..Config::default()
    })
}

/// What the peer asks of a connection, as the first byte it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Echo,
    Send,
    Abort,
    Transfer,
    Drop,
}

impl Op {
    const ALL: [Op; 5] = [Op::Echo, Op::Send, Op::Abort, Op::Transfer, Op::Drop];

    fn byte(self) -> u8 {
        match self {
            Op::Echo => b'E',
            Op::Send => b'S',
            Op::Abort => b'A',
            Op::Transfer => b'T',
            Op::Drop => b'D',
        }
    }

    fn from_byte(b: u8) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.byte() == b)
    }
}

/// What happens to a connection by its peer's port (both sides know it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ByPort {
    CloseWhilePending,
    LeavePending,
    Serve,
}

fn by_port(port: u16, pending_on: bool) -> ByPort {
    match port % 7 {
        0 if pending_on => ByPort::CloseWhilePending,
        1 if pending_on => ByPort::LeavePending,
        _ => ByPort::Serve,
    }
}

/// The header: op, stream number, length (big-endian u16).
const HEADER: usize = 4;

fn stream_seed(n: u8) -> u64 {
    0xc4_00 + u64::from(n)
}

/// How an actor-side connection ended, for the close-notice oracle.
#[derive(Debug)]
enum ConnEnd {
    Transferred(String),
    LeftPending(String),
    Other,
}

fn body(ctx: SimContext) -> ScenarioFuture {
    Box::pin(async move {
        let mut rng = ctx.rng(1);
        let lossy = ctx.plan.cuts.is_some();
        let connections = rng.range(16, 40) as usize;
        let parallel = rng.range(2, 8) as usize;
        let push = rng.chance(0.5);
        let pending_on = rng.chance(0.7);

        let exports = Exports {
            handle_connection: push,
            ..Exports::ALL
        };
        let acceptor = ctx.driver.actor("acceptor", exports);
        let worker = ctx.driver.actor("worker", Exports::ALL);
        let (listener, addr) = listen(&ctx, &acceptor).await?;
        let (ends_tx, mut ends) = mpsc::unbounded_channel();
        let serve = Serve {
            ends: ends_tx,
            lossy,
            pending_on,
            sync_transfer: rng.chance(0.5),
        };
        let accept_loop = (!push).then(|| {
            let caller = acceptor.caller();
            let serve = serve.clone();
            tokio::spawn(async move {
                while let Ok(conn) = caller.accept(&listener).await {
                    tokio::spawn(serve.clone().run(caller.clone(), conn));
                }
            })
        });
        let (stop_acceptor, acceptor_stopped) = oneshot::channel();
        let acceptor_task = tokio::spawn(callbacks(acceptor, acceptor_stopped, Some(serve), lossy));
        let (stop_worker, worker_stopped) = oneshot::channel();
        let worker_task = tokio::spawn(callbacks(worker, worker_stopped, None, lossy));

        // The peers, `parallel` at a time.
        let permits = std::sync::Arc::new(Semaphore::new(parallel));
        let mut peers = tokio::task::JoinSet::new();
        for i in 0..connections {
            let op = Op::ALL[rng.range(0, Op::ALL.len() as u64 - 1) as usize];
            let len = rng.range(0, 6_000) as usize;
            let net = ctx.peer.clone();
            let permits = permits.clone();
            let mut peer_rng = ctx.rng(100 + i as u64);
            peers.spawn(async move {
                let _permit = permits.acquire_owned().await.map_err(|e| e.to_string())?;
                peer(
                    &net,
                    addr,
                    op,
                    i as u8,
                    len,
                    lossy,
                    pending_on,
                    &mut peer_rng,
                )
                .await
                .map_err(|e| format!("connection {i} ({op:?}, {len} bytes): {e}"))
            });
        }
        let mut peer_errors = Vec::new();
        while let Some(done) = peers.join_next().await {
            match done {
                Ok(Ok(())) => {}
                Ok(Err(e)) => peer_errors.push(e),
                Err(e) => peer_errors.push(format!("peer panicked: {e}")),
            }
        }
        // Every accepted connection's actor-side task reports how it ended.
        let mut transferred = Vec::new();
        let mut left_pending = Vec::new();
        let mut actor_errors = Vec::new();
        for _ in 0..connections {
            match tokio::time::timeout(LEAK_WAIT, ends.recv()).await {
                Ok(Some(Ok(ConnEnd::Transferred(c)))) => transferred.push(c),
                Ok(Some(Ok(ConnEnd::LeftPending(c)))) => left_pending.push(c),
                Ok(Some(Ok(ConnEnd::Other))) => {}
                Ok(Some(Err(e))) => actor_errors.push(e),
                Ok(None) | Err(_) => {
                    actor_errors.push("an accepted connection's actor task never ended".into());
                    break;
                }
            }
        }
        // Let every connection end (pending timeouts, transferred ones closing after on-close)
        // while the actors still answer callbacks, then stop them.
        let deadline = tokio::time::Instant::now() + LEAK_WAIT;
        loop {
            let census = ctx.driver.stats().await.census;
            if census.connections == 0 && census.callbacks == 0 {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!(
                    "connections never ended after the peers finished: {census:?}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let _ = stop_acceptor.send(());
        let _ = stop_worker.send(());
        let acceptor_logs = acceptor_task
            .await
            .map_err(|e| format!("acceptor panicked: {e}"))??;
        let worker_logs = worker_task
            .await
            .map_err(|e| format!("worker panicked: {e}"))??;
        if let Some(task) = accept_loop {
            task.abort();
        }
        if let Some(e) = peer_errors.first() {
            return Err(format!("{} peers failed, first: {e}", peer_errors.len()));
        }
        if let Some(e) = actor_errors.first() {
            return Err(format!(
                "{} actor steps failed, first: {e}",
                actor_errors.len()
            ));
        }
        for conn in &transferred {
            let log = worker_logs.get(conn).cloned().unwrap_or_default();
            let what = format!("transferred connection {conn}");
            if lossy {
                log.exactly_once(&what, |_| true)?;
            } else {
                log.exactly_once(&what, |r| r == "eof")?;
            }
        }
        for conn in &left_pending {
            let log = acceptor_logs.get(conn).cloned().unwrap_or_default();
            log.exactly_once(&format!("connection {conn} left pending"), |r| {
                r == "timeout"
            })?;
        }
        for (conn, log) in acceptor_logs.iter().chain(&worker_logs) {
            log.at_most_once(&format!("connection {conn}"))?;
        }
        oracle::no_leaks(&ctx, LEAK_WAIT).await
    })
}

/// The actor side of one accepted connection.
#[derive(Debug, Clone)]
struct Serve {
    ends: mpsc::UnboundedSender<Result<ConnEnd, String>>,
    lossy: bool,
    pending_on: bool,
    sync_transfer: bool,
}

impl Serve {
    async fn run(self, caller: Caller, conn: String) {
        let end = self.serve(&caller, &conn).await;
        let _ = self
            .ends
            .send(end.map_err(|e| format!("connection {conn}: {e}")));
    }

    async fn serve(&self, caller: &Caller, conn: &str) -> Result<ConnEnd, String> {
        let peer = caller.peer_address(conn).await.map_err(text)?;
        let port = peer
            .parse::<SocketAddr>()
            .map_err(|e| format!("peer address {peer}: {e}"))?
            .port();
        match by_port(port, self.pending_on) {
            ByPort::CloseWhilePending => {
                caller.close(conn).await.map_err(text)?;
                return Ok(ConnEnd::Other);
            }
            ByPort::LeavePending => return Ok(ConnEnd::LeftPending(conn.to_owned())),
            ByPort::Serve => {}
        }
        caller.activate(conn).await.map_err(text)?;
        let mut header = Vec::new();
        while header.len() < HEADER {
            let data = match caller.receive(conn, (HEADER - header.len()) as u32).await {
                Ok(data) => data,
                Err(_) if self.lossy => break,
                Err(e) => return Err(format!("header: {e}")),
            };
            if data.is_empty() {
                break;
            }
            header.extend_from_slice(&data);
        }
        let op = header.first().copied().and_then(Op::from_byte);
        let (Some(op), true) = (op, header.len() == HEADER) else {
            if !self.lossy {
                return Err(format!("header cut short: {header:?}"));
            }
            caller.close(conn).await.map_err(text)?;
            return Ok(ConnEnd::Other);
        };
        let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
        let result = match op {
            Op::Echo | Op::Drop => self.echo(caller, conn).await,
            Op::Send => {
                let bytes = oracle::pattern(stream_seed(header[1]), len);
                match caller.send(conn, bytes).await {
                    Ok(_) => caller.close(conn).await.map_err(text),
                    Err(e) => Err(text(e)),
                }
            }
            Op::Abort => caller.abort(conn).await.map_err(text),
            Op::Transfer => {
                let handed = if self.sync_transfer {
                    caller.transfer(conn, "worker").await
                } else {
                    caller.transfer_async(conn, "worker").await
                };
                return match handed {
                    Ok(()) => Ok(ConnEnd::Transferred(conn.to_owned())),
                    // A cut may end the connection before the hand-over.
                    Err(_) if self.lossy => Ok(ConnEnd::Other),
                    Err(e) => Err(format!("transfer: {e}")),
                };
            }
        };
        match result {
            Ok(()) => Ok(ConnEnd::Other),
            // A peer that drops mid-stream, or a cut, may fail any step.
            Err(_) if self.lossy || op == Op::Drop => {
                let _ = caller.close(conn).await;
                Ok(ConnEnd::Other)
            }
            Err(e) => Err(format!("{op:?}: {e}")),
        }
    }

    async fn echo(&self, caller: &Caller, conn: &str) -> Result<(), String> {
        loop {
            let data = caller.receive(conn, 4096).await.map_err(text)?;
            if data.is_empty() {
                return caller.close(conn).await.map_err(text);
            }
            caller.send(conn, data).await.map_err(text)?;
        }
    }
}

/// Answers an actor's callbacks until told to stop: new connections (pushed by
/// `handle-connection`) go to `serve`; transferred ones are echoed in active mode; every
/// `on-close` is logged per connection. Returns the logs; the actor stops when this returns.
async fn callbacks(
    mut actor: ActorHandle,
    mut stop: oneshot::Receiver<()>,
    serve: Option<Serve>,
    lossy: bool,
) -> Result<BTreeMap<String, CloseLog>, String> {
    let mut logs: BTreeMap<String, CloseLog> = BTreeMap::new();
    loop {
        let event = tokio::select! {
            biased;
            _ = &mut stop => return Ok(logs),
            event = actor.next_callback() => event,
        };
        let Some(event) = event else {
            return Err(format!("actor {}: the driver stopped", actor.actor()));
        };
        match &event.callback {
            Callback::HandleConnection { connection } => {
                let Some(serve) = serve.clone() else {
                    return Err(format!("{}: unexpected handle-connection", actor.actor()));
                };
                tokio::spawn(serve.run(actor.caller(), connection.clone()));
            }
            Callback::HandleConnectionTransfer { connection } => {
                actor
                    .set_active(connection, "active")
                    .await
                    .map_err(|e| format!("set-active after transfer: {e}"))?;
            }
            Callback::OnData { connection, data } => {
                logs.entry(connection.clone()).or_default().data(data.len());
                let sent = actor.send(connection, data.clone()).await;
                if let (Err(e), false) = (sent, lossy) {
                    return Err(format!("worker echo on {connection}: {e}"));
                }
            }
            Callback::OnClose { connection, reason } => {
                logs.entry(connection.clone()).or_default().close(reason);
            }
            other => return Err(format!("{}: unexpected callback {other:?}", actor.actor())),
        }
        event.ok();
    }
}

#[allow(clippy::too_many_arguments)] // one peer's whole script
async fn peer(
    net: &SimNetwork,
    addr: SocketAddr,
    op: Op,
    n: u8,
    len: usize,
    lossy: bool,
    pending_on: bool,
    rng: &mut SimRng,
) -> Result<(), String> {
    let stream = net
        .connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let port = stream.local_addr().map_err(|e| e.to_string())?.port();
    let by_port = by_port(port, pending_on);
    let (mut rd, mut wr) = tokio::io::split(stream);
    let [hi, lo] = (len as u16).to_be_bytes();
    let header = [op.byte(), n, hi, lo];
    let seed = stream_seed(n);
    // Writes fail once the other side is gone: only the reads below are checked.
    if by_port != ByPort::Serve {
        let _ = wr.write_all(&header).await;
        let (got, _) = read_until_end(&mut rd).await;
        return if got.is_empty() {
            Ok(())
        } else {
            Err(format!("{by_port:?}: the peer got {} bytes", got.len()))
        };
    }
    match op {
        Op::Echo | Op::Transfer => {
            let writer = async {
                wr.write_all(&header).await.map_err(|e| e.to_string())?;
                write_pattern(&mut wr, seed, len, rng).await?;
                wr.shutdown().await.map_err(|e| e.to_string())
            };
            let (written, (got, ended)) = tokio::join!(writer, read_until_end(&mut rd));
            if lossy {
                oracle::prefix_stream("echo", seed, &got, len)
            } else {
                written?;
                ended?;
                oracle::exact_stream("echo", seed, &got, len)
            }
        }
        Op::Send => {
            let _ = wr.write_all(&header).await;
            let (got, ended) = read_until_end(&mut rd).await;
            if lossy {
                oracle::prefix_stream("actor's send", seed, &got, len)
            } else {
                ended?;
                oracle::exact_stream("actor's send", seed, &got, len)
            }
        }
        Op::Abort => {
            let _ = wr.write_all(&header).await;
            let (got, _) = read_until_end(&mut rd).await;
            if got.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "an aborted connection delivered {} bytes",
                    got.len()
                ))
            }
        }
        Op::Drop => {
            let _ = wr.write_all(&header).await;
            let _ = write_pattern(&mut wr, seed, len, rng).await;
            Ok(())
        }
    }
}
