//! How inputs reach the core: a call is handled in the caller's own task (a call the core
//! completes at once returns on its first poll), and a deadline set from any task wakes the
//! driver's timer even when it is earlier than the one the timer sleeps for.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
mod support;
use support::{guard, listen, ok, start_on};
use theater_tcp_core::{Call, Config, Error, Exports, Reply};
use theater_tcp_tokio::{ActorHandle, TokioNetwork};
use tokio::net::TcpStream;

/// Polls `f` once, with a waker that does nothing: `Some` when it finished without waiting.
fn poll_once<F: Future>(f: F) -> Option<F::Output> {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

/// A listener, a peer connected to it, and the accepted, activated (passive) connection.
async fn accepted(actor: &ActorHandle) -> (String, String, TcpStream) {
    let (listener, addr) = listen(actor).await;
    let peer = ok("peer connect", TcpStream::connect(addr).await);
    let conn = ok("accept", guard("accept", actor.accept(&listener)).await);
    ok("activate", actor.activate(&conn).await);
    (listener, conn, peer)
}

/// `receive-timeout(conn, 10, ms)` as `actor`.
async fn receive_timeout(actor: &ActorHandle, connection: String, ms: u64) -> Result<Reply, Error> {
    actor
        .call(Call::ReceiveTimeout {
            connection,
            max: 10,
            ms,
        })
        .await
}

// A current-thread runtime: no other task can run while the test polls once.
#[tokio::test(flavor = "current_thread")]
async fn calls_the_core_completes_at_once_return_on_their_first_poll() {
    let driver = start_on(Config::default(), TokioNetwork);
    let exports = Exports {
        on_data: true,
        ..Exports::default()
    };
    let actor = driver.actor("a", exports);
    let (listener, conn, _peer) = accepted(&actor).await;

    let address = poll_once(actor.local_address(&listener)).expect("local-address waited");
    assert!(ok("local-address", address).starts_with("127.0.0.1:"));
    let sent = poll_once(actor.send(&conn, b"hello".to_vec())).expect("send with room waited");
    assert_eq!(ok("send", sent), 5);
    let mode = poll_once(actor.set_active(&conn, "once")).expect("set-active waited");
    ok("set-active", mode);
    let stats = poll_once(actor.connection_stats(&conn)).expect("connection-stats waited");
    assert_eq!(ok("connection-stats", stats).mode, "once");
    // A bad call fails at once too, and changes nothing.
    let bad = poll_once(actor.send("conn-999", b"x".to_vec())).expect("a bad send waited");
    assert!(matches!(bad, Err(Error::ConnectionNotFound(_))), "{bad:?}");
    // A call that needs the network waits for it.
    let pending = poll_once(actor.connect("127.0.0.1:9"));
    assert!(pending.is_none(), "connect finished without the network");
}

#[tokio::test]
async fn a_deadline_set_from_an_actor_task_wakes_the_driver_timer() {
    let driver = start_on(Config::default(), TokioNetwork);
    let actor = driver.actor("a", Exports::default());
    let (_listener, conn, _peer) = accepted(&actor).await;
    // No timer is armed before this call; the peer never writes.
    let result = guard("receive-timeout", receive_timeout(&actor, conn, 50)).await;
    assert!(matches!(result, Err(Error::ReceiveTimedOut)), "{result:?}");
}

#[tokio::test]
async fn an_earlier_deadline_preempts_the_one_the_timer_sleeps_for() {
    let driver = start_on(Config::default(), TokioNetwork);
    let slow = driver.actor("slow", Exports::default());
    let fast = driver.actor("fast", Exports::default());
    let (_l1, slow_conn, _p1) = accepted(&slow).await;
    let (_l2, fast_conn, _p2) = accepted(&fast).await;
    // The timer first sleeps for an hour away...
    let waiting = tokio::spawn(async move { receive_timeout(&slow, slow_conn, 3_600_000).await });
    tokio::task::yield_now().await;
    // ...then a 50 ms deadline must fire long before the guard.
    let result = guard(
        "the earlier receive-timeout",
        receive_timeout(&fast, fast_conn, 50),
    )
    .await;
    assert!(matches!(result, Err(Error::ReceiveTimedOut)), "{result:?}");
    assert!(!waiting.is_finished(), "the hour-long receive ended early");
    waiting.abort();
}

/// The driver's task goes away without ending (its runtime shut down, as a crashed host's
/// does in the simulation): every waiting call fails, the actor's callbacks end, and later
/// calls fail at once, instead of waiting forever for a task that no longer exists.
#[test]
fn calls_waiting_when_the_driver_task_is_dropped_fail() {
    let runtime = || {
        ok(
            "runtime",
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build(),
        )
    };
    let driver_runtime = runtime();
    let driver = driver_runtime.block_on(async { start_on(Config::default(), TokioNetwork) });
    runtime().block_on(async move {
        let mut actor = driver.actor("a", Exports::default());
        let (listener, conn, _peer) = accepted(&actor).await;
        let stopped = || Error::Io("the TCP driver has stopped".into());
        let (accept, receive, ()) = guard("the waiting calls end", async {
            tokio::join!(actor.accept(&listener), actor.receive(&conn, 10), async {
                // Both calls wait in the core by now; nothing else would answer them.
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                driver_runtime.shutdown_background();
            })
        })
        .await;
        assert_eq!(accept, Err(stopped()));
        assert_eq!(receive, Err(stopped()));
        assert!(
            guard("callbacks end", actor.next_callback())
                .await
                .is_none()
        );
        assert_eq!(actor.activate(&conn).await, Err(stopped()));
    });
}

/// A panic while the driver's lock is held (here an observer's, standing in for a bug in the
/// core) stops the driver: the call that hit it and every waiting call fail with an error
/// instead of hanging or panicking their tasks, and later calls fail at once.
#[tokio::test]
async fn a_panic_inside_the_lock_stops_the_driver_and_fails_every_waiting_call() {
    let observer: theater_tcp_tokio::Observer = Box::new(|observed| {
        if let theater_tcp_tokio::Observed::Input(_, theater_tcp_core::Input::Call { call, .. }) =
            observed
            && matches!(call, Call::PeerAddress { .. })
        {
            panic!("planted: a bug inside the lock");
        }
    });
    let options = theater_tcp_tokio::DriverOptions {
        observer: Some(observer),
        ..Default::default()
    };
    let driver = ok(
        "driver start",
        theater_tcp_tokio::Driver::start_with(Config::default(), TokioNetwork, options),
    );
    let mut actor = driver.actor("a", Exports::default());
    let (listener, _addr) = listen(&actor).await;
    let stopped = || Error::Io("the TCP driver has stopped".into());
    let (accept, trigger) = guard("the calls end", async {
        tokio::join!(actor.accept(&listener), async {
            // The accept waits in the core by now.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            actor.peer_address("conn-99").await
        })
    })
    .await;
    assert_eq!(trigger, Err(stopped()));
    assert_eq!(accept, Err(stopped()));
    assert!(
        guard("callbacks end", actor.next_callback())
            .await
            .is_none()
    );
    assert_eq!(actor.listen("127.0.0.1:0").await, Err(stopped()));
}

/// The driver counts how its one lock is used: every input is one acquisition, one in
/// `LockStats::SAMPLE` is timed while held, and only an acquisition that waited is timed while
/// waiting. Actors on two workers call at once; whether they meet at the lock depends on the
/// scheduler, so what is checked is what holds either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_driver_counts_its_lock_acquisitions_waits_and_sampled_hold_times() {
    let driver = start_on(Config::default(), TokioNetwork);
    let before = driver.stats().await.lock;
    assert!(
        before.acquisitions >= 1,
        "the stats request itself: {before:?}"
    );
    const ACTORS: usize = 4;
    const CALLS: u64 = 500;
    let mut tasks = Vec::new();
    for i in 0..ACTORS {
        let actor = driver.actor(format!("caller-{i}").as_str(), Exports::default());
        tasks.push(tokio::spawn(async move {
            let (listener, _) = listen(&actor).await;
            for _ in 0..CALLS {
                ok("local-address", actor.local_address(&listener).await);
            }
        }));
    }
    for task in tasks {
        ok("caller", task.await);
    }
    let stats = driver.stats().await.lock;
    let calls = ACTORS as u64 * (CALLS + 2);
    assert!(
        stats.acquisitions >= before.acquisitions + calls,
        "each call takes the lock at least once: {stats:?}"
    );
    // Every acquisition before this one was released, and each SAMPLE-th was timed.
    assert_eq!(
        stats.sampled,
        (stats.acquisitions - 1) / theater_tcp_tokio::LockStats::SAMPLE,
        "{stats:?}"
    );
    assert!(stats.held_sampled > std::time::Duration::ZERO, "{stats:?}");
    assert!(stats.held() >= stats.held_sampled, "{stats:?}");
    assert!(stats.contended <= stats.acquisitions, "{stats:?}");
    assert_eq!(
        stats.contended == 0,
        stats.waited == std::time::Duration::ZERO,
        "a wait is timed exactly when one was counted: {stats:?}"
    );
    let line = stats.to_string();
    assert!(
        line.starts_with(&format!(
            "{} acquisitions, {} contended",
            stats.acquisitions, stats.contended
        )),
        "{line}"
    );
}
