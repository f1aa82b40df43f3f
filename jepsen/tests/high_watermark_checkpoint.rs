//! The data directory's `replication-offset-checkpoint` on the release binary: a clean
//! shutdown (SIGTERM) leaves every partition's high watermark in it in Kafka's format, the
//! restarted broker serves the same watermarks, and a damaged file stops the broker at start
//! with an error naming it instead of opening on a guess.
#![cfg(not(madsim))]

mod common;

use common::*;
use odradek_jepsen::BrokerProcess;

const FILE: &str = "replication-offset-checkpoint";

#[test]
fn a_clean_shutdown_checkpoints_every_high_watermark() {
    let mut broker = BrokerProcess::start_default().expect("start broker");
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("hw-checkpoint");
    create_topic(&bootstrap, &topic, 2, &[]);
    let producer = producer(&bootstrap, &[("acks", "all")]);
    let records: Vec<TestRecord> = (0..7).map(TestRecord::numbered).collect();
    produce_acked(&producer, &topic, Some(0), &records);
    drop(producer);
    let status = broker.stop().expect("stop");
    assert!(status.success(), "clean exit: {status}");

    let text = std::fs::read_to_string(broker.data_dir().join(FILE)).expect("checkpoint written");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("0"), "Kafka's version line: {text}");
    let count: usize = lines.next().expect("count line").parse().expect("a count");
    let entries: Vec<&str> = lines.collect();
    assert_eq!(entries.len(), count, "{text}");
    assert!(entries.contains(&format!("{topic} 0 7").as_str()), "{text}");
    assert!(entries.contains(&format!("{topic} 1 0").as_str()), "{text}");

    broker.restart().expect("restart");
    assert_eq!(watermarks(&broker.bootstrap(), &topic, 0), (0, 7));
    assert_eq!(watermarks(&broker.bootstrap(), &topic, 1), (0, 0));
}

#[test]
fn a_damaged_checkpoint_stops_the_broker_at_start() {
    let mut broker = BrokerProcess::start_default().expect("start broker");
    let topic = unique_topic("hw-damaged");
    create_topic(&broker.bootstrap(), &topic, 1, &[]);
    assert!(broker.stop().expect("stop").success());
    let path = broker.data_dir().join(FILE);
    std::fs::write(&path, format!("0\n3\n{topic} 0 0\n")).expect("damage the file");
    assert!(
        broker.restart().is_err(),
        "a broker must not start on a damaged checkpoint"
    );
    assert!(
        broker.log_tail().contains("replication-offset-checkpoint"),
        "the error names the file:\n{}",
        broker.log_tail()
    );
    std::fs::remove_file(&path).expect("remove the file");
    broker
        .restart()
        .expect("without the file the broker starts");
    assert_eq!(watermarks(&broker.bootstrap(), &topic, 0), (0, 0));
}
