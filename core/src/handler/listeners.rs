//! Listeners: listen, accept, close-listener, accepted connections handed out, and the accept
//! flow control (queue bound, connection limit, back-off).

use super::*;

impl Handler {
    pub(super) fn on_bound(&mut self, listener: ListenerId, local: SocketAddr) {
        let Some(l) = self.listeners.get_mut(&listener) else {
            return;
        };
        let ListenerState::Binding { call } = l.state else {
            return;
        };
        let listening = ListenerState::Listening(Listening {
            local,
            accept: AcceptState::Idle,
            backoff: None,
            backing_off: false,
            waiters: VecDeque::new(),
            queue: VecDeque::new(),
        });
        self.fx.set_listener(listener, &mut l.state, listening);
        let owner = l.owner.clone();
        self.fx
            .complete(&owner, call, Ok(Reply::Id(listener.to_string())));
        self.update_accepting(listener);
    }

    pub(super) fn on_bind_failed(&mut self, listener: ListenerId, error: String) {
        let Some(l) = self.listeners.get(&listener) else {
            return;
        };
        if let ListenerState::Binding { call } = l.state {
            let owner = l.owner.clone();
            self.fx.listener_closed(listener, &l.state);
            self.listeners.remove(&listener);
            self.fx.complete(&owner, call, Err(Error::Io(error)));
        }
    }

    pub(super) fn on_accept_failed(&mut self, now: Instant, listener: ListenerId) {
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

    pub(super) fn on_accept_cancelled(&mut self, listener: ListenerId) {
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

    pub(super) fn listen(
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
        self.listener_quota(actor)?;
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
        self.fx.listener_created(id, &state);
        self.listeners.insert(
            id,
            Listener {
                owner: actor.clone(),
                state,
            },
        );
        Ok(None)
    }

    pub(super) fn accept(
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
                handed_out(&mut self.fx, conn, &mut c.state);
            }
            self.update_accepting(id);
            return Ok(Some(Reply::Id(conn.to_string())));
        }
        l.waiters.push_back((actor.clone(), call));
        self.update_accepting(id);
        Ok(None)
    }

    pub(super) fn close_listener(
        &mut self,
        now: Instant,
        actor: &ActorId,
        text: &str,
    ) -> Result<Option<Reply>, Error> {
        let id = self.own_listener(actor, text)?;
        self.remove_listener(now, id);
        Ok(Some(Reply::Unit))
    }

    pub(super) fn on_accepted(
        &mut self,
        now: Instant,
        listener: ListenerId,
        id: ConnId,
        peer: SocketAddr,
        local: SocketAddr,
    ) {
        let over_limit = self.at_connection_limit() || self.owner_at_quota(listener);
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
            // Only reachable when a `connect` or a transfer took the last slot (the handler's or
            // the owner's) while this accept was in flight.
            self.fx.probe("accept.over_limit_refused");
            self.fx.command(Command::Abort { connection: id });
            self.update_accepting(listener);
            return;
        }
        let owner = owner.clone();
        let state = if tls {
            ConnState::Handshaking {
                origin: HandshakeOrigin::Accept(listener),
            }
        } else {
            ConnState::queued(listener)
        };
        if tls {
            self.make_room_for_a_handshake(now);
        }
        self.fx.connection_created(id, &state);
        let mut conn = Connection::new(owner, state);
        conn.peer = Some(peer);
        conn.local = Some(local);
        self.socket_defaults(id);
        self.insert_conn(id, conn);
        if tls {
            self.handshakes.start(id);
            self.start_handshake(now, id, TlsRole::Server);
        } else {
            self.hand_out(now, listener, id);
        }
        self.update_accepting(listener);
    }

    /// At `max_handshakes` accepted connections in their implicit handshake, the oldest is
    /// dropped (RST) so that a new peer can start its own: slow peers cannot hold the host.
    fn make_room_for_a_handshake(&mut self, now: Instant) {
        let max = self.cfg().max_handshakes;
        while self.handshakes.len() >= max {
            let Some(oldest) = self.handshakes.oldest() else {
                return;
            };
            self.fx.probe("accept.oldest_handshake_dropped");
            // `remove_conn` takes it out of `handshakes`; should it be gone already, forget it.
            if !self.conns.contains_key(&oldest) {
                self.handshakes.finish(oldest);
            }
            self.end_connection(now, oldest, Ending::Abort, |c| Error::Closed(c.to_string()));
        }
    }

    /// A freshly accepted (and, with implicit TLS, secured) connection goes to a waiting
    /// `accept`, else to `handle-connection`, else into the listener's queue.
    pub(super) fn hand_out(&mut self, now: Instant, listener: ListenerId, id: ConnId) {
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
            handed_out(&mut self.fx, id, &mut conn.state);
            self.fx
                .complete(&actor, call, Ok(Reply::Id(id.to_string())));
        } else if self.actors.get(owner).is_some_and(|e| e.handle_connection) {
            handed_out(&mut self.fx, id, &mut conn.state);
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
            // It stays queued (`Pending` with `queued_at`) until an `accept` takes it.
            l.queue.push_back(id);
        }
    }

    pub(super) fn remove_listener(&mut self, now: Instant, id: ListenerId) {
        let Some(listener) = self.listeners.remove(&id) else {
            return;
        };
        self.fx.listener_closed(id, &listener.state);
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
                    .filter(|(_, c)| c.state.listener() == Some(id))
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

    pub(super) fn update_all_accepting(&mut self) {
        if self.cfg().max_connections.is_none() && self.cfg().max_connections_per_actor.is_none() {
            return;
        }
        let ids: Vec<ListenerId> = self.listeners.keys().copied().collect();
        for id in ids {
            self.update_accepting(id);
        }
    }

    /// The listener's owner holds `max_connections_per_actor` connections.
    fn owner_at_quota(&self, listener: ListenerId) -> bool {
        self.listeners
            .get(&listener)
            .is_some_and(|l| self.connection_quota(&l.owner).is_err())
    }

    /// Accept while the queue has room, the connection limit allows, and no back-off runs.
    /// Handshakes in flight do not count against the queue bound (`max_handshakes` bounds
    /// them, by dropping the oldest), so slow handshakes never pause accepting.
    pub(super) fn update_accepting(&mut self, id: ListenerId) {
        let backlog = self.cfg().backlog;
        let full = self.at_connection_limit() || self.owner_at_quota(id);
        let next = ConnId(self.next_object);
        let Some(Listener {
            state: ListenerState::Listening(l),
            ..
        }) = self.listeners.get_mut(&id)
        else {
            return;
        };
        let want = !full && !l.backing_off && l.queue.len() < backlog;
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

/// Handed out (to a waiting `accept`, `handle-connection`, or `accept` from the queue):
/// `Queued => Pending`, keeping the TLS negotiated on accept.
fn handed_out(fx: &mut Effects, id: ConnId, state: &mut ConnState) {
    if let ConnState::Pending { tls, .. } = state {
        let tls = tls.take();
        fx.set_connection(
            id,
            state,
            ConnState::Pending {
                queued_at: None,
                tls,
            },
        );
    }
}
