//! Record batches for Produce: encoded by `kafka-protocol`'s own encoder
//! (every codec), then with header fields lied about (record count,
//! lastOffsetDelta, lengths, attributes, timestamps, producer fields) and
//! the CRC recomputed half of the time, so a lie gets past the CRC check
//! and reaches the broker's validation.

use bytes::{Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use rand::Rng;

use crate::fuzz::values::Gen;

/// Offsets of the v2 batch header fields (KIP-98).
const BATCH_LENGTH: usize = 8;
const LEADER_EPOCH: usize = 12;
const MAGIC: usize = 16;
const CRC: usize = 17;
const ATTRIBUTES: usize = 21;
const LAST_OFFSET_DELTA: usize = 23;
const BASE_TIMESTAMP: usize = 27;
const MAX_TIMESTAMP: usize = 35;
const PRODUCER_ID: usize = 43;
const PRODUCER_EPOCH: usize = 51;
const BASE_SEQUENCE: usize = 53;
const RECORD_COUNT: usize = 57;
const HEADER_LEN: usize = 61;

/// The `records` field of one partition in a Produce request.
pub fn records_field(g: &mut Gen) -> Option<Bytes> {
    match g.below(20) {
        0 => None,
        1 => Some(Bytes::new()),
        2 => Some(g.bytes(80)),
        _ => {
            let batches = if g.chance(0.7) {
                1
            } else {
                g.rng.gen_range(2..5)
            };
            let mut out = BytesMut::new();
            if g.chance(0.3) {
                // The same batch again and again: one lie, multiplied (a
                // batch claiming 2^31 records, four times, passes 2^32
                // offsets in one request).
                let one = batch(g);
                for _ in 0..batches {
                    out.extend_from_slice(&one);
                }
            } else {
                for _ in 0..batches {
                    out.extend_from_slice(&batch(g));
                }
            }
            Some(out.freeze())
        }
    }
}

/// One v2 batch, honest 40% of the time, otherwise with lies in its header.
pub fn batch(g: &mut Gen) -> Vec<u8> {
    let mut bytes = honest_batch(g);
    if bytes.len() < HEADER_LEN || g.chance(0.4) {
        return bytes;
    }
    for _ in 0..g.rng.gen_range(1..4) {
        lie_in_header(g, &mut bytes);
    }
    if g.chance(0.5) {
        fix_crc(&mut bytes);
    }
    bytes
}

fn honest_batch(g: &mut Gen) -> Vec<u8> {
    let compression = *g.pick(&[
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ]);
    let count = match g.below(10) {
        0 => 0,
        1 => g.rng.gen_range(10..200),
        _ => g.rng.gen_range(1..5),
    };
    let idempotent = g.chance(0.2);
    let transactional = g.chance(0.05);
    let control = g.chance(0.05);
    let producer_id = if idempotent {
        g.rng.gen_range(0..4)
    } else {
        -1
    };
    let base_sequence = if idempotent {
        g.rng.gen_range(0..3)
    } else {
        -1
    };
    let base_ts = if g.chance(0.8) {
        1_700_000_000_000
    } else {
        g.i64_extreme()
    };
    let records: Vec<Record> = (0..count)
        .map(|i| Record {
            transactional,
            control,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id,
            producer_epoch: if idempotent { 0 } else { -1 },
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: if idempotent { base_sequence + i } else { -1 },
            timestamp: base_ts.saturating_add(i as i64),
            key: g.opt(0.5, |g| g.bytes(8)),
            value: g.opt(0.1, |g| g.bytes(64)),
            headers: headers(g),
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression,
    };
    match RecordBatchEncoder::encode(&mut buf, &records, &options) {
        Ok(()) => buf.to_vec(),
        // The encoder refuses what it cannot represent: send no batch.
        Err(_) => Vec::new(),
    }
}

fn headers(g: &mut Gen) -> IndexMap<StrBytes, Option<Bytes>> {
    let mut map = IndexMap::new();
    if g.chance(0.2) {
        let key = g.short_string();
        let value = g.opt(0.3, |g| g.bytes(8));
        map.insert(StrBytes::from_string(key), value);
    }
    map
}

/// Overwrites one header field with a value a producer would never send.
fn lie_in_header(g: &mut Gen, b: &mut [u8]) {
    let real_len = (b.len() - 12) as i32;
    match g.below(12) {
        11 => {
            // Claims (nearly) 2^31 records, consistently.
            put_i32(b, RECORD_COUNT, i32::MAX);
            put_i32(b, LAST_OFFSET_DELTA, i32::MAX - 1);
        }
        0 => put_i32(
            b,
            RECORD_COUNT,
            *g.pick(&[i32::MAX, -1, 0, 1, 1000, 2, real_len]),
        ),
        1 => {
            let count = i32::from_be_bytes(b[RECORD_COUNT..RECORD_COUNT + 4].try_into().unwrap());
            let v = *g.pick(&[i32::MAX, -1, 0, count, count.wrapping_add(1), count - 2]);
            put_i32(b, LAST_OFFSET_DELTA, v)
        }
        2 => put_i32(
            b,
            BATCH_LENGTH,
            *g.pick(&[0, -1, i32::MAX, real_len - 1, real_len + 1, 49]),
        ),
        3 => {
            // Attributes: codec (bits 0-2, 5-7 unknown), timestamp type,
            // transactional, control, delete horizon.
            let codec = g.below(8) as i16;
            let flags = g.rng.gen::<i16>() & !0x7;
            let attributes = if g.chance(0.5) { codec } else { codec | flags };
            b[ATTRIBUTES..ATTRIBUTES + 2].copy_from_slice(&attributes.to_be_bytes());
        }
        4 => put_i64(b, BASE_TIMESTAMP, g.i64_extreme()),
        5 => put_i64(b, MAX_TIMESTAMP, g.i64_extreme()),
        6 => put_i64(b, PRODUCER_ID, *g.pick(&[-1, 0, 1, i64::MAX, -2])),
        7 => b[PRODUCER_EPOCH..PRODUCER_EPOCH + 2].copy_from_slice(&g.i16_any().to_be_bytes()),
        8 => put_i32(b, BASE_SEQUENCE, *g.pick(&[-1, 0, 5, i32::MAX, i32::MIN])),
        9 => b[MAGIC] = *g.pick(&[0u8, 1, 3, 0xff]),
        _ => put_i32(b, LEADER_EPOCH, g.i32_extreme()),
    }
    // The base offset is the client's to set (the broker assigns its own).
    if g.chance(0.1) {
        put_i64(b, 0, g.i64_extreme());
    }
}

/// Recomputes the CRC-32C over attributes..end, as an honest encoder would.
fn fix_crc(b: &mut [u8]) {
    let crc = crc32c::crc32c(&b[ATTRIBUTES..]);
    b[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
}

fn put_i32(b: &mut [u8], at: usize, v: i32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

fn put_i64(b: &mut [u8], at: usize, v: i64) {
    b[at..at + 8].copy_from_slice(&v.to_be_bytes());
}
