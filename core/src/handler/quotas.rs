//! Per-actor quotas: connections, listeners and buffered bytes.
//!
//! Connections and listeners are counted when a call would add one. Buffered bytes (unread
//! input, and `send`s not yet handed to the transport) are bounded two ways: a `send` or
//! `transfer` that would take the actor past the bound fails, and no new read starts while the
//! actor is at it (a read asks for no more than the room left). Reads already out are not
//! counted: an idle connection waiting for its peer must not hold room that a busy one needs,
//! so the bound can be passed by the reads in flight when it is reached, at most one
//! `max_chunk` per connection, and no read starts until the actor is below it again. A paused
//! connection is remembered in `quota_paused` and tried again after every input, round-robin
//! from the one after the last that resumed.

use super::*;

/// Adds `n` bytes to what `actor` holds.
pub(super) fn charge(account: &mut BTreeMap<ActorId, usize>, actor: &ActorId, n: usize) {
    if n == 0 {
        return;
    }
    match account.get_mut(actor) {
        Some(held) => *held += n,
        None => {
            account.insert(actor.clone(), n);
        }
    }
}

/// Takes `n` off what `actor` holds (forgetting an actor that holds nothing).
pub(super) fn discharge(account: &mut BTreeMap<ActorId, usize>, actor: &ActorId, n: usize) {
    if n == 0 {
        return;
    }
    if let Some(held) = account.get_mut(actor) {
        *held = held.saturating_sub(n);
        if *held == 0 {
            account.remove(actor);
        }
    }
}

/// Takes `n` bytes off what `actor` holds in `buffered`. An actor that holds no bytes keeps
/// its entry, at zero, while it owns a connection (`owned`): on a busy connection every chunk
/// is charged and then released, and forgetting the actor each time would insert its entry
/// again (cloning its name) for the next. [`disown`] forgets it with its last connection.
pub(super) fn release(
    buffered: &mut BTreeMap<ActorId, usize>,
    owned: &BTreeMap<ActorId, usize>,
    actor: &ActorId,
    n: usize,
) {
    if n == 0 {
        return;
    }
    if let Some(held) = buffered.get_mut(actor) {
        *held = held.saturating_sub(n);
        if *held == 0 && !owned.contains_key(actor) {
            buffered.remove(actor);
        }
    }
}

/// How many bytes a new read on a connection of `actor` may ask for (`usize::MAX` without
/// the quota).
pub(super) fn read_room(
    cfg: &Config,
    buffered: &BTreeMap<ActorId, usize>,
    actor: &ActorId,
) -> usize {
    match cfg.max_buffered_bytes_per_actor {
        Some(max) => max.saturating_sub(buffered.get(actor).copied().unwrap_or(0)),
        None => usize::MAX,
    }
}

/// `actor` owns one connection less; with its last one goes its bytes entry if at zero.
pub(super) fn disown(
    owned: &mut BTreeMap<ActorId, usize>,
    buffered: &mut BTreeMap<ActorId, usize>,
    actor: &ActorId,
) {
    discharge(owned, actor, 1);
    if !owned.contains_key(actor) && buffered.get(actor) == Some(&0) {
        buffered.remove(actor);
    }
}

impl Handler {
    /// Connections `actor` holds (every state): what `max_connections_per_actor` bounds.
    pub(super) fn connections_of(&self, actor: &ActorId) -> usize {
        self.owned.get(actor).copied().unwrap_or(0)
    }

    /// Adds a new connection, counted for its owner.
    pub(super) fn insert_conn(&mut self, id: ConnId, conn: Connection) {
        charge(&mut self.owned, &conn.owner, 1);
        if let Some(old) = self.conns.insert(id, conn) {
            // Ids are never reused; were one, the count stays true.
            disown(&mut self.owned, &mut self.buffered, &old.owner);
        }
    }

    /// `actor` may take one more connection.
    pub(super) fn connection_quota(&self, actor: &ActorId) -> Result<(), Error> {
        match self.cfg().max_connections_per_actor {
            Some(max) if self.connections_of(actor) >= max => Err(Error::QuotaExceeded {
                name: "max_connections_per_actor".into(),
                n: self.connections_of(actor),
                max,
            }),
            _ => Ok(()),
        }
    }

    /// `actor` may take one more listener.
    pub(super) fn listener_quota(&self, actor: &ActorId) -> Result<(), Error> {
        let Some(max) = self.cfg().max_listeners_per_actor else {
            return Ok(());
        };
        let n = self
            .listeners
            .values()
            .filter(|l| &l.owner == actor)
            .count();
        if n >= max {
            return Err(Error::QuotaExceeded {
                name: "max_listeners_per_actor".into(),
                n,
                max,
            });
        }
        Ok(())
    }

    /// Bytes the host holds for `actor`: unread input on its connections and its `send`s not
    /// yet handed to the transport, on any connection.
    pub(super) fn buffered_of(&self, actor: &ActorId) -> usize {
        self.buffered.get(actor).copied().unwrap_or(0)
    }

    /// [`buffered_of`](Self::buffered_of) for every actor, summed over the connections: what
    /// the account must equal after every input (checked in debug builds).
    fn buffered_summed(&self) -> BTreeMap<ActorId, usize> {
        let mut sums = BTreeMap::new();
        for conn in self.conns.values() {
            let ConnState::Open(open) = &conn.state else {
                continue;
            };
            charge(&mut sums, &conn.owner, open.rx.len());
            for send in &open.sends {
                charge(&mut sums, &send.actor, send.left());
            }
        }
        sums
    }

    /// Panics (in debug builds) when the per-actor accounts differ from what they count.
    pub(super) fn check_accounts(&self) {
        if cfg!(debug_assertions) {
            let held: BTreeMap<ActorId, usize> = self
                .buffered
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(actor, n)| (actor.clone(), *n))
                .collect();
            assert_eq!(
                held,
                self.buffered_summed(),
                "the per-actor account of buffered bytes drifted from the connections"
            );
            assert!(
                self.buffered
                    .iter()
                    .all(|(actor, n)| *n > 0 || self.owned.contains_key(actor)),
                "an actor's bytes entry at zero outlived its last connection"
            );
            let mut owned = BTreeMap::new();
            for conn in self.conns.values() {
                charge(&mut owned, &conn.owner, 1);
            }
            assert_eq!(
                self.owned, owned,
                "the per-actor count of connections drifted from the connections"
            );
        }
    }

    /// `actor` may hold `more` bytes on top of what it holds.
    pub(super) fn buffered_quota(&self, actor: &ActorId, more: usize) -> Result<(), Error> {
        let Some(max) = self.cfg().max_buffered_bytes_per_actor else {
            return Ok(());
        };
        let n = self.buffered_of(actor).saturating_add(more);
        if n > max {
            return Err(Error::QuotaExceeded {
                name: "max_buffered_bytes_per_actor".into(),
                n,
                max,
            });
        }
        Ok(())
    }

    /// Tries again the reads paused by the buffered-bytes quota. Called at the end of every
    /// input; costs nothing while no read is paused.
    pub(super) fn resume_paused_reads(&mut self) {
        self.check_accounts();
        if self.quota_paused.is_empty() {
            return;
        }
        let paused = std::mem::take(&mut self.quota_paused);
        let after = self.quota_cursor;
        let (later, earlier): (Vec<ConnId>, Vec<ConnId>) =
            paused.into_iter().partition(|id| *id > after);
        for id in later.into_iter().chain(earlier) {
            self.update_reading(id);
            if !self.quota_paused.contains(&id) {
                self.quota_cursor = id;
            }
        }
    }
}
