//! The driver's real TLS (tokio-rustls) over turmoil streams under the fault layer, with
//! rustls on the simulated clock: the certificates are valid only around the simulated epoch.

use theater_tcp_core::{Config, Exports, ServerTls};
use theater_tcp_sim::actor::{Script, text};
use theater_tcp_sim::tls::SimCertificates;
use theater_tcp_sim::{FaultPlan, Sim, SimContext, Sweep};
use theater_tcp_tokio::Network;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::pki_types::ServerName;

fn certificates() -> SimCertificates {
    let dir = std::env::temp_dir().join(format!("theater-tcp-sim-tls-{}", std::process::id()));
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
