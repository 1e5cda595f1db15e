//! The core against inputs nobody should send: calls with made-up ids and values, and a
//! transport that answers commands it was never given (bytes read without a `Read`, writes
//! reported past what was queued, accepts nobody asked for, `Drained` twice, events for ids
//! that never existed), interleaved with an honest transport and with time jumping around.
//!
//! The core must never panic (tests build with overflow checks), must answer every call
//! exactly once, must keep every output bounded, and once the honest transport takes over and
//! every actor stops, must release every resource: the census ends empty.
//!
//! `model.rs` checks what an honest world observes; this test checks that a dishonest one
//! cannot break the core. The rig and its checks are `theater_tcp_core::testkit::hostile`,
//! shared with the fuzz target `fuzz/fuzz_targets/core_inputs.rs`; this file only generates
//! the steps.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use std::collections::BTreeMap;
use theater_tcp_core::testkit::hostile::{ACTORS, Step, addr, run};
use theater_tcp_core::{ActorId, Call, ConnId, IoEvent, ListenerId, ResolveId, StreamEnd, TlsInfo};

fn actor() -> impl Strategy<Value = ActorId> {
    prop::sample::select(&ACTORS[..]).prop_map(ActorId::from)
}

/// An id text an actor might pass: one the core handed out (`@k`: the k-th id seen, modulo
/// their number, resolved when the step runs), real-looking, out of range, or garbage.
fn id_text() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => (0usize..8).prop_map(|k| format!("@{k}")),
        3 => (0usize..8).prop_map(|k| format!("%{k}")),
        4 => (1u64..12).prop_map(|n| format!("conn-{n}")),
        2 => (1u64..12).prop_map(|n| format!("listener-{n}")),
        1 => Just("conn-".to_owned()),
        1 => Just("conn-18446744073709551616".to_owned()),
        1 => "[a-z0-9-]{0,12}",
    ]
}

fn mode() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("passive".to_owned()),
        Just("active".to_owned()),
        Just("once".to_owned()),
        (0u64..5).prop_map(|n| n.to_string()),
        Just("-1".to_owned()),
        "[a-z]{0,6}",
    ]
}

fn call() -> impl Strategy<Value = Call> {
    let data = prop::collection::vec(any::<u8>(), 0..64);
    prop_oneof![
        3 => Just(Call::Listen { address: "127.0.0.1:0".into() }),
        1 => "[a-z0-9.:]{0,20}".prop_map(|address| Call::Listen { address }),
        2 => prop_oneof![Just("127.0.0.1:9".to_owned()), Just("localhost:80".to_owned()),
                         "[a-z0-9.:\\[\\]]{0,20}"]
            .prop_map(|address| Call::Connect { address }),
        3 => id_text().prop_map(|listener| Call::Accept { listener }),
        6 => id_text().prop_map(|connection| Call::Activate { connection }),
        3 => (id_text(), mode()).prop_map(|(connection, mode)| Call::SetActive { connection, mode }),
        2 => (id_text(), prop::sample::select(&["a", "b", "nobody"][..]))
            .prop_map(|(connection, t)| Call::TransferAsync { connection, target: t.into() }),
        1 => (id_text(), prop::sample::select(&["a", "b", "nobody"][..]))
            .prop_map(|(connection, t)| Call::Transfer { connection, target: t.into() }),
        4 => (id_text(), data).prop_map(|(connection, data)| Call::Send { connection, data }),
        3 => (id_text(), 0u32..100).prop_map(|(connection, max)| Call::Receive { connection, max }),
        1 => (id_text(), 0u32..100, 0u64..10_000)
            .prop_map(|(connection, max, ms)| Call::ReceiveTimeout { connection, max, ms }),
        2 => id_text().prop_map(|connection| Call::Close { connection }),
        1 => id_text().prop_map(|listener| Call::CloseListener { listener }),
        1 => id_text().prop_map(|connection| Call::Abort { connection }),
        1 => (id_text(), prop::sample::select(&["read", "write", "both", "sideways"][..]))
            .prop_map(|(connection, how)| Call::Shutdown { connection, how: how.into() }),
        1 => id_text().prop_map(|connection| Call::UpgradeToTlsServer { connection }),
        1 => (id_text(), "[a-z.]{0,10}")
            .prop_map(|(connection, server_name)| Call::UpgradeToTlsClient { connection, server_name }),
        1 => (id_text(), "[a-z_]{0,10}", "[a-z0-9]{0,6}")
            .prop_map(|(connection, name, value)| Call::SetOption { connection, name, value }),
        1 => id_text().prop_map(|connection| Call::PeerAddress { connection }),
        1 => id_text().prop_map(|id| Call::LocalAddress { id }),
        1 => id_text().prop_map(|connection| Call::TlsInfo { connection }),
        1 => id_text().prop_map(|connection| Call::ConnectionStats { connection }),
    ]
}

fn end() -> impl Strategy<Value = StreamEnd> {
    prop_oneof![
        Just(StreamEnd::Eof),
        Just(StreamEnd::Reset),
        Just(StreamEnd::TlsTruncated),
        Just(StreamEnd::Error("boom".into())),
    ]
}

/// An I/O event for ids that may or may not exist, whatever the core asked for.
fn rogue_event() -> impl Strategy<Value = IoEvent> {
    let conn = (1u64..12).prop_map(ConnId);
    let listener = (1u64..12).prop_map(ListenerId);
    let data = prop::collection::vec(any::<u8>(), 1..128);
    prop_oneof![
        (0u64..6).prop_map(|id| IoEvent::Resolved {
            id: ResolveId(id),
            result: Ok(vec![addr(9)])
        }),
        (0u64..6).prop_map(|id| IoEvent::Resolved {
            id: ResolveId(id),
            result: Ok(vec![])
        }),
        listener.clone().prop_map(|listener| IoEvent::Bound {
            listener,
            local: addr(7000)
        }),
        listener.clone().prop_map(|listener| IoEvent::BindFailed {
            listener,
            error: "in use".into()
        }),
        (listener.clone(), conn.clone()).prop_map(|(listener, connection)| IoEvent::Accepted {
            listener,
            connection,
            peer: addr(5000),
            local: addr(7000)
        }),
        listener.clone().prop_map(|listener| IoEvent::AcceptFailed {
            listener,
            error: "emfile".into()
        }),
        listener.prop_map(|listener| IoEvent::AcceptCancelled { listener }),
        conn.clone().prop_map(|connection| IoEvent::Connected {
            connection,
            peer: addr(9),
            local: addr(5001)
        }),
        conn.clone().prop_map(|connection| IoEvent::ConnectFailed {
            connection,
            error: "refused".into()
        }),
        conn.clone().prop_map(|connection| IoEvent::TlsEstablished {
            connection,
            info: TlsInfo::default()
        }),
        conn.clone().prop_map(|connection| IoEvent::TlsFailed {
            connection,
            error: "bad cert".into()
        }),
        (conn.clone(), data).prop_map(|(connection, data)| IoEvent::Received { connection, data }),
        (conn.clone(), end()).prop_map(|(connection, end)| IoEvent::ReadEnded { connection, end }),
        conn.clone()
            .prop_map(|connection| IoEvent::ReadCancelled { connection }),
        (conn.clone(), prop_oneof![0usize..100, Just(usize::MAX)])
            .prop_map(|(connection, bytes)| IoEvent::Wrote { connection, bytes }),
        (conn.clone(), end())
            .prop_map(|(connection, end)| IoEvent::WriteFailed { connection, end }),
        conn.clone()
            .prop_map(|connection| IoEvent::Flushed { connection }),
        conn.prop_map(|connection| IoEvent::Drained { connection }),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        1 => actor().prop_map(Step::Start),
        1 => actor().prop_map(Step::Restart),
        12 => (prop::option::weighted(0.3, actor()), call()).prop_map(|(a, c)| Step::Call(a, c)),
        10 => Just(Step::Honest),
        3 => Just(Step::PeerConnects),
        3 => prop::collection::vec(any::<u8>(), 1..256).prop_map(Step::PeerSends),
        1 => prop::bool::weighted(0.7).prop_map(Step::PeerCloses),
        3 => rogue_event().prop_map(Step::Rogue),
        4 => prop::bool::weighted(0.9).prop_map(Step::CallbackResult),
        1 => (0u64..50).prop_map(Step::RogueCallback),
        3 => prop_oneof![8 => 0u64..200, 1 => 0u64..100_000].prop_map(Step::Advance),
    ]
}

/// The generator reaches every kind of outcome: run 300 fixed-seed cases and count.
#[test]
fn the_hostile_generator_reaches_deep_states() {
    use proptest::test_runner::{Config as RunnerConfig, TestRng, TestRunner};
    let mut runner = TestRunner::new_with_rng(
        RunnerConfig::default(),
        TestRng::from_seed(proptest::test_runner::RngAlgorithm::ChaCha, &[7; 32]),
    );
    let strategy = prop::collection::vec(step(), 1..150);
    let mut reached: BTreeMap<&'static str, u64> = BTreeMap::new();
    for _ in 0..300 {
        let steps = match strategy.new_tree(&mut runner) {
            Ok(tree) => tree.current(),
            Err(e) => panic!("strategy: {e}"),
        };
        let rig = match run(steps) {
            Ok(rig) => rig,
            Err(e) => panic!("{e}"),
        };
        for (k, v) in rig.reached {
            *reached.entry(k).or_default() += v;
        }
    }
    for what in [
        "send accepted",
        "receive returned data",
        "receive saw end of stream",
        "connection id returned",
        "call refused",
        "handle-connection",
        "handle-connection-transfer",
        "on-data",
        "on-close",
    ] {
        assert!(
            reached.get(what).copied().unwrap_or(0) > 0,
            "never reached {what}: {reached:?}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn hostile_calls_and_a_lying_transport_never_break_the_core(
        steps in prop::collection::vec(step(), 1..150)
    ) {
        run(steps).map_err(TestCaseError::fail)?;
    }
}
