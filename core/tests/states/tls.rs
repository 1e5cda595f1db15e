//! TLS: STARTTLS upgrades in both roles, the injection guard, timeouts, implicit TLS.

use super::*;
use std::time::Duration;

fn tls_config() -> Config {
    Config {
        server_tls: Some(ServerTls {
            enabled: true,
            cert: "c.pem".into(),
            key: "k.pem".into(),
            auto_handshake: false,
        }),
        client_tls: ClientTls {
            enabled: true,
            ..ClientTls::default()
        },
        max_chunk: 64,
        ..small()
    }
}

fn info() -> TlsInfo {
    TlsInfo {
        protocol: "TLSv1.3".into(),
        cipher_suite: "TLS13_AES_128_GCM_SHA256".into(),
        ..TlsInfo::default()
    }
}

#[test]
fn starttls_server_upgrade_keeps_the_id_and_encrypts_later_bytes() {
    let mut rig = rig_with(tls_config());
    let conn = rig.open("a");
    assert_eq!(tls_of(&mut rig, conn), "plain");
    let r = receive(&mut rig, "a", conn, 100);
    rig.peer_sends(conn, b"STARTTLS\r\n");
    assert_eq!(
        rig.result(r),
        Some(Ok(Reply::Data(b"STARTTLS\r\n".to_vec())))
    );
    send(&mut rig, "a", conn, b"220 go ahead\r\n".to_vec());
    let up = rig.call(
        "a",
        Call::UpgradeToTlsServer {
            connection: conn.to_string(),
        },
    );
    let cmds = rig.take_commands();
    let write_at = cmds.iter().position(|c| matches!(c, Command::Write { .. }));
    let tls_at = cmds.iter().position(|c| {
        matches!(
            c,
            Command::StartTls {
                role: TlsRole::Server,
                ..
            }
        )
    });
    assert!(
        write_at < tls_at,
        "the plaintext reply goes out before the handshake: {cmds:?}"
    );
    assert_eq!(rig.result(up), None, "returns when the handshake completes");
    assert_eq!(tls_of(&mut rig, conn), "handshaking");
    rig.io(IoEvent::TlsEstablished {
        connection: conn,
        info: info(),
    });
    assert_eq!(rig.result(up), Some(Ok(Reply::Unit)));
    let got = rig.call_now(
        "a",
        Call::TlsInfo {
            connection: conn.to_string(),
        },
    );
    assert_eq!(got, Ok(Reply::TlsInfo(info())));
    assert_eq!(tls_of(&mut rig, conn), "tls");
}

/// The `tls` field of `connection-stats` for an open connection.
fn tls_of(rig: &mut Rig, conn: ConnId) -> String {
    match rig.call_now(
        "a",
        Call::ConnectionStats {
            connection: conn.to_string(),
        },
    ) {
        Ok(Reply::Stats(s)) => s.tls,
        other => panic!("expected stats, got {other:?}"),
    }
}

#[test]
fn starttls_injection_is_refused_and_the_connection_is_unchanged() {
    let mut rig = rig_with(tls_config());
    let conn = rig.open("a");
    let r = receive(&mut rig, "a", conn, 10);
    rig.peer_sends(conn, b"STARTTLS\r\nMAIL FROM:<evil>\r\n");
    assert_eq!(
        rig.result(r),
        Some(Ok(Reply::Data(b"STARTTLS\r\n".to_vec())))
    );
    let up = rig.call_now(
        "a",
        Call::UpgradeToTlsServer {
            connection: conn.to_string(),
        },
    );
    assert_eq!(
        up.map_err(|e| e.to_string()),
        Err("plaintext buffered before TLS upgrade".into())
    );
    assert!(
        !rig.commands
            .iter()
            .any(|c| matches!(c, Command::StartTls { .. }))
    );
    let rest = rig.call_now(
        "a",
        Call::Receive {
            connection: conn.to_string(),
            max: 100,
        },
    );
    assert_eq!(
        rest,
        Ok(Reply::Data(b"MAIL FROM:<evil>\r\n".to_vec())),
        "the injected bytes stay readable, in plaintext"
    );
}

#[test]
fn an_upgrade_cancels_an_outstanding_read_first() {
    let mut rig = rig_with(tls_config());
    let conn = open_in(&mut rig, "active");
    assert!(rig.take_read(conn).is_some());
    set_active(&mut rig, "a", conn, "passive").ok();
    let up = rig.call(
        "a",
        Call::UpgradeToTlsClient {
            connection: conn.to_string(),
            server_name: "mail.example.com".into(),
        },
    );
    assert!(
        !rig.commands
            .iter()
            .any(|c| matches!(c, Command::StartTls { .. })),
        "not before the read is settled"
    );
    rig.io(IoEvent::ReadCancelled { connection: conn });
    assert!(rig.commands.contains(&Command::StartTls {
        connection: conn,
        role: TlsRole::Client {
            server_name: "mail.example.com".into()
        }
    }));
    rig.io(IoEvent::TlsEstablished {
        connection: conn,
        info: info(),
    });
    assert_eq!(rig.result(up), Some(Ok(Reply::Unit)));
}

#[test]
fn plaintext_that_beats_the_cancel_refuses_the_upgrade() {
    let mut rig = rig_with(tls_config());
    let conn = open_in(&mut rig, "active");
    let max = rig.take_read(conn).expect("read");
    set_active(&mut rig, "a", conn, "passive").ok();
    let up = rig.call(
        "a",
        Call::UpgradeToTlsServer {
            connection: conn.to_string(),
        },
    );
    rig.io(IoEvent::Received {
        connection: conn,
        data: vec![b'x'; max],
    });
    assert_eq!(rig.result(up), Some(Err(Error::PlaintextBuffered)));
    let got = rig.call_now(
        "a",
        Call::Receive {
            connection: conn.to_string(),
            max: 100,
        },
    );
    assert_eq!(got, Ok(Reply::Data(vec![b'x'; max])));
}

#[test]
fn a_handshake_that_never_completes_is_cut_at_the_timeout() {
    let mut rig = rig_with(Config {
        handshake_timeout_ms: 3_000,
        ..tls_config()
    });
    let conn = rig.open("a");
    let up = rig.call(
        "a",
        Call::UpgradeToTlsServer {
            connection: conn.to_string(),
        },
    );
    rig.advance(Duration::from_millis(3_000));
    assert_eq!(
        rig.result(up).map(|r| r.map_err(|e| e.to_string())),
        Some(Err("TLS handshake timed out".into()))
    );
    assert!(rig.commands.contains(&Command::Abort { connection: conn }));
    let gone = send_now(&mut rig, "a", conn, b"x".to_vec());
    assert_eq!(
        gone,
        Err(Error::ConnectionNotFound(conn.to_string())),
        "no dead entry is left behind"
    );
}

#[test]
fn a_failed_handshake_returns_the_error_and_closes() {
    let mut rig = rig_with(tls_config());
    let conn = rig.open("a");
    let up = rig.call(
        "a",
        Call::UpgradeToTlsClient {
            connection: conn.to_string(),
            server_name: "[::1]".into(),
        },
    );
    assert!(rig.commands.contains(&Command::StartTls {
        connection: conn,
        role: TlsRole::Client {
            server_name: "::1".into()
        }
    }));
    rig.io(IoEvent::TlsFailed {
        connection: conn,
        error: "invalid peer certificate: UnknownIssuer".into(),
    });
    assert_eq!(
        rig.result(up).map(|r| r.map_err(|e| e.to_string())),
        Some(Err(
            "TLS handshake failed: invalid peer certificate: UnknownIssuer".into()
        ))
    );
    assert_eq!(rig.handler.census().connections, 0);
    // Gracefully: the alert the transport wrote goes out before the FIN; no RST.
    assert!(rig.commands.contains(&Command::Close { connection: conn }));
    assert!(!rig.commands.contains(&Command::Abort { connection: conn }));
}

#[test]
fn upgrades_need_configuration_and_a_valid_name() {
    let mut rig = rig_with(small());
    let conn = rig.open("a");
    let s = rig.call_now(
        "a",
        Call::UpgradeToTlsServer {
            connection: conn.to_string(),
        },
    );
    assert_eq!(
        s.map_err(|e| e.to_string()),
        Err("server_tls not configured on this handler".into())
    );
    let c = rig.call_now(
        "a",
        Call::UpgradeToTlsClient {
            connection: conn.to_string(),
            server_name: "x".into(),
        },
    );
    assert_eq!(
        c.map_err(|e| e.to_string()),
        Err("client_tls not configured on this handler".into())
    );
    let mut rig = rig_with(tls_config());
    let conn = rig.open("a");
    let bad = rig.call_now(
        "a",
        Call::UpgradeToTlsClient {
            connection: conn.to_string(),
            server_name: "bad name!".into(),
        },
    );
    assert_eq!(
        bad.map_err(|e| e.to_string()),
        Err("Invalid server name bad name!".into())
    );
}

#[test]
fn implicit_tls_on_accept_hands_out_only_secured_connections() {
    let mut config = tls_config();
    if let Some(s) = config.server_tls.as_mut() {
        s.auto_handshake = true;
    }
    let mut rig = rig_with(config);
    let l = rig.listener("a");
    let accept = rig.call(
        "a",
        Call::Accept {
            listener: l.to_string(),
        },
    );
    let conn = rig.peer_connects(l);
    assert!(rig.commands.contains(&Command::StartTls {
        connection: conn,
        role: TlsRole::Server
    }));
    assert_eq!(
        rig.result(accept),
        None,
        "not handed out before the handshake"
    );
    rig.io(IoEvent::TlsEstablished {
        connection: conn,
        info: info(),
    });
    assert_eq!(rig.result(accept), Some(Ok(Reply::Id(conn.to_string()))));
    let pending = Call::TlsInfo {
        connection: conn.to_string(),
    };
    assert_eq!(
        rig.call_now("a", pending),
        Ok(Reply::TlsInfo(info())),
        "secured while pending"
    );
    match rig.call_now(
        "a",
        Call::ConnectionStats {
            connection: conn.to_string(),
        },
    ) {
        Ok(Reply::Stats(s)) => assert_eq!((s.state.as_str(), s.tls.as_str()), ("pending", "tls")),
        other => panic!("expected stats, got {other:?}"),
    }
    rig.call_now(
        "a",
        Call::Activate {
            connection: conn.to_string(),
        },
    )
    .ok();
    assert_eq!(
        rig.call_now(
            "a",
            Call::TlsInfo {
                connection: conn.to_string()
            }
        ),
        Ok(Reply::TlsInfo(info()))
    );
}

#[test]
fn implicit_tls_on_connect_uses_the_host_as_server_name() {
    let mut config = tls_config();
    config.client_tls.auto_handshake = true;
    let mut rig = rig_with(config);
    let call = rig.call(
        "a",
        Call::Connect {
            address: "Mail.Example.com:465".into(),
        },
    );
    let Some(Command::Resolve { id, .. }) = rig.take_commands().pop() else {
        panic!()
    };
    rig.io(IoEvent::Resolved {
        id,
        result: Ok(vec!["93.184.216.34:465".parse().unwrap()]),
    });
    let Some(Command::Connect { connection, addr }) = rig.take_commands().pop() else {
        panic!()
    };
    rig.io(IoEvent::Connected {
        connection,
        peer: addr,
        local: testkit::peer_addr(9),
    });
    assert!(rig.commands.contains(&Command::StartTls {
        connection,
        role: TlsRole::Client {
            server_name: "mail.example.com".into()
        }
    }));
    assert_eq!(rig.result(call), None);
    rig.io(IoEvent::TlsEstablished {
        connection,
        info: info(),
    });
    assert_eq!(
        rig.result(call),
        Some(Ok(Reply::Id(connection.to_string())))
    );
}

#[test]
fn failed_implicit_handshakes_free_their_backlog_places() {
    let mut config = tls_config();
    if let Some(s) = config.server_tls.as_mut() {
        s.auto_handshake = true;
    }
    config.backlog = 2;
    let mut rig = rig_with(config);
    let l = rig.listener("a");
    for _ in 0..5 {
        let conn = rig.peer_connects(l);
        rig.io(IoEvent::TlsFailed {
            connection: conn,
            error: "bad record mac".into(),
        });
        assert!(rig.commands.contains(&Command::Abort { connection: conn }));
    }
    let accept = rig.call(
        "a",
        Call::Accept {
            listener: l.to_string(),
        },
    );
    let conn = rig.peer_connects(l);
    rig.io(IoEvent::TlsEstablished {
        connection: conn,
        info: info(),
    });
    assert_eq!(rig.result(accept), Some(Ok(Reply::Id(conn.to_string()))));
}

#[test]
fn a_transfer_during_an_upgrade_is_refused_and_the_upgrade_goes_on() {
    let mut rig = rig_with(tls_config());
    rig.start("b", PUSH);
    let conn = rig.open("a");
    let up = rig.call(
        "a",
        Call::UpgradeToTlsServer {
            connection: conn.to_string(),
        },
    );
    assert!(rig.commands.contains(&Command::StartTls {
        connection: conn,
        role: TlsRole::Server,
    }));
    for call in both_transfers(conn, "b") {
        assert_eq!(
            rig.call_now("a", call),
            Err(Error::Upgrading(conn.to_string()))
        );
    }
    assert_eq!(
        Error::Upgrading(conn.to_string()).to_string(),
        format!("Connection {conn} is upgrading to TLS")
    );
    // Unchanged: still `a`'s, no callback for `b`, and the upgrade completes for `a`.
    assert_eq!(rig.handler.connection_owner(conn), Some(&ActorId::new("a")));
    assert!(rig.callbacks("b").is_empty());
    rig.io(IoEvent::TlsEstablished {
        connection: conn,
        info: info(),
    });
    assert_eq!(rig.result(up), Some(Ok(Reply::Unit)));
    // Once secured, the connection may move.
    assert_eq!(
        rig.call_now(
            "a",
            Call::TransferAsync {
                connection: conn.to_string(),
                target: "b".into(),
            },
        ),
        Ok(Reply::Unit)
    );
    assert_eq!(rig.handler.connection_owner(conn), Some(&ActorId::new("b")));
}

#[test]
fn an_implicitly_secured_accept_reads_as_a_story() {
    let mut config = tls_config();
    if let Some(s) = config.server_tls.as_mut() {
        s.auto_handshake = true;
    }
    let mut rig = rig_with(config);
    let l = rig.listener("a");
    let conn = rig.peer_connects(l);
    rig.io(IoEvent::TlsEstablished {
        connection: conn,
        info: info(),
    });
    let accept = rig.call(
        "a",
        Call::Accept {
            listener: l.to_string(),
        },
    );
    assert_eq!(rig.result(accept), Some(Ok(Reply::Id(conn.to_string()))));
    rig.call_now(
        "a",
        Call::Activate {
            connection: conn.to_string(),
        },
    )
    .ok();
    let story: Vec<String> = rig
        .transitions
        .iter()
        .map(|t| t.to_string())
        .filter(|t| t.starts_with(&format!("{conn} ")))
        .collect();
    let c = conn.to_string();
    assert_eq!(
        story,
        [
            format!("{c} connection: closed => handshaking"),
            format!("{c} connection: handshaking => queued"),
            format!("{c} connection: queued => pending"),
            format!("{c} connection: pending => open"),
        ]
    );
}

// ---------------------------------------------------------------- slow handshakes

fn implicit(max_handshakes: usize, backlog: usize) -> Config {
    let mut config = tls_config();
    if let Some(s) = config.server_tls.as_mut() {
        s.auto_handshake = true;
    }
    Config {
        max_handshakes,
        backlog,
        ..config
    }
}

/// Peers connect to `l` and send nothing: their handshakes stay in flight.
#[track_caller]
fn slow_peers(rig: &mut Rig, l: ListenerId, n: usize) -> Vec<ConnId> {
    (0..n).map(|_| rig.peer_connects(l)).collect()
}

#[test]
fn handshakes_in_flight_do_not_count_against_the_backlog() {
    let mut rig = rig_with(implicit(256, 2));
    let l = rig.listener("a");
    slow_peers(&mut rig, l, 10);
    assert_eq!(rig.handler.census().handshakes, 10);
    assert!(
        accepting(&rig, l),
        "ten slow handshakes, backlog 2: still accepting"
    );
    let accept = rig.call(
        "a",
        Call::Accept {
            listener: l.to_string(),
        },
    );
    let honest = rig.peer_connects(l);
    rig.io(IoEvent::TlsEstablished {
        connection: honest,
        info: info(),
    });
    assert_eq!(
        rig.result(accept),
        Some(Ok(Reply::Id(honest.to_string()))),
        "an honest client gets through while the slow ones wait for their timeout"
    );
}

#[test]
fn beyond_max_handshakes_the_oldest_handshake_is_dropped() {
    let mut rig = rig_with(implicit(3, 128));
    let l = rig.listener("a");
    let slow = slow_peers(&mut rig, l, 3);
    assert!(
        !rig.commands
            .iter()
            .any(|c| matches!(c, Command::Abort { .. })),
        "at the bound, nothing is dropped yet"
    );
    assert!(accepting(&rig, l), "accepting goes on at the bound");
    let fourth = rig.peer_connects(l);
    assert!(rig.commands.contains(&Command::Abort {
        connection: slow[0]
    }));
    assert!(rig.commands.contains(&Command::StartTls {
        connection: fourth,
        role: TlsRole::Server
    }));
    assert_eq!(rig.handler.census().handshakes, 3);
    assert_eq!(rig.handler.census().connections, 3);
    let fifth = rig.peer_connects(l);
    assert!(
        rig.commands.contains(&Command::Abort {
            connection: slow[1]
        }),
        "oldest first"
    );
    // The dropped one's late success is absorbed: nobody is handed it.
    let accept = rig.call(
        "a",
        Call::Accept {
            listener: l.to_string(),
        },
    );
    rig.io(IoEvent::TlsEstablished {
        connection: slow[0],
        info: info(),
    });
    assert_eq!(rig.result(accept), None);
    rig.io(IoEvent::TlsEstablished {
        connection: fifth,
        info: info(),
    });
    assert_eq!(rig.result(accept), Some(Ok(Reply::Id(fifth.to_string()))));
}

#[test]
fn a_finished_handshake_frees_its_place_among_the_handshakes() {
    let mut rig = rig_with(implicit(2, 128));
    let l = rig.listener("a");
    let first = rig.peer_connects(l);
    rig.io(IoEvent::TlsEstablished {
        connection: first,
        info: info(),
    });
    let failed = rig.peer_connects(l);
    rig.io(IoEvent::TlsFailed {
        connection: failed,
        error: "bad record mac".into(),
    });
    assert_eq!(rig.handler.census().handshakes, 0);
    let slow = slow_peers(&mut rig, l, 2);
    let aborted: Vec<&Command> = rig
        .commands
        .iter()
        .filter(|c| matches!(c, Command::Abort { connection } if *connection != failed))
        .collect();
    assert!(
        aborted.is_empty(),
        "secured and failed handshakes are not in flight: two more fit, nothing is dropped: {aborted:?}"
    );
    assert_eq!(rig.handler.census().handshakes, 2);
    let got = rig.call_now(
        "a",
        Call::Accept {
            listener: l.to_string(),
        },
    );
    assert_eq!(got, Ok(Reply::Id(first.to_string())));
    assert_eq!(slow.len(), 2);
}

#[test]
fn max_handshakes_counts_the_handshakes_of_every_listener() {
    let mut rig = rig_with(implicit(2, 128));
    let l1 = rig.listener("a");
    let l2 = rig.listener("a");
    let on_l1 = rig.peer_connects(l1);
    slow_peers(&mut rig, l2, 1);
    assert!(
        !rig.commands
            .iter()
            .any(|c| matches!(c, Command::Abort { .. }))
    );
    rig.peer_connects(l2);
    assert!(
        rig.commands.contains(&Command::Abort { connection: on_l1 }),
        "the oldest, on the other listener, made room"
    );
    assert_eq!(rig.handler.census().handshakes, 2);
}

#[test]
fn handshakes_that_finish_at_a_full_queue_are_queued_and_accepting_waits() {
    let mut rig = rig_with(implicit(256, 1));
    let l = rig.listener("a");
    let both = slow_peers(&mut rig, l, 2);
    for conn in &both {
        rig.io(IoEvent::TlsEstablished {
            connection: *conn,
            info: info(),
        });
    }
    assert!(
        rig.commands
            .contains(&Command::CancelAccept { listener: l }),
        "the queue is at its bound: the outstanding accept is cancelled"
    );
    rig.io(IoEvent::AcceptCancelled { listener: l });
    for conn in &both {
        let got = rig.call_now(
            "a",
            Call::Accept {
                listener: l.to_string(),
            },
        );
        assert_eq!(got, Ok(Reply::Id(conn.to_string())), "none is lost");
    }
    assert!(
        rig.take_accept(l).is_some(),
        "room again: accepting resumes"
    );
}

// ---------------------------------------------------------------- plaintext during STARTTLS

/// The `StartTls` commands given for `conn` so far.
fn start_tls_count(rig: &Rig, conn: ConnId) -> usize {
    rig.commands
        .iter()
        .filter(|c| matches!(c, Command::StartTls { connection, .. } if *connection == conn))
        .count()
}

#[test]
fn sends_queued_before_an_upgrade_go_out_in_plaintext_and_then_the_handshake_starts() {
    // Write buffer 32: a 40-byte send leaves 8 bytes queued behind the transport.
    let mut rig = rig_with(tls_config());
    let conn = rig.open("a");
    let reply = send(&mut rig, "a", conn, vec![b'p'; 40]);
    assert_eq!(rig.written(conn), vec![b'p'; 32]);
    let up = rig.call(
        "a",
        Call::UpgradeToTlsServer {
            connection: conn.to_string(),
        },
    );
    assert_eq!(
        start_tls_count(&rig, conn),
        0,
        "not while a plaintext send is queued"
    );
    rig.io(IoEvent::Wrote {
        connection: conn,
        bytes: 32,
    });
    let cmds = rig.take_commands();
    let rest = cmds.iter().position(
        |c| matches!(c, Command::Write { connection, data } if *connection == conn && data == &vec![b'p'; 8]),
    );
    let tls = cmds
        .iter()
        .position(|c| matches!(c, Command::StartTls { connection, .. } if *connection == conn));
    assert!(
        rest.is_some() && rest < tls,
        "the queued rest goes out in plaintext, then the handshake starts: {cmds:?}"
    );
    assert_eq!(rig.result(reply), Some(Ok(Reply::Sent(40))));
    rig.io(IoEvent::TlsEstablished {
        connection: conn,
        info: info(),
    });
    assert_eq!(rig.result(up), Some(Ok(Reply::Unit)));
}

#[test]
fn a_send_made_during_an_upgrade_waits_for_the_secure_layer() {
    let mut rig = rig_with(tls_config());
    let conn = rig.open("a");
    let up = rig.call(
        "a",
        Call::UpgradeToTlsServer {
            connection: conn.to_string(),
        },
    );
    assert_eq!(start_tls_count(&rig, conn), 1);
    let secret = send(&mut rig, "a", conn, b"secret".to_vec());
    assert_eq!(
        rig.written(conn),
        Vec::<u8>::new(),
        "nothing sent during the handshake goes out in plaintext"
    );
    assert_eq!(
        start_tls_count(&rig, conn),
        1,
        "a handshake that started is not started again"
    );
    assert_eq!(rig.result(secret), None);
    rig.io(IoEvent::TlsEstablished {
        connection: conn,
        info: info(),
    });
    assert_eq!(rig.result(up), Some(Ok(Reply::Unit)));
    assert_eq!(rig.written(conn), b"secret", "through the secure layer");
    assert_eq!(rig.result(secret), Some(Ok(Reply::Sent(6))));
}

#[test]
fn a_failed_implicit_handshake_on_connect_fails_the_connect_and_leaves_nothing() {
    let mut config = tls_config();
    config.client_tls.auto_handshake = true;
    let mut rig = rig_with(config);
    let (call, connection) = rig.connect_to("a", "10.0.0.7:465");
    assert_eq!(rig.result(call), None, "handshaking");
    rig.io(IoEvent::TlsFailed {
        connection,
        error: "invalid peer certificate: UnknownIssuer".into(),
    });
    assert_eq!(
        rig.result(call).map(|r| r.map_err(|e| e.to_string())),
        Some(Err(
            "TLS handshake failed: invalid peer certificate: UnknownIssuer".into()
        ))
    );
    assert!(rig.commands.contains(&Command::Abort { connection }));
    assert_eq!(rig.handler.census().connections, 0);
    assert!(rig.callbacks("a").is_empty(), "the actor never saw it");
}
