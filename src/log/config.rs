//! The settings of one partition log, taken from its topic's configs.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogConfig {
    /// `segment.bytes`: roll to a new segment past this size.
    pub segment_bytes: u64,
    /// `segment.ms`: roll a segment older than this (-1: never by age).
    pub segment_ms: i64,
    /// `index.interval.bytes`: bytes between two offset-index entries.
    pub index_interval_bytes: u64,
    /// `retention.ms`: delete segments whose newest record is older (-1: never).
    pub retention_ms: i64,
    /// `retention.bytes`: delete oldest segments past this size (-1: never).
    pub retention_bytes: i64,
    /// Verify CRC-32C during recovery. Only the `no-crc-check` bug switch clears it.
    pub verify_crc_on_recovery: bool,
    /// The partition's current leader epoch. The CRC does not cover a
    /// batch's leader epoch, so recovery treats a stored batch claiming a
    /// later epoch as damaged.
    pub leader_epoch_max: i32,
    /// Offsets follow each other without gaps: true except for compacted
    /// topics, whose cleaned segments keep their records' original offsets.
    pub dense_offsets: bool,
    /// Test-only bugs put back for the simulator (all off in production).
    pub bugs: LogBugs,
}

/// Durability bugs of the log, switched on only by the simulator's
/// `BugSwitches` to prove its checkers catch them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogBugs {
    /// A new segment's files are used (and records in them acknowledged)
    /// without syncing the directory that names them.
    pub no_dir_sync: bool,
    /// Checkpoints skip syncing the index files and the recovery point
    /// vouches for segments whose indexes were never synced, so recovery
    /// trusts them.
    pub unsynced_index: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3600 * 1000,
            index_interval_bytes: 4096,
            retention_ms: 7 * 24 * 3600 * 1000,
            retention_bytes: -1,
            verify_crc_on_recovery: true,
            leader_epoch_max: i32::MAX,
            dense_offsets: true,
            bugs: LogBugs::default(),
        }
    }
}
