//! The echo actor through a real Theater runtime and real sockets, in every data mode.

mod support;

use support::*;
use theater::config::actor_manifest::TcpHandlerConfig;
use theater_tcp_handler::TcpHandler;

async fn one_mib_back_byte_exact(mode: &str) {
    let theater = Theater::start(TcpHandler::new(TcpHandlerConfig::default())).await;
    let (_echo, addr) = theater
        .spawn_listening("echo", actor("echo"), state(mode))
        .await;
    let data = random_bytes(1 << 20, 0x5eed);
    let back = echo_through(addr, &data).await;
    assert!(back == data, "{mode}: the echo differs from what was sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_echo_returns_one_mib_byte_exact() {
    one_mib_back_byte_exact("active").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_echo_rearmed_from_on_data_returns_one_mib_byte_exact() {
    one_mib_back_byte_exact("once").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passive_echo_returns_one_mib_byte_exact() {
    one_mib_back_byte_exact("passive").await;
}
