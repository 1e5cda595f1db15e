//! Oracles: the properties a scenario checks, as small reusable functions that return what
//! went wrong as text.
//!
//! - **Streams**: [`exact_stream`] (every byte sent arrives, once, in order: byte-exact) and,
//!   where faults may end a stream early, [`prefix_stream`] (what arrived is a prefix of what
//!   was sent: nothing duplicated, reordered or corrupted; only a tail may be missing).
//! - **Close notices**: [`CloseLog`] counts `on-close` per connection and any `on-data` after
//!   it ([`CloseLog::exactly_once`], or [`CloseLog::at_most_once`] under lossy faults).
//! - **Leaks**: [`no_leaks`] waits (in simulated time) until the driver's census is all zero
//!   and the transport holds no connection, after every actor stopped.
//! - **Deadlines**: [`within`] checks that a timeout fired neither early nor late.
//!
//! Liveness (the scenario ends before the simulated time limit) and determinism (two runs, one
//! trace hash; the recorded core inputs replay to the recorded outputs) are checked by the
//! runner ([`crate::run`]), not by scenario bodies.

use std::time::Duration;
use theater_tcp_core::Census;
use theater_tcp_sim::SimContext;
use theater_tcp_sim::plan::NetEvent;
use theater_tcp_test_support::Pattern;

/// `got` must be the whole of stream `seed` (of [`Pattern`]) as `sent` bytes long: every byte
/// arrived exactly once, in order.
pub fn exact_stream(what: &str, seed: u64, got: &[u8], sent: usize) -> Result<(), String> {
    prefix_stream(what, seed, got, sent)?;
    if got.len() != sent {
        return Err(format!(
            "{what}: {} of {sent} bytes arrived (bytes lost)",
            got.len()
        ));
    }
    Ok(())
}

/// The weaker property under faults that end streams early: `got` is a prefix of the `sent`
/// bytes of stream `seed` (no byte duplicated, reordered or changed; a missing tail is allowed).
pub fn prefix_stream(what: &str, seed: u64, got: &[u8], sent: usize) -> Result<(), String> {
    if got.len() > sent {
        return Err(format!(
            "{what}: {} bytes arrived but only {sent} were sent (duplicated bytes)",
            got.len()
        ));
    }
    Pattern::new(seed)
        .check(got)
        .map_err(|e| format!("{what}: not a prefix of the sent stream: {e}"))
}

/// The bytes of stream `seed` from its start.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut bytes = vec![0; len];
    Pattern::new(seed).fill(&mut bytes);
    bytes
}

/// What one connection's owner saw of data and close notices, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CloseLog {
    closes: Vec<String>,
    data_after_close: usize,
}

impl CloseLog {
    /// An `on-data` of `len` bytes arrived.
    pub fn data(&mut self, len: usize) {
        if !self.closes.is_empty() {
            self.data_after_close += len;
        }
    }

    /// An `on-close(reason)` arrived.
    pub fn close(&mut self, reason: &str) {
        self.closes.push(reason.to_owned());
    }

    /// The close notices so far.
    pub fn closes(&self) -> &[String] {
        &self.closes
    }

    /// Exactly one `on-close`, with a reason accepted by `allowed`, and no data after it.
    pub fn exactly_once(&self, what: &str, allowed: impl Fn(&str) -> bool) -> Result<(), String> {
        self.at_most_once(what)?;
        match self.closes.first() {
            None => Err(format!("{what}: no on-close")),
            Some(reason) if !allowed(reason) => Err(format!(
                "{what}: on-close with unexpected reason {reason:?}"
            )),
            Some(_) => Ok(()),
        }
    }

    /// The weaker property where an actor may close first (and so get no notice): never two
    /// `on-close`, never `on-data` after one.
    pub fn at_most_once(&self, what: &str) -> Result<(), String> {
        if self.closes.len() > 1 {
            return Err(format!(
                "{what}: on-close delivered {} times: {:?}",
                self.closes.len(),
                self.closes
            ));
        }
        if self.data_after_close > 0 {
            return Err(format!(
                "{what}: {} bytes of on-data after on-close",
                self.data_after_close
            ));
        }
        Ok(())
    }
}

/// Waits, up to `limit` of simulated time, until the driver holds nothing: every count of its
/// census is zero (actors, listeners, connections, closing, callbacks, timers, resolutions) and
/// the transport holds no connection. Call it after every actor of the scenario stopped.
///
/// Refuses plans that crash the server: a stopped driver reports an empty census, which would
/// make this check pass without checking anything.
pub async fn no_leaks(ctx: &SimContext, limit: Duration) -> Result<(), String> {
    if ctx
        .plan
        .events
        .iter()
        .any(|e| e.event == NetEvent::CrashServer)
    {
        return Err("no_leaks cannot check a driver that the fault plan crashes".into());
    }
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let stats = ctx.driver.stats().await;
        if stats.census == Census::default() && stats.connections.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "leak: {limit:?} after every actor stopped the driver still holds {:?}, \
                 transport connections {:?}",
                stats.census,
                stats.connections.keys().collect::<Vec<_>>()
            ));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A timeout of `configured` must fire after at least `earliest_elapsed` (measured from a point
/// no later than when its timer started) and at most `latest_elapsed` (measured from a point
/// no earlier than that), with `slack` for latency and faults.
pub fn within(
    what: &str,
    configured: Duration,
    earliest_elapsed: Duration,
    latest_elapsed: Duration,
    slack: Duration,
) -> Result<(), String> {
    if earliest_elapsed < configured {
        return Err(format!(
            "{what}: fired after {earliest_elapsed:?}, before its {configured:?}"
        ));
    }
    if latest_elapsed > configured + slack {
        return Err(format!(
            "{what}: fired {latest_elapsed:?} after its timer started, later than {configured:?} + {slack:?}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_with_a_changed_duplicated_or_lost_byte_fails() {
        let sent = pattern(3, 100);
        assert!(exact_stream("s", 3, &sent, 100).is_ok());
        assert!(prefix_stream("s", 3, &sent[..40], 100).is_ok());
        let err = exact_stream("s", 3, &sent[..40], 100).unwrap_err();
        assert!(err.contains("40 of 100"), "{err}");
        let mut changed = sent.clone();
        changed[17] ^= 1;
        let err = prefix_stream("s", 3, &changed, 100).unwrap_err();
        assert!(err.contains("byte 17"), "{err}");
        let mut dup = sent[..50].to_vec();
        dup.insert(20, sent[20]);
        assert!(prefix_stream("s", 3, &dup, 100).is_err());
        let mut long = sent.clone();
        long.push(0);
        assert!(prefix_stream("s", 3, &long, 100).is_err());
    }

    #[test]
    fn two_close_notices_or_data_after_one_fail() {
        let mut log = CloseLog::default();
        log.data(5);
        assert!(log.exactly_once("c", |_| true).is_err());
        assert!(log.at_most_once("c").is_ok());
        log.close("eof");
        assert!(log.exactly_once("c", |r| r == "eof").is_ok());
        assert!(log.exactly_once("c", |r| r == "reset").is_err());
        let mut late = log.clone();
        late.data(1);
        assert!(late.at_most_once("c").is_err());
        log.close("eof");
        assert!(log.at_most_once("c").is_err());
    }

    #[test]
    fn a_timeout_must_fire_neither_early_nor_late() {
        let ms = Duration::from_millis;
        assert!(within("t", ms(100), ms(100), ms(150), ms(100)).is_ok());
        assert!(within("t", ms(100), ms(99), ms(99), ms(100)).is_err());
        assert!(within("t", ms(100), ms(300), ms(300), ms(100)).is_err());
    }
}
