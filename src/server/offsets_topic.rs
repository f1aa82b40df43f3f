//! `__consumer_offsets`: where the group coordinator's records live.
//!
//! Each [`GroupRecord`] is one Kafka record: key = bincode of its
//! [`GroupRecord::key`] (so compaction keeps the latest per key), value =
//! bincode of the record, null for tombstones. A persist of several records is
//! one batch, appended with acks=all on a topic with `fsync.policy=always`:
//! committed offsets survive kill -9 and power loss.

use std::collections::BTreeMap;

use bytes::Bytes;
use kafka_protocol::records::RecordBatchDecoder;

use crate::core::group::GroupRecord;
use crate::core::topic_config::{CLEANUP_POLICY, FSYNC_POLICY, SEGMENT_BYTES};
use crate::log::batch_builder;

pub const OFFSETS_TOPIC: &str = crate::core::topic_name::GROUP_METADATA_TOPIC;
/// One partition: this node coordinates every group.
pub const OFFSETS_TOPIC_PARTITIONS: i32 = 1;
/// Bytes read per step while loading the topic at start.
pub const LOAD_READ_BYTES: usize = 1 << 20;

/// Segment size of the internal topic (Kafka's `offsets.topic.segment.bytes`):
/// small enough that segments seal and get compacted.
const OFFSETS_TOPIC_SEGMENT_BYTES: &str = "104857600";

/// The internal topic's configs: synced before every acknowledgement, and
/// compacted (the latest record per group and per partition commit is kept;
/// time retention never drops committed offsets).
pub fn offsets_topic_configs() -> BTreeMap<String, String> {
    let mut configs = BTreeMap::new();
    configs.insert(FSYNC_POLICY.to_string(), "always".to_string());
    configs.insert(CLEANUP_POLICY.to_string(), "compact".to_string());
    configs.insert(
        SEGMENT_BYTES.to_string(),
        OFFSETS_TOPIC_SEGMENT_BYTES.to_string(),
    );
    configs
}

/// Encodes records as one uncompressed v2 batch (offsets patched on append).
pub fn encode_batch(records: &[GroupRecord], timestamp_ms: i64) -> Vec<u8> {
    let keyed: Vec<(Option<Bytes>, Option<Bytes>)> = records
        .iter()
        .map(|record| {
            let key = Bytes::from(bincode::serialize(&record.key()).expect("keys serialize"));
            let value = (!record.is_tombstone())
                .then(|| Bytes::from(bincode::serialize(record).expect("records serialize")));
            (Some(key), value)
        })
        .collect();
    batch_builder::uncompressed_batch(&keyed, timestamp_ms, 0)
}

/// Decodes the group records of stored batches; tombstones are rebuilt from
/// their keys. Undecodable records are skipped (and counted), never a panic:
/// the bytes come from disk.
pub fn decode_batches(bytes: &[u8]) -> (Vec<GroupRecord>, usize) {
    let mut buf = Bytes::copy_from_slice(bytes);
    let mut records = Vec::new();
    let mut skipped = 0;
    let Ok(sets) = RecordBatchDecoder::decode_all(&mut buf) else {
        return (records, 1);
    };
    for set in sets {
        for record in set.records {
            if record.control {
                continue;
            }
            let decoded = match (&record.value, &record.key) {
                (Some(value), _) => bincode::deserialize::<GroupRecord>(value).ok(),
                (None, Some(key)) => {
                    bincode::deserialize::<crate::core::group::GroupRecordKey>(key)
                        .ok()
                        .map(tombstone_for)
                }
                (None, None) => None,
            };
            match decoded {
                Some(r) => records.push(r),
                None => skipped += 1,
            }
        }
    }
    (records, skipped)
}

fn tombstone_for(key: crate::core::group::GroupRecordKey) -> GroupRecord {
    use crate::core::group::GroupRecordKey;
    match key {
        GroupRecordKey::Offset {
            group_id,
            topic,
            partition,
        } => GroupRecord::OffsetTombstone {
            group_id,
            topic,
            partition,
        },
        GroupRecordKey::Group { group_id } => GroupRecord::GroupTombstone { group_id },
    }
}
