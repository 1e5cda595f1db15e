//! Pending: accepted, not yet activated or transferred.

use super::*;
use std::time::Duration;

#[test]
fn no_data_flows_until_activate() {
    let mut rig = rig_with(Config::default());
    let conn = rig.pending("a");
    assert_eq!(
        rig.take_read(conn),
        None,
        "a pending connection is not read"
    );
    let r = rig.call_now(
        "a",
        Call::Receive {
            connection: conn.to_string(),
            max: 10,
        },
    );
    assert_eq!(
        r.map_err(|e| e.to_string()),
        Err(format!(
            "Connection {conn} is pending - call activate() or transfer() first"
        ))
    );
    let s = send_now(&mut rig, "a", conn, b"x".to_vec());
    assert_eq!(s, Err(Error::Pending(conn.to_string())));
    assert_eq!(
        set_active(&mut rig, "a", conn, "active"),
        Err(Error::NotActivated(conn.to_string()))
    );
}

#[test]
fn activate_opens_in_passive_mode_once() {
    let mut rig = rig_with(Config::default());
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
    let again = rig.call_now(
        "a",
        Call::Activate {
            connection: conn.to_string(),
        },
    );
    assert_eq!(
        again.map_err(|e| e.to_string()),
        Err(format!("Connection {conn} is already active"))
    );
    let Ok(Reply::Stats(stats)) = rig.call_now(
        "a",
        Call::ConnectionStats {
            connection: conn.to_string(),
        },
    ) else {
        panic!()
    };
    assert_eq!(
        (stats.state.as_str(), stats.mode.as_str()),
        ("active", "passive")
    );
}

#[test]
fn peer_address_works_while_pending() {
    let mut rig = rig_with(Config::default());
    let conn = rig.pending("a");
    let r = rig.call_now(
        "a",
        Call::PeerAddress {
            connection: conn.to_string(),
        },
    );
    assert_eq!(r, Ok(Reply::Address(testkit::peer_addr(1).to_string())));
}

#[test]
fn a_connection_left_pending_times_out_with_on_close() {
    let mut rig = rig_with(Config {
        pending_timeout_ms: 5_000,
        ..Config::default()
    });
    let conn = rig.pending("a");
    rig.advance(Duration::from_millis(4_999));
    assert!(rig.callbacks("a").is_empty());
    rig.advance(Duration::from_millis(1));
    assert_eq!(
        rig.callbacks("a")
            .into_iter()
            .map(|(_, c)| c)
            .collect::<Vec<_>>(),
        vec![Callback::OnClose {
            connection: conn.to_string(),
            reason: "timeout".into()
        }]
    );
    assert!(rig.commands.contains(&Command::Close { connection: conn }));
    let gone = rig.call_now(
        "a",
        Call::Activate {
            connection: conn.to_string(),
        },
    );
    assert_eq!(gone, Err(Error::ConnectionNotFound(conn.to_string())));
}

#[test]
fn activating_stops_the_pending_timer() {
    let mut rig = rig_with(Config {
        pending_timeout_ms: 5_000,
        ..Config::default()
    });
    let conn = rig.pending("a");
    rig.call_now(
        "a",
        Call::Activate {
            connection: conn.to_string(),
        },
    )
    .ok();
    rig.advance(Duration::from_secs(60));
    assert!(rig.callbacks("a").is_empty());
    assert_eq!(rig.handler.census().connections, 1);
}

#[test]
fn a_failing_handle_connection_closes_only_that_connection() {
    let mut rig = Rig::new(Config::default());
    rig.start("a", Exports::ALL);
    let l = rig.listener("a");
    let c1 = rig.peer_connects(l);
    let c2 = rig.peer_connects(l);
    let pushed = rig.callbacks("a");
    rig.callback_done(pushed[0].0, Err("trap".into()));
    rig.callback_done(pushed[1].0, Ok(()));
    assert!(rig.commands.contains(&Command::Close { connection: c1 }));
    assert!(!rig.commands.contains(&Command::Close { connection: c2 }));
    assert_eq!(rig.handler.census().connections, 1);
}
