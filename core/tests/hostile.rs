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
//! cannot break the core.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;
use theater_tcp_core::{
    ActorId, Call, CallId, Callback, CallbackId, Command, Config, ConnId, Exports, Handler, Input,
    Instant, IoEvent, ListenerId, Notice, ObjectId, Output, Reply, ResolveId, StreamEnd, TlsInfo,
};

const ACTORS: [&str; 2] = ["a", "b"];

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

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
        conn.prop_map(|connection| IoEvent::Drained { connection }),
    ]
}

#[derive(Debug, Clone)]
enum Step {
    Start(ActorId),
    /// The actor stops (its connections and listeners close), and starts again.
    Restart(ActorId),
    Call(Option<ActorId>, Call),
    /// The honest transport answers the oldest command it holds.
    Honest,
    /// A peer connects to the first bound listener that asked for an accept.
    PeerConnects,
    /// A peer's bytes for the first connection with a read outstanding.
    PeerSends(Vec<u8>),
    /// The peer of the first connection with a read outstanding ends its stream.
    PeerCloses(bool),
    Rogue(IoEvent),
    /// Answer the oldest callback (Ok or Err); or a made-up callback id.
    CallbackResult(bool),
    RogueCallback(u64),
    /// Time moves on by this many ms, then the core's timers run.
    Advance(u64),
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

/// The connection or listener id a call names (none for `connect` and `listen`).
fn id_field(call: &mut Call) -> Option<&mut String> {
    match call {
        Call::Accept { listener } | Call::CloseListener { listener } => Some(listener),
        Call::LocalAddress { id } => Some(id),
        Call::Activate { connection }
        | Call::SetActive { connection, .. }
        | Call::Transfer { connection, .. }
        | Call::TransferAsync { connection, .. }
        | Call::PeerAddress { connection }
        | Call::Send { connection, .. }
        | Call::Receive { connection, .. }
        | Call::ReceiveTimeout { connection, .. }
        | Call::Close { connection }
        | Call::Abort { connection }
        | Call::Shutdown { connection, .. }
        | Call::UpgradeToTlsServer { connection }
        | Call::UpgradeToTlsClient { connection, .. }
        | Call::SetOption { connection, .. }
        | Call::TlsInfo { connection }
        | Call::ConnectionStats { connection } => Some(connection),
        Call::Connect { .. } | Call::Listen { .. } => None,
    }
}

/// The core, a honest transport that holds the commands it was given, and the bookkeeping of
/// what must complete exactly once.
struct Rig {
    core: Handler,
    now: Instant,
    /// Commands not yet answered, oldest first.
    commands: Vec<Command>,
    /// Calls made and not yet completed.
    waiting: BTreeSet<CallId>,
    completed: BTreeSet<CallId>,
    /// Callbacks handed out and not yet answered.
    callbacks: BTreeMap<CallbackId, ActorId>,
    next_port: u16,
    /// What the case reached (to show the generator gets past the front door).
    reached: BTreeMap<&'static str, u64>,
    /// Every connection id the core handed out, in order.
    conns: Vec<String>,
    /// Every listener id the core handed out, in order.
    listeners: Vec<String>,
}

impl Rig {
    fn new() -> Self {
        let config = Config {
            connect_timeout_ms: 500,
            pending_timeout_ms: 2_000,
            send_timeout_ms: 3_000,
            handshake_timeout_ms: 1_000,
            linger_ms: 1_000,
            receive_watermark: 512,
            write_buffer: 256,
            max_chunk: 128,
            ..Config::default()
        };
        let settings = match config.validate() {
            Ok(s) => s,
            Err(e) => panic!("config: {e}"),
        };
        Rig {
            core: Handler::new(settings),
            now: Instant::ZERO,
            commands: Vec::new(),
            waiting: BTreeSet::new(),
            completed: BTreeSet::new(),
            callbacks: BTreeMap::new(),
            next_port: 20_000,
            reached: BTreeMap::new(),
            conns: Vec::new(),
            listeners: Vec::new(),
        }
    }

    fn learn(&mut self, id: &str) {
        let known = if id.starts_with("conn-") {
            &mut self.conns
        } else {
            &mut self.listeners
        };
        if !known.iter().any(|k| k == id) {
            known.push(id.to_owned());
        }
    }

    /// `@k` becomes the k-th newest connection id seen, `%k` the k-th newest listener id
    /// (modulo their number); any other text stays as it is.
    fn resolve(&self, text: String) -> String {
        let pick = |known: &[String], k: &str, fallback: &str| match k.parse::<usize>() {
            // Counted from the newest: recent ids are the ones most likely still alive.
            Ok(k) if !known.is_empty() => known[known.len() - 1 - k % known.len()].clone(),
            _ => fallback.to_owned(),
        };
        if let Some(k) = text.strip_prefix('@') {
            pick(&self.conns, k, "conn-1")
        } else if let Some(k) = text.strip_prefix('%') {
            pick(&self.listeners, k, "listener-1")
        } else {
            text
        }
    }

    /// The actor that owns the connection a call names, if the core knows one.
    fn owner_of(&self, call: &mut Call) -> Option<ActorId> {
        match ObjectId::parse(id_field(call)?) {
            Ok(ObjectId::Connection(id)) => self.core.connection_owner(id).cloned(),
            _ => None,
        }
    }

    /// The call with its `@k` / `%k` id resolved.
    fn resolve_call(&self, mut call: Call) -> Call {
        if let Some(id) = id_field(&mut call) {
            *id = self.resolve(std::mem::take(id));
        }
        call
    }

    fn input(&mut self, input: Input) -> Result<(), TestCaseError> {
        if let Some(call) = self.core.handle(self.now, input) {
            prop_assert!(self.waiting.insert(call), "call id {call:?} reused");
        }
        let outputs = self.core.drain_outputs();
        prop_assert!(
            outputs.len() < 10_000,
            "{} outputs for one input",
            outputs.len()
        );
        for output in outputs {
            match output {
                Output::Command(command) => self.commands.push(command),
                Output::Notice(Notice::CallCompleted { call, result, .. }) => {
                    prop_assert!(
                        self.waiting.remove(&call),
                        "call {call:?} completed twice or never made"
                    );
                    self.completed.insert(call);
                    let what = match result {
                        Ok(Reply::Sent(n)) if n > 0 => "send accepted",
                        Ok(Reply::Data(d)) if !d.is_empty() => "receive returned data",
                        Ok(Reply::Data(_)) => "receive saw end of stream",
                        Ok(Reply::Id(id)) => {
                            self.learn(&id);
                            if id.starts_with("conn-") {
                                "connection id returned"
                            } else {
                                "listener id returned"
                            }
                        }
                        Ok(_) => "other call succeeded",
                        Err(_) => "call refused",
                    };
                    *self.reached.entry(what).or_default() += 1;
                }
                Output::Notice(Notice::Callback {
                    actor,
                    id,
                    callback,
                }) => {
                    let what = match callback {
                        Callback::HandleConnection { connection } => {
                            self.learn(&connection);
                            "handle-connection"
                        }
                        Callback::HandleConnectionTransfer { connection } => {
                            self.learn(&connection);
                            "handle-connection-transfer"
                        }
                        Callback::OnData { .. } => "on-data",
                        Callback::OnClose { .. } => "on-close",
                        Callback::OnPassive { .. } => "on-passive",
                    };
                    *self.reached.entry(what).or_default() += 1;
                    prop_assert!(
                        self.callbacks.insert(id, actor).is_none(),
                        "callback id {id:?} reused"
                    );
                }
            }
        }
        Ok(())
    }

    /// Answers the oldest command a socket answers by itself (not an accept or a read, which
    /// wait for a peer); returns false when there was none.
    fn honest(&mut self) -> Result<bool, TestCaseError> {
        let Some(command) =
            self.take_command(|c| !matches!(c, Command::Accept { .. } | Command::Read { .. }))
        else {
            return Ok(false);
        };
        let event = match command {
            Command::Resolve { id, .. } => Some(IoEvent::Resolved {
                id,
                result: Ok(vec![addr(9)]),
            }),
            Command::Bind { listener, .. } => {
                self.next_port += 1;
                Some(IoEvent::Bound {
                    listener,
                    local: addr(self.next_port),
                })
            }
            Command::Connect { connection, .. } => Some(IoEvent::Connected {
                connection,
                peer: addr(9),
                local: addr(5001),
            }),
            Command::StartTls { connection, .. } => Some(IoEvent::TlsFailed {
                connection,
                error: "no TLS here".into(),
            }),
            Command::CancelRead { connection } => Some(IoEvent::ReadCancelled { connection }),
            Command::Write { connection, data } => Some(IoEvent::Wrote {
                connection,
                bytes: data.len(),
            }),
            Command::Close { connection } => Some(IoEvent::Drained { connection }),
            Command::CancelAccept { listener } => Some(IoEvent::AcceptCancelled { listener }),
            Command::Accept { .. }
            | Command::Read { .. }
            | Command::CloseListener { .. }
            | Command::ShutdownWrite { .. }
            | Command::SetOption { .. }
            | Command::Release { .. }
            | Command::Abort { .. } => None,
        };
        if let Some(event) = event {
            self.input(Input::Io(event))?;
        }
        Ok(true)
    }

    fn take_command(&mut self, pick: impl Fn(&Command) -> bool) -> Option<Command> {
        let i = self.commands.iter().position(pick)?;
        Some(self.commands.remove(i))
    }

    fn step(&mut self, step: Step) -> Result<(), TestCaseError> {
        match step {
            Step::Start(actor) => self.input(Input::ActorStarted {
                actor,
                exports: Exports::ALL,
            }),
            Step::Restart(actor) => {
                self.input(Input::ActorStopped {
                    actor: actor.clone(),
                })?;
                self.input(Input::ActorStarted {
                    actor,
                    exports: Exports::ALL,
                })
            }
            Step::Call(actor, call) => {
                let mut call = self.resolve_call(call);
                // `None`: whoever owns what the call names (most calls of a real actor).
                let actor = actor
                    .or_else(|| self.owner_of(&mut call))
                    .unwrap_or_else(|| ActorId::from(ACTORS[0]));
                self.input(Input::Call { actor, call })
            }
            Step::Honest => self.honest().map(|_| ()),
            Step::PeerConnects => {
                if let Some(Command::Accept {
                    listener,
                    connection,
                }) = self.take_command(|c| matches!(c, Command::Accept { .. }))
                {
                    self.input(Input::Io(IoEvent::Accepted {
                        listener,
                        connection,
                        peer: addr(6000),
                        local: addr(7000),
                    }))?;
                }
                Ok(())
            }
            Step::PeerSends(data) => {
                if let Some(Command::Read { connection, max }) =
                    self.take_command(|c| matches!(c, Command::Read { .. }))
                {
                    let n = data.len().min(max.max(1));
                    self.input(Input::Io(IoEvent::Received {
                        connection,
                        data: data[..n].to_vec(),
                    }))?;
                }
                Ok(())
            }
            Step::PeerCloses(fin) => {
                if let Some(Command::Read { connection, .. }) =
                    self.take_command(|c| matches!(c, Command::Read { .. }))
                {
                    let end = if fin {
                        StreamEnd::Eof
                    } else {
                        StreamEnd::Reset
                    };
                    self.input(Input::Io(IoEvent::ReadEnded { connection, end }))?;
                }
                Ok(())
            }
            Step::Rogue(event) => self.input(Input::Io(event)),
            Step::CallbackResult(ok) => {
                if let Some((&id, _)) = self.callbacks.iter().next() {
                    self.callbacks.remove(&id);
                    let result = if ok { Ok(()) } else { Err("failed".into()) };
                    self.input(Input::CallbackResult { id, result })?;
                }
                Ok(())
            }
            Step::RogueCallback(id) => {
                let id = CallbackId(id);
                // A result for an id handed out is not rogue: it counts as answered.
                self.callbacks.remove(&id);
                self.input(Input::CallbackResult { id, result: Ok(()) })
            }
            Step::Advance(ms) => {
                self.now = self.now + Duration::from_millis(ms);
                self.input(Input::Timeout)
            }
        }
    }

    /// Every callback answered, every actor stopped, the honest transport answers everything
    /// and time runs out every timer: nothing may be left.
    fn finish(&mut self) -> Result<(), TestCaseError> {
        for _ in 0..1_000 {
            let mut progress = false;
            while let Some((&id, _)) = self.callbacks.iter().next() {
                self.callbacks.remove(&id);
                self.input(Input::CallbackResult { id, result: Ok(()) })?;
                progress = true;
            }
            for actor in ACTORS {
                self.input(Input::ActorStopped {
                    actor: actor.into(),
                })?;
            }
            while self.honest()? {
                progress = true;
            }
            // Reads and accepts nobody will answer: the peers are gone.
            let pending: Vec<Command> = std::mem::take(&mut self.commands);
            for command in pending {
                match command {
                    Command::Read { connection, .. } => {
                        self.input(Input::Io(IoEvent::ReadEnded {
                            connection,
                            end: StreamEnd::Eof,
                        }))?;
                        progress = true;
                    }
                    other => self.commands.push(other),
                }
            }
            if let Some(at) = self.core.poll_timeout() {
                self.now = self.now.max(at);
                self.input(Input::Timeout)?;
                progress = true;
            }
            if !progress {
                break;
            }
        }
        let census = self.core.census();
        prop_assert_eq!(census.actors, 0, "{:?}", census);
        prop_assert_eq!(census.connections, 0, "{:?}", census);
        prop_assert_eq!(census.listeners, 0, "{:?}", census);
        prop_assert_eq!(census.callbacks, 0, "{:?}", census);
        prop_assert_eq!(census.closing, 0, "{:?}", census);
        prop_assert_eq!(census.resolutions, 0, "{:?}", census);
        prop_assert!(
            self.waiting.is_empty(),
            "calls never completed: {:?}",
            self.waiting
        );
        Ok(())
    }
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
        let mut rig = Rig::new();
        let start = ACTORS.map(|a| Step::Start(a.into()));
        for step in start.into_iter().chain(steps) {
            if let Err(e) = rig.step(step) {
                panic!("{e}");
            }
        }
        if let Err(e) = rig.finish() {
            panic!("{e}");
        }
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
        let mut rig = Rig::new();
        let start = ACTORS.map(|a| Step::Start(a.into()));
        for step in start.into_iter().chain(steps) {
            rig.step(step)?;
        }
        rig.finish()?;
    }
}
