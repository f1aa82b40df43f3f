//! The authorization table of `kafka/authorization.rs` through the real
//! dispatcher, with the standard authorizer on: what is refused, with which
//! error, and that a refused request changes nothing.

use std::net::SocketAddr;
use std::sync::Arc;

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use crate::core::acl::authorizer::ANONYMOUS;
use crate::core::acl::binding::{AccessControlEntry, ResourcePattern};
use crate::core::acl::{
    AclBinding, AclOperation, AclPermissionType, AuthorizerConfig, PatternType, ResourceType,
};
use crate::core::metadata::MetadataRecord;
use crate::io::disk::Disk;
use crate::io::sim_disk::{SimDisk, SimDiskFaults};
use crate::kafka::test_harness::call_as;
use crate::server::broker::Broker;
use crate::server::config::BrokerConfig;

const TOPIC_AUTHORIZATION_FAILED: i16 = 29;
const GROUP_AUTHORIZATION_FAILED: i16 = 30;
const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;

fn peer() -> Option<SocketAddr> {
    Some("10.1.2.3:5555".parse().unwrap())
}

async fn broker(config: AuthorizerConfig) -> Arc<Broker> {
    let disk: Arc<dyn Disk> = Arc::new(SimDisk::new(1, SimDiskFaults::default()));
    let config = BrokerConfig {
        data_dir: "data".to_string(),
        authorizer: Some(config),
        ..BrokerConfig::single_node_default()
    };
    Broker::open(config, disk).await.expect("broker opens")
}

fn allow_everyone() -> AuthorizerConfig {
    AuthorizerConfig {
        allow_everyone_if_no_acl_found: true,
        ..Default::default()
    }
}

async fn add_acl(
    broker: &Broker,
    resource_type: ResourceType,
    name: &str,
    pattern_type: PatternType,
    operation: AclOperation,
    permission: AclPermissionType,
) {
    let id = broker.image().next_acl_id;
    let binding = AclBinding {
        pattern: ResourcePattern {
            resource_type,
            name: name.into(),
            pattern_type,
        },
        entry: AccessControlEntry {
            principal: ANONYMOUS.into(),
            host: "*".into(),
            operation,
            permission,
        },
    };
    broker
        .commit(vec![MetadataRecord::CreateAcl { id, binding }])
        .await
        .unwrap();
}

fn topic_request(name: &str) -> MetadataRequestTopic {
    MetadataRequestTopic::default().with_name(Some(TopicName(StrBytes::from_string(name.into()))))
}

async fn metadata(broker: &Broker, request: MetadataRequest) -> MetadataResponse {
    call_as(broker, ApiKey::Metadata, 10, &request, "t", peer()).await
}

fn names(response: &MetadataResponse) -> Vec<(String, i16)> {
    response
        .topics
        .iter()
        .map(|t| (t.name.as_ref().unwrap().to_string(), t.error_code))
        .collect()
}

#[tokio::test]
async fn metadata_hides_undescribable_topics_and_refuses_them_by_name() {
    let broker = broker(allow_everyone()).await;
    broker.ensure_topic("visible").await.unwrap();
    broker.ensure_topic("secret").await.unwrap();
    add_acl(
        &broker,
        ResourceType::Topic,
        "secret",
        PatternType::Literal,
        AclOperation::Describe,
        AclPermissionType::Deny,
    )
    .await;
    let all = metadata(&broker, MetadataRequest::default().with_topics(None)).await;
    assert_eq!(names(&all), [("visible".to_string(), 0)]);
    let named = metadata(
        &broker,
        MetadataRequest::default().with_topics(Some(vec![
            topic_request("secret"),
            topic_request("visible"),
        ])),
    )
    .await;
    let mut got = names(&named);
    got.sort();
    assert_eq!(
        got,
        [
            ("secret".to_string(), TOPIC_AUTHORIZATION_FAILED),
            ("visible".to_string(), 0)
        ]
    );
}

#[tokio::test]
async fn auto_creation_needs_create_on_the_cluster_or_the_topic() {
    let broker = broker(AuthorizerConfig::default()).await;
    // DESCRIBE on every topic (implied by an ALLOW of READ), but no CREATE.
    add_acl(
        &broker,
        ResourceType::Topic,
        "*",
        PatternType::Literal,
        AclOperation::Read,
        AclPermissionType::Allow,
    )
    .await;
    let request = MetadataRequest::default()
        .with_topics(Some(vec![topic_request("new-topic")]))
        .with_allow_auto_topic_creation(true);
    let response = metadata(&broker, request.clone()).await;
    assert_eq!(
        names(&response),
        [("new-topic".to_string(), TOPIC_AUTHORIZATION_FAILED)]
    );
    assert!(!broker.image().topics.contains_key("new-topic"));
    add_acl(
        &broker,
        ResourceType::Topic,
        "new-",
        PatternType::Prefixed,
        AclOperation::Create,
        AclPermissionType::Allow,
    )
    .await;
    let response = metadata(&broker, request).await;
    assert_eq!(names(&response), [("new-topic".to_string(), 0)]);
    assert!(broker.image().topics.contains_key("new-topic"));
}

#[tokio::test]
async fn authorized_operations_come_from_the_acls() {
    let broker = broker(AuthorizerConfig::default()).await;
    broker.ensure_topic("t").await.unwrap();
    add_acl(
        &broker,
        ResourceType::Topic,
        "t",
        PatternType::Literal,
        AclOperation::Read,
        AclPermissionType::Allow,
    )
    .await;
    let response = metadata(
        &broker,
        MetadataRequest::default()
            .with_topics(Some(vec![topic_request("t")]))
            .with_include_topic_authorized_operations(true),
    )
    .await;
    let read_and_describe = (1 << AclOperation::Read.code()) | (1 << AclOperation::Describe.code());
    assert_eq!(
        response.topics[0].topic_authorized_operations,
        read_and_describe
    );
}

#[tokio::test]
async fn group_apis_need_read_on_the_group() {
    let broker = broker(allow_everyone()).await;
    add_acl(
        &broker,
        ResourceType::Group,
        "locked",
        PatternType::Literal,
        AclOperation::Read,
        AclPermissionType::Deny,
    )
    .await;
    let join = JoinGroupRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("locked")))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_protocol_type(StrBytes::from_static_str("consumer"));
    let response: JoinGroupResponse =
        call_as(&broker, ApiKey::JoinGroup, 5, &join, "c", peer()).await;
    assert_eq!(response.error_code, GROUP_AUTHORIZATION_FAILED);
    let heartbeat =
        HeartbeatRequest::default().with_group_id(GroupId(StrBytes::from_static_str("locked")));
    let response: HeartbeatResponse =
        call_as(&broker, ApiKey::Heartbeat, 4, &heartbeat, "c", peer()).await;
    assert_eq!(response.error_code, GROUP_AUTHORIZATION_FAILED);
}

#[tokio::test]
async fn idempotent_producers_need_idempotent_write_or_write_on_some_topic() {
    let broker = broker(AuthorizerConfig::default()).await;
    let request = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(60_000);
    let response: InitProducerIdResponse =
        call_as(&broker, ApiKey::InitProducerId, 4, &request, "p", peer()).await;
    assert_eq!(response.error_code, CLUSTER_AUTHORIZATION_FAILED);
    add_acl(
        &broker,
        ResourceType::Topic,
        "orders-",
        PatternType::Prefixed,
        AclOperation::Write,
        AclPermissionType::Allow,
    )
    .await;
    let response: InitProducerIdResponse =
        call_as(&broker, ApiKey::InitProducerId, 4, &request, "p", peer()).await;
    assert_eq!(response.error_code, 0);
    assert!(response.producer_id.0 >= 0);
}

#[tokio::test]
async fn acl_apis_need_the_cluster_and_super_users_pass() {
    let creation = create_acls_request::AclCreation::default()
        .with_resource_type(ResourceType::Topic.code())
        .with_resource_name(StrBytes::from_static_str("t"))
        .with_resource_pattern_type(PatternType::Literal.code())
        .with_principal(StrBytes::from_static_str("User:bob"))
        .with_host(StrBytes::from_static_str("*"))
        .with_operation(AclOperation::Read.code())
        .with_permission_type(AclPermissionType::Allow.code());
    let request = CreateAclsRequest::default().with_creations(vec![creation]);
    let broker = broker(AuthorizerConfig::default()).await;
    let response: CreateAclsResponse =
        call_as(&broker, ApiKey::CreateAcls, 3, &request, "a", peer()).await;
    assert_eq!(response.results[0].error_code, CLUSTER_AUTHORIZATION_FAILED);
    assert!(
        broker.image().acls.is_empty(),
        "a refused request changes nothing"
    );

    let super_user = AuthorizerConfig {
        super_users: [ANONYMOUS.to_string()].into(),
        ..Default::default()
    };
    let broker = self::broker(super_user).await;
    let response: CreateAclsResponse =
        call_as(&broker, ApiKey::CreateAcls, 3, &request, "a", peer()).await;
    assert_eq!(response.results[0].error_code, 0);
    assert_eq!(broker.image().acls.len(), 1);
}

#[tokio::test]
async fn acl_hosts_match_the_client_address() {
    let broker = broker(AuthorizerConfig::default()).await;
    broker.ensure_topic("t").await.unwrap();
    let id = broker.image().next_acl_id;
    let binding = AclBinding {
        pattern: ResourcePattern {
            resource_type: ResourceType::Topic,
            name: "t".into(),
            pattern_type: PatternType::Literal,
        },
        entry: AccessControlEntry {
            principal: ANONYMOUS.into(),
            host: "10.1.2.3".into(),
            operation: AclOperation::Describe,
            permission: AclPermissionType::Allow,
        },
    };
    broker
        .commit(vec![MetadataRecord::CreateAcl { id, binding }])
        .await
        .unwrap();
    let request = MetadataRequest::default().with_topics(None);
    let from_allowed = metadata(&broker, request.clone()).await;
    assert_eq!(names(&from_allowed), [("t".to_string(), 0)]);
    let elsewhere = Some("10.9.9.9:1".parse().unwrap());
    let from_other: MetadataResponse =
        call_as(&broker, ApiKey::Metadata, 10, &request, "t", elsewhere).await;
    assert!(from_other.topics.is_empty());
}

async fn offset_for_leader_epoch(broker: &Broker, topics: &[&str]) -> Vec<(String, i16)> {
    use kafka_protocol::messages::offset_for_leader_epoch_request::{
        OffsetForLeaderPartition, OffsetForLeaderTopic,
    };
    let request = OffsetForLeaderEpochRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(
            topics
                .iter()
                .map(|t| {
                    OffsetForLeaderTopic::default()
                        .with_topic(TopicName(StrBytes::from_string(t.to_string())))
                        .with_partitions(vec![OffsetForLeaderPartition::default()])
                })
                .collect(),
        );
    let response: OffsetForLeaderEpochResponse = call_as(
        broker,
        ApiKey::OffsetForLeaderEpoch,
        4,
        &request,
        "t",
        peer(),
    )
    .await;
    response
        .topics
        .iter()
        .map(|t| (t.topic.to_string(), t.partitions[0].error_code))
        .collect()
}

/// Kafka's handleOffsetForLeaderEpochRequest: CLUSTER_ACTION (brokers) opens
/// every topic; otherwise DESCRIBE per topic (KIP-320 consumers), refused
/// topics listed after the answered ones.
#[tokio::test]
async fn offset_for_leader_epoch_needs_cluster_action_or_describe_on_the_topic() {
    let broker = broker(AuthorizerConfig::default()).await;
    broker.ensure_topic("open").await.unwrap();
    broker.ensure_topic("closed").await.unwrap();
    add_acl(
        &broker,
        ResourceType::Topic,
        "open",
        PatternType::Literal,
        AclOperation::Read,
        AclPermissionType::Allow,
    )
    .await;
    assert_eq!(
        offset_for_leader_epoch(&broker, &["closed", "open"]).await,
        [
            ("open".to_string(), 0),
            ("closed".to_string(), TOPIC_AUTHORIZATION_FAILED)
        ],
        "READ implies DESCRIBE; nothing grants the other topic"
    );
    add_acl(
        &broker,
        ResourceType::Cluster,
        "kafka-cluster",
        PatternType::Literal,
        AclOperation::ClusterAction,
        AclPermissionType::Allow,
    )
    .await;
    assert_eq!(
        offset_for_leader_epoch(&broker, &["closed", "open"]).await,
        [("closed".to_string(), 0), ("open".to_string(), 0)]
    );
}
