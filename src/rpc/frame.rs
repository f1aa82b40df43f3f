//! One [`RpcEnvelope`] as bytes on a stream:
//!
//! ```text
//! body_bytes: u32 big-endian | crc32c(body): u32 big-endian | body: bincode(RpcEnvelope)
//! ```
//!
//! The body is bincode 1.3 with fixed options (`body_options`: little
//! endian, varint integers, trailing bytes rejected) and a byte limit, so a
//! length inside the body that lies (a string or vector claiming 2^60
//! elements) fails to decode instead of allocating. [`decode_frame`] is
//! incremental: it takes whatever bytes have arrived, returns `Ok(None)`
//! until a whole frame is there, and rejects a frame as soon as its header
//! says it is too large. It never panics, whatever the bytes.

use bincode::Options;
use bytes::{Buf, BufMut, BytesMut};

use crate::rpc::envelope::RpcEnvelope;

/// The largest frame body, in bytes. A Raft message is at most
/// `RaftConfig::message_max_bytes` of payload (1 MiB by default) plus a few
/// bytes of envelope; 16 MiB leaves room for a raised Raft limit and for
/// replica fetch later, while a reader never buffers more than this (plus
/// one read chunk) for one peer, whatever the peer claims.
pub const RPC_FRAME_BYTES_MAX: usize = 16 * 1024 * 1024;

/// Length and checksum, before the body.
pub const RPC_FRAME_HEADER_BYTES: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpcFrameError {
    /// The header (or, when encoding, the envelope) is larger than
    /// [`RPC_FRAME_BYTES_MAX`].
    #[error("rpc frame body of {body_bytes} bytes exceeds the limit of {limit_bytes} bytes")]
    TooLarge { body_bytes: u64, limit_bytes: usize },
    /// The body's CRC-32C is not the one in the header: corrupted in flight
    /// or not an odradek rpc stream at all.
    #[error("rpc frame checksum mismatch: header {expected:#010x}, body {actual:#010x}")]
    BadChecksum { expected: u32, actual: u32 },
    /// The checksum matched but the body is not a valid envelope (a newer
    /// peer's variant, a lying length, trailing bytes).
    #[error("rpc frame body does not decode: {reason}")]
    Undecodable { reason: String },
}

/// The bincode options of a frame body, for both directions.
fn body_options() -> impl Options {
    bincode::DefaultOptions::new()
        .with_limit(RPC_FRAME_BYTES_MAX as u64)
        .with_little_endian()
        .with_varint_encoding()
        .reject_trailing_bytes()
}

/// The frame of `envelope`: header and body. Fails only if the body would be
/// larger than [`RPC_FRAME_BYTES_MAX`].
pub fn encode_frame(envelope: &RpcEnvelope) -> Result<Vec<u8>, RpcFrameError> {
    let body = body_options()
        .serialize(envelope)
        .map_err(|_| RpcFrameError::TooLarge {
            // The limit stopped the serializer; measure without it to report.
            body_bytes: bincode::DefaultOptions::new()
                .with_varint_encoding()
                .serialized_size(envelope)
                .unwrap_or(u64::MAX),
            limit_bytes: RPC_FRAME_BYTES_MAX,
        })?;
    assert!(body.len() <= RPC_FRAME_BYTES_MAX);
    let body_bytes = u32::try_from(body.len()).expect("RPC_FRAME_BYTES_MAX fits u32");

    let mut frame = Vec::with_capacity(RPC_FRAME_HEADER_BYTES + body.len());
    frame.put_u32(body_bytes);
    frame.put_u32(crc32c::crc32c(&body));
    frame.extend_from_slice(&body);
    assert_eq!(frame.len(), RPC_FRAME_HEADER_BYTES + body.len());
    Ok(frame)
}

/// Takes the next whole frame off the front of `buf` and decodes it.
///
/// `Ok(None)`: not a whole frame yet (nothing is consumed; append more bytes
/// and call again). `Ok(Some(_))`: the frame's bytes are consumed. `Err(_)`:
/// the stream is unusable from here (nothing is consumed, and no later frame
/// boundary can be trusted); the caller drops the connection.
pub fn decode_frame(buf: &mut BytesMut) -> Result<Option<RpcEnvelope>, RpcFrameError> {
    let Some(length_bytes) = buf.get(..4) else {
        return Ok(None);
    };
    let body_bytes = u32::from_be_bytes(length_bytes.try_into().expect("4 bytes")) as usize;
    if body_bytes > RPC_FRAME_BYTES_MAX {
        return Err(RpcFrameError::TooLarge {
            body_bytes: body_bytes as u64,
            limit_bytes: RPC_FRAME_BYTES_MAX,
        });
    }
    let frame_bytes = RPC_FRAME_HEADER_BYTES + body_bytes;
    let Some(frame) = buf.get(..frame_bytes) else {
        return Ok(None);
    };

    let expected = u32::from_be_bytes(frame[4..8].try_into().expect("4 bytes"));
    let body = &frame[RPC_FRAME_HEADER_BYTES..];
    let actual = crc32c::crc32c(body);
    if actual != expected {
        return Err(RpcFrameError::BadChecksum { expected, actual });
    }
    let envelope = body_options()
        .deserialize::<RpcEnvelope>(body)
        .map_err(|error| RpcFrameError::Undecodable {
            reason: error.to_string(),
        })?;

    buf.advance(frame_bytes);
    Ok(Some(envelope))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::core::raft::{AppendResult, Entry, EntryKind, Message, MessageBody, SnapshotMeta};
    use crate::rpc::envelope::RpcBody;

    fn hello() -> RpcEnvelope {
        RpcEnvelope {
            cluster_id: "cluster-a".into(),
            from: 1,
            to: 2,
            body: RpcBody::Hello {
                node_id: 1,
                incarnation: 9,
            },
        }
    }

    /// A frame around `body` with a correct header, whatever `body` is.
    fn frame_around(body: &[u8]) -> BytesMut {
        let mut frame = BytesMut::new();
        frame.put_u32(body.len() as u32);
        frame.put_u32(crc32c::crc32c(body));
        frame.extend_from_slice(body);
        frame
    }

    #[test]
    fn hello_round_trips_and_is_consumed() {
        let mut buf = BytesMut::from(&encode_frame(&hello()).unwrap()[..]);
        buf.extend_from_slice(&[0xAB]); // the start of a next frame
        assert_eq!(decode_frame(&mut buf).unwrap(), Some(hello()));
        assert_eq!(&buf[..], &[0xAB]);
        assert_eq!(decode_frame(&mut buf).unwrap(), None);
    }

    #[test]
    fn header_over_the_limit_is_rejected_before_the_body_arrives() {
        let mut buf = BytesMut::new();
        buf.put_u32(RPC_FRAME_BYTES_MAX as u32 + 1);
        assert_eq!(
            decode_frame(&mut buf),
            Err(RpcFrameError::TooLarge {
                body_bytes: RPC_FRAME_BYTES_MAX as u64 + 1,
                limit_bytes: RPC_FRAME_BYTES_MAX,
            })
        );
        // Exactly the limit is allowed: it waits for the body.
        let mut buf = BytesMut::new();
        buf.put_u32(RPC_FRAME_BYTES_MAX as u32);
        assert_eq!(decode_frame(&mut buf), Ok(None));
    }

    #[test]
    fn envelope_over_the_limit_is_not_encoded() {
        let envelope = RpcEnvelope {
            body: RpcBody::Raft(Message {
                from: 1,
                to: 2,
                term: 1,
                body: MessageBody::InstallSnapshot {
                    meta: SnapshotMeta::default(),
                    total_bytes: 0,
                    offset: 0,
                    data: vec![0; RPC_FRAME_BYTES_MAX],
                },
            }),
            ..hello()
        };
        match encode_frame(&envelope) {
            Err(RpcFrameError::TooLarge { body_bytes, .. }) => {
                assert!(body_bytes > RPC_FRAME_BYTES_MAX as u64)
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
    }

    #[test]
    fn flipped_body_bit_is_a_bad_checksum() {
        let mut buf = BytesMut::from(&encode_frame(&hello()).unwrap()[..]);
        let last = buf.len() - 1;
        buf[last] ^= 0x01;
        assert!(matches!(
            decode_frame(&mut buf),
            Err(RpcFrameError::BadChecksum { .. })
        ));
    }

    #[test]
    fn garbage_body_with_a_good_checksum_is_undecodable() {
        // Variant index 200 of RpcBody does not exist.
        let mut buf = frame_around(&[1, b'c', 2, 4, 200]);
        assert!(matches!(
            decode_frame(&mut buf),
            Err(RpcFrameError::Undecodable { .. })
        ));
    }

    #[test]
    fn trailing_bytes_in_the_body_are_undecodable() {
        let frame = encode_frame(&hello()).unwrap();
        let mut body = frame[RPC_FRAME_HEADER_BYTES..].to_vec();
        body.push(0);
        assert!(matches!(
            decode_frame(&mut frame_around(&body)),
            Err(RpcFrameError::Undecodable { .. })
        ));
    }

    #[test]
    fn lying_length_inside_the_body_does_not_allocate() {
        // cluster_id's length as a varint u64 (tag 253) claiming 2^62 bytes.
        // Refused without allocating for the claim: a body is at most
        // RPC_FRAME_BYTES_MAX bytes and bincode reads it from a slice under
        // the same byte limit. A decoder that trusted the claim would abort
        // the test process here.
        let mut body = vec![253];
        body.extend_from_slice(&(1u64 << 62).to_le_bytes());
        body.extend_from_slice(b"short");
        assert!(matches!(
            decode_frame(&mut frame_around(&body)),
            Err(RpcFrameError::Undecodable { .. })
        ));
    }

    fn entry() -> impl Strategy<Value = Entry> {
        let kind = prop_oneof![
            Just(EntryKind::NoOp),
            proptest::collection::vec(any::<u8>(), 0..64).prop_map(EntryKind::Command),
        ];
        (any::<u64>(), any::<u64>(), kind).prop_map(|(term, index, kind)| Entry {
            term,
            index,
            kind,
        })
    }

    fn snapshot_meta() -> impl Strategy<Value = SnapshotMeta> {
        (any::<u64>(), any::<u64>()).prop_map(|(last_index, last_term)| SnapshotMeta {
            last_index,
            last_term,
        })
    }

    fn message_body() -> impl Strategy<Value = MessageBody> {
        let append_result = prop_oneof![
            any::<u64>().prop_map(|match_index| AppendResult::Success { match_index }),
            (any::<u64>(), any::<u64>(), any::<Option<u64>>()).prop_map(
                |(rejected_prev_index, conflict_index, conflict_term)| AppendResult::Reject {
                    rejected_prev_index,
                    conflict_index,
                    conflict_term,
                }
            ),
        ];
        prop_oneof![
            (any::<u64>(), any::<u64>()).prop_map(|(last_log_index, last_log_term)| {
                MessageBody::PreVote {
                    last_log_index,
                    last_log_term,
                }
            }),
            any::<bool>().prop_map(|granted| MessageBody::PreVoteResponse { granted }),
            (any::<u64>(), any::<u64>()).prop_map(|(last_log_index, last_log_term)| {
                MessageBody::Vote {
                    last_log_index,
                    last_log_term,
                }
            }),
            any::<bool>().prop_map(|granted| MessageBody::VoteResponse { granted }),
            (
                any::<u64>(),
                any::<u64>(),
                proptest::collection::vec(entry(), 0..8),
                any::<u64>()
            )
                .prop_map(|(prev_log_index, prev_log_term, entries, leader_commit)| {
                    MessageBody::AppendEntries {
                        prev_log_index,
                        prev_log_term,
                        entries,
                        leader_commit,
                    }
                }),
            append_result.prop_map(|result| MessageBody::AppendEntriesResponse { result }),
            (
                snapshot_meta(),
                any::<u64>(),
                any::<u64>(),
                proptest::collection::vec(any::<u8>(), 0..256)
            )
                .prop_map(|(meta, total_bytes, offset, data)| {
                    MessageBody::InstallSnapshot {
                        meta,
                        total_bytes,
                        offset,
                        data,
                    }
                }),
            (snapshot_meta(), any::<u64>(), any::<bool>()).prop_map(
                |(meta, next_offset, installed)| MessageBody::InstallSnapshotResponse {
                    meta,
                    next_offset,
                    installed,
                }
            ),
        ]
    }

    fn raft_envelope() -> impl Strategy<Value = RpcEnvelope> {
        (
            "[a-z0-9-]{0,24}",
            0..i32::MAX,
            0..i32::MAX,
            any::<u64>(),
            message_body(),
        )
            .prop_map(|(cluster_id, from, to, term, body)| RpcEnvelope {
                cluster_id,
                from,
                to,
                body: RpcBody::Raft(Message {
                    from: from as u64,
                    to: to as u64,
                    term,
                    body,
                }),
            })
    }

    proptest! {
        #[test]
        fn raft_envelopes_round_trip_split_anywhere(
            envelope in raft_envelope(),
            split_per_mille in 0usize..1000,
        ) {
            let frame = encode_frame(&envelope).unwrap();
            let split = frame.len() * split_per_mille / 1000;
            let mut buf = BytesMut::from(&frame[..split]);
            prop_assert_eq!(decode_frame(&mut buf), Ok(None));
            prop_assert_eq!(buf.len(), split);
            buf.extend_from_slice(&frame[split..]);
            prop_assert_eq!(decode_frame(&mut buf), Ok(Some(envelope)));
            prop_assert!(buf.is_empty());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut buf = BytesMut::from(&bytes[..]);
            // Each Ok(Some) consumes at least a header, so this ends.
            while let Ok(Some(_)) = decode_frame(&mut buf) {}
        }

        #[test]
        fn arbitrary_bodies_with_good_checksums_never_panic(
            body in proptest::collection::vec(any::<u8>(), 0..512),
        ) {
            match decode_frame(&mut frame_around(&body)) {
                Ok(Some(envelope)) => {
                    // Whatever decodes, encodes and decodes back to itself.
                    let mut again = BytesMut::from(&encode_frame(&envelope).unwrap()[..]);
                    prop_assert_eq!(decode_frame(&mut again), Ok(Some(envelope)));
                }
                Err(RpcFrameError::Undecodable { .. }) => {}
                other => prop_assert!(false, "unexpected {:?}", other),
            }
        }
    }
}
