//! The leader-epoch cache (KIP-101): for each leader epoch, the first offset
//! written in it. A replica that becomes a follower asks the leader where its
//! last epoch ends and truncates there, instead of to its high watermark.
//!
//! Stored in the partition directory as text lines `epoch start_offset`.

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

    /// The end offset of `epoch` as this replica knows it: the start of the
    /// next larger epoch, or `log_end_offset` if `epoch` is the latest.
    /// Returns the largest epoch ≤ `epoch` with its end (KIP-279 walk-back).
    pub fn end_offset_for(&self, epoch: i32, log_end_offset: i64) -> Option<(i32, i64)> {
        let idx = self.entries.partition_point(|e| e.0 <= epoch);
        let found = idx.checked_sub(1)?;
        let end = self.entries.get(idx).map(|e| e.1).unwrap_or(log_end_offset);
        Some((self.entries[found].0, end))
    }

    /// Forgets epochs starting at or after `offset` (after a truncation).
    pub fn truncate_from(&mut self, offset: i64) {
        self.entries.retain(|&(_, start)| start < offset);
    }

    /// Forgets epochs wholly below `offset`, keeping the one covering it.
    pub fn truncate_before(&mut self, offset: i64) {
        let covering = self.entries.partition_point(|e| e.1 <= offset);
        if covering > 1 {
            self.entries.drain(..covering - 1);
        }
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

    #[test]
    fn end_offsets_walk_back_to_the_largest_known_epoch() {
        let mut cache = LeaderEpochCache::default();
        assert!(cache.assign(0, 0));
        assert!(!cache.assign(0, 5));
        assert!(cache.assign(2, 10));
        assert!(cache.assign(5, 30));
        assert_eq!(cache.end_offset_for(0, 40), Some((0, 10)));
        assert_eq!(cache.end_offset_for(3, 40), Some((2, 30)));
        assert_eq!(cache.end_offset_for(9, 40), Some((5, 40)));
        assert_eq!(LeaderEpochCache::decode(&cache.encode()), cache);
        cache.truncate_from(30);
        assert_eq!(cache.latest_epoch(), Some(2));
        assert_eq!(LeaderEpochCache::decode("0 0\n2 1x\n").entries(), &[(0, 0)]);
    }
}
