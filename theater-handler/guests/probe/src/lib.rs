//! Probe actor: makes any call of theater:simple/tcp from text commands. A connection pushed to
//! it (`handle-connection`) becomes its control connection in active mode; each line received
//! there is one command, `<function> <arg>...`, answered with one line, `ok <value>` or
//! `err <message>`. `send` takes the rest of the line as text; `receive` answers with the bytes
//! received as text. A command may block (`accept`, `receive`) until its call returns. A state
//! `@address` makes `init` listen there itself.

#![no_std]

extern crate alloc;

#[path = "../../common.rs"]
mod common;

use alloc::format;
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

#[export(name = "theater:simple/tcp-client.handle-connection")]
fn handle_connection(value: Value) -> Value {
    let input = input(value);
    let connection = text(input.params.first());
    let result = activate(connection.clone()).and_then(|_| set_active(connection, "active".into()));
    match result {
        Ok(()) => ok(input.state),
        Err(e) => err(e),
    }
}

#[export(name = "theater:simple/tcp-client.handle-connection-transfer")]
fn handle_connection_transfer(value: Value) -> Value {
    ok(input(value).state)
}

fn run(line: &str) -> Result<String, String> {
    let mut words = line.splitn(3, ' ');
    let function = words.next().unwrap_or_default();
    let a = String::from(words.next().unwrap_or_default());
    let b = String::from(words.next().unwrap_or_default());
    let unit = |r: Result<(), String>| r.map(|_| String::new());
    match function {
        "connect" => connect(a),
        "listen" => listen(a),
        "accept" => accept(a),
        "activate" => unit(activate(a)),
        "set-active" => unit(set_active(a, b)),
        "transfer" => unit(transfer(a, b)),
        "transfer-async" => unit(transfer_async(a, b)),
        "peer-address" => peer_address(a),
        "send" => send(a, b.into_bytes()).map(|n| format!("{n}")),
        "receive" => {
            let max = b
                .parse::<u32>()
                .map_err(|_| String::from("probe: bad max"))?;
            receive(a, max).map(|data| String::from_utf8_lossy(&data).into_owned())
        }
        "close" => unit(close(a)),
        "close-listener" => unit(close_listener(a)),
        "upgrade-to-tls-server" => unit(upgrade_to_tls_server(a)),
        "upgrade-to-tls-client" => unit(upgrade_to_tls_client(a, b)),
        other => Err(format!("probe: unknown command {other:?}")),
    }
}

#[export(name = "theater:simple/tcp-client.on-data")]
fn on_data(value: Value) -> Value {
    let input = input(value);
    let control = text(input.params.first());
    let data = input.params.get(1).map(bytes).unwrap_or_default();
    let mut answers: Vec<u8> = Vec::new();
    for line in String::from_utf8_lossy(&data).lines() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        let answer = match run(line) {
            Ok(value) => format!("ok {value}\n"),
            Err(message) => format!("err {message}\n"),
        };
        answers.extend_from_slice(answer.as_bytes());
    }
    if !answers.is_empty() {
        if let Err(e) = send(control, answers) {
            return err(e);
        }
    }
    ok(input.state)
}

#[export(name = "theater:simple/tcp-client.on-close")]
fn on_close(value: Value) -> Value {
    ok(input(value).state)
}
