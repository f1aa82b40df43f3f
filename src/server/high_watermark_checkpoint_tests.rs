//! The data directory's `replication-offset-checkpoint`: written with every
//! hosted partition's high watermark (by the background loop and on demand),
//! read at the next start, and a damaged one stops the node with a clear
//! error, as Kafka takes the log directory offline.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::core::controller::CreateTopic;
use crate::core::partition::high_watermark_checkpoint::{decode, HighWatermarks};
use crate::core::partition::Acks;
use crate::io::clock::now_ms;
use crate::io::disk::Disk;
use crate::io::sim_disk::{SimDisk, SimDiskFaults};
use crate::log::record_batch::test_support::batch;
use crate::log::record_batch::validate_produced;
use crate::server::broker::Broker;
use crate::server::config::BrokerConfig;
use crate::server::{high_watermark_checkpoints, housekeeping, BrokerError};

const FILE: &str = "data/replication-offset-checkpoint";

fn config() -> BrokerConfig {
    let mut config = BrokerConfig {
        data_dir: "data".to_string(),
        ..BrokerConfig::single_node_default()
    };
    config.log.high_watermark_checkpoint_interval_ms = 10;
    config
}

async fn open(disk: &Arc<SimDisk>) -> Result<Arc<Broker>, BrokerError> {
    Broker::open(config(), Arc::clone(disk) as Arc<dyn Disk>).await
}

async fn create(broker: &Broker, name: &str, partitions: i32) {
    broker
        .create_topic(CreateTopic {
            name,
            num_partitions: partitions,
            replication_factor: -1,
            configs: BTreeMap::new(),
        })
        .await
        .expect("topic created");
}

async fn produce(broker: &Broker, topic: &str, records: usize) {
    let handle = broker.partition(topic, 0).expect("partition");
    for _ in 0..records {
        let bytes = batch(&[b"v"], now_ms());
        let headers = validate_produced(&bytes, 1 << 20).expect("valid batch");
        handle
            .produce(bytes, &headers, Acks::All, 1_000, now_ms())
            .await
            .expect("acknowledged");
    }
}

fn read_checkpoint(disk: &SimDisk) -> HighWatermarks {
    let len = disk.file_len(FILE).expect("checkpoint exists") as usize;
    let bytes = disk.read_at(FILE, 0, len).expect("readable");
    decode(std::str::from_utf8(&bytes).expect("text")).expect("well formed")
}

#[tokio::test]
async fn every_partitions_high_watermark_is_checkpointed_and_read_back() {
    let disk = Arc::new(SimDisk::new(3, SimDiskFaults::default()));
    let broker = open(&disk).await.expect("broker opens");
    create(&broker, "a", 2).await;
    produce(&broker, "a", 3).await;
    high_watermark_checkpoints::write(&broker)
        .await
        .expect("written");
    let expected: HighWatermarks = [(("a".to_string(), 0), 3), (("a".to_string(), 1), 0)]
        .into_iter()
        .collect();
    assert_eq!(read_checkpoint(&disk), expected);
    assert_eq!(
        high_watermark_checkpoints::load(disk.as_ref(), "data"),
        Ok(expected)
    );
    drop(broker);

    // A restarted single-replica leader serves what it recovered, as Kafka's
    // makeLeader does, whatever the checkpoint says.
    disk.write_file_unsynced(FILE, b"0\n1\na 0 1\n")
        .expect("written");
    let broker = open(&disk).await.expect("broker reopens");
    assert_eq!(broker.partition("a", 0).unwrap().offsets(), (0, 3, 3));
}

#[tokio::test]
async fn the_background_loop_keeps_the_checkpoint_current() {
    let disk = Arc::new(SimDisk::new(4, SimDiskFaults::default()));
    let broker = open(&disk).await.expect("broker opens");
    create(&broker, "b", 1).await;
    let tasks = housekeeping::spawn_all(&broker);
    produce(&broker, "b", 2).await;
    let want: HighWatermarks = [(("b".to_string(), 0), 2)].into_iter().collect();
    let mut seen = HighWatermarks::new();
    for _ in 0..500 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        if disk.exists(FILE) {
            seen = read_checkpoint(&disk);
            if seen == want {
                break;
            }
        }
    }
    for (_, task) in tasks {
        task.abort();
    }
    assert_eq!(seen, want);
}

#[tokio::test]
async fn a_damaged_checkpoint_stops_the_node_with_a_clear_error() {
    let disk = Arc::new(SimDisk::new(5, SimDiskFaults::default()));
    let broker = open(&disk).await.expect("broker opens");
    create(&broker, "c", 1).await;
    drop(broker);
    for (damage, says) in [
        (&b"0\n2\nc 0 5\n"[..], "expected 2 entries"),
        (b"0\n1\nc 0 5x\n", "malformed line"),
        (b"7\n0\n", "version 7"),
        (b"\xff\xfe", "not UTF-8"),
    ] {
        disk.write_file_unsynced(FILE, damage).expect("written");
        match open(&disk).await {
            Err(BrokerError::Storage(message)) => {
                assert!(
                    message.contains("replication-offset-checkpoint") && message.contains(says),
                    "{message}"
                );
            }
            other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
        }
    }
    disk.remove_file(FILE).expect("removed");
    open(&disk).await.expect("without the file the node starts");
}
