//! The property test of the key-value server, shared by `kv.rs` (the correct server) and
//! `planted_bug.rs` (the server with its planted framing bug).

use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;
use theater_tcp_check::{Check, FaultAlphabet, Peers, Run, Scripted};
use theater_tcp_core::{Config, Exports, ServerTls};
use theater_tcp_sim::tls::SimCertificates;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::rustls::pki_types::ServerName;

/// The port the server listens on.
pub const PORT: u16 = 7000;

/// One command a client sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// `SET key value`.
    Set(String, String),
    /// `GET key`.
    Get(String),
    /// `STARTTLS` (only as a client's first command): the rest goes over TLS.
    StartTls,
}

impl Command {
    /// The line on the wire, with its `\n`.
    pub fn line(&self) -> String {
        match self {
            Command::Set(k, v) => format!("SET {k} {v}\n"),
            Command::Get(k) => format!("GET {k}\n"),
            Command::StartTls => "STARTTLS\n".to_owned(),
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

/// One client's commands: one to eight, after a `STARTTLS` in half the clients.
fn client_commands() -> impl Strategy<Value = Vec<Command>> {
    (any::<bool>(), prop::collection::vec(command(), 1..=8)).prop_map(|(tls, commands)| {
        let first = tls.then_some(Command::StartTls);
        first.into_iter().chain(commands).collect()
    })
}

/// One to three clients.
pub fn workloads() -> impl Strategy<Value = Workload> {
    prop::collection::vec(client_commands(), 1..=3)
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
            Command::StartTls => "OK".to_owned(),
        })
        .collect()
}

/// A client's stream: plain, or TLS after `STARTTLS`.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<S: AsyncRead + AsyncWrite + Unpin + Send> Stream for S {}

/// One reply line (without `\n`), read a byte at a time so nothing behind it is consumed
/// (after `STARTTLS` the next bytes are TLS); `None` at end of stream.
async fn read_line(stream: &mut dyn Stream) -> std::io::Result<Option<String>> {
    let mut line = Vec::new();
    loop {
        let mut byte = [0u8];
        if stream.read(&mut byte).await? == 0 {
            return Ok(None);
        }
        if byte[0] == b'\n' {
            return Ok(Some(String::from_utf8_lossy(&line).into_owned()));
        }
        line.push(byte[0]);
    }
}

/// One client: `STARTTLS` first if it has one (waiting for `OK`, then the handshake), then
/// every other command, one write per line, then a reply line per command until the stream
/// ends.
async fn client(peers: Peers<Reply>, client: usize, commands: Vec<Command>) -> Result<(), String> {
    let fail = |what: &str, e: std::io::Error| format!("client {client}: {what}: {e}");
    let plain = peers.connect(PORT).await.map_err(|e| fail("connect", e))?;
    let mut stream: Box<dyn Stream> = Box::new(plain);
    let mut rest = &commands[..];
    let mut index = 0;
    if commands.first() == Some(&Command::StartTls) {
        rest = &commands[1..];
        stream
            .write_all(Command::StartTls.line().as_bytes())
            .await
            .map_err(|e| fail("write", e))?;
        let Some(line) = read_line(&mut *stream).await.map_err(|e| fail("read", e))? else {
            return Err(format!(
                "client {client}: the server closed before replying to STARTTLS"
            ));
        };
        let ok = line == "OK";
        peers.record(Reply {
            client,
            index,
            line,
        });
        index += 1;
        if ok {
            let name = ServerName::try_from("server").map_err(|e| e.to_string())?;
            let tls = certificates()
                .connector()?
                .connect(name, stream)
                .await
                .map_err(|e| fail("TLS handshake", e))?;
            stream = Box::new(tls);
        }
    }
    for command in rest {
        let line = match command {
            Command::Set(k, v) => Command::Set(own_key(client, k), v.clone()).line(),
            Command::Get(k) => Command::Get(own_key(client, k)).line(),
            Command::StartTls => command.line(),
        };
        stream
            .write_all(line.as_bytes())
            .await
            .map_err(|e| fail("write", e))?;
    }
    // Sends the TLS records of what was written.
    stream.flush().await.map_err(|e| fail("flush", e))?;
    while index < commands.len() {
        let Some(line) = read_line(&mut *stream).await.map_err(|e| fail("read", e))? else {
            return Err(format!(
                "client {client}: the server closed after {index} replies"
            ));
        };
        peers.record(Reply {
            client,
            index,
            line,
        });
        index += 1;
    }
    Ok(())
}

/// The simulation's certificates, written once per process to a directory of its own (the
/// handler loads them from files).
fn certificates() -> &'static SimCertificates {
    static CERTS: OnceLock<SimCertificates> = OnceLock::new();
    CERTS.get_or_init(|| {
        let dir =
            std::env::temp_dir().join(format!("kv-server-certificates-{}", std::process::id()));
        SimCertificates::new("server")
            .expect("certificates")
            .write_to(&dir)
            .expect("writing the certificates")
    })
}

/// The handler's config: certificates for STARTTLS (no handshake on accept).
fn config() -> Config {
    let certs = certificates();
    Config {
        server_tls: Some(ServerTls {
            enabled: true,
            cert: certs.path("cert.pem"),
            key: certs.path("key.pem"),
            auto_handshake: false,
        }),
        ..Config::default()
    }
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

/// A client's `STARTTLS` was answered `OK` (its other commands went over TLS).
fn a_client_spoke_tls(run: &Run<'_, Workload, Reply>) -> bool {
    run.observations().any(|r| {
        r.index == 0
            && r.line == "OK"
            && run.case.input[r.client].first() == Some(&Command::StartTls)
    })
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
        .sometimes("a client spoke TLS", a_client_spoke_tls)
        .heal_at(Duration::from_secs(2))
        .eventually(
            "every command answered",
            Duration::from_secs(5),
            all_answered,
        )
        .alphabet(FaultAlphabet::lossless())
        .config(config())
        .seeds(0..200)
        .limit(Duration::from_secs(30))
        .regressions("tests/regressions")
        .replay_command(replay)
}
