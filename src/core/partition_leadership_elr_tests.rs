//! The eligible-leader-replica rules of `partition_leadership` (KIP-966),
//! on the story of `sim/run.sh --cluster 3 --fsync-never --seed 89`: a
//! follower fenced while the ISR fell below min.insync.replicas, then the
//! last ISR member restarting after losing its unsynced tail.

use std::collections::BTreeMap;

use crate::core::controller::{create_topic, CreateTopic};
use crate::core::metadata::{MetadataImage, MetadataRecord, PartitionImage};
use crate::core::partition_leadership::tests::{cluster, registered};
use crate::core::partition_leadership::*;
use crate::core::topic_config::{TopicDefaults, MIN_INSYNC_REPLICAS};

/// A 3-node cluster with topic `t` (one partition, RF 3, min ISR 2).
fn three_nodes() -> MetadataImage {
    let mut image = cluster(&[1, 2, 3]);
    let request = CreateTopic {
        name: "t",
        num_partitions: 1,
        replication_factor: 3,
        configs: BTreeMap::from([(MIN_INSYNC_REPLICAS.to_string(), "2".to_string())]),
    };
    for r in create_topic(&image, &request, 1, "c").unwrap() {
        image.apply(&r);
    }
    image
}

fn apply(image: &mut MetadataImage, records: Vec<MetadataRecord>) {
    for r in &records {
        image.check(r).expect("a record the image takes");
        image.apply(r);
    }
}

fn p0(image: &MetadataImage) -> PartitionImage {
    image.topics["t"].partitions[&0].clone()
}

fn d() -> TopicDefaults {
    TopicDefaults::default()
}

fn fence(image: &mut MetadataImage, node: i32) {
    let records = fence_broker(image, node);
    apply(image, records);
}

fn unfence(image: &mut MetadataImage, node: i32) {
    let records = unfence_broker(image, node);
    apply(image, records);
}

fn restart(image: &mut MetadataImage, node: i32, clean_shutdown: bool) {
    let records = register_incarnation(image, node, clean_shutdown, &d(), ElectionBugs::default());
    apply(image, records);
}

/// The leader `l` and the followers `a`, `b` of partition 0, with `a`
/// fenced and then `b` fenced: the ISR is `[l]`, below min ISR 2.
fn down_to_the_leader(image: &mut MetadataImage) -> (i32, i32, i32) {
    let p = p0(image);
    let (l, a, b) = (p.leader, p.replicas[1], p.replicas[2]);
    fence(image, b);
    let p = p0(image);
    assert_eq!(p.isr.len(), 2);
    assert!(p.elr.is_empty(), "the ISR still has min.insync.replicas");
    fence(image, a);
    let p = p0(image);
    assert_eq!((p.leader, p.isr.clone()), (l, vec![l]));
    assert_eq!(p.elr, vec![a], "left the ISR below min.insync.replicas");
    (l, a, b)
}

#[test]
fn a_replica_fenced_below_min_isr_leads_when_the_last_member_restarts_uncleanly() {
    let mut image = three_nodes();
    let (l, a, b) = down_to_the_leader(&mut image);
    let epoch = p0(&image).leader_epoch;
    // The last ISR member loses power and registers again: it may have
    // lost the records it acknowledged with `a` (fsync.policy=never).
    restart(&mut image, l, false);
    let p = p0(&image);
    assert_eq!(p.leader, NO_LEADER);
    assert!(
        p.isr.is_empty(),
        "not left as a stale ISR to be elected from"
    );
    assert_eq!(p.elr, vec![a], "and out of the ELR");
    assert_eq!(p.leader_epoch, epoch + 1);
    // Its first heartbeat does not make it the leader again...
    unfence(&mut image, l);
    unfence(&mut image, b);
    assert_eq!(p0(&image).leader, NO_LEADER);
    // ...the eligible replica does, and becomes the ISR.
    unfence(&mut image, a);
    let p = p0(&image);
    assert_eq!((p.leader, p.isr.clone()), (a, vec![a]));
    assert!(p.elr.is_empty());
    assert_eq!(p.last_known_leader, NO_LEADER);
}

#[test]
fn an_eligible_replica_takes_over_at_once_when_it_is_live() {
    let mut image = three_nodes();
    let (l, a, _) = down_to_the_leader(&mut image);
    unfence(&mut image, a); // back, not yet caught up into the ISR
    assert_eq!(p0(&image).elr, vec![a]);
    restart(&mut image, l, false);
    let p = p0(&image);
    assert_eq!(
        (p.leader, p.isr.clone(), p.elr.clone()),
        (a, vec![a], vec![])
    );
}

#[test]
fn after_a_clean_shutdown_the_last_member_stays_eligible() {
    let mut image = three_nodes();
    let (l, a, _) = down_to_the_leader(&mut image);
    restart(&mut image, l, true);
    let p = p0(&image);
    assert_eq!(p.leader, NO_LEADER);
    assert!(p.isr.is_empty());
    assert_eq!(p.elr.len(), 2);
    assert!(p.elr.contains(&l) && p.elr.contains(&a));
    unfence(&mut image, l);
    assert_eq!((p0(&image).leader, p0(&image).isr), (l, vec![l]));
}

#[test]
fn a_fenced_last_member_waits_in_the_elr_and_leads_again() {
    let mut image = three_nodes();
    let (l, a, _) = down_to_the_leader(&mut image);
    fence(&mut image, l);
    let p = p0(&image);
    assert_eq!(p.leader, NO_LEADER);
    assert!(p.isr.is_empty());
    assert_eq!(p.last_known_leader, l);
    // The first eligible replica to return leads.
    unfence(&mut image, l);
    assert_eq!(p0(&image).leader, l);
    assert_eq!(p0(&image).elr, vec![a]);
}

#[test]
fn with_every_eligible_replica_restarted_uncleanly_the_last_leader_is_elected() {
    let mut image = three_nodes();
    let (l, a, b) = down_to_the_leader(&mut image);
    restart(&mut image, l, false);
    restart(&mut image, a, false);
    let p = p0(&image);
    assert!(p.isr.is_empty() && p.elr.is_empty());
    assert_eq!(p.last_known_leader, l);
    unfence(&mut image, a);
    unfence(&mut image, b);
    assert_eq!(p0(&image).leader, NO_LEADER, "only the last leader");
    unfence(&mut image, l);
    let p = p0(&image);
    assert_eq!((p.leader, p.isr.clone()), (l, vec![l]));
    assert_eq!(p.last_known_leader, NO_LEADER);
}

#[test]
fn the_isr_back_at_min_isr_clears_the_elr() {
    let mut image = three_nodes();
    let (l, a, _) = down_to_the_leader(&mut image);
    unfence(&mut image, a);
    let p = p0(&image);
    let records = alter_partition(
        &image,
        &image.topics["t"].topic_id,
        0,
        l,
        p.leader_epoch,
        (&[l, a], &registered(&image, &[l, a])),
        &d(),
    )
    .unwrap();
    apply(&mut image, records);
    let p = p0(&image);
    assert_eq!(p.isr.len(), 2);
    assert!(p.elr.is_empty());
}

#[test]
fn a_leader_dropping_followers_below_min_isr_makes_them_eligible() {
    let mut image = three_nodes();
    let p = p0(&image);
    let (l, a, b) = (p.leader, p.replicas[1], p.replicas[2]);
    let id = image.topics["t"].topic_id;
    let records = alter_partition(
        &image,
        &id,
        0,
        l,
        p.leader_epoch,
        (&[l, a], &registered(&image, &[l, a])),
        &d(),
    )
    .unwrap();
    apply(&mut image, records);
    assert!(p0(&image).elr.is_empty(), "b left with the ISR at min ISR");
    let records = alter_partition(
        &image,
        &id,
        0,
        l,
        p.leader_epoch,
        (&[l], &registered(&image, &[l])),
        &d(),
    )
    .unwrap();
    apply(&mut image, records);
    assert_eq!(
        p0(&image).elr,
        vec![a],
        "not b: the high watermark moved on after it"
    );
    let _ = b;
}

#[test]
fn an_unclean_restart_of_a_follower_only_takes_it_out() {
    let mut image = three_nodes();
    let p = p0(&image);
    let (l, a) = (p.leader, p.replicas[1]);
    restart(&mut image, a, false);
    let q = p0(&image);
    assert_eq!(q.leader, l);
    assert_eq!(q.leader_epoch, p.leader_epoch);
    assert_eq!(q.isr.len(), 2);
    assert!(!q.isr.contains(&a));
    assert!(q.elr.is_empty());
}

#[test]
fn min_isr_above_the_replication_factor_counts_as_the_factor() {
    // RF 1 with min ISR 2: the ISR of one is enough, no ELR.
    let mut image = cluster(&[1]);
    let request = CreateTopic {
        name: "t",
        num_partitions: 1,
        replication_factor: 1,
        configs: BTreeMap::from([(MIN_INSYNC_REPLICAS.to_string(), "2".to_string())]),
    };
    for r in create_topic(&image, &request, 1, "c").unwrap() {
        image.apply(&r);
    }
    fence(&mut image, 1);
    let p = p0(&image);
    assert!(p.isr.is_empty());
    assert_eq!(p.elr, vec![1]);
    unfence(&mut image, 1);
    assert_eq!((p0(&image).leader, p0(&image).isr), (1, vec![1]));
}
