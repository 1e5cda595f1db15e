//! The client side of every workload: what a user's load generator does to an echo server.
//!
//! Each function connects to a [`Target`] (plain TCP or TLS), drives one workload to its end and
//! returns what it measured; any I/O error, short echo or wrong byte is an `Err`.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Bytes per write of the bulk workload (and per read of the client).
pub const CHUNK: usize = 64 * 1024;
/// Message size of the ping-pong workloads.
pub const MESSAGE: usize = 64;
/// Bytes each churn connection echoes.
pub const CHURN_MESSAGE: usize = 1024;

/// A connected stream, plain or TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Where the client connects, and whether it speaks TLS (server name `localhost`).
#[derive(Clone)]
pub struct Target {
    /// The server's address.
    pub address: SocketAddr,
    /// A TLS client for the server's certificate, or `None` for plain TCP.
    pub tls: Option<tokio_rustls::TlsConnector>,
}

impl Target {
    /// A plain TCP target.
    pub fn plain(address: SocketAddr) -> Target {
        Target { address, tls: None }
    }

    /// Connects (`TCP_NODELAY`), with the TLS handshake when the target has TLS.
    pub async fn connect(&self) -> io::Result<Box<dyn Io>> {
        let tcp = TcpStream::connect(self.address).await?;
        tcp.set_nodelay(true)?;
        match &self.tls {
            None => Ok(Box::new(tcp)),
            Some(connector) => {
                let name = rustls_pki_types::ServerName::try_from("localhost")
                    .map_err(|e| io::Error::other(e.to_string()))?;
                Ok(Box::new(connector.connect(name, tcp).await?))
            }
        }
    }
}

fn context(what: &str) -> impl Fn(io::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// Streams `bytes` through one connection (64 KiB writes, reads concurrently) and returns the
/// echo throughput in MiB/s, from the first write to the last byte back.
pub async fn bulk(target: &Target, bytes: usize) -> Result<f64, String> {
    let stream = target.connect().await.map_err(context("bulk: connect"))?;
    let (mut reader, mut writer) = tokio::io::split(stream);
    let start = Instant::now();
    let write = async {
        let chunk: Vec<u8> = (0..CHUNK).map(|i| (i % 251) as u8).collect();
        let mut left = bytes;
        while left > 0 {
            let n = left.min(CHUNK);
            writer.write_all(&chunk[..n]).await?;
            left -= n;
        }
        writer.flush().await
    };
    let read = async {
        let mut buffer = vec![0u8; CHUNK];
        let mut received = 0;
        while received < bytes {
            match reader.read(&mut buffer).await? {
                0 => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("the server closed after {received} of {bytes} bytes"),
                    ));
                }
                n => received += n,
            }
        }
        Ok(())
    };
    tokio::try_join!(write, read).map_err(context("bulk"))?;
    let seconds = start.elapsed().as_secs_f64().max(1e-9);
    Ok(bytes as f64 / (1024.0 * 1024.0) / seconds)
}

/// Round trips per second and latencies of a ping-pong run.
#[derive(Debug, Clone, PartialEq)]
pub struct PingPong {
    /// Round trips per second, over all connections.
    pub round_trips_per_second: f64,
    /// Median round-trip latency, microseconds.
    pub p50_us: f64,
    /// 99th percentile of the round-trip latency, microseconds.
    pub p99_us: f64,
}

/// Opens `connections` connections, then on each makes `round_trips` sequential round trips of
/// a 64-byte message (write, read the 64 bytes back, check them), all connections at once.
pub async fn ping_pong(
    target: &Target,
    connections: usize,
    round_trips: usize,
) -> Result<PingPong, String> {
    let mut streams = Vec::with_capacity(connections);
    for _ in 0..connections {
        streams.push(
            target
                .connect()
                .await
                .map_err(context("ping-pong: connect"))?,
        );
    }
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (index, mut stream) in streams.into_iter().enumerate() {
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(round_trips);
            let mut message = [0u8; MESSAGE];
            let mut answer = [0u8; MESSAGE];
            for trip in 0..round_trips {
                message[..8].copy_from_slice(&(trip as u64).to_le_bytes());
                message[8..16].copy_from_slice(&(index as u64).to_le_bytes());
                let sent = Instant::now();
                stream.write_all(&message).await?;
                stream.read_exact(&mut answer).await?;
                latencies.push(sent.elapsed());
                if answer != message {
                    return Err(io::Error::other("the echo differs from the message"));
                }
            }
            Ok::<_, io::Error>(latencies)
        });
    }
    let mut latencies = Vec::with_capacity(connections * round_trips);
    while let Some(joined) = tasks.join_next().await {
        let task = joined.map_err(|e| format!("ping-pong: task: {e}"))?;
        latencies.extend(task.map_err(context("ping-pong"))?);
    }
    let seconds = start.elapsed().as_secs_f64().max(1e-9);
    latencies.sort_unstable();
    Ok(PingPong {
        round_trips_per_second: latencies.len() as f64 / seconds,
        p50_us: percentile(&latencies, 0.50),
        p99_us: percentile(&latencies, 0.99),
    })
}

/// The `q` quantile (nearest rank) of sorted durations, in microseconds; 0 when empty.
pub fn percentile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1e6
}

/// `clients` clients at once, together making `total` connections: each connects (and
/// handshakes under TLS), echoes 1 KiB, closes (close_notify under TLS). Returns connections
/// per second.
pub async fn churn(target: &Target, clients: usize, total: usize) -> Result<f64, String> {
    let left = Arc::new(AtomicUsize::new(total));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients.max(1) {
        let left = Arc::clone(&left);
        let target = target.clone();
        tasks.spawn(async move {
            let message: Vec<u8> = (0..CHURN_MESSAGE).map(|i| (i % 253) as u8).collect();
            let mut answer = vec![0u8; CHURN_MESSAGE];
            while left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok()
            {
                let mut stream = target.connect().await?;
                stream.write_all(&message).await?;
                stream.read_exact(&mut answer).await?;
                if answer != message {
                    return Err(io::Error::other("the echo differs from the message"));
                }
                stream.shutdown().await?;
            }
            Ok::<_, io::Error>(())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined
            .map_err(|e| format!("churn: task: {e}"))?
            .map_err(context("churn"))?;
    }
    let seconds = start.elapsed().as_secs_f64().max(1e-9);
    Ok(total as f64 / seconds)
}

/// The resident set size of process `pid` in KiB (`VmRSS` of `/proc/PID/status`).
pub fn rss_kib(pid: u32) -> Result<u64, String> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).map_err(|e| format!("reading {path}: {e}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("{path} has no VmRSS line"))
}

/// Opens `connections` connections to the server of process `pid`, each echoing one byte (so
/// the server has accepted it), lets them sit idle for `settle`, and returns the growth of the
/// server's RSS divided by the number of connections, in KiB. The connections close after.
pub async fn idle_memory(
    target: &Target,
    pid: u32,
    connections: usize,
    settle: Duration,
) -> Result<f64, String> {
    // One connection first, so that what any first connection allocates once is not counted.
    {
        let mut warm = target.connect().await.map_err(context("idle: connect"))?;
        echo_one_byte(&mut warm).await.map_err(context("idle"))?;
    }
    tokio::time::sleep(settle / 4).await;
    let before = rss_kib(pid)?;
    let mut open = Vec::with_capacity(connections);
    for _ in 0..connections {
        let mut stream = target.connect().await.map_err(context("idle: connect"))?;
        echo_one_byte(&mut stream).await.map_err(context("idle"))?;
        open.push(stream);
    }
    tokio::time::sleep(settle).await;
    let after = rss_kib(pid)?;
    drop(open);
    Ok(after.saturating_sub(before) as f64 / connections.max(1) as f64)
}

async fn echo_one_byte(stream: &mut Box<dyn Io>) -> io::Result<()> {
    stream.write_all(b"i").await?;
    let mut answer = [0u8; 1];
    stream.read_exact(&mut answer).await?;
    if &answer != b"i" {
        return Err(io::Error::other("the echo differs from the message"));
    }
    Ok(())
}

/// Waits until process `pid` is quiet: no CPU time used over a 100 ms interval (`utime +
/// stime` counts in 10 ms ticks), or `limit` passed. Between workloads, so that one does not
/// pay for the end of the last (a server still closing the thousands of connections the idle
/// memory workload dropped), whichever server it is.
pub async fn quiesce(pid: u32, limit: Duration) -> Result<(), String> {
    let start = Instant::now();
    let mut last = cpu_seconds(pid)?;
    while start.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = cpu_seconds(pid)?;
        if now == last {
            return Ok(());
        }
        last = now;
    }
    Ok(())
}

/// The CPU time process `pid` has used so far (user plus system, every thread), in seconds,
/// from `utime` and `stime` of `/proc/PID/stat`.
pub fn cpu_seconds(pid: u32) -> Result<f64, String> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).map_err(|e| format!("reading {path}: {e}"))?;
    let ticks = parse_cpu_ticks(&stat).ok_or_else(|| format!("{path}: no utime/stime"))?;
    Ok(ticks as f64 / rustix::param::clock_ticks_per_second() as f64)
}

/// `utime + stime` (clock ticks) of a `/proc/PID/stat` line: fields 14 and 15, counted after
/// the command name in parentheses (which may hold spaces).
pub fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    // `rest` starts at field 3 (the state), so field 14 is its 12th.
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// How the scale workload loads the server.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScaleOptions {
    /// Connections open at once.
    pub connections: usize,
    /// Round trips per second offered by all the connections together.
    pub rate: f64,
    /// About how long the echo phase lasts, in seconds: each connection makes
    /// `rate × seconds / connections` round trips (at least one).
    pub seconds: f64,
    /// Connections being opened at once (connect plus a one-byte echo), so that a burst of
    /// SYNs does not overflow the listen backlog.
    pub connect_concurrency: usize,
}

/// Default number of connections of the scale workload.
pub const SCALE_CONNECTIONS: usize = 10_000;
/// Default aggregate rate of the scale workload, round trips per second.
pub const SCALE_RATE: f64 = 10_000.0;
/// Default length of the echo phase of the scale workload, seconds.
pub const SCALE_SECONDS: f64 = 6.0;
/// Default number of connections being opened at once.
pub const CONNECT_CONCURRENCY: usize = 64;

impl Default for ScaleOptions {
    fn default() -> Self {
        ScaleOptions {
            connections: SCALE_CONNECTIONS,
            rate: SCALE_RATE,
            seconds: SCALE_SECONDS,
            connect_concurrency: CONNECT_CONCURRENCY,
        }
    }
}

impl ScaleOptions {
    /// Round trips each connection makes.
    pub fn round_trips_per_connection(&self) -> usize {
        let each = (self.rate * self.seconds / self.connections.max(1) as f64).round();
        (each as usize).max(1)
    }

    /// `Err` with what is wrong when the options cannot run.
    pub fn validate(&self) -> Result<(), String> {
        if self.connections == 0 {
            return Err("scale: the number of connections must be at least 1".into());
        }
        if !(self.rate.is_finite() && self.rate > 0.0) {
            return Err(format!(
                "scale: the rate must be a positive number of round trips per second, not {}",
                self.rate
            ));
        }
        if !(self.seconds.is_finite() && self.seconds > 0.0) {
            return Err(format!(
                "scale: the duration must be a positive number of seconds, not {}",
                self.seconds
            ));
        }
        if self.connect_concurrency == 0 {
            return Err("scale: the connect concurrency must be at least 1".into());
        }
        Ok(())
    }
}

/// What the scale workload measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Scale {
    /// Connections that were open at once, all echoing.
    pub connections: usize,
    /// Round trips made in all (every one checked).
    pub round_trips: usize,
    /// Seconds taken to open every connection.
    pub connect_seconds: f64,
    /// Round trips per second over the echo phase (from its start to the last echo).
    pub round_trips_per_second: f64,
    /// Median round-trip latency, microseconds.
    pub p50_us: f64,
    /// 99th percentile of the round-trip latency, microseconds.
    pub p99_us: f64,
    /// Growth of the server's RSS per connection, KiB (with the server's process id).
    pub memory_kib_per_connection: Option<f64>,
    /// The server's CPU time (user plus system) over the echo phase per round trip,
    /// microseconds (with the server's process id).
    pub cpu_us_per_round_trip: Option<f64>,
}

/// Opens `options.connections` connections and keeps them all open; then every connection
/// makes sequential 64-byte round trips (the echo checked), the sends of all connections
/// spread evenly so that together they offer `options.rate` round trips per second for about
/// `options.seconds`. With the server's process id `pid` it also measures the server's RSS
/// growth per connection (from after one warm-up connection to the end of the echo phase, every
/// connection still open) and its CPU time per round trip over the echo phase.
///
/// A connection that cannot be opened, is closed by the server, or gets a wrong echo is an
/// `Err`, as is a limit on open files that cannot hold the connections (checked first).
pub async fn scale(
    target: &Target,
    options: &ScaleOptions,
    pid: Option<u32>,
) -> Result<Scale, String> {
    options.validate()?;
    crate::limits::check_room(options.connections, pid).map_err(|e| format!("scale: {e}"))?;
    let n = options.connections;
    let per_connection = options.round_trips_per_connection();

    // One connection first, so that what any first connection allocates once is not counted.
    {
        let mut warm = target.connect().await.map_err(context("scale: connect"))?;
        echo_one_byte(&mut warm).await.map_err(context("scale"))?;
    }
    let rss_before = pid.map(rss_kib).transpose()?;

    let connecting = Instant::now();
    let mut streams = open_all(target, n, options.connect_concurrency).await?;
    let connect_seconds = connecting.elapsed().as_secs_f64();

    let cpu_before = pid.map(cpu_seconds).transpose()?;
    // Send k of connection i is due at start + (k × n + i) / rate: evenly spread, every
    // connection in turn.
    let start = tokio::time::Instant::now() + Duration::from_millis(20);
    let period = 1.0 / options.rate;
    let mut tasks = tokio::task::JoinSet::new();
    for (index, mut stream) in streams.drain(..).enumerate() {
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(per_connection);
            let mut message = [0u8; MESSAGE];
            let mut answer = [0u8; MESSAGE];
            message[8..16].copy_from_slice(&(index as u64).to_le_bytes());
            for trip in 0..per_connection {
                let due = (trip * n + index) as f64 * period;
                tokio::time::sleep_until(start + Duration::from_secs_f64(due)).await;
                message[..8].copy_from_slice(&(trip as u64).to_le_bytes());
                let sent = Instant::now();
                let echoed = async {
                    stream.write_all(&message).await?;
                    stream.read_exact(&mut answer).await
                };
                echoed.await.map_err(|e| {
                    format!("scale: connection {index}, round trip {}: {e}", trip + 1)
                })?;
                latencies.push(sent.elapsed());
                if answer != message {
                    return Err(format!(
                        "scale: connection {index}, round trip {}: the echo differs from the message",
                        trip + 1
                    ));
                }
            }
            Ok::<_, String>((stream, latencies))
        });
    }
    let mut latencies = Vec::with_capacity(n * per_connection);
    let mut open = Vec::with_capacity(n);
    while let Some(joined) = tasks.join_next().await {
        let (stream, task) = joined.map_err(|e| format!("scale: task: {e}"))??;
        open.push(stream);
        latencies.extend(task);
    }
    let seconds = start.elapsed().as_secs_f64().max(1e-9);
    // Every connection is still open here.
    let cpu_after = pid.map(cpu_seconds).transpose()?;
    let rss_after = pid.map(rss_kib).transpose()?;
    drop(open);

    latencies.sort_unstable();
    let round_trips = latencies.len();
    let memory_kib_per_connection = rss_before
        .zip(rss_after)
        .map(|(before, after)| after.saturating_sub(before) as f64 / n as f64);
    let cpu_us_per_round_trip = cpu_before
        .zip(cpu_after)
        .map(|(before, after)| (after - before).max(0.0) * 1e6 / round_trips.max(1) as f64);
    Ok(Scale {
        connections: n,
        round_trips,
        connect_seconds,
        round_trips_per_second: round_trips as f64 / seconds,
        p50_us: percentile(&latencies, 0.50),
        p99_us: percentile(&latencies, 0.99),
        memory_kib_per_connection,
        cpu_us_per_round_trip,
    })
}

/// Opens `n` connections, at most `concurrency` of them being opened at once; each echoes one
/// byte (so the server has accepted it) before it counts as open.
async fn open_all(
    target: &Target,
    n: usize,
    concurrency: usize,
) -> Result<Vec<Box<dyn Io>>, String> {
    let mut open = Vec::with_capacity(n);
    let mut tasks = tokio::task::JoinSet::new();
    let mut started = 0;
    while open.len() < n {
        while started < n && tasks.len() < concurrency.max(1) {
            let target = target.clone();
            let number = started + 1;
            tasks.spawn(async move {
                let mut stream = target
                    .connect()
                    .await
                    .map_err(|e| format!("scale: connection {number} of {n}: connect: {e}"))?;
                echo_one_byte(&mut stream)
                    .await
                    .map_err(|e| format!("scale: connection {number} of {n}: first echo: {e}"))?;
                Ok::<_, String>(stream)
            });
            started += 1;
        }
        match tasks.join_next().await {
            Some(joined) => open.push(joined.map_err(|e| format!("scale: task: {e}"))??),
            None => break,
        }
    }
    Ok(open)
}
