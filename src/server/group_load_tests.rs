//! The group coordinator loads `__consumer_offsets` whole or not at all:
//! a read that fails partway (EIO) must not start a coordinator from a
//! prefix of the log, which would hand out a generation again and serve
//! older committed offsets (sim seeds 1 and 96: `group-assignment-overlap`,
//! `committed-offset-regression`).

use std::sync::Arc;

use crate::core::group::{
    GroupMetadataRecord, GroupRecord, GroupRequest, GroupResponse, GroupState, MemberRecord,
    OffsetFetchRequest,
};
use crate::core::partition::Acks;
use crate::core::topic_config::{TopicConfig, TopicDefaults, SEGMENT_BYTES};
use crate::io::sim_clock::SimClock;
use crate::io::sim_disk::{SimDisk, SimDiskFaults};
use crate::log::record_batch;
use crate::server::config::BugSwitches;
use crate::server::group_driver::GroupDriver;
use crate::server::offsets_topic::{self, OFFSETS_TOPIC};
use crate::server::partition_handle::PartitionHandle;

const NOW_MS: i64 = 1_700_000_000_000;
/// Enough commits, one batch each, to fill several 1 KiB segments.
const COMMITTED_PARTITIONS: i32 = 30;

fn clock() -> Arc<SimClock> {
    Arc::new(SimClock::with_base(0, || NOW_MS))
}

/// An offsets partition holding generation 1 of group "g" (one member),
/// then a commit for each of [`COMMITTED_PARTITIONS`] partitions, in small
/// segments.
async fn offsets_partition(disk: Arc<SimDisk>) -> Arc<PartitionHandle> {
    let mut configs = offsets_topic::offsets_topic_configs();
    configs.insert(SEGMENT_BYTES.to_string(), "1024".to_string());
    let config = TopicConfig::resolve(&configs, &TopicDefaults::default());
    let (handle, _) = PartitionHandle::open(
        disk,
        "data",
        OFFSETS_TOPIC,
        [1; 16],
        0,
        1,
        0,
        None,
        config,
        BugSwitches::default(),
        clock(),
    )
    .await
    .expect("partition opens");
    handle
        .become_leader(0, vec![1], vec![1])
        .await
        .expect("a single node leads");
    let generation = GroupRecord::GroupMetadata(GroupMetadataRecord {
        group_id: "g".to_string(),
        protocol_type: Some("consumer".to_string()),
        generation_id: 1,
        protocol_name: Some("range".to_string()),
        leader_id: Some("m-0-1".to_string()),
        current_state_timestamp_ms: NOW_MS,
        members: vec![MemberRecord {
            member_id: "m-0-1".to_string(),
            group_instance_id: None,
            client_id: "m".to_string(),
            client_host: "/10.0.0.2".to_string(),
            rebalance_timeout_ms: 8_000,
            session_timeout_ms: 6_000,
            subscription: b"t".to_vec(),
            assignment: b"0".to_vec(),
        }],
    });
    let commits = (0..COMMITTED_PARTITIONS).map(|partition| GroupRecord::OffsetCommit {
        group_id: "g".to_string(),
        topic: "t".to_string(),
        partition,
        offset: 100 + i64::from(partition),
        leader_epoch: -1,
        metadata: None,
        commit_timestamp_ms: NOW_MS,
    });
    for record in std::iter::once(generation).chain(commits) {
        let batch = offsets_topic::encode_batch(&[record], NOW_MS);
        let headers = record_batch::validate_produced(&batch, usize::MAX).unwrap();
        handle
            .produce(batch, &headers, Acks::All, 1_000, NOW_MS)
            .await
            .expect("acknowledged");
    }
    Arc::new(handle)
}

/// (the group's state and member count, the number of committed offsets).
async fn loaded_state(driver: &GroupDriver) -> (GroupState, usize, usize) {
    let described = driver
        .call(GroupRequest::DescribeGroups {
            group_ids: vec!["g".to_string()],
        })
        .await;
    let GroupResponse::DescribeGroups(groups) = described else {
        panic!("answered {described:?}");
    };
    let fetched = driver
        .call(GroupRequest::OffsetFetch(OffsetFetchRequest {
            group_id: "g".to_string(),
            topics: None,
        }))
        .await;
    let GroupResponse::OffsetFetch(fetched) = fetched else {
        panic!("answered {fetched:?}");
    };
    let committed = fetched
        .topics
        .iter()
        .flat_map(|t| &t.partitions)
        .filter(|p| p.committed_offset >= 0)
        .count();
    (groups[0].state, groups[0].members.len(), committed)
}

#[tokio::test]
async fn a_failed_read_never_starts_the_coordinator_from_a_prefix() {
    let complete = (GroupState::Stable, 1, COMMITTED_PARTITIONS as usize);
    let mut refused = 0;
    for seed in 0..16 {
        let disk = Arc::new(SimDisk::new(seed, SimDiskFaults::default()));
        let offsets = offsets_partition(Arc::clone(&disk)).await;
        assert!(offsets.offsets().1 > 0, "acknowledged");
        // Some reads of the load fail: the first, a later one, or none.
        disk.set_faults(SimDiskFaults {
            read_eio_probability: 0.3,
            ..SimDiskFaults::default()
        });
        match GroupDriver::start(Arc::clone(&offsets), clock(), 0, BugSwitches::default()) {
            Ok(driver) => {
                disk.set_faults(SimDiskFaults::default());
                assert_eq!(loaded_state(&driver).await, complete, "seed {seed}");
            }
            Err(_) => {
                refused += 1;
                // Once reads work, the next attempt loads everything.
                disk.set_faults(SimDiskFaults::default());
                let driver =
                    GroupDriver::start(offsets, clock(), 1, BugSwitches::default()).unwrap();
                assert_eq!(loaded_state(&driver).await, complete, "seed {seed}");
            }
        }
    }
    assert!(refused > 0, "some load met a failed read");
}

#[tokio::test]
async fn a_load_of_an_unreadable_log_is_refused() {
    let disk = Arc::new(SimDisk::new(0, SimDiskFaults::default()));
    let offsets = offsets_partition(Arc::clone(&disk)).await;
    disk.set_faults(SimDiskFaults {
        read_eio_probability: 1.0,
        ..SimDiskFaults::default()
    });
    let started = GroupDriver::start(offsets, clock(), 0, BugSwitches::default());
    assert!(
        started.is_err(),
        "an empty coordinator would restart generation 1"
    );
}
