//! The driver: the core [`Handler`] behind one lock ([`Shared`]), fed every input with the time
//! of the driver's runtime clock (so the same code runs under turmoil's), its commands executed
//! and its notices handed to actors.
//!
//! Inputs are handled in the task that produced them: an actor's call or callback result in
//! the actor's task, a socket's report in the connection's task. The outputs are routed from
//! there before the lock is released, so a call the core completes at once returns without
//! any other task running, and a chunk on the echo path costs two task wake-ups (connection to
//! actor, actor to connection) instead of five. One driver task arms the core's timer and
//! notices when every handle is gone.
//!
//! Per connection an I/O task ([`ConnTask`]) runs the socket; per listener a task runs
//! `accept`; opens, binds and resolutions run as short tasks. The driver decides nothing: it
//! only routes.

use crate::conn::ConnTask;
use crate::handle::{
    CallbackEvent, ConnectionMemory, Core, DriverHandle, DriverStats, LockStats, Request, Route,
};
use crate::mailbox::{self, Poster};
use crate::network::{NetListener, NetStream, Network};
use crate::report::{Report, Reporter, Sink};
use crate::tls::{TlsConfigError, TlsContext};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt;
use std::sync::{Arc, Mutex, TryLockError, Weak};
use std::time::Duration;
use theater_tcp_core::{
    ActorId, CallId, Command, Config, ConfigError, ConnId, Error, Handler, Input, Instant, IoEvent,
    ListenerId, Notice, Output, Reply, Transition,
};
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender, WeakUnboundedSender};
use tokio::sync::{Notify, oneshot};
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

/// One step of the core as the driver saw it: an input fed to it, a lifecycle transition it
/// made, or an output drained from it, with the core time it happened at. For recording
/// traces (simulation, debugging).
#[derive(Debug, Clone, Copy)]
pub enum Observed<'a> {
    /// An input, just before the core handles it.
    Input(Instant, &'a Input),
    /// A transition the last input caused (`from => to` of one lifecycle), drained before
    /// the outputs; reported only to an observer (the core records them only then).
    Transition(Instant, &'a Transition),
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
        let (alive, handles_gone) = mpsc::unbounded_channel();
        let mut handler = Handler::new(settings);
        // A trace reads as a story: with an observer, every transition is part of it.
        handler.record_transitions(options.observer.is_some());
        let shared = Arc::new_cyclic(|me: &Weak<Shared<N>>| Shared {
            state: Mutex::new(State {
                handler,
                origin: tokio::time::Instant::now(),
                network: Arc::new(network),
                tls,
                me: me.clone(),
                weak_alive: alive.downgrade(),
                conns: BTreeMap::new(),
                reporting: None,
                opening: BTreeMap::new(),
                binding: BTreeMap::new(),
                listeners: BTreeMap::new(),
                calls: BTreeMap::new(),
                actors: BTreeMap::new(),
                undeliverable: Vec::new(),
                lock_stats: LockStats::default(),
                observer: options.observer,
                armed: None,
                stopped: false,
            }),
            rearm: Notify::new(),
            runtime: tokio::runtime::Handle::current(),
        });
        let route = Route::new(alive, shared.clone());
        tokio::spawn(run(shared, handles_gone));
        Ok(DriverHandle { route })
    }
}

enum ListenerCommand {
    Accept(ConnId),
    Cancel,
}

/// The driver's state behind one lock, shared by every task that feeds the core: an actor's
/// call or callback result, and a connection's I/O report, are handled at once in the task
/// that produced them (no hop through a driver task), and the outputs are routed from there.
/// The driver task only arms the core's timer and notices when every handle is gone.
///
/// Nothing re-enters the lock: the one value whose drop makes a request (a callback event
/// whose actor is gone, which reports the callback failed) is kept aside while the lock is
/// held and dropped after it is released.
pub(crate) struct Shared<N: Network> {
    state: Mutex<State<N>>,
    /// Wakes the driver task when the core's next deadline moved earlier than it sleeps for.
    rearm: Notify,
    /// The runtime the driver started on. Every input is handled inside its context, whatever
    /// task made it: the core's clock and the tasks it spawns are that runtime's (under
    /// turmoil every host has its own runtime and clock, and actors may run on another host).
    runtime: tokio::runtime::Handle,
}

impl<N: Network> Shared<N> {
    /// Runs `f` on the state, then routes the outputs it caused; `None` once the driver
    /// stopped. A panic in the core (a bug) stops the driver rather than the task that fed
    /// the input: every waiting call then fails instead of hanging, and later calls fail at
    /// once.
    fn with<R>(&self, f: impl FnOnce(&mut State<N>) -> R) -> Option<R> {
        let _context = self.runtime.enter();
        // Tried first, so that a wait is counted (and only a wait is timed): `LockStats`.
        let (locked, waited) = match self.state.try_lock() {
            Ok(state) => (Ok(state), None),
            Err(TryLockError::Poisoned(poisoned)) => (Err(poisoned), None),
            Err(TryLockError::WouldBlock) => {
                let start = std::time::Instant::now();
                let locked = self.state.lock();
                (locked, Some(start.elapsed()))
            }
        };
        let mut state = match locked {
            Ok(state) => state,
            Err(poisoned) => {
                let mut state = poisoned.into_inner();
                let undeliverable = state.stop();
                drop(state);
                drop(undeliverable);
                return None;
            }
        };
        if state.stopped {
            return None;
        }
        let held_from = state.lock_stats.acquired(waited);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let result = f(&mut state);
            state.drain();
            state.reporting = None;
            result
        }));
        let Ok(result) = outcome else {
            tracing::error!("the TCP core panicked: the driver stops and every waiting call fails");
            let undeliverable = state.stop();
            drop(state);
            drop(undeliverable);
            return None;
        };
        let next = state.handler.poll_timeout();
        let earlier = match (next, state.armed) {
            (Some(next), Some(armed)) => next < armed,
            (Some(_), None) => true,
            (None, _) => false,
        };
        let undeliverable = std::mem::take(&mut state.undeliverable);
        state.lock_stats.released(held_from);
        drop(state);
        // Each reports its callback failed: a request of its own, now that the lock is free.
        drop(undeliverable);
        if earlier {
            self.rearm.notify_one();
        }
        Some(result)
    }

    /// Stops the driver: inputs are ignored from now on, and everything that waits on it
    /// (calls, actors' callback streams, I/O tasks) ends. Also after a panic poisoned the lock.
    fn stop(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let undeliverable = state.stop();
        drop(state);
        drop(undeliverable);
    }
}

impl<N: Network> Sink<N> for Shared<N> {
    fn report(&self, from: Option<ConnId>, report: Report<N>) {
        let _ = self.with(|state| {
            state.reporting = from;
            state.on_report(report)
        });
    }
}

impl<N: Network> Core for Shared<N> {
    fn submit(&self, request: Request) -> bool {
        self.with(|state| state.on_request(request)).is_some()
    }
}

/// The driver task: sleeps until the core's next deadline (re-armed when an input moved it
/// earlier), and stops the driver once every handle is gone (the `alive` channel closed).
async fn run<N: Network>(shared: Arc<Shared<N>>, mut handles_gone: UnboundedReceiver<Infallible>) {
    let shared = StopOnExit(shared);
    while let Some(deadline) = shared.with(|state| state.arm()) {
        // `biased`: a fixed branch order, so a simulation replays the same input order
        // (an unbiased select draws from tokio's unseeded per-thread RNG).
        tokio::select! {
            biased;
            // Nothing is ever sent: `None` means every handle is gone.
            None = handles_gone.recv() => break,
            () = shared.rearm.notified() => {}
            () = sleep_until(deadline) => {
                let _ = shared.with(|state| state.timeout());
            }
        }
    }
}

/// Stops the driver when its task ends, and also when the task is dropped without ending: its
/// runtime shut down, or (in simulation) the driver's host crashed. Every waiting call then
/// fails with "the TCP driver has stopped" and every actor's callback stream ends, instead of
/// waiting for a task that no longer exists.
struct StopOnExit<N: Network>(Arc<Shared<N>>);

impl<N: Network> std::ops::Deref for StopOnExit<N> {
    type Target = Shared<N>;

    fn deref(&self) -> &Shared<N> {
        &self.0
    }
}

impl<N: Network> Drop for StopOnExit<N> {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// A connection the transport holds: its I/O task's mailbox, and its input memory.
struct ConnEntry {
    poster: Poster,
    memory: ConnectionMemory,
}

/// Posts a command to a connection's task; quietly (without waking it) when the input being
/// handled is that task's own report (see `mailbox`).
fn post(poster: &Poster, quietly: bool, command: Command) {
    if quietly {
        poster.post_quietly(command);
    } else {
        poster.post(command);
    }
}

struct State<N: Network> {
    handler: Handler,
    /// The core's time zero.
    origin: tokio::time::Instant,
    network: Arc<N>,
    tls: TlsContext,
    /// For the I/O tasks this state spawns: weak, so that they do not keep the driver alive.
    me: Weak<Shared<N>>,
    /// For callback events: weak, so that the driver alone does not keep itself running.
    weak_alive: WeakUnboundedSender<Infallible>,
    // Ordered maps only: `stop` iterates them, and a simulation must replay the same order.
    /// The I/O task of each connection the transport holds, and its input memory.
    conns: BTreeMap<ConnId, ConnEntry>,
    /// The connection whose own I/O task made the input being handled, if one did: its
    /// commands are posted quietly (see `mailbox`).
    reporting: Option<ConnId>,
    /// Connects in flight.
    opening: BTreeMap<ConnId, AbortHandle>,
    /// Binds in flight.
    binding: BTreeMap<ListenerId, AbortHandle>,
    listeners: BTreeMap<ListenerId, UnboundedSender<ListenerCommand>>,
    calls: BTreeMap<CallId, oneshot::Sender<Result<Reply, Error>>>,
    actors: BTreeMap<ActorId, UnboundedSender<CallbackEvent>>,
    /// Callback events whose actor is gone, dropped once the lock is released (see `Shared`).
    undeliverable: Vec<CallbackEvent>,
    /// How this state's lock has been used (kept under it, so counting costs nothing).
    lock_stats: LockStats,
    observer: Option<Observer>,
    /// The core deadline the driver task sleeps until.
    armed: Option<Instant>,
    /// Every handle is gone: inputs are ignored.
    stopped: bool,
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl<N: Network> State<N> {
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

    fn reporter(&self) -> Reporter<N> {
        let me: Weak<dyn Sink<N>> = self.me.clone();
        Reporter::new(me)
    }

    /// The core's next deadline, which the driver task now sleeps until.
    fn arm(&mut self) -> Option<tokio::time::Instant> {
        self.armed = self.handler.poll_timeout();
        self.armed.map(|at| self.deadline(at))
    }

    fn timeout(&mut self) {
        let now = self.now();
        self.observe(now, || Input::Timeout);
        self.handler.handle_timeout(now);
    }

    /// Every handle is gone: ends every I/O task (their channels close) and fails what waits.
    /// Returns the undelivered callback events, for the caller to drop once it released the
    /// lock.
    #[must_use = "undelivered events must be dropped after the lock is released"]
    fn stop(&mut self) -> Vec<CallbackEvent> {
        self.stopped = true;
        for task in self.opening.values().chain(self.binding.values()) {
            task.abort();
        }
        self.opening.clear();
        self.binding.clear();
        self.conns.clear();
        self.listeners.clear();
        self.calls.clear();
        self.actors.clear();
        std::mem::take(&mut self.undeliverable)
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
                let connections = self
                    .conns
                    .iter()
                    .map(|(id, entry)| {
                        let buffered = self.handler.buffered(*id);
                        (
                            *id,
                            ConnectionMemory {
                                buffered,
                                ..entry.memory
                            },
                        )
                    })
                    .collect();
                let _ = reply.send(DriverStats {
                    census: self.handler.census(),
                    connections,
                    lock: self.lock_stats,
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
                        tokio::spawn(run_listener::<N>(listener, socket, rx, self.reporter()));
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
        // The read's buffer is the core's now: its bytes were counted when the read was
        // asked for (`Command::Read`), at most `max` of them.
        if let Some(entry) = read_done.and_then(|c| self.conns.get_mut(&c)) {
            entry.memory.reading = 0;
        }
    }

    fn open_connection(&mut self, connection: ConnId, stream: N::Stream) {
        let (poster, mailbox) = mailbox::mailbox();
        let task = ConnTask::<N>::new(
            connection,
            stream,
            self.tls.clone(),
            mailbox,
            self.reporter(),
        );
        tokio::spawn(task.run());
        // A stale task for the same id (a connect retried after a late result) ends here.
        let entry = ConnEntry {
            poster,
            memory: ConnectionMemory::default(),
        };
        if let Some(old) = self.conns.insert(connection, entry) {
            old.poster.post(Command::Abort { connection });
        }
    }

    /// Outputs after every input: the transitions it caused (to the observer), commands to
    /// the transport, notices to actors.
    fn drain(&mut self) {
        if self.observer.is_some() {
            let now = self.now();
            while let Some(transition) = self.handler.poll_transition() {
                if let Some(observer) = self.observer.as_mut() {
                    observer(Observed::Transition(now, &transition));
                }
            }
        }
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
                let route = self.weak_alive.upgrade().and_then(|alive| {
                    let core: Arc<dyn Core> = self.me.upgrade()?;
                    Some(Route::new(alive, core))
                });
                let event = CallbackEvent::new(id, callback, route);
                // An actor that is gone drops the event, which reports the callback failed:
                // after the lock is released (see `Shared`).
                match self.actors.get(&actor) {
                    Some(actor) => {
                        if let Err(mpsc::error::SendError(event)) = actor.send(event) {
                            self.undeliverable.push(event);
                        }
                    }
                    None => self.undeliverable.push(event),
                }
            }
        }
    }

    fn send_to_conn(&mut self, connection: ConnId, command: Command) {
        // Commands for ids the transport does not hold are no-ops.
        if let Some(entry) = self.conns.get(&connection) {
            post(&entry.poster, self.reporting == Some(connection), command);
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
                let reports = self.reporter();
                tokio::spawn(async move {
                    let result = network
                        .resolve(&host, port)
                        .await
                        .map_err(|e| e.to_string());
                    reports.send(Report::Io(IoEvent::Resolved { id, result }));
                });
            }
            Command::Bind { listener, addr } => {
                let network = self.network.clone();
                let reports = self.reporter();
                let task = tokio::spawn(async move {
                    let result = network.listen(addr).await;
                    reports.send(Report::Bound { listener, result });
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
                let reports = self.reporter();
                let task = tokio::spawn(async move {
                    let result = network.connect(addr).await;
                    reports.send(Report::Connected { connection, result });
                });
                if let Some(old) = self.opening.insert(connection, task.abort_handle()) {
                    old.abort();
                }
            }
            Command::Release { connection } | Command::Abort { connection } => {
                if let Some(task) = self.opening.remove(&connection) {
                    task.abort();
                }
                if let Some(entry) = self.conns.remove(&connection) {
                    // Dropping the poster right after closes the queue: wake the task.
                    entry.poster.post(command);
                }
            }
            Command::Read { connection, max } => {
                // The most a connection's input can hold: what the core buffers, and the
                // read's buffer until its bytes reach the core.
                let buffered = self.handler.buffered(connection);
                if let Some(entry) = self.conns.get_mut(&connection) {
                    let m = &mut entry.memory;
                    m.buffered = buffered;
                    m.reading = max;
                    m.max_held = m.max_held.max(buffered + max);
                    post(&entry.poster, self.reporting == Some(connection), command);
                }
            }
            Command::StartTls { connection, .. }
            | Command::CancelRead { connection }
            | Command::Write { connection, .. }
            | Command::ReportWrites { connection }
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
    reports: Reporter<N>,
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
                        reports.send(Report::Io(IoEvent::AcceptCancelled { listener }));
                    }
                }
            },
            result = socket.accept(), if pending.is_some() => {
                if let Some(connection) = pending.take() {
                    reports.send(Report::Accepted { listener, connection, result });
                }
            }
        }
    }
}
