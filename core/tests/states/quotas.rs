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
    for call in [
        Call::Transfer {
            connection: conn.to_string(),
            target: "b".into(),
        },
        Call::TransferAsync {
            connection: conn.to_string(),
            target: "b".into(),
        },
    ] {
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
