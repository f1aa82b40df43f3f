//! Snapshots of the consumer group APIs, produced in-process like
//! `snapshot_tests`: a real broker (with its group coordinator over
//! `__consumer_offsets`) on a simulated disk, request frames encoded as a
//! client would, responses decoded back and recorded.
//!
//! Member ids are generated from the client id, the broker's incarnation and
//! a counter, so they are the same every run as long as requests reach the
//! coordinator in the same order; the tests make sure they do.
//!
//! The join flows wait out the coordinator's real initial rebalance delay
//! (3 s, Kafka's `group.initial.rebalance.delay.ms`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, CreateTopicsResponse, DeleteGroupsRequest, DeleteGroupsResponse,
    DescribeGroupsRequest, DescribeGroupsResponse, FindCoordinatorRequest, FindCoordinatorResponse,
    GroupId, HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse,
    LeaveGroupRequest, LeaveGroupResponse, ListGroupsRequest, ListGroupsResponse,
    OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse,
    ProduceRequest, ProduceResponse, SyncGroupRequest, SyncGroupResponse, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use crate::kafka::supported_apis::supported_range;
use crate::kafka::test_harness::{broker, call_as};
use crate::log::batch_builder::uncompressed_batch;
use crate::server::broker::Broker;

const CLIENT_ID: &str = "snapshot-test";
const SESSION_TIMEOUT_MS: i32 = 10_000;
const REBALANCE_TIMEOUT_MS: i32 = 10_000;

// Kafka error codes the tests assert on.
const NONE: i16 = 0;
const OFFSET_METADATA_TOO_LARGE: i16 = 12;
const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const ILLEGAL_GENERATION: i16 = 22;
const UNKNOWN_MEMBER_ID: i16 = 25;
const INVALID_SESSION_TIMEOUT: i16 = 26;
const REBALANCE_IN_PROGRESS: i16 = 27;
const NON_EMPTY_GROUP: i16 = 68;
const GROUP_ID_NOT_FOUND: i16 = 69;
const MEMBER_ID_REQUIRED: i16 = 79;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn group_id(v: &str) -> GroupId {
    GroupId(s(v))
}

fn topic_name(v: &str) -> TopicName {
    TopicName(s(v))
}

/// Encodes `request` at `version` as a client does, runs it through the
/// broker's dispatcher (from a fixed peer address) and decodes the response.
async fn call<Req: Encodable, Resp: Decodable>(
    broker: &Broker,
    api: ApiKey,
    version: i16,
    request: &Req,
) -> Resp {
    let peer: SocketAddr = "127.0.0.1:50000".parse().expect("an address");
    call_as(broker, api, version, request, CLIENT_ID, Some(peer)).await
}

async fn create_topic(broker: &Broker, name: &str, partitions: i32) {
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(30_000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(topic_name(name))
            .with_num_partitions(partitions)
            .with_replication_factor(1)]);
    let created: CreateTopicsResponse = call(broker, ApiKey::CreateTopics, 7, &request).await;
    assert_eq!(created.topics[0].error_code, NONE, "{name} is created");
}

/// Produces `count` records to `topic`/`partition` (acks=1), moving its high
/// watermark by `count`.
async fn produce(broker: &Broker, topic: &str, partition: i32, count: usize) {
    let records: Vec<(Option<Bytes>, Option<Bytes>)> = (0..count)
        .map(|i| {
            (
                Some(Bytes::from(format!("k{i}"))),
                Some(Bytes::from(format!("v{i}"))),
            )
        })
        .collect();
    let batch = Bytes::from(uncompressed_batch(&records, 1_600_000_000_000, 1));
    let request = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(5_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic_name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(batch))])]);
    let produced: ProduceResponse = call(broker, ApiKey::Produce, 9, &request).await;
    assert_eq!(
        produced.responses[0].partition_responses[0].error_code,
        NONE
    );
}

fn join_request(group: &str, member_id: &str, instance_id: Option<&str>) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(group_id(group))
        .with_session_timeout_ms(SESSION_TIMEOUT_MS)
        .with_rebalance_timeout_ms(REBALANCE_TIMEOUT_MS)
        .with_member_id(s(member_id))
        .with_group_instance_id(instance_id.map(s))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![
            JoinGroupRequestProtocol::default()
                .with_name(s("range"))
                .with_metadata(Bytes::from(format!("subscription of {member_id}"))),
            JoinGroupRequestProtocol::default()
                .with_name(s("roundrobin"))
                .with_metadata(Bytes::from_static(b"rr")),
        ])
}

fn sync_request(
    group: &str,
    generation_id: i32,
    member_id: &str,
    assignments: &[(&str, &str)],
) -> SyncGroupRequest {
    SyncGroupRequest::default()
        .with_group_id(group_id(group))
        .with_generation_id(generation_id)
        .with_member_id(s(member_id))
        .with_assignments(
            assignments
                .iter()
                .map(|(member, assignment)| {
                    SyncGroupRequestAssignment::default()
                        .with_member_id(s(member))
                        .with_assignment(Bytes::from(assignment.to_string()))
                })
                .collect(),
        )
}

fn heartbeat_request(group: &str, generation_id: i32, member_id: &str) -> HeartbeatRequest {
    HeartbeatRequest::default()
        .with_group_id(group_id(group))
        .with_generation_id(generation_id)
        .with_member_id(s(member_id))
}

/// (topic, partition, offset, metadata) commits of one request.
fn commit_request(
    group: &str,
    generation_id: i32,
    member_id: &str,
    commits: &[(&str, i32, i64, &str)],
) -> OffsetCommitRequest {
    let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
    for (topic, partition, offset, metadata) in commits {
        let p = OffsetCommitRequestPartition::default()
            .with_partition_index(*partition)
            .with_committed_offset(*offset)
            .with_committed_leader_epoch(-1)
            .with_committed_metadata(Some(s(metadata)));
        match topics.last_mut().filter(|t| t.name.0 == **topic) {
            Some(t) => t.partitions.push(p),
            None => topics.push(
                OffsetCommitRequestTopic::default()
                    .with_name(topic_name(topic))
                    .with_partitions(vec![p]),
            ),
        }
    }
    OffsetCommitRequest::default()
        .with_group_id(group_id(group))
        .with_generation_id_or_member_epoch(generation_id)
        .with_member_id(s(member_id))
        .with_topics(topics)
}

/// Partition (topic, partition) → error code, in response order.
fn commit_errors(response: &OffsetCommitResponse) -> Vec<(String, i32, i16)> {
    response
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.0.to_string(), p.partition_index, p.error_code))
        })
        .collect()
}

/// Requested (topic, partitions); `None`: every committed partition.
type FetchTopics<'a> = Option<&'a [(&'a str, &'a [i32])]>;

/// A v1–v7 OffsetFetch of one group.
fn fetch_request(group: &str, topics: FetchTopics<'_>) -> OffsetFetchRequest {
    OffsetFetchRequest::default()
        .with_group_id(group_id(group))
        .with_topics(topics.map(|topics| {
            topics
                .iter()
                .map(|(name, partitions)| {
                    OffsetFetchRequestTopic::default()
                        .with_name(topic_name(name))
                        .with_partition_indexes(partitions.to_vec())
                })
                .collect()
        }))
}

/// A v8+ batched OffsetFetch.
fn fetch_groups_request(groups: &[(&str, FetchTopics<'_>)]) -> OffsetFetchRequest {
    OffsetFetchRequest::default().with_groups(
        groups
            .iter()
            .map(|(group, topics)| {
                OffsetFetchRequestGroup::default()
                    .with_group_id(group_id(group))
                    .with_topics(topics.map(|topics| {
                        topics
                            .iter()
                            .map(|(name, partitions)| {
                                OffsetFetchRequestTopics::default()
                                    .with_name(topic_name(name))
                                    .with_partition_indexes(partitions.to_vec())
                            })
                            .collect()
                    }))
            })
            .collect(),
    )
}

#[tokio::test]
async fn find_coordinator() {
    let broker = broker().await;
    let v0: FindCoordinatorResponse = call(
        &broker,
        ApiKey::FindCoordinator,
        0,
        &FindCoordinatorRequest::default().with_key(s("g")),
    )
    .await;
    insta::assert_debug_snapshot!("find_coordinator_v0_group", v0);
    // librdkafka's version.
    let v2: FindCoordinatorResponse = call(
        &broker,
        ApiKey::FindCoordinator,
        2,
        &FindCoordinatorRequest::default().with_key(s("g")),
    )
    .await;
    insta::assert_debug_snapshot!("find_coordinator_v2_group", v2);
    let txn: FindCoordinatorResponse = call(
        &broker,
        ApiKey::FindCoordinator,
        3,
        &FindCoordinatorRequest::default()
            .with_key(s("txn"))
            .with_key_type(1),
    )
    .await;
    assert_eq!(txn.error_code, TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
    insta::assert_debug_snapshot!("find_coordinator_v3_transaction", txn);
    let batched: FindCoordinatorResponse = call(
        &broker,
        ApiKey::FindCoordinator,
        4,
        &FindCoordinatorRequest::default().with_coordinator_keys(vec![s("g1"), s("g2")]),
    )
    .await;
    insta::assert_debug_snapshot!("find_coordinator_v4_batched_groups", batched);
    let batched_txn: FindCoordinatorResponse = call(
        &broker,
        ApiKey::FindCoordinator,
        5,
        &FindCoordinatorRequest::default()
            .with_key_type(1)
            .with_coordinator_keys(vec![s("t1")]),
    )
    .await;
    assert_eq!(
        batched_txn.coordinators[0].error_code,
        TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    );
    insta::assert_debug_snapshot!("find_coordinator_v5_batched_transaction", batched_txn);
}

/// Two members join, sync and heartbeat at librdkafka's versions (JoinGroup
/// v5, SyncGroup v3, Heartbeat v3, OffsetCommit v7, OffsetFetch v7,
/// LeaveGroup v1, ListGroups v4, DescribeGroups v4, DeleteGroups v1), with
/// the commit errors a member can meet on the way.
#[tokio::test]
async fn two_members_librdkafka_versions() {
    let broker = broker().await;
    create_topic(&broker, "orders", 2).await;
    produce(&broker, "orders", 0, 3).await;
    const GROUP: &str = "shop";

    // v4+: a new member first gets its id with MEMBER_ID_REQUIRED.
    let a: JoinGroupResponse = call(
        &broker,
        ApiKey::JoinGroup,
        5,
        &join_request(GROUP, "", None),
    )
    .await;
    assert_eq!(a.error_code, MEMBER_ID_REQUIRED);
    insta::assert_debug_snapshot!("join_group_v5_member_id_required", a);
    let b: JoinGroupResponse = call(
        &broker,
        ApiKey::JoinGroup,
        5,
        &join_request(GROUP, "", None),
    )
    .await;
    assert_eq!(b.error_code, MEMBER_ID_REQUIRED);
    let (a_id, b_id) = (a.member_id.to_string(), b.member_id.to_string());
    assert_ne!(a_id, b_id);

    // A rejoins first (and becomes the leader), B shortly after; both wait
    // for the rebalance to complete.
    let join_a = tokio::spawn({
        let broker = Arc::clone(&broker);
        let request = join_request(GROUP, &a_id, None);
        async move {
            let response: JoinGroupResponse = call(&broker, ApiKey::JoinGroup, 5, &request).await;
            response
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let joined_b: JoinGroupResponse = call(
        &broker,
        ApiKey::JoinGroup,
        5,
        &join_request(GROUP, &b_id, None),
    )
    .await;
    let joined_a = join_a.await.expect("A's join completes");
    assert_eq!(joined_a.error_code, NONE);
    assert_eq!(joined_b.error_code, NONE);
    assert_eq!(joined_a.leader, a.member_id, "the first member leads");
    assert_eq!(joined_a.members.len(), 2, "the leader gets every member");
    assert!(joined_b.members.is_empty(), "a follower gets no members");
    insta::assert_debug_snapshot!("join_group_v5_leader", joined_a);
    insta::assert_debug_snapshot!("join_group_v5_follower", joined_b);
    let generation = joined_a.generation_id;

    let synced_a: SyncGroupResponse = call(
        &broker,
        ApiKey::SyncGroup,
        3,
        &sync_request(
            GROUP,
            generation,
            &a_id,
            &[(&a_id, "orders-0"), (&b_id, "orders-1")],
        ),
    )
    .await;
    insta::assert_debug_snapshot!("sync_group_v3_leader", synced_a);
    let synced_b: SyncGroupResponse = call(
        &broker,
        ApiKey::SyncGroup,
        3,
        &sync_request(GROUP, generation, &b_id, &[]),
    )
    .await;
    insta::assert_debug_snapshot!("sync_group_v3_follower", synced_b);
    assert_eq!(&synced_b.assignment[..], b"orders-1");

    for member in [&a_id, &b_id] {
        let beat: HeartbeatResponse = call(
            &broker,
            ApiKey::Heartbeat,
            3,
            &heartbeat_request(GROUP, generation, member),
        )
        .await;
        assert_eq!(beat.error_code, NONE, "{member} heartbeats");
    }
    let stale: HeartbeatResponse = call(
        &broker,
        ApiKey::Heartbeat,
        3,
        &heartbeat_request(GROUP, generation - 1, &a_id),
    )
    .await;
    assert_eq!(stale.error_code, ILLEGAL_GENERATION);
    insta::assert_debug_snapshot!("heartbeat_v3_stale_generation", stale);

    // Commits: a member's good commit; one past the high watermark, an
    // unknown topic and an unknown partition in the same request, answered
    // in request order.
    let committed: OffsetCommitResponse = call(
        &broker,
        ApiKey::OffsetCommit,
        7,
        &commit_request(
            GROUP,
            generation,
            &a_id,
            &[
                ("orders", 0, 3, "a"),
                ("orders", 1, 0, ""),
                ("orders", 7, 0, ""),
                ("gone", 0, 1, ""),
            ],
        ),
    )
    .await;
    assert_eq!(
        commit_errors(&committed),
        vec![
            ("orders".to_string(), 0, NONE),
            ("orders".to_string(), 1, NONE),
            ("orders".to_string(), 7, UNKNOWN_TOPIC_OR_PARTITION),
            ("gone".to_string(), 0, UNKNOWN_TOPIC_OR_PARTITION),
        ]
    );
    insta::assert_debug_snapshot!("offset_commit_v7_member_and_unknown_topic", committed);
    // Any offset is accepted, as in Kafka (orders-0 holds 3 records, so 4
    // is past its high watermark); metadata over `offset.metadata.max.bytes`
    // is refused for its partition only.
    let too_large = "m".repeat(4_097);
    let past_hw: OffsetCommitResponse = call(
        &broker,
        ApiKey::OffsetCommit,
        7,
        &commit_request(
            GROUP,
            generation,
            &a_id,
            &[
                ("orders", 1, 0, "kept"),
                ("orders", 0, 4, "past"),
                ("orders", 1, 2, &too_large),
            ],
        ),
    )
    .await;
    assert_eq!(
        commit_errors(&past_hw),
        vec![
            ("orders".to_string(), 1, NONE),
            ("orders".to_string(), 0, NONE),
            ("orders".to_string(), 1, OFFSET_METADATA_TOO_LARGE),
        ]
    );
    insta::assert_debug_snapshot!("offset_commit_v7_any_offset", past_hw);
    let stale_commit: OffsetCommitResponse = call(
        &broker,
        ApiKey::OffsetCommit,
        7,
        &commit_request(GROUP, generation - 1, &a_id, &[("orders", 0, 1, "")]),
    )
    .await;
    assert_eq!(
        stale_commit.topics[0].partitions[0].error_code,
        ILLEGAL_GENERATION
    );
    insta::assert_debug_snapshot!("offset_commit_v7_stale_generation", stale_commit);
    let non_member: OffsetCommitResponse = call(
        &broker,
        ApiKey::OffsetCommit,
        7,
        &commit_request(GROUP, generation, "intruder", &[("orders", 0, 1, "")]),
    )
    .await;
    assert_eq!(
        non_member.topics[0].partitions[0].error_code,
        UNKNOWN_MEMBER_ID
    );
    insta::assert_debug_snapshot!("offset_commit_v7_non_member", non_member);

    // What stuck: orders-0 at 4 ("past"), orders-1 at 0 ("kept"); the unknown
    // partition and topic have none.
    let fetched: OffsetFetchResponse = call(
        &broker,
        ApiKey::OffsetFetch,
        7,
        &fetch_request(GROUP, Some(&[("orders", &[0, 1, 7]), ("gone", &[0])])),
    )
    .await;
    insta::assert_debug_snapshot!("offset_fetch_v7_after_commits", fetched);

    let listed: ListGroupsResponse = call(
        &broker,
        ApiKey::ListGroups,
        4,
        &ListGroupsRequest::default().with_states_filter(vec![s("stable")]),
    )
    .await;
    insta::assert_debug_snapshot!("list_groups_v4_stable", listed);
    let described: DescribeGroupsResponse = call(
        &broker,
        ApiKey::DescribeGroups,
        4,
        &DescribeGroupsRequest::default().with_groups(vec![group_id(GROUP), group_id("nobody")]),
    )
    .await;
    insta::assert_debug_snapshot!("describe_groups_v4_stable_and_unknown", described);
    let not_empty: DeleteGroupsResponse = call(
        &broker,
        ApiKey::DeleteGroups,
        1,
        &DeleteGroupsRequest::default().with_groups_names(vec![group_id(GROUP)]),
    )
    .await;
    assert_eq!(not_empty.results[0].error_code, NON_EMPTY_GROUP);

    // B leaves: A learns of the rebalance from its heartbeat.
    let left: LeaveGroupResponse = call(
        &broker,
        ApiKey::LeaveGroup,
        1,
        &LeaveGroupRequest::default()
            .with_group_id(group_id(GROUP))
            .with_member_id(s(&b_id)),
    )
    .await;
    insta::assert_debug_snapshot!("leave_group_v1", left);
    let again: LeaveGroupResponse = call(
        &broker,
        ApiKey::LeaveGroup,
        1,
        &LeaveGroupRequest::default()
            .with_group_id(group_id(GROUP))
            .with_member_id(s(&b_id)),
    )
    .await;
    assert_eq!(
        again.error_code, UNKNOWN_MEMBER_ID,
        "v0–v2: the member's error is the top-level error"
    );
    let rebalancing: HeartbeatResponse = call(
        &broker,
        ApiKey::Heartbeat,
        3,
        &heartbeat_request(GROUP, generation, &a_id),
    )
    .await;
    assert_eq!(rebalancing.error_code, REBALANCE_IN_PROGRESS);
}

/// One static member at the Java client's newest versions (JoinGroup v9,
/// SyncGroup v5, Heartbeat v4, OffsetCommit v9, OffsetFetch v9 batched,
/// LeaveGroup v5, ListGroups v5, DescribeGroups v5, DeleteGroups v2).
#[tokio::test]
async fn static_member_java_versions() {
    let broker = broker().await;
    create_topic(&broker, "events", 1).await;
    produce(&broker, "events", 0, 5).await;
    const GROUP: &str = "java-app";

    // A static member (group.instance.id) joins without MEMBER_ID_REQUIRED.
    let joined: JoinGroupResponse = call(
        &broker,
        ApiKey::JoinGroup,
        9,
        &join_request(GROUP, "", Some("instance-1")),
    )
    .await;
    assert_eq!(joined.error_code, NONE);
    insta::assert_debug_snapshot!("join_group_v9_static_leader", joined);
    let member = joined.member_id.to_string();
    let generation = joined.generation_id;

    let synced: SyncGroupResponse = call(
        &broker,
        ApiKey::SyncGroup,
        5,
        &sync_request(GROUP, generation, &member, &[(&member, "events-0")])
            .with_group_instance_id(Some(s("instance-1")))
            .with_protocol_type(Some(s("consumer")))
            .with_protocol_name(Some(s("range"))),
    )
    .await;
    insta::assert_debug_snapshot!("sync_group_v5_leader", synced);
    let beat: HeartbeatResponse = call(
        &broker,
        ApiKey::Heartbeat,
        4,
        &heartbeat_request(GROUP, generation, &member)
            .with_group_instance_id(Some(s("instance-1"))),
    )
    .await;
    assert_eq!(beat.error_code, NONE);

    let committed: OffsetCommitResponse = call(
        &broker,
        ApiKey::OffsetCommit,
        9,
        &commit_request(GROUP, generation, &member, &[("events", 0, 5, "meta")])
            .with_group_instance_id(Some(s("instance-1"))),
    )
    .await;
    insta::assert_debug_snapshot!("offset_commit_v9_static_member", committed);
    // v9: an unknown group with a generation is GROUP_ID_NOT_FOUND.
    let unknown_group: OffsetCommitResponse = call(
        &broker,
        ApiKey::OffsetCommit,
        9,
        &commit_request("no-such-group", 3, "m", &[("events", 0, 1, "")]),
    )
    .await;
    assert_eq!(
        unknown_group.topics[0].partitions[0].error_code,
        GROUP_ID_NOT_FOUND
    );

    let fetched: OffsetFetchResponse = call(
        &broker,
        ApiKey::OffsetFetch,
        9,
        &fetch_groups_request(&[
            (GROUP, Some(&[("events", &[0, 1])])),
            (GROUP, None),
            ("no-such-group", None),
        ]),
    )
    .await;
    insta::assert_debug_snapshot!("offset_fetch_v9_batched", fetched);

    let listed: ListGroupsResponse = call(
        &broker,
        ApiKey::ListGroups,
        5,
        &ListGroupsRequest::default().with_types_filter(vec![s("Classic")]),
    )
    .await;
    insta::assert_debug_snapshot!("list_groups_v5_classic", listed);
    let consumer_type: ListGroupsResponse = call(
        &broker,
        ApiKey::ListGroups,
        5,
        &ListGroupsRequest::default().with_types_filter(vec![s("consumer")]),
    )
    .await;
    assert!(
        consumer_type.groups.is_empty(),
        "no group uses the consumer protocol"
    );
    let described: DescribeGroupsResponse = call(
        &broker,
        ApiKey::DescribeGroups,
        5,
        &DescribeGroupsRequest::default().with_groups(vec![group_id(GROUP)]),
    )
    .await;
    insta::assert_debug_snapshot!("describe_groups_v5_static_member", described);

    let left: LeaveGroupResponse = call(
        &broker,
        ApiKey::LeaveGroup,
        5,
        &LeaveGroupRequest::default()
            .with_group_id(group_id(GROUP))
            .with_members(vec![
                MemberIdentity::default()
                    .with_member_id(s(&member))
                    .with_group_instance_id(Some(s("instance-1"))),
                MemberIdentity::default().with_member_id(s("stranger")),
            ]),
    )
    .await;
    insta::assert_debug_snapshot!("leave_group_v5_batched", left);

    let deleted: DeleteGroupsResponse = call(
        &broker,
        ApiKey::DeleteGroups,
        2,
        &DeleteGroupsRequest::default()
            .with_groups_names(vec![group_id(GROUP), group_id("no-such-group")]),
    )
    .await;
    insta::assert_debug_snapshot!("delete_groups_v2_empty_and_unknown", deleted);
    let after: OffsetFetchResponse = call(
        &broker,
        ApiKey::OffsetFetch,
        9,
        &fetch_groups_request(&[(GROUP, None)]),
    )
    .await;
    assert!(
        after.groups[0].topics.is_empty(),
        "a deleted group's offsets are gone"
    );
}

/// Commits outside group management (generation -1, no member), as
/// kafka-python's and admin tools' "simple" consumers do, read back at old
/// and new OffsetFetch versions.
#[tokio::test]
async fn simple_commit_fetch_round_trip() {
    let broker = broker().await;
    create_topic(&broker, "clicks", 2).await;
    produce(&broker, "clicks", 1, 4).await;
    const GROUP: &str = "simple";

    let committed: OffsetCommitResponse = call(
        &broker,
        ApiKey::OffsetCommit,
        2,
        &commit_request(
            GROUP,
            -1,
            "",
            &[("clicks", 0, 0, ""), ("clicks", 1, 4, "end")],
        ),
    )
    .await;
    insta::assert_debug_snapshot!("offset_commit_v2_simple", committed);

    for version in [1, 5] {
        let fetched: OffsetFetchResponse = call(
            &broker,
            ApiKey::OffsetFetch,
            version,
            &fetch_request(GROUP, Some(&[("clicks", &[0, 1]), ("nope", &[3])])),
        )
        .await;
        insta::assert_debug_snapshot!(format!("offset_fetch_v{version}_simple"), fetched);
    }
    let all: OffsetFetchResponse =
        call(&broker, ApiKey::OffsetFetch, 6, &fetch_request(GROUP, None)).await;
    insta::assert_debug_snapshot!("offset_fetch_v6_all_topics", all);

    let listed: ListGroupsResponse = call(
        &broker,
        ApiKey::ListGroups,
        0,
        &ListGroupsRequest::default(),
    )
    .await;
    insta::assert_debug_snapshot!("list_groups_v0", listed);
    let unknown_state: ListGroupsResponse = call(
        &broker,
        ApiKey::ListGroups,
        4,
        &ListGroupsRequest::default().with_states_filter(vec![s("Assigning")]),
    )
    .await;
    assert!(
        unknown_state.groups.is_empty(),
        "a state no classic group has matches nothing"
    );
    let deleted: DeleteGroupsResponse = call(
        &broker,
        ApiKey::DeleteGroups,
        0,
        &DeleteGroupsRequest::default().with_groups_names(vec![group_id(GROUP)]),
    )
    .await;
    assert_eq!(deleted.results[0].error_code, NONE);
}

/// Every advertised version of every group API is answered with a response
/// that encodes and decodes at that version (version-gated fields are set
/// only where they exist).
#[tokio::test]
async fn every_advertised_version_answers() {
    let broker = broker().await;
    create_topic(&broker, "t", 1).await;
    let range = |api| supported_range(api).expect("advertised");

    let (min, max) = range(ApiKey::FindCoordinator);
    for v in min..=max {
        let request = if v >= 4 {
            FindCoordinatorRequest::default().with_coordinator_keys(vec![s("g")])
        } else {
            FindCoordinatorRequest::default().with_key(s("g"))
        };
        let _: FindCoordinatorResponse = call(&broker, ApiKey::FindCoordinator, v, &request).await;
    }
    let (min, max) = range(ApiKey::JoinGroup);
    for v in min..=max {
        // An invalid session timeout is refused at once, at every version.
        let request = join_request("g", "", None).with_session_timeout_ms(1);
        let joined: JoinGroupResponse = call(&broker, ApiKey::JoinGroup, v, &request).await;
        assert_eq!(joined.error_code, INVALID_SESSION_TIMEOUT, "JoinGroup v{v}");
    }
    let (min, max) = range(ApiKey::SyncGroup);
    for v in min..=max {
        let synced: SyncGroupResponse = call(
            &broker,
            ApiKey::SyncGroup,
            v,
            &sync_request("g", 1, "m", &[("m", "x")]),
        )
        .await;
        assert_ne!(synced.error_code, NONE, "SyncGroup v{v}");
    }
    let (min, max) = range(ApiKey::Heartbeat);
    for v in min..=max {
        let beat: HeartbeatResponse = call(
            &broker,
            ApiKey::Heartbeat,
            v,
            &heartbeat_request("g", 1, "m"),
        )
        .await;
        assert_ne!(beat.error_code, NONE, "Heartbeat v{v}");
    }
    let (min, max) = range(ApiKey::LeaveGroup);
    for v in min..=max {
        let request = LeaveGroupRequest::default().with_group_id(group_id("g"));
        let request = if v >= 3 {
            request.with_members(vec![MemberIdentity::default().with_member_id(s("m"))])
        } else {
            request.with_member_id(s("m"))
        };
        let _: LeaveGroupResponse = call(&broker, ApiKey::LeaveGroup, v, &request).await;
    }
    let (min, max) = range(ApiKey::OffsetCommit);
    for v in min..=max {
        let committed: OffsetCommitResponse = call(
            &broker,
            ApiKey::OffsetCommit,
            v,
            &commit_request("simple", -1, "", &[("t", 0, 0, ""), ("u", 0, 0, "")]),
        )
        .await;
        assert_eq!(
            commit_errors(&committed),
            vec![
                ("t".to_string(), 0, NONE),
                ("u".to_string(), 0, UNKNOWN_TOPIC_OR_PARTITION)
            ],
            "OffsetCommit v{v}"
        );
    }
    let (min, max) = range(ApiKey::OffsetFetch);
    for v in min..=max {
        let request = if v >= 8 {
            fetch_groups_request(&[("simple", Some(&[("t", &[0])]))])
        } else {
            fetch_request("simple", Some(&[("t", &[0])]))
        };
        let _: OffsetFetchResponse = call(&broker, ApiKey::OffsetFetch, v, &request).await;
    }
    let (min, max) = range(ApiKey::ListGroups);
    for v in min..=max {
        let listed: ListGroupsResponse = call(
            &broker,
            ApiKey::ListGroups,
            v,
            &ListGroupsRequest::default(),
        )
        .await;
        assert_eq!(listed.groups.len(), 1, "ListGroups v{v}");
    }
    let (min, max) = range(ApiKey::DescribeGroups);
    for v in min..=max {
        let request = DescribeGroupsRequest::default().with_groups(vec![group_id("simple")]);
        let request = if v >= 3 {
            request.with_include_authorized_operations(true)
        } else {
            request
        };
        let _: DescribeGroupsResponse = call(&broker, ApiKey::DescribeGroups, v, &request).await;
    }
    let (min, max) = range(ApiKey::DeleteGroups);
    for v in min..=max {
        let _: DeleteGroupsResponse = call(
            &broker,
            ApiKey::DeleteGroups,
            v,
            &DeleteGroupsRequest::default().with_groups_names(vec![group_id("none")]),
        )
        .await;
    }
}
