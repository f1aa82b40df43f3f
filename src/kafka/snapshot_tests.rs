//! Snapshots of whole protocol responses, produced in-process: a real broker
//! on a simulated disk, request frames encoded with kafka-protocol exactly as
//! a client would, responses decoded back and recorded. A change to what a
//! client sees (an error code, an offset, a missing field) shows up as a
//! snapshot diff to review, not as a silent behaviour change.
//!
//! Record bytes are summarised (offsets, keys, values) rather than
//! snapshotted raw, and nothing wall-clock-dependent is recorded.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, BrokerId, CreateTopicsRequest,
    CreateTopicsResponse, DeleteTopicsRequest, DeleteTopicsResponse, DescribeConfigsRequest,
    DescribeConfigsResponse, FetchRequest, FetchResponse, ListOffsetsRequest, ListOffsetsResponse,
    MetadataRequest, MetadataResponse, ProduceRequest, ProduceResponse, RequestHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafka_protocol::records::RecordBatchDecoder;

use crate::kafka::dispatch::{handle_frame, Reply};
use crate::kafka::test_harness::{broker, call_as, decode_response, CORRELATION_ID};
use crate::log::batch_builder::uncompressed_batch;
use crate::server::broker::Broker;

/// Producer timestamps: fixed, so fetched records snapshot the same every run.
const RECORD_TIMESTAMP_MS: i64 = 1_600_000_000_000;

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// Encodes `request` at `version` the way a client does, runs it through the
/// broker's dispatcher and decodes the response at the same version.
async fn call<Req: Encodable, Resp: Decodable>(
    broker: &Broker,
    api: ApiKey,
    version: i16,
    request: &Req,
) -> Resp {
    call_as(broker, api, version, request, "snapshot-test", None).await
}

fn create_request(topics: Vec<CreatableTopic>) -> CreateTopicsRequest {
    CreateTopicsRequest::default()
        .with_topics(topics)
        .with_timeout_ms(30_000)
}

fn topic(name_: &str, partitions: i32, configs: &[(&str, &str)]) -> CreatableTopic {
    CreatableTopic::default()
        .with_name(name(name_))
        .with_num_partitions(partitions)
        .with_replication_factor(1)
        .with_configs(
            configs
                .iter()
                .map(|(k, v)| {
                    CreatableTopicConfig::default()
                        .with_name(str_bytes(k))
                        .with_value(Some(str_bytes(v)))
                })
                .collect(),
        )
}

fn metadata_all() -> MetadataRequest {
    MetadataRequest::default()
        .with_topics(None)
        .with_allow_auto_topic_creation(false)
}

fn metadata_of(topics: &[&str]) -> MetadataRequest {
    MetadataRequest::default()
        .with_topics(Some(
            topics
                .iter()
                .map(|t| MetadataRequestTopic::default().with_name(Some(name(t))))
                .collect(),
        ))
        .with_allow_auto_topic_creation(false)
}

/// A client's uncompressed batch of (key, value) records at offsets 0..n.
fn batch(records: &[(&str, &str)]) -> Bytes {
    let keyed: Vec<(Option<Bytes>, Option<Bytes>)> = records
        .iter()
        .map(|(k, v)| {
            (
                Some(Bytes::from(k.to_string())),
                Some(Bytes::from(v.to_string())),
            )
        })
        .collect();
    Bytes::from(uncompressed_batch(&keyed, RECORD_TIMESTAMP_MS, 1))
}

fn produce_request(topic: &str, partition: i32, records: Bytes) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(5_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(records))])])
}

fn fetch_request(topic: &str, partition: i32, offset: i64) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        // No long poll: the answer must not depend on timing.
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(name(topic))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_current_leader_epoch(-1)
                .with_fetch_offset(offset)
                .with_last_fetched_epoch(-1)
                .with_log_start_offset(-1)
                .with_partition_max_bytes(1 << 20)])])
}

/// What a consumer reads out of a fetched record set.
#[derive(Debug)]
#[allow(dead_code)] // read through Debug by the snapshot
struct FetchedRecord {
    offset: i64,
    partition_leader_epoch: i32,
    timestamp: i64,
    key: Option<String>,
    value: Option<String>,
}

/// Replaces every partition's raw record bytes with the decoded records.
fn summarise_fetch(mut response: FetchResponse) -> (FetchResponse, Vec<Vec<FetchedRecord>>) {
    let mut fetched = Vec::new();
    for topic in &mut response.responses {
        for partition in &mut topic.partitions {
            let mut bytes = partition.records.take().unwrap_or_default();
            let sets = RecordBatchDecoder::decode_all(&mut bytes).expect("fetched records decode");
            let text =
                |b: &Option<Bytes>| b.as_ref().map(|b| String::from_utf8_lossy(b).into_owned());
            fetched.push(
                sets.iter()
                    .flat_map(|s| &s.records)
                    .map(|r| FetchedRecord {
                        offset: r.offset,
                        partition_leader_epoch: r.partition_leader_epoch,
                        timestamp: r.timestamp,
                        key: text(&r.key),
                        value: text(&r.value),
                    })
                    .collect(),
            );
        }
    }
    (response, fetched)
}

fn list_offsets_request(topic: &str, timestamps: &[i64]) -> ListOffsetsRequest {
    ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(name(topic))
            .with_partitions(
                timestamps
                    .iter()
                    .map(|ts| {
                        ListOffsetsPartition::default()
                            .with_partition_index(0)
                            .with_current_leader_epoch(-1)
                            .with_timestamp(*ts)
                    })
                    .collect(),
            )])
}

/// DescribeConfigs of topics, each with its `configuration_keys` filter.
fn describe_topic_configs(resources: &[(&str, Option<&[&str]>)]) -> DescribeConfigsRequest {
    DescribeConfigsRequest::default().with_resources(
        resources
            .iter()
            .map(|(topic, keys)| {
                DescribeConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(str_bytes(topic))
                    .with_configuration_keys(
                        keys.map(|keys| keys.iter().map(|k| str_bytes(k)).collect()),
                    )
            })
            .collect(),
    )
}

#[tokio::test]
async fn api_versions_v3() {
    let broker = broker().await;
    let request = ApiVersionsRequest::default()
        .with_client_software_name(str_bytes("snapshot-test"))
        .with_client_software_version(str_bytes("1.0"));
    let response: ApiVersionsResponse = call(&broker, ApiKey::ApiVersions, 3, &request).await;
    insta::assert_debug_snapshot!("api_versions_v3", response);
}

/// KIP-511: a client newer than the broker asks ApiVersions at a version the
/// broker does not know; the broker answers in v0 with UNSUPPORTED_VERSION
/// (35) and its ranges, so the client can retry.
#[tokio::test]
async fn api_versions_unsupported_version() {
    let broker = broker().await;
    let mut frame = BytesMut::new();
    // The header layout of a v3+ ApiVersions request (flexible, header v2),
    // but with version 99, which no codec table knows.
    RequestHeader::default()
        .with_request_api_key(ApiKey::ApiVersions as i16)
        .with_request_api_version(99)
        .with_correlation_id(CORRELATION_ID)
        .with_client_id(Some(str_bytes("future-client")))
        .encode(&mut frame, 2)
        .expect("header encodes");
    ApiVersionsRequest::default()
        .encode(&mut frame, 3)
        .expect("body encodes");
    let Reply::Frame(mut response) = handle_frame(&broker, frame.freeze())
        .await
        .expect("answered")
    else {
        panic!("ApiVersions must be answered");
    };
    let response: ApiVersionsResponse = decode_response(ApiKey::ApiVersions, 0, &mut response);
    assert_eq!(response.error_code, 35);
    insta::assert_debug_snapshot!("api_versions_unsupported_version", response);
}

/// Metadata before and after topics exist, CreateTopics' outcomes, and
/// DeleteTopics: the admin lifecycle a client walks through.
#[tokio::test]
async fn topic_lifecycle() {
    let broker = broker().await;
    let before: MetadataResponse = call(&broker, ApiKey::Metadata, 12, &metadata_all()).await;
    insta::assert_debug_snapshot!("metadata_v12_before_create", before);

    let unknown: MetadataResponse =
        call(&broker, ApiKey::Metadata, 12, &metadata_of(&["nope"])).await;
    insta::assert_debug_snapshot!("metadata_v12_unknown_topic_no_auto_create", unknown);

    let created: CreateTopicsResponse = call(
        &broker,
        ApiKey::CreateTopics,
        7,
        &create_request(vec![topic("orders", 2, &[("retention.ms", "3600000")])]),
    )
    .await;
    insta::assert_debug_snapshot!("create_topics_v7_success", created);

    let again: CreateTopicsResponse = call(
        &broker,
        ApiKey::CreateTopics,
        7,
        &create_request(vec![topic("orders", 2, &[])]),
    )
    .await;
    insta::assert_debug_snapshot!("create_topics_v7_already_exists", again);

    let bad_config: CreateTopicsResponse = call(
        &broker,
        ApiKey::CreateTopics,
        7,
        &create_request(vec![topic("events", 1, &[("fsync.policy", "sometimes")])]),
    )
    .await;
    insta::assert_debug_snapshot!("create_topics_v7_invalid_config", bad_config);

    let bad_name: CreateTopicsResponse = call(
        &broker,
        ApiKey::CreateTopics,
        7,
        &create_request(vec![topic("bad/name", 1, &[])]),
    )
    .await;
    insta::assert_debug_snapshot!("create_topics_v7_invalid_name", bad_name);

    let after: MetadataResponse = call(&broker, ApiKey::Metadata, 12, &metadata_all()).await;
    insta::assert_debug_snapshot!("metadata_v12_after_create", after);

    // Null keys (what the Java admin client sends) and an empty list both
    // mean every config, as in Kafka's ConfigHelper; a list filters.
    let all = describe_topic_configs(&[("orders", None), ("missing", None)]);
    let described: DescribeConfigsResponse = call(&broker, ApiKey::DescribeConfigs, 4, &all).await;
    assert_eq!(
        described.results[1].error_code, 3,
        "a missing topic is UNKNOWN_TOPIC_OR_PARTITION"
    );
    insta::assert_debug_snapshot!("describe_configs_v4_existing_and_missing", described);
    let filtered = describe_topic_configs(&[
        ("orders", Some(&[])),
        ("orders", Some(&["retention.ms", "no.such.key"])),
    ]);
    let described: DescribeConfigsResponse =
        call(&broker, ApiKey::DescribeConfigs, 4, &filtered).await;
    assert_eq!(
        described.results[0].configs.len(),
        crate::core::topic_config::KNOWN_CONFIGS.len()
            + crate::core::inert_topic_config::INERT_CONFIGS.len(),
        "an empty key list means every config"
    );
    insta::assert_debug_snapshot!("describe_configs_v4_key_filters", described);

    let delete = DeleteTopicsRequest::default()
        .with_timeout_ms(30_000)
        .with_topics(vec![
            DeleteTopicState::default().with_name(Some(name("orders"))),
            DeleteTopicState::default().with_name(Some(name("never-existed"))),
        ]);
    let deleted: DeleteTopicsResponse = call(&broker, ApiKey::DeleteTopics, 6, &delete).await;
    insta::assert_debug_snapshot!("delete_topics_v6_existing_and_unknown", deleted);

    let gone: MetadataResponse = call(&broker, ApiKey::Metadata, 12, &metadata_all()).await;
    assert!(
        gone.topics.is_empty(),
        "a deleted topic is gone from Metadata"
    );
}

/// Produce with acks=1, then read it back with Fetch and ListOffsets.
#[tokio::test]
async fn produce_fetch_list_offsets() {
    let broker = broker().await;
    let _: CreateTopicsResponse = call(
        &broker,
        ApiKey::CreateTopics,
        7,
        &create_request(vec![topic("clicks", 1, &[])]),
    )
    .await;

    let first: ProduceResponse = call(
        &broker,
        ApiKey::Produce,
        9,
        &produce_request("clicks", 0, batch(&[("a", "one"), ("b", "two")])),
    )
    .await;
    insta::assert_debug_snapshot!("produce_v9_acks1_first_batch", first);
    let second: ProduceResponse = call(
        &broker,
        ApiKey::Produce,
        9,
        &produce_request("clicks", 0, batch(&[("c", "three")])),
    )
    .await;
    insta::assert_debug_snapshot!("produce_v9_acks1_second_batch", second);
    let unknown: ProduceResponse = call(
        &broker,
        ApiKey::Produce,
        9,
        &produce_request("clicks", 7, batch(&[("x", "lost")])),
    )
    .await;
    insta::assert_debug_snapshot!("produce_v9_unknown_partition", unknown);

    let fetched: FetchResponse =
        call(&broker, ApiKey::Fetch, 12, &fetch_request("clicks", 0, 0)).await;
    insta::assert_debug_snapshot!("fetch_v12_from_zero", summarise_fetch(fetched));
    // From the middle of the first batch: the whole batch comes back (the
    // consumer skips the records before its offset).
    let middle: FetchResponse =
        call(&broker, ApiKey::Fetch, 12, &fetch_request("clicks", 0, 1)).await;
    insta::assert_debug_snapshot!("fetch_v12_from_one", summarise_fetch(middle));
    let past_end: FetchResponse =
        call(&broker, ApiKey::Fetch, 12, &fetch_request("clicks", 0, 10)).await;
    insta::assert_debug_snapshot!("fetch_v12_out_of_range", summarise_fetch(past_end));

    // Earliest (-2), latest (-1), and by timestamp: the second record's and
    // one after every record.
    let offsets: ListOffsetsResponse = call(
        &broker,
        ApiKey::ListOffsets,
        6,
        &list_offsets_request(
            "clicks",
            &[-2, -1, RECORD_TIMESTAMP_MS + 1, RECORD_TIMESTAMP_MS + 100],
        ),
    )
    .await;
    insta::assert_debug_snapshot!("list_offsets_v7_earliest_latest_timestamp", offsets);
}

/// Long poll: a fetch at the log end with `min_bytes` waits instead of
/// answering empty, and the produce that brings data wakes it (bounded well
/// below its `max_wait_ms`, so a missed wake-up fails the test).
#[tokio::test]
async fn a_waiting_fetch_is_answered_by_the_next_produce() {
    let broker = broker().await;
    let created: CreateTopicsResponse = call(
        &broker,
        ApiKey::CreateTopics,
        7,
        &create_request(vec![topic("polled", 1, &[])]),
    )
    .await;
    assert_eq!(created.topics[0].error_code, 0);
    let waiting = fetch_request("polled", 0, 0).with_max_wait_ms(60_000);
    let fetch = call::<_, FetchResponse>(&broker, ApiKey::Fetch, 12, &waiting);
    let produce = async {
        // Let the fetch find the partition empty and start waiting first.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let records = batch(&[("k", "woken")]);
        call::<_, ProduceResponse>(
            &broker,
            ApiKey::Produce,
            9,
            &produce_request("polled", 0, records),
        )
        .await
    };
    let bounded = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        tokio::join!(fetch, produce)
    });
    let (fetched, produced) = bounded.await.expect("the produce woke the waiting fetch");
    assert_eq!(produced.responses[0].partition_responses[0].error_code, 0);
    let (_, records) = summarise_fetch(fetched);
    assert_eq!(
        records[0].len(),
        1,
        "the fetch returned the produced record"
    );
    assert_eq!(records[0][0].value.as_deref(), Some("woken"));
}
