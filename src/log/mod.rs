//! The partition log: record batches in segments on a [`crate::io::disk::Disk`].
//!
//! - `record_batch`: the v2 batch header, CRC-32C, offset patching.
//! - `segment`, `offset_index`, `time_index`: one segment and its indexes.
//! - `recovery`: scanning a segment at startup, finding the torn tail.
//! - `partition_log`: append, read, truncate, retention, sync bookkeeping.
//! - `read_plan`: a read planned under the partition lock, executed without it.

pub mod batch_builder;
pub mod cleaner_decision;
pub mod client_batch;
pub mod compaction;
pub mod compaction_batch;
pub mod compaction_files;
pub mod config;
#[cfg(test)]
mod crash_test_support;
pub mod decompress;
#[cfg(test)]
mod deleted_segments_crash_tests;
#[cfg(test)]
mod fsyncgate_tests;
pub mod log_start;
pub mod offset_index;
#[cfg(test)]
mod out_of_descriptors_tests;
pub mod partition_log;
#[cfg(test)]
mod proptest_compaction;
#[cfg(test)]
mod proptest_partition_log;
#[cfg(test)]
mod proptest_record_batch;
pub mod read_plan;
pub mod record_batch;
pub mod recovery;
pub mod segment;
#[cfg(test)]
mod start_over_crash_tests;
pub mod time_index;
#[cfg(test)]
mod truncation_crash_tests;
pub mod verbatim_batches;

pub use config::LogConfig;
pub use partition_log::{AppendInfo, LogError, PartitionLog, RecoveryReport, SyncWork};
