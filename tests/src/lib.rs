//! Cross-crate and end-to-end tests of the Theater TCP handler, and what they share.
//!
//! The wasm test actors of `actors/` are built from C source by `build.rs` (see
//! `actors/README.md`); [`actor`] hands out one as a component. The helpers here start a
//! [`Host`] with such actors on real sockets and play the peer's side.

#![forbid(unsafe_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use theater_tcp_adapter::{ActorSpec, Host, Limits};
use theater_tcp_core::{Config, ServerTls};
use theater_tcp_test_support::{SPLITMIX64_GAMMA, splitmix64};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

include!(concat!(env!("OUT_DIR"), "/actors.rs"));

/// The component of the test actor `name` (a folder of `actors/`).
///
/// # Panics
/// If no such actor exists: tests name actors by literal.
pub fn actor(name: &str) -> Vec<u8> {
    match ACTORS.iter().find(|(n, _)| *n == name) {
        Some((_, bytes)) => bytes.to_vec(),
        None => panic!(
            "no test actor {name}; there are {:?}",
            ACTORS.iter().map(|a| a.0).collect::<Vec<_>>()
        ),
    }
}

/// How long anything may take before a test calls it a hang. Generous: it only turns a hang
/// into a failure; no test measures time.
pub const GUARD: Duration = Duration::from_secs(60);

/// Awaits `f`, or panics naming `what` after [`GUARD`].
pub async fn guard<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(GUARD, f).await {
        Ok(v) => v,
        Err(_) => panic!("hang guard: {what} did not finish within {GUARD:?}"),
    }
}

/// The default handler configuration, listening on a free loopback port for the first actor.
pub fn listening() -> Config {
    Config {
        listen: Some("127.0.0.1:0".into()),
        ..Config::default()
    }
}

/// Starts a host on real sockets with `actors`, each `(actor id, folder of actors/)`; the
/// first one gets the connections of `config.listen`.
///
/// # Panics
/// If the host does not start.
pub async fn start(config: Config, actors: &[(&str, &str)]) -> Host {
    let specs = actors
        .iter()
        .map(|(id, name)| ActorSpec {
            id: (*id).to_owned(),
            component: actor(name),
        })
        .collect();
    match guard("host start", Host::start(config, Limits::default(), specs)).await {
        Ok(host) => host,
        Err(e) => panic!("host did not start: {e}"),
    }
}

/// Where the host listens for its first actor.
///
/// # Panics
/// If the host does not listen.
pub fn address(host: &Host) -> SocketAddr {
    match host.listen_address().map(str::parse) {
        Some(Ok(addr)) => addr,
        other => panic!("the host does not listen on a socket address: {other:?}"),
    }
}

/// Connects a plain `TcpStream` to `addr`.
///
/// # Panics
/// If the connection fails.
pub async fn connect(addr: SocketAddr) -> TcpStream {
    match guard("connect", TcpStream::connect(addr)).await {
        Ok(stream) => stream,
        Err(e) => panic!("connect to {addr}: {e}"),
    }
}

/// `len` pseudo-random bytes from `seed` (SplitMix64): random enough that an echo that drops,
/// repeats or reorders a span is caught, and the same on every run.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        out.extend_from_slice(&splitmix64(state).to_le_bytes());
        state = state.wrapping_add(SPLITMIX64_GAMMA);
    }
    out.truncate(len);
    out
}

/// Panics unless `got` equals `want`, naming the first differing offset (not 1 MiB of bytes).
pub fn assert_same_bytes(what: &str, got: &[u8], want: &[u8]) {
    if got != want {
        let first = got
            .iter()
            .zip(want)
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(want.len()));
        panic!(
            "{what}: {} bytes back for {} sent, first difference at offset {first}",
            got.len(),
            want.len()
        );
    }
}

/// Writes `data` to an echo server while reading the echo, then half-closes and expects the
/// echo to be exactly `data` followed by the server's end of stream.
///
/// # Panics
/// On an I/O error or a wrong echo.
pub async fn echo_exchange(what: &str, stream: TcpStream, data: &[u8]) {
    let (mut rd, mut wr) = stream.into_split();
    let out = data.to_vec();
    let writer = tokio::spawn(async move {
        wr.write_all(&out).await?;
        wr.shutdown().await?;
        Ok::<_, std::io::Error>(wr)
    });
    let mut got = Vec::with_capacity(data.len());
    let read = guard(what, rd.read_to_end(&mut got)).await;
    if let Err(e) = read {
        panic!("{what}: reading the echo: {e}");
    }
    match writer.await {
        Ok(Ok(_)) => {}
        other => panic!("{what}: writing: {other:?}"),
    }
    assert_same_bytes(what, &got, data);
}

/// Reads from `stream` until `want` bytes arrived (or end of stream).
///
/// # Panics
/// On an I/O error.
pub async fn read_exactly(what: &str, stream: &mut TcpStream, want: usize) -> Vec<u8> {
    let mut got = vec![0; want];
    let mut filled = 0;
    while filled < want {
        match guard(what, stream.read(&mut got[filled..])).await {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) => panic!("{what}: {e}"),
        }
    }
    got.truncate(filled);
    got
}

/// A self-signed certificate for `localhost` and `127.0.0.1`, as PEM files in a temporary
/// folder that lives as long as this value.
pub struct Certificates {
    _dir: tempfile::TempDir,
    /// The certificate, PEM.
    pub cert: PathBuf,
    /// Its private key, PEM (PKCS#8).
    pub key: PathBuf,
}

impl Certificates {
    /// Generates a fresh certificate and key.
    ///
    /// # Panics
    /// If generation or writing the files fails.
    pub fn generate() -> Certificates {
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let certified = rcgen::generate_simple_self_signed(names).expect("self-signed certificate");
        let dir = tempfile::tempdir().expect("temporary folder");
        let cert = dir.path().join("server.pem");
        let key = dir.path().join("server.key");
        std::fs::write(&cert, certified.cert.pem()).expect("write certificate");
        std::fs::write(&key, certified.signing_key.serialize_pem()).expect("write key");
        Certificates {
            _dir: dir,
            cert,
            key,
        }
    }

    /// `server_tls` with these files; `auto_handshake` true is implicit TLS, false STARTTLS.
    pub fn server_tls(&self, auto_handshake: bool) -> ServerTls {
        ServerTls {
            enabled: true,
            cert: self.cert.display().to_string(),
            key: self.key.display().to_string(),
            auto_handshake,
        }
    }
}
