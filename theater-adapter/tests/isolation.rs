//! A failing actor is stopped and only its own connections and listeners close; a failing
//! callback closes only its connection. Uses `tests/actors/probe.wat` (see its header).

use std::time::Duration;
use theater_tcp_adapter::{ActorSpec, ActorStatus, Host, Limits};
use theater_tcp_core::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn probe_component() -> Vec<u8> {
    let mut module = wat::parse_str(include_str!("actors/probe.wat")).expect("probe.wat parses");
    let mut resolve = wit_parser::Resolve::default();
    let package = resolve
        .push_str("probe.wit", include_str!("actors/probe.wit"))
        .expect("probe.wit parses");
    let world = resolve
        .select_world(&[package], Some("probe"))
        .expect("world");
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )
    .expect("embed");
    wit_component::ComponentEncoder::default()
        .module(&module)
        .expect("module")
        .validate(true)
        .encode()
        .expect("encode")
}

/// Two probe actors, `a` and `b`, each listening on its own port; returns their addresses.
async fn two_probes(limits: Limits) -> (Host, String, String) {
    let component = probe_component();
    let actors = ["a", "b"]
        .iter()
        .map(|id| ActorSpec {
            id: (*id).into(),
            component: component.clone(),
        })
        .collect();
    let host = Host::start(Config::default(), limits, actors)
        .await
        .expect("the host starts");
    let logs = host.logs();
    let address = |actor: &str| {
        logs.iter()
            .find(|(a, _)| a == actor)
            .map(|(_, line)| line.clone())
            .unwrap_or_else(|| panic!("{actor} logged no address: {logs:?}"))
    };
    let (a, b) = (address("a"), address("b"));
    (host, a, b)
}

async fn round_trip(stream: &mut TcpStream, message: &[u8]) {
    stream.write_all(message).await.expect("write");
    let mut back = vec![0u8; message.len()];
    tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut back))
        .await
        .expect("echo within 10 s")
        .expect("echo");
    assert_eq!(back, message);
}

/// Reads until the peer ends the stream (FIN or RST).
async fn ends(stream: &mut TcpStream) {
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest))
        .await
        .expect("the connection ends within 10 s");
    assert!(matches!(read, Ok(0)) || read.is_err(), "got {read:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trapping_actor_is_stopped_and_the_other_keeps_working() {
    let (host, a, b) = two_probes(Limits::default()).await;
    let mut to_a = TcpStream::connect(&a).await.expect("connect a");
    let mut to_b = TcpStream::connect(&b).await.expect("connect b");
    round_trip(&mut to_a, b"hello a").await;
    round_trip(&mut to_b, b"hello b").await;

    to_a.write_all(b"!trap").await.expect("write");
    let status = tokio::time::timeout(Duration::from_secs(10), host.wait_stopped("a"))
        .await
        .expect("a stops within 10 s");
    let ActorStatus::Stopped { reason } = status else {
        panic!("a is still running");
    };
    assert!(reason.contains("trapped in on-data"), "{reason}");
    assert_eq!(
        host.actor_status("a"),
        Some(ActorStatus::Stopped { reason })
    );

    // Exactly a's objects are gone: its connection ends and its listener is closed ...
    ends(&mut to_a).await;
    // The listener's socket closes in its own task, asynchronously to the connection's FIN:
    // connects are refused once it has (the timeout is only a hang guard).
    tokio::time::timeout(Duration::from_secs(10), async {
        while TcpStream::connect(&a).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("a's listener closes");
    // ... while b's connection and listener work on.
    assert_eq!(host.actor_status("b"), Some(ActorStatus::Running));
    round_trip(&mut to_b, b"still here").await;
    let mut again = TcpStream::connect(&b).await.expect("connect b again");
    round_trip(&mut again, b"new connection").await;
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_callback_closes_only_its_connection() {
    let (host, a, _b) = two_probes(Limits::default()).await;
    let mut first = TcpStream::connect(&a).await.expect("connect");
    let mut second = TcpStream::connect(&a).await.expect("connect");
    round_trip(&mut first, b"one").await;
    round_trip(&mut second, b"two").await;

    first.write_all(b"?no").await.expect("write");
    ends(&mut first).await;
    assert_eq!(host.actor_status("a"), Some(ActorStatus::Running));
    round_trip(&mut second, b"two again").await;
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_that_runs_past_its_time_budget_stops_its_actor() {
    let limits = Limits {
        callback_time_ms: Some(200),
        ..Limits::default()
    };
    let (host, a, b) = two_probes(limits).await;
    let mut to_a = TcpStream::connect(&a).await.expect("connect a");
    let mut to_b = TcpStream::connect(&b).await.expect("connect b");
    round_trip(&mut to_a, b"hi").await;
    to_a.write_all(b"@spin").await.expect("write");
    let status = tokio::time::timeout(Duration::from_secs(10), host.wait_stopped("a"))
        .await
        .expect("a stops within 10 s");
    let ActorStatus::Stopped { reason } = status else {
        panic!("a is still running");
    };
    assert!(reason.contains("time budget"), "{reason}");
    ends(&mut to_a).await;
    round_trip(&mut to_b, b"b is fine").await;
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuel_exhaustion_stops_the_actor() {
    let limits = Limits {
        fuel_per_callback: Some(100_000),
        callback_time_ms: None,
        ..Limits::default()
    };
    let (host, a, b) = two_probes(limits).await;
    let mut to_a = TcpStream::connect(&a).await.expect("connect a");
    let mut to_b = TcpStream::connect(&b).await.expect("connect b");
    // An ordinary callback fits in its fuel.
    round_trip(&mut to_a, b"small").await;
    to_a.write_all(b"@spin").await.expect("write");
    let status = tokio::time::timeout(Duration::from_secs(10), host.wait_stopped("a"))
        .await
        .expect("a stops within 10 s");
    assert!(
        matches!(&status, ActorStatus::Stopped { reason } if reason.contains("fuel")),
        "{status:?}"
    );
    round_trip(&mut to_b, b"b is fine").await;
    host.shutdown().await;
}

/// The same request (grow memory by 128 MiB) succeeds under a large memory limit and stops the
/// actor under a small one: the difference is the host's limit alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_limit_refuses_growth_beyond_it() {
    let roomy = Limits {
        max_memory_bytes: 512 * 1024 * 1024,
        ..Limits::default()
    };
    let (host, a, _) = two_probes(roomy).await;
    let mut to_a = TcpStream::connect(&a).await.expect("connect a");
    round_trip(&mut to_a, b"#grow within the limit").await;
    assert_eq!(host.actor_status("a"), Some(ActorStatus::Running));
    host.shutdown().await;

    let tight = Limits {
        max_memory_bytes: 64 * 1024 * 1024,
        ..Limits::default()
    };
    let (host, a, b) = two_probes(tight).await;
    let mut to_a = TcpStream::connect(&a).await.expect("connect a");
    let mut to_b = TcpStream::connect(&b).await.expect("connect b");
    to_a.write_all(b"#grow past the limit")
        .await
        .expect("write");
    let status = tokio::time::timeout(Duration::from_secs(10), host.wait_stopped("a"))
        .await
        .expect("a stops within 10 s");
    assert!(matches!(status, ActorStatus::Stopped { .. }), "{status:?}");
    ends(&mut to_a).await;
    round_trip(&mut to_b, b"b is fine").await;
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_log_lines_are_kept_per_actor() {
    let (host, a, b) = two_probes(Limits::default()).await;
    let logs = host.logs();
    // The two inits run concurrently, each in its actor's task: one line each, any order.
    assert_eq!(logs.len(), 2, "{logs:?}");
    assert!(logs.contains(&("a".to_owned(), a.clone())), "{logs:?}");
    assert!(logs.contains(&("b".to_owned(), b.clone())), "{logs:?}");
    assert_ne!(a, b);
    host.shutdown().await;
}
