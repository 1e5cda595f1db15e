//! The built-in echo actor behind the host, over real sockets.

use std::time::Duration;
use theater_tcp_adapter::{ActorSpec, ActorStatus, Host, Limits, builtin_echo_component};
use theater_tcp_core::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Deterministic pseudo-random bytes (xorshift64*).
fn random_bytes(len: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        out.extend_from_slice(&seed.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

async fn echo_host() -> Host {
    let config = Config {
        listen: Some("127.0.0.1:0".into()),
        ..Config::default()
    };
    let echo = ActorSpec {
        id: "echo".into(),
        component: builtin_echo_component().expect("the echo actor builds"),
    };
    Host::start(config, Limits::default(), vec![echo])
        .await
        .expect("the host starts")
}

/// Sends `data` on a fresh connection while reading the echo back; returns what came back.
async fn echo_through(address: &str, data: Vec<u8>) -> Vec<u8> {
    let stream = TcpStream::connect(address).await.expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    let len = data.len();
    let writing = tokio::spawn(async move {
        writer.write_all(&data).await.expect("write");
        writer
    });
    let mut back = vec![0u8; len];
    reader.read_exact(&mut back).await.expect("read the echo");
    let _writer = writing.await.expect("writer task");
    back
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_mebibyte_of_random_bytes_comes_back_byte_for_byte() {
    let host = echo_host().await;
    let address = host.listen_address().expect("listening").to_owned();
    let data = random_bytes(1024 * 1024, 0x9e37_79b9_7f4a_7c15);
    let back = tokio::time::timeout(
        Duration::from_secs(30),
        echo_through(&address, data.clone()),
    )
    .await
    .expect("echo within 30 s");
    assert!(back == data, "the echo differs from what was sent");
    assert_eq!(host.actor_status("echo"), Some(ActorStatus::Running));
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_clients_are_served_at_once_and_closing_one_leaves_the_others() {
    let host = echo_host().await;
    let address = host.listen_address().expect("listening").to_owned();
    let clients: Vec<_> = (0..8u64)
        .map(|i| {
            let address = address.clone();
            tokio::spawn(async move {
                let data = random_bytes(64 * 1024 + i as usize, i + 1);
                assert!(echo_through(&address, data.clone()).await == data);
            })
        })
        .collect();
    for client in clients {
        client.await.expect("client");
    }
    // A closed client does not disturb the actor: a new one is echoed too.
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    stream.write_all(b"still there?").await.expect("write");
    let mut back = [0u8; 12];
    stream.read_exact(&mut back).await.expect("read");
    assert_eq!(&back, b"still there?");
    assert_eq!(host.actor_status("echo"), Some(ActorStatus::Running));
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_the_connections_and_the_listener() {
    let host = echo_host().await;
    let address = host.listen_address().expect("listening").to_owned();
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    stream.write_all(b"ping").await.expect("write");
    let mut back = [0u8; 4];
    stream.read_exact(&mut back).await.expect("read");
    host.shutdown().await;
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest))
        .await
        .expect("the connection ends within 5 s");
    assert!(
        matches!(read, Ok(0)) || read.is_err(),
        "expected end of stream, got {read:?}"
    );
    // The listener's socket closes in its own task: connects are refused once it has (the
    // timeout is only a hang guard).
    tokio::time::timeout(Duration::from_secs(10), async {
        while TcpStream::connect(&address).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the listener closes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_errors_name_the_actor_and_the_step() {
    let not_a_component = ActorSpec {
        id: "broken".into(),
        component: b"\0asm\x01\0\0\0".to_vec(),
    };
    let error = Host::start(Config::default(), Limits::default(), vec![not_a_component])
        .await
        .expect_err("a core module is not a component");
    let text = error.to_string();
    assert!(
        text.contains("actor `broken`") && text.contains("compile"),
        "{text}"
    );

    let echo = || ActorSpec {
        id: "twin".into(),
        component: builtin_echo_component().expect("echo"),
    };
    let error = Host::start(Config::default(), Limits::default(), vec![echo(), echo()])
        .await
        .expect_err("duplicate ids");
    assert!(error.to_string().contains("twin"), "{error}");

    // The listen address is honoured for the first actor; a bad one fails with its name.
    let config = Config {
        listen: Some("203.0.113.1:1".into()),
        ..Config::default()
    };
    let error = Host::start(config, Limits::default(), vec![echo()])
        .await
        .expect_err("cannot bind a foreign address");
    let text = error.to_string();
    assert!(
        text.contains("actor `twin`") && text.contains("listen"),
        "{text}"
    );
}
