//! The one place each lifecycle changes. Every `set_*` function replaces a state, names the
//! rule of `SEMANTICS.md` behind the change in one `match (from, to)`, and records the change
//! as a [`Transition`] (`from => to`) while recording is on. A change no arm lists is counted
//! as the probe `transition.unlisted`, which no test and no simulation run may reach.

use super::*;
use crate::transition::{ConnectionPhase as C, ListenerPhase as L, TlsPhase as T};

/// The probe counted for a transition that no rule names.
pub(crate) const UNLISTED: &str = "transition.unlisted";

impl Effects {
    #[inline]
    fn record(&mut self, transition: impl FnOnce() -> Transition) {
        if self.recording {
            self.transitions.push_back(transition());
        }
    }

    // ------------------------------------------------------------------------ listeners

    /// A new listener, in its first state.
    #[inline]
    pub(super) fn listener_created(&mut self, id: ListenerId, state: &ListenerState) {
        self.listener_changed(id, L::Closed, state.phase());
    }

    /// Moves a listener to `to`; returns the state it leaves.
    #[inline]
    pub(super) fn set_listener(
        &mut self,
        id: ListenerId,
        state: &mut ListenerState,
        to: ListenerState,
    ) -> ListenerState {
        let from = std::mem::replace(state, to);
        self.listener_changed(id, from.phase(), state.phase());
        from
    }

    /// A listener forgotten.
    #[inline]
    pub(super) fn listener_closed(&mut self, id: ListenerId, state: &ListenerState) {
        self.listener_changed(id, state.phase(), L::Closed);
    }

    #[inline]
    fn listener_changed(&mut self, listener: ListenerId, from: L, to: L) {
        match (from, to) {
            // listen(ip): bind at once.
            (L::Closed, L::Binding) => {}
            // listen(name): resolve first.
            (L::Closed, L::Resolving) => {}
            // listen(name): every resolved address passed the policy; bind the first.
            (L::Resolving, L::Binding) => {}
            // listen: bound; the listener is registered (FIX) and accepting.
            (L::Binding, L::Listening) => {}
            // close-listener, the owner's stop, or a failed resolution or bind.
            (L::Resolving | L::Binding | L::Listening, L::Closed) => {}
            _ => self.probe(UNLISTED),
        }
        if from != to {
            self.record(|| Transition::Listener { listener, from, to });
        }
    }

    // ------------------------------------------------------------------------ connections

    /// A new connection, in its first state.
    #[inline]
    pub(super) fn connection_created(&mut self, id: ConnId, state: &ConnState) {
        self.connection_changed(id, C::Closed, state.phase());
    }

    /// Moves a connection to `to`; returns the state it leaves (with its data).
    #[inline]
    pub(super) fn set_connection(
        &mut self,
        id: ConnId,
        state: &mut ConnState,
        to: ConnState,
    ) -> ConnState {
        let from = std::mem::replace(state, to);
        self.connection_changed(id, from.phase(), state.phase());
        from
    }

    /// A connection forgotten.
    #[inline]
    pub(super) fn connection_closed(&mut self, id: ConnId, state: &ConnState) {
        self.connection_changed(id, state.phase(), C::Closed);
    }

    #[inline]
    fn connection_changed(&mut self, connection: ConnId, from: C, to: C) {
        match (from, to) {
            // connect(name): resolve first.
            (C::Closed, C::Resolving) => {}
            // connect(ip): connect at once.
            (C::Closed, C::Connecting) => {}
            // accepted with implicit server TLS: handshake before anyone sees it.
            (C::Closed, C::Handshaking) => {}
            // accepted: into the listener's queue until handed out.
            (C::Closed, C::Queued) => {}
            // connect(name): every resolved address passed the policy; try the first.
            (C::Resolving, C::Connecting) => {}
            // connect with client TLS and auto_handshake: implicit TLS.
            (C::Connecting, C::Handshaking) => {}
            // connect: connected, `Active` and passive.
            (C::Connecting, C::Open) => {}
            // connect with implicit TLS: secured, `Active` and passive.
            (C::Handshaking, C::Open) => {}
            // accept with implicit TLS: secured; handed out like a plain accepted connection.
            (C::Handshaking, C::Queued) => {}
            // handed out: to a waiting `accept`, else `handle-connection`.
            (C::Queued, C::Pending) => {}
            // activate, or transfer of a pending connection.
            (C::Pending, C::Open) => {}
            // close, abort, failure, timeout, the owner's stop, its listener's close.
            (
                C::Resolving | C::Connecting | C::Handshaking | C::Queued | C::Pending | C::Open,
                C::Closed,
            ) => {}
            _ => self.probe(UNLISTED),
        }
        if from != to {
            self.record(|| Transition::Connection {
                connection,
                from,
                to,
            });
        }
    }

    // ------------------------------------------------------------------------ open connections

    /// Changes the data mode. Any mode may follow any other, at any time (FIX, `set-active`);
    /// besides, `once` turns passive as its chunk is handed over, a credit count goes down by
    /// one per chunk and turns passive at zero, and a transfer makes the mode passive.
    #[inline]
    pub(super) fn set_mode(&mut self, connection: ConnId, mode: &mut DataMode, to: DataMode) {
        let from = std::mem::replace(mode, to);
        if from != to {
            self.record(|| Transition::Mode {
                connection,
                from,
                to,
            });
        }
    }

    /// Moves the TLS layer to `to`; returns the state it leaves.
    #[inline]
    pub(super) fn set_tls(&mut self, connection: ConnId, tls: &mut Tls, to: Tls) -> Tls {
        let from = std::mem::replace(tls, to);
        let (from_phase, to_phase) = (from.phase(), tls.phase());
        match (from_phase, to_phase) {
            // upgrade-to-tls-*: accepted; queued plaintext sends and the read settle first.
            (T::Plain, T::UpgradeRequested) => {}
            // the last plaintext send is out and no read is pending: StartTls.
            (T::UpgradeRequested, T::Handshaking) => {}
            // the handshake completed: every later byte is TLS.
            (T::Handshaking, T::Secure) => {}
            // plaintext beat the read's cancel, or the stream ended: the upgrade is refused
            // and the connection stays as it was (STARTTLS injection guard).
            (T::UpgradeRequested, T::Plain) => {}
            // the handshake failed (the connection then closes), or the socket died.
            (T::Handshaking, T::Plain) => {}
            _ => self.probe(UNLISTED),
        }
        if from_phase != to_phase {
            self.record(|| Transition::Tls {
                connection,
                from: from_phase,
                to: to_phase,
            });
        }
        from
    }

    /// Moves the read side to `to`.
    #[inline]
    pub(super) fn set_read(&mut self, connection: ConnId, read: &mut ReadSide, to: ReadSide) {
        use ReadRequest::{Cancelling, Idle, InFlight};
        match (&*read, &to) {
            // the actor wants bytes (a waiting receive, or a push mode below the watermark).
            (ReadSide::Open(Idle), ReadSide::Open(InFlight)) => {}
            // no longer wanted (mode switch, watermark, upgrade, shutdown(read)): cancel.
            (ReadSide::Open(InFlight), ReadSide::Open(Cancelling))
            | (ReadSide::Shut(InFlight), ReadSide::Shut(Cancelling)) => {}
            // the read returned bytes, or its cancel was confirmed.
            (ReadSide::Open(InFlight | Cancelling), ReadSide::Open(Idle))
            | (ReadSide::Shut(InFlight | Cancelling), ReadSide::Shut(Idle)) => {}
            // shutdown(read): the actor ends its read side; a read out still settles.
            (ReadSide::Open(a), ReadSide::Shut(b)) if a == b => {}
            // the peer's FIN (or TLS truncation): buffered bytes first, then the end.
            (ReadSide::Open(_) | ReadSide::Shut(_), ReadSide::Ended(_)) => {}
            // reset, error, send timeout: the socket is gone; buffered bytes, then the failure.
            (ReadSide::Open(_) | ReadSide::Shut(_) | ReadSide::Ended(_), ReadSide::Gone(_)) => {}
            (from, to) if from == to => return,
            _ => self.probe(UNLISTED),
        }
        let from = std::mem::replace(read, to);
        self.record(|| Transition::Read {
            connection,
            from,
            to: read.clone(),
        });
    }
}
