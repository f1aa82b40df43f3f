//! The replication invariants of DESIGN.md, checked after every step of a
//! schedule (named as the simulator's and Jepsen's checkers name them):
//!
//! - `inconsistent-offsets`: an offset below some replica's high watermark
//!   (what a consumer can read there) holds another record than before;
//! - `dirty-read`: a replica truncates a record a consumer could have read;
//! - `lost-write`: the leader of the current epoch lacks an acknowledged
//!   acks=all record;
//! - `leader-completeness`: the leader of the current epoch lacks a record
//!   that was below an earlier high watermark;
//! - `log-matching`: two logs with the same epoch at an offset differ below;
//! - `one-leader-per-epoch`, `epochs-only-grow`;
//! - `high-watermark-monotonic` (per leader epoch) and
//!   `high-watermark-above-isr` (past an ISR member's log end).

use std::collections::BTreeMap;

use crate::core::partition::acks::Acks;
use crate::core::partition::memory_log::MemoryLog;
use crate::core::partition::replica_log::ReplicaLog;

use super::cluster::Cluster;

/// How many trace lines a violation keeps (the steps that led to it).
const TRACE_TAIL: usize = 400;

#[derive(Debug, Clone)]
pub struct Violation {
    pub name: &'static str,
    pub detail: String,
    pub step: usize,
    pub trace_tail: Vec<String>,
}

impl Violation {
    fn new(name: &'static str, detail: String) -> Violation {
        Violation {
            name,
            detail,
            step: 0,
            trace_tail: Vec::new(),
        }
    }

    pub fn at_step(mut self, step: usize, trace: &[String]) -> Violation {
        self.step = step;
        self.trace_tail = trace[trace.len().saturating_sub(TRACE_TAIL)..].to_vec();
        self
    }
}

#[derive(Debug, Default)]
pub struct Checker {
    pub produced: BTreeMap<u64, Acks>,
    /// Acknowledged acks=all records: record id → offset.
    pub acked: BTreeMap<u64, i64>,
    /// Every (epoch, record) ever below some replica's high watermark.
    pub committed: BTreeMap<i64, (i32, u64)>,
    leader_of_epoch: BTreeMap<i32, i32>,
    last_epoch: BTreeMap<i32, i32>,
    high_watermark_of_epoch: BTreeMap<i32, i64>,
    found: Option<Violation>,
}

impl Checker {
    pub fn on_ack(&mut self, record: u64, offset: i64) {
        self.acked.insert(record, offset);
    }

    /// A replica cut its log at `offset`; `before` is its log before.
    pub fn on_truncate(&mut self, node: i32, before: &MemoryLog, offset: i64) {
        for o in offset..before.log_end_offset() {
            if let (Some(seen), Some(had)) = (self.committed.get(&o), before.entry(o)) {
                if *seen == had && self.found.is_none() {
                    self.found = Some(Violation::new(
                        "dirty-read",
                        format!("n{node} truncated {had:?} at {o}, below a high watermark before"),
                    ));
                }
            }
        }
    }

    pub fn check(&mut self, cluster: &Cluster) -> Result<(), Violation> {
        if let Some(v) = self.found.take() {
            return Err(v);
        }
        for node in cluster.nodes.values() {
            let Some(machine) = &node.machine else {
                continue;
            };
            for o in 0..machine.high_watermark() {
                let entry = node
                    .log
                    .entry(o)
                    .expect("the high watermark is within the log");
                match self.committed.get(&o) {
                    Some(seen) if *seen != entry => {
                        return Err(Violation::new(
                            "inconsistent-offsets",
                            format!(
                                "offset {o}: {seen:?} was readable, n{} now serves {entry:?}",
                                node.id
                            ),
                        ))
                    }
                    Some(_) => {}
                    None => {
                        self.committed.insert(o, entry);
                    }
                }
            }
            let epoch = machine.leader_epoch();
            if epoch >= 0 && node.log.latest_epoch().is_some_and(|e| e > epoch) {
                return Err(Violation::new(
                    "epochs-only-grow",
                    format!(
                        "n{} in epoch {epoch} holds records of a later epoch",
                        node.id
                    ),
                ));
            }
            if epoch >= 0 {
                let last = self.last_epoch.entry(node.id).or_insert(epoch);
                if epoch < *last {
                    return Err(Violation::new(
                        "epochs-only-grow",
                        format!("n{} went from epoch {last} to {epoch}", node.id),
                    ));
                }
                *last = epoch;
            }
            if machine.is_leader() {
                let leader = *self.leader_of_epoch.entry(epoch).or_insert(node.id);
                if leader != node.id {
                    return Err(Violation::new(
                        "one-leader-per-epoch",
                        format!("n{leader} and n{} both led epoch {epoch}", node.id),
                    ));
                }
                let hw = self.high_watermark_of_epoch.entry(epoch).or_insert(0);
                if machine.high_watermark() < *hw {
                    return Err(Violation::new(
                        "high-watermark-monotonic",
                        format!(
                            "n{} epoch {epoch}: {} after {hw}",
                            node.id,
                            machine.high_watermark()
                        ),
                    ));
                }
                *hw = machine.high_watermark();
            }
        }
        self.check_current_leader(cluster)?;
        check_log_matching(cluster)
    }

    /// The leader of the controller's epoch, once it took office.
    fn check_current_leader(&self, cluster: &Cluster) -> Result<(), Violation> {
        let controller = &cluster.controller;
        let Some(id) = controller.leader else {
            return Ok(());
        };
        let node = &cluster.nodes[&id];
        let Some(machine) = &node.machine else {
            return Ok(());
        };
        if !(machine.is_leader() && machine.leader_epoch() == controller.epoch) {
            return Ok(());
        }
        for (record, offset) in &self.acked {
            if node.log.entry(*offset).map(|e| e.1) != Some(*record) {
                return Err(Violation::new(
                    "lost-write",
                    format!(
                        "acknowledged record {record} at {offset}; leader n{id} of epoch {} has {:?}",
                        controller.epoch,
                        node.log.entry(*offset)
                    ),
                ));
            }
        }
        for (offset, entry) in &self.committed {
            if node.log.entry(*offset) != Some(*entry) {
                return Err(Violation::new(
                    "leader-completeness",
                    format!(
                        "{entry:?} at {offset} was below a high watermark; leader n{id} of epoch {} has {:?}",
                        controller.epoch,
                        node.log.entry(*offset)
                    ),
                ));
            }
        }
        let hw = machine.high_watermark();
        for member in &controller.isr {
            let end = cluster.nodes[member].log.log_end_offset();
            if end < hw {
                return Err(Violation::new(
                    "high-watermark-above-isr",
                    format!("leader n{id} high watermark {hw}, ISR member n{member} ends at {end}"),
                ));
            }
        }
        Ok(())
    }
}

fn check_log_matching(cluster: &Cluster) -> Result<(), Violation> {
    let logs: Vec<(i32, &MemoryLog)> = cluster.nodes.values().map(|n| (n.id, &n.log)).collect();
    for (i, (a_id, a)) in logs.iter().enumerate() {
        for (b_id, b) in &logs[i + 1..] {
            let common = a.entries().len().min(b.entries().len());
            let last_same_epoch = (0..common)
                .rev()
                .find(|o| a.entries()[*o].0 == b.entries()[*o].0);
            if let Some(o) = last_same_epoch {
                if a.entries()[..=o] != b.entries()[..=o] {
                    return Err(Violation::new(
                        "log-matching",
                        format!(
                            "n{a_id} and n{b_id} share epoch {} at offset {o} but differ below: {:?} vs {:?}",
                            a.entries()[o].0,
                            a.entries(),
                            b.entries()
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}
