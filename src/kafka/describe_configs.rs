//! DescribeConfigs for topics (resource type 2) and this broker (type 4).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};

use crate::core::topic_config::TopicConfig;
use crate::kafka::error_code::code;
use crate::kafka::str_bytes;
use crate::server::broker::Broker;

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
/// Kafka's config sources.
const SOURCE_TOPIC: i8 = 1;
const SOURCE_STATIC_BROKER: i8 = 4;
const SOURCE_DEFAULT: i8 = 5;

pub fn handle(broker: &Broker, request: DescribeConfigsRequest) -> DescribeConfigsResponse {
    let image = broker.image();
    let results = request
        .resources
        .into_iter()
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
            let entry = |name: &str, value: String, source: i8| {
                DescribeConfigsResourceResult::default()
                    .with_name(str_bytes(name))
                    .with_value(Some(str_bytes(&value)))
                    .with_config_source(source)
            };
            match resource.resource_type {
                RESOURCE_TOPIC => match image.topics.get(resource.resource_name.as_str()) {
                    Some(topic) => {
                        let configs = TopicConfig::describe(&topic.configs, &broker.defaults)
                            .into_iter()
                            .filter(|d| wanted(d.name))
                            .map(|d| {
                                let source = if d.is_default {
                                    SOURCE_DEFAULT
                                } else {
                                    SOURCE_TOPIC
                                };
                                entry(d.name, d.value, source)
                            })
                            .collect();
                        result.with_configs(configs)
                    }
                    None => result
                        .with_error_code(code(ResponseError::UnknownTopicOrPartition))
                        .with_error_message(Some(str_bytes("unknown topic"))),
                },
                RESOURCE_BROKER
                    if resource.resource_name.as_str() == broker.config.node_id.to_string()
                        || resource.resource_name.is_empty() =>
                {
                    let c = &broker.config;
                    let rows = [
                        ("node.id", c.node_id.to_string()),
                        ("num.partitions", c.default_partitions.to_string()),
                        (
                            "auto.create.topics.enable",
                            c.auto_create_topics.to_string(),
                        ),
                        ("log.retention.ms", c.default_retention_ms.to_string()),
                        ("log.retention.bytes", c.default_retention_bytes.to_string()),
                        ("log.segment.bytes", c.default_segment_bytes.to_string()),
                        (
                            "log.retention.check.interval.ms",
                            c.retention_check_interval_ms.to_string(),
                        ),
                        (
                            "socket.request.max.bytes",
                            c.max_request_size_bytes.to_string(),
                        ),
                        ("fsync.policy", c.default_fsync_policy.as_str().to_string()),
                    ];
                    let configs = rows
                        .into_iter()
                        .filter(|(n, _)| wanted(n))
                        .map(|(n, v)| entry(n, v, SOURCE_STATIC_BROKER))
                        .collect();
                    result.with_configs(configs)
                }
                _ => result
                    .with_error_code(code(ResponseError::InvalidRequest))
                    .with_error_message(Some(str_bytes("unsupported resource"))),
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}
