//! Bad input: every malformed or out-of-place call gets its documented error and changes nothing.
//!
//! One table row per bad call: a fixture (a state built directly with the rig), the calling
//! actor, the call, and the text the actor receives, spelled as `SEMANTICS.md` spells it (as
//! `error.rs` spells it where the contract leaves the wording open); `{id}` in the text stands
//! for the id the fixture built. Every row runs on a fresh fixture and must:
//!
//! - complete at once with exactly that error text;
//! - emit nothing else: no transport command, no notice besides its own completion;
//! - leave the observable state as it was: the census, the next deadline, which actor owns
//!   which objects, and for every connection its owner, its buffered bytes and its
//!   `connection-stats` (for every listener its `local-address`), each as its owner sees it;
//!   and, for what no getter shows (half-close flags, read state, queues), the handler's
//!   `Debug` text apart from its call counter.

use std::collections::BTreeSet;
use std::mem::{Discriminant, discriminant};
use theater_tcp_core::testkit::Rig;
use theater_tcp_core::*;

// ------------------------------------------------------------------------------- fixtures

/// A state built for one row, and the id the row's call names (unless the row names its own).
struct Fixture {
    rig: Rig,
    id: String,
}

/// `a` (the caller in most rows) and `b` export every callback but `handle-connection`, so
/// accepted connections wait for `accept()`; `c` exports none, so it can only be passive.
const ACTORS: [&str; 4] = ["a", "b", "c", "d"];

fn callbacks() -> Exports {
    Exports {
        handle_connection: false,
        ..Exports::ALL
    }
}

/// The default handler, with a small send limit and one denied network.
fn plain() -> Config {
    Config {
        max_send_bytes: 1024,
        deny: vec!["192.0.2.0/24:*".into()],
        ..Config::default()
    }
}

/// A handler with certificates for STARTTLS (no implicit TLS) and client TLS enabled.
fn with_tls() -> Config {
    Config {
        server_tls: Some(ServerTls {
            enabled: true,
            cert: "server.pem".into(),
            key: "server.key".into(),
            auto_handshake: false,
        }),
        client_tls: ClientTls {
            enabled: true,
            ..ClientTls::default()
        },
        ..plain()
    }
}

/// A handler that allows one connection.
fn limited() -> Config {
    Config {
        max_connections: Some(1),
        ..plain()
    }
}

/// Actors `a`, `b`, `c` running, and in the background `b`'s passive connection holding
/// three unread bytes: a bad call of `a` must not touch it either.
fn world(config: Config) -> (Rig, ConnId) {
    let mut rig = Rig::new(config);
    rig.start("a", callbacks());
    rig.start("b", callbacks());
    rig.start("c", Exports::default());
    let theirs = rig.open("b");
    unread(&mut rig, "b", theirs, b"bbb");
    (rig, theirs)
}

fn fixture(rig: Rig, id: impl ToString) -> Fixture {
    Fixture {
        rig,
        id: id.to_string(),
    }
}

/// Makes a call that must succeed at once.
#[track_caller]
fn ok(rig: &mut Rig, actor: &str, call: Call) -> Reply {
    match rig.call_now(actor, call.clone()) {
        Ok(reply) => reply,
        Err(e) => panic!("fixture call {call:?} failed: {e}"),
    }
}

#[track_caller]
fn set_mode(rig: &mut Rig, actor: &str, conn: ConnId, mode: &str) {
    ok(
        rig,
        actor,
        Call::SetActive {
            connection: conn.to_string(),
            mode: mode.into(),
        },
    );
}

/// Leaves `data` received and unread on a passive connection: a one-byte `receive` takes
/// one more byte than that off the peer's send.
#[track_caller]
fn unread(rig: &mut Rig, actor: &str, conn: ConnId, data: &[u8]) {
    let call = rig.call(
        actor,
        Call::Receive {
            connection: conn.to_string(),
            max: 1,
        },
    );
    rig.peer_sends(conn, &[b"!", data].concat());
    assert_eq!(rig.result(call), Some(Ok(Reply::Data(b"!".to_vec()))));
    assert_eq!(rig.handler.buffered(conn), data.len());
}

/// A passive `receive` left waiting on `conn`.
#[track_caller]
fn wait_receive(rig: &mut Rig, actor: &str, conn: ConnId) {
    let call = rig.call(
        actor,
        Call::Receive {
            connection: conn.to_string(),
            max: 100,
        },
    );
    assert_eq!(rig.result(call), None, "receive should wait");
}

/// The peer's stream ends with `end` while a `receive` waits; the receive sees it.
#[track_caller]
fn peer_ends(rig: &mut Rig, actor: &str, conn: ConnId, end: StreamEnd) {
    let call = rig.call(
        actor,
        Call::Receive {
            connection: conn.to_string(),
            max: 100,
        },
    );
    assert!(rig.take_read(conn).is_some(), "no read for the receive");
    rig.io(IoEvent::ReadEnded {
        connection: conn,
        end,
    });
    assert!(rig.result(call).is_some(), "receive did not see the end");
}

fn passive_on(config: Config) -> Fixture {
    let (mut rig, _) = world(config);
    let conn = rig.open("a");
    fixture(rig, conn)
}

fn pending_on(config: Config) -> Fixture {
    let (mut rig, _) = world(config);
    let conn = rig.pending("a");
    fixture(rig, conn)
}

fn in_mode(config: Config, mode: &str) -> Fixture {
    let (mut rig, _) = world(config);
    let conn = rig.open("a");
    set_mode(&mut rig, "a", conn, mode);
    fixture(rig, conn)
}

fn buffered_on(config: Config) -> Fixture {
    let (mut rig, _) = world(config);
    let conn = rig.open("a");
    unread(&mut rig, "a", conn, b"hello");
    fixture(rig, conn)
}

fn receiving_on(config: Config) -> Fixture {
    let (mut rig, _) = world(config);
    let conn = rig.open("a");
    wait_receive(&mut rig, "a", conn);
    fixture(rig, conn)
}

fn ended_on(config: Config, end: StreamEnd) -> Fixture {
    let (mut rig, _) = world(config);
    let conn = rig.open("a");
    peer_ends(&mut rig, "a", conn, end);
    fixture(rig, conn)
}

fn write_shut_on(config: Config) -> Fixture {
    let (mut rig, _) = world(config);
    let conn = rig.open("a");
    ok(
        &mut rig,
        "a",
        Call::Shutdown {
            connection: conn.to_string(),
            how: "write".into(),
        },
    );
    fixture(rig, conn)
}

/// `a`'s listener, bound and accepting.
fn listener() -> Fixture {
    let (mut rig, _) = world(plain());
    let l = rig.listener("a");
    fixture(rig, l)
}

/// `a`'s listener after `close-listener`.
fn closed_listener() -> Fixture {
    let (mut rig, _) = world(plain());
    let l = rig.listener("a");
    ok(
        &mut rig,
        "a",
        Call::CloseListener {
            listener: l.to_string(),
        },
    );
    fixture(rig, l)
}

/// `b`'s listener.
fn their_listener() -> Fixture {
    let (mut rig, _) = world(plain());
    let l = rig.listener("b");
    fixture(rig, l)
}

/// A connection `a` accepted and has not activated.
fn pending() -> Fixture {
    pending_on(plain())
}

/// An open connection of `a` in passive mode, nothing buffered.
fn passive() -> Fixture {
    passive_on(plain())
}

fn active() -> Fixture {
    in_mode(plain(), "active")
}

fn once() -> Fixture {
    in_mode(plain(), "once")
}

/// Five delivery credits.
fn credit() -> Fixture {
    in_mode(plain(), "5")
}

/// The most credits a connection can hold.
fn full_credit() -> Fixture {
    in_mode(plain(), "32767")
}

/// Passive, with `hello` received and unread.
fn buffered() -> Fixture {
    buffered_on(plain())
}

/// Passive, with a `receive` waiting.
fn receiving() -> Fixture {
    receiving_on(plain())
}

/// Passive; the peer reset the connection, which waits for its owner's `close`.
fn reset() -> Fixture {
    ended_on(plain(), StreamEnd::Reset)
}

fn write_shut() -> Fixture {
    write_shut_on(plain())
}

/// `a`'s connection after `close`.
fn closed() -> Fixture {
    let (mut rig, _) = world(plain());
    let conn = rig.open("a");
    ok(
        &mut rig,
        "a",
        Call::Close {
            connection: conn.to_string(),
        },
    );
    fixture(rig, conn)
}

/// `a`'s connection after `abort`.
fn aborted() -> Fixture {
    let (mut rig, _) = world(plain());
    let conn = rig.open("a");
    ok(
        &mut rig,
        "a",
        Call::Abort {
            connection: conn.to_string(),
        },
    );
    fixture(rig, conn)
}

/// A connection accepted by `a`'s listener and queued: no `accept()` has handed it out yet.
fn queued() -> Fixture {
    let (mut rig, _) = world(plain());
    let l = rig.listener("a");
    let conn = rig.peer_connects(l);
    fixture(rig, conn)
}

/// `b`'s open, passive connection (with unread bytes).
fn theirs() -> Fixture {
    let (rig, theirs) = world(plain());
    fixture(rig, theirs)
}

/// A connection `b` accepted and has not activated.
fn their_pending() -> Fixture {
    pending_on(plain()).owned_by_b()
}

/// A passive connection of `c`, which does not export `on-data`.
fn without_on_data() -> Fixture {
    let (mut rig, _) = world(plain());
    let conn = rig.open("c");
    fixture(rig, conn)
}

/// A connection whose owner `d` has stopped (so the connection is gone too).
fn stopped_owner() -> Fixture {
    let (mut rig, _) = world(plain());
    rig.start("d", callbacks());
    let conn = rig.open("d");
    rig.stop("d");
    fixture(rig, conn)
}

/// An open connection of `a`, after actor `d` ran and stopped.
fn passive_after_d_stopped() -> Fixture {
    let (mut rig, _) = world(plain());
    rig.start("d", callbacks());
    rig.stop("d");
    let conn = rig.open("a");
    fixture(rig, conn)
}

/// Each actor may hold one connection and one listener; `a` holds its connection (the
/// fixture's id) and a listener, `b` its background connection.
fn at_quota() -> Fixture {
    let (mut rig, _) = world(Config {
        max_connections_per_actor: Some(1),
        max_listeners_per_actor: Some(1),
        ..plain()
    });
    rig.listener("a");
    let conn = rig.open("a");
    fixture(rig, conn)
}

/// Each actor may hold 7 bytes: `a` holds 5 unread on its connection (the fixture's id), `b`
/// 3 on its background connection.
fn near_byte_quota() -> Fixture {
    let (mut rig, _) = world(Config {
        max_buffered_bytes_per_actor: Some(7),
        ..plain()
    });
    let conn = rig.open("a");
    unread(&mut rig, "a", conn, b"aaaaa");
    fixture(rig, conn)
}

/// The handler allows one connection, and `b` holds it.
fn at_limit() -> Fixture {
    let (rig, theirs) = world(limited());
    fixture(rig, theirs)
}

fn tls_passive() -> Fixture {
    passive_on(with_tls())
}

fn tls_pending() -> Fixture {
    pending_on(with_tls())
}

fn tls_active() -> Fixture {
    in_mode(with_tls(), "active")
}

fn tls_once() -> Fixture {
    in_mode(with_tls(), "once")
}

fn tls_buffered() -> Fixture {
    buffered_on(with_tls())
}

fn tls_receiving() -> Fixture {
    receiving_on(with_tls())
}

fn tls_at_eof() -> Fixture {
    ended_on(with_tls(), StreamEnd::Eof)
}

fn tls_reset() -> Fixture {
    ended_on(with_tls(), StreamEnd::Reset)
}

fn tls_write_shut() -> Fixture {
    write_shut_on(with_tls())
}

fn tls_theirs() -> Fixture {
    let (rig, theirs) = world(with_tls());
    fixture(rig, theirs)
}

/// Upgraded with STARTTLS: the connection speaks TLS.
#[track_caller]
fn tls_secure() -> Fixture {
    let mut f = tls_passive();
    let conn = f.conn();
    let call = f.rig.call(
        "a",
        Call::UpgradeToTlsServer {
            connection: f.id.clone(),
        },
    );
    let started = f.rig.commands_where(
        |c| matches!(c, Command::StartTls { connection, .. } if *connection == conn),
    );
    assert_eq!(started.len(), 1, "upgrade did not start TLS");
    f.rig.io(IoEvent::TlsEstablished {
        connection: conn,
        info: TlsInfo {
            protocol: "TLSv1.3".into(),
            cipher_suite: "TLS13_AES_128_GCM_SHA256".into(),
            ..TlsInfo::default()
        },
    });
    assert_eq!(f.rig.result(call), Some(Ok(Reply::Unit)));
    f
}

/// A STARTTLS upgrade whose handshake is running.
#[track_caller]
fn tls_upgrading() -> Fixture {
    let mut f = tls_passive();
    let conn = f.conn();
    let call = f.rig.call(
        "a",
        Call::UpgradeToTlsServer {
            connection: f.id.clone(),
        },
    );
    assert_eq!(
        f.rig.result(call),
        None,
        "the upgrade should wait for its handshake"
    );
    let started = f.rig.commands_where(
        |c| matches!(c, Command::StartTls { connection, .. } if *connection == conn),
    );
    assert_eq!(started.len(), 1, "upgrade did not start TLS");
    f
}

/// A STARTTLS upgrade requested behind a send the transport has no room for yet: the
/// handshake has not started, and the upgrade is in progress all the same.
#[track_caller]
fn tls_upgrade_queued() -> Fixture {
    let mut f = passive_on(Config {
        write_buffer: 16,
        ..with_tls()
    });
    let conn = f.conn();
    // 16 bytes go to the transport, 16 wait for room.
    let send = f.rig.call(
        "a",
        Call::Send {
            connection: f.id.clone(),
            data: vec![b'x'; 32],
        },
    );
    assert_eq!(f.rig.result(send), None, "the send should wait for room");
    let call = f.rig.call(
        "a",
        Call::UpgradeToTlsServer {
            connection: f.id.clone(),
        },
    );
    assert_eq!(f.rig.result(call), None, "the upgrade should wait");
    let started = f.rig.commands_where(
        |c| matches!(c, Command::StartTls { connection, .. } if *connection == conn),
    );
    assert!(started.is_empty(), "the handshake should wait for the send");
    f
}

impl Fixture {
    #[track_caller]
    fn conn(&self) -> ConnId {
        match ObjectId::parse(&self.id) {
            Ok(ObjectId::Connection(id)) => id,
            other => panic!("fixture id {} is not a connection: {other:?}", self.id),
        }
    }

    /// Hands the fixture's pending connection to `b`, leaving it pending.
    #[track_caller]
    fn owned_by_b(mut self) -> Fixture {
        let conn = self.conn();
        let l = self.rig.listener("b");
        let call = self.rig.call(
            "b",
            Call::Accept {
                listener: l.to_string(),
            },
        );
        let theirs = self.rig.peer_connects(l);
        assert_eq!(
            self.rig.result(call),
            Some(Ok(Reply::Id(theirs.to_string())))
        );
        assert_ne!(theirs, conn);
        self.id = theirs.to_string();
        self
    }
}

// ------------------------------------------------------------------------------- calls

/// A call, given the fixture's id.
type CallFor = Box<dyn Fn(&str) -> Call>;

fn activate() -> CallFor {
    Box::new(|id| Call::Activate {
        connection: id.into(),
    })
}

fn set_active(mode: &'static str) -> CallFor {
    Box::new(move |id| Call::SetActive {
        connection: id.into(),
        mode: mode.into(),
    })
}

fn transfer(target: &'static str) -> CallFor {
    Box::new(move |id| Call::Transfer {
        connection: id.into(),
        target: target.into(),
    })
}

fn transfer_async(target: &'static str) -> CallFor {
    Box::new(move |id| Call::TransferAsync {
        connection: id.into(),
        target: target.into(),
    })
}

fn peer_address() -> CallFor {
    Box::new(|id| Call::PeerAddress {
        connection: id.into(),
    })
}

fn send(len: usize) -> CallFor {
    Box::new(move |id| Call::Send {
        connection: id.into(),
        data: vec![b'x'; len],
    })
}

fn receive(max: u32) -> CallFor {
    Box::new(move |id| Call::Receive {
        connection: id.into(),
        max,
    })
}

fn receive_timeout(max: u32, ms: u64) -> CallFor {
    Box::new(move |id| Call::ReceiveTimeout {
        connection: id.into(),
        max,
        ms,
    })
}

fn close() -> CallFor {
    Box::new(|id| Call::Close {
        connection: id.into(),
    })
}

fn abort() -> CallFor {
    Box::new(|id| Call::Abort {
        connection: id.into(),
    })
}

fn accept() -> CallFor {
    Box::new(|id| Call::Accept {
        listener: id.into(),
    })
}

fn close_listener() -> CallFor {
    Box::new(|id| Call::CloseListener {
        listener: id.into(),
    })
}

fn upgrade_server() -> CallFor {
    Box::new(|id| Call::UpgradeToTlsServer {
        connection: id.into(),
    })
}

fn upgrade_client(server_name: &'static str) -> CallFor {
    Box::new(move |id| Call::UpgradeToTlsClient {
        connection: id.into(),
        server_name: server_name.into(),
    })
}

fn local_address() -> CallFor {
    Box::new(|id| Call::LocalAddress { id: id.into() })
}

fn shutdown(how: &'static str) -> CallFor {
    Box::new(move |id| Call::Shutdown {
        connection: id.into(),
        how: how.into(),
    })
}

fn set_option(name: &'static str, value: &'static str) -> CallFor {
    Box::new(move |id| Call::SetOption {
        connection: id.into(),
        name: name.into(),
        value: value.into(),
    })
}

fn tls_info() -> CallFor {
    Box::new(|id| Call::TlsInfo {
        connection: id.into(),
    })
}

fn stats() -> CallFor {
    Box::new(|id| Call::ConnectionStats {
        connection: id.into(),
    })
}

fn connect(address: &'static str) -> CallFor {
    Box::new(move |_| Call::Connect {
        address: address.into(),
    })
}

fn listen(address: &'static str) -> CallFor {
    Box::new(move |_| Call::Listen {
        address: address.into(),
    })
}

/// The same call, naming `id` instead of the fixture's id.
fn at(id: &'static str, call: CallFor) -> CallFor {
    Box::new(move |_| call(id))
}

// ------------------------------------------------------------------------------- the table

/// (what the actor does wrong, fixture, calling actor, call, error text with `{id}`).
type Row = (
    &'static str,
    fn() -> Fixture,
    &'static str,
    CallFor,
    &'static str,
);

#[rustfmt::skip]
fn rows() -> Vec<Row> {
    vec![
        // Malformed ids.
        ("receive on an id without a number", passive, "a", at("conn-", receive(10)),
            "Invalid id: conn-"),
        ("send on an id with a leading zero", passive, "a", at("conn-01", send(1)),
            "Invalid id: conn-01"),
        ("activate an empty id", pending, "a", at("", activate()),
            "Invalid id: "),
        ("close an id with a sign", passive, "a", at("conn-+1", close()),
            "Invalid id: conn-+1"),
        ("peer-address of an id beyond u64", passive, "a", at("conn-18446744073709551616", peer_address()),
            "Invalid id: conn-18446744073709551616"),
        ("accept on a listener id with letters", listener, "a", at("listener-x", accept()),
            "Invalid id: listener-x"),
        ("local-address of an unknown kind of object", listener, "a", at("socket-1", local_address()),
            "Invalid id: socket-1"),
        ("connection-stats of an id with a space", passive, "a", at(" conn-1", stats()),
            "Invalid id:  conn-1"),
        ("set-active on an upper-case id", passive, "a", at("CONN-1", set_active("active")),
            "Invalid id: CONN-1"),
        ("transfer an id with a trailing newline", passive, "a", at("conn-1\n", transfer("b")),
            "Invalid id: conn-1\n"),
        // Well-formed ids of nothing, or of the other kind.
        ("receive on a connection that never existed", passive, "a", at("conn-999", receive(10)),
            "Connection not found: conn-999"),
        ("shutdown a connection that never existed", passive, "a", at("conn-0", shutdown("both")),
            "Connection not found: conn-0"),
        ("accept on a listener that never existed", listener, "a", at("listener-999", accept()),
            "Listener not found: listener-999"),
        ("accept on a connection id", pending, "a", accept(),
            "Listener not found: {id}"),
        ("close-listener on a connection id", passive, "a", close_listener(),
            "Listener not found: {id}"),
        ("send on a listener id", listener, "a", send(1),
            "Connection not found: {id}"),
        ("transfer a listener id", listener, "a", transfer("b"),
            "Connection not found: {id}"),
        ("close a connection still in the listener's queue", queued, "a", close(),
            "Connection not found: {id}"),
        ("activate a connection still in the listener's queue", queued, "a", activate(),
            "Connection not found: {id}"),
        // Another actor's objects.
        ("receive on another actor's connection", theirs, "a", receive(10),
            "Connection {id} not owned by this actor"),
        ("receive-timeout on another actor's connection", theirs, "a", receive_timeout(10, 100),
            "Connection {id} not owned by this actor"),
        ("send on another actor's connection", theirs, "a", send(1),
            "Connection {id} not owned by this actor"),
        ("set-active on another actor's connection", theirs, "a", set_active("active"),
            "Connection {id} not owned by this actor"),
        ("activate another actor's pending connection", their_pending, "a", activate(),
            "Connection {id} not owned by this actor"),
        ("transfer another actor's connection to oneself", theirs, "a", transfer("a"),
            "Connection {id} not owned by this actor"),
        ("transfer-async another actor's connection", theirs, "a", transfer_async("c"),
            "Connection {id} not owned by this actor"),
        ("close another actor's connection", theirs, "a", close(),
            "Connection {id} not owned by this actor"),
        ("abort another actor's connection", theirs, "a", abort(),
            "Connection {id} not owned by this actor"),
        ("peer-address of another actor's connection", theirs, "a", peer_address(),
            "Connection {id} not owned by this actor"),
        ("local-address of another actor's connection", theirs, "a", local_address(),
            "Connection {id} not owned by this actor"),
        ("shutdown another actor's connection", theirs, "a", shutdown("write"),
            "Connection {id} not owned by this actor"),
        ("set-option on another actor's connection", theirs, "a", set_option("nodelay", "false"),
            "Connection {id} not owned by this actor"),
        ("tls-info of another actor's connection", theirs, "a", tls_info(),
            "Connection {id} not owned by this actor"),
        ("connection-stats of another actor's connection", theirs, "a", stats(),
            "Connection {id} not owned by this actor"),
        ("upgrade another actor's connection to TLS server", tls_theirs, "a", upgrade_server(),
            "Connection {id} not owned by this actor"),
        ("upgrade another actor's connection to TLS client", tls_theirs, "a", upgrade_client("example.com"),
            "Connection {id} not owned by this actor"),
        ("accept on another actor's listener", their_listener, "a", accept(),
            "Listener {id} not owned by this actor"),
        ("close another actor's listener", their_listener, "a", close_listener(),
            "Listener {id} not owned by this actor"),
        ("local-address of another actor's listener", their_listener, "a", local_address(),
            "Listener {id} not owned by this actor"),
        // Callers that are not running.
        ("a call from an actor that never started", passive, "ghost", stats(),
            "Actor ghost is not running"),
        ("close from an owner that has stopped", stopped_owner, "d", close(),
            "Actor d is not running"),
        // The wrong state.
        ("activate an active connection", passive, "a", activate(),
            "Connection {id} is already active"),
        ("set-active on a pending connection", pending, "a", set_active("passive"),
            "Connection {id} must be activated before setting data mode"),
        ("send on a pending connection", pending, "a", send(1),
            "Connection {id} is pending - call activate() or transfer() first"),
        ("receive on a pending connection", pending, "a", receive(10),
            "Connection {id} is pending - call activate() or transfer() first"),
        ("receive-timeout on a pending connection", pending, "a", receive_timeout(10, 100),
            "Connection {id} is pending - call activate() or transfer() first"),
        ("shutdown a pending connection", pending, "a", shutdown("read"),
            "Connection {id} is pending - call activate() or transfer() first"),
        ("upgrade a pending connection", tls_pending, "a", upgrade_server(),
            "Connection {id} is pending - call activate() or transfer() first"),
        ("tls-info of a plaintext connection", passive, "a", tls_info(),
            "Connection {id} is not using TLS"),
        ("tls-info of a pending plaintext connection", pending, "a", tls_info(),
            "Connection {id} is not using TLS"),
        ("a second receive while one waits", receiving, "a", receive(10),
            "Connection {id} already has a receive in progress"),
        ("receive-timeout while a receive waits", receiving, "a", receive_timeout(10, 100),
            "Connection {id} already has a receive in progress"),
        ("send after shutdown(write)", write_shut, "a", send(1),
            "Connection {id} write side is shut down"),
        ("send on a reset connection", reset, "a", send(1),
            "Connection {id} closed: reset"),
        ("receive on a reset connection", reset, "a", receive(10),
            "Connection {id} closed: reset"),
        ("shutdown a reset connection", reset, "a", shutdown("both"),
            "Connection {id} closed: reset"),
        ("set-option on a reset connection", reset, "a", set_option("keepalive", "on"),
            "Connection {id} closed: reset"),
        // Double close, and calls after close.
        ("close a closed connection", closed, "a", close(),
            "Connection not found: {id}"),
        ("abort a closed connection", closed, "a", abort(),
            "Connection not found: {id}"),
        ("abort an aborted connection", aborted, "a", abort(),
            "Connection not found: {id}"),
        ("close an aborted connection", aborted, "a", close(),
            "Connection not found: {id}"),
        ("peer-address of a closed connection", closed, "a", peer_address(),
            "Connection not found: {id}"),
        ("send on a closed connection", closed, "a", send(1),
            "Connection not found: {id}"),
        ("receive on a closed connection", closed, "a", receive(10),
            "Connection not found: {id}"),
        ("transfer a closed connection", closed, "a", transfer("b"),
            "Connection not found: {id}"),
        ("connection-stats of a closed connection", closed, "a", stats(),
            "Connection not found: {id}"),
        ("close a closed listener", closed_listener, "a", close_listener(),
            "Listener not found: {id}"),
        ("accept on a closed listener", closed_listener, "a", accept(),
            "Listener not found: {id}"),
        ("local-address of a closed listener", closed_listener, "a", local_address(),
            "Listener not found: {id}"),
        // The wrong data mode.
        ("receive in active mode", active, "a", receive(10),
            "Connection {id} is in active mode - data is pushed via on-data callback"),
        ("receive in once mode", once, "a", receive(10),
            "Connection {id} is in active mode - data is pushed via on-data callback"),
        ("receive with credits left", credit, "a", receive(10),
            "Connection {id} is in active mode - data is pushed via on-data callback"),
        ("receive-timeout in active mode", active, "a", receive_timeout(10, 100),
            "Connection {id} is in active mode - data is pushed via on-data callback"),
        ("upgrade to TLS server in active mode", tls_active, "a", upgrade_server(),
            "Connection {id} must be in passive mode to upgrade to TLS"),
        ("upgrade to TLS client in once mode", tls_once, "a", upgrade_client("example.com"),
            "Connection {id} must be in passive mode to upgrade to TLS"),
        ("active mode without an on-data export", without_on_data, "c", set_active("active"),
            "Actor c does not export on-data, so only passive mode is possible"),
        ("credits without an on-data export", without_on_data, "c", set_active("3"),
            "Actor c does not export on-data, so only passive mode is possible"),
        // max = 0.
        ("receive with max 0", passive, "a", receive(0),
            "max-bytes must be at least 1"),
        ("receive with max 0 while bytes are buffered", buffered, "a", receive(0),
            "max-bytes must be at least 1"),
        ("receive-timeout with max 0", passive, "a", receive_timeout(0, 100),
            "max-bytes must be at least 1"),
        // Unknown modes.
        ("set-active with a capitalised mode", passive, "a", set_active("Active"),
            "Invalid mode 'Active': expected 'passive', 'active', 'once' or a count"),
        ("set-active with an empty mode", passive, "a", set_active(""),
            "Invalid mode '': expected 'passive', 'active', 'once' or a count"),
        ("set-active with a padded mode", passive, "a", set_active(" once"),
            "Invalid mode ' once': expected 'passive', 'active', 'once' or a count"),
        ("set-active with zero credits", passive, "a", set_active("0"),
            "Invalid mode '0': expected 'passive', 'active', 'once' or a count"),
        ("set-active with a negative count", passive, "a", set_active("-1"),
            "Invalid mode '-1': expected 'passive', 'active', 'once' or a count"),
        ("set-active with a signed count", passive, "a", set_active("+5"),
            "Invalid mode '+5': expected 'passive', 'active', 'once' or a count"),
        ("set-active with a count above 32767", passive, "a", set_active("32768"),
            "Invalid mode '32768': expected 'passive', 'active', 'once' or a count"),
        ("set-active with a count beyond u32", passive, "a", set_active("99999999999"),
            "Invalid mode '99999999999': expected 'passive', 'active', 'once' or a count"),
        ("set-active with a hex count", credit, "a", set_active("0x10"),
            "Invalid mode '0x10': expected 'passive', 'active', 'once' or a count"),
        ("credits added beyond 32767", full_credit, "a", set_active("1"),
            "Active count 32768 exceeds 32767"),
        // STARTTLS.
        ("upgrade to TLS server with plaintext buffered", tls_buffered, "a", upgrade_server(),
            "plaintext buffered before TLS upgrade"),
        ("upgrade to TLS client with plaintext buffered", tls_buffered, "a", upgrade_client("example.com"),
            "plaintext buffered before TLS upgrade"),
        ("upgrade to TLS server without certificates", passive, "a", upgrade_server(),
            "server_tls not configured on this handler"),
        ("upgrade to TLS client with client TLS off", passive, "a", upgrade_client("example.com"),
            "client_tls not configured on this handler"),
        ("upgrade to TLS client with a bad server name", tls_passive, "a", upgrade_client("not a name!"),
            "Invalid server name not a name!"),
        ("upgrade to TLS client with an empty server name", tls_passive, "a", upgrade_client(""),
            "Invalid server name "),
        ("upgrade a TLS connection again", tls_secure, "a", upgrade_server(),
            "Connection {id} is already using TLS"),
        ("upgrade a TLS connection to TLS client", tls_secure, "a", upgrade_client("example.com"),
            "Connection {id} is already using TLS"),
        ("upgrade while the handshake of an upgrade runs", tls_upgrading, "a", upgrade_server(),
            "Connection {id} is already using TLS"),
        ("tls-info while the handshake of an upgrade runs", tls_upgrading, "a", tls_info(),
            "Connection {id} is not using TLS"),
        ("upgrade while a receive waits", tls_receiving, "a", upgrade_server(),
            "Connection {id} already has a receive in progress"),
        ("upgrade after the peer's FIN", tls_at_eof, "a", upgrade_server(),
            "Connection {id} is closed"),
        ("upgrade after shutdown(write)", tls_write_shut, "a", upgrade_client("example.com"),
            "Connection {id} is closed"),
        ("upgrade a reset connection", tls_reset, "a", upgrade_server(),
            "Connection {id} closed: reset"),
        // Transfers.
        ("transfer to oneself", passive, "a", transfer("a"),
            "cannot transfer a connection to its own owner"),
        ("transfer-async of a pending connection to oneself", pending, "a", transfer_async("a"),
            "cannot transfer a connection to its own owner"),
        ("transfer to an unknown actor", passive, "a", transfer("nobody"),
            "Actor nobody not found"),
        ("transfer-async to an unknown actor", buffered, "a", transfer_async("nobody"),
            "Actor nobody not found"),
        ("transfer while the handshake of an upgrade runs", tls_upgrading, "a", transfer("b"),
            "Connection {id} is upgrading to TLS"),
        ("transfer-async while the handshake of an upgrade runs", tls_upgrading, "a", transfer_async("b"),
            "Connection {id} is upgrading to TLS"),
        ("transfer while an upgrade waits for its plaintext sends", tls_upgrade_queued, "a", transfer("c"),
            "Connection {id} is upgrading to TLS"),
        ("transfer of a pending connection to an unnamed actor", pending, "a", transfer(""),
            "Actor  not found"),
        ("transfer to an actor that has stopped", passive_after_d_stopped, "a", transfer("d"),
            "Actor d not found"),
        // Sends, shutdowns, options.
        ("send above max_send_bytes", passive, "a", send(1025),
            "Data too large: 1025 bytes exceeds max_send_bytes (1024)"),
        ("shutdown sideways", passive, "a", shutdown("sideways"),
            "Invalid shutdown direction 'sideways': expected 'read', 'write' or 'both'"),
        ("shutdown with an upper-case direction", passive, "a", shutdown("READ"),
            "Invalid shutdown direction 'READ': expected 'read', 'write' or 'both'"),
        ("set-option with an unknown option", passive, "a", set_option("linger", "1"),
            "Unknown option 'linger': expected 'nodelay' or 'keepalive'"),
        ("set-option nodelay to a word", passive, "a", set_option("nodelay", "yes"),
            "Invalid value 'yes' for option 'nodelay'"),
        ("set-option keepalive beyond a day", passive, "a", set_option("keepalive", "86401"),
            "Invalid value '86401' for option 'keepalive'"),
        ("set-option keepalive negative", pending, "a", set_option("keepalive", "-5"),
            "Invalid value '-5' for option 'keepalive'"),
        // Addresses.
        ("connect without a port", passive, "a", connect("10.0.0.2"),
            "Invalid address 10.0.0.2: expected host:port"),
        ("connect with a service name", passive, "a", connect("example.com:http"),
            "Invalid address example.com:http: 'http' is not a port number"),
        ("connect beyond port 65535", passive, "a", connect("10.0.0.2:70000"),
            "Invalid address 10.0.0.2:70000: port 70000 is out of range"),
        ("connect to an unbracketed IPv6 address", passive, "a", connect("::1:80"),
            "Invalid address ::1:80: IPv6 addresses must be written as [addr]:port"),
        ("listen on a bad host name", listener, "a", listen("bad_host!:80"),
            "Invalid address bad_host!:80: 'bad_host!' is not a valid host name"),
        ("connect to a denied network", passive, "a", connect("192.0.2.7:443"),
            "address not allowed: 192.0.2.7:443"),
        ("listen on a denied network", listener, "a", listen("192.0.2.1:0"),
            "address not allowed: 192.0.2.1:0"),
        ("connect at the connection limit", at_limit, "a", connect("10.0.0.3:80"),
            "Connection limit reached (1/1)"),
        // Per-actor quotas.
        ("connect at the actor's connection quota", at_quota, "a", connect("10.0.0.3:80"),
            "quota exceeded: max_connections_per_actor (1/1)"),
        ("listen at the actor's listener quota", at_quota, "a", listen("127.0.0.1:0"),
            "quota exceeded: max_listeners_per_actor (1/1)"),
        ("transfer to an actor at its connection quota", at_quota, "a", transfer("b"),
            "quota exceeded: max_connections_per_actor (1/1)"),
        ("transfer-async to an actor at its connection quota", at_quota, "a", transfer_async("b"),
            "quota exceeded: max_connections_per_actor (1/1)"),
        ("send past the actor's buffered-bytes quota", near_byte_quota, "a", send(3),
            "quota exceeded: max_buffered_bytes_per_actor (8/7)"),
        ("transfer of buffered bytes past the target's quota", near_byte_quota, "a",
            transfer("b"), "quota exceeded: max_buffered_bytes_per_actor (8/7)"),
        ("transfer-async of buffered bytes past the target's quota", near_byte_quota, "a",
            transfer_async("b"), "quota exceeded: max_buffered_bytes_per_actor (8/7)"),
    ]
}

// ------------------------------------------------------------------------------- the check

/// What an actor or the transport could observe of the handler, read without changing it.
#[derive(Debug, PartialEq)]
struct Snapshot {
    census: Census,
    next_deadline: Option<Instant>,
    /// Per actor: its connections and listeners.
    objects: Vec<(Vec<ConnId>, Vec<ListenerId>)>,
    /// Per connection: owner, buffered bytes, `connection-stats` as the owner sees them.
    connections: Vec<ConnectionView>,
    /// Per listener: `local-address` as the owner sees it.
    listeners: Vec<(ListenerId, Result<Reply, Error>)>,
    /// Everything else (half-close flags, read state, queues): the handler's `Debug`, minus
    /// the call counter, which every call advances.
    internals: String,
}

/// One connection as its owner and the handler's getters see it.
#[derive(Debug, PartialEq)]
struct ConnectionView {
    id: ConnId,
    owner: Option<ActorId>,
    buffered: usize,
    stats: Result<Reply, Error>,
}

fn internals(handler: &Handler) -> String {
    let text = format!("{handler:?}");
    let Some(at) = text.find("next_call: ") else {
        panic!("Handler's Debug no longer shows next_call: update this test")
    };
    let digits = text[at + "next_call: ".len()..]
        .bytes()
        .take_while(u8::is_ascii_digit)
        .count();
    format!(
        "{}{}",
        &text[..at],
        &text[at + "next_call: ".len() + digits..]
    )
}

#[track_caller]
fn snapshot(rig: &mut Rig) -> Snapshot {
    let mut snap = Snapshot {
        census: rig.handler.census(),
        next_deadline: rig.handler.poll_timeout(),
        internals: internals(&rig.handler),
        objects: Vec::new(),
        connections: Vec::new(),
        listeners: Vec::new(),
    };
    for actor in ACTORS {
        let (conns, listeners) = rig.handler.objects_of(&ActorId::new(actor));
        for &conn in &conns {
            let owner = rig.handler.connection_owner(conn).cloned();
            let buffered = rig.handler.buffered(conn);
            let stats = rig.call_now(
                actor,
                Call::ConnectionStats {
                    connection: conn.to_string(),
                },
            );
            snap.connections.push(ConnectionView {
                id: conn,
                owner,
                buffered,
                stats,
            });
        }
        for &l in &listeners {
            let local = rig.call_now(actor, Call::LocalAddress { id: l.to_string() });
            snap.listeners.push((l, local));
        }
        snap.objects.push((conns, listeners));
    }
    assert!(
        rig.commands.is_empty() && rig.notices.is_empty(),
        "reading the state had effects: {:?} {:?}",
        rig.commands,
        rig.notices
    );
    snap
}

/// Runs one row on a fresh fixture; returns the call made and the error it got, or what
/// went wrong.
fn check(row: &Row) -> Result<(Call, Error), String> {
    let (name, setup, actor, call_for, expected) = row;
    let Fixture { mut rig, id } = setup();
    // What the fixture left for the transport and the actors is not this row's business.
    rig.commands.clear();
    rig.notices.clear();
    let before = snapshot(&mut rig);

    let call = call_for(&id);
    let call_id = rig.call(actor, call.clone());

    let commands = std::mem::take(&mut rig.commands);
    let notices = std::mem::take(&mut rig.notices);
    if !commands.is_empty() {
        return Err(format!("{name}: emitted commands {commands:?}"));
    }
    let error = match notices.as_slice() {
        [
            Notice::CallCompleted {
                actor: who,
                call: completed,
                result: Err(error),
            },
        ] if who.as_str() == *actor && *completed == call_id => error.clone(),
        other => {
            return Err(format!(
                "{name}: expected only its own failed completion, got {other:?}"
            ));
        }
    };
    let text = expected.replace("{id}", &id);
    if error.to_string() != text {
        return Err(format!(
            "{name}: error {:?} ({error:?}), expected {text:?}",
            error.to_string()
        ));
    }
    let after = snapshot(&mut rig);
    if before != after {
        return Err(format!(
            "{name}: state changed\nbefore: {before:#?}\nafter:  {after:#?}"
        ));
    }
    Ok((call, error))
}

#[test]
fn every_bad_call_gets_its_documented_error_and_changes_nothing() {
    let rows = rows();
    assert!(rows.len() >= 45, "only {} rows", rows.len());
    let mut names = BTreeSet::new();
    let mut calls: Vec<Discriminant<Call>> = Vec::new();
    let mut errors: Vec<Discriminant<Error>> = Vec::new();
    let mut failures = Vec::new();
    for row in &rows {
        assert!(names.insert(row.0), "duplicate row name {:?}", row.0);
        match check(row) {
            Ok((call, error)) => {
                calls.push(discriminant(&call));
                errors.push(discriminant(&error));
            }
            Err(failure) => failures.push(failure),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );

    // The table covers every call, and every error a call can get at once.
    let s = String::new;
    let every_call = [
        Call::Connect { address: s() },
        Call::Listen { address: s() },
        Call::Accept { listener: s() },
        Call::Activate { connection: s() },
        Call::SetActive {
            connection: s(),
            mode: s(),
        },
        Call::Transfer {
            connection: s(),
            target: s(),
        },
        Call::TransferAsync {
            connection: s(),
            target: s(),
        },
        Call::PeerAddress { connection: s() },
        Call::Send {
            connection: s(),
            data: Vec::new(),
        },
        Call::Receive {
            connection: s(),
            max: 0,
        },
        Call::Close { connection: s() },
        Call::CloseListener { listener: s() },
        Call::UpgradeToTlsServer { connection: s() },
        Call::UpgradeToTlsClient {
            connection: s(),
            server_name: s(),
        },
        Call::LocalAddress { id: s() },
        Call::Shutdown {
            connection: s(),
            how: s(),
        },
        Call::Abort { connection: s() },
        Call::ReceiveTimeout {
            connection: s(),
            max: 0,
            ms: 0,
        },
        Call::SetOption {
            connection: s(),
            name: s(),
            value: s(),
        },
        Call::TlsInfo { connection: s() },
        Call::ConnectionStats { connection: s() },
    ];
    for call in &every_call {
        assert!(calls.contains(&discriminant(call)), "no row makes {call:?}");
    }
    let every_immediate_error = [
        Error::InvalidId(s()),
        Error::ConnectionNotFound(s()),
        Error::ListenerNotFound(s()),
        Error::ConnectionNotOwned(s()),
        Error::ListenerNotOwned(s()),
        Error::ActorNotRunning(s()),
        Error::ActorNotFound(s()),
        Error::TransferToSelf,
        Error::InvalidAddress {
            address: s(),
            reason: s(),
        },
        Error::AddressNotAllowed(s()),
        Error::ConnectionLimit { open: 0, max: 0 },
        Error::QuotaExceeded {
            name: s(),
            n: 0,
            max: 0,
        },
        Error::AlreadyActive(s()),
        Error::InvalidMode(s()),
        Error::CreditOverflow(0),
        Error::NotActivated(s()),
        Error::Pending(s()),
        Error::OnDataNotExported(s()),
        Error::MaxBytesZero,
        Error::ActiveMode(s()),
        Error::ReceiveInProgress(s()),
        Error::SendTooLarge { len: 0, max: 0 },
        Error::WriteShut(s()),
        Error::Closed(s()),
        Error::ConnectionFailed {
            id: s(),
            reason: s(),
        },
        Error::PlaintextBuffered,
        Error::ServerTlsNotConfigured,
        Error::ClientTlsNotConfigured,
        Error::InvalidServerName(s()),
        Error::AlreadyTls(s()),
        Error::UpgradeNeedsPassive(s()),
        Error::NotTls(s()),
        Error::InvalidShutdown(s()),
        Error::UnknownOption(s()),
        Error::InvalidOptionValue {
            name: s(),
            value: s(),
        },
        Error::Upgrading(s()),
    ];
    for error in &every_immediate_error {
        assert!(
            errors.contains(&discriminant(error)),
            "no row gets {error:?}"
        );
    }
}

// ------------------------------------------------------------------------------- huge max

/// `u32::MAX` is a valid `max`: the actor gets what is buffered, and nothing is sized by it.
#[test]
fn receive_with_the_largest_max_returns_only_the_buffered_bytes() {
    let mut f = buffered();
    let reply = f.rig.call_now(
        "a",
        Call::Receive {
            connection: f.id.clone(),
            max: u32::MAX,
        },
    );
    assert_eq!(reply, Ok(Reply::Data(b"hello".to_vec())));
    assert_eq!(f.rig.handler.buffered(f.conn()), 0);
}

/// A waiting `receive` with the largest `max` asks the transport for one chunk, not 4 GiB,
/// and hands over exactly what the peer sent.
#[test]
fn waiting_receive_with_the_largest_max_reads_one_chunk() {
    for timeout in [None, Some(u64::MAX)] {
        let Fixture { mut rig, id } = passive();
        let conn = ObjectId::parse(&id);
        let Ok(ObjectId::Connection(conn)) = conn else {
            panic!("not a connection: {id}")
        };
        let call = match timeout {
            None => Call::Receive {
                connection: id.clone(),
                max: u32::MAX,
            },
            Some(ms) => Call::ReceiveTimeout {
                connection: id.clone(),
                max: u32::MAX,
                ms,
            },
        };
        let receive = rig.call("a", call);
        assert_eq!(rig.result(receive), None);
        assert_eq!(rig.take_read(conn), Some(rig.handler.config().max_chunk));
        rig.io(IoEvent::Received {
            connection: conn,
            data: b"hi".to_vec(),
        });
        assert_eq!(rig.result(receive), Some(Ok(Reply::Data(b"hi".to_vec()))));
    }
}
