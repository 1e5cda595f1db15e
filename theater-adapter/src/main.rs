//! `theater-tcp`: runs wasm actors on the Theater TCP handler over real sockets.

#![forbid(unsafe_code)]

use clap::{Args, Parser, Subcommand};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use theater_tcp_adapter::{ActorSpec, Host, Manifest, bench, builtin_echo_component};
use tracing_subscriber::EnvFilter;

/// The listen address when neither `--listen` nor the manifest gives one. `serve` always sets
/// the handler's `listen` (the flag, else the manifest's, else this), so that the host's one
/// rule for it (`Host::start`: the first actor's listener, after every `init`) always applies.
const DEFAULT_LISTEN: &str = "127.0.0.1:7878";

/// Runs WebAssembly actors on the Theater TCP handler (`theater:simple/tcp`).
///
/// Logs go to stderr through `tracing`; set RUST_LOG to filter them (default `info`, e.g.
/// RUST_LOG=theater_tcp=debug).
#[derive(Parser, Debug)]
#[command(name = "theater-tcp", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Runs actors on real sockets. Prints `listening on ADDR` once ready; Ctrl-C (SIGINT) or
    /// SIGTERM stops it gracefully.
    Serve(ServeArgs),
    /// Compares the host's echo actor with a raw tokio echo server: bulk throughput and
    /// ping-pong round trips, both over loopback in this process.
    Bench(BenchArgs),
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// An actor component (.wasm) to run, as FILE or ID=FILE (the id defaults to the file
    /// name without extension). Repeat it for several actors; they follow the manifest's
    /// actors. The first actor of all receives the connections of the listen address.
    /// Without any actor (here or in the manifest) the built-in echo actor runs, with id
    /// `echo`.
    #[arg(long = "actor", value_name = "FILE")]
    actors: Vec<String>,
    /// A manifest (TOML) with `[[actor]]` entries, the `[[handler]] type = "tcp"` table and
    /// `[limits]`; see the README.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where the first actor's listener binds (`ip:port`, port 0 for any); overrides the
    /// manifest's `listen`. Default: the manifest's `listen`, else 127.0.0.1:7878.
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
}

#[derive(Args, Debug)]
struct BenchArgs {
    /// Bytes streamed through each echo server for the throughput test.
    #[arg(long, default_value_t = bench::Options::default().bytes, value_name = "N")]
    bytes: usize,
    /// Ping-pong round trips (64-byte messages) per server.
    #[arg(long, default_value_t = bench::Options::default().round_trips, value_name = "N")]
    round_trips: usize,
    /// Rounds per tokio runtime; each measures both servers, and the ratios reported are the
    /// medians over the rounds.
    #[arg(long, default_value_t = bench::Options::default().rounds as u64, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=1000))]
    rounds: u64,
    /// Do not start the Erlang/OTP gen_tcp echo server the figures are also compared with
    /// (it runs only when `erl` is installed).
    #[arg(long)]
    no_erlang: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("theater-tcp: cannot start the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Serve(args) => runtime.block_on(serve(args)),
        Command::Bench(args) => {
            // The benchmark builds its own runtimes (multi-thread and current-thread).
            drop(runtime);
            let options = bench::Options {
                bytes: args.bytes,
                round_trips: args.round_trips,
                rounds: usize::try_from(args.rounds).unwrap_or(1),
                erlang: !args.no_erlang,
                ..bench::Options::default()
            };
            bench::run_all(&options).map(|reports| {
                for (name, report) in reports {
                    println!("{name} tokio runtime:");
                    print!("{report}");
                }
            })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("theater-tcp: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `ID=FILE` or `FILE` (id = file stem).
fn actor_arg(arg: &str) -> Result<ActorSpec, String> {
    let (id, file) = match arg.split_once('=') {
        Some((id, file)) if !id.is_empty() => (id.to_owned(), Path::new(file)),
        _ => {
            let file = Path::new(arg);
            let stem = file
                .file_stem()
                .and_then(|s| s.to_str())
                .filter(|s| !s.is_empty())
                .ok_or_else(|| format!("--actor {arg}: cannot derive an id; use ID=FILE"))?;
            (stem.to_owned(), file)
        }
    };
    let component = std::fs::read(file)
        .map_err(|e| format!("--actor {arg}: cannot read {}: {e}", file.display()))?;
    Ok(ActorSpec { id, component })
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    raise_fd_limit();
    let manifest = match &args.config {
        Some(path) => Manifest::load(path).map_err(|e| format!("--config: {e}"))?,
        None => Manifest::default(),
    };
    let mut actors = manifest
        .actor_specs()
        .map_err(|e| format!("--config: {e}"))?;
    for arg in &args.actors {
        actors.push(actor_arg(arg)?);
    }
    if actors.is_empty() {
        let component = builtin_echo_component().map_err(|e| e.to_string())?;
        actors.push(ActorSpec {
            id: "echo".into(),
            component,
        });
    }
    let mut config = manifest.handler;
    config.listen = Some(
        args.listen
            .or(config.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned()),
    );
    let host = Host::start(config, manifest.limits, actors)
        .await
        .map_err(|e| e.to_string())?;
    // `listen` is set, so a host that started listens; the address is the bound one (port 0
    // resolved).
    let Some(address) = host.listen_address().map(str::to_owned) else {
        host.shutdown().await;
        return Err("the host started without its listener".into());
    };
    let stop = match StopSignal::install() {
        Ok(stop) => stop,
        Err(e) => {
            host.shutdown().await;
            return Err(e);
        }
    };
    tracing::info!(actors = ?host.actor_ids(), "serving");
    println!("listening on {address}");
    let _ = std::io::stdout().flush();
    let serving = std::time::Instant::now();
    stop.wait().await;
    // How the driver's one lock was used (BENCHMARKS.md, "The driver's lock").
    let lock = host.driver().stats().await.lock;
    tracing::info!(
        "driver lock over {:.3} s of serving: {lock}",
        serving.elapsed().as_secs_f64()
    );
    tracing::info!("stopping");
    host.shutdown().await;
    Ok(())
}

/// Raises the soft limit on open file descriptors (RLIMIT_NOFILE) to the hard one: every
/// connection is a descriptor, and the soft limit is often 1024 where the hard one allows tens
/// of thousands. A failure is logged, not fatal (the server still runs within the old limit).
fn raise_fd_limit() {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, getrlimit, setrlimit};
        let limit = getrlimit(Resource::Nofile);
        if limit.current.is_some() && limit.current != limit.maximum {
            let raised = rustix::process::Rlimit {
                current: limit.maximum,
                maximum: limit.maximum,
            };
            match setrlimit(Resource::Nofile, raised) {
                Ok(()) => tracing::debug!(
                    from = ?limit.current,
                    to = ?limit.maximum,
                    "raised the open file limit"
                ),
                Err(e) => tracing::warn!(
                    soft = ?limit.current,
                    hard = ?limit.maximum,
                    "cannot raise the open file limit: {e}"
                ),
            }
        }
    }
}

/// Ctrl-C (SIGINT), or SIGTERM on Unix. The handlers are installed when this is created, so
/// create it before announcing readiness: a signal that arrives after `listening on` then
/// always stops the host gracefully instead of killing the process.
struct StopSignal {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl StopSignal {
    fn install() -> Result<StopSignal, String> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let install = |kind| signal(kind).map_err(|e| format!("cannot handle signals: {e}"));
            Ok(StopSignal {
                interrupt: install(SignalKind::interrupt())?,
                terminate: install(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(StopSignal {})
        }
    }

    async fn wait(mut self) {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => {}
                _ = self.terminate.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
