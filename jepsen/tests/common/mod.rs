//! Kafka-client helpers shared by the integration tests: building rdkafka clients against a
//! `BrokerProcess`, producing records with their delivery reports, and reading partitions back.
//!
//! Every wait here is bounded by a timeout so a broker that hangs fails the test instead of
//! hanging CI.

// Each test binary compiles this module and uses only some of the helpers.
#![allow(dead_code)]

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

use rdkafka::admin::{
    AdminClient, AdminOptions, ConfigEntry, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::future_producer::OwnedDeliveryResult;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

/// Generous bound for one client request; a healthy broker on loopback answers in milliseconds.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound for reading back everything a test wrote.
pub const READ_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs a future (admin results, delivery reports) to completion. rdkafka's own threads drive
/// the I/O; the runtime only waits.
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(future)
}

/// A topic name no other test in this process uses.
pub fn unique_topic(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

fn base_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("socket.timeout.ms", "10000");
    config
}

/// A producer; `overrides` (e.g. `acks`, `compression.type`) are applied last.
pub fn producer(bootstrap: &str, overrides: &[(&str, &str)]) -> FutureProducer {
    let mut config = base_config(bootstrap);
    // Bounded: a record the broker never acknowledges fails its delivery report in time.
    config.set("message.timeout.ms", "15000");
    for (key, value) in overrides {
        config.set(*key, *value);
    }
    config.create().expect("create producer")
}

/// A consumer for `assign`-based reads (consumer groups are not used). `group.id` is set only
/// because librdkafka refuses to create a consumer without one. An out-of-range position is an
/// error rather than a silent jump, so the tests see it.
pub fn consumer(bootstrap: &str, overrides: &[(&str, &str)]) -> BaseConsumer {
    let mut config = base_config(bootstrap);
    config
        .set("group.id", "odradek-jepsen")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "error")
        .set("enable.partition.eof", "false");
    for (key, value) in overrides {
        config.set(*key, *value);
    }
    config.create().expect("create consumer")
}

pub fn admin(bootstrap: &str) -> AdminClient<DefaultClientContext> {
    base_config(bootstrap)
        .create()
        .expect("create admin client")
}

pub fn admin_options() -> AdminOptions {
    AdminOptions::new()
        .request_timeout(Some(REQUEST_TIMEOUT))
        .operation_timeout(Some(REQUEST_TIMEOUT))
}

/// Creates a topic and returns the broker's per-topic result.
pub fn try_create_topic(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) -> Result<String, (String, RDKafkaErrorCode)> {
    let mut new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    for (key, value) in configs {
        new_topic = new_topic.set(key, value);
    }
    let results = block_on(admin(bootstrap).create_topics([&new_topic], &admin_options()))
        .expect("CreateTopics request failed");
    assert_eq!(results.len(), 1, "one result per requested topic");
    results.into_iter().next().expect("one result")
}

/// Creates a topic, failing the test if the broker refuses.
pub fn create_topic(bootstrap: &str, topic: &str, partitions: i32, configs: &[(&str, &str)]) {
    if let Err((name, code)) = try_create_topic(bootstrap, topic, partitions, configs) {
        panic!("CreateTopics {name} failed: {code:?}");
    }
}

/// Partition ids of `topic` in the full metadata, `None` if the broker does not list it.
/// Asks for all topics, because asking for one named topic may auto-create it.
pub fn topic_partitions(bootstrap: &str, topic: &str) -> Option<Vec<i32>> {
    let consumer = consumer(bootstrap, &[]);
    let metadata = consumer
        .fetch_metadata(None, REQUEST_TIMEOUT)
        .expect("Metadata request failed");
    let found = metadata.topics().iter().find(|t| t.name() == topic)?;
    assert!(
        found.error().is_none(),
        "topic {topic} listed with error {:?}",
        found.error()
    );
    let mut ids: Vec<i32> = found.partitions().iter().map(|p| p.id()).collect();
    ids.sort_unstable();
    Some(ids)
}

/// One record as a test writes it and expects to read it back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestRecord {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

impl TestRecord {
    pub fn value(value: impl Into<Vec<u8>>) -> TestRecord {
        TestRecord {
            key: None,
            value: Some(value.into()),
            headers: Vec::new(),
        }
    }

    /// A varied record: keys, values and headers that change with `i`, including the edge
    /// cases a log must keep apart (no key, an empty value, a null value, a null header value).
    pub fn numbered(i: usize) -> TestRecord {
        let key = match i % 5 {
            0 => None,
            _ => Some(format!("key-{i}").into_bytes()),
        };
        let value = match i % 7 {
            3 => Some(Vec::new()),
            5 => None,
            _ => Some(format!("value-{i}-{}", "x".repeat(i % 50)).into_bytes()),
        };
        let headers = (0..i % 3)
            .map(|h| {
                let value = if h == 1 && i % 2 == 0 {
                    None
                } else {
                    Some(format!("h{h}-of-{i}").into_bytes())
                };
                (format!("header-{h}"), value)
            })
            .collect();
        TestRecord {
            key,
            value,
            headers,
        }
    }

    fn owned_headers(&self) -> Option<OwnedHeaders> {
        if self.headers.is_empty() {
            return None;
        }
        let mut headers = OwnedHeaders::new();
        for (key, value) in &self.headers {
            headers = headers.insert(Header {
                key: key.as_str(),
                value: value.as_deref(),
            });
        }
        Some(headers)
    }
}

/// A record read back, with where it was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadRecord {
    pub partition: i32,
    pub offset: i64,
    pub timestamp: Option<i64>,
    pub record: TestRecord,
}

/// Sends every record (to `partition` if given, else the producer's partitioner), without
/// waiting between them, then waits for every delivery report. Reports come back in send order.
pub fn produce(
    producer: &FutureProducer,
    topic: &str,
    partition: Option<i32>,
    records: &[TestRecord],
) -> Vec<OwnedDeliveryResult> {
    produce_timestamped(producer, topic, partition, records, None)
}

/// `produce`, with record `i` carrying CreateTime `base_timestamp_ms + i * step` when given.
pub fn produce_timestamped(
    producer: &FutureProducer,
    topic: &str,
    partition: Option<i32>,
    records: &[TestRecord],
    timestamps: Option<(i64, i64)>,
) -> Vec<OwnedDeliveryResult> {
    let futures: Vec<_> = records
        .iter()
        .enumerate()
        .map(|(i, record)| {
            let mut future_record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic);
            if let Some(key) = &record.key {
                future_record = future_record.key(key.as_slice());
            }
            if let Some(value) = &record.value {
                future_record = future_record.payload(value.as_slice());
            }
            if let Some(headers) = record.owned_headers() {
                future_record = future_record.headers(headers);
            }
            if let Some(partition) = partition {
                future_record = future_record.partition(partition);
            }
            if let Some((base, step)) = timestamps {
                future_record = future_record.timestamp(base + step * i as i64);
            }
            match producer.send_result(future_record) {
                Ok(future) => future,
                Err((err, _)) => panic!("could not enqueue record {i}: {err}"),
            }
        })
        .collect();
    block_on(async {
        let mut reports = Vec::with_capacity(futures.len());
        for future in futures {
            reports.push(future.await.expect("producer dropped a delivery report"));
        }
        reports
    })
}

/// Produces and requires every record to be acknowledged; returns the offsets.
pub fn produce_acked(
    producer: &FutureProducer,
    topic: &str,
    partition: Option<i32>,
    records: &[TestRecord],
) -> Vec<(i32, i64)> {
    produce(producer, topic, partition, records)
        .into_iter()
        .enumerate()
        .map(|(i, report)| match report {
            Ok(delivery) => (delivery.partition, delivery.offset),
            Err((err, _)) => panic!("record {i} was not acknowledged: {err}"),
        })
        .collect()
}

/// Reads `partition` from `from` until `count` records arrived or `timeout` passed, whichever
/// comes first. Any consumer error fails the test: these reads happen on a healthy broker.
pub fn read_partition(
    consumer: &BaseConsumer,
    topic: &str,
    partition: i32,
    from: Offset,
    count: usize,
    timeout: Duration,
) -> Vec<ReadRecord> {
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, partition, from)
        .expect("valid assignment");
    consumer.assign(&assignment).expect("assign");
    let deadline = Instant::now() + timeout;
    let mut read = Vec::with_capacity(count.min(4096));
    while read.len() < count && Instant::now() < deadline {
        let Some(result) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = result.unwrap_or_else(|err| {
            panic!(
                "consumer error reading {topic}/{partition} after {} records: {err}",
                read.len()
            )
        });
        let headers = message
            .headers()
            .map(|headers| {
                headers
                    .iter()
                    .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                    .collect()
            })
            .unwrap_or_default();
        read.push(ReadRecord {
            partition: message.partition(),
            offset: message.offset(),
            timestamp: message.timestamp().to_millis(),
            record: TestRecord {
                key: message.key().map(<[u8]>::to_vec),
                value: message.payload().map(<[u8]>::to_vec),
                headers,
            },
        });
    }
    consumer.unassign().expect("unassign");
    read
}

/// Reads `count` records of `partition` from its beginning with a fresh consumer.
pub fn read_from_start(
    bootstrap: &str,
    topic: &str,
    partition: i32,
    count: usize,
) -> Vec<ReadRecord> {
    let consumer = consumer(bootstrap, &[]);
    read_partition(
        &consumer,
        topic,
        partition,
        Offset::Beginning,
        count,
        READ_TIMEOUT,
    )
}

/// (low, high) watermarks of a partition: the earliest offset and the log end offset.
pub fn watermarks(bootstrap: &str, topic: &str, partition: i32) -> (i64, i64) {
    consumer(bootstrap, &[])
        .fetch_watermarks(topic, partition, REQUEST_TIMEOUT)
        .unwrap_or_else(|err| panic!("ListOffsets for {topic}/{partition} failed: {err}"))
}

/// Asserts that `read` is exactly `expected` at consecutive offsets starting at `first_offset`.
pub fn assert_records_at(read: &[ReadRecord], expected: &[TestRecord], first_offset: i64) {
    assert_eq!(
        read.len(),
        expected.len(),
        "read {} records, expected {}",
        read.len(),
        expected.len()
    );
    for (i, (got, want)) in read.iter().zip(expected).enumerate() {
        assert_eq!(got.offset, first_offset + i as i64, "offset of record {i}");
        assert_eq!(&got.record, want, "record {i} at offset {}", got.offset);
    }
}

/// DescribeConfigs for one topic, keyed by config name.
pub fn describe_topic_configs(bootstrap: &str, topic: &str) -> HashMap<String, ConfigEntry> {
    let resource = ResourceSpecifier::Topic(topic);
    let results = block_on(admin(bootstrap).describe_configs([&resource], &admin_options()))
        .expect("DescribeConfigs request failed");
    assert_eq!(results.len(), 1, "one result per requested resource");
    let resource = results
        .into_iter()
        .next()
        .expect("one result")
        .unwrap_or_else(|code| panic!("DescribeConfigs {topic}: {code:?}"));
    resource
        .entries
        .into_iter()
        .map(|entry| (entry.name.clone(), entry))
        .collect()
}
