//! Records produced with each acknowledgement mode and each compression codec come back from
//! a fetch exactly as sent: same offsets, keys, values (including empty and null) and headers.
#![cfg(not(madsim))]

mod common;

use common::*;
use odradek_jepsen::BrokerProcess;

const RECORDS: usize = 300;

fn numbered_records(count: usize) -> Vec<TestRecord> {
    (0..count).map(TestRecord::numbered).collect()
}

/// Produces with `acks` to one partition and checks the delivery reports name consecutive
/// offsets from 0 and that a consumer reads the same records at those offsets.
fn round_trip_with_acks(acks: &str) {
    let broker = BrokerProcess::start_default().expect("start broker");
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("acks");
    create_topic(&bootstrap, &topic, 1, &[]);
    let records = numbered_records(RECORDS);

    let producer = producer(&bootstrap, &[("acks", acks), ("linger.ms", "5")]);
    let offsets = produce_acked(&producer, &topic, Some(0), &records);
    let expected_offsets: Vec<(i32, i64)> = (0..RECORDS as i64).map(|o| (0, o)).collect();
    assert_eq!(offsets, expected_offsets, "acknowledged offsets");

    let read = read_from_start(&bootstrap, &topic, 0, RECORDS);
    assert_records_at(&read, &records, 0);
    assert_eq!(watermarks(&bootstrap, &topic, 0), (0, RECORDS as i64));
}

#[test]
fn acks_1_records_read_back_at_acknowledged_offsets() {
    round_trip_with_acks("1");
}

#[test]
fn acks_all_records_read_back_at_acknowledged_offsets() {
    round_trip_with_acks("all");
}

#[test]
fn acks_minus_1_is_acks_all() {
    round_trip_with_acks("-1");
}

/// With acks=0 the broker sends no response, so there are no offsets to check; the records
/// must still all arrive, once each and in send order (one connection, no retries).
#[test]
fn acks_0_records_eventually_arrive() {
    let broker = BrokerProcess::start_default().expect("start broker");
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("acks0");
    create_topic(&bootstrap, &topic, 1, &[]);
    let records = numbered_records(RECORDS);

    let producer = producer(&bootstrap, &[("acks", "0"), ("linger.ms", "5")]);
    for (i, report) in produce(&producer, &topic, Some(0), &records)
        .into_iter()
        .enumerate()
    {
        if let Err((err, _)) = report {
            panic!("acks=0 record {i} failed locally: {err}");
        }
    }

    let read = read_from_start(&bootstrap, &topic, 0, RECORDS);
    assert_records_at(&read, &records, 0);
}

/// Records sent to explicit partitions stay in their partition, each with its own offsets.
#[test]
fn partitions_keep_separate_ordered_logs() {
    const PARTITIONS: i32 = 3;
    let broker = BrokerProcess::start_default().expect("start broker");
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("partitions");
    create_topic(&bootstrap, &topic, PARTITIONS, &[]);
    let producer = producer(&bootstrap, &[("acks", "all")]);

    let per_partition: Vec<Vec<TestRecord>> = (0..PARTITIONS)
        .map(|p| {
            (0..50)
                .map(|i| TestRecord::value(format!("p{p}-r{i}")))
                .collect()
        })
        .collect();
    for (p, records) in per_partition.iter().enumerate() {
        let offsets = produce_acked(&producer, &topic, Some(p as i32), records);
        let expected: Vec<(i32, i64)> = (0..records.len() as i64).map(|o| (p as i32, o)).collect();
        assert_eq!(offsets, expected, "offsets in partition {p}");
    }
    for (p, records) in per_partition.iter().enumerate() {
        let read = read_from_start(&bootstrap, &topic, p as i32, records.len());
        assert!(read.iter().all(|r| r.partition == p as i32));
        assert_records_at(&read, records, 0);
    }
}

/// Batches compressed by the producer are stored and served so that the consumer decompresses
/// exactly what was sent. Values are repetitive so the codec really shrinks them, and a linger
/// makes multi-record batches.
fn round_trip_with_compression(codec: &str) {
    let broker = BrokerProcess::start_default().expect("start broker");
    let bootstrap = broker.bootstrap();
    let topic = unique_topic(&format!("compression-{codec}"));
    create_topic(&bootstrap, &topic, 1, &[]);
    let records: Vec<TestRecord> = (0..RECORDS)
        .map(|i| {
            let mut record = TestRecord::numbered(i);
            record.value = Some(format!("{codec}-{i}-{}", "abcd".repeat(64)).into_bytes());
            record
        })
        .collect();

    let producer = producer(
        &bootstrap,
        &[
            ("compression.type", codec),
            ("acks", "all"),
            ("linger.ms", "20"),
        ],
    );
    let offsets = produce_acked(&producer, &topic, Some(0), &records);
    let expected_offsets: Vec<(i32, i64)> = (0..RECORDS as i64).map(|o| (0, o)).collect();
    assert_eq!(offsets, expected_offsets, "acknowledged offsets");

    let read = read_from_start(&bootstrap, &topic, 0, RECORDS);
    assert_records_at(&read, &records, 0);
}

#[test]
fn compression_none() {
    round_trip_with_compression("none");
}

#[test]
fn compression_gzip() {
    round_trip_with_compression("gzip");
}

#[test]
fn compression_snappy() {
    round_trip_with_compression("snappy");
}

#[test]
fn compression_lz4() {
    round_trip_with_compression("lz4");
}

#[test]
fn compression_zstd() {
    round_trip_with_compression("zstd");
}

/// A consumer that starts in the middle of a batch gets records from exactly that offset on:
/// the broker serves whole batches and the client skips the earlier records, so the batch's
/// base offset must be right.
#[test]
fn fetch_from_a_middle_offset() {
    let broker = BrokerProcess::start_default().expect("start broker");
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("middle");
    create_topic(&bootstrap, &topic, 1, &[]);
    let records = numbered_records(RECORDS);
    let producer = producer(&bootstrap, &[("acks", "all"), ("linger.ms", "20")]);
    produce_acked(&producer, &topic, Some(0), &records);

    let start = 137;
    let consumer = consumer(&bootstrap, &[]);
    let read = read_partition(
        &consumer,
        &topic,
        0,
        rdkafka::Offset::Offset(start as i64),
        RECORDS - start,
        READ_TIMEOUT,
    );
    assert_records_at(&read, &records[start..], start as i64);
}
