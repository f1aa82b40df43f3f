//! How many bytes each partition of a Fetch may return: Kafka's rule
//! (KIP-74, `ReplicaManager.readFromLog`), as a small pure state machine.
//!
//! - The response limit is the request's `max_bytes`, capped by the broker's
//!   `fetch.max.bytes` (KIP-541).
//! - Partitions are read in request order. Each may return at most
//!   `min(partition_max_bytes, what is left of the response limit)`.
//! - Until a partition returned something, a read returns its first batch
//!   whatever the limits say (even 0), so a batch larger than every limit
//!   cannot stall a consumer. After that the limits are strict: a partition
//!   whose first batch does not fit returns nothing.
//! - A negative limit is Kafka's "Invalid max size" (the partition fails if
//!   it has records to return); what is left of the response limit never
//!   goes below zero once a partition was read.

/// What the next partition may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionLimit {
    Read {
        max_bytes: usize,
        min_one_batch: bool,
    },
    /// A negative limit (from a negative request or partition max_bytes).
    Invalid { max_bytes: i64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchBudget {
    /// What is left of the response limit (negative only before the first
    /// partition, when the request asked for a negative limit).
    remaining_bytes: i64,
    /// Nothing was returned yet: the next read gets at least one batch.
    min_one_batch: bool,
}

impl FetchBudget {
    pub fn new(request_max_bytes: i32, broker_fetch_max_bytes: i32) -> FetchBudget {
        FetchBudget {
            remaining_bytes: request_max_bytes.min(broker_fetch_max_bytes) as i64,
            min_one_batch: true,
        }
    }

    /// The response limit the request ends up with (bounds `min_bytes`).
    pub fn response_max_bytes(&self) -> i64 {
        self.remaining_bytes
    }

    pub fn next_limit(&self, partition_max_bytes: i32) -> PartitionLimit {
        let max_bytes = (partition_max_bytes as i64).min(self.remaining_bytes);
        if max_bytes < 0 {
            return PartitionLimit::Invalid { max_bytes };
        }
        PartitionLimit::Read {
            max_bytes: max_bytes as usize,
            min_one_batch: self.min_one_batch,
        }
    }

    /// Records what a partition returned.
    pub fn spend(&mut self, returned_bytes: usize) {
        if returned_bytes > 0 {
            self.min_one_batch = false;
        }
        self.remaining_bytes = (self.remaining_bytes - returned_bytes as i64).max(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(max_bytes: usize, min_one_batch: bool) -> PartitionLimit {
        PartitionLimit::Read {
            max_bytes,
            min_one_batch,
        }
    }

    #[test]
    fn the_response_limit_bounds_every_partition_after_the_first_batch() {
        // fetch.max.bytes 1 MiB, max.partition.fetch.bytes 1 MiB, batches
        // of 900 KB: the second partition gets only what is left, strictly.
        let mut budget = FetchBudget::new(1 << 20, 55 << 20);
        assert_eq!(budget.next_limit(1 << 20), read(1 << 20, true));
        budget.spend(900_000);
        assert_eq!(budget.next_limit(1 << 20), read((1 << 20) - 900_000, false));
        budget.spend(0);
        assert_eq!(budget.next_limit(1 << 20), read((1 << 20) - 900_000, false));
        budget.spend(148_576);
        assert_eq!(budget.next_limit(1 << 20), read(0, false));
    }

    #[test]
    fn zero_limits_still_give_the_first_non_empty_partition_one_batch() {
        let mut budget = FetchBudget::new(0, 55 << 20);
        assert_eq!(budget.next_limit(0), read(0, true));
        budget.spend(0); // an empty partition keeps the exception alive
        assert_eq!(budget.next_limit(1000), read(0, true));
        budget.spend(5000); // one batch larger than every limit
        assert_eq!(budget.next_limit(1000), read(0, false));
    }

    #[test]
    fn the_broker_caps_the_request() {
        let budget = FetchBudget::new(i32::MAX, 1 << 20);
        assert_eq!(budget.response_max_bytes(), 1 << 20);
        assert_eq!(budget.next_limit(i32::MAX), read(1 << 20, true));
    }

    #[test]
    fn negative_limits_are_invalid_until_a_partition_was_read() {
        let mut budget = FetchBudget::new(-5, 55 << 20);
        assert_eq!(
            budget.next_limit(100),
            PartitionLimit::Invalid { max_bytes: -5 }
        );
        budget.spend(0);
        assert_eq!(budget.next_limit(100), read(0, true));
        let budget = FetchBudget::new(100, 55 << 20);
        assert_eq!(
            budget.next_limit(-1),
            PartitionLimit::Invalid { max_bytes: -1 }
        );
    }
}
