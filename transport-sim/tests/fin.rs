//! Ends of streams are never lost by the simulated network itself: a FIN sent while the
//! receiver's queue is full of data segments arrives once the receiver reads (turmoil 0.7
//! alone parks it for good, so the peer waits forever; see `SimStream`).

use std::time::Duration;
use theater_tcp_sim::net::{Partitions, SimNetwork};
use theater_tcp_sim::{FaultPlan, SimRng};
use theater_tcp_tokio::{NetListener, Network};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SEGMENTS: usize = 300;

fn network(host: &str, seed: u64) -> SimNetwork {
    SimNetwork::new(
        host,
        &["server", "client"],
        FaultPlan::none(),
        SimRng::new(seed),
        Partitions::default(),
    )
}

/// The server writes `SEGMENTS` one-byte segments then shuts its write side, or (`drop_it`)
/// drops the stream instead, which sends the FIN too; the client reads a byte at a time,
/// slowly, so that the queue is full when the FIN arrives. Returns what the client read
/// before the end of the stream.
fn slow_reader_sees_the_end(drop_it: bool) -> Result<usize, String> {
    // One latency for every segment, so the FIN arrives right behind the last data segment.
    let mut sim = turmoil::Builder::new()
        .simulation_duration(Duration::from_secs(60))
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(1))
        .build();
    sim.host("server", move || async move {
        let net = network("server", 1);
        let listener = net.listen("0.0.0.0:7000".parse()?).await?;
        let (mut stream, _) = listener.accept().await?;
        for i in 0..SEGMENTS {
            stream.write_all(&[i as u8]).await?;
        }
        if !drop_it {
            stream.shutdown().await?;
        }
        drop(stream);
        std::future::pending::<()>().await;
        Ok(())
    });
    sim.client("client", async move {
        let net = network("client", 2);
        let addr = std::net::SocketAddr::new(turmoil::lookup("server"), 7000);
        let mut stream = net.connect(addr).await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut got = 0usize;
        let mut byte = [0u8; 1];
        while stream.read(&mut byte).await? == 1 {
            assert_eq!(byte[0], got as u8, "byte {got}");
            got += 1;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        assert_eq!(got, SEGMENTS);
        Ok(())
    });
    sim.run().map(|()| SEGMENTS).map_err(|e| e.to_string())
}

#[test]
fn a_fin_behind_a_full_receive_queue_arrives() {
    assert_eq!(slow_reader_sees_the_end(false), Ok(SEGMENTS));
}

#[test]
fn a_fin_sent_by_dropping_the_stream_behind_a_full_queue_arrives() {
    assert_eq!(slow_reader_sees_the_end(true), Ok(SEGMENTS));
}
