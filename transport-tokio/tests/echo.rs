//! Bulk data through the driver on real sockets: echo in every data mode and a transfer while
//! the peer streams. The bodies are shared with the simulation crate
//! (`theater_tcp_test_support::scenarios`).

use theater_tcp_core::Config;
use theater_tcp_test_support::scenarios::{self, EchoMode, Setup};
use theater_tcp_tokio::{Driver, DriverHandle, TokioNetwork};

const MIB: usize = 1024 * 1024;

fn driver() -> DriverHandle {
    match Driver::start(Config::default(), TokioNetwork) {
        Ok(d) => d,
        Err(e) => panic!("driver did not start: {e}"),
    }
}

async fn echo(mode: EchoMode) {
    let driver = driver();
    let setup = Setup::loopback(&driver, &TokioNetwork);
    if let Err(e) = scenarios::echo(&setup, mode, 64 * MIB).await {
        panic!("echo in {mode:?} mode: {e}");
    }
}

#[tokio::test]
async fn echo_64_mib_passive() {
    echo(EchoMode::Passive).await;
}

#[tokio::test]
async fn echo_64_mib_active() {
    echo(EchoMode::Active).await;
}

#[tokio::test]
async fn echo_64_mib_once_rearmed_per_chunk() {
    echo(EchoMode::Once).await;
}

#[tokio::test]
async fn echo_64_mib_credit() {
    echo(EchoMode::Credit(4)).await;
}

#[tokio::test]
async fn mode_switches_mid_stream_lose_nothing() {
    echo(EchoMode::Switching).await;
}

#[tokio::test]
async fn transfer_while_the_peer_streams_delivers_every_byte_once_in_order() {
    let driver = driver();
    let setup = Setup::loopback(&driver, &TokioNetwork);
    if let Err(e) = scenarios::transfer_while_streaming(&setup, 16 * MIB).await {
        panic!("transfer: {e}");
    }
}
