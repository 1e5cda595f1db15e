//! Actors handing connections to each other, on real sockets: an acceptor that transfers every
//! connection to a worker under 200 concurrent clients, an actor that traps while a connection
//! it transferred keeps streaming, and an actor that connects out.

use theater_tcp_adapter::ActorStatus;
use theater_tcp_tests::{
    address, assert_same_bytes, connect, echo_exchange, guard, listening, random_bytes,
    read_exactly, start,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// 200 clients at once, each with its own bytes: the acceptor transfers each connection to the
/// worker, which echoes; every client gets exactly its own bytes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acceptor_and_worker_serve_200_concurrent_clients() {
    let mut config = listening();
    config.backlog = 256;
    let host = start(config, &[("acceptor", "acceptor"), ("worker", "worker")]).await;
    let addr = address(&host);
    let mut clients = Vec::new();
    for i in 0..200u64 {
        clients.push(tokio::spawn(async move {
            let data = random_bytes(4096 + i as usize * 13, 1000 + i);
            let stream = connect(addr).await;
            echo_exchange(&format!("client {i}"), stream, &data).await;
        }));
    }
    for (i, client) in clients.into_iter().enumerate() {
        if let Err(e) = guard("client", client).await {
            panic!("client {i} failed: {e}");
        }
    }
    assert_eq!(host.actor_status("acceptor"), Some(ActorStatus::Running));
    assert_eq!(host.actor_status("worker"), Some(ActorStatus::Running));
    host.shutdown().await;
}

/// The trapper transfers one connection to the worker, keeps another, and traps: it loses its
/// own connection and stops, while the transferred one keeps streaming byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trapping_actor_loses_only_its_own_connections() {
    let host = start(listening(), &[("trapper", "trapper"), ("worker", "worker")]).await;
    let addr = address(&host);

    // Moved to the worker: the trapper answers "moving" and transfers.
    let mut moved = connect(addr).await;
    moved.write_all(b"worker\n").await.expect("ask for a move");
    assert_eq!(read_exactly("moving", &mut moved, 7).await, b"moving\n");
    let before = random_bytes(64 * 1024, 21);
    moved
        .write_all(&before)
        .await
        .expect("stream before the trap");
    let echoed = read_exactly("echo before the trap", &mut moved, before.len()).await;
    assert_same_bytes("worker echo before the trap", &echoed, &before);

    // Kept by the trapper: it echoes, then traps on "trap".
    let mut kept = connect(addr).await;
    kept.write_all(b"hello").await.expect("hello");
    assert_eq!(read_exactly("trapper echo", &mut kept, 5).await, b"hello");
    kept.write_all(b"trap").await.expect("trap");
    let mut rest = Vec::new();
    // The trapper's connection ends (FIN or reset), with nothing echoed.
    let ended = guard("trapper's connection ends", kept.read_to_end(&mut rest)).await;
    assert!(
        rest.is_empty(),
        "bytes after the trap: {rest:?} ({ended:?})"
    );
    match guard("trapper stops", host.wait_stopped("trapper")).await {
        ActorStatus::Stopped { reason } => {
            assert!(reason.contains("trap"), "stop reason: {reason}")
        }
        ActorStatus::Running => panic!("the trapper still runs"),
    }
    assert!(
        host.logs()
            .iter()
            .any(|(actor, msg)| actor == "trapper" && msg == "trapper: trapping on purpose"),
        "the trapper's log line is missing: {:?}",
        host.logs()
    );

    // The worker's connection is untouched: 1 MiB more, byte for byte, then a clean end.
    assert_eq!(host.actor_status("worker"), Some(ActorStatus::Running));
    let after = random_bytes(1024 * 1024, 22);
    echo_exchange("worker echo after the trap", moved, &after).await;
    host.shutdown().await;
}

/// The client actor connects out (to a server of this test), says hello, and reports and logs
/// the answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_actor_connects_out_and_reads_the_reply() {
    let server = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let server_addr = server.local_addr().expect("server address");
    let serving = tokio::spawn(async move {
        let (stream, peer) = server.accept().await?;
        let mut lines = BufReader::new(stream);
        let mut hello = String::new();
        lines.read_line(&mut hello).await?;
        lines
            .get_mut()
            .write_all(format!("welcome {}\n", hello.trim_end()).as_bytes())
            .await?;
        Ok::<_, std::io::Error>(peer)
    });

    let host = start(listening(), &[("client", "client")]).await;
    let mut control = connect(address(&host)).await;
    control
        .write_all(format!("{server_addr}\n").as_bytes())
        .await
        .expect("send the address");
    let mut report = String::new();
    guard("report", control.read_to_string(&mut report))
        .await
        .expect("read the report");
    assert_eq!(report, "got: welcome hello from wasm\n");
    let peer = guard("server", serving)
        .await
        .expect("server task")
        .expect("server");
    assert!(peer.ip().is_loopback(), "connected from {peer}");
    let line = format!("client: {server_addr} answered: welcome hello from wasm");
    assert!(
        host.logs().contains(&("client".to_owned(), line.clone())),
        "no log line {line:?} in {:?}",
        host.logs()
    );
    host.shutdown().await;
}
