//! The metadata quorum's driver: runs the sans-IO [`RaftNode`] on the
//! runtime seam. One task (`driver.rs`) owns the node and its
//! [`storage::RaftStorage`]; it ticks on the node's clock, steps Raft
//! messages from [`Peers`], carries out every `Ready` in the documented
//! order and hands the application an ordered stream of [`QuorumEvent`]s.
//! docs/raft.md ("Driving the quorum") describes files, order and limits.

mod driver;
pub mod storage;
#[cfg(all(test, not(madsim)))]
mod tests;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{mpsc, oneshot};

use crate::server::ordered_watch as watch;
use tokio::task::JoinHandle;

use crate::core::raft::{
    ElectionRng, LogIndex, ProposeError, RaftConfig, RaftNode, RecoveryError, Role, RoleState,
    SnapshotMeta, Term,
};
use crate::io::clock::Clock;
use crate::io::disk::Disk;
use crate::server::peers::Peers;
use crate::server::task_watch::on_panic;
use storage::{RaftStorage, StorageError};

/// Raft messages from peers waiting for the driver; beyond it they drop.
pub const QUORUM_INBOX_MAX: usize = 4_096;
/// Events waiting for the application's apply task; when full the driver
/// waits (a stalled apply task stalls the node).
pub const QUORUM_EVENTS_MAX: usize = 1_024;
/// Proposals and snapshots waiting for the driver; callers wait for room.
pub const QUORUM_COMMANDS_MAX: usize = 256;
/// The driver ticks at least this often, whatever `poll_timeout_ms` says.
pub const QUORUM_TICK_MAX_MS: u64 = 10;
/// Inbound messages stepped before the driver looks at its `Ready` again.
pub const QUORUM_STEP_BATCH_MAX: usize = 256;
/// `Ready`s carried out before the driver reads inputs again.
pub const QUORUM_READY_ROUNDS_MAX: usize = 64;
/// Applied `(index, term)` remembered for `wait_committed` calls that come
/// after their entry was applied.
pub const QUORUM_RECENT_APPLIED_MAX: usize = 4_096;
/// Callers waiting in `wait_committed` at once.
pub const QUORUM_WAITERS_MAX: usize = 8_192;

/// What the application's apply task receives, in log order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuorumEvent {
    /// A committed record.
    Apply {
        index: LogIndex,
        term: Term,
        payload: Vec<u8>,
    },
    /// A committed leader's first entry: nothing to apply.
    NoOp { index: LogIndex, term: Term },
    /// Replace the whole state by this snapshot (at start, or from the
    /// leader); the next `Apply` follows `meta.last_index`.
    InstallSnapshot { meta: SnapshotMeta, data: Vec<u8> },
    /// Serialize the state as it is now (it has applied exactly `index`)
    /// and hand it to [`Quorum::on_snapshot_taken`].
    TakeSnapshot { index: LogIndex },
    /// Role, term or leader changed.
    Role(RoleState),
}

#[derive(Debug, thiserror::Error)]
pub enum QuorumError {
    #[error("raft storage: {0}")]
    Storage(#[from] StorageError),
    #[error("raft state on disk is inconsistent: {0}")]
    Recovery(#[from] RecoveryError),
}

/// Why a proposal was not appended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposalError {
    /// Kafka's NOT_CONTROLLER: try `leader_hint`.
    #[error("not the leader (leader hint {leader_hint:?})")]
    NotLeader { leader_hint: Option<i32> },
    #[error("proposal of {size_bytes} bytes is above {limit_bytes}")]
    TooLarge {
        size_bytes: usize,
        limit_bytes: usize,
    },
    #[error("too many uncommitted entries ({uncommitted}); retry later")]
    Busy { uncommitted: usize },
    #[error("the quorum is stopped")]
    Stopped,
    #[error(transparent)]
    Lost(#[from] CommitLost),
}

/// Why a waited-for entry will not be reported committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CommitLost {
    /// Another term's entry was applied at that index: the proposal was
    /// lost with a leader change and may be proposed again.
    #[error("an entry of term {term} was applied there instead")]
    Overwritten { term: Term },
    /// A snapshot covered the index, or it was applied too long ago to
    /// remember: it may or may not have been committed.
    #[error("the outcome is unknown (covered by a snapshot or forgotten)")]
    Unknown,
    #[error("too many waiters")]
    TooManyWaiters,
    #[error("the quorum stopped")]
    Stopped,
}

type Waiter = oneshot::Sender<Result<(), CommitLost>>;

/// What the driver publishes and callers read.
struct Shared {
    role: RoleState,
    /// A leader whose own-term entry has been applied.
    ready_leader: bool,
    /// The own-term entry that made it a ready leader.
    ready_leader_index: LogIndex,
    /// The last index handed to the apply channel (or installed).
    applied_index: LogIndex,
    /// The commit index the Raft node knew at its last step.
    commit_index: LogIndex,
    recent_applied: VecDeque<(LogIndex, Term)>,
    waiters: BTreeMap<LogIndex, Vec<(Term, Waiter)>>,
    waiter_count: usize,
    stopped: bool,
}

impl Shared {
    fn on_applied(&mut self, index: LogIndex, term: Term) {
        assert!(index > self.applied_index, "entries apply in order");
        self.applied_index = index;
        if self.recent_applied.len() == QUORUM_RECENT_APPLIED_MAX {
            self.recent_applied.pop_front();
        }
        self.recent_applied.push_back((index, term));
        if self.role.role == Role::Leader && term == self.role.term && !self.ready_leader {
            self.ready_leader = true;
            self.ready_leader_index = index;
        }
        self.resolve_through(index, |waited_index, waited_term| {
            if waited_index == index {
                if waited_term == term {
                    Ok(())
                } else {
                    Err(CommitLost::Overwritten { term })
                }
            } else {
                Err(CommitLost::Unknown)
            }
        });
    }

    fn on_installed(&mut self, meta: SnapshotMeta) {
        self.applied_index = self.applied_index.max(meta.last_index);
        self.recent_applied.clear();
        self.recent_applied
            .push_back((meta.last_index, meta.last_term));
        self.resolve_through(meta.last_index, |index, term| {
            if index == meta.last_index && term == meta.last_term {
                Ok(())
            } else {
                Err(CommitLost::Unknown)
            }
        });
    }

    fn resolve_through(
        &mut self,
        through: LogIndex,
        outcome: impl Fn(LogIndex, Term) -> Result<(), CommitLost>,
    ) {
        while let Some(entry) = self.waiters.first_entry() {
            if *entry.key() > through {
                break;
            }
            let index = *entry.key();
            for (term, waiter) in entry.remove() {
                self.waiter_count -= 1;
                let _ = waiter.send(outcome(index, term));
            }
        }
    }

    fn stop(&mut self) {
        self.stopped = true;
        self.ready_leader = false;
        for (_, waiters) in std::mem::take(&mut self.waiters) {
            for (_, waiter) in waiters {
                let _ = waiter.send(Err(CommitLost::Stopped));
            }
        }
        self.waiter_count = 0;
    }
}

enum Command {
    Propose {
        payload: Vec<u8>,
        reply: oneshot::Sender<Result<(Term, LogIndex), ProposeError>>,
    },
    SnapshotTaken {
        index: LogIndex,
        data: Vec<u8>,
    },
    /// The last index of the Raft log once every command sent before this
    /// one was carried out (a proposal sent earlier is in it, even if its
    /// sender stopped waiting for the answer).
    LastIndex {
        reply: oneshot::Sender<LogIndex>,
    },
}

/// One voter of the metadata quorum.
pub struct Quorum {
    node_id: i32,
    shared: Mutex<Shared>,
    commands: mpsc::Sender<Command>,
    shutdown: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

fn to_broker_id(id: u64) -> Option<i32> {
    i32::try_from(id).ok()
}

impl Quorum {
    /// Reads the Raft state in `dir` on `disk`, restarts the node and
    /// starts its driver. Raft messages come from `peers` (this sets its
    /// raft inbox). Call inside the runtime.
    pub async fn start(
        disk: Arc<dyn Disk>,
        clock: Arc<dyn Clock>,
        dir: &str,
        config: RaftConfig,
        node_id: i32,
        seed: u64,
        peers: Arc<Peers>,
    ) -> Result<(Arc<Quorum>, mpsc::Receiver<QuorumEvent>), QuorumError> {
        let raft_id = u64::try_from(node_id).expect("a voter's node id is not negative");
        let (storage, durable) =
            RaftStorage::open(disk, dir, config.entry_max_bytes, config.snapshot_max_bytes).await?;
        let now_ms = driver::now_ms(clock.as_ref());
        let node = RaftNode::restart(
            config,
            raft_id,
            ElectionRng::from_seed(seed),
            durable,
            now_ms,
        )?;
        let (inbox_tx, inbox) = mpsc::channel(QUORUM_INBOX_MAX);
        let (events_tx, events) = mpsc::channel(QUORUM_EVENTS_MAX);
        let (commands, commands_rx) = mpsc::channel(QUORUM_COMMANDS_MAX);
        let (shutdown, signal) = watch::channel(false);
        let quorum = Arc::new(Quorum {
            node_id,
            shared: Mutex::new(Shared {
                role: RoleState {
                    role: node.role(),
                    term: node.term(),
                    leader: node.leader(),
                },
                ready_leader: false,
                ready_leader_index: 0,
                applied_index: 0,
                commit_index: 0,
                recent_applied: VecDeque::new(),
                waiters: BTreeMap::new(),
                waiter_count: 0,
                stopped: false,
            }),
            commands,
            shutdown,
            task: Mutex::new(None),
        });
        peers.set_raft_inbox(inbox_tx);
        let driver = driver::Driver {
            seen: driver::Seen::of(&node),
            node,
            storage,
            clock,
            peers,
            events: events_tx,
            quorum: Arc::clone(&quorum),
        };
        // A panic in the driver (a bug in the core) stops the quorum as a
        // storage failure does, so the node stops instead of heartbeating
        // on with a dead metadata log (`controller::run` watches it).
        let on_driver_panic = {
            let quorum = Arc::clone(&quorum);
            move || quorum.shared().stop()
        };
        let task = tokio::spawn(on_panic(
            driver::run(driver, inbox, commands_rx, signal),
            on_driver_panic,
        ));
        *quorum.task.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
        Ok((quorum, events))
    }

    fn shared(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn node_id(&self) -> i32 {
        self.node_id
    }

    /// The leader this node knows of.
    pub fn leader(&self) -> Option<i32> {
        self.shared().role.leader.and_then(to_broker_id)
    }

    pub fn role(&self) -> RoleState {
        self.shared().role
    }

    /// Leads, and its own-term entry has been handed to the apply channel
    /// (not necessarily applied yet: see [`Quorum::ready_leader_index`]).
    pub fn is_ready_leader(&self) -> bool {
        let shared = self.shared();
        shared.ready_leader && shared.role.role == Role::Leader && !shared.stopped
    }

    /// The last index handed to the apply channel.
    pub fn handed_index(&self) -> LogIndex {
        self.shared().applied_index
    }

    /// Whether committed entries are known that have not been handed to
    /// the apply channel yet, or no leader is known (after a start, what is
    /// committed is unknown until a leader says): the application's image
    /// is not current.
    pub fn has_backlog(&self) -> bool {
        let shared = self.shared();
        shared.role.leader.is_none()
            || shared.applied_index < shared.commit_index
            || (shared.role.role == Role::Leader && !shared.ready_leader)
    }

    /// While a ready leader, the index of the own-term entry that made it
    /// one: once the application has applied it, its state holds every
    /// committed entry.
    pub fn ready_leader_index(&self) -> Option<LogIndex> {
        self.is_ready_leader()
            .then(|| self.shared().ready_leader_index)
    }

    /// Whether the driver has stopped (shutdown, or a storage failure).
    pub fn is_stopped(&self) -> bool {
        self.shared().stopped
    }

    /// The last index of this node's Raft log after every command sent
    /// before this call (proposals included) was carried out; `None` once
    /// the driver stopped. A proposal whose sender was cancelled after
    /// sending it is still appended: a controller validating a change
    /// waits until its image covers this index, not only the proposals it
    /// saw answered.
    pub async fn last_index_after_commands(&self) -> Option<LogIndex> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::LastIndex { reply })
            .await
            .ok()?;
        answer.await.ok()
    }

    /// Appends `payload` if this node leads; its term and index.
    pub async fn propose(&self, payload: Vec<u8>) -> Result<(Term, LogIndex), ProposalError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Propose { payload, reply })
            .await
            .map_err(|_| ProposalError::Stopped)?;
        match answer.await {
            Err(_) => Err(ProposalError::Stopped),
            Ok(Ok(appended)) => Ok(appended),
            Ok(Err(ProposeError::NotLeader { leader_hint })) => Err(ProposalError::NotLeader {
                leader_hint: leader_hint.and_then(to_broker_id),
            }),
            Ok(Err(ProposeError::TooLarge {
                size_bytes,
                limit_bytes,
            })) => Err(ProposalError::TooLarge {
                size_bytes,
                limit_bytes,
            }),
            Ok(Err(ProposeError::Busy { uncommitted })) => Err(ProposalError::Busy { uncommitted }),
        }
    }

    /// Resolves once the entry at `index` has been handed to the apply
    /// channel with `term` (Ok), or another outcome is known.
    pub async fn wait_committed(&self, term: Term, index: LogIndex) -> Result<(), CommitLost> {
        let answer = {
            let mut shared = self.shared();
            if shared.stopped {
                return Err(CommitLost::Stopped);
            }
            if index <= shared.applied_index {
                return match shared.recent_applied.iter().find(|(i, _)| *i == index) {
                    Some(&(_, applied)) if applied == term => Ok(()),
                    Some(&(_, applied)) => Err(CommitLost::Overwritten { term: applied }),
                    None => Err(CommitLost::Unknown),
                };
            }
            if shared.waiter_count >= QUORUM_WAITERS_MAX {
                return Err(CommitLost::TooManyWaiters);
            }
            let (waiter, answer) = oneshot::channel();
            shared
                .waiters
                .entry(index)
                .or_default()
                .push((term, waiter));
            shared.waiter_count += 1;
            answer
        };
        answer.await.unwrap_or(Err(CommitLost::Stopped))
    }

    /// `propose`, then `wait_committed`.
    pub async fn propose_and_wait(
        &self,
        payload: Vec<u8>,
    ) -> Result<(Term, LogIndex), ProposalError> {
        let (term, index) = self.propose(payload).await?;
        self.wait_committed(term, index).await?;
        Ok((term, index))
    }

    /// Hands back the snapshot a `TakeSnapshot { index }` asked for.
    pub async fn on_snapshot_taken(&self, index: LogIndex, data: Vec<u8>) {
        let _ = self
            .commands
            .send(Command::SnapshotTaken { index, data })
            .await;
    }

    /// Stops the driver; waiters get `Stopped`. Idempotent.
    pub async fn shutdown(&self) {
        self.shutdown.send_replace(true);
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
        self.shared().stop();
    }
}

impl Drop for Quorum {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
    }
}
