//! TLS with wasm actors on real sockets, against `openssl s_client`: implicit TLS on the
//! handler's listener (the echo actor never sees plaintext) and STARTTLS driven by an actor
//! (`openssl s_client -starttls smtp` against the SMTP-like starttls_server actor).

use std::process::Stdio;
use std::time::Duration;
use theater_tcp_tests::{
    Certificates, address, assert_same_bytes, guard, listening, random_bytes, start,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

/// `openssl s_client` connected to `addr` with `extra` arguments: quiet (stdout carries only
/// application data), no command letters, and it ends (with close_notify) at stdin's end.
fn s_client(addr: std::net::SocketAddr, extra: &[&str]) -> Child {
    let spawned = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &addr.to_string(),
            "-quiet",
            "-no_ign_eof",
            "-nocommands",
        ])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    match spawned {
        Ok(child) => child,
        Err(e) => panic!("cannot run openssl ({e}): run `bash scripts/setup.sh`"),
    }
}

/// Sends `data` through s_client, reads exactly as many bytes back, then closes stdin and
/// expects s_client to end cleanly.
async fn exchange(what: &str, mut child: Child, data: &[u8]) {
    let mut stdin = child.stdin.take().expect("s_client stdin");
    let mut stdout = child.stdout.take().expect("s_client stdout");
    let mut stderr = child.stderr.take().expect("s_client stderr");
    let input = data.to_vec();
    let writer = tokio::spawn(async move {
        stdin.write_all(&input).await?;
        Ok::<_, std::io::Error>(stdin)
    });
    let mut got = vec![0; data.len()];
    let read = guard(what, stdout.read_exact(&mut got)).await;
    if let Err(e) = read {
        let mut err = String::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), stderr.read_to_string(&mut err)).await;
        panic!("{what}: reading s_client's output: {e}; s_client said:\n{err}");
    }
    assert_same_bytes(what, &got, data);
    drop(
        writer
            .await
            .expect("writer task")
            .expect("write to s_client"),
    );
    let status = guard("s_client exit", child.wait())
        .await
        .expect("s_client status");
    assert!(status.success(), "{what}: s_client ended with {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s_client_echoes_through_implicit_tls() {
    let certs = Certificates::generate();
    let mut config = listening();
    config.server_tls = Some(certs.server_tls(true));
    let host = start(config, &[("echo", "echo_active")]).await;
    let data = random_bytes(256 * 1024, 31);
    exchange("implicit TLS echo", s_client(address(&host), &[]), &data).await;
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s_client_starttls_smtp_upgrades_and_echoes() {
    let certs = Certificates::generate();
    let mut config = listening();
    config.server_tls = Some(certs.server_tls(false));
    let host = start(config, &[("smtp", "starttls_server")]).await;
    let data = random_bytes(128 * 1024, 32);
    exchange(
        "STARTTLS echo",
        s_client(address(&host), &["-starttls", "smtp"]),
        &data,
    )
    .await;
    assert!(
        host.logs().contains(&(
            "smtp".to_owned(),
            "starttls_server: upgraded to TLS".to_owned()
        )),
        "the actor did not log its upgrade: {:?}",
        host.logs()
    );
    host.shutdown().await;
}
