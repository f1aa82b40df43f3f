//! The harness's history: one JSON object per line, one line per operation
//! event, in the order they happened, as Jepsen records them. An operation
//! is an `invoke` followed (in the same `process`) by its completion: `ok`,
//! `fail` (it certainly did not happen) or `info` (unknown: it may have).
//!
//! ```text
//! {"process":0,"type":"invoke","f":"send","time_ns":10,"partition":0,"value":"v-1"}
//! {"process":0,"type":"ok","f":"send","time_ns":25,"partition":0,"value":"v-1","offset":0}
//! {"process":1,"type":"invoke","f":"assign","time_ns":30,"partitions":[0]}
//! {"process":1,"type":"ok","f":"assign","time_ns":31,"partitions":[0]}
//! {"process":1,"type":"invoke","f":"poll","time_ns":40}
//! {"process":1,"type":"ok","f":"poll","time_ns":52,"reads":{"0":[[0,"v-1"]]},"positions":{"0":0}}
//! ```
//!
//! - `send`: `partition` and `value` (values are unique in a history), and
//!   the `offset` the broker acknowledged (on `ok`).
//! - `poll`: on `ok`, `reads` maps each partition to the `[offset, value]`
//!   pairs the poll returned, in order; `positions` (optional) is the
//!   consumer's fetch position per partition when it polled, and
//!   `high_watermarks` (optional) what the fetch answered. A poll with
//!   `"final": true` is the final read, after faults stopped, which read
//!   each partition in `reads` from offset 0 up to its high watermark.
//! - `assign` / `subscribe`: `partitions` (or the topic's). Each starts a
//!   new assignment of that consumer: its polls are judged from there on
//!   (as Jepsen does, a consumer may go back after a reassignment).
//! - `nemesis` (process [`NEMESIS_PROCESS`], type `info`): a fault starts
//!   (`"phase":"start"`) or ends (`"end"`): `fault` names it (`kill`,
//!   `pause`, `partition`, `clock`), `nodes` the nodes it hit and `value`
//!   says how (`halves`, `+37s`...). The checker ignores them; plots shade
//!   the windows between start and end.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use odradek_sim::history::{Offset, Partition};
use serde::{Deserialize, Serialize};

/// `invoke`, `ok`, `fail` or `info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpType {
    Invoke,
    Ok,
    Fail,
    Info,
}

/// The operation's function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpFn {
    Send,
    Poll,
    Assign,
    Subscribe,
    Nemesis,
}

/// The process id of the nemesis's operations.
pub const NEMESIS_PROCESS: u32 = 1_000_000;

/// One line of the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Op {
    /// The (single-threaded) client process.
    pub process: u32,
    #[serde(rename = "type")]
    pub kind: OpType,
    pub f: OpFn,
    /// Nanoseconds since the test started.
    pub time_ns: u64,
    /// `send`: the partition sent to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<Partition>,
    /// `send`: the value sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `send` `ok`: the offset acknowledged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<Offset>,
    /// `poll` `ok`: per partition, the `(offset, value)` pairs read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reads: Option<BTreeMap<Partition, Vec<(Offset, String)>>>,
    /// `poll`: the consumer's fetch position per partition when it polled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub positions: Option<BTreeMap<Partition, Offset>>,
    /// `poll` `ok`: the high watermark per partition the fetch answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_watermarks: Option<BTreeMap<Partition, Offset>>,
    /// `poll`: the final read (from 0 to the high watermark, faults over).
    #[serde(rename = "final", default, skip_serializing_if = "is_false")]
    pub final_read: bool,
    /// `assign` / `subscribe`: the partitions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitions: Option<Vec<Partition>>,
    /// `fail` / `info`: why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `nemesis`: which fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
    /// `nemesis`: `start` or `end`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// `nemesis`: the nodes the fault hit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<Vec<u32>>,
}

fn is_false(value: &bool) -> bool {
    !*value
}

impl Op {
    /// An operation with no values: fill in the fields its `f` needs.
    pub fn new(process: u32, kind: OpType, f: OpFn, time_ns: u64) -> Op {
        Op {
            process,
            kind,
            f,
            time_ns,
            partition: None,
            value: None,
            offset: None,
            reads: None,
            positions: None,
            high_watermarks: None,
            final_read: false,
            partitions: None,
            error: None,
            fault: None,
            phase: None,
            nodes: None,
        }
    }
}

/// A history line that is not an operation.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("reading the history: {0}")]
    Io(#[from] std::io::Error),
    #[error("history line {line}: {source}")]
    Parse {
        line: usize,
        source: serde_json::Error,
    },
}

/// Reads a history, one JSON object per line (blank lines skipped).
pub fn read_jsonl(reader: impl BufRead) -> Result<Vec<Op>, ReadError> {
    let mut ops = Vec::new();
    for (index, line) in reader.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let op = serde_json::from_str(&line).map_err(|source| ReadError::Parse {
            line: index + 1,
            source,
        })?;
        ops.push(op);
    }
    Ok(ops)
}

/// Writes a history, one JSON object per line.
pub fn write_jsonl(ops: &[Op], mut writer: impl Write) -> std::io::Result<()> {
    for op in ops {
        serde_json::to_writer(&mut writer, op)?;
        writer.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_and_keep_the_documented_names() {
        let text = r#"{"process":0,"type":"invoke","f":"send","time_ns":10,"partition":0,"value":"v-1"}
{"process":0,"type":"ok","f":"send","time_ns":25,"partition":0,"value":"v-1","offset":0}

{"process":1,"type":"ok","f":"poll","time_ns":52,"reads":{"0":[[0,"v-1"]]},"positions":{"0":0},"final":true}
{"process":1,"type":"ok","f":"assign","time_ns":31,"partitions":[0]}
"#;
        let ops = read_jsonl(text.as_bytes()).unwrap();
        assert_eq!(ops.len(), 4);
        assert_eq!(ops[1].kind, OpType::Ok);
        assert_eq!(ops[1].offset, Some(0));
        assert!(ops[2].final_read);
        assert_eq!(
            ops[2].reads.as_ref().unwrap()[&0],
            vec![(0, "v-1".to_string())]
        );
        let mut written = Vec::new();
        write_jsonl(&ops, &mut written).unwrap();
        let written = String::from_utf8(written).unwrap();
        let expected: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
        assert_eq!(written.lines().collect::<Vec<_>>(), expected);
    }

    #[test]
    fn a_bad_line_names_its_number() {
        let text = "{\"process\":0,\"type\":\"invoke\",\"f\":\"send\",\"time_ns\":1}\n{\"process\":0,\"type\":\"maybe\"}\n";
        let error = read_jsonl(text.as_bytes()).unwrap_err();
        assert!(error.to_string().starts_with("history line 2:"), "{error}");
    }
}
