//! The history checker: turns a harness history ([`crate::history`]) into
//! the simulator's history events and runs the simulator's checkers
//! (`odradek_sim::checker::Checkers`) over it, so the real-process harness
//! and the simulation judge runs with one library and name anomalies alike,
//! as Jepsen's Kafka workload does: `lost-write`, `duplicate`,
//! `inconsistent-offsets`, `nonmonotonic-send`, `nonmonotonic-poll`,
//! `poll-skip`, `int-poll-skip`, `unseen` (and `corrupt-read` for values
//! the harness could not decode, should it record them).
//!
//! The mapping:
//! - `send` invoke / ok / fail or info -> `SendInvoked` / `SendAcked` /
//!   `SendFailed` under the process as client id (values are unique).
//! - `poll` ok -> one `Polled` per partition read, with the invocation's
//!   place in the history (what `lost-write` needs to know which
//!   acknowledgements came before the poll). Its fetch offset is the
//!   recorded position, else the first offset read. A failed poll read
//!   nothing and adds nothing.
//! - Each consumer assignment (`assign` / `subscribe` invoked, or a
//!   process's first poll) gets a fresh reader id, as the simulator gives
//!   its group consumers, so `nonmonotonic-poll` and the `poll-skip`s judge
//!   a process's polls within one assignment. [`Verdict::readers`] says
//!   whose reader id is whose.
//! - A `final` poll is the simulator's final reader, followed by
//!   `FinalReadDone` per partition it read: `unseen` looks there.
//!
//! Acknowledgements are taken as durable (the harness's topic runs with
//! `fsync.policy=always`): the history carries no `PartitionPolicy`.

use std::collections::BTreeMap;

use odradek_sim::checker::Checkers;
use odradek_sim::group_history::GROUP_READER_BASE;
use odradek_sim::history::{
    ClientId, EventKind, History, Partition, ReadRecord, ReadValue, FINAL_READER,
};
use serde::Serialize;

use crate::history::{Op, OpFn, OpType};

/// At most this many examples of each anomaly in a verdict.
pub const EXAMPLES_MAX: usize = 8;

/// What the checker concluded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// No anomaly found.
    pub valid: bool,
    /// Per anomaly name, up to [`EXAMPLES_MAX`] examples.
    pub anomalies: BTreeMap<String, Vec<String>>,
    /// Per anomaly name, how many were found.
    pub counts: BTreeMap<String, usize>,
    /// Reader ids the examples mention (`consumer N`) -> whose they are.
    pub readers: BTreeMap<ClientId, String>,
}

impl Verdict {
    /// The anomaly names found, in name order.
    pub fn names(&self) -> Vec<&str> {
        self.counts.keys().map(String::as_str).collect()
    }
}

/// A history the checker cannot read as operations of the Kafka workload.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HistoryError {
    #[error("operation {index} ({process} {f:?} {kind:?}) has no {field}")]
    Missing {
        index: usize,
        process: u32,
        f: OpFn,
        kind: OpType,
        field: &'static str,
    },
}

/// Converts the operations into the simulator's history.
pub fn to_sim_history(ops: &[Op]) -> Result<(History, BTreeMap<ClientId, String>), HistoryError> {
    let mut history = History::default();
    let mut pending_send: BTreeMap<u32, (Partition, String)> = BTreeMap::new();
    let mut pending_poll: BTreeMap<u32, u64> = BTreeMap::new();
    let mut reader_of: BTreeMap<u32, ClientId> = BTreeMap::new();
    let mut assignments: BTreeMap<u32, u32> = BTreeMap::new();
    let mut readers: BTreeMap<ClientId, String> = BTreeMap::new();
    let mut next_reader = GROUP_READER_BASE;
    let mut new_reader = |process: u32, reader_of: &mut BTreeMap<u32, ClientId>| {
        let reader = next_reader;
        next_reader += 1;
        let assignment = assignments.entry(process).or_insert(0);
        *assignment += 1;
        readers.insert(
            reader,
            format!("process {process}, assignment {assignment}"),
        );
        reader_of.insert(process, reader);
        reader
    };
    for (index, op) in ops.iter().enumerate() {
        let at_ms = op.time_ns / 1_000_000;
        let missing = |field| HistoryError::Missing {
            index,
            process: op.process,
            f: op.f,
            kind: op.kind,
            field,
        };
        let client = op.process;
        match (op.f, op.kind) {
            (OpFn::Send, OpType::Invoke) => {
                let partition = op.partition.ok_or_else(|| missing("partition"))?;
                let value = op.value.clone().ok_or_else(|| missing("value"))?;
                pending_send.insert(client, (partition, value.clone()));
                history.push(
                    at_ms,
                    EventKind::SendInvoked {
                        client,
                        partition,
                        value,
                    },
                );
            }
            (OpFn::Send, completion) => {
                let invoked = pending_send.remove(&client);
                let partition = op
                    .partition
                    .or(invoked.as_ref().map(|(p, _)| *p))
                    .ok_or_else(|| missing("partition"))?;
                let value = op
                    .value
                    .clone()
                    .or(invoked.map(|(_, v)| v))
                    .ok_or_else(|| missing("value"))?;
                let kind = if completion == OpType::Ok {
                    EventKind::SendAcked {
                        client,
                        partition,
                        value,
                        offset: op.offset.ok_or_else(|| missing("offset"))?,
                    }
                } else {
                    EventKind::SendFailed {
                        client,
                        partition,
                        value,
                        error: op
                            .error
                            .clone()
                            .unwrap_or_else(|| format!("{completion:?}")),
                    }
                };
                history.push(at_ms, kind);
            }
            (OpFn::Poll, OpType::Invoke) => {
                pending_poll.insert(client, history.next_seq());
            }
            (OpFn::Poll, OpType::Ok) => {
                let invoked_seq = pending_poll
                    .remove(&client)
                    .unwrap_or_else(|| history.next_seq());
                let reader = if op.final_read {
                    FINAL_READER
                } else {
                    match reader_of.get(&client) {
                        Some(reader) => *reader,
                        None => new_reader(client, &mut reader_of),
                    }
                };
                let reads = op.reads.as_ref().ok_or_else(|| missing("reads"))?;
                for (partition, pairs) in reads {
                    let position = op.positions.as_ref().and_then(|p| p.get(partition));
                    let lowest = pairs.iter().map(|(offset, _)| *offset).min();
                    // The simulator's polls hold only records at or past
                    // their fetch offset.
                    let fetch_offset = match (position, lowest) {
                        (Some(position), Some(lowest)) => (*position).min(lowest),
                        (Some(position), None) => *position,
                        (None, Some(lowest)) => pairs[0].0.min(lowest),
                        (None, None) => 0,
                    };
                    let high_watermark = op
                        .high_watermarks
                        .as_ref()
                        .and_then(|h| h.get(partition).copied())
                        .unwrap_or_else(|| {
                            pairs
                                .iter()
                                .map(|(offset, _)| offset + 1)
                                .max()
                                .unwrap_or(fetch_offset)
                        });
                    let records = pairs
                        .iter()
                        .map(|(offset, value)| ReadRecord {
                            offset: *offset,
                            value: ReadValue::Value(value.clone()),
                        })
                        .collect();
                    history.push(
                        at_ms,
                        EventKind::Polled {
                            client: reader,
                            partition: *partition,
                            fetch_offset,
                            invoked_seq,
                            high_watermark,
                            records,
                        },
                    );
                    if op.final_read {
                        history.push(
                            at_ms,
                            EventKind::FinalReadDone {
                                partition: *partition,
                                high_watermark,
                            },
                        );
                    }
                }
            }
            (OpFn::Poll, _) => {
                pending_poll.remove(&client);
            }
            (OpFn::Assign | OpFn::Subscribe, OpType::Invoke) => {
                new_reader(client, &mut reader_of);
            }
            (OpFn::Assign | OpFn::Subscribe, _) => {}
            (OpFn::Nemesis, _) => {}
        }
    }
    Ok((history, readers))
}

/// Checks a history: every anomaly the simulator's checkers find in it.
pub fn check(ops: &[Op]) -> Result<Verdict, HistoryError> {
    let (history, readers) = to_sim_history(ops)?;
    let mut checkers = Checkers::default();
    for event in history.events() {
        checkers.observe(event);
    }
    checkers.finish();
    let mut anomalies: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for violation in checkers.violations() {
        let examples = anomalies
            .entry(violation.kind.name().to_string())
            .or_default();
        if examples.len() < EXAMPLES_MAX {
            let mut example = violation.detail.clone();
            if let Some(partition) = violation.partition {
                example.push_str(&format!(" (partition {partition})"));
            }
            examples.push(example);
        }
    }
    let counts: BTreeMap<String, usize> = checkers
        .counts()
        .into_iter()
        .map(|(name, count)| (name.to_string(), count))
        .collect();
    Ok(Verdict {
        valid: counts.is_empty(),
        anomalies,
        counts,
        readers,
    })
}

#[cfg(test)]
mod tests {
    //! One handcrafted history per anomaly, each expecting exactly that
    //! anomaly (and what necessarily comes with it, named), and clean ones.

    use super::*;
    use crate::history::{read_jsonl, write_jsonl};
    use odradek_sim::history::Offset;

    #[derive(Default)]
    struct H {
        ops: Vec<Op>,
        time_ns: u64,
    }

    impl H {
        fn op(&mut self, process: u32, kind: OpType, f: OpFn) -> &mut Op {
            self.time_ns += 1_000_000;
            self.ops.push(Op::new(process, kind, f, self.time_ns));
            self.ops.last_mut().unwrap()
        }

        /// A send by `process`: acknowledged at `offset`, or indeterminate.
        fn send(
            &mut self,
            process: u32,
            partition: Partition,
            value: &str,
            offset: Option<Offset>,
        ) {
            let invoke = self.op(process, OpType::Invoke, OpFn::Send);
            invoke.partition = Some(partition);
            invoke.value = Some(value.into());
            let kind = if offset.is_some() {
                OpType::Ok
            } else {
                OpType::Info
            };
            let done = self.op(process, kind, OpFn::Send);
            done.partition = Some(partition);
            done.value = Some(value.into());
            done.offset = offset;
            if offset.is_none() {
                done.error = Some("timed out".into());
            }
        }

        fn poll_as(
            &mut self,
            process: u32,
            partition: Partition,
            read: &[(Offset, &str)],
            final_read: bool,
        ) {
            self.op(process, OpType::Invoke, OpFn::Poll);
            let done = self.op(process, OpType::Ok, OpFn::Poll);
            let pairs = read.iter().map(|(o, v)| (*o, v.to_string())).collect();
            done.reads = Some(BTreeMap::from([(partition, pairs)]));
            done.final_read = final_read;
        }

        fn poll(&mut self, process: u32, partition: Partition, read: &[(Offset, &str)]) {
            self.poll_as(process, partition, read, false);
        }

        fn final_poll(&mut self, partition: Partition, read: &[(Offset, &str)]) {
            self.poll_as(50, partition, read, true);
        }

        fn assign(&mut self, process: u32, partitions: &[Partition]) {
            self.op(process, OpType::Invoke, OpFn::Assign).partitions = Some(partitions.to_vec());
            self.op(process, OpType::Ok, OpFn::Assign).partitions = Some(partitions.to_vec());
        }

        /// Checks the history after a trip through its JSON lines.
        fn check(&self) -> Verdict {
            let mut text = Vec::new();
            write_jsonl(&self.ops, &mut text).unwrap();
            let ops = read_jsonl(text.as_slice()).unwrap();
            assert_eq!(ops, self.ops);
            check(&ops).unwrap()
        }
    }

    fn assert_found(verdict: &Verdict, expected: &[&str]) {
        assert_eq!(verdict.names(), expected, "{verdict:#?}");
        assert!(!verdict.valid);
        for name in expected {
            assert!(!verdict.anomalies[*name].is_empty(), "{name}: no example");
        }
    }

    #[test]
    fn clean_history_is_valid() {
        let mut h = H::default();
        h.send(0, 0, "a", Some(0));
        h.send(0, 0, "b", Some(1));
        h.send(1, 1, "c", None);
        h.send(1, 0, "d", Some(2));
        h.assign(2, &[0]);
        h.poll(2, 0, &[(0, "a")]);
        h.poll(2, 0, &[(1, "b"), (2, "d")]);
        h.final_poll(0, &[(0, "a"), (1, "b"), (2, "d")]);
        h.final_poll(1, &[]);
        let verdict = h.check();
        assert!(verdict.valid, "{verdict:#?}");
        assert!(verdict.anomalies.is_empty() && verdict.counts.is_empty());
    }

    #[test]
    fn lost_write() {
        // `b` acknowledged at 1; a poll invoked afterwards finds `c` there.
        // A different value at an acknowledged offset is necessarily also
        // inconsistent-offsets (offsets are dense: the other way to lose it,
        // a gap, is an int-poll-skip).
        let mut h = H::default();
        h.send(0, 0, "a", Some(0));
        h.send(0, 0, "b", Some(1));
        h.send(1, 0, "c", None);
        h.poll(2, 0, &[(0, "a"), (1, "c")]);
        let verdict = h.check();
        assert_found(&verdict, &["inconsistent-offsets", "lost-write"]);
        assert!(verdict.anomalies["lost-write"][0].contains("b acked at offset 1"));
    }

    #[test]
    fn duplicate() {
        let mut h = H::default();
        h.send(0, 0, "a", Some(0));
        h.poll(1, 0, &[(0, "a"), (1, "a")]);
        assert_found(&h.check(), &["duplicate"]);
    }

    #[test]
    fn inconsistent_offsets() {
        let mut h = H::default();
        h.send(0, 0, "a", None);
        h.send(0, 0, "b", None);
        h.poll(1, 0, &[(0, "a")]);
        h.poll(2, 0, &[(0, "b")]);
        assert_found(&h.check(), &["inconsistent-offsets"]);
    }

    #[test]
    fn nonmonotonic_send() {
        let mut h = H::default();
        h.send(0, 0, "a", Some(1));
        h.send(0, 0, "b", Some(0));
        // Another process's and another partition's sends do not count.
        h.send(1, 0, "c", Some(2));
        h.send(0, 1, "d", Some(0));
        let verdict = h.check();
        assert_found(&verdict, &["nonmonotonic-send"]);
        assert_eq!(verdict.counts["nonmonotonic-send"], 1);
    }

    #[test]
    fn nonmonotonic_poll() {
        let mut h = H::default();
        h.send(0, 0, "a", Some(0));
        h.send(0, 0, "b", Some(1));
        h.poll(1, 0, &[(0, "a"), (1, "b")]);
        h.poll(1, 0, &[(0, "a")]);
        assert_found(&h.check(), &["nonmonotonic-poll"]);
    }

    #[test]
    fn a_reassignment_may_go_back() {
        let mut h = H::default();
        h.send(0, 0, "a", Some(0));
        h.send(0, 0, "b", Some(1));
        h.assign(1, &[0]);
        h.poll(1, 0, &[(0, "a"), (1, "b")]);
        h.assign(1, &[0]);
        h.poll(1, 0, &[(0, "a")]);
        let verdict = h.check();
        assert!(verdict.valid, "{verdict:#?}");
        assert_eq!(verdict.readers.len(), 2);
    }

    #[test]
    fn poll_skip() {
        // Between two polls the consumer jumped over offset 1.
        let mut h = H::default();
        h.send(0, 0, "a", Some(0));
        h.send(0, 0, "b", Some(1));
        h.send(0, 0, "c", Some(2));
        h.poll(1, 0, &[(0, "a")]);
        h.poll(1, 0, &[(2, "c")]);
        assert_found(&h.check(), &["poll-skip"]);
    }

    #[test]
    fn int_poll_skip() {
        // Within one poll: offset 1 missing (its send failed, so not lost).
        let mut h = H::default();
        h.send(0, 0, "a", Some(0));
        h.send(0, 0, "b", None);
        h.send(0, 0, "c", Some(2));
        h.poll(1, 0, &[(0, "a"), (2, "c")]);
        assert_found(&h.check(), &["int-poll-skip"]);
    }

    #[test]
    fn unseen() {
        // `b` acknowledged at 1; the final read ended at offset 0.
        let mut h = H::default();
        h.send(0, 0, "a", Some(0));
        h.send(0, 0, "b", Some(1));
        h.final_poll(0, &[(0, "a")]);
        let verdict = h.check();
        assert_found(&verdict, &["unseen"]);
        assert!(verdict.anomalies["unseen"][0].contains("b acked at offset 1"));
    }

    #[test]
    fn examples_are_capped_counts_are_not() {
        let mut h = H::default();
        let values: Vec<String> = (0..20).map(|i| format!("v-{i}")).collect();
        for value in &values {
            h.send(0, 0, value, Some(0));
        }
        let verdict = h.check();
        assert_eq!(verdict.counts["nonmonotonic-send"], 19);
        assert_eq!(verdict.anomalies["nonmonotonic-send"].len(), EXAMPLES_MAX);
    }

    #[test]
    fn a_verdict_serialises_to_json() {
        let mut h = H::default();
        h.send(0, 0, "a", Some(1));
        h.send(0, 0, "b", Some(0));
        let json = serde_json::to_value(h.check()).unwrap();
        assert_eq!(json["valid"], false);
        assert_eq!(json["counts"]["nonmonotonic-send"], 1);
        assert!(json["anomalies"]["nonmonotonic-send"][0].is_string());
    }

    #[test]
    fn an_acknowledged_send_without_offset_is_an_error() {
        let mut h = H::default();
        h.send(0, 0, "a", Some(0));
        h.ops[1].offset = None;
        assert_eq!(
            check(&h.ops).unwrap_err(),
            HistoryError::Missing {
                index: 1,
                process: 0,
                f: OpFn::Send,
                kind: OpType::Ok,
                field: "offset",
            }
        );
    }
}
