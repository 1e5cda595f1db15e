//! The public, transport-agnostic face of a running driver: actors make calls and await their
//! results, and receive their callbacks; the host reads the driver's own memory stats.
//!
//! Nothing here depends on the [`Network`](crate::Network) the driver runs on, so the same
//! scripted actors run over real sockets, in simulation, and behind the wasmtime adapter.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use theater_tcp_core::{
    ActorId, Call, Callback, CallbackId, Census, ConnId, ConnectionStats, Error, Exports, Reply,
    TlsInfo,
};
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tokio::sync::oneshot;

/// What handles ask of the driver.
pub(crate) enum Request {
    Call {
        actor: ActorId,
        call: Call,
        reply: oneshot::Sender<Result<Reply, Error>>,
    },
    CallbackDone {
        id: CallbackId,
        result: Result<(), String>,
    },
    ActorStarted {
        actor: ActorId,
        exports: Exports,
        callbacks: UnboundedSender<CallbackEvent>,
    },
    ActorStopped {
        actor: ActorId,
    },
    Stats {
        reply: oneshot::Sender<DriverStats>,
    },
}

/// The driver's state as the handles see it (whatever network it runs on): a request is
/// handled at once, in the caller's task, under the driver's lock.
pub(crate) trait Core: Send + Sync {
    /// Handles `request` now; `false` once the driver stopped.
    fn submit(&self, request: Request) -> bool;
}

/// Nothing is ever sent on it: every handle holds a sender, and the driver task learns from
/// the channel's closing that every handle is gone.
pub(crate) type Alive = UnboundedSender<std::convert::Infallible>;

/// How a handle reaches the driver. It also keeps the driver running: the driver stops when
/// every route is gone.
#[derive(Clone)]
pub(crate) struct Route {
    alive: Alive,
    core: Arc<dyn Core>,
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Route")
            .field("stopped", &self.alive.is_closed())
            .finish()
    }
}

impl Route {
    pub(crate) fn new(alive: Alive, core: Arc<dyn Core>) -> Self {
        Route { alive, core }
    }

    /// Hands `request` to the driver; `false` once the driver stopped.
    fn submit(&self, request: Request) -> bool {
        !self.alive.is_closed() && self.core.submit(request)
    }
}

/// The host's memory for one connection's input, as the driver accounts it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectionMemory {
    /// Bytes received and not yet handed to the actor (the core's receive buffer).
    pub buffered: usize,
    /// Size of the transport's buffer for the outstanding read (0 when none).
    pub reading: usize,
    /// The highest `buffered + reading` since the connection opened: taken as each read is
    /// asked for, when the two are at their sum's peak (a read's bytes move into the buffer,
    /// and the buffer only grows by them).
    pub max_held: usize,
}

/// A snapshot of what the driver holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DriverStats {
    /// The core's counts.
    pub census: Census,
    /// Input memory of every connection the transport holds a socket for.
    pub connections: BTreeMap<ConnId, ConnectionMemory>,
    /// How the driver's one lock has been used since the driver started.
    pub lock: LockStats,
}

/// How often the driver's lock was taken, how often a task found it taken, and for how long
/// it is held: every input (a call, a callback's end, a socket's report, a timeout) is handled
/// under it.
///
/// Counting is free (it happens under the lock); timing reads the clock, so only one
/// acquisition in [`LockStats::SAMPLE`] is timed while held (its `held` covers the core's
/// work and the routing of its outputs), and only contended acquisitions are timed while
/// waiting. The clock is the real one even in simulation: these figures never feed back into
/// what the driver does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LockStats {
    /// Times the lock was taken.
    pub acquisitions: u64,
    /// Times a task found it held by another and had to wait.
    pub contended: u64,
    /// Total time tasks waited for it (contended acquisitions only).
    pub waited: std::time::Duration,
    /// Acquisitions timed while held (one in [`LockStats::SAMPLE`]).
    pub sampled: u64,
    /// Total time the sampled acquisitions held it.
    pub held_sampled: std::time::Duration,
}

impl LockStats {
    /// One acquisition in this many is timed while held.
    pub const SAMPLE: u64 = 16;

    /// The mean time the lock is held per acquisition, from the sampled ones.
    pub fn mean_held(&self) -> Option<std::time::Duration> {
        if self.sampled == 0 {
            return None;
        }
        let nanos = self.held_sampled.as_nanos() / u128::from(self.sampled);
        Some(std::time::Duration::from_nanos(
            u64::try_from(nanos).unwrap_or(u64::MAX),
        ))
    }

    /// The estimated total time it was held: the sampled mean times the acquisitions (a
    /// server that runs for years does not overflow it: it saturates).
    pub fn held(&self) -> std::time::Duration {
        let Some(mean) = self.mean_held() else {
            return std::time::Duration::ZERO;
        };
        let nanos = mean
            .as_nanos()
            .saturating_mul(u128::from(self.acquisitions));
        std::time::Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// Counts an acquisition (and its wait, if it had to); returns when it started to be held
    /// if this one is timed.
    pub(crate) fn acquired(
        &mut self,
        waited: Option<std::time::Duration>,
    ) -> Option<std::time::Instant> {
        self.acquisitions += 1;
        if let Some(waited) = waited {
            self.contended += 1;
            self.waited = self.waited.saturating_add(waited);
        }
        self.acquisitions
            .is_multiple_of(Self::SAMPLE)
            .then(std::time::Instant::now)
    }

    /// Ends a timed acquisition (see [`LockStats::acquired`]).
    pub(crate) fn released(&mut self, held_from: Option<std::time::Instant>) {
        if let Some(from) = held_from {
            self.sampled += 1;
            self.held_sampled = self.held_sampled.saturating_add(from.elapsed());
        }
    }

    /// The share of acquisitions that had to wait, in `0.0..=1.0` (0 with none).
    pub fn contended_share(&self) -> f64 {
        if self.acquisitions == 0 {
            0.0
        } else {
            self.contended as f64 / self.acquisitions as f64
        }
    }
}

impl fmt::Display for LockStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} acquisitions, {} contended ({:.1} %, {:.3} s waited in all), held {:.3} s in all \
             (mean {} ns over {} timed)",
            self.acquisitions,
            self.contended,
            100.0 * self.contended_share(),
            self.waited.as_secs_f64(),
            self.held().as_secs_f64(),
            self.mean_held().map_or(0, |d| d.as_nanos()),
            self.sampled,
        )
    }
}

/// A cloneable handle to a running driver.
#[derive(Debug, Clone)]
pub struct DriverHandle {
    pub(crate) route: Route,
}

impl DriverHandle {
    /// Starts an actor with the callbacks it exports, and returns its handle. Dropping the
    /// handle stops the actor (its connections and listeners close gracefully).
    pub fn actor(&self, id: impl Into<ActorId>, exports: Exports) -> ActorHandle {
        let actor = id.into();
        let (callbacks_tx, callbacks) = mpsc::unbounded_channel();
        self.route.submit(Request::ActorStarted {
            actor: actor.clone(),
            exports,
            callbacks: callbacks_tx,
        });
        ActorHandle {
            caller: Caller {
                actor,
                route: self.route.clone(),
            },
            callbacks,
        }
    }

    /// The driver's counts and per-connection memory, now. Empty once the driver stopped.
    pub async fn stats(&self) -> DriverStats {
        let (reply, answer) = oneshot::channel();
        if !self.route.submit(Request::Stats { reply }) {
            return DriverStats::default();
        }
        answer.await.unwrap_or_default()
    }
}

/// One running actor: makes calls (through [`Caller`], which it derefs to) and receives its
/// callbacks in order.
#[derive(Debug)]
pub struct ActorHandle {
    caller: Caller,
    callbacks: UnboundedReceiver<CallbackEvent>,
}

impl ActorHandle {
    /// The next callback for this actor; `None` once the driver stopped. Report its outcome
    /// with [`CallbackEvent::finish`]; no further `on-data` for that connection comes first.
    pub async fn next_callback(&mut self) -> Option<CallbackEvent> {
        self.callbacks.recv().await
    }

    /// A cloneable caller for this actor, to make calls while waiting for callbacks.
    pub fn caller(&self) -> Caller {
        self.caller.clone()
    }

    /// Stops the actor: exactly its own connections and listeners close gracefully.
    pub fn stop(self) {
        drop(self);
    }
}

impl Deref for ActorHandle {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        &self.caller
    }
}

impl Drop for ActorHandle {
    fn drop(&mut self) {
        self.caller.route.submit(Request::ActorStopped {
            actor: self.caller.actor.clone(),
        });
    }
}

/// Makes calls on behalf of one actor. Every method is one call of `theater:simple/tcp` (or
/// `tcp-ext`) with the actor-visible result.
#[derive(Debug, Clone)]
pub struct Caller {
    actor: ActorId,
    route: Route,
}

fn unexpected(reply: Reply) -> Error {
    Error::Io(format!("unexpected reply from the handler: {reply:?}"))
}

impl Caller {
    /// The actor this caller speaks for.
    pub fn actor(&self) -> &ActorId {
        &self.actor
    }

    /// Makes a call and waits for its result. The core handles the call in this task; a call
    /// it completes at once (most do) returns without waiting for any other task.
    pub async fn call(&self, call: Call) -> Result<Reply, Error> {
        let (reply, answer) = oneshot::channel();
        let stopped = || Error::Io("the TCP driver has stopped".into());
        let submitted = self.route.submit(Request::Call {
            actor: self.actor.clone(),
            call,
            reply,
        });
        if !submitted {
            return Err(stopped());
        }
        answer.await.map_err(|_| stopped())?
    }

    async fn id(&self, call: Call) -> Result<String, Error> {
        match self.call(call).await? {
            Reply::Id(id) => Ok(id),
            other => Err(unexpected(other)),
        }
    }

    async fn unit(&self, call: Call) -> Result<(), Error> {
        match self.call(call).await? {
            Reply::Unit => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    async fn address(&self, call: Call) -> Result<String, Error> {
        match self.call(call).await? {
            Reply::Address(a) => Ok(a),
            other => Err(unexpected(other)),
        }
    }

    /// `connect(addr)`: the new connection's id.
    pub async fn connect(&self, address: &str) -> Result<String, Error> {
        self.id(Call::Connect {
            address: address.into(),
        })
        .await
    }

    /// `listen(addr)`: the new listener's id.
    pub async fn listen(&self, address: &str) -> Result<String, Error> {
        self.id(Call::Listen {
            address: address.into(),
        })
        .await
    }

    /// `accept(listener)`: a pending connection's id.
    pub async fn accept(&self, listener: &str) -> Result<String, Error> {
        self.id(Call::Accept {
            listener: listener.into(),
        })
        .await
    }

    /// `activate(conn)`.
    pub async fn activate(&self, connection: &str) -> Result<(), Error> {
        self.unit(Call::Activate {
            connection: connection.into(),
        })
        .await
    }

    /// `set-active(conn, mode)`.
    pub async fn set_active(&self, connection: &str, mode: &str) -> Result<(), Error> {
        self.unit(Call::SetActive {
            connection: connection.into(),
            mode: mode.into(),
        })
        .await
    }

    /// `send(conn, data)`: bytes accepted.
    pub async fn send(&self, connection: &str, data: Vec<u8>) -> Result<u64, Error> {
        match self
            .call(Call::Send {
                connection: connection.into(),
                data,
            })
            .await?
        {
            Reply::Sent(n) => Ok(n),
            other => Err(unexpected(other)),
        }
    }

    /// `receive(conn, max)`: empty at end of stream.
    pub async fn receive(&self, connection: &str, max: u32) -> Result<Vec<u8>, Error> {
        match self
            .call(Call::Receive {
                connection: connection.into(),
                max,
            })
            .await?
        {
            Reply::Data(d) => Ok(d),
            other => Err(unexpected(other)),
        }
    }

    /// `close(conn)`.
    pub async fn close(&self, connection: &str) -> Result<(), Error> {
        self.unit(Call::Close {
            connection: connection.into(),
        })
        .await
    }

    /// `close-listener(listener)`.
    pub async fn close_listener(&self, listener: &str) -> Result<(), Error> {
        self.unit(Call::CloseListener {
            listener: listener.into(),
        })
        .await
    }

    /// `shutdown(conn, how)` with `read`, `write` or `both`.
    pub async fn shutdown(&self, connection: &str, how: &str) -> Result<(), Error> {
        self.unit(Call::Shutdown {
            connection: connection.into(),
            how: how.into(),
        })
        .await
    }

    /// `abort(conn)`: close with RST.
    pub async fn abort(&self, connection: &str) -> Result<(), Error> {
        self.unit(Call::Abort {
            connection: connection.into(),
        })
        .await
    }

    /// `transfer(conn, actor)`: returns after the target's callback returned.
    pub async fn transfer(&self, connection: &str, target: &str) -> Result<(), Error> {
        self.unit(Call::Transfer {
            connection: connection.into(),
            target: target.into(),
        })
        .await
    }

    /// `transfer-async(conn, actor)`: returns once ownership flipped.
    pub async fn transfer_async(&self, connection: &str, target: &str) -> Result<(), Error> {
        self.unit(Call::TransferAsync {
            connection: connection.into(),
            target: target.into(),
        })
        .await
    }

    /// `upgrade-to-tls-server(conn)` (STARTTLS, server side).
    pub async fn upgrade_to_tls_server(&self, connection: &str) -> Result<(), Error> {
        self.unit(Call::UpgradeToTlsServer {
            connection: connection.into(),
        })
        .await
    }

    /// `upgrade-to-tls-client(conn, server-name)` (STARTTLS, client side).
    pub async fn upgrade_to_tls_client(
        &self,
        connection: &str,
        server_name: &str,
    ) -> Result<(), Error> {
        self.unit(Call::UpgradeToTlsClient {
            connection: connection.into(),
            server_name: server_name.into(),
        })
        .await
    }

    /// `peer-address(conn)`.
    pub async fn peer_address(&self, connection: &str) -> Result<String, Error> {
        self.address(Call::PeerAddress {
            connection: connection.into(),
        })
        .await
    }

    /// `local-address(id)` of a connection or listener.
    pub async fn local_address(&self, id: &str) -> Result<String, Error> {
        self.address(Call::LocalAddress { id: id.into() }).await
    }

    /// `tls-info(conn)`.
    pub async fn tls_info(&self, connection: &str) -> Result<TlsInfo, Error> {
        match self
            .call(Call::TlsInfo {
                connection: connection.into(),
            })
            .await?
        {
            Reply::TlsInfo(info) => Ok(info),
            other => Err(unexpected(other)),
        }
    }

    /// `connection-stats(conn)`.
    pub async fn connection_stats(&self, connection: &str) -> Result<ConnectionStats, Error> {
        match self
            .call(Call::ConnectionStats {
                connection: connection.into(),
            })
            .await?
        {
            Reply::Stats(stats) => Ok(stats),
            other => Err(unexpected(other)),
        }
    }
}

/// A callback to run in an actor. Report its outcome with [`finish`](Self::finish) (or
/// [`ok`](Self::ok) / [`fail`](Self::fail)); dropping it unanswered reports a failure, as a
/// trapped callback would.
#[derive(Debug)]
pub struct CallbackEvent {
    /// What to run.
    pub callback: Callback,
    id: CallbackId,
    done: Option<Route>,
}

impl CallbackEvent {
    pub(crate) fn new(id: CallbackId, callback: Callback, done: Option<Route>) -> Self {
        CallbackEvent { callback, id, done }
    }

    /// The id the core gave this callback.
    pub fn id(&self) -> CallbackId {
        self.id
    }

    /// Reports the callback's outcome (an `Err` is a failed or trapped callback).
    pub fn finish(mut self, result: Result<(), String>) {
        if let Some(done) = self.done.take() {
            done.submit(Request::CallbackDone {
                id: self.id,
                result,
            });
        }
    }

    /// The callback returned normally.
    pub fn ok(self) {
        self.finish(Ok(()));
    }

    /// The callback failed with `error`.
    pub fn fail(self, error: impl Into<String>) {
        self.finish(Err(error.into()));
    }
}

impl Drop for CallbackEvent {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            done.submit(Request::CallbackDone {
                id: self.id,
                result: Err("callback dropped without a result".into()),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::LockStats;
    use std::time::Duration;

    #[test]
    fn lock_stats_count_every_acquisition_and_time_waits_and_one_hold_in_sample() {
        let mut stats = LockStats::default();
        assert_eq!(stats.mean_held(), None);
        assert_eq!(stats.held(), Duration::ZERO);
        assert_eq!(stats.contended_share(), 0.0);
        for i in 1..=2 * LockStats::SAMPLE {
            let waited = (i % 4 == 0).then_some(Duration::from_micros(3));
            let from = stats.acquired(waited);
            assert_eq!(
                from.is_some(),
                i % LockStats::SAMPLE == 0,
                "acquisition {i}"
            );
            stats.released(from);
        }
        assert_eq!(stats.acquisitions, 2 * LockStats::SAMPLE);
        assert_eq!(stats.contended, 2 * LockStats::SAMPLE / 4);
        assert_eq!(
            stats.waited,
            Duration::from_micros(3 * 2 * LockStats::SAMPLE / 4)
        );
        assert_eq!(stats.sampled, 2);
        assert_eq!(stats.contended_share(), 0.25);
        // The estimate scales the sampled mean to every acquisition.
        let exact = LockStats {
            acquisitions: 100,
            sampled: 4,
            held_sampled: Duration::from_nanos(2_000),
            ..LockStats::default()
        };
        assert_eq!(exact.mean_held(), Some(Duration::from_nanos(500)));
        assert_eq!(exact.held(), Duration::from_nanos(50_000));
        // Counts past u32 (a busy server after a few days) keep their mean.
        let long = LockStats {
            acquisitions: 1 << 40,
            sampled: 1 << 36,
            held_sampled: Duration::from_nanos(500 << 36),
            ..LockStats::default()
        };
        assert_eq!(long.mean_held(), Some(Duration::from_nanos(500)));
        assert_eq!(long.held(), Duration::from_nanos(500 << 40));
        assert_eq!(
            exact.to_string(),
            "100 acquisitions, 0 contended (0.0 %, 0.000 s waited in all), held 0.000 s in all \
             (mean 500 ns over 4 timed)"
        );
    }
}
