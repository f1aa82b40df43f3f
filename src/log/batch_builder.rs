//! Builds uncompressed v2 record batches, as a producer would: the group
//! coordinator's records for `__consumer_offsets`, and test inputs.

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

/// One batch of `(key, value)` records, offsets from 0 (the log assigns the
/// real ones on append), record `i` stamped `first_timestamp_ms + i * step`.
pub fn uncompressed_batch(
    records: &[(Option<Bytes>, Option<Bytes>)],
    first_timestamp_ms: i64,
    timestamp_step_ms: i64,
) -> Vec<u8> {
    assert!(!records.is_empty(), "a batch holds records");
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, (key, value))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // The encoder starts a new batch when offset - sequence changes.
            sequence: i as i32 - 1,
            timestamp: first_timestamp_ms + i as i64 * timestamp_step_ms,
            key: key.clone(),
            value: value.clone(),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, records.iter(), &options).expect("plain records encode");
    buf.to_vec()
}
