//! Topic administration through the Kafka admin APIs: CreateTopics, DeleteTopics,
//! DescribeConfigs, and automatic creation on first produce.
#![cfg(not(madsim))]

mod common;

use std::time::{Duration, Instant};

use common::*;
use odradek_jepsen::{BrokerOptions, BrokerProcess};
use rdkafka::admin::ResourceSpecifier;
use rdkafka::consumer::Consumer;
use rdkafka::types::RDKafkaErrorCode;

const DEFAULT_PARTITIONS: u32 = 2;

fn broker(auto_create_topics: bool) -> BrokerProcess {
    BrokerOptions::default()
        .default_partitions(DEFAULT_PARTITIONS)
        .auto_create_topics(auto_create_topics)
        .start()
        .expect("start broker")
}

#[test]
fn create_topic_with_partitions_and_leaders() {
    let broker = broker(false);
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("created");
    create_topic(&bootstrap, &topic, 5, &[]);

    assert_eq!(topic_partitions(&bootstrap, &topic), Some((0..5).collect()));
    let metadata = consumer(&bootstrap, &[])
        .fetch_metadata(None, REQUEST_TIMEOUT)
        .expect("Metadata");
    let listed = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .expect("topic listed");
    for partition in listed.partitions() {
        assert_eq!(
            partition.leader(),
            1,
            "partition {} led by node 1",
            partition.id()
        );
        assert!(
            partition.error().is_none(),
            "partition {}: {:?}",
            partition.id(),
            partition.error()
        );
    }
    assert_eq!(metadata.brokers().len(), 1, "one broker in the cluster");
    assert_eq!(metadata.brokers()[0].id(), 1);
    assert_eq!(
        metadata.brokers()[0].port() as u16,
        broker.addr().port(),
        "advertised port"
    );
}

#[test]
fn creating_an_existing_topic_fails_and_keeps_the_original() {
    let broker = broker(false);
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("existing");
    create_topic(&bootstrap, &topic, 3, &[]);
    let producer = producer(&bootstrap, &[("acks", "all")]);
    let records = vec![TestRecord::value("original")];
    produce_acked(&producer, &topic, Some(0), &records);

    let second = try_create_topic(&bootstrap, &topic, 1, &[]);
    assert_eq!(
        second,
        Err((topic.clone(), RDKafkaErrorCode::TopicAlreadyExists))
    );
    assert_eq!(
        topic_partitions(&bootstrap, &topic),
        Some((0..3).collect()),
        "the failed create did not change the partition count"
    );
    assert_records_at(&read_from_start(&bootstrap, &topic, 0, 1), &records, 0);
}

#[test]
fn deleted_topic_disappears_and_can_be_recreated_empty() {
    let broker = broker(false);
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("deleted");
    create_topic(&bootstrap, &topic, 2, &[]);
    let old: Vec<TestRecord> = (0..20).map(TestRecord::numbered).collect();
    let writer = producer(&bootstrap, &[("acks", "all")]);
    produce_acked(&writer, &topic, Some(0), &old);
    drop(writer);

    let results = block_on(admin(&bootstrap).delete_topics(&[&topic], &admin_options()))
        .expect("DeleteTopics request");
    assert_eq!(results, vec![Ok(topic.clone())]);
    assert_eq!(
        topic_partitions(&bootstrap, &topic),
        None,
        "deleted topic still listed"
    );

    // Kafka deletes asynchronously, so a re-create right after may briefly see the old topic;
    // give it a bounded grace period.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match try_create_topic(&bootstrap, &topic, 1, &[]) {
            Ok(_) => break,
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(200));
            }
            Err((_, code)) => panic!("re-creating deleted topic: {code:?}"),
        }
    }
    assert_eq!(topic_partitions(&bootstrap, &topic), Some(vec![0]));
    assert_eq!(
        watermarks(&bootstrap, &topic, 0),
        (0, 0),
        "old records must not come back in the re-created topic"
    );
    let producer = producer(&bootstrap, &[("acks", "all")]);
    let fresh = vec![TestRecord::value("fresh")];
    assert_eq!(
        produce_acked(&producer, &topic, Some(0), &fresh),
        vec![(0, 0)]
    );
    assert_records_at(&read_from_start(&bootstrap, &topic, 0, 1), &fresh, 0);
}

#[test]
fn deleting_an_unknown_topic_fails() {
    let broker = broker(false);
    let bootstrap = broker.bootstrap();
    let results = block_on(admin(&bootstrap).delete_topics(&["no-such-topic"], &admin_options()))
        .expect("DeleteTopics request");
    assert_eq!(
        results,
        vec![Err((
            "no-such-topic".to_string(),
            RDKafkaErrorCode::UnknownTopicOrPartition
        ))]
    );
}

#[test]
fn produce_to_unknown_topic_auto_creates_it_when_enabled() {
    let broker = broker(true);
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("auto");
    let producer = producer(&bootstrap, &[("acks", "all")]);
    let records = vec![TestRecord::value("first")];
    let (partition, offset) = produce_acked(&producer, &topic, None, &records)[0];
    assert_eq!(offset, 0);

    assert_eq!(
        topic_partitions(&bootstrap, &topic),
        Some((0..DEFAULT_PARTITIONS as i32).collect()),
        "auto-created with --default-partitions"
    );
    assert_records_at(
        &read_from_start(&bootstrap, &topic, partition, 1),
        &records,
        0,
    );
}

#[test]
fn produce_to_unknown_topic_fails_when_auto_create_disabled() {
    let broker = broker(false);
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("not-auto");
    let producer = producer(
        &bootstrap,
        &[
            ("acks", "all"),
            // librdkafka waits this long for a missing topic to appear before failing records.
            ("topic.metadata.propagation.max.ms", "1000"),
            ("message.timeout.ms", "10000"),
        ],
    );
    let reports = produce(&producer, &topic, None, &[TestRecord::value("nowhere")]);
    let Err((err, _)) = &reports[0] else {
        panic!("produce to a missing topic succeeded with auto-create disabled");
    };
    // librdkafka reports either the broker's UNKNOWN_TOPIC_OR_PARTITION or its local
    // "unknown topic" error once the metadata says the topic does not exist; a timeout would
    // mean the broker answered something else (e.g. LEADER_NOT_AVAILABLE forever).
    assert!(
        matches!(
            err.rdkafka_error_code(),
            Some(RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic)
        ),
        "expected an unknown-topic error, got {err:?}"
    );
    assert_eq!(
        topic_partitions(&bootstrap, &topic),
        None,
        "topic was created anyway"
    );
}

#[test]
fn describe_configs_returns_creation_configs_and_defaults() {
    let broker = broker(false);
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("configs");
    create_topic(
        &bootstrap,
        &topic,
        1,
        &[("retention.ms", "123456"), ("segment.bytes", "65536")],
    );

    let configs = describe_topic_configs(&bootstrap, &topic);
    for (name, value) in [("retention.ms", "123456"), ("segment.bytes", "65536")] {
        let entry = configs
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing from DescribeConfigs"));
        assert_eq!(entry.value.as_deref(), Some(value), "{name}");
        assert!(
            !entry.is_default,
            "{name} was set at creation, so it is not a default"
        );
    }
    // Kafka's default: no size limit.
    let retention_bytes = configs
        .get("retention.bytes")
        .expect("retention.bytes missing from DescribeConfigs");
    assert_eq!(retention_bytes.value.as_deref(), Some("-1"));
    assert!(retention_bytes.is_default, "retention.bytes was not set");

    // A missing topic describes no configs. (Kafka's per-resource error code,
    // UNKNOWN_TOPIC_OR_PARTITION, is asserted in the in-process protocol
    // snapshots: the rdkafka crate drops per-resource error codes.)
    let unknown = ResourceSpecifier::Topic("no-such-topic");
    let results = block_on(admin(&bootstrap).describe_configs([&unknown], &admin_options()))
        .expect("DescribeConfigs request");
    assert!(
        match results.as_slice() {
            [Err(RDKafkaErrorCode::UnknownTopicOrPartition)] => true,
            [Ok(resource)] => resource.entries.is_empty(),
            _ => false,
        },
        "DescribeConfigs of a missing topic: {results:?}"
    );
}
