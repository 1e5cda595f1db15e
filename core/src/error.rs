//! The errors actors see. Their `Display` strings are the contract of `SEMANTICS.md`:
//! adapters hand them to actors verbatim as `result<_, string>`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a call failed. Every variant renders to the exact string an actor receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Error {
    /// The id is neither `conn-{n}` nor `listener-{n}`.
    InvalidId(String),
    /// Well-formed id, no such connection (never existed, or already closed).
    ConnectionNotFound(String),
    /// Well-formed id, no such listener.
    ListenerNotFound(String),
    /// The connection belongs to another actor.
    ConnectionNotOwned(String),
    /// The listener belongs to another actor.
    ListenerNotOwned(String),
    /// The calling actor is not running (never started, or already stopped).
    ActorNotRunning(String),
    /// `transfer` to an actor that is not running.
    ActorNotFound(String),
    /// The target of a synchronous transfer stopped before its callback returned.
    ActorStopped(String),
    /// `transfer` to the connection's current owner.
    TransferToSelf,
    /// The connection moved to another actor while this call waited on it.
    Transferred(String),
    /// An address that does not parse as `host:port`.
    InvalidAddress {
        /// The address as given.
        address: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The address policy refused the address (or one of its resolved addresses).
    AddressNotAllowed(String),
    /// `max_connections` reached.
    ConnectionLimit {
        /// Connections open now.
        open: usize,
        /// The configured maximum.
        max: usize,
    },
    /// A per-actor quota (`max_connections_per_actor`, `max_listeners_per_actor`) reached.
    QuotaExceeded {
        /// The quota's config key.
        name: String,
        /// What the actor holds now.
        n: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The connect did not complete within `connect_timeout_ms`.
    ConnectTimedOut,
    /// An operating-system error, as text (connect refused, bind in use, resolution failure...).
    Io(String),
    /// The listener was closed while `accept` waited.
    ListenerClosed(String),
    /// `activate` on an active connection.
    AlreadyActive(String),
    /// `set-active` with an unknown mode.
    InvalidMode(String),
    /// A credit count that would exceed 32767.
    CreditOverflow(u32),
    /// `set-active` on a pending connection.
    NotActivated(String),
    /// Data calls on a pending connection.
    Pending(String),
    /// An active data mode needs an `on-data` export.
    OnDataNotExported(String),
    /// `receive` with `max-bytes = 0`.
    MaxBytesZero,
    /// `receive` outside passive mode.
    ActiveMode(String),
    /// A second `receive` while one is waiting.
    ReceiveInProgress(String),
    /// `receive-timeout` expired with no data.
    ReceiveTimedOut,
    /// `send` larger than `max_send_bytes`.
    SendTooLarge {
        /// Bytes in the call.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// A send made no progress for `send_timeout_ms`; the connection was closed.
    SendTimedOut,
    /// `send` after `shutdown(write)`.
    WriteShut(String),
    /// The connection was closed (by its owner, or by the host) while the call waited.
    Closed(String),
    /// The connection died (reset, error, timeout) and awaits its owner's `close`.
    ConnectionFailed {
        /// The connection.
        id: String,
        /// The `on-close` style reason.
        reason: String,
    },
    /// STARTTLS injection guard: unread plaintext is buffered.
    PlaintextBuffered,
    /// `upgrade-to-tls-server` without server certificates.
    ServerTlsNotConfigured,
    /// `upgrade-to-tls-client` with client TLS disabled.
    ClientTlsNotConfigured,
    /// A server name that is neither a DNS name nor an IP address.
    InvalidServerName(String),
    /// An upgrade on a connection that already speaks TLS (or is handshaking).
    AlreadyTls(String),
    /// An upgrade outside passive mode.
    UpgradeNeedsPassive(String),
    /// `tls-info` on a plaintext connection.
    NotTls(String),
    /// The TLS handshake failed; the connection was closed.
    TlsFailed(String),
    /// The TLS handshake did not complete within `handshake_timeout_ms`.
    HandshakeTimedOut,
    /// The target's `handle-connection-transfer` (or `handle-connection`) failed.
    TransferCallbackFailed(String),
    /// `shutdown` with an unknown direction.
    InvalidShutdown(String),
    /// `set-option` with an unknown option name.
    UnknownOption(String),
    /// `set-option` with a value that does not fit the option.
    InvalidOptionValue {
        /// The option.
        name: String,
        /// The rejected value.
        value: String,
    },
    /// `transfer` while a STARTTLS upgrade of the connection is in progress.
    Upgrading(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Error::*;
        match self {
            InvalidId(id) => write!(f, "Invalid id: {id}"),
            ConnectionNotFound(id) => write!(f, "Connection not found: {id}"),
            ListenerNotFound(id) => write!(f, "Listener not found: {id}"),
            ConnectionNotOwned(id) => write!(f, "Connection {id} not owned by this actor"),
            ListenerNotOwned(id) => write!(f, "Listener {id} not owned by this actor"),
            ActorNotRunning(a) => write!(f, "Actor {a} is not running"),
            ActorNotFound(a) => write!(f, "Actor {a} not found"),
            ActorStopped(a) => write!(f, "Actor {a} stopped"),
            TransferToSelf => write!(f, "cannot transfer a connection to its own owner"),
            Transferred(id) => write!(f, "Connection {id} was transferred to another actor"),
            InvalidAddress { address, reason } => write!(f, "Invalid address {address}: {reason}"),
            AddressNotAllowed(a) => write!(f, "address not allowed: {a}"),
            ConnectionLimit { open, max } => write!(f, "Connection limit reached ({open}/{max})"),
            QuotaExceeded { name, n, max } => write!(f, "quota exceeded: {name} ({n}/{max})"),
            ConnectTimedOut => write!(f, "connect timed out"),
            Io(text) => f.write_str(text),
            ListenerClosed(id) => write!(f, "Listener {id} closed"),
            AlreadyActive(id) => write!(f, "Connection {id} is already active"),
            InvalidMode(m) => write!(
                f,
                "Invalid mode '{m}': expected 'passive', 'active', 'once' or a count"
            ),
            CreditOverflow(n) => write!(f, "Active count {n} exceeds 32767"),
            NotActivated(id) => {
                write!(
                    f,
                    "Connection {id} must be activated before setting data mode"
                )
            }
            Pending(id) => write!(
                f,
                "Connection {id} is pending - call activate() or transfer() first"
            ),
            OnDataNotExported(a) => {
                write!(
                    f,
                    "Actor {a} does not export on-data, so only passive mode is possible"
                )
            }
            MaxBytesZero => write!(f, "max-bytes must be at least 1"),
            ActiveMode(id) => write!(
                f,
                "Connection {id} is in active mode - data is pushed via on-data callback"
            ),
            ReceiveInProgress(id) => write!(f, "Connection {id} already has a receive in progress"),
            ReceiveTimedOut => write!(f, "receive timed out"),
            SendTooLarge { len, max } => {
                write!(
                    f,
                    "Data too large: {len} bytes exceeds max_send_bytes ({max})"
                )
            }
            SendTimedOut => write!(f, "send timed out"),
            WriteShut(id) => write!(f, "Connection {id} write side is shut down"),
            Closed(id) => write!(f, "Connection {id} is closed"),
            ConnectionFailed { id, reason } => write!(f, "Connection {id} closed: {reason}"),
            PlaintextBuffered => write!(f, "plaintext buffered before TLS upgrade"),
            ServerTlsNotConfigured => write!(f, "server_tls not configured on this handler"),
            ClientTlsNotConfigured => write!(f, "client_tls not configured on this handler"),
            InvalidServerName(n) => write!(f, "Invalid server name {n}"),
            AlreadyTls(id) => write!(f, "Connection {id} is already using TLS"),
            UpgradeNeedsPassive(id) => {
                write!(
                    f,
                    "Connection {id} must be in passive mode to upgrade to TLS"
                )
            }
            NotTls(id) => write!(f, "Connection {id} is not using TLS"),
            TlsFailed(e) => write!(f, "TLS handshake failed: {e}"),
            HandshakeTimedOut => write!(f, "TLS handshake timed out"),
            TransferCallbackFailed(e) => write!(f, "transfer callback failed: {e}"),
            InvalidShutdown(how) => write!(
                f,
                "Invalid shutdown direction '{how}': expected 'read', 'write' or 'both'"
            ),
            UnknownOption(name) => {
                write!(
                    f,
                    "Unknown option '{name}': expected 'nodelay' or 'keepalive'"
                )
            }
            InvalidOptionValue { name, value } => {
                write!(f, "Invalid value '{value}' for option '{name}'")
            }
            Upgrading(id) => write!(f, "Connection {id} is upgrading to TLS"),
        }
    }
}

impl std::error::Error for Error {}
