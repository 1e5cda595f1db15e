//! Echo actor. Its initial state names the data mode: `active`, `once` (re-armed from inside
//! `on-data`), `passive` (a `receive` loop inside the callback), or `starttls` (an SMTP-like
//! greeting, `upgrade-to-tls-server` on `STARTTLS`, then a passive echo over TLS). Connections
//! pushed by a listener (`handle-connection`) or transferred in (`handle-connection-transfer`)
//! are served the same way.

#![no_std]

extern crate alloc;

#[path = "../../common.rs"]
mod common;

use alloc::string::String;
use alloc::vec::Vec;
use common::*;
use packr_guest::{export, pack_types, Value};

packr_guest::setup_guest!();
pack_types!(file = "../actor.types");

#[export(name = "theater:simple/actor.init")]
fn init(value: Value) -> Value {
    init_from(value)
}

/// Serves one connection. A connection that fails (the peer left mid-greeting, a reset) is
/// closed and the callback still succeeds: in Theater a failing callback pauses the actor,
/// and one bad client must not stop the echo for the others.
fn serve(state: Value, connection: String, pending: bool) -> Value {
    let mode = role(&state).into_bytes();
    let activated = if pending {
        activate(connection.clone())
    } else {
        Ok(())
    };
    let result = activated.and_then(|_| match mode.as_slice() {
        b"active" | b"once" => {
            set_active(connection.clone(), String::from_utf8_lossy(&mode).into())
        }
        b"starttls" => starttls(&connection).and_then(|_| passive_echo(&connection)),
        _ => passive_echo(&connection),
    });
    if result.is_err() {
        let _ = close(connection);
    }
    ok(state)
}

fn passive_echo(connection: &str) -> Result<(), String> {
    loop {
        let data = receive(connection.into(), 65536)?;
        if data.is_empty() {
            return close(connection.into());
        }
        send(connection.into(), data)?;
    }
}

/// Reads one CRLF-terminated line, byte by byte, so that nothing past it is consumed.
fn line(connection: &str) -> Result<Vec<u8>, String> {
    let mut line = Vec::new();
    loop {
        let byte = receive(connection.into(), 1)?;
        if byte.is_empty() {
            return Err("eof before end of line".into());
        }
        line.extend_from_slice(&byte);
        if line.ends_with(b"\n") {
            return Ok(line);
        }
    }
}

fn starttls(connection: &str) -> Result<(), String> {
    send(connection.into(), b"220 echo ESMTP\r\n".to_vec())?;
    loop {
        let command = line(connection)?;
        let upper: Vec<u8> = command.iter().map(|b| b.to_ascii_uppercase()).collect();
        if upper.starts_with(b"EHLO") || upper.starts_with(b"HELO") {
            send(connection.into(), b"250-echo\r\n250 STARTTLS\r\n".to_vec())?;
        } else if upper.starts_with(b"STARTTLS") {
            send(connection.into(), b"220 ready\r\n".to_vec())?;
            return upgrade_to_tls_server(connection.into());
        } else {
            send(connection.into(), b"500 ?\r\n".to_vec())?;
        }
    }
}

#[export(name = "theater:simple/tcp-client.handle-connection")]
fn handle_connection(value: Value) -> Value {
    let input = input(value);
    let connection = text(input.params.first());
    serve(input.state, connection, true)
}

#[export(name = "theater:simple/tcp-client.handle-connection-transfer")]
fn handle_connection_transfer(value: Value) -> Value {
    let input = input(value);
    let connection = text(input.params.first());
    serve(input.state, connection, false)
}

#[export(name = "theater:simple/tcp-client.on-data")]
fn on_data(value: Value) -> Value {
    let input = input(value);
    let connection = text(input.params.first());
    let data = input.params.get(1).map(bytes).unwrap_or_default();
    let mut result = send(connection.clone(), data).map(|_| ());
    if result.is_ok() && role(&input.state) == "once" {
        result = set_active(connection.clone(), "once".into());
    }
    if result.is_err() {
        let _ = close(connection);
    }
    ok(input.state)
}

#[export(name = "theater:simple/tcp-client.on-close")]
fn on_close(value: Value) -> Value {
    ok(input(value).state)
}
