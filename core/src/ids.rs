//! Identifiers of the objects the core owns, and of actors, calls and callbacks.
//!
//! Connection and listener ids share one counter, so a number is never reused for either kind.
//! Their string forms (`conn-7`, `listener-3`) are what actors see; anything else is
//! `Invalid id: {id}`.

use crate::error::Error;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// A connection, as named to actors by `conn-{n}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ConnId(pub u64);

/// A listener, as named to actors by `listener-{n}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ListenerId(pub u64);

const CONN_PREFIX: &str = "conn-";
const LISTENER_PREFIX: &str = "listener-";

/// Writes `{prefix}{n}` in one `write_str`: an id is formatted for every callback, and
/// `to_string` then allocates once, at the final size, instead of growing through the
/// formatting machinery.
fn write_id(f: &mut fmt::Formatter<'_>, prefix: &str, n: u64) -> fmt::Result {
    const DIGITS: usize = 20; // u64::MAX has 20
    let mut buf = [0u8; LISTENER_PREFIX.len() + DIGITS];
    let mut start = buf.len();
    let mut rest = n;
    loop {
        start -= 1;
        buf[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    start -= prefix.len();
    buf[start..start + prefix.len()].copy_from_slice(prefix.as_bytes());
    f.write_str(std::str::from_utf8(&buf[start..]).map_err(|_| fmt::Error)?)
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_id(f, CONN_PREFIX, self.0)
    }
}

impl fmt::Display for ListenerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_id(f, LISTENER_PREFIX, self.0)
    }
}

/// An id as an actor wrote it, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectId {
    /// `conn-{n}`.
    Connection(ConnId),
    /// `listener-{n}`.
    Listener(ListenerId),
}

impl ObjectId {
    /// Parses an actor-supplied id; anything that is not exactly `conn-{n}` or `listener-{n}`
    /// (decimal, no sign, no leading zero) is `Invalid id`.
    pub fn parse(text: &str) -> Result<ObjectId, Error> {
        let invalid = || Error::InvalidId(text.to_owned());
        let number = |digits: &str| -> Result<u64, Error> {
            let well_formed = !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit())
                && (digits == "0" || !digits.starts_with('0'));
            if !well_formed {
                return Err(invalid());
            }
            digits.parse::<u64>().map_err(|_| invalid())
        };
        if let Some(digits) = text.strip_prefix(CONN_PREFIX) {
            Ok(ObjectId::Connection(ConnId(number(digits)?)))
        } else if let Some(digits) = text.strip_prefix(LISTENER_PREFIX) {
            Ok(ObjectId::Listener(ListenerId(number(digits)?)))
        } else {
            Err(invalid())
        }
    }
}

/// An actor, named as the runtime names it. The name is shared, not copied: the core keeps the
/// owner of every connection, call and callback, and a clone is a reference count, not an
/// allocation (a round trip of an echo names its actor about five times). Compared, ordered,
/// hashed, printed and serialized as the name itself.
#[derive(Debug, Clone)]
pub struct ActorId(Arc<str>);

// The same name is usually the same allocation (the runtime's id, cloned): compared by
// pointer first, by content otherwise.
impl PartialEq for ActorId {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

impl Eq for ActorId {}

impl std::hash::Hash for ActorId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl Ord for ActorId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        if Arc::ptr_eq(&self.0, &other.0) {
            return std::cmp::Ordering::Equal;
        }
        self.0.cmp(&other.0)
    }
}

impl PartialOrd for ActorId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl ActorId {
    /// An actor id from its name.
    pub fn new(name: impl AsRef<str>) -> Self {
        ActorId(Arc::from(name.as_ref()))
    }

    /// The actor's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for ActorId {
    fn from(s: &str) -> Self {
        ActorId::new(s)
    }
}

impl Serialize for ActorId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ActorId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(ActorId::new)
    }
}

/// One actor call, from `handle_call` to its `Notice::CallCompleted`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CallId(pub u64);

/// One callback into an actor, from its `Notice::Callback` to `handle_callback_result`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CallbackId(pub u64);

/// One name resolution requested by the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ResolveId(pub u64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actor_ids_hash_by_name() {
        use std::hash::{BuildHasher, BuildHasherDefault};
        let hash = |id: &ActorId| {
            BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(id)
        };
        let a = ActorId::from("actor-a");
        // Equal names in two allocations hash alike; another name hashes apart.
        assert_eq!(hash(&a), hash(&ActorId::from("actor-a")));
        assert_ne!(hash(&a), hash(&ActorId::from("actor-b")));
        let map: std::collections::HashMap<ActorId, u8> =
            [(a.clone(), 1), (ActorId::from("actor-b"), 2)].into();
        assert_eq!(map.get(&ActorId::from("actor-a")), Some(&1));
    }

    #[test]
    fn ids_round_trip_and_reject_malformed_text() {
        assert_eq!(
            ObjectId::parse("conn-12"),
            Ok(ObjectId::Connection(ConnId(12)))
        );
        assert_eq!(
            ObjectId::parse(&ListenerId(3).to_string()),
            Ok(ObjectId::Listener(ListenerId(3)))
        );
        for bad in [
            "",
            "conn-",
            "conn-01",
            "conn--1",
            "conn-+1",
            "conn-1 ",
            "Conn-1",
            "7",
            "conn-99999999999999999999",
            "listener-x",
        ] {
            assert_eq!(
                ObjectId::parse(bad),
                Err(Error::InvalidId(bad.into())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn ids_format_as_prefix_and_decimal_at_every_width() {
        for n in [
            0,
            7,
            9,
            10,
            99,
            100,
            12_345,
            u64::MAX / 10,
            u64::MAX - 1,
            u64::MAX,
        ] {
            assert_eq!(ConnId(n).to_string(), format!("conn-{n}"));
            assert_eq!(ListenerId(n).to_string(), format!("listener-{n}"));
            assert_eq!(
                ObjectId::parse(&ConnId(n).to_string()),
                Ok(ObjectId::Connection(ConnId(n)))
            );
        }
    }

    #[test]
    fn actor_ids_compare_order_and_serialize_as_their_names() {
        use std::cmp::Ordering;
        let a = ActorId::new("alpha");
        let a_again = ActorId::new(String::from("alpha"));
        let b = ActorId::new("beta");
        // A clone and another allocation of the same name are the same actor.
        assert_eq!(a, a.clone());
        assert_eq!(a, a_again);
        assert_eq!(a.cmp(&a_again), Ordering::Equal);
        assert_ne!(a, b);
        assert_eq!(a.cmp(&b), Ordering::Less);
        assert_eq!(b.cmp(&a_again), Ordering::Greater);
        let names: std::collections::BTreeSet<ActorId> = [b.clone(), a.clone(), a_again.clone()]
            .into_iter()
            .collect();
        assert_eq!(names.into_iter().collect::<Vec<_>>(), vec![a.clone(), b]);
        let hashed: std::collections::HashSet<ActorId> = [a.clone()].into_iter().collect();
        assert!(hashed.contains(&a_again) && !hashed.contains(&ActorId::new("beta")));
        assert_eq!(a.to_string(), "alpha");
        assert_eq!(format!("{a:?}"), "ActorId(\"alpha\")");
        let json = serde_json::to_string(&a).unwrap_or_default();
        assert_eq!(json, "\"alpha\"");
        assert_eq!(serde_json::from_str::<ActorId>(&json).ok(), Some(a_again));
    }
}
