//! The replication properties: DESIGN.md's data-plane invariants and the
//! three of Kafka's TLA+ specification (KafkaReplication.tla: WeakIsr,
//! StrongIsr, LeaderInIsr) as `always` properties, and `sometimes`
//! properties that show the bounded model reaches what they are about.

use odradek::core::partition::memory_log::MemoryLog;
use odradek::core::partition::replica_machine::Role;
use stateright::Property;

use super::model::ReplicationModel;
use super::state::{Broken, ReplicationState, Seen};

type M = ReplicationModel;
type S = ReplicationState;

pub fn all() -> Vec<Property<M>> {
    vec![
        Property::always("no lost acknowledged write", no_lost_acknowledged_write),
        Property::always("no lost committed write", no_lost_committed_write),
        Property::always("consistent offsets", |_: &M, s: &S| {
            s.history.broken & Broken::INCONSISTENT_OFFSETS == 0
        }),
        Property::always("log matching", log_matching),
        Property::always("leader completeness", leader_completeness),
        Property::always("one leader per epoch", one_leader_per_epoch),
        Property::always(
            "high watermark never decreases on a leader",
            |_: &M, s: &S| s.history.broken & Broken::HW_DECREASED == 0,
        ),
        Property::always("WeakIsr", weak_isr),
        Property::always("StrongIsr", strong_isr),
        Property::always("LeaderInIsr", leader_in_isr),
        Property::sometimes("a write is acknowledged", |_: &M, s: &S| {
            s.history.seen & Seen::ACKED != 0
        }),
        Property::sometimes("a leader change after a commit", |_: &M, s: &S| {
            s.history.seen & Seen::LEADER_CHANGE_AFTER_COMMIT != 0 && s.current_leader().is_some()
        }),
        Property::sometimes("a truncation", |_: &M, s: &S| {
            s.history.seen & Seen::TRUNCATION != 0
        }),
        Property::sometimes("an ISR shrink", |_: &M, s: &S| {
            s.history.seen & Seen::ISR_SHRINK != 0
        }),
        Property::sometimes("an ISR expand after a shrink", |_: &M, s: &S| {
            s.history.seen & Seen::ISR_EXPAND != 0
        }),
    ]
}

/// The leader of the controller's epoch holds every acknowledged acks=all
/// record at its offset.
fn no_lost_acknowledged_write(_: &M, s: &S) -> bool {
    let Some(leader) = s.current_leader() else {
        return true;
    };
    s.history
        .acked
        .iter()
        .all(|(record, offset)| leader.log.entry(*offset).map(|e| e.1) == Some(*record))
}

/// No replica truncated a record that was below a high watermark (a
/// consumer could have read it), and no offset a consumer could read
/// changed.
fn no_lost_committed_write(_: &M, s: &S) -> bool {
    s.history.broken & Broken::TRUNCATED_COMMITTED == 0
}

/// The leader of the controller's epoch holds every record that was ever
/// below a high watermark.
fn leader_completeness(_: &M, s: &S) -> bool {
    let Some(leader) = s.current_leader() else {
        return true;
    };
    s.history
        .committed
        .iter()
        .enumerate()
        .all(|(offset, entry)| leader.log.entry(offset as i64) == Some(*entry))
}

/// Two logs that hold the same leader epoch at an offset agree on every
/// record up to it (crashed replicas' logs included).
fn log_matching(_: &M, s: &S) -> bool {
    let logs: Vec<&MemoryLog> = s.replicas.iter().map(|r| &r.log).collect();
    logs.iter().enumerate().all(|(i, a)| {
        logs[i + 1..].iter().all(|b| {
            let (a, b) = (a.entries(), b.entries());
            let common = a.len().min(b.len());
            match (0..common).rev().find(|o| a[*o].0 == b[*o].0) {
                Some(o) => a[..=o] == b[..=o],
                None => true,
            }
        })
    })
}

fn one_leader_per_epoch(_: &M, s: &S) -> bool {
    let epochs: Vec<i32> = s
        .replicas
        .iter()
        .filter_map(|r| r.machine.as_ref())
        .filter(|m| m.is_leader())
        .map(|m| m.leader_epoch())
        .collect();
    epochs
        .iter()
        .enumerate()
        .all(|(i, e)| !epochs[i + 1..].contains(e))
}

/// Whether `log` holds `leader`'s records below `hw`.
fn holds_prefix(log: &MemoryLog, leader: &MemoryLog, hw: i64) -> bool {
    (0..hw).all(|o| log.entry(o).is_some() && log.entry(o) == leader.entry(o))
}

/// Every replica that presumes leadership has its records below its high
/// watermark on every member of the ISR it believes in.
fn weak_isr(_: &M, s: &S) -> bool {
    s.replicas.iter().all(|r| {
        let Some(Role::Leader(leader)) = r.machine.as_ref().map(|m| m.role()) else {
            return true;
        };
        let hw = r.machine.as_ref().map_or(0, |m| m.high_watermark());
        leader
            .isr
            .iter()
            .all(|member| holds_prefix(&s.replica(*member).log, &r.log, hw))
    })
}

/// ... and on every member of the controller's ISR (the true ISR): what
/// consumers saw is on any replica that can be elected.
fn strong_isr(_: &M, s: &S) -> bool {
    s.replicas.iter().all(|r| {
        let Some(machine) = r.machine.as_ref().filter(|m| m.is_leader()) else {
            return true;
        };
        let hw = machine.high_watermark();
        s.controller
            .isr
            .iter()
            .all(|member| holds_prefix(&s.replica(*member).log, &r.log, hw))
    })
}

/// The controller's leader is in the controller's ISR.
fn leader_in_isr(_: &M, s: &S) -> bool {
    s.controller
        .leader
        .is_none_or(|leader| s.controller.isr.contains(&leader))
}
