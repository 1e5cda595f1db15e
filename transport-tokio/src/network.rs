//! What the driver needs from a network: connect, listen, accept, resolve, and streams that
//! implement tokio's `AsyncRead`/`AsyncWrite`. [`TokioNetwork`] is the real one; the simulation
//! crate provides one on turmoil. TLS runs above any of them.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use theater_tcp_core::SocketOption;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};

/// A connected byte stream.
pub trait NetStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// The remote end.
    fn peer_addr(&self) -> io::Result<SocketAddr>;
    /// The local end.
    fn local_addr(&self) -> io::Result<SocketAddr>;
    /// Applies a socket option the core decided on.
    fn set_option(&self, option: SocketOption) -> io::Result<()>;
    /// Makes dropping the stream send RST instead of FIN (SO_LINGER 0).
    fn set_reset_on_drop(&self) -> io::Result<()>;
}

/// A bound, listening socket.
pub trait NetListener: Send + Sync + 'static {
    /// The streams it accepts.
    type Stream: NetStream;
    /// Accepts one connection. Must be cancel-safe: dropping the future loses no connection.
    fn accept(&self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> + Send;
    /// The address it is bound to.
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

/// One host's view of a network.
pub trait Network: Send + Sync + 'static {
    /// Connected streams, outbound and accepted.
    type Stream: NetStream;
    /// Listening sockets.
    type Listener: NetListener<Stream = Self::Stream>;
    /// Opens a TCP connection (no timeout: the core times connects out).
    fn connect(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::Stream>> + Send;
    /// Binds and listens.
    fn listen(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::Listener>> + Send;
    /// Resolves a host name to the addresses to try, in order.
    fn resolve(
        &self,
        host: &str,
        port: u16,
    ) -> impl Future<Output = io::Result<Vec<SocketAddr>>> + Send;
}

/// The operating system's network, through `tokio::net` and `socket2`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioNetwork;

impl NetStream for TcpStream {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        TcpStream::peer_addr(self)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        TcpStream::local_addr(self)
    }

    fn set_option(&self, option: SocketOption) -> io::Result<()> {
        let socket = socket2::SockRef::from(self);
        match option {
            SocketOption::NoDelay(on) => socket.set_tcp_nodelay(on),
            SocketOption::KeepAlive(None) => socket.set_keepalive(false),
            SocketOption::KeepAlive(Some(idle)) => {
                socket.set_tcp_keepalive(&socket2::TcpKeepalive::new().with_time(idle))
            }
        }
    }

    fn set_reset_on_drop(&self) -> io::Result<()> {
        socket2::SockRef::from(self).set_linger(Some(Duration::ZERO))
    }
}

impl NetListener for TcpListener {
    type Stream = TcpStream;

    fn accept(&self) -> impl Future<Output = io::Result<(TcpStream, SocketAddr)>> + Send {
        TcpListener::accept(self)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        TcpListener::local_addr(self)
    }
}

impl Network for TokioNetwork {
    type Stream = TcpStream;
    type Listener = TcpListener;

    fn connect(&self, addr: SocketAddr) -> impl Future<Output = io::Result<TcpStream>> + Send {
        TcpStream::connect(addr)
    }

    fn listen(&self, addr: SocketAddr) -> impl Future<Output = io::Result<TcpListener>> + Send {
        TcpListener::bind(addr)
    }

    fn resolve(
        &self,
        host: &str,
        port: u16,
    ) -> impl Future<Output = io::Result<Vec<SocketAddr>>> + Send {
        let host = host.to_owned();
        async move {
            Ok(tokio::net::lookup_host((host.as_str(), port))
                .await?
                .collect())
        }
    }
}
