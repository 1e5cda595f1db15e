//! Actor lifecycle: a stop closes exactly the stopping actor's objects.

use super::*;

#[test]
fn stopping_an_actor_closes_only_its_own_objects() {
    let mut rig = rig_with(small());
    rig.start("b", PUSH);
    let mine = rig.open("a");
    let theirs = rig.open("b");
    let l = rig.listener("a");
    let r = receive(&mut rig, "a", mine, 5);
    rig.take_commands();
    rig.stop("a");
    assert_eq!(
        rig.result(r).map(|r| r.is_err()),
        Some(true),
        "its waiting calls end"
    );
    let cmds = rig.take_commands();
    assert!(cmds.contains(&Command::Close { connection: mine }));
    assert!(cmds.contains(&Command::CloseListener { listener: l }));
    assert!(
        !cmds
            .iter()
            .any(|c| format!("{c:?}").contains(&format!("ConnId({})", theirs.0)))
    );
    let still = receive(&mut rig, "b", theirs, 5);
    rig.peer_sends(theirs, b"ok");
    assert_eq!(rig.result(still), Some(Ok(Reply::Data(b"ok".to_vec()))));
    assert_eq!(rig.handler.objects_of(&ActorId::new("a")), (vec![], vec![]));
}

#[test]
fn a_sync_transfer_to_an_actor_that_stops_ends_with_an_error() {
    let mut rig = rig_with(small());
    rig.start("b", PUSH);
    let conn = rig.open("a");
    let t = rig.call(
        "a",
        Call::Transfer {
            connection: conn.to_string(),
            target: "b".into(),
        },
    );
    rig.stop("b");
    assert_eq!(
        rig.result(t).map(|r| r.map_err(|e| e.to_string())),
        Some(Err("Actor b stopped".into()))
    );
    assert!(
        rig.commands.contains(&Command::Close { connection: conn }),
        "b owned it: closed with b"
    );
}

#[test]
fn calls_from_an_actor_that_is_not_running_are_refused() {
    let mut rig = rig_with(small());
    let r = rig.call_now(
        "nobody",
        Call::Listen {
            address: "127.0.0.1:0".into(),
        },
    );
    assert_eq!(
        r.map_err(|e| e.to_string()),
        Err("Actor nobody is not running".into())
    );
    assert!(rig.commands.is_empty());
}

#[test]
fn an_on_data_cut_short_by_its_actors_stop_does_not_block_the_new_owner() {
    let mut rig = rig_with(small());
    rig.start("b", PUSH);
    let conn = open_in(&mut rig, "active");
    rig.peer_sends(conn, b"to a");
    assert_eq!(on_data(&mut rig, "a").len(), 1);
    rig.call_now(
        "a",
        Call::TransferAsync {
            connection: conn.to_string(),
            target: "b".into(),
        },
    )
    .ok();
    rig.callbacks("b");
    rig.stop("a"); // a dies inside its on-data
    set_active(&mut rig, "b", conn, "active").ok();
    rig.peer_sends(conn, b"to b");
    let got = on_data(&mut rig, "b");
    assert_eq!(
        got.iter().map(|d| d.1.clone()).collect::<Vec<_>>(),
        vec![b"to b".to_vec()]
    );
}

/// The transitions of `object` (its id as actors see it), as the trace shows them.
fn story_of(rig: &Rig, object: impl ToString) -> Vec<String> {
    let prefix = format!("{} ", object.to_string());
    rig.transitions
        .iter()
        .map(|t| t.to_string())
        .filter(|t| t.starts_with(&prefix))
        .collect()
}

#[test]
fn a_connection_s_life_reads_as_a_story_of_transitions() {
    let mut rig = rig_with(small());
    let l = rig.listener("a");
    let conn = rig.pending("a");
    assert_eq!(
        story_of(&rig, l),
        [
            "listener-1 listener: closed => binding",
            "listener-1 listener: binding => listening"
        ]
    );
    assert_eq!(
        set_active(&mut rig, "a", conn, "passive"),
        Err(Error::NotActivated(conn.to_string()))
    );
    rig.call_now(
        "a",
        Call::Activate {
            connection: conn.to_string(),
        },
    )
    .ok();
    assert_eq!(set_active(&mut rig, "a", conn, "once"), Ok(Reply::Unit));
    rig.peer_sends(conn, b"hi");
    rig.io(IoEvent::ReadEnded {
        connection: conn,
        end: StreamEnd::Eof,
    });
    rig.call_now(
        "a",
        Call::Close {
            connection: conn.to_string(),
        },
    )
    .ok();
    let c = conn.to_string();
    let expected: Vec<String> = [
        "connection: closed => queued",
        "connection: queued => pending",
        "connection: pending => open",
        "mode: passive => once",
        "read: open/idle => open/reading",
        "read: open/reading => open/idle",
        "mode: once => passive",
        "read: open/idle => ended(eof)",
        "connection: open => closed",
    ]
    .iter()
    .map(|t| format!("{c} {t}"))
    .collect();
    assert_eq!(story_of(&rig, conn), expected);
    rig.call_now(
        "a",
        Call::CloseListener {
            listener: l.to_string(),
        },
    )
    .ok();
    assert_eq!(
        story_of(&rig, l).last().map(String::as_str),
        Some("listener-1 listener: listening => closed")
    );
}

#[test]
fn a_starttls_upgrade_and_a_reset_read_as_a_story() {
    let mut rig = rig_with(Config {
        server_tls: Some(ServerTls {
            enabled: true,
            cert: "c.pem".into(),
            key: "k.pem".into(),
            auto_handshake: false,
        }),
        ..small()
    });
    let conn = rig.open("a");
    let up = rig.call(
        "a",
        Call::UpgradeToTlsServer {
            connection: conn.to_string(),
        },
    );
    rig.io(IoEvent::TlsEstablished {
        connection: conn,
        info: TlsInfo::default(),
    });
    assert_eq!(rig.result(up), Some(Ok(Reply::Unit)));
    let r = receive(&mut rig, "a", conn, 10);
    rig.io(IoEvent::ReadEnded {
        connection: conn,
        end: StreamEnd::Reset,
    });
    assert!(matches!(
        rig.result(r),
        Some(Err(Error::ConnectionFailed { .. }))
    ));
    let c = conn.to_string();
    let expected: Vec<String> = [
        "connection: closed => connecting",
        "connection: connecting => open",
        "tls: plain => upgrade-requested",
        "tls: upgrade-requested => handshaking",
        "tls: handshaking => secure",
        "read: open/idle => open/reading",
        "read: open/reading => gone(reset)",
    ]
    .iter()
    .map(|t| format!("{c} {t}"))
    .collect();
    assert_eq!(story_of(&rig, conn), expected);
}
