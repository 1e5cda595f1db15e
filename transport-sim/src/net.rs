//! [`SimNetwork`]: the driver's [`Network`] on turmoil, every stream wrapped in the seeded
//! [`FaultStream`].
//!
//! Per host, connections are numbered in the order they open (connects and accepts share the
//! counter); connection `n` draws all its choices from the host's generator forked by `n`. A
//! simulation runs on one thread in a fixed order, so the numbering, and with it every fault,
//! is the same on every run of a seed.
//!
//! What this layer adds to turmoil (see the crate docs for what turmoil itself models):
//! - connect refused at once (`ConnectionRefused`), or a connect that never completes, as when
//!   SYNs are lost, so the core's connect timeout fires;
//! - across a partition, turmoil refuses a connect at once, which a real network does not: the
//!   harness tells the network which directions are partitioned and a connect across one
//!   waits (SYN retries every second) until the partition heals or the core gives up;
//! - a full accept queue: an accepted connection may be handed out only after a delay, while
//!   its peer already sees it established and may send (as with a kernel backlog).
//!
//! One [`FaultCounters`] per network counts every fault that fires on it: its streams' and its
//! accept and connect faults ([`SimNetwork::fault_counters`]).

use crate::fault::{FaultCounters, FaultKind, FaultStream, FaultSwitch};
use crate::plan::FaultPlan;
use crate::rng::SimRng;
use std::collections::BTreeSet;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use theater_tcp_core::SocketOption;
use theater_tcp_tokio::{NetListener, NetStream, Network};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Directions currently partitioned, as `(from host, to host)` names; shared by the harness
/// (which applies partitions) and the networks (which make connects across them hang). It
/// carries the run's [`FaultSwitch`] too, which the harness turns off at a heal.
#[derive(Debug, Clone, Default)]
pub struct Partitions {
    cuts: Arc<Mutex<BTreeSet<(String, String)>>>,
    switch: FaultSwitch,
}

impl Partitions {
    /// Marks `from -> to` as partitioned.
    pub fn cut(&self, from: &str, to: &str) {
        self.lock().insert((from.to_owned(), to.to_owned()));
    }

    /// Heals every partition.
    pub fn heal(&self) {
        self.lock().clear();
    }

    /// Whether the networks' faults still fire (see [`FaultSwitch`]).
    pub fn switch(&self) -> &FaultSwitch {
        &self.switch
    }

    /// Whether a message from `from` to `to` is lost now.
    pub fn blocks(&self, from: &str, to: &str) -> bool {
        self.lock().contains(&(from.to_owned(), to.to_owned()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<(String, String)>> {
        // A panic while holding this lock cannot leave the set inconsistent.
        self.cuts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct NetState {
    /// This host's name.
    host: String,
    /// Every host of the simulation, by name, for resolution.
    hosts: Vec<String>,
    plan: FaultPlan,
    rng: SimRng,
    next_connection: AtomicU64,
    partitions: Partitions,
    counters: FaultCounters,
}

/// One simulated host's network. Cheap to clone.
#[derive(Clone)]
pub struct SimNetwork {
    state: Arc<NetState>,
}

impl std::fmt::Debug for SimNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimNetwork")
            .field("host", &self.state.host)
            .finish()
    }
}

/// How often a connect across a partition retries its SYN.
const SYN_RETRY: Duration = Duration::from_secs(1);

impl SimNetwork {
    /// The network of host `host` among `hosts`, applying `plan` with choices drawn from `rng`.
    pub fn new(
        host: &str,
        hosts: &[&str],
        plan: FaultPlan,
        rng: SimRng,
        partitions: Partitions,
    ) -> SimNetwork {
        SimNetwork {
            state: Arc::new(NetState {
                host: host.to_owned(),
                hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
                plan,
                rng,
                next_connection: AtomicU64::new(0),
                partitions,
                counters: FaultCounters::new(),
            }),
        }
    }

    /// The host this network belongs to.
    pub fn host(&self) -> &str {
        &self.state.host
    }

    /// The faults that fired on this host so far, shared by every stream it made.
    pub fn fault_counters(&self) -> &FaultCounters {
        &self.state.counters
    }

    /// The next connection's own generator.
    fn connection_rng(&self) -> SimRng {
        let n = self.state.next_connection.fetch_add(1, Ordering::Relaxed);
        self.state.rng.fork(n)
    }

    fn wrap(&self, stream: turmoil::net::TcpStream, rng: &mut SimRng) -> SimStream {
        let faults = self.state.plan.stream_faults(rng);
        SimStream {
            inner: FaultStream::with_counters(
                TurmoilStream::new(stream),
                faults,
                rng.fork(1),
                self.state.counters.clone(),
            )
            .with_switch(self.state.partitions.switch().clone()),
        }
    }

    fn host_of(&self, ip: IpAddr) -> Option<String> {
        turmoil::reverse_lookup(ip)
    }
}

/// A simulated TCP stream behind the fault layer.
#[derive(Debug)]
pub struct SimStream {
    inner: FaultStream<TurmoilStream>,
}

impl SimStream {
    /// Wraps a turmoil stream with no faults (for test peers that want a clean stream).
    pub fn plain(stream: turmoil::net::TcpStream) -> SimStream {
        SimStream {
            inner: FaultStream::new(
                TurmoilStream::new(stream),
                Default::default(),
                SimRng::new(0),
            ),
        }
    }
}

impl AsyncRead for SimStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for SimStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl NetStream for SimStream {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.inner().stream()?.peer_addr()
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.inner().stream()?.local_addr()
    }

    /// turmoil has no socket options (nodelay, keepalive): accepted and ignored.
    fn set_option(&self, _option: SocketOption) -> io::Result<()> {
        Ok(())
    }

    /// turmoil has no SO_LINGER: it sends RST on drop only when unread input remains, else
    /// FIN. An abort therefore looks like a close to the peer unless input was pending.
    fn set_reset_on_drop(&self) -> io::Result<()> {
        Ok(())
    }
}

/// A turmoil stream whose FIN is never lost.
///
/// turmoil 0.7 sends a FIN outside its flow control: one that arrives while the receiver's
/// queue is full of data segments waits in the reorder buffer, and nothing ever delivers it
/// (delivery runs only when another segment arrives), so the peer would wait for the end of
/// the stream forever (found by the long sweep: `echo` seeds 2003599 and 2002915, `cuts` seed
/// 2000371). One send credit means at most `capacity - 1` segments are queued or in flight,
/// so the FIN fits: `shutdown` waits for one, and a stream dropped without a shutdown while
/// there is none lingers in a task until there is, as a kernel keeps a closed socket until
/// its FIN is out.
struct TurmoilStream {
    /// `None` only while dropping.
    stream: Option<turmoil::net::TcpStream>,
    shut: bool,
}

impl TurmoilStream {
    fn new(stream: turmoil::net::TcpStream) -> Self {
        TurmoilStream {
            stream: Some(stream),
            shut: false,
        }
    }

    fn stream(&self) -> io::Result<&turmoil::net::TcpStream> {
        self.stream.as_ref().ok_or_else(gone)
    }

    /// Ready once the receiver has room for one more segment (at once if the stream is shut
    /// or reset: turmoil's shutdown then answers for itself).
    fn poll_room(stream: &turmoil::net::TcpStream, cx: &mut Context<'_>) -> Poll<()> {
        let writable = stream.writable();
        let mut writable = std::pin::pin!(writable);
        writable.as_mut().poll(cx).map(|_| ())
    }
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the stream is gone")
}

impl Drop for TurmoilStream {
    fn drop(&mut self) {
        let Some(stream) = self.stream.take() else {
            return;
        };
        let mut cx = Context::from_waker(std::task::Waker::noop());
        if self.shut || TurmoilStream::poll_room(&stream, &mut cx).is_ready() {
            return;
        }
        // No runtime (the host is going away): nothing can be delivered anyway.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = stream.writable().await;
                drop(stream);
            });
        }
    }
}

impl AsyncRead for TurmoilStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.stream.as_mut() {
            Some(stream) => Pin::new(stream).poll_read(cx, buf),
            None => Poll::Ready(Err(gone())),
        }
    }
}

impl AsyncWrite for TurmoilStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.stream.as_mut() {
            Some(stream) => Pin::new(stream).poll_write(cx, buf),
            None => Poll::Ready(Err(gone())),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.stream.as_mut() {
            Some(stream) => Pin::new(stream).poll_flush(cx),
            None => Poll::Ready(Err(gone())),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(stream) = self.stream.as_mut() else {
            return Poll::Ready(Err(gone()));
        };
        ready!(TurmoilStream::poll_room(stream, cx));
        let result = ready!(Pin::new(stream).poll_shutdown(cx));
        self.shut = true;
        Poll::Ready(result)
    }
}

/// A simulated listener; see the [module docs](self) for the accept-queue fault.
pub struct SimListener {
    inner: turmoil::net::TcpListener,
    network: SimNetwork,
    /// An accepted connection held back until its time; kept across cancelled accepts.
    parked: Mutex<Option<Parked>>,
}

struct Parked {
    stream: SimStream,
    peer: SocketAddr,
    until: tokio::time::Instant,
}

impl SimListener {
    fn take_parked(&self) -> Option<Parked> {
        self.parked.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    fn park(&self, parked: Parked) {
        *self.parked.lock().unwrap_or_else(|e| e.into_inner()) = Some(parked);
    }

    async fn accept_one(&self) -> io::Result<(SimStream, SocketAddr)> {
        loop {
            if let Some(parked) = self.take_parked() {
                if tokio::time::Instant::now() >= parked.until {
                    return Ok((parked.stream, parked.peer));
                }
                let until = parked.until;
                self.park(parked);
                tokio::time::sleep_until(until).await;
                continue;
            }
            let (stream, peer) = self.inner.accept().await?;
            let mut rng = self.network.connection_rng();
            let plan = &self.network.state.plan.accepts;
            let on = self.network.state.partitions.switch().is_on();
            let delay = if plan.max_delay_ms > 0 && on && rng.chance(plan.delay) {
                rng.range(1, plan.max_delay_ms)
            } else {
                0
            };
            let stream = self.network.wrap(stream, &mut rng);
            if delay == 0 {
                return Ok((stream, peer));
            }
            self.network.state.counters.add(FaultKind::AcceptDelay);
            self.park(Parked {
                stream,
                peer,
                until: tokio::time::Instant::now() + Duration::from_millis(delay),
            });
        }
    }
}

impl NetListener for SimListener {
    type Stream = SimStream;

    fn accept(&self) -> impl Future<Output = io::Result<(SimStream, SocketAddr)>> + Send {
        self.accept_one()
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

impl Network for SimNetwork {
    type Stream = SimStream;
    type Listener = SimListener;

    fn connect(&self, addr: SocketAddr) -> impl Future<Output = io::Result<SimStream>> + Send {
        let network = self.clone();
        async move {
            let mut rng = network.connection_rng();
            let faults = network.state.plan.connects;
            let on = network.state.partitions.switch().is_on();
            if on && rng.chance(faults.refuse) {
                network.state.counters.add(FaultKind::ConnectRefuse);
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionRefused,
                    format!("{addr}: connection refused (fault plan)"),
                ));
            }
            if on && rng.chance(faults.hang) {
                // SYNs lost for good: only the core's connect timeout ends this.
                network.state.counters.add(FaultKind::ConnectHang);
                return std::future::pending().await;
            }
            let target = if addr.ip().is_loopback() {
                Some(network.state.host.clone())
            } else {
                network.host_of(addr.ip())
            };
            let Some(target) = target else {
                return Err(io::Error::new(
                    io::ErrorKind::HostUnreachable,
                    format!("{addr}: no such host in the simulation"),
                ));
            };
            // A real SYN across a partition is retried, not refused.
            while network
                .state
                .partitions
                .blocks(&network.state.host, &target)
                || network
                    .state
                    .partitions
                    .blocks(&target, &network.state.host)
            {
                tokio::time::sleep(SYN_RETRY).await;
            }
            let stream = turmoil::net::TcpStream::connect(addr).await?;
            Ok(network.wrap(stream, &mut rng))
        }
    }

    fn listen(&self, addr: SocketAddr) -> impl Future<Output = io::Result<SimListener>> + Send {
        let network = self.clone();
        async move {
            let inner = turmoil::net::TcpListener::bind(addr).await?;
            Ok(SimListener {
                inner,
                network,
                parked: Mutex::new(None),
            })
        }
    }

    fn resolve(
        &self,
        host: &str,
        port: u16,
    ) -> impl Future<Output = io::Result<Vec<SocketAddr>>> + Send {
        let result = if let Ok(ip) = host.parse::<IpAddr>() {
            Ok(vec![SocketAddr::new(ip, port)])
        } else if self.state.hosts.iter().any(|h| h == host) {
            Ok(vec![SocketAddr::new(turmoil::lookup(host), port)])
        } else {
            // turmoil's own lookup would invent an address for any name.
            Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("failed to lookup address information: {host}"),
            ))
        };
        std::future::ready(result)
    }
}
