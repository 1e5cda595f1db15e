//! A line-based key-value server, written as a protocol actor on the Theater TCP handler: the
//! worked example of property testing with `theater-tcp-check` (see `tests/kv.rs` and the
//! README, "Property-testing your own protocol actor").
//!
//! The protocol: one command per line (`\n`, an optional `\r` before it is dropped), one reply
//! line per command, in order:
//!
//! | command | reply |
//! |---|---|
//! | `SET key value` | `OK` (the value is the rest of the line) |
//! | `GET key` | `VALUE value`, or `NIL` if the key was never set |
//! | `STARTTLS` | `OK`, then a TLS handshake (the client's next bytes); `ERR ...` if more bytes came behind the command, or TLS is on already or not configured |
//! | anything else | `ERR unknown command`, or `ERR usage: ...` |
//!
//! The store is shared by every connection. The actor listens on one port, accepts
//! connections in a loop, and serves each in passive mode (`receive`), on its own task.
//!
//! With the feature `planted-bug`, [`LineBuffer`] forgets a partial line at the end of a read
//! and handles it as a command of its own: the bug only shows when a line arrives in two
//! reads, which a test on a loopback socket seldom sees and the simulation's split reads and
//! short writes make happen.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use theater_tcp_core::Error;
use theater_tcp_tokio::{ActorHandle, Caller};

/// Largest read the server asks for.
const READ_MAX: u32 = 4096;

/// The keys and values, shared by every connection of one server.
#[derive(Debug, Clone, Default)]
pub struct Store(Arc<Mutex<BTreeMap<String, String>>>);

impl Store {
    /// Executes one command line; the reply line, without its `\n`.
    pub fn execute(&self, line: &str) -> String {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let line = line.strip_suffix('\r').unwrap_or(line);
        let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
        match verb {
            "SET" => match rest.split_once(' ') {
                Some((key, value)) if !key.is_empty() => {
                    map.insert(key.to_owned(), value.to_owned());
                    "OK".to_owned()
                }
                _ => "ERR usage: SET key value".to_owned(),
            },
            "GET" if !rest.is_empty() && !rest.contains(' ') => match map.get(rest) {
                Some(value) => format!("VALUE {value}"),
                None => "NIL".to_owned(),
            },
            "GET" => "ERR usage: GET key".to_owned(),
            _ => "ERR unknown command".to_owned(),
        }
    }
}

/// Reassembles lines from the reads of one connection.
#[derive(Debug, Default)]
pub struct LineBuffer {
    partial: Vec<u8>,
}

impl LineBuffer {
    /// The complete lines that `chunk` ends (without their `\n`); a partial line at its end
    /// waits for the next chunk.
    #[cfg(not(feature = "planted-bug"))]
    pub fn push(&mut self, chunk: &[u8]) -> Vec<String> {
        self.partial.extend_from_slice(chunk);
        let mut lines = Vec::new();
        while let Some(end) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            lines.push(String::from_utf8_lossy(&line[..end]).into_owned());
        }
        lines
    }

    /// The planted bug: every line of `chunk`, and a partial line at its end too, as if a read
    /// always ended at a line boundary.
    #[cfg(feature = "planted-bug")]
    pub fn push(&mut self, chunk: &[u8]) -> Vec<String> {
        self.partial.clear();
        let text = String::from_utf8_lossy(chunk);
        let text = text.strip_suffix('\n').unwrap_or(&text);
        text.split('\n').map(str::to_owned).collect()
    }

    /// Bytes of a line not yet complete.
    pub fn pending(&self) -> usize {
        self.partial.len()
    }
}

/// Runs the server as `actor`: listens on `0.0.0.0:port` and serves every connection until
/// the actor is stopped. Fails only if it cannot listen or accept.
pub async fn serve(actor: ActorHandle, port: u16) -> Result<(), String> {
    let store = Store::default();
    let listener = actor
        .listen(&format!("0.0.0.0:{port}"))
        .await
        .map_err(|e| format!("listen: {e}"))?;
    loop {
        let conn = actor
            .accept(&listener)
            .await
            .map_err(|e| format!("accept: {e}"))?;
        let caller = actor.caller();
        let store = store.clone();
        // A connection that fails ends alone; the server goes on.
        tokio::spawn(async move { serve_connection(caller, conn, store).await });
    }
}

/// Serves one accepted connection: a reply per line, until the client's end of stream.
pub async fn serve_connection(caller: Caller, conn: String, store: Store) -> Result<(), Error> {
    caller.activate(&conn).await?;
    let mut lines = LineBuffer::default();
    loop {
        let chunk = caller.receive(&conn, READ_MAX).await?;
        if chunk.is_empty() {
            return caller.close(&conn).await;
        }
        let mut replies = Vec::new();
        let batch = lines.push(&chunk);
        let last = batch.len().saturating_sub(1);
        for (i, line) in batch.iter().enumerate() {
            if line.trim_end_matches('\r') != "STARTTLS" {
                replies.extend_from_slice(store.execute(line).as_bytes());
                replies.push(b'\n');
                continue;
            }
            // Bytes behind the command would be plaintext read as if it came over TLS (the
            // STARTTLS injection of CVE-2011-0411): refused, as the handler refuses it too.
            if i != last || lines.pending() > 0 {
                replies.extend_from_slice(b"ERR bytes behind STARTTLS\n");
                continue;
            }
            replies.extend_from_slice(b"OK\n");
            caller.send(&conn, std::mem::take(&mut replies)).await?;
            if let Err(e) = caller.upgrade_to_tls_server(&conn).await {
                // A refused upgrade leaves the connection plaintext (already TLS, not
                // configured); a failed handshake closed it, and the next receive says so.
                caller
                    .send(&conn, format!("ERR starttls: {e}\n").into_bytes())
                    .await?;
            }
        }
        if !replies.is_empty() {
            caller.send(&conn, replies).await?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_get_their_replies() {
        let store = Store::default();
        assert_eq!(store.execute("GET a"), "NIL");
        assert_eq!(store.execute("SET a hello world"), "OK");
        assert_eq!(store.execute("GET a\r"), "VALUE hello world");
        assert_eq!(store.execute("SET a"), "ERR usage: SET key value");
        assert_eq!(store.execute("GET"), "ERR usage: GET key");
        assert_eq!(store.execute("DEL a"), "ERR unknown command");
    }

    #[test]
    fn whole_lines_in_one_read_are_split_at_newlines() {
        let mut lines = LineBuffer::default();
        assert_eq!(lines.push(b"GET a\nSET b c\n"), ["GET a", "SET b c"]);
        assert_eq!(lines.pending(), 0);
    }

    #[cfg(not(feature = "planted-bug"))]
    #[test]
    fn a_line_split_across_reads_is_one_line() {
        let mut lines = LineBuffer::default();
        assert!(lines.push(b"SET k").is_empty());
        assert_eq!(lines.pending(), 5);
        assert_eq!(lines.push(b" v\nGET"), ["SET k v"]);
        assert_eq!(lines.push(b" k\n"), ["GET k"]);
    }
}
