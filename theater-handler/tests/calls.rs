//! The probe actor makes calls of theater:simple/tcp from text commands, through a real Theater
//! runtime: listen, accept, activate and close-listener (all broken in the original), bad input
//! getting the documented error and changing nothing else, and the chain events recorded.

mod support;

use std::time::Duration;
use support::*;
use theater::config::actor_manifest::TcpHandlerConfig;
use theater_tcp_handler::TcpHandler;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn theater() -> Theater {
    Theater::start(TcpHandler::new(TcpHandlerConfig::default())).await
}

/// Accepts one client on `listener` through the probe: `accept` waits inside the probe, the
/// client connects, the answer names the pending connection.
async fn accept_one(probe: &mut Probe, listener: &str, port: u16) -> (String, TcpStream) {
    probe.send(&format!("accept {listener}")).await;
    // Give the blocked accept time to reach the handler before the client arrives, so that it,
    // and not handle-connection, receives the connection.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let client = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let answer = probe.answer().await;
    let conn = answer
        .strip_prefix("ok ")
        .unwrap_or_else(|| panic!("accept: {answer}"));
    (conn.to_owned(), client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_accept_activate_then_close_listener_stops_accepting() {
    let theater = theater().await;
    let (_probe, mut probe) = theater.probe("probe").await;

    let (listener, port) = probe.listen_free().await;
    assert!(listener.starts_with("listener-"), "{listener}");

    let (conn, mut client) = accept_one(&mut probe, &listener, port).await;
    assert_eq!(
        probe.run(&format!("send {conn} early")).await,
        format!("err Connection {conn} is pending - call activate() or transfer() first")
    );
    probe.ok(&format!("activate {conn}")).await;
    assert_eq!(
        probe.run(&format!("activate {conn}")).await,
        format!("err Connection {conn} is already active")
    );
    assert_eq!(probe.ok(&format!("send {conn} hello")).await, "5");
    let mut buf = [0u8; 5];
    client.read_exact(&mut buf).await.expect("read");
    assert_eq!(&buf, b"hello");
    client.write_all(b"world").await.expect("write");
    assert_eq!(probe.ok(&format!("receive {conn} 5")).await, "world");
    let peer = probe.ok(&format!("peer-address {conn}")).await;
    assert_eq!(peer, client.local_addr().expect("addr").to_string());

    probe.ok(&format!("close-listener {listener}")).await;
    assert!(
        refuses_soon(("127.0.0.1", port)).await,
        "the closed listener still accepts"
    );
    // The accepted connection is not the listener's: it still works, then closes cleanly.
    assert_eq!(probe.ok(&format!("send {conn} !")).await, "1");
    client.read_exact(&mut buf[..1]).await.expect("read");
    probe.ok(&format!("close {conn}")).await;
    let mut rest = Vec::new();
    tokio::time::timeout(STEP, client.read_to_end(&mut rest))
        .await
        .expect("eof in time")
        .expect("eof");
    assert!(rest.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_accept_gets_the_next_client_and_a_closed_listener_is_gone() {
    let theater = theater().await;
    let (_a, mut probe) = theater.probe("probe-a").await;
    let (listener, port) = probe.listen_free().await;
    let (conn, _client) = accept_one(&mut probe, &listener, port).await;
    assert!(conn.starts_with("conn-"), "{conn}");
    probe.ok(&format!("close-listener {listener}")).await;
    assert_eq!(
        probe.run(&format!("accept {listener}")).await,
        format!("err Listener not found: {listener}")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_the_documented_error_and_changes_nothing() {
    const A: bool = true;
    const B: bool = false;
    let theater = theater().await;
    let (a, mut probe_a) = theater.probe("probe-a").await;
    let (_b, mut probe_b) = theater.probe("probe-b").await;

    let (listener, port) = probe_a.listen_free().await;
    let (conn, mut client) = accept_one(&mut probe_a, &listener, port).await;
    probe_a.ok(&format!("activate {conn}")).await;

    let cases = [
        (
            A,
            "activate nope".to_owned(),
            "err Invalid id: nope".to_owned(),
        ),
        (
            A,
            "close conn-999999".into(),
            "err Connection not found: conn-999999".into(),
        ),
        (
            A,
            "accept listener-999999".into(),
            "err Listener not found: listener-999999".into(),
        ),
        (
            A,
            format!("set-active {conn} sometimes"),
            "err Invalid mode 'sometimes': expected 'passive', 'active', 'once' or a count".into(),
        ),
        (
            A,
            format!("receive {conn} 0"),
            "err max-bytes must be at least 1".into(),
        ),
        (
            A,
            format!("transfer {conn} no-such-actor"),
            "err Actor no-such-actor not found".into(),
        ),
        (
            A,
            format!("transfer-async {conn} no-such-actor"),
            "err Actor no-such-actor not found".into(),
        ),
        (
            A,
            format!("transfer {conn} {}", a.id),
            "err cannot transfer a connection to its own owner".into(),
        ),
        (
            B,
            format!("close {conn}"),
            format!("err Connection {conn} not owned by this actor"),
        ),
        (
            B,
            format!("send {conn} x"),
            format!("err Connection {conn} not owned by this actor"),
        ),
        (
            B,
            format!("close-listener {listener}"),
            format!("err Listener {listener} not owned by this actor"),
        ),
        (
            A,
            "upgrade-to-tls-server conn-999999".into(),
            "err server_tls not configured on this handler".into(),
        ),
    ];
    for (who, command, expected) in cases {
        let probe = if who == A { &mut probe_a } else { &mut probe_b };
        assert_eq!(probe.run(&command).await, expected, "{command}");
    }

    // Nothing changed: the connection still carries bytes both ways, the listener still accepts.
    assert_eq!(probe_a.ok(&format!("send {conn} still")).await, "5");
    let mut buf = [0u8; 5];
    client.read_exact(&mut buf).await.expect("read");
    assert_eq!(&buf, b"still");
    client.write_all(b"here").await.expect("write");
    assert_eq!(probe_a.ok(&format!("receive {conn} 4")).await, "here");
    let (second, _client2) = accept_one(&mut probe_a, &listener, port).await;
    assert_ne!(second, conn);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chain_records_each_call_as_the_original_does() {
    let theater = theater().await;
    let (mut spawned, mut probe) = theater.probe("probe").await;
    let (listener, port) = probe.listen_free().await;
    let (conn, _client) = accept_one(&mut probe, &listener, port).await;
    probe.ok(&format!("activate {conn}")).await;
    probe.ok(&format!("send {conn} x")).await;
    assert!(probe.run("close nope").await.starts_with("err "));
    probe.ok(&format!("close-listener {listener}")).await;

    // Each answer is sent (and its `send` recorded) after the call it answers returned; wait
    // for the last one to be recorded.
    let expected_tail = [
        "listen",
        "send",
        "accept",
        "send",
        "activate",
        "send",
        "send",
        "send",
        "close",
        "send",
        "close-listener",
        "send",
    ];
    let mut tcp: Vec<String> = Vec::new();
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        tcp.extend(
            event_types(&mut spawned.events)
                .into_iter()
                .filter_map(|t| t.strip_prefix("theater:simple/tcp/").map(str::to_owned)),
        );
        if tcp.len() >= expected_tail.len() || tokio::time::Instant::now() > deadline {
            let from = tcp.iter().position(|t| t == "listen").unwrap_or(0);
            if tcp[from..].len() >= expected_tail.len() || tokio::time::Instant::now() > deadline {
                assert_eq!(tcp[from..], expected_tail, "all tcp events: {tcp:?}");
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Before `listen`: only the control connections' activate and set-active.
    let from = tcp.iter().position(|t| t == "listen").unwrap_or(0);
    assert!(
        tcp[..from]
            .chunks(2)
            .all(|pair| pair == ["activate", "set-active"]),
        "{tcp:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_out_sends_and_receives() {
    let theater = theater().await;
    let (_probe, mut probe) = theater.probe("probe").await;
    let server = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = server.local_addr().expect("addr");

    let conn = probe.ok(&format!("connect {addr}")).await;
    let (mut peer, _) = tokio::time::timeout(STEP, server.accept())
        .await
        .expect("accept in time")
        .expect("accept");
    assert_eq!(probe.ok(&format!("send {conn} out")).await, "3");
    let mut buf = [0u8; 3];
    peer.read_exact(&mut buf).await.expect("read");
    assert_eq!(&buf, b"out");
    peer.write_all(b"in").await.expect("write");
    assert_eq!(probe.ok(&format!("receive {conn} 2")).await, "in");
    drop(peer);
    // End of stream in passive mode is an empty receive.
    assert_eq!(probe.ok(&format!("receive {conn} 2")).await, "");
    let refused = probe
        .run(&format!("connect 127.0.0.1:{}", free_port()))
        .await;
    assert!(refused.starts_with("err "), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_active_connection_with_unread_bytes_moves_whole_to_another_actor() {
    let theater = theater().await;
    let worker = theater
        .spawn("worker", actor("echo"), state("active"), None)
        .await;
    let (_probe, mut probe) = theater.probe("probe").await;
    let (listener, port) = probe.listen_free().await;
    let (conn, mut client) = accept_one(&mut probe, &listener, port).await;
    probe.ok(&format!("activate {conn}")).await;
    // Bytes the probe never reads are buffered by the handler when the transfer happens.
    client.write_all(b"unread").await.expect("write");
    tokio::time::sleep(Duration::from_millis(200)).await;
    probe.ok(&format!("transfer {conn} {}", worker.id)).await;
    assert_eq!(
        probe.run(&format!("send {conn} x")).await,
        format!("err Connection {conn} not owned by this actor")
    );
    client.write_all(b" then more").await.expect("write");
    let mut back = [0u8; 16];
    tokio::time::timeout(STEP, client.read_exact(&mut back))
        .await
        .expect("echo in time")
        .expect("read");
    assert_eq!(&back, b"unread then more");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_max_connections_is_enforced() {
    let theater = theater().await;
    let port = free_port();
    theater
        .spawn(
            "probe",
            actor("probe"),
            state(""),
            Some(&format!(
                "listen = \"127.0.0.1:{port}\"\nmax_connections = 2"
            )),
        )
        .await;
    wait_listening(([127, 0, 0, 1], port).into()).await;
    // Let the connection that found the listener close and be released.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut probe = Probe::connect(([127, 0, 0, 1], port).into()).await;
    let server = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = server.local_addr().expect("addr");
    let second = probe.ok(&format!("connect {addr}")).await;
    assert_eq!(
        probe.run(&format!("connect {addr}")).await,
        "err Connection limit reached (2/2)"
    );
    probe.ok(&format!("close {second}")).await;
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        // The closed connection is released after its graceful close.
        let answer = probe.run(&format!("connect {addr}")).await;
        if answer.starts_with("ok conn-") {
            break;
        }
        assert_eq!(answer, "err Connection limit reached (2/2)");
        assert!(tokio::time::Instant::now() < deadline, "never released");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
