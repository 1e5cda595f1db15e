//! Per-actor quotas: the call that would exceed one fails naming it and changes nothing; no
//! other actor is affected; an actor at its connection quota accepts nothing more.

use super::*;

fn quotas(connections: usize, listeners: usize) -> Config {
    Config {
        max_connections_per_actor: Some(connections),
        max_listeners_per_actor: Some(listeners),
        ..Config::default()
    }
}

#[track_caller]
fn connect_now(rig: &mut Rig, actor: &str) -> Result<Reply, Error> {
    rig.call_now(
        actor,
        Call::Connect {
            address: "10.0.0.9:1".into(),
        },
    )
}

#[test]
fn a_connect_past_the_actors_quota_fails_and_other_actors_still_connect() {
    let mut rig = rig_with(quotas(2, 8));
    rig.start("b", PUSH);
    rig.open("a");
    rig.open("a");
    let census = rig.handler.census();
    assert_eq!(
        connect_now(&mut rig, "a").map_err(|e| e.to_string()),
        Err("quota exceeded: max_connections_per_actor (2/2)".into())
    );
    assert_eq!(rig.handler.census(), census, "nothing changed");
    rig.open("b");
    assert_eq!(rig.handler.census().connections, 3);
}

#[test]
fn a_listen_past_the_actors_quota_fails_until_a_listener_closes() {
    let mut rig = rig_with(quotas(8, 1));
    rig.start("b", PUSH);
    let l = rig.listener("a");
    let refused = rig.call_now(
        "a",
        Call::Listen {
            address: "127.0.0.1:0".into(),
        },
    );
    assert_eq!(
        refused.map_err(|e| e.to_string()),
        Err("quota exceeded: max_listeners_per_actor (1/1)".into())
    );
    assert!(
        !rig.commands
            .iter()
            .any(|c| matches!(c, Command::Bind { .. })),
        "refused before any system call"
    );
    rig.listener("b");
    rig.call_now(
        "a",
        Call::CloseListener {
            listener: l.to_string(),
        },
    )
    .ok();
    rig.listener("a");
}

#[test]
fn at_its_connection_quota_an_actors_listener_stops_accepting_and_others_go_on() {
    let mut rig = rig_with(quotas(1, 8));
    rig.start("b", PUSH);
    let la = rig.listener("a");
    let lb = rig.listener("b");
    let queued = rig.peer_connects(la);
    assert!(!accepting(&rig, la), "a holds its one connection");
    assert!(accepting(&rig, lb), "b's listener is not a's quota");
    rig.peer_connects(lb);
    let got = rig.call_now(
        "a",
        Call::Accept {
            listener: la.to_string(),
        },
    );
    assert_eq!(got, Ok(Reply::Id(queued.to_string())));
    rig.io(IoEvent::AcceptCancelled { listener: la });
    rig.call_now(
        "a",
        Call::Close {
            connection: queued.to_string(),
        },
    )
    .ok();
    assert!(accepting(&rig, la), "a place came free: accepting resumes");
}

#[test]
fn a_transfer_to_an_actor_at_its_quota_fails_and_the_connection_stays() {
    let mut rig = rig_with(quotas(1, 8));
    rig.start("b", PUSH);
    let theirs = rig.open("b");
    let conn = rig.open("a");
    for call in both_transfers(conn, "b") {
        assert_eq!(
            rig.call_now("a", call).map_err(|e| e.to_string()),
            Err("quota exceeded: max_connections_per_actor (1/1)".into())
        );
    }
    assert_eq!(rig.handler.connection_owner(conn), Some(&ActorId::new("a")));
    assert!(rig.callbacks("b").is_empty());
    rig.call_now(
        "b",
        Call::Close {
            connection: theirs.to_string(),
        },
    )
    .ok();
    assert_eq!(
        rig.call_now(
            "a",
            Call::TransferAsync {
                connection: conn.to_string(),
                target: "b".into(),
            }
        ),
        Ok(Reply::Unit)
    );
}

#[test]
fn a_transfer_frees_a_place_in_the_old_owners_quota() {
    let mut rig = rig_with(quotas(1, 8));
    rig.start("b", PUSH);
    let la = rig.listener("a");
    let queued = rig.peer_connects(la);
    assert!(!accepting(&rig, la));
    let got = rig.call_now(
        "a",
        Call::Accept {
            listener: la.to_string(),
        },
    );
    assert_eq!(got, Ok(Reply::Id(queued.to_string())));
    rig.io(IoEvent::AcceptCancelled { listener: la });
    rig.call_now(
        "a",
        Call::TransferAsync {
            connection: queued.to_string(),
            target: "b".into(),
        },
    )
    .ok();
    assert_eq!(
        rig.handler.connection_owner(queued),
        Some(&ActorId::new("b"))
    );
    assert!(
        accepting(&rig, la),
        "a holds nothing now: its listener accepts again"
    );
}

#[test]
fn a_connect_taking_the_actors_last_place_refuses_the_accept_in_flight() {
    let mut rig = rig_with(quotas(1, 8));
    let la = rig.listener("a");
    assert!(accepting(&rig, la));
    rig.call(
        "a",
        Call::Connect {
            address: "10.0.0.9:1".into(),
        },
    );
    assert!(
        rig.commands
            .contains(&Command::CancelAccept { listener: la }),
        "a holds its one place: the accept is cancelled"
    );
    // The accept completed anyway before the cancel reached it.
    a_late_accept_is_refused(&mut rig, la, 1);
}

/// Watermark 64, chunk 16, write buffer 32, and `a` (and every actor) may hold 40 bytes.
fn buffered(max: usize) -> Config {
    Config {
        max_buffered_bytes_per_actor: Some(max),
        ..small()
    }
}

#[track_caller]
fn quota_error(result: Result<Reply, Error>) -> String {
    match result {
        Err(e @ Error::QuotaExceeded { .. }) => e.to_string(),
        other => panic!("expected a quota error, got {other:?}"),
    }
}

#[test]
fn reads_stop_at_the_buffered_bytes_quota_over_all_connections_and_resume_as_the_actor_reads() {
    let mut rig = rig_with(buffered(40));
    rig.start("b", PUSH);
    let c1 = open_in(&mut rig, "active");
    assert_eq!(rig.take_read(c1), Some(16));
    let c2 = open_in(&mut rig, "active");
    assert_eq!(rig.take_read(c2), Some(16), "reads out hold no room");
    // The first chunk goes to the actor (`on-data` in flight, unanswered); the next ones wait
    // in c1's buffer.
    rig.io(IoEvent::Received {
        connection: c1,
        data: vec![b'a'; 16],
    });
    let first = on_data(&mut rig, "a");
    assert_eq!(first.len(), 1);
    rig.peer_sends(c1, &[b'b'; 16]);
    rig.peer_sends(c1, &[b'c'; 16]);
    assert_eq!(rig.take_read(c1), Some(8), "only the room left: 40 - 32");
    rig.io(IoEvent::Received {
        connection: c1,
        data: vec![b'd'; 8],
    });
    assert_eq!(rig.handler.buffered(c1), 40);
    assert_eq!(
        rig.take_read(c1),
        None,
        "at the quota: no read, though c1 is below its watermark"
    );
    // c2's read was out already: its bytes arrive and go to the actor, but no new read starts.
    rig.io(IoEvent::Received {
        connection: c2,
        data: vec![b'x'; 16],
    });
    assert_eq!(on_data(&mut rig, "a").len(), 1);
    assert_eq!(rig.take_read(c2), None, "a's connections all wait for room");
    // Another actor's connections are not a's quota.
    let theirs = rig.open("b");
    assert_eq!(set_active(&mut rig, "b", theirs, "active"), Ok(Reply::Unit));
    assert_eq!(rig.take_read(theirs), Some(16));
    // The actor takes c1's first chunk: the next one leaves the buffer, 16 bytes of room come
    // back, and both paused connections may read again.
    rig.callback_done(first[0].0, Ok(()));
    let next = on_data(&mut rig, "a");
    assert_eq!(
        next.into_iter().map(|(_, d)| d).collect::<Vec<_>>(),
        vec![vec![b'b'; 16]]
    );
    assert_eq!(rig.handler.buffered(c1), 24);
    assert_eq!(rig.take_read(c1), Some(16));
    assert_eq!(rig.take_read(c2), Some(16));
}

#[test]
fn a_send_past_the_buffered_bytes_quota_fails_naming_it_and_changes_nothing() {
    let mut rig = rig_with(buffered(40));
    rig.start("b", PUSH);
    let conn = rig.open("a");
    // The transport takes the first 32 bytes (its write buffer); those are not the host's.
    let first = send(&mut rig, "a", conn, vec![1; 32]);
    assert_eq!(rig.result(first), Some(Ok(Reply::Sent(32))));
    assert_eq!(rig.written(conn).len(), 32);
    let queued = send(&mut rig, "a", conn, vec![2; 30]);
    assert_eq!(rig.result(queued), None, "waits for room: 30 of 40 held");
    let census = rig.handler.census();
    assert_eq!(
        quota_error(send_now(&mut rig, "a", conn, vec![3; 11])),
        "quota exceeded: max_buffered_bytes_per_actor (41/40)"
    );
    assert_eq!(rig.handler.census(), census, "nothing changed");
    assert!(rig.written(conn).is_empty(), "nothing written");
    // A send larger than the quota never fits, even with nothing held.
    let other = rig.open("b");
    assert_eq!(
        quota_error(send_now(&mut rig, "b", other, vec![4; 41])),
        "quota exceeded: max_buffered_bytes_per_actor (41/40)"
    );
    // b's quota is its own: 40 bytes fit beside a's 30.
    let fits = send(&mut rig, "b", other, vec![5; 40]);
    assert_eq!(rig.result(fits), None, "32 go to the transport, 8 wait");
    assert_eq!(rig.written(other), vec![5; 32]);
    // The transport reports a's first write done: the queued send goes out, and room is back.
    rig.io(IoEvent::Wrote {
        connection: conn,
        bytes: 32,
    });
    assert_eq!(rig.result(queued), Some(Ok(Reply::Sent(30))));
    let more = send(&mut rig, "a", conn, vec![6; 40]);
    assert_eq!(
        rig.result(more),
        None,
        "2 go out, 38 wait: within the quota"
    );
}

#[test]
fn a_transfer_that_would_take_the_target_past_its_buffered_bytes_quota_fails_and_the_connection_stays()
 {
    let mut rig = rig_with(buffered(40));
    rig.start("b", PUSH);
    let conn = open_in(&mut rig, "active");
    rig.peer_sends(conn, &[b'a'; 16]); // to the actor, on-data unanswered
    rig.peer_sends(conn, &[b'b'; 16]); // buffered
    rig.peer_sends(conn, &[b'c'; 8]); // buffered: 24 bytes move with the connection
    // b holds 20 bytes of its own sends.
    let theirs = rig.open("b");
    let full = send(&mut rig, "b", theirs, vec![1; 32]);
    assert_eq!(rig.result(full), Some(Ok(Reply::Sent(32))));
    let waiting = send(&mut rig, "b", theirs, vec![2; 20]);
    assert_eq!(rig.result(waiting), None);
    for call in both_transfers(conn, "b") {
        assert_eq!(
            quota_error(rig.call_now("a", call)),
            "quota exceeded: max_buffered_bytes_per_actor (44/40)"
        );
    }
    assert_eq!(rig.handler.connection_owner(conn), Some(&ActorId::new("a")));
    assert_eq!(rig.handler.buffered(conn), 24);
    assert!(rig.callbacks("b").is_empty());
}

#[test]
fn a_read_no_longer_wanted_is_cancelled_even_with_the_buffered_bytes_quota_used_up() {
    let mut rig = rig_with(buffered(40));
    let reading = open_in(&mut rig, "active");
    assert_eq!(rig.take_read(reading), Some(16));
    rig.take_commands();
    // Fill the quota with a send the write buffer cannot take yet: 32 go out, 40 wait.
    let other = rig.open("a");
    let first = send(&mut rig, "a", other, vec![1; 32]);
    assert_eq!(rig.result(first), Some(Ok(Reply::Sent(32))));
    let queued = send(&mut rig, "a", other, vec![2; 40]);
    assert_eq!(rig.result(queued), None);
    assert_eq!(
        quota_error(send_now(&mut rig, "a", other, vec![3; 1])),
        "quota exceeded: max_buffered_bytes_per_actor (41/40)"
    );
    // A read already out is not held back for the quota (its bytes are on their way): asking
    // for the mode again changes nothing, and coverage does not count it as paused.
    assert_eq!(
        set_active(&mut rig, "a", reading, "active"),
        Ok(Reply::Unit)
    );
    assert_eq!(rig.handler.probes().get("read.quota_paused"), None);
    assert!(
        !rig.commands
            .iter()
            .any(|c| matches!(c, Command::CancelRead { .. } | Command::Read { .. })),
        "{:?}",
        rig.commands
    );
    // The read out on `reading` is no longer wanted: it is cancelled, quota or not.
    assert_eq!(
        set_active(&mut rig, "a", reading, "passive"),
        Ok(Reply::Unit)
    );
    assert!(
        rig.commands.contains(&Command::CancelRead {
            connection: reading
        }),
        "{:?}",
        rig.commands
    );
}

#[test]
fn paused_reads_resume_round_robin_from_the_last_connection_resumed() {
    let mut rig = rig_with(buffered(40));
    rig.start("b", PUSH);
    // Each actor holds 40 bytes in a send the write buffer cannot take yet.
    let fill = |rig: &mut Rig, actor: &str| {
        let conn = rig.open(actor);
        let out = send(rig, actor, conn, vec![1; 32]);
        assert_eq!(rig.result(out), Some(Ok(Reply::Sent(32))));
        let queued = send(rig, actor, conn, vec![2; 40]);
        assert_eq!(rig.result(queued), None);
        conn
    };
    let held_a = fill(&mut rig, "a");
    let held_b = fill(&mut rig, "b");
    let active = |rig: &mut Rig, actor: &str| {
        let conn = rig.open(actor);
        assert_eq!(set_active(rig, actor, conn, "active"), Ok(Reply::Unit));
        conn
    };
    // Four connections in id order, every one paused at its owner's quota.
    let (c1, c2, c3, c4) = (
        active(&mut rig, "a"),
        active(&mut rig, "a"),
        active(&mut rig, "b"),
        active(&mut rig, "a"),
    );
    assert!(c1 < c2 && c2 < c3 && c3 < c4);
    let reads = |rig: &mut Rig| {
        rig.commands_where(|c| matches!(c, Command::Read { .. }))
            .into_iter()
            .filter_map(|c| match c {
                Command::Read { connection, .. } => Some(connection),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(reads(&mut rig), vec![], "all four paused");
    // b's room comes back: only c3 resumes, and the next round starts after it.
    rig.io(IoEvent::Wrote {
        connection: held_b,
        bytes: 32,
    });
    assert_eq!(reads(&mut rig), vec![c3]);
    // a's room comes back: c4 (after c3) first, then round to c1 and c2.
    rig.io(IoEvent::Wrote {
        connection: held_a,
        bytes: 32,
    });
    assert_eq!(reads(&mut rig), vec![c4, c1, c2]);
}

#[test]
fn a_cancelled_accept_starts_again_once_its_cancel_is_confirmed_and_a_place_is_free() {
    let mut rig = rig_with(quotas(1, 8));
    let la = rig.listener("a");
    assert!(accepting(&rig, la));
    let call = rig.call(
        "a",
        Call::Connect {
            address: "10.0.0.9:1".into(),
        },
    );
    assert!(!accepting(&rig, la), "a holds its one place: cancelled");
    rig.io(IoEvent::AcceptCancelled { listener: la });
    assert!(!accepting(&rig, la), "confirmed, still no place");
    // The connect fails: the place comes free, and the listener accepts again.
    let cmds = rig.commands_where(|c| matches!(c, Command::Connect { .. }));
    let Some(Command::Connect { connection, .. }) = cmds.last().cloned() else {
        panic!("no connect: {cmds:?}")
    };
    rig.io(IoEvent::ConnectFailed {
        connection,
        error: "connection refused".into(),
    });
    assert!(matches!(rig.result(call), Some(Err(_))));
    assert!(accepting(&rig, la), "a place came free: accepting resumes");
}
