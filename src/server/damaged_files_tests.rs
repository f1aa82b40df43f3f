//! Damaged small files in a partition directory (rot in synced data): the
//! partition is refused with a clear error, never opened on a guess and
//! never a panic.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::core::topic_config::{TopicConfig, TopicDefaults};
use crate::io::sim_clock::SimClock;
use crate::io::sim_disk::{SimDisk, SimDiskFaults};
use crate::log::partition_log::LogError;
use crate::server::config::BugSwitches;
use crate::server::partition_handle::PartitionHandle;

const NOW_MS: i64 = 1_700_000_000_000;

/// A leader-epoch checkpoint naming an epoch above the partition's (a digit
/// flipped by rot in synced data) refuses the partition with a clear error;
/// it used to trip the cache's "leader epochs only grow" assertion.
#[tokio::test]
async fn a_rotted_leader_epoch_checkpoint_refuses_the_partition() {
    let disk = Arc::new(SimDisk::new(5, SimDiskFaults::default()));
    let config = TopicConfig::resolve(&BTreeMap::new(), &TopicDefaults::default());
    let open = |disk: Arc<SimDisk>| {
        PartitionHandle::open(
            disk,
            "data",
            "t",
            [1; 16],
            0,
            1,
            0,
            vec![1],
            None,
            config.clone(),
            BugSwitches::default(),
            Arc::new(SimClock::with_base(0, || NOW_MS)),
        )
    };
    let (handle, _) = open(Arc::clone(&disk)).await.expect("partition opens");
    drop(handle);
    crate::io::disk::Disk::write_file_unsynced(
        disk.as_ref(),
        "data/t-0/leader-epoch-checkpoint",
        b"8 0\n",
    )
    .expect("written");
    match open(disk).await {
        Err(LogError::CorruptFile { reason, .. }) => {
            assert!(reason.contains("leader epoch 8"), "{reason}")
        }
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    }
}
