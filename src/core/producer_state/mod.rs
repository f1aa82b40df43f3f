//! The idempotent producer's state, sans IO.
//!
//! - `sequence`: sequence-number arithmetic (wraparound at `i32::MAX`).
//! - `table`: [`ProducerStateTable`], one per partition: for each producer id
//!   its epoch and the metadata of its last five batches; checks a produced
//!   batch before it is appended (append, duplicate, or a Kafka error) and
//!   learns from every appended batch.
//! - `snapshot`: the table's versioned, CRC-protected binary form, written
//!   as `<offset>.snapshot` files beside the log.
//! - `id_allocator`: [`ProducerIdAllocator`], hands out producer ids from
//!   blocks whose upper bound is persisted in the metadata log.
//!
//! How the broker drives it (Kafka's `UnifiedLog` + `ProducerStateManager`):
//!
//! 1. Produce: `validate_produced` the record set, then
//!    [`ProducerStateTable::check_batches`]. `Verdict::Duplicate` is answered
//!    as a success carrying the original offsets, and nothing is appended; an
//!    error is answered with its Kafka code; `Verdict::Append` appends, then
//!    [`ProducerStateTable::on_appended`] is called for each batch with the
//!    base offset the log assigned. Followers call `on_appended` for every
//!    batch they replicate, without `check`.
//! 2. Snapshots: when a segment rolls (and at clean shutdown) the broker
//!    writes [`ProducerStateTable::snapshot`] to
//!    `snapshot_file_name(table.map_end_offset())`, syncs it with the segment,
//!    and deletes snapshots below the log start offset.
//! 3. Restart: after the log's recovery, load the newest snapshot whose offset
//!    is ≤ the recovered log end offset (an unreadable one is deleted and the
//!    next older one is tried; with none, start empty at the log start
//!    offset), then [`ProducerStateTable::replay`] the batch headers from its
//!    `map_end_offset` to the log end. Snapshots above the recovered end are
//!    deleted (they describe a torn tail).
//! 4. Truncation (a follower matching its leader): delete snapshots above the
//!    new end and reload as in 3; [`ProducerStateTable::truncate_to`] is the
//!    cheap in-memory approximation (it forgets, never invents, state).
//! 5. Timer: [`ProducerStateTable::expire`] with `producer.id.expiration.ms`.

pub mod id_allocator;
pub mod sequence;
pub mod snapshot;
pub mod table;

#[cfg(test)]
mod proptest_table;

pub use id_allocator::{ProducerIdAllocator, ProducerIdBlock};
pub use snapshot::SnapshotError;
pub use table::{
    BatchMetadata, ProducerBatch, ProducerEntry, ProducerError, ProducerStateTable, Verdict,
    BATCHES_PER_PRODUCER_MAX, PRODUCER_ID_EXPIRATION_MS_DEFAULT,
};
