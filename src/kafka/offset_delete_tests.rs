//! OffsetDelete through the real dispatcher, in-process (as
//! `group_snapshot_tests`): Kafka's errors, and a deletion that survives a
//! power cut once answered (the tombstones are replayed from
//! `__consumer_offsets`).

use std::net::SocketAddr;
use std::sync::Arc;

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, CreateTopicsResponse, GroupId, OffsetCommitRequest,
    OffsetCommitResponse, OffsetDeleteRequest, OffsetDeleteResponse, OffsetFetchRequest,
    OffsetFetchResponse, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use crate::io::disk::Disk;
use crate::io::sim_disk::{SimDisk, SimDiskFaults};
use crate::kafka::test_harness::call_as;
use crate::server::broker::Broker;
use crate::server::config::BrokerConfig;

const NONE: i16 = 0;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const INVALID_GROUP_ID: i16 = 24;
const GROUP_ID_NOT_FOUND: i16 = 69;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

async fn open(disk: &Arc<SimDisk>) -> Arc<Broker> {
    let disk: Arc<dyn Disk> = disk.clone();
    let config = BrokerConfig {
        data_dir: "data".to_string(),
        ..BrokerConfig::single_node_default()
    };
    Broker::open(config, disk).await.expect("broker opens")
}

async fn call<Req: Encodable, Resp: Decodable>(
    broker: &Broker,
    api: ApiKey,
    version: i16,
    request: &Req,
) -> Resp {
    let peer: SocketAddr = "127.0.0.1:50000".parse().expect("an address");
    call_as(
        broker,
        api,
        version,
        request,
        "offset-delete-test",
        Some(peer),
    )
    .await
}

fn delete_request(group: &str, topics: &[(&str, &[i32])]) -> OffsetDeleteRequest {
    OffsetDeleteRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_topics(
            topics
                .iter()
                .map(|(name, partitions)| {
                    OffsetDeleteRequestTopic::default()
                        .with_name(TopicName(s(name)))
                        .with_partitions(
                            partitions
                                .iter()
                                .map(|p| {
                                    OffsetDeleteRequestPartition::default().with_partition_index(*p)
                                })
                                .collect(),
                        )
                })
                .collect(),
        )
}

/// (topic, partition, error code) in response order.
fn errors(response: &OffsetDeleteResponse) -> Vec<(String, i32, i16)> {
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

/// The committed offsets of partitions 0 and 1 of "clicks" (-1: none).
async fn fetched(broker: &Broker, group: &str) -> Vec<i64> {
    let request = OffsetFetchRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_topics(Some(vec![OffsetFetchRequestTopic::default()
            .with_name(TopicName(s("clicks")))
            .with_partition_indexes(vec![0, 1])]));
    let response: OffsetFetchResponse = call(broker, ApiKey::OffsetFetch, 5, &request).await;
    response.topics[0]
        .partitions
        .iter()
        .map(|p| p.committed_offset)
        .collect()
}

#[tokio::test]
async fn deleted_offsets_are_gone_and_stay_gone_after_a_power_cut() {
    let disk = Arc::new(SimDisk::new(7, SimDiskFaults::default()));
    let broker = open(&disk).await;
    let created: CreateTopicsResponse = call(
        &broker,
        ApiKey::CreateTopics,
        7,
        &CreateTopicsRequest::default()
            .with_timeout_ms(30_000)
            .with_topics(vec![CreatableTopic::default()
                .with_name(TopicName(s("clicks")))
                .with_num_partitions(2)
                .with_replication_factor(1)]),
    )
    .await;
    assert_eq!(created.topics[0].error_code, NONE);
    let partitions = [0, 1]
        .map(|p| {
            OffsetCommitRequestPartition::default()
                .with_partition_index(p)
                .with_committed_offset(10 + i64::from(p))
                .with_committed_leader_epoch(-1)
        })
        .to_vec();
    let committed: OffsetCommitResponse = call(
        &broker,
        ApiKey::OffsetCommit,
        2,
        &OffsetCommitRequest::default()
            .with_group_id(GroupId(s("simple")))
            .with_generation_id_or_member_epoch(-1)
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(TopicName(s("clicks")))
                .with_partitions(partitions)]),
    )
    .await;
    assert!(committed.topics[0]
        .partitions
        .iter()
        .all(|p| p.error_code == NONE));
    assert_eq!(fetched(&broker, "simple").await, vec![10, 11]);

    // Group-level errors are the whole answer (no topics), as in Kafka.
    for (group, error) in [("nope", GROUP_ID_NOT_FOUND), ("", INVALID_GROUP_ID)] {
        let response: OffsetDeleteResponse = call(
            &broker,
            ApiKey::OffsetDelete,
            0,
            &delete_request(group, &[("clicks", &[0]), ("missing", &[0])]),
        )
        .await;
        assert_eq!((response.error_code, response.topics.len()), (error, 0));
    }

    let deleted: OffsetDeleteResponse = call(
        &broker,
        ApiKey::OffsetDelete,
        0,
        &delete_request("simple", &[("clicks", &[0, 0]), ("missing", &[0])]),
    )
    .await;
    assert_eq!(deleted.error_code, NONE);
    assert_eq!(
        errors(&deleted),
        vec![
            ("clicks".to_string(), 0, NONE),
            ("missing".to_string(), 0, UNKNOWN_TOPIC_OR_PARTITION)
        ]
    );
    assert_eq!(fetched(&broker, "simple").await, vec![-1, 11]);

    // The answer came once the tombstone was durable: a power cut and a
    // replay of __consumer_offsets keep partition 0 deleted.
    drop(broker);
    disk.crash();
    let restarted = open(&disk).await;
    assert_eq!(fetched(&restarted, "simple").await, vec![-1, 11]);
}
