//! The simulation finds a planted bug: built with `--features planted-bug`, the core drops one
//! buffered byte whenever `set-active` changes the mode. The echo oracle (byte-exact, the same
//! scenario body as on real sockets) must catch it within 100 seeds, and the printed
//! reproduction seed must fail again, the same way, with the same trace.
//!
//! `cargo test -p theater-tcp-sim --features planted-bug --test planted_bug`

use theater_tcp_sim::{FaultPlan, Sim, SimContext, Sweep};
use theater_tcp_test_support::scenarios::{self, EchoMode};

const NAME: &str = "a_byte_dropped_on_a_mode_switch_is_caught_within_100_seeds_and_reproduces";

async fn switching_echo(ctx: SimContext) -> Result<(), String> {
    scenarios::echo(&ctx.setup(), EchoMode::Switching, 256 * 1024).await
}

fn sim(seed: u64) -> Sim {
    Sim::new(seed, FaultPlan::lossless_from_seed(seed))
}

#[test]
fn a_byte_dropped_on_a_mode_switch_is_caught_within_100_seeds_and_reproduces() {
    let sweep = Sweep::new("planted_bug", NAME).features("planted-bug");
    let report = sweep.run(0..100, sim, switching_echo);
    report.assert_deterministic();
    let failures = report.failures();
    let Some((seed, why, line)) = failures.first().cloned() else {
        panic!("the planted bug went unnoticed for 100 seeds");
    };
    eprintln!(
        "caught at seed {seed} ({} of {} seeds fail): {why}\n  reproduce: {line}",
        failures.len(),
        report.seeds.len()
    );
    // The workspace's one repro-line format (`theater_tcp_sim::repro`), as theater-tcp-sim
    // prints it too: the seed in the environment, then the cargo command.
    assert_eq!(
        line,
        format!(
            "THEATER_SIM_SEED={seed} cargo test -p theater-tcp-sim --features planted-bug \
             --test planted_bug -- --exact {NAME}"
        )
    );
    // What the line runs: the same seed alone, which fails the same way with the same trace.
    let again = sweep.run(seed..seed + 1, sim, switching_echo);
    let first = &report
        .seeds
        .iter()
        .find(|s| s.first.seed == seed)
        .expect("seed")
        .first;
    let rerun = &again.seeds[0].first;
    assert_eq!(rerun.result, first.result);
    assert_eq!(rerun.trace_hash, first.trace_hash);
    assert!(rerun.result.is_err());
}
