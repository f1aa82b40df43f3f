//! The model's controller: the one abstraction of the replication model
//! (docs/model.md). KRaft's controller is a Raft state machine of its own
//! (checked by the `raft` model); here it is collapsed to its decisions, each
//! an atomic step: elect a leader with a new epoch, commit the ISR a leader
//! proposed, and tell each replica its role through an in-order queue (the
//! metadata log as that broker replays it, possibly late).
//!
//! Electing a replica outside the ISR is the controller's decision, so the
//! `unclean-election` switch lives here, not in the replica.

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ControlMessage {
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

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Controller {
    pub replicas: Vec<i32>,
    /// The leader it last elected, `None` once that one crashed.
    pub leader: Option<i32>,
    pub epoch: i32,
    /// The committed ISR (KRaft's partition record).
    pub isr: Vec<i32>,
    pub live: Vec<i32>,
    /// Per replica (by position in `replicas`), what it has yet to learn.
    pub queues: Vec<Vec<ControlMessage>>,
    /// ISR proposals on their way, oldest first: (from, leader epoch, isr).
    pub proposals: Vec<(i32, i32, Vec<i32>)>,
}

impl Controller {
    pub fn new(replicas: Vec<i32>) -> Controller {
        Controller {
            queues: vec![Vec::new(); replicas.len()],
            live: replicas.clone(),
            isr: replicas.clone(),
            replicas,
            leader: None,
            epoch: 0,
            proposals: Vec::new(),
        }
    }

    fn slot(&self, replica: i32) -> usize {
        self.replicas
            .iter()
            .position(|r| *r == replica)
            .expect("one of the replicas")
    }

    /// Who may be elected now: live ISR members other than the leader; with
    /// `unclean` any live replica (Kafka's unclean.leader.election.enable).
    pub fn candidates(&self, unclean: bool) -> Vec<i32> {
        self.live
            .iter()
            .copied()
            .filter(|r| (unclean || self.isr.contains(r)) && Some(*r) != self.leader)
            .collect()
    }

    /// Elects `leader` in a new epoch. An unclean election (a leader outside
    /// the ISR) resets the ISR to the leader alone, as Kafka does.
    pub fn elect(&mut self, leader: i32) {
        assert!(self.live.contains(&leader), "elections pick a live replica");
        if !self.isr.contains(&leader) {
            self.isr = vec![leader];
        }
        self.epoch += 1;
        self.leader = Some(leader);
        self.proposals.clear(); // proposals of the old epoch would be refused
        for r in self.live.clone() {
            let message = if r == leader {
                ControlMessage::BecomeLeader {
                    epoch: self.epoch,
                    isr: self.isr.clone(),
                    replicas: self.replicas.clone(),
                }
            } else {
                ControlMessage::BecomeFollower {
                    leader,
                    epoch: self.epoch,
                }
            };
            let slot = self.slot(r);
            self.queues[slot].push(message);
        }
    }

    /// A replica crashed (its broker is fenced): it learns nothing more and
    /// its proposals are void; the partition has no leader if it led.
    pub fn on_crash(&mut self, replica: i32) {
        self.live.retain(|r| *r != replica);
        let slot = self.slot(replica);
        self.queues[slot].clear();
        self.proposals.retain(|p| p.0 != replica);
        if self.leader == Some(replica) {
            self.leader = None;
        }
    }

    /// A replica restarted: it learns the current leader, if any.
    pub fn on_restart(&mut self, replica: i32) {
        self.live.push(replica);
        self.live.sort_unstable();
        if let Some(leader) = self.leader {
            let slot = self.slot(replica);
            self.queues[slot].push(ControlMessage::BecomeFollower {
                leader,
                epoch: self.epoch,
            });
        }
    }

    /// Takes the next message for `replica`, if any.
    pub fn pop(&mut self, replica: i32) -> Option<ControlMessage> {
        let slot = self.slot(replica);
        (!self.queues[slot].is_empty()).then(|| self.queues[slot].remove(0))
    }

    pub fn has_message_for(&self, replica: i32) -> bool {
        !self.queues[self.slot(replica)].is_empty()
    }

    /// Commits the oldest proposal if it comes from the current leadership
    /// (KRaft's AlterPartition), and answers its proposer. Returns the old
    /// and new ISR when it changed.
    pub fn commit_proposal(&mut self) -> Option<(Vec<i32>, Vec<i32>)> {
        if self.proposals.is_empty() {
            return None;
        }
        let (from, epoch, isr) = self.proposals.remove(0);
        if epoch != self.epoch || self.leader != Some(from) {
            return None; // a stale leader's proposal is refused
        }
        assert!(isr.contains(&from), "a leader keeps itself in the ISR");
        let old = std::mem::replace(&mut self.isr, isr.clone());
        let slot = self.slot(from);
        self.queues[slot].push(ControlMessage::IsrCommitted { epoch, isr });
        Some((old, self.isr.clone()))
    }
}
