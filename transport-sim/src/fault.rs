//! The byte-stream fault layer: what real TCP does to a byte stream and turmoil alone does not.
//!
//! [`FaultStream`] wraps any stream and, with every choice drawn from its seed:
//! - splits reads at arbitrary byte boundaries, and merges bytes of several writes into one read;
//! - accepts only part of a write (short writes);
//! - stalls one direction for a while;
//! - ends the incoming stream with FIN or RST at a chosen byte offset.
//!
//! Nothing is lost or reordered by the layer itself: bytes it has pulled from the inner stream
//! and not yet returned stay in its buffer, also across a cancelled read.

use crate::rng::SimRng;
use serde::{Deserialize, Serialize};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// How the incoming stream is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CutKind {
    /// The peer's FIN: reads return end of stream.
    Fin,
    /// The peer's RST: reads and writes fail with `ConnectionReset`.
    Rst,
}

/// End the incoming stream after `after_bytes` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cut {
    /// Bytes delivered before the cut.
    pub after_bytes: u64,
    /// FIN or RST.
    pub kind: CutKind,
}

/// The faults of one stream. Probabilities are per read or write operation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamFaults {
    /// A read returns fewer bytes than it could (a split at a random boundary).
    pub split_read: f64,
    /// A read first gathers every segment already available (a merge across writes).
    pub merge_reads: f64,
    /// A write accepts only a random prefix of its buffer.
    pub short_write: f64,
    /// An operation first stalls its direction for up to `max_stall_ms`.
    pub stall: f64,
    /// Longest stall, in (simulated) milliseconds.
    pub max_stall_ms: u64,
    /// End the incoming stream at a byte offset.
    pub cut: Option<Cut>,
}

impl StreamFaults {
    /// No faults: the stream passes through unchanged.
    pub fn none() -> Self {
        StreamFaults::default()
    }
}

/// Largest amount pulled from the inner stream per gather, so merging stays bounded.
const GATHER_LIMIT: usize = 64 * 1024;

/// A stream with seeded faults. See the [module docs](self).
pub struct FaultStream<S> {
    inner: S,
    faults: StreamFaults,
    rng: SimRng,
    /// Bytes pulled from `inner`, not yet returned.
    pending: Vec<u8>,
    pending_at: usize,
    inner_eof: bool,
    delivered: u64,
    read_stall: Option<Pin<Box<Sleep>>>,
    write_stall: Option<Pin<Box<Sleep>>>,
    reset: bool,
}

impl<S> std::fmt::Debug for FaultStream<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultStream")
            .field("faults", &self.faults)
            .field("buffered", &(self.pending.len() - self.pending_at))
            .field("delivered", &self.delivered)
            .finish()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> FaultStream<S> {
    /// Wraps `inner` with `faults`, drawing every choice from `rng`.
    pub fn new(inner: S, faults: StreamFaults, rng: SimRng) -> Self {
        FaultStream {
            inner,
            faults,
            rng,
            pending: Vec::new(),
            pending_at: 0,
            inner_eof: false,
            delivered: 0,
            read_stall: None,
            write_stall: None,
            reset: false,
        }
    }

    /// The wrapped stream.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Bytes returned to the reader so far.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    fn stall_for(&mut self) -> Option<Pin<Box<Sleep>>> {
        if self.faults.max_stall_ms == 0 || !self.rng.chance(self.faults.stall) {
            return None;
        }
        let ms = self.rng.range(1, self.faults.max_stall_ms);
        Some(Box::pin(tokio::time::sleep(Duration::from_millis(ms))))
    }

    /// Pulls from the inner stream into `pending`: once, or (merging) while more is ready.
    fn poll_fill(&mut self, cx: &mut Context<'_>, want: usize) -> Poll<io::Result<()>> {
        let merge = self.rng.chance(self.faults.merge_reads);
        let limit = if merge {
            GATHER_LIMIT
        } else {
            want.clamp(1, GATHER_LIMIT)
        };
        let mut scratch = vec![0u8; limit];
        let mut got_any = false;
        loop {
            let room = limit - (self.pending.len() - self.pending_at);
            if room == 0 || self.inner_eof {
                return Poll::Ready(Ok(()));
            }
            let mut rb = ReadBuf::new(&mut scratch[..room]);
            match Pin::new(&mut self.inner).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) => {
                    if rb.filled().is_empty() {
                        self.inner_eof = true;
                        return Poll::Ready(Ok(()));
                    }
                    if self.pending_at == self.pending.len() {
                        self.pending.clear();
                        self.pending_at = 0;
                    }
                    self.pending.extend_from_slice(rb.filled());
                    got_any = true;
                    if !merge {
                        return Poll::Ready(Ok(()));
                    }
                }
                Poll::Ready(Err(e)) => {
                    // Bytes already gathered are returned first; the error comes on the next read.
                    return if got_any {
                        Poll::Ready(Ok(()))
                    } else {
                        Poll::Ready(Err(e))
                    };
                }
                Poll::Pending if got_any => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for FaultStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        if this.read_stall.is_none() {
            this.read_stall = this.stall_for();
        }
        if let Some(stall) = this.read_stall.as_mut() {
            ready!(stall.as_mut().poll(cx));
            this.read_stall = None;
        }
        let mut allowed = usize::MAX;
        if let Some(cut) = this.faults.cut {
            let left = cut.after_bytes.saturating_sub(this.delivered);
            if left == 0 {
                return match cut.kind {
                    CutKind::Fin => Poll::Ready(Ok(())),
                    CutKind::Rst => {
                        this.reset = true;
                        Poll::Ready(Err(io::Error::from(io::ErrorKind::ConnectionReset)))
                    }
                };
            }
            allowed = usize::try_from(left).unwrap_or(usize::MAX);
        }
        if this.pending_at == this.pending.len() {
            ready!(this.poll_fill(cx, buf.remaining()))?;
        }
        let available = this.pending.len() - this.pending_at;
        if available == 0 {
            // The inner stream ended.
            return Poll::Ready(Ok(()));
        }
        let mut n = available.min(buf.remaining()).min(allowed);
        if n > 1 && this.rng.chance(this.faults.split_read) {
            n = this.rng.range(1, n as u64 - 1) as usize;
        }
        buf.put_slice(&this.pending[this.pending_at..this.pending_at + n]);
        this.pending_at += n;
        this.delivered += n as u64;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for FaultStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.reset {
            return Poll::Ready(Err(io::Error::from(io::ErrorKind::ConnectionReset)));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if this.write_stall.is_none() {
            this.write_stall = this.stall_for();
        }
        if let Some(stall) = this.write_stall.as_mut() {
            ready!(stall.as_mut().poll(cx));
            this.write_stall = None;
        }
        let mut n = buf.len();
        if n > 1 && this.rng.chance(this.faults.short_write) {
            n = this.rng.range(1, n as u64 - 1) as usize;
        }
        Pin::new(&mut this.inner).poll_write(cx, &buf[..n])
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn faults() -> StreamFaults {
        StreamFaults {
            split_read: 0.5,
            merge_reads: 0.5,
            short_write: 0.5,
            stall: 0.2,
            max_stall_ms: 5,
            cut: None,
        }
    }

    async fn pump(
        seed: u64,
        faults: StreamFaults,
        data: Vec<u8>,
    ) -> (io::Result<Vec<u8>>, Vec<usize>) {
        let (a, b) = tokio::io::duplex(1024);
        let mut writer = FaultStream::new(a, faults.clone(), SimRng::new(seed).fork(1));
        let mut reader = FaultStream::new(b, faults, SimRng::new(seed).fork(2));
        let send = data.clone();
        let w = tokio::spawn(async move {
            for piece in send.chunks(700) {
                writer.write_all(piece).await.ok();
            }
            writer.shutdown().await.ok();
        });
        let mut out = Vec::new();
        let mut sizes = Vec::new();
        let mut buf = vec![0u8; 4096];
        let result = loop {
            match reader.read(&mut buf).await {
                Ok(0) => break Ok(out),
                Ok(n) => {
                    sizes.push(n);
                    out.extend_from_slice(&buf[..n]);
                }
                Err(e) => break Err(e),
            }
        };
        w.abort();
        (result, sizes)
    }

    #[tokio::test(start_paused = true)]
    async fn faults_change_the_segmentation_but_never_the_bytes() {
        let data: Vec<u8> = (0..50_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for seed in 0..20 {
            let (got, sizes) = pump(seed, faults(), data.clone()).await;
            assert_eq!(got.expect("no cut"), data, "seed {seed}");
            assert!(
                sizes.iter().any(|n| *n < 700),
                "seed {seed}: some read was split"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_same_seed_gives_the_same_segmentation() {
        let data: Vec<u8> = (0..20_000u32).map(|i| i as u8).collect();
        let (_, a) = pump(42, faults(), data.clone()).await;
        let (_, b) = pump(42, faults(), data.clone()).await;
        let (_, c) = pump(43, faults(), data).await;
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cut_ends_the_stream_exactly_at_its_offset() {
        let data = vec![9u8; 10_000];
        let fin = StreamFaults {
            cut: Some(Cut {
                after_bytes: 1234,
                kind: CutKind::Fin,
            }),
            ..faults()
        };
        let (got, _) = pump(5, fin, data.clone()).await;
        assert_eq!(got.expect("FIN is a clean end").len(), 1234);
        let rst = StreamFaults {
            cut: Some(Cut {
                after_bytes: 77,
                kind: CutKind::Rst,
            }),
            ..faults()
        };
        let (got, _) = pump(5, rst, data).await;
        assert_eq!(
            got.map_err(|e| e.kind()),
            Err(io::ErrorKind::ConnectionReset)
        );
    }
}
