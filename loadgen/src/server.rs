//! The raw tokio echo server (plain or tokio-rustls) that `echo-server` runs, and the server
//! processes the `compare` driver starts.

use std::io::BufRead;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Read size of the raw echo server (and the host's default `max_chunk`).
pub const READ_SIZE: usize = 64 * 1024;

/// Serves echo on `listener` forever: one task per connection, 64 KiB reads, `write_all` back;
/// under TLS when `tls` is given.
pub async fn raw_echo(listener: TcpListener, tls: Option<tokio_rustls::TlsAcceptor>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => echo(stream).await,
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(stream).await {
                        echo(stream).await;
                    }
                }
            }
        });
    }
}

async fn echo<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) {
    let mut buffer = vec![0u8; READ_SIZE];
    loop {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if stream.write_all(&buffer[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
    let _ = stream.shutdown().await;
}

/// A chunk on its way to the actor, with the way back to its connection.
type ToActor = (Vec<u8>, mpsc::UnboundedSender<Vec<u8>>);

/// Serves echo on `listener` forever through one actor task: each connection's task reads a
/// chunk (64 KiB reads) and sends it to the actor over a channel, the actor sends it back over
/// the connection's channel, and the connection's task writes it, reading the next chunk
/// meanwhile. The smallest echo with the hand-offs of an actor runtime (the handler's echo
/// actor takes the same two per chunk), without a handler, a core or wasm: what those
/// hand-offs cost is the gap between this server and [`raw_echo`].
pub async fn hop_echo(listener: TcpListener) {
    let (to_actor, mut inbox) = mpsc::unbounded_channel::<ToActor>();
    tokio::spawn(async move {
        while let Some((chunk, back)) = inbox.recv().await {
            let _ = back.send(chunk);
        }
    });
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(hop_connection(stream, to_actor.clone()));
    }
}

async fn hop_connection(mut stream: TcpStream, to_actor: mpsc::UnboundedSender<ToActor>) {
    let (back, mut echoes) = mpsc::unbounded_channel();
    let mut open = true;
    let mut in_flight = 0usize;
    // Buffers come back with their echo and are read into again, as the handler's pool does.
    let mut buffer = Vec::with_capacity(READ_SIZE);
    let mut spare: Vec<Vec<u8>> = Vec::new();
    while open || in_flight > 0 {
        tokio::select! {
            read = stream.read_buf(&mut buffer), if open => match read {
                Ok(n) if n > 0 => {
                    let next = spare.pop().unwrap_or_else(|| Vec::with_capacity(READ_SIZE));
                    let chunk = std::mem::replace(&mut buffer, next);
                    in_flight += 1;
                    if to_actor.send((chunk, back.clone())).is_err() {
                        return;
                    }
                }
                _ => open = false,
            },
            Some(mut chunk) = echoes.recv() => {
                in_flight -= 1;
                if stream.write_all(&chunk).await.is_err() {
                    return;
                }
                chunk.clear();
                spare.push(chunk);
            }
        }
    }
    let _ = stream.shutdown().await;
}

/// A server in its own process, announced by a first line `listening on ADDR` on its stdout;
/// killed when dropped.
pub struct ServerProcess {
    name: String,
    child: Child,
    address: SocketAddr,
}

impl ServerProcess {
    /// Starts `command` and waits up to `timeout` for its `listening on ADDR` line.
    pub fn start(
        name: &str,
        mut command: Command,
        timeout: Duration,
    ) -> Result<ServerProcess, String> {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{name}: cannot start {:?}: {e}", command.get_program()))?;
        let stdout = child.stdout.take();
        // Owned from here: an error below kills the process.
        let mut server = ServerProcess {
            name: name.to_owned(),
            child,
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let stdout = stdout.ok_or_else(|| format!("{name}: no stdout"))?;
        let (line_tx, line_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = std::io::BufReader::new(stdout);
            let mut line = String::new();
            let read = reader.read_line(&mut line);
            let _ = line_tx.send(read.map(|_| line));
            // Keep draining, so that the server never blocks on a full pipe.
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let line = match line_rx.recv_timeout(timeout) {
            Ok(Ok(line)) => line,
            Ok(Err(e)) => return Err(format!("{name}: reading its output: {e}")),
            Err(_) => return Err(format!("{name}: no `listening on` line within {timeout:?}")),
        };
        server.address = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| format!("{name}: unexpected first line {:?}", line.trim()))?;
        Ok(server)
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `Err` when the process has exited (it should serve until killed).
    pub fn check_alive(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!("{}: the server exited ({status})", self.name)),
            Err(e) => Err(format!("{}: {e}", self.name)),
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
