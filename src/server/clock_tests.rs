//! The broker under wall-clock steps (the simulator's clock faults, in
//! miniature): timers run on the monotonic clock, and what Kafka decides by
//! wall time stays consistent when the wall clock goes back.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;

use crate::core::controller::CreateTopic;
use crate::core::partition::Acks;
use crate::core::topic_config::{FsyncPolicy, TopicConfig, TopicDefaults};
use crate::io::clock::Clock;
use crate::io::disk::Disk;
use crate::io::node_context::NodeContext;
use crate::io::sim_clock::SimClock;
use crate::io::sim_disk::{SimDisk, SimDiskFaults};
use crate::kafka::test_harness::call_as;
use crate::log::compaction_batch::test_support::keyed_batch;
use crate::log::record_batch::{self, test_support::batch};
use crate::server::broker::Broker;
use crate::server::config::{BrokerConfig, BugSwitches};
use crate::server::partition_handle::PartitionHandle;

const BASE_MS: i64 = 1_700_000_000_000;
const HOUR_MS: i64 = 3_600_000;

fn fixed_base() -> i64 {
    BASE_MS
}

async fn broker(disk: Arc<dyn Disk>, clock: Arc<SimClock>) -> Arc<Broker> {
    let config = BrokerConfig {
        data_dir: "data".to_string(),
        ..BrokerConfig::single_node_default()
    };
    Broker::open_node(config, NodeContext::new(disk, clock))
        .await
        .expect("broker opens")
}

async fn produce(broker: &Broker, topic: &str) {
    // The client's timestamp is ignored: the topic uses LogAppendTime.
    produce_batch(broker, topic, batch(&[b"v"], 5)).await;
}

async fn produce_batch(broker: &Broker, topic: &str, records: Vec<u8>) {
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(1_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(Bytes::from(records)))])]);
    let response: ProduceResponse =
        call_as(broker, ApiKey::Produce, 9, &request, "test", None).await;
    assert_eq!(response.responses[0].partition_responses[0].error_code, 0);
}

fn lookups(broker: &Broker) -> Vec<Option<(i64, i64)>> {
    let handle = broker.partition("t", 0).expect("hosted");
    [
        BASE_MS - 2 * HOUR_MS,
        BASE_MS - HOUR_MS,
        BASE_MS - HOUR_MS + 1,
        BASE_MS,
        BASE_MS + 1,
        BASE_MS + HOUR_MS,
        BASE_MS + HOUR_MS + 1,
    ]
    .into_iter()
    .map(|t| handle.offset_for_timestamp(t).expect("lookup"))
    .collect()
}

async fn create_log_append_time_topic(broker: &Broker) {
    let configs: BTreeMap<String, String> = [("message.timestamp.type", "LogAppendTime")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    broker
        .create_topic(CreateTopic {
            name: "t",
            num_partitions: 1,
            replication_factor: -1,
            configs,
        })
        .await
        .expect("topic created");
}

/// Under LogAppendTime every record of a batch has the batch's time (the
/// broker's stamp), whatever times the producer wrote into its records, as
/// Kafka reads them. A lookup by a time between the producer's times and at
/// or before the broker's answers the batch's first record. The simulator
/// found the broker (and its client codec) reading the producer's times
/// instead, with the broker's clock skewed (seeds 2, 4, 9, 28 of 0..30).
#[tokio::test]
async fn log_append_time_records_all_take_the_batch_time() {
    let disk: Arc<dyn Disk> = Arc::new(SimDisk::new(7, SimDiskFaults::default()));
    let clock = Arc::new(SimClock::with_base(0, fixed_base));
    let broker = broker(Arc::clone(&disk), Arc::clone(&clock)).await;
    create_log_append_time_topic(&broker).await;
    let producer_times = vec![
        (
            Some(b"k".to_vec()),
            Some(b"early".to_vec()),
            BASE_MS - 2 * HOUR_MS,
        ),
        (
            Some(b"k".to_vec()),
            Some(b"late".to_vec()),
            BASE_MS + 2 * HOUR_MS,
        ),
    ];
    let records = keyed_batch(0, &producer_times, Compression::None, (-1, -1, -1));
    produce_batch(&broker, "t", records).await;
    let handle = broker.partition("t", 0).expect("hosted");
    for target in [BASE_MS - HOUR_MS, BASE_MS] {
        assert_eq!(
            handle.offset_for_timestamp(target).expect("lookup"),
            Some((0, BASE_MS)),
            "lookup at {target}"
        );
    }
    assert_eq!(
        handle.offset_for_timestamp(BASE_MS + 1).expect("lookup"),
        None
    );
}

/// LogAppendTime stamps records with the broker's wall clock, so a clock
/// stepped back writes a timestamp lower than one before it. The time index
/// stays max-monotonic (as Kafka's), and ListOffsets by timestamp still
/// answers the first offset whose timestamp is at or after the target, also
/// after a restart that loads the index from disk.
#[tokio::test]
async fn a_backward_wall_step_keeps_lookups_by_timestamp_right() {
    let disk: Arc<dyn Disk> = Arc::new(SimDisk::new(7, SimDiskFaults::default()));
    let clock = Arc::new(SimClock::with_base(0, fixed_base));
    let broker = broker(Arc::clone(&disk), Arc::clone(&clock)).await;
    let configs: BTreeMap<String, String> = [
        ("message.timestamp.type", "LogAppendTime"),
        ("segment.bytes", "1024"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    broker
        .create_topic(CreateTopic {
            name: "t",
            num_partitions: 1,
            replication_factor: -1,
            configs,
        })
        .await
        .expect("topic created");
    produce(&broker, "t").await; // offset 0 at BASE
    clock.jump(-HOUR_MS);
    produce(&broker, "t").await; // offset 1 at BASE - 1 h
    produce(&broker, "t").await; // offset 2 at BASE - 1 h
    clock.jump(2 * HOUR_MS);
    produce(&broker, "t").await; // offset 3 at BASE + 1 h
    let expected = vec![
        Some((0, BASE_MS)),
        Some((0, BASE_MS)),
        Some((0, BASE_MS)),
        Some((0, BASE_MS)),
        Some((3, BASE_MS + HOUR_MS)),
        Some((3, BASE_MS + HOUR_MS)),
        None,
    ];
    assert_eq!(lookups(&broker), expected);
    for handle in broker.all_partitions() {
        handle.checkpoint().await.expect("checkpoint");
    }
    drop(broker);
    let reopened = self::broker(disk, clock).await;
    assert_eq!(lookups(&reopened), expected, "after a restart");
}

async fn interval_partition(clock: Arc<SimClock>) -> PartitionHandle {
    let disk = Arc::new(SimDisk::new(3, SimDiskFaults::default()));
    let mut config = TopicConfig::resolve(&BTreeMap::new(), &TopicDefaults::default());
    config.fsync_policy = FsyncPolicy::Interval;
    config.fsync_interval_ms = 40;
    let (handle, _) = PartitionHandle::open(
        disk,
        "data",
        "t",
        [1; 16],
        0,
        1,
        0,
        None,
        config,
        BugSwitches::default(),
        clock,
    )
    .await
    .expect("partition opens");
    handle
        .become_leader(0, vec![1], vec![1])
        .await
        .expect("a single node leads");
    handle
}

async fn append(handle: &PartitionHandle, clock: &SimClock) {
    let records = batch(&[b"v"], clock.wall_ms());
    let headers = record_batch::validate_produced(&records, 1 << 20).unwrap();
    handle
        .produce(records, &headers, Acks::Leader, 1_000, clock.wall_ms())
        .await
        .expect("produce");
}

/// The `interval` fsync is a timer: a wall clock stepped back an hour must
/// not hold unsynced data for that hour, and one stepped forward must not
/// fire it early.
#[tokio::test]
async fn wall_steps_neither_starve_nor_hasten_the_interval_fsync() {
    let clock = Arc::new(SimClock::with_base(0, fixed_base));
    let handle = interval_partition(Arc::clone(&clock)).await;
    append(&handle, &clock).await;
    clock.jump(HOUR_MS);
    assert!(
        !handle.background_sync_due(),
        "a forward step fires nothing"
    );
    clock.jump(-2 * HOUR_MS);
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert!(
        handle.background_sync_due(),
        "due after the interval of monotonic time, whatever the wall clock did"
    );
    handle.sync().await.expect("sync");
    assert!(!handle.background_sync_due());
}

/// ListOffsets MAX_TIMESTAMP (KIP-734) answers the first record carrying the
/// log's largest timestamp, as Kafka's `offsetOfMaxTimestamp` does, and
/// nothing for a log without records.
#[tokio::test]
async fn max_timestamp_answers_the_first_record_carrying_it() {
    let disk: Arc<dyn Disk> = Arc::new(SimDisk::new(7, SimDiskFaults::default()));
    let clock = Arc::new(SimClock::with_base(0, fixed_base));
    let broker = broker(Arc::clone(&disk), Arc::clone(&clock)).await;
    broker
        .create_topic(CreateTopic {
            name: "t",
            num_partitions: 1,
            replication_factor: -1,
            configs: BTreeMap::new(),
        })
        .await
        .expect("topic created");
    let handle = broker.partition("t", 0).expect("hosted");
    assert_eq!(handle.offset_for_max_timestamp().expect("lookup"), None);
    let kv = |ts: i64| (Some(b"k".to_vec()), Some(b"v".to_vec()), ts);
    let first = vec![kv(BASE_MS), kv(BASE_MS + 30), kv(BASE_MS + 10)];
    produce_batch(
        &broker,
        "t",
        keyed_batch(0, &first, Compression::None, (-1, -1, -1)),
    )
    .await;
    let second = vec![kv(BASE_MS + 5), kv(BASE_MS + 30)];
    produce_batch(
        &broker,
        "t",
        keyed_batch(0, &second, Compression::None, (-1, -1, -1)),
    )
    .await;
    assert_eq!(
        handle.offset_for_max_timestamp().expect("lookup"),
        Some((1, BASE_MS + 30))
    );
}
