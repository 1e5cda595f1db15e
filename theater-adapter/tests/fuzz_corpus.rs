//! Replays the committed corpus of the fuzz target `manifest` (`fuzz/corpus/manifest/`)
//! through the same check (`fuzz/harness/manifest.rs`), so every test run holds every input the
//! fuzzer found interesting: no panic, every error names a key or a position, every manifest
//! accepted is valid. The fuzzer itself runs outside CI (see the README, "Fuzzing").

#[path = "../../fuzz/harness/manifest.rs"]
mod harness;

use std::path::{Path, PathBuf};

#[test]
fn every_input_of_the_manifest_corpus_parses_or_names_its_error() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/manifest");
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries.filter_map(|e| Some(e.ok()?.path())).collect(),
        Err(e) => panic!("cannot read the corpus {}: {e}", dir.display()),
    };
    files.sort();
    assert!(
        files.len() >= 20,
        "the corpus is missing: {} files",
        files.len()
    );
    let mut outcomes = std::collections::BTreeMap::new();
    for file in &files {
        let bytes = match std::fs::read(file) {
            Ok(b) => b,
            Err(e) => panic!("cannot read {}: {e}", file.display()),
        };
        match std::panic::catch_unwind(|| harness::check_manifest(&bytes)) {
            Ok(outcome) => *outcomes.entry(outcome).or_insert(0) += 1,
            Err(panic) => {
                let why = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                panic!("{}: {why}", file.display());
            }
        }
    }
    // The corpus gets past the syntax: manifests accepted, errors with a key and with a position.
    for outcome in ["accepted", "key", "position"] {
        assert!(
            outcomes.contains_key(outcome),
            "no input gives {outcome}: {outcomes:?}"
        );
    }
}
