//! An acceptor hands every connection to a worker actor (`transfer` and `transfer-async`),
//! through a real Theater runtime, with many concurrent clients.

mod support;

use support::*;
use theater::config::actor_manifest::TcpHandlerConfig;
use theater_tcp_handler::TcpHandler;

const CLIENTS: usize = 120;

async fn acceptor_hands_every_client_to_the_worker(how: &str) {
    let theater = Theater::start(TcpHandler::new(TcpHandlerConfig::default())).await;
    // The worker: an active echo, started with the server-level config (no manifest).
    let worker = theater
        .spawn("worker", actor("echo"), state("active"), None)
        .await;
    let (_acceptor, addr) = theater
        .spawn_listening(
            "acceptor",
            actor("acceptor"),
            state(&format!("{how}:{}", worker.id)),
        )
        .await;

    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            tokio::spawn(async move {
                let data = random_bytes(8 * 1024, i as u64 + 1);
                let back = echo_through(addr, &data).await;
                assert!(back == data, "client {i}: the echo differs");
            })
        })
        .collect();
    for client in clients {
        client.await.expect("client");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_serves_120_concurrent_clients_through_the_worker() {
    acceptor_hands_every_client_to_the_worker("sync").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_async_serves_120_concurrent_clients_through_the_worker() {
    acceptor_hands_every_client_to_the_worker("async").await;
}
