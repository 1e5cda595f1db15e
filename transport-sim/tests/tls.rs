//! The driver's real TLS (tokio-rustls) over turmoil streams under the fault layer, with
//! rustls on the simulated clock: the certificates are valid only around the simulated epoch.

use theater_tcp_core::{Config, Exports, ServerTls};
use theater_tcp_sim::actor::{Script, text};
use theater_tcp_sim::tls::SimCertificates;
use theater_tcp_sim::{FaultPlan, Sim, SimContext, Sweep};
use theater_tcp_tokio::Network;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::pki_types::ServerName;

/// Fresh certificates in a directory of their own (tests of this file run in parallel).
fn certificates() -> SimCertificates {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("theater-tcp-sim-tls-{}-{n}", std::process::id()));
    SimCertificates::new("server")
        .expect("certificates")
        .write_to(&dir)
        .expect("write certificates")
}

fn config(certs: &SimCertificates) -> Config {
    Config {
        server_tls: Some(ServerTls {
            enabled: true,
            cert: certs.path("cert.pem"),
            key: certs.path("key.pem"),
            auto_handshake: true,
        }),
        ..Config::default()
    }
}

/// A peer speaks TLS to an actor's listener (implicit TLS), sends 16 KiB, reads them back.
async fn tls_echo(ctx: SimContext, certs: SimCertificates) -> Result<(), String> {
    const TOTAL: usize = 16 * 1024;
    let (listener_tx, listener_rx) = tokio::sync::oneshot::channel();
    let actor = Script::spawn(&ctx.driver, "tls-echo", Exports::ALL, |actor| async move {
        let listener = actor.listen("0.0.0.0:0").await.map_err(text)?;
        let local = actor.local_address(&listener).await.map_err(text)?;
        let _ = listener_tx.send(local);
        let conn = actor.accept(&listener).await.map_err(text)?;
        actor.activate(&conn).await.map_err(text)?;
        let info = actor.tls_info(&conn).await.map_err(text)?;
        loop {
            let data = actor.receive(&conn, 4096).await.map_err(text)?;
            if data.is_empty() {
                break;
            }
            actor.send(&conn, data).await.map_err(text)?;
        }
        actor.close(&conn).await.map_err(text)?;
        Ok(info.protocol)
    });
    let local: std::net::SocketAddr = listener_rx
        .await
        .map_err(|_| "no listener")?
        .parse()
        .map_err(|e| format!("{e}"))?;
    let addr = std::net::SocketAddr::new(ctx.server, local.port());
    let stream = ctx.peer.connect(addr).await.map_err(|e| e.to_string())?;
    let name = ServerName::try_from("server").map_err(|e| e.to_string())?;
    let tls = certs
        .connector()?
        .connect(name, stream)
        .await
        .map_err(|e| format!("peer handshake: {e}"))?;
    let (mut rd, mut wr) = tokio::io::split(tls);
    let sent: Vec<u8> = (0..TOTAL).map(|i| (i * 31 % 251) as u8).collect();
    let expected = sent.clone();
    let writer = async move {
        for piece in sent.chunks(3000) {
            wr.write_all(piece).await.map_err(|e| e.to_string())?;
        }
        wr.shutdown().await.map_err(|e| e.to_string())?;
        Ok::<_, String>(wr)
    };
    let reader = async move {
        let mut got = Vec::new();
        rd.read_to_end(&mut got)
            .await
            .map_err(|e| format!("peer read: {e}"))?;
        Ok::<_, String>(got)
    };
    let (_wr, got) = tokio::try_join!(writer, reader)?;
    if got != expected {
        return Err(format!(
            "peer got {} bytes back, not the {TOTAL} it sent",
            got.len()
        ));
    }
    let protocol = actor.join().await?;
    if protocol != "TLSv1.3" {
        return Err(format!("negotiated {protocol}"));
    }
    Ok(())
}

#[test]
fn tls_echo_on_the_simulated_clock_under_lossless_faults_20_seeds() {
    let certs = certificates();
    let scenario_certs = certs.clone();
    Sweep::new(
        "tls",
        "tls_echo_on_the_simulated_clock_under_lossless_faults_20_seeds",
    )
    .run(
        0..20,
        |seed| Sim::new(seed, FaultPlan::lossless_from_seed(seed)).config(config(&certs)),
        move |ctx| tls_echo(ctx, scenario_certs.clone()),
    )
    .assert_ok();
}

#[test]
fn the_trace_shows_the_handshake_and_is_the_same_twice() {
    let certs = certificates();
    let run = || {
        let scenario_certs = certs.clone();
        Sim::new(7, FaultPlan::lossless_from_seed(7))
            .config(config(&certs))
            .keep_trace(true)
            .run(move |ctx| tls_echo(ctx, scenario_certs))
    };
    let first = run();
    first.result.clone().expect("TLS echo");
    let established = first.records.iter().any(|r| {
        matches!(
            &r.event,
            theater_tcp_sim::TraceEvent::Input(theater_tcp_core::Input::Io(
                theater_tcp_core::IoEvent::TlsEstablished { .. }
            ))
        )
    });
    assert!(established, "no TLS handshake in the trace");
    assert_eq!(run().trace_hash, first.trace_hash);
}

/// STARTTLS whose handshake meets plaintext: the actor answers `220`, upgrades at once, and
/// the peer, once it read the `220`, sends a line that is no ClientHello. The handshake fails
/// and the connection closes; the peer must read the `220`, then whole alert records only,
/// then the end of the stream.
async fn failed_upgrade(ctx: SimContext) -> Result<(), String> {
    let (listener_tx, listener_rx) = tokio::sync::oneshot::channel();
    let actor = Script::spawn(&ctx.driver, "starttls", Exports::ALL, |actor| async move {
        let listener = actor.listen("0.0.0.0:0").await.map_err(text)?;
        let local = actor.local_address(&listener).await.map_err(text)?;
        let _ = listener_tx.send(local);
        let conn = actor.accept(&listener).await.map_err(text)?;
        actor.activate(&conn).await.map_err(text)?;
        actor
            .send(&conn, b"220 go ahead\r\n".to_vec())
            .await
            .map_err(text)?;
        match actor.upgrade_to_tls_server(&conn).await {
            Ok(()) => Err("the upgrade succeeded on a plaintext line".to_string()),
            Err(e) if e.to_string().contains("TLS") => Ok(()),
            Err(e) => Err(format!("the upgrade failed, but not in TLS: {e}")),
        }
    });
    let local: std::net::SocketAddr = listener_rx
        .await
        .map_err(|_| "no listener")?
        .parse()
        .map_err(|e| format!("{e}"))?;
    let addr = std::net::SocketAddr::new(ctx.server, local.port());
    let mut stream = ctx.peer.connect(addr).await.map_err(|e| e.to_string())?;
    let mut ready = [0u8; 14];
    stream
        .read_exact(&mut ready)
        .await
        .map_err(|e| format!("peer reading 220: {e}"))?;
    stream
        .write_all(b"MAIL FROM:<someone@example.org>\r\n")
        .await
        .map_err(|e| format!("peer write: {e}"))?;
    let mut rest = Vec::new();
    stream
        .read_to_end(&mut rest)
        .await
        .map_err(|e| format!("peer read after {} bytes: {e}", rest.len()))?;
    actor.join().await?;
    let mut records = rest.as_slice();
    if records.is_empty() {
        return Err("no alert before the end of the stream".into());
    }
    while !records.is_empty() {
        let Some(&[21, _, _, hi, lo]) = records.get(..5) else {
            return Err(format!("not a whole alert record: {records:?}"));
        };
        let end = 5 + usize::from(u16::from_be_bytes([hi, lo]));
        records = records
            .get(end..)
            .ok_or_else(|| format!("a truncated alert: {rest:?}"))?;
    }
    Ok(())
}

fn starttls_config(certs: &SimCertificates) -> Config {
    let mut config = config(certs);
    if let Some(tls) = config.server_tls.as_mut() {
        tls.auto_handshake = false;
    }
    config
}

/// Every write of either host is cut short: rustls' one last write of its alert would be
/// too, and without the driver keeping the rest the peer read a truncated record and then
/// the FIN (the long sweep's `tls` seeds 2000407, 2002327, 2002454, 2002532, 2002706).
#[test]
fn a_failed_upgrade_sends_whole_alerts_then_fin_under_short_writes_30_seeds() {
    let certs = certificates();
    Sweep::new(
        "tls",
        "a_failed_upgrade_sends_whole_alerts_then_fin_under_short_writes_30_seeds",
    )
    .run(
        0..30,
        |seed| {
            let mut plan = FaultPlan::none();
            plan.streams.short_write = 1.0;
            Sim::new(seed, plan).config(starttls_config(&certs))
        },
        failed_upgrade,
    )
    .assert_ok();
}
