//! The high-watermark checkpoint of a data directory, in the format of
//! Kafka's `replication-offset-checkpoint` (`OffsetCheckpointFile`, version
//! 0): a version line, an entry count, then `topic partition offset` lines.
//!
//! Why a replica keeps one: its high watermark says which records are
//! committed, and the log end does not. A restarted follower (or a leader
//! whose ISR has other members) that took its log end as the high watermark
//! would expose records the ISR never had. So the server writes every
//! hosted partition's high watermark here periodically and at shutdown,
//! and a partition opens with the checkpointed value, clamped to its log
//! (Kafka's `UnifiedLog.updateHighWatermark`). See docs/replication.md.
//!
//! Parsing is Kafka's `CheckpointReadBuffer`: an empty file or one with only
//! the version holds no entries; any malformed line, another version or a
//! wrong count is an error (Kafka then takes the data directory offline).

use std::collections::BTreeMap;

pub const HIGH_WATERMARK_CHECKPOINT_FILE: &str = "replication-offset-checkpoint";
const VERSION: i32 = 0;

/// Checkpointed high watermarks by (topic, partition).
pub type HighWatermarks = BTreeMap<(String, i32), i64>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("malformed line in checkpoint file: {line:?}")]
    MalformedLine { line: String },
    #[error("unrecognised checkpoint version {found}, expected {VERSION}")]
    Version { found: i32 },
    #[error("expected {expected} entries in checkpoint file, found {found}")]
    Count { expected: usize, found: usize },
}

pub fn encode(high_watermarks: &HighWatermarks) -> String {
    let mut text = format!("{VERSION}\n{}\n", high_watermarks.len());
    for ((topic, partition), offset) in high_watermarks {
        // Topic names never hold whitespace (topic_name validates them), so
        // the line splits back into exactly three fields.
        text.push_str(&format!("{topic} {partition} {offset}\n"));
    }
    text
}

pub fn decode(text: &str) -> Result<HighWatermarks, CheckpointError> {
    let malformed = |line: &str| CheckpointError::MalformedLine {
        line: line.chars().take(200).collect(),
    };
    let mut lines = text.lines();
    let Some(version) = lines.next() else {
        return Ok(HighWatermarks::new());
    };
    let version: i32 = version.parse().map_err(|_| malformed(version))?;
    if version != VERSION {
        return Err(CheckpointError::Version { found: version });
    }
    let Some(count) = lines.next() else {
        return Ok(HighWatermarks::new());
    };
    let expected: usize = count.parse().map_err(|_| malformed(count))?;
    let mut entries = HighWatermarks::new();
    let mut found = 0;
    for line in lines {
        let mut parts = line.split_whitespace();
        let (Some(topic), Some(partition), Some(offset), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed(line));
        };
        let (Ok(partition), Ok(offset)) = (partition.parse::<i32>(), offset.parse::<i64>()) else {
            return Err(malformed(line));
        };
        entries.insert((topic.to_string(), partition), offset);
        found += 1;
    }
    if found != expected {
        return Err(CheckpointError::Count { expected, found });
    }
    Ok(entries)
}

/// The high watermark a partition opens with: the checkpointed one (0 when
/// none, as Kafka), kept within `[log start, log end]`.
pub fn initial_high_watermark(checkpointed: Option<i64>, log_start: i64, log_end: i64) -> i64 {
    assert!(
        log_start <= log_end,
        "log start {log_start} past the log end {log_end}"
    );
    checkpointed.unwrap_or(0).clamp(log_start, log_end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_in_kafkas_format() {
        let mut hws = HighWatermarks::new();
        hws.insert(("orders".to_string(), 1), 42);
        hws.insert(("orders".to_string(), 0), 7);
        hws.insert(("__consumer_offsets".to_string(), 0), 0);
        let text = encode(&hws);
        assert_eq!(
            text,
            "0\n3\n__consumer_offsets 0 0\norders 0 7\norders 1 42\n"
        );
        assert_eq!(decode(&text), Ok(hws));
        assert_eq!(
            decode(&encode(&HighWatermarks::new())),
            Ok(HighWatermarks::new())
        );
    }

    #[test]
    fn empty_files_hold_nothing_and_damage_is_an_error() {
        assert_eq!(decode(""), Ok(HighWatermarks::new()));
        assert_eq!(decode("0\n"), Ok(HighWatermarks::new()));
        assert_eq!(decode("1\n0\n"), Err(CheckpointError::Version { found: 1 }));
        assert!(matches!(
            decode("x\n"),
            Err(CheckpointError::MalformedLine { .. })
        ));
        assert!(matches!(
            decode("0\n1\nt 0 1x\n"),
            Err(CheckpointError::MalformedLine { .. })
        ));
        assert!(matches!(
            decode("0\n1\nt 0\n"),
            Err(CheckpointError::MalformedLine { .. })
        ));
        assert_eq!(
            decode("0\n2\nt 0 5\n"),
            Err(CheckpointError::Count {
                expected: 2,
                found: 1
            }),
            "a lost line is found by the count"
        );
    }

    #[test]
    fn the_initial_high_watermark_stays_within_the_log() {
        assert_eq!(initial_high_watermark(Some(5), 0, 10), 5);
        assert_eq!(
            initial_high_watermark(Some(50), 0, 10),
            10,
            "past the log end"
        );
        assert_eq!(
            initial_high_watermark(Some(2), 4, 10),
            4,
            "below the log start"
        );
        assert_eq!(
            initial_high_watermark(None, 3, 10),
            3,
            "none: 0, then clamped"
        );
    }
}
