//! ListOffsets: the earliest and latest offsets (watermarks) and the offset for a timestamp,
//! which consumers use to start reading "from the beginning", "from now" or "from a time".
#![cfg(not(madsim))]

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::*;
use odradek_jepsen::BrokerProcess;
use rdkafka::consumer::Consumer;
use rdkafka::{Offset, TopicPartitionList};

#[test]
fn watermarks_track_the_log() {
    let broker = BrokerProcess::start_default().expect("start broker");
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("watermarks");
    create_topic(&bootstrap, &topic, 2, &[]);

    assert_eq!(watermarks(&bootstrap, &topic, 0), (0, 0), "empty partition");

    let producer = producer(&bootstrap, &[("acks", "all")]);
    let records: Vec<TestRecord> = (0..40).map(TestRecord::numbered).collect();
    produce_acked(&producer, &topic, Some(0), &records[..25]);
    assert_eq!(watermarks(&bootstrap, &topic, 0), (0, 25));
    produce_acked(&producer, &topic, Some(0), &records[25..]);
    assert_eq!(watermarks(&bootstrap, &topic, 0), (0, 40));
    assert_eq!(
        watermarks(&bootstrap, &topic, 1),
        (0, 0),
        "the other partition is untouched"
    );
}

/// `offsets_for_times` returns, per partition, the first offset whose timestamp is at or after
/// the requested one, and the end (-1) when every record is older.
#[test]
fn offsets_for_times_finds_the_first_record_at_or_after() {
    const RECORDS: i64 = 100;
    const STEP_MS: i64 = 1000;
    let broker = BrokerProcess::start_default().expect("start broker");
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("times");
    create_topic(&bootstrap, &topic, 1, &[]);

    // Recent timestamps, so no time-based retention can touch them; one second apart.
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64;
    let base_ms = now_ms - RECORDS * STEP_MS;
    let records: Vec<TestRecord> = (0..RECORDS as usize).map(TestRecord::numbered).collect();
    let producer = producer(&bootstrap, &[("acks", "all"), ("linger.ms", "20")]);
    let reports = produce_timestamped(
        &producer,
        &topic,
        Some(0),
        &records,
        Some((base_ms, STEP_MS)),
    );
    assert!(
        reports.iter().all(Result::is_ok),
        "all records acknowledged"
    );

    let consumer = consumer(&bootstrap, &[]);
    let lookup = |timestamp_ms: i64| -> Offset {
        let mut request = TopicPartitionList::new();
        request
            .add_partition_offset(&topic, 0, Offset::Offset(timestamp_ms))
            .expect("valid request");
        let response = consumer
            .offsets_for_times(request, REQUEST_TIMEOUT)
            .unwrap_or_else(|err| panic!("ListOffsets by time {timestamp_ms} failed: {err}"));
        let element = response
            .find_partition(&topic, 0)
            .expect("partition in the response");
        assert!(
            element.error().is_ok(),
            "ListOffsets by time {timestamp_ms}: {:?}",
            element.error()
        );
        element.offset()
    };

    assert_eq!(lookup(base_ms), Offset::Offset(0), "exact first timestamp");
    assert_eq!(
        lookup(base_ms - 50_000),
        Offset::Offset(0),
        "before the log"
    );
    assert_eq!(
        lookup(base_ms + 50 * STEP_MS),
        Offset::Offset(50),
        "exact timestamp"
    );
    assert_eq!(
        lookup(base_ms + 50 * STEP_MS - STEP_MS / 2),
        Offset::Offset(50),
        "between two records: the later one"
    );
    assert_eq!(
        lookup(base_ms + (RECORDS - 1) * STEP_MS),
        Offset::Offset(RECORDS - 1),
        "last record"
    );
    assert_eq!(
        lookup(base_ms + RECORDS * STEP_MS + 60_000),
        Offset::End,
        "after every record"
    );

    // The timestamps were stored as sent (CreateTime) and served back.
    let read = read_from_start(&bootstrap, &topic, 0, RECORDS as usize);
    let timestamps: Vec<Option<i64>> = read.iter().map(|r| r.timestamp).collect();
    let expected: Vec<Option<i64>> = (0..RECORDS).map(|i| Some(base_ms + i * STEP_MS)).collect();
    assert_eq!(timestamps, expected);
}
