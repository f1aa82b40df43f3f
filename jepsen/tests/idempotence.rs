//! The idempotent producer: librdkafka with `enable.idempotence=true` keeps
//! exactly one copy of each record, in send order, even when the broker is
//! killed mid-stream and the producer retries its in-flight batches against
//! the restarted broker (whose producer state must survive the crash).
#![cfg(not(madsim))]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use odradek_jepsen::BrokerProcess;
use rdkafka::producer::Producer;

#[test]
fn idempotent_producer_keeps_one_copy_of_each_record_across_kill9() {
    let mut broker = BrokerProcess::start_default().expect("start broker");
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("idempotent");
    create_topic(&bootstrap, &topic, 2, &[("fsync.policy", "always")]);

    let records: Vec<TestRecord> = (0..1500)
        .map(|i| TestRecord::value(format!("idem-{i:05}")))
        .collect();
    let producer = producer(
        &bootstrap,
        &[
            ("enable.idempotence", "true"),
            ("linger.ms", "1"),
            // Long enough for the retries after the restart to land.
            ("message.timeout.ms", "30000"),
            ("retry.backoff.ms", "50"),
        ],
    );
    let (first, second) = records.split_at(500);
    for (i, report) in produce(&producer, &topic, None, first)
        .into_iter()
        .enumerate()
    {
        report.unwrap_or_else(|(err, _)| panic!("record {i} before the kill: {err}"));
    }
    let reports = std::thread::scope(|scope| {
        let sender = scope.spawn(|| produce(&producer, &topic, None, second));
        std::thread::sleep(Duration::from_millis(40));
        broker.kill9().expect("kill -9");
        broker.restart().expect("restart after kill -9");
        sender.join().expect("producer thread")
    });
    producer.flush(Duration::from_secs(30)).expect("flush");
    let delivered: Vec<&TestRecord> = reports
        .iter()
        .zip(second)
        .filter_map(|(report, record)| report.as_ref().ok().map(|_| record))
        .collect();
    assert!(
        !delivered.is_empty(),
        "records sent after the restart are delivered"
    );
    drop(producer);

    let mut seen: BTreeMap<Vec<u8>, (i32, i64)> = BTreeMap::new();
    for partition in 0..2 {
        let (_, high) = watermarks(&bootstrap, &topic, partition);
        let read = read_from_start(&bootstrap, &topic, partition, high as usize);
        let mut last_index = None;
        for record in &read {
            let value = record.record.value.clone().expect("records have values");
            if let Some(first) = seen.insert(value.clone(), (partition, record.offset)) {
                panic!(
                    "{} stored twice: at {first:?} and at ({partition}, {})",
                    String::from_utf8_lossy(&value),
                    record.offset
                );
            }
            // Send order is kept within a partition.
            let index: usize = String::from_utf8_lossy(&value)[5..]
                .parse()
                .expect("idem-<n>");
            assert!(
                last_index < Some(index),
                "partition {partition}: {index} after {last_index:?}"
            );
            last_index = Some(index);
        }
    }
    for record in first.iter().chain(delivered) {
        assert!(
            seen.contains_key(record.value.as_ref().expect("value")),
            "acknowledged record {:?} is missing",
            record.value
        );
    }
}
