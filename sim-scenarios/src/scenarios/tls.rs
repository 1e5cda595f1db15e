//! `tls`: STARTTLS over the simulated network, with the driver's real TLS (tokio-rustls, on
//! the simulated clock, certificates from `theater_tcp_sim::tls`), under lossless faults.
//!
//! The peer sends `STARTTLS`, the actor answers `220 ready` and calls
//! `upgrade-to-tls-server`; the peer then handshakes on the same stream, streams bytes
//! through the TLS echo and ends with close_notify. On some seeds a second peer injects
//! plaintext behind its `STARTTLS` in the same write (the CVE-2011-0411 class): that upgrade
//! must fail, whether the injected bytes were already buffered (`plaintext buffered before TLS
//! upgrade`) or reached the handshake (a TLS error).

use super::{LEAK_WAIT, PULL, connect, listen, read_all, read_until_end, text, write_pattern};
use crate::oracle::{self, exact_stream};
use crate::scenario::{Scenario, ScenarioFuture};
use std::sync::OnceLock;
use std::time::Duration;
use theater_tcp_core::{Config, ServerTls};
use theater_tcp_sim::tls::SimCertificates;
use theater_tcp_sim::{FaultPlan, SimContext};
use theater_tcp_tokio::Caller;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::pki_types::ServerName;

/// See the [module docs](self).
pub(crate) const SCENARIO: Scenario = Scenario {
    name: "tls",
    about: "STARTTLS: plaintext command, upgrade-to-tls-server, 4-40 KiB echoed over TLS; \
            plaintext injected behind STARTTLS on some seeds",
    oracles: "the upgrade succeeds and negotiates TLSv1.3; byte-exact echo over TLS ending in \
              close_notify and EOF; an upgrade with plaintext injected behind the command fails \
              (refused or a handshake error), and the injecting peer gets nothing but the \
              220 line before the connection ends; no leak",
    in_all: true,
    draw: FaultPlan::lossless_from_seed,
    config,
    limit: Duration::from_secs(60),
    body,
};

const COMMAND: &[u8] = b"STARTTLS\r\n";
const READY: &[u8] = b"220 ready\r\n";
const INJECTED: &[u8] = b"MAIL FROM:<attacker@example.org>\r\n";
const STREAM: u64 = 0x7150;

/// The simulation's certificates (the driver loads them from files). They are the same bytes
/// in every process, so they live in one shared directory; a file is replaced only when its
/// bytes differ, and then atomically, so concurrent runs never read a half-written file.
fn certificates() -> Result<&'static SimCertificates, String> {
    static CERTS: OnceLock<Result<SimCertificates, String>> = OnceLock::new();
    CERTS
        .get_or_init(|| {
            let mut certs =
                SimCertificates::new("server").map_err(|e| format!("certificates: {e}"))?;
            let dir = std::env::temp_dir().join("theater-tcp-scenarios-certificates");
            let files = [
                ("ca.pem", &certs.ca_pem),
                ("cert.pem", &certs.cert_pem),
                ("key.pem", &certs.key_pem),
            ];
            let write = || -> std::io::Result<()> {
                std::fs::create_dir_all(&dir)?;
                for (name, pem) in files {
                    let path = dir.join(name);
                    if std::fs::read(&path).is_ok_and(|b| b == pem.as_bytes()) {
                        continue;
                    }
                    let partial = dir.join(format!("{name}.{}", std::process::id()));
                    std::fs::write(&partial, pem)?;
                    std::fs::rename(&partial, &path)?;
                }
                Ok(())
            };
            write().map_err(|e| format!("writing certificates to {}: {e}", dir.display()))?;
            certs.dir = Some(dir.clone());
            Ok(certs)
        })
        .as_ref()
        .map_err(Clone::clone)
}

fn config(_seed: u64) -> Result<Config, String> {
    let certs = certificates()?;
    Ok(Config {
        server_tls: Some(ServerTls {
            enabled: true,
            cert: certs.path("cert.pem"),
            key: certs.path("key.pem"),
            // STARTTLS: certificates loaded, no implicit handshake on accept.
            auto_handshake: false,
        }),
        ..Config::default()
    })
}

fn body(ctx: SimContext) -> ScenarioFuture {
    Box::pin(async move {
        let mut rng = ctx.rng(1);
        let total = rng.range(4 * 1024, 40 * 1024) as usize;
        let inject = rng.chance(0.5);
        let (honest, injected) = tokio::join!(starttls_echo(&ctx, total), async {
            if inject {
                injected_plaintext(&ctx).await
            } else {
                Ok(())
            }
        });
        honest.map_err(|e| format!("STARTTLS echo of {total} bytes: {e}"))?;
        injected.map_err(|e| format!("plaintext injected behind STARTTLS: {e}"))?;
        oracle::no_leaks(&ctx, LEAK_WAIT).await
    })
}

/// The server's side of the plaintext exchange: accepts a connection on `listener`, reads the
/// `STARTTLS` line and answers `220 ready`; returns the connection, ready for the upgrade.
async fn accept_starttls(actor: &Caller, listener: &str) -> Result<String, String> {
    let conn = actor.accept(listener).await.map_err(text)?;
    actor.activate(&conn).await.map_err(text)?;
    read_command(actor, &conn).await?;
    actor.send(&conn, READY.to_vec()).await.map_err(text)?;
    Ok(conn)
}

/// Reads exactly the command line, never more (the actor must not swallow what follows it).
async fn read_command(actor: &Caller, conn: &str) -> Result<(), String> {
    let mut line = Vec::new();
    while line.len() < COMMAND.len() {
        let data = actor
            .receive(conn, (COMMAND.len() - line.len()) as u32)
            .await
            .map_err(text)?;
        if data.is_empty() {
            return Err(format!("EOF after {line:?}"));
        }
        line.extend_from_slice(&data);
    }
    if line == COMMAND {
        Ok(())
    } else {
        Err(format!("expected STARTTLS, got {line:?}"))
    }
}

async fn starttls_echo(ctx: &SimContext, total: usize) -> Result<(), String> {
    let actor = ctx.driver.actor("starttls", PULL);
    let (listener, addr) = listen(ctx, &actor).await?;
    let server = async {
        let conn = accept_starttls(&actor, &listener).await?;
        actor
            .upgrade_to_tls_server(&conn)
            .await
            .map_err(|e| format!("upgrade: {e}"))?;
        let info = actor.tls_info(&conn).await.map_err(text)?;
        let mut echoed = 0;
        loop {
            let data = actor.receive(&conn, 4096).await.map_err(text)?;
            if data.is_empty() {
                break;
            }
            echoed += data.len();
            actor.send(&conn, data).await.map_err(text)?;
        }
        actor.close(&conn).await.map_err(text)?;
        Ok::<_, String>((info.protocol, echoed))
    };
    let mut rng = ctx.rng(2);
    let peer = async {
        let mut stream = connect(ctx, addr).await?;
        stream
            .write_all(COMMAND)
            .await
            .map_err(|e| format!("peer: {e}"))?;
        let mut ready = vec![0; READY.len()];
        stream
            .read_exact(&mut ready)
            .await
            .map_err(|e| format!("peer reading the 220 line: {e}"))?;
        if ready != READY {
            return Err(format!("peer got {ready:?} instead of the 220 line"));
        }
        let name = ServerName::try_from("server").map_err(|e| e.to_string())?;
        let tls = certificates()?
            .connector()?
            .connect(name, stream)
            .await
            .map_err(|e| format!("peer handshake: {e}"))?;
        let (mut rd, mut wr) = tokio::io::split(tls);
        let writer = async {
            write_pattern(&mut wr, STREAM, total, &mut rng).await?;
            // close_notify, then FIN.
            wr.shutdown()
                .await
                .map_err(|e| format!("peer shutdown: {e}"))
        };
        let (_, got) = tokio::try_join!(writer, read_all(&mut rd))?;
        Ok(got)
    };
    let ((protocol, echoed), got) = tokio::try_join!(server, peer)?;
    if protocol != "TLSv1.3" {
        return Err(format!("negotiated {protocol}, not TLSv1.3"));
    }
    if echoed != total {
        return Err(format!("the actor echoed {echoed} of {total} bytes"));
    }
    exact_stream("echo over TLS", STREAM, &got, total)
}

async fn injected_plaintext(ctx: &SimContext) -> Result<(), String> {
    let actor = ctx.driver.actor("starttls-injected", PULL);
    let (listener, addr) = listen(ctx, &actor).await?;
    let server = async {
        let conn = accept_starttls(&actor, &listener).await?;
        let upgrade = actor.upgrade_to_tls_server(&conn).await;
        // Refused upgrades leave the connection open; failed handshakes closed it already.
        let _ = actor.close(&conn).await;
        match upgrade {
            Ok(()) => Err("the upgrade succeeded although plaintext followed STARTTLS".into()),
            Err(e) => {
                let e = e.to_string();
                if e == "plaintext buffered before TLS upgrade" || e.contains("TLS") {
                    Ok(())
                } else {
                    Err(format!("the upgrade failed, but not for TLS reasons: {e}"))
                }
            }
        }
    };
    let peer = async {
        let mut stream = connect(ctx, addr).await?;
        let mut attack = COMMAND.to_vec();
        attack.extend_from_slice(INJECTED);
        stream
            .write_all(&attack)
            .await
            .map_err(|e| format!("peer: {e}"))?;
        // Whatever ends the stream (FIN, or RST for unread input), it must carry only the 220.
        let read = tokio::time::timeout(LEAK_WAIT, read_until_end(&mut stream)).await;
        let Ok((got, _)) = read else {
            return Err("the connection never ended after the failed upgrade".into());
        };
        only_ready_and_alerts(&got)
    };
    tokio::try_join!(server, peer).map(|_| ())
}

/// What the injecting peer may see: (a prefix of) the 220 line, then nothing but TLS alert
/// records (content type 21: rustls answers a garbled handshake with a fatal alert), never
/// application data or a handshake message.
fn only_ready_and_alerts(got: &[u8]) -> Result<(), String> {
    let rest = match got.strip_prefix(READY) {
        Some(rest) => rest,
        None if READY.starts_with(got) => return Ok(()),
        None => {
            return Err(format!(
                "the injecting peer got {got:?} instead of the 220 line"
            ));
        }
    };
    let mut records = rest;
    while !records.is_empty() {
        // A record header: type, version (2 bytes), length (2 bytes).
        let Some(&[kind, _, _, hi, lo]) = records.get(..5) else {
            return Err(format!(
                "the injecting peer got a truncated record {records:?}"
            ));
        };
        if kind != 21 {
            return Err(format!(
                "the injecting peer got a TLS record of type {kind}, not an alert: {rest:?}"
            ));
        }
        let end = 5 + usize::from(u16::from_be_bytes([hi, lo]));
        records = records.get(end..).unwrap_or_default();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_injecting_peer_may_see_the_220_line_and_alerts_only() {
        let mut alert = READY.to_vec();
        alert.extend_from_slice(&[21, 3, 3, 0, 2, 2, 50]);
        assert!(only_ready_and_alerts(&alert).is_ok());
        assert!(only_ready_and_alerts(&READY[..4]).is_ok());
        assert!(only_ready_and_alerts(b"").is_ok());
        let mut data = READY.to_vec();
        data.extend_from_slice(&[23, 3, 3, 0, 1, 0]);
        assert!(only_ready_and_alerts(&data).is_err());
        assert!(only_ready_and_alerts(b"MAIL FROM").is_err());
    }
}
