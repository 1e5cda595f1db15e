//! What the core asks a transport to do, and what the transport reports back.
//!
//! Contract for transports: commands for one connection are executed in order; every event
//! is reported through `handle_io`; a connection or listener id, once opened by `Connect`,
//! `Accept` or `Bind`, keeps its resources until the core sends `Release`, `Abort` or
//! `CloseListener` for it. Events about an id the core no longer knows are harmless: the core
//! answers them with `Abort` where the transport may hold a socket.

use crate::call::TlsInfo;
use crate::ids::{ConnId, ListenerId, ResolveId};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::time::Duration;

/// The side of a TLS handshake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TlsRole {
    /// Act as server with the configured certificate.
    Server,
    /// Act as client; `server_name` is used for SNI and verification.
    Client {
        /// A DNS name or an IP address, already validated.
        server_name: String,
    },
}

/// A socket option the core decided to set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SocketOption {
    /// TCP_NODELAY.
    NoDelay(bool),
    /// SO_KEEPALIVE with this idle time, or off.
    KeepAlive(Option<Duration>),
}

/// Work for the transport, drained with `poll_command`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Resolve `host` to addresses; answer with `IoEvent::Resolved`.
    Resolve {
        /// Echoed in the answer.
        id: ResolveId,
        /// A validated DNS name.
        host: String,
        /// The port to combine with each address.
        port: u16,
    },
    /// Bind and listen; answer `Bound` or `BindFailed`.
    Bind {
        /// The new listener.
        listener: ListenerId,
        /// Where.
        addr: SocketAddr,
    },
    /// Accept one connection and register it as `connection`; answer `Accepted`,
    /// `AcceptFailed`, or `AcceptCancelled` after a `CancelAccept`.
    Accept {
        /// The listener.
        listener: ListenerId,
        /// The id the accepted stream gets.
        connection: ConnId,
    },
    /// Stop the outstanding `Accept` if it has not completed; answer `AcceptCancelled`
    /// unless its `Accepted`/`AcceptFailed` was already sent.
    CancelAccept {
        /// The listener.
        listener: ListenerId,
    },
    /// Stop listening and drop the listener's socket (terminal for the listener).
    CloseListener {
        /// The listener.
        listener: ListenerId,
    },
    /// Open a TCP connection; answer `Connected` or `ConnectFailed`.
    Connect {
        /// The new connection.
        connection: ConnId,
        /// Where.
        addr: SocketAddr,
    },
    /// Run a TLS handshake on the stream, starting at the next byte; answer `TlsEstablished`
    /// or `TlsFailed`. Writes sent before this command go out in plaintext first.
    StartTls {
        /// The connection.
        connection: ConnId,
        /// Our side.
        role: TlsRole,
    },
    /// Read once, at most `max` bytes; answer `Received` or `ReadEnded` (or `ReadCancelled`).
    Read {
        /// The connection.
        connection: ConnId,
        /// Upper bound of bytes to return.
        max: usize,
    },
    /// Abandon the outstanding `Read` if it has not completed; answer `ReadCancelled` unless
    /// its outcome was already sent. No byte may be lost: a cancelled read consumed nothing.
    CancelRead {
        /// The connection.
        connection: ConnId,
    },
    /// Queue bytes for the peer; report progress with `Wrote` once they reached the socket,
    /// at the latest after the core asked with `ReportWrites` (a transport may report every
    /// write as it goes, or hold the reports back until asked: see `ReportWrites`).
    Write {
        /// The connection.
        connection: ConnId,
        /// The bytes, in order after every earlier `Write`.
        #[serde(with = "crate::bytes")]
        data: Vec<u8>,
    },
    /// Report with `Wrote` the bytes that reached the socket and were not reported yet (at
    /// once if some did; else as soon as some do), once. The core counts written bytes against
    /// the write buffer until they are reported, and asks when more than half of it is taken,
    /// so that a transport need not take the core's lock for every write that nobody waits on.
    ReportWrites {
        /// The connection.
        connection: ConnId,
    },
    /// After every queued write: TLS close_notify (if TLS), then FIN. Reading goes on.
    ShutdownWrite {
        /// The connection.
        connection: ConnId,
    },
    /// Set a socket option.
    SetOption {
        /// The connection.
        connection: ConnId,
        /// Which.
        option: SocketOption,
    },
    /// Graceful close: stop reading for the actor, flush queued writes, TLS close_notify,
    /// FIN, and report `Flushed`; then read and discard until the peer's EOF and report
    /// `Drained`. Not terminal: the core follows with `Release` (after `Drained`, or at the
    /// deadline: `send_timeout_ms` for the flush, then `linger_ms` for the drain).
    Close {
        /// The connection.
        connection: ConnId,
    },
    /// Drop the socket (terminal).
    Release {
        /// The connection.
        connection: ConnId,
    },
    /// Reset the connection (RST, SO_LINGER 0) and drop it (terminal).
    Abort {
        /// The connection.
        connection: ConnId,
    },
}

/// How the read side of a stream ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StreamEnd {
    /// FIN (after close_notify on TLS).
    Eof,
    /// FIN on TLS without close_notify.
    TlsTruncated,
    /// RST.
    Reset,
    /// A TLS alert or protocol error.
    TlsError(String),
    /// Any other I/O error.
    Error(String),
}

impl StreamEnd {
    /// The `on-close` reason string.
    pub fn reason(&self) -> String {
        match self {
            StreamEnd::Eof => "eof".into(),
            StreamEnd::TlsTruncated => "tls-truncated".into(),
            StreamEnd::Reset => "reset".into(),
            StreamEnd::TlsError(e) => format!("tls-error: {e}"),
            StreamEnd::Error(e) => format!("error: {e}"),
        }
    }
}

/// What a transport observed, fed in with `handle_io`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)] // each variant answers the command of the same name
pub enum IoEvent {
    Resolved {
        id: ResolveId,
        result: Result<Vec<SocketAddr>, String>,
    },
    Bound {
        listener: ListenerId,
        local: SocketAddr,
    },
    BindFailed {
        listener: ListenerId,
        error: String,
    },
    Accepted {
        listener: ListenerId,
        connection: ConnId,
        peer: SocketAddr,
        local: SocketAddr,
    },
    AcceptFailed {
        listener: ListenerId,
        error: String,
    },
    AcceptCancelled {
        listener: ListenerId,
    },
    Connected {
        connection: ConnId,
        peer: SocketAddr,
        local: SocketAddr,
    },
    ConnectFailed {
        connection: ConnId,
        error: String,
    },
    TlsEstablished {
        connection: ConnId,
        info: TlsInfo,
    },
    TlsFailed {
        connection: ConnId,
        error: String,
    },
    /// Bytes read (never empty: end of stream is `ReadEnded`).
    Received {
        connection: ConnId,
        #[serde(with = "crate::bytes")]
        data: Vec<u8>,
    },
    ReadEnded {
        connection: ConnId,
        end: StreamEnd,
    },
    ReadCancelled {
        connection: ConnId,
    },
    /// `bytes` more of the queued writes reached the socket.
    Wrote {
        connection: ConnId,
        bytes: usize,
    },
    /// Writing failed; nothing more will be written.
    WriteFailed {
        connection: ConnId,
        end: StreamEnd,
    },
    /// After `Close`: every write queued before it reached the socket (or writing failed, so
    /// nothing more will), and the write side is shut; the drain begins.
    Flushed {
        connection: ConnId,
    },
    /// After `Close`: the peer's EOF (or an error) was seen; the socket may be released.
    Drained {
        connection: ConnId,
    },
}
