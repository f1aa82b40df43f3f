//! What survives a broker restart: every acknowledged record, at the offset it was
//! acknowledged at, plus the topics themselves; and new writes continue after the old end.
#![cfg(not(madsim))]

mod common;

use std::time::Duration;

use common::*;
use odradek_jepsen::{BrokerOptions, BrokerProcess, FsyncPolicy};
use rdkafka::producer::Producer;

const PARTITIONS: i32 = 2;

/// kill -9 leaves the OS page cache intact, so this cannot tell fsync policies apart; it checks
/// that recovery after an unclean shutdown (scanning the active segment, rebuilding indexes)
/// keeps every acknowledged record, including ones whose acknowledgement raced the kill.
#[test]
fn kill9_keeps_every_acknowledged_record() {
    let mut broker = BrokerProcess::start_default().expect("start broker");
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("kill9");
    create_topic(
        &bootstrap,
        &topic,
        PARTITIONS,
        &[("fsync.policy", "always")],
    );

    let records: Vec<TestRecord> = (0..600)
        .map(|i| TestRecord::value(format!("kill9-{i}")))
        .collect();
    let (settled, in_flight) = records.split_at(300);
    let producer = producer(
        &bootstrap,
        &[
            ("acks", "all"),
            ("linger.ms", "2"),
            // Records caught by the kill fail within the test's time budget instead of waiting
            // for the restarted broker for the default five minutes.
            ("message.timeout.ms", "8000"),
        ],
    );
    let mut acked: Vec<((i32, i64), TestRecord)> = Vec::new();
    for (i, report) in produce(&producer, &topic, None, settled)
        .into_iter()
        .enumerate()
    {
        let delivery = report.unwrap_or_else(|(err, _)| panic!("record {i} before kill: {err}"));
        acked.push(((delivery.partition, delivery.offset), settled[i].clone()));
    }

    // Send the second half and kill the broker while it is being written.
    let in_flight_futures = std::thread::scope(|scope| {
        let sender = scope.spawn(|| produce(&producer, &topic, None, in_flight));
        std::thread::sleep(Duration::from_millis(30));
        broker.kill9().expect("kill -9");
        broker.restart().expect("restart after kill -9");
        sender.join().expect("producer thread")
    });
    for (report, record) in in_flight_futures.into_iter().zip(in_flight) {
        // Unacknowledged records may or may not have been written; only acked ones are promised.
        if let Ok(delivery) = report {
            acked.push(((delivery.partition, delivery.offset), record.clone()));
        }
    }
    drop(producer);

    for partition in 0..PARTITIONS {
        let (low, high) = watermarks(&bootstrap, &topic, partition);
        assert_eq!(low, 0, "partition {partition} lost its start");
        let read = read_from_start(&bootstrap, &topic, partition, high as usize);
        assert_eq!(
            read.len() as i64,
            high,
            "partition {partition} readable up to its end"
        );
        for ((p, offset), record) in acked.iter().filter(|((p, _), _)| *p == partition) {
            let found = read.iter().find(|r| r.offset == *offset);
            assert_eq!(
                found.map(|r| &r.record),
                Some(record),
                "acknowledged record at {p}/{offset} after kill -9"
            );
        }
    }
    assert_writes_continue(&bootstrap, &topic);
}

/// A clean stop (SIGTERM) exits successfully and keeps everything, even under
/// `fsync.policy=never`, and the topics with their configs.
#[test]
fn clean_stop_keeps_everything() {
    let mut broker = BrokerOptions::default()
        .default_fsync_policy(FsyncPolicy::Never)
        .start()
        .expect("start broker");
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("stop");
    create_topic(
        &bootstrap,
        &topic,
        PARTITIONS,
        &[("retention.ms", "86400000")],
    );

    let producer = producer(&bootstrap, &[("acks", "1"), ("linger.ms", "5")]);
    let per_partition: Vec<Vec<TestRecord>> = (0..PARTITIONS)
        .map(|p| {
            (0..200)
                .map(|i| {
                    let mut record = TestRecord::numbered(i);
                    record.value = Some(format!("stop-p{p}-{i}").into_bytes());
                    record
                })
                .collect()
        })
        .collect();
    for (p, records) in per_partition.iter().enumerate() {
        produce_acked(&producer, &topic, Some(p as i32), records);
    }
    producer.flush(REQUEST_TIMEOUT).expect("flush");
    drop(producer);

    let status = broker.stop().expect("stop");
    assert!(
        status.success(),
        "SIGTERM should exit cleanly, got {status}"
    );
    broker.restart().expect("restart after clean stop");

    assert_eq!(
        topic_partitions(&bootstrap, &topic),
        Some((0..PARTITIONS).collect()),
        "topic and its partitions survive a restart"
    );
    let configs = describe_topic_configs(&bootstrap, &topic);
    assert_eq!(
        configs.get("retention.ms").and_then(|e| e.value.as_deref()),
        Some("86400000"),
        "topic config survives a restart"
    );
    for (p, records) in per_partition.iter().enumerate() {
        assert_eq!(
            watermarks(&bootstrap, &topic, p as i32),
            (0, records.len() as i64)
        );
        let read = read_from_start(&bootstrap, &topic, p as i32, records.len());
        assert_records_at(&read, records, 0);
    }
    assert_writes_continue(&bootstrap, &topic);
}

/// After a restart a new record goes right after the recovered log end, never over it.
fn assert_writes_continue(bootstrap: &str, topic: &str) {
    let producer = producer(bootstrap, &[("acks", "all")]);
    for partition in 0..PARTITIONS {
        let (_, high) = watermarks(bootstrap, topic, partition);
        let record = TestRecord::value(format!("after-restart-{partition}"));
        let offsets = produce_acked(
            &producer,
            topic,
            Some(partition),
            std::slice::from_ref(&record),
        );
        assert_eq!(
            offsets,
            vec![(partition, high)],
            "new record appended at the old end"
        );
        let consumer = consumer(bootstrap, &[]);
        let read = read_partition(
            &consumer,
            topic,
            partition,
            rdkafka::Offset::Offset(high),
            1,
            READ_TIMEOUT,
        );
        assert_records_at(&read, std::slice::from_ref(&record), high);
    }
}
