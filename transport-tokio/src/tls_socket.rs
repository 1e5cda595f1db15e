//! [`TlsSocket`]: the socket as the TLS layer sees it, so that no TLS record is ever cut short.
//!
//! rustls hands its records to the socket with non-blocking writes and keeps what the socket
//! did not take, except in one place: when it fails (a bad record, a handshake it cannot
//! complete) tokio-rustls makes one last write of the fatal alert and then drops the session.
//! A socket that takes only part of that write (a full send buffer, or the simulator's short
//! writes) would lose the rest, and the peer would read a truncated record followed by the
//! end of the stream. A `TlsSocket` takes the rest of a write the socket refused, up to one
//! record, and writes it before anything else; `flush` and `shutdown` wait for it, so an alert
//! reaches the peer before the FIN whenever the connection is closed gracefully.

use crate::network::NetStream;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The most a [`TlsSocket`] holds beyond the socket: one TLS record (16 KiB of payload plus
/// header, padding and tag).
pub(crate) const SPILL_LIMIT: usize = 16 * 1024 + 2048;

/// See the [module docs](self).
pub(crate) struct TlsSocket<S: NetStream> {
    inner: S,
    /// Bytes accepted from the TLS layer that the socket has not taken yet.
    spill: Vec<u8>,
    spill_at: usize,
    /// Raised by the connection's task to abort while the handshake owns this socket: the
    /// socket is then dropped with RST (SO_LINGER 0) instead of FIN.
    reset_on_drop: Arc<AtomicBool>,
}

impl<S: NetStream> TlsSocket<S> {
    /// Wraps `inner`; raising `reset_on_drop` makes dropping it send RST.
    pub(crate) fn new(inner: S, reset_on_drop: Arc<AtomicBool>) -> Self {
        TlsSocket {
            inner,
            spill: Vec::new(),
            spill_at: 0,
            reset_on_drop,
        }
    }

    /// The socket.
    pub(crate) fn socket(&self) -> &S {
        &self.inner
    }

    /// Bytes held beyond the socket.
    #[cfg(test)]
    fn spilled(&self) -> usize {
        self.spill.len() - self.spill_at
    }

    /// Writes the spill into the socket; ready once it is empty.
    fn poll_spill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.spill_at < self.spill.len() {
            match ready!(Pin::new(&mut self.inner).poll_write(cx, &self.spill[self.spill_at..])) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(n) => self.spill_at += n,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        self.spill.clear();
        self.spill_at = 0;
        Poll::Ready(Ok(()))
    }

    /// Keeps `rest` (what the socket did not take) up to [`SPILL_LIMIT`]; returns how much.
    fn keep(&mut self, rest: &[u8]) -> usize {
        let n = rest.len().min(SPILL_LIMIT);
        self.spill.extend_from_slice(&rest[..n]);
        n
    }
}

impl<S: NetStream> Drop for TlsSocket<S> {
    fn drop(&mut self) {
        if self.reset_on_drop.load(Ordering::Relaxed)
            && let Err(e) = self.inner.set_reset_on_drop()
        {
            tracing::debug!(error = %e, "SO_LINGER 0 failed");
        }
    }
}

impl<S: NetStream> AsyncRead for TlsSocket<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: NetStream> AsyncWrite for TlsSocket<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        // Earlier bytes first; while they wait, so does the TLS layer (it keeps its own).
        ready!(this.poll_spill(cx))?;
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) if n == buf.len() || n == 0 => Poll::Ready(Ok(n)),
            // The socket's waker is registered: the spill goes out on the next write or flush.
            Poll::Ready(Ok(n)) => Poll::Ready(Ok(n + this.keep(&buf[n..]))),
            Poll::Pending => Poll::Ready(Ok(this.keep(buf))),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_spill(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_spill(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use theater_tcp_core::SocketOption;
    use tokio::io::AsyncWriteExt;

    /// A socket that takes at most `take` bytes per write, or none while `blocked`, and notes
    /// whether it was told to reset.
    #[derive(Default)]
    struct Narrow {
        take: usize,
        blocked: bool,
        written: Vec<u8>,
        shut: bool,
        reset: Arc<AtomicBool>,
    }

    impl AsyncRead for Narrow {
        fn poll_read(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            _buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    impl AsyncWrite for Narrow {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            if self.blocked {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let n = buf.len().min(self.take);
            self.written.extend_from_slice(&buf[..n]);
            Poll::Ready(Ok(n))
        }

        fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.shut = true;
            Poll::Ready(Ok(()))
        }
    }

    impl NetStream for Narrow {
        fn peer_addr(&self) -> io::Result<SocketAddr> {
            Err(io::ErrorKind::NotConnected.into())
        }

        fn local_addr(&self) -> io::Result<SocketAddr> {
            Err(io::ErrorKind::NotConnected.into())
        }

        fn set_option(&self, _option: SocketOption) -> io::Result<()> {
            Ok(())
        }

        fn set_reset_on_drop(&self) -> io::Result<()> {
            self.reset.store(true, Ordering::Relaxed);
            Ok(())
        }
    }

    fn poll_once<T>(f: impl FnOnce(&mut Context<'_>) -> Poll<T>) -> Poll<T> {
        f(&mut Context::from_waker(std::task::Waker::noop()))
    }

    #[test]
    fn a_write_the_socket_cuts_short_is_kept_and_goes_out_before_the_next() {
        let socket = Narrow {
            take: 4,
            ..Narrow::default()
        };
        let mut s = TlsSocket::new(socket, Arc::default());
        // A 7-byte alert, as rustls writes it in its last gasp: all taken.
        let alert = [21, 3, 3, 0, 2, 2, 50];
        let took = poll_once(|cx| Pin::new(&mut s).poll_write(cx, &alert));
        assert!(matches!(took, Poll::Ready(Ok(7))));
        assert_eq!(s.socket().written, [21, 3, 3, 0]);
        assert_eq!(s.spilled(), 3);
        // The shutdown writes the rest of the alert before the FIN.
        assert!(matches!(
            poll_once(|cx| Pin::new(&mut s).poll_shutdown(cx)),
            Poll::Ready(Ok(()))
        ));
        assert_eq!(s.socket().written, alert);
        assert!(s.socket().shut);
    }

    #[test]
    fn a_blocked_socket_holds_back_later_writes_and_the_shutdown() {
        let socket = Narrow {
            take: usize::MAX,
            blocked: true,
            ..Narrow::default()
        };
        let mut s = TlsSocket::new(socket, Arc::default());
        let took = poll_once(|cx| Pin::new(&mut s).poll_write(cx, b"record"));
        assert!(matches!(took, Poll::Ready(Ok(6))));
        // Nothing more is taken while the spill waits, and the FIN waits for it.
        assert!(poll_once(|cx| Pin::new(&mut s).poll_write(cx, b"next")).is_pending());
        assert!(poll_once(|cx| Pin::new(&mut s).poll_shutdown(cx)).is_pending());
        assert!(!s.socket().shut);
        s.inner.blocked = false;
        let took = poll_once(|cx| Pin::new(&mut s).poll_write(cx, b"next"));
        assert!(matches!(took, Poll::Ready(Ok(4))));
        assert_eq!(s.socket().written, b"recordnext");
    }

    #[test]
    fn the_spill_never_exceeds_one_record() {
        let socket = Narrow {
            take: 10,
            ..Narrow::default()
        };
        let mut s = TlsSocket::new(socket, Arc::default());
        let big = vec![1u8; 3 * SPILL_LIMIT];
        let took = poll_once(|cx| Pin::new(&mut s).poll_write(cx, &big));
        assert!(matches!(took, Poll::Ready(Ok(n)) if n == 10 + SPILL_LIMIT));
        assert_eq!(s.spilled(), SPILL_LIMIT);
    }

    #[tokio::test]
    async fn every_byte_arrives_in_order_through_a_narrow_socket() {
        let socket = Narrow {
            take: 3,
            ..Narrow::default()
        };
        let mut s = TlsSocket::new(socket, Arc::default());
        let data: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
        for piece in data.chunks(1000) {
            s.write_all(piece).await.expect("write");
        }
        s.shutdown().await.expect("shutdown");
        assert_eq!(s.socket().written, data);
    }

    #[test]
    fn a_raised_flag_resets_on_drop() {
        let flag = Arc::new(AtomicBool::new(false));
        let socket_reset = Arc::new(AtomicBool::new(false));
        let socket = Narrow {
            reset: socket_reset.clone(),
            ..Narrow::default()
        };
        drop(TlsSocket::new(socket, flag.clone()));
        assert!(!socket_reset.load(Ordering::Relaxed));
        let socket = Narrow {
            reset: socket_reset.clone(),
            ..Narrow::default()
        };
        flag.store(true, Ordering::Relaxed);
        drop(TlsSocket::new(socket, flag));
        assert!(socket_reset.load(Ordering::Relaxed));
    }
}
