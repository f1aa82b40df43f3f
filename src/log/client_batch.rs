//! Validation of a record set a client produced, as Kafka's `LogValidator`
//! and `ProduceRequest.validateRecords` do, before anything is appended.
//!
//! The header alone is not trusted: its CRC only proves the bytes arrived as
//! the client wrote them, not that they are honest. So, like Kafka, the
//! broker decodes the records (decompressing with a bound) and checks that
//! the batch says what it holds: exactly one v2 batch per partition, a record
//! count that matches the offset range and the records actually present,
//! record structure, keys for compacted topics, no control batches, no
//! transactional batches (odradek has no transactions yet), a known codec.
//!
//! Then the batch is stored as sent whenever Kafka would do so in place.
//! It is rebuilt (records re-encoded) only where Kafka rebuilds it: the
//! topic's `compression.type` differs from the batch's codec, or the inner
//! offset deltas are not 0, 1, 2, ... Its max timestamp is set from the
//! records (CreateTime) or to the broker's clock (LogAppendTime), and the
//! CRC recomputed if that changed the header.

use bytes::Bytes;

use crate::log::compaction_batch::{self, RecordsError, StoredRecord};
use crate::log::decompress::{self, DecompressError, CODEC_ZSTD};
use crate::log::record_batch::{
    self, BatchError, BatchHeader, ATTR_LOG_APPEND_TIME, BATCH_HEADER_SIZE_BYTES,
};

/// Produce versions before 7 may not carry zstd batches (KIP-110).
const ZSTD_MIN_PRODUCE_VERSION: i16 = 7;
/// Decompressed records of one produced batch at most. Kafka has no such
/// limit; without one a 1 KiB batch can expand to gigabytes in the broker.
pub const DECOMPRESSED_BATCH_SIZE_BYTES_MAX: usize =
    compaction_batch::DECOMPRESSED_RECORDS_SIZE_BYTES_MAX;
/// Record errors reported per partition at most (KIP-467 lists them all in
/// Kafka; a batch of a million keyless records needs no million messages).
const RECORD_ERRORS_REPORTED_MAX: usize = 100;

/// What the topic and the request ask of a produced batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidationRules {
    /// `max.message.bytes`: the largest batch accepted, as sent.
    pub max_batch_size_bytes: usize,
    /// `cleanup.policy=compact`: every record needs a key.
    pub compacted: bool,
    /// `compression.type`: `None` keeps the producer's codec, else the codec id.
    pub target_codec: Option<i16>,
    /// `message.timestamp.type=LogAppendTime`: the broker stamps the batch.
    pub log_append_time: bool,
    /// `message.timestamp.before.max.ms` / `after.max.ms` (with Kafka's
    /// fallback to `message.timestamp.difference.max.ms`): how far a
    /// CreateTime record's timestamp may lie behind / ahead of `now_ms`.
    pub timestamp_before_max_ms: i64,
    pub timestamp_after_max_ms: i64,
    /// The broker's wall clock (for LogAppendTime and the bounds above).
    pub now_ms: i64,
    /// The Produce request's version (zstd needs v7+).
    pub produce_version: i16,
}

/// A batch ready to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedBatch {
    pub bytes: Vec<u8>,
    pub header: BatchHeader,
    /// The LogAppendTime stamped on the batch, or -1 (CreateTime).
    pub log_append_time_ms: i64,
}

/// One refused record (KIP-467): its index in the batch and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    pub batch_index: i32,
    pub message: String,
}

/// Why a produced record set is refused; each maps to one Kafka error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// CORRUPT_MESSAGE: bytes that are not a well-formed batch.
    #[error("corrupt record set: {0}")]
    Corrupt(String),
    /// MESSAGE_TOO_LARGE.
    #[error("batch of {size} bytes exceeds max.message.bytes {max}")]
    TooLarge { size: usize, max: usize },
    /// INVALID_RECORD, with the records at fault when there are some.
    #[error("{message}")]
    InvalidRecord {
        message: String,
        record_errors: Vec<RecordError>,
    },
    /// INVALID_TIMESTAMP.
    #[error("{message}")]
    InvalidTimestamp {
        message: String,
        record_errors: Vec<RecordError>,
    },
    /// UNSUPPORTED_COMPRESSION_TYPE.
    #[error("{0}")]
    UnsupportedCompression(String),
    /// INVALID_TXN_STATE: a transactional batch outside any transaction.
    #[error("{0}")]
    NotInTransaction(String),
}

fn invalid(message: impl Into<String>) -> ValidationError {
    ValidationError::InvalidRecord {
        message: message.into(),
        record_errors: Vec::new(),
    }
}

/// Validates the record set of one partition of a Produce request and
/// returns the batch to append.
pub fn validate_client_records(
    records: &[u8],
    rules: &ValidationRules,
) -> Result<ValidatedBatch, ValidationError> {
    if records.is_empty() {
        return Err(invalid(
            "a produce request must have one record batch per partition",
        ));
    }
    let header = record_batch::parse_header_prefix(records).map_err(|e| match e {
        BatchError::BadMagic { magic } => invalid(format!(
            "only record batches with magic 2 are accepted, got magic {magic}"
        )),
        other => ValidationError::Corrupt(other.to_string()),
    })?;
    if header.size_bytes < records.len() {
        return Err(invalid(
            "a produce request may hold exactly one record batch per partition",
        ));
    }
    if header.size_bytes > records.len() {
        return Err(ValidationError::Corrupt(
            BatchError::Incomplete {
                size: header.size_bytes,
                available: records.len(),
            }
            .to_string(),
        ));
    }
    if header.size_bytes > rules.max_batch_size_bytes {
        return Err(ValidationError::TooLarge {
            size: header.size_bytes,
            max: rules.max_batch_size_bytes,
        });
    }
    record_batch::parse_verified(records).map_err(|e| ValidationError::Corrupt(e.to_string()))?;
    check_header(&header, rules)?;

    let section = &records[BATCH_HEADER_SIZE_BYTES..];
    let plain = decompress::decompress_bounded(
        header.compression_codec(),
        section,
        DECOMPRESSED_BATCH_SIZE_BYTES_MAX,
    )
    .map_err(|e| match e {
        DecompressError::UnknownCodec(codec) => {
            ValidationError::UnsupportedCompression(format!("unknown compression codec {codec}"))
        }
        other => ValidationError::Corrupt(other.to_string()),
    })?;
    let walk = walk_records(&plain, &header, rules)?;

    let target_codec = rules.target_codec.unwrap_or(header.compression_codec());
    let mut bytes = if target_codec != header.compression_codec() || !walk.dense_deltas {
        let rebuilt = rebuild(&header, &plain, target_codec)?;
        // Kafka checks the size again when the batch was rebuilt.
        if rebuilt.len() > rules.max_batch_size_bytes {
            return Err(ValidationError::TooLarge {
                size: rebuilt.len(),
                max: rules.max_batch_size_bytes,
            });
        }
        rebuilt
    } else {
        records.to_vec()
    };
    let (max_timestamp_ms, log_append_time_ms) = if rules.log_append_time {
        (rules.now_ms, rules.now_ms)
    } else {
        (walk.max_timestamp_ms, -1)
    };
    stamp_timestamps(&mut bytes, rules.log_append_time, max_timestamp_ms);
    let header = record_batch::parse_verified(&bytes).expect("a validated batch still verifies");
    assert_eq!(
        header.records_count, walk.count,
        "validation keeps every record"
    );
    Ok(ValidatedBatch {
        bytes,
        header,
        log_append_time_ms,
    })
}

/// Kafka's `validateBatch` for batches from clients, plus the codec checks.
fn check_header(header: &BatchHeader, rules: &ValidationRules) -> Result<(), ValidationError> {
    let count_from_offsets = header.last_offset_delta as i64 + 1;
    if header.records_count <= 0 {
        return Err(invalid(format!(
            "invalid reported count for record batch: {}",
            header.records_count
        )));
    }
    if count_from_offsets != header.records_count as i64 {
        return Err(invalid(format!(
            "inconsistent batch offset range [0, {}] and count of records {}",
            header.last_offset_delta, header.records_count
        )));
    }
    if header.is_control() {
        return Err(invalid("clients are not allowed to write control records"));
    }
    if header.producer_id >= 0 && header.base_sequence < 0 {
        return Err(invalid(format!(
            "invalid sequence number {} in record batch with producerId {}",
            header.base_sequence, header.producer_id
        )));
    }
    if header.is_transactional() {
        return Err(ValidationError::NotInTransaction(
            "transactional batches need a transaction, and odradek does not support transactions yet"
                .to_string(),
        ));
    }
    let codec = header.compression_codec();
    if codec > CODEC_ZSTD {
        return Err(ValidationError::UnsupportedCompression(format!(
            "unknown compression codec {codec}"
        )));
    }
    if codec == CODEC_ZSTD && rules.produce_version < ZSTD_MIN_PRODUCE_VERSION {
        return Err(ValidationError::UnsupportedCompression(format!(
            "zstd needs Produce v{ZSTD_MIN_PRODUCE_VERSION} or later, got v{}",
            rules.produce_version
        )));
    }
    Ok(())
}

/// What walking the records of a batch found.
struct RecordsWalk {
    count: i32,
    max_timestamp_ms: i64,
    /// Whether the offset deltas are 0, 1, 2, ... (else the batch is rebuilt).
    dense_deltas: bool,
}

/// Walks every record of the (decompressed) records section without copying
/// keys or values: structure, count, offset deltas, keys, timestamp type.
fn walk_records(
    plain: &[u8],
    header: &BatchHeader,
    rules: &ValidationRules,
) -> Result<RecordsWalk, ValidationError> {
    let mut at = 0usize;
    let mut count = 0i32;
    let mut max_timestamp_ms = -1i64; // Kafka's NO_TIMESTAMP
    let mut dense_deltas = true;
    let mut record_errors = Vec::new();
    let mut timestamp_error = false;
    while count < header.records_count {
        let corrupt = |reason: &str| ValidationError::Corrupt(format!("record {count}: {reason}"));
        if at >= plain.len() {
            return Err(invalid(format!(
                "the batch claims {} records but holds {count}",
                header.records_count
            )));
        }
        let record = RecordView::parse(&plain[at..]).map_err(corrupt)?;
        at += record.size_bytes;
        if record.offset_delta != count {
            dense_deltas = false;
        }
        let timestamp = header
            .base_timestamp_ms
            .wrapping_add(record.timestamp_delta);
        max_timestamp_ms = max_timestamp_ms.max(timestamp);
        if rules.compacted && !record.has_key {
            record_errors.push(RecordError {
                batch_index: count,
                message: "compacted topic cannot accept message without key".to_string(),
            });
        } else if header.attributes & ATTR_LOG_APPEND_TIME != 0 {
            timestamp_error = true;
            record_errors.push(RecordError {
                batch_index: count,
                message: "producer should not set timestamp type to LogAppendTime".to_string(),
            });
        } else if let Some(message) = timestamp_out_of_range(timestamp, &record, rules) {
            timestamp_error = true;
            record_errors.push(RecordError {
                batch_index: count,
                message,
            });
        }
        count += 1;
    }
    if at != plain.len() {
        return Err(invalid(format!(
            "incorrect declared batch size: {} bytes remain after the last of {count} records",
            plain.len() - at
        )));
    }
    if !record_errors.is_empty() {
        let total = record_errors.len();
        record_errors.truncate(RECORD_ERRORS_REPORTED_MAX);
        let first: Vec<String> = record_errors
            .iter()
            .take(3)
            .map(|e| format!("record {}: {}", e.batch_index, e.message))
            .collect();
        let message = if timestamp_error {
            // Kafka's wording (LogValidator.processRecordErrors).
            format!(
                "one or more records have been rejected due to invalid timestamp; the first: {}",
                first.join("; ")
            )
        } else {
            format!(
                "one or more records have been rejected due to {total} record errors in total; the first: {}",
                first.join("; ")
            )
        };
        return Err(if timestamp_error {
            ValidationError::InvalidTimestamp {
                message,
                record_errors,
            }
        } else {
            ValidationError::InvalidRecord {
                message,
                record_errors,
            }
        });
    }
    Ok(RecordsWalk {
        count,
        max_timestamp_ms,
        dense_deltas,
    })
}

/// Kafka's `validateTimestamp`: under CreateTime, a record's timestamp
/// (unless -1, "none") must lie within [now - before.max, now + after.max].
/// The arithmetic saturates: the timestamp is the client's.
fn timestamp_out_of_range(
    timestamp: i64,
    record: &RecordView,
    rules: &ValidationRules,
) -> Option<String> {
    if rules.log_append_time || timestamp == -1 {
        return None;
    }
    let behind = rules.now_ms.saturating_sub(timestamp);
    let ahead = timestamp.saturating_sub(rules.now_ms);
    (behind > rules.timestamp_before_max_ms || ahead > rules.timestamp_after_max_ms).then(|| {
        format!(
            "timestamp {timestamp} of message with offset {} is out of range. The timestamp should be within [{}, {}]",
            record.offset_delta,
            rules.now_ms.saturating_sub(rules.timestamp_before_max_ms),
            rules.now_ms.saturating_add(rules.timestamp_after_max_ms)
        )
    })
}

/// The fields of one record the validator needs, parsed in place.
struct RecordView {
    size_bytes: usize,
    timestamp_delta: i64,
    offset_delta: i32,
    has_key: bool,
}

impl RecordView {
    /// Parses the record at the start of `bytes`:
    /// `length | attributes | timestampDelta | offsetDelta | key | value | headers`.
    fn parse(bytes: &[u8]) -> Result<RecordView, &'static str> {
        let mut at = 0usize;
        let length = varint(bytes, &mut at)?;
        if length <= 0 || length as usize > bytes.len() - at {
            return Err("record length out of range");
        }
        let end = at + length as usize;
        let body = &bytes[..end];
        at += 1; // attributes
        if at > end {
            return Err("empty record");
        }
        let timestamp_delta = varlong(body, &mut at)?;
        let offset_delta = varint(body, &mut at)?;
        let key_len = varint(body, &mut at)?;
        skip_nullable(body, &mut at, key_len)?;
        let value_len = varint(body, &mut at)?;
        skip_nullable(body, &mut at, value_len)?;
        let headers = varint(body, &mut at)?;
        if headers < 0 {
            return Err("negative header count");
        }
        for _ in 0..headers {
            let key_len = varint(body, &mut at)?;
            if key_len < 0 {
                return Err("null header key");
            }
            skip_nullable(body, &mut at, key_len)?;
            let value_len = varint(body, &mut at)?;
            skip_nullable(body, &mut at, value_len)?;
        }
        if at != end {
            return Err("record length does not match its fields");
        }
        Ok(RecordView {
            size_bytes: end,
            timestamp_delta,
            offset_delta,
            has_key: key_len >= 0,
        })
    }
}

fn skip_nullable(body: &[u8], at: &mut usize, len: i32) -> Result<(), &'static str> {
    if len < -1 {
        return Err("negative field length");
    }
    if len > 0 {
        if len as usize > body.len() - *at {
            return Err("field longer than its record");
        }
        *at += len as usize;
    }
    Ok(())
}

fn varlong(bytes: &[u8], at: &mut usize) -> Result<i64, &'static str> {
    let mut raw: u64 = 0;
    for i in 0..10 {
        let Some(&byte) = bytes.get(*at) else {
            return Err("truncated varint");
        };
        *at += 1;
        raw |= ((byte & 0x7f) as u64) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64));
        }
    }
    Err("varint too long")
}

fn varint(bytes: &[u8], at: &mut usize) -> Result<i32, &'static str> {
    i32::try_from(varlong(bytes, at)?).map_err(|_| "varint out of range")
}

/// Re-encodes the batch with `codec` and offset deltas 0, 1, 2, ...,
/// keeping its producer fields, attributes (but the codec) and timestamps.
fn rebuild(header: &BatchHeader, plain: &[u8], codec: i16) -> Result<Vec<u8>, ValidationError> {
    let mut buf = Bytes::copy_from_slice(plain);
    let mut records: Vec<StoredRecord> = Vec::new();
    for index in 0..header.records_count {
        let mut record = compaction_batch::parse_record(&mut buf, header.base_timestamp_ms)
            .map_err(|e| ValidationError::Corrupt(e.to_string()))?;
        record.offset_delta = index;
        records.push(record);
    }
    compaction_batch::encode_batch(header, &records, codec).map_err(|e| match e {
        RecordsError::UnknownCodec { codec } => {
            ValidationError::UnsupportedCompression(format!("unknown compression codec {codec}"))
        }
        other => ValidationError::Corrupt(other.to_string()),
    })
}

/// Sets the batch's timestamp type and max timestamp, and its CRC if they
/// changed (both lie inside the CRC-covered region).
fn stamp_timestamps(batch: &mut [u8], log_append_time: bool, max_timestamp_ms: i64) {
    let header = record_batch::parse_header(batch).expect("a validated batch parses");
    let attributes = if log_append_time {
        header.attributes | ATTR_LOG_APPEND_TIME
    } else {
        header.attributes & !ATTR_LOG_APPEND_TIME
    };
    if attributes == header.attributes && max_timestamp_ms == header.max_timestamp_ms {
        return;
    }
    record_batch::patch_attributes(batch, attributes);
    record_batch::patch_max_timestamp(batch, max_timestamp_ms);
    record_batch::patch_crc(batch);
}

#[cfg(test)]
#[path = "client_batch_tests.rs"]
mod tests;
