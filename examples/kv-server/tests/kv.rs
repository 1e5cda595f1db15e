//! The key-value server under faults: 200 seeds of one to three clients against the correct
//! server pass every property, and a fault alphabet that cannot split a line fails the sweep
//! on its *sometimes* property.
//!
//! `cargo test -p kv-server --test kv`
//!
//! With `--features planted-bug`, `kv_server_under_faults` fails as a user would see it: the
//! shrunk case, its regression file in `tests/regressions/`, and the command that replays it
//! (`tests/planted_bug.rs` asserts all of it).

mod support;

use theater_tcp_check::{CheckFailure, Fault, FaultAlphabet};

#[test]
fn kv_server_under_faults() {
    let report = support::check("kv_server_under_faults", support::REPLAY).run();
    assert_eq!(report.seeds, 200);
    eprintln!("{report:?}");
}

#[test]
fn a_sometimes_property_that_never_holds_fails_the_sweep_naming_it() {
    let never_split = FaultAlphabet::lossless()
        .without(Fault::SplitRead)
        .without(Fault::ShortWrite);
    let result = support::check("kv_never_split", "unused")
        .alphabet(never_split)
        .seeds(0..20)
        .try_run();
    let failure = match result {
        Err(failure @ CheckFailure::Never { .. }) => failure,
        other => panic!("expected the sometimes property to fail the sweep, got {other:?}"),
    };
    let text = failure.to_string();
    assert!(
        text.starts_with("sometimes \"a line took two reads\" never held in 20 seeds (0..20)"),
        "{text}"
    );
    assert!(text.contains("merge-reads"), "names the alphabet: {text}");
}
