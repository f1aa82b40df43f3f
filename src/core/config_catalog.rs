//! What DescribeConfigs says about each config besides its value: Kafka's
//! type, the broker config a topic config falls back to (its synonym), and
//! a line of documentation (Kafka's `ConfigDef`, `LogConfig`,
//! `ServerLogConfigs`).

use crate::core::topic_config::*;

/// Kafka's `ConfigEntry.ConfigType` ids (DescribeConfigs v3+).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    Boolean = 1,
    String = 2,
    Int = 3,
    Long = 5,
    Double = 6,
    List = 7,
}

/// Kafka's `ConfigEntry.ConfigSource` ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    DynamicTopic = 1,
    StaticBroker = 4,
    Default = 5,
}

/// One topic config's description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicConfigInfo {
    pub name: &'static str,
    pub config_type: ConfigType,
    /// The broker config whose value a topic without its own takes.
    pub broker_synonym: Option<&'static str>,
    pub documentation: &'static str,
}

/// Every topic config, in [`KNOWN_CONFIGS`] order.
pub const TOPIC_CONFIGS: [TopicConfigInfo; 20] = [
    TopicConfigInfo {
        name: CLEANUP_POLICY,
        config_type: ConfigType::List,
        broker_synonym: Some("log.cleanup.policy"),
        documentation: "delete: old segments are deleted by retention; compact: the latest record per key is kept.",
    },
    TopicConfigInfo {
        name: COMPRESSION_TYPE,
        config_type: ConfigType::String,
        broker_synonym: Some("compression.type"),
        documentation: "The codec batches are stored in: uncompressed, zstd, lz4, snappy, gzip, or producer (as sent).",
    },
    TopicConfigInfo {
        name: DELETE_RETENTION_MS,
        config_type: ConfigType::Long,
        broker_synonym: Some("log.cleaner.delete.retention.ms"),
        documentation: "How long tombstones of a compacted topic are kept after its first cleaning.",
    },
    TopicConfigInfo {
        name: FSYNC_INTERVAL_MS,
        config_type: ConfigType::Long,
        broker_synonym: None,
        documentation: "odradek: with fsync.policy=interval, how often appended data is synced.",
    },
    TopicConfigInfo {
        name: FSYNC_POLICY,
        config_type: ConfigType::String,
        broker_synonym: Some("fsync.policy"),
        documentation: "odradek: always (sync before acknowledging), interval, or never.",
    },
    TopicConfigInfo {
        name: INDEX_INTERVAL_BYTES,
        config_type: ConfigType::Int,
        broker_synonym: Some("log.index.interval.bytes"),
        documentation: "Bytes between two offset index entries.",
    },
    TopicConfigInfo {
        name: MAX_COMPACTION_LAG_MS,
        config_type: ConfigType::Long,
        broker_synonym: Some("log.cleaner.max.compaction.lag.ms"),
        documentation: "A record stays uncompacted at most this long, whatever the dirty ratio.",
    },
    TopicConfigInfo {
        name: MAX_MESSAGE_BYTES,
        config_type: ConfigType::Int,
        broker_synonym: Some("message.max.bytes"),
        documentation: "The largest record batch size allowed.",
    },
    TopicConfigInfo {
        name: MESSAGE_TIMESTAMP_AFTER_MAX_MS,
        config_type: ConfigType::Long,
        broker_synonym: Some("log.message.timestamp.after.max.ms"),
        documentation: "How far ahead of the broker's clock a CreateTime record's timestamp may be.",
    },
    TopicConfigInfo {
        name: MESSAGE_TIMESTAMP_BEFORE_MAX_MS,
        config_type: ConfigType::Long,
        broker_synonym: Some("log.message.timestamp.before.max.ms"),
        documentation: "How far behind the broker's clock a CreateTime record's timestamp may be.",
    },
    TopicConfigInfo {
        name: MESSAGE_TIMESTAMP_DIFFERENCE_MAX_MS,
        config_type: ConfigType::Long,
        broker_synonym: Some("log.message.timestamp.difference.max.ms"),
        documentation: "Deprecated: the bound before.max.ms and after.max.ms fall back to.",
    },
    TopicConfigInfo {
        name: MESSAGE_TIMESTAMP_TYPE,
        config_type: ConfigType::String,
        broker_synonym: Some("log.message.timestamp.type"),
        documentation: "CreateTime keeps the producer's timestamps; LogAppendTime stamps batches with the broker's clock.",
    },
    TopicConfigInfo {
        name: MIN_CLEANABLE_DIRTY_RATIO,
        config_type: ConfigType::Double,
        broker_synonym: Some("log.cleaner.min.cleanable.ratio"),
        documentation: "The share of dirty bytes above which the log is compacted.",
    },
    TopicConfigInfo {
        name: MIN_COMPACTION_LAG_MS,
        config_type: ConfigType::Long,
        broker_synonym: Some("log.cleaner.min.compaction.lag.ms"),
        documentation: "A record stays uncompacted at least this long.",
    },
    TopicConfigInfo {
        name: MIN_INSYNC_REPLICAS,
        config_type: ConfigType::Int,
        broker_synonym: Some("min.insync.replicas"),
        documentation: "In-sync replicas an acks=all produce needs.",
    },
    TopicConfigInfo {
        name: RETENTION_BYTES,
        config_type: ConfigType::Long,
        broker_synonym: Some("log.retention.bytes"),
        documentation: "The size a partition keeps before deleting old segments (-1: no limit).",
    },
    TopicConfigInfo {
        name: RETENTION_MS,
        config_type: ConfigType::Long,
        broker_synonym: Some("log.retention.ms"),
        documentation: "How long records are kept before their segment is deleted (-1: forever).",
    },
    TopicConfigInfo {
        name: SEGMENT_BYTES,
        config_type: ConfigType::Int,
        broker_synonym: Some("log.segment.bytes"),
        documentation: "The size of one segment file.",
    },
    TopicConfigInfo {
        name: SEGMENT_MS,
        config_type: ConfigType::Long,
        broker_synonym: Some("log.roll.ms"),
        documentation: "The time after which a segment is rolled even if not full.",
    },
    TopicConfigInfo {
        name: UNCLEAN_LEADER_ELECTION,
        config_type: ConfigType::Boolean,
        broker_synonym: Some("unclean.leader.election.enable"),
        documentation: "Whether a replica outside the ISR may become leader.",
    },
];

pub fn topic_config_info(name: &str) -> Option<&'static TopicConfigInfo> {
    TOPIC_CONFIGS
        .iter()
        .find(|c| c.name == name)
        .or_else(|| crate::core::inert_topic_config::find(name).map(|c| &c.info))
}

/// Kafka's own default of each topic config (`TopicDefaults::default()`
/// holds odradek's, which match): a broker default that differs was set on
/// the command line (STATIC_BROKER_CONFIG).
pub fn builtin_default(name: &str) -> Option<String> {
    TopicConfig::describe(&Default::default(), &TopicDefaults::default())
        .into_iter()
        .find(|d| d.name == name)
        .map(|d| d.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_config_is_described_in_order() {
        let names: Vec<&str> = TOPIC_CONFIGS.iter().map(|c| c.name).collect();
        assert_eq!(names, KNOWN_CONFIGS.to_vec());
    }
}
