//! The leader's check of a fetch's `last_fetched_epoch` (KIP-320, Fetch
//! v12+), as Kafka's `Partition.readRecords` does it before reading: if the
//! fetcher's log ends in an epoch this log lacks, or its epoch ends here
//! before the fetch offset, their logs diverge and the answer is the
//! diverging epoch and where it ends here, instead of records. The fetcher
//! (a follower, or a KIP-320 consumer) truncates there and fetches again.
//!
//! This checks a fetch against the leader-epoch cache of the log the broker
//! serves; `epoch_end_offsets` holds the same rule for the replica state
//! machine over its `ReplicaLog`.

use crate::core::partition::leader_epoch_cache::{
    LeaderEpochCache, UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET,
};

/// What a fetch with a last fetched epoch gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchEpochCheck {
    /// The logs agree up to the fetch offset: read as usual.
    Read,
    /// The logs diverge: answer `diverging_epoch` {epoch, end_offset}.
    Diverging { epoch: i32, end_offset: i64 },
    /// OFFSET_OUT_OF_RANGE: the epoch's end cannot be found here (an epoch
    /// past every known one), or the offset is below the log start.
    OutOfRange,
}

/// Kafka's order: the epoch's end first, then the log start, then divergence.
pub fn check_last_fetched_epoch(
    cache: &LeaderEpochCache,
    log_start_offset: i64,
    log_end_offset: i64,
    last_fetched_epoch: i32,
    fetch_offset: i64,
) -> FetchEpochCheck {
    let (epoch, end_offset) = cache.end_offset_for(last_fetched_epoch, log_end_offset);
    if epoch == UNDEFINED_EPOCH || end_offset == UNDEFINED_EPOCH_OFFSET {
        return FetchEpochCheck::OutOfRange;
    }
    if fetch_offset < log_start_offset {
        return FetchEpochCheck::OutOfRange;
    }
    if epoch < last_fetched_epoch || end_offset < fetch_offset {
        return FetchEpochCheck::Diverging { epoch, end_offset };
    }
    FetchEpochCheck::Read
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache_of(entries: &[(i32, i64)]) -> LeaderEpochCache {
        let mut cache = LeaderEpochCache::default();
        for &(epoch, start) in entries {
            cache.assign(epoch, start);
        }
        cache
    }

    #[test]
    fn a_fetch_matching_the_log_reads() {
        let cache = cache_of(&[(0, 0), (2, 10), (5, 30)]);
        let check = |epoch, offset| check_last_fetched_epoch(&cache, 0, 40, epoch, offset);
        assert_eq!(check(5, 40), FetchEpochCheck::Read, "at the log end");
        assert_eq!(check(5, 35), FetchEpochCheck::Read);
        assert_eq!(check(2, 30), FetchEpochCheck::Read, "at the end of epoch 2");
        assert_eq!(check(0, 10), FetchEpochCheck::Read);
    }

    #[test]
    fn a_fetch_past_the_end_of_its_epoch_diverges() {
        let cache = cache_of(&[(0, 0), (2, 10), (5, 30)]);
        let check = |epoch, offset| check_last_fetched_epoch(&cache, 0, 40, epoch, offset);
        assert_eq!(
            check(2, 31),
            FetchEpochCheck::Diverging {
                epoch: 2,
                end_offset: 30
            }
        );
        // Epoch 3 never led here: the largest epoch below it is 2.
        assert_eq!(
            check(3, 20),
            FetchEpochCheck::Diverging {
                epoch: 2,
                end_offset: 30
            }
        );
        assert_eq!(
            check(5, 41),
            FetchEpochCheck::Diverging {
                epoch: 5,
                end_offset: 40
            },
            "the latest epoch ends at the log end"
        );
    }

    #[test]
    fn unknown_epochs_and_offsets_below_the_start_are_out_of_range() {
        let cache = cache_of(&[(2, 10), (5, 30)]);
        let check = |epoch, offset| check_last_fetched_epoch(&cache, 10, 40, epoch, offset);
        assert_eq!(
            check(6, 40),
            FetchEpochCheck::OutOfRange,
            "past every epoch"
        );
        assert_eq!(
            check(2, 5),
            FetchEpochCheck::OutOfRange,
            "below the log start"
        );
        // Below the first epoch: Kafka answers (requested, first start), so
        // a fetch past it diverges there.
        assert_eq!(
            check(1, 12),
            FetchEpochCheck::Diverging {
                epoch: 1,
                end_offset: 10
            }
        );
        assert_eq!(
            check_last_fetched_epoch(&LeaderEpochCache::default(), 0, 0, 0, 0),
            FetchEpochCheck::OutOfRange,
            "an empty cache knows no epoch"
        );
    }
}
