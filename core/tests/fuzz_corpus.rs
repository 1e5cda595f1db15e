//! Replays the committed corpus of the fuzz target `core_inputs` (`fuzz/corpus/core_inputs/`,
//! minimized after each long run) through the same harness, so every test run checks every
//! input the fuzzer found interesting: no panic, every call answered exactly once, nothing
//! left once the actors stop. The fuzzer itself runs outside CI (see the README, "Fuzzing").

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use theater_tcp_core::testkit::hostile::{decode, run};

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries.filter_map(|e| Some(e.ok()?.path())).collect(),
        Err(e) => panic!("cannot read the corpus {}: {e}", dir.display()),
    };
    files.sort();
    files
}

#[test]
fn every_input_of_the_core_corpus_keeps_the_rules() {
    let files = corpus("core_inputs");
    assert!(
        files.len() >= 50,
        "the corpus is missing: {} files",
        files.len()
    );
    let mut failures = Vec::new();
    let mut steps = 0;
    let mut reached: BTreeMap<&'static str, u64> = BTreeMap::new();
    for file in &files {
        let bytes = match std::fs::read(file) {
            Ok(b) => b,
            Err(e) => panic!("cannot read {}: {e}", file.display()),
        };
        let decoded = decode(&bytes);
        steps += decoded.len();
        match run(decoded) {
            Ok(rig) => {
                for (what, n) in rig.reached {
                    *reached.entry(what).or_default() += n;
                }
            }
            Err(violation) => failures.push(format!("{}: {violation}", file.display())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The corpus is not a pile of inputs refused at the front door.
    assert!(
        steps > files.len() * 5,
        "{steps} steps in {} files",
        files.len()
    );
    for what in [
        "send accepted",
        "receive returned data",
        "receive saw end of stream",
        "connection id returned",
        "listener id returned",
        "call refused",
        "handle-connection",
        "handle-connection-transfer",
        "on-data",
        "on-close",
        "on-passive",
    ] {
        assert!(
            reached.get(what).copied().unwrap_or(0) > 0,
            "the corpus never reaches {what}: {reached:?}"
        );
    }
}
