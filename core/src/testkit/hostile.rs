//! The core against inputs nobody should send, shared by the property test
//! `core/tests/hostile.rs`, the fuzz target `fuzz/fuzz_targets/core_inputs.rs` and the replay
//! of its corpus (`core/tests/fuzz_corpus.rs`).
//!
//! A run is a list of [`Step`]s: calls with made-up ids and values, a transport that answers
//! commands it was never given (bytes read without a `Read`, writes reported past what was
//! queued, accepts nobody asked for, `Drained` twice, events for ids that never existed),
//! interleaved with an honest transport and with time jumping around. [`Rig`] plays them and
//! checks, after every input, that every call is answered exactly once, that no call or
//! callback id is reused, that outputs stay bounded and that no transition outside the rules
//! happened; [`Rig::finish`] then stops every actor, lets the honest transport answer
//! everything and time run out every timer, and checks that nothing is left (the census is
//! empty). A panic of the core is a failure too (tests and fuzz builds check overflows).
//!
//! [`decode`] turns arbitrary bytes into steps, so a coverage-guided fuzzer can drive the same
//! rig; [`run_bytes`] is the whole fuzz target.

use crate::{
    ActorId, Call, CallId, Callback, CallbackId, Command, Config, ConnId, Exports, Handler, Input,
    Instant, IoEvent, ListenerId, Notice, ObjectId, Output, Reply, ResolveId, StreamEnd, TlsInfo,
};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

/// The actors of a run; both start before the first step.
pub const ACTORS: [&str; 2] = ["a", "b"];

/// A loopback address on `port`.
pub fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// One input of a hostile run.
#[derive(Debug, Clone)]
pub enum Step {
    /// The actor starts (again, if it runs: the core must cope).
    Start(ActorId),
    /// The actor stops (its connections and listeners close), and starts again.
    Restart(ActorId),
    /// A call by this actor (`None`: whoever owns the connection it names, else `a`). An id
    /// text `@k` is the k-th newest connection id the core handed out, `%k` the k-th newest
    /// listener id (modulo their number), resolved when the step runs; any other text is
    /// passed as it is.
    Call(Option<ActorId>, Call),
    /// The honest transport answers the oldest command it holds.
    Honest,
    /// A peer connects to the first bound listener that asked for an accept.
    PeerConnects,
    /// A peer's bytes for the first connection with a read outstanding.
    PeerSends(Vec<u8>),
    /// The peer of the first connection with a read outstanding ends its stream (FIN if
    /// true, RST if false).
    PeerCloses(bool),
    /// A transport event nobody asked for.
    Rogue(IoEvent),
    /// Answer the oldest callback (Ok or Err).
    CallbackResult(bool),
    /// A result for a made-up callback id.
    RogueCallback(u64),
    /// Time moves on by this many ms, then the core's timers run.
    Advance(u64),
}

/// The connection or listener id a call names (none for `connect` and `listen`).
pub fn id_field(call: &mut Call) -> Option<&mut String> {
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

/// A broken rule, described.
pub type Violation = String;

macro_rules! check {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

/// The core, an honest transport that holds the commands it was given, and the bookkeeping
/// of what must complete exactly once.
#[derive(Debug)]
pub struct Rig {
    /// The handler under test.
    pub core: Handler,
    /// The current time.
    pub now: Instant,
    /// Commands not yet answered, oldest first.
    pub commands: Vec<Command>,
    /// Calls made and not yet completed.
    pub waiting: BTreeSet<CallId>,
    /// Calls completed.
    pub completed: BTreeSet<CallId>,
    /// Callbacks handed out and not yet answered.
    pub callbacks: BTreeMap<CallbackId, ActorId>,
    next_port: u16,
    /// What the run reached (to show a generator gets past the front door).
    pub reached: BTreeMap<&'static str, u64>,
    /// Every connection id the core handed out, in order.
    pub conns: Vec<String>,
    /// Every listener id the core handed out, in order.
    pub listeners: Vec<String>,
    /// Every actor ever started (all of them stop in [`Rig::finish`]).
    pub actors: BTreeSet<ActorId>,
}

impl Default for Rig {
    fn default() -> Self {
        Rig::new()
    }
}

impl Rig {
    /// A core with short timeouts and small buffers (so that runs reach their edges), and
    /// every actor of [`ACTORS`] not yet started.
    pub fn new() -> Self {
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
            actors: BTreeSet::new(),
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

    /// Feeds one input and checks every output it caused.
    pub fn input(&mut self, input: Input) -> Result<(), Violation> {
        if let Some(call) = self.core.handle(self.now, input) {
            check!(self.waiting.insert(call), "call id {call:?} reused");
        }
        check!(
            !self.core.probes().contains_key("transition.unlisted"),
            "a lifecycle transition that no rule names"
        );
        let outputs = self.core.drain_outputs();
        check!(
            outputs.len() < 10_000,
            "{} outputs for one input",
            outputs.len()
        );
        for output in outputs {
            match output {
                Output::Command(command) => self.commands.push(command),
                Output::Notice(Notice::CallCompleted { call, result, .. }) => {
                    check!(
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
                    check!(
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
    pub fn honest(&mut self) -> Result<bool, Violation> {
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
                self.next_port = self.next_port.wrapping_add(1).max(1);
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
            Command::Close { connection } => {
                // Flushed at once, then drained.
                self.input(Input::Io(IoEvent::Flushed { connection }))?;
                Some(IoEvent::Drained { connection })
            }
            Command::CancelAccept { listener } => Some(IoEvent::AcceptCancelled { listener }),
            Command::Accept { .. }
            | Command::Read { .. }
            | Command::CloseListener { .. }
            | Command::ReportWrites { .. }
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

    /// Starts every actor of [`ACTORS`] with every export.
    pub fn start_all(&mut self) -> Result<(), Violation> {
        for actor in ACTORS {
            self.step(Step::Start(actor.into()))?;
        }
        Ok(())
    }

    /// Plays one step.
    pub fn step(&mut self, step: Step) -> Result<(), Violation> {
        match step {
            Step::Start(actor) => {
                self.actors.insert(actor.clone());
                self.input(Input::ActorStarted {
                    actor,
                    exports: Exports::ALL,
                })
            }
            Step::Restart(actor) => {
                self.actors.insert(actor.clone());
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
                if data.is_empty() {
                    return Ok(());
                }
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
    pub fn finish(&mut self) -> Result<(), Violation> {
        for _ in 0..1_000 {
            let mut progress = false;
            while let Some((&id, _)) = self.callbacks.iter().next() {
                self.callbacks.remove(&id);
                self.input(Input::CallbackResult { id, result: Ok(()) })?;
                progress = true;
            }
            for actor in self.actors.clone() {
                self.input(Input::ActorStopped { actor })?;
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
        check!(
            census.actors == 0
                && census.connections == 0
                && census.listeners == 0
                && census.callbacks == 0
                && census.closing == 0
                && census.resolutions == 0,
            "resources left after every actor stopped: {census:?}"
        );
        check!(
            self.waiting.is_empty(),
            "calls never completed: {:?}",
            self.waiting
        );
        Ok(())
    }
}

/// Plays `steps` after starting every actor, then [`Rig::finish`]; returns the rig (for what
/// it reached) or the first rule broken.
pub fn run(steps: impl IntoIterator<Item = Step>) -> Result<Rig, Violation> {
    let mut rig = Rig::new();
    rig.start_all()?;
    for step in steps {
        rig.step(step)?;
    }
    rig.finish()?;
    Ok(rig)
}

/// The fuzz target: decodes `bytes` into steps and plays them; panics with the rule broken
/// (and the steps, when short) on a violation.
pub fn run_bytes(bytes: &[u8]) {
    let steps = decode(bytes);
    if let Err(violation) = run(steps.iter().cloned()) {
        if steps.len() <= 200 {
            panic!("{violation}\nsteps: {steps:#?}");
        }
        panic!("{violation}\n({} steps)", steps.len());
    }
}

/// At most this many steps come out of one input (fuzzers make long inputs; the core's cost
/// per step is what matters, not the length).
pub const MAX_STEPS: usize = 2_000;

/// Reads bytes as choices; past the end every read is zero.
struct Choices<'a> {
    bytes: &'a [u8],
}

impl Choices<'_> {
    fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    fn u8(&mut self) -> u8 {
        match self.bytes.split_first() {
            Some((&b, rest)) => {
                self.bytes = rest;
                b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | (u64::from(self.u32()) << 32)
    }

    fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    /// A number below `n` (n > 0).
    fn below(&mut self, n: u8) -> u8 {
        self.u8() % n
    }

    /// Up to `max` bytes, the length first.
    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = usize::from(self.u8()) % (max + 1);
        let n = len.min(self.bytes.len());
        let (taken, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        taken.to_vec()
    }

    /// Any text of up to `max` bytes (invalid UTF-8 replaced).
    fn text(&mut self, max: usize) -> String {
        String::from_utf8_lossy(&self.bytes(max)).into_owned()
    }

    /// One of `options`, or (with the last choice) any text.
    fn pick(&mut self, options: &[&str]) -> String {
        let i = usize::from(self.u8()) % (options.len() + 1);
        match options.get(i) {
            Some(s) => (*s).to_owned(),
            None => self.text(24),
        }
    }

    fn actor(&mut self) -> ActorId {
        match self.below(8) {
            0..=3 => ActorId::from(ACTORS[0]),
            4..=6 => ActorId::from(ACTORS[1]),
            _ => ActorId::from(self.pick(&["nobody", ""]).as_str()),
        }
    }

    /// An id number: mostly small (ids that exist), sometimes any.
    fn number(&mut self) -> u64 {
        match self.below(8) {
            0 => self.u64(),
            1 => u64::MAX - u64::from(self.u8() % 3),
            _ => u64::from(self.u8() % 16),
        }
    }

    /// An id text an actor might pass: one the core handed out, real-looking, out of range,
    /// or garbage.
    fn id_text(&mut self) -> String {
        match self.below(16) {
            0..=7 => format!("@{}", self.u8() % 8),
            8..=9 => format!("%{}", self.u8() % 8),
            10 => format!("conn-{}", self.number()),
            11 => format!("listener-{}", self.number()),
            12 => self.pick(&[
                "conn-",
                "conn-18446744073709551616",
                "conn-01",
                "conn-+1",
                "conn--1",
                "listener-0",
                "CONN-1",
                " conn-1",
            ]),
            _ => self.text(16),
        }
    }

    fn mode(&mut self) -> String {
        match self.below(8) {
            0 => "passive".into(),
            1 => "active".into(),
            2 => "once".into(),
            3 => (self.u8() % 5).to_string(),
            4 => self.u64().to_string(),
            5 => self.u32().to_string(),
            _ => self.pick(&[
                "-1",
                "0",
                "+3",
                "4294967296",
                "18446744073709551616",
                "Active",
            ]),
        }
    }

    fn address(&mut self) -> String {
        self.pick(&[
            "127.0.0.1:0",
            "127.0.0.1:0",
            "127.0.0.1:9",
            "localhost:80",
            "0.0.0.0:0",
            "[::1]:0",
            "[::1]:443",
            "[::ffff:127.0.0.1]:80",
            "[fe80::1%eth0]:80",
            "example.com:443",
            "*.example.com:443",
            "127.0.0.1:65536",
            "127.0.0.1",
            ":80",
            "[::1]",
            "a..b:80",
            "256.0.0.1:80",
            "10.0.0.1:080",
        ])
    }

    fn target(&mut self) -> String {
        self.pick(&["a", "b", "nobody", ""])
    }

    fn call(&mut self) -> Call {
        match self.below(24) {
            0..=1 => Call::Listen {
                address: self.address(),
            },
            2..=3 => Call::Connect {
                address: self.address(),
            },
            4..=5 => Call::Accept {
                listener: self.id_text(),
            },
            6..=8 => Call::Activate {
                connection: self.id_text(),
            },
            9..=10 => Call::SetActive {
                connection: self.id_text(),
                mode: self.mode(),
            },
            11 => Call::TransferAsync {
                connection: self.id_text(),
                target: self.target(),
            },
            12 => Call::Transfer {
                connection: self.id_text(),
                target: self.target(),
            },
            13..=14 => Call::Send {
                connection: self.id_text(),
                data: self.bytes(255),
            },
            15..=16 => Call::Receive {
                connection: self.id_text(),
                max: self.size(),
            },
            17 => Call::ReceiveTimeout {
                connection: self.id_text(),
                max: self.size(),
                ms: self.millis(),
            },
            18 => Call::Close {
                connection: self.id_text(),
            },
            19 => match self.below(3) {
                0 => Call::CloseListener {
                    listener: self.id_text(),
                },
                1 => Call::Abort {
                    connection: self.id_text(),
                },
                _ => Call::Shutdown {
                    connection: self.id_text(),
                    how: self.pick(&["read", "write", "both", "sideways"]),
                },
            },
            20 => match self.below(2) {
                0 => Call::UpgradeToTlsServer {
                    connection: self.id_text(),
                },
                _ => Call::UpgradeToTlsClient {
                    connection: self.id_text(),
                    server_name: self.pick(&["example.com", "127.0.0.1", "::1", "", "a..b"]),
                },
            },
            21 => Call::SetOption {
                connection: self.id_text(),
                name: self.pick(&["nodelay", "keepalive", "keepalive_ms", "linger"]),
                value: self.pick(&["true", "false", "0", "1000", "18446744073709551615", "-1"]),
            },
            22 => match self.below(2) {
                0 => Call::PeerAddress {
                    connection: self.id_text(),
                },
                _ => Call::LocalAddress { id: self.id_text() },
            },
            _ => match self.below(2) {
                0 => Call::TlsInfo {
                    connection: self.id_text(),
                },
                _ => Call::ConnectionStats {
                    connection: self.id_text(),
                },
            },
        }
    }

    /// A size: mostly small, sometimes any.
    fn size(&mut self) -> u32 {
        match self.below(8) {
            0 => self.u32(),
            1 => u32::MAX,
            _ => u32::from(self.u8()),
        }
    }

    /// A time span in ms: mostly short, sometimes any.
    fn millis(&mut self) -> u64 {
        match self.below(8) {
            0 => self.u64(),
            1 => u64::from(self.u32()),
            _ => u64::from(self.u16() % 5_000),
        }
    }

    fn end(&mut self) -> StreamEnd {
        match self.below(5) {
            0 => StreamEnd::Eof,
            1 => StreamEnd::Reset,
            2 => StreamEnd::TlsTruncated,
            3 => StreamEnd::TlsError("alert".into()),
            _ => StreamEnd::Error("boom".into()),
        }
    }

    fn socket_addr(&mut self) -> SocketAddr {
        match self.below(4) {
            0 => SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], self.u16())),
            _ => addr(self.u16()),
        }
    }

    /// An I/O event for ids that may or may not exist, whatever the core asked for.
    fn rogue_event(&mut self) -> IoEvent {
        let conn = ConnId(self.number());
        let connection = conn;
        let listener = ListenerId(self.number());
        match self.below(18) {
            0 => IoEvent::Resolved {
                id: ResolveId(self.number()),
                result: match self.below(3) {
                    0 => Ok(vec![]),
                    1 => Err("nxdomain".into()),
                    _ => Ok((0..self.u8() % 4).map(|_| self.socket_addr()).collect()),
                },
            },
            1 => IoEvent::Bound {
                listener,
                local: self.socket_addr(),
            },
            2 => IoEvent::BindFailed {
                listener,
                error: "in use".into(),
            },
            3 => IoEvent::Accepted {
                listener,
                connection,
                peer: self.socket_addr(),
                local: self.socket_addr(),
            },
            4 => IoEvent::AcceptFailed {
                listener,
                error: "emfile".into(),
            },
            5 => IoEvent::AcceptCancelled { listener },
            6 => IoEvent::Connected {
                connection,
                peer: self.socket_addr(),
                local: self.socket_addr(),
            },
            7 => IoEvent::ConnectFailed {
                connection,
                error: "refused".into(),
            },
            8 => IoEvent::TlsEstablished {
                connection,
                info: TlsInfo::default(),
            },
            9 => IoEvent::TlsFailed {
                connection,
                error: "bad cert".into(),
            },
            10 => IoEvent::Received {
                connection,
                // Never empty, as the transport contract says (a lying transport still
                // reports bytes it claims to have read).
                data: {
                    let mut data = self.bytes(255);
                    if data.is_empty() {
                        data.push(0);
                    }
                    data
                },
            },
            11 => IoEvent::ReadEnded {
                connection,
                end: self.end(),
            },
            12 => IoEvent::ReadCancelled { connection },
            13 => IoEvent::Wrote {
                connection,
                bytes: match self.below(4) {
                    0 => usize::MAX,
                    1 => self.u64() as usize,
                    _ => usize::from(self.u8()),
                },
            },
            14 => IoEvent::WriteFailed {
                connection,
                end: self.end(),
            },
            15 => IoEvent::Flushed { connection },
            _ => IoEvent::Drained { connection },
        }
    }

    fn step(&mut self) -> Step {
        match self.below(32) {
            0 => Step::Start(self.actor()),
            1 => Step::Restart(self.actor()),
            2..=12 => {
                let actor = if self.below(4) == 0 {
                    Some(self.actor())
                } else {
                    None
                };
                Step::Call(actor, self.call())
            }
            13..=19 => Step::Honest,
            20..=21 => Step::PeerConnects,
            22..=23 => Step::PeerSends(self.bytes(255)),
            24 => Step::PeerCloses(self.bool()),
            25..=26 => Step::Rogue(self.rogue_event()),
            27..=28 => Step::CallbackResult(self.below(8) != 0),
            29 => Step::RogueCallback(self.number()),
            _ => Step::Advance(self.millis()),
        }
    }
}

/// Turns arbitrary bytes into a run: each step takes a byte for its kind and as many more as
/// its values need (reads past the end give zeros), until the bytes run out or
/// [`MAX_STEPS`].
pub fn decode(bytes: &[u8]) -> Vec<Step> {
    let mut choices = Choices { bytes };
    let mut steps = Vec::new();
    while !choices.is_empty() && steps.len() < MAX_STEPS {
        steps.push(choices.step());
    }
    steps
}
