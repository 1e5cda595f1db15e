//! Every host function, called by a wasm actor through the real WIT boundary, on real sockets:
//! the probe actor (`actors/probe`) turns text commands into host calls with exactly the
//! arguments given (string ids and all) and answers with the result or the host's error text.
//!
//! The first test makes each of the 21 functions of `tcp` and `tcp-ext` succeed and checks
//! what the peer or another actor sees; the others make the bad calls of the core's table
//! (`core/tests/bad_input.rs`) that a running actor can make, and compare the exact error
//! text. Rows that no wasm actor can produce are not here: a call from an actor that is not
//! running (a stopped actor makes no calls), a second call while one of the same actor waits
//! (an actor runs one call at a time), a connection still in a listener's queue (its id is
//! never handed to the actor), and an upgrade while that actor's own handshake runs.

use std::net::SocketAddr;
use theater_tcp_adapter::{ActorStatus, Host};
use theater_tcp_core::{ClientTls, Config};
use theater_tcp_tests::{Certificates, address, guard, listening, read_exactly, start};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

// ------------------------------------------------------------------------------- the protocol

/// A word of a command, with `%`, space, CR, LF and non-printable bytes written `%XX`.
fn encode(word: &str) -> String {
    let mut out = String::new();
    for b in word.bytes() {
        if b == b'%' || b <= b' ' || b >= 0x7f {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    out
}

/// The reverse of the probe's escaping of a reply.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("escape");
            out.push(u8::from_str_radix(hex, 16).expect("hex escape"));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A control connection to one probe actor.
struct Probe {
    actor: String,
    /// The last command sent, for failure messages.
    last: String,
    lines: BufReader<TcpStream>,
    /// The part of a reply line read so far: kept here, so that a `reply()` given up in a
    /// `select!` loses nothing.
    partial: Vec<u8>,
}

impl Probe {
    /// Connects to the host's listener (its first actor) and reads the greeting.
    async fn open(addr: SocketAddr) -> Probe {
        let stream = guard("connect", TcpStream::connect(addr))
            .await
            .expect("connect to the probe");
        let mut probe = Probe {
            actor: String::new(),
            last: "(greeting)".into(),
            partial: Vec::new(),
            lines: BufReader::new(stream),
        };
        let hello = probe.line().await;
        probe.actor = hello
            .strip_prefix("hello ")
            .unwrap_or_else(|| panic!("greeting {hello:?}"))
            .to_owned();
        probe
    }

    async fn line(&mut self) -> String {
        let what = format!("{}'s reply to {:?}", self.actor, self.last);
        let n = guard(&what, self.lines.read_until(b'\n', &mut self.partial))
            .await
            .expect("read from the probe");
        assert!(n > 0, "the probe closed its control connection");
        let line = String::from_utf8_lossy(&std::mem::take(&mut self.partial)).into_owned();
        line.trim_end_matches('\n').to_owned()
    }

    /// Sends a command without waiting for its reply (for calls that block).
    async fn send(&mut self, words: &[&str]) {
        let line: Vec<String> = words.iter().map(|w| encode(w)).collect();
        self.last = line.join(" ");
        self.lines
            .get_mut()
            .write_all(format!("{}\n", line.join(" ")).as_bytes())
            .await
            .expect("write to the probe");
    }

    /// The reply to the last command: `Ok(value)` or `Err(host error text)`.
    async fn reply(&mut self) -> Result<String, String> {
        let line = self.line().await;
        if line == "ok" {
            Ok(String::new())
        } else if let Some(v) = line.strip_prefix("ok ") {
            Ok(decode(v))
        } else if let Some(e) = line.strip_prefix("err ") {
            Err(decode(e))
        } else {
            panic!("probe {}: {line}", self.actor)
        }
    }

    async fn call(&mut self, words: &[&str]) -> Result<String, String> {
        self.send(words).await;
        self.reply().await
    }

    /// A call that must succeed; returns its value.
    async fn ok(&mut self, words: &[&str]) -> String {
        match self.call(words).await {
            Ok(v) => v,
            Err(e) => panic!("{} {words:?} failed: {e}", self.actor),
        }
    }

    /// A call that must fail with exactly `expected`.
    async fn fails(&mut self, words: &[&str], expected: &str) {
        match self.call(words).await {
            Err(e) => assert_eq!(e, expected, "{} {words:?}", self.actor),
            Ok(v) => panic!(
                "{} {words:?} succeeded ({v:?}), expected {expected:?}",
                self.actor
            ),
        }
    }

    /// Hands this control connection to `actor`, which greets on it.
    async fn handoff(mut self, actor: &str) -> Probe {
        assert_eq!(self.call(&["handoff", actor]).await, Ok(String::new()));
        let hello = self.line().await;
        assert_eq!(hello, format!("hello {actor}"));
        self.actor = actor.to_owned();
        self
    }

    /// A passive connection of this probe, made with `connect` to `server`; and its peer.
    async fn connected(&mut self, server: &TcpListener) -> (String, TcpStream) {
        let addr = server.local_addr().expect("server address").to_string();
        let id = self.ok(&["connect", &addr]).await;
        let (peer, _) = guard("accept", server.accept()).await.expect("accept");
        (id, peer)
    }

    /// A new listener of this probe and its address.
    async fn listener(&mut self) -> (String, SocketAddr) {
        let id = self.ok(&["listen", "127.0.0.1:0"]).await;
        let addr = self.ok(&["local-address", &id]).await;
        (id, addr.parse().expect("listener address"))
    }

    /// A pending connection accepted by this probe's listener `l` at `addr`; and its peer.
    ///
    /// A connection that arrives before the `accept` call waits goes to handle-connection
    /// instead (and waits in the actor's mailbox until `accept` returns), so while `accept`
    /// has not answered, connect again now and then; `peer-address` tells which peer it took.
    async fn accepted(&mut self, l: &str, addr: SocketAddr) -> (String, TcpStream) {
        self.send(&["accept", l]).await;
        let mut peers = Vec::new();
        let id = loop {
            peers.push(
                guard("connect", TcpStream::connect(addr))
                    .await
                    .expect("connect to the probe's listener"),
            );
            tokio::select! {
                biased;
                reply = self.reply() => break reply.expect("accept"),
                _ = tokio::time::sleep(std::time::Duration::from_millis(300)) => {}
            }
        };
        let theirs = self.ok(&["peer-address", &id]).await;
        let peer = peers
            .into_iter()
            .find(|p| p.local_addr().is_ok_and(|a| a.to_string() == theirs));
        (
            id,
            peer.expect("accept returned a connection of another peer"),
        )
    }
}

// ------------------------------------------------------------------------------- set-up

/// Actors `a` and `b` (probes), `c` (a probe without on-data or handle-connection), `d`
/// (an echo, stopped during the tests); a small send limit, one denied network, STARTTLS
/// certificates and client TLS without verification (the certificate is self-signed).
async fn world(certs: &Certificates) -> (Host, Probe, Probe, Probe) {
    let config = Config {
        max_send_bytes: 1024,
        deny: vec!["192.0.2.0/24:*".into()],
        server_tls: Some(certs.server_tls(false)),
        client_tls: ClientTls {
            enabled: true,
            danger_skip_verify: true,
            auto_handshake: false,
            ..ClientTls::default()
        },
        ..listening()
    };
    let host = start(
        config,
        &[
            ("a", "probe"),
            ("b", "probe"),
            ("c", "probe_passive"),
            ("d", "echo_active"),
        ],
    )
    .await;
    let addr = address(&host);
    let a = Probe::open(addr).await;
    let b = Probe::open(addr).await.handoff("b").await;
    let c = Probe::open(addr).await.handoff("c").await;
    (host, a, b, c)
}

async fn server() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.expect("bind")
}

/// Reads what is left on `peer` until its end of stream.
async fn rest(peer: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut got = Vec::new();
    guard("peer end", peer.read_to_end(&mut got))
        .await
        .map(|_| got)
}

// ------------------------------------------------------------------------------- success

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_host_function_works_from_a_wasm_actor() {
    let certs = Certificates::generate();
    let (host, mut a, mut b, mut c) = world(&certs).await;
    let srv = server().await;

    // connect, peer-address, local-address, send, receive, connection-stats, set-option.
    let (conn, mut peer) = a.connected(&srv).await;
    assert_eq!(
        a.ok(&["peer-address", &conn]).await,
        srv.local_addr().unwrap().to_string()
    );
    assert_eq!(
        a.ok(&["local-address", &conn]).await,
        peer.peer_addr().unwrap().to_string()
    );
    assert_eq!(a.ok(&["send", &conn, "hello peer"]).await, "10");
    assert_eq!(read_exactly("send", &mut peer, 10).await, b"hello peer");
    peer.write_all(b"hello actor").await.unwrap();
    assert_eq!(a.ok(&["receive", &conn, "5"]).await, "hello");
    assert_eq!(a.ok(&["receive", &conn, "4294967295"]).await, " actor");
    assert_eq!(
        a.ok(&["stats", &conn]).await,
        "in=11 out=10 chunks=0 buffered=0 state=active mode=passive tls=plain"
    );
    a.ok(&["set-option", &conn, "nodelay", "false"]).await;
    a.ok(&["set-option", &conn, "keepalive", "30"]).await;

    // receive-timeout: data in time, and a timeout.
    peer.write_all(b"soon").await.unwrap();
    assert_eq!(
        a.ok(&["receive-timeout", &conn, "100", "30000"]).await,
        "soon"
    );
    assert_eq!(
        a.call(&["receive-timeout", &conn, "100", "50"]).await,
        Err("receive timed out".into())
    );

    // set-active: active pushes, once pushes one chunk, a count ends in on-passive.
    a.ok(&["set-active", &conn, "active"]).await;
    peer.write_all(b"pushed").await.unwrap();
    let mut pushed = String::new();
    while pushed.len() < 6 {
        pushed += &a.ok(&["pushed", &conn]).await;
    }
    assert_eq!(pushed, "pushed");
    a.ok(&["set-active", &conn, "passive"]).await;
    a.ok(&["set-active", &conn, "1"]).await;
    peer.write_all(b"credit").await.unwrap();
    while a.ok(&["passives", &conn]).await != "1" {}
    assert_eq!(a.ok(&["pushed", &conn]).await, "credit");
    assert_eq!(
        a.ok(&["stats", &conn]).await.split(' ').nth(5),
        Some("mode=passive")
    );

    // shutdown(write): the peer sees the end; the actor can still read.
    a.ok(&["shutdown", &conn, "write"]).await;
    assert_eq!(rest(&mut peer).await.unwrap(), b"");
    peer.write_all(b"still").await.unwrap();
    assert_eq!(a.ok(&["receive", &conn, "100"]).await, "still");
    // close: graceful.
    drop(peer);
    assert_eq!(a.ok(&["receive", &conn, "100"]).await, "");
    a.ok(&["close", &conn]).await;

    // abort: the peer sees a reset.
    let (conn, mut peer) = a.connected(&srv).await;
    a.ok(&["abort", &conn]).await;
    let err = rest(&mut peer).await.expect_err("abort should reset");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);

    // listen, accept, activate, close-listener.
    let (l, addr) = a.listener().await;
    let (pending, mut peer) = a.accepted(&l, addr).await;
    assert_eq!(
        a.ok(&["stats", &pending]).await,
        "in=0 out=0 chunks=0 buffered=0 state=pending mode=passive tls=plain"
    );
    a.ok(&["activate", &pending]).await;
    a.ok(&["send", &pending, "accepted"]).await;
    assert_eq!(read_exactly("accepted", &mut peer, 8).await, b"accepted");

    // transfer and transfer-async: b greets on what it gets, and a no longer owns it.
    a.ok(&["transfer", &pending, "b"]).await;
    assert_eq!(
        read_exactly("b's greeting", &mut peer, 8).await,
        b"hello b\n"
    );
    a.fails(
        &["send", &pending, "x"],
        &format!("Connection {pending} not owned by this actor"),
    )
    .await;
    let (queued, mut peer2) = a.accepted(&l, addr).await;
    a.ok(&["transfer-async", &queued, "b"]).await;
    assert_eq!(
        read_exactly("b's greeting", &mut peer2, 8).await,
        b"hello b\n"
    );
    a.ok(&["close-listener", &l]).await;
    // The listener's socket closes in its own task, just after the call returns: connects are
    // refused once it has (the timeout is only a hang guard).
    tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while TcpStream::connect(addr).await.is_ok() {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the closed listener stops accepting");

    // STARTTLS both ways between two actors: c (whose listener queues connections, as it
    // exports no handle-connection) upgrades as server while b upgrades as client.
    let (l, addr) = c.listener().await;
    let client = b.ok(&["connect", &addr.to_string()]).await;
    let server_side = c.ok(&["accept", &l]).await;
    c.ok(&["activate", &server_side]).await;
    c.send(&["upgrade-server", &server_side]).await;
    b.send(&["upgrade-client", &client, "localhost"]).await;
    assert_eq!(c.reply().await, Ok(String::new()), "upgrade-to-tls-server");
    assert_eq!(b.reply().await, Ok(String::new()), "upgrade-to-tls-client");
    let server_info = c.ok(&["tls-info", &server_side]).await;
    let client_info = b.ok(&["tls-info", &client]).await;
    assert!(
        server_info.starts_with("protocol=TLSv1.3 cipher=") && server_info.ends_with("certs=0"),
        "{server_info}"
    );
    assert!(
        client_info.starts_with("protocol=TLSv1.3 cipher=") && client_info.ends_with("certs=1"),
        "{client_info}"
    );
    c.ok(&["send", &server_side, "over tls"]).await;
    assert_eq!(b.ok(&["receive", &client, "100"]).await, "over tls");
    assert!(
        c.ok(&["stats", &server_side]).await.ends_with("tls=tls"),
        "stats after STARTTLS"
    );

    // runtime.log
    a.ok(&["log", "probe a was here"]).await;
    assert!(
        host.logs()
            .contains(&("a".to_owned(), "probe a was here".to_owned()))
    );
    host.shutdown().await;
}

/// A stop ends even a callback blocked in a host call: `a` waits in `receive` inside the
/// callback that runs its command (its peer sends nothing), and `stop_actor` still stops it,
/// closes its connections (the peer reads the end), and leaves `b` working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_an_actor_ends_a_callback_blocked_in_a_host_call() {
    let certs = Certificates::generate();
    let (host, mut a, mut b, _c) = world(&certs).await;
    let srv = server().await;
    let (conn, mut peer) = a.connected(&srv).await;
    a.send(&["receive", &conn, "10"]).await;
    // Let the command reach the actor and block (if it had not, the stop still has to work).
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let status = tokio::time::timeout(std::time::Duration::from_secs(10), host.stop_actor("a"))
        .await
        .expect("the stop ends the blocked callback within 10 s");
    match status {
        ActorStatus::Stopped { reason } => assert_eq!(reason, "stopped by the host"),
        other => panic!("a: {other:?}"),
    }
    assert_eq!(rest(&mut peer).await.expect("the peer's end"), b"");
    let (_, _) = b.listener().await;
    host.shutdown().await;
}

// ------------------------------------------------------------------------------- bad calls

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_ids_and_other_actors_objects_get_their_errors() {
    let certs = Certificates::generate();
    let (host, mut a, mut b, _c) = world(&certs).await;
    let srv = server().await;
    let (conn, _peer) = a.connected(&srv).await;
    let (l, addr) = a.listener().await;

    // Malformed ids.
    a.fails(&["receive", "conn-", "10"], "Invalid id: conn-")
        .await;
    a.fails(&["send", "conn-01", "x"], "Invalid id: conn-01")
        .await;
    a.fails(&["activate", ""], "Invalid id: ").await;
    a.fails(&["close", "conn-+1"], "Invalid id: conn-+1").await;
    a.fails(
        &["peer-address", "conn-18446744073709551616"],
        "Invalid id: conn-18446744073709551616",
    )
    .await;
    a.fails(&["accept", "listener-x"], "Invalid id: listener-x")
        .await;
    a.fails(&["local-address", "socket-1"], "Invalid id: socket-1")
        .await;
    a.fails(&["stats", " conn-1"], "Invalid id:  conn-1").await;
    a.fails(&["set-active", "CONN-1", "active"], "Invalid id: CONN-1")
        .await;
    a.fails(&["transfer", "conn-1\n", "b"], "Invalid id: conn-1\n")
        .await;

    // Well-formed ids of nothing, or of the other kind.
    a.fails(
        &["receive", "conn-999999", "10"],
        "Connection not found: conn-999999",
    )
    .await;
    a.fails(
        &["shutdown", "conn-0", "both"],
        "Connection not found: conn-0",
    )
    .await;
    a.fails(
        &["accept", "listener-999999"],
        "Listener not found: listener-999999",
    )
    .await;
    a.fails(&["accept", &conn], &format!("Listener not found: {conn}"))
        .await;
    a.fails(
        &["close-listener", &conn],
        &format!("Listener not found: {conn}"),
    )
    .await;
    a.fails(&["send", &l, "x"], &format!("Connection not found: {l}"))
        .await;
    a.fails(
        &["transfer", &l, "b"],
        &format!("Connection not found: {l}"),
    )
    .await;

    // Another actor's objects: b names a's connection and listener.
    let theirs = format!("Connection {conn} not owned by this actor");
    for words in [
        vec!["receive", &conn, "10"],
        vec!["receive-timeout", &conn, "10", "100"],
        vec!["send", &conn, "x"],
        vec!["set-active", &conn, "active"],
        vec!["transfer", &conn, "b"],
        vec!["transfer-async", &conn, "c"],
        vec!["close", &conn],
        vec!["abort", &conn],
        vec!["peer-address", &conn],
        vec!["local-address", &conn],
        vec!["shutdown", &conn, "write"],
        vec!["set-option", &conn, "nodelay", "false"],
        vec!["tls-info", &conn],
        vec!["stats", &conn],
        vec!["upgrade-server", &conn],
        vec!["upgrade-client", &conn, "example.com"],
    ] {
        b.fails(&words, &theirs).await;
    }
    let (pending, _peer2) = a.accepted(&l, addr).await;
    b.fails(
        &["activate", &pending],
        &format!("Connection {pending} not owned by this actor"),
    )
    .await;
    let their_listener = format!("Listener {l} not owned by this actor");
    b.fails(&["accept", &l], &their_listener).await;
    b.fails(&["close-listener", &l], &their_listener).await;
    b.fails(&["local-address", &l], &their_listener).await;

    // None of it touched a's connection.
    assert_eq!(
        a.ok(&["stats", &conn]).await,
        "in=0 out=0 chunks=0 buffered=0 state=active mode=passive tls=plain"
    );
    host.shutdown().await;
}

/// Per-actor quotas through the WIT boundary: each call past one fails naming it, and one
/// actor's quotas count nothing of another's. Each probe's control connection is one of its
/// connections; the host's listener is the first actor's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_of_one_actor_count_nothing_of_anothers() {
    let config = Config {
        max_connections_per_actor: Some(3),
        max_listeners_per_actor: Some(2),
        max_buffered_bytes_per_actor: Some(512),
        ..listening()
    };
    let host = start(config, &[("a", "probe"), ("b", "probe")]).await;
    let addr = address(&host);
    let mut a = Probe::open(addr).await;
    let mut b = Probe::open(addr).await.handoff("b").await;
    let srv = server().await;
    let srv_addr = srv.local_addr().expect("server address").to_string();

    // Connections: a holds its control connection and two more; b is not counted.
    let (a1, _p1) = a.connected(&srv).await;
    let (_a2, _p2) = a.connected(&srv).await;
    a.fails(
        &["connect", &srv_addr],
        "quota exceeded: max_connections_per_actor (3/3)",
    )
    .await;
    let (b1, _p3) = b.connected(&srv).await;
    let (_b2, _p4) = b.connected(&srv).await;
    // A transfer to an actor at its quota is refused; the connection stays its owner's.
    b.fails(
        &["transfer", &b1, "a"],
        "quota exceeded: max_connections_per_actor (3/3)",
    )
    .await;
    assert_eq!(
        b.ok(&["stats", &b1]).await,
        "in=0 out=0 chunks=0 buffered=0 state=active mode=passive tls=plain"
    );

    // Listeners: a holds the host's listener (the `listen` key) and one of its own.
    a.listener().await;
    a.fails(
        &["listen", "127.0.0.1:0"],
        "quota exceeded: max_listeners_per_actor (2/2)",
    )
    .await;
    b.listener().await;
    b.listener().await;

    // Buffered bytes: a send counts whole when it is made.
    let big = "x".repeat(600);
    a.fails(
        &["send", &a1, &big],
        "quota exceeded: max_buffered_bytes_per_actor (600/512)",
    )
    .await;
    assert_eq!(b.ok(&["send", &b1, &"y".repeat(500)]).await, "500");
    assert_eq!(a.ok(&["send", &a1, &"z".repeat(500)]).await, "500");
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_in_the_wrong_state_or_mode_get_their_errors() {
    let certs = Certificates::generate();
    let (host, mut a, _b, mut c) = world(&certs).await;
    let srv = server().await;
    let (conn, mut peer) = a.connected(&srv).await;
    let (l, addr) = a.listener().await;
    let (pending, _pending_peer) = a.accepted(&l, addr).await;
    let id = |text: &str, id: &str| text.replace("{id}", id);

    // Pending.
    a.fails(
        &["activate", &conn],
        &id("Connection {id} is already active", &conn),
    )
    .await;
    a.fails(
        &["set-active", &pending, "passive"],
        &id(
            "Connection {id} must be activated before setting data mode",
            &pending,
        ),
    )
    .await;
    let is_pending = id(
        "Connection {id} is pending - call activate() or transfer() first",
        &pending,
    );
    a.fails(&["send", &pending, "x"], &is_pending).await;
    a.fails(&["receive", &pending, "10"], &is_pending).await;
    a.fails(&["receive-timeout", &pending, "10", "100"], &is_pending)
        .await;
    a.fails(&["shutdown", &pending, "read"], &is_pending).await;
    a.fails(&["upgrade-server", &pending], &is_pending).await;
    a.fails(
        &["tls-info", &pending],
        &id("Connection {id} is not using TLS", &pending),
    )
    .await;
    a.fails(
        &["tls-info", &conn],
        &id("Connection {id} is not using TLS", &conn),
    )
    .await;
    a.fails(
        &["set-option", &pending, "keepalive", "-5"],
        "Invalid value '-5' for option 'keepalive'",
    )
    .await;
    a.fails(
        &["transfer-async", &pending, "a"],
        "cannot transfer a connection to its own owner",
    )
    .await;
    a.fails(&["transfer", &pending, ""], "Actor  not found")
        .await;

    // max = 0, with and without buffered bytes.
    a.fails(&["receive", &conn, "0"], "max-bytes must be at least 1")
        .await;
    a.fails(
        &["receive-timeout", &conn, "0", "100"],
        "max-bytes must be at least 1",
    )
    .await;
    peer.write_all(b"!hello").await.unwrap();
    assert_eq!(a.ok(&["receive", &conn, "1"]).await, "!");
    while !a.ok(&["stats", &conn]).await.contains("buffered=5") {}
    a.fails(&["receive", &conn, "0"], "max-bytes must be at least 1")
        .await;
    // STARTTLS refused while plaintext waits unread (server and client side).
    a.fails(
        &["upgrade-server", &conn],
        "plaintext buffered before TLS upgrade",
    )
    .await;
    a.fails(
        &["upgrade-client", &conn, "example.com"],
        "plaintext buffered before TLS upgrade",
    )
    .await;
    assert_eq!(a.ok(&["receive", &conn, "100"]).await, "hello");

    // Modes.
    let bad_mode =
        |m: &str| format!("Invalid mode '{m}': expected 'passive', 'active', 'once' or a count");
    for mode in [
        "Active",
        "",
        " once",
        "0",
        "-1",
        "+5",
        "32768",
        "99999999999",
        "0x10",
    ] {
        a.fails(&["set-active", &conn, mode], &bad_mode(mode)).await;
    }
    let in_active = id(
        "Connection {id} is in active mode - data is pushed via on-data callback",
        &conn,
    );
    let needs_passive = id(
        "Connection {id} must be in passive mode to upgrade to TLS",
        &conn,
    );
    for mode in ["active", "once", "5"] {
        a.ok(&["set-active", &conn, mode]).await;
        a.fails(&["receive", &conn, "10"], &in_active).await;
        a.fails(&["receive-timeout", &conn, "10", "100"], &in_active)
            .await;
        a.fails(&["upgrade-server", &conn], &needs_passive).await;
        a.fails(&["upgrade-client", &conn, "example.com"], &needs_passive)
            .await;
        a.ok(&["set-active", &conn, "passive"]).await;
    }
    a.ok(&["set-active", &conn, "32767"]).await;
    a.fails(
        &["set-active", &conn, "1"],
        "Active count 32768 exceeds 32767",
    )
    .await;
    a.ok(&["set-active", &conn, "passive"]).await;

    // An actor without on-data can only be passive.
    let (theirs, _their_peer) = c.connected(&srv).await;
    let no_on_data = "Actor c does not export on-data, so only passive mode is possible";
    c.fails(&["set-active", &theirs, "active"], no_on_data)
        .await;
    c.fails(&["set-active", &theirs, "3"], no_on_data).await;

    // Sends, shutdowns, options, transfers.
    a.fails(
        &["send-n", &conn, "1025"],
        "Data too large: 1025 bytes exceeds max_send_bytes (1024)",
    )
    .await;
    assert_eq!(a.ok(&["send-n", &conn, "1024"]).await, "1024");
    assert_eq!(a.ok(&["send", &conn, ""]).await, "0");
    for how in ["sideways", "READ"] {
        a.fails(
            &["shutdown", &conn, how],
            &format!("Invalid shutdown direction '{how}': expected 'read', 'write' or 'both'"),
        )
        .await;
    }
    a.fails(
        &["set-option", &conn, "linger", "1"],
        "Unknown option 'linger': expected 'nodelay' or 'keepalive'",
    )
    .await;
    a.fails(
        &["set-option", &conn, "nodelay", "yes"],
        "Invalid value 'yes' for option 'nodelay'",
    )
    .await;
    a.fails(
        &["set-option", &conn, "keepalive", "86401"],
        "Invalid value '86401' for option 'keepalive'",
    )
    .await;
    a.fails(
        &["transfer", &conn, "a"],
        "cannot transfer a connection to its own owner",
    )
    .await;
    a.fails(&["transfer", &conn, "nobody"], "Actor nobody not found")
        .await;
    a.fails(
        &["transfer-async", &conn, "nobody"],
        "Actor nobody not found",
    )
    .await;
    assert!(matches!(
        host.stop_actor("d").await,
        ActorStatus::Stopped { .. }
    ));
    a.fails(&["transfer", &conn, "d"], "Actor d not found")
        .await;

    // TLS client names.
    a.fails(
        &["upgrade-client", &conn, "not a name!"],
        "Invalid server name not a name!",
    )
    .await;
    a.fails(&["upgrade-client", &conn, ""], "Invalid server name ")
        .await;

    // Addresses and policy.
    for (words, error) in [
        (
            ["connect", "10.0.0.2"],
            "Invalid address 10.0.0.2: expected host:port",
        ),
        (
            ["connect", "example.com:http"],
            "Invalid address example.com:http: 'http' is not a port number",
        ),
        (
            ["connect", "10.0.0.2:70000"],
            "Invalid address 10.0.0.2:70000: port 70000 is out of range",
        ),
        (
            ["connect", "::1:80"],
            "Invalid address ::1:80: IPv6 addresses must be written as [addr]:port",
        ),
        (
            ["listen", "bad_host!:80"],
            "Invalid address bad_host!:80: 'bad_host!' is not a valid host name",
        ),
        (
            ["connect", "192.0.2.7:443"],
            "address not allowed: 192.0.2.7:443",
        ),
        (
            ["listen", "192.0.2.1:0"],
            "address not allowed: 192.0.2.1:0",
        ),
    ] {
        a.fails(&words, error).await;
    }

    // The connection is as it was, apart from the bytes it sent and read.
    assert!(
        a.ok(&["stats", &conn])
            .await
            .ends_with("state=active mode=passive tls=plain"),
        "mode after the bad calls"
    );
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_after_close_end_or_reset_get_their_errors() {
    let certs = Certificates::generate();
    let (host, mut a, _b, _c) = world(&certs).await;
    let srv = server().await;
    let id = |text: &str, id: &str| text.replace("{id}", id);

    // Closed and aborted connections are gone.
    for how in ["close", "abort"] {
        let (conn, _peer) = a.connected(&srv).await;
        a.ok(&[how, &conn]).await;
        let gone = id("Connection not found: {id}", &conn);
        for words in [
            vec!["close", &conn],
            vec!["abort", &conn],
            vec!["peer-address", &conn],
            vec!["send", &conn, "x"],
            vec!["receive", &conn, "10"],
            vec!["transfer", &conn, "b"],
            vec!["stats", &conn],
        ] {
            a.fails(&words, &gone).await;
        }
    }
    let (l, _) = a.listener().await;
    a.ok(&["close-listener", &l]).await;
    let gone = id("Listener not found: {id}", &l);
    a.fails(&["close-listener", &l], &gone).await;
    a.fails(&["accept", &l], &gone).await;
    a.fails(&["local-address", &l], &gone).await;

    // After shutdown(write).
    let (conn, _peer) = a.connected(&srv).await;
    a.ok(&["shutdown", &conn, "write"]).await;
    a.fails(
        &["send", &conn, "x"],
        &id("Connection {id} write side is shut down", &conn),
    )
    .await;
    a.fails(
        &["upgrade-client", &conn, "example.com"],
        &id("Connection {id} is closed", &conn),
    )
    .await;

    // After the peer's FIN.
    let (conn, peer) = a.connected(&srv).await;
    drop(peer);
    assert_eq!(a.ok(&["receive", &conn, "100"]).await, "");
    a.fails(
        &["upgrade-server", &conn],
        &id("Connection {id} is closed", &conn),
    )
    .await;

    // After the peer's reset.
    let (conn, peer) = a.connected(&srv).await;
    // SO_LINGER 0: the close sends RST (socket2, since tokio deprecates set_linger).
    let peer = peer.into_std().unwrap();
    socket2::SockRef::from(&peer)
        .set_linger(Some(std::time::Duration::ZERO))
        .unwrap();
    drop(peer);
    let reset = id("Connection {id} closed: reset", &conn);
    assert_eq!(a.call(&["receive", &conn, "100"]).await, Err(reset.clone()));
    a.fails(&["send", &conn, "x"], &reset).await;
    a.fails(&["receive", &conn, "10"], &reset).await;
    a.fails(&["shutdown", &conn, "both"], &reset).await;
    a.fails(&["set-option", &conn, "keepalive", "on"], &reset)
        .await;
    a.fails(&["upgrade-server", &conn], &reset).await;
    a.ok(&["close", &conn]).await;
    host.shutdown().await;
}

/// A handler without TLS and with room for two connections: the control connection and one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_not_configured_and_the_connection_limit() {
    let config = Config {
        max_connections: Some(2),
        ..listening()
    };
    let host = start(config, &[("a", "probe")]).await;
    let mut a = Probe::open(address(&host)).await;
    let srv = server().await;
    let (conn, _peer) = a.connected(&srv).await;
    a.fails(
        &["upgrade-server", &conn],
        "server_tls not configured on this handler",
    )
    .await;
    a.fails(
        &["upgrade-client", &conn, "example.com"],
        "client_tls not configured on this handler",
    )
    .await;
    a.fails(
        &["connect", "10.0.0.3:80"],
        "Connection limit reached (2/2)",
    )
    .await;
    host.shutdown().await;
}
