//! CreateTopics: each topic is validated and committed to the metadata log
//! on its own; one bad topic does not fail the others.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};

use crate::core::controller::{self, CreateTopic};
use crate::core::topic_config::TopicConfig;
use crate::core::topic_name::CLUSTER_METADATA_TOPIC;
use crate::kafka::error_code::{self, code};
use crate::kafka::{replica_assignment, str_bytes};
use crate::server::broker::Broker;

/// Kafka's `config_source` for a topic-level setting and a default.
const SOURCE_TOPIC: i8 = 1;
const SOURCE_DEFAULT: i8 = 5;

pub async fn handle(
    broker: &Broker,
    request: CreateTopicsRequest,
    version: i16,
) -> CreateTopicsResponse {
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let name = topic.name.0.to_string();
        let mut result = CreatableTopicResult::default().with_name(topic.name.clone());
        let mut configs = BTreeMap::new();
        let mut null_config = false;
        for c in &topic.configs {
            match &c.value {
                Some(v) => {
                    configs.insert(c.name.to_string(), v.to_string());
                }
                None => null_config = true,
            }
        }
        // A manual assignment stands for the partition count and replication
        // factor (both sent as -1); see replica_assignment for why that is all.
        let sizes = if topic.assignments.is_empty() {
            Ok((topic.num_partitions, topic.replication_factor))
        } else {
            let assignments: Vec<(i32, Vec<i32>)> = topic
                .assignments
                .iter()
                .map(|a| {
                    (
                        a.partition_index,
                        a.broker_ids.iter().map(|b| b.0).collect(),
                    )
                })
                .collect();
            replica_assignment::for_new_topic(
                &broker.image(),
                &assignments,
                topic.num_partitions,
                topic.replication_factor,
            )
        };
        let outcome = if null_config {
            Err((
                code(ResponseError::InvalidConfig),
                "null config values are not allowed".to_string(),
            ))
        } else if let Err(refusal) = &sizes {
            Err(refusal.clone())
        } else if name == CLUSTER_METADATA_TOPIC {
            // Kafka's KafkaApis refuses this one name before the controller
            // sees it; the controller refuses the other internal names.
            Err((
                code(ResponseError::InvalidRequest),
                format!("Creation of internal topic {CLUSTER_METADATA_TOPIC} is prohibited."),
            ))
        } else {
            let (num_partitions, replication_factor) =
                sizes.unwrap_or((topic.num_partitions, topic.replication_factor));
            let create = CreateTopic {
                name: &name,
                num_partitions,
                replication_factor,
                configs: configs.clone(),
            };
            if request.validate_only {
                let image = broker.image();
                controller::create_topic(
                    &image,
                    &create,
                    broker.config.default_partitions,
                    &broker.config.cluster_id,
                )
                .map(|_| ())
                .map_err(|e| (error_code::for_topic_error(&e), e.to_string()))
            } else {
                broker
                    .create_topic(create)
                    .await
                    .map_err(|e| (error_code::for_commit_error(&e), e.to_string()))
            }
        };
        result = match outcome {
            Ok(()) => {
                let image = broker.image();
                let created = image.topics.get(&name);
                let partitions = created
                    .map(|t| t.partitions.len() as i32)
                    .unwrap_or(topic.num_partitions);
                let replication = created
                    .and_then(|t| t.partitions.values().next())
                    .map(|p| p.replicas.len() as i16)
                    .unwrap_or(topic.replication_factor);
                let mut result = result
                    .with_num_partitions(partitions)
                    .with_replication_factor(replication);
                if let Some(t) = created.filter(|_| version >= 7) {
                    result = result.with_topic_id(uuid::Uuid::from_bytes(t.topic_id));
                }
                if version >= 5 {
                    let described = TopicConfig::describe(&configs, &broker.defaults)
                        .into_iter()
                        .map(|d| {
                            CreatableTopicConfigs::default()
                                .with_name(str_bytes(d.name))
                                .with_value(Some(str_bytes(&d.value)))
                                .with_config_source(if d.is_default {
                                    SOURCE_DEFAULT
                                } else {
                                    SOURCE_TOPIC
                                })
                        })
                        .collect();
                    result = result.with_configs(Some(described));
                }
                result
            }
            Err((error, message)) => {
                let mut result = result
                    .with_error_code(error)
                    .with_num_partitions(-1)
                    .with_replication_factor(-1);
                if version >= 1 {
                    result = result.with_error_message(Some(str_bytes(&message)));
                }
                result
            }
        };
        results.push(result);
    }
    CreateTopicsResponse::default().with_topics(results)
}
