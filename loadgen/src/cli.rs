//! The command line.

use crate::compare::Plan;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Load generator of the Theater TCP handler's echo benchmark.
#[derive(Parser, Debug)]
#[command(name = "theater-tcp-loadgen", version)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Starts each echo server in its own process in turn, measures every workload against it
    /// from this process over several rounds, and prints a markdown table (also written to
    /// --out).
    Compare(CompareArgs),
    /// A raw tokio echo server (2 worker threads, 64 KiB reads), plain or TLS; prints
    /// `listening on ADDR` once ready.
    EchoServer(EchoServerArgs),
    /// Runs one workload against a server that is already running (for profiling it), and
    /// prints what it measured.
    Load(LoadArgs),
}

/// The workloads `load` can run.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkloadName {
    /// Bulk echo over one connection (--size MiB).
    Bulk,
    /// 64-byte ping-pong over --connections connections, --count round trips each.
    PingPong,
    /// Connect, echo 1 KiB, close: --count connections from --connections clients.
    Churn,
    /// --connections connections (default 10000) open at once, all echoing 64-byte round trips
    /// at --rate round trips/s in all for about --seconds; with --pid also the server's memory
    /// per connection and CPU time per round trip.
    Scale,
}

/// Options of `load`.
#[derive(Args, Debug, Clone, PartialEq)]
pub struct LoadArgs {
    /// The server's address (plain TCP).
    #[arg(long, value_name = "ADDR")]
    pub address: std::net::SocketAddr,
    /// The workload.
    #[arg(long, value_enum)]
    pub workload: WorkloadName,
    /// MiB of the bulk echo.
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub size: usize,
    /// Connections (ping-pong, scale) or concurrent clients (churn). Default: 1, or 10000 for
    /// scale.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub connections: Option<u64>,
    /// Round trips per connection (ping-pong) or connections in all (churn).
    #[arg(long, value_name = "N", default_value_t = 20_000)]
    pub count: usize,
    /// Scale: round trips per second offered by all connections together.
    #[arg(long, value_name = "PER_SECOND", default_value_t = crate::workload::SCALE_RATE)]
    pub rate: f64,
    /// Scale: about how long the connections echo, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = crate::workload::SCALE_SECONDS)]
    pub seconds: f64,
    /// Scale: the server's process id, to measure its memory per connection (VmRSS) and CPU
    /// time per round trip from /proc (the server must run on this machine).
    #[arg(long, value_name = "PID")]
    pub pid: Option<u32>,
}

impl LoadArgs {
    /// The number of connections: --connections, else 10000 for scale and 1 for the others.
    pub fn connections(&self) -> usize {
        match (self.connections, self.workload) {
            (Some(n), _) => n as usize,
            (None, WorkloadName::Scale) => crate::workload::SCALE_CONNECTIONS,
            (None, _) => 1,
        }
    }

    /// The options of the scale workload.
    pub fn scale_options(&self) -> crate::workload::ScaleOptions {
        crate::workload::ScaleOptions {
            connections: self.connections(),
            rate: self.rate,
            seconds: self.seconds,
            ..crate::workload::ScaleOptions::default()
        }
    }
}

/// Options of `compare`.
#[derive(Args, Debug, Clone, PartialEq)]
pub struct CompareArgs {
    /// Small sizes, one round: checks that everything runs (for CI), measures nothing.
    #[arg(long)]
    pub quick: bool,
    /// Rounds (default 5, or 1 with --quick).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=100))]
    pub rounds: Option<u64>,
    /// MiB of the bulk echo (default 256, or 4 with --quick); the TLS bulk echo takes half.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub bulk_mib: Option<u64>,
    /// Connections of the idle-memory workload (default 5000, or 200 with --quick).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1000000))]
    pub idle_connections: Option<u64>,
    /// Connection counts of the scale workload, comma-separated (in any order); the cost per
    /// connection at the largest is compared with that at the smallest (default
    /// 2500,5000,10000, or 20,50 with --quick).
    #[arg(long, value_name = "N,N,...", value_delimiter = ',',
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub scale_connections: Option<Vec<u64>>,
    /// Round trips per second that all connections of the scale workload offer together
    /// (default 10000, or 2000 with --quick).
    #[arg(long, value_name = "PER_SECOND")]
    pub scale_rate: Option<f64>,
    /// About how long the connections of the scale workload echo, in seconds (default 6, or
    /// 0.5 with --quick).
    #[arg(long, value_name = "SECONDS")]
    pub scale_seconds: Option<f64>,
    /// Rounds of the scale workload; each starts every server afresh for every connection
    /// count (default 3, or 1 with --quick).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=100))]
    pub scale_rounds: Option<u64>,
    /// Leave the scale workload out.
    #[arg(long, conflicts_with = "scale_only")]
    pub no_scale: bool,
    /// Run only the scale workload (no bulk, ping-pong, churn, idle memory or TLS rows).
    #[arg(long)]
    pub scale_only: bool,
    /// Leave the Erlang server out (it runs only when `erl` is installed anyway).
    #[arg(long)]
    pub no_erlang: bool,
    /// The `theater-tcp` binary. Default: the one beside this binary.
    #[arg(long, value_name = "FILE")]
    pub theater_tcp: Option<PathBuf>,
    /// Also write the report (markdown) to FILE.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

impl CompareArgs {
    /// The plan these options describe.
    pub fn plan(&self) -> Plan {
        let mut plan = if self.quick {
            Plan::quick()
        } else {
            Plan::full()
        };
        if let Some(rounds) = self.rounds {
            plan.rounds = rounds as usize;
        }
        if let Some(mib) = self.bulk_mib {
            plan.bulk_mib = mib as usize;
            plan.tls_bulk_mib = (mib as usize / 2).max(1);
        }
        if let Some(n) = self.idle_connections {
            plan.idle_connections = n as usize;
        }
        if let Some(sizes) = &self.scale_connections {
            let mut sizes: Vec<usize> = sizes.iter().map(|&n| n as usize).collect();
            sizes.sort_unstable();
            sizes.dedup();
            plan.scale_connections = sizes;
        }
        if let Some(rate) = self.scale_rate {
            plan.scale_rate = rate;
        }
        if let Some(seconds) = self.scale_seconds {
            plan.scale_seconds = seconds;
        }
        if let Some(rounds) = self.scale_rounds {
            plan.scale_rounds = rounds as usize;
        }
        if self.no_scale {
            plan.scale_rounds = 0;
        }
        if self.scale_only {
            plan.rounds = 0;
        }
        plan
    }
}

/// Options of `echo-server`.
#[derive(Args, Debug, Clone, PartialEq)]
pub struct EchoServerArgs {
    /// Where to listen (`ip:port`, port 0 for any).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub listen: String,
    /// Serve TLS with this PEM certificate (with --key).
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// The PEM (PKCS#8) key of --cert.
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    /// Echo through one "actor" task, as the handler's built-in echo actor does: every
    /// chunk read goes over a channel to that task and back over a channel to the
    /// connection's task, which writes it. Plain TCP only; a bound for the cost of the hop.
    #[arg(long, conflicts_with = "cert")]
    pub hop: bool,
}
