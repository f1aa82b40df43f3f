//! Fetch: read one partition from an offset and decode what came back,
//! keeping garbage visible (as `ReadValue::Corrupt`) instead of failing, so
//! the checkers can judge it.

use bytes::{Buf, Bytes};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;

use super::{ApiVersionsInUse, ClientError, Connection};
use crate::history::{ReadRecord, ReadValue};

/// Batch header fields before the length-counted part: base offset (8) and
/// batch length (4).
const BATCH_LOG_OVERHEAD_BYTES: usize = 12;
/// The broker found the stored batch damaged (Kafka's CORRUPT_MESSAGE).
pub const CORRUPT_MESSAGE: i16 = 2;

/// Where `lastOffsetDelta` sits in a v2 batch header.
const LAST_OFFSET_DELTA_POSITION: usize = 23;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchResult {
    pub high_watermark: i64,
    /// Records at or past the fetch offset, in the order served.
    pub records: Vec<ReadRecord>,
    /// The offset after the last batch served, even a corrupt one (whose
    /// header we trust for this only), so a consumer can move past it.
    pub next_offset: Option<i64>,
}

/// Decoded record bytes: the records and the offset after the last batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedRecords {
    pub records: Vec<ReadRecord>,
    pub next_offset: Option<i64>,
}

/// Decodes a fetch response's record bytes. A batch cut short at the end is
/// normal (the broker stops at `max_bytes`) and ignored; a batch that does
/// not decode (bad CRC, bad header) becomes one corrupt record at its base
/// offset, and decoding stops there since its length cannot be trusted.
pub fn decode_records(mut bytes: Bytes) -> DecodedRecords {
    let mut records = Vec::new();
    let mut next_offset = None;
    while bytes.len() >= BATCH_LOG_OVERHEAD_BYTES {
        let base_offset = i64::from_be_bytes(bytes[0..8].try_into().expect("8 bytes"));
        let length = i32::from_be_bytes(bytes[8..12].try_into().expect("4 bytes"));
        if length < 0 {
            records.push(corrupt(base_offset, format!("batch length {length}")));
            break;
        }
        let size = BATCH_LOG_OVERHEAD_BYTES + length as usize;
        if size > bytes.len() {
            break;
        }
        if size >= LAST_OFFSET_DELTA_POSITION + 4 {
            let at = LAST_OFFSET_DELTA_POSITION;
            let delta = i32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
            if (0..1 << 20).contains(&delta) && base_offset >= 0 {
                next_offset = Some(base_offset + i64::from(delta) + 1);
            }
        }
        let mut batch = bytes.split_to(size);
        match RecordBatchDecoder::decode(&mut batch) {
            Ok(set) => {
                for record in set.records {
                    let value = match record.value.map(|v| String::from_utf8(v.to_vec())) {
                        Some(Ok(value)) => ReadValue::Value(value),
                        Some(Err(_)) => ReadValue::Corrupt {
                            reason: "value is not UTF-8".into(),
                        },
                        None => ReadValue::Corrupt {
                            reason: "null value".into(),
                        },
                    };
                    records.push(ReadRecord {
                        offset: record.offset,
                        value,
                    });
                }
            }
            Err(error) => {
                records.push(corrupt(base_offset, format!("undecodable batch: {error}")));
                break;
            }
        }
        // The decoder must consume exactly one batch.
        if batch.has_remaining() {
            records.push(corrupt(base_offset, "batch has trailing bytes".into()));
            break;
        }
    }
    DecodedRecords {
        records,
        next_offset,
    }
}

fn corrupt(offset: i64, reason: String) -> ReadRecord {
    ReadRecord {
        offset,
        value: ReadValue::Corrupt { reason },
    }
}

/// What a consumer's fetch asks of one partition (Kafka's default is 1 MiB).
const PARTITION_MAX_BYTES: i32 = 256 * 1024;

/// Fetches `topic`/`partition` from `fetch_offset`, waiting up to
/// `max_wait_ms` for data.
pub async fn fetch(
    connection: &mut Connection,
    versions: ApiVersionsInUse,
    topic: &str,
    partition: i32,
    fetch_offset: i64,
    max_wait_ms: i32,
) -> Result<FetchResult, ClientError> {
    fetch_at_most(
        connection,
        versions,
        topic,
        partition,
        fetch_offset,
        max_wait_ms,
        PARTITION_MAX_BYTES,
    )
    .await
}

/// [`fetch`] asking for at most `partition_max_bytes` of the partition (the
/// broker still answers the first batch whole, KIP-74).
pub async fn fetch_at_most(
    connection: &mut Connection,
    versions: ApiVersionsInUse,
    topic: &str,
    partition: i32,
    fetch_offset: i64,
    max_wait_ms: i32,
    partition_max_bytes: i32,
) -> Result<FetchResult, ClientError> {
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_isolation_level(0)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_current_leader_epoch(-1)
                .with_fetch_offset(fetch_offset)
                .with_last_fetched_epoch(-1)
                .with_log_start_offset(-1)
                .with_partition_max_bytes(partition_max_bytes)])]);
    let response = connection.call(&request, versions.fetch).await?;
    if response.error_code != 0 {
        return Err(ClientError::kafka(response.error_code));
    }
    let data = response
        .responses
        .iter()
        .flat_map(|t| t.partitions.iter())
        .find(|p| p.partition_index == partition)
        .ok_or_else(|| ClientError::Protocol("fetch response without our partition".into()))?;
    if data.error_code == CORRUPT_MESSAGE {
        // The stored batch holding `fetch_offset` is damaged: note the
        // refusal at that offset and move past it, one offset at a time.
        return Ok(FetchResult {
            high_watermark: data.high_watermark,
            records: vec![ReadRecord {
                offset: fetch_offset,
                value: ReadValue::Refused,
            }],
            next_offset: Some(fetch_offset + 1),
        });
    }
    if data.error_code != 0 {
        return Err(ClientError::kafka(data.error_code));
    }
    let decoded = decode_records(data.records.clone().unwrap_or_default());
    let records = decoded
        .records
        .into_iter()
        .filter(|r| r.offset >= fetch_offset)
        .collect();
    Ok(FetchResult {
        high_watermark: data.high_watermark,
        records,
        next_offset: decoded.next_offset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::encode_batch;

    fn batch_at(base_offset: i64, values: &[&str]) -> Vec<u8> {
        let values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        let mut bytes = encode_batch(&values, 0).unwrap().to_vec();
        bytes[0..8].copy_from_slice(&base_offset.to_be_bytes());
        bytes
    }

    #[test]
    fn decodes_batches_and_ignores_a_cut_off_tail() {
        let mut bytes = batch_at(0, &["a", "b"]);
        bytes.extend(batch_at(2, &["c"]));
        let cut = batch_at(3, &["d"]);
        bytes.extend(&cut[..cut.len() - 3]);
        let decoded = decode_records(Bytes::from(bytes));
        assert_eq!(decoded.next_offset, Some(3));
        let records = decoded.records;
        let got: Vec<(i64, ReadValue)> = records.into_iter().map(|r| (r.offset, r.value)).collect();
        assert_eq!(
            got,
            vec![
                (0, ReadValue::Value("a".into())),
                (1, ReadValue::Value("b".into())),
                (2, ReadValue::Value("c".into())),
            ]
        );
    }

    #[test]
    fn flipped_bit_in_a_value_is_a_corrupt_record() {
        let mut bytes = batch_at(5, &["value-1"]);
        let last = bytes.len() - 2;
        bytes[last] ^= 0x04;
        let decoded = decode_records(Bytes::from(bytes));
        assert_eq!(decoded.next_offset, Some(6));
        let records = decoded.records;
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].offset, 5);
        assert!(matches!(records[0].value, ReadValue::Corrupt { .. }));
    }
}
