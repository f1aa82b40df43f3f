//! One request body per API the broker advertises, built as the
//! `kafka-protocol` struct with random field values and encoded at the
//! chosen version, so it gets past the decoder and into the handler.
//!
//! Fields a version does not carry are dropped by the encoder, except a few
//! that it refuses when set; those are left at their defaults below the
//! version that has them.

use bytes::BytesMut;
use kafka_protocol::messages::create_partitions_request::{
    CreatePartitionsAssignment, CreatePartitionsTopic,
};
use kafka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};
use rand::Rng;

use crate::fuzz::batches;
use crate::fuzz::values::Gen;

fn s(v: String) -> StrBytes {
    StrBytes::from_string(v)
}

fn topic_name(g: &mut Gen) -> TopicName {
    TopicName(s(g.topic()))
}

fn group_id(g: &mut Gen) -> GroupId {
    GroupId(s(g.group()))
}

/// The encoded body of a random `api` request at `version`.
pub fn body(g: &mut Gen, api: ApiKey, version: i16) -> Result<BytesMut, String> {
    let mut buf = BytesMut::new();
    macro_rules! enc {
        ($e:expr) => {
            $e.encode(&mut buf, version).map_err(|e| e.to_string())?
        };
    }
    match api {
        ApiKey::Produce => enc!(produce(g, version)),
        ApiKey::Fetch => enc!(fetch(g, version)),
        ApiKey::ListOffsets => enc!(list_offsets(g, version)),
        ApiKey::Metadata => enc!(metadata(g, version)),
        ApiKey::ApiVersions => enc!(api_versions(g, version)),
        ApiKey::CreateTopics => enc!(create_topics(g, version)),
        ApiKey::DeleteTopics => enc!(delete_topics(g, version)),
        ApiKey::DescribeConfigs => enc!(describe_configs(g, version)),
        ApiKey::CreatePartitions => enc!(create_partitions(g)),
        ApiKey::InitProducerId => enc!(init_producer_id(g, version)),
        ApiKey::FindCoordinator => enc!(find_coordinator(g, version)),
        ApiKey::JoinGroup => enc!(join_group(g, version)),
        ApiKey::SyncGroup => enc!(sync_group(g, version)),
        ApiKey::Heartbeat => enc!(heartbeat(g, version)),
        ApiKey::LeaveGroup => enc!(leave_group(g, version)),
        ApiKey::OffsetCommit => enc!(offset_commit(g, version)),
        ApiKey::OffsetFetch => enc!(offset_fetch(g, version)),
        ApiKey::ListGroups => enc!(list_groups(g, version)),
        ApiKey::DescribeGroups => enc!(describe_groups(g, version)),
        ApiKey::DeleteGroups => enc!(delete_groups(g)),
        ApiKey::CreateAcls => enc!(create_acls(g)),
        ApiKey::DescribeAcls => enc!(describe_acls(g)),
        ApiKey::DeleteAcls => enc!(delete_acls(g)),
        ApiKey::DescribeUserScramCredentials => enc!(describe_user_scram_credentials(g)),
        ApiKey::AlterUserScramCredentials => enc!(alter_user_scram_credentials(g)),
        other => return Err(format!("no generator for {other:?}")),
    }
    Ok(buf)
}

fn produce(g: &mut Gen, version: i16) -> ProduceRequest {
    let mut r = ProduceRequest::default();
    r.acks = *g.pick(&[-1, -1, 1, 1, 0, 2, -2]);
    r.timeout_ms = g.wait_ms();
    if version >= 3 && g.chance(0.05) {
        r.transactional_id = Some(TransactionalId(s(g.short_string())));
    }
    r.topic_data = (0..g.count().max(1))
        .map(|_| {
            let mut t = TopicProduceData::default();
            t.name = topic_name(g);
            t.partition_data = (0..g.count().max(1))
                .map(|_| {
                    let mut p = PartitionProduceData::default();
                    p.index = g.partition();
                    p.records = batches::records_field(g);
                    p
                })
                .collect();
            t
        })
        .collect();
    r
}

fn fetch(g: &mut Gen, version: i16) -> FetchRequest {
    let mut r = FetchRequest::default();
    if g.chance(0.1) {
        r.replica_id = BrokerId(*g.pick(&[0, 1, 2, -2]));
    }
    r.max_wait_ms = g.wait_ms();
    r.min_bytes = *g.pick(&[0, 1, 1, 1000, i32::MAX, -1]);
    r.max_bytes = g.max_bytes();
    r.isolation_level = *g.pick(&[0, 1, 2, -1]);
    if version >= 7 {
        r.session_id = *g.pick(&[0, 0, 1, -1]);
        r.session_epoch = *g.pick(&[-1, -1, 0, 1, i32::MAX]);
    }
    if version >= 11 {
        r.rack_id = s(g.short_string());
    }
    // Sometimes the same partition many times (fetch amplification).
    let repeat = if g.chance(0.05) {
        g.rng.gen_range(2..60)
    } else {
        1
    };
    let topics = g.count();
    r.topics = (0..topics)
        .map(|_| {
            let mut t = FetchTopic::default();
            t.topic = topic_name(g);
            let parts: Vec<FetchPartition> = (0..g.count())
                .map(|_| {
                    let mut p = FetchPartition::default();
                    p.partition = g.partition();
                    if version >= 9 {
                        p.current_leader_epoch = *g.pick(&[-1, 0, 1, i32::MAX]);
                    }
                    p.fetch_offset = g.offset();
                    if version >= 12 {
                        p.last_fetched_epoch = *g.pick(&[-1, 0, 1]);
                    }
                    p.log_start_offset = *g.pick(&[-1, 0, 5]);
                    p.partition_max_bytes = g.max_bytes();
                    p
                })
                .collect();
            t.partitions = (0..repeat).flat_map(|_| parts.clone()).collect();
            t
        })
        .collect();
    if version >= 7 && g.chance(0.1) {
        let mut f = ForgottenTopic::default();
        f.topic = topic_name(g);
        f.partitions = vec![g.partition()];
        r.forgotten_topics_data = vec![f];
    }
    r
}

fn list_offsets(g: &mut Gen, version: i16) -> ListOffsetsRequest {
    let mut r = ListOffsetsRequest::default();
    r.replica_id = BrokerId(*g.pick(&[-1, -1, 0, 1, -2]));
    if version >= 2 {
        r.isolation_level = *g.pick(&[0, 1, 2, -1]);
    }
    r.topics = (0..g.count())
        .map(|_| {
            let mut t = ListOffsetsTopic::default();
            t.name = topic_name(g);
            t.partitions = (0..g.count())
                .map(|_| {
                    let mut p = ListOffsetsPartition::default();
                    p.partition_index = g.partition();
                    if version >= 4 {
                        p.current_leader_epoch = *g.pick(&[-1, 0, 1, i32::MAX]);
                    }
                    p.timestamp = match g.below(4) {
                        0 => -1,
                        1 => -2,
                        2 => *g.pick(&[-3, -4, -5]),
                        _ => g.offset(),
                    };
                    p
                })
                .collect();
            t
        })
        .collect();
    r
}

fn metadata(g: &mut Gen, version: i16) -> MetadataRequest {
    let mut r = MetadataRequest::default();
    // v0 has no null (all topics) list.
    let all = version >= 1 && g.chance(0.3);
    r.topics = if all {
        None
    } else {
        Some(
            (0..g.count())
                .map(|_| {
                    let mut t = MetadataRequestTopic::default();
                    t.name = Some(topic_name(g));
                    t
                })
                .collect(),
        )
    };
    if version >= 4 {
        r.allow_auto_topic_creation = g.chance(0.5);
    } else {
        r.allow_auto_topic_creation = true;
    }
    if (8..=10).contains(&version) {
        r.include_cluster_authorized_operations = g.chance(0.3);
    }
    if version >= 8 {
        r.include_topic_authorized_operations = g.chance(0.3);
    }
    r
}

fn api_versions(g: &mut Gen, version: i16) -> ApiVersionsRequest {
    let mut r = ApiVersionsRequest::default();
    if version >= 3 {
        r.client_software_name = s(g.short_string());
        r.client_software_version = s(g.short_string());
    }
    r
}

fn create_topics(g: &mut Gen, version: i16) -> CreateTopicsRequest {
    let mut r = CreateTopicsRequest::default();
    r.timeout_ms = g.wait_ms();
    r.validate_only = g.chance(0.2);
    r.topics = (0..g.count())
        .map(|_| {
            let mut t = CreatableTopic::default();
            t.name = topic_name(g);
            t.num_partitions = match g.below(5) {
                0 => g.i32_extreme(),
                1 => -1,
                _ => g.rng.gen_range(1..4),
            };
            t.replication_factor = *g.pick(&[-1, 1, 1, 0, 2, i16::MAX]);
            if g.chance(0.1) {
                let mut a = CreatableReplicaAssignment::default();
                a.partition_index = g.partition();
                a.broker_ids = vec![BrokerId(*g.pick(&[1, 0, 2, -1]))];
                t.assignments = vec![a];
            }
            t.configs = (0..if g.chance(0.3) { g.count() } else { 0 })
                .map(|_| {
                    let mut c = CreatableTopicConfig::default();
                    c.name = s((*g.pick(&[
                        "cleanup.policy",
                        "retention.ms",
                        "retention.bytes",
                        "segment.bytes",
                        "compression.type",
                        "max.message.bytes",
                        "min.insync.replicas",
                        "message.timestamp.type",
                        "no.such.config",
                        "",
                    ]))
                    .to_string());
                    c.value = g.opt(0.1, |g| {
                        s((*g.pick(&[
                            "compact",
                            "delete",
                            "compact,delete",
                            "-1",
                            "0",
                            "1",
                            "9223372036854775807",
                            "99999999999999999999",
                            "zstd",
                            "bogus",
                            "",
                        ]))
                        .to_string())
                    });
                    c
                })
                .collect();
            t
        })
        .collect();
    let _ = version;
    r
}

fn delete_topics(g: &mut Gen, version: i16) -> DeleteTopicsRequest {
    let mut r = DeleteTopicsRequest::default();
    r.timeout_ms = g.wait_ms();
    // Deleting a baseline topic is rare, so most episodes keep their data.
    let name = |g: &mut Gen| {
        let t = g.topic();
        if t.starts_with("fuzz-") && !t.starts_with("fuzz-new") && !g.chance(0.1) {
            TopicName(s(format!("fuzz-new-{}", g.below(4))))
        } else {
            TopicName(s(t))
        }
    };
    if version >= 6 {
        r.topics = (0..g.count())
            .map(|_| {
                let mut t = DeleteTopicState::default();
                t.name = g.opt(0.1, |g| name(g));
                t
            })
            .collect();
    } else {
        r.topic_names = (0..g.count()).map(|_| name(g)).collect();
    }
    r
}

fn describe_configs(g: &mut Gen, version: i16) -> DescribeConfigsRequest {
    let mut r = DescribeConfigsRequest::default();
    r.resources = (0..g.count())
        .map(|_| {
            let mut c = DescribeConfigsResource::default();
            c.resource_type = *g.pick(&[2, 2, 4, 4, 0, 1, 3, 8, -1]);
            c.resource_name = match c.resource_type {
                4 => s(g.pick(&["1", "0", "", "x"]).to_string()),
                _ => s(g.topic()),
            };
            c.configuration_keys = g.opt(0.5, |g| {
                (0..g.count())
                    .map(|_| {
                        s(g.pick(&["retention.ms", "cleanup.policy", "x", ""])
                            .to_string())
                    })
                    .collect()
            });
            c
        })
        .collect();
    r.include_synonyms = g.chance(0.5);
    if version >= 3 {
        r.include_documentation = g.chance(0.5);
    }
    r
}

fn create_partitions(g: &mut Gen) -> CreatePartitionsRequest {
    let mut r = CreatePartitionsRequest::default();
    r.timeout_ms = g.wait_ms();
    r.validate_only = g.chance(0.2);
    r.topics = (0..g.count())
        .map(|_| {
            let mut t = CreatePartitionsTopic::default();
            t.name = topic_name(g);
            t.count = match g.below(4) {
                0 => g.i32_extreme(),
                _ => g.rng.gen_range(0..8),
            };
            if g.chance(0.1) {
                let mut a = CreatePartitionsAssignment::default();
                a.broker_ids = vec![BrokerId(*g.pick(&[1, 0, -1]))];
                t.assignments = Some(vec![a]);
            }
            t
        })
        .collect();
    r
}

fn init_producer_id(g: &mut Gen, version: i16) -> InitProducerIdRequest {
    let mut r = InitProducerIdRequest::default();
    r.transactional_id = g.opt(0.8, |g| TransactionalId(s(g.short_string())));
    r.transaction_timeout_ms = *g.pick(&[0, -1, 60_000, i32::MAX]);
    if version >= 3 {
        r.producer_id = ProducerId(*g.pick(&[-1, -1, 0, 1, i64::MAX]));
        r.producer_epoch = *g.pick(&[-1, -1, 0, 1, i16::MAX]);
    }
    r
}

fn find_coordinator(g: &mut Gen, version: i16) -> FindCoordinatorRequest {
    let mut r = FindCoordinatorRequest::default();
    if version >= 1 {
        r.key_type = *g.pick(&[0, 0, 1, 2, -1]);
    }
    if version >= 4 {
        r.coordinator_keys = (0..g.count()).map(|_| s(g.group())).collect();
    } else {
        r.key = s(g.group());
    }
    r
}

fn protocols(g: &mut Gen) -> Vec<JoinGroupRequestProtocol> {
    (0..g.count())
        .map(|_| {
            let mut p = JoinGroupRequestProtocol::default();
            p.name = s(g
                .pick(&["range", "roundrobin", "cooperative-sticky", ""])
                .to_string());
            p.metadata = g.bytes(40);
            p
        })
        .collect()
}

fn member_id(g: &mut Gen) -> StrBytes {
    s(match g.below(4) {
        0 => String::new(),
        1 => "m".repeat(300),
        _ => g.short_string(),
    })
}

fn join_group(g: &mut Gen, version: i16) -> JoinGroupRequest {
    let mut r = JoinGroupRequest::default();
    r.group_id = group_id(g);
    r.session_timeout_ms = *g.pick(&[-1, 0, 10, 6000, 45_000, i32::MAX]);
    if version >= 1 {
        r.rebalance_timeout_ms = *g.pick(&[-1, 0, 10, 100, i32::MAX]);
    }
    r.member_id = member_id(g);
    if version >= 5 {
        r.group_instance_id = g.opt(0.7, |g| s(g.short_string()));
    }
    r.protocol_type = s(g.pick(&["consumer", "connect", ""]).to_string());
    r.protocols = protocols(g);
    if version >= 8 {
        r.reason = g.opt(0.5, |g| s(g.short_string()));
    }
    r
}

fn sync_group(g: &mut Gen, version: i16) -> SyncGroupRequest {
    let mut r = SyncGroupRequest::default();
    r.group_id = group_id(g);
    r.generation_id = *g.pick(&[-1, 0, 1, 2, i32::MAX]);
    r.member_id = member_id(g);
    if version >= 3 {
        r.group_instance_id = g.opt(0.7, |g| s(g.short_string()));
    }
    if version >= 5 {
        r.protocol_type = g.opt(0.3, |g| s(g.pick(&["consumer", "x"]).to_string()));
        r.protocol_name = g.opt(0.3, |g| s(g.pick(&["range", "x"]).to_string()));
    }
    r.assignments = (0..g.count())
        .map(|_| {
            let mut a = SyncGroupRequestAssignment::default();
            a.member_id = member_id(g);
            a.assignment = g.bytes(40);
            a
        })
        .collect();
    r
}

fn heartbeat(g: &mut Gen, version: i16) -> HeartbeatRequest {
    let mut r = HeartbeatRequest::default();
    r.group_id = group_id(g);
    r.generation_id = *g.pick(&[-1, 0, 1, 2, i32::MAX]);
    r.member_id = member_id(g);
    if version >= 3 {
        r.group_instance_id = g.opt(0.7, |g| s(g.short_string()));
    }
    r
}

fn leave_group(g: &mut Gen, version: i16) -> LeaveGroupRequest {
    let mut r = LeaveGroupRequest::default();
    r.group_id = group_id(g);
    if version >= 3 {
        r.members = (0..g.count())
            .map(|_| {
                let mut m = MemberIdentity::default();
                m.member_id = member_id(g);
                m.group_instance_id = g.opt(0.6, |g| s(g.short_string()));
                if version >= 5 {
                    m.reason = g.opt(0.5, |g| s(g.short_string()));
                }
                m
            })
            .collect();
    } else {
        r.member_id = member_id(g);
    }
    r
}

fn offset_commit(g: &mut Gen, version: i16) -> OffsetCommitRequest {
    let mut r = OffsetCommitRequest::default();
    r.group_id = group_id(g);
    r.generation_id_or_member_epoch = *g.pick(&[-1, -1, 0, 1, i32::MAX]);
    r.member_id = s(if g.chance(0.5) {
        String::new()
    } else {
        g.short_string()
    });
    if version >= 7 {
        r.group_instance_id = g.opt(0.8, |g| s(g.short_string()));
    }
    if (2..=4).contains(&version) {
        r.retention_time_ms = *g.pick(&[-1, 0, i64::MAX]);
    }
    r.topics = (0..g.count())
        .map(|_| {
            let mut t = OffsetCommitRequestTopic::default();
            t.name = topic_name(g);
            t.partitions = (0..g.count())
                .map(|_| {
                    let mut p = OffsetCommitRequestPartition::default();
                    p.partition_index = g.partition();
                    p.committed_offset = g.offset();
                    if version >= 6 {
                        p.committed_leader_epoch = *g.pick(&[-1, 0, i32::MAX]);
                    }
                    p.committed_metadata = g.opt(0.2, |g| {
                        s(if g.chance(0.1) {
                            "m".repeat(5000)
                        } else {
                            g.short_string()
                        })
                    });
                    p
                })
                .collect();
            t
        })
        .collect();
    r
}

fn offset_fetch(g: &mut Gen, version: i16) -> OffsetFetchRequest {
    let mut r = OffsetFetchRequest::default();
    let topics_of = |g: &mut Gen| -> Vec<(TopicName, Vec<i32>)> {
        (0..g.count())
            .map(|_| {
                (
                    topic_name(g),
                    (0..g.count()).map(|_| g.partition()).collect(),
                )
            })
            .collect()
    };
    if version >= 8 {
        r.groups = (0..g.count().max(1))
            .map(|_| {
                let mut gr = OffsetFetchRequestGroup::default();
                gr.group_id = group_id(g);
                gr.topics = g.opt(0.3, |g| {
                    topics_of(g)
                        .into_iter()
                        .map(|(name, parts)| {
                            let mut t = OffsetFetchRequestTopics::default();
                            t.name = name;
                            t.partition_indexes = parts;
                            t
                        })
                        .collect()
                });
                gr
            })
            .collect();
    } else {
        r.group_id = group_id(g);
        // Null (all topics) exists from v2.
        let null = version >= 2 && g.chance(0.3);
        r.topics = if null {
            None
        } else {
            Some(
                topics_of(g)
                    .into_iter()
                    .map(|(name, parts)| {
                        let mut t = OffsetFetchRequestTopic::default();
                        t.name = name;
                        t.partition_indexes = parts;
                        t
                    })
                    .collect(),
            )
        };
    }
    if version >= 7 {
        r.require_stable = g.chance(0.3);
    }
    r
}

fn list_groups(g: &mut Gen, version: i16) -> ListGroupsRequest {
    let mut r = ListGroupsRequest::default();
    if version >= 4 {
        r.states_filter = (0..if g.chance(0.3) { g.count() } else { 0 })
            .map(|_| {
                s(g.pick(&["Stable", "Empty", "Dead", "bogus", ""])
                    .to_string())
            })
            .collect();
    }
    if version >= 5 {
        r.types_filter = (0..if g.chance(0.3) { g.count() } else { 0 })
            .map(|_| s(g.pick(&["classic", "consumer", "bogus"]).to_string()))
            .collect();
    }
    r
}

fn describe_groups(g: &mut Gen, version: i16) -> DescribeGroupsRequest {
    let mut r = DescribeGroupsRequest::default();
    r.groups = (0..g.count()).map(|_| group_id(g)).collect();
    if version >= 3 {
        r.include_authorized_operations = g.chance(0.3);
    }
    r
}

fn delete_groups(g: &mut Gen) -> DeleteGroupsRequest {
    let mut r = DeleteGroupsRequest::default();
    r.groups_names = (0..g.count()).map(|_| group_id(g)).collect();
    r
}

/// An ACL code: mostly valid ones (resource type 0..=7, pattern type
/// 0..=4, operation 0..=14, permission 0..=3), sometimes any byte.
fn acl_code(g: &mut Gen, max: i8) -> i8 {
    if g.chance(0.1) {
        g.i8_any()
    } else {
        g.below(max as usize + 1) as i8
    }
}

fn acl_string(g: &mut Gen) -> StrBytes {
    let text = match g.below(5) {
        0 => "*".to_string(),
        1 => "User:ANONYMOUS".to_string(),
        2 => "kafka-cluster".to_string(),
        _ => g.short_string(),
    };
    s(text)
}

fn create_acls(g: &mut Gen) -> CreateAclsRequest {
    let mut r = CreateAclsRequest::default();
    r.creations = (0..g.count())
        .map(|_| {
            let mut c = create_acls_request::AclCreation::default();
            c.resource_type = acl_code(g, 7);
            c.resource_name = if g.chance(0.5) {
                s(g.topic())
            } else {
                acl_string(g)
            };
            c.resource_pattern_type = acl_code(g, 4);
            c.principal = acl_string(g);
            c.host = acl_string(g);
            c.operation = acl_code(g, 14);
            c.permission_type = acl_code(g, 3);
            c
        })
        .collect();
    r
}

fn describe_acls(g: &mut Gen) -> DescribeAclsRequest {
    let mut r = DescribeAclsRequest::default();
    r.resource_type_filter = acl_code(g, 7);
    r.resource_name_filter = g.opt(0.5, acl_string);
    r.pattern_type_filter = acl_code(g, 4);
    r.principal_filter = g.opt(0.5, acl_string);
    r.host_filter = g.opt(0.5, acl_string);
    r.operation = acl_code(g, 14);
    r.permission_type = acl_code(g, 3);
    r
}

fn delete_acls(g: &mut Gen) -> DeleteAclsRequest {
    let mut r = DeleteAclsRequest::default();
    r.filters = (0..g.count())
        .map(|_| {
            let mut f = delete_acls_request::DeleteAclsFilter::default();
            f.resource_type_filter = acl_code(g, 7);
            f.resource_name_filter = g.opt(0.5, acl_string);
            f.pattern_type_filter = acl_code(g, 4);
            f.principal_filter = g.opt(0.5, acl_string);
            f.host_filter = g.opt(0.5, acl_string);
            f.operation = acl_code(g, 14);
            f.permission_type = acl_code(g, 3);
            f
        })
        .collect();
    r
}

fn scram_user(g: &mut Gen) -> StrBytes {
    let text = match g.below(6) {
        0 => String::new(),
        1 | 2 => (*g.pick(&["alice", "bob", "carol"])).to_string(),
        _ => g.short_string(),
    };
    s(text)
}

/// A SCRAM mechanism code: mostly SHA-256 (1) or SHA-512 (2).
fn scram_mechanism(g: &mut Gen) -> i8 {
    if g.chance(0.2) {
        g.i8_any()
    } else {
        *g.pick(&[1, 2])
    }
}

fn describe_user_scram_credentials(g: &mut Gen) -> DescribeUserScramCredentialsRequest {
    let mut r = DescribeUserScramCredentialsRequest::default();
    r.users = g.opt(0.2, |g| {
        (0..g.count())
            .map(|_| {
                describe_user_scram_credentials_request::UserName::default()
                    .with_name(scram_user(g))
            })
            .collect()
    });
    r
}

fn alter_user_scram_credentials(g: &mut Gen) -> AlterUserScramCredentialsRequest {
    let mut r = AlterUserScramCredentialsRequest::default();
    r.deletions = (0..g.below(3))
        .map(|_| {
            alter_user_scram_credentials_request::ScramCredentialDeletion::default()
                .with_name(scram_user(g))
                .with_mechanism(scram_mechanism(g))
        })
        .collect();
    r.upsertions = (0..g.count())
        .map(|_| {
            let iterations = if g.chance(0.7) {
                *g.pick(&[4096, 8192, 16384, 4095, 16385])
            } else {
                g.i32_extreme()
            };
            alter_user_scram_credentials_request::ScramCredentialUpsertion::default()
                .with_name(scram_user(g))
                .with_mechanism(scram_mechanism(g))
                .with_iterations(iterations)
                .with_salt(g.bytes(32))
                .with_salted_password(g.bytes(64))
        })
        .collect();
    r
}
