//! The controller's decisions on partition leadership and ISR (KRaft's
//! `PartitionChangeBuilder` with eligible leader replicas, KIP-966): what a
//! fenced broker loses, what a restarted or returning broker may take back,
//! and whether a leader's ISR change (AlterPartition) is accepted. Pure:
//! each returns the metadata records to commit against the image it was
//! given.
//!
//! Rules (Kafka's, with unclean election off unless the topic enables it):
//! - A new leader comes from the ISR and is live; with the ISR empty, from
//!   the ELR; the leader epoch grows on every leader change (including to
//!   -1, "no leader"). An ELR member elected becomes the ISR.
//! - A replica leaving the ISR (fenced, or dropped by its leader) while the
//!   ISR falls below min.insync.replicas joins the ELR: the leader's high
//!   watermark stands still below min.insync.replicas, so it holds every
//!   record the high watermark covers. The ISR may empty: its last member,
//!   fenced, waits in the ELR. With the ISR back at min.insync.replicas the
//!   ELR empties.
//! - A broker restarting without a clean shutdown leaves every ISR and ELR
//!   at its registration (with fsync.policy=never it may have lost its
//!   unsynced tail) and is not elected from them.
//! - With ISR and ELR both empty (every replica that held the acknowledged
//!   records restarted uncleanly), the last known leader is elected when it
//!   is live again.
//! - A follower leaving or joining the ISR keeps the leader epoch.

use std::collections::BTreeMap;

use crate::core::metadata::{MetadataImage, MetadataRecord, PartitionImage, TopicId};
use crate::core::partition_change::{build, effective_min_isr, Target};
use crate::core::topic_config::{TopicDefaults, UNCLEAN_LEADER_ELECTION};

/// No leader (Kafka's -1).
pub const NO_LEADER: i32 = -1;

/// Why an AlterPartition was refused, as Kafka's error codes name it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlterPartitionError {
    #[error("unknown topic or partition")]
    UnknownTopicOrPartition,
    #[error("the sender does not lead the partition (leader {leader})")]
    NotLeaderOrFollower { leader: i32 },
    #[error("leader epoch {sent} is not the current {current}")]
    FencedLeaderEpoch { sent: i32, current: i32 },
    #[error("ISR {isr:?} is invalid: {reason}")]
    InvalidIsr { isr: Vec<i32>, reason: &'static str },
    #[error("replica {replica} is not eligible for the ISR: {reason}")]
    IneligibleReplica { replica: i32, reason: &'static str },
}

/// Test-only switches of the election rules (DESIGN.md, "Proving the
/// checkers have teeth"); all off in a real controller.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ElectionBugs {
    /// `unclean-election`: every topic is treated as allowing unclean
    /// election, so a live replica outside the ISR is elected when no ISR
    /// member is live.
    pub unclean_election: bool,
}

fn unclean_allowed(image: &MetadataImage, topic_id: &TopicId, bugs: ElectionBugs) -> bool {
    bugs.unclean_election
        || image
            .topic_by_id(topic_id)
            .and_then(|t| t.configs.get(UNCLEAN_LEADER_ELECTION))
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// Records that fence `node_id`: every partition it leads gets a new leader
/// from the rest of its ISR (or, with the ISR empty, from its ELR; or -1),
/// and it leaves every ISR it is in, into the ELR where the ISR falls below
/// min.insync.replicas. The `FenceBroker` record comes last, so a replay
/// applies the moves first.
pub fn fence_broker(image: &MetadataImage, node_id: i32) -> Vec<MetadataRecord> {
    fence_broker_with(
        image,
        node_id,
        &TopicDefaults::default(),
        ElectionBugs::default(),
    )
}

/// [`fence_broker`] with the broker's topic defaults and the election
/// rules' bug switches.
pub fn fence_broker_with(
    image: &MetadataImage,
    node_id: i32,
    defaults: &TopicDefaults,
    bugs: ElectionBugs,
) -> Vec<MetadataRecord> {
    leave(image, node_id, false, defaults, bugs)
}

/// Records for a new incarnation of `node_id` registering (KRaft's
/// registration with a new incarnation id): it is fenced if the image holds
/// it live, and unless its previous process shut down cleanly (every log
/// synced: nothing lost) it also leaves every ISR and ELR and is not
/// elected from a stale ISR (KIP-966's unclean shutdown handling).
pub fn register_incarnation(
    image: &MetadataImage,
    node_id: i32,
    clean_shutdown: bool,
    defaults: &TopicDefaults,
    bugs: ElectionBugs,
) -> Vec<MetadataRecord> {
    leave(image, node_id, !clean_shutdown, defaults, bugs)
}

fn leave(
    image: &MetadataImage,
    node_id: i32,
    unclean_shutdown: bool,
    defaults: &TopicDefaults,
    bugs: ElectionBugs,
) -> Vec<MetadataRecord> {
    let mut records = Vec::new();
    for topic in image.topics.values() {
        let unclean = unclean_allowed(image, &topic.topic_id, bugs);
        for (index, p) in &topic.partitions {
            let involved = p.leader == node_id
                || p.isr.contains(&node_id)
                || (unclean_shutdown
                    && (p.elr.contains(&node_id) || p.last_known_leader == node_id));
            if !involved {
                continue;
            }
            let target = Target {
                isr: p.isr.iter().copied().filter(|r| *r != node_id).collect(),
                removed: Some(node_id),
                added: None,
                unclean_shutdown: unclean_shutdown.then_some(node_id),
            };
            let min_isr = effective_min_isr(topic, p, defaults);
            records.extend(build(image, topic, *index, p, target, min_isr, unclean));
        }
    }
    if image.brokers.get(&node_id).is_some_and(|b| !b.fenced) {
        records.push(MetadataRecord::FenceBroker { node_id });
    }
    records
}

/// Records that unfence `node_id` (its first heartbeat after registering):
/// partitions without a leader take it if it is in their ISR, or in their
/// ELR with the ISR empty, or was their last leader with ISR and ELR empty;
/// with unclean election enabled, any leaderless partition it replicates
/// does, its ISR reset to it alone.
pub fn unfence_broker(image: &MetadataImage, node_id: i32) -> Vec<MetadataRecord> {
    unfence_broker_with(
        image,
        node_id,
        &TopicDefaults::default(),
        ElectionBugs::default(),
    )
}

/// [`unfence_broker`] with the broker's topic defaults and the election
/// rules' bug switches.
pub fn unfence_broker_with(
    image: &MetadataImage,
    node_id: i32,
    defaults: &TopicDefaults,
    bugs: ElectionBugs,
) -> Vec<MetadataRecord> {
    let mut records = Vec::new();
    if image.brokers.get(&node_id).is_some_and(|b| b.fenced) {
        records.push(MetadataRecord::UnfenceBroker { node_id });
    }
    for topic in image.topics.values() {
        let unclean = unclean_allowed(image, &topic.topic_id, bugs);
        for (index, p) in &topic.partitions {
            if p.leader != NO_LEADER || !p.replicas.contains(&node_id) {
                continue;
            }
            let target = Target {
                isr: p.isr.clone(),
                removed: None,
                added: Some(node_id),
                unclean_shutdown: None,
            };
            let min_isr = effective_min_isr(topic, p, defaults);
            records.extend(build(image, topic, *index, p, target, min_isr, unclean));
        }
    }
    records
}

/// A leader's request to set the ISR (KRaft's AlterPartition): accepted
/// only from the current leader in the current epoch, for an ISR of
/// distinct replicas holding the leader, whose members are all live
/// (a fenced broker cannot join: it may be a dead incarnation) and still
/// the process the leader heard from (KIP-903, `broker_epochs`).
pub fn alter_partition(
    image: &MetadataImage,
    topic_id: &TopicId,
    partition: i32,
    leader_id: i32,
    leader_epoch: i32,
    (isr, broker_epochs): (&[i32], &BTreeMap<i32, i64>),
    defaults: &TopicDefaults,
) -> Result<Vec<MetadataRecord>, AlterPartitionError> {
    let p = image
        .topic_by_id(topic_id)
        .and_then(|t| t.partitions.get(&partition))
        .ok_or(AlterPartitionError::UnknownTopicOrPartition)?;
    if leader_epoch != p.leader_epoch {
        return Err(AlterPartitionError::FencedLeaderEpoch {
            sent: leader_epoch,
            current: p.leader_epoch,
        });
    }
    if leader_id != p.leader {
        return Err(AlterPartitionError::NotLeaderOrFollower { leader: p.leader });
    }
    let invalid = |reason| AlterPartitionError::InvalidIsr {
        isr: isr.to_vec(),
        reason,
    };
    if !isr.contains(&leader_id) {
        return Err(invalid("the leader must be in its ISR"));
    }
    if isr.iter().any(|r| !p.replicas.contains(r)) {
        return Err(invalid("every member must be a replica"));
    }
    let mut sorted = isr.to_vec();
    sorted.sort_unstable();
    if sorted.windows(2).any(|w| w[0] == w[1]) {
        return Err(invalid("a replica appears twice"));
    }
    for &replica in isr.iter().filter(|r| **r != leader_id) {
        if let Some(reason) = ineligibility(image, p, replica, broker_epochs.get(&replica)) {
            return Err(AlterPartitionError::IneligibleReplica { replica, reason });
        }
    }
    let topic = image
        .topic_by_id(topic_id)
        .ok_or(AlterPartitionError::UnknownTopicOrPartition)?;
    let target = Target {
        isr: isr.to_vec(),
        ..Target::default()
    };
    let min_isr = effective_min_isr(topic, p, defaults);
    Ok(build(image, topic, partition, p, target, min_isr, false))
}

/// Why `replica` may not be in a proposed ISR, if it may not. A member
/// joining must be live and fetched as the process now registered (a
/// proposal made before it restarted, or sent again after an unknown
/// outcome, would add back a log that may have lost records: KIP-903). A
/// member staying is checked only when the leader knows its epoch, as in
/// Kafka (a restart without a clean shutdown already took it out).
fn ineligibility(
    image: &MetadataImage,
    p: &PartitionImage,
    replica: i32,
    sent_epoch: Option<&i64>,
) -> Option<&'static str> {
    let registered = image.brokers.get(&replica).map(|b| b.broker_epoch);
    let joining = !p.isr.contains(&replica);
    if joining && !image.is_live(replica) {
        return Some("it is fenced or unregistered");
    }
    match (sent_epoch, registered) {
        (Some(sent), Some(now)) if *sent != now => {
            Some("it registered again since the leader heard from it (stale broker epoch)")
        }
        (None, _) if joining => Some("the leader does not know its broker epoch"),
        _ => None,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::core::controller::{create_topic, CreateTopic};

    /// An image with `nodes` registered and unfenced (also used by
    /// `partition_leadership_elr_tests`).
    pub(crate) fn cluster(nodes: &[i32]) -> MetadataImage {
        let mut image = MetadataImage::default();
        for n in nodes {
            image.apply(&MetadataRecord::RegisterBroker {
                node_id: *n,
                host: "h".into(),
                port: 9000 + *n as u16,
                broker_epoch: 0,
            });
            image.apply(&MetadataRecord::UnfenceBroker { node_id: *n });
        }
        image
    }

    /// The broker epochs `isr`'s members are registered with now: what a
    /// leader that heard from each of them sends (also used by
    /// `partition_leadership_elr_tests`).
    pub(crate) fn registered(image: &MetadataImage, isr: &[i32]) -> BTreeMap<i32, i64> {
        isr.iter()
            .filter_map(|r| image.brokers.get(r).map(|b| (*r, b.broker_epoch)))
            .collect()
    }

    fn with_topic(image: &mut MetadataImage, name: &str, rf: i16, configs: &[(&str, &str)]) {
        let request = CreateTopic {
            name,
            num_partitions: 3,
            replication_factor: rf,
            configs: configs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        };
        for r in create_topic(image, &request, 1, "c").unwrap() {
            image.apply(&r);
        }
    }

    fn apply(image: &mut MetadataImage, records: &[MetadataRecord]) {
        for r in records {
            image.apply(r);
        }
    }

    fn partitions(image: &MetadataImage, name: &str) -> Vec<PartitionImage> {
        image.topics[name].partitions.values().cloned().collect()
    }

    #[test]
    fn replicas_spread_over_live_brokers_and_the_first_leads() {
        let mut image = cluster(&[1, 2, 3]);
        with_topic(&mut image, "t", 3, &[]);
        let ps = partitions(&image, "t");
        let leaders: Vec<i32> = ps.iter().map(|p| p.leader).collect();
        let mut distinct = leaders.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 3, "three partitions lead on three brokers");
        for p in ps {
            assert_eq!(p.leader, p.replicas[0]);
            assert_eq!(p.isr, p.replicas);
        }
    }

    #[test]
    fn fencing_a_leader_elects_from_the_isr_and_bumps_the_epoch() {
        let mut image = cluster(&[1, 2, 3]);
        with_topic(&mut image, "t", 3, &[]);
        let before = partitions(&image, "t");
        let records = fence_broker(&image, 1);
        assert!(matches!(
            records.last(),
            Some(MetadataRecord::FenceBroker { node_id: 1 })
        ));
        apply(&mut image, &records);
        for (old, new) in before.iter().zip(partitions(&image, "t")) {
            assert!(!new.isr.contains(&1), "a fenced broker leaves every ISR");
            assert_ne!(new.leader, 1);
            assert!(new.isr.contains(&new.leader));
            if old.leader == 1 {
                assert_eq!(new.leader_epoch, old.leader_epoch + 1);
            } else {
                assert_eq!(new.leader, old.leader);
                assert_eq!(
                    new.leader_epoch, old.leader_epoch,
                    "a follower leaving keeps the epoch"
                );
            }
        }
        assert!(!image.is_live(1));
    }

    #[test]
    fn the_last_isr_member_stays_and_leads_again_when_it_returns() {
        let mut image = cluster(&[1, 2]);
        with_topic(&mut image, "t", 2, &[]);
        let fence2 = fence_broker(&image, 2);
        apply(&mut image, &fence2);
        let fence1 = fence_broker(&image, 1);
        apply(&mut image, &fence1);
        for p in partitions(&image, "t") {
            assert_eq!(p.leader, NO_LEADER);
            assert!(p.isr.is_empty(), "the last member left the ISR...");
            assert_eq!(p.elr, vec![1], "...into the ELR");
            assert_eq!(p.last_known_leader, 1);
        }
        // Broker 2 returns first: it was not the last in-sync replica
        // anywhere, so without unclean election nothing changes.
        let unfence2 = unfence_broker(&image, 2);
        apply(&mut image, &unfence2);
        assert!(partitions(&image, "t")
            .iter()
            .all(|p| p.leader == NO_LEADER));
        let unfence1 = unfence_broker(&image, 1);
        apply(&mut image, &unfence1);
        for p in partitions(&image, "t") {
            assert_eq!(p.leader, 1);
            assert_eq!(p.isr, vec![1]);
            assert!(p.elr.is_empty());
            assert_eq!(p.last_known_leader, NO_LEADER);
        }
    }

    #[test]
    fn unclean_election_takes_any_live_replica_when_the_topic_allows() {
        let mut image = cluster(&[1, 2]);
        with_topic(&mut image, "t", 2, &[(UNCLEAN_LEADER_ELECTION, "true")]);
        let fence2 = fence_broker(&image, 2);
        apply(&mut image, &fence2);
        let unfence2 = unfence_broker(&image, 2);
        apply(&mut image, &unfence2);
        // 2 is out of every ISR now; fencing 1 has no clean candidate.
        let fence1 = fence_broker(&image, 1);
        apply(&mut image, &fence1);
        for p in partitions(&image, "t") {
            assert_eq!(p.leader, 2);
            assert_eq!(p.isr, vec![2]);
        }
    }

    #[test]
    fn the_unclean_election_switch_elects_outside_the_isr_on_a_clean_topic() {
        let bugs = ElectionBugs {
            unclean_election: true,
        };
        for buggy in [false, true] {
            let mut image = cluster(&[1, 2]);
            with_topic(&mut image, "t", 2, &[]);
            let fence2 = fence_broker(&image, 2);
            apply(&mut image, &fence2);
            let unfence2 = unfence_broker(&image, 2);
            apply(&mut image, &unfence2);
            let fence1 = if buggy {
                fence_broker_with(&image, 1, &TopicDefaults::default(), bugs)
            } else {
                fence_broker(&image, 1)
            };
            apply(&mut image, &fence1);
            for p in partitions(&image, "t") {
                if buggy {
                    assert_eq!((p.leader, p.isr), (2, vec![2]), "outside the ISR");
                } else {
                    assert_eq!(
                        (p.leader, p.isr, p.elr),
                        (NO_LEADER, vec![], vec![1]),
                        "clean"
                    );
                }
            }
        }
    }

    #[test]
    fn alter_partition_is_fenced_by_leader_and_epoch_and_checks_the_isr() {
        let mut image = cluster(&[1, 2, 3]);
        with_topic(&mut image, "t", 3, &[]);
        let id = image.topics["t"].topic_id;
        let p = image.topics["t"].partitions[&0].clone();
        let leader = p.leader;
        let follower = p.replicas[1];
        let shrunk: Vec<i32> = p.isr.iter().copied().filter(|r| *r != follower).collect();
        assert_eq!(
            alter_partition(
                &image,
                &id,
                0,
                leader,
                p.leader_epoch + 1,
                (&shrunk, &registered(&image, &shrunk)),
                &TopicDefaults::default(),
            ),
            Err(AlterPartitionError::FencedLeaderEpoch {
                sent: p.leader_epoch + 1,
                current: p.leader_epoch
            })
        );
        assert!(matches!(
            alter_partition(
                &image,
                &id,
                0,
                follower,
                p.leader_epoch,
                (&shrunk, &registered(&image, &shrunk)),
                &TopicDefaults::default(),
            ),
            Err(AlterPartitionError::NotLeaderOrFollower { .. })
        ));
        assert!(matches!(
            alter_partition(
                &image,
                &id,
                0,
                leader,
                p.leader_epoch,
                (&[follower], &registered(&image, &[follower])),
                &TopicDefaults::default(),
            ),
            Err(AlterPartitionError::InvalidIsr { .. })
        ));
        assert!(matches!(
            alter_partition(
                &image,
                &id,
                0,
                leader,
                p.leader_epoch,
                (&[leader, 9], &BTreeMap::new()),
                &TopicDefaults::default()
            ),
            Err(AlterPartitionError::InvalidIsr { .. })
        ));
        let records = alter_partition(
            &image,
            &id,
            0,
            leader,
            p.leader_epoch,
            (&shrunk, &registered(&image, &shrunk)),
            &TopicDefaults::default(),
        )
        .unwrap();
        apply(&mut image, &records);
        assert_eq!(image.topics["t"].partitions[&0].isr, shrunk);
        assert_eq!(
            image.topics["t"].partitions[&0].leader_epoch,
            p.leader_epoch
        );
        // A fenced follower cannot rejoin; a live one can.
        let fence = vec![MetadataRecord::FenceBroker { node_id: follower }];
        apply(&mut image, &fence);
        let mut grown = shrunk.clone();
        grown.push(follower);
        assert_eq!(
            alter_partition(
                &image,
                &id,
                0,
                leader,
                p.leader_epoch,
                (&grown, &registered(&image, &grown)),
                &TopicDefaults::default(),
            ),
            Err(AlterPartitionError::IneligibleReplica {
                replica: follower,
                reason: "it is fenced or unregistered"
            })
        );
        apply(
            &mut image,
            &[MetadataRecord::UnfenceBroker { node_id: follower }],
        );
        assert_eq!(
            alter_partition(
                &image,
                &id,
                0,
                leader,
                p.leader_epoch,
                (&grown, &registered(&image, &grown)),
                &TopicDefaults::default(),
            )
            .unwrap()
            .len(),
            1
        );
    }

    /// KIP-903: a proposal adding a follower carries the broker epoch the
    /// follower fetched with; once the follower registered again (a new
    /// process, which may have lost records) that proposal is refused,
    /// as is one that knows no epoch for it. A member staying in the ISR is
    /// checked only when its epoch is sent.
    #[test]
    fn alter_partition_refuses_a_joining_member_of_another_incarnation() {
        let mut image = cluster(&[1, 2, 3]);
        with_topic(&mut image, "t", 3, &[]);
        let id = image.topics["t"].topic_id;
        let p = image.topics["t"].partitions[&0].clone();
        let (leader, follower) = (p.leader, p.replicas[1]);
        let shrunk: Vec<i32> = p.isr.iter().copied().filter(|r| *r != follower).collect();
        let alter = |image: &MetadataImage, isr: &[i32], epochs: &BTreeMap<i32, i64>| {
            alter_partition(
                image,
                &id,
                0,
                leader,
                p.leader_epoch,
                (isr, epochs),
                &TopicDefaults::default(),
            )
        };
        let records = alter(&image, &shrunk, &BTreeMap::new()).unwrap();
        apply(&mut image, &records);
        let mut grown = shrunk.clone();
        grown.push(follower);
        let before_restart = registered(&image, &grown);
        image.apply(&MetadataRecord::RegisterBroker {
            node_id: follower,
            host: "h".into(),
            port: 9000,
            broker_epoch: 5,
        });
        image.apply(&MetadataRecord::UnfenceBroker { node_id: follower });
        let stale = |reason| {
            Err(AlterPartitionError::IneligibleReplica {
                replica: follower,
                reason,
            })
        };
        assert_eq!(
            alter(&image, &grown, &before_restart),
            stale("it registered again since the leader heard from it (stale broker epoch)")
        );
        let mut unknown = before_restart.clone();
        unknown.remove(&follower);
        assert_eq!(
            alter(&image, &grown, &unknown),
            stale("the leader does not know its broker epoch")
        );
        assert!(alter(&image, &grown, &registered(&image, &grown)).is_ok());
        // Staying members: refused only on an epoch known to be stale.
        let all = p.isr.clone();
        let records = alter(&image, &all, &registered(&image, &all)).unwrap();
        apply(&mut image, &records);
        let keep: Vec<i32> = all
            .iter()
            .copied()
            .filter(|r| *r != p.replicas[2])
            .collect();
        assert!(alter(&image, &keep, &BTreeMap::new()).is_ok());
        assert_eq!(
            alter(&image, &keep, &before_restart),
            stale("it registered again since the leader heard from it (stale broker epoch)")
        );
    }
}
