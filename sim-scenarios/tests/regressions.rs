//! Seeds that once failed, each run as CI runs every seed: twice, with the same trace hash,
//! judged by every oracle of its scenario. Each names the root cause that was fixed; a seed is
//! only a witness (a later change may move its schedule away from the bug), so every cause also
//! has a test of its own, named here.

use theater_tcp_scenarios::report::repro_line;
use theater_tcp_scenarios::{find, run_seed};

/// `(scenario, seed, the cause and the test that pins it)`.
const REGRESSIONS: &[(&str, u64, &str)] = &[
    // turmoil 0.7 parks a FIN that meets a full receive queue for good, so the peer waited
    // for the end of the stream forever (`transport-sim/tests/fin.rs`).
    ("echo", 2_003_599, "FIN behind a full receive queue"),
    (
        "echo",
        2_002_915,
        "FIN behind a full receive queue, after a hold",
    ),
    (
        "cuts",
        2_000_371,
        "FIN behind a full receive queue, with a cut",
    ),
    // rustls' last write of a fatal alert was cut short by a short write and the socket went
    // with the failed handshake (`transport-sim/tests/tls.rs`,
    // `a_failed_upgrade_sends_whole_alerts_then_fin_under_short_writes_30_seeds`).
    (
        "tls",
        2_000_407,
        "truncated alert after a failed STARTTLS handshake",
    ),
    (
        "tls",
        2_002_327,
        "truncated alert after a failed STARTTLS handshake",
    ),
    (
        "tls",
        2_002_454,
        "truncated alert after a failed STARTTLS handshake",
    ),
    (
        "tls",
        2_002_532,
        "truncated alert after a failed STARTTLS handshake",
    ),
    (
        "tls",
        2_002_706,
        "truncated alert after a failed STARTTLS handshake",
    ),
    // The failed handshake dropped the socket at once; the peer's write behind STARTTLS then
    // met a closed socket (RST, broken pipe) instead of a graceful close that drains it.
    (
        "tls",
        2_004_007,
        "broken pipe after a failed STARTTLS handshake",
    ),
    // A crash of the driver's host dropped its task, but calls waiting on it were never
    // answered (`transport-tokio/tests/routing.rs`, `calls_waiting_when_the_driver_task_is_dropped_fail`).
    (
        "chaos",
        2_001_273,
        "calls pending across a crash of the driver's host",
    ),
    (
        "chaos",
        1_000_182,
        "calls pending across a crash of the driver's host",
    ),
    // A graceful close released the socket at the linger deadline counted from the close,
    // while stalls and short writes still held the end of the echo in the transport: the
    // peer lost bytes the actor had been told were sent (`core/tests/states/closing.rs`,
    // `a_slow_flush_is_not_cut_at_the_linger_deadline_but_at_the_send_timeout`;
    // `transport-tokio/tests/connections.rs`,
    // `a_close_is_not_cut_at_the_linger_deadline_while_a_slow_peer_still_reads`).
    (
        "wasm",
        1_336,
        "linger counted from the close, not from the flush",
    ),
];

#[test]
fn every_seed_that_once_failed_passes() {
    let mut failures = Vec::new();
    for (name, seed, cause) in REGRESSIONS {
        let scenario = find(name).unwrap_or_else(|| panic!("no scenario {name}"));
        let r = run_seed(scenario, *seed, scenario.plan(*seed), false);
        if !r.verdict.passed() || r.trace_hash != r.second_hash {
            failures.push(format!(
                "{name} seed {seed} ({cause}): {:?}\n  reproduce: {}",
                r.verdict,
                repro_line(name, *seed, None)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
