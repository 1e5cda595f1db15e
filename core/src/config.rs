//! The handler's configuration: the `[[handler]] type = "tcp"` table of a Theater manifest.
//!
//! This is the one config type of the workspace: adapters deserialize it (from TOML), call
//! [`Config::validate`], and hand the result to the core and the transport.

use crate::address::{AddressPattern, AddressPolicy};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// Client-side TLS, as in the original handler.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientTls {
    /// Client TLS is available (for `upgrade-to-tls-client` and automatic TLS).
    pub enabled: bool,
    /// PEM file with extra trust anchors; the platform's web roots are used when absent.
    pub ca_cert: Option<String>,
    /// Accept any server certificate. Dangerous: for tests against self-signed peers only.
    #[serde(rename = "skip_verify")]
    pub danger_skip_verify: bool,
    /// Run the TLS handshake right after every `connect`.
    pub auto_handshake: bool,
}

/// Server-side TLS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTls {
    /// Server TLS is available.
    #[serde(default)]
    pub enabled: bool,
    /// PEM certificate chain.
    pub cert: String,
    /// PEM private key.
    pub key: String,
    /// Run the handshake on every accepted connection (implicit TLS). `false` keeps the
    /// certificates for `upgrade-to-tls-server` (STARTTLS) only.
    #[serde(default = "yes")]
    pub auto_handshake: bool,
}

fn yes() -> bool {
    true
}

/// Everything the handler can be told. Every field has the default of `SEMANTICS.md`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where a host listens at start on one actor's behalf (SEMANTICS.md, "Configuration").
    /// The core checks its syntax ([`Config::validate`]) and opens nothing for it: which actor
    /// owns that listener, and when it may open, are the host's to know. The host opens it
    /// with that actor's ordinary `listen` call, so the address policy, the quotas and the
    /// hand-out order (a waiting `accept`, else `handle-connection`, else the queue) are this
    /// crate's rules as for any listener.
    pub listen: Option<String>,
    /// Most connections open at once (accepted plus connected); `None` is unlimited.
    pub max_connections: Option<usize>,
    /// Most connections one actor may hold at once (opening, accepted on its listeners,
    /// pending, open); `None` is unlimited.
    pub max_connections_per_actor: Option<usize>,
    /// Most listeners one actor may hold at once; `None` is unlimited.
    pub max_listeners_per_actor: Option<usize>,
    /// Most bytes the host holds for one actor: unread received bytes on its connections plus
    /// its `send`s not yet handed to the transport. No read starts at the bound (reads already
    /// out may pass it by at most `max_chunk` each); a `send` or `transfer` past it fails.
    /// `None` is unlimited.
    pub max_buffered_bytes_per_actor: Option<usize>,
    /// Client TLS.
    pub client_tls: ClientTls,
    /// Server TLS.
    pub server_tls: Option<ServerTls>,
    /// Connect timeout, resolution included.
    pub connect_timeout_ms: u64,
    /// TLS handshake timeout.
    pub handshake_timeout_ms: u64,
    /// How long a `send` may make no progress before the connection is closed; also how long
    /// a graceful close may take to write out what the actor sent before it.
    pub send_timeout_ms: u64,
    /// How long a connection may stay pending.
    pub pending_timeout_ms: u64,
    /// How long a gracefully closed connection drains unread input before it is released,
    /// counted from the end of its flush (everything sent, FIN out).
    pub linger_ms: u64,
    /// First accept back-off after an accept error; doubles up to `accept_backoff_max_ms`.
    pub accept_backoff_ms: u64,
    /// Longest accept back-off.
    pub accept_backoff_max_ms: u64,
    /// Receive buffer high watermark per connection, in bytes.
    pub receive_watermark: usize,
    /// Bytes the transport may hold beyond the socket per connection.
    pub write_buffer: usize,
    /// Largest `on-data` chunk, and largest single read.
    pub max_chunk: usize,
    /// Largest `send`.
    pub max_send_bytes: usize,
    /// Accepted connections a listener may queue before it stops accepting. Connections in
    /// their implicit TLS handshake are not queued and do not count.
    pub backlog: usize,
    /// Most accepted connections in their implicit TLS handshake at once, over every listener;
    /// beyond it the oldest handshake is dropped (RST) so that accepting never waits on them.
    pub max_handshakes: usize,
    /// After `on-close(id, "eof")`, keep the connection open for sending until the actor closes it.
    pub keep_open_on_peer_close: bool,
    /// TCP_NODELAY on every connection.
    pub nodelay: bool,
    /// TCP keepalive idle time in seconds; `None` leaves keepalive off.
    pub keepalive_secs: Option<u64>,
    /// Address patterns allowed for `connect` and `listen`; absent allows all.
    pub allow: Option<Vec<String>>,
    /// Address patterns refused; deny wins over allow.
    pub deny: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: None,
            max_connections: None,
            max_connections_per_actor: None,
            max_listeners_per_actor: None,
            max_buffered_bytes_per_actor: None,
            client_tls: ClientTls::default(),
            server_tls: None,
            connect_timeout_ms: 10_000,
            handshake_timeout_ms: 10_000,
            send_timeout_ms: 30_000,
            pending_timeout_ms: 60_000,
            linger_ms: 2_000,
            accept_backoff_ms: 100,
            accept_backoff_max_ms: 1_000,
            receive_watermark: 256 * 1024,
            write_buffer: 256 * 1024,
            max_chunk: 64 * 1024,
            max_send_bytes: 16 * 1024 * 1024,
            backlog: 128,
            max_handshakes: 256,
            keep_open_on_peer_close: false,
            nodelay: true,
            keepalive_secs: None,
            allow: None,
            deny: Vec::new(),
        }
    }
}

/// A configuration value that cannot be used, with the key it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigError {
    /// The key, dotted (`server_tls.cert`, `allow[2]`).
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid config key `{}`: {}", self.key, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// A configuration that passed [`Config::validate`]: what the core runs on.
#[derive(Debug, Clone)]
pub struct Settings {
    pub(crate) config: Config,
    pub(crate) policy: AddressPolicy,
}

impl Settings {
    /// The validated configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The address policy compiled from `allow` / `deny`.
    pub fn policy(&self) -> &AddressPolicy {
        &self.policy
    }
}

impl Config {
    /// Checks every value and compiles the address policy. The first bad key is reported.
    pub fn validate(self) -> Result<Settings, ConfigError> {
        let err = |key: &str, message: &str| ConfigError {
            key: key.into(),
            message: message.into(),
        };
        let positive = [
            ("connect_timeout_ms", self.connect_timeout_ms as usize),
            ("handshake_timeout_ms", self.handshake_timeout_ms as usize),
            ("send_timeout_ms", self.send_timeout_ms as usize),
            ("pending_timeout_ms", self.pending_timeout_ms as usize),
            ("accept_backoff_ms", self.accept_backoff_ms as usize),
            ("receive_watermark", self.receive_watermark),
            ("write_buffer", self.write_buffer),
            ("max_chunk", self.max_chunk),
            ("max_send_bytes", self.max_send_bytes),
            ("backlog", self.backlog),
            ("max_handshakes", self.max_handshakes),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(err(key, "must be at least 1"));
            }
        }
        if self.accept_backoff_max_ms < self.accept_backoff_ms {
            return Err(err(
                "accept_backoff_max_ms",
                "must be at least accept_backoff_ms",
            ));
        }
        if self.max_connections == Some(0) {
            return Err(err(
                "max_connections",
                "must be at least 1 (omit it for no limit)",
            ));
        }
        for (key, value) in [
            ("max_connections_per_actor", self.max_connections_per_actor),
            ("max_listeners_per_actor", self.max_listeners_per_actor),
            (
                "max_buffered_bytes_per_actor",
                self.max_buffered_bytes_per_actor,
            ),
        ] {
            if value == Some(0) {
                return Err(err(key, "must be at least 1 (omit it for no limit)"));
            }
        }
        if self.keepalive_secs == Some(0) {
            return Err(err(
                "keepalive_secs",
                "must be at least 1 (omit it to disable keepalive)",
            ));
        }
        if let Some(tls) = &self.server_tls
            && tls.enabled
        {
            if tls.cert.trim().is_empty() {
                return Err(err("server_tls.cert", "a certificate file is required"));
            }
            if tls.key.trim().is_empty() {
                return Err(err("server_tls.key", "a key file is required"));
            }
        }
        if self.client_tls.auto_handshake && !self.client_tls.enabled {
            return Err(err(
                "client_tls.auto_handshake",
                "requires client_tls.enabled = true",
            ));
        }
        if let Some(listen) = &self.listen {
            crate::address::HostPort::parse(listen).map_err(|reason| err("listen", &reason))?;
        }
        let compile = |key: &str, list: &[String]| -> Result<Vec<AddressPattern>, ConfigError> {
            list.iter()
                .enumerate()
                .map(|(i, p)| AddressPattern::parse(p).map_err(|m| err(&format!("{key}[{i}]"), &m)))
                .collect()
        };
        let allow = self
            .allow
            .as_deref()
            .map(|a| compile("allow", a))
            .transpose()?;
        let deny = compile("deny", &self.deny)?;
        Ok(Settings {
            policy: AddressPolicy::new(allow, deny),
            config: self,
        })
    }

    /// Server certificates are configured for `upgrade-to-tls-server` and implicit TLS.
    pub fn server_tls_available(&self) -> bool {
        self.server_tls.as_ref().is_some_and(|t| t.enabled)
    }

    /// Implicit TLS on every accepted connection.
    pub fn server_tls_on_accept(&self) -> bool {
        self.server_tls
            .as_ref()
            .is_some_and(|t| t.enabled && t.auto_handshake)
    }

    /// Implicit TLS on every `connect`.
    pub fn client_tls_on_connect(&self) -> bool {
        self.client_tls.enabled && self.client_tls.auto_handshake
    }

    pub(crate) fn ms(value: u64) -> Duration {
        Duration::from_millis(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        assert!(Config::default().validate().is_ok());
    }

    #[test]
    fn errors_name_the_key() {
        let cases: Vec<(Config, &str)> = vec![
            (
                Config {
                    receive_watermark: 0,
                    ..Config::default()
                },
                "receive_watermark",
            ),
            (
                Config {
                    max_connections: Some(0),
                    ..Config::default()
                },
                "max_connections",
            ),
            (
                Config {
                    max_connections_per_actor: Some(0),
                    ..Config::default()
                },
                "max_connections_per_actor",
            ),
            (
                Config {
                    max_listeners_per_actor: Some(0),
                    ..Config::default()
                },
                "max_listeners_per_actor",
            ),
            (
                Config {
                    max_buffered_bytes_per_actor: Some(0),
                    ..Config::default()
                },
                "max_buffered_bytes_per_actor",
            ),
            (
                Config {
                    max_handshakes: 0,
                    ..Config::default()
                },
                "max_handshakes",
            ),
            (
                Config {
                    deny: vec!["10.0.0.0/8:*".into(), "nope".into()],
                    ..Config::default()
                },
                "deny[1]",
            ),
            (
                Config {
                    allow: Some(vec!["1.2.3.4/40:*".into()]),
                    ..Config::default()
                },
                "allow[0]",
            ),
            (
                Config {
                    listen: Some("localhost".into()),
                    ..Config::default()
                },
                "listen",
            ),
            (
                Config {
                    server_tls: Some(ServerTls {
                        enabled: true,
                        cert: "".into(),
                        key: "k".into(),
                        auto_handshake: true,
                    }),
                    ..Config::default()
                },
                "server_tls.cert",
            ),
            (
                Config {
                    client_tls: ClientTls {
                        auto_handshake: true,
                        ..ClientTls::default()
                    },
                    ..Config::default()
                },
                "client_tls.auto_handshake",
            ),
        ];
        for (config, key) in cases {
            assert_eq!(
                config.validate().map(|_| ()).map_err(|e| e.key),
                Err(key.to_owned())
            );
        }
    }

    #[test]
    fn the_accept_back_off_may_stay_flat_but_not_shrink() {
        let flat = Config {
            accept_backoff_ms: 250,
            accept_backoff_max_ms: 250,
            ..Config::default()
        };
        assert!(flat.validate().is_ok(), "max equal to the first back-off");
        let shrinking = Config {
            accept_backoff_ms: 250,
            accept_backoff_max_ms: 249,
            ..Config::default()
        };
        let err = shrinking
            .validate()
            .map(|_| ())
            .expect_err("max below the first");
        assert_eq!(
            err.to_string(),
            "invalid config key `accept_backoff_max_ms`: must be at least accept_backoff_ms"
        );
    }

    #[test]
    fn a_tls_section_without_auto_handshake_handshakes_on_its_own() -> serde_json::Result<()> {
        let server: ServerTls =
            serde_json::from_str(r#"{"enabled": true, "cert": "c.pem", "key": "k.pem"}"#)?;
        assert!(server.auto_handshake);
        let explicit: ServerTls = serde_json::from_str(
            r#"{"enabled": true, "cert": "c.pem", "key": "k.pem", "auto_handshake": false}"#,
        )?;
        assert!(!explicit.auto_handshake);
        Ok(())
    }
}
