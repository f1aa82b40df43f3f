//! Property tests of the v2 batch codec against batches built by the
//! kafka-protocol crate, the codec real clients' bytes look like: whatever a
//! client encodes (any compression, keys, values, headers, producer state)
//! must validate; the broker's offset/epoch patching must keep the CRC valid
//! and decode back to the same records; one flipped bit must never pass; and
//! no input, however hostile, may panic the header parser.

use bytes::{Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use proptest::prelude::*;
use proptest::sample::Index;

use super::record_batch::{self, BatchError, BATCH_HEADER_SIZE_BYTES};

/// Where the CRC-covered region starts (attributes onwards).
const CRC_START: usize = 21;
/// Large enough that no generated batch is refused as too large.
const NO_SIZE_LIMIT: usize = 1 << 30;

#[derive(Debug, Clone)]
struct RecordSpec {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
    timestamp_delta: i64,
}

/// Producer identity as a client sends it: none, or idempotent/transactional.
#[derive(Debug, Clone, Copy)]
struct Producer {
    id: i64,
    epoch: i16,
    base_sequence: i32,
    transactional: bool,
}

#[derive(Debug, Clone)]
struct BatchSpec {
    compression: Compression,
    producer: Producer,
    base_timestamp: i64,
    records: Vec<RecordSpec>,
}

impl BatchSpec {
    fn timestamps(&self) -> impl Iterator<Item = i64> + '_ {
        self.records
            .iter()
            .map(|r| self.base_timestamp + r.timestamp_delta)
    }

    /// The records as kafka-protocol models them, at offsets 0..n (what a
    /// producer sends: the broker assigns the real offsets).
    fn records(&self) -> Vec<Record> {
        self.records
            .iter()
            .enumerate()
            .map(|(i, r)| Record {
                transactional: self.producer.transactional,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: self.producer.id,
                producer_epoch: self.producer.epoch,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                // offset - sequence is constant, so the encoder keeps one batch.
                sequence: self.producer.base_sequence.wrapping_add(i as i32),
                timestamp: self.base_timestamp + r.timestamp_delta,
                key: r.key.clone().map(Bytes::from),
                value: r.value.clone().map(Bytes::from),
                headers: r
                    .headers
                    .iter()
                    .map(|(k, v)| (StrBytes::from_string(k.clone()), v.clone().map(Bytes::from)))
                    .collect::<IndexMap<_, _>>(),
            })
            .collect()
    }

    fn encode_into(&self, buf: &mut BytesMut) {
        let options = RecordEncodeOptions {
            version: 2,
            compression: self.compression,
        };
        RecordBatchEncoder::encode(buf, &self.records(), &options)
            .expect("kafka-protocol encodes the batch");
    }
}

fn encode_all(specs: &[BatchSpec]) -> Vec<u8> {
    let mut buf = BytesMut::new();
    for spec in specs {
        spec.encode_into(&mut buf);
    }
    buf.to_vec()
}

fn compression() -> impl Strategy<Value = Compression> {
    prop_oneof![
        Just(Compression::None),
        Just(Compression::Gzip),
        Just(Compression::Snappy),
        Just(Compression::Lz4),
        Just(Compression::Zstd),
    ]
}

/// Either random bytes or a run of one byte (so compression has work to do).
fn payload(max_len: usize) -> impl Strategy<Value = Option<Vec<u8>>> {
    proptest::option::of(prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..max_len),
        (any::<u8>(), 0..max_len).prop_map(|(b, n)| vec![b; n]),
    ])
}

fn record_spec() -> impl Strategy<Value = RecordSpec> {
    (
        payload(24),
        payload(300),
        // Kafka header keys may repeat, but kafka-protocol keeps them in a
        // map: unique keys keep the round trip comparable.
        proptest::collection::btree_map("[a-z]{0,6}", payload(16), 0..3),
        0i64..100_000,
    )
        .prop_map(|(key, value, headers, timestamp_delta)| RecordSpec {
            key,
            value,
            headers: headers.into_iter().collect(),
            timestamp_delta,
        })
}

fn producer() -> impl Strategy<Value = Producer> {
    prop_oneof![
        Just(Producer {
            id: -1,
            epoch: -1,
            base_sequence: -1,
            transactional: false
        }),
        (
            0i64..i64::MAX,
            0i16..i16::MAX,
            0i32..i32::MAX / 2,
            any::<bool>()
        )
            .prop_map(|(id, epoch, base_sequence, transactional)| Producer {
                id,
                epoch,
                base_sequence,
                transactional
            }),
    ]
}

fn batch_spec() -> impl Strategy<Value = BatchSpec> {
    (
        compression(),
        producer(),
        0i64..(1 << 42),
        proptest::collection::vec(record_spec(), 1..12),
    )
        .prop_map(
            |(compression, producer, base_timestamp, records)| BatchSpec {
                compression,
                producer,
                base_timestamp,
                records,
            },
        )
}

/// Hostile inputs: random bytes, and valid batches cut short, overwritten
/// in places, or with a lying length field.
fn hostile_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..600),
        (batch_spec(), any::<Index>()).prop_map(|(spec, cut)| {
            let b = encode_all(&[spec]);
            let at = cut.index(b.len());
            b[..at].to_vec()
        }),
        (
            batch_spec(),
            any::<Index>(),
            proptest::collection::vec(any::<u8>(), 1..16)
        )
            .prop_map(|(spec, at, junk)| {
                let mut b = encode_all(&[spec]);
                let start = at.index(b.len());
                for (i, byte) in junk.iter().enumerate() {
                    if let Some(slot) = b.get_mut(start + i) {
                        *slot = *byte;
                    }
                }
                b
            }),
        (batch_spec(), any::<i32>()).prop_map(|(spec, length)| {
            let mut b = encode_all(&[spec]);
            b[8..12].copy_from_slice(&length.to_be_bytes());
            b
        }),
    ]
}

proptest! {
    #![proptest_config(crate::test_support::proptest_config(128))]

    /// What a client sends validates, and every header field the broker
    /// relies on reads back as the client encoded it.
    #[test]
    fn client_batches_validate_with_the_encoded_header(specs in proptest::collection::vec(batch_spec(), 1..4)) {
        let bytes = encode_all(&specs);
        let headers = record_batch::validate_produced(&bytes, NO_SIZE_LIMIT).expect("client batch validates");
        prop_assert_eq!(headers.len(), specs.len());
        let mut position = 0;
        for (header, spec) in headers.iter().zip(&specs) {
            let n = spec.records.len() as i32;
            prop_assert_eq!(header.base_offset, 0);
            prop_assert_eq!(header.records_count, n);
            prop_assert_eq!(header.last_offset_delta, n - 1);
            prop_assert_eq!(header.base_timestamp_ms, spec.timestamps().min().unwrap());
            prop_assert_eq!(header.max_timestamp_ms, spec.timestamps().max().unwrap());
            prop_assert_eq!(header.producer_id, spec.producer.id);
            prop_assert_eq!(header.producer_epoch, spec.producer.epoch);
            prop_assert_eq!(header.base_sequence, spec.producer.base_sequence);
            prop_assert_eq!(header.compression_codec(), spec.compression as i16);
            prop_assert_eq!(header.is_transactional(), spec.producer.transactional);
            prop_assert!(!header.is_control());
            prop_assert_eq!(header.next_offset(), n as i64);
            // The header parsers agree with the validator.
            prop_assert_eq!(record_batch::parse_header(&bytes[position..]), Ok(*header));
            prop_assert_eq!(record_batch::parse_header_prefix(&bytes[position..]), Ok(*header));
            position += header.size_bytes;
        }
        prop_assert_eq!(position, bytes.len());
        let walked: Vec<_> = record_batch::headers(&bytes).map(|(_, h)| h).collect();
        prop_assert_eq!(walked, headers);
    }

    /// A batch larger than max.message.bytes is refused as too large, not
    /// accepted or reported as corrupt (clients treat those differently).
    #[test]
    fn oversized_batches_are_too_large(spec in batch_spec()) {
        let bytes = encode_all(&[spec]);
        let limit = bytes.len() - 1;
        let refused = matches!(
            record_batch::validate_produced(&bytes, limit),
            Err(BatchError::TooLarge { size, max }) if size == bytes.len() && max == limit
        );
        prop_assert!(refused);
        prop_assert!(record_batch::validate_produced(&bytes, bytes.len()).is_ok());
    }

    /// The broker assigns offsets and stamps its leader epoch outside the
    /// CRC: the batch stays valid, and a consumer decoding it sees the
    /// assigned offsets and exactly the records the producer sent.
    #[test]
    fn patched_batches_keep_their_crc_and_decode_to_the_sent_records(
        specs in proptest::collection::vec(batch_spec(), 1..4),
        base_offset in 0i64..(1 << 50),
        leader_epoch in 0i32..i32::MAX,
    ) {
        let mut bytes = encode_all(&specs);
        let headers = record_batch::validate_produced(&bytes, NO_SIZE_LIMIT).unwrap();
        let mut position = 0;
        let mut next = base_offset;
        for header in &headers {
            let batch = &mut bytes[position..position + header.size_bytes];
            record_batch::patch_base_offset(batch, next);
            record_batch::patch_leader_epoch(batch, leader_epoch);
            let patched = record_batch::parse_verified(batch).expect("patching keeps the CRC valid");
            prop_assert_eq!(patched.base_offset, next);
            prop_assert_eq!(patched.partition_leader_epoch, leader_epoch);
            prop_assert_eq!(patched.last_offset(), next + header.last_offset_delta as i64);
            next = patched.next_offset();
            position += header.size_bytes;
        }
        prop_assert!(record_batch::validate_produced(&bytes, NO_SIZE_LIMIT).is_ok());

        let decoded = RecordBatchDecoder::decode_all(&mut Bytes::from(bytes)).expect("kafka-protocol decodes it");
        prop_assert_eq!(decoded.len(), specs.len());
        let mut offset = base_offset;
        for (set, spec) in decoded.iter().zip(&specs) {
            prop_assert_eq!(set.compression, spec.compression);
            let mut expected = spec.records();
            for record in &mut expected {
                record.offset += offset;
                record.partition_leader_epoch = leader_epoch;
            }
            prop_assert_eq!(&set.records, &expected);
            offset += spec.records.len() as i64;
        }
    }

    /// CRC-32C detects every single-bit error, so one flipped bit anywhere
    /// in the covered region never passes verification (a flip that makes a
    /// count negative is caught even before the CRC).
    #[test]
    fn any_single_bit_flip_in_the_crc_region_fails(spec in batch_spec(), at in any::<Index>(), bit in 0u8..8) {
        let mut bytes = encode_all(&[spec]);
        let position = CRC_START + at.index(bytes.len() - CRC_START);
        bytes[position] ^= 1 << bit;
        let result = record_batch::parse_verified(&bytes);
        let rejected = matches!(result, Err(BatchError::BadCrc { .. }) | Err(BatchError::Invalid { .. }));
        prop_assert!(rejected, "flip at {} bit {} gave {:?}", position, bit, result);
        prop_assert!(record_batch::validate_produced(&bytes, NO_SIZE_LIMIT).is_err());
    }

    /// Bytes from the network or a damaged disk are never trusted: every
    /// entry point returns an error or a consistent answer, never panics.
    #[test]
    fn hostile_bytes_never_panic(bytes in hostile_bytes()) {
        if let Ok(headers) = record_batch::validate_produced(&bytes, NO_SIZE_LIMIT) {
            // Accepted only if the batches tile the input and each verifies.
            let total: usize = headers.iter().map(|h| h.size_bytes).sum();
            prop_assert_eq!(total, bytes.len());
            prop_assert!(headers.iter().all(|h| h.size_bytes >= BATCH_HEADER_SIZE_BYTES && h.records_count > 0));
        }
        if let Ok(header) = record_batch::parse_header(&bytes) {
            prop_assert!(header.size_bytes <= bytes.len());
            prop_assert!(header.size_bytes >= BATCH_HEADER_SIZE_BYTES);
        }
        let _ = record_batch::parse_header_prefix(&bytes);
        let _ = record_batch::parse_verified(&bytes);
        let _ = record_batch::peek_batch_size(&bytes);
        let mut end = 0;
        for (position, header) in record_batch::headers(&bytes) {
            prop_assert_eq!(position, end);
            end = position + header.size_bytes;
            prop_assert!(end <= bytes.len());
        }
    }
}
