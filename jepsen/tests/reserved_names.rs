//! Topic names a client must not get: Kafka's internal names and names colliding with an
//! existing topic after '.'/'_' folding. Before the fix, CreateTopics `__cluster_metadata`
//! succeeded, its partition directory was the metadata journal's, and the next restart lost
//! every topic and deleted its data. Also: the broker never deletes a partition directory
//! whose `partition.metadata` is missing or unreadable.
#![cfg(not(madsim))]

mod common;

use common::*;
use odradek_jepsen::{BrokerOptions, BrokerProcess};
use rdkafka::consumer::Consumer;
use rdkafka::types::RDKafkaErrorCode;

/// A broker holding one topic with known records, to check after each restart.
struct Fixture {
    broker: BrokerProcess,
    bootstrap: String,
    topic: String,
    records: Vec<TestRecord>,
}

impl Fixture {
    fn new() -> Fixture {
        let broker = BrokerOptions::default()
            .auto_create_topics(true)
            .start()
            .expect("start broker");
        let bootstrap = broker.bootstrap();
        let topic = unique_topic("kept");
        create_topic(&bootstrap, &topic, 1, &[]);
        let records: Vec<TestRecord> = (0..40).map(TestRecord::numbered).collect();
        produce_acked(
            &producer(&bootstrap, &[("acks", "all")]),
            &topic,
            Some(0),
            &records,
        );
        Fixture {
            broker,
            bootstrap,
            topic,
            records,
        }
    }

    fn assert_topic_intact(&self, after: &str) {
        assert_eq!(
            topic_partitions(&self.bootstrap, &self.topic),
            Some(vec![0]),
            "topic listed after {after}"
        );
        let read = read_from_start(&self.bootstrap, &self.topic, 0, self.records.len());
        assert_records_at(&read, &self.records, 0);
    }

    fn partition_dir(&self) -> std::path::PathBuf {
        self.broker.data_dir().join(format!("{}-0", self.topic))
    }
}

#[test]
fn internal_and_colliding_names_are_refused_and_nothing_is_lost_on_restart() {
    let mut fixture = Fixture::new();
    let bootstrap = fixture.bootstrap.clone();

    // Kafka's KafkaApis answers INVALID_REQUEST for the metadata log's name; the controller
    // answers INVALID_TOPIC_EXCEPTION for the coordinators' topics and their folds.
    assert_eq!(
        try_create_topic(&bootstrap, "__cluster_metadata", 1, &[]),
        Err((
            "__cluster_metadata".to_string(),
            RDKafkaErrorCode::InvalidRequest
        ))
    );
    for name in [
        "__transaction_state",
        "__consumer_offsets",
        "__consumer.offsets",
        "__cluster.metadata",
    ] {
        assert_eq!(
            try_create_topic(&bootstrap, name, 1, &[]),
            Err((name.to_string(), RDKafkaErrorCode::InvalidTopic)),
            "{name}"
        );
    }

    // `a.b` and `a_b` collide (Kafka's Topic.hasCollision): the second is refused.
    let underscored = unique_topic("dotted_name");
    let dotted = underscored.replace('_', ".");
    create_topic(&bootstrap, &underscored, 1, &[]);
    assert_eq!(
        try_create_topic(&bootstrap, &dotted, 1, &[]),
        Err((dotted.clone(), RDKafkaErrorCode::InvalidTopic))
    );

    // Auto-creation on Metadata refuses the same names.
    let metadata = consumer(&bootstrap, &[])
        .fetch_metadata(Some("__cluster_metadata"), REQUEST_TIMEOUT)
        .expect("Metadata");
    let listed = &metadata.topics()[0];
    assert!(
        listed.error().is_some(),
        "__cluster_metadata must not be auto-created"
    );
    assert_eq!(topic_partitions(&bootstrap, "__cluster_metadata"), None);
    assert_eq!(topic_partitions(&bootstrap, "__transaction_state"), None);
    assert_eq!(topic_partitions(&bootstrap, &dotted), None);

    // The journal lives where no partition directory can: a topic name cannot hold '@'.
    let data_dir = fixture.broker.data_dir();
    assert!(data_dir.join("@cluster_metadata").is_dir());
    assert!(!data_dir.join("__cluster_metadata-0").exists());

    fixture.broker.restart().expect("restart");
    fixture.assert_topic_intact("a restart");
    assert_eq!(
        topic_partitions(&bootstrap, &underscored),
        Some(vec![0]),
        "the first of the colliding pair survives"
    );
}

/// A data directory written before the journal moved: the journal is renamed (durably) at
/// start and every topic is still there.
#[test]
fn a_journal_in_the_legacy_directory_is_migrated() {
    let mut fixture = Fixture::new();
    fixture.broker.stop().expect("stop");
    let data_dir = fixture.broker.data_dir();
    std::fs::rename(
        data_dir.join("@cluster_metadata"),
        data_dir.join("__cluster_metadata-0"),
    )
    .expect("put the journal where older versions kept it");

    fixture.broker.restart().expect("restart");
    fixture.assert_topic_intact("the migration");
    assert!(data_dir.join("@cluster_metadata").is_dir());
    assert!(!data_dir.join("__cluster_metadata-0").exists());
}

/// A missing `partition.metadata` is adopted; an unreadable one closes the partition but
/// deletes nothing. Before the fix both deleted the directory and its records.
#[test]
fn a_missing_or_unreadable_partition_metadata_never_deletes_data() {
    let mut fixture = Fixture::new();
    let meta = fixture.partition_dir().join("partition.metadata");

    fixture.broker.stop().expect("stop");
    let original = std::fs::read(&meta).expect("partition.metadata written");
    std::fs::remove_file(&meta).expect("remove partition.metadata");
    fixture.broker.restart().expect("restart");
    fixture.assert_topic_intact("losing partition.metadata");
    assert_eq!(
        std::fs::read(&meta).expect("rewritten"),
        original,
        "the adopted directory names its topic again"
    );

    fixture.broker.stop().expect("stop");
    std::fs::write(&meta, b"not a partition metadata file\n").expect("garble");
    fixture.broker.restart().expect("restart");
    let segments = std::fs::read_dir(fixture.partition_dir())
        .expect("the directory is still there")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
        .count();
    assert!(segments >= 1, "the segments are still there");

    fixture.broker.stop().expect("stop");
    std::fs::write(&meta, &original).expect("repair");
    fixture.broker.restart().expect("restart");
    fixture.assert_topic_intact("repairing partition.metadata");
}
