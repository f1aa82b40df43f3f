//! A tiny fake controller: it elects partition leaders from the live ISR
//! members with a new epoch, commits ISR proposals from the leader of the
//! current epoch (as KRaft's AlterPartition does), and tells each replica
//! its role through an in-order, possibly delayed, queue (the metadata log
//! as each broker replays it). Unclean election is not modelled.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControllerMessage {
    BecomeLeader {
        epoch: i32,
        isr: Vec<i32>,
        replicas: Vec<i32>,
    },
    BecomeFollower {
        leader: i32,
        epoch: i32,
    },
    IsrCommitted {
        epoch: i32,
        isr: Vec<i32>,
    },
}

#[derive(Debug)]
pub struct Controller {
    pub replicas: Vec<i32>,
    pub leader: Option<i32>,
    pub epoch: i32,
    pub isr: Vec<i32>,
    pub live: BTreeSet<i32>,
    /// Per replica, what it has yet to learn, in order.
    pub queues: BTreeMap<i32, VecDeque<ControllerMessage>>,
    /// ISR proposals on their way: (from, leader epoch, isr).
    pub proposals: VecDeque<(i32, i32, Vec<i32>)>,
}

impl Controller {
    pub fn new(replicas: Vec<i32>) -> Controller {
        Controller {
            queues: replicas.iter().map(|r| (*r, VecDeque::new())).collect(),
            live: replicas.iter().copied().collect(),
            isr: replicas.clone(),
            replicas,
            leader: None,
            epoch: 0,
            proposals: VecDeque::new(),
        }
    }

    /// Elects `leader` (a live ISR member) in a new epoch.
    pub fn elect(&mut self, leader: i32) {
        assert!(
            self.isr.contains(&leader) && self.live.contains(&leader),
            "clean election"
        );
        self.epoch += 1;
        self.leader = Some(leader);
        for r in self.replicas.clone() {
            if !self.live.contains(&r) {
                continue;
            }
            let message = if r == leader {
                ControllerMessage::BecomeLeader {
                    epoch: self.epoch,
                    isr: self.isr.clone(),
                    replicas: self.replicas.clone(),
                }
            } else {
                ControllerMessage::BecomeFollower {
                    leader,
                    epoch: self.epoch,
                }
            };
            self.queues.get_mut(&r).unwrap().push_back(message);
        }
    }

    /// Live ISR members other than `except`: the clean candidates.
    pub fn candidates(&self, except: Option<i32>) -> Vec<i32> {
        self.isr
            .iter()
            .copied()
            .filter(|r| self.live.contains(r) && Some(*r) != except)
            .collect()
    }

    pub fn on_crash(&mut self, node: i32) -> bool {
        self.live.remove(&node);
        self.queues.get_mut(&node).unwrap().clear();
        self.proposals.retain(|p| p.0 != node);
        let was_leader = self.leader == Some(node);
        if was_leader {
            self.leader = None;
        }
        was_leader
    }

    /// A replica came back: it learns the current leader, or is elected if
    /// the partition is offline and it is in the ISR.
    pub fn on_restart(&mut self, node: i32) {
        self.live.insert(node);
        match self.leader {
            Some(leader) => {
                self.queues
                    .get_mut(&node)
                    .unwrap()
                    .push_back(ControllerMessage::BecomeFollower {
                        leader,
                        epoch: self.epoch,
                    })
            }
            None if self.isr.contains(&node) => self.elect(node),
            None => {}
        }
    }

    /// Tells the leader its current state again, in the same epoch: another
    /// metadata record of the partition (a replica-set change, a broker's
    /// fencing elsewhere) that may reach it before a pending proposal's
    /// commit does, and must not end that proposal.
    pub fn reannounce(&mut self) {
        let Some(leader) = self.leader else {
            return;
        };
        self.queues
            .get_mut(&leader)
            .unwrap()
            .push_back(ControllerMessage::BecomeLeader {
                epoch: self.epoch,
                isr: self.isr.clone(),
                replicas: self.replicas.clone(),
            });
    }

    /// Commits the oldest proposal if it comes from the current leadership,
    /// and answers its proposer.
    pub fn process_proposal(&mut self) {
        let Some((from, epoch, isr)) = self.proposals.pop_front() else {
            return;
        };
        if epoch != self.epoch || self.leader != Some(from) {
            return; // a stale leader's proposal: refused (it learns its fate)
        }
        assert!(isr.contains(&from));
        self.isr = isr;
        self.queues
            .get_mut(&from)
            .unwrap()
            .push_back(ControllerMessage::IsrCommitted {
                epoch,
                isr: self.isr.clone(),
            });
    }
}
