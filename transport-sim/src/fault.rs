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
//!
//! Every fault that takes effect is counted in the stream's [`FaultCounters`] (shared by every
//! stream of a [`SimNetwork`](crate::net::SimNetwork), which adds its accept and connect
//! faults), so a run can tell which faults really fired, not only which the plan switched on.
//! Counting draws nothing from the generator: it never changes what a seed does.

use crate::rng::SimRng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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

/// A fault that takes effect on one operation or connection, as counted by [`FaultCounters`].
/// Its [name](FaultKind::name) is stable: reports and tests use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// A read returned fewer bytes than were buffered and fitted the reader's buffer.
    SplitRead,
    /// A read gathered two or more segments of the inner stream before returning.
    MergeReads,
    /// A write passed only a prefix of its buffer to the inner stream, which took it.
    ShortWrite,
    /// A read or write direction started a stall.
    Stall,
    /// The incoming stream was ended with FIN at its cut offset (once per stream).
    CutFin,
    /// The incoming stream was ended with RST at its cut offset (once per stream).
    CutRst,
    /// An accepted connection was held back, as by a full accept queue.
    AcceptDelay,
    /// An outbound connect was refused by the plan.
    ConnectRefuse,
    /// An outbound connect was made to hang by the plan (its SYNs lost).
    ConnectHang,
}

impl FaultKind {
    /// Every kind, in report order.
    pub const ALL: [FaultKind; 9] = [
        FaultKind::SplitRead,
        FaultKind::MergeReads,
        FaultKind::ShortWrite,
        FaultKind::Stall,
        FaultKind::CutFin,
        FaultKind::CutRst,
        FaultKind::AcceptDelay,
        FaultKind::ConnectRefuse,
        FaultKind::ConnectHang,
    ];

    /// The stable name reports use (the serde name too).
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::SplitRead => "split-read",
            FaultKind::MergeReads => "merge-reads",
            FaultKind::ShortWrite => "short-write",
            FaultKind::Stall => "stall",
            FaultKind::CutFin => "cut-fin",
            FaultKind::CutRst => "cut-rst",
            FaultKind::AcceptDelay => "accept-delay",
            FaultKind::ConnectRefuse => "connect-refuse",
            FaultKind::ConnectHang => "connect-hang",
        }
    }
}

impl std::fmt::Display for FaultKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How often each [`FaultKind`] fired; cheap to clone, every clone counts into the same
/// numbers.
#[derive(Debug, Clone, Default)]
pub struct FaultCounters(Arc<[AtomicU64; FaultKind::ALL.len()]>);

impl FaultCounters {
    /// Counters at zero.
    pub fn new() -> FaultCounters {
        FaultCounters::default()
    }

    /// Counts one firing of `kind`.
    pub fn add(&self, kind: FaultKind) {
        self.0[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// How often `kind` fired so far.
    pub fn get(&self, kind: FaultKind) -> u64 {
        self.0[kind as usize].load(Ordering::Relaxed)
    }

    /// The counts now.
    pub fn snapshot(&self) -> FaultCounts {
        FaultCounts(
            FaultKind::ALL
                .into_iter()
                .map(|kind| (kind, self.get(kind)))
                .filter(|(_, n)| *n > 0)
                .collect(),
        )
    }
}

/// A snapshot of [`FaultCounters`]: the kinds that fired, with how often (kinds that never
/// fired are absent). Serializes as a map from [`FaultKind::name`] to the count.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultCounts(BTreeMap<FaultKind, u64>);

impl FaultCounts {
    /// How often `kind` fired.
    pub fn get(&self, kind: FaultKind) -> u64 {
        self.0.get(&kind).copied().unwrap_or(0)
    }

    /// Whether nothing fired.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The kinds that fired, with how often, in [`FaultKind::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (FaultKind, u64)> + '_ {
        self.0.iter().map(|(kind, n)| (*kind, *n))
    }
}

/// Whether the faults of a run still fire: on until [`turn_off`](Self::turn_off) (the plan's
/// [`NetEvent::Heal`](crate::plan::NetEvent::Heal)); cheap to clone, every clone is the same
/// switch. Checked before each draw, so a switch never turned off changes no draw of a seed.
#[derive(Debug, Clone, Default)]
pub struct FaultSwitch(Arc<AtomicBool>);

impl FaultSwitch {
    /// A switch that is on.
    pub fn new() -> FaultSwitch {
        FaultSwitch::default()
    }

    /// Stops every fault from here on, for good.
    pub fn turn_off(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether faults still fire.
    pub fn is_on(&self) -> bool {
        !self.0.load(Ordering::Relaxed)
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
    /// The cut took effect (it is counted once).
    cut_applied: bool,
    counters: FaultCounters,
    switch: FaultSwitch,
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
    /// Wraps `inner` with `faults`, drawing every choice from `rng`, counting into counters of
    /// its own ([`counters`](Self::counters)).
    pub fn new(inner: S, faults: StreamFaults, rng: SimRng) -> Self {
        FaultStream::with_counters(inner, faults, rng, FaultCounters::new())
    }

    /// As [`new`](Self::new), counting every fault that fires into `counters`.
    pub fn with_counters(
        inner: S,
        faults: StreamFaults,
        rng: SimRng,
        counters: FaultCounters,
    ) -> Self {
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
            cut_applied: false,
            counters,
            switch: FaultSwitch::new(),
        }
    }

    /// Stops drawing faults once `switch` is turned off (a cut already applied stays).
    pub fn with_switch(mut self, switch: FaultSwitch) -> Self {
        self.switch = switch;
        self
    }

    /// Where this stream counts the faults that fire.
    pub fn counters(&self) -> &FaultCounters {
        &self.counters
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
        if self.faults.max_stall_ms == 0
            || !self.switch.is_on()
            || !self.rng.chance(self.faults.stall)
        {
            return None;
        }
        let ms = self.rng.range(1, self.faults.max_stall_ms);
        self.counters.add(FaultKind::Stall);
        Some(Box::pin(tokio::time::sleep(Duration::from_millis(ms))))
    }

    /// Pulls from the inner stream into `pending`: once, or (merging) while more is ready.
    fn poll_fill(&mut self, cx: &mut Context<'_>, want: usize) -> Poll<io::Result<()>> {
        let merge = self.switch.is_on() && self.rng.chance(self.faults.merge_reads);
        let limit = if merge {
            GATHER_LIMIT
        } else {
            want.clamp(1, GATHER_LIMIT)
        };
        let mut scratch = vec![0u8; limit];
        let mut pulls = 0u32;
        // Two or more segments gathered into one fill: the merge took effect.
        let merged = |this: &Self, pulls: u32| {
            if pulls > 1 {
                this.counters.add(FaultKind::MergeReads);
            }
        };
        loop {
            let room = limit - (self.pending.len() - self.pending_at);
            if room == 0 || self.inner_eof {
                merged(self, pulls);
                return Poll::Ready(Ok(()));
            }
            let mut rb = ReadBuf::new(&mut scratch[..room]);
            match Pin::new(&mut self.inner).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) => {
                    if rb.filled().is_empty() {
                        self.inner_eof = true;
                        merged(self, pulls);
                        return Poll::Ready(Ok(()));
                    }
                    if self.pending_at == self.pending.len() {
                        self.pending.clear();
                        self.pending_at = 0;
                    }
                    self.pending.extend_from_slice(rb.filled());
                    pulls += 1;
                    if !merge {
                        return Poll::Ready(Ok(()));
                    }
                }
                Poll::Ready(Err(e)) => {
                    // Bytes already gathered are returned first; the error comes on the next read.
                    merged(self, pulls);
                    return if pulls > 0 {
                        Poll::Ready(Ok(()))
                    } else {
                        Poll::Ready(Err(e))
                    };
                }
                Poll::Pending if pulls > 0 => {
                    merged(self, pulls);
                    return Poll::Ready(Ok(()));
                }
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
        let cut = this
            .faults
            .cut
            .filter(|_| this.cut_applied || this.switch.is_on());
        if let Some(cut) = cut {
            let left = cut.after_bytes.saturating_sub(this.delivered);
            if left == 0 {
                if !this.cut_applied {
                    this.cut_applied = true;
                    this.counters.add(match cut.kind {
                        CutKind::Fin => FaultKind::CutFin,
                        CutKind::Rst => FaultKind::CutRst,
                    });
                }
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
        if n > 1 && this.switch.is_on() && this.rng.chance(this.faults.split_read) {
            n = this.rng.range(1, n as u64 - 1) as usize;
            this.counters.add(FaultKind::SplitRead);
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
        let short = n > 1 && this.switch.is_on() && this.rng.chance(this.faults.short_write);
        if short {
            n = this.rng.range(1, n as u64 - 1) as usize;
        }
        let written = Pin::new(&mut this.inner).poll_write(cx, &buf[..n]);
        // Shortened only if the inner stream took the prefix (a pending write wrote nothing).
        if short && matches!(written, Poll::Ready(Ok(_))) {
            this.counters.add(FaultKind::ShortWrite);
        }
        written
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

    /// An inner stream whose reads return one queued segment each (all ready at once, then end
    /// of stream) and whose writes take everything, noting each write's length.
    #[derive(Default)]
    struct Segments {
        reads: std::collections::VecDeque<Vec<u8>>,
        writes: Vec<usize>,
    }

    impl Segments {
        fn of(count: usize, len: usize) -> Segments {
            Segments {
                reads: (0..count).map(|i| vec![i as u8; len]).collect(),
                writes: Vec::new(),
            }
        }
    }

    impl AsyncRead for Segments {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            if let Some(mut segment) = self.reads.pop_front() {
                let n = segment.len().min(buf.remaining());
                buf.put_slice(&segment[..n]);
                if n < segment.len() {
                    segment.drain(..n);
                    self.reads.push_front(segment);
                }
            }
            Poll::Ready(Ok(()))
        }
    }

    impl AsyncWrite for Segments {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.writes.push(buf.len());
            Poll::Ready(Ok(buf.len()))
        }

        fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    const SEGMENTS: usize = 8;
    const SEGMENT: usize = 100;

    /// Reads `stream` to its end (or error), then reads twice more; returns the number of reads
    /// that returned bytes, the bytes, and the error that ended it, if any.
    async fn drain(stream: &mut FaultStream<Segments>) -> (usize, Vec<u8>, Option<io::ErrorKind>) {
        let mut buf = vec![0u8; 4096];
        let (mut reads, mut got, mut error) = (0, Vec::new(), None);
        loop {
            match stream.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => {
                    reads += 1;
                    got.extend_from_slice(&buf[..n]);
                }
                Err(e) => {
                    error = Some(e.kind());
                    break;
                }
            }
        }
        // Reads after the end: a cut stays applied, it is not applied again.
        for _ in 0..2 {
            let _ = stream.read(&mut buf).await;
        }
        (reads, got, error)
    }

    fn only(counts: &FaultCounts, kind: FaultKind) -> u64 {
        for other in FaultKind::ALL {
            if other != kind {
                assert_eq!(counts.get(other), 0, "{other} counted, testing {kind}");
            }
        }
        counts.get(kind)
    }

    fn stream(faults: StreamFaults) -> FaultStream<Segments> {
        FaultStream::new(Segments::of(SEGMENTS, SEGMENT), faults, SimRng::new(9))
    }

    #[tokio::test(start_paused = true)]
    async fn every_split_read_is_counted() {
        let mut s = stream(StreamFaults {
            split_read: 1.0,
            ..StreamFaults::none()
        });
        let (reads, got, _) = drain(&mut s).await;
        assert_eq!(got.len(), SEGMENTS * SEGMENT);
        // Every read splits, except each segment's last byte, which cannot be split.
        assert_eq!(
            only(&s.counters().snapshot(), FaultKind::SplitRead),
            (reads - SEGMENTS) as u64
        );
        assert!(reads > 2 * SEGMENTS);
    }

    #[tokio::test(start_paused = true)]
    async fn a_merge_is_counted_when_a_read_gathers_two_segments_or_more() {
        let mut s = stream(StreamFaults {
            merge_reads: 1.0,
            ..StreamFaults::none()
        });
        let (reads, got, _) = drain(&mut s).await;
        // One fill gathered every segment, then the end of the stream: one merge.
        assert_eq!(got.len(), SEGMENTS * SEGMENT);
        assert_eq!(reads, 1);
        assert_eq!(only(&s.counters().snapshot(), FaultKind::MergeReads), 1);
        // A merge that finds one segment only merges nothing.
        let mut single = FaultStream::new(
            Segments::of(1, SEGMENT),
            StreamFaults {
                merge_reads: 1.0,
                ..StreamFaults::none()
            },
            SimRng::new(9),
        );
        drain(&mut single).await;
        assert!(single.counters().snapshot().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn every_short_write_is_counted() {
        let mut s = stream(StreamFaults {
            short_write: 1.0,
            ..StreamFaults::none()
        });
        s.write_all(&[7; 1000]).await.expect("write");
        let writes = s.inner().writes.clone();
        assert_eq!(writes.iter().sum::<usize>(), 1000);
        // Every write is short but the last, of one byte, which cannot be shortened.
        assert_eq!(writes.last(), Some(&1));
        assert_eq!(
            only(&s.counters().snapshot(), FaultKind::ShortWrite),
            (writes.len() - 1) as u64
        );
    }

    #[tokio::test(start_paused = true)]
    async fn every_stall_is_counted() {
        let mut s = stream(StreamFaults {
            stall: 1.0,
            max_stall_ms: 5,
            ..StreamFaults::none()
        });
        let started = tokio::time::Instant::now();
        let (reads, _, _) = drain(&mut s).await;
        s.write_all(&[1; 10]).await.expect("write");
        assert!(started.elapsed() >= Duration::from_millis(1));
        // A stall before every read (those with bytes, the end, two after it) and the write.
        assert_eq!(
            only(&s.counters().snapshot(), FaultKind::Stall),
            (reads + 3 + 1) as u64
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_cut_is_counted_once_by_its_kind() {
        for (kind, counted, error) in [
            (CutKind::Fin, FaultKind::CutFin, None),
            (
                CutKind::Rst,
                FaultKind::CutRst,
                Some(io::ErrorKind::ConnectionReset),
            ),
        ] {
            let mut s = stream(StreamFaults {
                cut: Some(Cut {
                    after_bytes: 150,
                    kind,
                }),
                ..StreamFaults::none()
            });
            let (_, got, ended) = drain(&mut s).await;
            assert_eq!((got.len(), ended), (150, error));
            assert_eq!(only(&s.counters().snapshot(), counted), 1, "{kind:?}");
        }
        // A cut beyond the end of the stream never takes effect.
        let mut s = stream(StreamFaults {
            cut: Some(Cut {
                after_bytes: 10_000,
                kind: CutKind::Rst,
            }),
            ..StreamFaults::none()
        });
        let (_, got, ended) = drain(&mut s).await;
        assert_eq!((got.len(), ended), (SEGMENTS * SEGMENT, None));
        assert!(s.counters().snapshot().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn no_faults_count_nothing_and_streams_share_their_counters() {
        let mut s = stream(StreamFaults::none());
        drain(&mut s).await;
        s.write_all(&[1; 1000]).await.expect("write");
        assert!(s.counters().snapshot().is_empty());
        assert_eq!(s.inner().writes, vec![1000]);
        // Two streams counting into the same counters.
        let shared = FaultCounters::new();
        let faults = StreamFaults {
            split_read: 1.0,
            ..StreamFaults::none()
        };
        for seed in 0..2 {
            let mut s = FaultStream::with_counters(
                Segments::of(SEGMENTS, SEGMENT),
                faults.clone(),
                SimRng::new(seed),
                shared.clone(),
            );
            drain(&mut s).await;
        }
        assert!(shared.get(FaultKind::SplitRead) > 2 * SEGMENTS as u64);
        assert_eq!(
            shared.snapshot().iter().collect::<Vec<_>>(),
            vec![(FaultKind::SplitRead, shared.get(FaultKind::SplitRead))]
        );
    }

    #[test]
    fn fault_kinds_have_stable_names_in_order() {
        let names: Vec<&str> = FaultKind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(
            names,
            [
                "split-read",
                "merge-reads",
                "short-write",
                "stall",
                "cut-fin",
                "cut-rst",
                "accept-delay",
                "connect-refuse",
                "connect-hang"
            ]
        );
        for (i, kind) in FaultKind::ALL.into_iter().enumerate() {
            assert_eq!(kind as usize, i);
            assert_eq!(
                serde_json::to_string(&kind).expect("json"),
                format!("\"{}\"", kind.name())
            );
        }
        let counters = FaultCounters::new();
        counters.add(FaultKind::CutRst);
        counters.add(FaultKind::CutRst);
        assert_eq!(
            serde_json::to_string(&counters.snapshot()).expect("json"),
            r#"{"cut-rst":2}"#
        );
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
