//! Whether a compacted log is worth cleaning now, and up to where: Kafka's
//! `LogCleanerManager.cleanableOffsets` and its choice of logs to clean.
//!
//! - The cleanable range ends at the first uncleanable offset: the smallest
//!   of the stable offset (the caller passes `min(active segment base, high
//!   watermark)`) and, when `min.compaction.lag.ms` > 0, the base of the
//!   first dirty sealed segment whose largest timestamp is newer than
//!   `now - min.compaction.lag.ms` (records younger than the lag stay as
//!   written).
//! - Clean bytes are those of segments below the first dirty offset; dirty
//!   (cleanable) bytes those from the segment holding the first dirty offset
//!   up to the first segment at or past the first uncleanable offset.
//! - The log is cleaned when dirty / (clean + dirty) exceeds
//!   `min.cleanable.dirty.ratio` (strictly, as Kafka), or, whatever the
//!   ratio, when some dirty bytes exist and the earliest first-batch
//!   timestamp among the dirty sealed segments is older than
//!   `now - max.compaction.lag.ms`.

/// What the decision needs of one sealed (non-active) segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealedSegment {
    pub base_offset: i64,
    /// The offset after its last batch.
    pub next_offset: i64,
    pub size_bytes: u64,
    /// Largest batch max-timestamp (-1 when unknown or empty).
    pub max_timestamp_ms: i64,
}

/// The topic's cleaner configs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CleanerPolicy {
    pub min_compaction_lag_ms: i64,
    pub max_compaction_lag_ms: i64,
    pub min_cleanable_dirty_ratio: f64,
}

/// Returns the first uncleanable offset when the log should be cleaned now,
/// `None` when not. `sealed`: the sealed segments in offset order;
/// `first_dirty_offset`: the cleaner checkpoint; `stable_offset`: nothing at
/// or past it is cleaned. `first_batch_timestamp_ms(base)` reads the first
/// batch's max timestamp of a segment (asked only when the maximum lag is
/// finite and the ratio alone does not decide).
pub fn cleanable_until(
    sealed: &[SealedSegment],
    first_dirty_offset: i64,
    stable_offset: i64,
    now_ms: i64,
    policy: &CleanerPolicy,
    mut first_batch_timestamp_ms: impl FnMut(i64) -> Option<i64>,
) -> Option<i64> {
    let dirty: Vec<&SealedSegment> = sealed
        .iter()
        .filter(|s| s.next_offset > first_dirty_offset)
        .collect();
    let min_lag = policy.min_compaction_lag_ms.max(0);
    let lag_bound = (min_lag > 0)
        .then(|| {
            dirty
                .iter()
                .find(|s| s.max_timestamp_ms > now_ms.saturating_sub(min_lag))
                .map(|s| s.base_offset)
        })
        .flatten();
    let uncleanable = lag_bound.map_or(stable_offset, |b| b.min(stable_offset));
    let uncleanable = uncleanable.max(first_dirty_offset);

    let clean_bytes: u64 = sealed
        .iter()
        .filter(|s| s.next_offset <= first_dirty_offset)
        .map(|s| s.size_bytes)
        .sum();
    // Whole segments only: the first segment reaching past the uncleanable
    // offset, and everything after it, are not cleanable.
    let dirty_bytes: u64 = dirty
        .iter()
        .take_while(|s| s.next_offset <= uncleanable)
        .map(|s| s.size_bytes)
        .sum();
    let total = clean_bytes + dirty_bytes;
    if dirty_bytes == 0 || total == 0 {
        return None;
    }
    let ratio = dirty_bytes as f64 / total as f64;
    if ratio > policy.min_cleanable_dirty_ratio {
        return Some(uncleanable);
    }
    let max_lag = policy.max_compaction_lag_ms.max(0);
    let clean_until_ms = now_ms.saturating_sub(max_lag);
    let overdue = dirty
        .iter()
        .filter_map(|s| first_batch_timestamp_ms(s.base_offset))
        .filter(|t| *t > 0)
        .min()
        .is_some_and(|earliest| earliest < clean_until_ms);
    overdue.then_some(uncleanable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(base: i64, next: i64, size: u64, max_ts: i64) -> SealedSegment {
        SealedSegment {
            base_offset: base,
            next_offset: next,
            size_bytes: size,
            max_timestamp_ms: max_ts,
        }
    }

    const DEFAULT: CleanerPolicy = CleanerPolicy {
        min_compaction_lag_ms: 0,
        max_compaction_lag_ms: i64::MAX,
        min_cleanable_dirty_ratio: 0.5,
    };

    fn never(_: i64) -> Option<i64> {
        panic!("the ratio decides")
    }

    #[test]
    fn cleans_when_the_dirty_ratio_exceeds_the_minimum() {
        // 100 clean bytes, 300 dirty: ratio 0.75 > 0.5.
        let sealed = [seg(0, 10, 100, 1), seg(10, 20, 300, 2)];
        assert_eq!(
            cleanable_until(&sealed, 10, 20, 1_000, &DEFAULT, never),
            Some(20)
        );
        // Ratio 0.25 ≤ 0.5 with no finite maximum lag: not cleaned.
        let sealed = [seg(0, 10, 300, 1), seg(10, 20, 100, 2)];
        assert_eq!(
            cleanable_until(&sealed, 10, 20, 1_000, &DEFAULT, |_| Some(2)),
            None
        );
        // Exactly the ratio is not enough (Kafka compares strictly).
        let sealed = [seg(0, 10, 100, 1), seg(10, 20, 100, 2)];
        assert_eq!(
            cleanable_until(&sealed, 10, 20, 1_000, &DEFAULT, |_| Some(2)),
            None
        );
    }

    #[test]
    fn a_segment_older_than_the_maximum_lag_is_cleaned_whatever_the_ratio() {
        let policy = CleanerPolicy {
            max_compaction_lag_ms: 500,
            ..DEFAULT
        };
        let sealed = [seg(0, 10, 300, 1), seg(10, 20, 100, 200)];
        assert_eq!(
            cleanable_until(&sealed, 10, 20, 1_000, &policy, |_| Some(100)),
            Some(20)
        );
        // First batch at 600: within the lag at now=1000.
        assert_eq!(
            cleanable_until(&sealed, 10, 20, 1_000, &policy, |_| Some(600)),
            None
        );
    }

    #[test]
    fn records_younger_than_the_minimum_lag_stay_uncleaned() {
        let policy = CleanerPolicy {
            min_compaction_lag_ms: 100,
            ..DEFAULT
        };
        // Segment 10 ends at 850 (older than 1000-100), segment 20 at 950.
        let sealed = [seg(10, 20, 100, 850), seg(20, 30, 100, 950)];
        assert_eq!(
            cleanable_until(&sealed, 10, 30, 1_000, &policy, never),
            Some(20)
        );
        // Everything dirty is too young: nothing to clean.
        assert_eq!(
            cleanable_until(&sealed, 10, 30, 900, &policy, |_| Some(800)),
            None
        );
    }

    #[test]
    fn nothing_past_the_stable_offset_is_cleaned() {
        let sealed = [seg(0, 10, 100, 1), seg(10, 20, 100, 1)];
        assert_eq!(
            cleanable_until(&sealed, 0, 10, 1_000, &DEFAULT, never),
            Some(10)
        );
        assert_eq!(
            cleanable_until(&sealed, 0, 5, 1_000, &DEFAULT, |_| None),
            None
        );
    }
}
