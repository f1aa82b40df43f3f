//! Kafka semantics clients rely on, checked with librdkafka against the real binary:
//! AlterConfigs acting on a live partition, DeleteRecords, commits of any offset with their
//! metadata, a transactional producer failing fast, and an acks=0 produce error closing the
//! connection.
#![cfg(not(madsim))]

mod common;

use std::time::{Duration, Instant};

use common::*;
use odradek_jepsen::wire::{frame, request_header_v1, RawConnection, Reply};
use odradek_jepsen::{BrokerOptions, BrokerProcess};
use rdkafka::admin::ConfigSource;
use rdkafka::admin::{AlterConfig, ResourceSpecifier};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, Producer};
use rdkafka::{Offset, TopicPartitionList};

fn broker() -> BrokerProcess {
    BrokerOptions::default()
        .retention_check_interval_ms(200)
        .start()
        .expect("start broker")
}

/// Small values in small batches, so 4 KiB segments roll between them.
fn produce_numbered(bootstrap: &str, topic: &str, count: usize) -> Vec<TestRecord> {
    let records: Vec<TestRecord> = (0..count)
        .map(|i| TestRecord::value(format!("{i:06}-{}", "r".repeat(94))))
        .collect();
    let producer = producer(
        bootstrap,
        &[
            ("acks", "all"),
            ("batch.num.messages", "5"),
            ("linger.ms", "1"),
        ],
    );
    produce_acked(&producer, topic, Some(0), &records);
    records
}

#[test]
fn altered_retention_acts_on_the_live_partition_and_is_described() {
    let broker = broker();
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("alter-retention");
    create_topic(&bootstrap, &topic, 1, &[("segment.bytes", "4096")]);
    produce_numbered(&bootstrap, &topic, 200);
    // The default retention (7 days) keeps everything.
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(watermarks(&bootstrap, &topic, 0), (0, 200));

    let alter = AlterConfig::new(ResourceSpecifier::Topic(&topic)).set("retention.ms", "500");
    let results = block_on(admin(&bootstrap).alter_configs([&alter], &admin_options()))
        .expect("AlterConfigs request");
    assert!(results[0].is_ok(), "AlterConfigs refused: {:?}", results[0]);

    let entry = &describe_topic_configs(&bootstrap, &topic)["retention.ms"];
    assert_eq!(entry.value.as_deref(), Some("500"));
    assert_eq!(entry.source, ConfigSource::DynamicTopic);
    // AlterConfigs replaces the whole set: segment.bytes went back to its default.
    let segment = &describe_topic_configs(&bootstrap, &topic)["segment.bytes"];
    assert!(segment.is_default, "segment.bytes reset: {segment:?}");

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (low, high) = watermarks(&bootstrap, &topic, 0);
        assert_eq!(high, 200, "retention never moves the log end");
        if low > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new retention.ms never acted"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// rdkafka 0.39 drops AlterConfigs' per-resource errors (its future reports every resource as
/// altered), so what a refused change must not do is checked through DescribeConfigs; the error
/// codes are checked in process (src/kafka/admin_snapshot_tests.rs).
#[test]
fn unknown_and_invalid_configs_change_nothing() {
    let broker = broker();
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("alter-invalid");
    create_topic(&bootstrap, &topic, 1, &[("retention.ms", "3600000")]);
    for (key, value) in [("no.such.config", "1"), ("retention.ms", "soon")] {
        let alter = AlterConfig::new(ResourceSpecifier::Topic(&topic)).set(key, value);
        block_on(admin(&bootstrap).alter_configs([&alter], &admin_options()))
            .expect("AlterConfigs request");
        let described = describe_topic_configs(&bootstrap, &topic);
        assert!(!described.contains_key("no.such.config"));
        assert_eq!(
            described["retention.ms"].value.as_deref(),
            Some("3600000"),
            "{key}={value} was refused as a whole"
        );
    }
}

#[test]
fn delete_records_moves_the_earliest_offset_durably() {
    let mut broker = broker();
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("delete-records");
    create_topic(&bootstrap, &topic, 1, &[("segment.bytes", "4096")]);
    let records = produce_numbered(&bootstrap, &topic, 100);

    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset(&topic, 0, Offset::Offset(57))
        .expect("offset");
    let result = block_on(admin(&bootstrap).delete_records(&offsets, &admin_options()))
        .expect("DeleteRecords request");
    let element = result
        .find_partition(&topic, 0)
        .expect("partition answered");
    assert_eq!(element.error(), Ok(()));
    assert_eq!(element.offset(), Offset::Offset(57), "low watermark");
    assert_eq!(watermarks(&bootstrap, &topic, 0), (57, 100));
    let read = read_from_start(&bootstrap, &topic, 0, 43);
    assert_records_at(&read, &records[57..], 57);

    // Past the high watermark: OFFSET_OUT_OF_RANGE.
    let mut past = TopicPartitionList::new();
    past.add_partition_offset(&topic, 0, Offset::Offset(1_000))
        .expect("offset");
    let result = block_on(admin(&bootstrap).delete_records(&past, &admin_options()))
        .expect("DeleteRecords request");
    let element = result
        .find_partition(&topic, 0)
        .expect("partition answered");
    assert!(element.error().is_err(), "deleting past the HW must fail");

    // The new start survives a crash (it sits inside a segment).
    broker.kill9().expect("kill");
    broker.restart().expect("restart");
    assert_eq!(watermarks(&bootstrap, &topic, 0), (57, 100));
    let read = read_from_start(&bootstrap, &topic, 0, 43);
    assert_records_at(&read, &records[57..], 57);
}

#[test]
fn any_offset_is_committed_with_its_metadata() {
    let broker = broker();
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("commit-any");
    create_topic(&bootstrap, &topic, 1, &[]);
    produce_numbered(&bootstrap, &topic, 3);
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", unique_topic("commit-any-group"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset(&topic, 0, Offset::Offset(1_000))
        .expect("offset");
    offsets
        .find_partition(&topic, 0)
        .expect("listed")
        .set_metadata("state-after-1000");
    consumer
        .commit(&offsets, CommitMode::Sync)
        .expect("a commit past the high watermark is accepted, as in Kafka");
    let mut asked = TopicPartitionList::new();
    asked.add_partition(&topic, 0);
    let committed = consumer
        .committed_offsets(asked, REQUEST_TIMEOUT)
        .expect("OffsetFetch");
    let element = committed.find_partition(&topic, 0).expect("answered");
    assert_eq!(element.offset(), Offset::Offset(1_000));
    assert_eq!(element.metadata(), "state-after-1000");
}

#[test]
fn a_transactional_producer_fails_fast_with_a_clear_error() {
    let broker = broker();
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("transactional.id", "txn-1")
        .create()
        .expect("producer");
    let started = Instant::now();
    let error = producer
        .init_transactions(Duration::from_secs(30))
        .expect_err("transactions are not supported");
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    match error {
        KafkaError::Transaction(e) => {
            assert!(e.is_fatal(), "{e}");
            assert!(e.string().contains("transactions"), "{}", e.string());
        }
        other => panic!("unexpected error {other}"),
    }
}

/// CRC-32C (Castagnoli), for a hand-built record batch.
fn crc32c(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A v2 record batch holding one record with value `value` (< 64 bytes).
fn one_record_batch(value: &[u8]) -> Vec<u8> {
    assert!(value.len() < 64);
    // Record: attributes, timestamp delta 0, offset delta 0, key null (-1), value, 0 headers.
    let mut record = vec![0u8, 0, 0, 1, (value.len() * 2) as u8];
    record.extend_from_slice(value);
    record.push(0);
    let mut after_crc = Vec::new();
    after_crc.extend_from_slice(&0i16.to_be_bytes()); // attributes
    after_crc.extend_from_slice(&0i32.to_be_bytes()); // last offset delta
    after_crc.extend_from_slice(&1_000i64.to_be_bytes()); // base timestamp
    after_crc.extend_from_slice(&1_000i64.to_be_bytes()); // max timestamp
    after_crc.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
    after_crc.extend_from_slice(&(-1i16).to_be_bytes()); // producer epoch
    after_crc.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
    after_crc.extend_from_slice(&1i32.to_be_bytes()); // records
    after_crc.push((record.len() * 2) as u8); // record length (zigzag varint)
    after_crc.extend_from_slice(&record);
    let mut batch = Vec::new();
    batch.extend_from_slice(&0i64.to_be_bytes()); // base offset
    let length = 4 + 1 + 4 + after_crc.len();
    batch.extend_from_slice(&(length as i32).to_be_bytes());
    batch.extend_from_slice(&(-1i32).to_be_bytes()); // leader epoch
    batch.push(2); // magic
    batch.extend_from_slice(&crc32c(&after_crc).to_be_bytes());
    batch.extend_from_slice(&after_crc);
    batch
}

/// Produce v3 with acks=0 of one batch to `topic`/`partition`.
fn produce_acks0(topic: &str, partition: i32, correlation_id: i32) -> Vec<u8> {
    let mut request = request_header_v1(0, 3, correlation_id, "acks0");
    request.extend_from_slice(&(-1i16).to_be_bytes()); // transactional id: null
    request.extend_from_slice(&0i16.to_be_bytes()); // acks
    request.extend_from_slice(&5_000i32.to_be_bytes()); // timeout
    request.extend_from_slice(&1i32.to_be_bytes()); // one topic
    request.extend_from_slice(&(topic.len() as i16).to_be_bytes());
    request.extend_from_slice(topic.as_bytes());
    request.extend_from_slice(&1i32.to_be_bytes()); // one partition
    request.extend_from_slice(&partition.to_be_bytes());
    let batch = one_record_batch(b"acks-zero");
    request.extend_from_slice(&(batch.len() as i32).to_be_bytes());
    request.extend_from_slice(&batch);
    frame(&request)
}

fn api_versions_v0(correlation_id: i32) -> Vec<u8> {
    frame(&request_header_v1(18, 0, correlation_id, "acks0"))
}

#[test]
fn an_acks0_produce_error_closes_the_connection() {
    let broker = broker();
    let topic = unique_topic("acks-zero");
    create_topic(&broker.bootstrap(), &topic, 1, &[]);

    // A good acks=0 produce gets no answer and the connection stays usable.
    let mut conn = RawConnection::connect(broker.addr()).expect("connect");
    conn.send(&produce_acks0(&topic, 0, 1)).expect("send");
    conn.send(&api_versions_v0(2)).expect("send");
    match conn.read_reply(REQUEST_TIMEOUT).expect("read") {
        Reply::Frame(body) => assert_eq!(&body[..4], &2i32.to_be_bytes(), "ApiVersions answered"),
        other => panic!("the connection should stay open: {other:?}"),
    }
    assert_eq!(watermarks(&broker.bootstrap(), &topic, 0).1, 1);

    // An unknown partition: no answer, the connection is closed so the client notices.
    let mut conn = RawConnection::connect(broker.addr()).expect("connect");
    conn.send(&produce_acks0(&topic, 7, 1)).expect("send");
    let _ = conn.send(&api_versions_v0(2));
    assert_eq!(
        conn.read_reply(REQUEST_TIMEOUT).expect("read"),
        Reply::Closed,
        "an acks=0 produce error closes the connection"
    );
}
