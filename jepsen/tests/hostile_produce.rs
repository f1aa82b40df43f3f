//! Produce requests a careless or hostile client might send, on the release binary: batches
//! whose headers lie about their records (with valid CRCs), several batches for one partition,
//! control and transactional batches, keyless records for a compacted topic. Each is refused
//! with Kafka's error (INVALID_RECORD and friends, with KIP-467 record errors), and afterwards
//! the partition still serves honest clients, stored data is unchanged, and the background
//! tasks (retention here) still run.
//!
//! Also the broker-side rewrites Kafka does on produce: `compression.type` recompresses,
//! `message.timestamp.type=LogAppendTime` stamps the batch.
#![cfg(not(madsim))]

mod common;

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use common::*;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, FetchRequest, FetchResponse, ProduceRequest, ProduceResponse, RequestHeader,
    ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use odradek_jepsen::wire::{frame, RawConnection, Reply};
use odradek_jepsen::{BrokerOptions, BrokerProcess};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;

const INVALID_RECORD: i16 = 87;
const INVALID_TXN_STATE: i16 = 48;
const PRODUCE_VERSION: i16 = 9;

fn record(key: Option<&str>, value: &str, timestamp: i64) -> Record {
    Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp,
        key: key.map(|k| Bytes::copy_from_slice(k.as_bytes())),
        value: Some(Bytes::copy_from_slice(value.as_bytes())),
        headers: Default::default(),
    }
}

/// One uncompressed v2 batch of `records` (offsets 0..n).
fn batch(records: &[Record]) -> Vec<u8> {
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, r)| Record {
            offset: i as i64,
            // The encoder starts a new batch whenever `offset - sequence` changes: counting up
            // from -1 keeps one batch with base sequence -1 (not idempotent).
            sequence: i as i32 - 1,
            ..r.clone()
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &options).expect("encode batch");
    buf.to_vec()
}

/// Sets a header field and recomputes the CRC, as a careful liar would.
fn lie(mut b: Vec<u8>, at: usize, value: &[u8]) -> Vec<u8> {
    b[at..at + value.len()].copy_from_slice(value);
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

/// Sends one Produce request (acks=1) of `records` to `topic`/0 and returns its only
/// partition answer.
fn raw_produce(
    broker: &BrokerProcess,
    topic: &str,
    records: Vec<u8>,
) -> kafka_protocol::messages::produce_response::PartitionProduceResponse {
    let request = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(5_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(Bytes::from(records)))])]);
    let body = call(broker, ApiKey::Produce, PRODUCE_VERSION, &request);
    let response =
        ProduceResponse::decode(&mut Bytes::from(body), PRODUCE_VERSION).expect("produce response");
    response.responses[0].partition_responses[0].clone()
}

/// Sends one request and returns the response body (after its header).
fn call<R: Encodable>(broker: &BrokerProcess, api: ApiKey, version: i16, request: &R) -> Vec<u8> {
    let mut buf = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(7)
        .with_client_id(Some(StrBytes::from_static_str("hostile")))
        .encode(&mut buf, api.request_header_version(version))
        .expect("header");
    request.encode(&mut buf, version).expect("request");
    let mut conn = RawConnection::connect(broker.addr()).expect("connect");
    conn.send(&frame(&buf)).expect("send");
    let Reply::Frame(body) = conn.read_reply(Duration::from_secs(10)).expect("read") else {
        panic!("no answer to {api:?}");
    };
    let mut body = Bytes::from(body);
    let header =
        ResponseHeader::decode(&mut body, api.response_header_version(version)).expect("header");
    assert_eq!(header.correlation_id, 7);
    body.to_vec()
}

/// The attributes of the first batch stored at offset 0 of `topic`/0.
fn stored_batch_attributes(broker: &BrokerProcess, topic: &str) -> i16 {
    let request = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)])]);
    let body = call(broker, ApiKey::Fetch, 11, &request);
    let response = FetchResponse::decode(&mut Bytes::from(body), 11).expect("fetch response");
    let records = response.responses[0].partitions[0]
        .records
        .clone()
        .expect("records");
    assert!(records.len() >= 61, "a stored batch: {records:?}");
    i16::from_be_bytes([records[21], records[22]])
}

#[test]
fn lying_batches_are_refused_and_the_partition_keeps_serving() {
    let mut broker = BrokerOptions::default()
        .retention_check_interval_ms(200)
        .start()
        .expect("start broker");
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("hostile");
    create_topic(&bootstrap, &topic, 1, &[]);
    let baseline: Vec<TestRecord> = (0..20).map(TestRecord::numbered).collect();
    let producer = producer(&bootstrap, &[("acks", "all")]);
    produce_acked(&producer, &topic, Some(0), &baseline);

    // The ~300-byte request that used to poison a partition: four batches whose headers claim
    // 2^31-1 records each, CRCs valid.
    let one = batch(&[record(None, "x", 1)]);
    let claims_max = lie(
        lie(one.clone(), 57, &i32::MAX.to_be_bytes()),
        23,
        &(i32::MAX - 1).to_be_bytes(),
    );
    let mut four = Vec::new();
    for _ in 0..4 {
        four.extend_from_slice(&claims_max);
    }
    assert!(four.len() < 400);
    let answer = raw_produce(&broker, &topic, four);
    assert_eq!(answer.error_code, INVALID_RECORD, "{answer:?}");
    assert!(answer.error_message.is_some(), "Kafka explains the refusal");
    // One such batch alone, and a batch claiming fewer records than it holds.
    let answer = raw_produce(&broker, &topic, claims_max);
    assert_eq!(answer.error_code, INVALID_RECORD, "{answer:?}");
    let two = batch(&[record(None, "a", 1), record(None, "b", 1)]);
    let claims_one = lie(lie(two, 57, &1i32.to_be_bytes()), 23, &0i32.to_be_bytes());
    assert_eq!(
        raw_produce(&broker, &topic, claims_one).error_code,
        INVALID_RECORD
    );
    // Two honest batches in one partition's record set (Kafka: exactly one).
    let mut pair = one.clone();
    pair.extend_from_slice(&one);
    assert_eq!(
        raw_produce(&broker, &topic, pair).error_code,
        INVALID_RECORD
    );
    // Control and transactional batches from a client.
    let control = lie(one.clone(), 21, &0x20i16.to_be_bytes());
    assert_eq!(
        raw_produce(&broker, &topic, control).error_code,
        INVALID_RECORD
    );
    let transactional = lie(one, 21, &0x10i16.to_be_bytes());
    assert_eq!(
        raw_produce(&broker, &topic, transactional).error_code,
        INVALID_TXN_STATE
    );

    // Nothing was stored, and the partition serves honest clients.
    assert!(broker.is_running(), "{}", broker.log_tail());
    assert_eq!(
        watermarks(&bootstrap, &topic, 0),
        (0, baseline.len() as i64)
    );
    let more: Vec<TestRecord> = (20..25).map(TestRecord::numbered).collect();
    produce_acked(&producer, &topic, Some(0), &more);
    let read = read_from_start(&bootstrap, &topic, 0, 25);
    let all: Vec<TestRecord> = baseline.iter().chain(&more).cloned().collect();
    assert_records_at(&read, &all, 0);

    // Background work goes on: retention still deletes expired segments.
    let expiring = unique_topic("expiring");
    create_topic(
        &bootstrap,
        &expiring,
        1,
        &[("retention.ms", "1000"), ("segment.ms", "100")],
    );
    let old = chrono_ms() - 60_000;
    let reports = produce_timestamped(
        &producer,
        &expiring,
        Some(0),
        &[TestRecord::numbered(0), TestRecord::numbered(1)],
        Some((old, 1)),
    );
    assert!(reports.iter().all(|r| r.is_ok()));
    let deadline = Instant::now() + Duration::from_secs(20);
    while watermarks(&bootstrap, &expiring, 0).0 < 2 {
        assert!(
            Instant::now() < deadline,
            "retention stopped after the hostile requests"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn chrono_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

#[test]
fn keyless_records_in_a_compacted_topic_are_named_per_record() {
    let broker = BrokerProcess::start_default().expect("start broker");
    let topic = unique_topic("compacted");
    create_topic(
        &broker.bootstrap(),
        &topic,
        1,
        &[("cleanup.policy", "compact")],
    );
    let mixed = batch(&[
        record(Some("k"), "a", 1),
        record(None, "b", 1),
        record(Some("k2"), "c", 1),
        record(None, "d", 1),
    ]);
    let answer = raw_produce(&broker, &topic, mixed);
    assert_eq!(answer.error_code, INVALID_RECORD);
    let indexes: Vec<i32> = answer.record_errors.iter().map(|e| e.batch_index).collect();
    assert_eq!(indexes, vec![1, 3], "KIP-467 names the keyless records");
    assert_eq!(watermarks(&broker.bootstrap(), &topic, 0), (0, 0));
}

#[test]
fn the_topic_codec_recompresses_and_log_append_time_stamps() {
    let broker = BrokerProcess::start_default().expect("start broker");
    let bootstrap = broker.bootstrap();
    let gzip = unique_topic("gzip");
    create_topic(&bootstrap, &gzip, 1, &[("compression.type", "gzip")]);
    let stamped = unique_topic("stamped");
    create_topic(
        &bootstrap,
        &stamped,
        1,
        &[("message.timestamp.type", "LogAppendTime")],
    );
    let records: Vec<TestRecord> = (0..10).map(TestRecord::numbered).collect();
    let producer = producer(&bootstrap, &[("acks", "all"), ("compression.type", "none")]);
    produce_acked(&producer, &gzip, Some(0), &records);
    assert_eq!(
        stored_batch_attributes(&broker, &gzip) & 0x07,
        1,
        "stored gzipped"
    );
    let read = read_from_start(&bootstrap, &gzip, 0, records.len());
    assert_records_at(&read, &records, 0);

    let before = chrono_ms();
    let reports = produce_timestamped(&producer, &stamped, Some(0), &records, Some((1_000, 1)));
    assert!(reports.iter().all(|r| r.is_ok()));
    let consumer = consumer(&bootstrap, &[]);
    consumer
        .assign(&{
            let mut list = rdkafka::TopicPartitionList::new();
            list.add_partition_offset(&stamped, 0, rdkafka::Offset::Beginning)
                .unwrap();
            list
        })
        .unwrap();
    let deadline = Instant::now() + READ_TIMEOUT;
    let message = loop {
        assert!(Instant::now() < deadline, "nothing read from {stamped}");
        if let Some(m) = BaseConsumer::poll(&consumer, Duration::from_millis(100)) {
            break m.expect("consume").detach();
        }
    };
    match message.timestamp() {
        rdkafka::Timestamp::LogAppendTime(ts) => {
            assert!(
                ts >= before - 1_000,
                "stamped with the broker's clock: {ts}"
            )
        }
        other => panic!("expected LogAppendTime, got {other:?}"),
    }
}
