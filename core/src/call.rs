//! What actors ask for, what they get back, and the callbacks they receive.

use crate::error::Error;
use crate::ids::{ActorId, CallId, CallbackId};
use serde::{Deserialize, Serialize};

/// One call of `theater:simple/tcp` or `theater:simple/tcp-ext`, with ids as the actor wrote them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)] // fields are the WIT parameters of the same names
pub enum Call {
    Connect {
        address: String,
    },
    Listen {
        address: String,
    },
    Accept {
        listener: String,
    },
    Activate {
        connection: String,
    },
    SetActive {
        connection: String,
        mode: String,
    },
    Transfer {
        connection: String,
        target: String,
    },
    TransferAsync {
        connection: String,
        target: String,
    },
    PeerAddress {
        connection: String,
    },
    Send {
        connection: String,
        #[serde(with = "crate::bytes")]
        data: Vec<u8>,
    },
    Receive {
        connection: String,
        max: u32,
    },
    Close {
        connection: String,
    },
    CloseListener {
        listener: String,
    },
    UpgradeToTlsServer {
        connection: String,
    },
    UpgradeToTlsClient {
        connection: String,
        server_name: String,
    },
    /// EXT: the local address of a connection or listener.
    LocalAddress {
        id: String,
    },
    /// EXT: half-close: `read`, `write` or `both`.
    Shutdown {
        connection: String,
        how: String,
    },
    /// EXT: close with RST.
    Abort {
        connection: String,
    },
    /// EXT: `receive` that gives up after `ms` milliseconds.
    ReceiveTimeout {
        connection: String,
        max: u32,
        ms: u64,
    },
    /// EXT: `nodelay` / `keepalive` socket options.
    SetOption {
        connection: String,
        name: String,
        value: String,
    },
    /// EXT: negotiated TLS parameters.
    TlsInfo {
        connection: String,
    },
    /// EXT: counters and state.
    ConnectionStats {
        connection: String,
    },
}

/// The successful result of a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// `result<_, string>` calls.
    Unit,
    /// A new connection or listener id.
    Id(String),
    /// `ip:port`.
    Address(String),
    /// Bytes accepted by `send`.
    Sent(u64),
    /// Bytes from `receive`; empty means end of stream.
    Data(#[serde(with = "crate::bytes")] Vec<u8>),
    /// `tls-info`.
    TlsInfo(TlsInfo),
    /// `connection-stats`.
    Stats(ConnectionStats),
}

/// What TLS negotiated on a connection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsInfo {
    /// `TLSv1.3`, `TLSv1.2`.
    pub protocol: String,
    /// IANA name of the cipher suite.
    pub cipher_suite: String,
    /// Negotiated ALPN protocol, if any.
    pub alpn: Option<String>,
    /// The peer's certificate chain, DER, leaf first (empty when the peer sent none).
    pub peer_certificates: Vec<Vec<u8>>,
}

/// Counters and state of a connection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionStats {
    /// Bytes received from the peer.
    pub bytes_in: u64,
    /// Bytes handed to the transport for the peer.
    pub bytes_out: u64,
    /// `on-data` callbacks made.
    pub chunks_delivered: u64,
    /// Bytes received and not yet handed to the actor.
    pub buffered: u64,
    /// `pending`, `active` or `closed`.
    pub state: String,
    /// `passive`, `active`, `once` or the credit count.
    pub mode: String,
    /// `plain`, `handshaking` or `tls`.
    pub tls: String,
}

/// Which `tcp-client` callbacks an actor exports; the core never calls one it lacks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)] // one flag per WIT export of the same name
pub struct Exports {
    pub handle_connection: bool,
    pub handle_connection_transfer: bool,
    pub on_data: bool,
    pub on_close: bool,
    pub on_passive: bool,
}

impl Exports {
    /// An actor that exports every callback.
    pub const ALL: Exports = Exports {
        handle_connection: true,
        handle_connection_transfer: true,
        on_data: true,
        on_close: true,
        on_passive: true,
    };
}

/// A callback the adapter must run in the actor, then report with `handle_callback_result`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)] // the WIT parameters
pub enum Callback {
    HandleConnection {
        connection: String,
    },
    HandleConnectionTransfer {
        connection: String,
    },
    OnData {
        connection: String,
        #[serde(with = "crate::bytes")]
        data: Vec<u8>,
    },
    OnClose {
        connection: String,
        reason: String,
    },
    OnPassive {
        connection: String,
    },
}

/// Output for actors, drained with `poll_notice`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Notice {
    /// A call finished.
    CallCompleted {
        /// The caller.
        actor: ActorId,
        /// The id `handle_call` returned.
        call: CallId,
        /// Its result.
        result: Result<Reply, Error>,
    },
    /// Run a callback in `actor`, in the order notices come out.
    Callback {
        /// The actor whose export to run.
        actor: ActorId,
        /// Report the outcome under this id.
        id: CallbackId,
        /// What to call.
        callback: Callback,
    },
}
