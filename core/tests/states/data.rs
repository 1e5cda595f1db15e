//! Active connections in each data mode: passive, active, once, credit; sending.

use super::*;
use std::time::Duration;

#[test]
fn passive_reads_only_for_a_waiting_receive() {
    let mut rig = rig_with(small());
    let conn = rig.open("a");
    assert_eq!(rig.take_read(conn), None, "no read-ahead in passive mode");
    let r = receive(&mut rig, "a", conn, 5);
    assert_eq!(
        rig.take_read(conn),
        Some(16),
        "one read of at most max_chunk"
    );
    rig.io(IoEvent::Received {
        connection: conn,
        data: b"hello world".to_vec(),
    });
    assert_eq!(rig.result(r), Some(Ok(Reply::Data(b"hello".to_vec()))));
    assert_eq!(
        rig.take_read(conn),
        None,
        "the surplus stays buffered; nothing more is read"
    );
    let r = receive(&mut rig, "a", conn, 100);
    assert_eq!(rig.result(r), Some(Ok(Reply::Data(b" world".to_vec()))));
}

#[test]
fn passive_end_of_stream_is_an_empty_receive_every_time() {
    let mut rig = rig_with(small());
    let conn = rig.open("a");
    let r = receive(&mut rig, "a", conn, 5);
    rig.take_read(conn);
    rig.io(IoEvent::ReadEnded {
        connection: conn,
        end: StreamEnd::Eof,
    });
    assert_eq!(rig.result(r), Some(Ok(Reply::Data(vec![]))));
    let again = rig.call_now(
        "a",
        Call::Receive {
            connection: conn.to_string(),
            max: 5,
        },
    );
    assert_eq!(again, Ok(Reply::Data(vec![])));
    assert!(rig.callbacks("a").is_empty(), "no on-close in passive mode");
}

#[test]
fn passive_reset_gives_buffered_bytes_first_then_the_error() {
    let mut rig = rig_with(small());
    let conn = rig.open("a");
    let r = receive(&mut rig, "a", conn, 2);
    rig.peer_sends(conn, b"abcd");
    assert_eq!(rig.result(r), Some(Ok(Reply::Data(b"ab".to_vec()))));
    let r = receive(&mut rig, "a", conn, 10);
    assert_eq!(rig.result(r), Some(Ok(Reply::Data(b"cd".to_vec()))));
    let r = receive(&mut rig, "a", conn, 10);
    rig.take_read(conn);
    rig.io(IoEvent::ReadEnded {
        connection: conn,
        end: StreamEnd::Reset,
    });
    assert_eq!(
        rig.result(r).map(|r| r.map_err(|e| e.to_string())),
        Some(Err(format!("Connection {conn} closed: reset")))
    );
    assert!(
        rig.commands.contains(&Command::Abort { connection: conn }),
        "the dead socket is released at once"
    );
    assert_eq!(
        rig.call_now(
            "a",
            Call::Close {
                connection: conn.to_string()
            }
        ),
        Ok(Reply::Unit)
    );
    assert!(
        !rig.commands.contains(&Command::Close { connection: conn }),
        "nothing left to close gracefully"
    );
}

#[test]
fn receive_timeout_gives_up_and_keeps_the_connection() {
    let mut rig = rig_with(small());
    let conn = rig.open("a");
    let r = rig.call(
        "a",
        Call::ReceiveTimeout {
            connection: conn.to_string(),
            max: 4,
            ms: 250,
        },
    );
    rig.take_read(conn);
    rig.advance(Duration::from_millis(250));
    assert_eq!(rig.result(r), Some(Err(Error::ReceiveTimedOut)));
    assert!(
        rig.commands
            .contains(&Command::CancelRead { connection: conn })
    );
    rig.io(IoEvent::ReadCancelled { connection: conn });
    let r = receive(&mut rig, "a", conn, 4);
    rig.peer_sends(conn, b"late");
    assert_eq!(rig.result(r), Some(Ok(Reply::Data(b"late".to_vec()))));
}

#[test]
fn active_delivers_one_chunk_at_a_time_in_order() {
    let mut rig = rig_with(small());
    let conn = open_in(&mut rig, "active");
    rig.peer_sends(conn, &[1; 16]);
    rig.peer_sends(conn, &[2; 16]);
    let first = on_data(&mut rig, "a");
    assert_eq!(first.len(), 1, "one on-data in flight");
    assert_eq!(first[0].1, vec![1; 16]);
    rig.callback_done(first[0].0, Ok(()));
    let second = on_data(&mut rig, "a");
    assert_eq!(
        second.iter().map(|d| d.1.clone()).collect::<Vec<_>>(),
        vec![vec![2; 16]]
    );
}

#[test]
fn active_stops_reading_at_the_watermark_and_resumes_below_it() {
    let mut rig = rig_with(small());
    let conn = open_in(&mut rig, "active");
    // The actor is slow: its first on-data never returns while the peer keeps sending.
    let mut sent = 0;
    while let Some(max) = rig.take_read(conn) {
        rig.io(IoEvent::Received {
            connection: conn,
            data: vec![7; max],
        });
        sent += max;
        assert!(rig.handler.buffered(conn) <= 64);
    }
    assert_eq!(sent, 16 + 64, "one chunk handed out plus a full buffer");
    let (id, _) = on_data(&mut rig, "a")[0].clone();
    rig.callback_done(id, Ok(()));
    assert_eq!(rig.take_read(conn), Some(16), "room for one more chunk");
}

#[test]
fn once_delivers_exactly_one_chunk_per_arming() {
    let mut rig = rig_with(small());
    let conn = open_in(&mut rig, "once");
    rig.peer_sends(conn, b"first");
    let got = on_data(&mut rig, "a");
    assert_eq!(got.len(), 1);
    rig.callback_done(got[0].0, Ok(()));
    assert_eq!(rig.take_read(conn), None, "back to passive: no more reads");
    // Re-arm (the original handler could not).
    assert_eq!(set_active(&mut rig, "a", conn, "once"), Ok(Reply::Unit));
    rig.peer_sends(conn, b"second");
    let got = on_data(&mut rig, "a");
    assert_eq!(
        got.iter().map(|d| d.1.clone()).collect::<Vec<_>>(),
        vec![b"second".to_vec()]
    );
}

#[test]
fn rearming_once_from_inside_on_data_allows_one_more() {
    let mut rig = rig_with(small());
    let conn = open_in(&mut rig, "once");
    rig.peer_sends(conn, b"a");
    let got = on_data(&mut rig, "a");
    set_active(&mut rig, "a", conn, "once").ok(); // while the on-data runs
    set_active(&mut rig, "a", conn, "once").ok(); // twice is still one more
    rig.callback_done(got[0].0, Ok(()));
    rig.peer_sends(conn, b"b");
    assert_eq!(on_data(&mut rig, "a").len(), 1);
    assert_eq!(rig.take_read(conn), None);
}

#[test]
fn credit_counts_down_then_goes_passive_with_on_passive() {
    let mut rig = rig_with(small());
    let conn = open_in(&mut rig, "2");
    assert_eq!(
        set_active(&mut rig, "a", conn, "1"),
        Ok(Reply::Unit),
        "credits add up"
    );
    let mut chunks = 0;
    let mut passive = 0;
    for i in 0..3u8 {
        rig.peer_sends(conn, &[i; 3]);
        for (id, cb) in rig.callbacks("a") {
            match cb {
                Callback::OnData { .. } => chunks += 1,
                Callback::OnPassive { .. } => passive += 1,
                other => panic!("unexpected {other:?}"),
            }
            rig.callback_done(id, Ok(()));
        }
    }
    assert_eq!((chunks, passive), (3, 1));
    assert_eq!(rig.take_read(conn), None);
    let stats = rig.call_now(
        "a",
        Call::ConnectionStats {
            connection: conn.to_string(),
        },
    );
    assert!(matches!(stats, Ok(Reply::Stats(s)) if s.mode == "passive" && s.chunks_delivered == 3));
}

#[test]
fn credits_add_up_to_exactly_32767() {
    let mut rig = rig_with(small());
    let conn = open_in(&mut rig, "32766");
    assert_eq!(set_active(&mut rig, "a", conn, "1"), Ok(Reply::Unit));
    match rig.call_now(
        "a",
        Call::ConnectionStats {
            connection: conn.to_string(),
        },
    ) {
        Ok(Reply::Stats(s)) => assert_eq!(s.mode, "32767"),
        other => panic!("expected stats, got {other:?}"),
    }
}

#[test]
fn socket_options_take_words_numbers_and_bounded_keepalive_seconds() {
    let mut rig = rig_with(small());
    let conn = rig.open("a");
    let mut set = |name: &str, value: &str| {
        let result = rig.call_now(
            "a",
            Call::SetOption {
                connection: conn.to_string(),
                name: name.into(),
                value: value.into(),
            },
        );
        let applied = rig.commands_where(|c| matches!(c, Command::SetOption { .. }));
        (result.map_err(|e| e.to_string()), applied)
    };
    let applied = |option| {
        (
            Ok(Reply::Unit),
            vec![Command::SetOption {
                connection: conn,
                option,
            }],
        )
    };
    for off in ["false", "off", "0"] {
        assert_eq!(
            set("nodelay", off),
            applied(SocketOption::NoDelay(false)),
            "{off}"
        );
    }
    for on in ["true", "on", "1"] {
        assert_eq!(
            set("nodelay", on),
            applied(SocketOption::NoDelay(true)),
            "{on}"
        );
    }
    assert_eq!(
        set("keepalive", "off"),
        applied(SocketOption::KeepAlive(None))
    );
    assert_eq!(
        set("keepalive", "on"),
        applied(SocketOption::KeepAlive(Some(Duration::from_secs(60)))),
        "on, without keepalive_secs configured: 60 s"
    );
    for (secs, value) in [(2, "2"), (86_400, "86400")] {
        assert_eq!(
            set("keepalive", value),
            applied(SocketOption::KeepAlive(Some(Duration::from_secs(secs))))
        );
    }
    for bad in ["86401", "-5", "soon"] {
        let (result, applied) = set("keepalive", bad);
        assert!(result.is_err(), "{bad}: {result:?}");
        assert!(applied.is_empty(), "{bad}: nothing applied");
    }
}

#[test]
fn credit_above_32767_is_refused() {
    let mut rig = rig_with(small());
    let conn = open_in(&mut rig, "32767");
    let r = set_active(&mut rig, "a", conn, "1");
    assert_eq!(
        r.map_err(|e| e.to_string()),
        Err("Active count 32768 exceeds 32767".into())
    );
}

#[test]
fn switching_to_passive_cancels_the_read_and_loses_nothing_when_data_wins_the_race() {
    let mut rig = rig_with(small());
    let conn = open_in(&mut rig, "active");
    let max = rig.take_read(conn).expect("active reads");
    set_active(&mut rig, "a", conn, "passive").ok();
    assert!(
        rig.commands
            .contains(&Command::CancelRead { connection: conn })
    );
    // The read completed before the cancel reached the transport.
    rig.io(IoEvent::Received {
        connection: conn,
        data: vec![9; max],
    });
    assert!(
        on_data(&mut rig, "a").is_empty(),
        "passive now: nothing pushed"
    );
    assert_eq!(
        rig.handler.probes().get("read.data_beat_cancel"),
        Some(&1),
        "the race is counted where coverage reports it"
    );
    let r = receive(&mut rig, "a", conn, 100);
    assert_eq!(rig.result(r), Some(Ok(Reply::Data(vec![9; max]))));
}

#[test]
fn connection_stats_count_the_bytes_each_way() {
    let mut rig = rig_with(small());
    let conn = rig.open("a");
    let stats = |rig: &mut Rig| match rig.call_now(
        "a",
        Call::ConnectionStats {
            connection: conn.to_string(),
        },
    ) {
        Ok(Reply::Stats(s)) => (s.bytes_in, s.bytes_out, s.buffered),
        other => panic!("expected stats, got {other:?}"),
    };
    assert_eq!(stats(&mut rig), (0, 0, 0));
    let r = receive(&mut rig, "a", conn, 3);
    rig.peer_sends(conn, b"hello");
    assert_eq!(rig.result(r), Some(Ok(Reply::Data(b"hel".to_vec()))));
    assert_eq!(
        stats(&mut rig),
        (5, 0, 2),
        "received, not yet read: buffered"
    );
    // 40 bytes against a 32-byte write buffer: the first 32 count as sent as they go out.
    let s = send(&mut rig, "a", conn, vec![1; 40]);
    assert_eq!(stats(&mut rig), (5, 32, 2));
    rig.io(IoEvent::Wrote {
        connection: conn,
        bytes: 32,
    });
    assert_eq!(rig.result(s), Some(Ok(Reply::Sent(40))));
    let s = send(&mut rig, "a", conn, vec![2; 3]);
    assert_eq!(rig.result(s), Some(Ok(Reply::Sent(3))));
    assert_eq!(stats(&mut rig), (5, 43, 2));
}

#[test]
fn write_reports_are_asked_for_past_half_the_write_buffer_once_until_one_comes() {
    let mut rig = rig_with(small());
    let conn = rig.open("a");
    let asked = |rig: &mut Rig| {
        rig.commands_where(
            |c| matches!(c, Command::ReportWrites { connection } if *connection == conn),
        )
        .len()
    };
    let s = send(&mut rig, "a", conn, vec![1; 16]);
    assert_eq!(rig.result(s), Some(Ok(Reply::Sent(16))));
    assert_eq!(asked(&mut rig), 0, "half the 32-byte buffer: not past it");
    let s = send(&mut rig, "a", conn, vec![1; 1]);
    assert_eq!(rig.result(s), Some(Ok(Reply::Sent(1))));
    assert_eq!(asked(&mut rig), 1, "17 of 32 held: ask for reports");
    let s = send(&mut rig, "a", conn, vec![1; 4]);
    assert_eq!(rig.result(s), Some(Ok(Reply::Sent(4))));
    assert_eq!(asked(&mut rig), 0, "asked once until a report comes");
    rig.io(IoEvent::Wrote {
        connection: conn,
        bytes: 21,
    });
    assert_eq!(asked(&mut rig), 0, "nothing held: nothing to ask for");
    let s = send(&mut rig, "a", conn, vec![1; 17]);
    assert_eq!(rig.result(s), Some(Ok(Reply::Sent(17))));
    assert_eq!(asked(&mut rig), 1, "past half again after the report");
}

#[test]
fn on_data_failure_closes_with_a_reason() {
    let mut rig = rig_with(small());
    let conn = open_in(&mut rig, "active");
    rig.peer_sends(conn, b"boom");
    let (id, _) = on_data(&mut rig, "a")[0].clone();
    rig.callback_done(id, Err("unreachable executed".into()));
    let cbs: Vec<Callback> = rig.callbacks("a").into_iter().map(|c| c.1).collect();
    assert_eq!(
        cbs,
        vec![Callback::OnClose {
            connection: conn.to_string(),
            reason: "error: on-data failed: unreachable executed".into()
        }]
    );
    assert!(rig.commands.contains(&Command::Close { connection: conn }));
}

#[test]
fn active_eof_delivers_remaining_data_then_on_close_then_the_host_closes() {
    let mut rig = rig_with(small());
    let conn = open_in(&mut rig, "active");
    rig.peer_sends(conn, b"tail");
    rig.take_read(conn);
    rig.io(IoEvent::ReadEnded {
        connection: conn,
        end: StreamEnd::Eof,
    });
    let cbs = rig.callbacks("a");
    assert_eq!(cbs.len(), 1, "on-close waits for the on-data in flight");
    rig.callback_done(cbs[0].0, Ok(()));
    let cbs = rig.callbacks("a");
    assert_eq!(
        cbs[0].1,
        Callback::OnClose {
            connection: conn.to_string(),
            reason: "eof".into()
        }
    );
    rig.callback_done(cbs[0].0, Ok(()));
    assert!(rig.commands.contains(&Command::Close { connection: conn }));
}

#[test]
fn keep_open_on_peer_close_lets_the_actor_keep_sending() {
    let mut rig = rig_with(Config {
        keep_open_on_peer_close: true,
        ..small()
    });
    let conn = open_in(&mut rig, "active");
    rig.take_read(conn);
    rig.io(IoEvent::ReadEnded {
        connection: conn,
        end: StreamEnd::Eof,
    });
    let cbs = rig.callbacks("a");
    rig.callback_done(cbs[0].0, Ok(()));
    assert!(!rig.commands.contains(&Command::Close { connection: conn }));
    let s = send_now(&mut rig, "a", conn, b"bye".to_vec());
    assert_eq!(s, Ok(Reply::Sent(3)));
    assert_eq!(rig.written(conn), b"bye");
}

#[test]
fn active_mode_needs_an_on_data_export() {
    let mut rig = rig_with(small());
    rig.start("b", Exports::default());
    let conn = rig.open("b");
    let r = set_active(&mut rig, "b", conn, "active");
    assert_eq!(r, Err(Error::OnDataNotExported("b".into())));
}

#[test]
fn sends_are_bounded_by_the_write_buffer_and_complete_when_accepted() {
    let mut rig = rig_with(small());
    let conn = rig.open("a");
    let s = send(&mut rig, "a", conn, vec![1; 100]);
    assert_eq!(
        rig.written(conn).len(),
        32,
        "only write_buffer bytes go to the transport"
    );
    assert_eq!(rig.result(s), None);
    rig.io(IoEvent::Wrote {
        connection: conn,
        bytes: 32,
    });
    rig.io(IoEvent::Wrote {
        connection: conn,
        bytes: 32,
    });
    rig.io(IoEvent::Wrote {
        connection: conn,
        bytes: 32,
    });
    assert_eq!(rig.written(conn).len(), 100 - 32);
    assert_eq!(rig.result(s), Some(Ok(Reply::Sent(100))));
}

#[test]
fn a_send_without_progress_times_out_and_closes() {
    let mut rig = rig_with(Config {
        send_timeout_ms: 1_000,
        ..small()
    });
    let conn = rig.open("a");
    let s = send(&mut rig, "a", conn, vec![1; 100]);
    rig.advance(Duration::from_millis(600));
    rig.io(IoEvent::Wrote {
        connection: conn,
        bytes: 8,
    }); // progress restarts the clock
    rig.advance(Duration::from_millis(999));
    assert_eq!(rig.result(s), None);
    rig.advance(Duration::from_millis(1));
    assert_eq!(
        rig.result(s).map(|r| r.map_err(|e| e.to_string())),
        Some(Err("send timed out".into()))
    );
    assert!(rig.commands.contains(&Command::Abort { connection: conn }));
    let again = send_now(&mut rig, "a", conn, vec![1]);
    assert_eq!(
        again.map_err(|e| e.to_string()),
        Err(format!("Connection {conn} closed: timeout"))
    );
}

#[test]
fn oversized_and_empty_sends() {
    let mut rig = rig_with(Config {
        max_send_bytes: 10,
        ..small()
    });
    let conn = rig.open("a");
    // Exactly max_send_bytes is allowed; one more is refused.
    let most = send(&mut rig, "a", conn, vec![7; 10]);
    assert_eq!(rig.result(most), Some(Ok(Reply::Sent(10))));
    assert_eq!(rig.written(conn), vec![7; 10]);
    let big = send_now(&mut rig, "a", conn, vec![0; 11]);
    assert_eq!(
        big.map_err(|e| e.to_string()),
        Err("Data too large: 11 bytes exceeds max_send_bytes (10)".into())
    );
    assert_eq!(
        rig.call_now(
            "a",
            Call::Send {
                connection: conn.to_string(),
                data: vec![]
            }
        ),
        Ok(Reply::Sent(0))
    );
    assert!(
        rig.written(conn).is_empty(),
        "nothing after the refused send"
    );
}
