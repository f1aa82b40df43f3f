//! Metadata: brokers, topics and partitions from the metadata image;
//! auto-creates requested topics when allowed.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};

use crate::core::metadata::{MetadataImage, TopicImage};
use crate::core::topic_name;
use crate::kafka::authorized_operations::{self as ops, if_requested};
use crate::kafka::error_code::{self, code};
use crate::kafka::str_bytes;
use crate::server::broker::{Broker, CommitError};

pub async fn handle(broker: &Broker, request: MetadataRequest, version: i16) -> MetadataResponse {
    // v0 has no null list: an empty list there means "all topics".
    let all_topics = request.topics.is_none()
        || version == 0 && request.topics.as_ref().is_some_and(Vec::is_empty);
    let requested: Option<Vec<String>> = if all_topics {
        None
    } else {
        request.topics.as_ref().map(|topics| {
            topics
                .iter()
                .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
                .collect()
        })
    };
    // v4+ carries the client's wish; older versions always allowed auto-creation.
    let allow_auto = version < 4 || request.allow_auto_topic_creation;
    let mut creation_errors = std::collections::BTreeMap::new();
    if let Some(names) = &requested {
        if broker.config.auto_create_topics && allow_auto {
            let image = broker.image();
            // Internal topics are created by their coordinator, never on
            // demand; other reserved names are refused by the controller.
            for name in names
                .iter()
                .filter(|n| !image.topics.contains_key(*n) && !topic_name::is_internal(n))
            {
                if let Err(e) = broker.ensure_topic(name).await {
                    creation_errors.insert(name.clone(), e);
                }
            }
        }
    }
    let image = broker.image();
    // v8+ may ask for the authorized-operation bitfields; with no authorizer
    // Kafka grants every supported operation. The cluster field exists in v8-10.
    let topic_ops = if_requested(
        version >= 8 && request.include_topic_authorized_operations,
        ops::TOPIC,
    );
    let cluster_ops = if_requested(
        (8..=10).contains(&version) && request.include_cluster_authorized_operations,
        ops::CLUSTER,
    );
    let topics = match &requested {
        None => image
            .topics
            .values()
            .map(|t| topic_entry(&image, t, topic_ops))
            .collect(),
        Some(names) => names
            .iter()
            .map(|name| match image.topics.get(name) {
                Some(topic) => topic_entry(&image, topic, topic_ops),
                None => {
                    let error = match creation_errors.get(name) {
                        // A client asking for metadata retries these.
                        Some(CommitError::NotController { .. } | CommitError::Unconfirmed(_)) => {
                            code(ResponseError::LeaderNotAvailable)
                        }
                        Some(e) => error_code::for_commit_error(e),
                        None => code(ResponseError::UnknownTopicOrPartition),
                    };
                    MetadataResponseTopic::default()
                        .with_name(Some(TopicName(str_bytes(name))))
                        .with_error_code(error)
                }
            })
            .collect(),
    };
    // Fenced brokers are not offered to clients (KRaft lists only the
    // unfenced ones); their partitions show another leader or -1.
    let brokers = image
        .live_brokers()
        .map(|b| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(b.node_id))
                .with_host(str_bytes(&b.host))
                .with_port(b.port as i32)
        })
        .collect();
    MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some(str_bytes(&broker.config.cluster_id)))
        .with_controller_id(BrokerId(broker.controller_id().unwrap_or(-1)))
        .with_cluster_authorized_operations(cluster_ops)
        .with_topics(topics)
}

fn topic_entry(
    image: &MetadataImage,
    topic: &TopicImage,
    authorized_operations: i32,
) -> MetadataResponseTopic {
    let partitions = topic
        .partitions
        .iter()
        .map(|(index, p)| {
            let leader_alive = image.is_live(p.leader);
            MetadataResponsePartition::default()
                .with_partition_index(*index)
                .with_error_code(if leader_alive {
                    0
                } else {
                    code(ResponseError::LeaderNotAvailable)
                })
                .with_leader_id(BrokerId(p.leader))
                .with_leader_epoch(p.leader_epoch)
                .with_replica_nodes(p.replicas.iter().map(|r| BrokerId(*r)).collect())
                .with_isr_nodes(p.isr.iter().map(|r| BrokerId(*r)).collect())
                // Replicas on fenced brokers (Kafka's offline replicas).
                .with_offline_replicas(
                    p.replicas
                        .iter()
                        .filter(|r| !image.is_live(**r))
                        .map(|r| BrokerId(*r))
                        .collect(),
                )
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(str_bytes(&topic.name))))
        .with_topic_id(uuid::Uuid::from_bytes(topic.topic_id))
        .with_is_internal(topic_name::is_internal(&topic.name))
        .with_partitions(partitions)
        .with_topic_authorized_operations(authorized_operations)
}
