//! The echo and transfer scenarios of `theater-tcp-test-support` (the bodies the real-socket
//! tests of `theater-tcp-tokio` run, not copies) on
//! turmoil under the fault layer, byte-exact; and the determinism check under every fault.
//!
//! Reproduce a failing seed with the line the failure prints, e.g.
//! `THEATER_SIM_SEED=17 cargo test -p theater-tcp-sim --test echo -- --exact echo_under_lossless_faults_200_seeds`.

use std::time::Duration;
use theater_tcp_core::Exports;
use theater_tcp_sim::actor::{Script, text};
use theater_tcp_sim::{FaultPlan, Sim, SimContext, Sweep};
use theater_tcp_test_support::scenarios::{self, EchoMode};
use theater_tcp_tokio::{NetListener, Network};

const KIB: usize = 1024;

fn mode(seed: u64) -> EchoMode {
    match seed % 5 {
        0 => EchoMode::Passive,
        1 => EchoMode::Active,
        2 => EchoMode::Once,
        3 => EchoMode::Credit(1 + (seed % 7) as u16),
        _ => EchoMode::Switching,
    }
}

/// 64 to 192 KiB, by seed.
fn size(seed: u64) -> usize {
    64 * KIB + (seed as usize * 7919) % (128 * KIB)
}

async fn echo(ctx: SimContext) -> Result<(), String> {
    let mode = mode(ctx.seed);
    let total = size(ctx.seed);
    scenarios::echo(&ctx.setup(), mode, total)
        .await
        .map_err(|e| format!("echo of {total} bytes in {mode:?} mode: {e}"))
}

async fn transfer(ctx: SimContext) -> Result<(), String> {
    let total = size(ctx.seed);
    scenarios::transfer_while_streaming(&ctx.setup(), total)
        .await
        .map_err(|e| format!("transfer of {total} bytes: {e}"))
}

#[test]
fn echo_under_lossless_faults_200_seeds() {
    Sweep::new("echo", "echo_under_lossless_faults_200_seeds")
        .run(
            0..200,
            |seed| Sim::new(seed, FaultPlan::lossless_from_seed(seed)),
            echo,
        )
        .assert_ok();
}

#[test]
fn transfer_under_lossless_faults_200_seeds() {
    Sweep::new("echo", "transfer_under_lossless_faults_200_seeds")
        .run(
            0..200,
            |seed| Sim::new(seed, FaultPlan::lossless_from_seed(seed)),
            transfer,
        )
        .assert_ok();
}

/// Echo through the actor as in the tests above, and an actor that connects out to a peer's
/// echo server: the connect meets refusals and hangs, the streams cuts, the hosts partitions,
/// crashes and bounces. Whatever the verdict, both runs of a seed must agree on it and on
/// every step of the core.
async fn echo_with_every_fault(ctx: SimContext) -> Result<(), String> {
    let total = 32 * KIB;
    let inbound = scenarios::echo(&ctx.setup(), mode(ctx.seed), total).await;
    let listener = ctx
        .peer
        .listen("0.0.0.0:9000".parse().map_err(|e| format!("{e}"))?)
        .await
        .map_err(|e| format!("peer listen: {e}"))?;
    let peer = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.map_err(|e| e.to_string())?;
        theater_tcp_sim::peer::echo(stream).await
    });
    let outbound = Script::spawn(&ctx.driver, "dialer", Exports::ALL, |actor| async move {
        let conn = actor.connect("client:9000").await.map_err(text)?;
        actor.send(&conn, vec![42; 1000]).await.map_err(text)?;
        actor.shutdown(&conn, "write").await.map_err(text)?;
        let mut got = 0;
        loop {
            let data = actor.receive(&conn, 4096).await.map_err(text)?;
            if data.is_empty() || data.iter().any(|b| *b != 42) {
                break;
            }
            got += data.len();
        }
        actor.close(&conn).await.map_err(text)?;
        if got == 1000 {
            Ok(())
        } else {
            Err(format!("dialer: got {got} of 1000 bytes back"))
        }
    })
    .join()
    .await;
    peer.abort();
    match (inbound, outbound) {
        (Ok(()), Ok(())) => Ok(()),
        (inbound, outbound) => Err(format!("inbound {inbound:?}, outbound {outbound:?}")),
    }
}

#[test]
fn the_same_seed_gives_the_same_trace_hash_50_seeds_of_echo_with_every_fault() {
    let report = Sweep::new(
        "echo",
        "the_same_seed_gives_the_same_trace_hash_50_seeds_of_echo_with_every_fault",
    )
    .run(
        0..50,
        |seed| Sim::new(seed, FaultPlan::from_seed(seed)).limit(Duration::from_secs(30)),
        echo_with_every_fault,
    );
    report.assert_deterministic();
    let mut passed = 0;
    let mut hashes = std::collections::BTreeSet::new();
    for seed in &report.seeds {
        assert!(seed.first.trace_len > 0);
        hashes.insert(seed.first.trace_hash);
        passed += usize::from(seed.first.result.is_ok());
    }
    // Different seeds take different paths through the core.
    assert!(hashes.len() * 10 >= report.seeds.len() * 9, "{hashes:?}");
    // Faults are swarm-drawn: some seeds must get through, some must not.
    if report.seeds.len() > 1 {
        assert!(passed > 0 && passed < report.seeds.len(), "{passed} passed");
    }
}
