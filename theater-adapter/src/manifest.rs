//! The host's manifest: which actors to run, the `[[handler]] type = "tcp"` table of
//! `SEMANTICS.md` (deserialized into the one [`Config`] type), and the per-actor [`Limits`].
//!
//! ```toml
//! [[actor]]
//! id = "echo"                       # the id other actors `transfer` to
//! component = "echo.wasm"           # relative to the manifest's folder
//!
//! [[handler]]
//! type = "tcp"
//! listen = "127.0.0.1:7878"         # the first actor gets these connections
//! max_connections = 1000
//!
//! [limits]
//! fuel_per_callback = 100000000     # optional; off by default
//! callback_time_ms = 10000          # wasm time per callback (host calls not counted)
//! max_memory_bytes = 67108864
//! ```
//!
//! Every error names the key it is about, as a path: `handler[0].server_tls.cert: ...`.

use crate::spec::ActorSpec;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use theater_tcp_core::Config;

/// What each actor may use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Fuel (roughly, wasm instructions) for one callback or `init`; exhausting it traps and
    /// stops the actor. `None` turns fuel metering off (it costs some speed).
    pub fuel_per_callback: Option<u64>,
    /// Wasm execution time for one callback or `init`, in milliseconds, checked by epoch
    /// interruption every 10 ms; time blocked in host calls (`receive`, `accept`, ...) does not
    /// count. Exceeding it traps and stops the actor. `None` (possible from Rust only: a
    /// manifest that omits the key gets the default) is unlimited.
    pub callback_time_ms: Option<u64>,
    /// Largest linear memory (and table) an actor may grow to, in bytes.
    pub max_memory_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel_per_callback: None,
            callback_time_ms: Some(10_000),
            max_memory_bytes: 64 * 1024 * 1024,
        }
    }
}

impl Limits {
    /// Checks the values; errors name the key under `limits.`.
    pub fn validate(&self) -> Result<(), ManifestError> {
        if self.fuel_per_callback == Some(0) {
            return Err(ManifestError::at(
                "limits.fuel_per_callback",
                "must be at least 1 (omit it to turn fuel off)",
            ));
        }
        if self.callback_time_ms == Some(0) {
            return Err(ManifestError::at(
                "limits.callback_time_ms",
                "must be at least 1",
            ));
        }
        if self.max_memory_bytes < 65536 {
            return Err(ManifestError::at(
                "limits.max_memory_bytes",
                "must be at least 65536 (one wasm page)",
            ));
        }
        Ok(())
    }
}

/// One `[[actor]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActorEntry {
    /// The actor's id: unique, what `transfer` names.
    pub id: String,
    /// The component file (`.wasm`); relative paths are relative to the manifest's folder
    /// once loaded with [`Manifest::load`].
    pub component: PathBuf,
}

/// A parsed and checked manifest.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Manifest {
    /// The actors, in order; the first one receives the connections of `handler.listen`.
    pub actors: Vec<ActorEntry>,
    /// The `[[handler]] type = "tcp"` table (defaults when there is none), validated.
    pub handler: Config,
    /// The `[limits]` table.
    pub limits: Limits,
}

/// A manifest that cannot be used: the key path it is about, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    /// The key, as a path: `handler[0].server_tls.cert`, `actor[1].id`, `limits`; empty when
    /// the error is about the whole file (TOML syntax, unreadable file).
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl ManifestError {
    fn at(key: impl Into<String>, message: impl Into<String>) -> Self {
        ManifestError {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.key, self.message)
        }
    }
}

impl std::error::Error for ManifestError {}

/// The file as written, before the handler tables are split by type.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    /// Informational, as in Theater manifests.
    #[serde(default)]
    #[allow(dead_code)]
    name: Option<String>,
    #[serde(default)]
    actor: Vec<ActorEntry>,
    #[serde(default)]
    handler: Vec<toml::Table>,
    #[serde(default)]
    limits: Limits,
}

/// `line:column` (1-based) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, column)
}

/// Turns a path-tracked deserialization error into a key-path error; `prefix` is the path of
/// the value that was deserialized.
fn path_error(
    text: Option<&str>,
    prefix: &str,
    e: serde_path_to_error::Error<toml::de::Error>,
) -> ManifestError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    let mut message = inner.message().trim().to_owned();
    if let (Some(text), Some(span)) = (text, inner.span()) {
        let (line, column) = line_column(text, span.start);
        message = format!("{message} (line {line}, column {column})");
    }
    let key = match (prefix.is_empty(), path == ".") {
        (true, true) => String::new(),
        (true, false) => path,
        (false, true) => prefix.to_owned(),
        (false, false) => format!("{prefix}.{path}"),
    };
    ManifestError { key, message }
}

impl Manifest {
    /// Parses a manifest. Component paths stay as written (see [`Manifest::load`]).
    pub fn parse_toml(text: &str) -> Result<Manifest, ManifestError> {
        let document = toml::Deserializer::parse(text).map_err(|e| {
            let mut message = e.message().trim().to_owned();
            if let Some(span) = e.span() {
                let (line, column) = line_column(text, span.start);
                message = format!("TOML syntax: {message} (line {line}, column {column})");
            }
            ManifestError::at("", message)
        })?;
        let raw: RawManifest = serde_path_to_error::deserialize(document)
            .map_err(|e| path_error(Some(text), "", e))?;

        let mut ids = BTreeSet::new();
        for (i, actor) in raw.actor.iter().enumerate() {
            if actor.id.trim().is_empty() {
                return Err(ManifestError::at(
                    format!("actor[{i}].id"),
                    "must not be empty",
                ));
            }
            if !ids.insert(actor.id.as_str()) {
                return Err(ManifestError::at(
                    format!("actor[{i}].id"),
                    format!("duplicate actor id `{}`", actor.id),
                ));
            }
        }

        let mut tcp: Option<Config> = None;
        for (i, mut table) in raw.handler.into_iter().enumerate() {
            let kind = match table.remove("type") {
                Some(toml::Value::String(kind)) => kind,
                Some(_) => {
                    return Err(ManifestError::at(
                        format!("handler[{i}].type"),
                        "must be a string",
                    ));
                }
                None => {
                    return Err(ManifestError::at(
                        format!("handler[{i}]"),
                        "missing key `type` (this host provides \"tcp\")",
                    ));
                }
            };
            match kind.as_str() {
                "tcp" if tcp.is_some() => {
                    return Err(ManifestError::at(
                        format!("handler[{i}].type"),
                        "only one \"tcp\" handler is supported",
                    ));
                }
                "tcp" => {
                    let prefix = format!("handler[{i}]");
                    let config: Config =
                        serde_path_to_error::deserialize(toml::Value::Table(table))
                            .map_err(|e| path_error(None, &prefix, e))?;
                    config
                        .clone()
                        .validate()
                        .map_err(|e| ManifestError::at(format!("{prefix}.{}", e.key), e.message))?;
                    tcp = Some(config);
                }
                // Theater's runtime handler (`log`) is always provided; it takes no settings.
                "runtime" => {
                    if let Some(key) = table.keys().next() {
                        return Err(ManifestError::at(
                            format!("handler[{i}].{key}"),
                            "the runtime handler takes no settings",
                        ));
                    }
                }
                other => {
                    return Err(ManifestError::at(
                        format!("handler[{i}].type"),
                        format!(
                            "unsupported handler type `{other}` (this host provides \"tcp\" and \"runtime\")"
                        ),
                    ));
                }
            }
        }
        raw.limits.validate()?;
        Ok(Manifest {
            actors: raw.actor,
            handler: tcp.unwrap_or_default(),
            limits: raw.limits,
        })
    }

    /// Reads and parses a manifest file; relative component paths become relative to the
    /// manifest's folder.
    pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ManifestError::at("", format!("cannot read {}: {e}", path.display())))?;
        let mut manifest = Manifest::parse_toml(&text).map_err(|e| {
            ManifestError::at(e.key, format!("{} (in {})", e.message, path.display()))
        })?;
        let base = path.parent().unwrap_or(Path::new(""));
        for actor in &mut manifest.actors {
            if actor.component.is_relative() {
                actor.component = base.join(&actor.component);
            }
        }
        Ok(manifest)
    }

    /// Reads every actor's component file.
    pub fn actor_specs(&self) -> Result<Vec<ActorSpec>, ManifestError> {
        self.actors
            .iter()
            .enumerate()
            .map(|(i, actor)| {
                let component = std::fs::read(&actor.component).map_err(|e| {
                    ManifestError::at(
                        format!("actor[{i}].component"),
                        format!("cannot read {}: {e}", actor.component.display()),
                    )
                })?;
                Ok(ActorSpec {
                    id: actor.id.clone(),
                    component,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_manifest_parses() {
        let m = Manifest::parse_toml(
            r#"
            name = "demo"
            [[actor]]
            id = "acceptor"
            component = "a.wasm"
            [[actor]]
            id = "worker"
            component = "/abs/w.wasm"
            [[handler]]
            type = "runtime"
            [[handler]]
            type = "tcp"
            listen = "127.0.0.1:0"
            max_connections = 10
            [limits]
            fuel_per_callback = 1000
            max_memory_bytes = 1048576
            "#,
        )
        .expect("parses");
        assert_eq!(m.actors.len(), 2);
        assert_eq!(m.actors[1].id, "worker");
        assert_eq!(m.handler.listen.as_deref(), Some("127.0.0.1:0"));
        assert_eq!(m.handler.max_connections, Some(10));
        assert_eq!(m.limits.fuel_per_callback, Some(1000));
        assert_eq!(m.limits.callback_time_ms, Some(10_000));
    }

    #[test]
    fn an_empty_manifest_has_the_defaults() {
        let m = Manifest::parse_toml("").expect("parses");
        assert_eq!(m, Manifest::default());
    }
}
