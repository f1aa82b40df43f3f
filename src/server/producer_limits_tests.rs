//! Producer ids per partition, driven through a real partition on a
//! simulated disk (sans IO): expiry by `producer.id.expiration.ms` and the
//! `producer.state.max.producers.per.partition` bound.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::records::Compression;

use crate::core::partition::Acks;
use crate::core::topic_config::{TopicConfig, TopicDefaults};
use crate::io::sim_clock::SimClock;
use crate::io::sim_disk::{SimDisk, SimDiskFaults};
use crate::log::compaction_batch::test_support::keyed_batch;
use crate::log::record_batch;
use crate::server::config::{BugSwitches, Limits};
use crate::server::partition_handle::PartitionHandle;

const NOW_MS: i64 = 1_700_000_000_000;

async fn partition(limits: Limits) -> PartitionHandle {
    let disk = Arc::new(SimDisk::new(3, SimDiskFaults::default()));
    let config = TopicConfig::resolve(&BTreeMap::new(), &TopicDefaults::default());
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
        Arc::new(SimClock::with_base(0, || NOW_MS)),
    )
    .await
    .expect("partition opens");
    handle
        .become_leader(0, vec![1], vec![1])
        .await
        .expect("a single node leads");
    handle.set_limits(limits);
    handle
}

async fn produce(handle: &PartitionHandle, producer_id: i64, timestamp_ms: i64) {
    let kvs = vec![(Some(b"k".to_vec()), Some(b"v".to_vec()), timestamp_ms)];
    let records = keyed_batch(0, &kvs, Compression::None, (producer_id, 0, 0));
    let headers = record_batch::validate_produced(&records, 1 << 20).unwrap();
    handle
        .produce(records, &headers, Acks::None, 1_000, NOW_MS)
        .await
        .expect("produce");
}

#[tokio::test]
async fn idle_producers_expire_on_the_timer() {
    let limits = Limits {
        producer_id_expiration_ms: 60_000,
        ..Limits::default()
    };
    let handle = partition(limits).await;
    produce(&handle, 1, NOW_MS - 120_000).await;
    produce(&handle, 2, NOW_MS).await;
    assert_eq!(handle.producer_count(), 2);
    assert_eq!(handle.expire_producers(NOW_MS), 1, "producer 1 is idle");
    assert_eq!(handle.producer_count(), 1);
    assert_eq!(handle.expire_producers(NOW_MS + 60_000), 1);
    assert_eq!(handle.producer_count(), 0);
}

#[tokio::test]
async fn a_partition_remembers_a_bounded_number_of_producers() {
    let limits = Limits {
        max_producers_per_partition: 100,
        ..Limits::default()
    };
    let handle = partition(limits).await;
    for id in 0..1_000 {
        produce(&handle, id, NOW_MS + id).await;
        assert!(handle.producer_count() <= 100);
    }
    assert_eq!(handle.producer_count(), 100);
}
