//! `selftest-corrupt`: a scenario that must fail. Its echo actor flips one bit of one byte it
//! sends back, as a broken handler would, and the same byte-exact oracle as everywhere else
//! must catch it. It shows the failure path end to end (the failed line, shrinking, the repro
//! line, exit status 1); `all` does not run it.

use super::{PULL, connect, listen, read_all, text, write_pattern};
use crate::oracle;
use crate::scenario::{Scenario, ScenarioFuture, default_config};
use std::time::Duration;
use theater_tcp_sim::{FaultPlan, SimContext};
use tokio::io::AsyncWriteExt;

/// See the [module docs](self).
pub(crate) const SCENARIO: Scenario = Scenario {
    name: "selftest-corrupt",
    about: "self-test, must fail: a passive echo whose actor corrupts one byte it sends back",
    oracles: "byte-exact echo, which the corrupted byte must violate on every seed",
    in_all: false,
    draw: FaultPlan::lossless_from_seed,
    config: default_config,
    limit: Duration::from_secs(30),
    body,
};

const STREAM: u64 = 0x5e1f;

fn body(ctx: SimContext) -> ScenarioFuture {
    Box::pin(async move {
        let mut rng = ctx.rng(1);
        let total = rng.range(1_000, 8_000) as usize;
        let corrupt_at = rng.range(0, total as u64 - 1) as usize;
        let actor = ctx.driver.actor("corrupting-echo", PULL);
        let (listener, addr) = listen(&ctx, &actor).await?;
        let server = tokio::spawn(async move {
            let conn = actor.accept(&listener).await.map_err(text)?;
            actor.activate(&conn).await.map_err(text)?;
            let mut echoed = 0;
            loop {
                let mut data = actor.receive(&conn, 4096).await.map_err(text)?;
                if data.is_empty() {
                    break;
                }
                if (echoed..echoed + data.len()).contains(&corrupt_at) {
                    data[corrupt_at - echoed] ^= 0x10;
                }
                echoed += data.len();
                actor.send(&conn, data).await.map_err(text)?;
            }
            actor.close(&conn).await.map_err(text)
        });
        let stream = connect(&ctx, addr).await?;
        let (mut rd, mut wr) = tokio::io::split(stream);
        let writer = async {
            write_pattern(&mut wr, STREAM, total, &mut rng).await?;
            wr.shutdown().await.map_err(|e| e.to_string())
        };
        let (_, got) = tokio::try_join!(writer, read_all(&mut rd))?;
        server
            .await
            .map_err(|e| format!("echo actor panicked: {e}"))??;
        oracle::exact_stream("echo", STREAM, &got, total)
    })
}
