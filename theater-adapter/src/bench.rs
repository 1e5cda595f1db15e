//! The echo benchmark: the host's built-in echo actor against a raw tokio echo server, both
//! over loopback in the same process, with the same client. Run by `cargo bench -p
//! theater-tcp-adapter` and by `theater-tcp bench`.
//!
//! - Throughput: one connection streams [`Options::bytes`] through the echo (the actor in
//!   `active` mode) while the client reads everything back.
//! - Ping-pong: one connection (`TCP_NODELAY`) sends a 64-byte message and waits for its echo,
//!   [`Options::round_trips`] times, after a warm-up.
//!
//! Each of [`Options::rounds`] rounds measures the raw server, then the host, right after each
//! other, and takes the ratio of the two; the report gives the median ratio over the rounds
//! (and the lowest and highest), so that one lucky or unlucky run decides nothing.
//!
//! When `erl` is installed, each round also measures an Erlang/OTP `gen_tcp` echo server
//! ([`ERLANG_ECHO`]: one process per connection in `{active, once}` mode) running in its own
//! VM, and the report adds the wasm echo's ratios to it. It is a reference, not a target: the
//! VM is another process, so its client always crosses processes.
//!
//! [`run_all`] measures on two tokio runtimes: the multi-thread one the binary uses, where
//! cross-thread wake-ups dominate small messages (on a VM they make even the raw server slow),
//! and a current-thread one, where the ratio shows the host's CPU cost per byte and per
//! message without them.

use crate::{ActorSpec, Host, Limits, builtin_echo_component};
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use theater_tcp_core::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Target of the throughput ratio (host / raw tokio).
pub const THROUGHPUT_TARGET: f64 = 0.8;
/// Target of the ping-pong ratio (host / raw tokio).
pub const PING_PONG_TARGET: f64 = 0.7;

const CHUNK: usize = 64 * 1024;
const MESSAGE: usize = 64;

/// What to measure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Bytes streamed per throughput run.
    pub bytes: usize,
    /// Round trips per ping-pong run.
    pub round_trips: usize,
    /// Read size of both servers: the raw server's buffer and the host's `max_chunk`.
    pub chunk: usize,
    /// Rounds per runtime (each measures both servers once); at least 1.
    pub rounds: usize,
    /// Also measure an Erlang/OTP `gen_tcp` echo server (when `erl` is installed).
    pub erlang: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            bytes: 64 * 1024 * 1024,
            round_trips: 20_000,
            chunk: 64 * 1024,
            rounds: 5,
            erlang: true,
        }
    }
}

/// One round: both servers measured right after each other.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Round {
    /// Raw tokio echo, bytes per second.
    pub raw_throughput: f64,
    /// Host echo actor, bytes per second.
    pub host_throughput: f64,
    /// Raw tokio echo, round trips per second.
    pub raw_round_trips: f64,
    /// Host echo actor, round trips per second.
    pub host_round_trips: f64,
    /// Erlang/OTP `gen_tcp` echo (bytes per second, round trips per second), when measured.
    pub erlang: Option<(f64, f64)>,
}

/// The measured rounds of one runtime.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Every round, in order.
    pub rounds: Vec<Round>,
    /// Why the Erlang server was not measured, when it was not.
    pub erlang_missing: Option<String>,
}

/// The median of `values` (the mean of the middle two for an even count); 0 when empty.
fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

fn range(values: &[f64]) -> (f64, f64) {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (lo, hi)
}

impl Report {
    fn each(&self, f: impl Fn(&Round) -> f64) -> Vec<f64> {
        self.rounds.iter().map(f).collect()
    }

    /// Host / raw throughput of every round.
    pub fn throughput_ratios(&self) -> Vec<f64> {
        self.each(|r| r.host_throughput / r.raw_throughput)
    }

    /// Host / raw round trips of every round.
    pub fn ping_pong_ratios(&self) -> Vec<f64> {
        self.each(|r| r.host_round_trips / r.raw_round_trips)
    }

    /// The median throughput ratio: what the target is judged on.
    pub fn throughput_ratio(&self) -> f64 {
        median(self.throughput_ratios())
    }

    /// The median ping-pong ratio: what the target is judged on.
    pub fn ping_pong_ratio(&self) -> f64 {
        median(self.ping_pong_ratios())
    }

    /// Whether both median ratios meet their targets.
    pub fn meets_targets(&self) -> bool {
        self.throughput_ratio() >= THROUGHPUT_TARGET && self.ping_pong_ratio() >= PING_PONG_TARGET
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mib = |b: f64| b / (1024.0 * 1024.0);
        let verdict = |ratio: f64, target: f64| if ratio >= target { "met" } else { "MISSED" };
        writeln!(
            f,
            "{:<28} {:>14} {:>14}   (medians of {} rounds)",
            "",
            "raw tokio",
            "wasm echo",
            self.rounds.len()
        )?;
        writeln!(
            f,
            "{:<28} {:>10.1} MiB/s {:>8.1} MiB/s",
            "echo throughput",
            mib(median(self.each(|r| r.raw_throughput))),
            mib(median(self.each(|r| r.host_throughput)))
        )?;
        writeln!(
            f,
            "{:<28} {:>12.0}/s {:>12.0}/s",
            "ping-pong round trips (64 B)",
            median(self.each(|r| r.raw_round_trips)),
            median(self.each(|r| r.host_round_trips))
        )?;
        let (lo, hi) = range(&self.throughput_ratios());
        writeln!(
            f,
            "throughput ratio {:.2} (rounds {lo:.2}..{hi:.2}; target >= {THROUGHPUT_TARGET}: {})",
            self.throughput_ratio(),
            verdict(self.throughput_ratio(), THROUGHPUT_TARGET)
        )?;
        let (lo, hi) = range(&self.ping_pong_ratios());
        writeln!(
            f,
            "ping-pong ratio  {:.2} (rounds {lo:.2}..{hi:.2}; target >= {PING_PONG_TARGET}: {})",
            self.ping_pong_ratio(),
            verdict(self.ping_pong_ratio(), PING_PONG_TARGET)
        )?;
        let erlang: Vec<(f64, f64, &Round)> = self
            .rounds
            .iter()
            .filter_map(|r| r.erlang.map(|(t, p)| (t, p, r)))
            .collect();
        if erlang.is_empty() {
            if let Some(why) = &self.erlang_missing {
                writeln!(f, "erlang gen_tcp echo: not measured ({why})")?;
            }
            return Ok(());
        }
        writeln!(
            f,
            "erlang gen_tcp echo ({{active, once}}): {:.1} MiB/s, {:.0} round trips/s",
            mib(median(erlang.iter().map(|e| e.0).collect())),
            median(erlang.iter().map(|e| e.1).collect())
        )?;
        writeln!(
            f,
            "wasm echo / erlang gen_tcp: throughput {:.2}, ping-pong {:.2} (median of rounds)",
            median(erlang.iter().map(|e| e.2.host_throughput / e.0).collect()),
            median(erlang.iter().map(|e| e.2.host_round_trips / e.1).collect())
        )
    }
}

/// An Erlang/OTP echo server in the idiom of `gen_tcp`: one process per connection in
/// `{active, once}` mode (the data mode this handler's `once` copies), 64 KiB buffer,
/// `nodelay`; it prints `listening on ADDR` once ready. Run with `erl -noshell -eval`.
pub const ERLANG_ECHO: &str = include_str!("erlang_echo.erl");

/// The Erlang echo server's process; killed when dropped.
struct ErlangEcho {
    child: std::process::Child,
    address: SocketAddr,
}

impl Drop for ErlangEcho {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts [`ERLANG_ECHO`]; `Err` says why it is not there (no `erl`, or it did not start).
fn start_erlang() -> Result<ErlangEcho, String> {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let mut child = Command::new("erl")
        // No scheduler busy-waiting: an idle VM must not take CPU from the other servers'
        // rounds on this machine.
        .args(["+sbwt", "none", "+sbwtdcpu", "none", "+sbwtdio", "none"])
        .args(["-noshell", "-eval", ERLANG_ECHO])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                "erl is not installed; bash scripts/setup.sh installs erlang-base".to_owned()
            }
            _ => format!("cannot run erl: {e}"),
        })?;
    let stdout = child.stdout.take().ok_or("erl has no stdout")?;
    let (line_tx, line_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let read = std::io::BufReader::new(stdout).read_line(&mut line);
        let _ = line_tx.send(read.map(|_| line));
    });
    // Owned from here: a failure below kills the VM.
    let mut echo = ErlangEcho {
        child,
        address: SocketAddr::from(([127, 0, 0, 1], 0)),
    };
    let line = match line_rx.recv_timeout(Duration::from_secs(30)) {
        Ok(Ok(line)) => line,
        Ok(Err(e)) => return Err(format!("reading erl's output: {e}")),
        Err(_) => return Err("erl did not start within 30 s".into()),
    };
    echo.address = line
        .trim()
        .strip_prefix("listening on ")
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| format!("unexpected first line from erl: {:?}", line.trim()))?;
    Ok(echo)
}

/// A raw tokio echo server: one task per connection, 64 KiB reads, `write_all` back.
async fn raw_echo_server(
    chunk: usize,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("raw echo: bind: {e}"))?;
    let address = listener
        .local_addr()
        .map_err(|e| format!("raw echo: {e}"))?;
    let task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let mut buf = vec![0u8; chunk];
                loop {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if stream.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    Ok((address, task))
}

/// Streams `bytes` through the echo at `address`; returns bytes per second.
async fn throughput(address: SocketAddr, bytes: usize) -> Result<f64, String> {
    let stream = TcpStream::connect(address)
        .await
        .map_err(|e| format!("connect {address}: {e}"))?;
    let (mut reader, mut writer) = stream.into_split();
    let started = Instant::now();
    let write = tokio::spawn(async move {
        let chunk = vec![0x5au8; CHUNK];
        let mut left = bytes;
        while left > 0 {
            let n = left.min(CHUNK);
            writer.write_all(&chunk[..n]).await?;
            left -= n;
        }
        writer.shutdown().await?;
        Ok::<_, std::io::Error>(writer)
    });
    let mut buf = vec![0u8; CHUNK];
    let mut got = 0;
    while got < bytes {
        match reader.read(&mut buf).await {
            Ok(0) => return Err(format!("echo closed after {got} of {bytes} bytes")),
            Ok(n) => got += n,
            Err(e) => return Err(format!("read after {got} bytes: {e}")),
        }
    }
    let elapsed = started.elapsed();
    write
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("write: {e}"))?;
    Ok(bytes as f64 / elapsed.as_secs_f64())
}

/// `round_trips` 64-byte ping-pongs with the echo at `address`; returns round trips per second.
async fn ping_pong(address: SocketAddr, round_trips: usize) -> Result<f64, String> {
    let mut stream = TcpStream::connect(address)
        .await
        .map_err(|e| format!("connect {address}: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let message = [0xa5u8; MESSAGE];
    let mut back = [0u8; MESSAGE];
    let mut one = async |stream: &mut TcpStream| -> Result<(), String> {
        stream
            .write_all(&message)
            .await
            .map_err(|e| format!("ping: {e}"))?;
        stream
            .read_exact(&mut back)
            .await
            .map_err(|e| format!("pong: {e}"))?;
        Ok(())
    };
    for _ in 0..(round_trips / 10).max(1) {
        one(&mut stream).await?;
    }
    let started = Instant::now();
    for _ in 0..round_trips {
        one(&mut stream).await?;
    }
    Ok(round_trips as f64 / started.elapsed().as_secs_f64())
}

/// Runs both servers in this process (on the current tokio runtime) and measures them, and
/// the echo server at `erlang` (another process) too when given.
pub async fn run(options: &Options, erlang: Option<SocketAddr>) -> Result<Report, String> {
    let (raw_address, raw_task) = raw_echo_server(options.chunk).await?;
    let component = builtin_echo_component().map_err(|e| e.to_string())?;
    let config = Config {
        listen: Some("127.0.0.1:0".into()),
        max_chunk: options.chunk,
        ..Config::default()
    };
    let host = Host::start(
        config,
        Limits::default(),
        vec![ActorSpec {
            id: "echo".into(),
            component,
        }],
    )
    .await
    .map_err(|e| e.to_string())?;
    let host_address: SocketAddr = host
        .listen_address()
        .ok_or("the host did not listen")?
        .parse()
        .map_err(|e| format!("host address: {e}"))?;

    // Alternate the servers so that both see the same machine conditions; a warm-up round
    // (not reported) pages in both paths first.
    let mut rounds = Vec::with_capacity(options.rounds);
    for round in 0..=options.rounds.max(1) {
        let raw_throughput = throughput(raw_address, options.bytes).await?;
        let host_throughput = throughput(host_address, options.bytes).await?;
        let raw_round_trips = ping_pong(raw_address, options.round_trips).await?;
        let host_round_trips = ping_pong(host_address, options.round_trips).await?;
        let erlang = match erlang {
            Some(address) => Some((
                throughput(address, options.bytes).await?,
                ping_pong(address, options.round_trips).await?,
            )),
            None => None,
        };
        if round > 0 {
            rounds.push(Round {
                raw_throughput,
                host_throughput,
                raw_round_trips,
                host_round_trips,
                erlang,
            });
        }
    }
    host.shutdown().await;
    raw_task.abort();
    // Give the aborted listener a moment to go away before the runtime is reused.
    tokio::time::sleep(Duration::from_millis(10)).await;
    Ok(Report {
        rounds,
        erlang_missing: None,
    })
}

/// Measures on a multi-thread runtime (2 workers, as `theater-tcp serve` on 2 cores) and on a
/// current-thread runtime; returns `(runtime name, report)` pairs. Call it outside a runtime.
pub fn run_all(options: &Options) -> Result<Vec<(&'static str, Report)>, String> {
    // One Erlang VM for both runtimes' rounds; it stops when this function returns.
    let (erlang, erlang_missing) = if options.erlang {
        match start_erlang() {
            Ok(echo) => (Some(echo), None),
            Err(why) => (None, Some(why)),
        }
    } else {
        (None, Some("--no-erlang".to_owned()))
    };
    let erlang_address = erlang.as_ref().map(|e| e.address);
    let mut reports = Vec::new();
    for name in ["multi-thread", "current-thread"] {
        let mut builder = if name == "multi-thread" {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(2);
            b
        } else {
            tokio::runtime::Builder::new_current_thread()
        };
        let runtime = builder
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start a tokio runtime: {e}"))?;
        let mut report = runtime.block_on(run(options, erlang_address))?;
        report.erlang_missing = erlang_missing.clone();
        reports.push((name, report));
    }
    drop(erlang);
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(raw: f64, host: f64) -> Round {
        Round {
            raw_throughput: raw,
            host_throughput: host,
            raw_round_trips: raw,
            host_round_trips: host * 0.5,
            erlang: None,
        }
    }

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(vec![]), 0.0);
    }

    #[test]
    fn the_verdict_is_the_median_of_per_round_ratios_not_of_best_figures() {
        // Ratios 0.5, 0.9, 1.0: one bad round does not sink the median, one lucky one does
        // not lift it.
        let report = Report {
            rounds: vec![round(100.0, 50.0), round(100.0, 90.0), round(200.0, 200.0)],
            erlang_missing: Some("--no-erlang".into()),
        };
        assert_eq!(report.throughput_ratios(), vec![0.5, 0.9, 1.0]);
        assert!((report.throughput_ratio() - 0.9).abs() < 1e-12);
        assert!((report.ping_pong_ratio() - 0.45).abs() < 1e-12);
        assert!(!report.meets_targets(), "ping-pong 0.45 is under 0.7");
        let text = report.to_string();
        assert!(
            text.contains("throughput ratio 0.90 (rounds 0.50..1.00"),
            "{text}"
        );
        assert!(text.contains("ping-pong ratio  0.45"), "{text}");
        assert!(text.contains("MISSED"), "{text}");
        assert!(
            text.contains("erlang gen_tcp echo: not measured (--no-erlang)"),
            "{text}"
        );
    }

    #[test]
    fn the_erlang_figures_are_medians_against_the_wasm_echo() {
        let mut rounds = vec![round(100.0, 80.0), round(100.0, 90.0), round(100.0, 100.0)];
        for (r, e) in rounds
            .iter_mut()
            .zip([(40.0, 20.0), (45.0, 45.0), (50.0, 100.0)])
        {
            r.erlang = Some(e);
        }
        let text = Report {
            rounds,
            erlang_missing: None,
        }
        .to_string();
        // Throughput ratios 2.0, 2.0, 2.0; ping-pong 40/20, 45/45, 50/100.
        assert!(
            text.contains("wasm echo / erlang gen_tcp: throughput 2.00, ping-pong 1.00"),
            "{text}"
        );
    }
}
