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
    /// Connections (ping-pong) or concurrent clients (churn).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub connections: usize,
    /// Round trips per connection (ping-pong) or connections in all (churn).
    #[arg(long, value_name = "N", default_value_t = 20_000)]
    pub count: usize,
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
}
