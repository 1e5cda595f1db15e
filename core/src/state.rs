//! The lifecycles of listeners and connections: one enum each, data inside the variants.

use crate::buffer::RxBuffer;
use crate::call::TlsInfo;
use crate::ids::{ActorId, CallId, CallbackId, ConnId, ListenerId};
use crate::io::{StreamEnd, TlsRole};
use crate::time::Instant;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Debug)]
pub(crate) struct Listener {
    pub(crate) owner: ActorId,
    pub(crate) state: ListenerState,
}

#[derive(Debug)]
pub(crate) enum ListenerState {
    /// `listen` with a host name: waiting for its addresses.
    Resolving { call: CallId },
    /// Bind requested.
    Binding { call: CallId },
    /// Accepting (or paused at a bound).
    Listening(Listening),
}

#[derive(Debug)]
pub(crate) struct Listening {
    pub(crate) local: SocketAddr,
    pub(crate) accept: AcceptState,
    /// Current back-off step; `None` after a successful accept.
    pub(crate) backoff: Option<Duration>,
    /// A back-off timer is running: no accepts until it fires.
    pub(crate) backing_off: bool,
    /// `accept` calls waiting, oldest first.
    pub(crate) waiters: VecDeque<(ActorId, CallId)>,
    /// Accepted connections nobody took yet.
    pub(crate) queue: VecDeque<ConnId>,
    /// Accepted connections in their implicit TLS handshake.
    pub(crate) handshaking: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AcceptState {
    Idle,
    InFlight(ConnId),
    Cancelling(ConnId),
}

#[derive(Debug)]
pub(crate) struct Connection {
    pub(crate) owner: ActorId,
    /// Bumped at every change of owner, so late results of an old owner's callbacks are ignored.
    pub(crate) epoch: u64,
    pub(crate) peer: Option<SocketAddr>,
    pub(crate) local: Option<SocketAddr>,
    /// The listener that accepted it, while it is queued or handshaking there.
    pub(crate) listener: Option<ListenerId>,
    pub(crate) state: ConnState,
    /// TLS negotiated on accept, kept until the pending connection opens.
    pub(crate) pending_tls: Option<Box<TlsInfo>>,
    pub(crate) bytes_in: u64,
    pub(crate) bytes_out: u64,
    pub(crate) chunks_delivered: u64,
}

/// Why the pending TLS handshake runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HandshakeOrigin {
    Connect(CallId),
    Accept(ListenerId),
}

#[derive(Debug)]
pub(crate) enum ConnState {
    /// `connect` with a host name, waiting for its addresses.
    Resolving { call: CallId, server_name: String },
    /// TCP connect in flight; `remaining` are the other resolved addresses to try.
    Connecting {
        call: CallId,
        server_name: String,
        remaining: VecDeque<SocketAddr>,
    },
    /// Implicit TLS right after connect or accept.
    Handshaking { origin: HandshakeOrigin },
    /// Accepted; `queued` while it waits in its listener's queue (not yet seen by the actor).
    Pending { queued: bool },
    /// Activated or transferred: data flows.
    Open(Box<Open>),
}

/// Data modes. `Credit(n)` is Erlang's `{active, N}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Passive,
    Active,
    Once,
    Credit(u16),
}

impl Mode {
    pub(crate) const MAX_CREDIT: u32 = 32767;

    pub(crate) fn pushes(self) -> bool {
        self != Mode::Passive
    }

    pub(crate) fn name(self) -> String {
        match self {
            Mode::Passive => "passive".into(),
            Mode::Active => "active".into(),
            Mode::Once => "once".into(),
            Mode::Credit(n) => n.to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadState {
    Idle,
    InFlight,
    /// `CancelRead` sent; waiting for `ReadCancelled` or the read's outcome.
    Cancelling,
}

#[derive(Debug)]
pub(crate) enum Tls {
    Plain,
    /// STARTTLS requested by `call`. `plain_sends` queued sends still go out in plaintext;
    /// `started` once `StartTls` went to the transport.
    Upgrading {
        actor: ActorId,
        call: CallId,
        role: TlsRole,
        plain_sends: usize,
        started: bool,
    },
    Secure(Box<TlsInfo>),
}

#[derive(Debug)]
pub(crate) struct PendingSend {
    pub(crate) actor: ActorId,
    pub(crate) call: CallId,
    pub(crate) data: Vec<u8>,
    pub(crate) offset: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteSide {
    Open,
    /// `shutdown(write)` waits for queued sends.
    ShutRequested,
    Shut,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloseNotice {
    /// Not due yet.
    None,
    /// `on-close` in flight.
    Sent,
    /// `on-close` returned and the connection stays open (`keep_open_on_peer_close`).
    Done,
}

#[derive(Debug)]
pub(crate) struct Receive {
    pub(crate) actor: ActorId,
    pub(crate) call: CallId,
    pub(crate) max: usize,
}

#[derive(Debug)]
pub(crate) struct Open {
    pub(crate) mode: Mode,
    pub(crate) tls: Tls,
    pub(crate) rx: RxBuffer,
    pub(crate) read: ReadState,
    /// The peer ended its side (FIN, or worse).
    pub(crate) read_end: Option<StreamEnd>,
    /// The actor ended the read side with `shutdown(read)`.
    pub(crate) read_shut: bool,
    /// The transport's socket is gone (reset, error, timeout): the reason, as for `on-close`.
    pub(crate) gone: Option<String>,
    pub(crate) receive: Option<Receive>,
    pub(crate) sends: VecDeque<PendingSend>,
    /// Bytes given to the transport and not yet reported written.
    pub(crate) in_transport: usize,
    pub(crate) last_write_progress: Instant,
    pub(crate) write: WriteSide,
    /// The `on-data` callback in flight, whoever owns the connection now.
    pub(crate) delivering: Option<CallbackId>,
    pub(crate) close_notice: CloseNotice,
}

impl Open {
    pub(crate) fn new(now: Instant, tls: Tls) -> Self {
        Open {
            mode: Mode::Passive,
            tls,
            rx: RxBuffer::default(),
            read: ReadState::Idle,
            read_end: None,
            read_shut: false,
            gone: None,
            receive: None,
            sends: VecDeque::new(),
            in_transport: 0,
            last_write_progress: now,
            write: WriteSide::Open,
            delivering: None,
            close_notice: CloseNotice::None,
        }
    }

    /// The end an actor sees once the buffer is empty: `(clean, reason)`.
    pub(crate) fn end(&self) -> Option<(bool, String)> {
        if let Some(reason) = &self.gone {
            return Some((false, reason.clone()));
        }
        match &self.read_end {
            Some(StreamEnd::Eof) => Some((true, "eof".into())),
            Some(other) => Some((false, other.reason())),
            None if self.read_shut => Some((true, "eof".into())),
            None => None,
        }
    }

    pub(crate) fn tls_name(&self) -> &'static str {
        match self.tls {
            Tls::Plain => "plain",
            Tls::Upgrading { .. } => "handshaking",
            Tls::Secure(_) => "tls",
        }
    }
}

/// A callback in flight, and what its result decides.
#[derive(Debug)]
pub(crate) struct PendingCallback {
    pub(crate) actor: ActorId,
    pub(crate) connection: ConnId,
    /// The connection's epoch when the callback was made.
    pub(crate) epoch: u64,
    pub(crate) kind: CallbackKind,
}

#[derive(Debug)]
pub(crate) enum CallbackKind {
    HandleConnection,
    /// A transfer's callback; `caller` waits on it for a synchronous `transfer`.
    Transfer {
        caller: Option<(ActorId, CallId)>,
    },
    OnData,
    /// `on-close` after which the host closes the connection (`clean`: the peer's EOF).
    OnClose {
        clean: bool,
    },
    /// Informational: its result decides nothing.
    Notify,
}

/// A name resolution in flight.
#[derive(Debug, Clone)]
pub(crate) struct Resolution {
    pub(crate) target: ResolveTarget,
    pub(crate) host: String,
    /// An `allow` entry named the host itself.
    pub(crate) name_allowed: bool,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum ResolveTarget {
    Connect(ConnId),
    Listen(ListenerId),
}
