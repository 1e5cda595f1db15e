//! The same guests under the original handler (crates.io theater-handler-tcp 0.3.22) and
//! ours, each in its own real Theater runtime: where the original is correct, an actor sees
//! the same results and the chain records the same events; where it is broken (listener
//! registry, `once` re-arm), ours behaves per SEMANTICS.
//!
//! The original ignores the manifest's `listen`, so these actors listen themselves from
//! `init` (state `role@address`).

mod support;

use std::time::Duration;
use support::*;
use theater::config::actor_manifest::TcpHandlerConfig;
use theater::handler::Handler;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn ours() -> theater_tcp_handler::TcpHandler {
    theater_tcp_handler::TcpHandler::new(TcpHandlerConfig::default())
}

fn original() -> theater_handler_tcp::TcpHandler {
    theater_handler_tcp::TcpHandler::new(TcpHandlerConfig::default())
}

/// Starts `handler` in a Theater of its own and spawns the guest `guest` (also its name), which
/// listens from `init` as `role@127.0.0.1:PORT`; returns the Theater (keep it alive), the
/// spawned actor and the port.
async fn self_listening<H: Handler>(
    handler: H,
    guest: &str,
    role: &str,
) -> (Theater, Spawned, u16) {
    let theater = Theater::start(handler).await;
    let port = free_port();
    let spawned = theater
        .spawn(
            guest,
            actor(guest),
            state(&format!("{role}@127.0.0.1:{port}")),
            None,
        )
        .await;
    (theater, spawned, port)
}

/// What one probe session shows: the answers, and the tcp events of the chain.
async fn probe_session<H: Handler>(handler: H, commands: &[&str]) -> (Vec<String>, Vec<String>) {
    let (_theater, mut spawned, port) = self_listening(handler, "probe", "").await;
    let mut probe = Probe::connect(([127, 0, 0, 1], port).into()).await;
    let mut answers = Vec::new();
    for command in commands {
        answers.push(probe.run(command).await);
    }
    // The last answer's `send` is recorded once its call returned.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let events = event_types(&mut spawned.events)
        .into_iter()
        .filter(|t| t.starts_with("theater:simple/tcp/"))
        .collect();
    (answers, events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn where_the_original_is_correct_a_probe_sees_the_same_answers_and_chain() {
    let commands = [
        "activate nope",
        "set-active nope active",
        "send nope x",
        "receive nope 4",
        "peer-address nope",
        "close nope",
        "transfer nope somebody",
    ];
    let (ours_answers, ours_events) = probe_session(ours(), &commands).await;
    let (original_answers, original_events) = probe_session(original(), &commands).await;
    assert_eq!(ours_answers, original_answers);
    assert!(
        ours_answers.iter().all(|a| a == "err Invalid id: nope"),
        "{ours_answers:?}"
    );
    assert_eq!(ours_events, original_events);
    assert_eq!(
        ours_events.first().map(String::as_str),
        Some("theater:simple/tcp/listen")
    );
    assert_eq!(
        ours_events.len(),
        1 + 2 + 2 * commands.len(),
        "{ours_events:?}"
    );
}

/// A passive echo of `data` under `handler`.
async fn passive_echo<H: Handler>(handler: H, data: &[u8]) -> Vec<u8> {
    let (_theater, _, port) = self_listening(handler, "echo", "passive").await;
    echo_through(([127, 0, 0, 1], port).into(), data).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passive_echo_returns_the_same_bytes_under_both() {
    let data = random_bytes(256 * 1024, 0xd1ff);
    let ours = passive_echo(ours(), &data).await;
    let original = passive_echo(original(), &data).await;
    assert!(ours == data, "ours differs from what was sent");
    assert!(original == ours, "the original differs from ours");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn where_the_original_is_broken_ours_follows_semantics() {
    // The original never registers a listener: close-listener (and accept) fail.
    let (_theater, _, control) = self_listening(original(), "probe", "").await;
    let mut probe = Probe::connect(([127, 0, 0, 1], control).into()).await;
    let listener_port = free_port();
    let listener_id = probe.ok(&format!("listen 127.0.0.1:{listener_port}")).await;
    assert_eq!(
        probe.run(&format!("close-listener {listener_id}")).await,
        format!("err Listener not found: {listener_id}")
    );

    // Ours: the same calls succeed.
    let (_theater, _, control) = self_listening(ours(), "probe", "").await;
    let mut probe = Probe::connect(([127, 0, 0, 1], control).into()).await;
    let listener_id = probe.ok(&format!("listen 127.0.0.1:{}", free_port())).await;
    probe.ok(&format!("close-listener {listener_id}")).await;

    // `once` re-armed from inside on-data: ours echoes every chunk; the original's read loop
    // ends after the first chunk, so later bytes never come back.
    let (_theater, _, port) = self_listening(original(), "echo", "once").await;
    let mut client = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    client.write_all(b"first").await.expect("write");
    let mut buf = [0u8; 5];
    tokio::time::timeout(STEP, client.read_exact(&mut buf))
        .await
        .expect("first echo")
        .expect("read");
    tokio::time::sleep(Duration::from_millis(200)).await;
    client.write_all(b"again").await.expect("write");
    let second = tokio::time::timeout(Duration::from_secs(2), client.read_exact(&mut buf)).await;
    let original_rearmed = matches!(second, Ok(Ok(_)));

    let (_theater, _, port) = self_listening(ours(), "echo", "once").await;
    let mut client = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    for word in [b"first", b"again", b"third"] {
        client.write_all(word).await.expect("write");
        tokio::time::timeout(STEP, client.read_exact(&mut buf))
            .await
            .expect("echo")
            .expect("read");
        assert_eq!(&buf, word);
    }
    assert!(
        !original_rearmed,
        "the original re-armed once: this test's premise changed"
    );
}
