//! Three replicas over in-memory logs, a lossy reordering network, a fake
//! controller, producers, crashes and restarts, all driven by one seeded
//! RNG: one seed is one schedule, replayable exactly.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::core::partition::acks::Acks;
use crate::core::partition::memory_log::MemoryLog;
use crate::core::partition::replica_action::{IsrProposal, ReplicaAction};
use crate::core::partition::replica_config::{ReplicaBugs, ReplicaConfig};
use crate::core::partition::replica_log::ReplicaLog;
use crate::core::partition::replica_machine::ReplicaMachine;
use crate::core::partition::{FetchRequest, FetchResponse, ProduceError};
use crate::core::topic_config::FsyncPolicy;

use super::checks::{Checker, Violation};
use super::controller::{Controller, ControllerMessage};

pub const REPLICAS: [i32; 3] = [1, 2, 3];

#[derive(Debug, Clone)]
pub enum Message {
    Fetch(FetchRequest),
    FetchResponse(FetchResponse<Vec<u64>>),
}

pub struct Node {
    pub id: i32,
    pub log: MemoryLog,
    /// `None` while crashed.
    pub machine: Option<ReplicaMachine>,
    pub hw_checkpoint: i64,
    pub sync_requested: bool,
}

pub struct Cluster {
    pub rng: ChaCha8Rng,
    pub now_ms: u64,
    pub nodes: BTreeMap<i32, Node>,
    pub controller: Controller,
    /// (to, from, message), delivered in any order.
    pub network: Vec<(i32, i32, Message)>,
    pub bugs: ReplicaBugs,
    pub next_record_id: u64,
    pub checker: Checker,
    pub trace: Vec<String>,
    pub stats: Stats,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub acked: u64,
    pub truncations: u64,
    pub leader_changes: u64,
    pub isr_shrinks: u64,
    pub isr_expands: u64,
    pub crashes: u64,
    pub not_enough_replicas: u64,
}

pub fn config(node_id: i32, bugs: ReplicaBugs) -> ReplicaConfig {
    ReplicaConfig {
        node_id,
        min_insync_replicas: 2,
        replica_lag_time_max_ms: 1_500,
        replica_fetch_backoff_ms: 20,
        replica_fetch_empty_backoff_ms: 20,
        replica_fetch_timeout_ms: 200,
        replica_fetch_max_records: 3,
        fsync_policy: FsyncPolicy::Always,
        bugs,
    }
}

impl Cluster {
    pub fn new(seed: u64, bugs: ReplicaBugs) -> Cluster {
        let nodes = REPLICAS
            .iter()
            .map(|&id| {
                let log = MemoryLog::default();
                let machine = ReplicaMachine::new(config(id, bugs), &log, 0);
                let node = Node {
                    id,
                    log,
                    machine: Some(machine),
                    hw_checkpoint: 0,
                    sync_requested: false,
                };
                (id, node)
            })
            .collect();
        let mut cluster = Cluster {
            rng: ChaCha8Rng::seed_from_u64(seed),
            now_ms: 0,
            nodes,
            controller: Controller::new(REPLICAS.to_vec()),
            network: Vec::new(),
            bugs,
            next_record_id: 1,
            checker: Checker::default(),
            trace: Vec::new(),
            stats: Stats::default(),
        };
        let first = REPLICAS[cluster.rng.gen_range(0..REPLICAS.len())];
        cluster.controller.elect(first);
        cluster
    }

    /// Runs `steps` random steps, checking every invariant after each.
    pub fn run(&mut self, steps: usize) -> Result<(), Violation> {
        for step in 0..steps {
            self.step();
            let mut checker = std::mem::take(&mut self.checker);
            let result = checker.check(self);
            self.checker = checker;
            result.map_err(|v| v.at_step(step, &self.trace))?;
        }
        Ok(())
    }

    fn live_ids(&self) -> Vec<i32> {
        self.nodes
            .values()
            .filter(|n| n.machine.is_some())
            .map(|n| n.id)
            .collect()
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        (!items.is_empty()).then(|| items[self.rng.gen_range(0..items.len())])
    }

    fn step(&mut self) {
        self.now_ms += self.rng.gen_range(0..40);
        let roll = self.rng.gen_range(0..120);
        let live = self.live_ids();
        match roll {
            0..=34 => self.deliver_message(),
            35..=37 if !self.network.is_empty() => {
                let i = self.rng.gen_range(0..self.network.len());
                self.network.swap_remove(i);
                self.trace.push("drop a message".into());
            }
            38 if !self.network.is_empty() => {
                let i = self.rng.gen_range(0..self.network.len());
                let copy = self.network[i].clone();
                self.network.push(copy);
            }
            39..=56 => {
                if let Some(id) = self.pick(&live) {
                    self.on_node(id, |m, log, now| m.tick(log, now));
                }
            }
            57..=68 => self.produce(),
            69..=82 => {
                let syncing: Vec<i32> = self
                    .nodes
                    .values()
                    .filter(|n| n.machine.is_some() && n.sync_requested)
                    .map(|n| n.id)
                    .collect();
                if let Some(id) = self.pick(&syncing) {
                    let node = self.nodes.get_mut(&id).unwrap();
                    node.sync_requested = false;
                    let end = node.log.log_end_offset();
                    node.log.sync_to(end);
                    let durable = node.log.synced_end_offset();
                    self.trace.push(format!("n{id} synced to {durable}"));
                    self.on_node(id, |m, log, now| m.sync_done(log, durable, now));
                }
            }
            83..=98 => self.deliver_controller_message(),
            99..=105 if self.rng.gen_bool(0.2) => self.controller.reannounce(),
            99..=105 => self.controller.process_proposal(),
            106..=110 => {
                if let Some(id) = self.pick(&live) {
                    let node = self.nodes.get_mut(&id).unwrap();
                    node.hw_checkpoint = node.machine.as_ref().unwrap().high_watermark();
                }
            }
            111..=112 if self.rng.gen_bool(0.3) => {
                if let Some(id) = self.pick(&live) {
                    self.crash(id);
                }
            }
            113..=116 => {
                let down: Vec<i32> = REPLICAS
                    .iter()
                    .copied()
                    .filter(|r| !live.contains(r))
                    .collect();
                if let Some(id) = self.pick(&down) {
                    self.restart(id);
                }
            }
            117.. if self.rng.gen_bool(0.3) => {
                let candidates = self.controller.candidates(self.controller.leader);
                if let (Some(_), Some(next)) = (self.controller.leader, self.pick(&candidates)) {
                    self.trace
                        .push(format!("controller moves leadership to n{next}"));
                    self.stats.leader_changes += 1;
                    self.controller.elect(next);
                }
            }
            _ => {}
        }
    }

    fn deliver_message(&mut self) {
        if self.network.is_empty() {
            return;
        }
        let i = self.rng.gen_range(0..self.network.len());
        let (to, from, message) = self.network.swap_remove(i);
        if self.nodes[&to].machine.is_none() {
            return;
        }
        match message {
            Message::Fetch(request) => {
                self.trace
                    .push(format!("n{to} <- fetch from n{from}: {request:?}"));
                self.on_node(to, |m, log, now| m.follower_fetch(log, request, now));
            }
            Message::FetchResponse(response) => {
                self.trace
                    .push(format!("n{to} <- fetch answer from n{from}: {response:?}"));
                self.on_node(to, |m, log, now| m.fetch_response(log, response, now));
            }
        }
    }

    fn deliver_controller_message(&mut self) {
        let waiting: Vec<i32> = self
            .controller
            .queues
            .iter()
            .filter(|(_, q)| !q.is_empty())
            .map(|(r, _)| *r)
            .collect();
        let Some(id) = self.pick(&waiting) else {
            return;
        };
        let message = self
            .controller
            .queues
            .get_mut(&id)
            .unwrap()
            .pop_front()
            .unwrap();
        self.trace.push(format!("n{id} <- controller: {message:?}"));
        match message {
            ControllerMessage::BecomeLeader {
                epoch,
                isr,
                replicas,
            } => self.on_node(id, |m, log, now| {
                m.become_leader(log, epoch, isr, replicas, now)
            }),
            ControllerMessage::BecomeFollower { leader, epoch } => {
                self.on_node(id, |m, log, now| m.become_follower(log, leader, epoch, now))
            }
            ControllerMessage::IsrCommitted { epoch, isr } => {
                self.on_node(id, |m, log, _| m.isr_committed(log, epoch, isr))
            }
        }
    }

    fn produce(&mut self) {
        // Producers send to whoever claims to lead (a zombie leader too).
        let leaders: Vec<i32> = self
            .nodes
            .values()
            .filter(|n| n.machine.as_ref().is_some_and(|m| m.is_leader()))
            .map(|n| n.id)
            .collect();
        let Some(id) = self.pick(&leaders) else {
            return;
        };
        let record = self.next_record_id;
        self.next_record_id += 1;
        let acks = if self.rng.gen_bool(0.8) {
            Acks::All
        } else {
            Acks::Leader
        };
        self.checker.produced.insert(record, acks);
        self.trace
            .push(format!("client -> n{id}: record {record} {acks:?}"));
        self.on_node(id, |m, log, _| {
            m.client_append(log, record, vec![record], 1, acks)
        });
    }

    fn crash(&mut self, id: i32) {
        self.stats.crashes += 1;
        let node = self.nodes.get_mut(&id).unwrap();
        node.machine = None;
        node.sync_requested = false;
        node.log.crash();
        self.trace
            .push(format!("n{id} crashes, log {:?}", node.log.entries()));
        self.network.retain(|(to, _, _)| *to != id);
        if self.controller.on_crash(id) {
            let candidates = self.controller.candidates(None);
            if let Some(next) = self.pick(&candidates) {
                self.stats.leader_changes += 1;
                self.controller.elect(next);
            }
        }
    }

    fn restart(&mut self, id: i32) {
        let bugs = self.bugs;
        let node = self.nodes.get_mut(&id).unwrap();
        node.machine = Some(ReplicaMachine::new(
            config(id, bugs),
            &node.log,
            node.hw_checkpoint,
        ));
        self.trace.push(format!(
            "n{id} restarts, hw checkpoint {}",
            node.hw_checkpoint
        ));
        self.controller.on_restart(id);
    }

    /// Runs one input on a live node and then its actions.
    fn on_node<F>(&mut self, id: i32, input: F)
    where
        F: FnOnce(&mut ReplicaMachine, &mut MemoryLog, u64) -> Vec<ReplicaAction<Vec<u64>>>,
    {
        let now = self.now_ms;
        let node = self.nodes.get_mut(&id).unwrap();
        let Some(machine) = node.machine.as_mut() else {
            return;
        };
        let before = node.log.clone();
        let actions = input(machine, &mut node.log, now);
        for action in actions {
            self.run_action(id, &before, action);
        }
    }

    fn run_action(&mut self, id: i32, before: &MemoryLog, action: ReplicaAction<Vec<u64>>) {
        match action {
            ReplicaAction::Appended { .. }
            | ReplicaAction::AppendedVerbatim { .. }
            | ReplicaAction::HighWatermark { .. }
            | ReplicaAction::WakeFetchers => {}
            ReplicaAction::Truncated { offset } => {
                self.stats.truncations += 1;
                self.trace.push(format!("n{id} truncates to {offset}"));
                self.checker.on_truncate(id, before, offset);
            }
            // Only records below the leader's log start go: retention
            // deleted them, no checker counts them as lost.
            ReplicaAction::StartedAt { offset } => {
                self.trace.push(format!("n{id} starts over at {offset}"));
            }
            ReplicaAction::Sync { .. } => self.nodes.get_mut(&id).unwrap().sync_requested = true,
            ReplicaAction::RespondProduce { request_id, result } => {
                self.trace
                    .push(format!("n{id} answers record {request_id}: {result:?}"));
                match result {
                    Ok(offset) => {
                        if self.checker.produced.get(&request_id) == Some(&Acks::All) {
                            self.stats.acked += 1;
                            self.checker.on_ack(request_id, offset);
                        }
                    }
                    Err(ProduceError::NotEnoughReplicas) => self.stats.not_enough_replicas += 1,
                    Err(_) => {}
                }
            }
            ReplicaAction::RespondFetch { to, response } => {
                self.network
                    .push((to, id, Message::FetchResponse(response)))
            }
            ReplicaAction::SendFetch { to, request } => {
                self.network.push((to, id, Message::Fetch(request)))
            }
            ReplicaAction::ProposeIsr(IsrProposal {
                leader_epoch, isr, ..
            }) => {
                let current = self.controller.isr.len();
                if isr.len() < current {
                    self.stats.isr_shrinks += 1;
                } else {
                    self.stats.isr_expands += 1;
                }
                self.trace.push(format!(
                    "n{id} proposes ISR {isr:?} in epoch {leader_epoch}"
                ));
                self.controller.proposals.push_back((id, leader_epoch, isr));
            }
        }
    }
}
