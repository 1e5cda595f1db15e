//! Hostile peers on real sockets: slow TLS handshakes must not keep honest clients out, a
//! flood past `max_connections` must not stop a live stream nor leave anything behind,
//! plaintext or a corrupt record on a TLS port ends only that connection, and an endless stream
//! into a slow `on-data` costs no more than the watermark, and streams into one actor stay
//! within its `max_buffered_bytes_per_actor` while another actor's stream flows.
//!
//! The bounds here are liveness bounds far from every timeout the handler has (the handshake
//! timeout is 10 s): a client that gets through only when the slow peers time out fails them.
//! They are not performance assertions.

use rcgen::{CertificateParams, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
mod support;
use support::{guard, listen, ok, start_on, strict_connector};
use theater_tcp_core::{Config, Exports, ServerTls};
use theater_tcp_tokio::{Caller, DriverHandle, TokioNetwork};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Far below the 10 s handshake timeout, far above what a handshake and an echo take.
const LIVENESS: Duration = Duration::from_secs(5);

/// The first five bytes of a TLS record: a handshake record (TLS 1.0 framing) of 512 bytes,
/// of which the slow peers never send one.
const RECORD_HEADER: [u8; 5] = [0x16, 0x03, 0x01, 0x02, 0x00];

/// A self-signed certificate for `localhost`, as PEM files and as DER.
struct Pki {
    _dir: tempfile::TempDir,
    cert_path: PathBuf,
    key_path: PathBuf,
    cert: CertificateDer<'static>,
}

fn pki() -> Pki {
    let key = ok("key", KeyPair::generate());
    let params = ok(
        "params",
        CertificateParams::new(vec!["localhost".to_owned()]),
    );
    let cert = ok("cert", params.self_signed(&key));
    let dir = ok("tempdir", tempfile::tempdir());
    let write = |name: &str, text: String| {
        let path = dir.path().join(name);
        ok("write pem", std::fs::write(&path, text));
        path
    };
    Pki {
        cert_path: write("cert.pem", cert.pem()),
        key_path: write("key.pem", key.serialize_pem()),
        cert: cert.der().clone(),
        _dir: dir,
    }
}

impl Pki {
    /// Implicit TLS on every accepted connection.
    fn server_tls(&self) -> ServerTls {
        ServerTls {
            enabled: true,
            cert: self.cert_path.display().to_string(),
            key: self.key_path.display().to_string(),
            auto_handshake: true,
        }
    }

    /// A strict rustls client trusting only this certificate.
    fn connector(&self) -> TlsConnector {
        strict_connector(self.cert.clone())
    }
}

/// The actor's side: accept forever; each connection echoes until its peer's EOF, then closes.
fn serve_echo(caller: Caller, listener: String) {
    tokio::spawn(async move {
        while let Ok(conn) = caller.accept(&listener).await {
            let caller = caller.clone();
            tokio::spawn(async move {
                if caller.activate(&conn).await.is_err() {
                    return;
                }
                while let Ok(data) = caller.receive(&conn, 64 * 1024).await {
                    if data.is_empty() || caller.send(&conn, data).await.is_err() {
                        break;
                    }
                }
                let _ = caller.close(&conn).await;
            });
        }
    });
}

/// Waits until the handler holds at least `n` connections.
async fn holds(driver: &DriverHandle, n: usize) {
    guard("the host accepts the slow peers", async {
        while driver.stats().await.census.connections < n {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// A TLS client that connects, echoes `hello` and hangs up.
async fn honest_echo(connector: TlsConnector, addr: SocketAddr) -> std::io::Result<Vec<u8>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").map_err(std::io::Error::other)?;
    let mut tls = connector.connect(name, tcp).await?;
    tls.write_all(b"hello").await?;
    tls.flush().await?;
    let mut got = [0u8; 5];
    tls.read_exact(&mut got).await?;
    tls.shutdown().await?;
    Ok(got.to_vec())
}

#[tokio::test]
async fn slow_handshakes_do_not_keep_an_honest_client_out() {
    let pki = pki();
    // Defaults: backlog 128, handshake timeout 10 s.
    let driver = start_on(
        Config {
            server_tls: Some(pki.server_tls()),
            ..Config::default()
        },
        TokioNetwork,
    );
    let actor = driver.actor("server", Exports::default());
    let (listener, addr) = listen(&actor).await;
    serve_echo(actor.caller(), listener);
    // 150 peers (more than the backlog) start a TLS record and stop.
    let mut slow = Vec::new();
    for _ in 0..150 {
        let mut tcp = ok("slow connect", TcpStream::connect(addr).await);
        ok("slow header", tcp.write_all(&RECORD_HEADER).await);
        slow.push(tcp);
    }
    holds(&driver, 128).await;
    let honest = tokio::time::timeout(LIVENESS, honest_echo(pki.connector(), addr)).await;
    match honest {
        Ok(Ok(got)) => assert_eq!(got, b"hello"),
        Ok(Err(e)) => panic!("the honest client failed: {e}"),
        Err(_) => panic!(
            "the honest client did not get through within {LIVENESS:?} behind 150 slow handshakes"
        ),
    }
    drop(slow);
}

/// Writes `data` and reads the same number of bytes back.
async fn round_trip(stream: &mut TcpStream, data: &[u8]) -> Vec<u8> {
    ok("write", stream.write_all(data).await);
    let mut got = vec![0u8; data.len()];
    ok("read", guard("an echo", stream.read_exact(&mut got)).await);
    got
}

/// Writes `data` over TLS and reads the same number of bytes back.
async fn tls_round_trip(stream: &mut TlsStream<TcpStream>, data: &[u8]) -> Vec<u8> {
    ok("write", stream.write_all(data).await);
    ok("flush", stream.flush().await);
    let mut got = vec![0u8; data.len()];
    ok("read", guard("an echo", stream.read_exact(&mut got)).await);
    got
}

/// Waits until the handler and the transport hold nothing but `live` connections.
async fn settles_to(driver: &DriverHandle, live: usize) {
    guard("the host lets go of every closed connection", async {
        loop {
            let stats = driver.stats().await;
            if stats.census.connections == live
                && stats.census.closing == 0
                && stats.connections.len() == live
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn a_flood_past_max_connections_keeps_a_live_stream_flowing_and_leaves_nothing_behind() {
    let driver = start_on(
        Config {
            max_connections: Some(8),
            ..Config::default()
        },
        TokioNetwork,
    );
    let actor = driver.actor("server", Exports::default());
    let (listener, addr) = listen(&actor).await;
    serve_echo(actor.caller(), listener);
    let mut live = ok("live connect", TcpStream::connect(addr).await);
    assert_eq!(round_trip(&mut live, b"first").await, b"first");
    // 100 peers connect and say nothing: 7 take the free places, the kernel holds the rest.
    let mut flood = Vec::new();
    for _ in 0..100 {
        flood.push(ok("flood connect", TcpStream::connect(addr).await));
    }
    holds(&driver, 8).await;
    for i in 0..200u32 {
        let chunk = vec![i as u8; 1024];
        assert_eq!(round_trip(&mut live, &chunk).await, chunk, "chunk {i}");
    }
    let census = driver.stats().await.census;
    assert_eq!(census.connections, 8, "never past max_connections");
    drop(flood);
    // Serving again: each flood connection is accepted in turn, ends, and frees its place.
    let mut after = ok("connect after", TcpStream::connect(addr).await);
    assert_eq!(round_trip(&mut after, b"again").await, b"again");
    assert_eq!(round_trip(&mut live, b"still").await, b"still");
    drop(after);
    settles_to(&driver, 1).await;
    drop(live);
    settles_to(&driver, 0).await;
}

#[tokio::test]
async fn plaintext_or_a_corrupt_record_on_a_tls_port_ends_only_that_connection() {
    let pki = pki();
    let driver = start_on(
        Config {
            server_tls: Some(pki.server_tls()),
            ..Config::default()
        },
        TokioNetwork,
    );
    let actor = driver.actor("server", Exports::default());
    let (listener, addr) = listen(&actor).await;
    serve_echo(actor.caller(), listener);
    let tcp = ok("good connect", TcpStream::connect(addr).await);
    let name = ok("server name", ServerName::try_from("localhost"));
    let mut good = ok(
        "good handshake",
        guard("good handshake", pki.connector().connect(name, tcp)).await,
    );
    assert_eq!(tls_round_trip(&mut good, b"one").await, b"one");
    let corrupt: Vec<u8> = [0x16, 0x03, 0x01, 0x00, 0x10]
        .into_iter()
        .chain([0xff; 16])
        .collect();
    for (what, bytes) in [
        ("plaintext", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        ("a corrupt record", corrupt),
    ] {
        let mut bad = ok("bad connect", TcpStream::connect(addr).await);
        ok("bad write", bad.write_all(&bytes).await);
        let mut sink = Vec::new();
        // Ended by the host (an alert and FIN, or RST) long before the handshake timeout.
        let ended = tokio::time::timeout(LIVENESS, bad.read_to_end(&mut sink)).await;
        assert!(ended.is_ok(), "{what}: the host did not end the connection");
    }
    assert_eq!(
        tls_round_trip(&mut good, b"two").await,
        b"two",
        "the good connection lives on"
    );
    settles_to(&driver, 1).await;
}

/// A peer streams 64 MiB as fast as it can into an actor in active mode whose `on-data` is
/// slow: the host reads only while a chunk may be delivered and its buffer is under the
/// watermark, so what it holds for the connection never passes the watermark, and every byte
/// arrives in order.
/// A peer that connects to `addr`, writes `total` bytes of pattern `seed` in writes of `chunk`
/// bytes, shuts its write side, and keeps the socket until the host has read everything and
/// closed it.
async fn stream_pattern(
    addr: SocketAddr,
    seed: u64,
    total: u64,
    chunk: usize,
) -> std::io::Result<()> {
    let mut peer = TcpStream::connect(addr).await?;
    let mut pattern = theater_tcp_test_support::Pattern::new(seed);
    let mut buf = vec![0u8; chunk];
    let mut sent = 0;
    while sent < total {
        pattern.fill(&mut buf);
        peer.write_all(&buf).await?;
        sent += buf.len() as u64;
    }
    peer.shutdown().await?;
    let mut rest = Vec::new();
    peer.read_to_end(&mut rest).await?;
    Ok(())
}

#[tokio::test]
async fn an_endless_stream_into_a_slow_on_data_keeps_memory_bounded() {
    const TOTAL: u64 = 64 * 1024 * 1024;
    let config = Config::default();
    let watermark = config.receive_watermark;
    let driver = start_on(config, TokioNetwork);
    let mut actor = driver.actor("slow", Exports::ALL);
    let (listener, addr) = listen(&actor).await;
    let writer = tokio::spawn(stream_pattern(addr, 11, TOTAL, 256 * 1024));
    let conn = ok("accept", guard("accept", actor.accept(&listener)).await);
    ok("activate", actor.activate(&conn).await);
    ok("active", actor.set_active(&conn, "active").await);
    let id = match theater_tcp_core::ObjectId::parse(&conn) {
        Ok(theater_tcp_core::ObjectId::Connection(id)) => id,
        other => panic!("not a connection id: {other:?}"),
    };
    let mut pattern = theater_tcp_test_support::Pattern::new(11);
    let mut received = 0u64;
    let mut held = 0;
    loop {
        let Some(event) = guard("a callback", actor.next_callback()).await else {
            panic!("the driver stopped");
        };
        match &event.callback {
            theater_tcp_core::Callback::OnData { data, .. } => {
                ok("pattern", pattern.check(data));
                received += data.len() as u64;
                // Slow: the peer writes far faster than this actor takes chunks.
                tokio::time::sleep(Duration::from_millis(1)).await;
                event.ok();
            }
            theater_tcp_core::Callback::OnClose { reason, .. } => {
                assert_eq!(reason, "eof");
                event.ok();
                break;
            }
            other => panic!("unexpected callback {other:?}"),
        }
        if let Some(memory) = driver.stats().await.connections.get(&id) {
            assert!(memory.max_held <= watermark, "{memory:?}");
            held = held.max(memory.max_held);
        }
    }
    assert_eq!(received, TOTAL);
    assert!(
        held > watermark / 2,
        "the host never buffered much: {held} bytes"
    );
    // After on-close(eof) the host closes the connection: the peer sees the end.
    ok("writer", ok("join", guard("writer", writer).await));
}

fn conn_id(text: &str) -> theater_tcp_core::ConnId {
    match theater_tcp_core::ObjectId::parse(text) {
        Ok(theater_tcp_core::ObjectId::Connection(id)) => id,
        other => panic!("not a connection id: {other:?}"),
    }
}

#[tokio::test]
async fn streams_into_one_slow_actor_stay_within_its_buffered_bytes_quota_and_others_flow() {
    const PEERS: usize = 8;
    const EACH: u64 = 2 * 1024 * 1024;
    const QUOTA: usize = 256 * 1024;
    let config = Config {
        max_buffered_bytes_per_actor: Some(QUOTA),
        ..Config::default()
    };
    // No read starts at the quota; the reads already out may pass it by a chunk each. Without
    // the quota the connections could hold a watermark each (2 MiB).
    let bound = QUOTA + PEERS * config.max_chunk;
    assert!(PEERS * config.receive_watermark > 2 * bound);
    let driver = start_on(config, TokioNetwork);
    // Connections come through `accept`, not `handle-connection`.
    let exports = Exports {
        handle_connection: false,
        ..Exports::ALL
    };
    let mut slow = driver.actor("slow", exports);
    let (listener, addr) = listen(&slow).await;
    let mut writers = Vec::new();
    for seed in 0..PEERS as u64 {
        writers.push(tokio::spawn(stream_pattern(addr, seed, EACH, 64 * 1024)));
    }
    // Another actor's stream, read while the slow actor sits at its quota.
    let fast = driver.actor("fast", Exports::default());
    let (fast_listener, fast_addr) = listen(&fast).await;
    let caller = fast.caller();
    let other = tokio::spawn(async move {
        let conn = caller
            .accept(&fast_listener)
            .await
            .map_err(std::io::Error::other)?;
        caller
            .activate(&conn)
            .await
            .map_err(std::io::Error::other)?;
        let mut total = 0usize;
        loop {
            let data = caller
                .receive(&conn, 64 * 1024)
                .await
                .map_err(std::io::Error::other)?;
            if data.is_empty() {
                return Ok::<_, std::io::Error>(total);
            }
            total += data.len();
        }
    });
    let fast_peer = tokio::spawn(async move {
        let mut peer = TcpStream::connect(fast_addr).await?;
        peer.write_all(&vec![7u8; 2 * 1024 * 1024]).await?;
        peer.shutdown().await
    });

    let mut conns = std::collections::BTreeMap::new();
    for _ in 0..PEERS {
        let conn = ok("accept", guard("accept", slow.accept(&listener)).await);
        ok("activate", slow.activate(&conn).await);
        conns.insert(conn_id(&conn), (conn, 0u64));
    }
    for (conn, _) in conns.values() {
        ok("active", slow.set_active(conn, "active").await);
    }
    let mut patterns: std::collections::BTreeMap<String, theater_tcp_test_support::Pattern> =
        std::collections::BTreeMap::new();
    let mut closed = 0;
    let mut most = 0;
    while closed < PEERS {
        let Some(event) = guard("a callback", slow.next_callback()).await else {
            panic!("the driver stopped");
        };
        match &event.callback {
            theater_tcp_core::Callback::OnData { connection, data } => {
                let id = conn_id(connection);
                // Accept order is not connect order: a connection's stream is the writer's
                // whose pattern its first chunk matches.
                let pattern = patterns.entry(connection.clone()).or_insert_with(|| {
                    (0..PEERS as u64)
                        .map(theater_tcp_test_support::Pattern::new)
                        .find(|p| p.clone().check(data).is_ok())
                        .unwrap_or_else(|| panic!("{connection}: bytes of no writer"))
                });
                ok("pattern", pattern.check(data));
                if let Some((_, n)) = conns.get_mut(&id) {
                    *n += data.len() as u64;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
                event.ok();
            }
            theater_tcp_core::Callback::OnClose { reason, .. } => {
                assert_eq!(reason, "eof");
                event.ok();
                closed += 1;
            }
            other => panic!("unexpected callback {other:?}"),
        }
        let stats = driver.stats().await;
        let held: usize = conns
            .keys()
            .filter_map(|id| stats.connections.get(id))
            .map(|m| m.buffered)
            .sum();
        assert!(held <= bound, "the slow actor holds {held} bytes");
        most = most.max(held);
    }
    for (conn, n) in conns.values() {
        assert_eq!(*n, EACH, "{conn}: every byte, once");
    }
    assert!(
        most > QUOTA / 2,
        "the quota was never approached: {most} bytes"
    );
    assert_eq!(
        ok("other", ok("join", guard("other actor", other).await)),
        2 * 1024 * 1024
    );
    ok("fast peer", ok("join", guard("fast peer", fast_peer).await));
    for w in writers {
        ok("writer", ok("join", guard("writer", w).await));
    }
}
