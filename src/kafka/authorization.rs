//! Which request needs which permission: the whole table in one place.
//!
//! With the authorizer off (Kafka's default) every function here calls the
//! handler unchanged. With it on, each API is checked as Kafka's
//! `KafkaApis` / `AclApis` check it, before the handler runs: what is not
//! authorized never reaches the handler, and is answered with Kafka's error.
//!
//! | API | needs | refused with |
//! |---|---|---|
//! | Produce | WRITE topic | TOPIC_AUTHORIZATION_FAILED per partition |
//! | Fetch (consumer) | READ topic | TOPIC_AUTHORIZATION_FAILED per partition |
//! | ListOffsets | DESCRIBE topic | TOPIC_AUTHORIZATION_FAILED per partition |
//! | OffsetForLeaderEpoch | CLUSTER_ACTION cluster, else DESCRIBE topic (KIP-320 consumers) | TOPIC_AUTHORIZATION_FAILED per partition |
//! | Metadata | DESCRIBE topic (unauthorized topics hidden from the all-topics listing); auto-creation: CREATE cluster or topic | TOPIC_AUTHORIZATION_FAILED per topic |
//! | CreateTopics | CREATE cluster or topic | TOPIC_AUTHORIZATION_FAILED per topic |
//! | DeleteTopics | DELETE topic | TOPIC_AUTHORIZATION_FAILED per topic |
//! | CreatePartitions | ALTER topic | TOPIC_AUTHORIZATION_FAILED per topic |
//! | DeleteRecords | DELETE topic | TOPIC_AUTHORIZATION_FAILED per partition |
//! | DescribeConfigs | DESCRIBE_CONFIGS topic / cluster (broker) | TOPIC_ / CLUSTER_AUTHORIZATION_FAILED per resource |
//! | AlterConfigs, IncrementalAlterConfigs | ALTER_CONFIGS topic / cluster (broker) | TOPIC_ / CLUSTER_AUTHORIZATION_FAILED per resource |
//! | FindCoordinator (group) | DESCRIBE group | GROUP_AUTHORIZATION_FAILED |
//! | FindCoordinator (transaction) | DESCRIBE transactional id | TRANSACTIONAL_ID_AUTHORIZATION_FAILED |
//! | JoinGroup, SyncGroup, Heartbeat, LeaveGroup | READ group | GROUP_AUTHORIZATION_FAILED |
//! | OffsetCommit | READ group, READ topic | GROUP_ (every partition) / TOPIC_AUTHORIZATION_FAILED per partition |
//! | OffsetFetch | DESCRIBE group, DESCRIBE topic | GROUP_AUTHORIZATION_FAILED; named topics TOPIC_AUTHORIZATION_FAILED, all-topics listing hides them |
//! | OffsetDelete | DELETE group, READ topic | GROUP_ / TOPIC_AUTHORIZATION_FAILED per partition |
//! | DescribeGroups | DESCRIBE group | GROUP_AUTHORIZATION_FAILED per group |
//! | ListGroups | DESCRIBE cluster, else only groups with DESCRIBE group | (filtered) |
//! | DeleteGroups | DELETE group | GROUP_AUTHORIZATION_FAILED per group |
//! | InitProducerId (idempotent) | IDEMPOTENT_WRITE cluster, or WRITE on some topic | CLUSTER_AUTHORIZATION_FAILED |
//! | InitProducerId (transactional) | WRITE transactional id | TRANSACTIONAL_ID_AUTHORIZATION_FAILED |
//! | DescribeLogDirs | DESCRIBE cluster | CLUSTER_AUTHORIZATION_FAILED |
//! | DescribeCluster | — (authorized operations need DESCRIBE cluster) | — |
//! | CreateAcls, DeleteAcls | ALTER cluster | CLUSTER_AUTHORIZATION_FAILED per binding / filter |
//! | DescribeAcls | DESCRIBE cluster | CLUSTER_AUTHORIZATION_FAILED |
//! | DescribeUserScramCredentials | DESCRIBE cluster | CLUSTER_AUTHORIZATION_FAILED (top level and per named user) |
//! | AlterUserScramCredentials | ALTER cluster | CLUSTER_AUTHORIZATION_FAILED per user |
//! | ApiVersions | — | — |
//!
//! Authorized-operation bit fields (Metadata, DescribeCluster,
//! DescribeGroups) are computed by the authorizer when it is on. There is no
//! authentication yet: every client is `User:ANONYMOUS` from its IP address.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::describe_configs_response::DescribeConfigsResult;
use kafka_protocol::messages::describe_groups_response::DescribedGroup;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse as IncrementalResourceResponse;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::metadata_response::MetadataResponseTopic;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::*;

use crate::core::acl::authorizer::{self, AuthorizerConfig, Session};
use crate::core::acl::binding::{AclOperation, ResourceType, CLUSTER_NAME};
use crate::core::acl::AclTable;
use crate::core::topic_name;
use crate::kafka::authorized_operations::NOT_REQUESTED;
use crate::kafka::error_code::code;
use crate::kafka::{
    alter_configs, alter_user_scram_credentials, create_acls, create_partitions, create_topics,
    delete_acls, delete_groups, delete_records, delete_topics, describe_acls, describe_cluster,
    describe_configs, describe_groups, describe_log_dirs, describe_user_scram_credentials, fetch,
    find_coordinator, heartbeat, incremental_alter_configs, init_producer_id, join_group,
    leave_group, list_groups, list_offsets, metadata, offset_commit, offset_delete, offset_fetch,
    offset_for_leader_epoch, produce, sync_group,
};
use crate::server::broker::Broker;

use AclOperation::*;

const TOPIC_DENIED: ResponseError = ResponseError::TopicAuthorizationFailed;
const GROUP_DENIED: ResponseError = ResponseError::GroupAuthorizationFailed;
const CLUSTER_DENIED: ResponseError = ResponseError::ClusterAuthorizationFailed;
/// DescribeConfigs / AlterConfigs resource types.
const CONFIG_RESOURCE_TOPIC: i8 = 2;
const CONFIG_RESOURCE_BROKER: i8 = 4;
const CONFIG_RESOURCE_BROKER_LOGGER: i8 = 8;

/// The operations each resource type supports (Kafka's
/// `AclEntry.supportedOperations`), for the authorized-operation fields.
const TOPIC_OPERATIONS: &[AclOperation] = &[
    Read,
    Write,
    Create,
    Describe,
    Delete,
    Alter,
    DescribeConfigs,
    AlterConfigs,
];
const GROUP_OPERATIONS: &[AclOperation] = &[Read, Describe, Delete];
const CLUSTER_OPERATIONS: &[AclOperation] = &[
    Create,
    ClusterAction,
    DescribeConfigs,
    AlterConfigs,
    IdempotentWrite,
    Alter,
    Describe,
];

/// The client a request comes from: `User:ANONYMOUS` (no authentication
/// yet) at its peer address.
pub fn session(peer: Option<SocketAddr>) -> Session {
    Session::anonymous(peer.map(|p| p.ip().to_string()).unwrap_or_default())
}

/// One request's view of the authorizer: the settings and the ACLs of the
/// image when the request arrived.
pub struct Guard<'a> {
    pub broker: &'a Broker,
    pub session: Session,
    config: Option<&'a AuthorizerConfig>,
    acls: Arc<AclTable>,
}

impl<'a> Guard<'a> {
    pub fn new(broker: &'a Broker, session: Session) -> Guard<'a> {
        let config = broker.config.authorizer.as_ref();
        let acls = if config.is_some() {
            Arc::clone(&broker.image().acls)
        } else {
            Arc::default()
        };
        Guard {
            broker,
            session,
            config,
            acls,
        }
    }

    /// Whether the standard authorizer is configured.
    pub fn enabled(&self) -> bool {
        self.config.is_some()
    }

    pub fn allows(&self, operation: AclOperation, resource_type: ResourceType, name: &str) -> bool {
        match self.config {
            None => true,
            Some(config) => authorizer::authorize(
                config,
                &self.acls,
                &self.session,
                operation,
                resource_type,
                name,
            ),
        }
    }

    pub fn topic(&self, operation: AclOperation, name: &str) -> bool {
        self.allows(operation, ResourceType::Topic, name)
    }

    pub fn group(&self, operation: AclOperation, name: &str) -> bool {
        self.allows(operation, ResourceType::Group, name)
    }

    pub fn cluster(&self, operation: AclOperation) -> bool {
        self.allows(operation, ResourceType::Cluster, CLUSTER_NAME)
    }

    fn operations(
        &self,
        resource_type: ResourceType,
        name: &str,
        supported: &[AclOperation],
    ) -> i32 {
        match self.config {
            None => supported.iter().fold(0, |bits, op| bits | (1 << op.code())),
            Some(config) => authorizer::authorized_operations(
                config,
                &self.acls,
                &self.session,
                resource_type,
                name,
                supported,
            ),
        }
    }
}

fn topic_name_of(name: &str) -> TopicName {
    TopicName(crate::kafka::str_bytes(name))
}

// ---- data plane -----------------------------------------------------------

pub async fn produce(g: &Guard<'_>, mut request: ProduceRequest, version: i16) -> ProduceResponse {
    if !g.enabled() {
        return produce::handle(g.broker, request, version).await;
    }
    let (denied, allowed): (Vec<_>, Vec<_>) = std::mem::take(&mut request.topic_data)
        .into_iter()
        .partition(|t| !g.topic(Write, &t.name));
    request.topic_data = allowed;
    let mut response = if request.topic_data.is_empty() {
        ProduceResponse::default()
    } else {
        produce::handle(g.broker, request, version).await
    };
    for topic in denied {
        let partitions = topic
            .partition_data
            .iter()
            .map(|p| {
                PartitionProduceResponse::default()
                    .with_index(p.index)
                    .with_error_code(code(TOPIC_DENIED))
                    .with_base_offset(-1)
                    .with_log_append_time_ms(-1)
                    .with_log_start_offset(-1)
            })
            .collect();
        response.responses.push(
            TopicProduceResponse::default()
                .with_name(topic.name)
                .with_partition_responses(partitions),
        );
    }
    response
}

pub async fn fetch(g: &Guard<'_>, mut request: FetchRequest) -> FetchResponse {
    if !g.enabled() {
        return fetch::handle(g.broker, request).await;
    }
    let (denied, allowed): (Vec<_>, Vec<_>) = std::mem::take(&mut request.topics)
        .into_iter()
        .partition(|t| !g.topic(Read, &t.topic));
    request.topics = allowed;
    // Nothing left to read: answer at once instead of long-polling on nothing.
    let mut response = if request.topics.is_empty() && !denied.is_empty() {
        FetchResponse::default()
    } else {
        fetch::handle(g.broker, request).await
    };
    for topic in denied {
        let partitions = topic
            .partitions
            .iter()
            .map(|p| {
                PartitionData::default()
                    .with_partition_index(p.partition)
                    .with_error_code(code(TOPIC_DENIED))
                    .with_high_watermark(-1)
                    .with_last_stable_offset(-1)
                    .with_log_start_offset(-1)
                    .with_records(Some(Default::default()))
            })
            .collect();
        response.responses.push(
            FetchableTopicResponse::default()
                .with_topic(topic.topic)
                .with_topic_id(topic.topic_id)
                .with_partitions(partitions),
        );
    }
    response
}

pub fn list_offsets(
    g: &Guard<'_>,
    mut request: ListOffsetsRequest,
    version: i16,
) -> ListOffsetsResponse {
    if !g.enabled() {
        return list_offsets::handle(g.broker, request, version);
    }
    let (denied, allowed): (Vec<_>, Vec<_>) = std::mem::take(&mut request.topics)
        .into_iter()
        .partition(|t| !g.topic(Describe, &t.name));
    request.topics = allowed;
    let mut response = list_offsets::handle(g.broker, request, version);
    for topic in denied {
        let partitions = topic
            .partitions
            .iter()
            .map(|p| {
                ListOffsetsPartitionResponse::default()
                    .with_partition_index(p.partition_index)
                    .with_error_code(code(TOPIC_DENIED))
                    .with_timestamp(-1)
                    .with_offset(-1)
            })
            .collect();
        response.topics.push(
            ListOffsetsTopicResponse::default()
                .with_name(topic.name)
                .with_partitions(partitions),
        );
    }
    response
}

/// Kafka's `handleOffsetForLeaderEpochRequest`: CLUSTER_ACTION on the
/// cluster (brokers) allows every topic; otherwise each topic needs DESCRIBE
/// (KIP-320 consumers). Refused topics come after the answered ones, each
/// partition with TOPIC_AUTHORIZATION_FAILED and epoch and offset -1.
pub fn offset_for_leader_epoch(
    g: &Guard<'_>,
    mut request: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    use kafka_protocol::messages::offset_for_leader_epoch_response::{
        EpochEndOffset, OffsetForLeaderTopicResult,
    };
    if !g.enabled() || g.cluster(ClusterAction) {
        return offset_for_leader_epoch::handle(g.broker, request);
    }
    let (denied, allowed): (Vec<_>, Vec<_>) = std::mem::take(&mut request.topics)
        .into_iter()
        .partition(|t| !g.topic(Describe, &t.topic));
    request.topics = allowed;
    let mut response = offset_for_leader_epoch::handle(g.broker, request);
    for topic in denied {
        let partitions = topic
            .partitions
            .iter()
            .map(|p| {
                EpochEndOffset::default()
                    .with_partition(p.partition)
                    .with_error_code(code(TOPIC_DENIED))
            })
            .collect();
        response.topics.push(
            OffsetForLeaderTopicResult::default()
                .with_topic(topic.topic)
                .with_partitions(partitions),
        );
    }
    response
}

// ---- metadata and topic admin ---------------------------------------------

pub async fn metadata(
    g: &Guard<'_>,
    mut request: MetadataRequest,
    version: i16,
) -> MetadataResponse {
    if !g.enabled() {
        return metadata::handle(g.broker, request, version).await;
    }
    let all_topics = request.topics.is_none()
        || version == 0 && request.topics.as_ref().is_some_and(Vec::is_empty);
    let mut denied: Vec<(String, bool)> = Vec::new();
    let mut allowed_names = BTreeSet::new();
    if !all_topics {
        let image = g.broker.image();
        let auto_create = g.broker.config.auto_create_topics
            && (version < 4 || request.allow_auto_topic_creation);
        let may_create_any = g.cluster(Create);
        if let Some(topics) = request.topics.as_mut() {
            topics.retain(|t| {
                let Some(name) = t.name.as_ref().map(|n| n.0.to_string()) else {
                    return true;
                };
                if !g.topic(Describe, &name) {
                    denied.push((name, false));
                    return false;
                }
                let would_create = auto_create
                    && !image.topics.contains_key(&name)
                    && !topic_name::is_internal(&name);
                if would_create && !may_create_any && !g.topic(Create, &name) {
                    let internal = topic_name::is_internal(&name);
                    denied.push((name, internal));
                    return false;
                }
                allowed_names.insert(name);
                true
            });
        }
    }
    let mut response = metadata::handle(g.broker, request, version).await;
    response.topics.retain(|t| {
        let name = t.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default();
        if all_topics {
            g.topic(Describe, &name)
        } else {
            // v0 with every named topic refused lists all topics: drop them.
            allowed_names.contains(&name)
        }
    });
    for topic in &mut response.topics {
        if topic.topic_authorized_operations != NOT_REQUESTED {
            let name = topic
                .name
                .as_ref()
                .map(|n| n.0.to_string())
                .unwrap_or_default();
            topic.topic_authorized_operations =
                g.operations(ResourceType::Topic, &name, TOPIC_OPERATIONS);
        }
    }
    if response.cluster_authorized_operations != NOT_REQUESTED {
        response.cluster_authorized_operations = if g.cluster(Describe) {
            g.operations(ResourceType::Cluster, CLUSTER_NAME, CLUSTER_OPERATIONS)
        } else {
            0
        };
    }
    for (name, internal) in denied {
        response.topics.push(
            MetadataResponseTopic::default()
                .with_name(Some(topic_name_of(&name)))
                .with_is_internal(internal)
                .with_error_code(code(TOPIC_DENIED)),
        );
    }
    response
}

pub async fn create_topics(
    g: &Guard<'_>,
    mut request: CreateTopicsRequest,
    version: i16,
) -> CreateTopicsResponse {
    if !g.enabled() {
        return create_topics::handle(g.broker, request, version).await;
    }
    let cluster_create = g.cluster(Create);
    let (denied, allowed): (Vec<_>, Vec<_>) = std::mem::take(&mut request.topics)
        .into_iter()
        .partition(|t| !cluster_create && !g.topic(Create, &t.name));
    request.topics = allowed;
    let mut response = create_topics::handle(g.broker, request, version).await;
    for topic in denied {
        response.topics.push(
            CreatableTopicResult::default()
                .with_name(topic.name)
                .with_error_code(code(TOPIC_DENIED))
                .with_error_message(Some(crate::kafka::str_bytes("Authorization failed.")))
                .with_num_partitions(-1)
                .with_replication_factor(-1),
        );
    }
    response
}

pub async fn delete_topics(
    g: &Guard<'_>,
    mut request: DeleteTopicsRequest,
    version: i16,
) -> DeleteTopicsResponse {
    if !g.enabled() {
        return delete_topics::handle(g.broker, request, version).await;
    }
    let image = g.broker.image();
    let mut denied = Vec::new();
    let name_of = |state: &delete_topics_request::DeleteTopicState| -> Option<String> {
        match &state.name {
            Some(n) => Some(n.0.to_string()),
            None => image
                .topic_by_id(state.topic_id.as_bytes())
                .map(|t| t.name.clone()),
        }
    };
    request.topics.retain(|state| match name_of(state) {
        Some(name) if !g.topic(Delete, &name) => {
            denied.push(
                DeletableTopicResult::default()
                    .with_name(state.name.clone())
                    .with_topic_id(state.topic_id)
                    .with_error_code(code(TOPIC_DENIED)),
            );
            false
        }
        _ => true,
    });
    request.topic_names.retain(|name| {
        if g.topic(Delete, name) {
            return true;
        }
        denied.push(
            DeletableTopicResult::default()
                .with_name(Some(name.clone()))
                .with_error_code(code(TOPIC_DENIED)),
        );
        false
    });
    let mut response = delete_topics::handle(g.broker, request, version).await;
    response.responses.extend(denied);
    response
}

pub async fn create_partitions(
    g: &Guard<'_>,
    mut request: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    if !g.enabled() {
        return create_partitions::handle(g.broker, request).await;
    }
    let (denied, allowed): (Vec<_>, Vec<_>) = std::mem::take(&mut request.topics)
        .into_iter()
        .partition(|t| !g.topic(Alter, &t.name));
    request.topics = allowed;
    let mut response = create_partitions::handle(g.broker, request).await;
    for topic in denied {
        response.results.push(
            CreatePartitionsTopicResult::default()
                .with_name(topic.name)
                .with_error_code(code(TOPIC_DENIED)),
        );
    }
    response
}

pub async fn delete_records(
    g: &Guard<'_>,
    mut request: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
    if !g.enabled() {
        return delete_records::handle(g.broker, request).await;
    }
    let (denied, allowed): (Vec<_>, Vec<_>) = std::mem::take(&mut request.topics)
        .into_iter()
        .partition(|t| !g.topic(Delete, &t.name));
    request.topics = allowed;
    let mut response = delete_records::handle(g.broker, request).await;
    for topic in denied {
        let partitions = topic
            .partitions
            .iter()
            .map(|p| {
                DeleteRecordsPartitionResult::default()
                    .with_partition_index(p.partition_index)
                    .with_low_watermark(-1)
                    .with_error_code(code(TOPIC_DENIED))
            })
            .collect();
        response.topics.push(
            DeleteRecordsTopicResult::default()
                .with_name(topic.name)
                .with_partitions(partitions),
        );
    }
    response
}

/// The permission a config resource needs, and the error when refused
/// (`None`: a resource type the handler refuses on its own).
fn config_check(
    g: &Guard<'_>,
    operation: AclOperation,
    resource_type: i8,
    name: &str,
) -> Option<ResponseError> {
    match resource_type {
        CONFIG_RESOURCE_TOPIC => (!g.topic(operation, name)).then_some(TOPIC_DENIED),
        CONFIG_RESOURCE_BROKER | CONFIG_RESOURCE_BROKER_LOGGER => {
            (!g.cluster(operation)).then_some(CLUSTER_DENIED)
        }
        _ => None,
    }
}

pub fn describe_configs(
    g: &Guard<'_>,
    mut request: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    if !g.enabled() {
        return describe_configs::handle(g.broker, request);
    }
    let denied = take_refused(
        &mut request.resources,
        |r| config_check(g, DescribeConfigs, r.resource_type, &r.resource_name),
        |r, error| {
            DescribeConfigsResult::default()
                .with_error_code(code(error))
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone())
        },
    );
    let mut response = describe_configs::handle(g.broker, request);
    response.results.extend(denied);
    response
}

pub async fn alter_configs(
    g: &Guard<'_>,
    mut request: AlterConfigsRequest,
) -> AlterConfigsResponse {
    if !g.enabled() {
        return alter_configs::handle(g.broker, request).await;
    }
    let denied = take_refused(
        &mut request.resources,
        |r| config_check(g, AlterConfigs, r.resource_type, &r.resource_name),
        |r, error| {
            AlterConfigsResourceResponse::default()
                .with_error_code(code(error))
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone())
        },
    );
    let mut response = alter_configs::handle(g.broker, request).await;
    response.responses.extend(denied);
    response
}

pub async fn incremental_alter_configs(
    g: &Guard<'_>,
    mut request: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    if !g.enabled() {
        return incremental_alter_configs::handle(g.broker, request).await;
    }
    let denied = take_refused(
        &mut request.resources,
        |r| config_check(g, AlterConfigs, r.resource_type, &r.resource_name),
        |r, error| {
            IncrementalResourceResponse::default()
                .with_error_code(code(error))
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone())
        },
    );
    let mut response = incremental_alter_configs::handle(g.broker, request).await;
    response.responses.extend(denied);
    response
}

/// Removes the resources `check` refuses from `resources` and returns an
/// answer for each one, made by `refuse` from its error code.
fn take_refused<R, A>(
    resources: &mut Vec<R>,
    check: impl Fn(&R) -> Option<ResponseError>,
    refuse: impl Fn(&R, ResponseError) -> A,
) -> Vec<A> {
    let mut refused = Vec::new();
    resources.retain(|r| match check(r) {
        Some(error) => {
            refused.push(refuse(r, error));
            false
        }
        None => true,
    });
    refused
}

// ---- groups and producers -------------------------------------------------

const KEY_TYPE_TRANSACTION: i8 = 1;

pub async fn find_coordinator(
    g: &Guard<'_>,
    request: FindCoordinatorRequest,
    version: i16,
) -> FindCoordinatorResponse {
    if !g.enabled() {
        return find_coordinator::handle(g.broker, request, version).await;
    }
    let (resource_type, error) = if request.key_type == KEY_TYPE_TRANSACTION {
        (
            ResourceType::TransactionalId,
            ResponseError::TransactionalIdAuthorizationFailed,
        )
    } else {
        (ResourceType::Group, GROUP_DENIED)
    };
    let single_key = request.key.to_string();
    let mut response = find_coordinator::handle(g.broker, request, version).await;
    if version < 4 {
        if !g.allows(Describe, resource_type, &single_key) {
            response = FindCoordinatorResponse::default()
                .with_error_code(code(error))
                .with_node_id(BrokerId(-1))
                .with_port(-1);
        }
        return response;
    }
    for coordinator in &mut response.coordinators {
        if !g.allows(Describe, resource_type, &coordinator.key) {
            coordinator.error_code = code(error);
            coordinator.error_message = None;
            coordinator.node_id = BrokerId(-1);
            coordinator.host = Default::default();
            coordinator.port = -1;
        }
    }
    response
}

pub async fn join_group(
    g: &Guard<'_>,
    request: JoinGroupRequest,
    version: i16,
    client_id: &str,
    client_host: &str,
) -> JoinGroupResponse {
    if !g.group(Read, &request.group_id) {
        return JoinGroupResponse::default()
            .with_error_code(code(GROUP_DENIED))
            .with_generation_id(-1);
    }
    join_group::handle(g.broker, request, version, client_id, client_host).await
}

pub async fn sync_group(
    g: &Guard<'_>,
    request: SyncGroupRequest,
    version: i16,
) -> SyncGroupResponse {
    if !g.group(Read, &request.group_id) {
        return SyncGroupResponse::default().with_error_code(code(GROUP_DENIED));
    }
    sync_group::handle(g.broker, request, version).await
}

pub async fn heartbeat(
    g: &Guard<'_>,
    request: HeartbeatRequest,
    version: i16,
) -> HeartbeatResponse {
    if !g.group(Read, &request.group_id) {
        return HeartbeatResponse::default().with_error_code(code(GROUP_DENIED));
    }
    heartbeat::handle(g.broker, request, version).await
}

pub async fn leave_group(
    g: &Guard<'_>,
    request: LeaveGroupRequest,
    version: i16,
) -> LeaveGroupResponse {
    if !g.group(Read, &request.group_id) {
        return LeaveGroupResponse::default().with_error_code(code(GROUP_DENIED));
    }
    leave_group::handle(g.broker, request, version).await
}

pub async fn offset_commit(
    g: &Guard<'_>,
    mut request: OffsetCommitRequest,
    version: i16,
) -> OffsetCommitResponse {
    if !g.enabled() {
        return offset_commit::handle(g.broker, request, version).await;
    }
    let error_for = |topics: &[offset_commit_request::OffsetCommitRequestTopic], error| {
        topics
            .iter()
            .map(|t| {
                OffsetCommitResponseTopic::default()
                    .with_name(t.name.clone())
                    .with_partitions(
                        t.partitions
                            .iter()
                            .map(|p| {
                                OffsetCommitResponsePartition::default()
                                    .with_partition_index(p.partition_index)
                                    .with_error_code(code(error))
                            })
                            .collect(),
                    )
            })
            .collect::<Vec<_>>()
    };
    if !g.group(Read, &request.group_id) {
        return OffsetCommitResponse::default()
            .with_topics(error_for(&request.topics, GROUP_DENIED));
    }
    let (denied, allowed): (Vec<_>, Vec<_>) = std::mem::take(&mut request.topics)
        .into_iter()
        .partition(|t| !g.topic(Read, &t.name));
    request.topics = allowed;
    let mut response = if request.topics.is_empty() && !denied.is_empty() {
        OffsetCommitResponse::default()
    } else {
        offset_commit::handle(g.broker, request, version).await
    };
    response.topics.extend(error_for(&denied, TOPIC_DENIED));
    response
}

pub async fn offset_fetch(
    g: &Guard<'_>,
    mut request: OffsetFetchRequest,
    version: i16,
) -> OffsetFetchResponse {
    if !g.enabled() {
        return offset_fetch::handle(g.broker, request, version).await;
    }
    if version < 8 {
        if !g.group(Describe, &request.group_id) {
            return OffsetFetchResponse::default().with_error_code(code(GROUP_DENIED));
        }
        let named = request.topics.is_some();
        let mut response = offset_fetch::handle(g.broker, request, version).await;
        response.topics.retain_mut(|t| {
            if g.topic(Describe, &t.name) {
                return true;
            }
            for p in &mut t.partitions {
                p.error_code = code(TOPIC_DENIED);
                p.committed_offset = -1;
                p.metadata = Some(Default::default());
            }
            named
        });
        return response;
    }
    let denied_groups: Vec<GroupId> = request
        .groups
        .iter()
        .filter(|group| !g.group(Describe, &group.group_id))
        .map(|group| group.group_id.clone())
        .collect();
    request
        .groups
        .retain(|group| !denied_groups.contains(&group.group_id));
    let named: BTreeSet<String> = request
        .groups
        .iter()
        .filter(|group| group.topics.is_some())
        .map(|group| group.group_id.to_string())
        .collect();
    let mut response = offset_fetch::handle(g.broker, request, version).await;
    for group in &mut response.groups {
        let named = named.contains(group.group_id.as_str());
        group.topics.retain_mut(|t| {
            if g.topic(Describe, &t.name) {
                return true;
            }
            for p in &mut t.partitions {
                p.error_code = code(TOPIC_DENIED);
                p.committed_offset = -1;
                p.metadata = Some(Default::default());
            }
            named
        });
    }
    for group_id in denied_groups {
        response.groups.push(
            offset_fetch_response::OffsetFetchResponseGroup::default()
                .with_group_id(group_id)
                .with_error_code(code(GROUP_DENIED)),
        );
    }
    response
}

pub async fn offset_delete(
    g: &Guard<'_>,
    mut request: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    if !g.enabled() {
        return offset_delete::handle(g.broker, request).await;
    }
    if !g.group(Delete, &request.group_id) {
        return OffsetDeleteResponse::default().with_error_code(code(GROUP_DENIED));
    }
    let (denied, allowed): (Vec<_>, Vec<_>) = std::mem::take(&mut request.topics)
        .into_iter()
        .partition(|t| !g.topic(Read, &t.name));
    request.topics = allowed;
    let mut response = offset_delete::handle(g.broker, request).await;
    for topic in denied {
        let partitions = topic
            .partitions
            .iter()
            .map(|p| {
                OffsetDeleteResponsePartition::default()
                    .with_partition_index(p.partition_index)
                    .with_error_code(code(TOPIC_DENIED))
            })
            .collect();
        response.topics.push(
            OffsetDeleteResponseTopic::default()
                .with_name(topic.name)
                .with_partitions(partitions),
        );
    }
    response
}

pub async fn describe_groups(
    g: &Guard<'_>,
    mut request: DescribeGroupsRequest,
    version: i16,
) -> DescribeGroupsResponse {
    if !g.enabled() {
        return describe_groups::handle(g.broker, request, version).await;
    }
    let mut denied = Vec::new();
    request.groups.retain(|group| {
        if g.group(Describe, group) {
            return true;
        }
        denied.push(
            DescribedGroup::default()
                .with_group_id(group.clone())
                .with_error_code(code(GROUP_DENIED)),
        );
        false
    });
    let mut response = describe_groups::handle(g.broker, request, version).await;
    for group in &mut response.groups {
        if group.authorized_operations != NOT_REQUESTED {
            group.authorized_operations =
                g.operations(ResourceType::Group, &group.group_id, GROUP_OPERATIONS);
        }
    }
    response.groups.extend(denied);
    response
}

pub async fn list_groups(
    g: &Guard<'_>,
    request: ListGroupsRequest,
    version: i16,
) -> ListGroupsResponse {
    let mut response = list_groups::handle(g.broker, request, version).await;
    if g.enabled() && !g.cluster(Describe) {
        response
            .groups
            .retain(|group| g.group(Describe, &group.group_id));
    }
    response
}

pub async fn delete_groups(
    g: &Guard<'_>,
    mut request: DeleteGroupsRequest,
    version: i16,
) -> DeleteGroupsResponse {
    if !g.enabled() {
        return delete_groups::handle(g.broker, request, version).await;
    }
    let (denied, allowed): (Vec<_>, Vec<_>) = std::mem::take(&mut request.groups_names)
        .into_iter()
        .partition(|group| !g.group(Delete, group));
    request.groups_names = allowed;
    let mut response = delete_groups::handle(g.broker, request, version).await;
    for group in denied {
        response.results.push(
            DeletableGroupResult::default()
                .with_group_id(group)
                .with_error_code(code(GROUP_DENIED)),
        );
    }
    response
}

pub async fn init_producer_id(
    g: &Guard<'_>,
    request: InitProducerIdRequest,
) -> InitProducerIdResponse {
    if g.enabled() {
        let refused = match &request.transactional_id {
            Some(id) => (!g.allows(Write, ResourceType::TransactionalId, id))
                .then_some(ResponseError::TransactionalIdAuthorizationFailed),
            None => (!g.cluster(IdempotentWrite) && !g.any_topic(Write)).then_some(CLUSTER_DENIED),
        };
        if let Some(error) = refused {
            return InitProducerIdResponse::default()
                .with_error_code(code(error))
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1);
        }
    }
    init_producer_id::handle(g.broker, request).await
}

impl Guard<'_> {
    /// `authorizeByResourceType(op, TOPIC)`: `op` on at least one topic.
    fn any_topic(&self, operation: AclOperation) -> bool {
        match self.config {
            None => true,
            Some(config) => authorizer::authorize_by_resource_type(
                config,
                &self.acls,
                &self.session,
                operation,
                ResourceType::Topic,
            ),
        }
    }
}

// ---- cluster --------------------------------------------------------------

pub fn describe_cluster(
    g: &Guard<'_>,
    request: DescribeClusterRequest,
    version: i16,
) -> DescribeClusterResponse {
    let mut response = describe_cluster::handle(g.broker, request, version);
    if g.enabled() && response.cluster_authorized_operations != NOT_REQUESTED {
        response.cluster_authorized_operations = if g.cluster(Describe) {
            g.operations(ResourceType::Cluster, CLUSTER_NAME, CLUSTER_OPERATIONS)
        } else {
            0
        };
    }
    response
}

pub fn describe_log_dirs(
    g: &Guard<'_>,
    request: DescribeLogDirsRequest,
) -> DescribeLogDirsResponse {
    if !g.cluster(Describe) {
        return DescribeLogDirsResponse::default().with_error_code(code(CLUSTER_DENIED));
    }
    describe_log_dirs::handle(g.broker, request)
}

pub async fn create_acls(
    g: &Guard<'_>,
    request: CreateAclsRequest,
) -> Result<CreateAclsResponse, create_acls::Refused> {
    if !g.cluster(Alter) {
        return Ok(create_acls::refuse_all(&request, CLUSTER_DENIED, None));
    }
    create_acls::handle(g.broker, request).await
}

pub fn describe_acls(
    g: &Guard<'_>,
    request: DescribeAclsRequest,
) -> Result<DescribeAclsResponse, describe_acls::Refused> {
    if !g.cluster(Describe) {
        return Ok(DescribeAclsResponse::default().with_error_code(code(CLUSTER_DENIED)));
    }
    describe_acls::handle(g.broker, request)
}

pub async fn delete_acls(
    g: &Guard<'_>,
    request: DeleteAclsRequest,
) -> Result<DeleteAclsResponse, delete_acls::Refused> {
    if !g.cluster(Alter) {
        return Ok(delete_acls::refuse_all(&request, CLUSTER_DENIED, None));
    }
    delete_acls::handle(g.broker, request).await
}

pub fn describe_user_scram_credentials(
    g: &Guard<'_>,
    request: DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    if !g.cluster(Describe) {
        return describe_user_scram_credentials::refuse_all(&request, CLUSTER_DENIED);
    }
    describe_user_scram_credentials::handle(g.broker, request)
}

pub async fn alter_user_scram_credentials(
    g: &Guard<'_>,
    request: AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    if !g.cluster(Alter) {
        return alter_user_scram_credentials::refuse_all(&request, CLUSTER_DENIED);
    }
    alter_user_scram_credentials::handle(g.broker, request).await
}
