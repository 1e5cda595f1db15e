//! Scenario tests of the handler, grouped by the state they start from.
//!
//! Each test builds its state with the [`Rig`](theater_tcp_core::testkit::Rig), does one
//! thing, and asserts what an actor or the peer (through the transport commands) sees.

#[path = "states/closing.rs"]
mod closing;
#[path = "states/connect.rs"]
mod connect;
#[path = "states/data.rs"]
mod data;
#[path = "states/lifecycle.rs"]
mod lifecycle;
#[path = "states/listener.rs"]
mod listener;
#[path = "states/pending.rs"]
mod pending;
#[path = "states/quotas.rs"]
mod quotas;
#[path = "states/tls.rs"]
mod tls;
#[path = "states/transfer.rs"]
mod transfer;

use theater_tcp_core::testkit::{self, Rig};
use theater_tcp_core::*;

/// Exports of an actor that takes pushed data and end-of-stream notices, but not connections.
pub const PUSH: Exports = Exports {
    handle_connection: false,
    handle_connection_transfer: true,
    on_data: true,
    on_close: true,
    on_passive: true,
};

/// A rig with actor `a` (PUSH exports) and a small config so bounds are easy to hit.
pub fn rig_with(config: Config) -> Rig {
    let mut rig = Rig::new(config);
    rig.start("a", PUSH);
    rig
}

/// A rig with small buffers: watermark 64, chunk 16, write buffer 32.
pub fn small() -> Config {
    Config {
        receive_watermark: 64,
        max_chunk: 16,
        write_buffer: 32,
        ..Config::default()
    }
}

/// Whether `listener` has an accept outstanding: the last `Accept` or `CancelAccept` the
/// handler gave for it (and the rig did not take) is an `Accept`.
pub fn accepting(rig: &Rig, listener: ListenerId) -> bool {
    rig.commands
        .iter()
        .rev()
        .find_map(|c| match c {
            Command::Accept { listener: l, .. } if *l == listener => Some(true),
            Command::CancelAccept { listener: l } if *l == listener => Some(false),
            _ => None,
        })
        .unwrap_or(false)
}

/// Shorthand for a call on a connection.
#[track_caller]
pub fn set_active(rig: &mut Rig, actor: &str, conn: ConnId, mode: &str) -> Result<Reply, Error> {
    rig.call_now(
        actor,
        Call::SetActive {
            connection: conn.to_string(),
            mode: mode.into(),
        },
    )
}

/// An open connection of `a`, in `mode`.
#[track_caller]
pub fn open_in(rig: &mut Rig, mode: &str) -> ConnId {
    let conn = rig.open("a");
    assert_eq!(set_active(rig, "a", conn, mode), Ok(Reply::Unit));
    conn
}

/// The `on-data` payloads (with callback ids) for actor `actor`.
#[track_caller]
pub fn on_data(rig: &mut Rig, actor: &str) -> Vec<(CallbackId, Vec<u8>)> {
    rig.callbacks(actor)
        .into_iter()
        .filter_map(|(id, cb)| match cb {
            Callback::OnData { data, .. } => Some((id, data)),
            _ => None,
        })
        .collect()
}

/// `transfer` and `transfer-async` of `conn` to `target`, for rules that hold for both.
pub fn both_transfers(conn: ConnId, target: &str) -> [Call; 2] {
    [
        Call::Transfer {
            connection: conn.to_string(),
            target: target.into(),
        },
        Call::TransferAsync {
            connection: conn.to_string(),
            target: target.into(),
        },
    ]
}

/// `actor` calls `receive(conn, max)`; returns the call to look up later.
#[track_caller]
pub fn receive(rig: &mut Rig, actor: &str, conn: ConnId, max: u32) -> CallId {
    rig.call(
        actor,
        Call::Receive {
            connection: conn.to_string(),
            max,
        },
    )
}

/// `actor` calls `send(conn, data)`; returns the call to look up later.
#[track_caller]
pub fn send(rig: &mut Rig, actor: &str, conn: ConnId, data: Vec<u8>) -> CallId {
    rig.call(
        actor,
        Call::Send {
            connection: conn.to_string(),
            data,
        },
    )
}

/// `actor` calls `send(conn, data)`, which must complete at once.
#[track_caller]
pub fn send_now(rig: &mut Rig, actor: &str, conn: ConnId, data: Vec<u8>) -> Result<Reply, Error> {
    rig.call_now(
        actor,
        Call::Send {
            connection: conn.to_string(),
            data,
        },
    )
}

/// An accept of `listener` that completed in the transport after the core cancelled it (it
/// had no place for the connection): the core refuses it with RST and admits nothing, so the
/// handler still holds `connections` connections.
#[track_caller]
pub fn a_late_accept_is_refused(rig: &mut Rig, listener: ListenerId, connections: usize) {
    let Some(conn) = rig.take_accept(listener) else {
        panic!("no accept")
    };
    rig.io(IoEvent::Accepted {
        listener,
        connection: conn,
        peer: testkit::peer_addr(1),
        local: testkit::peer_addr(2),
    });
    assert!(rig.commands.contains(&Command::Abort { connection: conn }));
    assert_eq!(rig.handler.census().connections, connections);
}
