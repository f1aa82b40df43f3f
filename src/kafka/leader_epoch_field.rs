//! How each API's `current_leader_epoch` / `last_fetched_epoch` field says
//! "no epoch": Kafka reads them differently per API, and a client that sends
//! -2 sees the difference (fenced in ListOffsets, unchecked in Fetch).

/// Kafka's `RecordBatch.NO_PARTITION_LEADER_EPOCH`.
pub const NO_PARTITION_LEADER_EPOCH: i32 = -1;

/// ListOffsets and OffsetForLeaderEpoch: only -1 means none (Kafka's
/// `ReplicaManager` compares with `NO_PARTITION_LEADER_EPOCH` /
/// `ListOffsetsResponse.UNKNOWN_EPOCH`); any other value is checked.
pub fn requested_epoch(raw: i32) -> Option<i32> {
    (raw != NO_PARTITION_LEADER_EPOCH).then_some(raw)
}

/// Fetch: any negative value means none (Kafka's `FetchRequest.optionalEpoch`).
pub fn fetch_epoch(raw: i32) -> Option<i32> {
    (raw >= 0).then_some(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetch_ignores_every_negative_epoch_the_others_only_minus_one() {
        assert_eq!(requested_epoch(-1), None);
        assert_eq!(requested_epoch(-2), Some(-2));
        assert_eq!(requested_epoch(0), Some(0));
        assert_eq!(fetch_epoch(-1), None);
        assert_eq!(fetch_epoch(-2), None);
        assert_eq!(fetch_epoch(0), Some(0));
    }
}
