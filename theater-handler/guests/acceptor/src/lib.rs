//! Acceptor actor: every connection its listener pushes is handed to the worker named by its
//! initial state, `sync:<actor-id>` (with `transfer`) or `async:<actor-id>` (with
//! `transfer-async`). It never reads or writes a connection itself.

#![no_std]

extern crate alloc;

#[path = "../../common.rs"]
mod common;

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
    let target = role(&input.state);
    let result = match target.split_once(':') {
        Some(("sync", worker)) => transfer(connection, worker.into()),
        Some(("async", worker)) => transfer_async(connection, worker.into()),
        _ => Err(alloc::format!("bad acceptor state {target:?}")),
    };
    match result {
        Ok(()) => ok(input.state),
        Err(e) => err(e),
    }
}

#[export(name = "theater:simple/tcp-client.handle-connection-transfer")]
fn handle_connection_transfer(value: Value) -> Value {
    ok(input(value).state)
}

#[export(name = "theater:simple/tcp-client.on-data")]
fn on_data(value: Value) -> Value {
    ok(input(value).state)
}

#[export(name = "theater:simple/tcp-client.on-close")]
fn on_close(value: Value) -> Value {
    ok(input(value).state)
}
