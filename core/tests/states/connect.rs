//! Outbound connections: resolution, policy, fallbacks, timeout.

use super::*;
use std::time::Duration;

#[track_caller]
fn resolve_to(rig: &mut Rig, addrs: &[&str]) {
    let Some(Command::Resolve { id, .. }) = rig.take_commands().pop() else {
        panic!("no resolve")
    };
    let addrs = addrs.iter().map(|a| a.parse().unwrap()).collect();
    rig.io(IoEvent::Resolved {
        id,
        result: Ok(addrs),
    });
}

#[test]
fn every_resolved_address_is_checked_against_the_policy() {
    let mut rig = rig_with(Config {
        deny: vec!["10.0.0.0/8:*".into()],
        ..small()
    });
    let call = rig.call(
        "a",
        Call::Connect {
            address: "intranet.example.com:80".into(),
        },
    );
    resolve_to(&mut rig, &["93.184.216.34:80", "10.1.1.1:80"]);
    assert_eq!(
        rig.result(call).map(|r| r.map_err(|e| e.to_string())),
        Some(Err("address not allowed: 10.1.1.1:80".into()))
    );
    assert!(rig.commands.is_empty(), "nothing was connected");
    assert_eq!(rig.handler.census().connections, 0);
}

#[test]
fn a_name_in_the_allow_list_may_resolve_anywhere_not_denied() {
    let mut rig = rig_with(Config {
        allow: Some(vec!["*.example.com:25".into()]),
        ..small()
    });
    let call = rig.call(
        "a",
        Call::Connect {
            address: "mx.example.com:25".into(),
        },
    );
    resolve_to(&mut rig, &["93.184.216.34:25"]);
    assert!(matches!(
        rig.take_commands().pop(),
        Some(Command::Connect { .. })
    ));
    assert_eq!(rig.result(call), None);
    let refused = rig.call_now(
        "a",
        Call::Connect {
            address: "93.184.216.34:25".into(),
        },
    );
    assert_eq!(
        refused,
        Err(Error::AddressNotAllowed("93.184.216.34:25".into())),
        "the bare IP is not allowed"
    );
}

#[test]
fn falls_back_to_the_next_address_then_reports_the_last_error() {
    let mut rig = rig_with(small());
    let call = rig.call(
        "a",
        Call::Connect {
            address: "dual.example.com:80".into(),
        },
    );
    resolve_to(&mut rig, &["[2001:db8::1]:80", "192.0.2.1:80"]);
    let Some(Command::Connect { connection, addr }) = rig.take_commands().pop() else {
        panic!()
    };
    assert_eq!(addr.to_string(), "[2001:db8::1]:80");
    rig.io(IoEvent::ConnectFailed {
        connection,
        error: "Network is unreachable (os error 101)".into(),
    });
    assert_eq!(
        rig.take_commands(),
        vec![Command::Connect {
            connection,
            addr: "192.0.2.1:80".parse().unwrap()
        }]
    );
    rig.io(IoEvent::ConnectFailed {
        connection,
        error: "Connection refused (os error 111)".into(),
    });
    assert_eq!(
        rig.result(call),
        Some(Err(Error::Io("Connection refused (os error 111)".into())))
    );
}

#[test]
fn connect_timeout_covers_resolution_and_connect() {
    let mut rig = rig_with(Config {
        connect_timeout_ms: 2_000,
        ..small()
    });
    let call = rig.call(
        "a",
        Call::Connect {
            address: "10.9.9.9:80".into(),
        },
    );
    let Some(Command::Connect { connection, .. }) = rig.take_commands().pop() else {
        panic!()
    };
    rig.advance(Duration::from_millis(2_000));
    assert_eq!(
        rig.result(call).map(|r| r.map_err(|e| e.to_string())),
        Some(Err("connect timed out".into()))
    );
    assert_eq!(rig.take_commands(), vec![Command::Abort { connection }]);
    // The connect completes after all: the transport is told to drop it.
    rig.io(IoEvent::Connected {
        connection,
        peer: "10.9.9.9:80".parse().unwrap(),
        local: testkit::peer_addr(3),
    });
    assert_eq!(rig.take_commands(), vec![Command::Abort { connection }]);
    assert_eq!(rig.handler.census().connections, 0);
}

#[test]
fn malformed_addresses_are_refused_with_a_reason() {
    let mut rig = rig_with(small());
    let r = rig.call_now(
        "a",
        Call::Connect {
            address: "::1:80".into(),
        },
    );
    assert_eq!(
        r.map_err(|e| e.to_string()),
        Err("Invalid address ::1:80: IPv6 addresses must be written as [addr]:port".into())
    );
}

#[test]
fn two_resolutions_in_flight_are_answered_each_for_its_own_connect() {
    let mut rig = rig_with(small());
    let first = rig.call(
        "a",
        Call::Connect {
            address: "one.example.com:80".into(),
        },
    );
    let second = rig.call(
        "a",
        Call::Connect {
            address: "two.example.com:81".into(),
        },
    );
    let resolves: Vec<_> = rig
        .take_commands()
        .into_iter()
        .filter_map(|c| match c {
            Command::Resolve { id, host, port } => Some((id, host, port)),
            _ => None,
        })
        .collect();
    let [(id1, host1, 80), (id2, host2, 81)] = &resolves[..] else {
        panic!("two resolutions: {resolves:?}")
    };
    assert_eq!(
        (host1.as_str(), host2.as_str()),
        ("one.example.com", "two.example.com")
    );
    assert_ne!(id1, id2, "each resolution has its own id");
    // Answered in the other order: each answer goes to its own connect.
    rig.io(IoEvent::Resolved {
        id: *id2,
        result: Ok(vec!["93.184.216.2:81".parse().unwrap()]),
    });
    rig.io(IoEvent::Resolved {
        id: *id1,
        result: Err("no such host".into()),
    });
    assert_eq!(
        rig.result(first).map(|r| r.map_err(|e| e.to_string())),
        Some(Err("no such host".into()))
    );
    let connects = rig.commands_where(|c| matches!(c, Command::Connect { .. }));
    let [Command::Connect { addr, .. }] = &connects[..] else {
        panic!("one connect: {connects:?}")
    };
    assert_eq!(*addr, "93.184.216.2:81".parse().unwrap());
    assert_eq!(rig.result(second), None, "connecting");
}

#[test]
fn every_connection_gets_the_configured_socket_options() {
    let options = |rig: &mut Rig, conn: ConnId| {
        rig.commands_where(
            |c| matches!(c, Command::SetOption { connection, .. } if *connection == conn),
        )
    };
    // The defaults: no Nagle, no keepalive.
    let mut rig = rig_with(small());
    let (call, connection) = rig.connect_to("a", "10.0.0.2:80");
    assert!(matches!(rig.result(call), Some(Ok(_))));
    assert_eq!(
        options(&mut rig, connection),
        vec![Command::SetOption {
            connection,
            option: SocketOption::NoDelay(true)
        }]
    );
    // Configured: Nagle on, keepalive every 30 s; accepted connections get them too.
    let mut rig = rig_with(Config {
        nodelay: false,
        keepalive_secs: Some(30),
        ..small()
    });
    let listener = rig.listener("a");
    let accepted = rig.peer_connects(listener);
    assert_eq!(
        options(&mut rig, accepted),
        vec![
            Command::SetOption {
                connection: accepted,
                option: SocketOption::NoDelay(false)
            },
            Command::SetOption {
                connection: accepted,
                option: SocketOption::KeepAlive(Some(Duration::from_secs(30)))
            },
        ]
    );
}
