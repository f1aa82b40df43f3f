//! [`RecordBytes`]: record batches on the wire as one length and the raw
//! bytes. Serde's `Vec<u8>` is a sequence of `u8`, which bincode writes
//! and reads one byte at a time; on the replica fetch path that was about
//! a third of a 3-node cluster's broker CPU under acks=all load (`perf`,
//! docs/results.md, "Fetch sessions"). `serialize_bytes` is one copy.

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Raw record batches as stored in a leader's log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct RecordBytes(pub Vec<u8>);

impl Serialize for RecordBytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for RecordBytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_byte_buf(BytesVisitor)
    }
}

struct BytesVisitor;

impl<'de> Visitor<'de> for BytesVisitor {
    type Value = RecordBytes;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("record batch bytes")
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<RecordBytes, E> {
        Ok(RecordBytes(v.to_vec()))
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<RecordBytes, E> {
        Ok(RecordBytes(v))
    }
}

#[cfg(test)]
mod tests {
    use bincode::Options;
    use proptest::prelude::*;

    use super::*;

    fn options() -> impl Options {
        bincode::DefaultOptions::new()
            .with_limit(1 << 20)
            .with_little_endian()
            .with_varint_encoding()
            .reject_trailing_bytes()
    }

    proptest! {
        #[test]
        fn round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let encoded = options().serialize(&RecordBytes(bytes.clone())).unwrap();
            // A length, then the bytes as they are.
            prop_assert!(encoded.ends_with(&bytes));
            prop_assert!(encoded.len() <= bytes.len() + 9);
            let decoded: RecordBytes = options().deserialize(&encoded).unwrap();
            prop_assert_eq!(decoded.0, bytes);
        }
    }

    #[test]
    fn a_length_past_the_limit_is_refused_without_allocating() {
        // varint: 0xFD then a u64 claiming 2^60 bytes.
        let mut encoded = vec![0xFD];
        encoded.extend_from_slice(&(1u64 << 60).to_le_bytes());
        assert!(options().deserialize::<RecordBytes>(&encoded).is_err());
    }
}
