//! How the I/O tasks (a connection's, a listener's, a connect or a bind) report to the driver:
//! a [`Report`] handed to a [`Reporter`], which feeds it to the core at once, in the reporting
//! task. A module of its own, so that the tasks and the driver do not import each other.

use crate::network::Network;
use std::io;
use std::net::SocketAddr;
use std::sync::Weak;
use theater_tcp_core::{ConnId, IoEvent, ListenerId};

/// What the I/O tasks report to the driver.
pub(crate) enum Report<N: Network> {
    Io(IoEvent),
    Connected {
        connection: ConnId,
        result: io::Result<N::Stream>,
    },
    Accepted {
        listener: ListenerId,
        connection: ConnId,
        result: io::Result<(N::Stream, SocketAddr)>,
    },
    Bound {
        listener: ListenerId,
        result: io::Result<N::Listener>,
    },
}

/// Where reports go: the driver's state.
pub(crate) trait Sink<N: Network>: Send + Sync {
    /// Feeds `report` to the core (ignored once the driver stopped). `from` is the connection
    /// whose own I/O task reports, if one does: commands for it are posted without waking it
    /// (see `mailbox`), so only that task may name itself.
    fn report(&self, from: Option<ConnId>, report: Report<N>);
}

/// Where an I/O task reports to, while the driver runs: weak, so that the tasks do not keep
/// the driver alive.
pub(crate) struct Reporter<N: Network>(Weak<dyn Sink<N>>);

impl<N: Network> Clone for Reporter<N> {
    fn clone(&self) -> Self {
        Reporter(self.0.clone())
    }
}

impl<N: Network> Reporter<N> {
    pub(crate) fn new(sink: Weak<dyn Sink<N>>) -> Self {
        Reporter(sink)
    }

    /// Hands `report` to the core at once; dropped once the driver stopped.
    pub(crate) fn send(&self, report: Report<N>) {
        if let Some(sink) = self.0.upgrade() {
            sink.report(None, report);
        }
    }

    /// [`send`](Self::send) from the I/O task of `connection` itself, which takes the
    /// commands for it that the report causes before it next sleeps.
    pub(crate) fn send_own(&self, connection: ConnId, report: Report<N>) {
        if let Some(sink) = self.0.upgrade() {
            sink.report(Some(connection), report);
        }
    }
}
