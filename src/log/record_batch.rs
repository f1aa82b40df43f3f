//! Kafka's v2 record batch header: the only part of a batch the broker reads.
//!
//! Batches are stored exactly as the producer sent them; the broker patches
//! two fields outside the CRC (base offset and partition leader epoch) and
//! never decodes the records themselves (they may be compressed).
//!
//! Layout (big-endian), from the Kafka protocol guide:
//! ```text
//! 0  baseOffset i64          8  batchLength i32   12 partitionLeaderEpoch i32
//! 16 magic i8                17 crc u32 (CRC-32C of bytes 21..end)
//! 21 attributes i16          23 lastOffsetDelta i32
//! 27 baseTimestamp i64       35 maxTimestamp i64
//! 43 producerId i64          51 producerEpoch i16
//! 53 baseSequence i32        57 recordsCount i32  61 records...
//! ```

/// Bytes of the fixed v2 batch header.
pub const BATCH_HEADER_SIZE_BYTES: usize = 61;
/// `baseOffset` + `batchLength`: the part not counted in `batchLength`.
pub const BATCH_LENGTH_PREFIX_BYTES: usize = 12;
/// Where the CRC-covered region starts.
const CRC_START: usize = 21;
const MAGIC_V2: i8 = 2;
/// Attribute bits: compression codec (low 3 bits), timestamp type, transactional, control.
const ATTR_COMPRESSION_MASK: i16 = 0x07;
/// The timestamp type bit: set, the broker stamped the batch
/// (LogAppendTime) and every record's timestamp is the batch's max timestamp.
pub const ATTR_LOG_APPEND_TIME: i16 = 0x08;
const ATTR_TRANSACTIONAL: i16 = 0x10;
const ATTR_CONTROL: i16 = 0x20;

/// The fields of one batch header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    /// Size of the whole batch in bytes, header included.
    pub size_bytes: usize,
    pub partition_leader_epoch: i32,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp_ms: i64,
    pub max_timestamp_ms: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

impl BatchHeader {
    pub fn last_offset(&self) -> i64 {
        self.base_offset + self.last_offset_delta as i64
    }
    /// The offset after this batch.
    pub fn next_offset(&self) -> i64 {
        self.last_offset() + 1
    }
    pub fn compression_codec(&self) -> i16 {
        self.attributes & ATTR_COMPRESSION_MASK
    }
    pub fn is_log_append_time(&self) -> bool {
        self.attributes & ATTR_LOG_APPEND_TIME != 0
    }
    /// A record's timestamp as Kafka reads it: under LogAppendTime the
    /// batch's max timestamp (the broker's stamp), whatever the record's own
    /// delta says (the producer's time, kept in the bytes).
    pub fn record_timestamp_ms(&self, record_timestamp_ms: i64) -> i64 {
        if self.is_log_append_time() {
            self.max_timestamp_ms
        } else {
            record_timestamp_ms
        }
    }
    pub fn is_transactional(&self) -> bool {
        self.attributes & ATTR_TRANSACTIONAL != 0
    }
    pub fn is_control(&self) -> bool {
        self.attributes & ATTR_CONTROL != 0
    }
}

/// Why a sequence of bytes is not a valid batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("{available} bytes left, fewer than a batch header")]
    Truncated { available: usize },
    #[error("batch length {length} is out of range")]
    BadLength { length: i32 },
    #[error("batch declares {size} bytes but only {available} remain")]
    Incomplete { size: usize, available: usize },
    #[error("unsupported magic byte {magic} (only v2 record batches)")]
    BadMagic { magic: i8 },
    #[error("CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    BadCrc { stored: u32, computed: u32 },
    #[error("inconsistent batch: {reason}")]
    Invalid { reason: &'static str },
    #[error("batch of {size} bytes exceeds max.message.bytes {max}")]
    TooLarge { size: usize, max: usize },
    #[error("empty record set")]
    Empty,
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

/// Reads only the 12-byte prefix: the whole batch size, if the length is sane.
pub fn peek_batch_size(bytes: &[u8]) -> Result<usize, BatchError> {
    if bytes.len() < BATCH_LENGTH_PREFIX_BYTES {
        return Err(BatchError::Truncated {
            available: bytes.len(),
        });
    }
    let length = be_i32(bytes, 8);
    let min_length = (BATCH_HEADER_SIZE_BYTES - BATCH_LENGTH_PREFIX_BYTES) as i32;
    if length < min_length {
        return Err(BatchError::BadLength { length });
    }
    Ok(BATCH_LENGTH_PREFIX_BYTES + length as usize)
}

/// Parses the header of the batch at the start of `bytes` without checking
/// the CRC. Checks the length and magic so that the caller can walk batches.
pub fn parse_header(bytes: &[u8]) -> Result<BatchHeader, BatchError> {
    let header = parse_header_prefix(bytes)?;
    if header.size_bytes > bytes.len() {
        return Err(BatchError::Incomplete {
            size: header.size_bytes,
            available: bytes.len(),
        });
    }
    Ok(header)
}

/// Parses a header from its first 61 bytes; the rest of the batch need not
/// be present (reads walk headers without loading whole batches).
pub fn parse_header_prefix(bytes: &[u8]) -> Result<BatchHeader, BatchError> {
    let size_bytes = peek_batch_size(bytes)?;
    if bytes.len() < BATCH_HEADER_SIZE_BYTES {
        return Err(BatchError::Truncated {
            available: bytes.len(),
        });
    }
    let magic = bytes[16] as i8;
    if magic != MAGIC_V2 {
        return Err(BatchError::BadMagic { magic });
    }
    let header = BatchHeader {
        base_offset: be_i64(bytes, 0),
        size_bytes,
        partition_leader_epoch: be_i32(bytes, 12),
        crc: be_i32(bytes, 17) as u32,
        attributes: be_i16(bytes, 21),
        last_offset_delta: be_i32(bytes, 23),
        base_timestamp_ms: be_i64(bytes, 27),
        max_timestamp_ms: be_i64(bytes, 35),
        producer_id: be_i64(bytes, 43),
        producer_epoch: be_i16(bytes, 51),
        base_sequence: be_i32(bytes, 53),
        records_count: be_i32(bytes, 57),
    };
    if header.last_offset_delta < 0 {
        return Err(BatchError::Invalid {
            reason: "negative lastOffsetDelta",
        });
    }
    if header.records_count < 0 {
        return Err(BatchError::Invalid {
            reason: "negative recordsCount",
        });
    }
    Ok(header)
}

/// CRC-32C of the CRC-covered region of a complete batch.
pub fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(&batch[CRC_START..])
}

/// Parses the header and verifies the CRC of the batch at the start of `bytes`.
pub fn parse_verified(bytes: &[u8]) -> Result<BatchHeader, BatchError> {
    let header = parse_header(bytes)?;
    let computed = compute_crc(&bytes[..header.size_bytes]);
    if computed != header.crc {
        return Err(BatchError::BadCrc {
            stored: header.crc,
            computed,
        });
    }
    Ok(header)
}

/// Validates a producer's record set: one or more complete v2 batches with
/// good CRCs, none larger than `max_batch_size_bytes`. Returns their headers.
pub fn validate_produced(
    records: &[u8],
    max_batch_size_bytes: usize,
) -> Result<Vec<BatchHeader>, BatchError> {
    if records.is_empty() {
        return Err(BatchError::Empty);
    }
    let mut headers = Vec::new();
    let mut at = 0;
    while at < records.len() {
        let header = parse_verified(&records[at..])?;
        if header.size_bytes > max_batch_size_bytes {
            return Err(BatchError::TooLarge {
                size: header.size_bytes,
                max: max_batch_size_bytes,
            });
        }
        if header.records_count == 0 {
            return Err(BatchError::Invalid {
                reason: "batch without records",
            });
        }
        if header.last_offset_delta != header.records_count - 1 {
            return Err(BatchError::Invalid {
                reason: "lastOffsetDelta != recordsCount - 1",
            });
        }
        at += header.size_bytes;
        headers.push(header);
    }
    assert_eq!(at, records.len(), "batches tile the record set");
    Ok(headers)
}

/// Writes the offset the log assigned into a batch's header (outside the CRC).
pub fn patch_base_offset(batch: &mut [u8], base_offset: i64) {
    batch[0..8].copy_from_slice(&base_offset.to_be_bytes());
}

/// Writes the leader epoch that appended the batch (outside the CRC).
pub fn patch_leader_epoch(batch: &mut [u8], leader_epoch: i32) {
    batch[12..16].copy_from_slice(&leader_epoch.to_be_bytes());
}

/// Writes a batch's attributes (inside the CRC: call [`patch_crc`] after).
pub fn patch_attributes(batch: &mut [u8], attributes: i16) {
    batch[21..23].copy_from_slice(&attributes.to_be_bytes());
}

/// Writes a batch's max timestamp (inside the CRC: call [`patch_crc`] after).
pub fn patch_max_timestamp(batch: &mut [u8], max_timestamp_ms: i64) {
    batch[35..43].copy_from_slice(&max_timestamp_ms.to_be_bytes());
}

/// Recomputes the CRC of a complete batch after a patch inside its region.
pub fn patch_crc(batch: &mut [u8]) {
    let crc = compute_crc(batch);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
}

/// Iterates over the complete batches of `bytes` (headers only, no CRC check),
/// stopping at the first incomplete or invalid one.
pub fn headers(bytes: &[u8]) -> impl Iterator<Item = (usize, BatchHeader)> + '_ {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let header = parse_header(&bytes[at..]).ok()?;
        let position = at;
        at += header.size_bytes;
        Some((position, header))
    })
}

#[cfg(test)]
pub mod test_support {
    //! Builds valid batches by hand, for tests of the log.

    /// An uncompressed v2 batch of `values` (no keys, no headers).
    pub fn batch(values: &[&[u8]], timestamp_ms: i64) -> Vec<u8> {
        let mut records = Vec::new();
        for (i, value) in values.iter().enumerate() {
            let mut body = Vec::new();
            body.push(0u8); // attributes
            put_varint(&mut body, 0); // timestamp delta
            put_varint(&mut body, i as i64); // offset delta
            put_varint(&mut body, -1); // key: null
            put_varint(&mut body, value.len() as i64);
            body.extend_from_slice(value);
            put_varint(&mut body, 0); // headers
            put_varint(&mut records, body.len() as i64);
            records.extend_from_slice(&body);
        }
        let mut out = Vec::new();
        out.extend_from_slice(&0i64.to_be_bytes());
        let length = (super::BATCH_HEADER_SIZE_BYTES - 12 + records.len()) as i32;
        out.extend_from_slice(&length.to_be_bytes());
        out.extend_from_slice(&0i32.to_be_bytes()); // leader epoch
        out.push(2); // magic
        out.extend_from_slice(&0u32.to_be_bytes()); // crc, patched below
        out.extend_from_slice(&0i16.to_be_bytes()); // attributes
        out.extend_from_slice(&(values.len() as i32 - 1).to_be_bytes());
        out.extend_from_slice(&timestamp_ms.to_be_bytes());
        out.extend_from_slice(&timestamp_ms.to_be_bytes());
        out.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
        out.extend_from_slice(&(-1i16).to_be_bytes()); // producer epoch
        out.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
        out.extend_from_slice(&(values.len() as i32).to_be_bytes());
        out.extend_from_slice(&records);
        let crc = super::compute_crc(&out);
        out[17..21].copy_from_slice(&crc.to_be_bytes());
        out
    }

    fn put_varint(out: &mut Vec<u8>, value: i64) {
        let mut v = ((value << 1) ^ (value >> 63)) as u64;
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::batch;
    use super::*;

    #[test]
    fn a_built_batch_validates_and_patching_keeps_the_crc() {
        let mut b = batch(&[b"a", b"bc"], 1000);
        let headers = validate_produced(&b, 1 << 20).unwrap();
        assert_eq!(headers.len(), 1);
        assert_eq!(headers[0].records_count, 2);
        patch_base_offset(&mut b, 42);
        patch_leader_epoch(&mut b, 7);
        let h = parse_verified(&b).unwrap();
        assert_eq!(
            (h.base_offset, h.last_offset(), h.partition_leader_epoch),
            (42, 43, 7)
        );
    }

    #[test]
    fn a_flipped_bit_fails_the_crc() {
        let mut b = batch(&[b"hello"], 1);
        let last = b.len() - 2;
        b[last] ^= 0x10;
        assert!(matches!(parse_verified(&b), Err(BatchError::BadCrc { .. })));
    }

    #[test]
    fn short_and_lying_inputs_are_errors_not_panics() {
        let b = batch(&[b"x"], 1);
        for cut in 0..b.len() {
            assert!(validate_produced(&b[..cut], 1 << 20).is_err());
        }
        let mut huge = b.clone();
        huge[8..12].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(validate_produced(&huge, 1 << 20).is_err());
        let mut negative = b.clone();
        negative[8..12].copy_from_slice(&(-5i32).to_be_bytes());
        assert!(validate_produced(&negative, 1 << 20).is_err());
    }
}
