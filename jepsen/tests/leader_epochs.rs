//! KIP-320 on the release binary, through raw frames (rdkafka does not let a test choose the
//! epochs it sends): OffsetForLeaderEpoch answers from the leader-epoch cache with Kafka's
//! edge cases, and Fetch and ListOffsets refuse a `current_leader_epoch` other than the
//! partition's (per partition, the others unaffected), and a fetch whose `last_fetched_epoch`
//! diverges from the log gets `diverging_epoch` instead of records.
//!
//! The partition's epoch is read from Metadata, never assumed.
#![cfg(not(madsim))]

mod common;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use common::*;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::list_offsets_response::ListOffsetsPartitionResponse;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::offset_for_leader_epoch_response::EpochEndOffset;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, BrokerId, FetchRequest, FetchResponse,
    ListOffsetsRequest, ListOffsetsResponse, MetadataRequest, MetadataResponse,
    OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse, RequestHeader, ResponseHeader,
    TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use odradek_jepsen::wire::{frame, RawConnection, Reply};
use odradek_jepsen::BrokerProcess;

const OFFSET_OUT_OF_RANGE: i16 = 1;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const FENCED_LEADER_EPOCH: i16 = 74;
const UNKNOWN_LEADER_EPOCH: i16 = 75;
/// Records produced to partition 0 of each test topic.
const RECORDS: i64 = 10;

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

/// Sends one request at `version` on a new connection and decodes the answer.
fn call<Q: Encodable, A: Decodable>(
    broker: &BrokerProcess,
    api: ApiKey,
    version: i16,
    request: &Q,
) -> A {
    let mut buf = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(23)
        .with_client_id(Some(StrBytes::from_static_str("leader-epochs-test")))
        .encode(&mut buf, api.request_header_version(version))
        .expect("header");
    request.encode(&mut buf, version).expect("request");
    let mut conn = RawConnection::connect(broker.addr()).expect("connect");
    conn.send(&frame(&buf)).expect("send");
    let Reply::Frame(body) = conn.read_reply(Duration::from_secs(10)).expect("read") else {
        panic!("no answer to {api:?} v{version}\n{}", broker.log_tail());
    };
    let mut body = Bytes::from(body);
    let header =
        ResponseHeader::decode(&mut body, api.response_header_version(version)).expect("header");
    assert_eq!(header.correlation_id, 23);
    A::decode(&mut body, version).expect("response body")
}

/// A topic with two partitions, RECORDS acknowledged records in partition 0.
fn topic_with_records(broker: &BrokerProcess, prefix: &str) -> String {
    let bootstrap = broker.bootstrap();
    let topic = unique_topic(prefix);
    create_topic(&bootstrap, &topic, 2, &[]);
    let producer = producer(&bootstrap, &[("acks", "all")]);
    let records: Vec<TestRecord> = (0..RECORDS as usize).map(TestRecord::numbered).collect();
    produce_acked(&producer, &topic, Some(0), &records);
    assert_eq!(watermarks(&bootstrap, &topic, 0), (0, RECORDS));
    topic
}

/// The leader epoch Metadata (v12) reports for `topic`'s partition 0.
fn metadata_epoch(broker: &BrokerProcess, topic: &str) -> i32 {
    let request = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default().with_name(Some(TopicName(s(topic)))),
    ]));
    let response: MetadataResponse = call(broker, ApiKey::Metadata, 12, &request);
    let partition = response.topics[0]
        .partitions
        .iter()
        .find(|p| p.partition_index == 0)
        .expect("partition 0 in metadata");
    assert_eq!(partition.leader_id, BrokerId(response.brokers[0].node_id.0));
    partition.leader_epoch
}

fn offset_for_leader_epoch(
    broker: &BrokerProcess,
    version: i16,
    topic: &str,
    asks: &[(i32, i32, i32)],
) -> Vec<EpochEndOffset> {
    let partitions = asks
        .iter()
        .map(|&(partition, current_leader_epoch, leader_epoch)| {
            OffsetForLeaderPartition::default()
                .with_partition(partition)
                .with_current_leader_epoch(current_leader_epoch)
                .with_leader_epoch(leader_epoch)
        })
        .collect();
    let request = OffsetForLeaderEpochRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![OffsetForLeaderTopic::default()
            .with_topic(TopicName(s(topic)))
            .with_partitions(partitions)]);
    let mut response: OffsetForLeaderEpochResponse =
        call(broker, ApiKey::OffsetForLeaderEpoch, version, &request);
    assert_eq!(response.topics.len(), 1);
    assert_eq!(response.topics[0].topic.0.as_str(), topic);
    std::mem::take(&mut response.topics[0].partitions)
}

/// (error, leader epoch, end offset) of each answered partition.
fn epoch_answers(answers: &[EpochEndOffset]) -> Vec<(i32, i16, i32, i64)> {
    answers
        .iter()
        .map(|a| (a.partition, a.error_code, a.leader_epoch, a.end_offset))
        .collect()
}

#[test]
fn offset_for_leader_epoch_is_advertised_and_answers_from_the_epoch_cache() {
    let broker = BrokerProcess::start_default().expect("start broker");
    let advertised: ApiVersionsResponse = call(
        &broker,
        ApiKey::ApiVersions,
        3,
        &ApiVersionsRequest::default(),
    );
    let range = advertised
        .api_keys
        .iter()
        .find(|k| k.api_key == ApiKey::OffsetForLeaderEpoch as i16)
        .map(|k| (k.min_version, k.max_version));
    assert_eq!(range, Some((2, 4)), "OffsetForLeaderEpoch in ApiVersions");

    let topic = topic_with_records(&broker, "ofle");
    let epoch = metadata_epoch(&broker, &topic);
    assert!(epoch >= 0, "a led partition has an epoch, got {epoch}");
    for version in 2..=4 {
        let answers = offset_for_leader_epoch(
            &broker,
            version,
            &topic,
            &[
                // The current epoch ends at the log end.
                (0, epoch, epoch),
                (0, -1, epoch),
                // An empty partition: its epoch ends at 0.
                (1, epoch, epoch),
                // KIP-320 fencing, per partition.
                (0, epoch + 1, epoch),
                (0, -2, epoch),
                // Past every epoch, and undefined: no error, -1 / -1.
                (0, epoch, epoch + 1),
                (0, epoch, -1),
                (7, -1, epoch),
            ],
        );
        assert_eq!(
            epoch_answers(&answers),
            vec![
                (0, 0, epoch, RECORDS),
                (0, 0, epoch, RECORDS),
                (1, 0, epoch, 0),
                (0, UNKNOWN_LEADER_EPOCH, -1, -1),
                (0, FENCED_LEADER_EPOCH, -1, -1),
                (0, 0, -1, -1),
                (0, 0, -1, -1),
                (7, UNKNOWN_TOPIC_OR_PARTITION, -1, -1),
            ],
            "OffsetForLeaderEpoch v{version}"
        );
    }
    let unknown = offset_for_leader_epoch(&broker, 4, "no-such-topic", &[(0, -1, 0)]);
    assert_eq!(
        epoch_answers(&unknown),
        vec![(0, UNKNOWN_TOPIC_OR_PARTITION, -1, -1)]
    );
}

/// One fetch of `topic` at `version`: (partition, current epoch, offset, last fetched epoch).
fn fetch(
    broker: &BrokerProcess,
    version: i16,
    topic: &str,
    asks: &[(i32, i32, i64, i32)],
) -> Vec<PartitionData> {
    let partitions = asks
        .iter()
        .map(
            |&(partition, current_leader_epoch, fetch_offset, last_fetched_epoch)| {
                FetchPartition::default()
                    .with_partition(partition)
                    .with_current_leader_epoch(current_leader_epoch)
                    .with_fetch_offset(fetch_offset)
                    .with_last_fetched_epoch(last_fetched_epoch)
                    .with_partition_max_bytes(1 << 20)
            },
        )
        .collect();
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(4 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(s(topic)))
            .with_partitions(partitions)]);
    let mut response: FetchResponse = call(broker, ApiKey::Fetch, version, &request);
    assert_eq!(response.error_code, 0);
    assert_eq!(response.responses.len(), 1);
    std::mem::take(&mut response.responses[0].partitions)
}

/// The offsets a fetched partition's batches span: (first base offset, last offset + 1).
fn fetched_range(data: &PartitionData) -> Option<(i64, i64)> {
    let mut bytes = data.records.clone().unwrap_or_default();
    let mut range: Option<(i64, i64)> = None;
    // v2 batch: base offset (8), batch length (4), ..., last offset delta at 23..27.
    while bytes.len() >= 27 {
        let base = i64::from_be_bytes(bytes[0..8].try_into().unwrap());
        let length = i32::from_be_bytes(bytes[8..12].try_into().unwrap()) as usize;
        let last_delta = i32::from_be_bytes(bytes[23..27].try_into().unwrap()) as i64;
        let end = base + last_delta + 1;
        range = Some(range.map_or((base, end), |(first, _)| (first, end)));
        let _ = bytes.split_to((12 + length).min(bytes.len()));
    }
    range
}

/// (partition, error, high watermark, log start, diverging epoch, diverging end, offsets).
type FetchAnswer = (i32, i16, i64, i64, i32, i64, Option<(i64, i64)>);

fn fetch_answers(data: &[PartitionData]) -> Vec<FetchAnswer> {
    data.iter()
        .map(|p| {
            (
                p.partition_index,
                p.error_code,
                p.high_watermark,
                p.log_start_offset,
                p.diverging_epoch.epoch,
                p.diverging_epoch.end_offset,
                fetched_range(p),
            )
        })
        .collect()
}

#[test]
fn fetch_refuses_other_leader_epochs_per_partition() {
    let broker = BrokerProcess::start_default().expect("start broker");
    let topic = topic_with_records(&broker, "fetch-epoch");
    let epoch = metadata_epoch(&broker, &topic);
    let r = Some((0, RECORDS));
    for version in [9, 12] {
        let answers = fetch(
            &broker,
            version,
            &topic,
            &[(0, epoch, 0, -1), (1, epoch + 1, 0, -1)],
        );
        assert_eq!(
            fetch_answers(&answers),
            vec![
                (0, 0, RECORDS, 0, -1, -1, r),
                // Kafka answers a refused partition without offsets.
                (1, UNKNOWN_LEADER_EPOCH, -1, -1, -1, -1, None),
            ],
            "Fetch v{version}: the future epoch refused, the other partition read"
        );
    }
    // Fetch reads any negative epoch as "none" (unlike ListOffsets).
    let answers = fetch(&broker, 12, &topic, &[(0, -1, 0, -1), (0, -2, 0, -1)]);
    assert_eq!(
        fetch_answers(&answers),
        vec![(0, 0, RECORDS, 0, -1, -1, r)],
        "named twice: answered once, with its last parameters"
    );
    if epoch > 0 {
        let answers = fetch(&broker, 12, &topic, &[(0, epoch - 1, 0, -1)]);
        assert_eq!(answers[0].error_code, FENCED_LEADER_EPOCH);
    }
    // Before v9 the field does not exist: nothing is checked.
    let answers = fetch(&broker, 8, &topic, &[(0, epoch + 1, 0, -1)]);
    assert_eq!(fetch_answers(&answers), vec![(0, 0, RECORDS, 0, -1, -1, r)]);
}

#[test]
fn a_diverging_last_fetched_epoch_gets_the_epoch_end_instead_of_records() {
    let broker = BrokerProcess::start_default().expect("start broker");
    let topic = topic_with_records(&broker, "diverging");
    let epoch = metadata_epoch(&broker, &topic);
    let answers = fetch(
        &broker,
        12,
        &topic,
        &[
            // The fetcher claims records of this epoch past our log end: its log diverges.
            (0, epoch, RECORDS + 5, epoch),
            // An empty partition: everything past 0 diverges.
            (1, epoch, 3, epoch),
        ],
    );
    assert_eq!(
        fetch_answers(&answers),
        vec![
            (0, 0, RECORDS, 0, epoch, RECORDS, None),
            (1, 0, 0, 0, epoch, 0, None),
        ]
    );
    // Matching logs read as usual.
    let answers = fetch(&broker, 12, &topic, &[(0, epoch, 4, epoch)]);
    let (first, end) = fetched_range(&answers[0]).expect("records from offset 4");
    assert!(first <= 4 && end == RECORDS, "read [{first}, {end})");
    assert_eq!(
        (answers[0].error_code, answers[0].diverging_epoch.epoch),
        (0, -1)
    );
    // An epoch past every known one cannot be placed: OFFSET_OUT_OF_RANGE, as Kafka.
    let answers = fetch(&broker, 12, &topic, &[(0, epoch, 4, epoch + 3)]);
    assert_eq!(
        fetch_answers(&answers),
        vec![(0, OFFSET_OUT_OF_RANGE, -1, -1, -1, -1, None)]
    );
    // v11 has no last_fetched_epoch (the codec refuses to send one): the same fetch past
    // the end is just out of range.
    let answers = fetch(&broker, 11, &topic, &[(0, epoch, RECORDS + 5, -1)]);
    assert_eq!(answers[0].error_code, OFFSET_OUT_OF_RANGE);
    assert_eq!(answers[0].diverging_epoch.epoch, -1);
}

fn list_offsets(
    broker: &BrokerProcess,
    topic: &str,
    asks: &[(i32, i32, i64)],
) -> Vec<ListOffsetsPartitionResponse> {
    let partitions = asks
        .iter()
        .map(|&(partition, current_leader_epoch, timestamp)| {
            ListOffsetsPartition::default()
                .with_partition_index(partition)
                .with_current_leader_epoch(current_leader_epoch)
                .with_timestamp(timestamp)
        })
        .collect();
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(TopicName(s(topic)))
            .with_partitions(partitions)]);
    let mut response: ListOffsetsResponse = call(broker, ApiKey::ListOffsets, 7, &request);
    std::mem::take(&mut response.topics[0].partitions)
}

#[test]
fn list_offsets_checks_the_current_leader_epoch_and_answers_epochs() {
    let broker = BrokerProcess::start_default().expect("start broker");
    let topic = topic_with_records(&broker, "list-epoch");
    let epoch = metadata_epoch(&broker, &topic);
    let answers = list_offsets(
        &broker,
        &topic,
        &[
            (0, epoch, -1),
            (0, -1, -2),
            (1, epoch + 1, -1),
            // -2 is an epoch to ListOffsets (only -1 means none): older than any.
            (0, -2, -1),
            // A time after every record: no offset and no epoch.
            (0, epoch, i64::MAX / 2),
        ],
    );
    let got: Vec<(i32, i16, i64, i32)> = answers
        .iter()
        .map(|a| (a.partition_index, a.error_code, a.offset, a.leader_epoch))
        .collect();
    assert_eq!(
        got,
        vec![
            (0, 0, RECORDS, epoch),
            (0, 0, 0, epoch),
            (1, UNKNOWN_LEADER_EPOCH, -1, -1),
            (0, FENCED_LEADER_EPOCH, -1, -1),
            (0, 0, -1, -1),
        ]
    );
}
