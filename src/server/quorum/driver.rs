//! The one task that owns the Raft node: inputs in, `Ready`s carried out.
//!
//! Each `Ready` is carried out in the order `core::raft::ready` documents:
//! the role change is published, then a snapshot to install and the
//! committed entries go to the apply channel (in order), then a snapshot
//! request, then the persist is written and synced and only then reported
//! with `on_persisted`, and last the messages are sent.
//!
//! After each input the driver reports to `raft_events` (a listener only
//! the simulator installs) a new leadership, a proposal appended, a
//! leader's commit index moving, and each entry applied: before the
//! messages the input produced are sent, so the simulator's Figure 8
//! episode can cut a node off between two of its messages.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::server::ordered_watch as watch;

use super::storage::{RaftStorage, StorageError};
use super::{
    Command, Quorum, QuorumEvent, QUORUM_READY_ROUNDS_MAX, QUORUM_STEP_BATCH_MAX,
    QUORUM_TICK_MAX_MS,
};
use crate::core::raft::{EntryKind, Message, RaftNode, Ready, Term};
use crate::io::clock::Clock;
use crate::raft_events::{self, RaftEvent};
use crate::server::peers::{InboundRaft, Peers};

pub(super) struct Driver {
    pub(super) node: RaftNode,
    pub(super) storage: RaftStorage,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) peers: Arc<Peers>,
    pub(super) events: mpsc::Sender<QuorumEvent>,
    pub(super) quorum: Arc<Quorum>,
    /// What the node looked like after the last input, for the events
    /// `raft_events` reports.
    pub(super) seen: Seen,
}

/// The node's leadership and commit index as last reported.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Seen {
    /// The term it leads, if it leads.
    pub(super) leader_term: Option<Term>,
    pub(super) commit_index: u64,
}

impl Seen {
    pub(super) fn of(node: &RaftNode) -> Seen {
        Seen {
            leader_term: node.is_leader().then(|| node.term()),
            commit_index: node.commit_index(),
        }
    }
}

pub(super) fn now_ms(clock: &dyn Clock) -> u64 {
    u64::try_from(clock.monotonic_ms()).unwrap_or(0)
}

/// Why the driver stopped.
#[derive(Debug)]
enum Stop {
    Shutdown,
    /// The apply task dropped its receiver.
    EventsClosed,
    /// A write or sync failed: never retried (a failed fsync may have
    /// dropped the pages), the node stops and a restart reads the disk.
    Storage(StorageError),
}

pub(super) async fn run(
    mut driver: Driver,
    mut inbox: mpsc::Receiver<InboundRaft>,
    mut commands: mpsc::Receiver<Command>,
    mut signal: watch::Receiver<bool>,
) {
    let stop = loop {
        if let Err(stop) = driver.carry_out_ready(&mut signal).await {
            break stop;
        }
        let now = driver.now_ms();
        let wait_ms = driver
            .node
            .poll_timeout_ms()
            .saturating_sub(now)
            .clamp(1, QUORUM_TICK_MAX_MS);
        tokio::select! {
            biased;
            _ = signal.wait_for(|stop| *stop) => break Stop::Shutdown,
            Some(command) = commands.recv() => driver.command(command),
            Some(inbound) = inbox.recv() => {
                driver.step(inbound.message);
                for _ in 1..QUORUM_STEP_BATCH_MAX {
                    match inbox.try_recv() {
                        Ok(inbound) => driver.step(inbound.message),
                        Err(_) => break,
                    }
                }
            }
            _ = tokio::time::sleep(Duration::from_millis(wait_ms)) => {}
        }
        // Ticking more often than `poll_timeout_ms` asks is harmless.
        let now = driver.now_ms();
        driver.node.tick(now);
        driver.report_changes();
    };
    match &stop {
        Stop::Shutdown => tracing::debug!(node = driver.quorum.node_id, "quorum stopped"),
        Stop::EventsClosed => {
            tracing::warn!(
                node = driver.quorum.node_id,
                "quorum stopped: apply channel closed"
            )
        }
        Stop::Storage(e) => {
            tracing::error!(node = driver.quorum.node_id, %e, "quorum stopped: storage failed")
        }
    }
    driver.quorum.shared().stop();
}

impl Driver {
    fn now_ms(&self) -> u64 {
        now_ms(self.clock.as_ref())
    }

    fn step(&mut self, message: Message) {
        let now = self.now_ms();
        if let Err(e) = self.node.step(now, message) {
            tracing::debug!(node = self.quorum.node_id, %e, "raft message dropped");
        }
        self.report_changes();
    }

    /// Reports a new leadership or a leader's commit index moving, right
    /// after the input that did it: the messages it produced are sent only
    /// when the next `Ready` is carried out, after the listener ran.
    fn report_changes(&mut self) {
        let (before, now) = (self.seen, Seen::of(&self.node));
        self.seen = now;
        let node = self.quorum.node_id;
        let Some(term) = now.leader_term else {
            return;
        };
        if before.leader_term != Some(term) {
            raft_events::report(|| RaftEvent::BecameLeader { node, term });
        }
        if now.commit_index > before.commit_index {
            let commit_index = now.commit_index;
            raft_events::report(|| RaftEvent::CommitAdvanced {
                node,
                term,
                commit_index,
            });
        }
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Propose { payload, reply } => {
                let now = self.now_ms();
                let proposed = self.node.propose(now, payload);
                if let Ok((term, index)) = proposed {
                    let node = self.quorum.node_id;
                    raft_events::report(|| RaftEvent::Appended { node, term, index });
                }
                self.report_changes();
                let _ = reply.send(proposed);
            }
            Command::SnapshotTaken { index, data } => {
                if let Err(e) = self.node.on_snapshot_taken(index, data) {
                    tracing::warn!(node = self.quorum.node_id, %e, "snapshot refused");
                }
            }
            Command::LastIndex { reply } => {
                let _ = reply.send(self.node.log().last_index());
            }
        }
    }

    async fn emit(
        &self,
        event: QuorumEvent,
        signal: &mut watch::Receiver<bool>,
    ) -> Result<(), Stop> {
        tokio::select! {
            biased;
            sent = self.events.send(event) => sent.map_err(|_| Stop::EventsClosed),
            _ = signal.wait_for(|stop| *stop) => Err(Stop::Shutdown),
        }
    }

    async fn carry_out_ready(&mut self, signal: &mut watch::Receiver<bool>) -> Result<(), Stop> {
        for _ in 0..QUORUM_READY_ROUNDS_MAX {
            if !self.node.has_ready() {
                return Ok(());
            }
            let ready = self.node.ready();
            self.carry_out(ready, signal).await?;
        }
        Ok(())
    }

    async fn carry_out(
        &mut self,
        ready: Ready,
        signal: &mut watch::Receiver<bool>,
    ) -> Result<(), Stop> {
        self.quorum.shared().commit_index = self.node.commit_index();
        if let Some(role) = ready.role_change {
            {
                let mut shared = self.quorum.shared();
                shared.role = role;
                shared.ready_leader = false;
            }
            self.emit(QuorumEvent::Role(role), signal).await?;
        }
        // 1. The snapshot to install, then the committed entries.
        if let Some(snapshot) = ready.install_snapshot {
            let meta = snapshot.meta;
            self.emit(
                QuorumEvent::InstallSnapshot {
                    meta,
                    data: snapshot.data,
                },
                signal,
            )
            .await?;
            self.quorum.shared().on_installed(meta);
        }
        for entry in ready.committed_entries {
            let (index, term) = (entry.index, entry.term);
            let event = match entry.kind {
                EntryKind::NoOp => QuorumEvent::NoOp { index, term },
                EntryKind::Command(payload) => QuorumEvent::Apply {
                    index,
                    term,
                    payload,
                },
            };
            self.emit(event, signal).await?;
            self.quorum.shared().on_applied(index, term);
            let node = self.quorum.node_id;
            raft_events::report(|| RaftEvent::Applied { node, index, term });
        }
        // 2. A snapshot of the state as it is after step 1.
        if let Some(index) = ready.take_snapshot {
            self.emit(QuorumEvent::TakeSnapshot { index }, signal)
                .await?;
        }
        // 3. Durable, then reported.
        if let Some(persist) = ready.persist {
            self.storage
                .persist(&persist)
                .await
                .map_err(Stop::Storage)?;
            self.node.on_persisted(persist.id);
            // Its own persist counts toward a leader's commit.
            self.report_changes();
        }
        // 4. Messages (the core held back any that need a later persist).
        for message in ready.messages {
            self.peers.send_raft(message);
        }
        Ok(())
    }
}
