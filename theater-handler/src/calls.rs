//! The Pack values of `theater:simple/tcp`: an actor's arguments become the core's [`Call`],
//! the core's [`Reply`] becomes the value the actor decodes. Nothing here decides a rule; a
//! value of the wrong shape is refused before the core sees it.

use theater::pack_bridge::{Value, ValueType};
use theater_tcp_core::{Call, Reply};

/// One function of `theater:simple/tcp`: its name, how its arguments become a call, and how
/// the reply becomes its result value.
pub(crate) struct Function {
    pub(crate) name: &'static str,
    pub(crate) call: fn(&Value) -> Result<Call, String>,
    pub(crate) reply: fn(Reply) -> Option<Value>,
}

/// The 14 functions, in the order of the interface.
pub(crate) static FUNCTIONS: [Function; 14] = [
    Function {
        name: "connect",
        call: |v| one_string(v, "connect").map(|address| Call::Connect { address }),
        reply: text,
    },
    Function {
        name: "listen",
        call: |v| one_string(v, "listen").map(|address| Call::Listen { address }),
        reply: text,
    },
    Function {
        name: "accept",
        call: |v| one_string(v, "accept").map(|listener| Call::Accept { listener }),
        reply: text,
    },
    Function {
        name: "activate",
        call: |v| one_string(v, "activate").map(|connection| Call::Activate { connection }),
        reply: unit,
    },
    Function {
        name: "set-active",
        call: |v| {
            two_strings(v, "set-active")
                .map(|(connection, mode)| Call::SetActive { connection, mode })
        },
        reply: unit,
    },
    Function {
        name: "transfer",
        call: |v| {
            two_strings(v, "transfer")
                .map(|(connection, target)| Call::Transfer { connection, target })
        },
        reply: unit,
    },
    Function {
        name: "transfer-async",
        call: |v| {
            two_strings(v, "transfer-async")
                .map(|(connection, target)| Call::TransferAsync { connection, target })
        },
        reply: unit,
    },
    Function {
        name: "peer-address",
        call: |v| one_string(v, "peer-address").map(|connection| Call::PeerAddress { connection }),
        reply: text,
    },
    Function {
        name: "send",
        call: send,
        reply: |reply| match reply {
            Reply::Sent(n) => Some(Value::U64(n)),
            _ => None,
        },
    },
    Function {
        name: "receive",
        call: receive,
        reply: |reply| match reply {
            Reply::Data(data) => Some(bytes_value(data)),
            _ => None,
        },
    },
    Function {
        name: "close",
        call: |v| one_string(v, "close").map(|connection| Call::Close { connection }),
        reply: unit,
    },
    Function {
        name: "close-listener",
        call: |v| one_string(v, "close-listener").map(|listener| Call::CloseListener { listener }),
        reply: unit,
    },
    Function {
        name: "upgrade-to-tls-server",
        call: |v| {
            one_string(v, "upgrade-to-tls-server")
                .map(|connection| Call::UpgradeToTlsServer { connection })
        },
        reply: unit,
    },
    Function {
        name: "upgrade-to-tls-client",
        call: |v| {
            two_strings(v, "upgrade-to-tls-client").map(|(connection, server_name)| {
                Call::UpgradeToTlsClient {
                    connection,
                    server_name,
                }
            })
        },
        reply: unit,
    },
];

/// The arguments as a list: a tuple's fields, or the one value a single-argument import sends.
fn arguments(value: &Value) -> &[Value] {
    match value {
        Value::Tuple(fields) => fields,
        other => std::slice::from_ref(other),
    }
}

fn string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

fn one_string(value: &Value, function: &str) -> Result<String, String> {
    match arguments(value) {
        [v] => string(v),
        _ => None,
    }
    .ok_or_else(|| format!("{function}: expected (string), got {}", shape(value)))
}

fn two_strings(value: &Value, function: &str) -> Result<(String, String), String> {
    match arguments(value) {
        [a, b] => string(a).zip(string(b)),
        _ => None,
    }
    .ok_or_else(|| {
        format!(
            "{function}: expected (string, string), got {}",
            shape(value)
        )
    })
}

fn send(value: &Value) -> Result<Call, String> {
    let bad = || "send: expected (string, list<u8>)".to_owned();
    let [id, data] = arguments(value) else {
        return Err(bad());
    };
    let connection = string(id).ok_or_else(bad)?;
    let Value::List { items, .. } = data else {
        return Err(bad());
    };
    // Every element must be a byte: dropping the others (as the original did) would send a
    // stream the actor never wrote.
    let data = items
        .iter()
        .map(|item| match item {
            Value::U8(b) => Some(*b),
            _ => None,
        })
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(bad)?;
    Ok(Call::Send { connection, data })
}

fn receive(value: &Value) -> Result<Call, String> {
    match arguments(value) {
        [id, Value::U32(max)] => string(id).map(|connection| Call::Receive {
            connection,
            max: *max,
        }),
        _ => None,
    }
    .ok_or_else(|| "receive: expected (string, u32)".to_owned())
}

/// A short description of a value's shape for an error (never its bytes).
fn shape(value: &Value) -> String {
    match value {
        Value::Tuple(fields) => format!(
            "({})",
            fields.iter().map(shape).collect::<Vec<_>>().join(", ")
        ),
        Value::String(_) => "string".into(),
        Value::List { .. } => "list".into(),
        other => format!("{}", other.infer_type()),
    }
}

fn text(reply: Reply) -> Option<Value> {
    match reply {
        Reply::Id(s) | Reply::Address(s) => Some(Value::String(s)),
        _ => None,
    }
}

fn unit(reply: Reply) -> Option<Value> {
    match reply {
        Reply::Unit => Some(Value::Tuple(Vec::new())),
        _ => None,
    }
}

/// A `list<u8>`.
pub(crate) fn bytes_value(data: Vec<u8>) -> Value {
    Value::List {
        elem_type: ValueType::U8,
        items: data.into_iter().map(Value::U8).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn function(name: &str) -> &'static Function {
        FUNCTIONS.iter().find(|f| f.name == name).expect("known")
    }

    fn s(text: &str) -> Value {
        Value::String(text.into())
    }

    #[test]
    fn the_table_has_every_function_of_the_interface_once() {
        let mut names: Vec<_> = FUNCTIONS.iter().map(|f| f.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 14);
    }

    #[test]
    fn single_arguments_come_bare_or_in_a_tuple() {
        let call = (function("close").call)(&s("conn-1")).expect("bare");
        assert_eq!(
            call,
            Call::Close {
                connection: "conn-1".into()
            }
        );
        let call = (function("close").call)(&Value::Tuple(vec![s("conn-1")])).expect("tuple");
        assert_eq!(
            call,
            Call::Close {
                connection: "conn-1".into()
            }
        );
    }

    #[test]
    fn send_refuses_a_list_with_anything_but_bytes() {
        let data = Value::List {
            elem_type: ValueType::U8,
            items: vec![Value::U8(1), Value::U32(2)],
        };
        let err = (function("send").call)(&Value::Tuple(vec![s("conn-1"), data]));
        assert_eq!(err, Err("send: expected (string, list<u8>)".into()));
    }

    #[test]
    fn receive_passes_zero_to_the_core_which_decides() {
        let call = (function("receive").call)(&Value::Tuple(vec![s("conn-1"), Value::U32(0)]));
        assert_eq!(
            call,
            Ok(Call::Receive {
                connection: "conn-1".into(),
                max: 0
            })
        );
    }

    #[test]
    fn a_wrong_shape_is_an_error_naming_the_function() {
        let err = (function("transfer").call)(&s("conn-1")).expect_err("one argument");
        assert!(
            err.starts_with("transfer: expected (string, string)"),
            "{err}"
        );
    }

    #[test]
    fn replies_become_the_values_the_original_returned() {
        assert_eq!(
            (function("send").reply)(Reply::Sent(3)),
            Some(Value::U64(3))
        );
        assert_eq!(
            (function("activate").reply)(Reply::Unit),
            Some(Value::Tuple(vec![]))
        );
        assert_eq!((function("activate").reply)(Reply::Sent(3)), None);
        assert_eq!(
            (function("receive").reply)(Reply::Data(vec![7])),
            Some(bytes_value(vec![7]))
        );
    }
}
