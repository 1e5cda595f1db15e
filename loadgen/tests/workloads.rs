//! The load generator's parsing, report and every workload, tiny, against the raw echo server
//! in this process.

use clap::Parser;
use std::time::Duration;
use theater_tcp_loadgen::cli::{Cli, Command};
use theater_tcp_loadgen::compare::{self, Context, Metric, Plan, Results, Server};
use theater_tcp_loadgen::limits::{self, FdLimit};
use theater_tcp_loadgen::server::{hop_echo, raw_echo};
use theater_tcp_loadgen::tls::Certificate;
use theater_tcp_loadgen::workload::{self, ScaleOptions, Target};

fn compare_args(args: &[&str]) -> theater_tcp_loadgen::cli::CompareArgs {
    let cli = Cli::try_parse_from(
        std::iter::once("theater-tcp-loadgen")
            .chain(std::iter::once("compare"))
            .chain(args.iter().copied()),
    )
    .unwrap();
    match cli.command {
        Command::Compare(args) => args,
        other => panic!("not compare: {other:?}"),
    }
}

#[test]
fn parsing() {
    assert_eq!(compare_args(&[]).plan(), Plan::full());
    assert_eq!(compare_args(&["--quick"]).plan(), Plan::quick());
    let plan = compare_args(&["--quick", "--rounds", "3", "--bulk-mib", "10"]).plan();
    assert_eq!((plan.rounds, plan.bulk_mib, plan.tls_bulk_mib), (3, 10, 5));
    let args = compare_args(&["--no-erlang", "--out", "B.md", "--idle-connections", "7"]);
    assert!(args.no_erlang);
    assert_eq!(args.out.as_deref(), Some(std::path::Path::new("B.md")));
    assert_eq!(args.plan().idle_connections, 7);
    assert!(Cli::try_parse_from(["theater-tcp-loadgen", "compare", "--rounds", "0"]).is_err());
    assert!(Cli::try_parse_from(["theater-tcp-loadgen", "compare", "--bogus"]).is_err());
    // --cert needs --key.
    assert!(Cli::try_parse_from(["theater-tcp-loadgen", "echo-server", "--cert", "c"]).is_err());
    let cli = Cli::try_parse_from(["theater-tcp-loadgen", "echo-server"]).unwrap();
    match cli.command {
        Command::EchoServer(args) => assert_eq!(args.listen, "127.0.0.1:0"),
        other => panic!("not echo-server: {other:?}"),
    }
}

#[test]
fn summary_and_report() {
    assert_eq!(compare::summary(&[]), None);
    assert_eq!(compare::summary(&[3.0, 1.0, 2.0]), Some((2.0, 1.0, 3.0)));
    assert_eq!(compare::summary(&[4.0, 1.0]), Some((2.5, 1.0, 4.0)));
    let mut results = Results::default();
    for (ours, raw, erlang) in [
        (95.0, 100.0, 90.0),
        (80.0, 100.0, 90.0),
        (99.0, 100.0, 90.0),
    ] {
        results.push(Metric::Bulk, Server::Ours, ours);
        results.push(Metric::Bulk, Server::Raw, raw);
        results.push(Metric::Bulk, Server::Erlang, erlang);
    }
    results.push(Metric::IdleMemory, Server::Ours, 12.0);
    results.push(Metric::IdleMemory, Server::Raw, 10.0);
    assert_eq!(
        results.ratios(Metric::Bulk, Server::Raw),
        vec![0.95, 0.8, 0.99]
    );
    assert_eq!(
        compare::missed_targets(&results, Metric::Bulk),
        Some(vec![])
    );
    assert_eq!(
        compare::missed_targets(&results, Metric::IdleMemory).map(|m| m.len()),
        Some(1)
    );
    assert_eq!(
        compare::missed_targets(&results, Metric::PingPong1P50),
        None
    );
    let context = Context {
        command: "theater-tcp-loadgen compare".into(),
        machine: compare::machine(),
        date: "today".into(),
        release: true,
        erlang_note: None,
    };
    let report = compare::render(&Plan::full(), &results, &context);
    assert!(report.contains("| bulk echo, 256 MiB, 1 connection | MiB/s ↑ | 95.0 (80.0-99.0) | 100 | 90.0 | 0.95 (0.80-0.99) | 1.06 (0.89-1.10) | met |"), "{report}");
    assert!(report.contains("idle memory per connection"), "{report}");
    assert!(
        report.contains("**missed**: 1.20 × raw tokio > 1"),
        "{report}"
    );
    assert!(report.contains("cores"), "{report}");
    assert!(
        report.contains("Short of the targets in this run:\n- idle memory"),
        "{report}"
    );
    let quick = compare::render(&Plan::quick(), &results, &context);
    assert!(quick.contains("No verdict"), "{quick}");
    assert!(!quick.contains("Short of the targets"), "{quick}");
}

async fn raw_server(tls: Option<&Certificate>) -> Target {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let acceptor = tls.map(|c| c.acceptor().unwrap());
    tokio::spawn(raw_echo(listener, acceptor));
    Target {
        address,
        tls: tls.map(|c| c.connector().unwrap()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_workload_against_raw_echo() {
    let target = raw_server(None).await;
    assert!(workload::bulk(&target, 3 << 20).await.unwrap() > 0.0);
    let one = workload::ping_pong(&target, 1, 50).await.unwrap();
    assert!(one.round_trips_per_second > 0.0 && one.p50_us <= one.p99_us);
    let many = workload::ping_pong(&target, 8, 5).await.unwrap();
    assert!(many.round_trips_per_second > 0.0 && many.p50_us <= many.p99_us);
    assert!(workload::churn(&target, 4, 20).await.unwrap() > 0.0);
    let pid = std::process::id();
    assert!(workload::rss_kib(pid).unwrap() > 0);
    let idle = workload::idle_memory(&target, pid, 20, Duration::from_millis(10))
        .await
        .unwrap();
    assert!(idle >= 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hop_echo_serves_every_plain_workload() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = Target::plain(listener.local_addr().unwrap());
    tokio::spawn(hop_echo(listener));
    assert!(workload::bulk(&target, 3 << 20).await.unwrap() > 0.0);
    // Several chunks are in flight through the actor task at once: every byte comes back, in
    // order (a counter pattern, so a reordered or repeated chunk shows).
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let sent: Vec<u8> = (0..(1u32 << 19)).flat_map(u32::to_le_bytes).collect();
    let stream = tokio::net::TcpStream::connect(target.address)
        .await
        .unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let to_send = sent.clone();
    let writing = tokio::spawn(async move {
        writer.write_all(&to_send).await.unwrap();
        writer.shutdown().await.unwrap();
    });
    let mut echoed = Vec::new();
    reader.read_to_end(&mut echoed).await.unwrap();
    writing.await.unwrap();
    assert!(
        echoed == sent,
        "the echo differs ({} of {} bytes)",
        echoed.len(),
        sent.len()
    );
    let many = workload::ping_pong(&target, 8, 5).await.unwrap();
    assert!(many.round_trips_per_second > 0.0 && many.p50_us <= many.p99_us);
    assert!(workload::churn(&target, 4, 20).await.unwrap() > 0.0);
}

#[test]
fn the_hop_echo_is_plain_only() {
    let parse = |args: &[&str]| {
        Cli::try_parse_from(
            ["theater-tcp-loadgen", "echo-server"]
                .iter()
                .chain(args.iter())
                .copied(),
        )
    };
    match parse(&["--hop"]).unwrap().command {
        Command::EchoServer(args) => assert!(args.hop),
        other => panic!("{other:?}"),
    }
    assert!(parse(&["--hop", "--cert", "c.pem", "--key", "k.pem"]).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_workloads_against_raw_tokio_rustls() {
    let certificate = Certificate::self_signed().unwrap();
    let target = raw_server(Some(&certificate)).await;
    assert!(workload::bulk(&target, 1 << 20).await.unwrap() > 0.0);
    assert!(workload::churn(&target, 4, 12).await.unwrap() > 0.0);
}

#[tokio::test]
async fn a_server_that_closes_is_an_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = Target::plain(listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            drop(stream);
        }
    });
    assert!(workload::bulk(&target, 1 << 20).await.is_err());
    assert!(workload::ping_pong(&target, 2, 3).await.is_err());
    assert!(workload::churn(&target, 2, 4).await.is_err());
}

#[test]
fn load_parsing() {
    use theater_tcp_loadgen::cli::WorkloadName;
    let cli = Cli::try_parse_from([
        "theater-tcp-loadgen",
        "load",
        "--address",
        "127.0.0.1:9",
        "--workload",
        "ping-pong",
        "--connections",
        "64",
    ])
    .unwrap();
    match cli.command {
        Command::Load(args) => {
            assert_eq!(args.workload, WorkloadName::PingPong);
            assert_eq!((args.connections(), args.count), (64, 20_000));
        }
        other => panic!("not load: {other:?}"),
    }
    assert!(Cli::try_parse_from(["theater-tcp-loadgen", "load", "--workload", "bulk"]).is_err());
}

#[test]
fn a_run_rewrites_only_the_last_run_section() {
    let previous = "# Benchmarks\n\nnotes\n\n## Last run\n\nold table\n";
    assert_eq!(
        compare::replace_last_run(previous, "new table\n"),
        "# Benchmarks\n\nnotes\n\n## Last run\n\nnew table\n"
    );
    assert_eq!(compare::replace_last_run("", "new\n"), "new\n");
    assert_eq!(compare::replace_last_run("no heading\n", "new\n"), "new\n");
}

fn load_args(args: &[&str]) -> theater_tcp_loadgen::cli::LoadArgs {
    let cli = Cli::try_parse_from(
        ["theater-tcp-loadgen", "load", "--address", "127.0.0.1:9"]
            .into_iter()
            .chain(args.iter().copied()),
    )
    .unwrap();
    match cli.command {
        Command::Load(args) => args,
        other => panic!("not load: {other:?}"),
    }
}

#[test]
fn scale_parsing() {
    // `load`: scale defaults to 10 000 connections, the others to one.
    let scale = load_args(&["--workload", "scale"]);
    assert_eq!(scale.scale_options(), ScaleOptions::default());
    assert_eq!(scale.connections(), 10_000);
    assert_eq!(scale.pid, None);
    assert_eq!(load_args(&["--workload", "ping-pong"]).connections(), 1);
    let scale = load_args(&[
        "--workload",
        "scale",
        "--connections",
        "300",
        "--rate",
        "500",
        "--seconds",
        "2",
        "--pid",
        "42",
    ]);
    let options = scale.scale_options();
    assert_eq!(
        (options.connections, options.rate, options.seconds),
        (300, 500.0, 2.0)
    );
    assert_eq!(options.round_trips_per_connection(), 3);
    assert_eq!(scale.pid, Some(42));
    assert!(
        Cli::try_parse_from([
            "theater-tcp-loadgen",
            "load",
            "--address",
            "127.0.0.1:9",
            "--workload",
            "scale",
            "--connections",
            "0",
        ])
        .is_err()
    );

    // `compare`: the sizes, sorted and without repeats; the rate, duration and rounds.
    let full = Plan::full();
    assert_eq!(full.scale_connections, vec![2_500, 5_000, 10_000]);
    assert!(full.scale_rounds >= 1);
    let quick = Plan::quick();
    assert!(quick.scale_connections.iter().all(|&n| n <= 100));
    let plan = compare_args(&[
        "--scale-connections",
        "10000,2500,5000,2500",
        "--scale-rate",
        "400",
        "--scale-seconds",
        "1.5",
        "--scale-rounds",
        "2",
    ])
    .plan();
    assert_eq!(plan.scale_connections, vec![2_500, 5_000, 10_000]);
    assert_eq!(
        (plan.scale_rate, plan.scale_seconds, plan.scale_rounds),
        (400.0, 1.5, 2)
    );
    assert_eq!(plan.rounds, 5);
    assert_eq!(compare_args(&["--no-scale"]).plan().scale_rounds, 0);
    let only = compare_args(&["--scale-only"]).plan();
    assert_eq!((only.rounds, only.scale_rounds), (0, 3));
    assert!(
        Cli::try_parse_from([
            "theater-tcp-loadgen",
            "compare",
            "--no-scale",
            "--scale-only"
        ])
        .is_err()
    );
    assert!(
        Cli::try_parse_from(["theater-tcp-loadgen", "compare", "--scale-connections", "0"])
            .is_err()
    );
}

#[test]
fn scale_options_reject_bad_input() {
    let good = ScaleOptions {
        connections: 100,
        rate: 1000.0,
        seconds: 1.0,
        connect_concurrency: 8,
    };
    assert_eq!(good.validate(), Ok(()));
    assert_eq!(good.round_trips_per_connection(), 10);
    // Fewer round trips than connections still gives every connection one.
    let few = ScaleOptions { rate: 10.0, ..good };
    assert_eq!(few.round_trips_per_connection(), 1);
    let zero = ScaleOptions {
        connections: 0,
        ..good
    };
    assert!(zero.validate().unwrap_err().contains("at least 1"));
    for rate in [0.0, -5.0, f64::NAN, f64::INFINITY] {
        let bad = ScaleOptions { rate, ..good };
        assert!(bad.validate().unwrap_err().contains("rate"), "{rate}");
    }
    let bad = ScaleOptions {
        seconds: 0.0,
        ..good
    };
    assert!(bad.validate().unwrap_err().contains("duration"));
    let bad = ScaleOptions {
        connect_concurrency: 0,
        ..good
    };
    assert!(bad.validate().is_err());
    // The plan checks every size before any server starts.
    let mut plan = Plan::quick();
    plan.scale_rate = 0.0;
    assert!(plan.check_scale().unwrap_err().contains("rate"));
    plan.scale_rounds = 0;
    assert_eq!(plan.check_scale(), Ok(()));
}

#[test]
fn file_descriptor_limits() {
    let limit = limits::raise_fd_limit();
    // Raising to the hard limit never fails for an unprivileged process.
    assert_eq!(limit.soft, limit.hard);
    assert_eq!(limits::fd_limit(), limit);
    assert_eq!(limits::fd_limit_of(std::process::id()), Ok(limit));
    assert!(limits::open_fds(std::process::id()).unwrap() >= 3);

    let text = "Limit                     Soft Limit           Hard Limit           Units     \n\
                Max cpu time              unlimited            unlimited            seconds   \n\
                Max open files            1024                 20000                files     \n";
    assert_eq!(
        limits::parse_limits(text),
        Some(FdLimit {
            soft: Some(1024),
            hard: Some(20_000)
        })
    );
    assert_eq!(
        limits::parse_limits(
            "Max open files            unlimited            unlimited            files\n"
        ),
        Some(FdLimit {
            soft: None,
            hard: None
        })
    );
    assert_eq!(limits::parse_limits("Max processes 5 5\n"), None);

    let small = FdLimit {
        soft: Some(1024),
        hard: Some(20_000),
    };
    assert_eq!(limits::room("x", small, 10, 900), Ok(()));
    let error = limits::room("the server (process 7)", small, 10, 10_000).unwrap_err();
    assert!(error.contains("10000 connections"), "{error}");
    assert!(error.contains("the server (process 7)"), "{error}");
    assert!(
        error.contains("limit is 1024 (soft; hard 20000)"),
        "{error}"
    );
    assert!(error.contains("at most 950 connections"), "{error}");
    let unlimited = FdLimit {
        soft: None,
        hard: None,
    };
    assert_eq!(limits::room("x", unlimited, 10, 1_000_000), Ok(()));

    // More connections than this process may open: a clear error before connecting anywhere.
    let too_many = match limit.soft {
        Some(soft) => soft as usize + 1,
        None => return,
    };
    let error = limits::check_room(too_many, None).unwrap_err();
    assert!(
        error.contains("open files in the load generator"),
        "{error}"
    );
    let mut plan = Plan::quick();
    plan.scale_connections = vec![10, too_many];
    assert!(plan.check_scale().unwrap_err().contains("open files"));
}

#[test]
fn cpu_ticks_of_a_stat_line() {
    // Fields 14 and 15 (utime 250, stime 36), after a command name with spaces and a ')'.
    let stat =
        "1234 (my (odd) prog) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 36 0 0 20 0 3 0 99 1000 50";
    assert_eq!(workload::parse_cpu_ticks(stat), Some(286));
    assert_eq!(workload::parse_cpu_ticks("1234 (x) S 1 2"), None);
    // This process has used some CPU, and it only grows.
    let pid = std::process::id();
    let before = workload::cpu_seconds(pid).unwrap();
    let mut x = 0u64;
    for i in 0..20_000_000u64 {
        x = x.wrapping_mul(31).wrapping_add(i);
    }
    std::hint::black_box(x);
    assert!(workload::cpu_seconds(pid).unwrap() >= before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_against_raw_echo() {
    let target = raw_server(None).await;
    let options = ScaleOptions {
        connections: 60,
        rate: 3000.0,
        seconds: 0.2,
        connect_concurrency: 8,
    };
    let pid = std::process::id();
    let run = workload::scale(&target, &options, Some(pid)).await.unwrap();
    assert_eq!(run.connections, 60);
    assert_eq!(run.round_trips, 60 * options.round_trips_per_connection());
    assert_eq!(options.round_trips_per_connection(), 10);
    assert!(run.round_trips_per_second > 0.0 && run.p50_us <= run.p99_us);
    assert!(run.memory_kib_per_connection.unwrap() >= 0.0);
    assert!(run.cpu_us_per_round_trip.unwrap() >= 0.0);
    // Without a process id: no memory or CPU, the rest the same.
    let run = workload::scale(&target, &options, None).await.unwrap();
    assert_eq!(run.round_trips, 600);
    assert_eq!(
        (run.memory_kib_per_connection, run.cpu_us_per_round_trip),
        (None, None)
    );
}

/// A server that echoes `echoes` messages on each connection (reads of any size), then closes.
async fn echo_then_close(echoes: usize) -> Target {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = Target::plain(listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut buffer = [0u8; 256];
                for _ in 0..echoes {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if stream.write_all(&buffer[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    target
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_fails_when_the_server_does_not_serve_or_drops_a_connection() {
    let options = ScaleOptions {
        connections: 10,
        rate: 1000.0,
        seconds: 0.05,
        connect_concurrency: 4,
    };
    // Closes at once: not even the first byte comes back.
    let error = workload::scale(&echo_then_close(0).await, &options, None)
        .await
        .unwrap_err();
    assert!(error.contains("scale"), "{error}");
    // Echoes the connection's first byte, then its first round trip, then closes: the second
    // round trip finds the connection lost.
    let error = workload::scale(&echo_then_close(2).await, &options, None)
        .await
        .unwrap_err();
    assert!(error.contains("round trip 2"), "{error}");
    // Nothing listens.
    let closed = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let error = workload::scale(&Target::plain(closed), &options, None)
        .await
        .unwrap_err();
    assert!(error.contains("connect"), "{error}");
    // Bad options are refused before connecting.
    let zero = ScaleOptions {
        connections: 0,
        ..options
    };
    let error = workload::scale(&Target::plain(closed), &zero, None)
        .await
        .unwrap_err();
    assert!(error.contains("at least 1"), "{error}");
}

fn scale_run(connections: usize, memory: f64, cpu: f64) -> workload::Scale {
    workload::Scale {
        connections,
        round_trips: 1000,
        connect_seconds: 0.5,
        round_trips_per_second: 10_000.0,
        p50_us: 80.0,
        p99_us: 900.0,
        memory_kib_per_connection: Some(memory),
        cpu_us_per_round_trip: Some(cpu),
    }
}

#[test]
fn scale_report_and_linearity() {
    let mut plan = Plan::full();
    plan.rounds = 0;
    let mut results = Results::default();
    for (ours_memory, ours_cpu) in [(10.0, 12.0), (12.0, 14.0)] {
        results.push_scale(Server::Ours, &scale_run(2_500, ours_memory, ours_cpu));
        results.push_scale(Server::Ours, &scale_run(5_000, 10.5, 12.5));
        // Memory per connection grows by a half from 2500 to 10000: not linear.
        results.push_scale(
            Server::Ours,
            &scale_run(10_000, ours_memory * 1.5, ours_cpu),
        );
        results.push_scale(Server::Raw, &scale_run(2_500, 20.0, 6.0));
        results.push_scale(Server::Raw, &scale_run(5_000, 20.0, 6.0));
        results.push_scale(Server::Raw, &scale_run(10_000, 21.0, 7.0));
    }
    assert_eq!(
        results.get_scale(10_000, compare::ScaleMeasure::Memory, Server::Ours),
        &[15.0, 18.0]
    );
    assert_eq!(
        results.growth(
            &plan.scale_connections,
            compare::ScaleMeasure::Memory,
            Server::Raw
        ),
        Some(1.05)
    );
    let context = Context {
        command: "theater-tcp-loadgen compare --scale-only".into(),
        machine: compare::machine(),
        date: "today".into(),
        release: true,
        erlang_note: None,
    };
    let report = compare::render(&plan, &results, &context);
    assert!(report.contains(compare::SCALE_HEADING), "{report}");
    // No main table when it did not run.
    assert!(!report.contains("bulk echo"), "{report}");
    assert!(
        report.contains("| 10000 | server memory per connection | KiB ↓ | 16.5 (15.0-18.0) | 21.0 | - | 0.79 (0.71-0.86) | - |"),
        "{report}"
    );
    assert!(
        report.contains("|  | server CPU per round trip | µs ↓ | 13.0 (12.0-14.0) | 7.00 |"),
        "{report}"
    );
    assert!(
        report.contains("cost at 10000 connections / cost at 2500"),
        "{report}"
    );
    assert!(
        report.contains("| ours | 1.50 | 1.00 | **not linear**: memory × 1.50 |"),
        "{report}"
    );
    assert!(
        report.contains("| raw tokio | 1.05 | 1.17 | linear |"),
        "{report}"
    );
    assert!(!report.contains("\n| Erlang |"), "{report}");
    assert!(!report.contains("No verdict"), "{report}");
    // Not optimised: the table, no verdict.
    let unoptimised = Context {
        release: false,
        ..context.clone()
    };
    let report = compare::render(&plan, &results, &unoptimised);
    assert!(report.contains("| ours | 1.50 | 1.00 | - |"), "{report}");
    assert!(report.contains("No verdict"), "{report}");
    // One size: no linearity.
    plan.scale_connections = vec![10_000];
    let report = compare::render(&plan, &results, &context);
    assert!(
        report.contains("needs at least two connection counts"),
        "{report}"
    );
    // Left out: no scale part.
    plan.scale_rounds = 0;
    plan.rounds = 5;
    let report = compare::render(&plan, &results, &context);
    assert!(!report.contains(compare::SCALE_HEADING), "{report}");
}

#[tokio::test]
async fn waiting_for_a_quiet_server_that_is_gone_is_an_error() {
    // Pid 0 has no /proc entry (it is no process).
    let gone = workload::quiesce(0, Duration::from_secs(1)).await;
    assert!(gone.unwrap_err().contains("/proc/0/stat"));
}
