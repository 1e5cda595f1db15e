//! The Theater TCP handler on this project's sans-IO core: a `theater::handler::Handler` for
//! the Theater runtime (crates.io `theater` 0.3.29), a drop-in for crates.io
//! `theater-handler-tcp` 0.3.22.
//!
//! ```toml
//! theater-handler-tcp = { package = "theater-tcp-handler", path = "…/theater-handler" }
//! ```
//!
//! keeps `theater_handler_tcp::TcpHandler::new(config)` compiling, with the config theater
//! builds for `[[handler]] type = "tcp"`. Actors keep their imports: the interface
//! (`theater:simple/tcp`, 14 functions) hashes the same as the original's.
//!
//! Every rule is the core's (`theater-tcp-core`), run on real sockets by its driver
//! (`theater-tcp-tokio`); this crate only moves Pack values in and out:
//!
//! - host functions ([`calls`]) turn an actor's arguments into a core call made as that actor
//!   (its Theater id), and the reply into the value the actor decodes;
//! - the callbacks the core decides on (`handle-connection`, `handle-connection-transfer`,
//!   `on-data`, `on-close`) run as calls of the actor's `theater:simple/tcp-client` exports
//!   through its Theater `ActorHandle` ([`actor`]);
//! - when Theater shuts an actor down, the driver closes exactly that actor's connections and
//!   listeners, gracefully.
//!
//! All handler instances made from one [`TcpHandler`] share its drivers: one per distinct
//! effective config, so that actors with the same config (the usual case: the server-level
//! config, with at most a `listen` of their own) share one driver and can transfer connections
//! to each other.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod actor;
mod calls;
mod config;

use actor::{ActorRun, Binding, InstanceHold};
use anyhow::Result;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use theater::actor::handle::ActorHandle;
use theater::actor::store::ActorStore;
use theater::config::actor_manifest::{HandlerConfig, TcpHandlerConfig};
use theater::handler::{Handler, HandlerContext, HandlerEventReceiver, SharedActorInstance};
use theater::pack_bridge::{
    AsyncCtx, HostLinkerBuilder, InterfaceImpl, LinkerError, TypeHash, Value, parse_pact,
};
use theater::shutdown::ShutdownReceiver;
use theater_tcp_core::{ActorId, Config};
use theater_tcp_tokio::{Driver, DriverHandle, StartError, TokioNetwork};

pub use theater_tcp_core::Config as CoreConfig;

/// The interface this handler serves.
pub const TCP_INTERFACE: &str = "theater:simple/tcp";

const TCP_PACT: &str = include_str!("../tcp.pact");

/// The declaration of `theater:simple/tcp` (its hash is what the runtime checks).
fn tcp_interface() -> InterfaceImpl {
    // The pact is part of this crate and parsed by its tests; it cannot fail at run time.
    let pact = parse_pact(TCP_PACT).expect("tcp.pact parses");
    InterfaceImpl::from_pact(&pact)
}

/// The running drivers of one [`TcpHandler`] and every instance made from it.
#[derive(Default)]
struct Drivers {
    running: Mutex<Vec<(Config, DriverHandle)>>,
}

impl Drivers {
    /// The driver for `config`, started on the current tokio runtime if none runs yet.
    fn for_config(&self, config: &Config) -> Result<DriverHandle, StartError> {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, driver)) = running.iter().find(|(c, _)| c == config) {
            return Ok(driver.clone());
        }
        let driver = Driver::start(config.clone(), TokioNetwork)?;
        running.push((config.clone(), driver.clone()));
        Ok(driver)
    }
}

/// What `setup_host_functions_composite` prepared for the handler task.
struct Prepared {
    binding: Arc<Binding>,
    driver: DriverHandle,
}

/// What `init` handed over.
struct Started {
    theater: ActorHandle,
    instance: SharedActorInstance,
    hold: Option<InstanceHold>,
}

/// The TCP handler. Register one with the runtime's `HandlerRegistry`; Theater makes an
/// instance of it per actor.
pub struct TcpHandler {
    drivers: Arc<Drivers>,
    /// The server-level config, which an actor's manifest table overlays.
    server: Arc<Config>,
    /// This instance's config.
    config: config::ActorConfig,
    prepared: Option<Prepared>,
    started: Option<Started>,
}

impl TcpHandler {
    /// A handler with the config theater builds for `[[handler]] type = "tcp"` (as the
    /// original's `TcpHandler::new`). Its `listen` is not used at this level: an actor's own
    /// manifest `listen` makes the handler listen for that actor.
    pub fn new(config: TcpHandlerConfig) -> Self {
        TcpHandler::with_config(config::from_theater(&config))
    }

    /// A handler with the full config of this project (`SEMANTICS.md`): timeouts, watermarks,
    /// address policy, STARTTLS-only server certificates, ... which theater's own
    /// manifest parsing would drop. Actors' manifest tables overlay the keys they set.
    pub fn with_config(config: CoreConfig) -> Self {
        let actor = config::ActorConfig::server(config);
        TcpHandler {
            drivers: Arc::default(),
            server: Arc::new(actor.driver.clone()),
            config: actor,
            prepared: None,
            started: None,
        }
    }

    /// The interface declarations of this handler.
    pub fn interfaces(&self) -> Vec<InterfaceImpl> {
        vec![tcp_interface()]
    }
}

/// A clone shares the drivers and the config, as the original's did; what one actor's
/// instance prepared stays with that instance.
impl Clone for TcpHandler {
    fn clone(&self) -> Self {
        TcpHandler {
            drivers: self.drivers.clone(),
            server: self.server.clone(),
            config: self.config.clone(),
            prepared: None,
            started: None,
        }
    }
}

impl Handler for TcpHandler {
    fn create_instance(&self, config: Option<&HandlerConfig>) -> Box<dyn Handler> {
        let mut instance = self.clone();
        if let Some(HandlerConfig::Tcp { config }) = config {
            instance.config = config::ActorConfig::overlay(&self.server, config);
        }
        Box::new(instance)
    }

    fn init(&mut self, actor_handle: ActorHandle, actor_instance: SharedActorInstance) {
        // Held until the export list is read, so the actor runs no export (and makes no host
        // call) before the driver knows which callbacks it has.
        let hold = actor_instance.clone().try_write_owned().ok();
        self.started = Some(Started {
            theater: actor_handle,
            instance: actor_instance,
            hold,
        });
    }

    fn run(
        &mut self,
        shutdown_receiver: ShutdownReceiver,
        _event_rx: HandlerEventReceiver,
    ) -> Pin<Box<dyn Future<Output = Result<()>> + Send>> {
        let run = match (self.prepared.take(), self.started.take()) {
            (Some(prepared), Some(started)) => Some(ActorRun {
                binding: prepared.binding,
                driver: prepared.driver,
                listen: self.config.listen.clone(),
                theater: started.theater,
                instance: started.instance,
                hold: started.hold,
            }),
            _ => None,
        };
        Box::pin(async move {
            match run {
                Some(run) => run.run(shutdown_receiver).await,
                // Another handler serves theater:simple/tcp for this actor.
                None => {
                    shutdown_receiver.wait_for_shutdown().await;
                }
            }
            Ok(())
        })
    }

    fn setup_host_functions_composite(
        &mut self,
        builder: &mut HostLinkerBuilder<'_, ActorStore>,
        ctx: &mut HandlerContext,
    ) -> Result<(), LinkerError> {
        if ctx.is_satisfied(TCP_INTERFACE) {
            return Ok(());
        }
        let id = ctx.actor_id.ok_or_else(|| {
            LinkerError::FunctionRegistration("tcp handler: the actor has no id".into())
        })?;
        // A TLS setting that cannot be loaded fails the actor's start, naming the key.
        let driver = self
            .drivers
            .for_config(&self.config.driver)
            .map_err(|e| LinkerError::FunctionRegistration(format!("tcp handler: {e}")))?;
        let binding = Arc::new(Binding::new(ActorId::new(id.to_string())));

        let mut interface = builder.interface(TCP_INTERFACE)?;
        for function in calls::FUNCTIONS.iter() {
            let binding = binding.clone();
            interface.func_async_result(
                function.name,
                move |_ctx: AsyncCtx<ActorStore>, args: Value| {
                    let binding = binding.clone();
                    async move { binding.call(function, args).await }
                },
            )?;
        }
        ctx.mark_satisfied(TCP_INTERFACE);
        self.prepared = Some(Prepared { binding, driver });
        Ok(())
    }

    fn name(&self) -> &str {
        "tcp"
    }

    fn imports(&self) -> Option<Vec<String>> {
        Some(vec![TCP_INTERFACE.to_owned()])
    }

    fn exports(&self) -> Option<Vec<String>> {
        Some(vec![actor::CLIENT_INTERFACE.to_owned()])
    }

    fn interface_hashes(&self) -> Vec<(String, TypeHash)> {
        self.interfaces()
            .iter()
            .map(|i| (i.name().to_owned(), i.hash()))
            .collect()
    }

    fn interfaces(&self) -> Vec<InterfaceImpl> {
        TcpHandler::interfaces(self)
    }

    fn supports_composite(&self) -> bool {
        true
    }
}
