//! Quick end-to-end sanity of the rig.
use theater_tcp_core::testkit::Rig;
use theater_tcp_core::*;

#[test]
fn echo_through_passive_receive() {
    let mut rig = Rig::new(Config::default());
    rig.start("a", Exports::default());
    let conn = rig.pending("a");
    assert_eq!(
        rig.call_now(
            "a",
            Call::Activate {
                connection: conn.to_string()
            }
        ),
        Ok(Reply::Unit)
    );
    let r = rig.call(
        "a",
        Call::Receive {
            connection: conn.to_string(),
            max: 100,
        },
    );
    assert_eq!(rig.result(r), None);
    rig.peer_sends(conn, b"hello");
    assert_eq!(rig.result(r), Some(Ok(Reply::Data(b"hello".to_vec()))));
    let s = rig.call(
        "a",
        Call::Send {
            connection: conn.to_string(),
            data: b"hello".to_vec(),
        },
    );
    assert_eq!(rig.result(s), Some(Ok(Reply::Sent(5))));
    assert_eq!(rig.written(conn), b"hello");
}

#[test]
fn the_handler_reports_its_config_actors_and_transitions_as_asked() {
    let config = Config {
        max_chunk: 4096,
        backlog: 7,
        ..Config::default()
    };
    let Ok(settings) = config.clone().validate() else {
        panic!("the config validates")
    };
    let mut handler = Handler::new(settings);
    assert_eq!(
        handler.config(),
        &config,
        "the config in force is the one given"
    );
    let now = Instant::from_nanos(1_000_000_000);
    let a = ActorId::from("a");
    assert!(!handler.is_running(&a));
    handler.actor_started(now, a.clone(), Exports::default());
    assert!(handler.is_running(&a));
    assert!(!handler.is_running(&ActorId::from("b")));
    // Transitions are recorded only while asked; turning it off drops the undrained ones.
    handler.record_transitions(true);
    handler.actor_stopped(now, &a);
    assert!(!handler.is_running(&a));
    handler.actor_started(now, a.clone(), Exports::default());
    let listen = Call::Listen {
        address: "127.0.0.1:0".into(),
    };
    handler.handle_call(now, &a, listen.clone());
    handler.handle_call(now, &a, listen);
    assert!(handler.poll_transition().is_some(), "recorded while on");
    assert!(handler.poll_transition().is_some(), "one per listener");
    handler.handle_call(
        now,
        &a,
        Call::Listen {
            address: "127.0.0.1:0".into(),
        },
    );
    handler.record_transitions(false);
    assert_eq!(
        handler.poll_transition(),
        None,
        "the undrained one is dropped"
    );
}
