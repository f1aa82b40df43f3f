//! Fetch response sizes: the request's `max_bytes` bounds the whole reply (only the first batch
//! of the first non-empty partition may exceed it), and a partition named twice is answered
//! once. Before the fix, one Fetch naming a partition 200 times built a reply of 200 batches
//! (gigabytes of broker memory with large batches), and a librdkafka consumer with
//! `fetch.max.bytes` of 1 MB received replies of several MB and dropped its connection.
#![cfg(not(madsim))]

mod common;

use std::time::{Duration, Instant};

use common::*;
use odradek_jepsen::wire::{frame, request_header_v1, RawConnection, Reply};
use odradek_jepsen::BrokerProcess;
use rdkafka::consumer::Consumer;
use rdkafka::{Offset, TopicPartitionList};

const FETCH_KEY: i16 = 1;
/// Fetch v4: non-flexible, with a response `max_bytes` and an isolation level.
const FETCH_VERSION: i16 = 4;
const REPLY_TIMEOUT: Duration = Duration::from_secs(20);
/// Values close to the default max.message.bytes, so each batch holds one record.
const LARGE_VALUE_BYTES: usize = 900_000;

/// (partition, fetch offset, partition max bytes).
type FetchPartition = (i32, i64, i32);

fn fetch_request(
    correlation_id: i32,
    max_bytes: i32,
    topic: &str,
    partitions: &[FetchPartition],
) -> Vec<u8> {
    let mut body = request_header_v1(FETCH_KEY, FETCH_VERSION, correlation_id, "jepsen");
    body.extend_from_slice(&(-1i32).to_be_bytes()); // replica id: a consumer
    body.extend_from_slice(&0i32.to_be_bytes()); // max wait ms
    body.extend_from_slice(&0i32.to_be_bytes()); // min bytes
    body.extend_from_slice(&max_bytes.to_be_bytes());
    body.push(0); // read uncommitted
    body.extend_from_slice(&1i32.to_be_bytes()); // one topic entry
    body.extend_from_slice(&(topic.len() as i16).to_be_bytes());
    body.extend_from_slice(topic.as_bytes());
    body.extend_from_slice(&(partitions.len() as i32).to_be_bytes());
    for (partition, offset, partition_max_bytes) in partitions {
        body.extend_from_slice(&partition.to_be_bytes());
        body.extend_from_slice(&offset.to_be_bytes());
        body.extend_from_slice(&partition_max_bytes.to_be_bytes());
    }
    frame(&body)
}

/// One partition of a Fetch v4 response.
#[derive(Debug)]
struct FetchedPartition {
    partition: i32,
    error_code: i16,
    high_watermark: i64,
    records_bytes: usize,
}

struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> &[u8] {
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }
    fn i16(&mut self) -> i16 {
        i16::from_be_bytes(self.take(2).try_into().unwrap())
    }
    fn i32(&mut self) -> i32 {
        i32::from_be_bytes(self.take(4).try_into().unwrap())
    }
    fn i64(&mut self) -> i64 {
        i64::from_be_bytes(self.take(8).try_into().unwrap())
    }
}

/// Parses a Fetch v4 response body; returns (correlation id, partitions in order).
fn parse_fetch_response(body: &[u8]) -> (i32, Vec<(String, FetchedPartition)>) {
    let mut c = Cursor(body);
    let correlation_id = c.i32();
    let _throttle_time_ms = c.i32();
    let mut partitions = Vec::new();
    for _ in 0..c.i32() {
        let len = c.i16() as usize;
        let topic = String::from_utf8(c.take(len).to_vec()).expect("utf-8 topic");
        for _ in 0..c.i32() {
            let partition = c.i32();
            let error_code = c.i16();
            let high_watermark = c.i64();
            let _last_stable_offset = c.i64();
            let aborted = c.i32();
            for _ in 0..aborted.max(0) {
                c.take(16);
            }
            let records_bytes = c.i32().max(0) as usize;
            c.take(records_bytes);
            partitions.push((
                topic.clone(),
                FetchedPartition {
                    partition,
                    error_code,
                    high_watermark,
                    records_bytes,
                },
            ));
        }
    }
    assert_eq!(c.0.len(), 0, "nothing after the response");
    (correlation_id, partitions)
}

fn fetch(broker: &BrokerProcess, request: &[u8]) -> (usize, Vec<(String, FetchedPartition)>) {
    let mut conn = RawConnection::connect(broker.addr()).expect("connect");
    conn.send(request).expect("send");
    match conn.read_reply(REPLY_TIMEOUT).expect("read") {
        Reply::Frame(body) => {
            let (correlation_id, partitions) = parse_fetch_response(&body);
            assert_eq!(correlation_id, 7);
            (body.len(), partitions)
        }
        other => panic!("expected a Fetch response, got {other:?}"),
    }
}

/// Peak resident memory of a process (VmHWM), in bytes.
fn peak_rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM line");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("VmHWM value");
    kib * 1024
}

/// Produces `count` large records to each partition, one batch each.
fn produce_large(bootstrap: &str, topic: &str, partitions: i32, count: usize) {
    let producer = producer(bootstrap, &[("acks", "all"), ("linger.ms", "0")]);
    for partition in 0..partitions {
        let records: Vec<TestRecord> = (0..count)
            .map(|i| TestRecord::value(vec![b'a' + (i % 26) as u8; LARGE_VALUE_BYTES]))
            .collect();
        produce_acked(&producer, topic, Some(partition), &records);
    }
}

#[test]
fn a_partition_named_200_times_is_answered_once_within_the_limit() {
    let broker = BrokerProcess::start_default().expect("start broker");
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("duplicated");
    create_topic(&bootstrap, &topic, 1, &[]);
    produce_large(&bootstrap, &topic, 1, 4);

    // Response max_bytes=0 is a limit of zero, not "unlimited": Kafka returns the first
    // batch of the first non-empty partition, and nothing more; the same for a partition
    // max_bytes of 0.
    for partition_max_bytes in [1_000_000, 0] {
        let duplicates: Vec<FetchPartition> =
            (0..200).map(|_| (0, 0, partition_max_bytes)).collect();
        let (reply_bytes, partitions) = fetch(&broker, &fetch_request(7, 0, &topic, &duplicates));
        assert_eq!(partitions.len(), 1, "one answer per partition");
        let (name, only) = &partitions[0];
        assert_eq!(
            (name.as_str(), only.partition, only.error_code),
            (topic.as_str(), 0, 0)
        );
        assert_eq!(only.high_watermark, 4);
        assert!(
            only.records_bytes > LARGE_VALUE_BYTES && only.records_bytes < 2 * LARGE_VALUE_BYTES,
            "exactly one batch: {} bytes",
            only.records_bytes
        );
        assert!(reply_bytes < 1_000_000, "reply of {reply_bytes} bytes");
    }

    // A later entry's parameters win (Kafka's request map): offset 3 is the last batch.
    let mut mixed: Vec<FetchPartition> = (0..199).map(|_| (0, 0, 1)).collect();
    mixed.push((0, 3, 10_000_000));
    let (_, partitions) = fetch(&broker, &fetch_request(7, 50_000_000, &topic, &mixed));
    assert_eq!(partitions.len(), 1);
    assert!(partitions[0].1.records_bytes > LARGE_VALUE_BYTES);
    assert!(partitions[0].1.records_bytes < 2 * LARGE_VALUE_BYTES);

    let pid = broker.pid().expect("running");
    let peak = peak_rss_bytes(pid);
    assert!(
        peak < 150 << 20,
        "broker peak RSS {} MiB after the duplicated fetches",
        peak >> 20
    );
}

#[test]
fn the_response_limit_bounds_the_reply_across_partitions() {
    let broker = BrokerProcess::start_default().expect("start broker");
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("limited");
    create_topic(&bootstrap, &topic, 4, &[]);
    produce_large(&bootstrap, &topic, 4, 2);

    let all: Vec<FetchPartition> = (0..4).map(|p| (p, 0, 1 << 20)).collect();
    let (_, partitions) = fetch(&broker, &fetch_request(7, 1 << 20, &topic, &all));
    assert_eq!(partitions.len(), 4);
    let sizes: Vec<usize> = partitions.iter().map(|(_, p)| p.records_bytes).collect();
    let total: usize = sizes.iter().sum();
    assert!(
        total <= 1 << 20,
        "records of {total} bytes in a 1 MiB response: {sizes:?}"
    );
    assert!(sizes[0] > 0, "the first partition returns its first batch");

    // A limit below one batch: only the first partition's first batch comes back.
    let (_, partitions) = fetch(&broker, &fetch_request(7, 1000, &topic, &all));
    let sizes: Vec<usize> = partitions.iter().map(|(_, p)| p.records_bytes).collect();
    assert!(sizes[0] > LARGE_VALUE_BYTES && sizes[0] < 2 * LARGE_VALUE_BYTES);
    assert_eq!(&sizes[1..], &[0, 0, 0], "{sizes:?}");
}

/// librdkafka refuses a reply larger than `receive.message.max.bytes` (at least
/// `fetch.max.bytes` + 512) and drops the connection: with replies over the limit this
/// consumer never gets its records.
#[test]
fn a_librdkafka_consumer_with_a_1_mb_fetch_limit_reads_large_records() {
    const PARTITIONS: i32 = 4;
    const PER_PARTITION: usize = 3;
    let broker = BrokerProcess::start_default().expect("start broker");
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("librdkafka-limit");
    create_topic(&bootstrap, &topic, PARTITIONS, &[]);
    produce_large(&bootstrap, &topic, PARTITIONS, PER_PARTITION);

    let consumer = consumer(
        &bootstrap,
        &[
            ("fetch.max.bytes", "1048576"),
            ("receive.message.max.bytes", "1049088"),
        ],
    );
    let mut assignment = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        assignment
            .add_partition_offset(&topic, partition, Offset::Beginning)
            .expect("assignment");
    }
    consumer.assign(&assignment).expect("assign");
    let expected = PARTITIONS as usize * PER_PARTITION;
    let mut read = 0;
    let deadline = Instant::now() + READ_TIMEOUT;
    while read < expected && Instant::now() < deadline {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let message = message.unwrap_or_else(|err| panic!("consumer error: {err}"));
            assert_eq!(
                rdkafka::Message::payload(&message).map(<[u8]>::len),
                Some(LARGE_VALUE_BYTES)
            );
            read += 1;
        }
    }
    assert_eq!(
        read, expected,
        "every large record read within {READ_TIMEOUT:?}"
    );
}
