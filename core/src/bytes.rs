//! Serde for byte buffers (`#[serde(with = "crate::bytes")]`): serialized as bytes, in one
//! call, so that a binary encoder (the simulation's trace hash) takes them a word at a time
//! instead of one element per byte; deserialized from bytes or from a sequence of numbers,
//! which is how JSON writes bytes (so the JSON form of traces is unchanged).

use serde::de::{SeqAccess, Visitor};
use serde::{Deserializer, Serializer};
use std::fmt;

pub(crate) fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_bytes(bytes)
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    deserializer.deserialize_byte_buf(BytesVisitor)
}

struct BytesVisitor;

impl<'de> Visitor<'de> for BytesVisitor {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("bytes, or a sequence of numbers 0-255")
    }

    fn visit_bytes<E>(self, v: &[u8]) -> Result<Vec<u8>, E> {
        Ok(v.to_vec())
    }

    fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
        Ok(v)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
        // A size hint is the input's claim: trust it only so far.
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64 * 1024));
        while let Some(byte) = seq.next_element::<u8>()? {
            out.push(byte);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Call, IoEvent, Reply};

    #[test]
    fn json_keeps_bytes_as_an_array_of_numbers_and_reads_them_back() -> serde_json::Result<()> {
        let call = Call::Send {
            connection: "conn-1".into(),
            data: vec![0, 1, 255],
        };
        let json = serde_json::to_string(&call)?;
        assert!(json.contains("[0,1,255]"), "{json}");
        assert_eq!(serde_json::from_str::<Call>(&json)?, call);
        let reply = Reply::Data(b"hi".to_vec());
        let json = serde_json::to_string(&reply)?;
        assert_eq!(serde_json::from_str::<Reply>(&json)?, reply);
        Ok(())
    }

    #[test]
    fn a_number_out_of_byte_range_is_an_error() {
        let json = r#"{"Received":{"connection":1,"data":[1,256]}}"#;
        assert!(serde_json::from_str::<IoEvent>(json).is_err());
    }

    /// What `deserialize` makes of `deserializer`.
    fn read<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        super::deserialize(deserializer)
    }

    #[test]
    fn bytes_given_as_bytes_are_read_as_they_are() -> serde_json::Result<()> {
        use serde::de::value::{BytesDeserializer, Error};
        // A JSON string offered as bytes (serde_json hands a string to a bytes visitor).
        let mut json = serde_json::Deserializer::from_str(r#""hi!""#);
        assert_eq!(read(&mut json)?, b"hi!".to_vec());
        let borrowed = BytesDeserializer::<Error>::new(&[7, 0, 255]);
        assert_eq!(read(borrowed), Ok(vec![7, 0, 255]));
        assert_eq!(read(ByteBuf(vec![1, 2, 3])), Ok(vec![1, 2, 3]));
        assert_eq!(read(ByteBuf(Vec::new())), Ok(Vec::new()));
        Ok(())
    }

    #[test]
    fn anything_else_is_refused_with_what_was_expected() {
        let err = serde_json::from_str::<IoEvent>(r#"{"Received":{"connection":1,"data":true}}"#)
            .expect_err("not bytes");
        assert!(
            err.to_string()
                .contains("expected bytes, or a sequence of numbers 0-255"),
            "{err}"
        );
    }

    /// A deserializer that hands over an owned buffer (`visit_byte_buf`), as a binary format
    /// that decodes into a fresh buffer does.
    struct ByteBuf(Vec<u8>);

    impl<'de> serde::Deserializer<'de> for ByteBuf {
        type Error = serde::de::value::Error;

        fn deserialize_any<V: serde::de::Visitor<'de>>(
            self,
            visitor: V,
        ) -> Result<V::Value, Self::Error> {
            visitor.visit_byte_buf(self.0)
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
            identifier ignored_any
        }
    }
}
