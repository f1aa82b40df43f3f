//! Topic creation.

use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::{CreateTopicsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::{ApiVersionsInUse, ClientError, Connection};

/// TOPIC_ALREADY_EXISTS: fine when a retry of ours created it.
const TOPIC_ALREADY_EXISTS: i16 = 36;

/// Creates `topic` with `partitions` partitions, replication factor 1 and
/// the given topic configs (TOPIC_ALREADY_EXISTS counts as done).
pub async fn create_topic(
    connection: &mut Connection,
    versions: ApiVersionsInUse,
    topic: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) -> Result<(), ClientError> {
    match create_topic_strict(connection, versions, topic, partitions, configs).await {
        Err(ClientError::Kafka {
            code: TOPIC_ALREADY_EXISTS,
            ..
        }) => Ok(()),
        other => other,
    }
}

/// Like [`create_topic`], but TOPIC_ALREADY_EXISTS is an error (the
/// lifecycle workload must tell its re-creation from the old topic).
pub async fn create_topic_strict(
    connection: &mut Connection,
    versions: ApiVersionsInUse,
    topic: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) -> Result<(), ClientError> {
    create(connection, versions, topic, (partitions, 1), configs).await
}

/// Creates `topic` with `replication_factor` replicas of each partition
/// (a cluster); TOPIC_ALREADY_EXISTS counts as done.
pub async fn create_replicated_topic(
    connection: &mut Connection,
    versions: ApiVersionsInUse,
    topic: &str,
    (partitions, replication_factor): (i32, i16),
    configs: &[(&str, &str)],
) -> Result<(), ClientError> {
    let sizes = (partitions, replication_factor);
    match create(connection, versions, topic, sizes, configs).await {
        Err(ClientError::Kafka {
            code: TOPIC_ALREADY_EXISTS,
            ..
        }) => Ok(()),
        other => other,
    }
}

async fn create(
    connection: &mut Connection,
    versions: ApiVersionsInUse,
    topic: &str,
    (partitions, replication_factor): (i32, i16),
    configs: &[(&str, &str)],
) -> Result<(), ClientError> {
    let configs = configs
        .iter()
        .map(|(name, value)| {
            CreatableTopicConfig::default()
                .with_name(StrBytes::from_string(name.to_string()))
                .with_value(Some(StrBytes::from_string(value.to_string())))
        })
        .collect();
    let request = CreateTopicsRequest::default()
        .with_topics(vec![CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_num_partitions(partitions)
            .with_replication_factor(replication_factor)
            .with_configs(configs)])
        .with_timeout_ms(5_000);
    let response = connection.call(&request, versions.create_topics).await?;
    let result = response
        .topics
        .first()
        .ok_or_else(|| ClientError::Protocol("CreateTopics answered no topic".into()))?;
    match result.error_code {
        0 => Ok(()),
        code => Err(ClientError::kafka(code)),
    }
}
