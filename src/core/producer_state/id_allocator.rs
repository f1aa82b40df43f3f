//! [`ProducerIdAllocator`]: hands out producer ids so that none is ever
//! given twice, even across restarts (Kafka's `ProducerIdManager` with
//! KIP-730 blocks).
//!
//! Ids come from blocks `[first_id, end_id)` of [`PRODUCER_ID_BLOCK_SIZE`].
//! The upper bound of the newest block is a metadata record: an id is handed
//! out only from a block whose end is durable in the metadata log, so after a
//! restart (which starts from the persisted end) a fresh block begins above
//! every id handed out before.
//!
//! Wiring: the broker (or the controller, which owns the metadata log) builds
//! the allocator with [`ProducerIdAllocator::new`] from the persisted
//! `producer id block end` (0 on a fresh cluster). Whenever
//! [`ProducerIdAllocator::needs_new_block`] is true it calls
//! [`ProducerIdAllocator::propose_block`], writes a metadata record with the
//! block's `end_id`, and once that record is committed calls
//! [`ProducerIdAllocator::on_block_persisted`]. InitProducerId calls
//! [`ProducerIdAllocator::next_id`]; `None` means no persisted block yet: the
//! request waits for the commit (or is answered `COORDINATOR_LOAD_IN_PROGRESS`
//! so the client retries). A new id always starts at epoch 0.
//! A new block is asked for before the current one runs out
//! ([`PRODUCER_ID_PREFETCH_REMAINING`]), so InitProducerId rarely waits.

/// Ids per block (Kafka's `ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE`).
pub const PRODUCER_ID_BLOCK_SIZE: i64 = 1000;
/// Ask for the next block when this few ids remain (Kafka prefetches at 90%).
pub const PRODUCER_ID_PREFETCH_REMAINING: i64 = PRODUCER_ID_BLOCK_SIZE / 10;

/// Ids `first_id..end_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerIdBlock {
    pub first_id: i64,
    pub end_id: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerIdAllocator {
    /// The next id to hand out from the current block.
    next_free_id: i64,
    /// End (exclusive) of the current block.
    current_end_id: i64,
    /// A persisted block waiting for the current one to run out.
    ready: Option<ProducerIdBlock>,
    /// A block proposed but not yet persisted.
    proposed: Option<ProducerIdBlock>,
    /// End of the newest persisted block: no id at or above it was given.
    persisted_end_id: i64,
}

impl ProducerIdAllocator {
    /// An allocator after a (re)start, from the persisted block end.
    pub fn new(persisted_end_id: i64) -> ProducerIdAllocator {
        assert!(persisted_end_id >= 0, "producer ids are non-negative");
        ProducerIdAllocator {
            next_free_id: persisted_end_id,
            current_end_id: persisted_end_id,
            ready: None,
            proposed: None,
            persisted_end_id,
        }
    }

    pub fn remaining_ids(&self) -> i64 {
        self.current_end_id - self.next_free_id + self.ready.map_or(0, |b| b.end_id - b.first_id)
    }

    pub fn persisted_end_id(&self) -> i64 {
        self.persisted_end_id
    }

    /// Whether the broker should persist a new block now.
    pub fn needs_new_block(&self) -> bool {
        self.proposed.is_none() && self.remaining_ids() < PRODUCER_ID_PREFETCH_REMAINING
    }

    /// The block to persist next; `None` if one is already being persisted
    /// or the id space is exhausted.
    pub fn propose_block(&mut self) -> Option<ProducerIdBlock> {
        if self.proposed.is_some() {
            return None;
        }
        let end_id = self.persisted_end_id.checked_add(PRODUCER_ID_BLOCK_SIZE)?;
        let block = ProducerIdBlock {
            first_id: self.persisted_end_id,
            end_id,
        };
        self.proposed = Some(block);
        Some(block)
    }

    /// The proposed block's end is durable in the metadata log.
    pub fn on_block_persisted(&mut self, block: ProducerIdBlock) {
        assert_eq!(
            self.proposed,
            Some(block),
            "only the proposed block is persisted"
        );
        assert!(block.first_id >= self.persisted_end_id && block.end_id > block.first_id);
        self.proposed = None;
        self.persisted_end_id = block.end_id;
        if self.next_free_id >= self.current_end_id {
            self.next_free_id = block.first_id;
            self.current_end_id = block.end_id;
        } else {
            assert!(self.ready.is_none(), "one block waits at most");
            self.ready = Some(block);
        }
    }

    /// In a cluster the active controller hands out blocks (KRaft's
    /// AllocateProducerIds): `block` was committed for this broker. Blocks
    /// of other brokers lie in between, so this broker's own proposal (if
    /// any) is dropped and its persisted end jumps to the block's.
    pub fn on_block_granted(&mut self, block: ProducerIdBlock) {
        assert!(block.end_id > block.first_id && block.first_id >= 0);
        self.proposed = None;
        if block.first_id < self.persisted_end_id {
            return; // a stale grant: every id of it may have been given
        }
        self.persisted_end_id = block.end_id;
        if self.next_free_id >= self.current_end_id {
            self.next_free_id = block.first_id;
            self.current_end_id = block.end_id;
        } else if self.ready.is_none() {
            self.ready = Some(block);
        }
    }

    /// The proposal was lost (the metadata write failed): propose again.
    pub fn on_block_failed(&mut self) {
        self.proposed = None;
    }

    /// A fresh producer id, or `None` until a block is persisted.
    pub fn next_id(&mut self) -> Option<i64> {
        if self.next_free_id >= self.current_end_id {
            let block = self.ready.take()?;
            self.next_free_id = block.first_id;
            self.current_end_id = block.end_id;
        }
        let id = self.next_free_id;
        self.next_free_id += 1;
        assert!(
            id < self.persisted_end_id,
            "an id is handed out only below the persisted end"
        );
        Some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_across_blocks_and_restarts() {
        let mut alloc = ProducerIdAllocator::new(0);
        assert_eq!(alloc.next_id(), None);
        assert!(alloc.needs_new_block());
        let block = alloc.propose_block().unwrap();
        assert_eq!(alloc.propose_block(), None);
        alloc.on_block_persisted(block);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..PRODUCER_ID_BLOCK_SIZE * 2 + 5 {
            if alloc.needs_new_block() {
                let b = alloc.propose_block().unwrap();
                alloc.on_block_persisted(b);
            }
            assert!(seen.insert(alloc.next_id().unwrap()));
        }
        // Restart from the persisted end: nothing handed out again.
        let mut restarted = ProducerIdAllocator::new(alloc.persisted_end_id());
        assert_eq!(restarted.next_id(), None);
        let b = restarted.propose_block().unwrap();
        restarted.on_block_persisted(b);
        let id = restarted.next_id().unwrap();
        assert!(seen.iter().all(|s| *s < id));
    }
}
