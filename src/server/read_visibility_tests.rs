//! Reads serve synced records only, under every fsync policy: a record a
//! consumer read survives a power loss, so its offset is never reused
//! (docs/architecture.md, "Durability and the fsync policy").

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::records::Compression;

use crate::core::partition::Acks;
use crate::core::topic_config::{FsyncPolicy, TopicConfig, TopicDefaults};
use crate::io::sim_clock::SimClock;
use crate::io::sim_disk::{SimDisk, SimDiskFaults};
use crate::log::compaction_batch::test_support::keyed_batch;
use crate::log::record_batch;
use crate::server::config::BugSwitches;
use crate::server::partition_handle::PartitionHandle;

const NOW_MS: i64 = 1_700_000_000_000;

async fn partition(policy: FsyncPolicy, bugs: BugSwitches) -> PartitionHandle {
    let disk = Arc::new(SimDisk::new(5, SimDiskFaults::default()));
    let defaults = TopicDefaults {
        fsync_policy: policy,
        ..TopicDefaults::default()
    };
    let config = TopicConfig::resolve(&BTreeMap::new(), &defaults);
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
        bugs,
        Arc::new(SimClock::with_base(0, || NOW_MS)),
    )
    .await
    .expect("partition opens");
    handle
        .become_leader(0, vec![1], vec![1])
        .await
        .expect("a single node leads");
    handle
}

async fn produce(handle: &PartitionHandle) {
    let kvs = vec![(Some(b"k".to_vec()), Some(b"v".to_vec()), NOW_MS)];
    let records = keyed_batch(0, &kvs, Compression::None, (-1, -1, -1));
    let headers = record_batch::validate_produced(&records, 1 << 20).unwrap();
    handle
        .produce(records, &headers, Acks::All, 1_000, NOW_MS)
        .await
        .expect("acknowledged");
}

#[tokio::test]
async fn unsynced_records_are_counted_in_the_high_watermark_but_not_served() {
    for policy in [FsyncPolicy::Interval, FsyncPolicy::Never] {
        let handle = partition(policy, BugSwitches::default()).await;
        produce(&handle).await;
        let read = handle.read(0, 1 << 20).unwrap();
        assert_eq!(read.high_watermark, 1, "{policy:?}: acks=all answered");
        assert!(read.records.is_empty(), "{policy:?}: not synced yet");
        assert!(handle.read_waits_for_sync(0));
        handle.sync().await.unwrap();
        assert!(!handle.read_waits_for_sync(0));
        assert!(!handle.read(0, 1 << 20).unwrap().records.is_empty());
    }
}

#[tokio::test]
async fn always_serves_what_it_acknowledged_without_waiting() {
    let handle = partition(FsyncPolicy::Always, BugSwitches::default()).await;
    produce(&handle).await;
    assert!(!handle.read_waits_for_sync(0));
    assert!(!handle.read(0, 1 << 20).unwrap().records.is_empty());
}

#[tokio::test]
async fn the_read_unsynced_bug_serves_records_a_crash_can_take_back() {
    let bugs = BugSwitches {
        read_unsynced: true,
        ..BugSwitches::default()
    };
    let handle = partition(FsyncPolicy::Never, bugs).await;
    produce(&handle).await;
    assert!(!handle.read_waits_for_sync(0));
    assert!(!handle.read(0, 1 << 20).unwrap().records.is_empty());
}
