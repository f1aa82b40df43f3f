//! Metadata: which broker leads each partition of a topic, where each broker
//! listens, and which node is the active controller (the Raft leader). The
//! cluster workload routes by it, as a real client does.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{MetadataRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::{ApiVersionsInUse, ClientError, Connection};

/// One partition as a broker's metadata image shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionView {
    /// -1: no leader (LEADER_NOT_AVAILABLE).
    pub leader: i32,
    pub leader_epoch: i32,
    pub isr: Vec<i32>,
    /// The assigned replicas (the full-ISR liveness check compares).
    pub replicas: Vec<i32>,
}

/// What one Metadata answer says about the cluster and one topic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterView {
    /// -1 when the answering broker knows of no active controller.
    pub controller: i32,
    /// Node id to Kafka listener.
    pub brokers: BTreeMap<i32, SocketAddr>,
    /// Partitions of the topic asked for (empty if it does not exist yet).
    pub partitions: BTreeMap<i32, PartitionView>,
}

/// Asks one broker for `topic`'s metadata (never creating it).
pub async fn metadata(
    connection: &mut Connection,
    versions: ApiVersionsInUse,
    topic: &str,
) -> Result<ClusterView, ClientError> {
    let request = MetadataRequest::default()
        .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(
            TopicName(StrBytes::from_string(topic.to_string())),
        ))]))
        .with_allow_auto_topic_creation(false);
    let response = connection.call(&request, versions.metadata).await?;
    let mut view = ClusterView {
        controller: response.controller_id.0,
        ..ClusterView::default()
    };
    for broker in &response.brokers {
        let ip: IpAddr = broker
            .host
            .parse()
            .map_err(|_| ClientError::Protocol(format!("broker host {:?}", broker.host)))?;
        view.brokers
            .insert(broker.node_id.0, SocketAddr::new(ip, broker.port as u16));
    }
    let Some(answer) = response
        .topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == topic))
    else {
        return Ok(view);
    };
    for partition in &answer.partitions {
        view.partitions.insert(
            partition.partition_index,
            PartitionView {
                leader: partition.leader_id.0,
                leader_epoch: partition.leader_epoch,
                isr: partition.isr_nodes.iter().map(|id| id.0).collect(),
                replicas: partition.replica_nodes.iter().map(|id| id.0).collect(),
            },
        );
    }
    Ok(view)
}
