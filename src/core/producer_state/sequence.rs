//! Sequence numbers of an idempotent producer: per partition, the first
//! record of a producer epoch has sequence 0 and each record takes the next
//! one; after `i32::MAX` comes 0 again (Kafka's `DefaultRecordBatch`).

/// The sequence `increment` records after `sequence`, wrapping past `i32::MAX` to 0.
pub fn increment_sequence(sequence: i32, increment: i32) -> i32 {
    assert!(
        sequence >= 0 && increment >= 0,
        "sequences and increments are non-negative"
    );
    if sequence > i32::MAX - increment {
        increment - (i32::MAX - sequence) - 1
    } else {
        sequence + increment
    }
}

/// Whether `next_sequence` directly follows `last_sequence`.
pub fn in_sequence(last_sequence: i32, next_sequence: i32) -> bool {
    next_sequence as i64 == last_sequence as i64 + 1
        || (next_sequence == 0 && last_sequence == i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_wrap_at_i32_max() {
        assert_eq!(increment_sequence(0, 4), 4);
        assert_eq!(increment_sequence(i32::MAX - 1, 1), i32::MAX);
        assert_eq!(increment_sequence(i32::MAX, 1), 0);
        assert_eq!(increment_sequence(i32::MAX - 1, 3), 1);
        assert!(in_sequence(4, 5));
        assert!(in_sequence(i32::MAX, 0));
        assert!(in_sequence(-1, 0), "no sequence yet: the next is 0");
        assert!(!in_sequence(4, 4));
        assert!(!in_sequence(4, 6));
        assert!(!in_sequence(i32::MAX - 1, 0));
    }
}
