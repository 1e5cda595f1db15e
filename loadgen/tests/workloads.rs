//! The load generator's parsing, report and every workload, tiny, against the raw echo server
//! in this process.

use clap::Parser;
use std::time::Duration;
use theater_tcp_loadgen::cli::{Cli, Command};
use theater_tcp_loadgen::compare::{self, Context, Metric, Plan, Results, Server};
use theater_tcp_loadgen::server::raw_echo;
use theater_tcp_loadgen::tls::Certificate;
use theater_tcp_loadgen::workload::{self, Target};

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
            assert_eq!((args.connections, args.count), (64, 20_000));
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
