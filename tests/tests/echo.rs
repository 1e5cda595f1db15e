//! Echo actors (C, compiled to wasm components) on real sockets, against clients nobody here
//! wrote or a plain `TcpStream`: 1 MiB of random bytes must come back byte for byte in every
//! data mode.

use std::process::Stdio;
use theater_tcp_tests::{
    address, assert_same_bytes, connect, echo_exchange, guard, listening, random_bytes, start,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MIB: usize = 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_echo_returns_one_mib_byte_for_byte() {
    let host = start(listening(), &[("echo", "echo_active")]).await;
    let data = random_bytes(MIB, 1);
    echo_exchange("active echo", connect(address(&host)).await, &data).await;
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passive_echo_returns_one_mib_byte_for_byte() {
    let host = start(listening(), &[("echo", "echo_passive")]).await;
    let data = random_bytes(MIB, 2);
    echo_exchange("passive echo", connect(address(&host)).await, &data).await;
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_echo_rearmed_per_chunk_returns_one_mib_byte_for_byte() {
    let host = start(listening(), &[("echo", "echo_once")]).await;
    let data = random_bytes(MIB, 3);
    echo_exchange("once echo", connect(address(&host)).await, &data).await;
    host.shutdown().await;
}

/// Several clients one after another on the same actor: each gets its own bytes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passive_echo_serves_clients_in_turn() {
    let host = start(listening(), &[("echo", "echo_passive")]).await;
    for seed in 10..13 {
        let data = random_bytes(64 * 1024 + seed as usize, seed);
        echo_exchange("passive echo in turn", connect(address(&host)).await, &data).await;
    }
    host.shutdown().await;
}

/// OpenBSD netcat pipes 1 MiB in, half-closes (`-N`) and prints what comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn netcat_gets_one_mib_back_from_the_active_echo() {
    let host = start(listening(), &[("echo", "echo_active")]).await;
    let addr = address(&host);
    let data = random_bytes(MIB, 4);
    let child = tokio::process::Command::new("nc")
        .args(["-N", &addr.ip().to_string(), &addr.port().to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) => {
            panic!("cannot run nc ({e}): run `bash scripts/setup.sh` (installs netcat-openbsd)")
        }
    };
    let mut stdin = child.stdin.take().expect("nc stdin");
    let mut stdout = child.stdout.take().expect("nc stdout");
    let input = data.clone();
    let writer = tokio::spawn(async move {
        stdin.write_all(&input).await?;
        stdin.shutdown().await
    });
    let mut got = Vec::new();
    guard("nc output", stdout.read_to_end(&mut got))
        .await
        .expect("read nc output");
    writer.await.expect("writer task").expect("write to nc");
    let status = guard("nc exit", child.wait())
        .await
        .expect("nc exit status");
    assert!(status.success(), "nc failed: {status}");
    assert_same_bytes("nc echo", &got, &data);
    host.shutdown().await;
}
