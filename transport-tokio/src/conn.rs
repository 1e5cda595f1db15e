//! One connection's I/O task: executes the core's commands for that connection in order and
//! reports every outcome as an [`IoEvent`].
//!
//! The task is a single poll loop over the command channel and the stream, so reads, writes
//! and the TLS layer share one `&mut` stream without splitting it. A read is polled only while
//! the core has asked for one (backpressure); dropping a pending `poll_read` consumes nothing,
//! on TCP and on TLS (rustls keeps decrypted bytes buffered), which is what makes `CancelRead`
//! lossless. Writes are reported with `Wrote` once flushed, and only once the core asked
//! (`ReportWrites`), so TLS ciphertext never hides in rustls and a write nobody waits on costs
//! no trip through the core. `StartTls` waits until every earlier write is on the wire, and nothing is read ahead
//! in plaintext, so the handshake starts exactly at the next byte of the raw socket.

use crate::buffers;
use crate::mailbox::Mailbox;
use crate::network::{NetStream, Network};
use crate::report::{Report, Reporter};
use crate::tls::{self, TlsContext};
use crate::tls_socket::TlsSocket;
use bytes::BufMut;
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use theater_tcp_core::{Command, ConnId, IoEvent, SocketOption, StreamEnd, TlsRole};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::TlsStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_util::io::poll_read_buf;

/// Bytes read and thrown away per step while a closed connection drains.
const DRAIN_CHUNK: usize = 8 * 1024;

/// The stream in its current TLS layer.
enum Link<S: NetStream> {
    Plain(S),
    /// Boxed: a handshake in flight is large, and short-lived.
    Handshake(Box<Handshake<S>>),
    Tls(Box<TlsStream<TlsSocket<S>>>),
    /// The handshake failed: the socket stays for the alert rustls wrote, the FIN and the
    /// drain of a graceful close; nothing else is written or read through it.
    Failed(TlsSocket<S>),
    /// No stream (a handshake could not even start).
    Gone,
}

/// A handshake in flight: it owns the socket until it ends, and gives it back on failure.
struct Handshake<S: NetStream> {
    future: HandshakeFuture<S>,
    /// Raised to abort meanwhile: the socket is then dropped with RST.
    reset_on_drop: Arc<AtomicBool>,
}

enum HandshakeFuture<S: NetStream> {
    Server(tokio_rustls::FallibleAccept<TlsSocket<S>>),
    Client(tokio_rustls::FallibleConnect<TlsSocket<S>>),
}

impl<S: NetStream> HandshakeFuture<S> {
    /// Starts the handshake of `role` on `stream`, or gives the stream back with the reason
    /// it cannot start.
    fn begin(
        tls: &TlsContext,
        role: TlsRole,
        stream: TlsSocket<S>,
    ) -> Result<Self, (&'static str, TlsSocket<S>)> {
        match role {
            TlsRole::Server => match &tls.acceptor {
                Some(acceptor) => Ok(HandshakeFuture::Server(
                    acceptor.accept(stream).into_fallible(),
                )),
                None => Err(("server TLS is not configured", stream)),
            },
            TlsRole::Client { server_name } => {
                match (&tls.connector, ServerName::try_from(server_name)) {
                    (Some(connector), Ok(name)) => Ok(HandshakeFuture::Client(
                        connector.connect(name, stream).into_fallible(),
                    )),
                    (None, _) => Err(("client TLS is not configured", stream)),
                    (_, Err(_)) => Err(("invalid server name", stream)),
                }
            }
        }
    }
}

/// One write-side step, in command order.
enum Outgoing {
    Data {
        bytes: Vec<u8>,
        offset: usize,
    },
    /// FIN, after TLS close_notify.
    Shutdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closing {
    /// No `Close` yet.
    No,
    /// `Close` seen: flushing, then close_notify and FIN.
    Flushing,
    /// FIN sent: reading and discarding until the peer's EOF.
    Draining,
    /// `Drained` reported; waiting for `Release`.
    Drained,
}

/// The task of one connection.
pub(crate) struct ConnTask<N: Network> {
    id: ConnId,
    link: Link<N::Stream>,
    tls: TlsContext,
    commands: Mailbox,
    reports: Reporter<N>,
    /// Commands that arrived behind a `StartTls`, run once the handshake ends.
    deferred: VecDeque<Command>,
    /// A `StartTls` waiting for the earlier writes to reach the wire.
    tls_waiting: Option<TlsRole>,
    /// The buffer of the outstanding `Read`, with room for at least its `max` (not
    /// zero-filled: the read writes into spare capacity), and that `max`.
    read: Option<(Vec<u8>, usize)>,
    /// The outstanding read answered `Pending` during this `poll`, so its waker is registered:
    /// asking again before the read or the link changes would only repeat the answer (a
    /// message would otherwise cost a socket poll per turn of `poll`'s loop).
    read_parked: bool,
    writes: VecDeque<Outgoing>,
    /// Bytes written into the stream and not flushed yet.
    unreported: usize,
    /// Bytes flushed and not yet reported with `Wrote`: held back until the core asks
    /// (`ReportWrites`), so that a write nobody waits on costs no trip through the core.
    flushed: usize,
    /// The core asked for a `Wrote` report: sent once some bytes are flushed.
    report_writes: bool,
    write_failed: bool,
    closing: Closing,
}

impl<N: Network> ConnTask<N> {
    pub(crate) fn new(
        id: ConnId,
        stream: N::Stream,
        tls: TlsContext,
        commands: Mailbox,
        reports: Reporter<N>,
    ) -> Self {
        ConnTask {
            id,
            link: Link::Plain(stream),
            tls,
            commands,
            reports,
            deferred: VecDeque::new(),
            tls_waiting: None,
            read: None,
            read_parked: false,
            writes: VecDeque::new(),
            unreported: 0,
            flushed: 0,
            report_writes: false,
            write_failed: false,
            closing: Closing::No,
        }
    }

    /// Runs until `Release`, `Abort`, or the driver goes away.
    pub(crate) async fn run(mut self) {
        std::future::poll_fn(|cx| self.poll(cx)).await;
    }

    fn report(&self, event: IoEvent) {
        // The driver only goes away at shutdown, when nobody is left to tell. The commands
        // this causes for this connection wait in the mailbox without waking this task:
        // `poll` loops until nothing moves, so it takes them before it sleeps.
        self.reports.send_own(self.id, Report::Io(event));
    }

    fn behind_tls(&self) -> bool {
        self.tls_waiting.is_some() || matches!(self.link, Link::Handshake(_))
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        // A wake may be the socket's: the read is asked again.
        self.read_parked = false;
        loop {
            let mut progress = false;
            while !self.behind_tls() {
                let Some(command) = self.deferred.pop_front() else {
                    break;
                };
                self.execute(command);
                progress = true;
            }
            loop {
                match self.commands.poll_recv(cx) {
                    Poll::Ready(None) | Poll::Ready(Some(Command::Release { .. })) => {
                        return Poll::Ready(());
                    }
                    Poll::Ready(Some(Command::Abort { .. })) => {
                        self.reset();
                        return Poll::Ready(());
                    }
                    Poll::Ready(Some(command)) if self.behind_tls() => {
                        self.deferred.push_back(command)
                    }
                    Poll::Ready(Some(command)) => self.execute(command),
                    Poll::Pending => break,
                }
                progress = true;
            }
            if self.start_tls() | self.poll_handshake(cx) {
                // The link changed under the read.
                self.read_parked = false;
                progress = true;
            }
            progress |= self.poll_writes(cx);
            progress |= self.poll_read(cx);
            progress |= self.poll_drain(cx);
            if !progress {
                return Poll::Pending;
            }
        }
    }

    fn execute(&mut self, command: Command) {
        match command {
            Command::Write { data, .. } => {
                if !self.write_failed && self.closing == Closing::No {
                    self.writes.push_back(Outgoing::Data {
                        bytes: data,
                        offset: 0,
                    });
                }
            }
            Command::ShutdownWrite { .. } => self.writes.push_back(Outgoing::Shutdown),
            Command::ReportWrites { .. } => self.report_writes = true,
            Command::Read { max, .. } => {
                if self.closing == Closing::No {
                    let max = max.max(1);
                    self.read = Some((buffers::take(max), max));
                    self.read_parked = false;
                }
            }
            Command::CancelRead { .. } => {
                if self.read.take().is_some() {
                    self.report(IoEvent::ReadCancelled {
                        connection: self.id,
                    });
                }
            }
            Command::SetOption { option, .. } => self.set_option(option),
            Command::StartTls { role, .. } => self.tls_waiting = Some(role),
            Command::Close { .. } => {
                // The core forgot the actor's read; the drain below reads from now on.
                self.read = None;
                self.closing = Closing::Flushing;
                if self.write_failed {
                    self.writes.clear();
                    self.flushed_for_close();
                } else {
                    self.writes.push_back(Outgoing::Shutdown);
                }
            }
            // Terminal commands are handled by `poll`; the others never reach a connection.
            Command::Release { .. }
            | Command::Abort { .. }
            | Command::Resolve { .. }
            | Command::Bind { .. }
            | Command::Accept { .. }
            | Command::CancelAccept { .. }
            | Command::CloseListener { .. }
            | Command::Connect { .. } => {}
        }
    }

    /// The socket, unless a handshake owns it.
    fn socket(&mut self) -> Option<&N::Stream> {
        match &mut self.link {
            Link::Plain(s) => Some(s),
            Link::Tls(t) => Some(t.get_ref().0.socket()),
            Link::Failed(s) => Some(s.socket()),
            Link::Handshake(_) | Link::Gone => None,
        }
    }

    fn set_option(&mut self, option: SocketOption) {
        if let Some(socket) = self.socket()
            && let Err(e) = socket.set_option(option)
        {
            tracing::debug!(connection = %self.id, ?option, error = %e, "set option failed");
        }
    }

    /// SO_LINGER 0, so that dropping the stream sends RST.
    fn reset(&mut self) {
        if let Link::Handshake(h) = &self.link {
            h.reset_on_drop.store(true, Ordering::Relaxed);
        } else if let Some(socket) = self.socket()
            && let Err(e) = socket.set_reset_on_drop()
        {
            tracing::debug!(connection = %self.id, error = %e, "SO_LINGER 0 failed");
        }
    }

    /// Begins a waiting handshake once every earlier write is flushed.
    fn start_tls(&mut self) -> bool {
        if self.tls_waiting.is_none() || !self.writes.is_empty() || self.unreported > 0 {
            return false;
        }
        let Some(role) = self.tls_waiting.take() else {
            return false;
        };
        let stream = match std::mem::replace(&mut self.link, Link::Gone) {
            Link::Plain(stream) => stream,
            other => {
                self.link = other;
                self.report(IoEvent::TlsFailed {
                    connection: self.id,
                    error: "the stream is not plaintext".into(),
                });
                return true;
            }
        };
        let reset_on_drop = Arc::new(AtomicBool::new(false));
        let stream = TlsSocket::new(stream, reset_on_drop.clone());
        match HandshakeFuture::begin(&self.tls, role, stream) {
            Ok(future) => {
                self.link = Link::Handshake(Box::new(Handshake {
                    future,
                    reset_on_drop,
                }))
            }
            Err((error, stream)) => {
                // The socket stays for the close that follows.
                self.link = Link::Failed(stream);
                self.report(IoEvent::TlsFailed {
                    connection: self.id,
                    error: error.into(),
                });
            }
        }
        true
    }

    fn poll_handshake(&mut self, cx: &mut Context<'_>) -> bool {
        let Link::Handshake(handshake) = &mut self.link else {
            return false;
        };
        let outcome = match &mut handshake.future {
            HandshakeFuture::Server(h) => match Pin::new(h).poll(cx) {
                Poll::Ready(r) => r.map(TlsStream::Server),
                Poll::Pending => return false,
            },
            HandshakeFuture::Client(h) => match Pin::new(h).poll(cx) {
                Poll::Ready(r) => r.map(TlsStream::Client),
                Poll::Pending => return false,
            },
        };
        match outcome {
            Ok(stream) => {
                let info = tls::info(stream.get_ref().1);
                self.link = Link::Tls(Box::new(stream));
                self.report(IoEvent::TlsEstablished {
                    connection: self.id,
                    info,
                });
            }
            Err((e, socket)) => {
                // rustls' alert may still be in the socket's spill: a close sends it first.
                self.link = Link::Failed(socket);
                self.report(IoEvent::TlsFailed {
                    connection: self.id,
                    error: e.to_string(),
                });
            }
        }
        true
    }

    fn write_failed(&mut self, error: &io::Error) {
        self.write_failed = true;
        self.writes.clear();
        self.unreported = 0;
        self.flushed = 0;
        match self.closing {
            Closing::No => {
                let end = stream_end(error, self.link.is_tls());
                self.report(IoEvent::WriteFailed {
                    connection: self.id,
                    end,
                });
            }
            Closing::Flushing => self.flushed_for_close(),
            Closing::Draining | Closing::Drained => {}
        }
    }

    fn poll_writes(&mut self, cx: &mut Context<'_>) -> bool {
        if self.behind_handshake() {
            return false;
        }
        let mut progress = false;
        loop {
            let step = match self.writes.front_mut() {
                None => break,
                Some(Outgoing::Data { bytes, offset }) => {
                    match self.link.poll_write(cx, &bytes[*offset..]) {
                        Poll::Ready(Ok(0)) => Err(io::Error::from(io::ErrorKind::WriteZero)),
                        Poll::Ready(Ok(n)) => {
                            *offset += n;
                            self.unreported += n;
                            if *offset == bytes.len()
                                && let Some(Outgoing::Data { bytes, .. }) = self.writes.pop_front()
                            {
                                buffers::give(bytes);
                            }
                            Ok(())
                        }
                        Poll::Ready(Err(e)) => Err(e),
                        Poll::Pending => break,
                    }
                }
                Some(Outgoing::Shutdown) => {
                    if self.unreported > 0 {
                        break;
                    }
                    match self.link.poll_shutdown(cx) {
                        Poll::Ready(Ok(())) => {
                            self.writes.pop_front();
                            Ok(())
                        }
                        Poll::Ready(Err(e)) => Err(e),
                        Poll::Pending => break,
                    }
                }
            };
            progress = true;
            if let Err(e) = step {
                self.write_failed(&e);
                break;
            }
        }
        if self.unreported > 0 {
            match self.link.poll_flush(cx) {
                Poll::Ready(Ok(())) => {
                    self.flushed += std::mem::take(&mut self.unreported);
                    progress = true;
                }
                Poll::Ready(Err(e)) => {
                    self.write_failed(&e);
                    progress = true;
                }
                Poll::Pending => {}
            }
        }
        if self.report_writes && self.flushed > 0 {
            self.report_writes = false;
            let bytes = std::mem::take(&mut self.flushed);
            if self.closing == Closing::No {
                self.report(IoEvent::Wrote {
                    connection: self.id,
                    bytes,
                });
            }
            progress = true;
        }
        if self.closing == Closing::Flushing && self.writes.is_empty() && self.unreported == 0 {
            self.flushed_for_close();
            progress = true;
        }
        progress
    }

    /// A closed connection wrote all it will (or writing failed): the core starts the
    /// linger now (until then it gives the flush `send_timeout_ms`), and the drain begins.
    fn flushed_for_close(&mut self) {
        self.closing = Closing::Draining;
        self.report(IoEvent::Flushed {
            connection: self.id,
        });
    }

    fn behind_handshake(&self) -> bool {
        matches!(self.link, Link::Handshake(_))
    }

    fn poll_read(&mut self, cx: &mut Context<'_>) -> bool {
        if self.read_parked {
            return false;
        }
        let Some((buffer, max)) = self.read.as_mut() else {
            return false;
        };
        let event = match self.link.poll_read_buf(cx, &mut buffer.limit(*max)) {
            Poll::Pending => {
                self.read_parked = true;
                return false;
            }
            Poll::Ready(Ok(n)) => match self.read.take() {
                Some((data, _)) if n > 0 => IoEvent::Received {
                    connection: self.id,
                    data,
                },
                _ => IoEvent::ReadEnded {
                    connection: self.id,
                    end: StreamEnd::Eof,
                },
            },
            Poll::Ready(Err(e)) => {
                self.read = None;
                IoEvent::ReadEnded {
                    connection: self.id,
                    end: stream_end(&e, self.link.is_tls()),
                }
            }
        };
        self.report(event);
        true
    }

    fn poll_drain(&mut self, cx: &mut Context<'_>) -> bool {
        if self.closing != Closing::Draining {
            return false;
        }
        // Not zeroed: the bytes are discarded, and every closing connection drains.
        let mut scratch = [std::mem::MaybeUninit::<u8>::uninit(); DRAIN_CHUNK];
        loop {
            let mut buf = ReadBuf::uninit(&mut scratch);
            match self.link.poll_read_raw(cx, &mut buf) {
                Poll::Pending => return false,
                Poll::Ready(Ok(())) if !buf.filled().is_empty() => {}
                Poll::Ready(_) => {
                    self.closing = Closing::Drained;
                    self.report(IoEvent::Drained {
                        connection: self.id,
                    });
                    return true;
                }
            }
        }
    }
}

impl<S: NetStream> Link<S> {
    fn is_tls(&self) -> bool {
        matches!(self, Link::Tls(_) | Link::Handshake(_) | Link::Failed(_))
    }

    fn not_connected() -> io::Error {
        io::Error::new(io::ErrorKind::NotConnected, "the stream is gone")
    }

    fn poll_read_buf(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut impl BufMut,
    ) -> Poll<io::Result<usize>> {
        match self {
            Link::Plain(s) => poll_read_buf(Pin::new(s), cx, buf),
            Link::Tls(t) => poll_read_buf(Pin::new(&mut **t), cx, buf),
            Link::Handshake(_) | Link::Failed(_) | Link::Gone => {
                Poll::Ready(Err(Self::not_connected()))
            }
        }
    }

    /// Reads the socket below any TLS layer. Draining discards what it reads, and must run to
    /// the peer's FIN: a TLS layer reports end of stream at the peer's close_notify, which
    /// may come before the FIN, and a socket dropped before its FIN arrived answers the FIN
    /// with RST (as turmoil does, and some stacks).
    fn poll_read_raw(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self {
            Link::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Link::Tls(t) => Pin::new(t.get_mut().0).poll_read(cx, buf),
            Link::Failed(s) => Pin::new(s).poll_read(cx, buf),
            Link::Handshake(_) | Link::Gone => Poll::Ready(Err(Self::not_connected())),
        }
    }

    fn poll_write(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        match self {
            Link::Plain(s) => Pin::new(s).poll_write(cx, data),
            Link::Tls(t) => Pin::new(&mut **t).poll_write(cx, data),
            Link::Handshake(_) | Link::Failed(_) | Link::Gone => {
                Poll::Ready(Err(Self::not_connected()))
            }
        }
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Link::Plain(s) => Pin::new(s).poll_flush(cx),
            Link::Tls(t) => Pin::new(&mut **t).poll_flush(cx),
            Link::Failed(s) => Pin::new(s).poll_flush(cx),
            Link::Handshake(_) | Link::Gone => Poll::Ready(Err(Self::not_connected())),
        }
    }

    /// TLS close_notify (if TLS), flush, then FIN; after a failed handshake, the rest of
    /// rustls' alert, then FIN.
    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Link::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Link::Tls(t) => Pin::new(&mut **t).poll_shutdown(cx),
            Link::Failed(s) => Pin::new(s).poll_shutdown(cx),
            Link::Handshake(_) | Link::Gone => Poll::Ready(Err(Self::not_connected())),
        }
    }
}

/// How an I/O error ends a stream, as the core names it.
pub(crate) fn stream_end(error: &io::Error, tls: bool) -> StreamEnd {
    use io::ErrorKind::*;
    match error.kind() {
        ConnectionReset | ConnectionAborted | BrokenPipe => StreamEnd::Reset,
        // rustls: the peer sent FIN without close_notify.
        UnexpectedEof if tls => StreamEnd::TlsTruncated,
        // rustls reports protocol errors and alerts as InvalidData.
        InvalidData if tls => StreamEnd::TlsError(error.to_string()),
        _ => StreamEnd::Error(error.to_string()),
    }
}
