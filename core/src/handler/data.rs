//! The data path of open connections: sends, receives, reads from the transport, push
//! delivery with `on-data`, and the end of stream.

use super::*;

impl Handler {
    pub(super) fn on_read_cancelled(&mut self, now: Instant, connection: ConnId) {
        if let Some(open) = open_mut(&mut self.conns, connection)
            && open.read.request() == ReadRequest::Cancelling
        {
            let idle = open.read.with_request(ReadRequest::Idle);
            self.fx.set_read(connection, &mut open.read, idle);
            self.settle(now, connection);
        }
    }

    pub(super) fn on_wrote(&mut self, now: Instant, connection: ConnId, bytes: usize) {
        if let Some(open) = open_mut(&mut self.conns, connection) {
            open.in_transport = open.in_transport.saturating_sub(bytes);
            open.writes_asked = false;
            open.last_write_progress = now;
            self.settle(now, connection);
        }
    }

    pub(super) fn send(
        &mut self,
        now: Instant,
        actor: &ActorId,
        call: CallId,
        text: &str,
        data: Vec<u8>,
    ) -> Result<Option<Reply>, Error> {
        let max_send = self.cfg().max_send_bytes;
        let (id, open) = self.own_open(actor, text)?;
        open.fail_if_gone(text)?;
        if open.write != WriteSide::Open {
            return Err(Error::WriteShut(text.to_owned()));
        }
        if data.len() > max_send {
            return Err(Error::SendTooLarge {
                len: data.len(),
                max: max_send,
            });
        }
        if data.is_empty() {
            return Ok(Some(Reply::Sent(0)));
        }
        self.buffered_quota(actor, data.len())?;
        // Checked above: the connection is `actor`'s and open.
        let Some(open) = open_mut(&mut self.conns, id) else {
            return Err(Error::ConnectionNotFound(text.to_owned()));
        };
        if open.sends.is_empty() {
            // The send timeout measures stalls from the moment someone waits.
            open.last_write_progress = now;
        }
        let len = data.len();
        open.sends.push_back(PendingSend {
            actor: actor.clone(),
            call,
            data,
            offset: 0,
        });
        quotas::charge(&mut self.buffered, actor, len);
        self.settle(now, id);
        Ok(None)
    }

    pub(super) fn receive(
        &mut self,
        now: Instant,
        actor: &ActorId,
        call: CallId,
        text: &str,
        max: u32,
        timeout: Option<Duration>,
    ) -> Result<Option<Reply>, Error> {
        let (id, open) = self.own_open(actor, text)?;
        if max == 0 {
            return Err(Error::MaxBytesZero);
        }
        if open.mode.pushes() {
            return Err(Error::ActiveMode(text.to_owned()));
        }
        if open.receive.is_some() {
            return Err(Error::ReceiveInProgress(text.to_owned()));
        }
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        if !open.rx.is_empty() {
            let data = open.rx.take(max);
            quotas::release(&mut self.buffered, &self.owned, actor, data.len());
            return Ok(Some(Reply::Data(data)));
        }
        match open.end() {
            Some(EndOfStream::Clean) => return Ok(Some(Reply::Data(Vec::new()))),
            Some(EndOfStream::Failed(reason)) => {
                return Err(Error::ConnectionFailed {
                    id: text.to_owned(),
                    reason,
                });
            }
            None => {}
        }
        open.receive = Some(Receive {
            actor: actor.clone(),
            call,
            max,
        });
        if let Some(t) = timeout {
            self.fx.timers.set(TimerKey::Receive(id), Some(now + t));
        }
        self.settle(now, id);
        Ok(None)
    }

    pub(super) fn shutdown(
        &mut self,
        now: Instant,
        actor: &ActorId,
        text: &str,
        how: &str,
    ) -> Result<Option<Reply>, Error> {
        let (read, write) = match how {
            "read" => (true, false),
            "write" => (false, true),
            "both" => (true, true),
            _ => return Err(Error::InvalidShutdown(how.to_owned())),
        };
        let id = self.own_conn(actor, text)?;
        let open = open_mut(&mut self.conns, id).ok_or_else(|| Error::Pending(text.to_owned()))?;
        open.fail_if_gone(text)?;
        // shutdown(read): an ended side stays ended.
        if read && let ReadSide::Open(request) = open.read {
            self.fx
                .set_read(id, &mut open.read, ReadSide::Shut(request));
        }
        if write && open.write == WriteSide::Open {
            open.write = WriteSide::ShutRequested;
        }
        self.settle(now, id);
        Ok(Some(Reply::Unit))
    }

    pub(super) fn on_received(&mut self, now: Instant, id: ConnId, data: Vec<u8>) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let ConnState::Open(open) = &mut conn.state else {
            return;
        };
        // Only a read the core asked for brings bytes (an ended side has none out).
        let request = open.read.request();
        if !matches!(request, ReadRequest::InFlight | ReadRequest::Cancelling) {
            return;
        }
        if request == ReadRequest::Cancelling {
            self.fx.probe("read.data_beat_cancel");
        }
        let idle = open.read.with_request(ReadRequest::Idle);
        self.fx.set_read(id, &mut open.read, idle);
        conn.bytes_in += data.len() as u64;
        quotas::charge(&mut self.buffered, &conn.owner, data.len());
        open.rx.push(data);
        self.settle(now, id);
    }

    pub(super) fn on_read_ended(&mut self, now: Instant, id: ConnId, end: StreamEnd) {
        let Some(Connection {
            state: ConnState::Open(open),
            ..
        }) = self.conns.get_mut(&id)
        else {
            return;
        };
        if matches!(open.read, ReadSide::Ended(_) | ReadSide::Gone(_)) {
            return;
        }
        match end {
            // FIN (after close_notify on TLS), or TLS truncation: the actor gets every
            // buffered byte, then the end.
            StreamEnd::Eof | StreamEnd::TlsTruncated => {
                self.fx.set_read(id, &mut open.read, ReadSide::Ended(end));
                self.settle(now, id);
            }
            // RST, TLS alert, I/O error: the socket is gone.
            fatal => self.kill(now, id, fatal.reason()),
        }
    }

    /// Re-derives everything that follows from a connection's state: writes, TLS start,
    /// reads, deliveries and the end-of-stream notice.
    ///
    /// Every input that touches a connection ends here (three times per echoed message), so
    /// the connection is looked up once and the rules run on it in place, each on the parts of
    /// the handler it writes to ([`Parts`]). A STARTTLS upgrade in progress takes the long
    /// way, the same rules in the same order, looked up afresh around the start of its
    /// handshake, which needs the whole handler.
    pub(super) fn settle(&mut self, now: Instant, id: ConnId) {
        {
            let Some((conn, mut parts)) = self.split(id) else {
                self.quota_paused.remove(&id);
                return;
            };
            let upgrading = match &conn.state {
                ConnState::Open(open) => matches!(open.tls, Tls::Upgrading { .. }),
                _ => false,
            };
            if !upgrading {
                pump_sends(now, id, conn, &mut parts);
                serve_receive(id, conn, &mut parts);
                if deliver(id, conn, &mut parts) == Delivery::EndsConnection {
                    self.end_graceful(now, id);
                } else {
                    update_reading(id, conn, &mut parts);
                }
                return;
            }
        }
        if let Some((conn, mut parts)) = self.split(id) {
            pump_sends(now, id, conn, &mut parts);
        }
        self.try_start_tls(now, id);
        if let Some((conn, mut parts)) = self.split(id) {
            serve_receive(id, conn, &mut parts);
            if deliver(id, conn, &mut parts) == Delivery::EndsConnection {
                self.end_graceful(now, id);
                return;
            }
        }
        self.update_reading(id);
    }

    /// Ends connection `id` gracefully for `deliver`, and forgets any paused read of it.
    fn end_graceful(&mut self, now: Instant, id: ConnId) {
        self.end_connection(now, id, Ending::Graceful, |id| {
            Error::Closed(id.to_string())
        });
        self.update_reading(id);
    }

    /// Connection `id` and, borrowed apart from it, what the rules of `settle` write to.
    fn split(&mut self, id: ConnId) -> Option<(&mut Connection, Parts<'_>)> {
        let Handler {
            settings,
            conns,
            actors,
            quota_paused,
            buffered,
            owned,
            fx,
            ..
        } = self;
        let conn = conns.get_mut(&id)?;
        Some((
            conn,
            Parts {
                cfg: settings.config(),
                actors,
                quota_paused,
                buffered,
                owned,
                fx,
            },
        ))
    }

    /// Starts or cancels the transport's read of connection `id` as its state asks; forgets a
    /// paused read of a connection that is gone or no longer open.
    pub(super) fn update_reading(&mut self, id: ConnId) {
        match self.split(id) {
            Some((conn, mut parts)) => update_reading(id, conn, &mut parts),
            None => {
                self.quota_paused.remove(&id);
            }
        }
    }

    pub(super) fn wants_read(open: &Open) -> bool {
        if !open.read.is_open() {
            return false;
        }
        if matches!(open.tls, Tls::Upgrading { .. }) {
            return false;
        }
        match open.mode {
            // Passive reads only for a waiting `receive`: no read-ahead, so a STARTTLS
            // handshake starts exactly after the last byte the actor could have read.
            DataMode::Passive => open.receive.is_some() && open.rx.is_empty(),
            DataMode::Once => open.rx.is_empty(),
            DataMode::Active | DataMode::Credit(_) => true,
        }
    }
}

/// What the rules of `settle` write to besides the connection: the handler's parts, borrowed
/// apart from its connections so that a rule runs on a connection looked up once.
pub(super) struct Parts<'a> {
    cfg: &'a Config,
    actors: &'a BTreeMap<ActorId, Exports>,
    quota_paused: &'a mut BTreeSet<ConnId>,
    buffered: &'a mut BTreeMap<ActorId, usize>,
    owned: &'a BTreeMap<ActorId, usize>,
    fx: &'a mut Effects,
}

/// What `deliver` leaves to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delivery {
    Done,
    /// The stream ended and nobody is told: the connection closes (which needs the whole
    /// handler).
    EndsConnection,
}

/// Completes a waiting `receive` from the buffer, or with the end of the stream.
fn serve_receive(id: ConnId, conn: &mut Connection, parts: &mut Parts<'_>) {
    let ConnState::Open(open) = &mut conn.state else {
        return;
    };
    let Some(r) = open.receive.as_ref() else {
        return;
    };
    let result = if !open.rx.is_empty() {
        let data = open.rx.take(r.max);
        quotas::release(parts.buffered, parts.owned, &conn.owner, data.len());
        Ok(Reply::Data(data))
    } else {
        match open.end() {
            Some(EndOfStream::Clean) => Ok(Reply::Data(Vec::new())),
            Some(EndOfStream::Failed(reason)) => Err(Error::ConnectionFailed {
                id: id.to_string(),
                reason,
            }),
            None => return,
        }
    };
    if let Some(r) = open.receive.take() {
        parts.fx.complete(&r.actor, r.call, result);
        parts.fx.timers.set(TimerKey::Receive(id), None);
    }
}

/// Hands the queued sends to the transport as the write buffer has room, completing each
/// `send` once all of it is handed over; asks for write reports past half the buffer; arms
/// the send timeout while a send waits; shuts the write side once a requested shutdown has
/// nothing before it.
fn pump_sends(now: Instant, id: ConnId, conn: &mut Connection, parts: &mut Parts<'_>) {
    let cap = parts.cfg.write_buffer;
    let send_timeout = Config::ms(parts.cfg.send_timeout_ms);
    let ConnState::Open(open) = &mut conn.state else {
        return;
    };
    if open.read.gone().is_some() {
        return;
    }
    loop {
        // During a STARTTLS upgrade only the sends queued before it go out (in plaintext).
        let allowed = match &open.tls {
            Tls::Upgrading { plain_sends, .. } => *plain_sends > 0,
            _ => true,
        };
        let room = cap.saturating_sub(open.in_transport);
        let Some(front) = open.sends.front_mut() else {
            break;
        };
        if !allowed || room == 0 {
            break;
        }
        let left = front.data.len() - front.offset;
        let n = left.min(room);
        let chunk = if front.offset == 0 && n == front.data.len() {
            std::mem::take(&mut front.data)
        } else {
            front.data[front.offset..front.offset + n].to_vec()
        };
        front.offset += n;
        quotas::release(parts.buffered, parts.owned, &front.actor, n);
        open.in_transport += n;
        open.last_write_progress = now;
        conn.bytes_out += n as u64;
        parts.fx.command(Command::Write {
            connection: id,
            data: chunk,
        });
        if n == left {
            if let Some(done) = open.sends.pop_front() {
                let len = done.offset as u64;
                parts
                    .fx
                    .complete(&done.actor, done.call, Ok(Reply::Sent(len)));
            }
            if let Tls::Upgrading { plain_sends, .. } = &mut open.tls {
                *plain_sends = plain_sends.saturating_sub(1);
            }
        }
    }
    // Past half the write buffer, ask the transport for its reports of bytes written
    // (it may hold them back until asked), so that room comes back before it runs out.
    if open.in_transport > cap / 2 && !open.writes_asked {
        open.writes_asked = true;
        parts.fx.command(Command::ReportWrites { connection: id });
    }
    let deadline = (!open.sends.is_empty()).then(|| open.last_write_progress + send_timeout);
    parts.fx.timers.set(TimerKey::Send(id), deadline);
    if open.write == WriteSide::ShutRequested && open.sends.is_empty() {
        open.write = WriteSide::Shut;
        parts.fx.command(Command::ShutdownWrite { connection: id });
    }
}

/// Starts the transport's read when the actor wants bytes (and its buffered-bytes quota has
/// room: else the read waits in `quota_paused`), cancels one it no longer wants.
fn update_reading(id: ConnId, conn: &mut Connection, parts: &mut Parts<'_>) {
    let watermark = parts.cfg.receive_watermark;
    let max_chunk = parts.cfg.max_chunk;
    let ConnState::Open(open) = &mut conn.state else {
        parts.quota_paused.remove(&id);
        return;
    };
    let want = Handler::wants_read(open) && open.rx.len() < watermark;
    let request = open.read.request();
    // A new read may bring no more than the owner's buffered-bytes quota has room for; a
    // read already out is not cancelled for it.
    let room = if request == ReadRequest::Idle && want {
        quotas::read_room(parts.cfg, parts.buffered, &conn.owner)
    } else {
        usize::MAX
    };
    if room == 0 {
        parts.fx.probe("read.quota_paused");
        parts.quota_paused.insert(id);
        return;
    }
    parts.quota_paused.remove(&id);
    match (request, want) {
        (ReadRequest::Idle, true) => {
            let reading = open.read.with_request(ReadRequest::InFlight);
            parts.fx.set_read(id, &mut open.read, reading);
            // Never more than the watermark buffered.
            let max = max_chunk.min(watermark - open.rx.len()).min(room);
            parts.fx.command(Command::Read {
                connection: id,
                max,
            });
        }
        (ReadRequest::InFlight, false) => {
            parts.fx.probe("read.cancelled");
            let cancelling = open.read.with_request(ReadRequest::Cancelling);
            parts.fx.set_read(id, &mut open.read, cancelling);
            parts.fx.command(Command::CancelRead { connection: id });
        }
        _ => {}
    }
}

/// Push delivery: one `on-data` at a time, in byte order; then the end of stream.
fn deliver(id: ConnId, conn: &mut Connection, parts: &mut Parts<'_>) -> Delivery {
    let max_chunk = parts.cfg.max_chunk;
    let ConnState::Open(open) = &mut conn.state else {
        return Delivery::Done;
    };
    if open.delivering.is_some() || !open.mode.pushes() {
        return Delivery::Done;
    }
    let exports = parts.actors.get(&conn.owner).copied().unwrap_or_default();
    if !open.rx.is_empty() {
        if !exports.on_data {
            return Delivery::Done;
        }
        let data = open.rx.take(max_chunk);
        quotas::release(parts.buffered, parts.owned, &conn.owner, data.len());
        let (to, to_passive) = match open.mode {
            // `once` turns passive as the chunk is handed over.
            DataMode::Once => (DataMode::Passive, false),
            // The last credit: passive, and EXT `on-passive`.
            DataMode::Credit(1) => (DataMode::Passive, true),
            // A credit count goes down by one per chunk.
            DataMode::Credit(n) => (DataMode::Credit(n - 1), false),
            other => (other, false),
        };
        parts.fx.set_mode(id, &mut open.mode, to);
        conn.chunks_delivered += 1;
        let cb = Callback::OnData {
            connection: id.to_string(),
            data,
        };
        open.delivering =
            Some(
                parts
                    .fx
                    .callback(&conn.owner, id, conn.epoch, CallbackKind::OnData, cb),
            );
        if to_passive && exports.on_passive {
            let cb = Callback::OnPassive {
                connection: id.to_string(),
            };
            parts
                .fx
                .callback(&conn.owner, id, conn.epoch, CallbackKind::Notify, cb);
        }
        return Delivery::Done;
    }
    if open.close_notice != CloseNotice::None {
        return Delivery::Done;
    }
    let Some(end) = open.end() else {
        return Delivery::Done;
    };
    let (clean, reason) = (end == EndOfStream::Clean, end.reason());
    if exports.on_close {
        open.close_notice = CloseNotice::Sent;
        let cb = Callback::OnClose {
            connection: id.to_string(),
            reason,
        };
        parts.fx.callback(
            &conn.owner,
            id,
            conn.epoch,
            CallbackKind::OnClose { clean },
            cb,
        );
    } else if clean && parts.cfg.keep_open_on_peer_close {
        open.close_notice = CloseNotice::Done;
    } else {
        return Delivery::EndsConnection;
    }
    Delivery::Done
}
