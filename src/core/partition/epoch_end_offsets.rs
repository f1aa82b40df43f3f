//! Leader epochs against offsets, as both sides of a fetch use them:
//! the leader's OffsetsForLeaderEpoch answer and its check of a follower's
//! last fetched epoch (KIP-320, Kafka's diverging epoch), and the follower's
//! truncation decision that walks back epoch by epoch (KIP-279).

use crate::core::partition::replica_log::ReplicaLog;

/// The leader's answer to "where does `epoch` end?": its largest epoch
/// `<= epoch` and that epoch's end offset. The leader's current epoch counts
/// even before it wrote a record (it starts at the log end the leader had
/// when elected). `(-1, log start)` when the leader knows no such epoch.
pub fn leader_end_offset_for_epoch<L: ReplicaLog>(
    log: &L,
    leader_epoch: i32,
    epoch: i32,
) -> (i32, i64) {
    if epoch >= leader_epoch {
        return (leader_epoch, log.log_end_offset());
    }
    log.end_offset_for_epoch(epoch)
        .unwrap_or((-1, log.log_start_offset()))
}

/// Whether a follower that fetches from `fetch_offset` with its last record
/// in `last_fetched_epoch` diverges from the leader's log: the leader lacks
/// that epoch, or it ends before `fetch_offset`. Returns the leader's epoch
/// and end offset to truncate to.
pub fn diverging_epoch<L: ReplicaLog>(
    log: &L,
    leader_epoch: i32,
    last_fetched_epoch: i32,
    fetch_offset: i64,
) -> Option<(i32, i64)> {
    let (epoch, end_offset) = leader_end_offset_for_epoch(log, leader_epoch, last_fetched_epoch);
    (epoch < last_fetched_epoch || end_offset < fetch_offset).then_some((epoch, end_offset))
}

/// Where a follower truncates when the leader reports that its log diverges
/// at (`leader_epoch`, `leader_end_offset`).
///
/// KIP-279: if the follower has `leader_epoch` too, both agree up to the
/// smaller of the two ends; if not, the follower's records of its largest
/// epoch below it end at its own end of that epoch, and the next fetch checks
/// again from there (one epoch further back each round). With `kip101_only`
/// the follower trusts the leader's end offset alone (KIP-101), which keeps
/// records of an epoch the leader never had.
pub fn truncation_offset<L: ReplicaLog>(
    log: &L,
    leader_epoch: i32,
    leader_end_offset: i64,
    kip101_only: bool,
) -> i64 {
    let log_end = log.log_end_offset();
    if kip101_only {
        return leader_end_offset.min(log_end).max(log.log_start_offset());
    }
    if leader_epoch < 0 {
        return log.log_start_offset();
    }
    match log.end_offset_for_epoch(leader_epoch) {
        None => log.log_start_offset(),
        Some((epoch, end)) if epoch == leader_epoch => end.min(leader_end_offset),
        Some((_, end)) => end,
    }
    .min(log_end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::partition::memory_log::MemoryLog;
    use crate::core::partition::replica_log::StoredBatch;

    fn log_of(epochs: &[i32]) -> MemoryLog {
        let mut log = MemoryLog::default();
        for (offset, &epoch) in epochs.iter().enumerate() {
            log.append(StoredBatch {
                base_offset: offset as i64,
                epoch,
                record_count: 1,
                records: vec![offset as u64],
            });
        }
        log
    }

    #[test]
    fn a_leader_answers_with_its_current_epoch_before_writing_in_it() {
        let leader = log_of(&[1, 1, 3]);
        assert_eq!(leader_end_offset_for_epoch(&leader, 5, 5), (5, 3));
        assert_eq!(leader_end_offset_for_epoch(&leader, 5, 4), (3, 3));
        assert_eq!(leader_end_offset_for_epoch(&leader, 5, 2), (1, 2));
        assert_eq!(leader_end_offset_for_epoch(&leader, 5, 0), (-1, 0));
        assert_eq!(diverging_epoch(&leader, 5, 3, 3), None);
        assert_eq!(diverging_epoch(&leader, 5, 1, 2), None);
        assert_eq!(diverging_epoch(&leader, 5, 1, 3), Some((1, 2)));
        assert_eq!(diverging_epoch(&leader, 5, 2, 2), Some((1, 2)));
    }

    /// KIP-279's example: fast leader changes 1 → 2 → 3. The follower wrote
    /// offset 1 in epoch 2 (never replicated); the leader of epoch 3 has
    /// offset 1 from epoch 1.
    #[test]
    fn walking_back_epoch_by_epoch_removes_what_kip101_keeps() {
        let leader = log_of(&[1, 1, 3]);
        let follower = log_of(&[1, 2]);
        let (epoch, end) = diverging_epoch(&leader, 3, 2, 2).unwrap();
        assert_eq!((epoch, end), (1, 2));
        assert_eq!(truncation_offset(&follower, epoch, end, false), 1);
        assert_eq!(
            truncation_offset(&follower, epoch, end, true),
            2,
            "KIP-101 keeps the epoch-2 record at offset 1"
        );
        // After truncating to 1 the follower's last epoch is 1, which ends
        // at 2 on the leader: no divergence left.
        assert_eq!(diverging_epoch(&leader, 3, 1, 1), None);
    }

    #[test]
    fn a_follower_without_the_leaders_epoch_walks_back_one_epoch_per_round() {
        let follower = log_of(&[1, 2, 2, 4, 4]);
        // The leader knows epochs 1 and 3; the follower asks with epoch 4.
        let leader = log_of(&[1, 1, 3, 3, 3, 3]);
        let (e, end) = diverging_epoch(&leader, 5, 4, 5).unwrap();
        assert_eq!((e, end), (3, 6));
        let first = truncation_offset(&follower, e, end, false);
        assert_eq!(first, 3, "the follower's epoch 2 ends at 3");
        let (e, end) = diverging_epoch(&leader, 5, 2, 3).unwrap();
        assert_eq!((e, end), (1, 2));
        assert_eq!(truncation_offset(&follower, e, end, false), 1);
        assert_eq!(truncation_offset(&follower, -1, 0, false), 0);
    }
}
