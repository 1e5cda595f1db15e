//! The driver: one task owns the core [`Handler`], feeds it every input with the time of
//! tokio's clock (so the same code runs under turmoil's), executes every command it emits, and
//! hands notices to actors. Per connection an I/O task ([`ConnTask`]) runs the socket; per
//! listener a task runs `accept`; opens, binds and resolutions run as short tasks. They all
//! report back through one channel. The driver decides nothing: it only routes.

use crate::conn::ConnTask;
use crate::handle::{CallbackEvent, ConnectionMemory, DriverHandle, DriverStats, Request};
use crate::network::{NetListener, NetStream, Network};
use crate::tls::{TlsConfigError, TlsContext};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use theater_tcp_core::{
    ActorId, CallId, Command, Config, ConfigError, ConnId, Error, Handler, Input, Instant, IoEvent,
    ListenerId, Notice, Output, Reply,
};
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender, WeakUnboundedSender};
use tokio::sync::oneshot;
use tokio::task::AbortHandle;

/// Why the driver did not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartError {
    /// A config value is invalid.
    Config(ConfigError),
    /// A TLS setting cannot be loaded (the handler fails closed, never falls back to plaintext).
    Tls(TlsConfigError),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Config(e) => e.fmt(f),
            StartError::Tls(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for StartError {}

/// Starts drivers.
#[derive(Debug)]
pub struct Driver;

/// One step of the core as the driver saw it: an input fed to it, or an output drained from
/// it, with the core time it happened at. For recording traces (simulation, debugging).
#[derive(Debug, Clone, Copy)]
pub enum Observed<'a> {
    /// An input, just before the core handles it.
    Input(Instant, &'a Input),
    /// An output, just before the driver executes or delivers it.
    Output(Instant, &'a Output),
}

/// A callback that sees every core step (see [`Observed`]).
pub type Observer = Box<dyn FnMut(Observed<'_>) + Send>;

/// Optional hooks of [`Driver::start_with`]; the default is what [`Driver::start`] uses and
/// costs nothing.
#[derive(Default)]
pub struct DriverOptions {
    /// Sees every core input and output, in the order the core saw and produced them.
    pub observer: Option<Observer>,
    /// The clock rustls checks certificate validity against (default: the system clock).
    /// The simulation passes its simulated clock.
    pub tls_time: Option<Arc<dyn rustls::time_provider::TimeProvider>>,
}

impl fmt::Debug for DriverOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DriverOptions")
            .field("observer", &self.observer.is_some())
            .field("tls_time", &self.tls_time)
            .finish()
    }
}

impl Driver {
    /// Validates `config`, loads its TLS settings, and spawns the driver task on the current
    /// tokio runtime (so it must be called from within one). The driver runs until every
    /// handle (driver, actor, caller, callback) is dropped.
    pub fn start<N: Network>(config: Config, network: N) -> Result<DriverHandle, StartError> {
        Driver::start_with(config, network, DriverOptions::default())
    }

    /// [`Driver::start`] with hooks: an observer of every core input and output, and the
    /// clock TLS validates certificates against.
    pub fn start_with<N: Network>(
        config: Config,
        network: N,
        options: DriverOptions,
    ) -> Result<DriverHandle, StartError> {
        let settings = config.validate().map_err(StartError::Config)?;
        let tls = TlsContext::from_config_with_time(settings.config(), options.tls_time)
            .map_err(StartError::Tls)?;
        let (requests_tx, requests) = mpsc::unbounded_channel();
        let (reports_tx, reports) = mpsc::unbounded_channel();
        let task = DriverTask {
            handler: Handler::new(settings),
            origin: tokio::time::Instant::now(),
            network: Arc::new(network),
            tls,
            requests,
            weak_requests: requests_tx.downgrade(),
            reports_tx,
            reports,
            conns: HashMap::new(),
            opening: HashMap::new(),
            binding: HashMap::new(),
            listeners: HashMap::new(),
            calls: HashMap::new(),
            actors: HashMap::new(),
            memory: BTreeMap::new(),
            observer: options.observer,
        };
        tokio::spawn(task.run());
        Ok(DriverHandle {
            requests: requests_tx,
        })
    }
}

/// What the I/O tasks report to the driver.
pub(crate) enum Report<N: Network> {
    Io(IoEvent),
    Connected {
        connection: ConnId,
        result: io::Result<N::Stream>,
    },
    Accepted {
        listener: ListenerId,
        connection: ConnId,
        result: io::Result<(N::Stream, SocketAddr)>,
    },
    Bound {
        listener: ListenerId,
        result: io::Result<N::Listener>,
    },
}

enum ListenerCommand {
    Accept(ConnId),
    Cancel,
}

struct DriverTask<N: Network> {
    handler: Handler,
    /// The core's time zero.
    origin: tokio::time::Instant,
    network: Arc<N>,
    tls: TlsContext,
    requests: UnboundedReceiver<Request>,
    /// For callback events: weak, so that the driver alone does not keep itself running.
    weak_requests: WeakUnboundedSender<Request>,
    reports_tx: UnboundedSender<Report<N>>,
    reports: UnboundedReceiver<Report<N>>,
    conns: HashMap<ConnId, UnboundedSender<Command>>,
    /// Connects in flight.
    opening: HashMap<ConnId, AbortHandle>,
    /// Binds in flight.
    binding: HashMap<ListenerId, AbortHandle>,
    listeners: HashMap<ListenerId, UnboundedSender<ListenerCommand>>,
    calls: HashMap<CallId, oneshot::Sender<Result<Reply, Error>>>,
    actors: HashMap<ActorId, UnboundedSender<CallbackEvent>>,
    memory: BTreeMap<ConnId, ConnectionMemory>,
    observer: Option<Observer>,
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl<N: Network> DriverTask<N> {
    fn now(&self) -> Instant {
        Instant::from_duration(tokio::time::Instant::now().saturating_duration_since(self.origin))
    }

    fn deadline(&self, at: Instant) -> tokio::time::Instant {
        // A deadline past tokio's range means "never"; a year away is as good.
        let far = tokio::time::Instant::now() + Duration::from_secs(365 * 24 * 3600);
        self.origin
            .checked_add(at.since_origin())
            .map_or(far, |d| d.min(far))
    }

    /// Shows an input to the observer, built only when there is one.
    fn observe(&mut self, now: Instant, input: impl FnOnce() -> Input) {
        if let Some(observer) = self.observer.as_mut() {
            observer(Observed::Input(now, &input()));
        }
    }

    fn observe_output(&mut self, output: impl FnOnce() -> Output) {
        if self.observer.is_some() {
            let now = self.now();
            if let Some(observer) = self.observer.as_mut() {
                observer(Observed::Output(now, &output()));
            }
        }
    }

    async fn run(mut self) {
        loop {
            let deadline = self.handler.poll_timeout().map(|t| self.deadline(t));
            // `biased`: a fixed branch order, so a simulation replays the same input order
            // (an unbiased select draws from tokio's unseeded per-thread RNG).
            tokio::select! {
                biased;
                Some(report) = self.reports.recv() => self.on_report(report),
                request = self.requests.recv() => match request {
                    Some(request) => self.on_request(request),
                    None => break,
                },
                () = sleep_until(deadline) => {
                    let now = self.now();
                    self.observe(now, || Input::Timeout);
                    self.handler.handle_timeout(now);
                }
            }
            self.drain();
        }
        for task in self.opening.values().chain(self.binding.values()) {
            task.abort();
        }
    }

    fn on_request(&mut self, request: Request) {
        let now = self.now();
        match request {
            Request::Call { actor, call, reply } => {
                self.observe(now, || Input::Call {
                    actor: actor.clone(),
                    call: call.clone(),
                });
                let id = self.handler.handle_call(now, &actor, call);
                self.calls.insert(id, reply);
            }
            Request::CallbackDone { id, result } => {
                self.observe(now, || Input::CallbackResult {
                    id,
                    result: result.clone(),
                });
                self.handler.handle_callback_result(now, id, result)
            }
            Request::ActorStarted {
                actor,
                exports,
                callbacks,
            } => {
                self.actors.insert(actor.clone(), callbacks);
                self.observe(now, || Input::ActorStarted {
                    actor: actor.clone(),
                    exports,
                });
                self.handler.actor_started(now, actor, exports);
            }
            Request::ActorStopped { actor } => {
                self.actors.remove(&actor);
                self.observe(now, || Input::ActorStopped {
                    actor: actor.clone(),
                });
                self.handler.actor_stopped(now, &actor);
            }
            Request::Stats { reply } => {
                let mut connections = self.memory.clone();
                for (id, m) in connections.iter_mut() {
                    m.buffered = self.handler.buffered(*id);
                }
                let _ = reply.send(DriverStats {
                    census: self.handler.census(),
                    connections,
                });
            }
        }
    }

    fn on_report(&mut self, report: Report<N>) {
        match report {
            Report::Io(event) => self.io(event),
            Report::Connected { connection, result } => {
                self.opening.remove(&connection);
                let opened = result.and_then(|stream| {
                    let peer = stream.peer_addr()?;
                    let local = stream.local_addr()?;
                    Ok((stream, peer, local))
                });
                match opened {
                    Ok((stream, peer, local)) => {
                        self.open_connection(connection, stream);
                        self.io(IoEvent::Connected {
                            connection,
                            peer,
                            local,
                        });
                    }
                    Err(e) => self.io(IoEvent::ConnectFailed {
                        connection,
                        error: e.to_string(),
                    }),
                }
            }
            Report::Accepted {
                listener,
                connection,
                result,
            } => {
                let accepted = result.and_then(|(stream, peer)| {
                    let local = stream.local_addr()?;
                    Ok((stream, peer, local))
                });
                match accepted {
                    Ok((stream, peer, local)) => {
                        self.open_connection(connection, stream);
                        self.io(IoEvent::Accepted {
                            listener,
                            connection,
                            peer,
                            local,
                        });
                    }
                    Err(e) => self.io(IoEvent::AcceptFailed {
                        listener,
                        error: e.to_string(),
                    }),
                }
            }
            Report::Bound { listener, result } => {
                // A listener closed while binding is forgotten by the core: drop the socket.
                if self.binding.remove(&listener).is_none() {
                    return;
                }
                let bound = result.and_then(|socket| {
                    let local = socket.local_addr()?;
                    Ok((socket, local))
                });
                match bound {
                    Ok((socket, local)) => {
                        let (tx, rx) = mpsc::unbounded_channel();
                        self.listeners.insert(listener, tx);
                        tokio::spawn(run_listener::<N>(
                            listener,
                            socket,
                            rx,
                            self.reports_tx.clone(),
                        ));
                        self.io(IoEvent::Bound { listener, local });
                    }
                    Err(e) => self.io(IoEvent::BindFailed {
                        listener,
                        error: e.to_string(),
                    }),
                }
            }
        }
    }

    fn io(&mut self, event: IoEvent) {
        let now = self.now();
        let read_done = match &event {
            IoEvent::Received { connection, .. }
            | IoEvent::ReadEnded { connection, .. }
            | IoEvent::ReadCancelled { connection } => Some(*connection),
            _ => None,
        };
        self.observe(now, || Input::Io(event.clone()));
        self.handler.handle_io(now, event);
        if let Some(connection) = read_done {
            self.note_memory(connection, 0);
        }
    }

    /// Records the input memory of a connection the transport holds.
    fn note_memory(&mut self, connection: ConnId, reading: usize) {
        if !self.conns.contains_key(&connection) {
            return;
        }
        let buffered = self.handler.buffered(connection);
        let m = self.memory.entry(connection).or_default();
        m.buffered = buffered;
        m.reading = reading;
        m.max_held = m.max_held.max(buffered + reading);
    }

    fn open_connection(&mut self, connection: ConnId, stream: N::Stream) {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = ConnTask::<N>::new(
            connection,
            stream,
            self.tls.clone(),
            rx,
            self.reports_tx.clone(),
        );
        tokio::spawn(task.run());
        // A stale task for the same id (a connect retried after a late result) ends here.
        if let Some(old) = self.conns.insert(connection, tx) {
            let _ = old.send(Command::Abort { connection });
        }
        self.memory.insert(connection, ConnectionMemory::default());
    }

    /// Outputs after every input: commands to the transport, notices to actors.
    fn drain(&mut self) {
        while let Some(command) = self.handler.poll_command() {
            self.observe_output(|| Output::Command(command.clone()));
            self.execute(command);
        }
        while let Some(notice) = self.handler.poll_notice() {
            self.observe_output(|| Output::Notice(notice.clone()));
            self.deliver(notice);
        }
    }

    fn deliver(&mut self, notice: Notice) {
        match notice {
            Notice::CallCompleted { call, result, .. } => {
                if let Some(reply) = self.calls.remove(&call) {
                    let _ = reply.send(result);
                }
            }
            Notice::Callback {
                actor,
                id,
                callback,
            } => {
                let event = CallbackEvent::new(id, callback, self.weak_requests.upgrade());
                // An actor that is gone drops the event, which reports the callback failed.
                if let Some(actor) = self.actors.get(&actor) {
                    let _ = actor.send(event);
                }
            }
        }
    }

    fn send_to_conn(&mut self, connection: ConnId, command: Command) {
        // Commands for ids the transport does not hold are no-ops.
        if let Some(conn) = self.conns.get(&connection) {
            let _ = conn.send(command);
        }
    }

    fn send_to_listener(&mut self, listener: ListenerId, command: ListenerCommand) {
        if let Some(l) = self.listeners.get(&listener) {
            let _ = l.send(command);
        }
    }

    fn execute(&mut self, command: Command) {
        match command {
            Command::Resolve { id, host, port } => {
                let network = self.network.clone();
                let reports = self.reports_tx.clone();
                tokio::spawn(async move {
                    let result = network
                        .resolve(&host, port)
                        .await
                        .map_err(|e| e.to_string());
                    let _ = reports.send(Report::Io(IoEvent::Resolved { id, result }));
                });
            }
            Command::Bind { listener, addr } => {
                let network = self.network.clone();
                let reports = self.reports_tx.clone();
                let task = tokio::spawn(async move {
                    let result = network.listen(addr).await;
                    let _ = reports.send(Report::Bound { listener, result });
                });
                self.binding.insert(listener, task.abort_handle());
            }
            Command::Accept {
                listener,
                connection,
            } => self.send_to_listener(listener, ListenerCommand::Accept(connection)),
            Command::CancelAccept { listener } => {
                self.send_to_listener(listener, ListenerCommand::Cancel)
            }
            Command::CloseListener { listener } => {
                // Dropping the sender ends the listener task, which drops the socket.
                self.listeners.remove(&listener);
                if let Some(task) = self.binding.remove(&listener) {
                    task.abort();
                }
            }
            Command::Connect { connection, addr } => {
                let network = self.network.clone();
                let reports = self.reports_tx.clone();
                let task = tokio::spawn(async move {
                    let result = network.connect(addr).await;
                    let _ = reports.send(Report::Connected { connection, result });
                });
                if let Some(old) = self.opening.insert(connection, task.abort_handle()) {
                    old.abort();
                }
            }
            Command::Release { connection } | Command::Abort { connection } => {
                if let Some(task) = self.opening.remove(&connection) {
                    task.abort();
                }
                self.memory.remove(&connection);
                if let Some(conn) = self.conns.remove(&connection) {
                    let _ = conn.send(command);
                }
            }
            Command::Read { connection, max } => {
                self.note_memory(connection, max);
                self.send_to_conn(connection, command);
            }
            Command::StartTls { connection, .. }
            | Command::CancelRead { connection }
            | Command::Write { connection, .. }
            | Command::ShutdownWrite { connection }
            | Command::SetOption { connection, .. }
            | Command::Close { connection } => self.send_to_conn(connection, command),
        }
    }
}

/// One listener: at most one outstanding accept, dropped (cancel-safe) on `CancelAccept`.
async fn run_listener<N: Network>(
    listener: ListenerId,
    socket: N::Listener,
    mut commands: UnboundedReceiver<ListenerCommand>,
    reports: UnboundedSender<Report<N>>,
) {
    let mut pending: Option<ConnId> = None;
    loop {
        // `biased`: commands first, in a fixed order a simulation can replay.
        tokio::select! {
            biased;
            command = commands.recv() => match command {
                None => return,
                Some(ListenerCommand::Accept(connection)) => pending = Some(connection),
                Some(ListenerCommand::Cancel) => {
                    if pending.take().is_some() {
                        let _ = reports.send(Report::Io(IoEvent::AcceptCancelled { listener }));
                    }
                }
            },
            result = socket.accept(), if pending.is_some() => {
                if let Some(connection) = pending.take() {
                    let _ = reports.send(Report::Accepted { listener, connection, result });
                }
            }
        }
    }
}
