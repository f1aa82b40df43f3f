//! Topic configs: Kafka's names, validated and typed.
//!
//! A topic stores only the configs set explicitly (as strings, like Kafka's
//! metadata records); [`TopicConfig::resolve`] fills in the broker defaults.

use std::collections::BTreeMap;

use crate::log::LogConfig;

/// When the broker forces appended data to stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FsyncPolicy {
    /// Sync before acknowledging a produce; consumers only see synced data.
    Always,
    /// Sync in the background every `fsync.interval.ms`.
    Interval,
    /// Never sync explicitly; rely on the OS (and, in a cluster, replication).
    Never,
}

impl FsyncPolicy {
    pub fn parse(s: &str) -> Option<FsyncPolicy> {
        match s {
            "always" => Some(FsyncPolicy::Always),
            "interval" => Some(FsyncPolicy::Interval),
            "never" => Some(FsyncPolicy::Never),
            _ => None,
        }
    }
    pub fn as_str(&self) -> &'static str {
        match self {
            FsyncPolicy::Always => "always",
            FsyncPolicy::Interval => "interval",
            FsyncPolicy::Never => "never",
        }
    }
}

/// `compression.type`: the codec the broker stores batches in. `producer`
/// keeps each batch as the producer compressed it; any other value makes the
/// broker recompress batches whose codec differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompressionType {
    Producer,
    Uncompressed,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl CompressionType {
    pub fn parse(s: &str) -> Option<CompressionType> {
        match s {
            "producer" => Some(CompressionType::Producer),
            "uncompressed" => Some(CompressionType::Uncompressed),
            "gzip" => Some(CompressionType::Gzip),
            "snappy" => Some(CompressionType::Snappy),
            "lz4" => Some(CompressionType::Lz4),
            "zstd" => Some(CompressionType::Zstd),
            _ => None,
        }
    }
    pub fn as_str(&self) -> &'static str {
        match self {
            CompressionType::Producer => "producer",
            CompressionType::Uncompressed => "uncompressed",
            CompressionType::Gzip => "gzip",
            CompressionType::Snappy => "snappy",
            CompressionType::Lz4 => "lz4",
            CompressionType::Zstd => "zstd",
        }
    }
    /// The record batch attribute codec (bits 0–2) batches must be stored
    /// with; `None` for `producer` (any codec, kept as sent).
    pub fn batch_codec(&self) -> Option<i16> {
        match self {
            CompressionType::Producer => None,
            CompressionType::Uncompressed => Some(0),
            CompressionType::Gzip => Some(1),
            CompressionType::Snappy => Some(2),
            CompressionType::Lz4 => Some(3),
            CompressionType::Zstd => Some(4),
        }
    }
}

/// `message.timestamp.type`: whose clock a stored batch's timestamp is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    /// The producer's timestamps are kept.
    CreateTime,
    /// The broker stamps each batch with its clock when appending.
    LogAppendTime,
}

impl TimestampType {
    pub fn parse(s: &str) -> Option<TimestampType> {
        match s {
            "CreateTime" => Some(TimestampType::CreateTime),
            "LogAppendTime" => Some(TimestampType::LogAppendTime),
            _ => None,
        }
    }
    pub fn as_str(&self) -> &'static str {
        match self {
            TimestampType::CreateTime => "CreateTime",
            TimestampType::LogAppendTime => "LogAppendTime",
        }
    }
}

/// `min.cleanable.dirty.ratio`, in [0, 1]: a finite number, so the topic
/// config stays `Eq`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DirtyRatio(f64);

impl Eq for DirtyRatio {}

impl DirtyRatio {
    /// Kafka's default, 0.5.
    pub const DEFAULT: DirtyRatio = DirtyRatio(0.5);

    pub fn parse(s: &str) -> Option<DirtyRatio> {
        let v: f64 = s.trim().parse().ok()?;
        (v.is_finite() && (0.0..=1.0).contains(&v)).then_some(DirtyRatio(v))
    }
    pub fn get(&self) -> f64 {
        self.0
    }
}

pub const FSYNC_POLICY: &str = "fsync.policy";
pub const FSYNC_INTERVAL_MS: &str = "fsync.interval.ms";
pub const RETENTION_MS: &str = "retention.ms";
pub const RETENTION_BYTES: &str = "retention.bytes";
pub const SEGMENT_BYTES: &str = "segment.bytes";
pub const SEGMENT_MS: &str = "segment.ms";
pub const INDEX_INTERVAL_BYTES: &str = "index.interval.bytes";
pub const MAX_MESSAGE_BYTES: &str = "max.message.bytes";
pub const CLEANUP_POLICY: &str = "cleanup.policy";
pub const DELETE_RETENTION_MS: &str = "delete.retention.ms";
pub const MIN_INSYNC_REPLICAS: &str = "min.insync.replicas";
pub const UNCLEAN_LEADER_ELECTION: &str = "unclean.leader.election.enable";
pub const MESSAGE_TIMESTAMP_TYPE: &str = "message.timestamp.type";
pub const MESSAGE_TIMESTAMP_AFTER_MAX_MS: &str = "message.timestamp.after.max.ms";
pub const MESSAGE_TIMESTAMP_BEFORE_MAX_MS: &str = "message.timestamp.before.max.ms";
/// Deprecated in Kafka 3.6 (KIP-937): before/after fall back to it while
/// they keep their defaults.
pub const MESSAGE_TIMESTAMP_DIFFERENCE_MAX_MS: &str = "message.timestamp.difference.max.ms";
pub const COMPRESSION_TYPE: &str = "compression.type";
pub const MIN_COMPACTION_LAG_MS: &str = "min.compaction.lag.ms";
pub const MAX_COMPACTION_LAG_MS: &str = "max.compaction.lag.ms";
pub const MIN_CLEANABLE_DIRTY_RATIO: &str = "min.cleanable.dirty.ratio";

/// Smallest `segment.bytes` accepted: one batch header plus a little.
const SEGMENT_BYTES_MIN: i64 = 1024;

/// Broker-level defaults for configs a topic does not set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDefaults {
    pub fsync_policy: FsyncPolicy,
    pub fsync_interval_ms: i64,
    pub retention_ms: i64,
    pub retention_bytes: i64,
    pub segment_bytes: i64,
    pub segment_ms: i64,
    pub index_interval_bytes: i64,
    pub max_message_bytes: i64,
    pub min_insync_replicas: i64,
    /// `compression.type` (broker: `compression.type`).
    pub compression_type: CompressionType,
    /// `message.timestamp.type` (broker: `log.message.timestamp.type`).
    pub message_timestamp_type: TimestampType,
}

impl Default for TopicDefaults {
    fn default() -> Self {
        TopicDefaults {
            fsync_policy: FsyncPolicy::Interval,
            fsync_interval_ms: 1000,
            retention_ms: 7 * 24 * 3600 * 1000,
            retention_bytes: -1,
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3600 * 1000,
            index_interval_bytes: 4096,
            max_message_bytes: 1_048_588,
            min_insync_replicas: 1,
            compression_type: CompressionType::Producer,
            message_timestamp_type: TimestampType::CreateTime,
        }
    }
}

/// A topic's effective configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicConfig {
    /// `cleanup.policy` includes `compact`: keep the latest record per key.
    pub compacted: bool,
    /// `cleanup.policy` includes `delete`: retention deletes old segments.
    pub delete_by_retention: bool,
    /// `delete.retention.ms`: how long a compacted topic keeps tombstones.
    pub delete_retention_ms: i64,
    pub fsync_policy: FsyncPolicy,
    pub fsync_interval_ms: i64,
    pub retention_ms: i64,
    pub retention_bytes: i64,
    pub segment_bytes: i64,
    pub segment_ms: i64,
    pub index_interval_bytes: i64,
    pub max_message_bytes: i64,
    pub min_insync_replicas: i64,
    /// `compression.type`: the codec batches are stored in.
    pub compression_type: CompressionType,
    /// `message.timestamp.type`: CreateTime keeps the producer's
    /// timestamps, LogAppendTime stamps batches with the broker's clock.
    pub message_timestamp_type: TimestampType,
    /// `message.timestamp.before.max.ms` / `after.max.ms`, resolved with
    /// Kafka's fallback to `message.timestamp.difference.max.ms`: how far a
    /// CreateTime record may lie behind / ahead of the broker's clock.
    pub message_timestamp_before_max_ms: i64,
    pub message_timestamp_after_max_ms: i64,
    /// `min.compaction.lag.ms`: the cleaner leaves records younger than
    /// this (by their segment's largest timestamp) uncompacted.
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms`: a dirty segment whose first batch is older
    /// than this is cleaned whatever the dirty ratio.
    pub max_compaction_lag_ms: i64,
    /// `min.cleanable.dirty.ratio`: clean only when dirty bytes / (clean +
    /// dirty bytes) exceeds this.
    pub min_cleanable_dirty_ratio: DirtyRatio,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid value {value:?} for config {key}: {reason}")]
pub struct ConfigError {
    pub key: String,
    pub value: String,
    pub reason: &'static str,
}

/// One row of DescribeConfigs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedConfig {
    pub name: &'static str,
    pub value: String,
    pub is_default: bool,
    pub read_only: bool,
}

fn parse_long(key: &str, value: &str, min: i64) -> Result<i64, ConfigError> {
    match value.trim().parse::<i64>() {
        Ok(v) if v >= min => Ok(v),
        Ok(_) => Err(ConfigError {
            key: key.into(),
            value: value.into(),
            reason: "below the minimum",
        }),
        Err(_) => Err(ConfigError {
            key: key.into(),
            value: value.into(),
            reason: "not an integer",
        }),
    }
}

/// `cleanup.policy`: (compact, delete by retention).
fn parse_cleanup_policy(value: &str) -> Option<(bool, bool)> {
    let mut compact = false;
    let mut delete = false;
    for part in value.split(',').map(str::trim) {
        match part {
            "compact" => compact = true,
            "delete" => delete = true,
            _ => return None,
        }
    }
    (compact || delete).then_some((compact, delete))
}

/// Every config name a topic accepts, in DescribeConfigs order.
pub const KNOWN_CONFIGS: [&str; 20] = [
    CLEANUP_POLICY,
    COMPRESSION_TYPE,
    DELETE_RETENTION_MS,
    FSYNC_INTERVAL_MS,
    FSYNC_POLICY,
    INDEX_INTERVAL_BYTES,
    MAX_COMPACTION_LAG_MS,
    MAX_MESSAGE_BYTES,
    MESSAGE_TIMESTAMP_AFTER_MAX_MS,
    MESSAGE_TIMESTAMP_BEFORE_MAX_MS,
    MESSAGE_TIMESTAMP_DIFFERENCE_MAX_MS,
    MESSAGE_TIMESTAMP_TYPE,
    MIN_CLEANABLE_DIRTY_RATIO,
    MIN_COMPACTION_LAG_MS,
    MIN_INSYNC_REPLICAS,
    RETENTION_BYTES,
    RETENTION_MS,
    SEGMENT_BYTES,
    SEGMENT_MS,
    UNCLEAN_LEADER_ELECTION,
];

impl TopicConfig {
    /// Checks one explicitly set config. Names Kafka knows but odradek does
    /// not implement yet are rejected rather than silently ignored.
    pub fn validate_entry(key: &str, value: &str) -> Result<(), ConfigError> {
        let bad = |reason| {
            Err(ConfigError {
                key: key.into(),
                value: value.into(),
                reason,
            })
        };
        match key {
            FSYNC_POLICY => match FsyncPolicy::parse(value) {
                Some(_) => Ok(()),
                None => bad("expected always, interval or never"),
            },
            FSYNC_INTERVAL_MS => parse_long(key, value, 1).map(|_| ()),
            RETENTION_MS | RETENTION_BYTES => parse_long(key, value, -1).map(|_| ()),
            SEGMENT_BYTES => parse_long(key, value, SEGMENT_BYTES_MIN).map(|_| ()),
            SEGMENT_MS => parse_long(key, value, 1).map(|_| ()),
            INDEX_INTERVAL_BYTES => parse_long(key, value, 0).map(|_| ()),
            MAX_MESSAGE_BYTES => parse_long(key, value, 0).map(|_| ()),
            MIN_INSYNC_REPLICAS => parse_long(key, value, 1).map(|_| ()),
            CLEANUP_POLICY => match parse_cleanup_policy(value) {
                Some(_) => Ok(()),
                None => bad("expected delete, compact, or compact,delete"),
            },
            DELETE_RETENTION_MS => parse_long(key, value, 0).map(|_| ()),
            UNCLEAN_LEADER_ELECTION => match value {
                "true" | "false" => Ok(()),
                _ => bad("expected true or false"),
            },
            MESSAGE_TIMESTAMP_TYPE => match TimestampType::parse(value) {
                Some(_) => Ok(()),
                None => bad("expected CreateTime or LogAppendTime"),
            },
            COMPRESSION_TYPE => match CompressionType::parse(value) {
                Some(_) => Ok(()),
                None => bad("expected uncompressed, zstd, lz4, snappy, gzip or producer"),
            },
            MIN_COMPACTION_LAG_MS => parse_long(key, value, 0).map(|_| ()),
            MESSAGE_TIMESTAMP_AFTER_MAX_MS
            | MESSAGE_TIMESTAMP_BEFORE_MAX_MS
            | MESSAGE_TIMESTAMP_DIFFERENCE_MAX_MS => parse_long(key, value, 0).map(|_| ()),
            MAX_COMPACTION_LAG_MS => parse_long(key, value, 1).map(|_| ()),
            MIN_CLEANABLE_DIRTY_RATIO => match DirtyRatio::parse(value) {
                Some(_) => Ok(()),
                None => bad("expected a number between 0 and 1"),
            },
            _ => match crate::core::inert_topic_config::check(key, value) {
                Some(Ok(())) => Ok(()),
                Some(Err(reason)) => bad(reason),
                None => bad("unknown topic config"),
            },
        }
    }

    /// Whether `key` is a topic config name odradek accepts (implemented, or
    /// accepted without effect: see `inert_topic_config`).
    pub fn is_known(key: &str) -> bool {
        KNOWN_CONFIGS.contains(&key) || crate::core::inert_topic_config::find(key).is_some()
    }

    /// Checks a topic's explicit configs, each alone and together (Kafka's
    /// `LogConfig.validateValues`: the minimum compaction lag may not exceed
    /// the maximum).
    pub fn validate(configs: &BTreeMap<String, String>) -> Result<(), ConfigError> {
        configs
            .iter()
            .try_for_each(|(k, v)| Self::validate_entry(k, v))?;
        let lag = |key| configs.get(key).and_then(|v| v.trim().parse::<i64>().ok());
        let min_lag = lag(MIN_COMPACTION_LAG_MS).unwrap_or(0);
        let max_lag = lag(MAX_COMPACTION_LAG_MS).unwrap_or(i64::MAX);
        if min_lag > max_lag {
            return Err(ConfigError {
                key: MIN_COMPACTION_LAG_MS.into(),
                value: min_lag.to_string(),
                reason: "greater than max.compaction.lag.ms",
            });
        }
        Ok(())
    }

    /// The effective config: explicit values over broker defaults. Inputs
    /// were validated when they were written, so a bad value falls back to
    /// the default rather than failing here.
    pub fn resolve(configs: &BTreeMap<String, String>, defaults: &TopicDefaults) -> TopicConfig {
        let long = |key: &str, default: i64| {
            configs
                .get(key)
                .and_then(|v| v.trim().parse::<i64>().ok())
                .unwrap_or(default)
        };
        let (compacted, delete_by_retention) = configs
            .get(CLEANUP_POLICY)
            .and_then(|v| parse_cleanup_policy(v))
            .unwrap_or((false, true));
        // Kafka's LogConfig: while before/after keep their default (no bound),
        // the deprecated difference bound applies to both.
        let timestamp_bound = |key: &str| match long(key, i64::MAX) {
            i64::MAX => long(MESSAGE_TIMESTAMP_DIFFERENCE_MAX_MS, i64::MAX),
            set => set,
        };
        TopicConfig {
            compacted,
            delete_by_retention,
            delete_retention_ms: long(
                DELETE_RETENTION_MS,
                crate::log::compaction::DELETE_RETENTION_MS_DEFAULT,
            ),
            fsync_policy: configs
                .get(FSYNC_POLICY)
                .and_then(|v| FsyncPolicy::parse(v))
                .unwrap_or(defaults.fsync_policy),
            fsync_interval_ms: long(FSYNC_INTERVAL_MS, defaults.fsync_interval_ms),
            retention_ms: long(RETENTION_MS, defaults.retention_ms),
            retention_bytes: long(RETENTION_BYTES, defaults.retention_bytes),
            segment_bytes: long(SEGMENT_BYTES, defaults.segment_bytes),
            segment_ms: long(SEGMENT_MS, defaults.segment_ms),
            index_interval_bytes: long(INDEX_INTERVAL_BYTES, defaults.index_interval_bytes),
            max_message_bytes: long(MAX_MESSAGE_BYTES, defaults.max_message_bytes),
            min_insync_replicas: long(MIN_INSYNC_REPLICAS, defaults.min_insync_replicas),
            compression_type: configs
                .get(COMPRESSION_TYPE)
                .and_then(|v| CompressionType::parse(v))
                .unwrap_or(defaults.compression_type),
            message_timestamp_type: configs
                .get(MESSAGE_TIMESTAMP_TYPE)
                .and_then(|v| TimestampType::parse(v))
                .unwrap_or(defaults.message_timestamp_type),
            message_timestamp_before_max_ms: timestamp_bound(MESSAGE_TIMESTAMP_BEFORE_MAX_MS),
            message_timestamp_after_max_ms: timestamp_bound(MESSAGE_TIMESTAMP_AFTER_MAX_MS),
            min_compaction_lag_ms: long(MIN_COMPACTION_LAG_MS, 0),
            max_compaction_lag_ms: long(MAX_COMPACTION_LAG_MS, i64::MAX),
            min_cleanable_dirty_ratio: configs
                .get(MIN_CLEANABLE_DIRTY_RATIO)
                .and_then(|v| DirtyRatio::parse(v))
                .unwrap_or(DirtyRatio::DEFAULT),
        }
    }

    pub fn log_config(&self, verify_crc_on_recovery: bool) -> LogConfig {
        LogConfig {
            segment_bytes: self.segment_bytes.max(SEGMENT_BYTES_MIN) as u64,
            segment_ms: self.segment_ms,
            index_interval_bytes: self.index_interval_bytes.max(0) as u64,
            // Without `delete` in the policy, retention never drops segments.
            retention_ms: if self.delete_by_retention {
                self.retention_ms
            } else {
                -1
            },
            retention_bytes: if self.delete_by_retention {
                self.retention_bytes
            } else {
                -1
            },
            verify_crc_on_recovery,
            leader_epoch_max: i32::MAX,
            dense_offsets: !self.compacted,
            bugs: crate::log::config::LogBugs::default(),
        }
    }

    /// All configs with their effective values, for DescribeConfigs.
    pub fn describe(
        configs: &BTreeMap<String, String>,
        defaults: &TopicDefaults,
    ) -> Vec<DescribedConfig> {
        let effective = Self::resolve(configs, defaults);
        let mut described = KNOWN_CONFIGS
            .iter()
            .map(|name| {
                let value = match *name {
                    CLEANUP_POLICY => "delete".to_string(),
                    DELETE_RETENTION_MS => effective.delete_retention_ms.to_string(),
                    COMPRESSION_TYPE => effective.compression_type.as_str().to_string(),
                    MAX_COMPACTION_LAG_MS => effective.max_compaction_lag_ms.to_string(),
                    MIN_COMPACTION_LAG_MS => effective.min_compaction_lag_ms.to_string(),
                    MIN_CLEANABLE_DIRTY_RATIO => {
                        effective.min_cleanable_dirty_ratio.get().to_string()
                    }
                    FSYNC_INTERVAL_MS => effective.fsync_interval_ms.to_string(),
                    FSYNC_POLICY => effective.fsync_policy.as_str().to_string(),
                    INDEX_INTERVAL_BYTES => effective.index_interval_bytes.to_string(),
                    MAX_MESSAGE_BYTES => effective.max_message_bytes.to_string(),
                    MESSAGE_TIMESTAMP_TYPE => effective.message_timestamp_type.as_str().to_string(),
                    // Described as set (default: no bound), not as resolved.
                    MESSAGE_TIMESTAMP_AFTER_MAX_MS
                    | MESSAGE_TIMESTAMP_BEFORE_MAX_MS
                    | MESSAGE_TIMESTAMP_DIFFERENCE_MAX_MS => i64::MAX.to_string(),
                    MIN_INSYNC_REPLICAS => effective.min_insync_replicas.to_string(),
                    RETENTION_BYTES => effective.retention_bytes.to_string(),
                    RETENTION_MS => effective.retention_ms.to_string(),
                    SEGMENT_BYTES => effective.segment_bytes.to_string(),
                    SEGMENT_MS => effective.segment_ms.to_string(),
                    UNCLEAN_LEADER_ELECTION => "false".to_string(),
                    other => unreachable!("config {other} listed without a value"),
                };
                let explicit = configs.get(*name);
                DescribedConfig {
                    name,
                    value: explicit.cloned().unwrap_or(value),
                    is_default: explicit.is_none(),
                    read_only: false,
                }
            })
            .chain(
                crate::core::inert_topic_config::INERT_CONFIGS
                    .iter()
                    .map(|c| {
                        let explicit = configs.get(c.info.name);
                        DescribedConfig {
                            name: c.info.name,
                            value: explicit.cloned().unwrap_or_else(|| c.default.to_string()),
                            is_default: explicit.is_none(),
                            read_only: false,
                        }
                    }),
            )
            .collect::<Vec<_>>();
        described.sort_by_key(|d| d.name);
        described
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_values_override_defaults_and_bad_ones_are_rejected() {
        let mut configs = BTreeMap::new();
        configs.insert(FSYNC_POLICY.to_string(), "always".to_string());
        configs.insert(RETENTION_MS.to_string(), "1000".to_string());
        assert!(TopicConfig::validate(&configs).is_ok());
        let c = TopicConfig::resolve(&configs, &TopicDefaults::default());
        assert_eq!(c.fsync_policy, FsyncPolicy::Always);
        assert_eq!(c.retention_ms, 1000);
        assert_eq!(c.segment_bytes, 1 << 30);
        assert!(TopicConfig::validate_entry(FSYNC_POLICY, "sometimes").is_err());
        assert!(TopicConfig::validate_entry("no.such.config", "1").is_err());
        assert!(TopicConfig::validate_entry(SEGMENT_BYTES, "10").is_err());
        let described = TopicConfig::describe(&configs, &TopicDefaults::default());
        let retention = described.iter().find(|d| d.name == RETENTION_MS).unwrap();
        assert_eq!(
            (retention.value.as_str(), retention.is_default),
            ("1000", false)
        );
    }

    #[test]
    fn kafka_values_of_compression_timestamps_and_the_cleaner_are_typed() {
        let mut configs = BTreeMap::new();
        configs.insert(COMPRESSION_TYPE.to_string(), "zstd".to_string());
        configs.insert(
            MESSAGE_TIMESTAMP_TYPE.to_string(),
            "LogAppendTime".to_string(),
        );
        configs.insert(MIN_COMPACTION_LAG_MS.to_string(), "100".to_string());
        configs.insert(MAX_COMPACTION_LAG_MS.to_string(), "1000".to_string());
        configs.insert(MIN_CLEANABLE_DIRTY_RATIO.to_string(), "0.25".to_string());
        assert_eq!(TopicConfig::validate(&configs), Ok(()));
        let c = TopicConfig::resolve(&configs, &TopicDefaults::default());
        assert_eq!(c.compression_type, CompressionType::Zstd);
        assert_eq!(c.compression_type.batch_codec(), Some(4));
        assert_eq!(c.message_timestamp_type, TimestampType::LogAppendTime);
        assert_eq!(c.min_compaction_lag_ms, 100);
        assert_eq!(c.max_compaction_lag_ms, 1000);
        assert_eq!(c.min_cleanable_dirty_ratio.get(), 0.25);

        let defaults = TopicConfig::resolve(&BTreeMap::new(), &TopicDefaults::default());
        assert_eq!(defaults.compression_type, CompressionType::Producer);
        assert_eq!(defaults.compression_type.batch_codec(), None);
        assert_eq!(defaults.message_timestamp_type, TimestampType::CreateTime);
        assert_eq!(defaults.min_compaction_lag_ms, 0);
        assert_eq!(defaults.max_compaction_lag_ms, i64::MAX);
        assert_eq!(defaults.min_cleanable_dirty_ratio, DirtyRatio::DEFAULT);

        for codec in ["producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"] {
            assert_eq!(TopicConfig::validate_entry(COMPRESSION_TYPE, codec), Ok(()));
        }
        assert!(TopicConfig::validate_entry(COMPRESSION_TYPE, "brotli").is_err());
        assert!(TopicConfig::validate_entry(MESSAGE_TIMESTAMP_TYPE, "createtime").is_err());
        assert!(TopicConfig::validate_entry(MIN_CLEANABLE_DIRTY_RATIO, "1.5").is_err());
        assert!(TopicConfig::validate_entry(MIN_CLEANABLE_DIRTY_RATIO, "NaN").is_err());
        assert!(TopicConfig::validate_entry(MIN_COMPACTION_LAG_MS, "-1").is_err());
        assert!(TopicConfig::validate_entry(MAX_COMPACTION_LAG_MS, "0").is_err());
        // The minimum lag may not exceed the maximum.
        let mut lags = BTreeMap::new();
        lags.insert(MIN_COMPACTION_LAG_MS.to_string(), "10".to_string());
        lags.insert(MAX_COMPACTION_LAG_MS.to_string(), "5".to_string());
        assert!(TopicConfig::validate(&lags).is_err());
    }

    #[test]
    fn timestamp_bounds_fall_back_to_the_deprecated_difference() {
        let resolve = |pairs: &[(&str, &str)]| {
            let configs = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>();
            TopicConfig::validate(&configs).expect("valid");
            let c = TopicConfig::resolve(&configs, &TopicDefaults::default());
            (
                c.message_timestamp_before_max_ms,
                c.message_timestamp_after_max_ms,
            )
        };
        assert_eq!(resolve(&[]), (i64::MAX, i64::MAX));
        assert_eq!(
            resolve(&[(MESSAGE_TIMESTAMP_DIFFERENCE_MAX_MS, "60000")]),
            (60_000, 60_000)
        );
        assert_eq!(
            resolve(&[
                (MESSAGE_TIMESTAMP_DIFFERENCE_MAX_MS, "60000"),
                (MESSAGE_TIMESTAMP_AFTER_MAX_MS, "10"),
            ]),
            (60_000, 10)
        );
        assert!(TopicConfig::validate_entry(MESSAGE_TIMESTAMP_BEFORE_MAX_MS, "-1").is_err());
    }
}
