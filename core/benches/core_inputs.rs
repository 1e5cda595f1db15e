//! Core inputs per second: the baseline later changes must not regress.
//!
//! Each workload drives a real [`Handler`] through its contract (one input, then drain every
//! command and notice) and answers like a transport and an actor would. Criterion's
//! throughput counts inputs: `handle_call`, `handle_io` and `handle_callback_result` calls.
//!
//! - `active_1k_reads`: the peer's 1 KiB reads in active mode: `Received`, then the `on-data`
//!   callback's result (2 inputs per read).
//! - `passive_receive`: a `receive` that waits, then the `Received` that answers its read
//!   (2 inputs per receive).
//! - `accept_transfer_close`: `accept`, `Accepted`, `transfer` to a worker, the worker's
//!   `handle-connection-transfer` result, its `close`, `Drained` (6 inputs per cycle).

use criterion::{Criterion, Throughput};
use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Duration;
use theater_tcp_core::testkit::Rig;
use theater_tcp_core::*;

/// Reads, receives or cycles per measured iteration.
const BATCH: u64 = 1_000;

/// What one drain produced; the vectors are reused so the loop measures the core.
#[derive(Default)]
struct Outputs {
    commands: Vec<Command>,
    notices: Vec<Notice>,
}

impl Outputs {
    fn drain(&mut self, handler: &mut Handler) {
        self.commands.clear();
        self.notices.clear();
        while let Some(c) = handler.poll_command() {
            self.commands.push(c);
        }
        while let Some(n) = handler.poll_notice() {
            self.notices.push(n);
        }
    }

    /// The callback for `actor` this drain asked for; a workload that lost its way panics.
    fn callback(&self, actor: &ActorId) -> CallbackId {
        self.notices
            .iter()
            .find_map(|n| match n {
                Notice::Callback { actor: a, id, .. } if a == actor => Some(*id),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no callback for {actor}: {:?}", self.notices))
    }

    /// The result of `call` if it completed in this drain.
    fn completed(&self, call: CallId) -> Option<&Result<Reply, Error>> {
        self.notices.iter().find_map(|n| match n {
            Notice::CallCompleted {
                call: c, result, ..
            } if *c == call => Some(result),
            _ => None,
        })
    }

    fn read_asked(&self, conn: ConnId) -> bool {
        self.commands
            .iter()
            .any(|c| matches!(c, Command::Read { connection, .. } if *connection == conn))
    }

    fn accept_asked(&self) -> Option<ConnId> {
        self.commands.iter().find_map(|c| match c {
            Command::Accept { connection, .. } => Some(*connection),
            _ => None,
        })
    }
}

fn rig() -> Rig {
    Rig::new(Config::default())
}

fn active_1k_reads(c: &mut Criterion) {
    let mut rig = rig();
    rig.start("reader", Exports::ALL);
    let conn = rig.open("reader");
    rig.call_now(
        "reader",
        Call::SetActive {
            connection: conn.to_string(),
            mode: "active".into(),
        },
    )
    .unwrap_or_else(|e| panic!("set-active failed: {e}"));
    assert!(rig.take_read(conn).is_some(), "active mode did not read");
    let reader = ActorId::new("reader");
    let chunk = vec![0x5a_u8; 1024];
    let mut handler = rig.handler;
    // As a transport runs it: the rig records transitions for its tests, the bench does not.
    handler.record_transitions(false);
    let now = rig.now;
    let mut out = Outputs::default();

    let mut group = c.benchmark_group("core_inputs");
    group.throughput(Throughput::Elements(2 * BATCH));
    group.bench_function("active_1k_reads", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                handler.handle_io(
                    now,
                    IoEvent::Received {
                        connection: conn,
                        data: chunk.clone(),
                    },
                );
                out.drain(&mut handler);
                let on_data = out.callback(&reader);
                assert!(out.read_asked(conn), "no next read while on-data runs");
                handler.handle_callback_result(now, on_data, Ok(()));
                out.drain(&mut handler);
                black_box(&out.notices);
            }
        })
    });
    group.finish();
}

fn passive_receive(c: &mut Criterion) {
    let mut rig = rig();
    rig.start("reader", Exports::default());
    let conn = rig.open("reader");
    let reader = ActorId::new("reader");
    let chunk = vec![0x5a_u8; 1024];
    let mut handler = rig.handler;
    // As a transport runs it: the rig records transitions for its tests, the bench does not.
    handler.record_transitions(false);
    let now = rig.now;
    let mut out = Outputs::default();

    let mut group = c.benchmark_group("core_inputs");
    group.throughput(Throughput::Elements(2 * BATCH));
    group.bench_function("passive_receive", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                let call = handler.handle_call(
                    now,
                    &reader,
                    Call::Receive {
                        connection: conn.to_string(),
                        max: 64 * 1024,
                    },
                );
                out.drain(&mut handler);
                assert!(out.read_asked(conn), "a waiting receive did not read");
                handler.handle_io(
                    now,
                    IoEvent::Received {
                        connection: conn,
                        data: chunk.clone(),
                    },
                );
                out.drain(&mut handler);
                match out.completed(call) {
                    Some(Ok(Reply::Data(data))) => assert_eq!(data.len(), 1024),
                    other => panic!("receive did not complete with the data: {other:?}"),
                }
            }
        })
    });
    group.finish();
}

fn accept_transfer_close(c: &mut Criterion) {
    let mut rig = rig();
    rig.start("acceptor", Exports::default());
    rig.start("worker", Exports::ALL);
    let listener = rig.listener("acceptor");
    let mut next = rig
        .take_accept(listener)
        .unwrap_or_else(|| panic!("the listener is not accepting"));
    let (acceptor, worker) = (ActorId::new("acceptor"), ActorId::new("worker"));
    let peer = SocketAddr::from(([10, 0, 0, 2], 40_000));
    let local = SocketAddr::from(([127, 0, 0, 1], 7000));
    let mut handler = rig.handler;
    // As a transport runs it: the rig records transitions for its tests, the bench does not.
    handler.record_transitions(false);
    let now = rig.now;
    let mut out = Outputs::default();

    let mut group = c.benchmark_group("core_inputs");
    group.throughput(Throughput::Elements(6 * BATCH));
    group.bench_function("accept_transfer_close", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                let accept = handler.handle_call(
                    now,
                    &acceptor,
                    Call::Accept {
                        listener: listener.to_string(),
                    },
                );
                out.drain(&mut handler);
                let conn = next;
                handler.handle_io(
                    now,
                    IoEvent::Accepted {
                        listener,
                        connection: conn,
                        peer,
                        local,
                    },
                );
                out.drain(&mut handler);
                assert_eq!(
                    out.completed(accept),
                    Some(&Ok(Reply::Id(conn.to_string())))
                );
                next = out
                    .accept_asked()
                    .unwrap_or_else(|| panic!("no next accept: {:?}", out.commands));
                let transfer = handler.handle_call(
                    now,
                    &acceptor,
                    Call::Transfer {
                        connection: conn.to_string(),
                        target: "worker".into(),
                    },
                );
                out.drain(&mut handler);
                let hello = out.callback(&worker);
                handler.handle_callback_result(now, hello, Ok(()));
                out.drain(&mut handler);
                assert_eq!(out.completed(transfer), Some(&Ok(Reply::Unit)));
                handler.handle_call(
                    now,
                    &worker,
                    Call::Close {
                        connection: conn.to_string(),
                    },
                );
                out.drain(&mut handler);
                handler.handle_io(now, IoEvent::Drained { connection: conn });
                out.drain(&mut handler);
                assert!(
                    matches!(out.commands.as_slice(), [Command::Release { connection }] if *connection == conn),
                    "the closed connection was not released: {:?}",
                    out.commands
                );
            }
        })
    });
    group.finish();
    assert_eq!(handler.census().connections, 0, "cycles leaked connections");
}

fn main() {
    // Short runs: the three workloads finish in well under a minute on a 2-core VM.
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    active_1k_reads(&mut c);
    passive_receive(&mut c);
    accept_transfer_close(&mut c);
    c.final_summary();
}
