//! TLS through a real Theater runtime: implicit TLS with close_notify, STARTTLS with
//! `openssl s_client -starttls smtp`, a certificate that cannot be loaded, and the two rustls
//! crypto providers (theater's aws-lc-rs, the driver's ring) compiled into one process.

mod support;

use std::process::Stdio;
use std::sync::Arc;
use support::*;
use theater::config::actor_manifest::TcpHandlerConfig;
use theater_tcp_handler::{CoreConfig, TcpHandler};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

struct Certificate {
    _dir: tempfile::TempDir,
    cert: String,
    key: String,
    der: rustls_pki_types::CertificateDer<'static>,
    key_der: Vec<u8>,
}

fn certificate() -> Certificate {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("rcgen");
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, generated.cert.pem()).expect("write cert");
    std::fs::write(&key, generated.signing_key.serialize_pem()).expect("write key");
    Certificate {
        der: generated.cert.der().clone(),
        key_der: generated.signing_key.serialize_der(),
        cert: cert.display().to_string(),
        key: key.display().to_string(),
        _dir: dir,
    }
}

fn server_tls_table(port: u16, cert: &str, key: &str) -> String {
    format!(
        "listen = \"127.0.0.1:{port}\"\n\n[handler.server_tls]\nenabled = true\ncert = \"{cert}\"\nkey = \"{key}\"\n"
    )
}

/// A rustls client trusting `cert`, with the ring provider passed explicitly.
fn client(cert: &Certificate) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der.clone()).expect("root");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_tls_echo_ends_with_close_notify_and_both_providers_do_not_panic() {
    // theater's rustls has aws-lc-rs, ours ring: both are compiled into this test, and no
    // process-wide default provider is installed (every config names its provider).
    let _aws_lc_rs_is_here = rustls::crypto::aws_lc_rs::default_provider;
    assert!(rustls::crypto::CryptoProvider::get_default().is_none());

    let cert = certificate();
    let (_theater, _, mut tls) = tls_echo(&cert, "passive").await;
    let data = random_bytes(200 * 1024, 7);
    tls.write_all(&data).await.expect("write");
    // close_notify from the client: the passive echo's receive sees end of stream and closes.
    tls.shutdown().await.expect("close_notify");
    let mut back = Vec::new();
    // rustls reports a stream that ends without the server's close_notify as an error.
    tokio::time::timeout(STEP, tls.read_to_end(&mut back))
        .await
        .expect("end in time")
        .expect("a clean end: close_notify then FIN");
    assert!(back == data, "the TLS echo differs");
    assert!(rustls::crypto::CryptoProvider::get_default().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_with_openssl_s_client() {
    let cert = certificate();
    let config = CoreConfig {
        server_tls: Some(theater_tcp_core::ServerTls {
            enabled: true,
            cert: cert.cert.clone(),
            key: cert.key.clone(),
            auto_handshake: false,
        }),
        ..CoreConfig::default()
    };
    let theater = Theater::start(TcpHandler::with_config(config)).await;
    let (_echo, addr) = theater
        .spawn_listening("smtp-echo", actor("echo"), state("starttls"))
        .await;

    let mut s_client = tokio::process::Command::new("openssl")
        .args(["s_client", "-starttls", "smtp", "-quiet", "-connect"])
        .arg(addr.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("openssl s_client");
    let mut stdin = s_client.stdin.take().expect("stdin");
    let mut lines = BufReader::new(s_client.stdout.take().expect("stdout")).lines();
    stdin.write_all(b"over tls\n").await.expect("write");
    let line = tokio::time::timeout(STEP, lines.next_line())
        .await
        .expect("echo in time")
        .expect("read")
        .expect("a line");
    assert_eq!(line, "over tls");
    drop(stdin);
    let _ = s_client.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_that_cannot_be_loaded_fails_the_actor_start_naming_the_key() {
    let theater = Theater::start(TcpHandler::new(TcpHandlerConfig::default())).await;
    let table = server_tls_table(free_port(), "/nonexistent/cert.pem", "/nonexistent/key.pem");
    let error = theater
        .try_spawn("echo", actor("echo"), state("passive"), Some(&table))
        .await
        .err()
        .expect("the actor must not start");
    let message = format!("{error:#}");
    assert!(message.contains("server_tls.cert"), "{message}");
    assert!(message.contains("/nonexistent/cert.pem"), "{message}");
}

/// A rustls server with `cert`, the ring provider passed explicitly.
fn acceptor(cert: &Certificate) -> tokio_rustls::TlsAcceptor {
    let key = rustls_pki_types::PrivateKeyDer::Pkcs8(cert.key_der.clone().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(vec![cert.der.clone()], key)
    .expect("server config");
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_to_tls_client_after_a_plain_connect() {
    let cert = certificate();
    let config = CoreConfig {
        client_tls: theater_tcp_core::ClientTls {
            enabled: true,
            ca_cert: Some(cert.cert.clone()),
            danger_skip_verify: false,
            auto_handshake: false,
        },
        ..CoreConfig::default()
    };
    let theater = Theater::start(TcpHandler::with_config(config)).await;
    let (_probe, mut probe) = theater.probe("probe").await;
    let server = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = server.local_addr().expect("addr");

    let conn = probe.ok(&format!("connect {addr}")).await;
    let (plain, _) = server.accept().await.expect("accept");
    let tls_server = tokio::spawn({
        let acceptor = acceptor(&cert);
        async move {
            let mut tls = acceptor.accept(plain).await.expect("server handshake");
            let mut buf = [0u8; 6];
            tls.read_exact(&mut buf).await.expect("read");
            tls.write_all(b"secret").await.expect("write");
            tls.flush().await.expect("flush");
            buf
        }
    });
    probe
        .ok(&format!("upgrade-to-tls-client {conn} localhost"))
        .await;
    assert_eq!(probe.ok(&format!("send {conn} hidden")).await, "6");
    let received = tokio::time::timeout(STEP, tls_server)
        .await
        .expect("server in time")
        .expect("server");
    assert_eq!(&received, b"hidden");
    assert_eq!(probe.ok(&format!("receive {conn} 6")).await, "secret");
    assert!(rustls::crypto::CryptoProvider::get_default().is_none());
}

/// A Theater with our handler and the echo guest in `mode` behind implicit TLS (`cert`), and a
/// TLS client connected to it: `(theater, echo actor, client)`.
async fn tls_echo(
    cert: &Certificate,
    mode: &str,
) -> (Theater, Spawned, tokio_rustls::client::TlsStream<TcpStream>) {
    let theater = Theater::start(TcpHandler::new(TcpHandlerConfig::default())).await;
    let port = free_port();
    let echo = theater
        .spawn(
            "echo",
            actor("echo"),
            state(mode),
            Some(&server_tls_table(port, &cert.cert, &cert.key)),
        )
        .await;
    wait_listening(([127, 0, 0, 1], port).into()).await;
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
    let tls = tokio::time::timeout(STEP, client(cert).connect(name, tcp))
        .await
        .expect("handshake in time")
        .expect("handshake");
    (theater, echo, tls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_an_actor_closes_its_tls_connections_with_close_notify() {
    let cert = certificate();
    let (theater, echo, mut tls) = tls_echo(&cert, "active").await;
    tls.write_all(b"ping").await.expect("write");
    let mut buf = [0u8; 4];
    tokio::time::timeout(STEP, tls.read_exact(&mut buf))
        .await
        .expect("echo in time")
        .expect("read");
    assert_eq!(&buf, b"ping");

    theater.stop(echo.id).await;
    let mut rest = Vec::new();
    // rustls reports an end without close_notify as an error.
    tokio::time::timeout(STEP, tls.read_to_end(&mut rest))
        .await
        .expect("closed in time")
        .expect("close_notify before the end of stream");
    assert!(rest.is_empty());
}
