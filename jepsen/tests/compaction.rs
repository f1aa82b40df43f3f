//! Log compaction (`cleanup.policy=compact`): old segments keep only the
//! latest record per key, every record keeps its offset, and keyless records
//! are refused.
#![cfg(not(madsim))]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;
use odradek_jepsen::BrokerOptions;
use rdkafka::Offset;

const KEYS: usize = 8;
const RECORDS: usize = 400;
/// Bounded wait for the cleaner (which runs with retention, every 200 ms).
const COMPACTION_WAIT: Duration = Duration::from_secs(20);

#[test]
fn compaction_keeps_the_latest_value_per_key_at_its_offset() {
    let broker = BrokerOptions::default()
        .retention_check_interval_ms(200)
        .start()
        .expect("start broker");
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("compacted");
    create_topic(
        &bootstrap,
        &topic,
        1,
        &[("cleanup.policy", "compact"), ("segment.bytes", "1024")],
    );

    let records: Vec<TestRecord> = (0..RECORDS)
        .map(|i| TestRecord {
            key: Some(format!("key-{}", i % KEYS).into_bytes()),
            value: Some(format!("value-{i:04}-{}", "x".repeat(40)).into_bytes()),
            headers: Vec::new(),
        })
        .collect();
    let producer = producer(
        &bootstrap,
        &[
            ("acks", "all"),
            ("batch.num.messages", "4"),
            ("linger.ms", "1"),
        ],
    );
    let mut by_offset = BTreeMap::new();
    for (report, record) in produce(&producer, &topic, Some(0), &records)
        .into_iter()
        .zip(&records)
    {
        let delivery = report.unwrap_or_else(|(err, _)| panic!("produce: {err}"));
        by_offset.insert(delivery.offset, record.clone());
    }
    let mut latest: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
    for (offset, record) in &by_offset {
        latest.insert(record.key.clone().expect("keyed"), *offset);
    }
    let (_, high) = watermarks(&bootstrap, &topic, 0);
    assert_eq!(high as usize, RECORDS);

    // Wait until the cleaner has removed overwritten records.
    let deadline = Instant::now() + COMPACTION_WAIT;
    let read = loop {
        let consumer = consumer(&bootstrap, &[]);
        let read = read_until(&consumer, &topic, high - 1);
        if read.len() < RECORDS {
            break read;
        }
        assert!(
            Instant::now() < deadline,
            "nothing compacted after {COMPACTION_WAIT:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };

    let mut last_offset = -1;
    for r in &read {
        assert!(
            r.offset > last_offset,
            "offsets only grow: {} after {last_offset}",
            r.offset
        );
        last_offset = r.offset;
        assert_eq!(
            Some(&r.record),
            by_offset.get(&r.offset),
            "offset {} kept its record",
            r.offset
        );
    }
    for (key, offset) in &latest {
        assert!(
            read.iter().any(|r| r.offset == *offset),
            "the latest value of {} (offset {offset}) survives",
            String::from_utf8_lossy(key)
        );
    }
    assert_eq!(
        watermarks(&bootstrap, &topic, 0),
        (0, high),
        "compaction moves no watermark"
    );

    // A record without a key has no place in a compacted topic.
    let keyless = produce(&producer, &topic, Some(0), &[TestRecord::value("no key")]);
    assert!(
        keyless[0].is_err(),
        "a keyless record was accepted: {:?}",
        keyless[0]
    );
}

/// Reads from the beginning until `last_offset` is read (bounded).
fn read_until(
    consumer: &rdkafka::consumer::BaseConsumer,
    topic: &str,
    last_offset: i64,
) -> Vec<ReadRecord> {
    let mut all = Vec::new();
    let mut from = Offset::Beginning;
    let deadline = Instant::now() + READ_TIMEOUT;
    while Instant::now() < deadline {
        let batch = read_partition(consumer, topic, 0, from, 64, Duration::from_millis(500));
        if let Some(last) = batch.last() {
            from = Offset::Offset(last.offset + 1);
        }
        let done = batch.iter().any(|r| r.offset >= last_offset);
        all.extend(batch);
        if done {
            return all;
        }
    }
    panic!("did not read up to offset {last_offset} in {READ_TIMEOUT:?}");
}
