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
