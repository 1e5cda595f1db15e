//! The check API on a wasm actor: `echo_active`, a C test actor of `tests/actors` (the same
//! component the end-to-end tests run on real sockets), in the adapter's host on the simulated
//! driver. It passes under faults; a property it breaks is found, saved, and replays to the
//! same trace hash.

use proptest::prelude::*;
use theater_tcp_check::{Check, CheckFailure, FaultAlphabet, Peers, Wasm};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PORT: u16 = 7000;

fn wasm_echo() -> Wasm {
    let component = theater_tcp_tests::actor("echo_active");
    match Wasm::new(
        vec![("echo".into(), component)],
        Some(&format!("0.0.0.0:{PORT}")),
    ) {
        Ok(actor) => actor,
        Err(e) => panic!("echo_active does not compile: {e}"),
    }
}

/// Sends the input, ends its side, records every chunk read back.
async fn echo_client(peers: Peers<Vec<u8>>, input: Vec<u8>) -> Result<(), String> {
    let mut stream = peers.connect(PORT).await.map_err(|e| e.to_string())?;
    stream.write_all(&input).await.map_err(|e| e.to_string())?;
    stream.shutdown().await.map_err(|e| e.to_string())?;
    let mut buf = vec![0; 4096];
    loop {
        let n = stream.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Ok(());
        }
        peers.record(buf[..n].to_vec());
    }
}

fn echo_check(name: &str) -> Check<Vec<u8>, Vec<u8>> {
    Check::new(
        name,
        wasm_echo(),
        prop::collection::vec(any::<u8>(), 1..3000),
        echo_client,
    )
    .always("echoed exactly", |run| {
        let back: Vec<u8> = run.observations().flatten().copied().collect();
        if run.finished.is_some() && back != run.case.input {
            return Err(format!(
                "{} bytes back of {}",
                back.len(),
                run.case.input.len()
            ));
        }
        Ok(())
    })
    .alphabet(FaultAlphabet::lossless())
    .seeds(0..40)
}

#[test]
fn a_wasm_echo_actor_passes_under_lossless_faults() {
    let report = echo_check("wasm_echo_passes")
        .sometimes("the actor got the bytes in more than one on-data", |run| {
            run.deliveries().len() > 1
        })
        .run();
    assert_eq!(report.seeds, 40);
    assert!(report.sometimes[0].1 > 0, "{report:?}");
}

#[test]
fn a_property_the_wasm_actor_breaks_is_found_saved_and_replays_to_the_same_trace_hash() {
    let dir = tempfile::tempdir().expect("temp dir");
    let check = echo_check("wasm_echo_small_chunks")
        .always_on_each("chunks of at most 100 bytes", |chunk, _| {
            if chunk.len() > 100 {
                return Err(format!("{} bytes", chunk.len()));
            }
            Ok(())
        })
        .regressions(dir.path());
    let found = match check.try_run() {
        Err(CheckFailure::Counterexample(c)) => *c,
        other => panic!("expected a counterexample, got {other:?}"),
    };
    assert!(
        found.deterministic,
        "the minimal case ran twice with one trace hash"
    );
    let file = found.file.clone().expect("the minimal case is saved");
    let replayed = match check.replay(&file) {
        Ok(r) => r,
        Err(e) => panic!("the saved case does not replay: {e:?}"),
    };
    assert!(replayed.violation.is_some(), "{replayed:?}");
    assert_eq!(replayed.trace_hash, replayed.saved_hash);
    assert_eq!(replayed.trace_hash, found.trace_hash);
}
