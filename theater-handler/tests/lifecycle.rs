//! Actor lifecycle through a real Theater runtime: stopping one actor closes exactly its own
//! connections and listeners (the original's bug #80 wiped every actor's), and ends its
//! waiting calls.

mod support;

use std::time::Duration;
use support::*;
use theater::config::actor_manifest::TcpHandlerConfig;
use theater_tcp_handler::TcpHandler;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_one_actor_leaves_another_actors_stream_untouched() {
    let theater = Theater::start(TcpHandler::new(TcpHandlerConfig::default())).await;
    let (a, addr_a) = theater
        .spawn_listening("echo-a", actor("echo"), state("active"))
        .await;
    let (_b, addr_b) = theater
        .spawn_listening("echo-b", actor("echo"), state("active"))
        .await;

    let mut client_a = TcpStream::connect(addr_a).await.expect("connect a");
    let mut client_b = TcpStream::connect(addr_b).await.expect("connect b");
    let mut buf = [0u8; 4];
    for client in [&mut client_a, &mut client_b] {
        client.write_all(b"ping").await.expect("write");
        tokio::time::timeout(STEP, client.read_exact(&mut buf))
            .await
            .expect("echo")
            .expect("read");
        assert_eq!(&buf, b"ping");
    }

    // B streams while A stops.
    let (mut rd_b, mut wr_b) = client_b.into_split();
    let data = random_bytes(512 * 1024, 0xb);
    let sent = data.clone();
    let writer = tokio::spawn(async move {
        for chunk in sent.chunks(4096) {
            wr_b.write_all(chunk).await.expect("write b");
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        wr_b
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    theater.stop(a.id).await;

    // A's client sees its connection closed gracefully (end of stream, not a reset).
    let mut rest = Vec::new();
    let end = tokio::time::timeout(STEP, client_a.read_to_end(&mut rest))
        .await
        .expect("a closed in time");
    assert!(end.is_ok(), "a's connection was reset: {end:?}");
    // A's listener is gone.
    assert!(refuses_soon(addr_a).await, "a's listener still accepts");

    // B's stream comes back whole.
    let mut back = vec![0u8; data.len()];
    tokio::time::timeout(STEP, rd_b.read_exact(&mut back))
        .await
        .expect("b in time")
        .expect("read b");
    assert!(back == data, "b's echo differs");
    let _wr = writer.await.expect("writer");
    // And B still accepts new clients.
    assert_eq!(echo_through(addr_b, b"after").await, b"after");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_an_actor_blocked_in_accept_ends_the_call_and_its_listener() {
    let theater = Theater::start(TcpHandler::new(TcpHandlerConfig::default())).await;
    let (probe_actor, mut probe) = theater.probe("probe").await;
    let (listener, port) = probe.listen_free().await;
    probe.send(&format!("accept {listener}")).await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    // The stop completes although the actor is inside a blocked host call.
    theater.stop(probe_actor.id).await;
    assert!(
        refuses_soon(("127.0.0.1", port)).await,
        "the listener outlived its actor"
    );
}
