//! From the config theater builds for a `[[handler]] type = "tcp"` table to the core's one
//! config type.
//!
//! Theater parses the table itself (`listen`, `max_connections`, `client_tls`, `server_tls`)
//! and drops every other key, so the keys this project adds (timeouts, watermarks, policy,
//! STARTTLS-only server certificates, ...) reach the handler only through
//! [`TcpHandler::with_config`](crate::TcpHandler::with_config), at the server level. An actor's
//! manifest table overlays the keys it sets on that server-level config.

use theater::config::actor_manifest::{ClientTlsConfig, ServerTlsConfig, TcpHandlerConfig};
use theater_tcp_core::{ClientTls, Config, ServerTls};

/// The config one actor's handler instance runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ActorConfig {
    /// Everything the driver runs with; actors whose `driver` configs are equal share a driver
    /// (and so may transfer connections to each other).
    pub(crate) driver: Config,
    /// Listen here when the actor starts, on its behalf (its manifest's `listen`).
    pub(crate) listen: Option<String>,
}

impl ActorConfig {
    /// The server-level config: `listen` is kept for no actor, since it names one address and
    /// the server-level config is every actor's.
    pub(crate) fn server(mut driver: Config) -> Self {
        driver.listen = None;
        ActorConfig {
            driver,
            listen: None,
        }
    }

    /// `base` with the keys an actor's manifest table sets.
    pub(crate) fn overlay(base: &Config, table: &TcpHandlerConfig) -> Self {
        let mut driver = base.clone();
        driver.listen = None;
        if let Some(max) = table.max_connections {
            driver.max_connections = Some(max as usize);
        }
        if let Some(client) = &table.client_tls {
            driver.client_tls = client_tls(client);
        }
        if let Some(server) = &table.server_tls {
            driver.server_tls = server_tls(server);
        }
        ActorConfig {
            driver,
            listen: table.listen.clone(),
        }
    }
}

/// The core config of a theater table alone (every other key at its default).
pub(crate) fn from_theater(table: &TcpHandlerConfig) -> Config {
    ActorConfig::overlay(&Config::default(), table).driver
}

fn client_tls(client: &ClientTlsConfig) -> ClientTls {
    ClientTls {
        enabled: client.enabled,
        ca_cert: client
            .ca_cert
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned()),
        danger_skip_verify: client.skip_verify,
        auto_handshake: client.auto_handshake,
    }
}

/// As in the original handler, `enabled = false` keeps no server certificate at all, and an
/// enabled one runs the handshake on every accepted connection (implicit TLS).
fn server_tls(server: &ServerTlsConfig) -> Option<ServerTls> {
    server.enabled.then(|| ServerTls {
        enabled: true,
        cert: server.cert.to_string_lossy().into_owned(),
        key: server.key.to_string_lossy().into_owned(),
        auto_handshake: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn an_empty_table_keeps_the_server_config_so_actors_share_its_driver() {
        let base = Config {
            send_timeout_ms: 1234,
            ..Config::default()
        };
        let actor = ActorConfig::overlay(&base, &TcpHandlerConfig::default());
        assert_eq!(actor, ActorConfig::server(base));
    }

    #[test]
    fn the_table_sets_listen_limits_and_tls() {
        let table = TcpHandlerConfig {
            listen: Some("127.0.0.1:9".into()),
            max_connections: Some(7),
            client_tls: Some(ClientTlsConfig {
                enabled: true,
                ca_cert: Some(PathBuf::from("/ca.pem")),
                skip_verify: false,
                auto_handshake: false,
            }),
            server_tls: Some(ServerTlsConfig {
                enabled: true,
                cert: PathBuf::from("/c.pem"),
                key: PathBuf::from("/k.pem"),
            }),
        };
        let actor = ActorConfig::overlay(&Config::default(), &table);
        assert_eq!(actor.listen.as_deref(), Some("127.0.0.1:9"));
        assert_eq!(actor.driver.listen, None);
        assert_eq!(actor.driver.max_connections, Some(7));
        assert!(actor.driver.client_tls.enabled);
        assert!(!actor.driver.client_tls.auto_handshake);
        assert_eq!(actor.driver.client_tls.ca_cert.as_deref(), Some("/ca.pem"));
        let server = actor.driver.server_tls.expect("server tls");
        assert_eq!(
            (server.cert.as_str(), server.key.as_str()),
            ("/c.pem", "/k.pem")
        );
        assert!(server.auto_handshake);
    }

    #[test]
    fn a_disabled_server_tls_table_keeps_no_certificate() {
        let table = TcpHandlerConfig {
            server_tls: Some(ServerTlsConfig {
                enabled: false,
                cert: PathBuf::from("/c.pem"),
                key: PathBuf::from("/k.pem"),
            }),
            ..TcpHandlerConfig::default()
        };
        assert_eq!(from_theater(&table).server_tls, None);
    }
}
