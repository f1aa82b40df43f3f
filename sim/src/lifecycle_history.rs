//! The lifecycle workload's events (carried in the history as
//! `EventKind::Lifecycle`): one topic, `lc`, created with configs drawn from
//! the seed (small segments, short retention, compaction), altered live,
//! deleted and re-created under the same name, its records deleted below an
//! offset, and looked up by time.
//!
//! Every event names the topic's *incarnation*: 0 for the first creation, +1
//! each time the topic is created again after an acknowledged deletion. The
//! checkers key every fact by (incarnation, offset), so a read of the new
//! topic is never compared with the old one's records.
//!
//! Values are unique (`k<key>:<n>`); a tombstone is a record with a key and
//! no value.

use serde::Serialize;

use crate::history::Offset;

/// The lifecycle topic's name (one partition).
pub const LIFECYCLE_TOPIC: &str = "lc";

pub type Incarnation = u32;

/// A record as sent or as read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LcRecord {
    pub offset: Offset,
    pub key: String,
    /// `None`: a tombstone.
    pub value: Option<String>,
    /// The record's timestamp as read (CreateTime: the client's; with
    /// LogAppendTime: the broker's). As sent: the client's.
    pub timestamp_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum LcEvent {
    /// CreateTopics succeeded (or answered TOPIC_ALREADY_EXISTS to a retry of
    /// ours) with these configs.
    Created {
        incarnation: Incarnation,
        configs: Vec<(String, String)>,
    },
    /// DeleteTopics succeeded (or answered UNKNOWN_TOPIC to a retry of ours).
    Deleted { incarnation: Incarnation },
    /// IncrementalAlterConfigs (SET) succeeded.
    ConfigAltered {
        incarnation: Incarnation,
        configs: Vec<(String, String)>,
    },
    /// IncrementalAlterConfigs (SET) of `configs` got no success answer.
    /// `may_have_applied`: the outcome is unknown (a timeout or a closed
    /// connection lost the answer, or the broker failed while writing the
    /// change down), so the change may be in effect, now or later: the
    /// broker commits it on its own, and a request held up by a pause is
    /// still carried out after the client gave up on it. False only for a
    /// refusal the broker answers before it commits anything.
    ConfigAlterFailed {
        incarnation: Incarnation,
        configs: Vec<(String, String)>,
        error: String,
        may_have_applied: bool,
    },
    /// A produce of these records (offsets not yet known: 0) is sent.
    SendInvoked {
        incarnation: Incarnation,
        records: Vec<LcRecord>,
    },
    /// Acknowledged (acks=all, fsync.policy=always): the records with the
    /// offsets the broker assigned.
    SendAcked {
        incarnation: Incarnation,
        records: Vec<LcRecord>,
    },
    SendFailed {
        incarnation: Incarnation,
        error: String,
    },
    /// A fetch from `fetch_offset`, sent when the history was at
    /// `invoked_seq`, returned `records` (those at or past `fetch_offset`)
    /// and the partition's log start offset and high watermark.
    Read {
        incarnation: Incarnation,
        fetch_offset: Offset,
        invoked_seq: u64,
        log_start_offset: Offset,
        high_watermark: Offset,
        records: Vec<LcRecord>,
        /// The final read, after faults stopped.
        last: bool,
    },
    /// A fetch failed (OFFSET_OUT_OF_RANGE makes the reader reset to the
    /// earliest offset, like `auto.offset.reset=earliest`).
    ReadFailed {
        incarnation: Incarnation,
        fetch_offset: Offset,
        error: String,
    },
    /// DeleteRecords up to `offset` succeeded; the broker's new log start
    /// (low watermark) is `low_watermark`.
    RecordsDeleted {
        incarnation: Incarnation,
        offset: Offset,
        low_watermark: Offset,
    },
    /// ListOffsets earliest (-2) answered `offset`.
    Earliest {
        incarnation: Incarnation,
        invoked_seq: u64,
        offset: Offset,
    },
    /// ListOffsets latest (-1) answered `offset`.
    Latest {
        incarnation: Incarnation,
        invoked_seq: u64,
        offset: Offset,
    },
    /// ListOffsets by `timestamp_ms` answered `offset` (-1: none) and the
    /// timestamp of the record found there.
    TimeLookup {
        incarnation: Incarnation,
        invoked_seq: u64,
        timestamp_ms: i64,
        offset: Offset,
        found_timestamp_ms: i64,
    },
    /// The final read of the last incarnation reached `high_watermark`.
    FinalReadDone {
        incarnation: Incarnation,
        high_watermark: Offset,
    },
}
