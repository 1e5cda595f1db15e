//! Listener: registration, hand-out order, bounds, back-off, close.

use super::*;
use std::time::Duration;

#[test]
fn listen_registers_the_listener_so_accept_and_close_listener_work() {
    let mut rig = rig_with(Config::default());
    let l = rig.listener("a");
    let accept = rig.call(
        "a",
        Call::Accept {
            listener: l.to_string(),
        },
    );
    assert_eq!(rig.result(accept), None, "accept waits for a connection");
    let conn = rig.peer_connects(l);
    assert_eq!(rig.result(accept), Some(Ok(Reply::Id(conn.to_string()))));
    assert_eq!(
        rig.call_now(
            "a",
            Call::CloseListener {
                listener: l.to_string()
            }
        ),
        Ok(Reply::Unit)
    );
    assert!(
        rig.commands
            .contains(&Command::CloseListener { listener: l })
    );
}

#[test]
fn a_waiting_accept_wins_over_handle_connection() {
    let mut rig = Rig::new(Config::default());
    rig.start("a", Exports::ALL);
    let l = rig.listener("a");
    let accept = rig.call(
        "a",
        Call::Accept {
            listener: l.to_string(),
        },
    );
    let first = rig.peer_connects(l);
    assert_eq!(rig.result(accept), Some(Ok(Reply::Id(first.to_string()))));
    assert!(rig.callbacks("a").is_empty());
    let second = rig.peer_connects(l);
    let pushed = rig.callbacks("a");
    assert_eq!(pushed.len(), 1);
    assert_eq!(
        pushed[0].1,
        Callback::HandleConnection {
            connection: second.to_string()
        }
    );
}

#[test]
fn without_takers_connections_queue_up_to_the_backlog_then_accepting_stops() {
    let mut rig = rig_with(Config {
        backlog: 2,
        ..Config::default()
    });
    let l = rig.listener("a");
    let c1 = rig.peer_connects(l);
    let c2 = rig.peer_connects(l);
    assert_eq!(
        rig.take_accept(l),
        None,
        "queue full: the kernel backlog holds the rest"
    );
    let got = rig.call_now(
        "a",
        Call::Accept {
            listener: l.to_string(),
        },
    );
    assert_eq!(
        got,
        Ok(Reply::Id(c1.to_string())),
        "queued connections come out in order"
    );
    assert!(
        rig.take_accept(l).is_some(),
        "room again: accepting resumes"
    );
    let got = rig.call_now(
        "a",
        Call::Accept {
            listener: l.to_string(),
        },
    );
    assert_eq!(got, Ok(Reply::Id(c2.to_string())));
}

#[test]
fn max_connections_pauses_accepting_and_closing_resumes_it() {
    let mut rig = rig_with(Config {
        max_connections: Some(1),
        ..Config::default()
    });
    let l = rig.listener("a");
    let accept = rig.call(
        "a",
        Call::Accept {
            listener: l.to_string(),
        },
    );
    let c1 = rig.peer_connects(l);
    assert_eq!(rig.result(accept), Some(Ok(Reply::Id(c1.to_string()))));
    assert_eq!(
        rig.take_accept(l),
        None,
        "at the limit nothing more is accepted"
    );
    let refused = rig.call_now(
        "a",
        Call::Connect {
            address: "10.0.0.9:1".into(),
        },
    );
    assert_eq!(
        refused.map_err(|e| e.to_string()),
        Err("Connection limit reached (1/1)".into())
    );
    rig.call_now(
        "a",
        Call::Close {
            connection: c1.to_string(),
        },
    )
    .ok();
    assert!(
        rig.take_accept(l).is_some(),
        "a slot freed: accepting resumes"
    );
}

#[test]
fn a_connect_taking_the_last_slot_cancels_the_outstanding_accept() {
    let mut rig = rig_with(Config {
        max_connections: Some(1),
        ..Config::default()
    });
    let l = rig.listener("a");
    assert!(
        rig.commands
            .iter()
            .any(|c| matches!(c, Command::Accept { .. }))
    );
    rig.call(
        "a",
        Call::Connect {
            address: "10.0.0.9:1".into(),
        },
    );
    assert!(
        rig.commands
            .contains(&Command::CancelAccept { listener: l })
    );
    // The accept completed anyway before the cancel reached it.
    a_late_accept_is_refused(&mut rig, l, 1);
}

#[test]
fn accept_errors_back_off_doubling_to_a_cap_and_success_resets() {
    let mut rig = rig_with(Config::default());
    let l = rig.listener("a");
    let mut delays = Vec::new();
    for _ in 0..6 {
        assert!(rig.take_accept(l).is_some());
        rig.io(IoEvent::AcceptFailed {
            listener: l,
            error: "Too many open files".into(),
        });
        let start = rig.now;
        let due = rig.handler.poll_timeout().expect("a back-off timer");
        delays.push((due - start).as_millis());
        assert_eq!(
            rig.take_accept(l),
            None,
            "no retry before the back-off ends"
        );
        rig.advance(due - start);
    }
    assert_eq!(delays, vec![100, 200, 400, 800, 1000, 1000]);
    rig.peer_connects(l);
    rig.io(IoEvent::AcceptFailed {
        listener: l,
        error: "EMFILE".into(),
    });
    let due = rig.handler.poll_timeout().expect("timer");
    assert_eq!(
        (due - rig.now).as_millis(),
        100,
        "a success resets the back-off"
    );
}

#[test]
fn close_listener_ends_waiting_accepts_and_closes_unclaimed_connections() {
    let mut rig = rig_with(Config::default());
    let l = rig.listener("a");
    let queued = rig.peer_connects(l);
    let l2 = rig.listener("a");
    let waiting = rig.call(
        "a",
        Call::Accept {
            listener: l2.to_string(),
        },
    );
    rig.call_now(
        "a",
        Call::CloseListener {
            listener: l.to_string(),
        },
    )
    .ok();
    rig.call_now(
        "a",
        Call::CloseListener {
            listener: l2.to_string(),
        },
    )
    .ok();
    assert_eq!(
        rig.result(waiting).map(|r| r.map_err(|e| e.to_string())),
        Some(Err(format!("Listener {l2} closed")))
    );
    assert!(
        rig.commands
            .contains(&Command::Close { connection: queued })
    );
    assert_eq!(rig.handler.census().connections, 0);
}

#[test]
fn listen_on_a_name_resolves_then_binds_the_first_allowed_address() {
    let mut rig = rig_with(Config::default());
    let call = rig.call(
        "a",
        Call::Listen {
            address: "localhost:8080".into(),
        },
    );
    let Some(Command::Resolve { id, host, port }) = rig.take_commands().pop() else {
        panic!("expected a resolve")
    };
    assert_eq!((host.as_str(), port), ("localhost", 8080));
    rig.io(IoEvent::Resolved {
        id,
        result: Ok(vec!["127.0.0.1:8080".parse().unwrap()]),
    });
    let Some(Command::Bind { listener, addr }) = rig.take_commands().pop() else {
        panic!("expected a bind")
    };
    assert_eq!(addr.to_string(), "127.0.0.1:8080");
    rig.io(IoEvent::Bound {
        listener,
        local: addr,
    });
    assert_eq!(rig.result(call), Some(Ok(Reply::Id(listener.to_string()))));
    let local = rig.call_now(
        "a",
        Call::LocalAddress {
            id: listener.to_string(),
        },
    );
    assert_eq!(local, Ok(Reply::Address("127.0.0.1:8080".into())));
}

#[test]
fn bind_failure_reports_the_os_error_and_leaves_nothing() {
    let mut rig = rig_with(Config::default());
    let call = rig.call(
        "a",
        Call::Listen {
            address: "127.0.0.1:80".into(),
        },
    );
    let Some(Command::Bind { listener, .. }) = rig.take_commands().pop() else {
        panic!()
    };
    rig.io(IoEvent::BindFailed {
        listener,
        error: "Address already in use (os error 98)".into(),
    });
    assert_eq!(
        rig.result(call),
        Some(Err(Error::Io(
            "Address already in use (os error 98)".into()
        )))
    );
    assert_eq!(rig.handler.census().listeners, 0);
}

#[test]
fn policy_refuses_listen_before_any_system_call() {
    let mut rig = rig_with(Config {
        allow: Some(vec!["127.0.0.1:*".into()]),
        ..Config::default()
    });
    let r = rig.call_now(
        "a",
        Call::Listen {
            address: "0.0.0.0:80".into(),
        },
    );
    assert_eq!(
        r.map_err(|e| e.to_string()),
        Err("address not allowed: 0.0.0.0:80".into())
    );
    assert!(rig.commands.is_empty());
    let _ = Duration::ZERO;
}

// ---------------------------------------------------------------- hostile peers, no TLS
//
// Without TLS no peer decides how long it holds a place in the queue: a queued connection
// waits for the actor's `accept` (or the pending timeout), and a pushed one is the actor's.

#[test]
fn pushed_connections_the_actor_never_activates_do_not_pause_accepting() {
    let mut rig = Rig::new(Config {
        backlog: 2,
        pending_timeout_ms: 5_000,
        ..Config::default()
    });
    rig.start("a", Exports::ALL);
    let l = rig.listener("a");
    let mut pushed = Vec::new();
    for _ in 0..5 {
        pushed.push(rig.peer_connects(l));
    }
    assert_eq!(
        rig.callbacks("a").len(),
        5,
        "each one pushed with handle-connection"
    );
    assert!(
        rig.take_accept(l).is_some(),
        "pushed connections are not in the queue: accepting goes on past the backlog"
    );
    rig.advance(Duration::from_millis(5_000));
    for conn in pushed {
        assert!(rig.commands.contains(&Command::Close { connection: conn }));
    }
    assert_eq!(rig.handler.census().connections, 0);
}

#[test]
fn queued_connections_nobody_accepts_time_out_and_accepting_resumes() {
    let mut rig = rig_with(Config {
        backlog: 2,
        pending_timeout_ms: 5_000,
        ..Config::default()
    });
    let l = rig.listener("a");
    let c1 = rig.peer_connects(l);
    let c2 = rig.peer_connects(l);
    assert_eq!(rig.take_accept(l), None, "queue full");
    rig.advance(Duration::from_millis(5_000));
    assert!(rig.commands.contains(&Command::Close { connection: c1 }));
    assert!(rig.commands.contains(&Command::Close { connection: c2 }));
    assert!(
        rig.take_accept(l).is_some(),
        "the timeout emptied the queue: accepting resumes"
    );
}
