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
