//! Transfer: race-free hand-over between actors.

use super::*;

fn transfer(rig: &mut Rig, conn: ConnId, to: &str) -> CallId {
    rig.call(
        "a",
        Call::Transfer {
            connection: conn.to_string(),
            target: to.into(),
        },
    )
}

/// `transfer-async(conn, to)` made by `from`.
fn transfer_async(rig: &mut Rig, from: &str, conn: ConnId, to: &str) -> CallId {
    rig.call(
        from,
        Call::TransferAsync {
            connection: conn.to_string(),
            target: to.into(),
        },
    )
}

#[test]
fn a_sync_transfer_returns_after_the_targets_callback() {
    let mut rig = rig_with(small());
    rig.start("b", PUSH);
    let conn = rig.pending("a");
    let t = transfer(&mut rig, conn, "b");
    assert_eq!(rig.result(t), None);
    let cbs = rig.callbacks("b");
    assert_eq!(
        cbs[0].1,
        Callback::HandleConnectionTransfer {
            connection: conn.to_string()
        }
    );
    rig.callback_done(cbs[0].0, Ok(()));
    assert_eq!(rig.result(t), Some(Ok(Reply::Unit)));
    let r = rig.call_now(
        "a",
        Call::Receive {
            connection: conn.to_string(),
            max: 1,
        },
    );
    assert_eq!(r, Err(Error::ConnectionNotOwned(conn.to_string())));
    let stats = rig.call_now(
        "b",
        Call::ConnectionStats {
            connection: conn.to_string(),
        },
    );
    assert!(matches!(stats, Ok(Reply::Stats(s)) if s.state == "active" && s.mode == "passive"));
}

#[test]
fn buffered_bytes_move_with_the_connection() {
    let mut rig = rig_with(small());
    rig.start("b", Exports::default());
    let conn = rig.open("a");
    let r = receive(&mut rig, "a", conn, 2);
    rig.peer_sends(conn, b"abcdef");
    assert_eq!(rig.result(r), Some(Ok(Reply::Data(b"ab".to_vec()))));
    let t = transfer(&mut rig, conn, "b");
    assert_eq!(
        rig.result(t),
        Some(Ok(Reply::Unit)),
        "no callback exported: returns at once"
    );
    let r = rig.call_now(
        "b",
        Call::Receive {
            connection: conn.to_string(),
            max: 100,
        },
    );
    assert_eq!(r, Ok(Reply::Data(b"cdef".to_vec())));
}

#[test]
fn falls_back_to_handle_connection() {
    let mut rig = rig_with(small());
    rig.start(
        "b",
        Exports {
            handle_connection: true,
            ..Exports::default()
        },
    );
    let conn = rig.open("a");
    transfer(&mut rig, conn, "b");
    assert_eq!(
        rig.callbacks("b")[0].1,
        Callback::HandleConnection {
            connection: conn.to_string()
        }
    );
}

#[test]
fn an_unknown_target_leaves_the_connection_with_its_owner() {
    let mut rig = rig_with(small());
    let conn = rig.open("a");
    let t = transfer(&mut rig, conn, "ghost");
    assert_eq!(
        rig.result(t).map(|r| r.map_err(|e| e.to_string())),
        Some(Err("Actor ghost not found".into()))
    );
    let t = transfer(&mut rig, conn, "a");
    assert_eq!(
        rig.result(t).map(|r| r.map_err(|e| e.to_string())),
        Some(Err("cannot transfer a connection to its own owner".into()))
    );
    let r = receive(&mut rig, "a", conn, 5);
    rig.peer_sends(conn, b"still");
    assert_eq!(rig.result(r), Some(Ok(Reply::Data(b"still".to_vec()))));
}

#[test]
fn a_failing_target_callback_closes_the_connection_and_returns_the_error() {
    let mut rig = rig_with(small());
    rig.start("b", PUSH);
    let conn = rig.open("a");
    let t = transfer(&mut rig, conn, "b");
    let cbs = rig.callbacks("b");
    rig.callback_done(cbs[0].0, Err("no capacity".into()));
    assert_eq!(
        rig.result(t).map(|r| r.map_err(|e| e.to_string())),
        Some(Err("transfer callback failed: no capacity".into()))
    );
    assert!(rig.commands.contains(&Command::Close { connection: conn }));
}

#[test]
fn async_transfer_returns_at_once_and_a_late_failure_spares_a_new_owner() {
    let mut rig = rig_with(small());
    rig.start("b", PUSH);
    rig.start("c", PUSH);
    let conn = rig.open("a");
    let t = transfer_async(&mut rig, "a", conn, "b");
    assert_eq!(rig.result(t), Some(Ok(Reply::Unit)));
    let cb = rig.callbacks("b")[0].0;
    // b hands it on to c before its own callback reports failure.
    let t2 = transfer_async(&mut rig, "b", conn, "c");
    assert_eq!(rig.result(t2), Some(Ok(Reply::Unit)));
    rig.callback_done(cb, Err("late".into()));
    assert!(
        !rig.commands.contains(&Command::Close { connection: conn }),
        "c owns it now: untouched"
    );
    assert_eq!(
        rig.handler.connection_owner(conn).map(|a| a.as_str()),
        Some("c")
    );
}

#[test]
fn transfer_during_on_data_lets_it_finish_and_delivers_nothing_else_to_the_old_owner() {
    let mut rig = rig_with(small());
    rig.start("b", PUSH);
    let conn = open_in(&mut rig, "active");
    rig.peer_sends(conn, b"first");
    let (running, data) = on_data(&mut rig, "a")[0].clone();
    assert_eq!(data, b"first");
    rig.peer_sends(conn, b"second");
    // From inside on-data: a's call does not wait for its own on-data (no deadlock).
    let t = transfer_async(&mut rig, "a", conn, "b");
    assert_eq!(rig.result(t), Some(Ok(Reply::Unit)));
    let b_cbs = rig.callbacks("b");
    rig.callback_done(b_cbs[0].0, Ok(()));
    set_active(&mut rig, "b", conn, "active").ok();
    assert!(
        on_data(&mut rig, "b").is_empty(),
        "one on-data in flight per connection, even across owners"
    );
    rig.callback_done(running, Ok(()));
    assert!(on_data(&mut rig, "a").is_empty());
    let to_b = on_data(&mut rig, "b");
    assert_eq!(
        to_b.iter().map(|d| d.1.clone()).collect::<Vec<_>>(),
        vec![b"second".to_vec()]
    );
}

#[test]
fn rare_paths_are_counted_by_probes() {
    let mut rig = rig_with(small());
    rig.start("b", PUSH);
    let conn = open_in(&mut rig, "active");
    rig.peer_sends(conn, b"x");
    let (running, _) = on_data(&mut rig, "a")[0].clone();
    transfer_async(&mut rig, "a", conn, "b");
    rig.callback_done(running, Ok(()));
    let probes = rig.handler.probes();
    assert_eq!(probes.get("transfer.during_on_data"), Some(&1));
    assert_eq!(
        probes.get("transfer.with_buffered_bytes"),
        None,
        "nothing was buffered: its one byte was in on-data"
    );
    assert_eq!(probes.get("on_data.finished_after_owner_change"), Some(&1));
    assert_eq!(
        probes.get("read.cancelled"),
        Some(&1),
        "passive after transfer: the read-ahead stops"
    );
}

#[test]
fn a_connection_handed_over_after_its_on_close_tells_the_new_owner_too() {
    let mut rig = rig_with(small());
    rig.start("b", PUSH);
    let conn = open_in(&mut rig, "active");
    rig.take_read(conn);
    rig.io(IoEvent::ReadEnded {
        connection: conn,
        end: StreamEnd::Eof,
    });
    let closes = |rig: &mut Rig, actor: &str| {
        rig.callbacks(actor)
            .into_iter()
            .filter_map(|(id, cb)| match cb {
                Callback::OnClose { reason, .. } => Some((id, reason)),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let to_a = closes(&mut rig, "a");
    assert_eq!(to_a.len(), 1);
    assert_eq!(to_a[0].1, "eof");
    // a hands it over from inside on-close (keep_open_on_peer_close is off, but a's on-close
    // has not returned, so the connection is still there).
    let t = transfer_async(&mut rig, "a", conn, "b");
    assert_eq!(rig.result(t), Some(Ok(Reply::Unit)));
    rig.callback_done(to_a[0].0, Ok(()));
    let b_cbs = rig.callbacks("b");
    rig.callback_done(b_cbs[0].0, Ok(()));
    assert_eq!(set_active(&mut rig, "b", conn, "active"), Ok(Reply::Unit));
    let to_b = closes(&mut rig, "b");
    assert_eq!(
        to_b.iter().map(|c| c.1.as_str()).collect::<Vec<_>>(),
        vec!["eof"],
        "b learns of the end once, as its own notice"
    );
}

#[test]
fn an_on_data_that_fails_after_its_connection_was_handed_over_spares_the_new_owner() {
    let mut rig = rig_with(small());
    rig.start("b", PUSH);
    let conn = open_in(&mut rig, "active");
    rig.peer_sends(conn, b"x");
    let (running, _) = on_data(&mut rig, "a")[0].clone();
    let t = transfer_async(&mut rig, "a", conn, "b");
    assert_eq!(rig.result(t), Some(Ok(Reply::Unit)));
    let b_cbs = rig.callbacks("b");
    rig.callback_done(b_cbs[0].0, Ok(()));
    // a's on-data, still running when a gave the connection away, fails.
    rig.callback_done(running, Err("a's own trouble".into()));
    assert!(
        !rig.commands
            .iter()
            .any(|c| matches!(c, Command::Close { .. } | Command::Abort { .. })),
        "b's connection stays open: {:?}",
        rig.commands
    );
    assert!(rig.callbacks("b").is_empty(), "b hears nothing of it");
    assert_eq!(
        rig.handler.connection_owner(conn).map(|a| a.as_str()),
        Some("b")
    );
    let s = send(&mut rig, "b", conn, b"still mine".to_vec());
    assert_eq!(rig.result(s), Some(Ok(Reply::Sent(10))));
}
