//! `theater-tcp-loadgen`: the echo benchmark as a user runs it (see the crate's library).

use clap::Parser;
use std::io::Write;
use std::process::ExitCode;
use theater_tcp_loadgen::cli::{Cli, Command, CompareArgs, EchoServerArgs, LoadArgs, WorkloadName};
use theater_tcp_loadgen::compare::{self, Context, Launch};
use theater_tcp_loadgen::tls::Certificate;
use theater_tcp_loadgen::workload::{self, Target};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Every connection is a file descriptor, in this process and in the echo server it runs;
    // the servers `compare` starts inherit the raised limit. What is still short is reported
    // by the workloads that need more (`limits::check_room`).
    theater_tcp_loadgen::limits::raise_fd_limit();
    let result = match cli.command {
        Command::Compare(args) => run_compare(&args),
        Command::EchoServer(args) => echo_server(&args),
        Command::Load(args) => load(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("theater-tcp-loadgen: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run_compare(args: &CompareArgs) -> Result<(), String> {
    let plan = args.plan();
    let loadgen = std::env::current_exe().map_err(|e| format!("locating this binary: {e}"))?;
    let theater_tcp = match &args.theater_tcp {
        Some(path) => path.clone(),
        None => loadgen.with_file_name("theater-tcp"),
    };
    if !theater_tcp.is_file() {
        return Err(format!(
            "{} does not exist: build it with the same profile (cargo build --release -p theater-tcp-adapter) or pass --theater-tcp",
            theater_tcp.display()
        ));
    }
    let launch = Launch {
        theater_tcp,
        loadgen,
        erlang: !args.no_erlang,
    };
    let (results, erlang_note) = compare::run(&plan, &launch, &mut |step| {
        eprintln!("theater-tcp-loadgen: {step}");
    })?;
    let command = std::iter::once("theater-tcp-loadgen".to_owned())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| "unknown".into());
    let context = Context {
        command,
        machine: compare::machine(),
        date,
        release: !cfg!(debug_assertions),
        erlang_note,
    };
    let report = compare::render(&plan, &results, &context);
    print!("{report}");
    let _ = std::io::stdout().flush();
    if let Some(out) = &args.out {
        let previous = std::fs::read_to_string(out).unwrap_or_default();
        let text = compare::replace_last_run(&previous, &report);
        std::fs::write(out, text).map_err(|e| format!("writing {}: {e}", out.display()))?;
    }
    Ok(())
}

fn echo_server(args: &EchoServerArgs) -> Result<(), String> {
    let tls = match (&args.cert, &args.key) {
        (Some(cert), Some(key)) => Some(Certificate::read_pem(cert, key)?.acceptor()?),
        _ => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the tokio runtime: {e}"))?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .map_err(|e| format!("binding {}: {e}", args.listen))?;
        let address = listener
            .local_addr()
            .map_err(|e| format!("local address: {e}"))?;
        println!("listening on {address}");
        let _ = std::io::stdout().flush();
        if args.hop {
            theater_tcp_loadgen::server::hop_echo(listener).await;
        } else {
            theater_tcp_loadgen::server::raw_echo(listener, tls).await;
        }
        Ok(())
    })
}

fn load(args: &LoadArgs) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the tokio runtime: {e}"))?;
    let target = Target::plain(args.address);
    runtime.block_on(async {
        match args.workload {
            WorkloadName::Bulk => {
                let rate = workload::bulk(&target, args.size << 20).await?;
                println!("bulk: {rate:.0} MiB/s");
            }
            WorkloadName::PingPong => {
                let result = workload::ping_pong(&target, args.connections(), args.count).await?;
                println!(
                    "ping-pong: {:.0} round trips/s, p50 {:.1} µs, p99 {:.1} µs",
                    result.round_trips_per_second, result.p50_us, result.p99_us
                );
            }
            WorkloadName::Churn => {
                let rate = workload::churn(&target, args.connections(), args.count).await?;
                println!("churn: {rate:.0} connections/s");
            }
            WorkloadName::Scale => {
                let options = args.scale_options();
                let result = workload::scale(&target, &options, args.pid).await?;
                println!(
                    "scale: {} connections open at once, {} round trips ({} each) in {:.1} s of connecting and then {:.0} round trips/s, p50 {:.1} µs, p99 {:.1} µs",
                    result.connections,
                    result.round_trips,
                    options.round_trips_per_connection(),
                    result.connect_seconds,
                    result.round_trips_per_second,
                    result.p50_us,
                    result.p99_us
                );
                match (result.memory_kib_per_connection, result.cpu_us_per_round_trip) {
                    (Some(memory), Some(cpu)) => println!(
                        "server (process {}): {memory:.2} KiB per connection, {cpu:.2} µs of CPU per round trip",
                        args.pid.unwrap_or_default()
                    ),
                    _ => println!("server memory and CPU: not measured (give --pid)"),
                }
            }
        }
        Ok(())
    })
}
