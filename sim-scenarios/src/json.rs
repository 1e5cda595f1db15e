//! One line of JSON for values in reports and oracle messages.

use serde::Serialize;
use serde_json::Value;

/// A value as one line of JSON, with byte lists longer than 16 shown as `"<N bytes>"` (trace
/// records carry every data byte).
pub fn compact<T: Serialize>(value: &T) -> String {
    fn shorten(v: Value) -> Value {
        match v {
            Value::Array(items) if items.len() > 16 && items.iter().all(Value::is_u64) => {
                Value::String(format!("<{} bytes>", items.len()))
            }
            Value::Array(items) => Value::Array(items.into_iter().map(shorten).collect()),
            Value::Object(map) => {
                Value::Object(map.into_iter().map(|(k, v)| (k, shorten(v))).collect())
            }
            other => other,
        }
    }
    match serde_json::to_value(value) {
        Ok(v) => shorten(v).to_string(),
        Err(e) => format!("<unserializable: {e}>"),
    }
}
