//! Opening connections: connect (resolution, policy, address fallback), implicit TLS on
//! connect and accept, and STARTTLS upgrades.

use super::*;

impl Handler {
    pub(super) fn on_connect_failed(&mut self, connection: ConnId, error: String) {
        let Some(conn) = self.conns.get_mut(&connection) else {
            return;
        };
        let ConnState::Connecting { remaining, .. } = &mut conn.state else {
            return;
        };
        // The next resolved address, else the `connect` call fails.
        match remaining.pop_front() {
            Some(addr) => self.fx.command(Command::Connect { connection, addr }),
            None => self.fail_opening(connection, Error::Io(error)),
        }
    }

    pub(super) fn connect(
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
        self.connection_quota(actor)?;
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
        self.fx.connection_created(id, &state);
        self.insert_conn(id, Connection::new(actor.clone(), state));
        let deadline = now + Config::ms(self.cfg().connect_timeout_ms);
        self.fx.timers.set(TimerKey::Connect(id), Some(deadline));
        self.update_all_accepting();
        Ok(None)
    }

    /// Checks the address as written. `Ok(true)` when an `allow` entry names the host itself.
    pub(super) fn check_policy(&self, target: &HostPort, written: &str) -> Result<bool, Error> {
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

    pub(super) fn resolve(
        &mut self,
        target: ResolveTarget,
        name: &str,
        port: u16,
        name_allowed: bool,
    ) {
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

    pub(super) fn on_resolved(&mut self, id: ResolveId, result: Result<Vec<SocketAddr>, String>) {
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
                            let connecting = ConnState::Connecting {
                                call: *call,
                                server_name: std::mem::take(server_name),
                                remaining,
                            };
                            self.fx.set_connection(conn, &mut c.state, connecting);
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
                        self.fx.set_listener(
                            listener,
                            &mut l.state,
                            ListenerState::Binding { call },
                        );
                        self.fx.command(Command::Bind { listener, addr });
                    }
                    Err(e) => {
                        let owner = l.owner.clone();
                        self.fx.listener_closed(listener, &l.state);
                        self.listeners.remove(&listener);
                        self.fx.complete(&owner, call, Err(e));
                    }
                }
            }
        }
    }

    pub(super) fn on_connected(
        &mut self,
        now: Instant,
        id: ConnId,
        peer: SocketAddr,
        local: SocketAddr,
    ) {
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
            let handshaking = ConnState::Handshaking {
                origin: HandshakeOrigin::Connect(call),
            };
            self.fx.set_connection(id, &mut conn.state, handshaking);
            self.socket_defaults(id);
            self.start_handshake(now, id, TlsRole::Client { server_name });
        } else {
            let open = ConnState::Open(Box::new(Open::new(now, Tls::Plain)));
            self.fx.set_connection(id, &mut conn.state, open);
            let owner = conn.owner.clone();
            self.socket_defaults(id);
            self.fx
                .complete(&owner, call, Ok(Reply::Id(id.to_string())));
        }
    }

    pub(super) fn socket_defaults(&mut self, id: ConnId) {
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

    pub(super) fn start_handshake(&mut self, now: Instant, id: ConnId, role: TlsRole) {
        let deadline = now + Config::ms(self.cfg().handshake_timeout_ms);
        self.fx.timers.set(TimerKey::Handshake(id), Some(deadline));
        self.fx.command(Command::StartTls {
            connection: id,
            role,
        });
    }

    pub(super) fn on_tls_established(
        &mut self,
        now: Instant,
        id: ConnId,
        info: crate::call::TlsInfo,
    ) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        self.fx.timers.set(TimerKey::Handshake(id), None);
        match &mut conn.state {
            ConnState::Handshaking {
                origin: HandshakeOrigin::Connect(call),
            } => {
                let call = *call;
                let open = ConnState::Open(Box::new(Open::new(now, Tls::Secure(Box::new(info)))));
                self.fx.set_connection(id, &mut conn.state, open);
                let owner = conn.owner.clone();
                self.fx
                    .complete(&owner, call, Ok(Reply::Id(id.to_string())));
            }
            ConnState::Handshaking {
                origin: HandshakeOrigin::Accept(listener),
            } => {
                let listener = *listener;
                // The secured connection is pending; it is opened with its TLS state on activate.
                let queued = ConnState::Pending {
                    queued_at: Some(listener),
                    tls: Some(Box::new(info)),
                };
                self.fx.set_connection(id, &mut conn.state, queued);
                self.handshakes.finish(id);
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
                    self.fx
                        .set_tls(id, &mut open.tls, Tls::Secure(Box::new(info)));
                    self.fx.complete(&actor, call, Ok(Reply::Unit));
                    self.settle(now, id);
                }
            }
            _ => {}
        }
    }

    pub(super) fn handshake_failed(&mut self, now: Instant, id: ConnId, error: Error) {
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
                // place among the handshakes in flight).
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
                // A failed upgrade leaves no dead entry behind: the connection is closed. A
                // failure the transport reported closes gracefully, so that the alert it wrote
                // reaches the peer before the FIN (an RST may make the peer's stack discard
                // it); a timeout cuts a handshake that is still running, which only RST ends.
                let ending = if error == Error::HandshakeTimedOut {
                    Ending::Abort
                } else {
                    Ending::Graceful
                };
                self.fx.set_tls(id, &mut open.tls, Tls::Plain);
                self.fx.complete(&actor, call, Err(error));
                self.end_connection(now, id, ending, |id| Error::Closed(id.to_string()));
            }
            _ => {}
        }
    }

    /// An outbound connection failed before the actor saw it: its `connect` call fails.
    pub(super) fn fail_opening(&mut self, id: ConnId, error: Error) {
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

    pub(super) fn upgrade(
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
        let id = self.own_conn(actor, text)?;
        let open = open_mut(&mut self.conns, id).ok_or_else(|| Error::Pending(text.to_owned()))?;
        open.fail_if_gone(text)?;
        if !matches!(open.tls, Tls::Plain) {
            return Err(Error::AlreadyTls(text.to_owned()));
        }
        if open.mode != DataMode::Passive {
            return Err(Error::UpgradeNeedsPassive(text.to_owned()));
        }
        if open.receive.is_some() {
            return Err(Error::ReceiveInProgress(text.to_owned()));
        }
        // STARTTLS injection guard (CVE-2011-0411 class).
        if !open.rx.is_empty() {
            return Err(Error::PlaintextBuffered);
        }
        if !open.read.is_open() || open.write != WriteSide::Open {
            return Err(Error::Closed(text.to_owned()));
        }
        let upgrading = Tls::Upgrading {
            actor: actor.clone(),
            call,
            role,
            plain_sends: open.sends.len(),
            started: false,
        };
        self.fx.set_tls(id, &mut open.tls, upgrading);
        self.settle(now, id);
        Ok(None)
    }

    pub(super) fn try_start_tls(&mut self, now: Instant, id: ConnId) {
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
        if *started || *plain_sends > 0 || open.read.request() != ReadRequest::Idle {
            return;
        }
        if !open.rx.is_empty() {
            self.fx.probe("tls.upgrade_refused_after_cancel");
            // Plaintext arrived before the in-flight read could be cancelled: refuse, as if
            // it had been there at the call. The connection stays as it was.
            let (actor, call) = (actor.clone(), *call);
            self.fx.set_tls(id, &mut open.tls, Tls::Plain);
            self.fx
                .complete(&actor, call, Err(Error::PlaintextBuffered));
            return;
        }
        if matches!(open.read, ReadSide::Ended(_)) {
            let (actor, call) = (actor.clone(), *call);
            self.fx.set_tls(id, &mut open.tls, Tls::Plain);
            self.fx
                .complete(&actor, call, Err(Error::Closed(id.to_string())));
            return;
        }
        let role = role.clone();
        let handshaking = Tls::Upgrading {
            actor: actor.clone(),
            call: *call,
            role: role.clone(),
            plain_sends: 0,
            started: true,
        };
        self.fx.set_tls(id, &mut open.tls, handshaking);
        self.start_handshake(now, id, role);
    }
}
