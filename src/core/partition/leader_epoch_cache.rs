//! The leader-epoch cache (KIP-101): for each leader epoch, the first offset
//! written in it. A replica that becomes a follower asks the leader where its
//! last epoch ends and truncates there, instead of to its high watermark.
//!
//! Stored in the partition directory as text lines `epoch start_offset`.

/// Kafka's `UNDEFINED_EPOCH` and `UNDEFINED_EPOCH_OFFSET`: "no such epoch".
pub const UNDEFINED_EPOCH: i32 = -1;
pub const UNDEFINED_EPOCH_OFFSET: i64 = -1;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaderEpochCache {
    /// (epoch, start offset), both strictly increasing.
    entries: Vec<(i32, i64)>,
}

impl LeaderEpochCache {
    pub fn entries(&self) -> &[(i32, i64)] {
        &self.entries
    }

    pub fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|e| e.0)
    }

    /// Records that `epoch` starts at `start_offset`. Returns whether the
    /// cache changed (and so must be written). A later entry for a smaller or
    /// equal offset replaces the entries it overlaps.
    pub fn assign(&mut self, epoch: i32, start_offset: i64) -> bool {
        if let Some(&(last_epoch, _)) = self.entries.last() {
            if epoch <= last_epoch {
                assert!(
                    epoch == last_epoch,
                    "leader epochs only grow: {epoch} after {last_epoch}"
                );
                return false;
            }
        }
        self.entries.retain(|&(_, start)| start < start_offset);
        self.entries.push((epoch, start_offset));
        true
    }

    /// Kafka's `LeaderEpochFileCache.endOffsetFor`: where the largest epoch
    /// `<= requested_epoch` ends, as (that epoch, its end offset). The end of
    /// an epoch is the start of the next one; the latest epoch ends at
    /// `log_end_offset`. Kafka's edge cases, kept exactly because clients
    /// (KIP-320 truncation detection) and followers act on them:
    /// - `requested_epoch` is -1 (undefined), above the latest epoch, or the
    ///   cache is empty: `(UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET)` = (-1, -1);
    /// - below the first known epoch: `(requested_epoch, start of the first
    ///   epoch)`: the records before it are gone, so a follower restarts
    ///   from there.
    pub fn end_offset_for(&self, requested_epoch: i32, log_end_offset: i64) -> (i32, i64) {
        if requested_epoch == UNDEFINED_EPOCH {
            return (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET);
        }
        if self.latest_epoch() == Some(requested_epoch) {
            return (requested_epoch, log_end_offset);
        }
        // The first entry with a larger epoch; none means the request is
        // past every epoch this replica knows.
        let higher = self.entries.partition_point(|e| e.0 <= requested_epoch);
        let Some(&(_, higher_start)) = self.entries.get(higher) else {
            return (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET);
        };
        match higher.checked_sub(1) {
            Some(floor) => (self.entries[floor].0, higher_start),
            None => (requested_epoch, higher_start),
        }
    }

    /// The first (epoch, start offset) this replica still knows.
    pub fn earliest_entry(&self) -> Option<(i32, i64)> {
        self.entries.first().copied()
    }

    /// Kafka's `epochForOffset`: the epoch whose records include `offset`
    /// (the entry with the largest start `<= offset`), if any.
    pub fn epoch_for_offset(&self, offset: i64) -> Option<i32> {
        let idx = self.entries.partition_point(|e| e.1 <= offset);
        idx.checked_sub(1).map(|i| self.entries[i].0)
    }

    /// Forgets every epoch (the log was emptied: Kafka's `clearAndFlush`).
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Forgets epochs starting at or after `offset` (after a truncation).
    pub fn truncate_from(&mut self, offset: i64) {
        self.entries.retain(|&(_, start)| start < offset);
    }

    /// The log start moved to `offset`: forgets epochs wholly below it and
    /// starts the one covering it at `offset` (Kafka's `truncateFromStart`),
    /// so an epoch never claims records the log no longer has. Returns
    /// whether the cache changed.
    pub fn truncate_before(&mut self, offset: i64) -> bool {
        let covering = self.entries.partition_point(|e| e.1 <= offset);
        let Some(last_removed) = covering.checked_sub(1) else {
            return false;
        };
        let (epoch, start) = self.entries[last_removed];
        if covering == 1 && start == offset {
            return false;
        }
        self.entries.drain(..covering);
        self.entries.insert(0, (epoch, offset));
        true
    }

    pub fn encode(&self) -> String {
        self.entries
            .iter()
            .map(|(e, o)| format!("{e} {o}\n"))
            .collect()
    }

    /// Parses the file; malformed lines end the parse (a torn write).
    pub fn decode(text: &str) -> LeaderEpochCache {
        let mut cache = LeaderEpochCache::default();
        for line in text.lines() {
            let mut parts = line.split_whitespace();
            let (Some(e), Some(o), None) = (parts.next(), parts.next(), parts.next()) else {
                break;
            };
            let (Ok(epoch), Ok(offset)) = (e.parse::<i32>(), o.parse::<i64>()) else {
                break;
            };
            if cache
                .entries
                .last()
                .is_some_and(|&(le, lo)| epoch <= le || offset < lo)
            {
                break;
            }
            cache.entries.push((epoch, offset));
        }
        cache
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache_of(entries: &[(i32, i64)]) -> LeaderEpochCache {
        let mut cache = LeaderEpochCache::default();
        for &(epoch, start) in entries {
            assert!(cache.assign(epoch, start));
        }
        cache
    }

    #[test]
    fn end_offsets_walk_back_to_the_largest_known_epoch() {
        let mut cache = LeaderEpochCache::default();
        assert!(cache.assign(0, 0));
        assert!(!cache.assign(0, 5));
        assert!(cache.assign(2, 10));
        assert!(cache.assign(5, 30));
        assert_eq!(cache.end_offset_for(0, 40), (0, 10));
        assert_eq!(
            cache.end_offset_for(1, 40),
            (0, 10),
            "epoch 1 unknown: 0 ends at 10"
        );
        assert_eq!(cache.end_offset_for(3, 40), (2, 30));
        assert_eq!(
            cache.end_offset_for(5, 40),
            (5, 40),
            "the latest ends at the log end"
        );
        assert_eq!(LeaderEpochCache::decode(&cache.encode()), cache);
        cache.truncate_from(30);
        assert_eq!(cache.latest_epoch(), Some(2));
        assert_eq!(LeaderEpochCache::decode("0 0\n2 1x\n").entries(), &[(0, 0)]);
    }

    /// The cases of Kafka's `LeaderEpochFileCacheTest` that clients see.
    #[test]
    fn end_offset_for_keeps_kafkas_edge_cases() {
        let cache = cache_of(&[(2, 6), (3, 8), (5, 11)]);
        let undefined = (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET);
        assert_eq!(cache.end_offset_for(-1, 20), undefined, "undefined epoch");
        assert_eq!(
            cache.end_offset_for(6, 20),
            undefined,
            "past the latest epoch"
        );
        assert_eq!(
            cache.end_offset_for(1, 20),
            (1, 6),
            "below the first: its start"
        );
        assert_eq!(
            cache.end_offset_for(-2, 20),
            (-2, 6),
            "any other negative epoch too"
        );
        assert_eq!(cache.end_offset_for(4, 20), (3, 11));
        assert_eq!(cache.end_offset_for(2, 20), (2, 8));
        assert_eq!(LeaderEpochCache::default().end_offset_for(0, 20), undefined);
    }

    #[test]
    fn truncating_from_the_start_moves_the_covering_epoch_to_the_new_start() {
        let mut cache = cache_of(&[(2, 6), (3, 8), (5, 11)]);
        assert!(
            !cache.truncate_before(4),
            "below every epoch: nothing to do"
        );
        assert!(cache.truncate_before(9));
        assert_eq!(cache.entries(), &[(3, 9), (5, 11)]);
        assert!(!cache.truncate_before(9), "again: unchanged");
        assert_eq!(
            cache.end_offset_for(2, 20),
            (2, 9),
            "below the first: its new start"
        );
        assert!(cache.truncate_before(11));
        assert_eq!(cache.entries(), &[(5, 11)]);
        assert!(cache.truncate_before(15));
        assert_eq!(cache.entries(), &[(5, 15)]);
    }

    #[test]
    fn epoch_for_offset_finds_the_epoch_holding_it() {
        let cache = cache_of(&[(2, 6), (3, 8), (5, 11)]);
        assert_eq!(cache.epoch_for_offset(5), None);
        assert_eq!(cache.epoch_for_offset(6), Some(2));
        assert_eq!(cache.epoch_for_offset(10), Some(3));
        assert_eq!(cache.epoch_for_offset(11), Some(5));
        assert_eq!(cache.epoch_for_offset(1_000), Some(5));
        assert_eq!(cache.earliest_entry(), Some((2, 6)));
    }
}
