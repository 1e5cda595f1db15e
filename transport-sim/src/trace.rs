//! The trace of a run: every input the core saw and every output it gave, with the core time,
//! and a stable 64-bit hash of it.
//!
//! The hash is FNV-1a 64 taken over 64-bit words of a fixed binary encoding of each record
//! (every integer one word; strings and bytes their length, then their bytes eight to a
//! little-endian word; enum variants their index: see `trace_hash.rs`). It is stable across
//! Rust releases and machines (unlike `DefaultHasher`), and computed as records stream in,
//! without keeping them or formatting them as text.

pub use crate::trace_hash::Fnv64;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use theater_tcp_core::{Input, Instant, Output, Transition};
use theater_tcp_tokio::Observed;

/// One step of the core.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TraceEvent {
    /// An input fed to the core.
    Input(Input),
    /// An output drained from it.
    Output(Output),
    /// A lifecycle transition the last input caused (recorded before that input's outputs).
    Transition(Transition),
    /// The server host's software (re)started: a fresh driver and core from here on.
    DriverStarted {
        /// How many drivers started before this one in the run.
        generation: u64,
    },
}

/// A step of the core at a core time (nanoseconds since its driver started).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceRecord {
    /// When.
    pub at: Instant,
    /// What.
    pub event: TraceEvent,
}

/// Collects a run's trace: always its hash and length, and the records themselves when asked
/// (for printing a failing run).
#[derive(Debug, Default)]
pub struct Recorder {
    hash: Fnv64,
    len: u64,
    keep: bool,
    records: Vec<TraceRecord>,
}

impl Recorder {
    /// A recorder that keeps its records when `keep`.
    pub fn new(keep: bool) -> Recorder {
        Recorder {
            keep,
            ..Recorder::default()
        }
    }

    /// Adds one record.
    pub fn record(&mut self, record: TraceRecord) {
        self.hash_record(&record);
        if self.keep {
            self.records.push(record);
        }
    }

    /// Adds one record without keeping it.
    pub fn hash_record(&mut self, record: &TraceRecord) {
        crate::trace_hash::hash_value(&mut self.hash, record);
        self.len += 1;
    }

    /// Whether records are kept.
    pub fn keeps(&self) -> bool {
        self.keep
    }

    /// The trace hash so far.
    pub fn hash(&self) -> u64 {
        self.hash.finish()
    }

    /// Records so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The kept records (empty unless created with `keep`).
    pub fn records(&self) -> &[TraceRecord] {
        &self.records
    }

    /// Takes the kept records.
    pub fn take_records(&mut self) -> Vec<TraceRecord> {
        std::mem::take(&mut self.records)
    }
}

/// A recorder shared with a driver's observer.
#[derive(Debug, Clone, Default)]
pub struct SharedRecorder(Arc<Mutex<Recorder>>);

impl SharedRecorder {
    /// A shared recorder that keeps its records when `keep`.
    pub fn new(keep: bool) -> SharedRecorder {
        SharedRecorder(Arc::new(Mutex::new(Recorder::new(keep))))
    }

    /// Runs `f` on the recorder.
    pub fn with<T>(&self, f: impl FnOnce(&mut Recorder) -> T) -> T {
        // The recorder holds plain data; a panic elsewhere cannot leave it half-updated.
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// An observer for `DriverOptions::observer` that records into this recorder.
    pub fn observer(&self) -> Box<dyn FnMut(Observed<'_>) + Send> {
        let recorder = self.clone();
        Box::new(move |observed| {
            recorder.with(|r| {
                // The same encoding as a `TraceRecord`, without cloning unless it is kept.
                let (at, event) = match observed {
                    Observed::Input(at, input) => (at, BorrowedEvent::Input(input)),
                    Observed::Output(at, output) => (at, BorrowedEvent::Output(output)),
                    Observed::Transition(at, t) => (at, BorrowedEvent::Transition(t)),
                };
                crate::trace_hash::hash_value(&mut r.hash, &BorrowedRecord { at, event });
                r.len += 1;
                if r.keep {
                    let event = match event {
                        BorrowedEvent::Input(i) => TraceEvent::Input(i.clone()),
                        BorrowedEvent::Output(o) => TraceEvent::Output(o.clone()),
                        BorrowedEvent::Transition(t) => TraceEvent::Transition(t.clone()),
                    };
                    r.records.push(TraceRecord { at, event });
                }
            });
        })
    }
}

/// [`TraceRecord`] by reference; serializes exactly as it does.
#[derive(Serialize)]
#[serde(rename = "TraceRecord")]
struct BorrowedRecord<'a> {
    at: Instant,
    event: BorrowedEvent<'a>,
}

/// [`TraceEvent`] by reference (same variant order, so the same encoding).
#[derive(Serialize, Clone, Copy)]
#[serde(rename = "TraceEvent")]
enum BorrowedEvent<'a> {
    Input(&'a Input),
    Output(&'a Output),
    Transition(&'a Transition),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_its_reference_values() {
        let mut h = Fnv64::default();
        assert_eq!(h.finish(), 0xcbf2_9ce4_8422_2325);
        h.update(b"a");
        assert_eq!(h.finish(), 0xaf63_dc4c_8601_ec8c);
        let mut h = Fnv64::default();
        h.update(b"foobar");
        assert_eq!(h.finish(), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn the_hash_depends_on_every_record_and_their_order() {
        let a = TraceRecord {
            at: Instant::from_nanos(1),
            event: TraceEvent::Input(Input::Timeout),
        };
        let b = TraceRecord {
            at: Instant::from_nanos(2),
            event: TraceEvent::Input(Input::Timeout),
        };
        let hash = |records: &[&TraceRecord]| {
            let mut r = Recorder::new(false);
            for rec in records {
                r.record((*rec).clone());
            }
            r.hash()
        };
        assert_eq!(hash(&[&a, &b]), hash(&[&a, &b]));
        assert_ne!(hash(&[&a, &b]), hash(&[&b, &a]));
        assert_ne!(hash(&[&a]), hash(&[&a, &b]));
    }

    #[test]
    fn a_borrowed_record_hashes_as_the_owned_one() {
        let input = Input::Timeout;
        let owned = TraceRecord {
            at: Instant::from_nanos(5),
            event: TraceEvent::Input(input.clone()),
        };
        let mut a = Fnv64::default();
        crate::trace_hash::hash_value(&mut a, &owned);
        let mut b = Fnv64::default();
        let borrowed = BorrowedRecord {
            at: Instant::from_nanos(5),
            event: BorrowedEvent::Input(&input),
        };
        crate::trace_hash::hash_value(&mut b, &borrowed);
        assert_eq!(a, b);
    }
}
