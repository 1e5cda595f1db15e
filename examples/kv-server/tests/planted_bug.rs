//! The check finds the planted framing bug (`--features planted-bug`: a line split across two
//! reads is handled as two commands, `STARTTLS` included): within 200 seeds, shrunk to at most
//! three faults, saved as a regression file whose replay gives the same trace hash and fails
//! the same way.
//!
//! `cargo test -p kv-server --features planted-bug --test planted_bug`

mod support;

use theater_tcp_check::{CheckFailure, fault_count};

#[test]
fn the_planted_bug_is_found_shrunk_saved_and_replayed() {
    let dir = std::env::temp_dir().join(format!("kv-planted-bug-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // The check of `tests/kv.rs`, saving into a directory of its own.
    let check = support::check("kv_server_under_faults", support::REPLAY).regressions(&dir);
    let found = match check.try_run() {
        Err(CheckFailure::Counterexample(found)) => found,
        other => panic!("the planted bug went unnoticed: {other:?}"),
    };
    assert!(found.seed < 200);
    // Either a reply breaks the model (a split command answered twice), or a client's TLS
    // handshake breaks (the `\n` of a `STARTTLS` cut off by a short write reaches the
    // server after its `OK`, and is read as TLS).
    assert!(
        found.violation.property == "always \"replies match the model\""
            || (found.violation.property == "workload"
                && found.violation.why.contains("TLS handshake")),
        "{}",
        found.violation
    );
    assert!(
        found.faults <= 3,
        "{} faults: {:?}",
        found.faults,
        found.case.plan
    );
    assert_eq!(fault_count(&found.case.plan), found.faults);
    assert!(found.deterministic);

    let file = found.file.clone().expect("a regression file");
    assert_eq!(
        file,
        dir.join(format!("kv_server_under_faults-seed-{}.json", found.seed))
    );
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("read")).expect("json");
    assert_eq!(saved["seed"], found.seed);
    assert_eq!(saved["trace_hash"], format!("{:016x}", found.trace_hash));
    assert!(
        saved["plan"].is_object() && saved["input"].is_array(),
        "{saved}"
    );
    assert!(
        found.replay
            == format!(
                "THEATER_CHECK_REPLAY={} cargo test -p kv-server --features planted-bug --test kv \
                 -- --exact kv_server_under_faults",
                file.display()
            ),
        "{}",
        found.replay
    );

    // What the replay command runs: the file alone, the same trace, the same failure.
    let replayed = check.replay(&file).expect("replay");
    assert_eq!(replayed.trace_hash, found.trace_hash);
    assert_eq!(replayed.saved_hash, found.trace_hash);
    assert_eq!(replayed.violation.as_ref(), Some(&found.violation));

    // A later run replays the saved file before any seed, and fails on it.
    match check.try_run() {
        Err(CheckFailure::Regression { file: f, .. }) => assert_eq!(f, file),
        other => panic!("the saved regression was not replayed first: {other:?}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}
