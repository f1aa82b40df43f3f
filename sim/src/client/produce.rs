//! Produce: values into one v2 record batch, acks=all; plain or idempotent
//! (producer id, epoch and base sequence in the batch header).

use bytes::{Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::{ApiVersionsInUse, ClientError, Connection};

/// acks=all: the broker answers once the batch is committed (and, with
/// fsync.policy=always, synced).
const ACKS_ALL: i16 = -1;

/// Who wrote an idempotent batch and where it sits in the producer's
/// sequence space of one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchIdentity {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
}

/// One uncompressed v2 batch holding `values` in order, no key, not
/// idempotent (producer id -1).
pub fn encode_batch(values: &[String], timestamp_ms: i64) -> Result<Bytes, ClientError> {
    encode_batch_as(values, timestamp_ms, None)
}

/// One uncompressed v2 batch holding `values` in order, no key; with an
/// identity, an idempotent batch whose record `i` has sequence
/// `base_sequence + i` (the encoder keeps records in one batch only while
/// `offset - sequence` is constant, so offsets and sequences advance together).
pub fn encode_batch_as(
    values: &[String],
    timestamp_ms: i64,
    identity: Option<BatchIdentity>,
) -> Result<Bytes, ClientError> {
    let (producer_id, producer_epoch, base_sequence) = match identity {
        Some(id) => (id.producer_id, id.producer_epoch, id.base_sequence),
        None => (-1, -1, -1),
    };
    let records: Vec<Record> = values
        .iter()
        .enumerate()
        .map(|(index, value)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id,
            producer_epoch,
            timestamp_type: TimestampType::Creation,
            offset: index as i64,
            // A plain batch's base sequence is -1. The encoder starts a new
            // batch whenever `offset - sequence` changes, so the records'
            // sequences step with their offsets from -1 (a constant -1 split
            // every multi-value plain produce into one batch per record,
            // which the broker refuses as INVALID_RECORD: found by the
            // `no-progress` floor).
            sequence: if base_sequence < 0 {
                index as i32 - 1
            } else {
                base_sequence.wrapping_add(index as i32) & i32::MAX
            },
            timestamp: timestamp_ms,
            key: None,
            value: Some(Bytes::from(value.clone().into_bytes())),
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

/// Produces `values` as one plain batch to `topic`/`partition`; returns the
/// base offset the broker assigned (value `i` is at base + i).
pub async fn produce(
    connection: &mut Connection,
    versions: ApiVersionsInUse,
    topic: &str,
    partition: i32,
    values: &[String],
    timestamp_ms: i64,
    timeout_ms: i32,
) -> Result<i64, ClientError> {
    let batch = encode_batch(values, timestamp_ms)?;
    produce_batch(connection, versions, topic, partition, batch, timeout_ms).await
}

/// Produces one already encoded batch (an idempotent producer resends the
/// very same bytes); returns the base offset the broker assigned.
pub async fn produce_batch(
    connection: &mut Connection,
    versions: ApiVersionsInUse,
    topic: &str,
    partition: i32,
    batch: Bytes,
    timeout_ms: i32,
) -> Result<i64, ClientError> {
    produce_batch_acked_by(
        connection, versions, topic, partition, batch, timeout_ms, ACKS_ALL,
    )
    .await
}

/// acks=1: the leader answers once its own log has the batch.
pub const ACKS_LEADER: i16 = 1;

/// [`produce_batch`] with another `acks` (-1 all, 1 the leader).
pub async fn produce_batch_acked_by(
    connection: &mut Connection,
    versions: ApiVersionsInUse,
    topic: &str,
    partition: i32,
    batch: Bytes,
    timeout_ms: i32,
    acks: i16,
) -> Result<i64, ClientError> {
    let request = ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(timeout_ms)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(batch))])]);
    let response = connection.call(&request, versions.produce).await?;
    let partition_response = response
        .responses
        .iter()
        .flat_map(|t| t.partition_responses.iter())
        .find(|p| p.index == partition)
        .ok_or_else(|| ClientError::Protocol("produce response without our partition".into()))?;
    if partition_response.error_code != 0 {
        return Err(ClientError::kafka(partition_response.error_code));
    }
    if partition_response.base_offset < 0 {
        return Err(ClientError::Protocol(format!(
            "produce acknowledged at offset {}",
            partition_response.base_offset
        )));
    }
    Ok(partition_response.base_offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use odradek::log::record_batch::parse_header_prefix;

    #[test]
    fn several_plain_values_make_one_batch_with_no_sequence() {
        let values: Vec<String> = ["a", "b", "c"].iter().map(|v| v.to_string()).collect();
        let bytes = encode_batch(&values, 1_000).unwrap();
        let header = parse_header_prefix(&bytes).unwrap();
        assert_eq!(
            header.size_bytes,
            bytes.len(),
            "one batch, nothing after it"
        );
        assert_eq!(header.records_count, 3);
        assert_eq!(header.base_sequence, -1);
        assert_eq!(header.producer_id, -1);
    }

    #[test]
    fn idempotent_values_make_one_batch_from_their_base_sequence() {
        let values: Vec<String> = ["a", "b"].iter().map(|v| v.to_string()).collect();
        let identity = BatchIdentity {
            producer_id: 7,
            producer_epoch: 0,
            base_sequence: 5,
        };
        let bytes = encode_batch_as(&values, 1_000, Some(identity)).unwrap();
        let header = parse_header_prefix(&bytes).unwrap();
        assert_eq!(header.size_bytes, bytes.len());
        assert_eq!(header.base_sequence, 5);
    }
}
