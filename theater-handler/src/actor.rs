//! One Theater actor bound to a driver: its host calls go to the core as that actor, and the
//! callbacks the core decides on run as calls of the actor's `theater:simple/tcp-client`
//! exports through its Theater [`ActorHandle`], one at a time, in the order the core made them.
//!
//! The core must know which callbacks an actor exports before it decides where a connection
//! goes (`handle-connection` or an `accept` queue), and Theater tells that only through the
//! actor's instance. So the binding reads the instance's export list when the handler task
//! starts, and host calls made before that wait for it (see [`Binding::caller`]).

use crate::calls::{self, Function};
use std::sync::Arc;
use std::time::Duration;
use theater::actor::handle::ActorHandle;
use theater::handler::SharedActorInstance;
use theater::pack_bridge::{PackInstance, Value};
use theater::shutdown::ShutdownReceiver;
use theater_tcp_core::{ActorId, Callback, Exports};
use theater_tcp_tokio::{Caller, DriverHandle};
use tokio::sync::{OwnedRwLockWriteGuard, watch};

/// The interface whose exports the core calls back.
pub(crate) const CLIENT_INTERFACE: &str = "theater:simple/tcp-client";

/// How long a host call waits for its actor to be known to the driver. The wait is normally a
/// few microseconds; it is only long when the actor's `init` held its instance before the
/// handler task could read the export list, in which case the call fails instead of hanging.
const REGISTRATION_WAIT: Duration = Duration::from_secs(10);

/// An exclusive hold on the actor's instance, taken before the actor runs any export.
pub(crate) type InstanceHold = OwnedRwLockWriteGuard<Option<PackInstance>>;

/// Where an actor stands with its driver.
#[derive(Clone)]
enum Slot {
    /// The export list is being read.
    Starting,
    /// Known to the driver; calls go through this caller.
    Running(Caller),
    /// Stopped (or never started): calls fail.
    Stopped,
}

/// What the host functions of one actor share with its handler task.
pub(crate) struct Binding {
    actor: ActorId,
    slot: watch::Sender<Slot>,
}

impl Binding {
    pub(crate) fn new(actor: ActorId) -> Self {
        Binding {
            actor,
            slot: watch::Sender::new(Slot::Starting),
        }
    }

    /// The caller of this actor, once the driver knows it.
    async fn caller(&self) -> Result<Caller, String> {
        let mut slot = self.slot.subscribe();
        let known = slot.wait_for(|s| !matches!(s, Slot::Starting));
        match tokio::time::timeout(REGISTRATION_WAIT, known).await {
            Ok(Ok(slot)) => match &*slot {
                Slot::Running(caller) => Ok(caller.clone()),
                _ => Err(format!("Actor {} is not running", self.actor)),
            },
            Ok(Err(_)) => Err(format!("Actor {} is not running", self.actor)),
            Err(_) => Err(format!(
                "Actor {} is not started yet: its exports could not be read within {} s",
                self.actor,
                REGISTRATION_WAIT.as_secs()
            )),
        }
    }

    /// One host call: the arguments become a core call, made as this actor; its reply becomes
    /// the result value.
    pub(crate) async fn call(&self, function: &Function, args: Value) -> Result<Value, Value> {
        let call = (function.call)(&args).map_err(Value::String)?;
        let caller = self.caller().await.map_err(Value::String)?;
        let reply = caller
            .call(call)
            .await
            .map_err(|e| Value::String(e.to_string()))?;
        (function.reply)(reply).ok_or_else(|| {
            Value::String(format!(
                "{}: unexpected reply from the handler",
                function.name
            ))
        })
    }
}

/// What the handler task needs to run one actor.
pub(crate) struct ActorRun {
    pub(crate) binding: Arc<Binding>,
    pub(crate) driver: DriverHandle,
    pub(crate) listen: Option<String>,
    pub(crate) theater: ActorHandle,
    pub(crate) instance: SharedActorInstance,
    pub(crate) hold: Option<InstanceHold>,
}

impl ActorRun {
    /// Registers the actor with its exports, listens where its manifest says, then runs its
    /// callbacks until Theater shuts it down; then the driver closes exactly its connections
    /// and listeners (TLS close_notify included) and ends its waiting calls.
    pub(crate) async fn run(self, shutdown: ShutdownReceiver) {
        let ActorRun {
            binding,
            driver,
            listen,
            theater,
            instance,
            hold,
        } = self;
        let shutdown = shutdown.wait_for_shutdown();
        tokio::pin!(shutdown);

        let exports = tokio::select! {
            biased;
            _ = &mut shutdown => {
                binding.slot.send_replace(Slot::Stopped);
                return;
            }
            exports = exports_of(hold, &instance) => exports,
        };
        let mut actor = driver.actor(binding.actor.clone(), exports);
        binding.slot.send_replace(Slot::Running(actor.caller()));
        tracing::debug!(actor = %binding.actor, ?exports, "tcp actor started");

        if let Some(address) = listen
            && let Err(e) = actor.listen(&address).await
        {
            tracing::error!(actor = %binding.actor, "tcp handler: manifest listen {address}: {e}");
        }

        loop {
            let mut event = tokio::select! {
                biased;
                _ = &mut shutdown => break,
                event = actor.next_callback() => match event {
                    Some(event) => event,
                    None => break,
                },
            };
            let callback = std::mem::replace(
                &mut event.callback,
                Callback::OnPassive {
                    connection: String::new(),
                },
            );
            // A shutdown ends even a callback blocked in a host call; the event, dropped
            // unanswered, reports the callback failed.
            let outcome = tokio::select! {
                biased;
                _ = &mut shutdown => break,
                outcome = invoke(&theater, exports, callback) => outcome,
            };
            event.finish(outcome);
        }
        binding.slot.send_replace(Slot::Stopped);
        actor.stop();
        tracing::debug!(actor = %binding.actor, "tcp actor stopped");
    }
}

/// Reads which `tcp-client` callbacks the actor exports.
async fn exports_of(hold: Option<InstanceHold>, instance: &SharedActorInstance) -> Exports {
    let mut hold = match hold {
        Some(hold) => hold,
        None => instance.clone().write_owned().await,
    };
    let Some(instance) = hold.as_mut() else {
        return Exports::default();
    };
    match instance.get_exports().await {
        Ok(functions) => {
            let has = |name: &str| {
                functions
                    .iter()
                    .any(|(interface, f)| interface == CLIENT_INTERFACE && f.name == name)
            };
            Exports {
                handle_connection: has("handle-connection"),
                handle_connection_transfer: has("handle-connection-transfer"),
                on_data: has("on-data"),
                on_close: has("on-close"),
                on_passive: has("on-passive"),
            }
        }
        Err(e) => {
            tracing::warn!("tcp handler: cannot read the actor's exports: {e:?}");
            Exports::default()
        }
    }
}

/// Runs one callback as a call of the actor's export (the runtime threads its state).
async fn invoke(theater: &ActorHandle, exports: Exports, callback: Callback) -> Result<(), String> {
    let (function, params) = match callback {
        Callback::HandleConnection { connection } => {
            ("handle-connection", vec![Value::String(connection)])
        }
        // The core sends this only to an actor exporting one of the two.
        Callback::HandleConnectionTransfer { connection } => {
            let name = if exports.handle_connection_transfer {
                "handle-connection-transfer"
            } else {
                "handle-connection"
            };
            (name, vec![Value::String(connection)])
        }
        Callback::OnData { connection, data } => (
            "on-data",
            vec![Value::String(connection), calls::bytes_value(data)],
        ),
        Callback::OnClose { connection, reason } => (
            "on-close",
            vec![Value::String(connection), Value::String(reason)],
        ),
        Callback::OnPassive { connection } => ("on-passive", vec![Value::String(connection)]),
    };
    theater
        .call_function(
            format!("{CLIENT_INTERFACE}.{function}"),
            Value::Tuple(params),
        )
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}
