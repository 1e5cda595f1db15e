//! The check API on a small echo actor: a correct actor passes with its sometimes-property
//! reached; an always-property on each observation, an eventually-property after the heal and
//! a failing workload each fail the check, named, shrunk and (with a directory) saved. The same
//! checks on a wasm echo: `echo_active`, a C test actor of `tests/actors` (the component the
//! end-to-end tests run on real sockets), in the adapter's host on the simulated driver.

use proptest::prelude::*;
use std::time::Duration;
use theater_tcp_check::{
    ActorUnderTest, Check, CheckFailure, Counterexample, FaultAlphabet, Peers, Scripted, Wasm,
};
use theater_tcp_core::Exports;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PORT: u16 = 7000;

/// Echoes every connection until its end of stream.
fn echo_actor() -> Scripted {
    Scripted::new("echo", Exports::default(), |actor| async move {
        let listener = actor
            .listen(&format!("0.0.0.0:{PORT}"))
            .await
            .map_err(|e| e.to_string())?;
        loop {
            let conn = actor.accept(&listener).await.map_err(|e| e.to_string())?;
            let caller = actor.caller();
            tokio::spawn(async move {
                caller.activate(&conn).await?;
                loop {
                    let data = caller.receive(&conn, 4096).await?;
                    if data.is_empty() {
                        return caller.close(&conn).await;
                    }
                    caller.send(&conn, data).await?;
                }
            });
        }
    })
}

/// Accepts connections and never reads them.
fn silent_actor() -> Scripted {
    Scripted::new("silent", Exports::default(), |actor| async move {
        let listener = actor
            .listen(&format!("0.0.0.0:{PORT}"))
            .await
            .map_err(|e| e.to_string())?;
        let mut open = Vec::new();
        loop {
            open.push(actor.accept(&listener).await.map_err(|e| e.to_string())?);
        }
    })
}

/// Sends the input, ends its side, records every chunk read back.
async fn echo_client(peers: Peers<Vec<u8>>, input: Vec<u8>) -> Result<(), String> {
    let mut stream = peers.connect(PORT).await.map_err(|e| e.to_string())?;
    stream.write_all(&input).await.map_err(|e| e.to_string())?;
    stream.shutdown().await.map_err(|e| e.to_string())?;
    let mut buf = vec![0; 1024];
    loop {
        let n = stream.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Ok(());
        }
        peers.record(buf[..n].to_vec());
    }
}

fn echo_check(name: &str, actor: impl ActorUnderTest + 'static) -> Check<Vec<u8>, Vec<u8>> {
    Check::new(
        name,
        actor,
        prop::collection::vec(any::<u8>(), 1..200),
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
    .seeds(0..30)
}

#[track_caller]
fn counterexample(
    result: Result<theater_tcp_check::Report, CheckFailure<Vec<u8>>>,
) -> Counterexample<Vec<u8>> {
    match result {
        Err(CheckFailure::Counterexample(c)) => *c,
        other => panic!("expected a counterexample, got {other:?}"),
    }
}

#[test]
fn a_correct_actor_passes_and_reaches_its_sometimes_property() {
    let report = echo_check("echo_passes", echo_actor())
        .sometimes("the actor read a chunk in two", |run| {
            run.deliveries().len() > 1
        })
        .heal_at(Duration::from_millis(500))
        .eventually("echo complete", Duration::from_secs(2), |run| {
            run.finished.is_some()
        })
        .run();
    assert_eq!(report.seeds, 30);
    assert_eq!(report.sometimes.len(), 1);
    assert!(report.sometimes[0].1 > 0, "{report:?}");
}

#[test]
fn an_always_on_each_property_names_the_observation_and_shrinks_the_input() {
    let found = counterexample(
        echo_check("echo_small_chunks", echo_actor())
            .always_on_each("chunks of at most 64 bytes", |chunk, _| {
                if chunk.len() > 64 {
                    return Err(format!("{} bytes", chunk.len()));
                }
                Ok(())
            })
            .alphabet(FaultAlphabet::none())
            .try_run(),
    );
    assert_eq!(
        found.violation.property,
        "always \"chunks of at most 64 bytes\""
    );
    assert!(
        found.violation.why.starts_with("observation 0 at "),
        "{}",
        found.violation.why
    );
    assert_eq!(found.case.input.len(), 65, "{:?}", found.case.input);
    assert_eq!(
        found.shrink_runs, 500,
        "the byte values use up the default budget"
    );
    assert_eq!(found.faults, 0);
    assert!(found.file.is_none());
    assert!(
        found.replay.contains("no regression directory"),
        "{}",
        found.replay
    );
}

#[test]
fn an_actor_that_never_answers_fails_the_eventually_property_after_the_heal() {
    let found = counterexample(
        echo_check("silent", silent_actor())
            .heal_at(Duration::from_millis(100))
            .eventually("echo complete", Duration::from_secs(1), |run| {
                run.finished.is_some()
            })
            .try_run(),
    );
    assert_eq!(found.seed, 0);
    assert_eq!(found.violation.property, "eventually \"echo complete\"");
    assert_eq!(
        found.violation.why,
        "did not hold within 1s after the heal at 100ms (workload still running)"
    );
    // Nothing needs a fault to fail: shrinking removes them all, and the input to one byte.
    assert_eq!(found.faults, 0, "{:?}", found.case.plan);
    assert_eq!(found.case.input, [0]);
}

#[test]
fn a_failing_workload_fails_the_run_and_the_case_is_saved_and_replayed() {
    let dir = std::env::temp_dir().join(format!("check-workload-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let check = Check::new(
        "long_inputs",
        echo_actor(),
        prop::collection::vec(any::<u8>(), 1..200),
        |peers: Peers<Vec<u8>>, input: Vec<u8>| async move {
            if input.len() > 100 {
                return Err(format!("{} bytes is too long", input.len()));
            }
            echo_client(peers, input).await
        },
    )
    .regressions(&dir)
    .replay_command("cargo test -p theater-tcp-check --test check -- --exact long");
    let found = counterexample(check.try_run());
    assert_eq!(found.violation.property, "workload");
    assert_eq!(found.violation.why, "101 bytes is too long");
    let file = found.file.clone().expect("saved");
    assert_eq!(
        found.replay,
        format!(
            "THEATER_CHECK_REPLAY={} cargo test -p theater-tcp-check --test check -- --exact long",
            file.display()
        )
    );
    let replayed = check.replay(&file).expect("replay");
    assert_eq!(replayed.case, found.case);
    assert_eq!(replayed.trace_hash, found.trace_hash);
    assert_eq!(replayed.violation, Some(found.violation));
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------- a wasm actor

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

#[test]
fn a_wasm_echo_actor_passes_under_lossless_faults() {
    let report = echo_check("wasm_echo_passes", wasm_echo())
        .alphabet(FaultAlphabet::lossless())
        .seeds(0..40)
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
    let check = echo_check("wasm_echo_small_chunks", wasm_echo())
        .alphabet(FaultAlphabet::lossless())
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
