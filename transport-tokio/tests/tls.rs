//! TLS on real sockets: implicit TLS in both roles, STARTTLS in both roles (the server side
//! against the real `openssl s_client -starttls smtp`), the STARTTLS-injection guard, the
//! handshake timeout, close_notify on every close path, verification failures and fail-closed
//! start-up. Certificates are generated here with rcgen.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
mod support;
use support::{
    accept_send_all_then_close, guard, listen, ok, read_slowly, start_on, strict_connector,
};
use theater_tcp_core::{Callback, ClientTls, Config, Error, Exports, ServerTls};
use theater_tcp_tokio::{
    ActorHandle, CallbackEvent, Driver, DriverHandle, StartError, TokioNetwork, provider,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// A CA and a server certificate for `localhost` and `127.0.0.1`, as PEM files and as DER.
struct Pki {
    _dir: tempfile::TempDir,
    ca_path: PathBuf,
    cert_path: PathBuf,
    key_path: PathBuf,
    ca: CertificateDer<'static>,
    cert: CertificateDer<'static>,
    key: Vec<u8>,
}

fn pki() -> Pki {
    let mut ca_params = ok("ca params", CertificateParams::new(Vec::<String>::new()));
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    // Distinct names: OpenSSL takes a leaf whose subject equals its issuer for self-signed.
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "theater-tcp test CA");
    let ca = ok(
        "ca",
        CertifiedIssuer::self_signed(ca_params, ok("ca key", KeyPair::generate())),
    );
    let key = ok("key", KeyPair::generate());
    let params = ok(
        "params",
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]),
    );
    let mut params = params;
    params
        .distinguished_name
        .push(DnType::CommonName, "theater-tcp test server");
    let cert = ok("cert", params.signed_by(&key, &ca));
    let dir = ok("tempdir", tempfile::tempdir());
    let write = |name: &str, text: String| {
        let path = dir.path().join(name);
        ok("write pem", std::fs::write(&path, text));
        path
    };
    Pki {
        ca_path: write("ca.pem", ca.pem()),
        cert_path: write("cert.pem", cert.pem()),
        key_path: write("key.pem", key.serialize_pem()),
        ca: ca.der().clone(),
        cert: cert.der().clone(),
        key: key.serialize_der(),
        _dir: dir,
    }
}

impl Pki {
    fn server_tls(&self, auto_handshake: bool) -> ServerTls {
        ServerTls {
            enabled: true,
            cert: self.cert_path.display().to_string(),
            key: self.key_path.display().to_string(),
            auto_handshake,
        }
    }

    fn client_tls(&self, auto_handshake: bool) -> ClientTls {
        ClientTls {
            enabled: true,
            ca_cert: Some(self.ca_path.display().to_string()),
            danger_skip_verify: false,
            auto_handshake,
        }
    }

    /// A strict rustls client trusting only this CA.
    fn connector(&self) -> TlsConnector {
        strict_connector(self.ca.clone())
    }

    /// A rustls server with this certificate.
    fn acceptor(&self) -> TlsAcceptor {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.clone()));
        let config = ok(
            "server config",
            ServerConfig::builder_with_provider(provider()).with_safe_default_protocol_versions(),
        )
        .with_no_client_auth();
        let config = ok(
            "cert",
            config.with_single_cert(vec![self.cert.clone()], key),
        );
        TlsAcceptor::from(Arc::new(config))
    }
}

fn start(config: Config) -> DriverHandle {
    start_on(config, TokioNetwork)
}

/// A driver with certificates for STARTTLS (no implicit TLS), an actor, and one accepted,
/// activated connection with its peer.
async fn starttls_connection(pki: &Pki) -> (DriverHandle, ActorHandle, String, TcpStream) {
    let driver = start(Config {
        server_tls: Some(pki.server_tls(false)),
        ..Config::default()
    });
    let actor = driver.actor("smtp", Exports::default());
    let (listener, addr) = listen(&actor).await;
    let peer = ok("connect", TcpStream::connect(addr).await);
    let conn = ok("accept", guard("accept", actor.accept(&listener)).await);
    ok("activate", actor.activate(&conn).await);
    (driver, actor, conn, peer)
}

/// Receives until a CRLF-terminated line is complete (the peers here wait for answers, so
/// nothing beyond the line is in flight).
async fn line(actor: &ActorHandle, conn: &str) -> String {
    let mut got = Vec::new();
    while !got.ends_with(b"\r\n") {
        let data = ok("receive", guard("a line", actor.receive(conn, 1024)).await);
        assert!(!data.is_empty(), "EOF inside a line: {got:?}");
        got.extend(data);
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// Reads everything to the end: fails on `UnexpectedEof`, i.e. a close without close_notify.
async fn read_to_end_strictly(mut stream: impl AsyncRead + Unpin) -> Vec<u8> {
    let mut all = Vec::new();
    ok(
        "strict read to end (close_notify expected)",
        guard("peer EOF", stream.read_to_end(&mut all)).await,
    );
    all
}

async fn next(actor: &mut ActorHandle) -> CallbackEvent {
    match guard("a callback", actor.next_callback()).await {
        Some(e) => e,
        None => panic!("driver stopped"),
    }
}

fn localhost() -> ServerName<'static> {
    ok("server name", ServerName::try_from("localhost"))
}

#[tokio::test]
async fn implicit_tls_as_server() {
    let pki = pki();
    let driver = start(Config {
        server_tls: Some(pki.server_tls(true)),
        ..Config::default()
    });
    let actor = driver.actor("server", Exports::default());
    let (listener, addr) = listen(&actor).await;
    let connector = pki.connector();
    let peer = tokio::spawn(async move {
        let tcp = TcpStream::connect(addr).await?;
        let mut tls = connector.connect(localhost(), tcp).await?;
        tls.write_all(b"ping").await?;
        tls.flush().await?;
        Ok::<_, std::io::Error>(read_to_end_strictly(tls).await)
    });
    let conn = ok("accept", guard("accept", actor.accept(&listener)).await);
    ok("activate", actor.activate(&conn).await);
    let info = ok("tls-info", actor.tls_info(&conn).await);
    assert_eq!(info.protocol, "TLSv1.3");
    assert_eq!(
        ok("receive", guard("receive", actor.receive(&conn, 4)).await),
        b"ping"
    );
    ok("send", actor.send(&conn, b"pong".to_vec()).await);
    ok("close", actor.close(&conn).await);
    let got = ok("peer", ok("join", guard("peer", peer).await));
    assert_eq!(got, b"pong");
}

#[tokio::test]
async fn implicit_tls_as_client_with_a_resolved_name() {
    let pki = pki();
    let server = ok("bind", TcpListener::bind("127.0.0.1:0").await);
    let port = ok("addr", server.local_addr()).port();
    let acceptor = pki.acceptor();
    let peer = tokio::spawn(async move {
        let (tcp, _) = server.accept().await?;
        let mut tls = acceptor.accept(tcp).await?;
        let mut hi = [0u8; 2];
        tls.read_exact(&mut hi).await?;
        tls.write_all(b"there").await?;
        tls.shutdown().await?;
        let rest = read_to_end_strictly(tls).await;
        Ok::<_, std::io::Error>((hi, rest))
    });
    let driver = start(Config {
        client_tls: pki.client_tls(true),
        ..Config::default()
    });
    let actor = driver.actor("client", Exports::default());
    let conn = ok(
        "connect",
        guard("connect", actor.connect(&format!("localhost:{port}"))).await,
    );
    let info = ok("tls-info", actor.tls_info(&conn).await);
    assert_eq!(info.peer_certificates.first(), Some(&pki.cert.to_vec()));
    ok("send", actor.send(&conn, b"hi".to_vec()).await);
    let mut got = Vec::new();
    loop {
        let data = ok("receive", guard("receive", actor.receive(&conn, 100)).await);
        if data.is_empty() {
            break;
        }
        got.extend(data);
    }
    assert_eq!(got, b"there");
    ok("close", actor.close(&conn).await);
    let (hi, rest) = ok("peer", ok("join", guard("peer", peer).await));
    assert_eq!(&hi, b"hi");
    assert!(rest.is_empty());
}

#[tokio::test]
async fn starttls_server_upgrade_with_openssl_s_client() {
    let pki = pki();
    let driver = start(Config {
        server_tls: Some(pki.server_tls(false)),
        ..Config::default()
    });
    let actor = driver.actor("smtp", Exports::default());
    let (listener, addr) = listen(&actor).await;
    let ca = pki.ca_path.clone();
    let client = tokio::task::spawn_blocking(move || {
        let mut child = std::process::Command::new("openssl")
            .args(["s_client", "-starttls", "smtp", "-connect"])
            .arg(addr.to_string())
            .arg("-CAfile")
            .arg(&ca)
            .args(["-verify_return_error", "-verify_ip", "127.0.0.1", "-quiet"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(b"hello over tls\r\n")?;
        }
        child.wait_with_output()
    });
    let conn = ok("accept", guard("accept", actor.accept(&listener)).await);
    ok("activate", actor.activate(&conn).await);
    ok(
        "send",
        actor.send(&conn, b"220 test ESMTP\r\n".to_vec()).await,
    );
    let ehlo = line(&actor, &conn).await;
    assert!(ehlo.starts_with("EHLO"), "{ehlo:?}");
    let caps = b"250-test greets you\r\n250 STARTTLS\r\n".to_vec();
    ok("send", actor.send(&conn, caps).await);
    assert_eq!(line(&actor, &conn).await, "STARTTLS\r\n");
    ok(
        "send",
        actor.send(&conn, b"220 go ahead\r\n".to_vec()).await,
    );
    ok(
        "upgrade",
        guard("upgrade", actor.upgrade_to_tls_server(&conn)).await,
    );
    assert_eq!(
        ok("tls-info", actor.tls_info(&conn).await).protocol,
        "TLSv1.3"
    );
    assert_eq!(line(&actor, &conn).await, "hello over tls\r\n");
    ok("send", actor.send(&conn, b"250 got it\r\n".to_vec()).await);
    ok("close", actor.close(&conn).await);
    let output = ok("s_client", ok("join", guard("s_client", client).await));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stdout.contains("250 got it"),
        "s_client stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(!stderr.contains("verify error"), "{stderr}");
}

#[tokio::test]
async fn starttls_client_upgrade_against_a_rustls_server() {
    let pki = pki();
    let server = ok("bind", TcpListener::bind("127.0.0.1:0").await);
    let addr = ok("addr", server.local_addr());
    let acceptor = pki.acceptor();
    let peer = tokio::spawn(async move {
        let (mut tcp, _) = server.accept().await?;
        tcp.write_all(b"220 hi\r\n").await?;
        // Byte by byte: the handshake must start right after this line.
        let mut command = Vec::new();
        while !command.ends_with(b"\r\n") {
            command.push(tcp.read_u8().await?);
        }
        assert_eq!(command, b"STARTTLS\r\n");
        tcp.write_all(b"220 go\r\n").await?;
        let mut tls = acceptor.accept(tcp).await?;
        let mut secret = [0u8; 6];
        tls.read_exact(&mut secret).await?;
        tls.write_all(b"reply").await?;
        tls.shutdown().await?;
        let rest = read_to_end_strictly(tls).await;
        Ok::<_, std::io::Error>((secret, rest))
    });
    let driver = start(Config {
        client_tls: pki.client_tls(false),
        ..Config::default()
    });
    let actor = driver.actor("client", Exports::default());
    let conn = ok("connect", actor.connect(&addr.to_string()).await);
    assert_eq!(line(&actor, &conn).await, "220 hi\r\n");
    ok("send", actor.send(&conn, b"STARTTLS\r\n".to_vec()).await);
    assert_eq!(line(&actor, &conn).await, "220 go\r\n");
    ok(
        "upgrade",
        guard("upgrade", actor.upgrade_to_tls_client(&conn, "localhost")).await,
    );
    ok("send", actor.send(&conn, b"secret".to_vec()).await);
    let mut got = Vec::new();
    loop {
        let data = ok("receive", guard("receive", actor.receive(&conn, 100)).await);
        if data.is_empty() {
            break;
        }
        got.extend(data);
    }
    assert_eq!(got, b"reply");
    ok("close", actor.close(&conn).await);
    let (secret, rest) = ok("peer", ok("join", guard("peer", peer).await));
    assert_eq!(&secret, b"secret");
    assert!(rest.is_empty());
}

#[tokio::test]
async fn starttls_injection_is_refused_and_nothing_is_lost() {
    let pki = pki();
    let (_driver, actor, conn, mut peer) = starttls_connection(&pki).await;
    // Both commands in one segment; on loopback they are in the socket when write returns.
    ok(
        "peer write",
        peer.write_all(b"STARTTLS\r\nMAIL FROM:<evil>\r\n").await,
    );
    assert_eq!(
        ok("receive", guard("receive", actor.receive(&conn, 10)).await),
        b"STARTTLS\r\n"
    );
    assert_eq!(
        actor.upgrade_to_tls_server(&conn).await,
        Err(Error::PlaintextBuffered)
    );
    assert_eq!(line(&actor, &conn).await, "MAIL FROM:<evil>\r\n");
    ok("send", actor.send(&conn, b"454 no\r\n".to_vec()).await);
    let mut reply = [0u8; 8];
    ok(
        "peer read",
        guard("peer read", peer.read_exact(&mut reply)).await,
    );
    assert_eq!(&reply, b"454 no\r\n");
}

#[tokio::test]
async fn a_handshake_that_never_completes_is_cut_at_the_timeout() {
    let pki = pki();
    let driver = start(Config {
        server_tls: Some(pki.server_tls(true)),
        client_tls: pki.client_tls(true),
        handshake_timeout_ms: 300,
        ..Config::default()
    });
    // Client side: a peer that accepts TCP and never answers the ClientHello.
    let silent = ok("bind", TcpListener::bind("127.0.0.1:0").await);
    let silent_addr = ok("addr", silent.local_addr());
    let silent_peer = tokio::spawn(async move {
        let (mut tcp, _) = silent.accept().await?;
        let mut sink = Vec::new();
        // Ends with EOF or reset once the driver gives up.
        let _ = tcp.read_to_end(&mut sink).await;
        Ok::<_, std::io::Error>(sink)
    });
    let client = driver.actor("client", Exports::default());
    assert_eq!(
        guard("connect", client.connect(&silent_addr.to_string())).await,
        Err(Error::HandshakeTimedOut)
    );
    let hello = ok("silent peer", ok("join", guard("cut", silent_peer).await));
    assert!(!hello.is_empty(), "the driver sent no ClientHello");
    // Server side: a peer that connects and never sends a ClientHello is cut too.
    let server = driver.actor("server", Exports::default());
    let (_listener, addr) = listen(&server).await;
    let mut mute = ok("connect", TcpStream::connect(addr).await);
    let mut sink = Vec::new();
    let _ = guard("server-side cut", mute.read_to_end(&mut sink)).await;
    assert!(sink.is_empty());
    assert_eq!(driver.stats().await.census.connections, 0);
}

#[tokio::test]
async fn every_close_path_sends_close_notify() {
    let pki = pki();
    let driver = start(Config {
        server_tls: Some(pki.server_tls(true)),
        ..Config::default()
    });
    let connector = pki.connector();
    let peer = |addr: SocketAddr| {
        let connector = connector.clone();
        async move {
            let tcp = ok("connect", TcpStream::connect(addr).await);
            ok("handshake", connector.connect(localhost(), tcp).await)
        }
    };
    let actor = driver.actor("server", Exports::default());
    let (listener, addr) = listen(&actor).await;

    // close()
    let (tls, conn) = tokio::join!(peer(addr), actor.accept(&listener));
    let conn = ok("accept", conn);
    ok("activate", actor.activate(&conn).await);
    ok("send", actor.send(&conn, b"bye".to_vec()).await);
    ok("close", actor.close(&conn).await);
    assert_eq!(read_to_end_strictly(tls).await, b"bye");

    // shutdown(write): the peer sees a clean end while the actor can still receive.
    let (mut tls, conn) = tokio::join!(peer(addr), actor.accept(&listener));
    let conn = ok("accept", conn);
    ok("activate", actor.activate(&conn).await);
    ok("shutdown", actor.shutdown(&conn, "write").await);
    let mut nothing = Vec::new();
    ok(
        "strict read after shutdown",
        guard("EOF", tls.read_to_end(&mut nothing)).await,
    );
    ok("peer write", tls.write_all(b"still here").await);
    ok("peer flush", tls.flush().await);
    assert_eq!(
        ok("receive", guard("receive", actor.receive(&conn, 100)).await),
        b"still here"
    );
    ok("close", actor.close(&conn).await);

    // The actor stops: its connections close gracefully.
    let (tls, conn) = tokio::join!(peer(addr), actor.accept(&listener));
    let conn = ok("accept", conn);
    ok("activate", actor.activate(&conn).await);
    actor.stop();
    assert!(read_to_end_strictly(tls).await.is_empty());

    // on-close: after the peer's close_notify the host closes with its own.
    let mut pusher = driver.actor(
        "pusher",
        Exports {
            handle_connection: false,
            ..Exports::ALL
        },
    );
    let (listener, addr) = listen(&pusher).await;
    let (mut tls, conn) = tokio::join!(peer(addr), pusher.accept(&listener));
    let conn = ok("accept", conn);
    ok("activate", pusher.activate(&conn).await);
    ok("active", pusher.set_active(&conn, "active").await);
    ok("peer shutdown", tls.shutdown().await);
    let event = next(&mut pusher).await;
    assert_eq!(
        event.callback,
        Callback::OnClose {
            connection: conn.clone(),
            reason: "eof".into()
        }
    );
    event.ok();
    assert!(read_to_end_strictly(tls).await.is_empty());

    // A FIN without close_notify is its own reason.
    let (tls, conn) = tokio::join!(peer(addr), pusher.accept(&listener));
    let conn = ok("accept", conn);
    ok("activate", pusher.activate(&conn).await);
    ok("active", pusher.set_active(&conn, "active").await);
    let (mut tcp, _) = tls.into_inner();
    ok("FIN without close_notify", tcp.shutdown().await);
    let event = next(&mut pusher).await;
    assert_eq!(
        event.callback,
        Callback::OnClose {
            connection: conn,
            reason: "tls-truncated".into()
        }
    );
    event.ok();
}

#[tokio::test]
async fn a_certificate_that_does_not_verify_fails_the_connect_clearly() {
    let trusted = pki();
    let presented = pki();
    let server = ok("bind", TcpListener::bind("127.0.0.1:0").await);
    let addr = ok("addr", server.local_addr());
    let acceptor = presented.acceptor();
    tokio::spawn(async move {
        if let Ok((tcp, _)) = server.accept().await {
            let _ = acceptor.accept(tcp).await;
        }
    });
    let driver = start(Config {
        client_tls: trusted.client_tls(true),
        ..Config::default()
    });
    let actor = driver.actor("client", Exports::default());
    match guard("connect", actor.connect(&addr.to_string())).await {
        Err(e @ Error::TlsFailed(_)) => {
            let text = e.to_string();
            assert!(
                text.starts_with("TLS handshake failed: invalid peer certificate"),
                "{text}"
            );
        }
        other => panic!("expected a verification failure, got {other:?}"),
    }
    assert_eq!(driver.stats().await.census.connections, 0);
}

#[tokio::test]
async fn unreadable_tls_files_stop_start_up_with_a_clear_error() {
    let pki = pki();
    let missing = "/nonexistent/theater-tcp/cert.pem";
    let cases = [
        (
            Config {
                server_tls: Some(ServerTls {
                    cert: missing.into(),
                    ..pki.server_tls(true)
                }),
                ..Config::default()
            },
            "server_tls.cert",
        ),
        (
            Config {
                server_tls: Some(ServerTls {
                    // A certificate where the key should be.
                    key: pki.cert_path.display().to_string(),
                    ..pki.server_tls(true)
                }),
                ..Config::default()
            },
            "server_tls.key",
        ),
        (
            Config {
                client_tls: ClientTls {
                    ca_cert: Some(missing.into()),
                    ..pki.client_tls(false)
                },
                ..Config::default()
            },
            "client_tls.ca_cert",
        ),
    ];
    for (config, key) in cases {
        match Driver::start(config, TokioNetwork) {
            Err(StartError::Tls(e)) => {
                assert_eq!(e.key, key);
                let text = StartError::Tls(e).to_string();
                assert!(text.contains(key), "{text}");
            }
            Err(other) => panic!("{key}: expected a TLS error, got {other}"),
            Ok(_) => panic!("{key}: the driver started without its TLS files"),
        }
    }
    match Driver::start(
        Config {
            server_tls: Some(ServerTls {
                cert: missing.into(),
                ..pki.server_tls(true)
            }),
            ..Config::default()
        },
        TokioNetwork,
    ) {
        Err(e) => {
            let text = e.to_string();
            assert!(
                text.contains(missing) && text.contains("No such file"),
                "{text}"
            );
        }
        Ok(_) => panic!("started"),
    }
}

/// A STARTTLS handshake that meets plaintext fails; the connection then closes gracefully:
/// the peer reads the 220 line, rustls' whole alert, and a clean end of stream, never a reset
/// (an RST could make the peer's stack discard the alert it had not read yet).
#[tokio::test]
async fn a_failed_starttls_handshake_sends_its_alert_then_a_clean_end() {
    let pki = pki();
    let (_driver, actor, conn, mut peer) = starttls_connection(&pki).await;
    ok(
        "send",
        actor.send(&conn, b"220 go ahead\r\n".to_vec()).await,
    );
    let upgrade = actor.upgrade_to_tls_server(&conn);
    let peer_side = async {
        let mut ready = [0u8; 14];
        ok("read 220", peer.read_exact(&mut ready).await);
        assert_eq!(&ready, b"220 go ahead\r\n");
        ok("peer write", peer.write_all(b"MAIL FROM:<x@y>\r\n").await);
        let mut rest = Vec::new();
        ok("read to a clean end", peer.read_to_end(&mut rest).await);
        rest
    };
    let (upgraded, rest) =
        guard("failed upgrade", async { tokio::join!(upgrade, peer_side) }).await;
    match upgraded {
        Err(Error::TlsFailed(_)) => {}
        other => panic!("expected a TLS failure, got {other:?}"),
    }
    // One alert record (type 21, TLS 1.2 record version, two bytes: level and description).
    assert_eq!(rest.len(), 7, "{rest:?}");
    assert_eq!(&rest[..5], &[21, 3, 3, 0, 2], "{rest:?}");
    assert_eq!(rest[5], 2, "a fatal alert: {rest:?}");
}

/// What an actor sends before `close` reaches a peer that reads slowly, all of it, then
/// close_notify and FIN.
#[tokio::test]
async fn a_close_right_after_a_large_send_delivers_every_byte_over_tls() {
    const TOTAL: usize = 4 * 1024 * 1024;
    let pki = pki();
    let driver = start(Config {
        server_tls: Some(pki.server_tls(true)),
        ..Config::default()
    });
    let actor = driver.actor("server", Exports::default());
    let (listener, addr) = listen(&actor).await;
    let connector = pki.connector();
    let peer = tokio::spawn(async move {
        let tcp = TcpStream::connect(addr).await?;
        let tls = connector.connect(localhost(), tcp).await?;
        read_slowly(tls).await
    });
    let data: Vec<u8> = (0..TOTAL).map(|i| (i * 13 % 251) as u8).collect();
    accept_send_all_then_close(&actor, &listener, &data).await;
    let got = ok(
        "peer (close_notify expected)",
        ok("join", guard("peer", peer).await),
    );
    assert_eq!(got.len(), TOTAL);
    assert!(got == data, "the stream differs");
}
