//! The lifecycles of listeners and connections: one enum each, data inside the variants.
//! They change only through the `set_*` functions of `handler/transitions.rs`.

use crate::buffer::RxBuffer;
use crate::call::TlsInfo;
use crate::error::Error;
use crate::ids::{ActorId, CallId, CallbackId, ConnId, ListenerId};
use crate::io::{StreamEnd, TlsRole};
use crate::time::Instant;
use crate::transition::{
    ConnectionPhase, DataMode, ListenerPhase, ReadRequest, ReadSide, TlsPhase,
};
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Debug)]
pub(crate) struct Listener {
    pub(crate) owner: ActorId,
    pub(crate) state: ListenerState,
}

impl ListenerState {
    #[inline]
    pub(crate) fn phase(&self) -> ListenerPhase {
        match self {
            ListenerState::Resolving { .. } => ListenerPhase::Resolving,
            ListenerState::Binding { .. } => ListenerPhase::Binding,
            ListenerState::Listening(_) => ListenerPhase::Listening,
        }
    }
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
    /// Accepted connections nobody took yet (what `backlog` bounds; handshakes are not here).
    pub(crate) queue: VecDeque<ConnId>,
}

/// Accepted connections in their implicit TLS handshake, on every listener, oldest first:
/// what `max_handshakes` bounds. They do not count against a listener's queue bound, so slow
/// handshakes cannot pause accepting; beyond the bound the oldest one is dropped.
#[derive(Debug, Default)]
pub(crate) struct Handshakes {
    oldest_first: BTreeMap<u64, ConnId>,
    started: BTreeMap<ConnId, u64>,
    next: u64,
}

impl Handshakes {
    /// `id` starts its handshake now.
    pub(crate) fn start(&mut self, id: ConnId) {
        let at = self.next;
        self.next += 1;
        if let Some(old) = self.started.insert(id, at) {
            self.oldest_first.remove(&old);
        }
        self.oldest_first.insert(at, id);
    }

    /// `id`'s handshake ended (secured, failed, timed out, dropped); `false` if it had none.
    pub(crate) fn finish(&mut self, id: ConnId) -> bool {
        match self.started.remove(&id) {
            Some(at) => {
                self.oldest_first.remove(&at);
                true
            }
            None => false,
        }
    }

    /// The handshake in flight for the longest time.
    pub(crate) fn oldest(&self) -> Option<ConnId> {
        self.oldest_first.values().next().copied()
    }

    /// How many are in flight.
    pub(crate) fn len(&self) -> usize {
        self.started.len()
    }
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
    pub(crate) state: ConnState,
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
    /// Accepted. `queued_at`: the listener whose queue holds it, while no actor has seen it;
    /// `tls`: negotiated on accept, kept until the connection opens.
    Pending {
        queued_at: Option<ListenerId>,
        tls: Option<Box<TlsInfo>>,
    },
    /// Activated or transferred: data flows.
    Open(Box<Open>),
}

impl ConnState {
    /// Accepted and handed to nobody yet, in `listener`'s queue.
    pub(crate) fn queued(listener: ListenerId) -> ConnState {
        ConnState::Pending {
            queued_at: Some(listener),
            tls: None,
        }
    }

    /// The listener that accepted it, while it is queued or handshaking there.
    #[inline]
    pub(crate) fn listener(&self) -> Option<ListenerId> {
        match self {
            ConnState::Handshaking {
                origin: HandshakeOrigin::Accept(l),
            }
            | ConnState::Pending {
                queued_at: Some(l), ..
            } => Some(*l),
            _ => None,
        }
    }

    /// Whether its owner can see it (and call on it).
    #[inline]
    pub(crate) fn visible(&self) -> bool {
        matches!(
            self,
            ConnState::Pending {
                queued_at: None,
                ..
            } | ConnState::Open(_)
        )
    }

    #[inline]
    pub(crate) fn phase(&self) -> ConnectionPhase {
        match self {
            ConnState::Resolving { .. } => ConnectionPhase::Resolving,
            ConnState::Connecting { .. } => ConnectionPhase::Connecting,
            ConnState::Handshaking { .. } => ConnectionPhase::Handshaking,
            ConnState::Pending {
                queued_at: Some(_), ..
            } => ConnectionPhase::Queued,
            ConnState::Pending { .. } => ConnectionPhase::Pending,
            ConnState::Open(_) => ConnectionPhase::Open,
        }
    }
}

impl DataMode {
    pub(crate) const MAX_CREDIT: u32 = 32767;

    #[inline]
    pub(crate) fn pushes(self) -> bool {
        self != DataMode::Passive
    }
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

impl Tls {
    #[inline]
    pub(crate) fn phase(&self) -> TlsPhase {
        match self {
            Tls::Plain => TlsPhase::Plain,
            Tls::Upgrading { started: false, .. } => TlsPhase::UpgradeRequested,
            Tls::Upgrading { started: true, .. } => TlsPhase::Handshaking,
            Tls::Secure(_) => TlsPhase::Secure,
        }
    }
}

/// How the stream ends for the actor once the buffer is empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EndOfStream {
    /// The peer's FIN (or the actor's own `shutdown(read)`): `receive` returns an empty list,
    /// `on-close(eof)`.
    Clean,
    /// Anything else: the `on-close` reason, and the error of a `receive`.
    Failed(String),
}

impl EndOfStream {
    pub(crate) fn reason(&self) -> String {
        match self {
            EndOfStream::Clean => "eof".into(),
            EndOfStream::Failed(reason) => reason.clone(),
        }
    }
}

impl ReadSide {
    /// The transport's read request (none once the side ended).
    #[inline]
    pub(crate) fn request(&self) -> ReadRequest {
        match self {
            ReadSide::Open(r) | ReadSide::Shut(r) => *r,
            ReadSide::Ended(_) | ReadSide::Gone(_) => ReadRequest::Idle,
        }
    }

    /// The same side with another read request (an ended side has none).
    #[inline]
    pub(crate) fn with_request(&self, request: ReadRequest) -> ReadSide {
        match self {
            ReadSide::Open(_) => ReadSide::Open(request),
            ReadSide::Shut(_) => ReadSide::Shut(request),
            other => other.clone(),
        }
    }

    /// Whether bytes may still come for the actor.
    #[inline]
    pub(crate) fn is_open(&self) -> bool {
        matches!(self, ReadSide::Open(_))
    }

    /// The socket's failure, once it is gone.
    #[inline]
    pub(crate) fn gone(&self) -> Option<&str> {
        match self {
            ReadSide::Gone(reason) => Some(reason),
            _ => None,
        }
    }

    /// The end an actor sees once the buffer is empty.
    #[inline]
    pub(crate) fn end(&self) -> Option<EndOfStream> {
        match self {
            ReadSide::Open(_) => None,
            ReadSide::Shut(_) | ReadSide::Ended(StreamEnd::Eof) => Some(EndOfStream::Clean),
            ReadSide::Ended(other) => Some(EndOfStream::Failed(other.reason())),
            ReadSide::Gone(reason) => Some(EndOfStream::Failed(reason.clone())),
        }
    }
}

#[derive(Debug)]
pub(crate) struct PendingSend {
    pub(crate) actor: ActorId,
    pub(crate) call: CallId,
    pub(crate) data: Vec<u8>,
    pub(crate) offset: usize,
}

impl PendingSend {
    /// Bytes not yet handed to the transport (a send handed over whole has its data taken).
    pub(crate) fn left(&self) -> usize {
        self.data.len().saturating_sub(self.offset)
    }
}

/// A gracefully closed connection the transport still holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Closing {
    /// Writing out what the actor sent, then TLS close_notify and FIN (until `Flushed`).
    Flushing,
    /// Reading and discarding input until the peer's end (until `Drained`).
    Draining,
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
    pub(crate) mode: DataMode,
    pub(crate) tls: Tls,
    pub(crate) rx: RxBuffer,
    pub(crate) read: ReadSide,
    pub(crate) receive: Option<Receive>,
    pub(crate) sends: VecDeque<PendingSend>,
    /// Bytes given to the transport and not yet reported written.
    pub(crate) in_transport: usize,
    /// `ReportWrites` went out and no `Wrote` came since.
    pub(crate) writes_asked: bool,
    pub(crate) last_write_progress: Instant,
    pub(crate) write: WriteSide,
    /// The `on-data` callback in flight, whoever owns the connection now.
    pub(crate) delivering: Option<CallbackId>,
    pub(crate) close_notice: CloseNotice,
}

impl Open {
    pub(crate) fn new(now: Instant, tls: Tls) -> Self {
        Open {
            mode: DataMode::Passive,
            tls,
            rx: RxBuffer::default(),
            read: ReadSide::Open(ReadRequest::Idle),
            receive: None,
            sends: VecDeque::new(),
            in_transport: 0,
            writes_asked: false,
            last_write_progress: now,
            write: WriteSide::Open,
            delivering: None,
            close_notice: CloseNotice::None,
        }
    }

    /// The end an actor sees once the buffer is empty.
    #[inline]
    pub(crate) fn end(&self) -> Option<EndOfStream> {
        self.read.end()
    }

    /// The rule "a call on a connection whose socket is gone fails with the reason".
    #[inline]
    pub(crate) fn fail_if_gone(&self, id: &str) -> Result<(), Error> {
        match self.read.gone() {
            Some(reason) => Err(Error::ConnectionFailed {
                id: id.to_owned(),
                reason: reason.to_owned(),
            }),
            None => Ok(()),
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
