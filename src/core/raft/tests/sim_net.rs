//! A seeded network between voters: drops, duplicates, delays (and so
//! reorders) messages, and partitions links.

use std::collections::BTreeSet;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::core::raft::{Message, NodeId};

#[derive(Debug, Clone, Copy)]
pub struct NetFaults {
    pub drop_per_mille: u32,
    pub duplicate_per_mille: u32,
    pub delay_min_ms: u64,
    pub delay_max_ms: u64,
}

impl NetFaults {
    pub const RELIABLE: NetFaults = NetFaults {
        drop_per_mille: 0,
        duplicate_per_mille: 0,
        delay_min_ms: 1,
        delay_max_ms: 5,
    };
}

#[derive(Debug)]
struct InFlight {
    deliver_at_ms: u64,
    message: Message,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct NetStats {
    pub sent: u64,
    pub dropped: u64,
    pub duplicated: u64,
    pub delivered: u64,
}

#[derive(Debug)]
pub struct SimNet {
    pub faults: NetFaults,
    in_flight: Vec<InFlight>,
    /// Directed links that lose everything.
    blocked: BTreeSet<(NodeId, NodeId)>,
    pub stats: NetStats,
}

impl SimNet {
    pub fn new(faults: NetFaults) -> SimNet {
        SimNet {
            faults,
            in_flight: Vec::new(),
            blocked: BTreeSet::new(),
            stats: NetStats::default(),
        }
    }

    pub fn send(&mut self, rng: &mut ChaCha8Rng, now_ms: u64, message: Message) {
        self.stats.sent += 1;
        if self.blocked.contains(&(message.from, message.to))
            || rng.gen_range(0..1000) < self.faults.drop_per_mille
        {
            self.stats.dropped += 1;
            return;
        }
        let copies = if rng.gen_range(0..1000) < self.faults.duplicate_per_mille {
            self.stats.duplicated += 1;
            2
        } else {
            1
        };
        for _ in 0..copies {
            let delay = rng.gen_range(self.faults.delay_min_ms..=self.faults.delay_max_ms);
            self.in_flight.push(InFlight {
                deliver_at_ms: now_ms + delay,
                message: message.clone(),
            });
        }
    }

    /// One due message, picked at random among the due ones (reordering);
    /// a message on a link cut since it was sent is lost.
    pub fn take_due(&mut self, rng: &mut ChaCha8Rng, now_ms: u64) -> Option<Message> {
        loop {
            let due: Vec<usize> = (0..self.in_flight.len())
                .filter(|&k| self.in_flight[k].deliver_at_ms <= now_ms)
                .collect();
            if due.is_empty() {
                return None;
            }
            let pick = due[rng.gen_range(0..due.len())];
            let message = self.in_flight.swap_remove(pick).message;
            if self.blocked.contains(&(message.from, message.to)) {
                self.stats.dropped += 1;
                continue;
            }
            self.stats.delivered += 1;
            return Some(message);
        }
    }

    /// Messages to or from a crashed node vanish with it.
    pub fn forget_node(&mut self, id: NodeId) {
        self.in_flight.retain(|f| f.message.to != id);
    }

    /// Cuts every link between different groups.
    pub fn partition(&mut self, groups: &[BTreeSet<NodeId>]) {
        self.blocked.clear();
        for (a, group_a) in groups.iter().enumerate() {
            for (b, group_b) in groups.iter().enumerate() {
                if a != b {
                    for &x in group_a {
                        for &y in group_b {
                            self.blocked.insert((x, y));
                        }
                    }
                }
            }
        }
    }

    pub fn heal(&mut self) {
        self.blocked.clear();
    }
}
