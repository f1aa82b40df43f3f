//! The calls the lifecycle workload makes on its one-partition topic: keyed
//! produce (tombstones included, one timestamp per record), keyed fetch
//! (with the log start offset), DeleteTopics, IncrementalAlterConfigs,
//! DeleteRecords and ListOffsets.

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{
    BrokerId, DeleteRecordsRequest, DeleteTopicsRequest, FetchRequest,
    IncrementalAlterConfigsRequest, ListOffsetsRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::{produce_batch, ApiVersionsInUse, ClientError, Connection};
use crate::lifecycle_history::LcRecord;

/// UNKNOWN_TOPIC_OR_PARTITION: fine for a retried DeleteTopics of ours.
pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
/// Kafka's ConfigResource type for a topic.
const RESOURCE_TOPIC: i8 = 2;
/// IncrementalAlterConfigs' SET operation.
const OP_SET: i8 = 0;

fn name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_string()))
}

/// One uncompressed, non-idempotent v2 batch of keyed records, each with
/// its own timestamp.
pub fn encode_keyed_batch(records: &[LcRecord]) -> Result<Bytes, ClientError> {
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(index, r)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: index as i64,
            // The encoder starts a new batch wherever `offset - sequence`
            // changes; a sequence of -1 on every record would split the
            // records into one batch each, which a broker refuses ("one
            // record batch per partition"). The header's base sequence is
            // then 0, which a broker ignores for producer id -1.
            sequence: index as i32,
            timestamp: r.timestamp_ms,
            key: Some(Bytes::from(r.key.clone().into_bytes())),
            value: r.value.clone().map(|v| Bytes::from(v.into_bytes())),
            headers: IndexMap::new(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &options)
        .map_err(|e| ClientError::Protocol(e.to_string()))?;
    Ok(buf.freeze())
}

/// Produces `records` as one batch; returns them with their offsets.
pub async fn produce_keyed(
    connection: &mut Connection,
    versions: ApiVersionsInUse,
    topic: &str,
    records: &[LcRecord],
    timeout_ms: i32,
) -> Result<Vec<LcRecord>, ClientError> {
    let batch = encode_keyed_batch(records)?;
    let base = produce_batch(connection, versions, topic, 0, batch, timeout_ms).await?;
    Ok(records
        .iter()
        .enumerate()
        .map(|(i, r)| LcRecord {
            offset: base + i as i64,
            ..r.clone()
        })
        .collect())
}

/// What a keyed fetch returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedFetch {
    pub log_start_offset: i64,
    pub high_watermark: i64,
    /// Records at or past the fetch offset.
    pub records: Vec<LcRecord>,
    /// The offset after the last whole batch served.
    pub next_offset: Option<i64>,
}

/// Decodes keyed records; stops at a cut-off tail or a batch that does not
/// decode (the lifecycle checkers judge offsets, keys and values; garbage is
/// the main workload's `corrupt-read` business).
pub fn decode_keyed(mut bytes: Bytes) -> Result<(Vec<LcRecord>, Option<i64>), ClientError> {
    let mut records = Vec::new();
    let mut next_offset = None;
    while bytes.len() >= 12 {
        let length = i32::from_be_bytes(bytes[8..12].try_into().expect("4 bytes"));
        if length < 0 {
            return Err(ClientError::Protocol(format!("batch length {length}")));
        }
        let size = 12 + length as usize;
        if size > bytes.len() {
            break;
        }
        let mut batch = bytes.split_to(size);
        // A consumer moves past the whole batch (Kafka's `batch.nextOffset()`:
        // base offset + lastOffsetDelta + 1), not only past its last record:
        // a compacted batch may keep its last offset after its last records
        // were cleaned away, and one holding only records below the fetch
        // offset would otherwise be fetched again forever.
        if batch.len() >= 27 {
            let base_offset = i64::from_be_bytes(batch[0..8].try_into().expect("8 bytes"));
            let last_offset_delta = i32::from_be_bytes(batch[23..27].try_into().expect("4 bytes"));
            next_offset = Some(base_offset + last_offset_delta as i64 + 1);
        }
        let set = RecordBatchDecoder::decode(&mut batch)
            .map_err(|e| ClientError::Protocol(format!("undecodable batch: {e}")))?;
        if batch.has_remaining() {
            return Err(ClientError::Protocol("batch has trailing bytes".into()));
        }
        for record in set.records {
            let text = |b: Bytes| {
                String::from_utf8(b.to_vec()).map_err(|_| ClientError::Protocol("not UTF-8".into()))
            };
            let key = match record.key {
                Some(key) => text(key)?,
                None => return Err(ClientError::Protocol("record without a key".into())),
            };
            let value = record.value.map(text).transpose()?;
            next_offset = next_offset.max(Some(record.offset + 1));
            records.push(LcRecord {
                offset: record.offset,
                key,
                value,
                timestamp_ms: record.timestamp,
            });
        }
    }
    Ok((records, next_offset))
}

/// Fetches partition 0 of `topic` from `fetch_offset` (no waiting).
pub async fn fetch_keyed(
    connection: &mut Connection,
    versions: ApiVersionsInUse,
    topic: &str,
    fetch_offset: i64,
) -> Result<KeyedFetch, ClientError> {
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_isolation_level(0)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(name(topic))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_current_leader_epoch(-1)
                .with_fetch_offset(fetch_offset)
                .with_last_fetched_epoch(-1)
                .with_log_start_offset(-1)
                .with_partition_max_bytes(64 * 1024)])]);
    let response = connection.call(&request, versions.fetch).await?;
    if response.error_code != 0 {
        return Err(ClientError::kafka(response.error_code));
    }
    let data = response
        .responses
        .iter()
        .flat_map(|t| t.partitions.iter())
        .find(|p| p.partition_index == 0)
        .ok_or_else(|| ClientError::Protocol("fetch response without our partition".into()))?;
    if data.error_code != 0 {
        return Err(ClientError::kafka(data.error_code));
    }
    let (records, next_offset) = decode_keyed(data.records.clone().unwrap_or_default())?;
    Ok(KeyedFetch {
        log_start_offset: data.log_start_offset,
        high_watermark: data.high_watermark,
        records: records
            .into_iter()
            .filter(|r| r.offset >= fetch_offset)
            .collect(),
        next_offset,
    })
}

/// Deletes `topic` (by name).
pub async fn delete_topic(
    connection: &mut Connection,
    versions: ApiVersionsInUse,
    topic: &str,
) -> Result<(), ClientError> {
    let request = DeleteTopicsRequest::default()
        .with_topic_names(vec![name(topic)])
        .with_timeout_ms(5_000);
    let response = connection.call(&request, versions.delete_topics).await?;
    let result = response
        .responses
        .first()
        .ok_or_else(|| ClientError::Protocol("DeleteTopics answered no topic".into()))?;
    match result.error_code {
        0 => Ok(()),
        code => Err(ClientError::kafka(code)),
    }
}

/// Sets `configs` on `topic` (IncrementalAlterConfigs, SET).
pub async fn alter_topic_configs(
    connection: &mut Connection,
    versions: ApiVersionsInUse,
    topic: &str,
    configs: &[(String, String)],
) -> Result<(), ClientError> {
    let configs = configs
        .iter()
        .map(|(name, value)| {
            AlterableConfig::default()
                .with_name(StrBytes::from_string(name.clone()))
                .with_config_operation(OP_SET)
                .with_value(Some(StrBytes::from_string(value.clone())))
        })
        .collect();
    let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(RESOURCE_TOPIC)
            .with_resource_name(StrBytes::from_string(topic.to_string()))
            .with_configs(configs),
    ]);
    let response = connection
        .call(&request, versions.incremental_alter_configs)
        .await?;
    let result = response
        .responses
        .first()
        .ok_or_else(|| ClientError::Protocol("IncrementalAlterConfigs answered nothing".into()))?;
    match result.error_code {
        0 => Ok(()),
        code => Err(ClientError::kafka(code)),
    }
}

/// DeleteRecords on partition 0 up to `offset`; returns the low watermark.
pub async fn delete_records(
    connection: &mut Connection,
    versions: ApiVersionsInUse,
    topic: &str,
    offset: i64,
) -> Result<i64, ClientError> {
    let request = DeleteRecordsRequest::default()
        .with_topics(vec![DeleteRecordsTopic::default()
            .with_name(name(topic))
            .with_partitions(vec![DeleteRecordsPartition::default()
                .with_partition_index(0)
                .with_offset(offset)])])
        .with_timeout_ms(5_000);
    let response = connection.call(&request, versions.delete_records).await?;
    let result = response
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter())
        .find(|p| p.partition_index == 0)
        .ok_or_else(|| ClientError::Protocol("DeleteRecords without our partition".into()))?;
    match result.error_code {
        0 => Ok(result.low_watermark),
        code => Err(ClientError::kafka(code)),
    }
}

/// ListOffsets on partition 0 at `timestamp` (-2 earliest, -1 latest, or a
/// time): returns (offset, timestamp), offset -1 when no record qualifies.
pub async fn list_offset(
    connection: &mut Connection,
    versions: ApiVersionsInUse,
    topic: &str,
    timestamp: i64,
) -> Result<(i64, i64), ClientError> {
    list_offset_of(connection, versions, topic, 0, timestamp).await
}

/// [`list_offset`] on any partition of `topic`.
pub async fn list_offset_of(
    connection: &mut Connection,
    versions: ApiVersionsInUse,
    topic: &str,
    partition: i32,
    timestamp: i64,
) -> Result<(i64, i64), ClientError> {
    list_offset_fenced(connection, versions, (topic, partition), timestamp, -1).await
}

/// [`list_offset_of`] fenced by `current_leader_epoch` (KIP-320; -1: not
/// fenced): a broker that does not lead at exactly that epoch refuses.
pub async fn list_offset_fenced(
    connection: &mut Connection,
    versions: ApiVersionsInUse,
    (topic, partition): (&str, i32),
    timestamp: i64,
    current_leader_epoch: i32,
) -> Result<(i64, i64), ClientError> {
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_isolation_level(0)
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(name(topic))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(partition)
                .with_current_leader_epoch(current_leader_epoch)
                .with_timestamp(timestamp)])]);
    let response = connection.call(&request, versions.list_offsets).await?;
    let result = response
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter())
        .find(|p| p.partition_index == partition)
        .ok_or_else(|| ClientError::Protocol("ListOffsets without our partition".into()))?;
    match result.error_code {
        0 => Ok((result.offset, result.timestamp)),
        code => Err(ClientError::kafka(code)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_batch_round_trips_with_tombstones_and_timestamps() {
        let sent = vec![
            LcRecord {
                offset: 0,
                key: "k1".into(),
                value: Some("k1:0".into()),
                timestamp_ms: 1_000,
            },
            LcRecord {
                offset: 0,
                key: "k2".into(),
                value: None,
                timestamp_ms: 1_001,
            },
        ];
        let bytes = encode_keyed_batch(&sent).unwrap();
        let batches = kafka_protocol::records::RecordBatchDecoder::decode_all(&mut bytes.clone());
        assert_eq!(batches.unwrap().len(), 1, "one batch, as a broker requires");
        let (read, next) = decode_keyed(bytes).unwrap();
        assert_eq!(next, Some(2));
        assert_eq!(read[0].value.as_deref(), Some("k1:0"));
        assert_eq!(read[1].offset, 1);
        assert_eq!(read[1].value, None);
        assert_eq!(read[1].timestamp_ms, 1_001);
    }

    /// A compacted batch keeps its lastOffsetDelta after its last records
    /// were cleaned away: the reader moves past the whole batch, as Kafka's
    /// consumer does, or a fetch from inside it returns the same batch
    /// forever (seed 192's lifecycle final read).
    #[test]
    fn next_offset_is_past_the_whole_batch() {
        let sent = vec![LcRecord {
            offset: 0,
            key: "k1".into(),
            value: Some("k1:0".into()),
            timestamp_ms: 1_000,
        }];
        let mut bytes = encode_keyed_batch(&sent).unwrap().to_vec();
        // Offsets 0..=4, of which only 0 is left; the CRC covers
        // lastOffsetDelta (from the attributes on).
        bytes[23..27].copy_from_slice(&4i32.to_be_bytes());
        let crc = crc32c::crc32c(&bytes[21..]);
        bytes[17..21].copy_from_slice(&crc.to_be_bytes());
        let (read, next) = decode_keyed(Bytes::from(bytes)).unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(next, Some(5));
    }
}
