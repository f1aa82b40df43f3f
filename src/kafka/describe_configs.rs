//! DescribeConfigs v1–4 for topics (resource type 2) and this broker (4),
//! as Kafka's `ConfigHelper` answers:
//!
//! - a topic config's source is DYNAMIC_TOPIC_CONFIG when the topic sets
//!   it, else STATIC_BROKER_CONFIG when the broker's default differs from
//!   Kafka's (set on the command line), else DEFAULT_CONFIG;
//! - with `include_synonyms`, each entry lists where its value could come
//!   from, most specific first: the topic's own value, then the broker
//!   config it falls back to (e.g. `retention.ms` → `log.retention.ms`);
//! - v3+: the config's type, and with `include_documentation` a line of
//!   documentation (null otherwise);
//! - topic configs are not read-only (AlterConfigs changes them); broker
//!   configs are all read-only: odradek has no dynamic broker configs yet.
//! - A broker resource named "" asks for the cluster-wide dynamic defaults
//!   (none); one named with another node's id is INVALID_REQUEST.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};

use crate::core::config_catalog::{self, ConfigSource, ConfigType};
use crate::core::group::config::GroupConfig;
use crate::core::topic_config::TopicConfig;
use crate::kafka::error_code::code;
use crate::kafka::str_bytes;
use crate::server::broker::Broker;

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;

/// One described config before it is put on the wire.
struct Row {
    name: String,
    value: String,
    source: ConfigSource,
    read_only: bool,
    config_type: ConfigType,
    documentation: &'static str,
    /// (name, value, source), most specific first.
    synonyms: Vec<(String, String, ConfigSource)>,
}

pub fn handle(broker: &Broker, request: DescribeConfigsRequest) -> DescribeConfigsResponse {
    let results = request
        .resources
        .iter()
        .map(|resource| {
            let result = DescribeConfigsResult::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            let wanted = |name: &str| {
                resource
                    .configuration_keys
                    .as_ref()
                    .is_none_or(|keys| keys.is_empty() || keys.iter().any(|k| k.as_str() == name))
            };
            let rows = match resource.resource_type {
                RESOURCE_TOPIC => topic_rows(broker, resource.resource_name.as_str()),
                RESOURCE_BROKER => broker_rows(broker, resource.resource_name.as_str()),
                other => Err((
                    ResponseError::InvalidRequest,
                    format!("Unsupported resource type {other}"),
                )),
            };
            match rows {
                Ok(rows) => result.with_error_message(None).with_configs(
                    rows.into_iter()
                        .filter(|r| wanted(&r.name))
                        .map(|r| entry(r, &request))
                        .collect(),
                ),
                Err((error, message)) => result
                    .with_error_code(code(error))
                    .with_error_message(Some(str_bytes(&message))),
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

fn entry(row: Row, request: &DescribeConfigsRequest) -> DescribeConfigsResourceResult {
    let synonyms = if request.include_synonyms {
        row.synonyms
            .iter()
            .map(|(name, value, source)| {
                DescribeConfigsSynonym::default()
                    .with_name(str_bytes(name))
                    .with_value(Some(str_bytes(value)))
                    .with_source(*source as i8)
            })
            .collect()
    } else {
        Vec::new()
    };
    DescribeConfigsResourceResult::default()
        .with_name(str_bytes(&row.name))
        .with_value(Some(str_bytes(&row.value)))
        .with_read_only(row.read_only)
        .with_config_source(row.source as i8)
        .with_is_sensitive(false)
        .with_synonyms(synonyms)
        .with_config_type(row.config_type as i8)
        .with_documentation(
            request
                .include_documentation
                .then(|| str_bytes(row.documentation)),
        )
}

type Refusal = (ResponseError, String);

fn topic_rows(broker: &Broker, name: &str) -> Result<Vec<Row>, Refusal> {
    let image = broker.image();
    let Some(topic) = image.topics.get(name) else {
        return Err((
            ResponseError::UnknownTopicOrPartition,
            "unknown topic".to_string(),
        ));
    };
    let broker_values = TopicConfig::describe(&Default::default(), &broker.defaults);
    let rows = TopicConfig::describe(&topic.configs, &broker.defaults)
        .into_iter()
        .map(|d| {
            let info = config_catalog::topic_config_info(d.name);
            let broker_value = broker_values
                .iter()
                .find(|b| b.name == d.name)
                .map(|b| b.value.clone())
                .unwrap_or_default();
            let broker_source =
                if config_catalog::builtin_default(d.name).as_deref() == Some(&broker_value) {
                    ConfigSource::Default
                } else {
                    ConfigSource::StaticBroker
                };
            let mut synonyms = Vec::new();
            if !d.is_default {
                synonyms.push((
                    d.name.to_string(),
                    d.value.clone(),
                    ConfigSource::DynamicTopic,
                ));
            }
            if let Some(synonym) = info.and_then(|i| i.broker_synonym) {
                synonyms.push((synonym.to_string(), broker_value, broker_source));
            }
            Row {
                name: d.name.to_string(),
                value: d.value,
                source: if d.is_default {
                    broker_source
                } else {
                    ConfigSource::DynamicTopic
                },
                read_only: false,
                config_type: info.map_or(ConfigType::String, |i| i.config_type),
                documentation: info.map_or("", |i| i.documentation),
                synonyms,
            }
        })
        .collect();
    Ok(rows)
}

fn broker_rows(broker: &Broker, name: &str) -> Result<Vec<Row>, Refusal> {
    let node_id = broker.config.node_id;
    if name.is_empty() {
        // Cluster-wide dynamic defaults: odradek has none.
        return Ok(Vec::new());
    }
    if name.parse::<i32>().ok() != Some(node_id) {
        return Err((
            ResponseError::InvalidRequest,
            format!(
                "Unexpected broker id, expected {node_id} or empty string, but received {name}"
            ),
        ));
    }
    let c = &broker.config;
    let group = GroupConfig::default();
    let topic_value = |topic_name: &str| {
        TopicConfig::describe(&Default::default(), &broker.defaults)
            .into_iter()
            .find(|d| d.name == topic_name)
            .map(|d| d.value)
            .unwrap_or_default()
    };
    use ConfigType::{Boolean, Double, Int, List, Long};
    // (name, value, Kafka's default, type, documentation)
    let table: Vec<(&str, String, Option<&str>, ConfigType, &'static str)> = vec![
        (
            "node.id",
            c.node_id.to_string(),
            None,
            Int,
            "This node's id.",
        ),
        (
            "broker.id",
            c.node_id.to_string(),
            None,
            Int,
            "This node's id (the same as node.id).",
        ),
        (
            "num.partitions",
            c.default_partitions.to_string(),
            Some("1"),
            Int,
            "Partitions of an auto-created topic.",
        ),
        (
            "default.replication.factor",
            "1".into(),
            Some("1"),
            Int,
            "Replication factor of an auto-created topic.",
        ),
        (
            "auto.create.topics.enable",
            c.auto_create_topics.to_string(),
            Some("true"),
            Boolean,
            "Whether producing to or fetching metadata of an unknown topic creates it.",
        ),
        (
            "min.insync.replicas",
            topic_value("min.insync.replicas"),
            Some("1"),
            Int,
            "In-sync replicas an acks=all produce needs.",
        ),
        (
            "message.max.bytes",
            topic_value("max.message.bytes"),
            Some("1048588"),
            Int,
            "The largest record batch size allowed.",
        ),
        (
            "log.cleanup.policy",
            topic_value("cleanup.policy"),
            Some("delete"),
            List,
            "The default cleanup policy of topics.",
        ),
        (
            "compression.type",
            topic_value("compression.type"),
            Some("producer"),
            ConfigType::String,
            "The default codec batches are stored in.",
        ),
        (
            "log.message.timestamp.type",
            topic_value("message.timestamp.type"),
            Some("CreateTime"),
            ConfigType::String,
            "The default timestamp type of topics.",
        ),
        (
            "log.retention.ms",
            c.default_retention_ms.to_string(),
            Some("604800000"),
            Long,
            "How long records are kept by default.",
        ),
        (
            "log.retention.bytes",
            c.default_retention_bytes.to_string(),
            Some("-1"),
            Long,
            "The size a partition keeps by default.",
        ),
        (
            "log.segment.bytes",
            c.default_segment_bytes.to_string(),
            Some("1073741824"),
            Int,
            "The size of one segment file.",
        ),
        (
            "log.roll.ms",
            topic_value("segment.ms"),
            Some("604800000"),
            Long,
            "The time after which a segment is rolled.",
        ),
        (
            "log.index.interval.bytes",
            topic_value("index.interval.bytes"),
            Some("4096"),
            Int,
            "Bytes between two offset index entries.",
        ),
        (
            "log.cleaner.delete.retention.ms",
            topic_value("delete.retention.ms"),
            Some("86400000"),
            Long,
            "How long tombstones are kept after the first cleaning.",
        ),
        (
            "log.cleaner.min.compaction.lag.ms",
            topic_value("min.compaction.lag.ms"),
            Some("0"),
            Long,
            "A record stays uncompacted at least this long.",
        ),
        (
            "log.cleaner.max.compaction.lag.ms",
            topic_value("max.compaction.lag.ms"),
            Some("9223372036854775807"),
            Long,
            "A record stays uncompacted at most this long.",
        ),
        (
            "log.cleaner.min.cleanable.ratio",
            topic_value("min.cleanable.dirty.ratio"),
            Some("0.5"),
            Double,
            "The share of dirty bytes above which a log is compacted.",
        ),
        (
            "unclean.leader.election.enable",
            "false".into(),
            Some("false"),
            Boolean,
            "Whether a replica outside the ISR may become leader.",
        ),
        (
            "log.retention.check.interval.ms",
            c.retention_check_interval_ms.to_string(),
            Some("300000"),
            Long,
            "How often retention runs.",
        ),
        (
            "socket.request.max.bytes",
            c.max_request_size_bytes.to_string(),
            Some("104857600"),
            Int,
            "The largest request accepted.",
        ),
        (
            "offsets.topic.replication.factor",
            "1".into(),
            Some("3"),
            Int,
            "Replication factor of __consumer_offsets.",
        ),
        (
            "offset.metadata.max.bytes",
            group.offset_metadata_max_bytes.to_string(),
            Some("4096"),
            Int,
            "The longest metadata of a committed offset.",
        ),
        (
            "group.min.session.timeout.ms",
            group.session_timeout_min_ms.to_string(),
            Some("6000"),
            Int,
            "The shortest session timeout a member may ask for.",
        ),
        (
            "group.max.session.timeout.ms",
            group.session_timeout_max_ms.to_string(),
            Some("1800000"),
            Int,
            "The longest session timeout a member may ask for.",
        ),
        (
            "group.initial.rebalance.delay.ms",
            group.initial_rebalance_delay_ms.to_string(),
            Some("3000"),
            Int,
            "How long the first rebalance of an empty group waits.",
        ),
        (
            "fsync.policy",
            c.default_fsync_policy.as_str().to_string(),
            None,
            ConfigType::String,
            "odradek: the default fsync policy of topics.",
        ),
    ];
    Ok(table
        .into_iter()
        .map(|(name, value, default, config_type, documentation)| {
            let source = if default == Some(value.as_str()) {
                ConfigSource::Default
            } else {
                ConfigSource::StaticBroker
            };
            Row {
                name: name.to_string(),
                synonyms: vec![(name.to_string(), value.clone(), source)],
                value,
                source,
                read_only: true,
                config_type,
                documentation,
            }
        })
        .collect())
}
