//! The high watermark as a pure function (like raft-rs's committed index):
//! the offset below which every in-sync replica holds the records.

/// `isr_end_offsets` holds, for each ISR member, the end offset it counts
/// toward the high watermark (for the leader with `fsync.policy=always`, its
/// durable end; otherwise its log end). Returns the smallest.
pub fn high_watermark(isr_end_offsets: &[i64]) -> Option<i64> {
    isr_end_offsets.iter().copied().min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slowest_in_sync_replica_bounds_the_high_watermark() {
        assert_eq!(high_watermark(&[10]), Some(10));
        assert_eq!(high_watermark(&[10, 7, 12]), Some(7));
        assert_eq!(high_watermark(&[]), None);
    }
}
