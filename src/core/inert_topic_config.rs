//! Topic configs Kafka accepts that odradek stores and describes but does
//! not act on. Clients and tools set them (librdkafka's tests set flush.ms;
//! migration tools copy every config of a Kafka topic), so refusing them
//! would break those clients; each has no effect here for the reason noted:
//! - flush.messages / flush.ms: durability is fsync.policy's job.
//! - file.delete.delay.ms, preallocate, segment.index.bytes, segment.jitter.ms:
//!   odradek's segment files are laid out and deleted its own way.
//! - message.downconversion.enable, message.format.version: odradek serves
//!   only record batch v2 (Kafka 3.x ignores the format version too).
//! - *.replication.throttled.replicas: one node, no replication traffic.
//! - local.retention.*, remote.storage.enable: no tiered storage.
//!
//! Types, defaults, ranges and broker synonyms are Kafka 3.7's `LogConfig`.

use crate::core::config_catalog::{ConfigType, TopicConfigInfo};

/// How a value is checked, as Kafka's `ConfigDef` validators check it.
#[derive(Debug, Clone, Copy)]
enum Check {
    LongAtLeast(i64),
    IntAtLeast(i64),
    Boolean,
    /// Kafka's ThrottledReplicaListValidator: `*` or `partition:broker,...`.
    ThrottledReplicas,
    /// A Kafka metadata version such as `2.8`, `3.0-IV1`, `0.10.2` or
    /// `0.10.0.0` (Kafka ignores segments past the third of a `0.` version).
    Version,
}

pub struct InertConfig {
    pub info: TopicConfigInfo,
    pub default: &'static str,
    check: Check,
}

const LONG_MAX: &str = "9223372036854775807";

const fn inert(
    name: &'static str,
    config_type: ConfigType,
    broker_synonym: Option<&'static str>,
    default: &'static str,
    check: Check,
    documentation: &'static str,
) -> InertConfig {
    InertConfig {
        info: TopicConfigInfo {
            name,
            config_type,
            broker_synonym,
            documentation,
        },
        default,
        check,
    }
}

pub const INERT_CONFIGS: [InertConfig; 13] = [
    inert(
        "file.delete.delay.ms",
        ConfigType::Long,
        Some("log.segment.delete.delay.ms"),
        "60000",
        Check::LongAtLeast(0),
        "Accepted without effect in odradek: segments are deleted at once.",
    ),
    inert(
        "flush.messages",
        ConfigType::Long,
        Some("log.flush.interval.messages"),
        LONG_MAX,
        Check::LongAtLeast(1),
        "Accepted without effect in odradek: see fsync.policy.",
    ),
    inert(
        "flush.ms",
        ConfigType::Long,
        Some("log.flush.interval.ms"),
        LONG_MAX,
        Check::LongAtLeast(0),
        "Accepted without effect in odradek: see fsync.policy.",
    ),
    inert(
        "follower.replication.throttled.replicas",
        ConfigType::List,
        None,
        "",
        Check::ThrottledReplicas,
        "Accepted without effect in odradek: no replication throttling.",
    ),
    inert(
        "leader.replication.throttled.replicas",
        ConfigType::List,
        None,
        "",
        Check::ThrottledReplicas,
        "Accepted without effect in odradek: no replication throttling.",
    ),
    inert(
        "local.retention.bytes",
        ConfigType::Long,
        Some("log.local.retention.bytes"),
        "-2",
        Check::LongAtLeast(-2),
        "Accepted without effect in odradek: no tiered storage.",
    ),
    inert(
        "local.retention.ms",
        ConfigType::Long,
        Some("log.local.retention.ms"),
        "-2",
        Check::LongAtLeast(-2),
        "Accepted without effect in odradek: no tiered storage.",
    ),
    inert(
        "message.downconversion.enable",
        ConfigType::Boolean,
        Some("log.message.downconversion.enable"),
        "true",
        Check::Boolean,
        "Accepted without effect in odradek: only record batch v2 is served.",
    ),
    inert(
        "message.format.version",
        ConfigType::String,
        Some("log.message.format.version"),
        "3.0-IV1",
        Check::Version,
        "Deprecated; ignored as Kafka 3.x ignores it.",
    ),
    inert(
        "preallocate",
        ConfigType::Boolean,
        Some("log.preallocate"),
        "false",
        Check::Boolean,
        "Accepted without effect in odradek: segment files are not preallocated.",
    ),
    inert(
        "remote.storage.enable",
        ConfigType::Boolean,
        None,
        "false",
        Check::Boolean,
        "Accepted without effect in odradek: no tiered storage.",
    ),
    inert(
        "segment.index.bytes",
        ConfigType::Int,
        Some("log.index.size.max.bytes"),
        "10485760",
        Check::IntAtLeast(4),
        "Accepted without effect in odradek: indexes are sized their own way.",
    ),
    inert(
        "segment.jitter.ms",
        ConfigType::Long,
        Some("log.roll.jitter.ms"),
        "0",
        Check::LongAtLeast(0),
        "Accepted without effect in odradek: segments roll without jitter.",
    ),
];

pub fn find(name: &str) -> Option<&'static InertConfig> {
    INERT_CONFIGS.iter().find(|c| c.info.name == name)
}

/// `None` for a name not in the table; otherwise why the value is refused.
pub fn check(name: &str, value: &str) -> Option<Result<(), &'static str>> {
    let config = find(name)?;
    let v = value.trim();
    Some(match config.check {
        Check::LongAtLeast(min) => match v.parse::<i64>() {
            Ok(n) if n >= min => Ok(()),
            Ok(_) => Err("below the minimum"),
            Err(_) => Err("not an integer"),
        },
        Check::IntAtLeast(min) => match v.parse::<i32>() {
            Ok(n) if i64::from(n) >= min => Ok(()),
            Ok(_) => Err("below the minimum"),
            Err(_) => Err("not an int"),
        },
        Check::Boolean => {
            if v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false") {
                Ok(())
            } else {
                Err("expected true or false")
            }
        }
        Check::ThrottledReplicas => {
            let entries: Vec<&str> = v.split(',').map(str::trim).collect();
            let pair = |e: &str| {
                e.is_empty()
                    || e.split_once(':').is_some_and(|(p, b)| {
                        !p.is_empty()
                            && !b.is_empty()
                            && p.bytes().all(|c| c.is_ascii_digit())
                            && b.bytes().all(|c| c.is_ascii_digit())
                    })
            };
            if v == "*" || entries.iter().all(|e| pair(e)) {
                Ok(())
            } else {
                Err("expected * or a list of partition:broker")
            }
        }
        Check::Version => {
            let (numbers, iv) = match v.split_once("-IV") {
                Some((n, iv)) => (n, Some(iv)),
                None => (v, None),
            };
            let parts: Vec<&str> = numbers.split('.').collect();
            let numeric = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
            if (2..=4).contains(&parts.len())
                && parts.iter().all(|p| numeric(p))
                && iv.is_none_or(numeric)
            {
                Ok(())
            } else {
                Err("not a Kafka version")
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_as_kafka_checks_them() {
        assert_eq!(check("flush.ms", "12345"), Some(Ok(())));
        assert!(check("flush.ms", "-1").unwrap().is_err());
        assert!(check("flush.messages", "0").unwrap().is_err());
        assert!(check("preallocate", "yes").unwrap().is_err());
        assert_eq!(check("preallocate", "TRUE"), Some(Ok(())));
        assert!(check("segment.index.bytes", "3").unwrap().is_err());
        assert!(check("segment.index.bytes", "4294967296").unwrap().is_err());
        assert_eq!(check("local.retention.ms", "-2"), Some(Ok(())));
        assert_eq!(check("message.format.version", "3.0-IV1"), Some(Ok(())));
        assert_eq!(check("message.format.version", "0.10.2"), Some(Ok(())));
        assert_eq!(check("message.format.version", "0.10.0.0"), Some(Ok(())));
        assert!(check("message.format.version", "banana").unwrap().is_err());
        assert_eq!(
            check("leader.replication.throttled.replicas", "0:1, 1:1"),
            Some(Ok(()))
        );
        assert_eq!(
            check("leader.replication.throttled.replicas", "*"),
            Some(Ok(()))
        );
        assert!(check("leader.replication.throttled.replicas", "0-1")
            .unwrap()
            .is_err());
        assert_eq!(check("no.such.config", "1"), None);
    }

    #[test]
    fn sorted_by_name() {
        let names: Vec<&str> = INERT_CONFIGS.iter().map(|c| c.info.name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
    }
}
