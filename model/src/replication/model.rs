//! The replication model: stateright actions that step the broker's own
//! `ReplicaMachine` over the in-memory `MemoryLog`, and run the actions it
//! returns the way the server does. The only rules written here are the
//! controller's (controller.rs) and the environment's: which message
//! arrives next, which one is lost or duplicated, when a sync completes,
//! when a replica crashes or restarts, when a timeout fires.
//!
//! Time is abstract: a replica's clock stands still except when a `Timeout`
//! fires, which moves it past every deadline the replica can have (a fetch
//! unanswered, replica.lag.time.max.ms). Fetch backoff is 0, so followers
//! fetch again at once; with the correlation ids renumbered (network.rs) a
//! follower fetching with nothing new loops back to a state already seen.

use odradek::core::partition::memory_log::MemoryLog;
use odradek::core::partition::replica_machine::Role;
use odradek::core::partition::{
    Acks, ReplicaAction, ReplicaBugs, ReplicaConfig, ReplicaLog, ReplicaMachine,
};
use odradek::core::topic_config::FsyncPolicy;
use stateright::{Model, Property};

use super::controller::{ControlMessage, Controller};
use super::history;
use super::network::canonicalize;
use super::properties;
use super::state::{Budget, Envelope, History, Message, Replica, ReplicationState, Seen};

/// How far one `Timeout` moves a replica's clock: past the fetch timeout
/// and past replica.lag.time.max.ms.
pub const TIMEOUT_STEP_MS: u64 = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub replicas: u8,
    pub records: u8,
    pub crashes: u8,
    pub elections: u8,
    pub timeouts: u8,
    pub losses: u8,
    pub duplicates: u8,
    pub min_insync_replicas: u8,
}

impl Default for Bounds {
    fn default() -> Bounds {
        Bounds {
            replicas: 3,
            records: 2,
            crashes: 1,
            elections: 2,
            timeouts: 1,
            losses: 1,
            duplicates: 1,
            min_insync_replicas: 2,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ReplicationModel {
    pub bounds: Bounds,
    pub bugs: ReplicaBugs,
    /// The controller may elect a replica outside the ISR when no ISR
    /// member is alive (`unclean-election`).
    pub unclean_election: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A client sends the next record, acks=all, to a replica that believes
    /// it leads (a stale leader too).
    Produce(i32),
    Deliver(Envelope),
    /// Delivers a message and leaves a copy in flight.
    Duplicate(Envelope),
    Lose(Envelope),
    /// A requested sync completes: the whole log is durable.
    Sync(i32),
    Timeout(i32),
    /// Power loss: the unsynced tail of the log is gone, and memory.
    Crash(i32),
    Restart(i32),
    /// The controller elects a leader in a new epoch.
    Elect(i32),
    /// A replica learns the controller's next decision about it.
    Control(i32),
    /// The controller commits the oldest ISR proposal.
    CommitIsr,
}

pub const BUG_NAMES: [&str; 5] = [
    "truncate-to-hw",
    "kip101-only",
    "unfenced-fetch",
    "ack-before-isr",
    "unclean-election",
];

impl ReplicationModel {
    pub fn new(bounds: Bounds, bug: Option<&str>) -> Result<ReplicationModel, String> {
        let mut model = ReplicationModel {
            bounds,
            bugs: ReplicaBugs::default(),
            unclean_election: false,
        };
        match bug {
            None => {}
            Some("unclean-election") => model.unclean_election = true,
            Some(name) => {
                model.bugs = ReplicaBugs::named(name)
                    .ok_or_else(|| format!("no replication bug named {name}"))?
            }
        }
        Ok(model)
    }

    pub fn config(&self, node_id: i32) -> ReplicaConfig {
        ReplicaConfig {
            node_id,
            min_insync_replicas: usize::from(self.bounds.min_insync_replicas),
            replica_lag_time_max_ms: TIMEOUT_STEP_MS / 2,
            replica_fetch_backoff_ms: 0,
            replica_fetch_empty_backoff_ms: 0,
            replica_fetch_timeout_ms: TIMEOUT_STEP_MS,
            replica_fetch_max_records: i64::from(self.bounds.records),
            fsync_policy: FsyncPolicy::Always,
            bugs: self.bugs,
        }
    }

    fn ids(&self) -> Vec<i32> {
        (1..=i32::from(self.bounds.replicas)).collect()
    }

    /// Runs one input on a live replica, then the actions it returns.
    fn on_replica<F>(&self, state: &mut ReplicationState, id: i32, input: F)
    where
        F: FnOnce(&mut ReplicaMachine, &mut MemoryLog, u64) -> Vec<ReplicaAction<Vec<u64>>>,
    {
        let replica = state.replica_mut(id);
        let Some(machine) = replica.machine.as_mut() else {
            return;
        };
        let before = replica.log.clone();
        let was_leading = machine.is_leader().then(|| machine.high_watermark());
        let epoch_before = machine.leader_epoch();
        let actions = input(machine, &mut replica.log, replica.clock_ms);
        let machine = replica.machine.as_ref().expect("still up");
        if let Some(hw_before) = was_leading {
            if machine.is_leader()
                && machine.leader_epoch() == epoch_before
                && machine.high_watermark() < hw_before
            {
                state.history.broken |= super::state::Broken::HW_DECREASED;
            }
        }
        for action in actions {
            self.run_action(state, id, &before, action);
        }
    }

    fn run_action(
        &self,
        state: &mut ReplicationState,
        id: i32,
        before: &MemoryLog,
        action: ReplicaAction<Vec<u64>>,
    ) {
        match action {
            ReplicaAction::Appended { .. }
            | ReplicaAction::AppendedVerbatim { .. }
            | ReplicaAction::WakeFetchers => {}
            ReplicaAction::HighWatermark { offset } => state.replica_mut(id).hw_checkpoint = offset,
            ReplicaAction::Truncated { offset } => {
                state.history.seen |= Seen::TRUNCATION;
                history::on_truncate(&mut state.history, before, offset);
            }
            // The model has no retention, so no log start to fall below;
            // the records it would drop are below the leader's start.
            ReplicaAction::StartedAt { .. } => {}
            ReplicaAction::Sync { .. } => state.replica_mut(id).sync_requested = true,
            ReplicaAction::RespondProduce { request_id, result } => {
                if let Ok(offset) = result {
                    state.history.acked.push((request_id, offset));
                    state.history.seen |= Seen::ACKED;
                }
            }
            ReplicaAction::RespondFetch { to, response } => state.network.push(Envelope {
                to,
                from: id,
                message: Message::FetchResponse(response),
            }),
            ReplicaAction::SendFetch { to, request } => state.network.push(Envelope {
                to,
                from: id,
                message: Message::Fetch(request),
            }),
            ReplicaAction::ProposeIsr(proposal) => {
                state
                    .controller
                    .proposals
                    .push((id, proposal.leader_epoch, proposal.isr))
            }
        }
    }

    fn deliver(&self, state: &mut ReplicationState, envelope: Envelope) {
        let to = envelope.to;
        match envelope.message {
            Message::Fetch(request) => {
                self.on_replica(state, to, |m, log, now| m.follower_fetch(log, request, now))
            }
            Message::FetchResponse(response) => self.on_replica(state, to, |m, log, now| {
                m.fetch_response(log, response, now)
            }),
        }
    }

    fn control(&self, state: &mut ReplicationState, id: i32) {
        let Some(message) = state.controller.pop(id) else {
            return;
        };
        match message {
            ControlMessage::BecomeLeader {
                epoch,
                isr,
                replicas,
            } => self.on_replica(state, id, |m, log, now| {
                m.become_leader(log, epoch, isr, replicas, now)
            }),
            ControlMessage::BecomeFollower { leader, epoch } => {
                self.on_replica(state, id, |m, log, now| {
                    m.become_follower(log, leader, epoch, now)
                })
            }
            ControlMessage::IsrCommitted { epoch, isr } => {
                self.on_replica(state, id, |m, log, _| m.isr_committed(log, epoch, isr))
            }
        }
    }

    fn crash(&self, state: &mut ReplicationState, id: i32) {
        let replica = state.replica_mut(id);
        replica.machine = None;
        replica.sync_requested = false;
        replica.log.crash();
        state.network.retain(|e| e.to != id);
        state.controller.on_crash(id);
    }

    fn restart(&self, state: &mut ReplicationState, id: i32) {
        let config = self.config(id);
        let replica = state.replica_mut(id);
        replica.machine = Some(ReplicaMachine::new(
            config,
            &replica.log,
            replica.hw_checkpoint,
        ));
        state.controller.on_restart(id);
    }

    fn elect(&self, state: &mut ReplicationState, id: i32) {
        if !state.history.committed.is_empty() && state.controller.epoch > 0 {
            state.history.seen |= Seen::LEADER_CHANGE_AFTER_COMMIT;
        }
        state.controller.elect(id);
    }

    /// Replicas the controller may elect now.
    fn candidates(&self, state: &ReplicationState) -> Vec<i32> {
        let clean = state.controller.candidates(false);
        if !clean.is_empty() || !self.unclean_election || state.controller.leader.is_some() {
            return clean;
        }
        // Kafka elects outside the ISR only when no ISR member is alive.
        state.controller.candidates(true)
    }
}

impl Model for ReplicationModel {
    type State = ReplicationState;
    type Action = Action;

    fn init_states(&self) -> Vec<ReplicationState> {
        let ids = self.ids();
        let replicas = ids
            .iter()
            .map(|&id| {
                let log = MemoryLog::default();
                Replica {
                    id,
                    machine: Some(ReplicaMachine::new(self.config(id), &log, 0)),
                    log,
                    hw_checkpoint: 0,
                    sync_requested: false,
                    clock_ms: 0,
                }
            })
            .collect();
        let b = self.bounds;
        let mut state = ReplicationState {
            replicas,
            controller: Controller::new(ids),
            network: Vec::new(),
            budget: Budget {
                records: b.records,
                crashes: b.crashes,
                elections: b.elections,
                timeouts: b.timeouts,
                losses: b.losses,
                duplicates: b.duplicates,
            },
            history: History {
                next_record: 1,
                ..History::default()
            },
        };
        // The first election is free; the replicas are symmetric, so one
        // initial leader stands for all.
        state.controller.elect(1);
        vec![state]
    }

    fn actions(&self, state: &ReplicationState, actions: &mut Vec<Action>) {
        let budget = state.budget;
        for replica in &state.replicas {
            let id = replica.id;
            let Some(machine) = &replica.machine else {
                actions.push(Action::Restart(id));
                continue;
            };
            if budget.records > 0 && machine.is_leader() {
                actions.push(Action::Produce(id));
            }
            if replica.sync_requested {
                actions.push(Action::Sync(id));
            }
            if state.controller.has_message_for(id) {
                actions.push(Action::Control(id));
            }
            if budget.timeouts > 0 && *machine.role() != Role::Unassigned {
                actions.push(Action::Timeout(id));
            }
            if budget.crashes > 0 {
                actions.push(Action::Crash(id));
            }
        }
        if budget.elections > 0 {
            for id in self.candidates(state) {
                actions.push(Action::Elect(id));
            }
        }
        if !state.controller.proposals.is_empty() {
            actions.push(Action::CommitIsr);
        }
        for envelope in &state.network {
            actions.push(Action::Deliver(envelope.clone()));
            if budget.duplicates > 0 {
                actions.push(Action::Duplicate(envelope.clone()));
            }
            if budget.losses > 0 {
                actions.push(Action::Lose(envelope.clone()));
            }
        }
    }

    fn next_state(&self, last: &ReplicationState, action: Action) -> Option<ReplicationState> {
        let mut state = last.clone();
        match action {
            Action::Produce(id) => {
                state.budget.records -= 1;
                let record = state.history.next_record;
                state.history.next_record += 1;
                self.on_replica(&mut state, id, |m, log, _| {
                    m.client_append(log, record, vec![record], 1, Acks::All)
                });
            }
            Action::Deliver(envelope) => {
                state.network.retain(|e| *e != envelope);
                self.deliver(&mut state, envelope);
            }
            Action::Duplicate(envelope) => {
                state.budget.duplicates -= 1;
                self.deliver(&mut state, envelope);
            }
            Action::Lose(envelope) => {
                state.budget.losses -= 1;
                state.network.retain(|e| *e != envelope);
            }
            Action::Sync(id) => {
                let replica = state.replica_mut(id);
                replica.sync_requested = false;
                let end = replica.log.log_end_offset();
                replica.log.sync_to(end);
                let durable = replica.log.synced_end_offset();
                self.on_replica(&mut state, id, |m, log, now| m.sync_done(log, durable, now));
            }
            Action::Timeout(id) => {
                state.budget.timeouts -= 1;
                state.replica_mut(id).clock_ms += TIMEOUT_STEP_MS;
                self.on_replica(&mut state, id, |m, log, now| m.tick(log, now));
            }
            Action::Crash(id) => {
                state.budget.crashes -= 1;
                self.crash(&mut state, id);
            }
            Action::Restart(id) => self.restart(&mut state, id),
            Action::Elect(id) => {
                state.budget.elections -= 1;
                self.elect(&mut state, id);
            }
            Action::Control(id) => self.control(&mut state, id),
            Action::CommitIsr => {
                if let Some((old, new)) = state.controller.commit_proposal() {
                    if new.len() < old.len() {
                        state.history.seen |= Seen::ISR_SHRINK;
                    } else if state.history.seen & Seen::ISR_SHRINK != 0 {
                        state.history.seen |= Seen::ISR_EXPAND;
                    }
                }
            }
        }
        history::observe(&mut state);
        canonicalize(&mut state);
        Some(state)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        properties::all()
    }
}
