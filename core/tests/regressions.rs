//! Regression tests: one focused scenario per core bug found (by the model test or by review),
//! named after the rule it broke.

use theater_tcp_core::testkit::Rig;
use theater_tcp_core::*;

/// Found by `model.rs`: a synchronous `transfer` whose caller stopped while the target's
/// `handle-connection-transfer` ran never completed (the core forgot the caller), so the
/// adapter would wait for its reply forever. A stopped actor's waiting calls end at its stop.
#[test]
fn a_stopped_callers_synchronous_transfer_ends_at_its_stop() {
    let mut rig = Rig::new(Config::default());
    rig.start("a", Exports::default());
    rig.start("b", Exports::ALL);
    let conn = rig.pending("a");
    let transfer = rig.call(
        "a",
        Call::Transfer {
            connection: conn.to_string(),
            target: "b".into(),
        },
    );
    let callbacks = rig.callbacks("b");
    let [(callback, Callback::HandleConnectionTransfer { .. })] = callbacks.as_slice() else {
        panic!("expected one handle-connection-transfer, got {callbacks:?}")
    };
    assert_eq!(
        rig.result(transfer),
        None,
        "transfer waits for the callback"
    );

    rig.stop("a");
    assert_eq!(
        rig.result(transfer),
        Some(Err(Error::ActorStopped("a".into())))
    );

    // The target's callback still returns normally; the call is not completed twice.
    rig.callback_done(*callback, Ok(()));
    assert_eq!(rig.result(transfer), None);
    assert_eq!(rig.handler.connection_owner(conn), Some(&ActorId::new("b")));
}
