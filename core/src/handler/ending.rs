//! Endings: close and abort, a connection killed by its transport, and the one place a
//! connection is forgotten.

use super::*;

impl Handler {
    pub(super) fn on_write_failed(&mut self, now: Instant, connection: ConnId, end: StreamEnd) {
        if let Some(open) = open_mut(&mut self.conns, connection)
            && open.read.gone().is_none()
        {
            self.kill(now, connection, end.reason());
        }
    }

    /// The transport flushed a closed connection: what the actor sent is out, and its input
    /// drains for at most `linger_ms` from now (once: a repeated report moves nothing).
    pub(super) fn on_flushed(&mut self, now: Instant, connection: ConnId) {
        let linger = Config::ms(self.cfg().linger_ms);
        if let Some(phase) = self.closing.get_mut(&connection)
            && *phase == Closing::Flushing
        {
            *phase = Closing::Draining;
            self.fx
                .timers
                .set(TimerKey::Linger(connection), Some(now + linger));
        }
    }

    pub(super) fn on_drained(&mut self, connection: ConnId) {
        if self.closing.remove(&connection).is_some() {
            self.fx.timers.set(TimerKey::Linger(connection), None);
            self.fx.command(Command::Release { connection });
        }
    }

    pub(super) fn close(
        &mut self,
        now: Instant,
        actor: &ActorId,
        text: &str,
    ) -> Result<Option<Reply>, Error> {
        let id = self.own_conn(actor, text)?;
        self.end_connection(now, id, Ending::Graceful, |id| {
            Error::Closed(id.to_string())
        });
        Ok(Some(Reply::Unit))
    }

    pub(super) fn abort(
        &mut self,
        now: Instant,
        actor: &ActorId,
        text: &str,
    ) -> Result<Option<Reply>, Error> {
        let id = self.own_conn(actor, text)?;
        self.end_connection(now, id, Ending::Abort, |id| Error::Closed(id.to_string()));
        Ok(Some(Reply::Unit))
    }

    /// Sends `on-close` to the owner if it exports it; its result decides nothing.
    pub(super) fn notify_close(&mut self, id: ConnId, reason: String) {
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

    pub(super) fn send_timed_out(&mut self, now: Instant, id: ConnId) {
        let Some(Connection {
            state: ConnState::Open(open),
            ..
        }) = self.conns.get_mut(&id)
        else {
            return;
        };
        if open.sends.is_empty() || open.read.gone().is_some() {
            return;
        }
        // As Erlang's send_timeout_close: the bytes sent are unknown, so the connection dies.
        self.fx.probe("send.timeout");
        for s in open.sends.drain(..) {
            quotas::release(&mut self.buffered, &self.owned, &s.actor, s.left());
            self.fx.complete(&s.actor, s.call, Err(Error::SendTimedOut));
        }
        self.kill(now, id, "timeout".into());
    }

    /// The transport's side of the connection is dead: release the socket now; the actor
    /// still gets its buffered bytes, then the failure.
    pub(super) fn kill(&mut self, now: Instant, id: ConnId, reason: String) {
        let Some(Connection {
            state: ConnState::Open(open),
            ..
        }) = self.conns.get_mut(&id)
        else {
            return;
        };
        self.fx
            .set_read(id, &mut open.read, ReadSide::Gone(reason.clone()));
        open.in_transport = 0;
        for s in open.sends.drain(..) {
            quotas::release(&mut self.buffered, &self.owned, &s.actor, s.left());
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
            self.fx.set_tls(id, &mut open.tls, Tls::Plain);
        }
        self.fx.timers.set(TimerKey::Send(id), None);
        self.fx.timers.set(TimerKey::Handshake(id), None);
        self.fx.command(Command::Abort { connection: id });
        self.settle(now, id);
    }

    /// Ends a connection the actor could see (or was opening): its waiting calls fail with
    /// `err(id)`, the transport closes it (unless it is gone already), and it disappears.
    pub(super) fn end_connection(
        &mut self,
        now: Instant,
        id: ConnId,
        ending: Ending,
        err: impl Fn(ConnId) -> Error,
    ) {
        // The bytes the actor was told were sent still go out: a close gives them as long as
        // a stalled send would have had, and only then the linger (see `on_flushed`).
        let flush = Config::ms(self.cfg().send_timeout_ms);
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
                    quotas::release(&mut self.buffered, &self.owned, &s.actor, s.left());
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
                transport_alive = open.read.gone().is_none();
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
                self.closing.insert(id, Closing::Flushing);
                self.fx.timers.set(TimerKey::Linger(id), Some(now + flush));
            }
        }
    }

    /// Forgets a connection: timers, listener queue, slot. Callbacks in flight for it are
    /// kept: their results are ignored when they come.
    pub(super) fn remove_conn(&mut self, id: ConnId) {
        let Some(conn) = self.conns.remove(&id) else {
            return;
        };
        quotas::disown(&mut self.owned, &mut self.buffered, &conn.owner);
        if let ConnState::Open(open) = &conn.state {
            quotas::release(&mut self.buffered, &self.owned, &conn.owner, open.rx.len());
            for s in &open.sends {
                quotas::release(&mut self.buffered, &self.owned, &s.actor, s.left());
            }
        }
        self.fx.timers.clear_connection(id);
        self.fx.connection_closed(id, &conn.state);
        self.handshakes.finish(id);
        if let Some(listener) = conn.state.listener()
            && let Some(Listener {
                state: ListenerState::Listening(l),
                ..
            }) = self.listeners.get_mut(&listener)
        {
            l.queue.retain(|c| *c != id);
            // A place in the queue came free (a queued connection timed out or was closed):
            // accepting resumes without waiting for the next `accept` call.
            self.update_accepting(listener);
        }
        self.update_all_accepting();
    }
}
