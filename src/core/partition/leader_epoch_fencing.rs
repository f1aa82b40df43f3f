//! KIP-320 fencing: a request that names the leader epoch it believes in
//! (`current_leader_epoch` of Fetch, ListOffsets, OffsetForLeaderEpoch) is
//! refused when this replica is in another epoch, so a client or follower
//! acting on stale (or not yet known) metadata learns it instead of reading
//! from a log it no longer describes. Kafka's `Partition.checkCurrentLeaderEpoch`.

/// Why a request's `current_leader_epoch` was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EpochFencing {
    /// The request's epoch is older than ours (FENCED_LEADER_EPOCH): the
    /// sender's metadata is stale and it must refresh it.
    #[error("leader epoch {requested} is older than the partition's {current}")]
    Fenced { requested: i32, current: i32 },
    /// The request's epoch is newer than ours (UNKNOWN_LEADER_EPOCH): this
    /// replica has not learnt of it yet, the sender retries.
    #[error("leader epoch {requested} is newer than the partition's {current}")]
    Unknown { requested: i32, current: i32 },
}

/// Checks `requested` (None: the request names no epoch) against the
/// replica's `current` leader epoch.
pub fn check_current_leader_epoch(
    current: i32,
    requested: Option<i32>,
) -> Result<(), EpochFencing> {
    match requested {
        None => Ok(()),
        Some(requested) if requested < current => Err(EpochFencing::Fenced { requested, current }),
        Some(requested) if requested > current => Err(EpochFencing::Unknown { requested, current }),
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn older_epochs_are_fenced_newer_ones_unknown() {
        assert_eq!(check_current_leader_epoch(3, None), Ok(()));
        assert_eq!(check_current_leader_epoch(3, Some(3)), Ok(()));
        assert_eq!(
            check_current_leader_epoch(3, Some(2)),
            Err(EpochFencing::Fenced {
                requested: 2,
                current: 3
            })
        );
        assert_eq!(
            check_current_leader_epoch(3, Some(4)),
            Err(EpochFencing::Unknown {
                requested: 4,
                current: 3
            })
        );
        // The raw field -2 is an epoch to Kafka's ListOffsets and
        // OffsetForLeaderEpoch (only -1 means "none"): older than any.
        assert!(matches!(
            check_current_leader_epoch(0, Some(-2)),
            Err(EpochFencing::Fenced { .. })
        ));
    }
}
