//! The fault layer's counters over whole runs: a fault the plan forces is counted, on the host
//! where it takes effect, as often as it takes effect; a plan without fault-layer faults counts
//! nothing; and two runs of a seed count the same.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use theater_tcp_core::{Config, Exports};
use theater_tcp_sim::actor::{Script, text};
use theater_tcp_sim::plan::{AcceptFaults, ConnectFaults, CutPlan, NetEvent, TimedEvent};
use theater_tcp_sim::{
    FaultCounts, FaultKind, FaultPlan, Outcome, Sim, SimContext, SimStream, StreamFaults,
};
use theater_tcp_test_support::scenarios::{self, EchoMode};
use theater_tcp_tokio::{ActorHandle, Network};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOTAL: usize = 64 * 1024;

async fn echo(ctx: SimContext) -> Result<(), String> {
    scenarios::echo(&ctx.setup(), EchoMode::Active, TOTAL).await
}

/// Runs `scenario` under `plan` with `config`; it must pass.
fn run(plan: FaultPlan, config: Config, scenario: fn(SimContext) -> Scenario) -> Outcome {
    let outcome = Sim::new(3, plan).config(config).run(scenario);
    if let Err(e) = &outcome.result {
        panic!("{e}");
    }
    outcome
}

type Scenario = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>>>>;

fn boxed_echo(ctx: SimContext) -> Scenario {
    Box::pin(echo(ctx))
}

/// `counts` has `kind` only (or nothing, when `kind` is `None`).
fn only(host: &str, counts: &FaultCounts, kind: Option<FaultKind>) -> u64 {
    for (other, n) in counts.iter() {
        assert_eq!(Some(other), kind, "{host}: {other} counted {n} times");
    }
    kind.map_or(0, |k| counts.get(k))
}

#[test]
fn a_plan_without_fault_layer_faults_counts_nothing_on_either_host() {
    let mut plan = FaultPlan::none();
    // Latency and held messages are turmoil's, not the fault layer's: nothing to count.
    plan.latency_ms = Some((1, 10));
    plan.events = vec![
        TimedEvent {
            at_ms: 5,
            event: NetEvent::Hold,
        },
        TimedEvent {
            at_ms: 50,
            event: NetEvent::Release,
        },
    ];
    for plan in [FaultPlan::none(), plan] {
        let outcome = run(plan, Config::default(), boxed_echo);
        assert!(
            outcome.server_faults.is_empty(),
            "{:?}",
            outcome.server_faults
        );
        assert!(outcome.peer_faults.is_empty(), "{:?}", outcome.peer_faults);
    }
}

/// Starts actor `name`, which listens, accepts one connection, activates it and runs `serve`
/// on it; returns the actor and a peer's stream connected to it.
async fn one_connection<T, F, Fut>(
    ctx: &SimContext,
    name: &str,
    serve: F,
) -> Result<(Script<T>, SimStream), String>
where
    T: Send + 'static,
    F: FnOnce(ActorHandle, String) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, String>> + Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    let actor = Script::spawn(&ctx.driver, name, Exports::ALL, |actor| async move {
        let listener = actor.listen("0.0.0.0:0").await.map_err(text)?;
        let _ = tx.send(actor.local_address(&listener).await.map_err(text)?);
        let conn = actor.accept(&listener).await.map_err(text)?;
        actor.activate(&conn).await.map_err(text)?;
        serve(actor, conn).await
    });
    let local: SocketAddr = rx
        .await
        .map_err(|_| "no listener")?
        .parse()
        .map_err(|e| format!("{e}"))?;
    let stream = ctx
        .peer
        .connect(SocketAddr::new(ctx.server, local.port()))
        .await
        .map_err(|e| e.to_string())?;
    Ok((actor, stream))
}

/// Small writes that queue up before the other side reads, both ways, so that merged reads
/// have several segments to gather: the peer writes 20 pieces and ends, the actor starts
/// reading only later; then the actor answers in 20 pieces and the peer reads only later.
fn queued_small_writes(ctx: SimContext) -> Scenario {
    const PIECES: usize = 20;
    const PIECE: usize = 500;
    const LATER: Duration = Duration::from_millis(100);
    Box::pin(async move {
        let (actor, mut stream) = one_connection(&ctx, "late-reader", |actor, conn| async move {
            tokio::time::sleep(LATER).await;
            let mut got = 0;
            loop {
                let data = actor.receive(&conn, 64 * 1024).await.map_err(text)?;
                if data.is_empty() {
                    break;
                }
                got += data.len();
            }
            for _ in 0..PIECES {
                actor.send(&conn, vec![2; PIECE]).await.map_err(text)?;
            }
            actor.close(&conn).await.map_err(text)?;
            Ok(got)
        })
        .await?;
        for _ in 0..PIECES {
            stream
                .write_all(&[1; PIECE])
                .await
                .map_err(|e| e.to_string())?;
        }
        stream.shutdown().await.map_err(|e| e.to_string())?;
        tokio::time::sleep(LATER * 2).await;
        let mut back = Vec::new();
        stream
            .read_to_end(&mut back)
            .await
            .map_err(|e| e.to_string())?;
        let got = actor.join().await?;
        if (got, back.len()) == (PIECES * PIECE, PIECES * PIECE) {
            Ok(())
        } else {
            Err(format!(
                "the actor got {got} bytes, the peer {}",
                back.len()
            ))
        }
    })
}

#[test]
fn each_forced_stream_fault_is_counted_on_both_hosts() {
    let forced = [
        (
            FaultKind::SplitRead,
            StreamFaults {
                split_read: 1.0,
                ..StreamFaults::none()
            },
        ),
        (
            FaultKind::MergeReads,
            StreamFaults {
                merge_reads: 1.0,
                ..StreamFaults::none()
            },
        ),
        (
            FaultKind::ShortWrite,
            StreamFaults {
                short_write: 1.0,
                ..StreamFaults::none()
            },
        ),
        (
            FaultKind::Stall,
            StreamFaults {
                stall: 1.0,
                max_stall_ms: 3,
                ..StreamFaults::none()
            },
        ),
    ];
    for (kind, streams) in forced {
        let plan = FaultPlan {
            streams,
            ..FaultPlan::none()
        };
        let outcome = run(plan, Config::default(), queued_small_writes);
        let server = only("server", &outcome.server_faults, Some(kind));
        let peer = only("client", &outcome.peer_faults, Some(kind));
        assert!(
            server > 0 && peer > 0,
            "{kind}: server {server}, client {peer}"
        );
    }
}

/// One connection whose streams are both cut at their first byte: the actor reads until its
/// stream ends (cleanly or not), the peer the same.
fn one_cut_connection(ctx: SimContext) -> Scenario {
    Box::pin(async move {
        let (actor, mut stream) = one_connection(&ctx, "cut", |actor, conn| async move {
            while let Ok(data) = actor.receive(&conn, 4096).await {
                if data.is_empty() {
                    break;
                }
            }
            let _ = actor.close(&conn).await;
            Ok(())
        })
        .await?;
        let _ = stream.write_all(b"cut").await;
        let _ = stream.read_to_end(&mut Vec::new()).await;
        actor.join().await
    })
}

#[test]
fn a_forced_cut_is_counted_once_per_cut_stream_by_its_kind() {
    for (kind, rst_share) in [(FaultKind::CutFin, 0.0), (FaultKind::CutRst, 1.0)] {
        let plan = FaultPlan {
            cuts: Some(CutPlan {
                probability: 1.0,
                max_after_bytes: 0,
                rst_share,
            }),
            ..FaultPlan::none()
        };
        let outcome = run(plan, Config::default(), one_cut_connection);
        // One connection: one incoming stream on each host, each cut once.
        assert_eq!(only("server", &outcome.server_faults, Some(kind)), 1);
        assert_eq!(only("client", &outcome.peer_faults, Some(kind)), 1);
    }
}

#[test]
fn a_forced_accept_delay_is_counted_once_per_accepted_connection() {
    let plan = FaultPlan {
        accepts: AcceptFaults {
            delay: 1.0,
            max_delay_ms: 100,
        },
        ..FaultPlan::none()
    };
    let outcome = run(plan, Config::default(), boxed_echo);
    // The echo's one connection, accepted by the driver; the peers accept nothing.
    assert_eq!(
        only(
            "server",
            &outcome.server_faults,
            Some(FaultKind::AcceptDelay)
        ),
        1
    );
    only("client", &outcome.peer_faults, None);
}

/// The echo (whose peer's connect the connect faults must spare) and one outbound connect of
/// an actor, which must fail.
fn echo_and_dial(ctx: SimContext) -> Scenario {
    Box::pin(async move {
        echo(ctx.clone()).await?;
        let dialed = Script::spawn(&ctx.driver, "dialer", Exports::ALL, |actor| async move {
            actor.connect("client:9000").await.map_err(text)
        })
        .join()
        .await;
        match dialed {
            Err(e) if e.contains("refused") || e.contains("timed out") => Ok(()),
            other => Err(format!("the connect gave {other:?}")),
        }
    })
}

#[test]
fn forced_connect_refusals_and_hangs_are_counted_on_the_driver_s_host_only() {
    let config = Config {
        connect_timeout_ms: 300,
        ..Config::default()
    };
    for (kind, connects) in [
        (
            FaultKind::ConnectRefuse,
            ConnectFaults {
                refuse: 1.0,
                hang: 0.0,
            },
        ),
        (
            FaultKind::ConnectHang,
            ConnectFaults {
                refuse: 0.0,
                hang: 1.0,
            },
        ),
    ] {
        let plan = FaultPlan {
            connects,
            ..FaultPlan::none()
        };
        let outcome = run(plan, config.clone(), echo_and_dial);
        assert_eq!(only("server", &outcome.server_faults, Some(kind)), 1);
        only("client", &outcome.peer_faults, None);
    }
}

#[test]
fn two_runs_of_a_seed_count_the_same_faults() {
    let mut counted = 0;
    for seed in 0..8 {
        let sim = || Sim::new(seed, FaultPlan::from_seed(seed)).limit(Duration::from_secs(30));
        let first = sim().run(boxed_echo);
        let second = sim().run(boxed_echo);
        assert_eq!(first.trace_hash, second.trace_hash, "seed {seed}");
        assert_eq!(first.server_faults, second.server_faults, "seed {seed}");
        assert_eq!(first.peer_faults, second.peer_faults, "seed {seed}");
        counted += usize::from(!first.server_faults.is_empty());
    }
    assert!(counted > 0, "no seed counted a fault");
}

#[test]
fn after_a_heal_no_fault_fires_and_a_partition_is_repaired() {
    let mut plan = FaultPlan::none();
    plan.streams = StreamFaults {
        split_read: 0.9,
        merge_reads: 0.9,
        short_write: 0.9,
        stall: 0.5,
        max_stall_ms: 5,
        cut: None,
    };
    // Faulted, the echo splits and stalls on both hosts.
    let faulted = run(plan.clone(), Config::default(), boxed_echo);
    assert!(faulted.server_faults.get(FaultKind::SplitRead) > 0);
    assert!(faulted.peer_faults.get(FaultKind::Stall) > 0);
    // Healed from the start, with a partition that never lifts on its own: nothing fires,
    // and the heal repairs the partition, so the echo completes.
    plan.events = vec![
        TimedEvent {
            at_ms: 0,
            event: NetEvent::Partition,
        },
        TimedEvent {
            at_ms: 0,
            event: NetEvent::Heal,
        },
    ];
    let healed = run(plan, Config::default(), boxed_echo);
    only("server", &healed.server_faults, None);
    only("client", &healed.peer_faults, None);
}

#[test]
fn a_heal_restarts_a_crashed_driver_host_and_ignores_later_events() {
    let mut plan = FaultPlan::none();
    plan.events = vec![
        TimedEvent {
            at_ms: 0,
            event: NetEvent::CrashServer,
        },
        TimedEvent {
            at_ms: 5,
            event: NetEvent::Heal,
        },
        TimedEvent {
            at_ms: 6,
            event: NetEvent::CrashServer,
        },
    ];
    // The driver that the echo uses is the one the heal started (the scenario waits for a
    // driver to be published); had the crash at 6 ms applied, the echo would break.
    let outcome = Sim::new(3, plan)
        .keep_trace(true)
        .run(|ctx: SimContext| async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            echo(ctx).await
        });
    assert_eq!(outcome.result, Ok(()));
    assert_eq!(
        outcome
            .records
            .iter()
            .filter(|r| matches!(r.event, theater_tcp_sim::TraceEvent::DriverStarted { .. }))
            .count(),
        1
    );
}

#[test]
fn a_plan_runs_at_its_own_tick_and_a_tick_that_cannot_run_fails_the_run_at_once() {
    // Simulated time advances a whole tick per step: at 5 ms every run ends on a multiple of
    // 5 ms (at 1 ms, one run in five would by chance; these are six runs).
    let mut ends = Vec::new();
    for seed in 0..6 {
        let plan = FaultPlan {
            tick_ms: Some(5),
            latency_ms: Some((1, 7)),
            ..FaultPlan::none()
        };
        let outcome = Sim::new(seed, plan).run(boxed_echo);
        assert_eq!(outcome.result, Ok(()), "seed {seed}");
        ends.push(outcome.sim_elapsed);
    }
    assert!(
        ends.iter()
            .all(|end| end.as_micros() % 5_000 == 0 && !end.is_zero()),
        "{ends:?}"
    );
    for tick in [0, 101] {
        let plan = FaultPlan {
            tick_ms: Some(tick),
            ..FaultPlan::none()
        };
        let outcome = Sim::new(3, plan).run(boxed_echo);
        assert_eq!(
            outcome.result,
            Err(format!(
                "the fault plan cannot run: tick_ms {tick}: the network's tick must be 1 to 100 ms"
            ))
        );
        assert_eq!(outcome.sim_elapsed, Duration::ZERO);
    }
}
