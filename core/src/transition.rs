//! Transitions of the core's lifecycles as data, so that a recorded run reads as a story:
//! `conn-3 connection: pending => open`, `conn-3 mode: passive => once`,
//! `conn-3 read: open/reading => ended(eof)`.
//!
//! Each lifecycle of `SEMANTICS.md` (listener, connection, data mode, TLS layer, read side)
//! changes only through one `set_*` function of the handler, which records a [`Transition`]
//! when [`Handler::record_transitions`] is on. Recording is off by default: a transport that
//! does not drain [`Handler::poll_transition`] pays nothing for it.

#[cfg(doc)]
use crate::Handler;

use crate::ids::{ConnId, ListenerId};
use crate::io::StreamEnd;
use serde::{Deserialize, Serialize};
use std::fmt;

/// One change of state of one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Transition {
    /// A listener's lifecycle.
    Listener {
        /// The listener.
        listener: ListenerId,
        /// State before.
        from: ListenerPhase,
        /// State after.
        to: ListenerPhase,
    },
    /// A connection's lifecycle.
    Connection {
        /// The connection.
        connection: ConnId,
        /// State before.
        from: ConnectionPhase,
        /// State after.
        to: ConnectionPhase,
    },
    /// The data mode of an open connection.
    Mode {
        /// The connection.
        connection: ConnId,
        /// Mode before.
        from: DataMode,
        /// Mode after.
        to: DataMode,
    },
    /// The TLS layer of an open connection.
    Tls {
        /// The connection.
        connection: ConnId,
        /// State before.
        from: TlsPhase,
        /// State after.
        to: TlsPhase,
    },
    /// The read side of an open connection.
    Read {
        /// The connection.
        connection: ConnId,
        /// State before.
        from: ReadSide,
        /// State after.
        to: ReadSide,
    },
}

/// The states of a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ListenerPhase {
    /// `listen` with a host name: waiting for its addresses.
    Resolving,
    /// Bind requested.
    Binding,
    /// Accepting (or paused at a bound).
    Listening,
    /// Gone: closed, failed to bind, or its owner stopped.
    Closed,
}

/// The states of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConnectionPhase {
    /// `connect` with a host name: waiting for its addresses.
    Resolving,
    /// TCP connect in flight.
    Connecting,
    /// Implicit TLS right after connect or accept.
    Handshaking,
    /// Accepted, in its listener's queue: no actor has seen it yet.
    Queued,
    /// Handed to its owner, not yet activated or transferred.
    Pending,
    /// Activated or transferred: data flows.
    Open,
    /// Gone: closed, aborted, failed, or its owner stopped.
    Closed,
}

/// Data modes of an open connection. `Credit(n)` is Erlang's `{active, N}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DataMode {
    /// `receive` only.
    Passive,
    /// Every chunk pushed with `on-data`.
    Active,
    /// One chunk pushed, then passive.
    Once,
    /// `n` more chunks pushed, then passive.
    Credit(u16),
}

/// The TLS layer of an open connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TlsPhase {
    /// Plaintext.
    Plain,
    /// STARTTLS requested; sends queued before it still go out in plaintext.
    UpgradeRequested,
    /// STARTTLS handshake running.
    Handshaking,
    /// TLS established.
    Secure,
}

/// The transport's read request on an open read side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReadRequest {
    /// No read asked for.
    Idle,
    /// A `Read` command is out.
    InFlight,
    /// `CancelRead` sent; waiting for `ReadCancelled` or the read's outcome.
    Cancelling,
}

/// The read side of an open connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReadSide {
    /// Bytes may come; the transport's read request.
    Open(ReadRequest),
    /// The actor called `shutdown(read)`; a read still out may settle.
    Shut(ReadRequest),
    /// The peer ended its side (FIN, TLS truncation).
    Ended(StreamEnd),
    /// The transport's socket is gone (reset, error, timeout): the reason, as for `on-close`.
    Gone(String),
}

impl fmt::Display for Transition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Transition::Listener { listener, from, to } => {
                write!(f, "{listener} listener: {from} => {to}")
            }
            Transition::Connection {
                connection,
                from,
                to,
            } => write!(f, "{connection} connection: {from} => {to}"),
            Transition::Mode {
                connection,
                from,
                to,
            } => write!(f, "{connection} mode: {from} => {to}"),
            Transition::Tls {
                connection,
                from,
                to,
            } => write!(f, "{connection} tls: {from} => {to}"),
            Transition::Read {
                connection,
                from,
                to,
            } => write!(f, "{connection} read: {from} => {to}"),
        }
    }
}

impl fmt::Display for ListenerPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ListenerPhase::Resolving => "resolving",
            ListenerPhase::Binding => "binding",
            ListenerPhase::Listening => "listening",
            ListenerPhase::Closed => "closed",
        })
    }
}

impl fmt::Display for ConnectionPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConnectionPhase::Resolving => "resolving",
            ConnectionPhase::Connecting => "connecting",
            ConnectionPhase::Handshaking => "handshaking",
            ConnectionPhase::Queued => "queued",
            ConnectionPhase::Pending => "pending",
            ConnectionPhase::Open => "open",
            ConnectionPhase::Closed => "closed",
        })
    }
}

impl fmt::Display for DataMode {
    /// As `set-active` takes it: `passive`, `active`, `once` or the count.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataMode::Passive => f.write_str("passive"),
            DataMode::Active => f.write_str("active"),
            DataMode::Once => f.write_str("once"),
            DataMode::Credit(n) => write!(f, "{n}"),
        }
    }
}

impl fmt::Display for TlsPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsPhase::Plain => "plain",
            TlsPhase::UpgradeRequested => "upgrade-requested",
            TlsPhase::Handshaking => "handshaking",
            TlsPhase::Secure => "secure",
        })
    }
}

impl fmt::Display for ReadRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReadRequest::Idle => "idle",
            ReadRequest::InFlight => "reading",
            ReadRequest::Cancelling => "cancelling",
        })
    }
}

impl fmt::Display for ReadSide {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadSide::Open(r) => write!(f, "open/{r}"),
            ReadSide::Shut(r) => write!(f, "shut/{r}"),
            ReadSide::Ended(end) => write!(f, "ended({})", end.reason()),
            ReadSide::Gone(reason) => write!(f, "gone({reason})"),
        }
    }
}
