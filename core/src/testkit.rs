//! A test rig for driving a [`Handler`] by hand: it plays the transport and the actors,
//! keeps the clock, and builds each state directly (a listening listener, a pending or an
//! open connection) so tests read as scenarios.
//!
//! Enabled by the `testkit` feature; the core's own tests and the simulation crates use it.
//! [`hostile`] drives the core with inputs nobody should send and checks that no rule breaks;
//! the property test `core/tests/hostile.rs` and the fuzz target `fuzz/` share it.

pub mod hostile;

use crate::{
    ActorId, Call, CallId, Callback, CallbackId, Command, Config, ConnId, Error, Exports, Handler,
    Instant, IoEvent, ListenerId, Notice, ObjectId, Reply, Transition,
};
use std::net::SocketAddr;
use std::time::Duration;

/// A handler plus everything it said, not yet looked at.
#[derive(Debug)]
pub struct Rig {
    /// The handler under test.
    pub handler: Handler,
    /// The current time.
    pub now: Instant,
    /// Commands drained and not yet taken.
    pub commands: Vec<Command>,
    /// Notices drained and not yet taken.
    pub notices: Vec<Notice>,
    /// Every lifecycle transition so far (the rig records them), oldest first.
    pub transitions: Vec<Transition>,
    next_port: u16,
}

/// The peer address the rig gives to connection number `n`.
pub fn peer_addr(n: u16) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 2], 40_000 + n))
}

impl Rig {
    /// A rig on `config`, which must validate.
    #[track_caller]
    pub fn new(config: Config) -> Self {
        let settings = match config.validate() {
            Ok(s) => s,
            Err(e) => panic!("test config does not validate: {e}"),
        };
        let mut handler = Handler::new(settings);
        handler.record_transitions(true);
        Rig {
            handler,
            now: Instant::from_nanos(1_000_000_000),
            commands: Vec::new(),
            notices: Vec::new(),
            transitions: Vec::new(),
            next_port: 1,
        }
    }

    /// Moves every pending output into `commands` / `notices` / `transitions`. Panics when
    /// the handler made a transition that none of its rules names.
    #[track_caller]
    pub fn drain(&mut self) {
        while let Some(t) = self.handler.poll_transition() {
            self.transitions.push(t);
        }
        if self.handler.probes().contains_key("transition.unlisted") {
            let story: Vec<String> = self.transitions.iter().map(|t| t.to_string()).collect();
            panic!(
                "a transition no rule names; the story so far:\n{}",
                story.join("\n")
            );
        }
        while let Some(c) = self.handler.poll_command() {
            self.commands.push(c);
        }
        while let Some(n) = self.handler.poll_notice() {
            self.notices.push(n);
        }
    }

    /// Starts an actor with these exports.
    #[track_caller]
    pub fn start(&mut self, actor: &str, exports: Exports) {
        self.handler
            .actor_started(self.now, ActorId::new(actor), exports);
        self.drain();
    }

    /// Stops an actor.
    #[track_caller]
    pub fn stop(&mut self, actor: &str) {
        self.handler.actor_stopped(self.now, &ActorId::new(actor));
        self.drain();
    }

    /// Makes a call and drains.
    #[track_caller]
    pub fn call(&mut self, actor: &str, call: Call) -> CallId {
        let id = self
            .handler
            .handle_call(self.now, &ActorId::new(actor), call);
        self.drain();
        id
    }

    /// Makes a call that must complete at once, and returns its result.
    #[track_caller]
    pub fn call_now(&mut self, actor: &str, call: Call) -> Result<Reply, Error> {
        let id = self.call(actor, call);
        match self.result(id) {
            Some(r) => r,
            None => panic!("call {id:?} did not complete at once"),
        }
    }

    /// Feeds a transport event and drains.
    #[track_caller]
    pub fn io(&mut self, event: IoEvent) {
        self.handler.handle_io(self.now, event);
        self.drain();
    }

    /// Reports a callback's outcome and drains.
    #[track_caller]
    pub fn callback_done(&mut self, id: CallbackId, result: Result<(), String>) {
        self.handler.handle_callback_result(self.now, id, result);
        self.drain();
    }

    /// Moves the clock forward by `d`, firing every deadline on the way in order.
    #[track_caller]
    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while let Some(at) = self.handler.poll_timeout() {
            if at > end {
                break;
            }
            self.now = self.now.max(at);
            self.handler.handle_timeout(self.now);
            self.drain();
        }
        self.now = end;
    }

    /// Takes every command drained so far.
    #[track_caller]
    pub fn take_commands(&mut self) -> Vec<Command> {
        std::mem::take(&mut self.commands)
    }

    /// Takes the completion of `call`, if it came.
    #[track_caller]
    pub fn result(&mut self, call: CallId) -> Option<Result<Reply, Error>> {
        let at = self
            .notices
            .iter()
            .position(|n| matches!(n, Notice::CallCompleted { call: c, .. } if *c == call))?;
        match self.notices.remove(at) {
            Notice::CallCompleted { result, .. } => Some(result),
            Notice::Callback { .. } => None,
        }
    }

    /// Takes every callback for `actor`, in order.
    #[track_caller]
    pub fn callbacks(&mut self, actor: &str) -> Vec<(CallbackId, Callback)> {
        let mut out = Vec::new();
        self.notices.retain(|n| match n {
            Notice::Callback {
                actor: a,
                id,
                callback,
            } if a.as_str() == actor => {
                out.push((*id, callback.clone()));
                false
            }
            _ => true,
        });
        out
    }

    /// Takes the commands matching `f`.
    #[track_caller]
    pub fn commands_where(&mut self, f: impl Fn(&Command) -> bool) -> Vec<Command> {
        let (hit, keep) = std::mem::take(&mut self.commands).into_iter().partition(f);
        self.commands = keep;
        hit
    }

    /// The outstanding `Accept` the handler asked for on `listener`, if any (taken).
    #[track_caller]
    pub fn take_accept(&mut self, listener: ListenerId) -> Option<ConnId> {
        let cmds = self
            .commands_where(|c| matches!(c, Command::Accept { listener: l, .. } if *l == listener));
        cmds.into_iter().last().and_then(|c| match c {
            Command::Accept { connection, .. } => Some(connection),
            _ => None,
        })
    }

    /// A listener of `actor`, bound and accepting.
    #[track_caller]
    pub fn listener(&mut self, actor: &str) -> ListenerId {
        let call = self.call(
            actor,
            Call::Listen {
                address: "127.0.0.1:0".into(),
            },
        );
        let bind = self.commands_where(|c| matches!(c, Command::Bind { .. }));
        let Some(Command::Bind { listener, .. }) = bind.last().cloned() else {
            panic!("listen did not bind: {:?}", self.result(call))
        };
        self.io(IoEvent::Bound {
            listener,
            local: SocketAddr::from(([127, 0, 0, 1], 7000)),
        });
        match self.result(call) {
            Some(Ok(Reply::Id(id))) => assert_eq!(id, listener.to_string()),
            other => panic!("listen failed: {other:?}"),
        }
        listener
    }

    /// Completes the listener's outstanding accept with a new peer; returns the connection.
    #[track_caller]
    pub fn peer_connects(&mut self, listener: ListenerId) -> ConnId {
        let Some(connection) = self.take_accept(listener) else {
            panic!("listener {listener} is not accepting")
        };
        let peer = peer_addr(self.next_port);
        self.next_port += 1;
        self.io(IoEvent::Accepted {
            listener,
            connection,
            peer,
            local: SocketAddr::from(([127, 0, 0, 1], 7000)),
        });
        connection
    }

    /// A pending connection handed to `actor` by `accept()` (the actor must not export
    /// `handle-connection`, or it would be pushed instead).
    #[track_caller]
    pub fn pending(&mut self, actor: &str) -> ConnId {
        let l = self.listener(actor);
        let call = self.call(
            actor,
            Call::Accept {
                listener: l.to_string(),
            },
        );
        let conn = self.peer_connects(l);
        match self.result(call) {
            Some(Ok(Reply::Id(id))) => assert_eq!(id, conn.to_string()),
            other => panic!("accept failed: {other:?}"),
        }
        conn
    }

    /// `actor` calls `connect(address)` (an `ip:port`, so nothing is resolved) and the
    /// transport connects: the call (not taken, whatever became of it) and the connection.
    /// Every other command the handler gave stays in `commands`.
    #[track_caller]
    pub fn connect_to(&mut self, actor: &str, address: &str) -> (CallId, ConnId) {
        let call = self.call(
            actor,
            Call::Connect {
                address: address.into(),
            },
        );
        let cmds = self.commands_where(|c| matches!(c, Command::Connect { .. }));
        let Some(Command::Connect { connection, addr }) = cmds.last().cloned() else {
            panic!("connect did not connect: {:?}", self.result(call))
        };
        self.io(IoEvent::Connected {
            connection,
            peer: addr,
            local: SocketAddr::from(([127, 0, 0, 1], 50_000)),
        });
        (call, connection)
    }

    /// An open, passive, plaintext connection owned by `actor`, made with `connect`.
    #[track_caller]
    pub fn open(&mut self, actor: &str) -> ConnId {
        let (call, connection) = self.connect_to(actor, "10.0.0.2:80");
        match self.result(call) {
            Some(Ok(Reply::Id(id))) => assert_eq!(id, connection.to_string()),
            other => panic!("connect failed: {other:?}"),
        }
        self.commands
            .retain(|c| !matches!(c, Command::SetOption { .. }));
        connection
    }

    /// The outstanding `Read` for `conn`, if the handler asked for one (taken): its `max`.
    #[track_caller]
    pub fn take_read(&mut self, conn: ConnId) -> Option<usize> {
        let reads = self.commands_where(
            |c| matches!(c, Command::Read { connection, .. } if *connection == conn),
        );
        reads.last().and_then(|c| match c {
            Command::Read { max, .. } => Some(*max),
            _ => None,
        })
    }

    /// The peer sends `data`, answering the outstanding read (which must exist).
    #[track_caller]
    pub fn peer_sends(&mut self, conn: ConnId, data: &[u8]) {
        let Some(max) = self.take_read(conn) else {
            panic!("no read outstanding on {conn}: {:?}", self.commands)
        };
        assert!(
            data.len() <= max,
            "read of {} bytes exceeds max {max}",
            data.len()
        );
        self.io(IoEvent::Received {
            connection: conn,
            data: data.to_vec(),
        });
    }

    /// Bytes the handler wrote to `conn` (taken), concatenated.
    #[track_caller]
    pub fn written(&mut self, conn: ConnId) -> Vec<u8> {
        let writes = self.commands_where(
            |c| matches!(c, Command::Write { connection, .. } if *connection == conn),
        );
        writes
            .into_iter()
            .flat_map(|c| match c {
                Command::Write { data, .. } => data,
                _ => Vec::new(),
            })
            .collect()
    }
}

/// Parses an id the handler returned.
#[track_caller]
pub fn conn_id(reply: &Reply) -> ConnId {
    match reply {
        Reply::Id(text) => match ObjectId::parse(text) {
            Ok(ObjectId::Connection(id)) => id,
            other => panic!("not a connection id: {other:?}"),
        },
        other => panic!("not an id: {other:?}"),
    }
}
