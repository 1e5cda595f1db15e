//! Simulation speed: simulated seconds per wall-clock second for the echo scenario through the
//! real driver and core, next to a plain turmoil echo (no core, no driver) with the same tick,
//! the same bytes and the same chunking, in the same run.
//!
//! `cargo bench -p theater-tcp-sim` (add `-- --quick` for one short round).

use std::time::{Duration, Instant};
use theater_tcp_sim::{FaultPlan, Sim};
use theater_tcp_test_support::scenarios::{self, EchoMode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TICK: Duration = Duration::from_millis(1);
const TOTAL: usize = 1024 * 1024;
const CHUNK: usize = 64 * 1024;

struct Figure {
    sim: Duration,
    wall: Duration,
}

impl Figure {
    fn ratio(&self) -> f64 {
        self.sim.as_secs_f64() / self.wall.as_secs_f64()
    }
}

fn with_core(seeds: u64, trace: bool) -> Figure {
    let mut sim = Duration::ZERO;
    let started = Instant::now();
    for seed in 0..seeds {
        let out = Sim::new(seed, FaultPlan::none())
            .tick(TICK)
            .trace(trace)
            .run(|ctx| async move { scenarios::echo(&ctx.setup(), EchoMode::Active, TOTAL).await });
        if let Err(e) = out.result {
            panic!("seed {seed}: {e}");
        }
        sim += out.sim_elapsed;
    }
    Figure {
        sim,
        wall: started.elapsed(),
    }
}

fn plain(seeds: u64) -> Figure {
    let mut sim_total = Duration::ZERO;
    let started = Instant::now();
    for seed in 0..seeds {
        let mut sim = turmoil::Builder::new()
            .rng_seed(seed)
            .tick_duration(TICK)
            .simulation_duration(Duration::from_secs(600))
            .build();
        sim.host("server", || async {
            let listener = turmoil::net::TcpListener::bind("0.0.0.0:7000").await?;
            loop {
                let (mut stream, _) = listener.accept().await?;
                tokio::spawn(async move {
                    let mut buf = vec![0; CHUNK];
                    loop {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => {
                                if stream.write_all(&buf[..n]).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
        });
        sim.client("client", async {
            let stream = turmoil::net::TcpStream::connect("server:7000").await?;
            let (mut rd, mut wr) = tokio::io::split(stream);
            let writer = async move {
                let buf = vec![7u8; CHUNK];
                for _ in 0..TOTAL / CHUNK {
                    wr.write_all(&buf).await?;
                }
                wr.shutdown().await?;
                Ok::<_, std::io::Error>(wr)
            };
            let reader = async move {
                let mut buf = vec![0; CHUNK];
                let mut got = 0;
                while got < TOTAL {
                    let n = rd.read(&mut buf).await?;
                    if n == 0 {
                        break;
                    }
                    got += n;
                }
                Ok::<_, std::io::Error>(got)
            };
            let (_wr, got) = tokio::try_join!(writer, reader)?;
            assert_eq!(got, TOTAL);
            Ok(())
        });
        if let Err(e) = sim.run() {
            panic!("plain echo, seed {seed}: {e}");
        }
        sim_total += sim.elapsed();
    }
    Figure {
        sim: sim_total,
        wall: started.elapsed(),
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick" || a == "--test");
    let seeds = if quick { 3 } else { 50 };
    // Warm up both (page faults, allocator).
    with_core(1, true);
    plain(1);
    let core = with_core(seeds, true);
    let untraced = with_core(seeds, false);
    let turmoil_only = plain(seeds);
    println!(
        "echo of {} KiB x {seeds} seeds, tick {:?}:",
        TOTAL / 1024,
        TICK
    );
    println!(
        "  with driver + core : {:>8.1} simulated s per wall s ({:.2} s simulated in {:.3} s)",
        core.ratio(),
        core.sim.as_secs_f64(),
        core.wall.as_secs_f64()
    );
    println!(
        "  ... without trace  : {:>8.1} simulated s per wall s ({:.2} s simulated in {:.3} s)",
        untraced.ratio(),
        untraced.sim.as_secs_f64(),
        untraced.wall.as_secs_f64()
    );
    println!(
        "  plain turmoil echo : {:>8.1} simulated s per wall s ({:.2} s simulated in {:.3} s)",
        turmoil_only.ratio(),
        turmoil_only.sim.as_secs_f64(),
        turmoil_only.wall.as_secs_f64()
    );
    println!(
        "  ratio (core / plain): {:.2}",
        core.ratio() / turmoil_only.ratio()
    );
}
