//! Readable steps for replication counterexamples.

use odradek::core::partition::replica_machine::Role;
use odradek::core::partition::FetchResult;

use super::model::{Action, ReplicationModel};
use super::state::{Envelope, Message, ReplicationState};
use crate::describe::Describe;

fn envelope(e: &Envelope) -> String {
    match &e.message {
        Message::Fetch(r) => format!(
            "fetch n{}->n{} (offset {}, last epoch {:?}, epoch {})",
            e.from, e.to, r.fetch_offset, r.last_fetched_epoch, r.current_leader_epoch
        ),
        Message::FetchResponse(r) => {
            let what = match &r.result {
                FetchResult::Records {
                    batches,
                    high_watermark,
                    ..
                } => {
                    let records: Vec<String> = batches
                        .iter()
                        .flat_map(|b| b.records.iter().map(move |id| format!("{}:r{id}", b.epoch)))
                        .collect();
                    format!("records [{}] hw {high_watermark}", records.join(" "))
                }
                FetchResult::Diverging { epoch, end_offset } => {
                    format!("diverging at epoch {epoch} end {end_offset}")
                }
                FetchResult::Error(error) => format!("{error:?}"),
            };
            format!(
                "fetch answer n{}->n{} (epoch {}, offset {}): {what}",
                e.from, e.to, r.leader_epoch, r.fetch_offset
            )
        }
    }
}

impl Describe for ReplicationModel {
    fn describe_action(&self, action: &Action) -> String {
        match action {
            Action::Produce(id) => format!("client produces the next record to n{id}"),
            Action::Deliver(e) => format!("deliver {}", envelope(e)),
            Action::Duplicate(e) => format!("deliver a duplicate of {}", envelope(e)),
            Action::Lose(e) => format!("lose {}", envelope(e)),
            Action::Sync(id) => format!("n{id}'s sync completes"),
            Action::Timeout(id) => format!("a timeout fires on n{id}"),
            Action::Crash(id) => format!("n{id} crashes (unsynced records lost)"),
            Action::Restart(id) => format!("n{id} restarts"),
            Action::Elect(id) => format!("controller elects n{id}"),
            Action::Control(id) => format!("n{id} learns the controller's next decision"),
            Action::CommitIsr => "controller commits the oldest ISR proposal".to_string(),
        }
    }

    fn describe_state(&self, s: &ReplicationState) -> String {
        let mut parts: Vec<String> = s
            .replicas
            .iter()
            .map(|r| {
                let log: Vec<String> = r
                    .log
                    .entries()
                    .iter()
                    .map(|(epoch, id)| format!("{epoch}:r{id}"))
                    .collect();
                let role = match r.machine.as_ref() {
                    None => "down".to_string(),
                    Some(m) => {
                        let role = match m.role() {
                            Role::Unassigned => "unassigned".to_string(),
                            Role::Leader(l) => format!("leader isr {:?}", l.isr),
                            Role::Follower(f) => format!("follower of n{}", f.leader_id),
                        };
                        format!("{role} e{} hw {}", m.leader_epoch(), m.high_watermark())
                    }
                };
                format!(
                    "n{} {role} log [{}] synced {}",
                    r.id,
                    log.join(" "),
                    r.log.synced_end_offset()
                )
            })
            .collect();
        parts.push(format!(
            "controller e{} leader {:?} isr {:?}",
            s.controller.epoch, s.controller.leader, s.controller.isr
        ));
        parts.push(format!("acked {:?}", s.history.acked));
        parts.join(" | ")
    }
}
