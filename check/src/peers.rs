//! What a workload gets: the client host's network, the way to the actor, and a journal of
//! its own observations, each stamped with the simulated time it was made.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use theater_tcp_sim::{SimNetwork, SimStream};
use theater_tcp_tokio::Network;

/// The peers' side of one run; cheap to clone into spawned tasks.
#[derive(Debug)]
pub struct Peers<O> {
    network: SimNetwork,
    server: IpAddr,
    seed: u64,
    start: tokio::time::Instant,
    journal: Arc<Mutex<Vec<(Duration, O)>>>,
}

impl<O> Clone for Peers<O> {
    fn clone(&self) -> Self {
        Peers {
            network: self.network.clone(),
            server: self.server,
            seed: self.seed,
            start: self.start,
            journal: self.journal.clone(),
        }
    }
}

/// How long [`Peers::connect`] retries a refused connect (the actor may not listen yet).
const CONNECT_PATIENCE: Duration = Duration::from_secs(5);

impl<O> Peers<O> {
    pub(crate) fn new(network: SimNetwork, server: IpAddr, seed: u64) -> Peers<O> {
        Peers {
            network,
            server,
            seed,
            start: tokio::time::Instant::now(),
            journal: Arc::default(),
        }
    }

    pub(crate) fn take(&self) -> Vec<(Duration, O)> {
        std::mem::take(&mut *self.journal.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The run's seed (for choices the workload makes itself).
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The client host's network, behind the fault layer (for what [`connect`](Self::connect)
    /// does not cover: listeners the actor dials, several connects at once).
    pub fn network(&self) -> &SimNetwork {
        &self.network
    }

    /// The actor's address at `port` (on the driver's host).
    pub fn actor_addr(&self, port: u16) -> SocketAddr {
        SocketAddr::new(self.server, port)
    }

    /// Simulated time since the run started.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Connects to the actor's `port`, retrying a refused connect every 10 ms for up to 5 s of
    /// simulated time (until the actor listens).
    pub async fn connect(&self, port: u16) -> io::Result<SimStream> {
        let addr = self.actor_addr(port);
        let give_up = tokio::time::Instant::now() + CONNECT_PATIENCE;
        loop {
            match self.network.connect(addr).await {
                Err(e)
                    if e.kind() == io::ErrorKind::ConnectionRefused
                        && tokio::time::Instant::now() < give_up =>
                {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                other => return other,
            }
        }
    }

    /// Records an observation of the workload, at the simulated time now; properties see them
    /// all, in order ([`Run::history`](crate::Run::history)).
    pub fn record(&self, observation: O) {
        let at = self.elapsed();
        self.journal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((at, observation));
    }
}
