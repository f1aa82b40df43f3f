//! What AlterConfigs and IncrementalAlterConfigs share: resource checks
//! (Kafka's `ConfigAdminManager.preprocess`) and committing a topic's new
//! configs as metadata records, which the broker applies to its live
//! partitions when it reconciles.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::error::ResponseError;

use crate::core::broker_dynamic_config;
use crate::core::config_change::{self, ConfigChangeError};
use crate::core::controller::TopicError;
use crate::kafka::error_code::code;
use crate::server::broker::{Broker, CommitError};

/// Kafka's `ConfigResource.Type` ids.
pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;

/// One resource's answer: (error code, message).
pub type Outcome = (i16, Option<String>);

pub fn ok() -> Outcome {
    (0, None)
}

fn refused(error: ResponseError, message: impl Into<String>) -> Outcome {
    (code(error), Some(message.into()))
}

pub fn from_change_error(e: ConfigChangeError) -> Outcome {
    match e {
        ConfigChangeError::InvalidRequest(m) => refused(ResponseError::InvalidRequest, m),
        ConfigChangeError::InvalidConfig(m) => refused(ResponseError::InvalidConfig, m),
    }
}

/// Resources named twice in one request: each copy is refused.
pub fn duplicated(resources: &[(i8, String)]) -> BTreeSet<(i8, String)> {
    let mut seen = BTreeSet::new();
    let mut twice = BTreeSet::new();
    for r in resources {
        if !seen.insert(r.clone()) {
            twice.insert(r.clone());
        }
    }
    twice
}

pub fn duplicate_resource() -> Outcome {
    refused(
        ResponseError::InvalidRequest,
        "Each resource must appear at most once.",
    )
}

/// Broker resources: the name is empty (cluster-wide) or this node's id.
/// For this node's id, the per-broker SASL listener configs Kafka accepts
/// dynamically are type-checked and accepted without effect (see
/// `broker_dynamic_config`); every other change is refused as Kafka refuses
/// a static (read-only) one. `configs` pairs a key with its new value
/// (`None`: deleted).
pub fn broker_resource(
    broker: &Broker,
    name: &str,
    configs: &[(String, Option<String>)],
) -> Outcome {
    if !name.is_empty() {
        match name.parse::<i32>() {
            Err(_) => {
                return refused(
                    ResponseError::InvalidRequest,
                    format!("Node id must be an integer, but it is: {name}"),
                )
            }
            Ok(id) if id != broker.config.node_id => {
                return refused(
                    ResponseError::InvalidRequest,
                    format!(
                        "Unexpected broker id, expected {}, but received {name}",
                        broker.config.node_id
                    ),
                )
            }
            Ok(_) => {}
        }
    }
    let mut static_keys = Vec::new();
    for (key, value) in configs {
        match broker_dynamic_config::check(key, value.as_deref()) {
            Some(Ok(())) if !name.is_empty() => {}
            Some(Err(reason)) => {
                return refused(
                    ResponseError::InvalidConfig,
                    format!("Invalid value {value:?} for configuration {key}: {reason}"),
                )
            }
            _ => static_keys.push(key.as_str()),
        }
    }
    if static_keys.is_empty() {
        return ok();
    }
    refused(
        ResponseError::InvalidRequest,
        format!(
            "Cannot update these configs dynamically: {}",
            static_keys.join(", ")
        ),
    )
}

/// Computes a topic's new explicit configs with `change` and, unless
/// `validate_only`, commits them (atomically with other metadata changes).
pub async fn alter_topic(
    broker: &Broker,
    name: &str,
    validate_only: bool,
    change: impl FnOnce(
        &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, ConfigChangeError>,
) -> Outcome {
    let mut refusal = None;
    let committed = broker
        .commit_checked(|image| {
            let Some(topic) = image.topics.get(name) else {
                return Err(TopicError::Unknown(name.to_string()));
            };
            match change(&topic.configs) {
                Ok(next) if !validate_only => Ok(config_change::records(
                    topic.topic_id,
                    &topic.configs,
                    &next,
                )),
                Ok(_) => Ok(Vec::new()),
                Err(e) => {
                    refusal = Some(e);
                    Ok(Vec::new())
                }
            }
        })
        .await;
    if let Some(e) = refusal {
        return from_change_error(e);
    }
    match committed {
        Ok(()) => ok(),
        Err(CommitError::Topic(TopicError::Unknown(_))) => refused(
            ResponseError::UnknownTopicOrPartition,
            format!("The topic '{name}' does not exist."),
        ),
        Err(e @ (CommitError::NotController { .. } | CommitError::Unconfirmed(_))) => {
            let code = crate::kafka::error_code::for_commit_error(&e);
            refused(
                ResponseError::try_from_code(code).unwrap_or(ResponseError::UnknownServerError),
                e.to_string(),
            )
        }
        Err(e) => {
            tracing::error!(topic = name, %e, "cannot commit a config change");
            refused(ResponseError::UnknownServerError, e.to_string())
        }
    }
}
