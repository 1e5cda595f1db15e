//! A real Theater runtime with one TCP handler registered, the test actors of
//! `tests/actors/` (built from `guests/` by `scripts/build-handler-guests.sh`), and helpers for
//! the clients: every wait is bounded, so a hang fails the test instead of stalling it.

#![allow(dead_code)] // each test file uses a different part

use std::net::{SocketAddr, TcpListener as StdListener};
use std::sync::Arc;
use std::time::Duration;
use theater::ChainEvent;
use theater::ManifestConfig;
use theater::TheaterRuntime;
use theater::handler::{Handler, HandlerRegistry};
use theater::id::TheaterId;
use theater::messages::TheaterCommand;
use theater::pack_bridge::{Value, ValueType};
use theater::utils::ResourceCache;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;
use tokio::sync::oneshot;

/// The longest any single step of a test may take.
pub const STEP: Duration = Duration::from_secs(60);

pub fn actor(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/actors/{name}.wasm", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{path}: {e} (run scripts/build-handler-guests.sh)"))
}

/// A free port on 127.0.0.1 (bound, then released for the handler to bind).
pub fn free_port() -> u16 {
    let listener = StdListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// `option<list<u8>>` with `bytes` in it: the initial state the test actors read.
pub fn state(bytes: &str) -> Value {
    Value::Option {
        inner_type: ValueType::List(Box::new(ValueType::U8)),
        value: Some(Box::new(Value::List {
            elem_type: ValueType::U8,
            items: bytes.bytes().map(Value::U8).collect(),
        })),
    }
}

/// A Theater runtime running in this test's tokio runtime.
pub struct Theater {
    tx: mpsc::Sender<TheaterCommand>,
}

/// A spawned actor and its chain events.
pub struct Spawned {
    pub id: TheaterId,
    pub events: mpsc::Receiver<(TheaterId, ChainEvent)>,
}

impl Theater {
    pub async fn start<H: Handler>(handler: H) -> Theater {
        let (tx, rx) = mpsc::channel(256);
        let mut registry = HandlerRegistry::new();
        registry.register(handler);
        let mut runtime = TheaterRuntime::new(
            tx.clone(),
            rx,
            None,
            registry,
            Arc::new(ResourceCache::new()),
        )
        .await
        .expect("runtime");
        tokio::spawn(async move {
            let _ = runtime.run().await;
        });
        Theater { tx }
    }

    /// Spawns `wasm` with initial state `init` and, when given, a manifest `[[handler]] type =
    /// "tcp"` table (TOML lines).
    pub async fn try_spawn(
        &self,
        name: &str,
        wasm: Vec<u8>,
        init: Value,
        tcp_table: Option<&str>,
    ) -> anyhow::Result<Spawned> {
        let manifest = match tcp_table {
            Some(table) => Some(ManifestConfig::from_toml_str(&format!(
                "name = \"{name}\"\nversion = \"0.1.0\"\npackage = \"{name}.wasm\"\n\n[[handler]]\ntype = \"tcp\"\n{table}\n"
            ))?),
            None => None,
        };
        let (events_tx, events) = mpsc::channel(100_000);
        let (response_tx, response) = oneshot::channel();
        self.tx
            .send(TheaterCommand::SpawnActor {
                wasm_bytes: wasm,
                name: Some(name.into()),
                manifest,
                init_state: init,
                response_tx,
                supervisor_tx: None,
                subscription_tx: Some(events_tx),
            })
            .await?;
        let id = tokio::time::timeout(STEP, response)
            .await??
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        Ok(Spawned { id, events })
    }

    pub async fn spawn(
        &self,
        name: &str,
        wasm: Vec<u8>,
        init: Value,
        tcp_table: Option<&str>,
    ) -> Spawned {
        self.try_spawn(name, wasm, init, tcp_table)
            .await
            .expect("spawn")
    }

    /// Spawns an actor whose manifest makes the handler listen for it on a free port; returns
    /// the address.
    pub async fn spawn_listening(
        &self,
        name: &str,
        wasm: Vec<u8>,
        init: Value,
    ) -> (Spawned, SocketAddr) {
        let port = free_port();
        let spawned = self
            .spawn(
                name,
                wasm,
                init,
                Some(&format!("listen = \"127.0.0.1:{port}\"")),
            )
            .await;
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        wait_listening(addr).await;
        (spawned, addr)
    }

    /// Spawns the probe actor as `name`, listening for its control connection, and connects
    /// to it.
    pub async fn probe(&self, name: &str) -> (Spawned, Probe) {
        let (spawned, control) = self.spawn_listening(name, actor("probe"), state("")).await;
        (spawned, Probe::connect(control).await)
    }

    pub async fn stop(&self, id: TheaterId) {
        let (response_tx, response) = oneshot::channel();
        self.tx
            .send(TheaterCommand::StopActor {
                actor_id: id,
                response_tx,
            })
            .await
            .expect("runtime");
        tokio::time::timeout(STEP, response)
            .await
            .expect("stop in time")
            .expect("reply")
            .expect("stopped");
    }
}

/// Waits until something accepts on `addr` (the handler's listen runs as the actor starts).
pub async fn wait_listening(addr: SocketAddr) {
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        if let Ok(s) = TcpStream::connect(addr).await {
            drop(s);
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "nothing listens on {addr}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `n` pseudo-random bytes (xorshift; no dependency needed).
pub fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Sends `data` and reads back exactly as many bytes, concurrently; then half-closes and
/// expects end of stream.
pub async fn echo_through(addr: SocketAddr, data: &[u8]) -> Vec<u8> {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut rd, mut wr) = stream.into_split();
    let payload = data.to_vec();
    let writer = tokio::spawn(async move {
        wr.write_all(&payload).await.expect("write");
        wr
    });
    let mut back = vec![0u8; data.len()];
    tokio::time::timeout(
        STEP,
        tokio::io::AsyncReadExt::read_exact(&mut rd, &mut back),
    )
    .await
    .expect("echo in time")
    .expect("read");
    let mut wr = writer.await.expect("writer");
    wr.shutdown().await.expect("fin");
    back
}

/// A line-oriented client of the probe actor's control connection.
pub struct Probe {
    lines: tokio::io::Lines<BufReader<OwnedReadHalf>>,
    wr: OwnedWriteHalf,
}

impl Probe {
    pub async fn connect(addr: SocketAddr) -> Probe {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let (rd, wr) = stream.into_split();
        Probe {
            lines: BufReader::new(rd).lines(),
            wr,
        }
    }

    /// Sends one command; does not wait for its answer.
    pub async fn send(&mut self, command: &str) {
        self.wr
            .write_all(format!("{command}\n").as_bytes())
            .await
            .expect("write");
    }

    /// The next answer line.
    pub async fn answer(&mut self) -> String {
        tokio::time::timeout(STEP, self.lines.next_line())
            .await
            .expect("answer in time")
            .expect("read")
            .expect("an answer before end of stream")
    }

    /// Runs one command and returns its answer line.
    pub async fn run(&mut self, command: &str) -> String {
        self.send(command).await;
        self.answer().await
    }

    /// Runs a command that must succeed; returns its value.
    /// A new listener of the probe on a free port: its id and the port.
    pub async fn listen_free(&mut self) -> (String, u16) {
        let port = free_port();
        let listener = self.ok(&format!("listen 127.0.0.1:{port}")).await;
        (listener, port)
    }

    pub async fn ok(&mut self, command: &str) -> String {
        let answer = self.run(command).await;
        match answer.strip_prefix("ok") {
            Some(value) => value.trim_start().to_owned(),
            None => panic!("{command}: {answer}"),
        }
    }
}

/// The chain event types recorded so far, in order.
pub fn event_types(events: &mut mpsc::Receiver<(TheaterId, ChainEvent)>) -> Vec<String> {
    let mut types = Vec::new();
    while let Ok((_, event)) = events.try_recv() {
        types.push(event.event_type);
    }
    types
}

/// Whether `addr` comes to refuse connections within 10 s. A closed listener's socket closes
/// when its task next runs, just after the call that closed it returned; on a loaded machine a
/// connect may still reach the kernel's backlog before that.
pub async fn refuses_soon<A: tokio::net::ToSocketAddrs + Clone>(addr: A) -> bool {
    let refused = async {
        while tokio::net::TcpStream::connect(addr.clone()).await.is_ok() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), refused)
        .await
        .is_ok()
}
