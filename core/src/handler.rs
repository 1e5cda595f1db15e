//! The handler: every rule of `SEMANTICS.md`, as a state machine with no I/O.
//!
//! # Contract
//!
//! Inputs: [`Handler::handle_call`], [`Handler::handle_io`], [`Handler::handle_callback_result`],
//! [`Handler::handle_timeout`], [`Handler::actor_started`] and [`Handler::actor_stopped`]. Each
//! takes `now`; the handler never reads a clock.
//!
//! After **every** input, drain [`Handler::poll_command`] (execute each on the transport, in
//! order) and [`Handler::poll_notice`] (deliver each to its actor, in order) until both return
//! `None`, then arm a timer for [`Handler::poll_timeout`] and call `handle_timeout` when it
//! fires. Inputs are never rejected: bad calls complete with an [`Error`], and events about
//! objects that no longer exist are absorbed (answered with `Abort` if the transport might hold
//! a socket for them).

use crate::address::{Host, HostPort, NameVerdict, valid_server_name};
use crate::call::{Call, Callback, ConnectionStats, Exports, Notice, Reply};
use crate::config::{Config, Settings};
use crate::error::Error;
use crate::ids::{ActorId, CallId, CallbackId, ConnId, ListenerId, ObjectId, ResolveId};
use crate::io::{Command, IoEvent, SocketOption, StreamEnd, TlsRole};
use crate::state::*;
use crate::time::Instant;
use crate::timers::{TimerKey, Timers};
use std::collections::{BTreeMap, VecDeque};
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
    /// Callbacks in flight.
    pub callbacks: usize,
    /// Armed timers.
    pub timers: usize,
    /// Name resolutions in flight.
    pub resolutions: usize,
}

/// The sans-IO TCP handler. See the [module docs](self) for the input/output contract.
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
    /// Closed gracefully, draining until `Drained` or the linger deadline.
    closing: BTreeMap<ConnId, ()>,
    resolutions: BTreeMap<ResolveId, Resolution>,
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
    }

    // ---------------------------------------------------------------- calls

    /// An actor's call. Its result comes out later as `Notice::CallCompleted` with the returned
    /// id (at once for calls that do not wait).
    pub fn handle_call(&mut self, now: Instant, actor: &ActorId, call: Call) -> CallId {
        let id = CallId(self.next_call);
        self.next_call += 1;
        if !self.actors.contains_key(actor) {
            self.fx
                .complete(actor, id, Err(Error::ActorNotRunning(actor.to_string())));
            return id;
        }
        // `Ok(None)`: the call waits and completes later.
        let result = match call {
            Call::Connect { address } => self.connect(now, actor, id, &address),
            Call::Listen { address } => self.listen(actor, id, &address),
            Call::Accept { listener } => self.accept(actor, id, &listener),
            Call::Activate { connection } => self.activate(now, actor, &connection),
            Call::SetActive { connection, mode } => self.set_active(now, actor, &connection, &mode),
            Call::Transfer { connection, target } => {
                self.transfer(now, actor, id, &connection, &target, true)
            }
            Call::TransferAsync { connection, target } => {
                self.transfer(now, actor, id, &connection, &target, false)
            }
            Call::PeerAddress { connection } => self.peer_address(actor, &connection),
            Call::Send { connection, data } => self.send(now, actor, id, &connection, data),
            Call::Receive { connection, max } => {
                self.receive(now, actor, id, &connection, max, None)
            }
            Call::ReceiveTimeout {
                connection,
                max,
                ms,
            } => self.receive(
                now,
                actor,
                id,
                &connection,
                max,
                Some(Duration::from_millis(ms)),
            ),
            Call::Close { connection } => self.close(now, actor, &connection),
            Call::CloseListener { listener } => self.close_listener(now, actor, &listener),
            Call::UpgradeToTlsServer { connection } => {
                self.upgrade(now, actor, id, &connection, None)
            }
            Call::UpgradeToTlsClient {
                connection,
                server_name,
            } => self.upgrade(now, actor, id, &connection, Some(&server_name)),
            Call::LocalAddress { id: object } => self.local_address(actor, &object),
            Call::Shutdown { connection, how } => self.shutdown(now, actor, &connection, &how),
            Call::Abort { connection } => self.abort(now, actor, &connection),
            Call::SetOption {
                connection,
                name,
                value,
            } => self.set_option(actor, &connection, &name, &value),
            Call::TlsInfo { connection } => self.tls_info(actor, &connection),
            Call::ConnectionStats { connection } => self.stats(actor, &connection),
        };
        match result {
            Ok(Some(reply)) => self.fx.complete(actor, id, Ok(reply)),
            Ok(None) => {}
            Err(e) => self.fx.complete(actor, id, Err(e)),
        }
        id
    }

    /// A connection the actor may use: well-formed id, exists, visible to actors, owned.
    fn own_conn(&self, actor: &ActorId, text: &str) -> Result<ConnId, Error> {
        let id = match ObjectId::parse(text)? {
            ObjectId::Connection(id) => id,
            ObjectId::Listener(_) => return Err(Error::ConnectionNotFound(text.to_owned())),
        };
        let conn = self
            .conns
            .get(&id)
            .filter(|c| {
                matches!(
                    c.state,
                    ConnState::Pending { queued: false } | ConnState::Open(_)
                )
            })
            .ok_or_else(|| Error::ConnectionNotFound(text.to_owned()))?;
        if &conn.owner != actor {
            return Err(Error::ConnectionNotOwned(text.to_owned()));
        }
        Ok(id)
    }

    fn own_listener(&self, actor: &ActorId, text: &str) -> Result<ListenerId, Error> {
        let id = match ObjectId::parse(text)? {
            ObjectId::Listener(id) => id,
            ObjectId::Connection(_) => return Err(Error::ListenerNotFound(text.to_owned())),
        };
        let listener = self
            .listeners
            .get(&id)
            .filter(|l| matches!(l.state, ListenerState::Listening(_)))
            .ok_or_else(|| Error::ListenerNotFound(text.to_owned()))?;
        if &listener.owner != actor {
            return Err(Error::ListenerNotOwned(text.to_owned()));
        }
        Ok(id)
    }

    /// The open (activated) state of an owned connection, or the error for a pending one.
    fn own_open(&mut self, actor: &ActorId, text: &str) -> Result<(ConnId, &mut Open), Error> {
        let id = self.own_conn(actor, text)?;
        match self.conns.get_mut(&id).map(|c| &mut c.state) {
            Some(ConnState::Open(open)) => Ok((id, open)),
            _ => Err(Error::Pending(text.to_owned())),
        }
    }

    fn new_object_id(&mut self) -> u64 {
        let n = self.next_object;
        self.next_object += 1;
        n
    }

    fn live_connections(&self) -> usize {
        self.conns.len()
    }

    fn at_connection_limit(&self) -> bool {
        self.cfg()
            .max_connections
            .is_some_and(|max| self.live_connections() >= max)
    }

    fn connect(
        &mut self,
        now: Instant,
        actor: &ActorId,
        call: CallId,
        address: &str,
    ) -> Result<Option<Reply>, Error> {
        let target = HostPort::parse(address).map_err(|reason| Error::InvalidAddress {
            address: address.to_owned(),
            reason,
        })?;
        let name_allowed = self.check_policy(&target, address)?;
        if let Some(max) = self.cfg().max_connections
            && self.live_connections() >= max
        {
            return Err(Error::ConnectionLimit {
                open: self.live_connections(),
                max,
            });
        }
        let id = ConnId(self.new_object_id());
        let server_name = target.server_name();
        let state = match &target.host {
            Host::Ip(ip) => {
                let addr = SocketAddr::new(*ip, target.port);
                self.fx.command(Command::Connect {
                    connection: id,
                    addr,
                });
                ConnState::Connecting {
                    call,
                    server_name,
                    remaining: VecDeque::new(),
                }
            }
            Host::Name(name) => {
                self.resolve(ResolveTarget::Connect(id), name, target.port, name_allowed);
                ConnState::Resolving { call, server_name }
            }
        };
        self.conns.insert(id, Connection::new(actor.clone(), state));
        let deadline = now + Config::ms(self.cfg().connect_timeout_ms);
        self.fx.timers.set(TimerKey::Connect(id), Some(deadline));
        self.update_all_accepting();
        Ok(None)
    }

    /// Checks the address as written. `Ok(true)` when an `allow` entry names the host itself.
    fn check_policy(&self, target: &HostPort, written: &str) -> Result<bool, Error> {
        let refused = || Error::AddressNotAllowed(written.to_owned());
        match &target.host {
            Host::Ip(ip) => {
                let addr = SocketAddr::new(*ip, target.port);
                if self.settings.policy().allows_addr(addr, false) {
                    Ok(false)
                } else {
                    Err(refused())
                }
            }
            Host::Name(name) => match self.settings.policy().check_name(name, target.port) {
                NameVerdict::Denied => Err(refused()),
                NameVerdict::Allowed => Ok(true),
                NameVerdict::CheckAddresses => Ok(false),
            },
        }
    }

    fn resolve(&mut self, target: ResolveTarget, name: &str, port: u16, name_allowed: bool) {
        let id = ResolveId(self.next_resolve);
        self.next_resolve += 1;
        self.resolutions.insert(
            id,
            Resolution {
                target,
                host: name.to_owned(),
                name_allowed,
            },
        );
        self.fx.command(Command::Resolve {
            id,
            host: name.to_owned(),
            port,
        });
    }

    fn listen(
        &mut self,
        actor: &ActorId,
        call: CallId,
        address: &str,
    ) -> Result<Option<Reply>, Error> {
        let target = HostPort::parse(address).map_err(|reason| Error::InvalidAddress {
            address: address.to_owned(),
            reason,
        })?;
        let name_allowed = self.check_policy(&target, address)?;
        let id = ListenerId(self.new_object_id());
        let state = match &target.host {
            Host::Ip(ip) => {
                self.fx.command(Command::Bind {
                    listener: id,
                    addr: SocketAddr::new(*ip, target.port),
                });
                ListenerState::Binding { call }
            }
            Host::Name(name) => {
                self.resolve(ResolveTarget::Listen(id), name, target.port, name_allowed);
                ListenerState::Resolving { call }
            }
        };
        self.listeners.insert(
            id,
            Listener {
                owner: actor.clone(),
                state,
            },
        );
        Ok(None)
    }

    fn accept(
        &mut self,
        actor: &ActorId,
        call: CallId,
        text: &str,
    ) -> Result<Option<Reply>, Error> {
        let id = self.own_listener(actor, text)?;
        let Some(Listener {
            state: ListenerState::Listening(l),
            ..
        }) = self.listeners.get_mut(&id)
        else {
            return Err(Error::ListenerNotFound(text.to_owned()));
        };
        if let Some(conn) = l.queue.pop_front() {
            if let Some(c) = self.conns.get_mut(&conn) {
                c.state = ConnState::Pending { queued: false };
                c.listener = None;
            }
            self.update_accepting(id);
            return Ok(Some(Reply::Id(conn.to_string())));
        }
        l.waiters.push_back((actor.clone(), call));
        self.update_accepting(id);
        Ok(None)
    }

    fn activate(
        &mut self,
        now: Instant,
        actor: &ActorId,
        text: &str,
    ) -> Result<Option<Reply>, Error> {
        let id = self.own_conn(actor, text)?;
        let Some(conn) = self.conns.get_mut(&id) else {
            return Err(Error::ConnectionNotFound(text.to_owned()));
        };
        if matches!(conn.state, ConnState::Open(_)) {
            return Err(Error::AlreadyActive(text.to_owned()));
        }
        conn.state = ConnState::Open(Box::new(Open::new(now, conn.take_tls())));
        self.fx.timers.set(TimerKey::Pending(id), None);
        Ok(Some(Reply::Unit))
    }

    fn set_active(
        &mut self,
        now: Instant,
        actor: &ActorId,
        text: &str,
        mode: &str,
    ) -> Result<Option<Reply>, Error> {
        let id = self.own_conn(actor, text)?;
        let exports_on_data = self.actors.get(actor).is_some_and(|e| e.on_data);
        let Some(Connection {
            state: ConnState::Open(open),
            ..
        }) = self.conns.get_mut(&id)
        else {
            return Err(Error::NotActivated(text.to_owned()));
        };
        let requested = parse_mode(mode)?;
        if requested.pushes() && !exports_on_data {
            return Err(Error::OnDataNotExported(actor.to_string()));
        }
        #[cfg(feature = "planted-bug-drop-byte-on-mode-switch")]
        let before = open.mode;
        open.mode = match (open.mode, requested) {
            (Mode::Credit(have), Mode::Credit(add)) => {
                let total = u32::from(have) + u32::from(add);
                if total > Mode::MAX_CREDIT {
                    return Err(Error::CreditOverflow(total));
                }
                Mode::Credit(total as u16)
            }
            (_, requested) => requested,
        };
        // PLANTED BUG, test-only (see core/Cargo.toml): a switch loses one buffered byte.
        #[cfg(feature = "planted-bug-drop-byte-on-mode-switch")]
        if open.mode != before && !open.rx.is_empty() {
            let _ = open.rx.take(1);
        }
        if open.mode.pushes()
            && let Some(r) = open.receive.take()
        {
            self.fx
                .complete(&r.actor, r.call, Err(Error::ActiveMode(text.to_owned())));
            self.fx.timers.set(TimerKey::Receive(id), None);
        }
        self.settle(now, id);
        Ok(Some(Reply::Unit))
    }

    fn transfer(
        &mut self,
        now: Instant,
        actor: &ActorId,
        call: CallId,
        text: &str,
        target_name: &str,
        sync: bool,
    ) -> Result<Option<Reply>, Error> {
        let id = self.own_conn(actor, text)?;
        let target = ActorId::new(target_name);
        if &target == actor {
            return Err(Error::TransferToSelf);
        }
        let Some(exports) = self.actors.get(&target).copied() else {
            return Err(Error::ActorNotFound(target_name.to_owned()));
        };
        let Some(conn) = self.conns.get_mut(&id) else {
            return Err(Error::ConnectionNotFound(text.to_owned()));
        };
        // The upgrade's caller waits on this connection's handshake: it stays where it is.
        if let ConnState::Open(open) = &conn.state
            && matches!(open.tls, Tls::Upgrading { .. })
        {
            return Err(Error::Upgrading(text.to_owned()));
        }
        // Delivery to the old owner stops here; an `on-data` already running finishes, and no
        // other starts before it returns (`delivering` stays set across the change of owner).
        conn.owner = target.clone();
        conn.epoch += 1;
        let epoch = conn.epoch;
        match &mut conn.state {
            ConnState::Open(open) => {
                if open.delivering.is_some() {
                    self.fx.probe("transfer.during_on_data");
                }
                if !open.rx.is_empty() {
                    self.fx.probe("transfer.with_buffered_bytes");
                }
                open.mode = Mode::Passive;
                if let Some(r) = open.receive.take() {
                    self.fx
                        .complete(&r.actor, r.call, Err(Error::Transferred(text.to_owned())));
                    self.fx.timers.set(TimerKey::Receive(id), None);
                }
                if open.close_notice == CloseNotice::Sent {
                    open.close_notice = CloseNotice::None;
                }
            }
            _ => {
                conn.state = ConnState::Open(Box::new(Open::new(now, conn.take_tls())));
                self.fx.timers.set(TimerKey::Pending(id), None);
            }
        }
        let callback = if exports.handle_connection_transfer {
            Some(Callback::HandleConnectionTransfer {
                connection: id.to_string(),
            })
        } else if exports.handle_connection {
            Some(Callback::HandleConnection {
                connection: id.to_string(),
            })
        } else {
            None
        };
        let reply = match callback {
            Some(callback) => {
                let caller = sync.then(|| (actor.clone(), call));
                self.fx.callback(
                    &target,
                    id,
                    epoch,
                    CallbackKind::Transfer { caller },
                    callback,
                );
                if sync { None } else { Some(Reply::Unit) }
            }
            None => Some(Reply::Unit),
        };
        self.settle(now, id);
        Ok(reply)
    }

    fn peer_address(&self, actor: &ActorId, text: &str) -> Result<Option<Reply>, Error> {
        let id = self.own_conn(actor, text)?;
        let peer = self.conns.get(&id).and_then(|c| c.peer);
        peer.map(|p| Some(Reply::Address(p.to_string())))
            .ok_or_else(|| Error::ConnectionNotFound(text.to_owned()))
    }

    fn local_address(&self, actor: &ActorId, text: &str) -> Result<Option<Reply>, Error> {
        let local = match ObjectId::parse(text)? {
            ObjectId::Connection(_) => {
                let id = self.own_conn(actor, text)?;
                self.conns.get(&id).and_then(|c| c.local)
            }
            ObjectId::Listener(_) => {
                let id = self.own_listener(actor, text)?;
                match self.listeners.get(&id).map(|l| &l.state) {
                    Some(ListenerState::Listening(l)) => Some(l.local),
                    _ => None,
                }
            }
        };
        local
            .map(|a| Some(Reply::Address(a.to_string())))
            .ok_or_else(|| Error::ConnectionNotFound(text.to_owned()))
    }

    fn send(
        &mut self,
        now: Instant,
        actor: &ActorId,
        call: CallId,
        text: &str,
        data: Vec<u8>,
    ) -> Result<Option<Reply>, Error> {
        let max_send = self.cfg().max_send_bytes;
        let (id, open) = self.own_open(actor, text)?;
        if let Some(reason) = &open.gone {
            return Err(Error::ConnectionFailed {
                id: text.to_owned(),
                reason: reason.clone(),
            });
        }
        if open.write != WriteSide::Open {
            return Err(Error::WriteShut(text.to_owned()));
        }
        if data.len() > max_send {
            return Err(Error::SendTooLarge {
                len: data.len(),
                max: max_send,
            });
        }
        if data.is_empty() {
            return Ok(Some(Reply::Sent(0)));
        }
        if open.sends.is_empty() {
            // The send timeout measures stalls from the moment someone waits.
            open.last_write_progress = now;
        }
        open.sends.push_back(PendingSend {
            actor: actor.clone(),
            call,
            data,
            offset: 0,
        });
        self.settle(now, id);
        Ok(None)
    }

    fn receive(
        &mut self,
        now: Instant,
        actor: &ActorId,
        call: CallId,
        text: &str,
        max: u32,
        timeout: Option<Duration>,
    ) -> Result<Option<Reply>, Error> {
        let (id, open) = self.own_open(actor, text)?;
        if max == 0 {
            return Err(Error::MaxBytesZero);
        }
        if open.mode.pushes() {
            return Err(Error::ActiveMode(text.to_owned()));
        }
        if open.receive.is_some() {
            return Err(Error::ReceiveInProgress(text.to_owned()));
        }
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        if !open.rx.is_empty() {
            return Ok(Some(Reply::Data(open.rx.take(max))));
        }
        if let Some((clean, reason)) = open.end() {
            return if clean {
                Ok(Some(Reply::Data(Vec::new())))
            } else {
                Err(Error::ConnectionFailed {
                    id: text.to_owned(),
                    reason,
                })
            };
        }
        open.receive = Some(Receive {
            actor: actor.clone(),
            call,
            max,
        });
        if let Some(t) = timeout {
            self.fx.timers.set(TimerKey::Receive(id), Some(now + t));
        }
        self.settle(now, id);
        Ok(None)
    }

    fn close(&mut self, now: Instant, actor: &ActorId, text: &str) -> Result<Option<Reply>, Error> {
        let id = self.own_conn(actor, text)?;
        self.end_connection(now, id, Ending::Graceful, |id| {
            Error::Closed(id.to_string())
        });
        Ok(Some(Reply::Unit))
    }

    fn abort(&mut self, now: Instant, actor: &ActorId, text: &str) -> Result<Option<Reply>, Error> {
        let id = self.own_conn(actor, text)?;
        self.end_connection(now, id, Ending::Abort, |id| Error::Closed(id.to_string()));
        Ok(Some(Reply::Unit))
    }

    fn close_listener(
        &mut self,
        now: Instant,
        actor: &ActorId,
        text: &str,
    ) -> Result<Option<Reply>, Error> {
        let id = self.own_listener(actor, text)?;
        self.remove_listener(now, id);
        Ok(Some(Reply::Unit))
    }

    fn shutdown(
        &mut self,
        now: Instant,
        actor: &ActorId,
        text: &str,
        how: &str,
    ) -> Result<Option<Reply>, Error> {
        let (read, write) = match how {
            "read" => (true, false),
            "write" => (false, true),
            "both" => (true, true),
            _ => return Err(Error::InvalidShutdown(how.to_owned())),
        };
        let (id, open) = self.own_open(actor, text)?;
        if let Some(reason) = &open.gone {
            return Err(Error::ConnectionFailed {
                id: text.to_owned(),
                reason: reason.clone(),
            });
        }
        if read {
            open.read_shut = true;
        }
        if write && open.write == WriteSide::Open {
            open.write = WriteSide::ShutRequested;
        }
        self.settle(now, id);
        Ok(Some(Reply::Unit))
    }

    fn set_option(
        &mut self,
        actor: &ActorId,
        text: &str,
        name: &str,
        value: &str,
    ) -> Result<Option<Reply>, Error> {
        let id = self.own_conn(actor, text)?;
        let invalid = || Error::InvalidOptionValue {
            name: name.to_owned(),
            value: value.to_owned(),
        };
        let option = match name {
            "nodelay" => SocketOption::NoDelay(parse_bool(value).ok_or_else(invalid)?),
            "keepalive" => SocketOption::KeepAlive(match parse_bool(value) {
                Some(false) => None,
                Some(true) => Some(Duration::from_secs(self.cfg().keepalive_secs.unwrap_or(60))),
                None => match value.parse::<u64>() {
                    Ok(secs) if (1..=86_400).contains(&secs) => Some(Duration::from_secs(secs)),
                    _ => return Err(invalid()),
                },
            }),
            _ => return Err(Error::UnknownOption(name.to_owned())),
        };
        if let Some(Connection {
            state: ConnState::Open(open),
            ..
        }) = self.conns.get(&id)
            && let Some(reason) = &open.gone
        {
            return Err(Error::ConnectionFailed {
                id: text.to_owned(),
                reason: reason.clone(),
            });
        }
        self.fx.command(Command::SetOption {
            connection: id,
            option,
        });
        Ok(Some(Reply::Unit))
    }

    fn tls_info(&mut self, actor: &ActorId, text: &str) -> Result<Option<Reply>, Error> {
        let id = self.own_conn(actor, text)?;
        let info = self.conns.get(&id).and_then(|c| match &c.state {
            ConnState::Open(open) => match &open.tls {
                Tls::Secure(info) => Some(info),
                _ => None,
            },
            // Accepted with implicit TLS and not yet activated.
            _ => c.pending_tls.as_ref(),
        });
        match info {
            Some(info) => Ok(Some(Reply::TlsInfo((**info).clone()))),
            None => Err(Error::NotTls(text.to_owned())),
        }
    }

    fn stats(&self, actor: &ActorId, text: &str) -> Result<Option<Reply>, Error> {
        let id = self.own_conn(actor, text)?;
        let Some(c) = self.conns.get(&id) else {
            return Err(Error::ConnectionNotFound(text.to_owned()));
        };
        let mut stats = ConnectionStats {
            bytes_in: c.bytes_in,
            bytes_out: c.bytes_out,
            chunks_delivered: c.chunks_delivered,
            state: "pending".into(),
            mode: "passive".into(),
            tls: if c.pending_tls.is_some() {
                "tls"
            } else {
                "plain"
            }
            .into(),
            buffered: 0,
        };
        if let ConnState::Open(open) = &c.state {
            stats.state = if open.gone.is_some() {
                "closed"
            } else {
                "active"
            }
            .into();
            stats.mode = open.mode.name();
            stats.tls = open.tls_name().into();
            stats.buffered = open.rx.len() as u64;
        }
        Ok(Some(Reply::Stats(stats)))
    }

    fn upgrade(
        &mut self,
        now: Instant,
        actor: &ActorId,
        call: CallId,
        text: &str,
        client_name: Option<&str>,
    ) -> Result<Option<Reply>, Error> {
        let role = match client_name {
            None if !self.cfg().server_tls_available() => {
                return Err(Error::ServerTlsNotConfigured);
            }
            None => TlsRole::Server,
            Some(_) if !self.cfg().client_tls.enabled => return Err(Error::ClientTlsNotConfigured),
            Some(name) => TlsRole::Client {
                server_name: valid_server_name(name)
                    .ok_or_else(|| Error::InvalidServerName(name.to_owned()))?,
            },
        };
        let (id, open) = self.own_open(actor, text)?;
        if let Some(reason) = &open.gone {
            return Err(Error::ConnectionFailed {
                id: text.to_owned(),
                reason: reason.clone(),
            });
        }
        if !matches!(open.tls, Tls::Plain) {
            return Err(Error::AlreadyTls(text.to_owned()));
        }
        if open.mode != Mode::Passive {
            return Err(Error::UpgradeNeedsPassive(text.to_owned()));
        }
        if open.receive.is_some() {
            return Err(Error::ReceiveInProgress(text.to_owned()));
        }
        // STARTTLS injection guard (CVE-2011-0411 class).
        if !open.rx.is_empty() {
            return Err(Error::PlaintextBuffered);
        }
        if open.read_end.is_some() || open.read_shut || open.write != WriteSide::Open {
            return Err(Error::Closed(text.to_owned()));
        }
        let plain_sends = open.sends.len();
        open.tls = Tls::Upgrading {
            actor: actor.clone(),
            call,
            role,
            plain_sends,
            started: false,
        };
        self.settle(now, id);
        Ok(None)
    }

    // ---------------------------------------------------------------- callbacks

    /// The outcome of a callback the adapter ran (or could not run: a trap is an `Err`).
    pub fn handle_callback_result(
        &mut self,
        now: Instant,
        id: CallbackId,
        result: Result<(), String>,
    ) {
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

    /// Sends `on-close` to the owner if it exports it; its result decides nothing.
    fn notify_close(&mut self, id: ConnId, reason: String) {
        let Some(conn) = self.conns.get(&id) else {
            return;
        };
        if self.actors.get(&conn.owner).is_some_and(|e| e.on_close) {
            let callback = Callback::OnClose {
                connection: id.to_string(),
                reason,
            };
            self.fx
                .callback(&conn.owner, id, conn.epoch, CallbackKind::Notify, callback);
        }
    }

    // ---------------------------------------------------------------- timers

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
                        Some(ConnState::Pending { queued: false })
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
    }

    fn send_timed_out(&mut self, now: Instant, id: ConnId) {
        let Some(Connection {
            state: ConnState::Open(open),
            ..
        }) = self.conns.get_mut(&id)
        else {
            return;
        };
        if open.sends.is_empty() || open.gone.is_some() {
            return;
        }
        // As Erlang's send_timeout_close: the bytes sent are unknown, so the connection dies.
        self.fx.probe("send.timeout");
        for s in open.sends.drain(..) {
            self.fx.complete(&s.actor, s.call, Err(Error::SendTimedOut));
        }
        self.kill(now, id, "timeout".into());
    }

    // ---------------------------------------------------------------- I/O events

    /// Something the transport observed.
    pub fn handle_io(&mut self, now: Instant, event: IoEvent) {
        match event {
            IoEvent::Resolved { id, result } => self.on_resolved(now, id, result),
            IoEvent::Bound { listener, local } => {
                let Some(l) = self.listeners.get_mut(&listener) else {
                    return;
                };
                let ListenerState::Binding { call } = l.state else {
                    return;
                };
                l.state = ListenerState::Listening(Listening {
                    local,
                    accept: AcceptState::Idle,
                    backoff: None,
                    backing_off: false,
                    waiters: VecDeque::new(),
                    queue: VecDeque::new(),
                    handshaking: 0,
                });
                let owner = l.owner.clone();
                self.fx
                    .complete(&owner, call, Ok(Reply::Id(listener.to_string())));
                self.update_accepting(listener);
            }
            IoEvent::BindFailed { listener, error } => {
                let Some(l) = self.listeners.get(&listener) else {
                    return;
                };
                if let ListenerState::Binding { call } = l.state {
                    let owner = l.owner.clone();
                    self.listeners.remove(&listener);
                    self.fx.complete(&owner, call, Err(Error::Io(error)));
                }
            }
            IoEvent::Accepted {
                listener,
                connection,
                peer,
                local,
            } => self.on_accepted(now, listener, connection, peer, local),
            IoEvent::AcceptFailed { listener, .. } => {
                let max = Config::ms(self.cfg().accept_backoff_max_ms);
                let first = Config::ms(self.cfg().accept_backoff_ms);
                let Some(Listener {
                    state: ListenerState::Listening(l),
                    ..
                }) = self.listeners.get_mut(&listener)
                else {
                    return;
                };
                if !matches!(
                    l.accept,
                    AcceptState::InFlight(_) | AcceptState::Cancelling(_)
                ) {
                    return;
                }
                l.accept = AcceptState::Idle;
                // EMFILE and friends: back off (doubling, capped) instead of spinning.
                let delay = l.backoff.map_or(first, |d| (d * 2).min(max));
                self.fx.probe("accept.backoff");
                l.backoff = Some(delay);
                l.backing_off = true;
                self.fx
                    .timers
                    .set(TimerKey::AcceptBackoff(listener), Some(now + delay));
            }
            IoEvent::AcceptCancelled { listener } => {
                if let Some(Listener {
                    state: ListenerState::Listening(l),
                    ..
                }) = self.listeners.get_mut(&listener)
                    && matches!(l.accept, AcceptState::Cancelling(_))
                {
                    l.accept = AcceptState::Idle;
                }
                self.update_accepting(listener);
            }
            IoEvent::Connected {
                connection,
                peer,
                local,
            } => self.on_connected(now, connection, peer, local),
            IoEvent::ConnectFailed { connection, error } => {
                let Some(conn) = self.conns.get_mut(&connection) else {
                    return;
                };
                let ConnState::Connecting { remaining, .. } = &mut conn.state else {
                    return;
                };
                match remaining.pop_front() {
                    Some(addr) => self.fx.command(Command::Connect { connection, addr }),
                    None => self.fail_opening(connection, Error::Io(error)),
                }
            }
            IoEvent::TlsEstablished { connection, info } => {
                self.on_tls_established(now, connection, info)
            }
            IoEvent::TlsFailed { connection, error } => {
                self.handshake_failed(now, connection, Error::TlsFailed(error))
            }
            IoEvent::Received { connection, data } => self.on_received(now, connection, data),
            IoEvent::ReadEnded { connection, end } => self.on_read_ended(now, connection, end),
            IoEvent::ReadCancelled { connection } => {
                if let Some(Connection {
                    state: ConnState::Open(open),
                    ..
                }) = self.conns.get_mut(&connection)
                    && open.read == ReadState::Cancelling
                {
                    open.read = ReadState::Idle;
                    self.settle(now, connection);
                }
            }
            IoEvent::Wrote { connection, bytes } => {
                if let Some(Connection {
                    state: ConnState::Open(open),
                    ..
                }) = self.conns.get_mut(&connection)
                {
                    open.in_transport = open.in_transport.saturating_sub(bytes);
                    open.last_write_progress = now;
                    self.settle(now, connection);
                }
            }
            IoEvent::WriteFailed { connection, end } => {
                if let Some(Connection {
                    state: ConnState::Open(open),
                    ..
                }) = self.conns.get_mut(&connection)
                    && open.gone.is_none()
                {
                    let reason = end.reason();
                    if open.read_end.is_none() {
                        open.read_end = Some(end);
                    }
                    self.kill(now, connection, reason);
                }
            }
            IoEvent::Drained { connection } => {
                if self.closing.remove(&connection).is_some() {
                    self.fx.timers.set(TimerKey::Linger(connection), None);
                    self.fx.command(Command::Release { connection });
                }
            }
        }
    }

    fn on_resolved(
        &mut self,
        now: Instant,
        id: ResolveId,
        result: Result<Vec<SocketAddr>, String>,
    ) {
        let Some(res) = self.resolutions.remove(&id) else {
            return;
        };
        // Every resolved address must pass the policy: a name cannot smuggle in a denied network.
        let checked = result.map_err(Error::Io).and_then(|addrs| {
            if let Some(bad) = addrs
                .iter()
                .find(|a| !self.settings.policy().allows_addr(**a, res.name_allowed))
            {
                return Err(Error::AddressNotAllowed(bad.to_string()));
            }
            if addrs.is_empty() {
                return Err(Error::Io(format!("no addresses found for {}", res.host)));
            }
            Ok(addrs)
        });
        match res.target {
            ResolveTarget::Connect(conn) => {
                let Some(c) = self.conns.get_mut(&conn) else {
                    return;
                };
                let ConnState::Resolving { call, server_name } = &mut c.state else {
                    return;
                };
                match checked {
                    Ok(addrs) => {
                        let mut remaining: VecDeque<SocketAddr> = addrs.into();
                        if let Some(addr) = remaining.pop_front() {
                            c.state = ConnState::Connecting {
                                call: *call,
                                server_name: std::mem::take(server_name),
                                remaining,
                            };
                            self.fx.command(Command::Connect {
                                connection: conn,
                                addr,
                            });
                        }
                    }
                    Err(e) => self.fail_opening(conn, e),
                }
            }
            ResolveTarget::Listen(listener) => {
                let Some(l) = self.listeners.get_mut(&listener) else {
                    return;
                };
                let ListenerState::Resolving { call } = l.state else {
                    return;
                };
                match checked.map(|a| a[0]) {
                    Ok(addr) => {
                        l.state = ListenerState::Binding { call };
                        self.fx.command(Command::Bind { listener, addr });
                    }
                    Err(e) => {
                        let owner = l.owner.clone();
                        self.listeners.remove(&listener);
                        self.fx.complete(&owner, call, Err(e));
                    }
                }
            }
        }
        let _ = now;
    }

    fn on_accepted(
        &mut self,
        now: Instant,
        listener: ListenerId,
        id: ConnId,
        peer: SocketAddr,
        local: SocketAddr,
    ) {
        let over_limit = self.at_connection_limit();
        let tls = self.cfg().server_tls_on_accept();
        let Some(Listener {
            owner,
            state: ListenerState::Listening(l),
        }) = self.listeners.get_mut(&listener)
        else {
            self.fx.command(Command::Abort { connection: id });
            return;
        };
        if !matches!(l.accept, AcceptState::InFlight(c) | AcceptState::Cancelling(c) if c == id) {
            self.fx.command(Command::Abort { connection: id });
            return;
        }
        l.accept = AcceptState::Idle;
        l.backoff = None;
        if over_limit {
            // Only reachable when a `connect` took the last slot while this accept was in flight.
            self.fx.probe("accept.over_limit_refused");
            self.fx.command(Command::Abort { connection: id });
            self.update_accepting(listener);
            return;
        }
        if tls {
            l.handshaking += 1;
        }
        let owner = owner.clone();
        let mut conn = Connection::new(owner, ConnState::Pending { queued: true });
        conn.peer = Some(peer);
        conn.local = Some(local);
        conn.listener = Some(listener);
        self.socket_defaults(id);
        if tls {
            conn.state = ConnState::Handshaking {
                origin: HandshakeOrigin::Accept(listener),
            };
            self.conns.insert(id, conn);
            self.start_handshake(now, id, TlsRole::Server);
        } else {
            self.conns.insert(id, conn);
            self.hand_out(now, listener, id);
        }
        self.update_accepting(listener);
    }

    fn socket_defaults(&mut self, id: ConnId) {
        let nodelay = self.cfg().nodelay;
        let keepalive = self.cfg().keepalive_secs.map(Duration::from_secs);
        self.fx.command(Command::SetOption {
            connection: id,
            option: SocketOption::NoDelay(nodelay),
        });
        if keepalive.is_some() {
            self.fx.command(Command::SetOption {
                connection: id,
                option: SocketOption::KeepAlive(keepalive),
            });
        }
    }

    fn start_handshake(&mut self, now: Instant, id: ConnId, role: TlsRole) {
        let deadline = now + Config::ms(self.cfg().handshake_timeout_ms);
        self.fx.timers.set(TimerKey::Handshake(id), Some(deadline));
        self.fx.command(Command::StartTls {
            connection: id,
            role,
        });
    }

    /// A freshly accepted (and, with implicit TLS, secured) connection goes to a waiting
    /// `accept`, else to `handle-connection`, else into the listener's queue.
    fn hand_out(&mut self, now: Instant, listener: ListenerId, id: ConnId) {
        let pending_deadline = now + Config::ms(self.cfg().pending_timeout_ms);
        let Some(Listener {
            owner,
            state: ListenerState::Listening(l),
        }) = self.listeners.get_mut(&listener)
        else {
            return;
        };
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        self.fx
            .timers
            .set(TimerKey::Pending(id), Some(pending_deadline));
        if let Some((actor, call)) = l.waiters.pop_front() {
            conn.state = ConnState::Pending { queued: false };
            conn.listener = None;
            self.fx
                .complete(&actor, call, Ok(Reply::Id(id.to_string())));
        } else if self.actors.get(owner).is_some_and(|e| e.handle_connection) {
            conn.state = ConnState::Pending { queued: false };
            conn.listener = None;
            let callback = Callback::HandleConnection {
                connection: id.to_string(),
            };
            self.fx.callback(
                owner,
                id,
                conn.epoch,
                CallbackKind::HandleConnection,
                callback,
            );
        } else {
            conn.state = ConnState::Pending { queued: true };
            l.queue.push_back(id);
        }
    }

    fn on_connected(&mut self, now: Instant, id: ConnId, peer: SocketAddr, local: SocketAddr) {
        let tls = self.cfg().client_tls_on_connect();
        let Some(conn) = self.conns.get_mut(&id) else {
            self.fx.command(Command::Abort { connection: id });
            return;
        };
        let ConnState::Connecting {
            call, server_name, ..
        } = &mut conn.state
        else {
            self.fx.command(Command::Abort { connection: id });
            return;
        };
        let (call, server_name) = (*call, std::mem::take(server_name));
        conn.peer = Some(peer);
        conn.local = Some(local);
        self.fx.timers.set(TimerKey::Connect(id), None);
        if tls {
            conn.state = ConnState::Handshaking {
                origin: HandshakeOrigin::Connect(call),
            };
            self.socket_defaults(id);
            self.start_handshake(now, id, TlsRole::Client { server_name });
        } else {
            conn.state = ConnState::Open(Box::new(Open::new(now, Tls::Plain)));
            let owner = conn.owner.clone();
            self.socket_defaults(id);
            self.fx
                .complete(&owner, call, Ok(Reply::Id(id.to_string())));
        }
    }

    fn on_tls_established(&mut self, now: Instant, id: ConnId, info: crate::call::TlsInfo) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        self.fx.timers.set(TimerKey::Handshake(id), None);
        match &mut conn.state {
            ConnState::Handshaking {
                origin: HandshakeOrigin::Connect(call),
            } => {
                let call = *call;
                conn.state = ConnState::Open(Box::new(Open::new(now, Tls::Secure(Box::new(info)))));
                let owner = conn.owner.clone();
                self.fx
                    .complete(&owner, call, Ok(Reply::Id(id.to_string())));
            }
            ConnState::Handshaking {
                origin: HandshakeOrigin::Accept(listener),
            } => {
                let listener = *listener;
                // The secured connection is pending; it is opened with its TLS state on activate.
                conn.state = ConnState::Pending { queued: true };
                conn.pending_tls = Some(Box::new(info));
                if let Some(Listener {
                    state: ListenerState::Listening(l),
                    ..
                }) = self.listeners.get_mut(&listener)
                {
                    l.handshaking = l.handshaking.saturating_sub(1);
                }
                self.hand_out(now, listener, id);
                self.update_accepting(listener);
            }
            ConnState::Open(open) => {
                if let Tls::Upgrading {
                    actor,
                    call,
                    started: true,
                    ..
                } = &open.tls
                {
                    let (actor, call) = (actor.clone(), *call);
                    open.tls = Tls::Secure(Box::new(info));
                    self.fx.complete(&actor, call, Ok(Reply::Unit));
                    self.settle(now, id);
                }
            }
            _ => {}
        }
    }

    fn handshake_failed(&mut self, now: Instant, id: ConnId, error: Error) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        match &mut conn.state {
            ConnState::Handshaking {
                origin: HandshakeOrigin::Connect(_),
            } => self.fail_opening(id, error),
            ConnState::Handshaking {
                origin: HandshakeOrigin::Accept(listener),
            } => {
                let listener = *listener;
                // Nobody saw this connection yet: drop it quietly (`remove_conn` frees its
                // place in the listener's handshake count).
                self.end_connection(now, id, Ending::Abort, |id| Error::Closed(id.to_string()));
                self.update_accepting(listener);
            }
            ConnState::Open(open) => {
                let Tls::Upgrading {
                    actor,
                    call,
                    started: true,
                    ..
                } = &open.tls
                else {
                    return;
                };
                let (actor, call) = (actor.clone(), *call);
                open.tls = Tls::Plain;
                self.fx.complete(&actor, call, Err(error));
                // A failed upgrade leaves no dead entry behind: the connection is closed.
                self.end_connection(now, id, Ending::Abort, |id| Error::Closed(id.to_string()));
            }
            _ => {}
        }
    }

    /// An outbound connection failed before the actor saw it: its `connect` call fails.
    fn fail_opening(&mut self, id: ConnId, error: Error) {
        let Some(conn) = self.conns.get(&id) else {
            return;
        };
        let call = match &conn.state {
            ConnState::Resolving { call, .. } | ConnState::Connecting { call, .. } => *call,
            ConnState::Handshaking {
                origin: HandshakeOrigin::Connect(call),
            } => *call,
            _ => return,
        };
        let owner = conn.owner.clone();
        if !matches!(conn.state, ConnState::Resolving { .. }) {
            self.fx.command(Command::Abort { connection: id });
        }
        self.remove_conn(id);
        self.fx.complete(&owner, call, Err(error));
    }

    fn on_received(&mut self, now: Instant, id: ConnId, data: Vec<u8>) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let ConnState::Open(open) = &mut conn.state else {
            return;
        };
        if !matches!(open.read, ReadState::InFlight | ReadState::Cancelling) || open.gone.is_some()
        {
            return;
        }
        if open.read == ReadState::Cancelling {
            self.fx.probe("read.data_beat_cancel");
        }
        open.read = ReadState::Idle;
        conn.bytes_in += data.len() as u64;
        open.rx.push(data);
        self.settle(now, id);
    }

    fn on_read_ended(&mut self, now: Instant, id: ConnId, end: StreamEnd) {
        let Some(Connection {
            state: ConnState::Open(open),
            ..
        }) = self.conns.get_mut(&id)
        else {
            return;
        };
        if open.gone.is_some() || open.read_end.is_some() {
            return;
        }
        open.read = ReadState::Idle;
        let fatal = !matches!(end, StreamEnd::Eof | StreamEnd::TlsTruncated);
        let reason = end.reason();
        open.read_end = Some(end);
        if fatal {
            self.kill(now, id, reason);
        } else {
            self.settle(now, id);
        }
    }

    /// The transport's side of the connection is dead: release the socket now; the actor
    /// still gets its buffered bytes, then the failure.
    fn kill(&mut self, now: Instant, id: ConnId, reason: String) {
        let Some(Connection {
            state: ConnState::Open(open),
            ..
        }) = self.conns.get_mut(&id)
        else {
            return;
        };
        open.gone = Some(reason.clone());
        open.read = ReadState::Idle;
        open.in_transport = 0;
        for s in open.sends.drain(..) {
            let err = Error::ConnectionFailed {
                id: id.to_string(),
                reason: reason.clone(),
            };
            self.fx.complete(&s.actor, s.call, Err(err));
        }
        if let Tls::Upgrading { actor, call, .. } = &open.tls {
            let err = Error::ConnectionFailed {
                id: id.to_string(),
                reason: reason.clone(),
            };
            self.fx.complete(actor, *call, Err(err));
            open.tls = Tls::Plain;
        }
        self.fx.timers.set(TimerKey::Send(id), None);
        self.fx.timers.set(TimerKey::Handshake(id), None);
        self.fx.command(Command::Abort { connection: id });
        self.settle(now, id);
    }

    // ---------------------------------------------------------------- the data path

    /// Re-derives everything that follows from a connection's state: writes, TLS start,
    /// reads, deliveries and the end-of-stream notice.
    fn settle(&mut self, now: Instant, id: ConnId) {
        self.pump_sends(now, id);
        self.try_start_tls(now, id);
        self.serve_receive(id);
        self.deliver(now, id);
        self.update_reading(id);
    }

    /// Completes a waiting `receive` from the buffer, or with the end of the stream.
    fn serve_receive(&mut self, id: ConnId) {
        let Some(Connection {
            state: ConnState::Open(open),
            ..
        }) = self.conns.get_mut(&id)
        else {
            return;
        };
        let Some(r) = open.receive.as_ref() else {
            return;
        };
        let result = if !open.rx.is_empty() {
            Ok(Reply::Data(open.rx.take(r.max)))
        } else {
            match open.end() {
                Some((true, _)) => Ok(Reply::Data(Vec::new())),
                Some((false, reason)) => Err(Error::ConnectionFailed {
                    id: id.to_string(),
                    reason,
                }),
                None => return,
            }
        };
        if let Some(r) = open.receive.take() {
            self.fx.complete(&r.actor, r.call, result);
            self.fx.timers.set(TimerKey::Receive(id), None);
        }
    }

    fn pump_sends(&mut self, now: Instant, id: ConnId) {
        let cap = self.cfg().write_buffer;
        let send_timeout = Config::ms(self.cfg().send_timeout_ms);
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let ConnState::Open(open) = &mut conn.state else {
            return;
        };
        if open.gone.is_some() {
            return;
        }
        loop {
            // During a STARTTLS upgrade only the sends queued before it go out (in plaintext).
            let allowed = match &open.tls {
                Tls::Upgrading { plain_sends, .. } => *plain_sends > 0,
                _ => true,
            };
            let room = cap.saturating_sub(open.in_transport);
            let Some(front) = open.sends.front_mut() else {
                break;
            };
            if !allowed || room == 0 {
                break;
            }
            let left = front.data.len() - front.offset;
            let n = left.min(room);
            let chunk = if front.offset == 0 && n == front.data.len() {
                std::mem::take(&mut front.data)
            } else {
                front.data[front.offset..front.offset + n].to_vec()
            };
            front.offset += n;
            open.in_transport += n;
            open.last_write_progress = now;
            conn.bytes_out += n as u64;
            self.fx.command(Command::Write {
                connection: id,
                data: chunk,
            });
            if n == left {
                if let Some(done) = open.sends.pop_front() {
                    let len = done.offset as u64;
                    self.fx
                        .complete(&done.actor, done.call, Ok(Reply::Sent(len)));
                }
                if let Tls::Upgrading { plain_sends, .. } = &mut open.tls {
                    *plain_sends = plain_sends.saturating_sub(1);
                }
            }
        }
        let deadline = (!open.sends.is_empty()).then(|| open.last_write_progress + send_timeout);
        self.fx.timers.set(TimerKey::Send(id), deadline);
        if open.write == WriteSide::ShutRequested && open.sends.is_empty() {
            open.write = WriteSide::Shut;
            self.fx.command(Command::ShutdownWrite { connection: id });
        }
    }

    fn try_start_tls(&mut self, now: Instant, id: ConnId) {
        let Some(Connection {
            state: ConnState::Open(open),
            ..
        }) = self.conns.get_mut(&id)
        else {
            return;
        };
        let Tls::Upgrading {
            actor,
            call,
            role,
            plain_sends,
            started,
        } = &mut open.tls
        else {
            return;
        };
        if *started || *plain_sends > 0 || open.read != ReadState::Idle {
            return;
        }
        if !open.rx.is_empty() {
            self.fx.probe("tls.upgrade_refused_after_cancel");
            // Plaintext arrived before the in-flight read could be cancelled: refuse, as if
            // it had been there at the call. The connection stays as it was.
            let (actor, call) = (actor.clone(), *call);
            open.tls = Tls::Plain;
            self.fx
                .complete(&actor, call, Err(Error::PlaintextBuffered));
            return;
        }
        if open.read_end.is_some() {
            let (actor, call) = (actor.clone(), *call);
            open.tls = Tls::Plain;
            self.fx
                .complete(&actor, call, Err(Error::Closed(id.to_string())));
            return;
        }
        *started = true;
        let role = role.clone();
        self.start_handshake(now, id, role);
    }

    fn wants_read(open: &Open) -> bool {
        if open.gone.is_some() || open.read_end.is_some() || open.read_shut {
            return false;
        }
        if matches!(open.tls, Tls::Upgrading { .. }) {
            return false;
        }
        match open.mode {
            // Passive reads only for a waiting `receive`: no read-ahead, so a STARTTLS
            // handshake starts exactly after the last byte the actor could have read.
            Mode::Passive => open.receive.is_some() && open.rx.is_empty(),
            Mode::Once => open.rx.is_empty(),
            Mode::Active | Mode::Credit(_) => true,
        }
    }

    fn update_reading(&mut self, id: ConnId) {
        let watermark = self.cfg().receive_watermark;
        let max_chunk = self.cfg().max_chunk;
        let Some(Connection {
            state: ConnState::Open(open),
            ..
        }) = self.conns.get_mut(&id)
        else {
            return;
        };
        let want = Self::wants_read(open) && open.rx.len() < watermark;
        match (open.read, want) {
            (ReadState::Idle, true) => {
                open.read = ReadState::InFlight;
                // Never more than the watermark buffered.
                let max = max_chunk.min(watermark - open.rx.len());
                self.fx.command(Command::Read {
                    connection: id,
                    max,
                });
            }
            (ReadState::InFlight, false) => {
                self.fx.probe("read.cancelled");
                open.read = ReadState::Cancelling;
                self.fx.command(Command::CancelRead { connection: id });
            }
            _ => {}
        }
    }

    /// Push delivery: one `on-data` at a time, in byte order; then the end of stream.
    fn deliver(&mut self, now: Instant, id: ConnId) {
        let max_chunk = self.cfg().max_chunk;
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let ConnState::Open(open) = &mut conn.state else {
            return;
        };
        if open.delivering.is_some() || !open.mode.pushes() {
            return;
        }
        let exports = self.actors.get(&conn.owner).copied().unwrap_or_default();
        if !open.rx.is_empty() {
            if !exports.on_data {
                return;
            }
            let data = open.rx.take(max_chunk);
            let mut to_passive = false;
            open.mode = match open.mode {
                Mode::Once => Mode::Passive,
                Mode::Credit(1) => {
                    to_passive = true;
                    Mode::Passive
                }
                Mode::Credit(n) => Mode::Credit(n - 1),
                other => other,
            };
            conn.chunks_delivered += 1;
            let cb = Callback::OnData {
                connection: id.to_string(),
                data,
            };
            open.delivering =
                Some(
                    self.fx
                        .callback(&conn.owner, id, conn.epoch, CallbackKind::OnData, cb),
                );
            if to_passive && exports.on_passive {
                let cb = Callback::OnPassive {
                    connection: id.to_string(),
                };
                self.fx
                    .callback(&conn.owner, id, conn.epoch, CallbackKind::Notify, cb);
            }
            return;
        }
        if open.close_notice != CloseNotice::None {
            return;
        }
        let Some((clean, reason)) = open.end() else {
            return;
        };
        if exports.on_close {
            open.close_notice = CloseNotice::Sent;
            let cb = Callback::OnClose {
                connection: id.to_string(),
                reason,
            };
            self.fx.callback(
                &conn.owner,
                id,
                conn.epoch,
                CallbackKind::OnClose { clean },
                cb,
            );
        } else if clean && self.settings.config().keep_open_on_peer_close {
            open.close_notice = CloseNotice::Done;
        } else {
            self.end_connection(now, id, Ending::Graceful, |id| {
                Error::Closed(id.to_string())
            });
        }
    }

    // ---------------------------------------------------------------- endings

    /// Ends a connection the actor could see (or was opening): its waiting calls fail with
    /// `err(id)`, the transport closes it (unless it is gone already), and it disappears.
    fn end_connection(
        &mut self,
        now: Instant,
        id: ConnId,
        ending: Ending,
        err: impl Fn(ConnId) -> Error,
    ) {
        let linger = Config::ms(self.cfg().linger_ms);
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let owner = conn.owner.clone();
        let mut transport_alive = true;
        let mut ending = ending;
        match &mut conn.state {
            ConnState::Resolving { call, .. } => {
                transport_alive = false;
                self.fx.complete(&owner, *call, Err(err(id)));
            }
            ConnState::Connecting { call, .. } => {
                ending = Ending::Abort;
                self.fx.complete(&owner, *call, Err(err(id)));
            }
            ConnState::Handshaking { origin } => {
                ending = Ending::Abort;
                if let HandshakeOrigin::Connect(call) = origin {
                    self.fx.complete(&owner, *call, Err(err(id)));
                }
            }
            ConnState::Pending { .. } => {}
            ConnState::Open(open) => {
                if let Some(r) = open.receive.take() {
                    self.fx.complete(&r.actor, r.call, Err(err(id)));
                }
                for s in open.sends.drain(..) {
                    self.fx.complete(&s.actor, s.call, Err(err(id)));
                }
                if let Tls::Upgrading {
                    actor,
                    call,
                    started,
                    ..
                } = &open.tls
                {
                    self.fx.complete(actor, *call, Err(err(id)));
                    if *started {
                        // No close_notify can be sent in the middle of a handshake.
                        ending = Ending::Abort;
                    }
                }
                transport_alive = open.gone.is_none();
            }
        }
        self.remove_conn(id);
        if !transport_alive {
            return;
        }
        match ending {
            Ending::Abort => self.fx.command(Command::Abort { connection: id }),
            Ending::Graceful => {
                self.fx.command(Command::Close { connection: id });
                self.closing.insert(id, ());
                self.fx.timers.set(TimerKey::Linger(id), Some(now + linger));
            }
        }
    }

    /// Forgets a connection: timers, listener queue, slot. Callbacks in flight for it are
    /// kept: their results are ignored when they come.
    fn remove_conn(&mut self, id: ConnId) {
        let Some(conn) = self.conns.remove(&id) else {
            return;
        };
        self.fx.timers.clear_connection(id);
        if let Some(listener) = conn.listener
            && let Some(Listener {
                state: ListenerState::Listening(l),
                ..
            }) = self.listeners.get_mut(&listener)
        {
            l.queue.retain(|c| *c != id);
            if matches!(conn.state, ConnState::Handshaking { .. }) {
                l.handshaking = l.handshaking.saturating_sub(1);
            }
        }
        self.update_all_accepting();
    }

    fn remove_listener(&mut self, now: Instant, id: ListenerId) {
        let Some(listener) = self.listeners.remove(&id) else {
            return;
        };
        match listener.state {
            ListenerState::Resolving { call } => {
                self.fx.complete(
                    &listener.owner,
                    call,
                    Err(Error::ListenerClosed(id.to_string())),
                );
            }
            ListenerState::Binding { call } => {
                self.fx.complete(
                    &listener.owner,
                    call,
                    Err(Error::ListenerClosed(id.to_string())),
                );
                self.fx.command(Command::CloseListener { listener: id });
            }
            ListenerState::Listening(l) => {
                self.fx.timers.set(TimerKey::AcceptBackoff(id), None);
                for (actor, call) in l.waiters {
                    self.fx
                        .complete(&actor, call, Err(Error::ListenerClosed(id.to_string())));
                }
                self.fx.command(Command::CloseListener { listener: id });
                let unclaimed: Vec<ConnId> = self
                    .conns
                    .iter()
                    .filter(|(_, c)| c.listener == Some(id))
                    .map(|(cid, _)| *cid)
                    .collect();
                for cid in unclaimed {
                    self.end_connection(now, cid, Ending::Graceful, |c| {
                        Error::Closed(c.to_string())
                    });
                }
            }
        }
    }

    // ---------------------------------------------------------------- accepting

    fn update_all_accepting(&mut self) {
        if self.cfg().max_connections.is_none() {
            return;
        }
        let ids: Vec<ListenerId> = self.listeners.keys().copied().collect();
        for id in ids {
            self.update_accepting(id);
        }
    }

    /// Accept while the queue has room, the connection limit allows, and no back-off runs.
    fn update_accepting(&mut self, id: ListenerId) {
        let backlog = self.cfg().backlog;
        let full = self.at_connection_limit();
        let next = ConnId(self.next_object);
        let Some(Listener {
            state: ListenerState::Listening(l),
            ..
        }) = self.listeners.get_mut(&id)
        else {
            return;
        };
        let want = !full && !l.backing_off && l.queue.len() + l.handshaking < backlog;
        match (l.accept, want) {
            (AcceptState::Idle, true) => {
                l.accept = AcceptState::InFlight(next);
                self.next_object += 1;
                self.fx.command(Command::Accept {
                    listener: id,
                    connection: next,
                });
            }
            (AcceptState::InFlight(c), false) => {
                l.accept = AcceptState::Cancelling(c);
                self.fx.command(Command::CancelAccept { listener: id });
            }
            _ => {}
        }
    }
}

impl Connection {
    fn take_tls(&mut self) -> Tls {
        self.pending_tls.take().map_or(Tls::Plain, Tls::Secure)
    }

    fn new(owner: ActorId, state: ConnState) -> Self {
        Connection {
            owner,
            epoch: 0,
            peer: None,
            local: None,
            listener: None,
            state,
            pending_tls: None,
            bytes_in: 0,
            bytes_out: 0,
            chunks_delivered: 0,
        }
    }
}

fn parse_mode(mode: &str) -> Result<Mode, Error> {
    let invalid = || Error::InvalidMode(mode.to_owned());
    match mode {
        "passive" => Ok(Mode::Passive),
        "active" => Ok(Mode::Active),
        "once" => Ok(Mode::Once),
        digits
            if !digits.is_empty()
                && digits.len() <= 5
                && digits.bytes().all(|b| b.is_ascii_digit()) =>
        {
            match digits.parse::<u32>() {
                Ok(n) if (1..=Mode::MAX_CREDIT).contains(&n) => Ok(Mode::Credit(n as u16)),
                _ => Err(invalid()),
            }
        }
        _ => Err(invalid()),
    }
}

fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "true" | "on" | "1" => Some(true),
        "false" | "off" | "0" => Some(false),
        _ => None,
    }
}
