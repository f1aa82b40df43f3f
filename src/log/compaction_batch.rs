//! Opening a stored v2 batch into its records and writing a batch back with
//! the same header, for compaction (the only place the broker re-encodes).
//!
//! Records are kept as parsed fields plus their raw header bytes, so a
//! retained record is written back exactly (duplicate or non-UTF-8 header
//! keys survive). The kafka-protocol crate's codecs do the (de)compression;
//! its record encoder is not used because it derives the base offset, last
//! offset delta and base timestamp from the records, while compaction must
//! keep the original base offset and last offset delta (so the producer's
//! last sequence survives) and may set a delete horizon (KIP-534).
//!
//! Record layout (inside the possibly compressed records section):
//! ```text
//! length varint | attributes i8 | timestampDelta varlong | offsetDelta varint
//! keyLength varint | key | valueLength varint | value | headers (count varint, ...)
//! ```

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::compression::{self as codec, Compressor};

use crate::log::decompress::{decompress_bounded, DecompressError};
use crate::log::record_batch::{self, BatchError, BatchHeader, BATCH_HEADER_SIZE_BYTES};

/// Attribute bits of a v2 batch header.
pub const ATTR_COMPRESSION_MASK: i16 = 0x07;
pub const ATTR_DELETE_HORIZON: i16 = 0x40;
/// Records decoded from one batch at most (a batch claiming more is refused).
pub const RECORDS_PER_BATCH_MAX: usize = 1 << 20;
/// Decompressed size of one batch's records at most, checked while
/// decompressing (`crate::log::decompress`). Kafka has no such bound; 64 MiB
/// is far above any batch a producer builds (`max.message.bytes` defaults to
/// 1 MiB) and keeps a 1 KiB compression bomb from costing gigabytes.
pub const DECOMPRESSED_RECORDS_SIZE_BYTES_MAX: usize = 64 << 20;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordsError {
    #[error(transparent)]
    Batch(#[from] BatchError),
    #[error("unknown compression codec {codec}")]
    UnknownCodec { codec: i16 },
    #[error("records do not decompress: {detail}")]
    Decompress { detail: String },
    #[error("records do not compress: {detail}")]
    Compress { detail: String },
    #[error("malformed record: {reason}")]
    BadRecord { reason: &'static str },
}

/// One record of a stored batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub attributes: i8,
    /// Absolute: the batch's base timestamp plus the stored delta.
    pub timestamp_ms: i64,
    pub offset_delta: i32,
    pub key: Option<Bytes>,
    /// `None` is a tombstone.
    pub value: Option<Bytes>,
    /// The header count and headers exactly as stored.
    pub headers_raw: Bytes,
}

/// A batch opened into its records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedBatch {
    pub header: BatchHeader,
    pub records: Vec<StoredRecord>,
}

impl OpenedBatch {
    pub fn delete_horizon_ms(&self) -> Option<i64> {
        (self.header.attributes & ATTR_DELETE_HORIZON != 0).then_some(self.header.base_timestamp_ms)
    }
    pub fn offset_of(&self, record: &StoredRecord) -> i64 {
        self.header.base_offset + record.offset_delta as i64
    }
}

/// Verifies the CRC of a stored batch, decompresses it and parses its records.
pub fn open_batch(batch: &[u8]) -> Result<OpenedBatch, RecordsError> {
    let header = record_batch::parse_verified(batch)?;
    let count = header.records_count as usize;
    if count > RECORDS_PER_BATCH_MAX {
        return Err(RecordsError::BadRecord {
            reason: "too many records",
        });
    }
    let section = &batch[BATCH_HEADER_SIZE_BYTES..header.size_bytes];
    let plain = decompress(header.compression_codec(), section)?;
    let mut buf = plain;
    let mut records = Vec::with_capacity(count.min(buf.len()));
    for _ in 0..count {
        records.push(parse_record(&mut buf, header.base_timestamp_ms)?);
    }
    if buf.has_remaining() {
        return Err(RecordsError::BadRecord {
            reason: "bytes after the last record",
        });
    }
    if records
        .iter()
        .any(|r| r.offset_delta < 0 || r.offset_delta > header.last_offset_delta)
    {
        return Err(RecordsError::BadRecord {
            reason: "offset delta outside the batch",
        });
    }
    if records
        .windows(2)
        .any(|w| w[0].offset_delta >= w[1].offset_delta)
    {
        return Err(RecordsError::BadRecord {
            reason: "offset deltas do not grow",
        });
    }
    Ok(OpenedBatch { header, records })
}

/// Decompresses a batch's records section, bounded while it decompresses
/// (a compressed bomb is refused after producing at most the bound).
fn decompress(codec_id: i16, section: &[u8]) -> Result<Bytes, RecordsError> {
    match decompress_bounded(codec_id, section, DECOMPRESSED_RECORDS_SIZE_BYTES_MAX) {
        Ok(plain) => Ok(Bytes::from(plain.into_owned())),
        Err(DecompressError::UnknownCodec(codec)) => Err(RecordsError::UnknownCodec { codec }),
        Err(e) => Err(RecordsError::Decompress {
            detail: e.to_string(),
        }),
    }
}

fn compress(codec_id: i16, plain: &[u8], out: &mut Vec<u8>) -> Result<(), RecordsError> {
    let fill = |tmp: &mut BytesMut| {
        tmp.extend_from_slice(plain);
        Ok(())
    };
    let result = match codec_id {
        0 => {
            out.extend_from_slice(plain);
            return Ok(());
        }
        1 => <codec::Gzip as Compressor<Vec<u8>>>::compress(out, fill),
        2 => <codec::Snappy as Compressor<Vec<u8>>>::compress(out, fill),
        3 => <codec::Lz4 as Compressor<Vec<u8>>>::compress(out, fill),
        4 => <codec::Zstd as Compressor<Vec<u8>>>::compress(out, fill),
        other => return Err(RecordsError::UnknownCodec { codec: other }),
    };
    result.map_err(|e| RecordsError::Compress {
        detail: e.to_string(),
    })
}

fn read_varlong(buf: &mut Bytes) -> Result<i64, RecordsError> {
    let mut raw: u64 = 0;
    for i in 0..10 {
        if !buf.has_remaining() {
            return Err(RecordsError::BadRecord {
                reason: "truncated varint",
            });
        }
        let byte = buf.get_u8();
        raw |= ((byte & 0x7f) as u64) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64));
        }
    }
    Err(RecordsError::BadRecord {
        reason: "varint too long",
    })
}

fn read_varint(buf: &mut Bytes) -> Result<i32, RecordsError> {
    let v = read_varlong(buf)?;
    i32::try_from(v).map_err(|_| RecordsError::BadRecord {
        reason: "varint out of range",
    })
}

fn write_varlong(out: &mut Vec<u8>, value: i64) {
    let mut v = ((value << 1) ^ (value >> 63)) as u64;
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn read_nullable(buf: &mut Bytes) -> Result<Option<Bytes>, RecordsError> {
    let len = read_varint(buf)?;
    if len < 0 {
        return Ok(None);
    }
    if len as usize > buf.remaining() {
        return Err(RecordsError::BadRecord {
            reason: "field longer than the record",
        });
    }
    Ok(Some(buf.split_to(len as usize)))
}

pub fn parse_record(buf: &mut Bytes, base_timestamp_ms: i64) -> Result<StoredRecord, RecordsError> {
    let length = read_varint(buf)?;
    if length < 0 || length as usize > buf.remaining() {
        return Err(RecordsError::BadRecord {
            reason: "record length out of range",
        });
    }
    let mut body = buf.split_to(length as usize);
    if !body.has_remaining() {
        return Err(RecordsError::BadRecord {
            reason: "empty record",
        });
    }
    let attributes = body.get_u8() as i8;
    let timestamp_delta = read_varlong(&mut body)?;
    let offset_delta = read_varint(&mut body)?;
    let key = read_nullable(&mut body)?;
    let value = read_nullable(&mut body)?;
    Ok(StoredRecord {
        attributes,
        timestamp_ms: base_timestamp_ms.wrapping_add(timestamp_delta),
        offset_delta,
        key,
        value,
        headers_raw: body,
    })
}

fn write_record(out: &mut Vec<u8>, record: &StoredRecord, base_timestamp_ms: i64) {
    let mut body = Vec::new();
    body.push(record.attributes as u8);
    write_varlong(
        &mut body,
        record.timestamp_ms.wrapping_sub(base_timestamp_ms),
    );
    write_varlong(&mut body, record.offset_delta as i64);
    for field in [&record.key, &record.value] {
        match field {
            Some(bytes) => {
                write_varlong(&mut body, bytes.len() as i64);
                body.extend_from_slice(bytes);
            }
            None => write_varlong(&mut body, -1),
        }
    }
    body.extend_from_slice(&record.headers_raw);
    write_varlong(out, body.len() as i64);
    out.extend_from_slice(&body);
}

/// Writes a batch with `original`'s base offset, last offset delta, leader
/// epoch, producer fields, timestamp type, transactional and control bits,
/// codec and max timestamp, holding `records` (a non-empty subset of the
/// original's, in order). With `delete_horizon_ms` the batch carries it in
/// its base timestamp and attribute bit 6 (KIP-534); record timestamps stay
/// absolute-equal.
pub fn rewrite_batch(
    original: &BatchHeader,
    records: &[StoredRecord],
    delete_horizon_ms: Option<i64>,
) -> Result<Vec<u8>, RecordsError> {
    assert!(
        !records.is_empty(),
        "an emptied batch is written by empty_batch"
    );
    assert!(records
        .iter()
        .all(|r| r.offset_delta <= original.last_offset_delta));
    let base_timestamp_ms = delete_horizon_ms.unwrap_or(original.base_timestamp_ms);
    let mut plain = Vec::new();
    for record in records {
        write_record(&mut plain, record, base_timestamp_ms);
    }
    let mut attributes = original.attributes & !ATTR_DELETE_HORIZON;
    if delete_horizon_ms.is_some() {
        attributes |= ATTR_DELETE_HORIZON;
    }
    let mut out = header_bytes(
        original,
        attributes,
        base_timestamp_ms,
        original.max_timestamp_ms,
        records.len() as i32,
    );
    compress(original.compression_codec(), &plain, &mut out)?;
    Ok(finish(out))
}

/// Writes `original` again holding `records` (its records, with their offset
/// deltas as given) compressed with `codec`: the produce path's rebuild when
/// the topic's `compression.type` differs from the producer's codec.
pub fn encode_batch(
    original: &BatchHeader,
    records: &[StoredRecord],
    codec: i16,
) -> Result<Vec<u8>, RecordsError> {
    assert!(!records.is_empty(), "a produced batch has records");
    assert_eq!(records.len() as i64, original.last_offset_delta as i64 + 1);
    let mut plain = Vec::new();
    for record in records {
        write_record(&mut plain, record, original.base_timestamp_ms);
    }
    let attributes =
        (original.attributes & !ATTR_COMPRESSION_MASK) | (codec & ATTR_COMPRESSION_MASK);
    let mut out = header_bytes(
        original,
        attributes,
        original.base_timestamp_ms,
        original.max_timestamp_ms,
        records.len() as i32,
    );
    compress(codec, &plain, &mut out)?;
    Ok(finish(out))
}

/// A batch with no records that keeps `original`'s offsets and producer
/// fields (Kafka's `writeEmptyHeader`): retained when compaction removed
/// every record of a producer's last batch, so its last sequence survives.
pub fn empty_batch(original: &BatchHeader) -> Vec<u8> {
    let attributes = original.attributes & !(ATTR_DELETE_HORIZON | ATTR_COMPRESSION_MASK);
    let out = header_bytes(
        original,
        attributes,
        original.max_timestamp_ms,
        original.max_timestamp_ms,
        0,
    );
    finish(out)
}

fn header_bytes(
    original: &BatchHeader,
    attributes: i16,
    base_timestamp_ms: i64,
    max_timestamp_ms: i64,
    records_count: i32,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(BATCH_HEADER_SIZE_BYTES);
    out.extend_from_slice(&original.base_offset.to_be_bytes());
    out.extend_from_slice(&0i32.to_be_bytes()); // batch length, filled by finish
    out.extend_from_slice(&original.partition_leader_epoch.to_be_bytes());
    out.push(2); // magic
    out.extend_from_slice(&0u32.to_be_bytes()); // crc, filled by finish
    out.extend_from_slice(&attributes.to_be_bytes());
    out.extend_from_slice(&original.last_offset_delta.to_be_bytes());
    out.extend_from_slice(&base_timestamp_ms.to_be_bytes());
    out.extend_from_slice(&max_timestamp_ms.to_be_bytes());
    out.extend_from_slice(&original.producer_id.to_be_bytes());
    out.extend_from_slice(&original.producer_epoch.to_be_bytes());
    out.extend_from_slice(&original.base_sequence.to_be_bytes());
    out.extend_from_slice(&records_count.to_be_bytes());
    assert_eq!(out.len(), BATCH_HEADER_SIZE_BYTES);
    out
}

fn finish(mut out: Vec<u8>) -> Vec<u8> {
    let length = (out.len() - record_batch::BATCH_LENGTH_PREFIX_BYTES) as i32;
    out[8..12].copy_from_slice(&length.to_be_bytes());
    let crc = record_batch::compute_crc(&out);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    assert!(
        record_batch::parse_verified(&out).is_ok(),
        "a written batch verifies"
    );
    out
}

#[cfg(test)]
pub mod test_support {
    //! Builds keyed batches with the kafka-protocol encoder, for tests.

    use bytes::{Bytes, BytesMut};
    use kafka_protocol::indexmap::IndexMap;
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };

    /// One record to build: key, value (`None`: tombstone), timestamp.
    pub type Kv = (Option<Vec<u8>>, Option<Vec<u8>>, i64);

    /// A v2 batch at `base_offset` of `records` (consecutive offsets).
    pub fn keyed_batch(
        base_offset: i64,
        records: &[Kv],
        compression: Compression,
        producer: (i64, i16, i32),
    ) -> Vec<u8> {
        let (producer_id, producer_epoch, base_sequence) = producer;
        let records: Vec<Record> = records
            .iter()
            .enumerate()
            .map(|(i, (k, v, ts))| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id,
                producer_epoch,
                timestamp_type: TimestampType::Creation,
                offset: base_offset + i as i64,
                // The encoder splits batches where offset - sequence changes.
                sequence: base_sequence.wrapping_add(i as i32),
                timestamp: *ts,
                key: k.clone().map(Bytes::from),
                value: v.clone().map(Bytes::from),
                headers: IndexMap::new(),
            })
            .collect();
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            &records,
            &RecordEncodeOptions {
                version: 2,
                compression,
            },
        )
        .unwrap();
        assert_eq!(
            crate::log::record_batch::headers(&buf).count(),
            1,
            "one batch"
        );
        buf.to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::keyed_batch;
    use super::*;
    use kafka_protocol::records::{Compression, RecordBatchDecoder};

    #[test]
    fn a_stored_compression_bomb_is_refused_while_decompressing() {
        // A valid batch whose gzip section expands to 1 GiB of zeros.
        let kvs = vec![(Some(b"k".to_vec()), Some(b"v".to_vec()), 1_000)];
        let small = keyed_batch(0, &kvs, Compression::Gzip, (-1, -1, -1));
        let mut bomb = small[..BATCH_HEADER_SIZE_BYTES].to_vec();
        bomb.extend_from_slice(&crate::log::decompress::test_support::gzip_zeros(1 << 30));
        let length = (bomb.len() - 12) as i32;
        bomb[8..12].copy_from_slice(&length.to_be_bytes());
        let crc = record_batch::compute_crc(&bomb);
        bomb[17..21].copy_from_slice(&crc.to_be_bytes());
        let started = std::time::Instant::now();
        assert!(matches!(
            open_batch(&bomb),
            Err(RecordsError::Decompress { .. })
        ));
        assert!(
            started.elapsed().as_millis() < 1_000,
            "took {:?}",
            started.elapsed()
        );
    }

    #[test]
    fn opening_and_rewriting_keeps_every_field_for_each_codec() {
        for compression in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let kvs = vec![
                (Some(b"a".to_vec()), Some(b"1".to_vec()), 1_000),
                (Some(b"b".to_vec()), None, 1_005),
                (Some(b"a".to_vec()), Some(b"2".to_vec()), 990),
            ];
            let stored = keyed_batch(40, &kvs, compression, (7, 2, 10));
            let opened = open_batch(&stored).unwrap();
            assert_eq!(opened.records.len(), 3);
            assert_eq!(opened.records[1].value, None);
            assert_eq!(opened.records[2].timestamp_ms, 990);
            // Keep only the middle record, with a delete horizon.
            let rewritten =
                rewrite_batch(&opened.header, &opened.records[1..2], Some(99_999)).unwrap();
            let h = record_batch::parse_verified(&rewritten).unwrap();
            assert_eq!(
                (h.base_offset, h.last_offset_delta, h.records_count),
                (40, 2, 1)
            );
            assert_eq!(
                (h.producer_id, h.producer_epoch, h.base_sequence),
                (7, 2, 10)
            );
            assert_eq!(h.compression_codec(), compression as i16);
            assert_eq!(h.max_timestamp_ms, opened.header.max_timestamp_ms);
            let again = open_batch(&rewritten).unwrap();
            assert_eq!(again.delete_horizon_ms(), Some(99_999));
            assert_eq!(again.records[0], opened.records[1]);
            // Another decoder agrees on offsets and timestamps.
            let set = RecordBatchDecoder::decode(&mut Bytes::from(rewritten)).unwrap();
            assert_eq!(set.records[0].offset, 41);
            assert_eq!(set.records[0].timestamp, 1_005);
            assert_eq!(set.records[0].value, None);
        }
    }

    #[test]
    fn empty_batches_keep_offsets_and_sequences() {
        let stored = keyed_batch(
            5,
            &[
                (Some(b"k".to_vec()), Some(b"v".to_vec()), 3),
                (Some(b"k".to_vec()), None, 4),
            ],
            Compression::Gzip,
            (9, 0, 0),
        );
        let opened = open_batch(&stored).unwrap();
        let empty = empty_batch(&opened.header);
        let h = record_batch::parse_verified(&empty).unwrap();
        assert_eq!(
            (
                h.base_offset,
                h.last_offset(),
                h.records_count,
                h.base_sequence
            ),
            (5, 6, 0, 0)
        );
        assert_eq!(h.compression_codec(), 0);
        assert!(open_batch(&empty).unwrap().records.is_empty());
    }

    #[test]
    fn damaged_batches_are_errors_not_panics() {
        let stored = keyed_batch(
            0,
            &[(Some(b"k".to_vec()), Some(b"v".to_vec()), 3)],
            Compression::None,
            (-1, -1, -1),
        );
        for cut in 0..stored.len() {
            assert!(open_batch(&stored[..cut]).is_err());
        }
        for i in 0..stored.len() {
            let mut bad = stored.clone();
            bad[i] ^= 0x20;
            let _ = open_batch(&bad); // may or may not verify (bytes outside the CRC), never panics
        }
    }
}
