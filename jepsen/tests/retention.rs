//! Retention: with small segments, whole old segments are deleted by size or by age, the
//! earliest offset moves up, and what remains is still served from the new start.
#![cfg(not(madsim))]

mod common;

use std::time::{Duration, Instant};

use common::*;
use odradek_jepsen::{BrokerOptions, BrokerProcess};
use rdkafka::Offset;

const RECORDS: usize = 400;
/// Small segments so a few hundred records span many of them.
const SEGMENT_BYTES: &str = "4096";
/// Bounded wait for the retention task (checking every 200 ms) to act.
const RETENTION_WAIT: Duration = Duration::from_secs(20);

fn broker() -> BrokerProcess {
    BrokerOptions::default()
        .retention_check_interval_ms(200)
        .start()
        .expect("start broker")
}

/// ~100-byte values, sent in small batches so that segments can roll between them (a batch is
/// never split across segments).
fn produce_records(bootstrap: &str, topic: &str) -> Vec<TestRecord> {
    let records: Vec<TestRecord> = (0..RECORDS)
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

/// Polls the earliest offset until it is above 0.
fn wait_for_low_watermark_to_move(bootstrap: &str, topic: &str) -> (i64, i64) {
    let deadline = Instant::now() + RETENTION_WAIT;
    loop {
        let (low, high) = watermarks(bootstrap, topic, 0);
        if low > 0 {
            return (low, high);
        }
        assert!(
            Instant::now() < deadline,
            "earliest offset still 0 after {RETENTION_WAIT:?} (high watermark {high})"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn size_retention_deletes_old_segments_and_keeps_the_rest_readable() {
    let broker = broker();
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("retention-bytes");
    create_topic(
        &bootstrap,
        &topic,
        1,
        &[
            ("segment.bytes", SEGMENT_BYTES),
            ("retention.bytes", "8192"),
        ],
    );
    let records = produce_records(&bootstrap, &topic);

    let (low, high) = wait_for_low_watermark_to_move(&bootstrap, &topic);
    assert_eq!(
        high, RECORDS as i64,
        "retention must not change the log end"
    );
    // The size limit keeps at least the active segment: never everything.
    assert!(
        low < high,
        "size retention deleted every record (low {low})"
    );

    // Reading from the earliest offset yields exactly the surviving suffix.
    let remaining = &records[low as usize..];
    let read = read_from_start(&bootstrap, &topic, 0, remaining.len());
    assert_records_at(&read, remaining, low);

    // Retention is not a reason to refuse new writes or reuse offsets.
    let producer = producer(&bootstrap, &[("acks", "all")]);
    let next = vec![TestRecord::value("after retention")];
    assert_eq!(
        produce_acked(&producer, &topic, Some(0), &next),
        vec![(0, high)]
    );
}

#[test]
fn time_retention_deletes_old_segments_and_the_log_stays_usable() {
    let broker = broker();
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("retention-ms");
    create_topic(
        &bootstrap,
        &topic,
        1,
        &[("segment.bytes", SEGMENT_BYTES), ("retention.ms", "2000")],
    );
    let records = produce_records(&bootstrap, &topic);

    let (low, high) = wait_for_low_watermark_to_move(&bootstrap, &topic);
    assert_eq!(
        high, RECORDS as i64,
        "retention must not change the log end"
    );
    assert!(low <= high, "earliest offset {low} past the end {high}");

    // Time retention may keep deleting while we read, so this reader starts over at the new
    // earliest offset instead of erroring; every record it sees must be the one written there.
    let consumer = consumer(&bootstrap, &[("auto.offset.reset", "earliest")]);
    let read = read_partition(
        &consumer,
        &topic,
        0,
        Offset::Beginning,
        (high - low) as usize,
        Duration::from_secs(5),
    );
    for got in &read {
        assert!(
            got.offset >= low,
            "read offset {} below the earliest {low}",
            got.offset
        );
        assert_eq!(
            got.record, records[got.offset as usize],
            "record at {}",
            got.offset
        );
    }

    // New records after retention land at the end and are readable from "earliest".
    let producer = producer(&bootstrap, &[("acks", "all")]);
    let next = vec![TestRecord::value("after retention")];
    assert_eq!(
        produce_acked(&producer, &topic, Some(0), &next),
        vec![(0, high)]
    );
    let (low, end) = watermarks(&bootstrap, &topic, 0);
    assert_eq!(end, high + 1);
    let read = read_partition(
        &consumer,
        &topic,
        0,
        Offset::Beginning,
        (end - low) as usize,
        Duration::from_secs(5),
    );
    assert_eq!(
        read.last().map(|r| (r.offset, &r.record)),
        Some((high, &next[0])),
        "the new record is the last one read from earliest"
    );
}

/// Issue 10, item 3: time retention deletes every record, the broker restarts (cleanly, then
/// with kill -9), and the next record still gets the offset after the last one ever written:
/// the log start offset is durable, so an empty log never starts over at 0.
#[test]
fn a_log_emptied_by_retention_keeps_its_offsets_across_restarts() {
    let mut broker = broker();
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("retention-empty");
    create_topic(
        &bootstrap,
        &topic,
        1,
        &[("segment.bytes", SEGMENT_BYTES), ("retention.ms", "1000")],
    );
    let records = produce_records(&bootstrap, &topic);
    let end = records.len() as i64;

    // Wait until retention has deleted everything: the earliest offset reaches the end.
    let deadline = Instant::now() + RETENTION_WAIT;
    loop {
        let (low, high) = watermarks(&bootstrap, &topic, 0);
        assert_eq!(high, end, "retention must not change the log end");
        if low == end {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "earliest offset {low} still below {end} after {RETENTION_WAIT:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    broker.restart().expect("restart");
    assert_eq!(
        watermarks(&bootstrap, &topic, 0),
        (end, end),
        "an emptied log keeps its offsets across a restart\n{}",
        broker.log_tail()
    );
    let producer = producer(&bootstrap, &[("acks", "all")]);
    let next = vec![TestRecord::value("after retention and restart")];
    assert_eq!(
        produce_acked(&producer, &topic, Some(0), &next),
        vec![(0, end)],
        "the first record after the restart follows the last one ever written"
    );
    drop(producer);

    broker.kill9().expect("kill -9");
    broker.restart().expect("restart after kill -9");
    let (low, high) = watermarks(&bootstrap, &topic, 0);
    assert!(low >= end, "earliest offset {low} went back below {end}");
    assert_eq!(high, end + 1, "the acknowledged record is kept");
}
