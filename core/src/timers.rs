//! Deadlines of every object, ordered, so the next one is found in O(log n).

use crate::ids::{ConnId, ListenerId};
use crate::time::Instant;
use std::collections::{BTreeMap, BTreeSet};

/// What a deadline is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TimerKey {
    /// Resolution plus TCP connect of an outbound connection.
    Connect(ConnId),
    /// A TLS handshake (implicit or upgrade).
    Handshake(ConnId),
    /// A `send` that makes no progress.
    Send(ConnId),
    /// A connection left pending.
    Pending(ConnId),
    /// A `receive-timeout`.
    Receive(ConnId),
    /// A gracefully closed connection draining input.
    Linger(ConnId),
    /// Accept back-off after an accept error.
    AcceptBackoff(ListenerId),
}

#[derive(Debug, Default)]
pub(crate) struct Timers {
    by_key: BTreeMap<TimerKey, Instant>,
    by_time: BTreeSet<(Instant, TimerKey)>,
}

impl Timers {
    /// Arms (`Some`) or disarms (`None`) a deadline, replacing any earlier one for `key`.
    pub(crate) fn set(&mut self, key: TimerKey, at: Option<Instant>) {
        if let Some(old) = self.by_key.remove(&key) {
            self.by_time.remove(&(old, key));
        }
        if let Some(at) = at {
            self.by_key.insert(key, at);
            self.by_time.insert((at, key));
        }
    }

    pub(crate) fn clear_connection(&mut self, id: ConnId) {
        for key in [
            TimerKey::Connect(id),
            TimerKey::Handshake(id),
            TimerKey::Send(id),
            TimerKey::Pending(id),
            TimerKey::Receive(id),
            TimerKey::Linger(id),
        ] {
            self.set(key, None);
        }
    }

    pub(crate) fn next(&self) -> Option<Instant> {
        self.by_time.first().map(|(at, _)| *at)
    }

    /// Removes and returns one deadline that is due at `now`, earliest first.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<TimerKey> {
        let (at, key) = *self.by_time.first()?;
        if at > now {
            return None;
        }
        self.by_time.remove(&(at, key));
        self.by_key.remove(&key);
        Some(key)
    }

    pub(crate) fn len(&self) -> usize {
        self.by_key.len()
    }
}
