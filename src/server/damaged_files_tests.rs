//! Damaged small files in a partition directory (rot in synced data): the
//! partition is refused with a clear error, never opened on a guess and
//! never a panic.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::records::Compression;

use crate::core::partition::Acks;
use crate::core::topic_config::{TopicConfig, TopicDefaults};
use crate::io::disk::Disk;
use crate::io::sim_clock::SimClock;
use crate::io::sim_disk::{SimDisk, SimDiskFaults};
use crate::log::compaction_batch::test_support::keyed_batch;
use crate::log::partition_log::LogError;
use crate::log::record_batch;
use crate::log::RecoveryReport;
use crate::server::config::BugSwitches;
use crate::server::partition_handle::PartitionHandle;

const NOW_MS: i64 = 1_700_000_000_000;

/// Opens partition `t-0` of the single node on `disk`, as the broker does.
async fn open(
    disk: Arc<SimDisk>,
    config: &TopicConfig,
) -> Result<(PartitionHandle, RecoveryReport), LogError> {
    let opened = PartitionHandle::open(
        disk,
        "data",
        "t",
        [1; 16],
        0,
        1,
        0,
        None,
        config.clone(),
        BugSwitches::default(),
        Arc::new(SimClock::with_base(0, || NOW_MS)),
    )
    .await?;
    opened
        .0
        .become_leader(0, vec![1], vec![1])
        .await
        .expect("a single node leads");
    Ok(opened)
}

/// Small segments: the first is sealed below the recovery point once
/// checkpointed, so the open trusts it unscanned, as on a real broker.
fn small_segments() -> TopicConfig {
    let overrides = BTreeMap::from([("segment.bytes".to_string(), "1024".to_string())]);
    TopicConfig::resolve(&overrides, &TopicDefaults::default())
}

/// A leader-epoch checkpoint naming an epoch above the partition's (a digit
/// flipped by rot in synced data) refuses the partition with a clear error;
/// it used to trip the cache's "leader epochs only grow" assertion.
#[tokio::test]
async fn a_rotted_leader_epoch_checkpoint_refuses_the_partition() {
    let disk = Arc::new(SimDisk::new(5, SimDiskFaults::default()));
    let config = TopicConfig::resolve(&BTreeMap::new(), &TopicDefaults::default());
    let (handle, _) = open(Arc::clone(&disk), &config)
        .await
        .expect("partition opens");
    drop(handle);
    Disk::write_file_unsynced(disk.as_ref(), "data/t-0/leader-epoch-checkpoint", b"8 0\n")
        .expect("written");
    match open(disk, &config).await {
        Err(LogError::CorruptFile { reason, .. }) => {
            assert!(reason.contains("leader epoch 8"), "{reason}")
        }
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    }
}

/// Seeds 7 and 21 of `--synced-bit-flips`: rot in a synced batch header
/// (its last offset delta) was replayed into the producer state, whose end
/// offset went to 2^49 and tripped the "offsets grow" assertion at the next
/// produce. Headers read without their CRC must fit their segment; one that
/// does not refuses the partition with a clear error.
#[tokio::test]
async fn a_rotted_batch_header_refuses_the_partition() {
    let disk = Arc::new(SimDisk::new(5, SimDiskFaults::default()));
    let config = small_segments();
    let (handle, _) = open(Arc::clone(&disk), &config)
        .await
        .expect("partition opens");
    let mut first_batch_len = 0;
    for i in 0..30 {
        let kvs = vec![(
            Some(b"k".to_vec()),
            Some(format!("v{i}").into_bytes()),
            NOW_MS,
        )];
        let records = keyed_batch(0, &kvs, Compression::None, (-1, -1, -1));
        first_batch_len = first_batch_len.max(records.len());
        let headers = record_batch::validate_produced(&records, 1 << 20).unwrap();
        handle
            .produce(records, &headers, Acks::All, 1_000, NOW_MS)
            .await
            .expect("acknowledged");
    }
    handle.sync().await.expect("synced");
    // A recovery point past the batches: the open trusts them unscanned.
    handle.checkpoint().await.expect("checkpointed");
    drop(handle);
    // Make the producer state rebuild from the log, then rot the second
    // batch's last offset delta (bytes 23..27 of its header).
    for name in disk.list_dir("data/t-0").unwrap() {
        if name.ends_with(".snapshot") {
            disk.remove_file(&format!("data/t-0/{name}")).unwrap();
        }
    }
    let segment = "data/t-0/00000000000000000000.log";
    let mut bytes = disk
        .read_at(segment, 0, disk.file_len(segment).unwrap() as usize)
        .unwrap();
    bytes[first_batch_len + 24] ^= 0x40;
    disk.write_file_unsynced(segment, &bytes).unwrap();
    match open(disk, &config).await {
        Err(LogError::CorruptBatch { reason, .. }) => {
            assert!(reason.contains("does not fit"), "{reason}")
        }
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    }
}

/// Seed 1382 (10,000-seed sweep): rot in a synced segment below the
/// recovery point whose indexes were unusable. Recovery rescanned it, took
/// the rot for a torn tail and cut the log there, dropping every later
/// segment: acknowledged records lost and their offsets handed out again.
/// The point vouches the data was synced, so the segment is kept whole and
/// only the rotted batch is refused.
#[tokio::test]
async fn rot_below_the_recovery_point_is_kept_and_refused_never_truncated() {
    let disk = Arc::new(SimDisk::new(5, SimDiskFaults::default()));
    let config = small_segments();
    let (handle, _) = open(Arc::clone(&disk), &config)
        .await
        .expect("partition opens");
    let mut batch_len = 0;
    for i in 0..40 {
        let kvs = vec![(
            Some(b"k".to_vec()),
            Some(format!("v{i:02}").into_bytes()),
            NOW_MS,
        )];
        let records = keyed_batch(0, &kvs, Compression::None, (-1, -1, -1));
        batch_len = records.len();
        let headers = record_batch::validate_produced(&records, 1 << 20).unwrap();
        handle
            .produce(records, &headers, Acks::All, 1_000, NOW_MS)
            .await
            .expect("acknowledged");
    }
    handle.sync().await.expect("synced");
    handle.checkpoint().await.expect("checkpointed");
    let (_, _, end_before) = handle.offsets();
    drop(handle);
    // Unusable indexes for the first segment, and rot in its second batch's
    // records (covered by the CRC).
    let segment = "data/t-0/00000000000000000000.log";
    disk.remove_file("data/t-0/00000000000000000000.index")
        .unwrap();
    let mut bytes = disk
        .read_at(segment, 0, disk.file_len(segment).unwrap() as usize)
        .unwrap();
    bytes[2 * batch_len - 3] ^= 0x08;
    disk.write_file_unsynced(segment, &bytes).unwrap();
    let (handle, _) = open(Arc::clone(&disk), &config)
        .await
        .expect("partition opens");
    let (_, _, end_after) = handle.offsets();
    assert_eq!(
        end_after, end_before,
        "nothing cut, no offset handed out again"
    );
    assert!(matches!(
        handle.read(1, 1 << 20),
        Err(LogError::CorruptBatch { .. })
    ));
    assert!(!handle.read(0, 1 << 20).unwrap().records.is_empty());
    assert!(!handle
        .read(end_before - 1, 1 << 20)
        .unwrap()
        .records
        .is_empty());
}
