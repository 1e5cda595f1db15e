//! The property test of the key-value server, shared by `kv.rs` (the correct server) and
//! `planted_bug.rs` (the server with its planted framing bug).

use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;
use theater_tcp_check::{Check, FaultAlphabet, Peers, Run, Scripted};
use theater_tcp_core::Exports;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// The port the server listens on.
pub const PORT: u16 = 7000;

/// One command a client sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// `SET key value`.
    Set(String, String),
    /// `GET key`.
    Get(String),
}

impl Command {
    /// The line on the wire, with its `\n`.
    pub fn line(&self) -> String {
        match self {
            Command::Set(k, v) => format!("SET {k} {v}\n"),
            Command::Get(k) => format!("GET {k}\n"),
        }
    }
}

/// The generated input: the commands of each client (clients run at once; each has keys of
/// its own, so each client's replies follow from its own commands alone).
pub type Workload = Vec<Vec<Command>>;

/// What a client saw: reply `index` to its commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Which client.
    pub client: usize,
    /// Which of its commands this answers (the n-th reply line).
    pub index: usize,
    /// The line, without `\n`.
    pub line: String,
}

fn command() -> impl Strategy<Value = Command> {
    let key = prop::sample::select(vec!["a", "b", "c"]);
    prop_oneof![
        (key.clone(), "[a-z0-9]{1,8}").prop_map(|(k, v)| Command::Set(k.to_owned(), v)),
        key.prop_map(|k| Command::Get(k.to_owned())),
    ]
}

/// One to three clients of one to eight commands each.
pub fn workloads() -> impl Strategy<Value = Workload> {
    prop::collection::vec(prop::collection::vec(command(), 1..=8), 1..=3)
}

/// Client `client`'s key `key` (clients' keys never collide).
fn own_key(client: usize, key: &str) -> String {
    format!("c{client}.{key}")
}

/// The replies a correct server gives to `commands`, in order: the model of the store.
pub fn model(commands: &[Command]) -> Vec<String> {
    let mut store = BTreeMap::new();
    commands
        .iter()
        .map(|c| match c {
            Command::Set(k, v) => {
                store.insert(k.clone(), v.clone());
                "OK".to_owned()
            }
            Command::Get(k) => match store.get(k) {
                Some(v) => format!("VALUE {v}"),
                None => "NIL".to_owned(),
            },
        })
        .collect()
}

/// One client: sends every command, one write per line, then reads reply lines until it has
/// one per command or the stream ends.
async fn client(peers: Peers<Reply>, client: usize, commands: Vec<Command>) -> Result<(), String> {
    let mut stream = peers
        .connect(PORT)
        .await
        .map_err(|e| format!("client {client}: connect: {e}"))?;
    for command in &commands {
        let line = match command {
            Command::Set(k, v) => Command::Set(own_key(client, k), v.clone()).line(),
            Command::Get(k) => Command::Get(own_key(client, k)).line(),
        };
        stream
            .write_all(line.as_bytes())
            .await
            .map_err(|e| format!("client {client}: write: {e}"))?;
    }
    let mut reader = BufReader::new(stream);
    for index in 0..commands.len() {
        let mut line = String::new();
        let n = reader
            .read_line(&mut line)
            .await
            .map_err(|e| format!("client {client}: read: {e}"))?;
        if n == 0 {
            return Err(format!(
                "client {client}: the server closed after {index} replies"
            ));
        }
        let line = line.trim_end_matches('\n').to_owned();
        peers.record(Reply {
            client,
            index,
            line,
        });
    }
    Ok(())
}

/// Every client at once.
async fn clients(peers: Peers<Reply>, workload: Workload) -> Result<(), String> {
    let tasks: Vec<_> = workload
        .into_iter()
        .enumerate()
        .map(|(i, commands)| tokio::spawn(client(peers.clone(), i, commands)))
        .collect();
    for task in tasks {
        task.await.map_err(|e| format!("client panicked: {e}"))??;
    }
    Ok(())
}

/// Each client's replies match the model of its own commands, for the prefix it received.
fn replies_match_the_model(run: &Run<'_, Workload, Reply>) -> Result<(), String> {
    for (client, commands) in run.case.input.iter().enumerate() {
        let expected = model(commands);
        for reply in run.observations().filter(|r| r.client == client) {
            let want = expected.get(reply.index).map(String::as_str);
            if want != Some(reply.line.as_str()) {
                return Err(format!(
                    "client {client}, reply {} to {:?}: got {:?}, the model says {:?}",
                    reply.index,
                    commands.get(reply.index).map(Command::line),
                    reply.line,
                    want
                ));
            }
        }
    }
    Ok(())
}

/// Every command of every client got its reply.
fn all_answered(run: &Run<'_, Workload, Reply>) -> bool {
    let total: usize = run.case.input.iter().map(Vec::len).sum();
    run.finished.is_some() && run.observations().count() == total
}

/// A line reached the server in two reads or more: a read ended inside a line.
fn a_line_took_two_reads(run: &Run<'_, Workload, Reply>) -> bool {
    run.deliveries().iter().any(|chunk| !chunk.ends_with(b"\n"))
}

/// The command that runs `kv_server_under_faults` (with the feature it was built with).
pub const REPLAY: &str = if cfg!(feature = "planted-bug") {
    "cargo test -p kv-server --features planted-bug --test kv -- --exact kv_server_under_faults"
} else {
    "cargo test -p kv-server --test kv -- --exact kv_server_under_faults"
};

/// The check of the key-value server: `name` is the check's name (regression files carry it),
/// `replay` the command that runs it (for the replay line of a failure).
pub fn check(name: &str, replay: &str) -> Check<Workload, Reply> {
    // No callbacks: the server takes its connections with `accept` and its data with
    // `receive`. (Exporting `handle-connection` without code to take the callback was this
    // example's first bug: a connection that arrived while no `accept` waited went to the
    // callback, and its client hung. The eventually-property caught it.)
    let server = Scripted::new("kv", Exports::default(), |actor| {
        kv_server::serve(actor, PORT)
    });
    Check::new(name, server, workloads(), clients)
        .always("replies match the model", replies_match_the_model)
        .sometimes("a line took two reads", a_line_took_two_reads)
        .heal_at(Duration::from_secs(2))
        .eventually(
            "every command answered",
            Duration::from_secs(5),
            all_answered,
        )
        .alphabet(FaultAlphabet::lossless())
        .seeds(0..200)
        .limit(Duration::from_secs(30))
        .regressions("tests/regressions")
        .replay_command(replay)
}
