//! Changing a topic's configs (AlterConfigs, IncrementalAlterConfigs) as
//! pure functions over its explicit configs: Kafka's
//! `ConfigurationControlManager` rules.
//!
//! - IncrementalAlterConfigs applies SET, DELETE, APPEND and SUBTRACT in
//!   order; APPEND and SUBTRACT only on list configs (`cleanup.policy`) and
//!   start from the current value, or the default when none is set.
//! - AlterConfigs (legacy) replaces the whole set: every explicit config not
//!   named is reset to its default.
//! - A name appearing twice in one resource is INVALID_REQUEST; a null value
//!   for anything but DELETE as well; an unknown name or a bad value is
//!   INVALID_CONFIG. The result is validated as a whole (e.g. the minimum
//!   compaction lag may not exceed the maximum).
//! - The change becomes `SetTopicConfig` records, one per changed key.

use std::collections::{BTreeMap, BTreeSet};

use crate::core::metadata::record::{MetadataRecord, TopicId};
use crate::core::topic_config::{TopicConfig, CLEANUP_POLICY};

/// IncrementalAlterConfigs' operations (Kafka's `AlterConfigOp.OpType` ids).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigOp {
    Set(String),
    Delete,
    Append(String),
    Subtract(String),
}

impl ConfigOp {
    /// The op for wire id `id` with `value`; `Err` carries the error to answer.
    pub fn from_wire(id: i8, value: Option<&str>) -> Result<ConfigOp, ConfigChangeError> {
        let value = |name: &str| {
            value.map(str::to_string).ok_or_else(|| {
                ConfigChangeError::InvalidRequest(format!("Null value not supported for : {name}"))
            })
        };
        match id {
            0 => value("SET").map(ConfigOp::Set),
            1 => Ok(ConfigOp::Delete),
            2 => value("APPEND").map(ConfigOp::Append),
            3 => value("SUBTRACT").map(ConfigOp::Subtract),
            other => Err(ConfigChangeError::InvalidRequest(format!(
                "Unknown operations type {other}"
            ))),
        }
    }
}

/// Why a config change is refused, by Kafka error class.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigChangeError {
    /// INVALID_REQUEST: the request itself is malformed.
    #[error("{0}")]
    InvalidRequest(String),
    /// INVALID_CONFIG: an unknown name or a value that does not validate.
    #[error("{0}")]
    InvalidConfig(String),
}

/// Configs whose value is a comma-separated list (APPEND/SUBTRACT work).
fn is_list(key: &str) -> bool {
    key == CLEANUP_POLICY
}

/// The default of a list config, as APPEND/SUBTRACT start from it.
fn list_default(key: &str) -> &'static str {
    match key {
        CLEANUP_POLICY => "delete",
        _ => "",
    }
}

fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn check_duplicates<'a>(names: impl Iterator<Item = &'a str>) -> Result<(), ConfigChangeError> {
    let mut seen = BTreeSet::new();
    for name in names {
        if !seen.insert(name) {
            return Err(ConfigChangeError::InvalidRequest(
                "Error due to duplicate config keys".to_string(),
            ));
        }
    }
    Ok(())
}

fn check_known(key: &str) -> Result<(), ConfigChangeError> {
    if TopicConfig::is_known(key) {
        Ok(())
    } else {
        Err(ConfigChangeError::InvalidConfig(format!(
            "Unknown topic config name: {key}"
        )))
    }
}

fn validate(configs: &BTreeMap<String, String>) -> Result<(), ConfigChangeError> {
    TopicConfig::validate(configs).map_err(|e| ConfigChangeError::InvalidConfig(e.to_string()))
}

/// IncrementalAlterConfigs: `current` with `ops` applied, validated.
pub fn incremental(
    current: &BTreeMap<String, String>,
    ops: &[(String, ConfigOp)],
) -> Result<BTreeMap<String, String>, ConfigChangeError> {
    check_duplicates(ops.iter().map(|(k, _)| k.as_str()))?;
    let mut next = current.clone();
    for (key, op) in ops {
        check_known(key)?;
        match op {
            ConfigOp::Set(value) => {
                next.insert(key.clone(), value.clone());
            }
            ConfigOp::Delete => {
                next.remove(key);
            }
            ConfigOp::Append(value) | ConfigOp::Subtract(value) => {
                if !is_list(key) {
                    let verb = if matches!(op, ConfigOp::Append(_)) {
                        "append"
                    } else {
                        "subtract"
                    };
                    return Err(ConfigChangeError::InvalidConfig(format!(
                        "Config value {verb} is not allowed for config key: {key}"
                    )));
                }
                let mut parts = split_list(next.get(key).map_or(list_default(key), String::as_str));
                for item in split_list(value) {
                    if matches!(op, ConfigOp::Append(_)) {
                        if !parts.contains(&item) {
                            parts.push(item);
                        }
                    } else {
                        parts.retain(|p| *p != item);
                    }
                }
                next.insert(key.clone(), parts.join(","));
            }
        }
    }
    validate(&next)?;
    Ok(next)
}

/// AlterConfigs (legacy): the explicit configs become exactly `configs`.
pub fn replace(
    configs: &[(String, Option<String>)],
) -> Result<BTreeMap<String, String>, ConfigChangeError> {
    check_duplicates(configs.iter().map(|(k, _)| k.as_str()))?;
    let nulls: Vec<&str> = configs
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(k, _)| k.as_str())
        .collect();
    if !nulls.is_empty() {
        return Err(ConfigChangeError::InvalidRequest(format!(
            "Null value not supported for : {}",
            nulls.join(", ")
        )));
    }
    let mut next = BTreeMap::new();
    for (key, value) in configs {
        check_known(key)?;
        next.insert(key.clone(), value.clone().unwrap_or_default());
    }
    validate(&next)?;
    Ok(next)
}

/// One `SetTopicConfig` per key whose explicit value changes.
pub fn records(
    topic_id: TopicId,
    current: &BTreeMap<String, String>,
    next: &BTreeMap<String, String>,
) -> Vec<MetadataRecord> {
    let keys: BTreeSet<&String> = current.keys().chain(next.keys()).collect();
    keys.into_iter()
        .filter(|k| current.get(*k) != next.get(*k))
        .map(|k| MetadataRecord::SetTopicConfig {
            topic_id,
            key: k.clone(),
            value: next.get(k).cloned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::topic_config::{MAX_COMPACTION_LAG_MS, MIN_COMPACTION_LAG_MS, RETENTION_MS};

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn set_and_delete_change_only_the_named_keys() {
        let current = map(&[(RETENTION_MS, "1000"), ("segment.bytes", "2048")]);
        let next = incremental(
            &current,
            &[
                (RETENTION_MS.into(), ConfigOp::Set("5".into())),
                ("segment.bytes".into(), ConfigOp::Delete),
            ],
        )
        .unwrap();
        assert_eq!(next, map(&[(RETENTION_MS, "5")]));
        let id = [1; 16];
        assert_eq!(
            records(id, &current, &next),
            vec![
                MetadataRecord::SetTopicConfig {
                    topic_id: id,
                    key: RETENTION_MS.into(),
                    value: Some("5".into())
                },
                MetadataRecord::SetTopicConfig {
                    topic_id: id,
                    key: "segment.bytes".into(),
                    value: None
                },
            ]
        );
    }

    #[test]
    fn append_and_subtract_work_on_lists_from_the_default() {
        let next = incremental(
            &BTreeMap::new(),
            &[(CLEANUP_POLICY.into(), ConfigOp::Append("compact".into()))],
        )
        .unwrap();
        assert_eq!(next, map(&[(CLEANUP_POLICY, "delete,compact")]));
        let next = incremental(
            &next,
            &[(CLEANUP_POLICY.into(), ConfigOp::Subtract("delete".into()))],
        )
        .unwrap();
        assert_eq!(next, map(&[(CLEANUP_POLICY, "compact")]));
        assert!(matches!(
            incremental(
                &BTreeMap::new(),
                &[(RETENTION_MS.into(), ConfigOp::Append("1".into()))]
            ),
            Err(ConfigChangeError::InvalidConfig(_))
        ));
    }

    #[test]
    fn unknown_names_bad_values_and_duplicates_are_refused() {
        let unknown = incremental(
            &BTreeMap::new(),
            &[("no.such.config".into(), ConfigOp::Set("1".into()))],
        );
        assert!(matches!(unknown, Err(ConfigChangeError::InvalidConfig(_))));
        let bad = incremental(
            &BTreeMap::new(),
            &[(RETENTION_MS.into(), ConfigOp::Set("soon".into()))],
        );
        assert!(matches!(bad, Err(ConfigChangeError::InvalidConfig(_))));
        let twice = incremental(
            &BTreeMap::new(),
            &[
                (RETENTION_MS.into(), ConfigOp::Set("1".into())),
                (RETENTION_MS.into(), ConfigOp::Delete),
            ],
        );
        assert!(matches!(twice, Err(ConfigChangeError::InvalidRequest(_))));
        let lags = incremental(
            &BTreeMap::new(),
            &[
                (MIN_COMPACTION_LAG_MS.into(), ConfigOp::Set("10".into())),
                (MAX_COMPACTION_LAG_MS.into(), ConfigOp::Set("5".into())),
            ],
        );
        assert!(matches!(lags, Err(ConfigChangeError::InvalidConfig(_))));
        assert!(matches!(
            ConfigOp::from_wire(0, None),
            Err(ConfigChangeError::InvalidRequest(_))
        ));
        assert!(matches!(
            ConfigOp::from_wire(9, Some("x")),
            Err(ConfigChangeError::InvalidRequest(_))
        ));
    }

    #[test]
    fn replace_resets_what_it_does_not_name() {
        let next = replace(&[(RETENTION_MS.into(), Some("7".into()))]).unwrap();
        assert_eq!(next, map(&[(RETENTION_MS, "7")]));
        assert!(matches!(
            replace(&[(RETENTION_MS.into(), None)]),
            Err(ConfigChangeError::InvalidRequest(_))
        ));
    }
}
