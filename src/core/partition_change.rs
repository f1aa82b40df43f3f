//! One partition's change as the controller builds it (KRaft's
//! `PartitionChangeBuilder` with eligible leader replicas, KIP-966): from
//! the ISR a change asks for and the brokers it fences, unfences or finds
//! restarted uncleanly, the ELR, the election and the last known leader,
//! as the records to commit. The rules that call it, and why, are in
//! `partition_leadership.rs`.

use crate::core::metadata::{MetadataImage, MetadataRecord, PartitionImage, TopicImage};
use crate::core::partition_leadership::NO_LEADER;
use crate::core::topic_config::{TopicConfig, TopicDefaults};

/// What one change asks of a partition (the inputs of KRaft's
/// `PartitionChangeBuilder`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Target {
    /// The ISR asked for (before an election adjusts it).
    pub isr: Vec<i32>,
    /// A broker being fenced: never elected by this change.
    pub removed: Option<i32>,
    /// A broker being unfenced: electable though the image still holds it
    /// fenced (its `UnfenceBroker` is in the same commit).
    pub added: Option<i32>,
    /// A broker that restarted without a clean shutdown: it may have lost
    /// what it had not synced, so it leaves the ISR and the ELR and is not
    /// elected by this change.
    pub unclean_shutdown: Option<i32>,
}

/// The min.insync.replicas that counts for `topic`'s ELR: its own or the
/// broker default, at most its replication factor (Kafka's
/// `getTopicEffectiveMinIsr`).
pub(crate) fn effective_min_isr(
    topic: &TopicImage,
    p: &PartitionImage,
    defaults: &TopicDefaults,
) -> usize {
    let configured = TopicConfig::resolve(&topic.configs, defaults).min_insync_replicas;
    usize::try_from(configured.max(1))
        .unwrap_or(usize::MAX)
        .min(p.replicas.len().max(1))
}

/// The records of one partition change (KRaft's
/// `PartitionChangeBuilder.build` with eligible leader replicas on): the
/// ELR first, then the election, then the last known leader.
pub(crate) fn build(
    image: &MetadataImage,
    topic: &TopicImage,
    index: i32,
    p: &PartitionImage,
    target: Target,
    min_isr: usize,
    unclean: bool,
) -> Vec<MetadataRecord> {
    let acceptable = |r: i32| {
        Some(r) != target.removed
            && Some(r) != target.unclean_shutdown
            && (Some(r) == target.added || image.is_live(r))
    };
    let mut isr: Vec<i32> = target
        .isr
        .iter()
        .copied()
        .filter(|r| Some(*r) != target.unclean_shutdown)
        .collect();
    // The ELR: with the ISR at min.insync.replicas or above, none is
    // needed. Below it, the high watermark stands still (the leader's side
    // of KIP-966), so every replica leaving the ISR now holds every record
    // the high watermark covers, and so does every earlier ELR member.
    let mut elr: Vec<i32> = if isr.len() >= min_isr {
        Vec::new()
    } else {
        p.replicas
            .iter()
            .copied()
            .filter(|r| {
                (p.elr.contains(r) || p.isr.contains(r))
                    && !isr.contains(r)
                    && Some(*r) != target.unclean_shutdown
            })
            .collect()
    };
    // A leader from the ISR, or from the ELR when the ISR is empty: the
    // current one if it still qualifies, else the first in assignment
    // order (the preferred leader first).
    let valid = |r: i32, isr: &[i32], elr: &[i32]| {
        (isr.contains(&r) || (isr.is_empty() && elr.contains(&r))) && acceptable(r)
    };
    let mut leader = if p.leader != NO_LEADER && valid(p.leader, &isr, &elr) {
        p.leader
    } else {
        p.replicas
            .iter()
            .copied()
            .find(|r| valid(*r, &isr, &elr))
            .unwrap_or(NO_LEADER)
    };
    if leader != NO_LEADER && elr.contains(&leader) {
        // Elected from the ELR: it becomes the ISR (KIP-966).
        isr = vec![leader];
        elr.retain(|r| *r != leader);
    }
    if leader == NO_LEADER
        && isr.is_empty()
        && elr.is_empty()
        && p.last_known_leader != NO_LEADER
        && acceptable(p.last_known_leader)
    {
        // Every ISR and ELR member restarted without a clean shutdown: all
        // that held the acknowledged records may have lost their unsynced
        // tails. The last leader is the likeliest to hold the most
        // (KIP-966's balanced recovery with the last known leader).
        leader = p.last_known_leader;
        isr = vec![leader];
    } else if leader == NO_LEADER && unclean {
        // Unclean election (the topic allows it): any live replica, which
        // may lack acknowledged records; the ELR no longer means anything.
        if let Some(r) = p.replicas.iter().copied().find(|r| acceptable(*r)) {
            leader = r;
            isr = vec![r];
            elr.clear();
        }
    }
    let last_known_leader = if leader != NO_LEADER || isr.len() >= min_isr {
        NO_LEADER
    } else if isr.is_empty() && !p.isr.is_empty() && p.leader != NO_LEADER {
        // The partition becomes leaderless with an empty ISR: remember who
        // led last (only the first time).
        p.leader
    } else {
        p.last_known_leader
    };
    let mut records = Vec::new();
    if leader != p.leader || isr != p.isr {
        let leader_epoch = if leader != p.leader {
            p.leader_epoch + 1
        } else {
            p.leader_epoch
        };
        records.push(MetadataRecord::ChangePartition {
            topic_id: topic.topic_id,
            partition: index,
            isr: isr.clone(),
            leader,
            leader_epoch,
        });
    }
    if elr != p.elr || last_known_leader != p.last_known_leader {
        records.push(MetadataRecord::ChangeEligibleLeaders {
            topic_id: topic.topic_id,
            partition: index,
            elr: elr.clone(),
            last_known_leader,
        });
    }
    assert!(
        elr.iter().all(|r| !isr.contains(r)),
        "ISR and ELR are disjoint"
    );
    assert!(
        leader == NO_LEADER || isr.contains(&leader),
        "a leader is in its ISR"
    );
    records
}
