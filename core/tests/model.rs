//! Model-based property test of the core: random sequences of actor calls, peer behaviour,
//! transport timing and time, checked after every step against a plain model of what every
//! party must observe.
//!
//! # The two halves
//!
//! * The **reference state** ([`World`]) holds only what the test itself decides: which actors
//!   run, which of them listens, and for each peer how many bytes it wrote and whether it ended
//!   its stream with FIN or RST. It never predicts what the core does, so it is obviously
//!   correct; it drives generation and shrinking.
//! * The **system under test** ([`Sut`]) is the real [`Handler`], a fake transport (one [`Wire`]
//!   per peer) that executes the core's commands the way a socket would, and a log
//!   ([`ConnLog`]) of what each actor observed on each connection. The log is built only from
//!   the core's outputs and the test's own inputs, following `SEMANTICS.md`: who owns a
//!   connection (changed by accepts and successful transfers), its data mode (changed by
//!   `set-active`, a `once` chunk, a spent credit, a transfer), and how many bytes of the
//!   peer's stream reached an actor.
//!
//! # Invariants
//!
//! Checked on every output as it comes out, and on the whole state after every step:
//!
//! 1. **Bytes**: every byte an actor gets (by `receive` or `on-data`) is the next byte of the
//!    peer's stream (no loss, duplication or reordering), and the core holds exactly the bytes
//!    read and not yet delivered (`buffered == fed - delivered`). End of stream (`receive` → `[]`,
//!    `on-close(eof)`) is seen only after the whole stream, failures only after every byte read.
//! 2. **Calls**: every call completes exactly once; a call waiting on a connection or listener
//!    has completed by the time that object is gone; a stopped actor has no waiting call left.
//!    Immediate refusals match the contract's preconditions.
//! 3. **Push delivery**: at most one `on-data` in flight per connection, only in a pushing mode,
//!    only to the owner, never more than `max_chunk`; push delivery and waiting `receive`s never
//!    stall while bytes are buffered.
//! 4. **Memory**: `buffered <= receive_watermark` (and so `<= watermark + one read`); a read never
//!    asks for more than `max_chunk`.
//! 5. **Lifetimes**: no connection or listener outlives its owner's stop or its owner's `close`;
//!    a connection disappears on its own only for a reason the contract gives (pending timeout,
//!    failed callback, end of stream without `on-close`); no callback follows a connection's
//!    end; the handler's census matches the log.
//!
//! At the end of every case ([`Sut::finish`]) every callback returns, every peer ends its
//! stream, every owner drains its connections (liveness: the whole stream arrives), every actor
//! stops, and the census must be empty and every transport resource must have got exactly one
//! terminal command.
//!
//! Limits of the model: no TLS, no outbound `connect`, no name resolution, no
//! `keep_open_on_peer_close`; the transport never fails an accept. Those paths have their own
//! tests.

use proptest::prelude::*;
use proptest::strategy::Union;
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest, prop_state_machine};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;
use theater_tcp_core::{
    ActorId, Call, CallId, Callback, CallbackId, Command, Config, ConnId, Error, Exports, Handler,
    Instant, IoEvent, ListenerId, Notice, ObjectId, Reply, StreamEnd,
};

// ------------------------------------------------------------------------------- configuration

/// Small enough that every bound bites within a few steps.
const WATERMARK: usize = 64;
const MAX_CHUNK: usize = 16;
const WRITE_BUFFER: usize = 32;
const BACKLOG: usize = 2;
const MAX_CONNECTIONS: usize = 4;
const PENDING_TIMEOUT: Duration = Duration::from_secs(60);
const SEND_TIMEOUT: Duration = Duration::from_secs(30);
const LINGER: Duration = Duration::from_secs(2);
/// Peers per case.
const MAX_PEERS: usize = 10;

fn config() -> Config {
    Config {
        receive_watermark: WATERMARK,
        max_chunk: MAX_CHUNK,
        write_buffer: WRITE_BUFFER,
        backlog: BACKLOG,
        max_connections: Some(MAX_CONNECTIONS),
        pending_timeout_ms: PENDING_TIMEOUT.as_millis() as u64,
        send_timeout_ms: SEND_TIMEOUT.as_millis() as u64,
        linger_ms: LINGER.as_millis() as u64,
        ..Config::default()
    }
}

/// Three actors with different exports: `ann` exports everything (connections are pushed to
/// her), `bob` exports `on-data` and `handle-connection-transfer` but not `handle-connection`
/// or `on-close`, `cat` exports nothing (passive `receive` only, transfers to her run no
/// callback).
const ACTORS: [&str; 3] = ["ann", "bob", "cat"];

fn exports(actor: usize) -> Exports {
    match actor {
        0 => Exports::ALL,
        1 => Exports {
            on_data: true,
            handle_connection_transfer: true,
            ..Exports::default()
        },
        _ => Exports::default(),
    }
}

fn actor_id(actor: usize) -> ActorId {
    ActorId::new(ACTORS[actor])
}

fn actor_index(id: &ActorId) -> usize {
    match ACTORS.iter().position(|a| *a == id.as_str()) {
        Some(i) => i,
        None => panic!("notice for unknown actor {id}"),
    }
}

/// Byte `offset` of the stream of peer `peer`: a hash, so a lost, doubled or swapped byte (or
/// a byte from another connection) shows.
fn stream_byte(peer: usize, offset: usize) -> u8 {
    let mut x = ((peer as u64) << 40) ^ offset as u64;
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (x ^ (x >> 31)) as u8
}

fn stream(peer: usize, from: usize, len: usize) -> Vec<u8> {
    (from..from + len).map(|i| stream_byte(peer, i)).collect()
}

/// The bytes actors send to peer `peer` (a different stream from the peer's).
fn out_stream(peer: usize, from: usize, len: usize) -> Vec<u8> {
    stream(peer + 1000, from, len)
}

// ------------------------------------------------------------------------------- reference

/// How a peer ended its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PeerEnd {
    Fin,
    Rst,
}

/// One remote peer, as the test drives it.
#[derive(Debug, Clone, Default)]
struct Peer {
    /// Bytes the peer wrote so far (its stream is `stream(index, 0, sent)`).
    sent: usize,
    end: Option<PeerEnd>,
}

/// The reference state: what the test decided, never what the core did.
#[derive(Debug, Clone, Default)]
struct World {
    running: [bool; 3],
    /// The actor that owns the one listener, if any.
    listener: Option<usize>,
    peers: Vec<Peer>,
}

/// A `set-active` mode argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ModeArg {
    Passive,
    Active,
    Once,
    Credit(u16),
}

impl ModeArg {
    fn text(self) -> String {
        match self {
            ModeArg::Passive => "passive".into(),
            ModeArg::Active => "active".into(),
            ModeArg::Once => "once".into(),
            ModeArg::Credit(n) => n.to_string(),
        }
    }
}

/// Which connection an actor's call names.
#[derive(Debug, Clone, Copy)]
enum ConnRef {
    /// The connection of peer `n` (which may be gone, or not accepted yet).
    Peer(usize),
    /// The `n`-th (mod their number) connection that is still open and handed out; the call
    /// is skipped when there is none. Keeps most calls on connections that can do something.
    Live(usize),
}

/// One step of a case. Peer steps name the peer (`peer` indexes [`World::peers`]); actor
/// calls name a connection ([`ConnRef`]) and the caller: `by: None` is whoever owns the
/// connection now, `Some(actor)` anyone (most often not the owner, to exercise the ownership
/// checks).
#[derive(Debug, Clone)]
enum Step {
    Start {
        actor: usize,
    },
    Stop {
        actor: usize,
    },
    Listen {
        actor: usize,
    },
    CloseListener,
    /// A peer connects; it waits in the kernel's backlog until the core accepts it.
    PeerConnects,
    /// The peer writes `len` bytes; the transport hands them to the core's reads in pieces of
    /// `splits` as long as reads are outstanding (the rest waits for [`Step::Transport`]).
    PeerSends {
        peer: usize,
        len: usize,
        splits: Vec<usize>,
    },
    PeerFin {
        peer: usize,
    },
    /// The peer resets: bytes not yet read are lost, as with a real RST.
    PeerRst {
        peer: usize,
    },
    /// The transport makes progress on one connection: answers the outstanding read (with at
    /// most `split` bytes, or the end of stream), answers a `CancelRead` (with the read's
    /// outcome instead when `race`: the outcome was already on its way), acknowledges up to
    /// `split` written bytes, reports `Drained` after a close.
    Transport {
        peer: usize,
        split: usize,
        race: bool,
    },
    Accept {
        actor: usize,
    },
    Activate {
        by: Option<usize>,
        conn: ConnRef,
    },
    SetActive {
        by: Option<usize>,
        conn: ConnRef,
        mode: ModeArg,
    },
    Receive {
        by: Option<usize>,
        conn: ConnRef,
        max: u32,
    },
    Send {
        by: Option<usize>,
        conn: ConnRef,
        len: usize,
    },
    Transfer {
        by: Option<usize>,
        conn: ConnRef,
        target: usize,
        sync: bool,
    },
    Close {
        by: Option<usize>,
        conn: ConnRef,
    },
    /// The actor returns from the `pick`-th callback in flight (mod their number).
    CallbackReturns {
        pick: usize,
        ok: bool,
    },
    Advance {
        ms: u64,
    },
}

/// The reference state machine.
struct Model;

impl ReferenceStateMachine for Model {
    type State = World;
    type Transition = Step;

    /// Every actor runs at the start (stops and restarts come as steps).
    fn init_state() -> BoxedStrategy<World> {
        Just(World {
            running: [true; 3],
            ..World::default()
        })
        .boxed()
    }

    fn transitions(w: &World) -> BoxedStrategy<Step> {
        let actor = || 0..ACTORS.len();
        let stopped: Vec<usize> = (0..ACTORS.len()).filter(|a| !w.running[*a]).collect();
        let running: Vec<usize> = (0..ACTORS.len()).filter(|a| w.running[*a]).collect();
        let by = || {
            prop_oneof![
                6 => Just(None),
                1 => (0..ACTORS.len()).prop_map(Some),
            ]
        };
        let mut steps: Vec<(u32, BoxedStrategy<Step>)> = vec![
            (
                10,
                (any::<usize>(), any::<bool>())
                    .prop_map(|(pick, ok)| Step::CallbackReturns {
                        pick,
                        ok: ok || pick % 4 != 0,
                    })
                    .boxed(),
            ),
            (
                1,
                prop_oneof![
                    6 => 1..=3_000u64,
                    1 => 29_000..=31_000u64,
                    1 => 59_000..=61_000u64,
                ]
                .prop_map(|ms| Step::Advance { ms })
                .boxed(),
            ),
        ];
        if !stopped.is_empty() {
            let start = prop::sample::select(stopped).prop_map(|actor| Step::Start { actor });
            steps.push((3, start.boxed()));
        }
        if !running.is_empty() {
            let stop = prop::sample::select(running.clone()).prop_map(|actor| Step::Stop { actor });
            steps.push((1, stop.boxed()));
        }
        if w.listener.is_none() && !running.is_empty() {
            let listen =
                prop::sample::select(running.clone()).prop_map(|actor| Step::Listen { actor });
            steps.push((6, listen.boxed()));
        }
        if w.listener.is_some() {
            steps.push((1, Just(Step::CloseListener).boxed()));
        }
        if w.listener.is_some() && !running.is_empty() {
            let accept =
                prop::sample::select(running.clone()).prop_map(|actor| Step::Accept { actor });
            steps.push((3, accept.boxed()));
            if w.peers.len() < MAX_PEERS {
                steps.push((5, Just(Step::PeerConnects).boxed()));
            }
        }
        if !w.peers.is_empty() {
            // Mostly the newest peers: older ones are more often gone already.
            let n = w.peers.len();
            let peer = || prop_oneof![3 => n.saturating_sub(2)..n, 1 => 0..n];
            let conn = move || {
                prop_oneof![
                    3 => any::<usize>().prop_map(ConnRef::Live),
                    1 => (0..n).prop_map(ConnRef::Peer),
                ]
            };
            steps.extend([
                (
                    10,
                    (
                        peer(),
                        1..=120usize,
                        prop::collection::vec(1..=24usize, 0..6),
                    )
                        .prop_map(|(peer, len, splits)| Step::PeerSends { peer, len, splits })
                        .boxed(),
                ),
                (1, peer().prop_map(|peer| Step::PeerFin { peer }).boxed()),
                (1, peer().prop_map(|peer| Step::PeerRst { peer }).boxed()),
                (
                    10,
                    (peer(), 1..=24usize, any::<bool>())
                        .prop_map(|(peer, split, race)| Step::Transport { peer, split, race })
                        .boxed(),
                ),
                (
                    6,
                    (by(), conn())
                        .prop_map(|(by, conn)| Step::Activate { by, conn })
                        .boxed(),
                ),
                (
                    8,
                    (
                        by(),
                        conn(),
                        prop_oneof![
                            3 => Just(ModeArg::Passive),
                            2 => Just(ModeArg::Active),
                            2 => Just(ModeArg::Once),
                            1 => (1..=3u16).prop_map(ModeArg::Credit),
                        ],
                    )
                        .prop_map(|(by, conn, mode)| Step::SetActive { by, conn, mode })
                        .boxed(),
                ),
                (
                    8,
                    (
                        by(),
                        conn(),
                        prop_oneof![
                            2 => Just(1u32),
                            4 => 1..=40u32,
                            2 => Just(u32::MAX),
                            1 => Just(0u32),
                        ],
                    )
                        .prop_map(|(by, conn, max)| Step::Receive { by, conn, max })
                        .boxed(),
                ),
                (
                    2,
                    (by(), conn(), 1..=48usize)
                        .prop_map(|(by, conn, len)| Step::Send { by, conn, len })
                        .boxed(),
                ),
                (
                    5,
                    (by(), conn(), actor(), any::<bool>())
                        .prop_map(|(by, conn, target, sync)| Step::Transfer {
                            by,
                            conn,
                            target,
                            sync,
                        })
                        .boxed(),
                ),
                (
                    1,
                    (by(), conn())
                        .prop_map(|(by, conn)| Step::Close { by, conn })
                        .boxed(),
                ),
            ]);
        }
        Union::new_weighted(steps).boxed()
    }

    fn preconditions(w: &World, step: &Step) -> bool {
        let running = |a: usize| w.running[a];
        let peer_ok = |p: usize| p < w.peers.len();
        let by_ok = |by: &Option<usize>| by.is_none_or(running);
        match step {
            Step::Start { actor } => !running(*actor),
            Step::Stop { actor } => running(*actor),
            Step::Listen { actor } => running(*actor) && w.listener.is_none(),
            Step::CloseListener => w.listener.is_some(),
            Step::Accept { actor } => running(*actor) && w.listener.is_some(),
            Step::PeerConnects => w.listener.is_some() && w.peers.len() < MAX_PEERS,
            Step::PeerSends { peer, .. } | Step::PeerFin { peer } | Step::PeerRst { peer } => {
                peer_ok(*peer) && w.peers[*peer].end.is_none()
            }
            Step::Transport { peer, .. } => peer_ok(*peer),
            Step::Activate { by, conn }
            | Step::SetActive { by, conn, .. }
            | Step::Receive { by, conn, .. }
            | Step::Send { by, conn, .. }
            | Step::Transfer { by, conn, .. }
            | Step::Close { by, conn } => {
                by_ok(by)
                    && match conn {
                        ConnRef::Peer(p) => peer_ok(*p),
                        ConnRef::Live(_) => true,
                    }
            }
            Step::CallbackReturns { .. } | Step::Advance { .. } => true,
        }
    }

    fn apply(mut w: World, step: &Step) -> World {
        match step {
            Step::Start { actor } => w.running[*actor] = true,
            Step::Stop { actor } => {
                w.running[*actor] = false;
                if w.listener == Some(*actor) {
                    w.listener = None;
                }
            }
            Step::Listen { actor } => w.listener = Some(*actor),
            Step::CloseListener => w.listener = None,
            Step::PeerConnects => w.peers.push(Peer::default()),
            Step::PeerSends { peer, len, .. } => w.peers[*peer].sent += len,
            Step::PeerFin { peer } => w.peers[*peer].end = Some(PeerEnd::Fin),
            Step::PeerRst { peer } => w.peers[*peer].end = Some(PeerEnd::Rst),
            _ => {}
        }
        w
    }
}

// ------------------------------------------------------------------------------- fake transport

/// Where a peer's TCP connection is, as the transport sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Socket {
    /// Connected to the listening socket, not accepted yet.
    Backlog,
    /// The listener closed before accepting it.
    Refused,
    /// Accepted as this connection.
    Accepted(ConnId),
}

/// One peer's connection in the fake transport.
#[derive(Debug)]
struct Wire {
    socket: Socket,
    /// Bytes the peer wrote that the core has not read yet.
    pending: usize,
    /// Bytes handed to the core by `Received`.
    fed: usize,
    /// Bytes lost to the peer's RST before anyone read them.
    dropped: usize,
    end: Option<PeerEnd>,
    /// `ReadEnded` was reported.
    end_reported: bool,
    /// The outstanding `Read`, by its `max`.
    read: Option<usize>,
    /// `CancelRead` came for the outstanding read.
    cancelling: bool,
    /// Bytes the core wrote, in order.
    written: Vec<u8>,
    /// Written bytes not yet acknowledged with `Wrote`.
    unacked: usize,
    /// `ReportWrites` came and no `Wrote` went since. This transport holds its acks back
    /// unless asked (or, at random, volunteers one), as the real one does.
    asked: bool,
    /// `WriteFailed` was reported.
    write_failed: bool,
    /// `Close` came: the transport reports `Flushed` (this one writes at once), drains until
    /// the peer's end, then reports `Drained`.
    closing: bool,
    flushed: bool,
    drained: bool,
    /// `Release` / `Abort` commands received (must end as exactly one).
    terminal: usize,
}

impl Wire {
    fn new() -> Self {
        Wire {
            socket: Socket::Backlog,
            pending: 0,
            fed: 0,
            dropped: 0,
            end: None,
            end_reported: false,
            read: None,
            cancelling: false,
            written: Vec::new(),
            unacked: 0,
            asked: false,
            write_failed: false,
            closing: false,
            flushed: false,
            drained: false,
            terminal: 0,
        }
    }

    fn conn(&self) -> Option<ConnId> {
        match self.socket {
            Socket::Accepted(id) => Some(id),
            _ => None,
        }
    }

    /// The socket can still carry events to the core.
    fn live(&self) -> bool {
        self.conn().is_some() && self.terminal == 0
    }
}

// ------------------------------------------------------------------------------- observer log

/// A data mode as the contract defines its changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Passive,
    Active,
    Once,
    Credit(u32),
}

impl Mode {
    fn pushes(self) -> bool {
        self != Mode::Passive
    }
}

/// What the actors observed on one connection.
#[derive(Debug)]
struct ConnLog {
    id: ConnId,
    owner: usize,
    /// Bumped at every change of owner: a callback's result counts only in its generation.
    generation: u64,
    /// The owner has seen it (accept result or `handle-connection`): calls may name it.
    visible: bool,
    /// Activated or transferred: `Open` in the core.
    activated: bool,
    mode: Mode,
    /// Bytes of the peer's stream handed to actors, in order.
    delivered: usize,
    /// The actor saw the end of the stream (empty `receive`, a failure, `on-close`).
    end_seen: bool,
    /// A send timed out (the core then treats the connection as gone).
    send_timed_out: bool,
    /// The core still holds it (as far as the log knows).
    alive: bool,
    /// Why the core must have dropped it by now, if it must.
    must_die: Option<&'static str>,
    accepted_at: Instant,
    receive: Option<CallId>,
    on_data: Option<CallbackId>,
    /// Bytes queued by sends that were not refused (the outbound stream's length so far).
    out_queued: usize,
    /// An `on-data` returned an error during the current step (explains its `on-close`).
    on_data_failed: bool,
}

/// What a call waits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waiting {
    Receive {
        peer: usize,
        max: u32,
    },
    Send {
        peer: usize,
        upto: usize,
    },
    Accept {
        listener: ListenerId,
    },
    Transfer {
        peer: usize,
        target: usize,
        sync: bool,
    },
    Other,
}

#[derive(Debug)]
struct CallRecord {
    actor: usize,
    what: Waiting,
}

/// Why a callback runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CbKind {
    HandOut,
    Transfer { call: Option<CallId> },
    OnData,
    OnClose,
    OnPassive,
}

#[derive(Debug)]
struct CbRecord {
    actor: usize,
    peer: usize,
    generation: u64,
    kind: CbKind,
}

// ------------------------------------------------------------------------------- system under test

/// The handler, the fake transport and the log of what everyone saw.
struct Sut {
    handler: Handler,
    now: Instant,
    running: [bool; 3],
    wires: Vec<Wire>,
    /// The peers in the listening socket's backlog, oldest first.
    backlog: VecDeque<usize>,
    listener: Option<(ListenerId, usize)>,
    /// The core's outstanding `Accept`: the id the next accepted stream gets.
    accept: Option<(ListenerId, ConnId)>,
    /// Listeners given to the transport, and how many terminal commands each got.
    listeners: BTreeMap<ListenerId, usize>,
    /// Who called `listen` last (the transport's `Bind` does not say).
    listening_actor: usize,
    logs: Vec<Option<ConnLog>>,
    by_conn: BTreeMap<ConnId, usize>,
    calls: BTreeMap<CallId, CallRecord>,
    callbacks: BTreeMap<CallbackId, CbRecord>,
    /// Results that came out during the current step.
    results: BTreeMap<CallId, Result<Reply, Error>>,
    /// The transfer being called: `(peer, target, sync call, call)`, to recognise its callback.
    transferring: Option<(usize, usize, Option<CallId>, CallId)>,
    /// Transfer calls whose ownership flip was seen.
    flipped: BTreeSet<CallId>,
    events: VecDeque<IoEvent>,
}

fn local() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7000))
}

fn conn_of(text: &str) -> ConnId {
    match ObjectId::parse(text) {
        Ok(ObjectId::Connection(id)) => id,
        other => panic!("not a connection id: {text} ({other:?})"),
    }
}

impl Sut {
    fn new() -> Self {
        let settings = match config().validate() {
            Ok(s) => s,
            Err(e) => panic!("model config does not validate: {e}"),
        };
        Sut {
            handler: Handler::new(settings),
            now: Instant::from_nanos(1_000_000_000),
            running: [false; 3],
            wires: Vec::new(),
            backlog: VecDeque::new(),
            listener: None,
            accept: None,
            listeners: BTreeMap::new(),
            listening_actor: 0,
            logs: Vec::new(),
            by_conn: BTreeMap::new(),
            calls: BTreeMap::new(),
            callbacks: BTreeMap::new(),
            results: BTreeMap::new(),
            transferring: None,
            flipped: BTreeSet::new(),
            events: VecDeque::new(),
        }
    }

    fn log(&mut self, peer: usize) -> &mut ConnLog {
        match self.logs[peer].as_mut() {
            Some(log) => log,
            None => panic!("peer {peer} has no connection"),
        }
    }

    fn peer_of(&self, text: &str) -> usize {
        let id = conn_of(text);
        match self.by_conn.get(&id) {
            Some(p) => *p,
            None => panic!("output names {id}, which the transport never accepted"),
        }
    }

    // ---------------------------------------------------------------- driving the core

    /// Drains every output, executing commands on the fake transport and logging notices,
    /// and feeds back the transport's answers until all is quiet.
    fn pump(&mut self) {
        loop {
            while let Some(command) = self.handler.poll_command() {
                self.execute(command);
            }
            while let Some(notice) = self.handler.poll_notice() {
                self.observe(notice);
            }
            match self.events.pop_front() {
                Some(event) => self.handler.handle_io(self.now, event),
                None => break,
            }
        }
    }

    fn io(&mut self, event: IoEvent) {
        self.handler.handle_io(self.now, event);
        self.pump();
    }

    fn call(&mut self, actor: usize, call: Call, what: Waiting) -> CallId {
        let id = self.handler.handle_call(self.now, &actor_id(actor), call);
        let fresh = self.calls.insert(id, CallRecord { actor, what }).is_none();
        assert!(fresh, "call id {id:?} reused");
        if let Waiting::Transfer { peer, target, sync } = what {
            self.transferring = Some((peer, target, sync.then_some(id), id));
        }
        self.pump();
        self.transferring = None;
        id
    }

    /// Makes a call whose immediate refusal the contract predicts (`expected`), and checks it.
    fn checked_call(
        &mut self,
        actor: usize,
        call: Call,
        what: Waiting,
        expected: Option<Error>,
    ) -> (CallId, Option<Result<Reply, Error>>) {
        let shown = format!("{call:?}");
        let id = self.call(actor, call, what);
        let result = self.results.get(&id).cloned();
        if let Some(err) = expected {
            assert_eq!(
                result,
                Some(Err(err)),
                "{} calling {shown}: refusal expected",
                ACTORS[actor]
            );
        } else if let Some(Err(e)) = &result {
            assert!(
                !is_refusal(e),
                "{} calling {shown}: unexpected refusal {e:?}",
                ACTORS[actor]
            );
        }
        (id, result)
    }

    // ---------------------------------------------------------------- the fake transport

    fn execute(&mut self, command: Command) {
        match command {
            Command::Bind { listener, .. } => {
                self.listeners.insert(listener, 0);
                self.listener = Some((listener, self.listening_actor));
                self.events.push_back(IoEvent::Bound {
                    listener,
                    local: local(),
                });
            }
            Command::Accept {
                listener,
                connection,
            } => {
                assert!(
                    self.accept.is_none(),
                    "second Accept while one is outstanding"
                );
                assert_eq!(
                    self.listener.map(|l| l.0),
                    Some(listener),
                    "Accept on a dead listener"
                );
                self.accept = Some((listener, connection));
                self.try_accept();
            }
            Command::CancelAccept { listener } => {
                if self.accept.take().is_some() {
                    self.events.push_back(IoEvent::AcceptCancelled { listener });
                }
            }
            Command::CloseListener { listener } => {
                let Some(count) = self.listeners.get_mut(&listener) else {
                    panic!("CloseListener for {listener}, never bound");
                };
                *count += 1;
                assert_eq!(*count, 1, "{listener} closed twice");
                if self.accept.is_some_and(|a| a.0 == listener) {
                    self.accept = None;
                }
                if self.listener.is_some_and(|l| l.0 == listener) {
                    self.listener = None;
                }
                for peer in self.backlog.drain(..) {
                    self.wires[peer].socket = Socket::Refused;
                }
            }
            Command::Read { connection, max } => {
                let w = self.wire(connection);
                assert!(
                    w.live() && !w.closing,
                    "Read on {connection} after its close"
                );
                assert!(w.read.is_none(), "second Read on {connection}");
                assert!(!w.end_reported, "Read on {connection} after its end");
                assert!(
                    (1..=MAX_CHUNK).contains(&max),
                    "Read max {max} out of bounds"
                );
                w.read = Some(max);
                w.cancelling = false;
            }
            Command::CancelRead { connection } => {
                let w = self.wire(connection);
                assert!(
                    w.read.is_some() && !w.cancelling,
                    "CancelRead without a read"
                );
                w.cancelling = true;
            }
            Command::Write { connection, data } => {
                let peer = self.by_conn[&connection];
                let w = &mut self.wires[peer];
                assert!(
                    w.live() && !w.closing,
                    "Write on {connection} after its close"
                );
                assert!(!data.is_empty(), "empty Write");
                let expected = out_stream(peer, w.written.len(), data.len());
                assert_eq!(data, expected, "bytes written to {connection} out of order");
                w.written.extend_from_slice(&data);
                w.unacked += data.len();
                assert!(
                    w.unacked <= WRITE_BUFFER,
                    "write buffer overrun on {connection}"
                );
            }
            Command::SetOption { connection, .. } => {
                assert!(self.wire(connection).live(), "SetOption on a dead socket");
            }
            Command::ReportWrites { connection } => {
                let w = self.wire(connection);
                assert!(!w.closing, "ReportWrites on {connection} after its close");
                w.asked = true;
            }
            Command::Close { connection } => {
                let w = self.wire(connection);
                assert!(
                    w.live() && !w.closing,
                    "Close on {connection} twice or after its end"
                );
                w.closing = true;
                w.read = None;
                w.cancelling = false;
                // Drains unread input: nobody reads it any more.
                w.dropped += w.pending;
                w.pending = 0;
            }
            Command::Release { connection } | Command::Abort { connection } => {
                let is_release = matches!(command, Command::Release { .. });
                let w = self.wire(connection);
                assert!(
                    !is_release || w.closing,
                    "Release of {connection} without Close"
                );
                w.terminal += 1;
                assert_eq!(w.terminal, 1, "{connection} got two terminal commands");
                w.read = None;
                w.dropped += w.pending;
                w.pending = 0;
            }
            other => panic!("the model does not expect {other:?}"),
        }
    }

    fn wire(&mut self, id: ConnId) -> &mut Wire {
        match self.by_conn.get(&id) {
            Some(peer) => &mut self.wires[*peer],
            None => panic!("command for {id}, which the transport never accepted"),
        }
    }

    /// Completes the outstanding `Accept` with the oldest peer in the backlog.
    fn try_accept(&mut self) {
        let Some((listener, connection)) = self.accept else {
            return;
        };
        let Some(peer) = self.backlog.pop_front() else {
            return;
        };
        let Some((_, owner)) = self.listener else {
            return;
        };
        self.accept = None;
        self.wires[peer].socket = Socket::Accepted(connection);
        let fresh = self.by_conn.insert(connection, peer).is_none();
        assert!(fresh, "connection id {connection} reused");
        self.logs[peer] = Some(ConnLog {
            id: connection,
            owner,
            generation: 0,
            visible: false,
            activated: false,
            mode: Mode::Passive,
            delivered: 0,
            end_seen: false,
            send_timed_out: false,
            alive: true,
            must_die: None,
            accepted_at: self.now,
            receive: None,
            on_data: None,
            out_queued: 0,
            on_data_failed: false,
        });
        self.events.push_back(IoEvent::Accepted {
            listener,
            connection,
            peer: SocketAddr::from(([10, 0, 0, 2], 40_000 + peer as u16)),
            local: local(),
        });
    }

    /// Answers the outstanding read of `peer` with at most `split` bytes, the end of stream,
    /// or (when cancelled) `ReadCancelled` unless `race` lets the outcome win.
    fn answer_read(&mut self, peer: usize, split: usize, race: bool) -> bool {
        let w = &mut self.wires[peer];
        let (Some(connection), Some(max)) = (w.conn(), w.read) else {
            return false;
        };
        if !w.live() {
            return false;
        }
        let event = if w.cancelling && !race {
            IoEvent::ReadCancelled { connection }
        } else if w.pending > 0 {
            let n = split.min(max).min(w.pending);
            let data = stream(peer, w.fed, n);
            w.fed += n;
            w.pending -= n;
            IoEvent::Received { connection, data }
        } else if let Some(end) = w.end {
            w.end_reported = true;
            let end = match end {
                PeerEnd::Fin => StreamEnd::Eof,
                PeerEnd::Rst => StreamEnd::Reset,
            };
            IoEvent::ReadEnded { connection, end }
        } else if w.cancelling {
            IoEvent::ReadCancelled { connection }
        } else {
            return false;
        };
        w.read = None;
        w.cancelling = false;
        self.io(event);
        true
    }

    /// Everything the transport can do on `peer` now (one read answer, acks, drain).
    fn transport(&mut self, peer: usize, split: usize, race: bool) -> bool {
        let mut progress = self.answer_read(peer, split, race);
        let w = &mut self.wires[peer];
        let Some(connection) = w.conn() else {
            return progress;
        };
        if !w.live() {
            return progress;
        }
        if w.unacked > 0 && !w.write_failed {
            if w.end == Some(PeerEnd::Rst) {
                w.write_failed = true;
                w.unacked = 0;
                self.io(IoEvent::WriteFailed {
                    connection,
                    end: StreamEnd::Reset,
                });
                progress = true;
            } else if w.asked || race {
                // The acks the core waits on come when asked: the drain below never
                // volunteers one, so a core that waits without asking does not settle.
                let bytes = split.min(w.unacked);
                w.unacked -= bytes;
                w.asked = false;
                self.io(IoEvent::Wrote { connection, bytes });
                progress = true;
            }
        }
        let w = &mut self.wires[peer];
        if w.live() && w.closing && !w.flushed {
            w.flushed = true;
            self.io(IoEvent::Flushed { connection });
            progress = true;
        }
        let w = &mut self.wires[peer];
        if w.live() && w.closing && w.end.is_some() && !w.drained {
            w.drained = true;
            self.io(IoEvent::Drained { connection });
            progress = true;
        }
        progress
    }

    // ---------------------------------------------------------------- what actors see

    fn observe(&mut self, notice: Notice) {
        match notice {
            Notice::CallCompleted {
                actor,
                call,
                result,
            } => self.completed(&actor, call, result),
            Notice::Callback {
                actor,
                id,
                callback,
            } => self.callback(actor_index(&actor), id, callback),
        }
    }

    fn completed(&mut self, actor: &ActorId, call: CallId, result: Result<Reply, Error>) {
        let Some(record) = self.calls.remove(&call) else {
            panic!("call {call:?} completed twice, or was never made: {result:?}");
        };
        assert_eq!(
            actor_index(actor),
            record.actor,
            "completion to the wrong actor"
        );
        match record.what {
            Waiting::Receive { peer, max } => {
                let log = self.log(peer);
                if log.receive == Some(call) {
                    log.receive = None;
                }
                match &result {
                    Ok(Reply::Data(data)) if data.is_empty() => {
                        let log = &self.logs[peer].as_ref().expect("log");
                        let w = &self.wires[peer];
                        assert!(
                            w.end == Some(PeerEnd::Fin) && w.end_reported,
                            "receive on {} returned end of stream before the peer's FIN",
                            log.id
                        );
                        assert_eq!(log.delivered, w.fed, "end of stream before every byte");
                        assert_eq!(w.pending, 0, "end of stream before every byte");
                        self.log(peer).end_seen = true;
                    }
                    Ok(Reply::Data(data)) => {
                        assert!(data.len() as u64 <= u64::from(max), "receive over max");
                        self.deliver(peer, data, "receive");
                    }
                    Err(Error::ConnectionFailed { reason, .. }) => {
                        self.check_failure(peer, reason);
                        self.log(peer).end_seen = true;
                    }
                    Err(
                        Error::Closed(_)
                        | Error::Transferred(_)
                        | Error::ActiveMode(_)
                        | Error::ConnectionNotFound(_)
                        | Error::ConnectionNotOwned(_)
                        | Error::Pending(_)
                        | Error::MaxBytesZero
                        | Error::ReceiveInProgress(_),
                    ) => {}
                    other => panic!("receive completed with {other:?}"),
                }
            }
            Waiting::Send { peer, upto } => match &result {
                Ok(Reply::Sent(_)) => {
                    let written = self.wires[peer].written.len();
                    assert!(
                        written >= upto,
                        "send completed before its bytes were written"
                    );
                }
                Err(Error::SendTimedOut) => self.log(peer).send_timed_out = true,
                Err(_) => {}
                Ok(other) => panic!("send completed with {other:?}"),
            },
            Waiting::Accept { listener } => match &result {
                Ok(Reply::Id(text)) => {
                    let peer = self.peer_of(text);
                    let owner = self.listener.map(|l| l.1);
                    let log = self.log(peer);
                    assert!(!log.visible, "{text} handed out twice");
                    assert!(
                        log.alive && !log.activated,
                        "accept returned a used connection"
                    );
                    assert_eq!(Some(log.owner), owner, "accepted by a non-owner");
                    log.visible = true;
                }
                Err(Error::ListenerClosed(id)) => {
                    assert_eq!(id, &listener.to_string());
                }
                Err(Error::ListenerNotOwned(_) | Error::ListenerNotFound(_)) => {}
                other => panic!("accept completed with {other:?}"),
            },
            Waiting::Transfer { peer, target, .. } => {
                if result.is_ok() && !self.flipped.contains(&call) {
                    // No callback to run: the flip and the reply are one.
                    self.flip(peer, target, call);
                }
            }
            Waiting::Other => {}
        }
        self.results.insert(call, result);
    }

    /// The ownership of `peer`'s connection moved to `target` by transfer `call`.
    fn flip(&mut self, peer: usize, target: usize, call: CallId) {
        self.flipped.insert(call);
        let log = self.log(peer);
        assert!(log.alive, "transfer of a dead connection");
        assert!(
            log.receive.is_none(),
            "old owner's receive still waits after transfer"
        );
        log.owner = target;
        log.generation += 1;
        log.visible = true;
        log.activated = true;
        log.mode = Mode::Passive;
    }

    /// `data` reached the owner of `peer`'s connection: it must be the next part of the stream.
    fn deliver(&mut self, peer: usize, data: &[u8], how: &str) {
        let fed = self.wires[peer].fed;
        let log = self.log(peer);
        assert!(!log.end_seen, "{how} on {} after its end", log.id);
        let expected = stream(peer, log.delivered, data.len());
        assert_eq!(
            data, expected,
            "{how} on {}: bytes {}.. lost, doubled or reordered",
            log.id, log.delivered
        );
        log.delivered += data.len();
        assert!(log.delivered <= fed, "{how} delivered bytes never read");
    }

    /// A failure (`reason`) reached the owner: only after every byte read, with a true reason.
    fn check_failure(&mut self, peer: usize, reason: &str) {
        let w = &self.wires[peer];
        let log = self.logs[peer].as_ref().expect("log");
        assert_eq!(
            log.delivered, w.fed,
            "failure reported before every read byte"
        );
        match reason {
            "reset" => assert_eq!(w.end, Some(PeerEnd::Rst), "reset without RST"),
            "timeout" => assert!(log.send_timed_out, "timeout without a send timeout"),
            other => panic!("failure reason {other:?} on {}", log.id),
        }
    }

    fn callback(&mut self, actor: usize, id: CallbackId, callback: Callback) {
        let (connection, kind) = match &callback {
            Callback::HandleConnection { connection } => (connection, None),
            Callback::HandleConnectionTransfer { connection } => (connection, None),
            Callback::OnData { connection, .. } => (connection, Some(CbKind::OnData)),
            Callback::OnClose { connection, .. } => (connection, Some(CbKind::OnClose)),
            Callback::OnPassive { connection } => (connection, Some(CbKind::OnPassive)),
        };
        let peer = self.peer_of(connection);
        let log = self.logs[peer].as_ref().expect("log");
        assert!(log.alive, "callback {callback:?} after {connection} ended");
        assert!(
            self.running[actor],
            "callback into stopped {}",
            ACTORS[actor]
        );
        let e = exports(actor);
        let kind = match (kind, &callback) {
            (Some(kind), _) => kind,
            (None, _) if self.transferring.is_some_and(|t| t.0 == peer) => {
                let (_, target, sync, call) = self.transferring.expect("transfer");
                assert_eq!(actor, target, "transfer callback to the wrong actor");
                self.flip(peer, target, call);
                CbKind::Transfer { call: sync }
            }
            (None, Callback::HandleConnection { .. }) => {
                assert!(
                    !log.visible,
                    "handle-connection for a connection already handed out"
                );
                assert_eq!(actor, log.owner, "handle-connection to a non-owner");
                self.log(peer).visible = true;
                CbKind::HandOut
            }
            (None, other) => panic!("{other:?} outside a transfer"),
        };
        match (&callback, kind) {
            (Callback::HandleConnection { .. }, _) => assert!(e.handle_connection),
            (Callback::HandleConnectionTransfer { .. }, _) => {
                assert!(e.handle_connection_transfer)
            }
            (Callback::OnData { data, .. }, _) => {
                let log = self.log(peer);
                assert_eq!(actor, log.owner, "on-data to a non-owner");
                assert!(e.on_data, "on-data to an actor without the export");
                assert!(
                    log.on_data.is_none(),
                    "second on-data in flight on {connection}"
                );
                assert!(log.activated, "on-data on a pending connection");
                assert!(
                    !data.is_empty() && data.len() <= MAX_CHUNK,
                    "on-data chunk of {} bytes",
                    data.len()
                );
                log.on_data = Some(id);
                log.mode = match log.mode {
                    Mode::Passive => panic!("on-data on {connection} in passive mode"),
                    Mode::Once | Mode::Credit(1) => Mode::Passive,
                    Mode::Credit(n) => Mode::Credit(n - 1),
                    Mode::Active => Mode::Active,
                };
                self.deliver(peer, data, "on-data");
            }
            (Callback::OnClose { reason, .. }, _) => {
                assert!(e.on_close, "on-close to an actor without the export");
                let log = self.log(peer);
                assert_eq!(actor, log.owner, "on-close to a non-owner");
                match reason.as_str() {
                    "eof" => {
                        let w = &self.wires[peer];
                        assert!(
                            w.end == Some(PeerEnd::Fin) && w.end_reported,
                            "eof without FIN"
                        );
                        let log = self.logs[peer].as_ref().expect("log");
                        assert_eq!(log.delivered, w.fed, "on-close(eof) before every byte");
                    }
                    "timeout" if !log.activated => {}
                    r if r.starts_with("error: on-data failed") => {
                        assert!(
                            log.on_data_failed,
                            "on-data failure without a failed on-data"
                        );
                    }
                    r => {
                        let r = r.to_owned();
                        self.check_failure(peer, &r);
                    }
                }
                self.log(peer).end_seen = true;
            }
            (Callback::OnPassive { .. }, _) => {
                assert!(e.on_passive);
                assert_eq!(
                    self.log(peer).mode,
                    Mode::Passive,
                    "on-passive while pushing"
                );
            }
        }
        let generation = self.log(peer).generation;
        self.callbacks.insert(
            id,
            CbRecord {
                actor,
                peer,
                generation,
                kind,
            },
        );
    }

    // ---------------------------------------------------------------- steps

    /// The actor a connection step runs as, the connection's peer and id, or `None` when it
    /// cannot run (no such connection, or its owner is not running).
    fn caller(&self, by: Option<usize>, conn: ConnRef) -> Option<(usize, usize, String)> {
        let peer = match conn {
            ConnRef::Peer(peer) => peer,
            ConnRef::Live(n) => {
                let live: Vec<usize> = (0..self.logs.len())
                    .filter(|p| self.logs[*p].as_ref().is_some_and(|l| l.alive && l.visible))
                    .collect();
                *live.get(n % live.len().max(1))?
            }
        };
        let log = self.logs[peer].as_ref()?;
        let actor = by.unwrap_or(log.owner);
        self.running[actor].then(|| (actor, peer, log.id.to_string()))
    }

    /// The contract's ownership refusal for `actor` naming `peer`'s connection, if any.
    fn refusal(&self, actor: usize, peer: usize, needs_open: bool) -> Option<Error> {
        let log = self.logs[peer].as_ref().expect("log");
        let text = log.id.to_string();
        if !log.alive || !log.visible {
            Some(Error::ConnectionNotFound(text))
        } else if log.owner != actor {
            Some(Error::ConnectionNotOwned(text))
        } else if needs_open && !log.activated {
            Some(Error::Pending(text))
        } else {
            None
        }
    }

    fn apply(&mut self, step: Step) {
        self.results.clear();
        for log in self.logs.iter_mut().flatten() {
            log.on_data_failed = false;
        }
        match step {
            Step::Start { actor } => {
                self.handler
                    .actor_started(self.now, actor_id(actor), exports(actor));
                self.running[actor] = true;
                self.pump();
            }
            Step::Stop { actor } => self.stop(actor),
            Step::Listen { actor } => {
                self.listening_actor = actor;
                let (_, result) = self.checked_call(
                    actor,
                    Call::Listen {
                        address: "127.0.0.1:0".into(),
                    },
                    Waiting::Other,
                    None,
                );
                assert!(
                    matches!(result, Some(Ok(Reply::Id(_)))),
                    "listen: {result:?}"
                );
            }
            Step::CloseListener => {
                let Some((id, owner)) = self.listener else {
                    panic!("the reference has a listener, the transport none");
                };
                self.doom_queued();
                let (_, result) = self.checked_call(
                    owner,
                    Call::CloseListener {
                        listener: id.to_string(),
                    },
                    Waiting::Other,
                    None,
                );
                assert_eq!(result, Some(Ok(Reply::Unit)));
            }
            Step::PeerConnects => {
                self.wires.push(Wire::new());
                self.logs.push(None);
                self.backlog.push_back(self.wires.len() - 1);
                self.try_accept();
                self.pump();
            }
            Step::PeerSends { peer, len, splits } => {
                let w = &mut self.wires[peer];
                if w.socket == Socket::Refused || w.terminal > 0 || w.closing {
                    w.dropped += len;
                } else {
                    w.pending += len;
                }
                for split in splits {
                    let w = &self.wires[peer];
                    if w.cancelling || w.pending == 0 {
                        break;
                    }
                    self.answer_read(peer, split, false);
                }
            }
            Step::PeerFin { peer } => self.wires[peer].end = Some(PeerEnd::Fin),
            Step::PeerRst { peer } => {
                let w = &mut self.wires[peer];
                w.end = Some(PeerEnd::Rst);
                w.dropped += w.pending;
                w.pending = 0;
            }
            Step::Transport { peer, split, race } => {
                self.transport(peer, split, race);
            }
            Step::Accept { actor } => {
                let Some((id, owner)) = self.listener else {
                    return;
                };
                let expected = (owner != actor).then(|| Error::ListenerNotOwned(id.to_string()));
                self.checked_call(
                    actor,
                    Call::Accept {
                        listener: id.to_string(),
                    },
                    Waiting::Accept { listener: id },
                    expected,
                );
            }
            Step::Activate { by, conn } => {
                let Some((actor, peer, text)) = self.caller(by, conn) else {
                    return;
                };
                let log = self.logs[peer].as_ref().expect("log");
                let expected = self
                    .refusal(actor, peer, false)
                    .or_else(|| log.activated.then(|| Error::AlreadyActive(text.clone())));
                let must_succeed = expected.is_none();
                let (_, result) = self.checked_call(
                    actor,
                    Call::Activate { connection: text },
                    Waiting::Other,
                    expected,
                );
                if must_succeed {
                    assert_eq!(result, Some(Ok(Reply::Unit)), "activate");
                    let log = self.log(peer);
                    log.activated = true;
                    log.mode = Mode::Passive;
                }
            }
            Step::SetActive { by, conn, mode } => {
                let Some((actor, peer, text)) = self.caller(by, conn) else {
                    return;
                };
                let log = self.logs[peer].as_ref().expect("log");
                let requested = match mode {
                    ModeArg::Passive => Mode::Passive,
                    ModeArg::Active => Mode::Active,
                    ModeArg::Once => Mode::Once,
                    ModeArg::Credit(n) => Mode::Credit(u32::from(n)),
                };
                let expected = match self.refusal(actor, peer, false) {
                    Some(e) => Some(e),
                    None if !log.activated => Some(Error::NotActivated(text.clone())),
                    None if requested.pushes() && !exports(actor).on_data => {
                        Some(Error::OnDataNotExported(ACTORS[actor].into()))
                    }
                    None => None,
                };
                let receive = log.receive;
                let must_succeed = expected.is_none();
                if must_succeed {
                    // It must succeed: the change applies before any chunk it starts.
                    let log = self.log(peer);
                    log.mode = match (log.mode, requested) {
                        (Mode::Credit(have), Mode::Credit(add)) => Mode::Credit(have + add),
                        (_, requested) => requested,
                    };
                }
                let (_, result) = self.checked_call(
                    actor,
                    Call::SetActive {
                        connection: text,
                        mode: mode.text(),
                    },
                    Waiting::Other,
                    expected,
                );
                if let (Some(receive), true) = (receive, must_succeed && requested.pushes()) {
                    assert!(
                        !self.calls.contains_key(&receive),
                        "receive still waits after set-active to a pushing mode"
                    );
                }
                if must_succeed {
                    assert_eq!(result, Some(Ok(Reply::Unit)), "set-active {}", mode.text());
                }
            }
            Step::Receive { by, conn, max } => {
                let Some((actor, peer, text)) = self.caller(by, conn) else {
                    return;
                };
                let log = self.logs[peer].as_ref().expect("log");
                let expected = match self.refusal(actor, peer, true) {
                    Some(e) => Some(e),
                    None if max == 0 => Some(Error::MaxBytesZero),
                    None if log.mode.pushes() => Some(Error::ActiveMode(text.clone())),
                    None if log.receive.is_some() => Some(Error::ReceiveInProgress(text.clone())),
                    None => None,
                };
                let refused = expected.is_some();
                let (id, result) = self.checked_call(
                    actor,
                    Call::Receive {
                        connection: text,
                        max,
                    },
                    Waiting::Receive { peer, max },
                    expected,
                );
                if !refused && result.is_none() {
                    self.log(peer).receive = Some(id);
                }
            }
            Step::Send { by, conn, len } => {
                let Some((actor, peer, text)) = self.caller(by, conn) else {
                    return;
                };
                let expected = self.refusal(actor, peer, true);
                let refused = expected.is_some();
                let from = self.logs[peer].as_ref().expect("log").out_queued;
                let (_, result) = self.checked_call(
                    actor,
                    Call::Send {
                        connection: text,
                        data: out_stream(peer, from, len),
                    },
                    Waiting::Send {
                        peer,
                        upto: from + len,
                    },
                    expected,
                );
                let queued =
                    !refused && !matches!(result, Some(Err(Error::ConnectionFailed { .. })));
                if queued {
                    self.log(peer).out_queued += len;
                }
            }
            Step::Transfer {
                by,
                conn,
                target,
                sync,
            } => {
                let Some((actor, peer, text)) = self.caller(by, conn) else {
                    return;
                };
                let expected = match self.refusal(actor, peer, false) {
                    Some(e) => Some(e),
                    None if target == actor => Some(Error::TransferToSelf),
                    None if !self.running[target] => {
                        Some(Error::ActorNotFound(ACTORS[target].into()))
                    }
                    None => None,
                };
                let refused = expected.is_some();
                let call = if sync {
                    Call::Transfer {
                        connection: text,
                        target: ACTORS[target].into(),
                    }
                } else {
                    Call::TransferAsync {
                        connection: text,
                        target: ACTORS[target].into(),
                    }
                };
                let (id, result) = self.checked_call(
                    actor,
                    call,
                    Waiting::Transfer { peer, target, sync },
                    expected,
                );
                if !refused {
                    assert!(
                        self.flipped.contains(&id),
                        "transfer did not move the connection"
                    );
                    if !sync {
                        assert_eq!(result, Some(Ok(Reply::Unit)), "transfer-async result");
                    }
                }
            }
            Step::Close { by, conn } => {
                let Some((actor, peer, text)) = self.caller(by, conn) else {
                    return;
                };
                let expected = self.refusal(actor, peer, false);
                let must_succeed = expected.is_none();
                let (_, result) = self.checked_call(
                    actor,
                    Call::Close { connection: text },
                    Waiting::Other,
                    expected,
                );
                if must_succeed {
                    assert_eq!(result, Some(Ok(Reply::Unit)), "close");
                    self.log(peer).must_die = Some("closed by its owner");
                }
            }
            Step::CallbackReturns { pick, ok } => {
                if self.callbacks.is_empty() {
                    return;
                }
                let id = *self
                    .callbacks
                    .keys()
                    .nth(pick % self.callbacks.len())
                    .expect("callback");
                self.callback_returns(id, ok);
            }
            Step::Advance { ms } => self.advance(Duration::from_millis(ms)),
        }
        self.reconcile();
    }

    fn stop(&mut self, actor: usize) {
        for log in self.logs.iter_mut().flatten() {
            if log.alive && log.owner == actor {
                log.must_die = Some("its owner stopped");
            }
        }
        if self.listener.is_some_and(|l| l.1 == actor) {
            self.doom_queued();
        }
        // Callbacks into a stopped actor never return.
        let dead: Vec<CallbackId> = self
            .callbacks
            .iter()
            .filter(|(_, cb)| cb.actor == actor)
            .map(|(id, _)| *id)
            .collect();
        for id in dead {
            let cb = self.callbacks.remove(&id).expect("callback");
            if let Some(log) = self.logs[cb.peer].as_mut()
                && log.on_data == Some(id)
            {
                log.on_data = None;
            }
        }
        self.handler.actor_stopped(self.now, &actor_id(actor));
        self.running[actor] = false;
        self.pump();
        // A send queued before its connection was transferred away still goes out in order
        // and completes when written (or when the connection dies): cutting it would cut the
        // stream the new owner inherits.
        let waiting: Vec<(&CallId, &CallRecord)> = self
            .calls
            .iter()
            .filter(|(_, c)| c.actor == actor)
            .filter(|(_, c)| match c.what {
                Waiting::Send { peer, .. } => {
                    self.logs[peer].as_ref().is_none_or(|l| l.owner == actor)
                }
                _ => true,
            })
            .collect();
        assert!(
            waiting.is_empty(),
            "{} stopped, its calls still wait: {waiting:?}",
            ACTORS[actor]
        );
    }

    /// The listener goes away: connections queued in it (never handed out) go with it.
    fn doom_queued(&mut self) {
        for log in self.logs.iter_mut().flatten() {
            if log.alive && !log.visible {
                log.must_die = Some("its listener closed");
            }
        }
    }

    fn callback_returns(&mut self, id: CallbackId, ok: bool) {
        let cb = self.callbacks.remove(&id).expect("callback");
        let log = self.log(cb.peer);
        let current = log.alive && log.generation == cb.generation;
        match cb.kind {
            CbKind::OnData => {
                if log.on_data == Some(id) {
                    log.on_data = None;
                }
                if !ok && current {
                    log.must_die = Some("its on-data failed");
                    log.on_data_failed = true;
                }
            }
            CbKind::OnClose if current => log.must_die = Some("on-close returned"),
            CbKind::HandOut if !ok && current => log.must_die = Some("handle-connection failed"),
            CbKind::Transfer { .. } if !ok && current => {
                log.must_die = Some("the transfer callback failed")
            }
            _ => {}
        }
        // A synchronous transfer waits for this result, unless its caller stopped meanwhile.
        let waiting = match cb.kind {
            CbKind::Transfer { call: Some(call) } => self.calls.contains_key(&call).then_some(call),
            _ => None,
        };
        let result = if ok { Ok(()) } else { Err("trap".to_owned()) };
        self.handler
            .handle_callback_result(self.now, id, result.clone());
        self.pump();
        if let Some(call) = waiting {
            let expected = result
                .map(|()| Reply::Unit)
                .map_err(Error::TransferCallbackFailed);
            assert_eq!(
                self.results.get(&call),
                Some(&expected),
                "transfer did not return its callback's outcome"
            );
        }
    }

    /// Moves the clock, firing every deadline on the way in order.
    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        for _ in 0..10_000 {
            match self.handler.poll_timeout() {
                Some(at) if at <= end => {
                    self.now = self.now.max(at);
                    self.handler.handle_timeout(self.now);
                    self.pump();
                }
                _ => {
                    self.now = end;
                    return;
                }
            }
        }
        panic!("a deadline fires forever");
    }

    /// Brings the log up to date with which connections the core still holds, and checks
    /// that every one that went away had a reason to.
    fn reconcile(&mut self) {
        for peer in 0..self.logs.len() {
            let Some(log) = self.logs[peer].as_ref() else {
                continue;
            };
            if !log.alive {
                continue;
            }
            match self.handler.connection_owner(log.id) {
                Some(owner) => {
                    if let Some(reason) = log.must_die {
                        panic!("{} outlived its end: {reason}", log.id);
                    }
                    assert_eq!(owner, &actor_id(log.owner), "owner of {}", log.id);
                }
                None => {
                    let w = &self.wires[peer];
                    let ended = w.end_reported || w.write_failed || log.send_timed_out;
                    let allowed = log.must_die.is_some()
                        || (!log.activated && self.now >= log.accepted_at + PENDING_TIMEOUT)
                        || (ended && log.delivered == w.fed && !exports(log.owner).on_close);
                    assert!(allowed, "{} vanished without a reason: {log:?}", log.id);
                    self.log(peer).alive = false;
                }
            }
        }
    }

    // ---------------------------------------------------------------- invariants

    /// The invariants, after every step.
    fn check(&self, world: &World) {
        let census = self.handler.census();
        let alive = self.logs.iter().flatten().filter(|l| l.alive).count();
        let closing = self
            .wires
            .iter()
            .filter(|w| w.closing && w.terminal == 0)
            .count();
        assert_eq!(census.actors, self.running.iter().filter(|r| **r).count());
        assert_eq!(
            census.listeners,
            usize::from(self.listener.is_some()),
            "listeners"
        );
        assert_eq!(census.connections, alive, "connections held vs alive");
        assert_eq!(census.closing, closing, "closing connections");
        assert_eq!(
            census.callbacks,
            self.callbacks.len(),
            "callbacks in flight"
        );
        assert_eq!(census.resolutions, 0);
        assert_eq!(self.running, world.running);
        assert_eq!(self.listener.map(|l| l.1), world.listener);
        for (peer, w) in self.wires.iter().enumerate() {
            let p = &world.peers[peer];
            assert_eq!(w.fed + w.pending + w.dropped, p.sent, "peer {peer}'s bytes");
            assert_eq!(w.end, p.end);
            let Some(log) = self.logs[peer].as_ref() else {
                continue;
            };
            assert!(log.delivered <= w.fed);
            if !log.alive {
                assert!(log.receive.is_none(), "receive waits on dead {}", log.id);
                continue;
            }
            let buffered = self.handler.buffered(log.id);
            assert_eq!(
                buffered,
                w.fed - log.delivered,
                "{} holds other bytes than those read and not delivered",
                log.id
            );
            assert!(
                buffered <= WATERMARK + MAX_CHUNK,
                "{} over watermark + one read",
                log.id
            );
            assert!(buffered <= WATERMARK, "{} over the watermark", log.id);
            assert!(self.running[log.owner], "{} outlived its owner", log.id);
            if log.activated && log.mode.pushes() && log.on_data.is_none() {
                assert_eq!(buffered, 0, "push delivery stalled on {}", log.id);
            }
            if log.receive.is_some() {
                assert_eq!(
                    buffered, 0,
                    "receive waits on {} with bytes buffered",
                    log.id
                );
                assert!(
                    w.read.is_some(),
                    "receive waits on {} and nothing reads",
                    log.id
                );
            }
            let reading = match log.mode {
                Mode::Active | Mode::Credit(_) => buffered < WATERMARK,
                Mode::Once => buffered == 0,
                Mode::Passive => false,
            };
            if log.activated && reading && w.live() && !w.end_reported && !w.write_failed {
                assert!(w.read.is_some(), "{} pushes and nothing reads", log.id);
            }
        }
        for (name, running) in ACTORS.iter().zip(self.running) {
            if !running {
                let (conns, listeners) = self.handler.objects_of(&ActorId::new(*name));
                assert!(
                    conns.is_empty() && listeners.is_empty(),
                    "stopped {name} still owns {conns:?} {listeners:?}"
                );
            }
        }
        for (id, call) in &self.calls {
            match call.what {
                Waiting::Receive { peer, .. } | Waiting::Send { peer, .. } => {
                    let log = self.logs[peer].as_ref().expect("log");
                    assert!(log.alive, "{id:?} still waits on dead {}", log.id);
                }
                Waiting::Accept { listener } => assert_eq!(
                    self.listener.map(|l| l.0),
                    Some(listener),
                    "accept {id:?} waits on a closed listener"
                ),
                Waiting::Transfer { .. } => assert!(
                    self.callbacks
                        .values()
                        .any(|cb| cb.kind == CbKind::Transfer { call: Some(*id) }),
                    "transfer {id:?} waits on no callback"
                ),
                Waiting::Other => panic!("{id:?} ({call:?}) never completed"),
            }
        }
    }

    // ---------------------------------------------------------------- the end of a case

    /// Every callback returns, repeatedly, until none is left. Returns whether any ran.
    fn return_all_callbacks(&mut self) -> bool {
        let mut any = false;
        while let Some(id) = self.callbacks.keys().next().copied() {
            self.callback_returns(id, true);
            any = true;
        }
        any
    }

    /// Liveness and leaks: every peer ends, every owner drains what it can see (pushing when
    /// it exports `on-data`), and the whole stream must arrive. Then every actor stops, and
    /// nothing may be left: no connection, listener, callback, timer, waiting call, or
    /// transport resource without its terminal command.
    fn finish(mut self) {
        self.results.clear();
        self.return_all_callbacks();
        self.reconcile();
        for w in &mut self.wires {
            if w.end.is_none() {
                w.end = Some(PeerEnd::Fin);
            }
        }
        let watched: Vec<usize> = (0..self.logs.len())
            .filter(|p| self.logs[*p].as_ref().is_some_and(|l| l.alive && l.visible))
            .collect();
        let mut settled = false;
        for _ in 0..10_000 {
            let mut progress = self.return_all_callbacks();
            for peer in 0..self.wires.len() {
                progress |= self.transport(peer, MAX_CHUNK, false);
                progress |= self.drain_step(peer);
            }
            self.reconcile();
            if !progress {
                settled = true;
                break;
            }
        }
        assert!(settled, "the drain never settled");
        // The drain's transport acknowledges writes only when asked: a send still waiting
        // for room now waits on a report the core never asked for.
        for (id, call) in &self.calls {
            if let Waiting::Send { peer, .. } = call.what {
                let w = &self.wires[peer];
                assert!(
                    !w.live() || w.write_failed,
                    "{id:?}: a send still waits for room after the drain settled"
                );
            }
        }
        for peer in watched {
            let w = &self.wires[peer];
            let log = self.logs[peer].as_ref().expect("log");
            assert_eq!(w.pending, 0, "{}: the core stopped reading", log.id);
            assert_eq!(
                log.delivered, w.fed,
                "{}: bytes read never reached an actor",
                log.id
            );
            assert!(
                log.end_seen || !log.alive,
                "{}: its end never showed",
                log.id
            );
        }
        for actor in 0..ACTORS.len() {
            if self.running[actor] {
                self.stop(actor);
            }
        }
        self.reconcile();
        for peer in 0..self.wires.len() {
            self.transport(peer, MAX_CHUNK, false);
        }
        self.advance(LINGER + Duration::from_secs(1));
        let census = self.handler.census();
        assert_eq!(
            (
                census.actors,
                census.listeners,
                census.connections,
                census.closing,
                census.callbacks,
                census.timers,
                census.resolutions
            ),
            (0, 0, 0, 0, 0, 0, 0),
            "left behind: {census:?}"
        );
        assert!(
            self.calls.is_empty(),
            "calls never completed: {:?}",
            self.calls
        );
        for w in &self.wires {
            if let Some(id) = w.conn() {
                assert_eq!(w.terminal, 1, "{id} leaked its socket");
            }
        }
        for (id, closes) in &self.listeners {
            assert_eq!(*closes, 1, "{id} leaked its socket");
        }
    }

    /// The owner of `peer`'s connection takes the next step of draining it.
    fn drain_step(&mut self, peer: usize) -> bool {
        let Some(log) = self.logs[peer].as_ref() else {
            return false;
        };
        if !log.alive || !log.visible || log.end_seen || !self.running[log.owner] {
            return false;
        }
        let (owner, text, activated, mode, receive) = (
            log.owner,
            log.id.to_string(),
            log.activated,
            log.mode,
            log.receive,
        );
        if !activated {
            self.call(owner, Call::Activate { connection: text }, Waiting::Other);
            self.log(peer).activated = true;
        } else if mode == Mode::Passive && exports(owner).on_data {
            self.log(peer).mode = Mode::Active;
            self.call(
                owner,
                Call::SetActive {
                    connection: text,
                    mode: "active".into(),
                },
                Waiting::Other,
            );
        } else if mode == Mode::Passive && receive.is_none() {
            let id = self.call(
                owner,
                Call::Receive {
                    connection: text,
                    max: u32::MAX,
                },
                Waiting::Receive {
                    peer,
                    max: u32::MAX,
                },
            );
            if !self.results.contains_key(&id) {
                self.log(peer).receive = Some(id);
            }
        } else {
            return false;
        }
        true
    }
}

/// Errors a call gets at once when its preconditions fail.
fn is_refusal(e: &Error) -> bool {
    matches!(
        e,
        Error::InvalidId(_)
            | Error::ConnectionNotFound(_)
            | Error::ListenerNotFound(_)
            | Error::ConnectionNotOwned(_)
            | Error::ListenerNotOwned(_)
            | Error::ActorNotRunning(_)
            | Error::ActorNotFound(_)
            | Error::TransferToSelf
            | Error::AlreadyActive(_)
            | Error::InvalidMode(_)
            | Error::NotActivated(_)
            | Error::Pending(_)
            | Error::OnDataNotExported(_)
            | Error::MaxBytesZero
            | Error::ActiveMode(_)
            | Error::ReceiveInProgress(_)
    )
}

// ------------------------------------------------------------------------------- the property

/// Runs the core against the model.
struct CoreTest;

impl StateMachineTest for CoreTest {
    type SystemUnderTest = Sut;
    type Reference = Model;

    fn init_test(world: &World) -> Sut {
        let mut sut = Sut::new();
        for (actor, running) in world.running.iter().enumerate() {
            if *running {
                sut.apply(Step::Start { actor });
            }
        }
        sut
    }

    fn apply(mut sut: Sut, _: &World, step: Step) -> Sut {
        sut.apply(step);
        sut
    }

    fn check_invariants(sut: &Sut, world: &World) {
        sut.check(world);
    }

    fn teardown(sut: Sut) {
        sut.finish();
    }
}

prop_state_machine! {
    // The case count lives here, not in an environment variable CI could forget.
    #![proptest_config(ProptestConfig {
        cases: 1000,
        max_shrink_iters: 50_000,
        ..ProptestConfig::default()
    })]

    /// Random calls, peer traffic, transport timing and time against the model: bytes, calls,
    /// push delivery, memory bounds and lifetimes hold after every step and at the end.
    #[test]
    fn core_matches_the_model(sequential 1..=100 => CoreTest);
}
