//! Helpers shared by the driver's integration tests. Each test binary uses a subset.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use theater_tcp_core::Config;
use theater_tcp_tokio::{ActorHandle, Driver, DriverHandle, Network};
use tokio::time::timeout;

/// Hang guard for a step that must happen; never a timing assertion.
pub const GUARD: Duration = Duration::from_secs(60);

/// `f`, or a panic naming `what` if it hangs past [`GUARD`].
pub async fn guard<T>(what: &str, f: impl Future<Output = T>) -> T {
    match timeout(GUARD, f).await {
        Ok(v) => v,
        Err(_) => panic!("hang guard: {what} did not happen within {GUARD:?}"),
    }
}

/// The value, or a panic naming `what` and the error.
pub fn ok<T, E: std::fmt::Display>(what: &str, r: Result<T, E>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{what}: {e}"),
    }
}

/// A driver on `network`.
pub fn start_on<N: Network>(config: Config, network: N) -> DriverHandle {
    ok("driver start", Driver::start(config, network))
}

/// A listener on 127.0.0.1 and its address.
pub async fn listen(actor: &ActorHandle) -> (String, SocketAddr) {
    let listener = ok("listen", actor.listen("127.0.0.1:0").await);
    let local = ok("local-address", actor.local_address(&listener).await);
    (listener, ok("address", local.parse()))
}

/// Accepts the next connection on `listener`, activates it, sends `data` in 256 KiB pieces
/// (each `send` returning once the transport took it), then closes it: what a peer reading the
/// stream must get whole, then the end of it.
pub async fn accept_send_all_then_close(actor: &ActorHandle, listener: &str, data: &[u8]) {
    let conn = ok("accept", guard("accept", actor.accept(listener)).await);
    ok("activate", actor.activate(&conn).await);
    for piece in data.chunks(256 * 1024) {
        ok(
            "send",
            guard("send", actor.send(&conn, piece.to_vec())).await,
        );
    }
    ok("close", actor.close(&conn).await);
}

/// Reads `stream` to its end, a chunk per millisecond at most: a slow reader, so that what is
/// sent before a close is still queued when the close comes.
pub async fn read_slowly(
    mut stream: impl tokio::io::AsyncRead + Unpin,
) -> std::io::Result<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        tokio::time::sleep(Duration::from_millis(1)).await;
        match stream.read(&mut buf).await? {
            0 => return Ok(got),
            n => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// A strict rustls client (our provider, safe defaults) that trusts `root` only.
pub fn strict_connector(
    root: rustls::pki_types::CertificateDer<'static>,
) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    ok("root", roots.add(root));
    let config = ok(
        "client config",
        rustls::ClientConfig::builder_with_provider(theater_tcp_tokio::provider())
            .with_safe_default_protocol_versions(),
    )
    .with_root_certificates(roots)
    .with_no_client_auth();
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
}
