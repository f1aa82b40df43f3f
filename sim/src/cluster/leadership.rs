//! The checkers on partition leadership, over the broker's leadership
//! journal (`odradek::leadership_journal`), named as the replication
//! harness names them (docs/replication.md):
//!
//! - `one-leader-per-epoch`: two nodes became leader of one partition in
//!   the same leader epoch. The controller hands out each epoch once; two
//!   leaders of one epoch both append records stamped with it, and no
//!   truncation by epoch can tell their logs apart.
//! - `leader-completeness`: a node became leader with a log ending below an
//!   offset an earlier epoch's leader had committed (its high watermark over
//!   synced records): the new leader lacks records every ISR member had, so
//!   they are lost, or the next appends reuse their offsets. Only
//!   `fsync.policy=always` partitions count (the journal keeps no high
//!   watermark of others: under `never` a power loss may legitimately take a
//!   committed record from every replica).
//!
//! Both are judged at the end of a seed over everything the nodes did, in
//! whatever order; neither depends on what clients happened to read.

use std::collections::BTreeMap;

use odradek::leadership_journal::{LeadershipJournal, PartitionKey};

use crate::checker::{Violation, ViolationKind};

/// At most this many violations of each kind are reported per partition.
const EXAMPLES_PER_PARTITION: usize = 3;

/// The violations `journal` shows; `checked_topic` names the topic whose
/// partitions the report attributes (others are named in the detail only).
pub fn check(journal: &LeadershipJournal, checked_topic: &str) -> Vec<Violation> {
    let mut violations = Vec::new();
    let name = |key: &PartitionKey| {
        let topic = journal.topic_names.get(&key.0).map_or("?", String::as_str);
        let partition = (topic == checked_topic).then_some(key.1);
        (format!("{topic}-{}", key.1), partition)
    };
    let mut reported: BTreeMap<(PartitionKey, ViolationKind), usize> = BTreeMap::new();
    let mut report = |key: PartitionKey, kind: ViolationKind, detail: String| {
        let count = reported.entry((key, kind)).or_insert(0);
        *count += 1;
        if *count <= EXAMPLES_PER_PARTITION {
            violations.push(Violation {
                kind,
                at_seq: None,
                partition: name(&key).1,
                detail,
            });
        }
    };

    for ((key, epoch), claims) in &journal.claims {
        if claims.len() > 1 {
            let nodes: Vec<String> = claims
                .iter()
                .map(|(node, end)| format!("node {node} (log end {end})"))
                .collect();
            let detail = format!(
                "{}: leader epoch {epoch} was led by {}",
                name(key).0,
                nodes.join(" and ")
            );
            report(*key, ViolationKind::OneLeaderPerEpoch, detail);
        }
    }

    // Per partition, the highest committed offset of any epoch below each
    // claim's epoch (epochs in order: a running maximum).
    let mut committed: BTreeMap<PartitionKey, Vec<(i32, i64)>> = BTreeMap::new();
    for ((key, epoch), hw) in &journal.durable_high_watermarks {
        committed.entry(*key).or_default().push((*epoch, *hw));
    }
    for ((key, epoch), claims) in &journal.claims {
        let Some(hws) = committed.get(key) else {
            continue;
        };
        let before = hws
            .iter()
            .filter(|(e, _)| e < epoch)
            .max_by_key(|(_, hw)| *hw);
        let Some(&(committed_epoch, committed_hw)) = before else {
            continue;
        };
        for (node, log_end) in claims {
            if *log_end < committed_hw {
                let detail = format!(
                    "{}: node {node} became leader of epoch {epoch} with its log ending at {log_end}, \
                     below offset {committed_hw} that the leader of epoch {committed_epoch} had committed",
                    name(key).0
                );
                report(*key, ViolationKind::LeaderCompleteness, detail);
            }
        }
    }
    if journal.overflowed {
        tracing::warn!("the leadership journal overflowed: some elections were not checked");
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: [u8; 16] = [7; 16];

    fn journal() -> LeadershipJournal {
        let mut journal = LeadershipJournal::default();
        journal.topic_names.insert(T, "t".into());
        journal
    }

    fn claim(journal: &mut LeadershipJournal, partition: i32, epoch: i32, node: i32, end: i64) {
        journal
            .claims
            .entry(((T, partition), epoch))
            .or_default()
            .insert(node, end);
    }

    #[test]
    fn a_clean_succession_passes() {
        let mut j = journal();
        claim(&mut j, 0, 1, 1, 0);
        j.durable_high_watermarks.insert(((T, 0), 1), 40);
        claim(&mut j, 0, 2, 2, 45);
        j.durable_high_watermarks.insert(((T, 0), 2), 60);
        claim(&mut j, 0, 3, 1, 60);
        assert!(check(&j, "t").is_empty());
    }

    #[test]
    fn two_leaders_of_one_epoch_are_one_leader_per_epoch() {
        let mut j = journal();
        claim(&mut j, 1, 4, 1, 10);
        claim(&mut j, 1, 4, 3, 12);
        let found = check(&j, "t");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].kind, ViolationKind::OneLeaderPerEpoch);
        assert_eq!(found[0].partition, Some(1));
        assert!(found[0].detail.contains("node 1") && found[0].detail.contains("node 3"));
    }

    #[test]
    fn a_leader_missing_committed_records_is_leader_completeness() {
        let mut j = journal();
        claim(&mut j, 0, 1, 1, 0);
        j.durable_high_watermarks.insert(((T, 0), 1), 40);
        // Elected with less than epoch 1 committed (an unclean election).
        claim(&mut j, 0, 2, 3, 35);
        let found = check(&j, "t");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].kind, ViolationKind::LeaderCompleteness);
        assert!(found[0].detail.contains("below offset 40"));
    }

    #[test]
    fn a_later_epochs_high_watermark_does_not_judge_an_earlier_leader() {
        let mut j = journal();
        claim(&mut j, 0, 1, 1, 0);
        j.durable_high_watermarks.insert(((T, 0), 2), 90);
        claim(&mut j, 0, 2, 2, 5);
        assert!(check(&j, "t").is_empty());
    }

    #[test]
    fn another_topics_partition_is_named_but_not_attributed() {
        let mut j = journal();
        j.topic_names.insert([9; 16], "filler".into());
        j.claims
            .entry((([9; 16], 0), 1))
            .or_default()
            .extend([(1, 0), (2, 0)]);
        let found = check(&j, "t");
        assert_eq!(found[0].partition, None);
        assert!(found[0].detail.starts_with("filler-0"));
    }
}
