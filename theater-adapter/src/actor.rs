//! One actor: the store data its host calls see ([`ActorCtx`]), the exports it was found to
//! have, and the task that owns its store and runs its callbacks one at a time.
//!
//! Host calls await the driver while the actor's own task is blocked inside the callback that
//! made them: that is Theater's model (one callback at a time per actor). So a synchronous
//! `transfer` from actor A to actor B, whose `handle-connection-transfer` synchronously
//! transfers something back to A, deadlocks: A cannot run B's callback while it waits for B.
//! `transfer-async` returns as soon as ownership flipped and avoids it.

use crate::manifest::Limits;
use crate::spec::{ActorStatus, LogBuffer};
use std::time::{Duration, Instant};
use theater_tcp_core::{Call, Callback, Exports, Reply};
use theater_tcp_tokio::{ActorHandle, Caller};
use tokio::sync::{oneshot, watch};
use wasmtime::component::{
    Component, ComponentExportIndex, Func, Instance, Linker, TypedFunc, WasmList,
};
use wasmtime::{Store, StoreContextMut, StoreLimits, UpdateDeadline};

mod bindings {
    #![allow(missing_docs)]
    wasmtime::component::bindgen!({
        path: "wit",
        world: "tcp-host",
        imports: { default: async },
    });
}

pub(crate) use bindings::TcpHost;
use bindings::theater::simple::{runtime, tcp, tcp_ext};

/// The state an actor threads through its callbacks.
type State = Option<Vec<u8>>;
/// What every export returns: `result<tuple<option<list<u8>>>, string>`.
type Outcome = (Result<(State,), String>,);
type IdFunc = TypedFunc<(State, (String,)), Outcome>;
/// `on-data`, typed per call: its params borrow the chunk, which goes back to the buffer
/// pool after the call instead of being freed inside wasmtime.
type DataParams<'a> = (State, (&'a str, &'a [u8]));
type CloseFunc = TypedFunc<(State, (String, String)), Outcome>;

const ACTOR_INTERFACE: &str = "theater:simple/actor";
const CLIENT_INTERFACE: &str = "theater:simple/tcp-client";

/// The store data of one actor: what its host calls run against.
pub(crate) struct ActorCtx {
    id: String,
    caller: Caller,
    pub(crate) limits: StoreLimits,
    logs: LogBuffer,
    /// Wasm time of the running callback up to its last host call.
    wasm_time: Duration,
    /// When wasm last resumed (callback start or return from a host call).
    resumed: Instant,
}

impl ActorCtx {
    pub(crate) fn new(id: String, caller: Caller, limits: StoreLimits, logs: LogBuffer) -> Self {
        ActorCtx {
            id,
            caller,
            limits,
            logs,
            wasm_time: Duration::ZERO,
            resumed: Instant::now(),
        }
    }

    /// Wasm time used by the running callback so far (time in host calls excluded).
    fn used(&self) -> Duration {
        self.wasm_time + self.resumed.elapsed()
    }

    /// One call to the driver; the time it blocks is not charged to the callback.
    async fn call(&mut self, call: Call) -> Result<Reply, String> {
        self.wasm_time += self.resumed.elapsed();
        let result = self.caller.call(call).await.map_err(|e| e.to_string());
        self.resumed = Instant::now();
        result
    }

    async fn unit(&mut self, call: Call) -> Result<(), String> {
        match self.call(call).await? {
            Reply::Unit => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    async fn text(&mut self, call: Call) -> Result<String, String> {
        match self.call(call).await? {
            Reply::Id(text) | Reply::Address(text) => Ok(text),
            other => Err(unexpected(&other)),
        }
    }

    async fn data(&mut self, call: Call) -> Result<Vec<u8>, String> {
        match self.call(call).await? {
            Reply::Data(data) => Ok(data),
            other => Err(unexpected(&other)),
        }
    }
}

fn unexpected(reply: &Reply) -> String {
    let kind = match reply {
        Reply::Unit => "unit",
        Reply::Id(_) => "id",
        Reply::Address(_) => "address",
        Reply::Sent(_) => "sent",
        Reply::Data(_) => "data",
        Reply::TlsInfo(_) => "tls-info",
        Reply::Stats(_) => "stats",
    };
    format!("unexpected {kind} reply from the handler")
}

impl tcp::Host for ActorCtx {
    async fn connect(&mut self, address: String) -> Result<String, String> {
        self.text(Call::Connect { address }).await
    }

    async fn listen(&mut self, address: String) -> Result<String, String> {
        self.text(Call::Listen { address }).await
    }

    async fn accept(&mut self, listener: String) -> Result<String, String> {
        self.text(Call::Accept { listener }).await
    }

    async fn activate(&mut self, connection: String) -> Result<(), String> {
        self.unit(Call::Activate { connection }).await
    }

    async fn set_active(&mut self, connection: String, mode: String) -> Result<(), String> {
        self.unit(Call::SetActive { connection, mode }).await
    }

    async fn transfer(&mut self, connection: String, target: String) -> Result<(), String> {
        self.unit(Call::Transfer { connection, target }).await
    }

    async fn transfer_async(&mut self, connection: String, target: String) -> Result<(), String> {
        self.unit(Call::TransferAsync { connection, target }).await
    }

    async fn peer_address(&mut self, connection: String) -> Result<String, String> {
        self.text(Call::PeerAddress { connection }).await
    }

    async fn send(&mut self, connection: String, data: Vec<u8>) -> Result<u64, String> {
        match self.call(Call::Send { connection, data }).await? {
            Reply::Sent(n) => Ok(n),
            other => Err(unexpected(&other)),
        }
    }

    async fn receive(&mut self, connection: String, max: u32) -> Result<Vec<u8>, String> {
        self.data(Call::Receive { connection, max }).await
    }

    async fn close(&mut self, connection: String) -> Result<(), String> {
        self.unit(Call::Close { connection }).await
    }

    async fn close_listener(&mut self, listener: String) -> Result<(), String> {
        self.unit(Call::CloseListener { listener }).await
    }

    async fn upgrade_to_tls_server(&mut self, connection: String) -> Result<(), String> {
        self.unit(Call::UpgradeToTlsServer { connection }).await
    }

    async fn upgrade_to_tls_client(
        &mut self,
        connection: String,
        server_name: String,
    ) -> Result<(), String> {
        self.unit(Call::UpgradeToTlsClient {
            connection,
            server_name,
        })
        .await
    }
}

impl tcp_ext::Host for ActorCtx {
    async fn local_address(&mut self, id: String) -> Result<String, String> {
        self.text(Call::LocalAddress { id }).await
    }

    async fn shutdown(&mut self, connection: String, how: String) -> Result<(), String> {
        self.unit(Call::Shutdown { connection, how }).await
    }

    async fn abort(&mut self, connection: String) -> Result<(), String> {
        self.unit(Call::Abort { connection }).await
    }

    async fn receive_timeout(
        &mut self,
        connection: String,
        max: u32,
        ms: u64,
    ) -> Result<Vec<u8>, String> {
        self.data(Call::ReceiveTimeout {
            connection,
            max,
            ms,
        })
        .await
    }

    async fn set_option(
        &mut self,
        connection: String,
        name: String,
        value: String,
    ) -> Result<(), String> {
        self.unit(Call::SetOption {
            connection,
            name,
            value,
        })
        .await
    }

    async fn tls_info(&mut self, connection: String) -> Result<tcp_ext::TlsDetails, String> {
        match self.call(Call::TlsInfo { connection }).await? {
            Reply::TlsInfo(info) => Ok(tcp_ext::TlsDetails {
                protocol: info.protocol,
                cipher_suite: info.cipher_suite,
                alpn: info.alpn,
                peer_certificates: info.peer_certificates,
            }),
            other => Err(unexpected(&other)),
        }
    }

    async fn connection_stats(
        &mut self,
        connection: String,
    ) -> Result<tcp_ext::ConnectionCounters, String> {
        match self.call(Call::ConnectionStats { connection }).await? {
            Reply::Stats(s) => Ok(tcp_ext::ConnectionCounters {
                bytes_in: s.bytes_in,
                bytes_out: s.bytes_out,
                chunks_delivered: s.chunks_delivered,
                buffered: s.buffered,
                state: s.state,
                mode: s.mode,
                tls: s.tls,
            }),
            other => Err(unexpected(&other)),
        }
    }
}

impl runtime::Host for ActorCtx {
    async fn log(&mut self, msg: String) {
        tracing::info!(target: "theater_tcp::actor", actor = %self.id, "{msg}");
        self.logs.push(&self.id, msg);
    }
}

/// Replaces the generated `theater:simple/tcp#send` with one that takes the data as a view of
/// the actor's memory and copies it out in one `memcpy`: the generated binding lifts a
/// `list<u8>` element by element, which costs as much as a kernel copy of the same bytes on
/// the echo path. Same signature, same errors.
pub(crate) fn link_fast_send(linker: &mut Linker<ActorCtx>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let result = linker.instance("theater:simple/tcp").and_then(|mut tcp| {
        tcp.func_wrap_async(
            "send",
            |mut store: StoreContextMut<'_, ActorCtx>,
             (connection, data): (String, WasmList<u8>)| {
                let bytes = data.as_le_slice(&store);
                let mut data = theater_tcp_tokio::buffers::take(bytes.len());
                data.extend_from_slice(bytes);
                Box::new(async move {
                    let sent = tcp::Host::send(store.data_mut(), connection, data).await;
                    Ok((sent,))
                })
            },
        )
    });
    linker.allow_shadowing(false);
    result
}

/// Where an actor's exports sit in its component, found by name before instantiation.
#[derive(Debug, Clone, Default)]
pub(crate) struct ExportIndices {
    init: Option<ComponentExportIndex>,
    handle_connection: Option<ComponentExportIndex>,
    handle_connection_transfer: Option<ComponentExportIndex>,
    on_data: Option<ComponentExportIndex>,
    on_close: Option<ComponentExportIndex>,
    on_passive: Option<ComponentExportIndex>,
}

impl ExportIndices {
    /// Looks up `theater:simple/actor#init` and the `theater:simple/tcp-client` callbacks;
    /// any of them may be missing.
    pub(crate) fn of(component: &Component) -> Self {
        let actor = component.get_export_index(None, ACTOR_INTERFACE);
        let client = component.get_export_index(None, CLIENT_INTERFACE);
        let func = |instance: &Option<ComponentExportIndex>, name: &str| {
            instance
                .as_ref()
                .and_then(|i| component.get_export_index(Some(i), name))
        };
        ExportIndices {
            init: func(&actor, "init"),
            handle_connection: func(&client, "handle-connection"),
            handle_connection_transfer: func(&client, "handle-connection-transfer"),
            on_data: func(&client, "on-data"),
            on_close: func(&client, "on-close"),
            on_passive: func(&client, "on-passive"),
        }
    }

    /// The callbacks the core may call.
    pub(crate) fn exports(&self) -> Exports {
        Exports {
            handle_connection: self.handle_connection.is_some(),
            handle_connection_transfer: self.handle_connection_transfer.is_some(),
            on_data: self.on_data.is_some(),
            on_close: self.on_close.is_some(),
            on_passive: self.on_passive.is_some(),
        }
    }
}

/// An actor's exports as typed functions of its instance.
pub(crate) struct Exported {
    init: Option<IdFunc>,
    handle_connection: Option<IdFunc>,
    handle_connection_transfer: Option<IdFunc>,
    on_data: Option<Func>,
    on_close: Option<CloseFunc>,
    on_passive: Option<IdFunc>,
}

impl Exported {
    /// Type-checks every export found; an export of the wrong type is an error naming it.
    pub(crate) fn typed(
        store: &mut Store<ActorCtx>,
        instance: &Instance,
        indices: &ExportIndices,
    ) -> Result<Self, String> {
        fn typed<P, R>(
            store: &mut Store<ActorCtx>,
            instance: &Instance,
            index: &Option<ComponentExportIndex>,
            name: &str,
        ) -> Result<Option<TypedFunc<P, R>>, String>
        where
            P: wasmtime::component::ComponentNamedList + wasmtime::component::Lower,
            R: wasmtime::component::ComponentNamedList + wasmtime::component::Lift,
        {
            index
                .as_ref()
                .map(|index| {
                    instance
                        .get_typed_func::<P, R>(&mut *store, index)
                        .map_err(|e| format!("export {name} has the wrong type: {}", chain(&e)))
                })
                .transpose()
        }
        let client = |f: &str| format!("{CLIENT_INTERFACE}#{f}");
        Ok(Exported {
            init: typed(
                store,
                instance,
                &indices.init,
                &format!("{ACTOR_INTERFACE}#init"),
            )?,
            handle_connection: typed(
                store,
                instance,
                &indices.handle_connection,
                &client("handle-connection"),
            )?,
            handle_connection_transfer: typed(
                store,
                instance,
                &indices.handle_connection_transfer,
                &client("handle-connection-transfer"),
            )?,
            on_data: {
                let f: Option<TypedFunc<DataParams<'_>, Outcome>> =
                    typed(store, instance, &indices.on_data, &client("on-data"))?;
                f.map(|f| *f.func())
            },
            on_close: typed(store, instance, &indices.on_close, &client("on-close"))?,
            on_passive: typed(store, instance, &indices.on_passive, &client("on-passive"))?,
        })
    }
}

/// An error and its causes on one line.
pub(crate) fn chain(e: &wasmtime::Error) -> String {
    e.chain()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(": ")
}

/// Installs the per-callback time budget: the engine's epoch ticks every 10 ms; at each tick
/// that finds this store in wasm, the callback's wasm time is checked, and the task yields to
/// the runtime so that a long callback does not starve other actors.
pub(crate) fn install_time_budget(store: &mut Store<ActorCtx>, limits: &Limits) {
    let budget = limits.callback_time_ms.map(Duration::from_millis);
    store.epoch_deadline_callback(move |ctx| match budget {
        Some(budget) if ctx.data().used() > budget => Err(wasmtime::Error::msg(format!(
            "callback exceeded its time budget of {} ms",
            budget.as_millis()
        ))),
        _ => Ok(UpdateDeadline::Yield(1)),
    });
}

/// How a callback ended.
enum Ran {
    /// It returned `ok((state,))`.
    Ok(State),
    /// It returned `err(message)`: the actor goes on with its old state.
    Failed(String),
    /// It trapped (or ran out of fuel, time or memory): the actor stops.
    Trapped(String),
}

async fn invoke<P>(
    store: &mut Store<ActorCtx>,
    fuel: Option<u64>,
    func: &TypedFunc<P, Outcome>,
    params: P,
) -> Ran
where
    P: wasmtime::component::ComponentNamedList + wasmtime::component::Lower + Send + Sync,
{
    if let Some(fuel) = fuel
        && let Err(e) = store.set_fuel(fuel)
    {
        return Ran::Trapped(chain(&e));
    }
    store.set_epoch_deadline(1);
    let ctx = store.data_mut();
    ctx.wasm_time = Duration::ZERO;
    ctx.resumed = Instant::now();
    match func.call_async(&mut *store, params).await {
        Ok((Ok((state,)),)) => Ran::Ok(state),
        Ok((Err(message),)) => Ran::Failed(message),
        Err(e) => Ran::Trapped(chain(&e)),
    }
}

/// Everything the actor's task owns.
pub(crate) struct ActorTask {
    pub(crate) id: String,
    pub(crate) store: Store<ActorCtx>,
    pub(crate) exported: Exported,
    pub(crate) handle: ActorHandle,
    pub(crate) fuel: Option<u64>,
    pub(crate) status: watch::Sender<ActorStatus>,
    pub(crate) stop: watch::Receiver<bool>,
}

/// A placeholder left in a [`CallbackEvent`] whose callback was taken out to run.
fn taken() -> Callback {
    Callback::OnPassive {
        connection: String::new(),
    }
}

impl ActorTask {
    /// Runs `init(none, (id,))`, reports its outcome, then runs callbacks one at a time until
    /// the host stops the actor, the driver stops, or a callback traps.
    pub(crate) async fn run(mut self, init_done: oneshot::Sender<Result<(), String>>) {
        let mut state: State = None;
        if let Some(init) = &self.exported.init {
            let params = (None, (self.id.clone(),));
            let ran = tokio::select! {
                biased;
                _ = self.stop.changed() => Ran::Trapped("stopped by the host during init".into()),
                ran = invoke(&mut self.store, self.fuel, init, params) => ran,
            };
            match ran {
                Ran::Ok(s) => state = s,
                Ran::Failed(message) => {
                    let reason = format!("init failed: {message}");
                    let _ = init_done.send(Err(reason.clone()));
                    return self.stopped(reason);
                }
                Ran::Trapped(message) => {
                    let reason = format!("init trapped: {message}");
                    let _ = init_done.send(Err(reason.clone()));
                    return self.stopped(reason);
                }
            }
        }
        let _ = init_done.send(Ok(()));

        let reason = loop {
            // A stop request is seen before the next event. Checked with a load rather than by
            // polling `changed()` first in each select: a `changed()` future that is polled
            // registers with the channel and unregisters when dropped, two lock round trips per
            // callback; polled second, it is polled only when there is nothing else to do.
            // A closed channel (the host gone) counts as a stop, as `changed()` does.
            if self.stop.has_changed().unwrap_or(true) {
                break "stopped by the host".to_owned();
            }
            let mut event = tokio::select! {
                biased;
                event = self.handle.next_callback() => match event {
                    Some(event) => event,
                    None => break "the TCP driver stopped".to_owned(),
                },
                _ = self.stop.changed() => break "stopped by the host".to_owned(),
            };
            let callback = std::mem::replace(&mut event.callback, taken());
            let name = callback_name(&callback);
            // A stop request ends even a callback blocked in a host call (`accept`, `receive`):
            // its future is dropped, and the event with it, which reports the callback failed.
            // A callback that returns without waiting completes first; the stop is then seen
            // before the next event.
            let ran = tokio::select! {
                biased;
                ran = run_callback(&mut self.store, self.fuel, &self.exported, state.take(), callback) => ran,
                _ = self.stop.changed() => break "stopped by the host".to_owned(),
            };
            match ran {
                (Ran::Ok(new_state), _) => {
                    state = new_state;
                    event.ok();
                }
                (Ran::Failed(message), old_state) => {
                    state = old_state;
                    tracing::debug!(actor = %self.id, callback = name, "callback failed: {message}");
                    event.fail(message);
                }
                (Ran::Trapped(message), _) => {
                    tracing::warn!(actor = %self.id, callback = name, "actor trapped and is stopped: {message}");
                    event.fail(format!("trap: {message}"));
                    break format!("trapped in {name}: {message}");
                }
            }
        };
        self.stopped(reason);
    }

    /// Stops the actor in the driver (exactly its own connections and listeners close), then
    /// publishes the status.
    fn stopped(self, reason: String) {
        let ActorTask {
            id, handle, status, ..
        } = self;
        handle.stop();
        tracing::debug!(actor = %id, "actor stopped: {reason}");
        let _ = status.send(ActorStatus::Stopped { reason });
    }
}

fn callback_name(callback: &Callback) -> &'static str {
    match callback {
        Callback::HandleConnection { .. } => "handle-connection",
        Callback::HandleConnectionTransfer { .. } => "handle-connection-transfer",
        Callback::OnData { .. } => "on-data",
        Callback::OnClose { .. } => "on-close",
        Callback::OnPassive { .. } => "on-passive",
    }
}

/// Runs one callback with `state`; returns how it ended and, when it failed, the state to
/// keep (a failed callback does not change the actor's state).
async fn run_callback(
    store: &mut Store<ActorCtx>,
    fuel: Option<u64>,
    exported: &Exported,
    state: State,
    callback: Callback,
) -> (Ran, State) {
    // The old state is kept only in case the callback fails; the export gets its own copy.
    let keep = state.clone();
    let ran = match callback {
        Callback::HandleConnection { connection } => match &exported.handle_connection {
            Some(f) => invoke(store, fuel, f, (state, (connection,))).await,
            None => Ran::Failed("handle-connection is not exported".into()),
        },
        // The core falls back to `handle-connection` for an actor that exports only that
        // (it knows the exports): this callback comes only to actors that export it.
        Callback::HandleConnectionTransfer { connection } => {
            match &exported.handle_connection_transfer {
                Some(f) => invoke(store, fuel, f, (state, (connection,))).await,
                None => Ran::Failed("handle-connection-transfer is not exported".into()),
            }
        }
        Callback::OnData { connection, data } => match &exported.on_data {
            Some(f) => {
                // Type-checked when the actor started; checking again is cheap.
                let ran = match f.typed::<DataParams<'_>, Outcome>(&*store) {
                    Ok(f) => invoke(store, fuel, &f, (state, (&connection, &data))).await,
                    Err(e) => Ran::Trapped(chain(&e)),
                };
                theater_tcp_tokio::buffers::give(data);
                ran
            }
            None => Ran::Failed("on-data is not exported".into()),
        },
        Callback::OnClose { connection, reason } => match &exported.on_close {
            Some(f) => invoke(store, fuel, f, (state, (connection, reason))).await,
            None => Ran::Failed("on-close is not exported".into()),
        },
        Callback::OnPassive { connection } => match &exported.on_passive {
            Some(f) => invoke(store, fuel, f, (state, (connection,))).await,
            None => Ran::Failed("on-passive is not exported".into()),
        },
    };
    (ran, keep)
}
