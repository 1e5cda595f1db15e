//! The handler: every rule of `SEMANTICS.md`, as a state machine with no I/O.
//!
//! The input/output contract is on [`Handler`].
//!
//! # Lifecycles
//!
//! Each lifecycle is one enum with its data in the variants (`crate::state`): a listener's
//! [`ListenerState`], a connection's [`ConnState`], and inside an open connection its
//! [`DataMode`], [`Tls`] layer and [`ReadSide`]. Each changes only through one `set_*`
//! function ([`transitions`]), which also records the change (`from => to`) as a
//! [`Transition`] when [`Handler::record_transitions`] is on.
//!
//! # Layout
//!
//! This module holds the handler's data, its outputs and getters, the actor lifecycle and the
//! dispatch of I/O events and timers; the rules are in one submodule per concern:
//! [`calls`] (dispatch of actor calls, ownership, calls that only re-label a connection),
//! [`listeners`], [`opening`] (connect, implicit TLS, STARTTLS), [`data`] (the data path),
//! [`ending`] (closes, failures, forgetting a connection), [`quotas`] (per-actor bounds), and
//! [`transitions`].

mod calls;
mod data;
mod ending;
mod listeners;
mod opening;
mod quotas;
mod transitions;

use crate::address::{Host, HostPort, NameVerdict, valid_server_name};
use crate::call::{Call, Callback, ConnectionStats, Exports, Notice, Reply};
use crate::config::{Config, Settings};
use crate::error::Error;
use crate::ids::{ActorId, CallId, CallbackId, ConnId, ListenerId, ObjectId, ResolveId};
use crate::io::{Command, IoEvent, SocketOption, StreamEnd, TlsRole};
use crate::state::*;
use crate::time::Instant;
use crate::timers::{TimerKey, Timers};
use crate::transition::{DataMode, ReadRequest, ReadSide, Transition};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

/// Outputs waiting to be drained, and the bookkeeping every rule writes to.
#[derive(Debug, Default)]
struct Effects {
    commands: VecDeque<Command>,
    notices: VecDeque<Notice>,
    timers: Timers,
    callbacks: BTreeMap<CallbackId, PendingCallback>,
    next_callback: u64,
    probes: BTreeMap<&'static str, u64>,
    /// Transitions not yet drained, while recording is on.
    transitions: VecDeque<Transition>,
    recording: bool,
}

impl Effects {
    fn complete(&mut self, actor: &ActorId, call: CallId, result: Result<Reply, Error>) {
        self.notices.push_back(Notice::CallCompleted {
            actor: actor.clone(),
            call,
            result,
        });
    }

    fn callback(
        &mut self,
        actor: &ActorId,
        connection: ConnId,
        epoch: u64,
        kind: CallbackKind,
        callback: Callback,
    ) -> CallbackId {
        let id = CallbackId(self.next_callback);
        self.next_callback += 1;
        self.callbacks.insert(
            id,
            PendingCallback {
                actor: actor.clone(),
                connection,
                epoch,
                kind,
            },
        );
        self.notices.push_back(Notice::Callback {
            actor: actor.clone(),
            id,
            callback,
        });
        id
    }

    fn command(&mut self, command: Command) {
        self.commands.push_back(command);
    }

    /// Counts a rare path taken, so simulations can show they reached it.
    fn probe(&mut self, name: &'static str) {
        *self.probes.entry(name).or_insert(0) += 1;
    }
}

/// Counts of what the handler holds, for leak checks and stats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Census {
    /// Running actors.
    pub actors: usize,
    /// Listeners in any state.
    pub listeners: usize,
    /// Connections the actors can see or are opening (what `max_connections` counts).
    pub connections: usize,
    /// Gracefully closed connections still draining.
    pub closing: usize,
    /// Accepted connections in their implicit TLS handshake (what `max_handshakes` bounds;
    /// also counted in `connections`).
    pub handshakes: usize,
    /// Callbacks in flight.
    pub callbacks: usize,
    /// Armed timers.
    pub timers: usize,
    /// Name resolutions in flight.
    pub resolutions: usize,
}

/// The sans-IO TCP handler.
///
/// # Contract
///
/// Inputs: [`Handler::handle_call`], [`Handler::handle_io`], [`Handler::handle_callback_result`],
/// [`Handler::handle_timeout`], [`Handler::actor_started`] and [`Handler::actor_stopped`]. Each
/// takes `now`; the handler never reads a clock.
///
/// After **every** input, drain [`Handler::poll_command`] (execute each on the transport, in
/// order) and [`Handler::poll_notice`] (deliver each to its actor, in order) until both return
/// `None`, then arm a timer for [`Handler::poll_timeout`] and call `handle_timeout` when it
/// fires. Inputs are never rejected: bad calls complete with an [`Error`], and events about
/// objects that no longer exist are absorbed (answered with `Abort` if the transport might hold
/// a socket for them).
///
/// A transport that records a trace also turns on [`Handler::record_transitions`] and, after
/// every input, drains [`Handler::poll_transition`] before the commands and notices (else
/// the records pile up).
#[derive(Debug)]
pub struct Handler {
    settings: Settings,
    /// One counter for connection and listener ids: an id is never reused for either kind.
    next_object: u64,
    next_call: u64,
    next_resolve: u64,
    actors: BTreeMap<ActorId, Exports>,
    listeners: BTreeMap<ListenerId, Listener>,
    conns: BTreeMap<ConnId, Connection>,
    /// Closed gracefully: flushing what the actor sent (until `Flushed` or `send_timeout_ms`),
    /// then draining input (until `Drained` or `linger_ms`).
    closing: BTreeMap<ConnId, Closing>,
    resolutions: BTreeMap<ResolveId, Resolution>,
    /// Accepted connections in their implicit TLS handshake, oldest first.
    handshakes: Handshakes,
    /// Connections whose next read waits for their owner to go below
    /// `max_buffered_bytes_per_actor`.
    quota_paused: BTreeSet<ConnId>,
    /// The paused connection that resumed last (round-robin start).
    quota_cursor: ConnId,
    /// Bytes held for each actor: unread input on the connections it owns, and its `send`s not
    /// yet handed to the transport (what `max_buffered_bytes_per_actor` bounds), kept as the
    /// bytes come and go so that a send or a read does not sum over every connection. An actor
    /// holding nothing is absent, or at zero while it owns a connection (see
    /// `quotas::release`). Checked against the sum in debug builds after every input.
    buffered: BTreeMap<ActorId, usize>,
    /// Connections each actor owns, in every state (what `max_connections_per_actor` bounds),
    /// kept as they come, go and change owner; checked like `buffered`.
    owned: BTreeMap<ActorId, usize>,
    fx: Effects,
}

/// How the host ends a connection on its own initiative.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// close_notify, FIN, linger.
    Graceful,
    /// RST.
    Abort,
}

impl Handler {
    /// A handler running on validated settings.
    pub fn new(settings: Settings) -> Self {
        Handler {
            settings,
            next_object: 1,
            next_call: 1,
            next_resolve: 1,
            actors: BTreeMap::new(),
            listeners: BTreeMap::new(),
            conns: BTreeMap::new(),
            closing: BTreeMap::new(),
            resolutions: BTreeMap::new(),
            handshakes: Handshakes::default(),
            quota_paused: BTreeSet::new(),
            quota_cursor: ConnId(0),
            buffered: BTreeMap::new(),
            owned: BTreeMap::new(),
            fx: Effects::default(),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        self.settings.config()
    }

    fn cfg(&self) -> &Config {
        self.settings.config()
    }

    // ---------------------------------------------------------------- outputs

    /// The next command for the transport.
    pub fn poll_command(&mut self) -> Option<Command> {
        self.fx.commands.pop_front()
    }

    /// The next notice for an actor.
    pub fn poll_notice(&mut self) -> Option<Notice> {
        self.fx.notices.pop_front()
    }

    /// The next lifecycle transition, oldest first (only while
    /// [`record_transitions`](Self::record_transitions) is on).
    pub fn poll_transition(&mut self) -> Option<Transition> {
        self.fx.transitions.pop_front()
    }

    /// Records every lifecycle transition for [`poll_transition`](Self::poll_transition) from
    /// now on (`true`), or stops recording and drops the undrained ones (`false`). Off by
    /// default. A recording transport drains transitions after every input, as it drains
    /// commands and notices, so that a trace reads as a story.
    pub fn record_transitions(&mut self, on: bool) {
        self.fx.recording = on;
        if !on {
            self.fx.transitions.clear();
        }
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.fx.timers.next()
    }

    // ---------------------------------------------------------------- getters

    /// What the handler holds now.
    pub fn census(&self) -> Census {
        Census {
            actors: self.actors.len(),
            listeners: self.listeners.len(),
            connections: self.conns.len(),
            closing: self.closing.len(),
            handshakes: self.handshakes.len(),
            callbacks: self.fx.callbacks.len(),
            timers: self.fx.timers.len(),
            resolutions: self.resolutions.len(),
        }
    }

    /// How often each rare path (a "sometimes" coverage probe) was taken so far.
    pub fn probes(&self) -> &BTreeMap<&'static str, u64> {
        &self.fx.probes
    }

    /// Bytes received on `connection` and not yet handed to its actor.
    pub fn buffered(&self, connection: ConnId) -> usize {
        match self.conns.get(&connection).map(|c| &c.state) {
            Some(ConnState::Open(open)) => open.rx.len(),
            _ => 0,
        }
    }

    /// The owner of a connection the handler still holds.
    pub fn connection_owner(&self, connection: ConnId) -> Option<&ActorId> {
        self.conns.get(&connection).map(|c| &c.owner)
    }

    /// Connections and listeners owned by `actor`.
    pub fn objects_of(&self, actor: &ActorId) -> (Vec<ConnId>, Vec<ListenerId>) {
        let conns = self
            .conns
            .iter()
            .filter(|(_, c)| &c.owner == actor)
            .map(|(id, _)| *id);
        let listeners = self
            .listeners
            .iter()
            .filter(|(_, l)| &l.owner == actor)
            .map(|(id, _)| *id);
        (conns.collect(), listeners.collect())
    }

    /// Whether `actor` is running.
    pub fn is_running(&self, actor: &ActorId) -> bool {
        self.actors.contains_key(actor)
    }

    // ---------------------------------------------------------------- actor lifecycle

    /// An actor started (or changed its exports). Only running actors may call and be
    /// transfer targets.
    pub fn actor_started(&mut self, _now: Instant, actor: ActorId, exports: Exports) {
        self.actors.insert(actor, exports);
    }

    /// An actor stopped (normally, by trap, or by the host): exactly its own listeners and
    /// connections are closed gracefully, and its waiting calls end.
    pub fn actor_stopped(&mut self, now: Instant, actor: &ActorId) {
        if self.actors.remove(actor).is_none() {
            return;
        }
        let (conns, listeners) = self.objects_of(actor);
        for id in listeners {
            self.remove_listener(now, id);
        }
        for id in conns {
            self.end_connection(now, id, Ending::Graceful, |id| {
                Error::Closed(id.to_string())
            });
        }
        // Callbacks into the stopped actor will never return; a synchronous transfer waiting on
        // one ends with an error.
        let dead: Vec<CallbackId> = self
            .fx
            .callbacks
            .iter()
            .filter(|(_, cb)| &cb.actor == actor)
            .map(|(id, _)| *id)
            .collect();
        for id in dead {
            let Some(cb) = self.fx.callbacks.remove(&id) else {
                continue;
            };
            match cb.kind {
                CallbackKind::Transfer {
                    caller: Some((caller, call)),
                } => {
                    self.fx
                        .complete(&caller, call, Err(Error::ActorStopped(actor.to_string())));
                }
                // An `on-data` of the stopped actor on a connection it gave away: the new owner
                // must not wait for it.
                CallbackKind::OnData => {
                    if let Some(Connection {
                        state: ConnState::Open(open),
                        ..
                    }) = self.conns.get_mut(&cb.connection)
                        && open.delivering == Some(id)
                    {
                        open.delivering = None;
                        self.settle(now, cb.connection);
                    }
                }
                _ => {}
            }
        }
        // A stopped actor's synchronous transfers end now, as all its waiting calls do (else the
        // adapter would wait forever for their reply).
        for cb in self.fx.callbacks.values_mut() {
            if let CallbackKind::Transfer { caller } = &mut cb.kind
                && caller.as_ref().is_some_and(|(a, _)| a == actor)
                && let Some((caller, call)) = caller.take()
            {
                self.fx.notices.push_back(Notice::CallCompleted {
                    actor: caller,
                    call,
                    result: Err(Error::ActorStopped(actor.to_string())),
                });
            }
        }
        self.update_all_accepting();
        self.resume_paused_reads();
    }

    /// The outcome of a callback the adapter ran (or could not run: a trap is an `Err`).
    pub fn handle_callback_result(
        &mut self,
        now: Instant,
        id: CallbackId,
        result: Result<(), String>,
    ) {
        self.callback_result(now, id, result);
        self.resume_paused_reads();
    }

    fn callback_result(&mut self, now: Instant, id: CallbackId, result: Result<(), String>) {
        let Some(cb) = self.fx.callbacks.remove(&id) else {
            return;
        };
        let conn = cb.connection;
        let current = self.conns.get(&conn).is_some_and(|c| c.epoch == cb.epoch);
        match cb.kind {
            CallbackKind::OnData => {
                if let Some(Connection {
                    state: ConnState::Open(open),
                    ..
                }) = self.conns.get_mut(&conn)
                    && open.delivering == Some(id)
                {
                    open.delivering = None;
                }
                if !current {
                    self.fx.probe("on_data.finished_after_owner_change");
                }
                match result {
                    Err(e) if current => {
                        self.notify_close(conn, format!("error: on-data failed: {e}"));
                        self.end_connection(now, conn, Ending::Graceful, |id| {
                            Error::Closed(id.to_string())
                        });
                    }
                    _ => self.settle(now, conn),
                }
            }
            CallbackKind::OnClose { clean } => {
                if !current {
                    return;
                }
                let keep = clean && self.cfg().keep_open_on_peer_close;
                if keep {
                    if let Some(Connection {
                        state: ConnState::Open(open),
                        ..
                    }) = self.conns.get_mut(&conn)
                    {
                        open.close_notice = CloseNotice::Done;
                    }
                } else {
                    self.end_connection(now, conn, Ending::Graceful, |id| {
                        Error::Closed(id.to_string())
                    });
                }
            }
            CallbackKind::HandleConnection => {
                if result.is_err() && current {
                    self.end_connection(now, conn, Ending::Graceful, |id| {
                        Error::Closed(id.to_string())
                    });
                }
            }
            CallbackKind::Transfer { caller } => {
                let outcome = match result {
                    Ok(()) => Ok(Reply::Unit),
                    Err(e) => {
                        if current {
                            self.end_connection(now, conn, Ending::Graceful, |id| {
                                Error::Closed(id.to_string())
                            });
                        }
                        Err(Error::TransferCallbackFailed(e))
                    }
                };
                if let Some((actor, call)) = caller {
                    self.fx.complete(&actor, call, outcome);
                }
            }
            CallbackKind::Notify => {}
        }
    }

    /// Fires every deadline due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(key) = self.fx.timers.pop_due(now) {
            match key {
                TimerKey::Connect(id) => {
                    self.fail_opening(id, Error::ConnectTimedOut);
                }
                TimerKey::Handshake(id) => self.handshake_failed(now, id, Error::HandshakeTimedOut),
                TimerKey::Send(id) => self.send_timed_out(now, id),
                TimerKey::Pending(id) => {
                    let handed_out = matches!(
                        self.conns.get(&id).map(|c| &c.state),
                        Some(ConnState::Pending {
                            queued_at: None,
                            ..
                        })
                    );
                    if handed_out {
                        self.notify_close(id, "timeout".into());
                    }
                    self.end_connection(now, id, Ending::Graceful, |id| {
                        Error::Closed(id.to_string())
                    });
                }
                TimerKey::Receive(id) => {
                    if let Some(Connection {
                        state: ConnState::Open(open),
                        ..
                    }) = self.conns.get_mut(&id)
                        && let Some(r) = open.receive.take()
                    {
                        self.fx
                            .complete(&r.actor, r.call, Err(Error::ReceiveTimedOut));
                        self.settle(now, id);
                    }
                }
                TimerKey::Linger(id) => {
                    if self.closing.remove(&id).is_some() {
                        self.fx.command(Command::Release { connection: id });
                    }
                }
                TimerKey::AcceptBackoff(id) => {
                    if let Some(Listener {
                        state: ListenerState::Listening(l),
                        ..
                    }) = self.listeners.get_mut(&id)
                    {
                        l.backing_off = false;
                    }
                    self.update_accepting(id);
                }
            }
        }
        self.resume_paused_reads();
    }

    /// Something the transport observed.
    pub fn handle_io(&mut self, now: Instant, event: IoEvent) {
        match event {
            IoEvent::Resolved { id, result } => self.on_resolved(id, result),
            IoEvent::Bound { listener, local } => self.on_bound(listener, local),
            IoEvent::BindFailed { listener, error } => self.on_bind_failed(listener, error),
            IoEvent::Accepted {
                listener,
                connection,
                peer,
                local,
            } => self.on_accepted(now, listener, connection, peer, local),
            IoEvent::AcceptFailed { listener, .. } => self.on_accept_failed(now, listener),
            IoEvent::AcceptCancelled { listener } => self.on_accept_cancelled(listener),
            IoEvent::Connected {
                connection,
                peer,
                local,
            } => self.on_connected(now, connection, peer, local),
            IoEvent::ConnectFailed { connection, error } => {
                self.on_connect_failed(connection, error)
            }
            IoEvent::TlsEstablished { connection, info } => {
                self.on_tls_established(now, connection, info)
            }
            IoEvent::TlsFailed { connection, error } => {
                self.handshake_failed(now, connection, Error::TlsFailed(error))
            }
            IoEvent::Received { connection, data } => self.on_received(now, connection, data),
            IoEvent::ReadEnded { connection, end } => self.on_read_ended(now, connection, end),
            IoEvent::ReadCancelled { connection } => self.on_read_cancelled(now, connection),
            IoEvent::Wrote { connection, bytes } => self.on_wrote(now, connection, bytes),
            IoEvent::WriteFailed { connection, end } => self.on_write_failed(now, connection, end),
            IoEvent::Flushed { connection } => self.on_flushed(now, connection),
            IoEvent::Drained { connection } => self.on_drained(connection),
        }
        self.resume_paused_reads();
    }
}

impl Connection {
    fn new(owner: ActorId, state: ConnState) -> Self {
        Connection {
            owner,
            epoch: 0,
            peer: None,
            local: None,
            state,
            bytes_in: 0,
            bytes_out: 0,
            chunks_delivered: 0,
        }
    }
}

/// The open state of connection `id`, if it is open. A free function, so that the caller may
/// hold it together with `self.fx`.
fn open_mut(conns: &mut BTreeMap<ConnId, Connection>, id: ConnId) -> Option<&mut Open> {
    match conns.get_mut(&id).map(|c| &mut c.state) {
        Some(ConnState::Open(open)) => Some(open),
        _ => None,
    }
}
