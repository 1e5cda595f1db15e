#![allow(dead_code)] // each actor uses a different part
                     // Shared by every test actor (included with `#[path]`): the imports of theater:simple/tcp,
                     // and the Pack values of the Theater calling convention (state in, `result<tuple<state>>` out).

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use packr_guest::{import, Value, ValueType};

#[import(module = "theater:simple/tcp", name = "connect")]
pub fn connect(address: String) -> Result<String, String>;
#[import(module = "theater:simple/tcp", name = "listen")]
pub fn listen(address: String) -> Result<String, String>;
#[import(module = "theater:simple/tcp", name = "accept")]
pub fn accept(listener: String) -> Result<String, String>;
#[import(module = "theater:simple/tcp", name = "activate")]
pub fn activate(connection: String) -> Result<(), String>;
#[import(module = "theater:simple/tcp", name = "set-active")]
pub fn set_active(connection: String, mode: String) -> Result<(), String>;
#[import(module = "theater:simple/tcp", name = "transfer")]
pub fn transfer(connection: String, target: String) -> Result<(), String>;
#[import(module = "theater:simple/tcp", name = "transfer-async")]
pub fn transfer_async(connection: String, target: String) -> Result<(), String>;
#[import(module = "theater:simple/tcp", name = "peer-address")]
pub fn peer_address(connection: String) -> Result<String, String>;
#[import(module = "theater:simple/tcp", name = "send")]
pub fn send(connection: String, data: Vec<u8>) -> Result<u64, String>;
#[import(module = "theater:simple/tcp", name = "receive")]
pub fn receive(connection: String, max: u32) -> Result<Vec<u8>, String>;
#[import(module = "theater:simple/tcp", name = "close")]
pub fn close(connection: String) -> Result<(), String>;
#[import(module = "theater:simple/tcp", name = "close-listener")]
pub fn close_listener(listener: String) -> Result<(), String>;
#[import(module = "theater:simple/tcp", name = "upgrade-to-tls-server")]
pub fn upgrade_to_tls_server(connection: String) -> Result<(), String>;
#[import(module = "theater:simple/tcp", name = "upgrade-to-tls-client")]
pub fn upgrade_to_tls_client(connection: String, server_name: String) -> Result<(), String>;

/// The parts of a callback's input: the state, then the parameters.
pub struct Input {
    pub state: Value,
    pub params: Vec<Value>,
}

pub fn input(value: Value) -> Input {
    let mut items = match value {
        Value::Tuple(items) => items,
        other => vec![other],
    };
    let state = if items.is_empty() {
        no_state()
    } else {
        items.remove(0)
    };
    Input {
        state,
        params: items,
    }
}

pub fn no_state() -> Value {
    Value::Option {
        inner_type: ValueType::List(Box::new(ValueType::U8)),
        value: None,
    }
}

/// The bytes of an `option<list<u8>>` state (empty when none).
pub fn state_bytes(state: &Value) -> Vec<u8> {
    match state {
        Value::Option {
            value: Some(inner), ..
        } => bytes(inner),
        _ => Vec::new(),
    }
}

pub fn bytes(value: &Value) -> Vec<u8> {
    match value {
        Value::List { items, .. } => items
            .iter()
            .filter_map(|v| match v {
                Value::U8(b) => Some(*b),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

pub fn text(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    }
}

/// `ok((state,))`.
pub fn ok(state: Value) -> Value {
    let inner = Value::Tuple(vec![state]);
    Value::Result {
        ok_type: inner.infer_type(),
        err_type: ValueType::String,
        value: Ok(Box::new(inner)),
    }
}

/// `err(message)`.
pub fn err(message: String) -> Value {
    Value::Result {
        ok_type: ValueType::Tuple(vec![ValueType::Option(Box::new(ValueType::List(
            Box::new(ValueType::U8),
        )))]),
        err_type: ValueType::String,
        value: Err(Box::new(Value::String(message))),
    }
}

/// The state's text up to `@`: what the actor does (its mode).
pub fn role(state: &Value) -> String {
    let text = String::from_utf8_lossy(&state_bytes(state)).into_owned();
    match text.split_once('@') {
        Some((role, _)) => role.into(),
        None => text,
    }
}

/// `init`: a state `role@address` makes the actor listen there itself (as with a handler
/// that ignores the manifest's `listen`, like the original).
pub fn init_from(value: Value) -> Value {
    let input = input(value);
    let text = String::from_utf8_lossy(&state_bytes(&input.state)).into_owned();
    if let Some((_, address)) = text.split_once('@') {
        if let Err(e) = listen(address.into()) {
            return err(e);
        }
    }
    ok(input.state)
}
