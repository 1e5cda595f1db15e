//! The manifest target's check, shared by `fuzz/fuzz_targets/manifest.rs` and the replay of its
//! corpus in `theater-adapter/tests/fuzz_corpus.rs` (both include this file with `#[path]`).

use theater_tcp_adapter::Manifest;

/// Feeds `bytes` (as UTF-8, invalid sequences replaced) to the manifest parser. It must not
/// panic; an error must name the key it is about or a position (`line L, column C`) inside the
/// text; a manifest it accepts must hold what the parser promises (valid handler settings and
/// limits, unique non-empty actor ids). Returns what came out: `accepted`, `key` (an error
/// naming its key) or `position` (an error naming a place in the text).
pub fn check_manifest(bytes: &[u8]) -> &'static str {
    let text = String::from_utf8_lossy(bytes);
    match Manifest::parse_toml(&text) {
        Ok(manifest) => {
            if let Err(e) = manifest.handler.clone().validate() {
                panic!("accepted a handler table that does not validate: {e}");
            }
            if let Err(e) = manifest.limits.validate() {
                panic!("accepted limits that do not validate: {e}");
            }
            let mut ids = std::collections::BTreeSet::new();
            for actor in &manifest.actors {
                assert!(!actor.id.trim().is_empty(), "accepted an empty actor id");
                assert!(ids.insert(&actor.id), "accepted a duplicate actor id");
            }
            "accepted"
        }
        Err(e) => {
            assert!(
                !e.message.trim().is_empty(),
                "an error without a message: {e:?}"
            );
            if e.key.is_empty() {
                let Some((line, column)) = position(&e.message) else {
                    panic!("an error that names neither a key nor a position: {e:?}");
                };
                let lines = text.split('\n').count();
                assert!(
                    (1..=lines).contains(&line) && column >= 1,
                    "position {line}:{column} outside the text ({lines} lines): {e:?}"
                );
                "position"
            } else {
                "key"
            }
        }
    }
}

/// The last `(line L, column C)` of an error message.
fn position(message: &str) -> Option<(usize, usize)> {
    let at = message.rfind("(line ")?;
    let rest = message[at + "(line ".len()..].strip_suffix(')')?;
    let (line, column) = rest.split_once(", column ")?;
    Some((line.parse().ok()?, column.parse().ok()?))
}
