//! One group's durable committed offsets.

use std::collections::BTreeMap;

/// What a group committed for one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub offset: i64,
    /// -1 when unknown.
    pub leader_epoch: i32,
    pub metadata: Option<String>,
    pub commit_timestamp_ms: i64,
}

/// Committed offsets by (topic, partition). Only durable commits are here:
/// a commit enters once the caller reports its record persisted (or when it
/// is replayed), so OffsetFetch never shows what a crash could lose.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommittedOffsets {
    by_partition: BTreeMap<(String, i32), CommittedOffset>,
}

impl CommittedOffsets {
    pub fn get(&self, topic: &str, partition: i32) -> Option<&CommittedOffset> {
        self.by_partition.get(&(topic.to_string(), partition))
    }

    pub fn contains(&self, topic: &str, partition: i32) -> bool {
        self.get(topic, partition).is_some()
    }

    pub fn insert(&mut self, topic: String, partition: i32, committed: CommittedOffset) {
        self.by_partition.insert((topic, partition), committed);
    }

    pub fn remove(&mut self, topic: &str, partition: i32) -> Option<CommittedOffset> {
        self.by_partition.remove(&(topic.to_string(), partition))
    }

    pub fn len(&self) -> usize {
        self.by_partition.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_partition.is_empty()
    }

    /// In (topic, partition) order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, i32, &CommittedOffset)> {
        self.by_partition
            .iter()
            .map(|((t, p), c)| (t.as_str(), *p, c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_kept_per_partition_in_order() {
        let mut offsets = CommittedOffsets::default();
        let at = |offset| CommittedOffset {
            offset,
            leader_epoch: -1,
            metadata: None,
            commit_timestamp_ms: 0,
        };
        offsets.insert("b".into(), 0, at(5));
        offsets.insert("a".into(), 1, at(7));
        offsets.insert("a".into(), 1, at(9));
        assert_eq!(offsets.len(), 2);
        assert_eq!(offsets.get("a", 1).map(|c| c.offset), Some(9));
        let order: Vec<(&str, i32)> = offsets.iter().map(|(t, p, _)| (t, p)).collect();
        assert_eq!(order, vec![("a", 1), ("b", 0)]);
        assert!(offsets.remove("a", 1).is_some());
        assert!(!offsets.contains("a", 1));
    }
}
