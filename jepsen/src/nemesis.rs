//! The nemesis: a seeded schedule of faults against the real cluster. It
//! alternates a quiet spell and a fault window; a window holds one fault,
//! sometimes two of different kinds at once (a mixed schedule), and ends by
//! undoing them. Every start and end goes into the history as a `nemesis`
//! operation, so plots shade the windows and a reader sees what happened
//! when.
//!
//! - `kill`: kill -9 a minority of nodes, one partition leader, or one
//!   partition leader whose followers were stalled (SIGSTOP) for a moment
//!   first so they lag behind it, then start them again;
//! - `pause`: SIGSTOP the same kind of target, then SIGCONT;
//! - `partition`: random halves, one node isolated, a partition leader
//!   isolated, or a bridge (two halves that both hear one node);
//! - `clock`: jump the wall clock of some nodes up to two minutes either
//!   way, each by its own amount, so the nodes' clocks also disagree with
//!   each other (skew), then jump them back to true time (libfaketime).

use std::collections::BTreeSet;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::history::{OpFn, OpType, NEMESIS_PROCESS};
use crate::net_cluster::NetCluster;
use crate::partition_leaders::{partition_leaders, Leadership};
use crate::recorder::Recorder;

/// The largest clock move, either way.
const CLOCK_OFFSET_MAX_S: i64 = 120;
/// How likely a fault window holds a second fault of another kind.
const MIXED_PROBABILITY: f64 = 0.3;
/// How long a partition's followers stall before its leader is killed:
/// long enough that the leader takes many batches they lack, well under
/// the broker's `replica.lag.time.max.ms` (10 s), so they stay in the ISR
/// and one of them is elected. A correct leader answers none of those
/// acks=all batches; one that acknowledges early (`ack-before-isr`) loses
/// them all.
const FOLLOWER_STALL: Duration = Duration::from_millis(1500);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    Kill,
    Pause,
    Partition,
    Clock,
}

impl Fault {
    pub fn name(self) -> &'static str {
        match self {
            Fault::Kill => "kill",
            Fault::Pause => "pause",
            Fault::Partition => "partition",
            Fault::Clock => "clock",
        }
    }

    /// `kill,pause,partition,clock` (or `all`, or `none`).
    pub fn parse_list(text: &str) -> Result<Vec<Fault>, String> {
        match text.trim() {
            "none" | "" => return Ok(Vec::new()),
            "all" => {
                return Ok(vec![
                    Fault::Kill,
                    Fault::Pause,
                    Fault::Partition,
                    Fault::Clock,
                ])
            }
            _ => {}
        }
        let faults: BTreeSet<Fault> = text
            .split(',')
            .map(|name| name.trim().parse())
            .collect::<Result<_, _>>()?;
        Ok(faults.into_iter().collect())
    }
}

impl FromStr for Fault {
    type Err = String;

    fn from_str(name: &str) -> Result<Fault, String> {
        match name {
            "kill" => Ok(Fault::Kill),
            "pause" => Ok(Fault::Pause),
            "partition" => Ok(Fault::Partition),
            "clock" => Ok(Fault::Clock),
            other => Err(format!(
                "unknown nemesis {other:?}: use kill, pause, partition, clock (comma-separated), all or none"
            )),
        }
    }
}

/// A fault in force, and how to undo it.
struct Active {
    fault: Fault,
    nodes: Vec<u32>,
}

pub struct Nemesis<'a> {
    pub faults: Vec<Fault>,
    pub cluster: &'a Mutex<NetCluster>,
    pub recorder: &'a Recorder,
    pub bootstrap: String,
    pub topic: String,
    /// Quiet spell between fault windows, and how long a window lasts.
    pub quiet: Duration,
    pub window: Duration,
}

impl Nemesis<'_> {
    /// Runs the schedule until `stop`, then undoes whatever is in force.
    pub fn run(&self, stop: &AtomicBool, seed: u64) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        if self.faults.is_empty() {
            return;
        }
        while sleep_unless_stopped(self.quiet, stop) {
            let mut kinds = vec![*self.faults.choose(&mut rng).expect("faults")];
            if self.faults.len() > 1 && rng.gen_bool(MIXED_PROBABILITY) {
                let other = self.faults.iter().copied().filter(|f| *f != kinds[0]);
                let others: Vec<Fault> = other.collect();
                kinds.push(*others.choose(&mut rng).expect("another fault"));
            }
            let mut active = Vec::new();
            for fault in kinds {
                if let Some(started) = self.start(fault, &mut rng) {
                    active.push(started);
                }
            }
            sleep_unless_stopped(self.window, stop);
            for fault in active.into_iter().rev() {
                self.end(fault);
            }
        }
    }

    fn start(&self, fault: Fault, rng: &mut ChaCha8Rng) -> Option<Active> {
        let n = self.cluster().size() as u32;
        if fault == Fault::Kill && rng.gen_bool(1.0 / 3.0) {
            let leadership = self.some_leadership(rng);
            if let Some(leadership) = leadership.filter(|l| !l.followers.is_empty()) {
                return Some(self.kill_leader_after_stalling_followers(leadership));
            }
        }
        let (nodes, how, result) = match fault {
            Fault::Kill | Fault::Pause => {
                let (nodes, how) = self.minority_or_leader(rng, n);
                let mut cluster = self.cluster();
                let result = nodes.iter().try_for_each(|&node| match fault {
                    Fault::Kill => cluster.kill(node),
                    _ => cluster.pause(node, true),
                });
                (nodes, how, result)
            }
            Fault::Partition => {
                let (groups, how) = self.partition_shape(rng, n);
                let pairs = cut_pairs(&groups, n);
                let nodes = groups.first().cloned().unwrap_or_default();
                let result = self.cluster().network.cut(&pairs);
                (nodes, how, result)
            }
            Fault::Clock => {
                let count = rng.gen_range(1..=n);
                let mut all: Vec<u32> = (1..=n).collect();
                all.shuffle(rng);
                let nodes: Vec<u32> = all.into_iter().take(count as usize).collect();
                let mut offsets = Vec::new();
                let mut cluster = self.cluster();
                let result = nodes.iter().try_for_each(|&node| {
                    let offset = rng.gen_range(1..=CLOCK_OFFSET_MAX_S)
                        * if rng.gen_bool(0.5) { 1 } else { -1 };
                    offsets.push(format!("n{node} {offset:+}s"));
                    cluster.set_clock(node, offset)
                });
                (nodes, offsets.join(", "), result)
            }
        };
        let mut op = self.op(fault, "start", &nodes);
        op.value = Some(how);
        if let Err(error) = &result {
            op.error = Some(error.to_string());
        }
        self.recorder.record(op);
        Some(Active { fault, nodes })
    }

    fn end(&self, active: Active) {
        let mut errors = Vec::new();
        {
            let mut cluster = self.cluster();
            match active.fault {
                Fault::Kill => {
                    for &node in &active.nodes {
                        if let Err(error) = cluster.start_node(node) {
                            errors.push(format!("n{node}: {error}"));
                        }
                    }
                }
                Fault::Pause => {
                    for &node in &active.nodes {
                        if let Err(error) = cluster.pause(node, false) {
                            errors.push(format!("n{node}: {error}"));
                        }
                    }
                }
                Fault::Partition => {
                    if let Err(error) = cluster.network.heal() {
                        errors.push(error.to_string());
                    }
                }
                Fault::Clock => {
                    for &node in &active.nodes {
                        if let Err(error) = cluster.set_clock(node, 0) {
                            errors.push(format!("n{node}: {error}"));
                        }
                    }
                }
            }
        }
        let mut op = self.op(active.fault, "end", &active.nodes);
        if !errors.is_empty() {
            op.error = Some(errors.join("; "));
        }
        self.recorder.record(op);
    }

    fn op(&self, fault: Fault, phase: &str, nodes: &[u32]) -> crate::history::Op {
        let mut op = self
            .recorder
            .op(NEMESIS_PROCESS, OpType::Info, OpFn::Nemesis);
        op.fault = Some(fault.name().to_string());
        op.phase = Some(phase.to_string());
        op.nodes = Some(nodes.to_vec());
        op
    }

    fn cluster(&self) -> std::sync::MutexGuard<'_, NetCluster> {
        self.cluster.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Half the time one partition leader, else a random minority.
    fn minority_or_leader(&self, rng: &mut ChaCha8Rng, n: u32) -> (Vec<u32>, String) {
        if rng.gen_bool(0.5) {
            if let Some(leader) = self.some_leader(rng) {
                return (vec![leader], "a partition leader".into());
            }
        }
        let count = rng.gen_range(1..=((n - 1) / 2).max(1));
        let mut all: Vec<u32> = (1..=n).collect();
        all.shuffle(rng);
        let mut nodes: Vec<u32> = all.into_iter().take(count as usize).collect();
        nodes.sort_unstable();
        (nodes, "a minority".into())
    }

    /// The groups of a partition: the first is the side the fault names.
    fn partition_shape(&self, rng: &mut ChaCha8Rng, n: u32) -> (Vec<Vec<u32>>, String) {
        let mut all: Vec<u32> = (1..=n).collect();
        if n < 2 {
            return (vec![all], "one node: nothing to cut".into());
        }
        all.shuffle(rng);
        let isolate = |node: u32| {
            let rest: Vec<u32> = (1..=n).filter(|&m| m != node).collect();
            vec![vec![node], rest]
        };
        match rng.gen_range(0..4) {
            0 => {
                let cut = rng.gen_range(1..=n / 2).max(1) as usize;
                let (a, b) = all.split_at(cut);
                (vec![a.to_vec(), b.to_vec()], "random halves".into())
            }
            1 => match self.some_leader(rng) {
                Some(leader) => (isolate(leader), "a partition leader isolated".into()),
                None => (isolate(all[0]), "one node isolated".into()),
            },
            2 if n >= 3 => {
                // The bridge node hears both sides, which do not hear each other.
                let bridge = all[0];
                let rest = &all[1..];
                let (a, b) = rest.split_at(rest.len() / 2);
                let mut left = a.to_vec();
                left.push(bridge);
                let mut right = b.to_vec();
                right.push(bridge);
                (vec![left, right], format!("bridge through n{bridge}"))
            }
            _ => (isolate(all[0]), "one node isolated".into()),
        }
    }

    /// The leader of a random partition of the workload's topic, if the
    /// cluster can say.
    fn some_leader(&self, rng: &mut ChaCha8Rng) -> Option<u32> {
        self.some_leadership(rng).map(|l| l.leader)
    }

    fn some_leadership(&self, rng: &mut ChaCha8Rng) -> Option<Leadership> {
        partition_leaders(&self.bootstrap, &self.topic)
            .choose(rng)
            .cloned()
    }

    /// SIGSTOPs a partition's followers, lets the leader run ahead of them
    /// for [`FOLLOWER_STALL`], kills it with -9 and lets the followers go
    /// on: the classic way a leader's acknowledged tail is lost when it
    /// acknowledged before its ISR had it. The stall is its own `pause`
    /// interval in the history; the window's kill ends like any other.
    fn kill_leader_after_stalling_followers(&self, leadership: Leadership) -> Active {
        let Leadership { leader, followers } = leadership;
        let stalled = self.stall(&followers, true);
        let mut op = self.op(Fault::Pause, "start", &followers);
        op.value = Some(format!("followers of a partition led by n{leader}"));
        op.error = stalled.err();
        self.recorder.record(op);

        std::thread::sleep(FOLLOWER_STALL);
        let killed = self.cluster().kill(leader);
        let mut op = self.op(Fault::Kill, "start", &[leader]);
        op.value = Some(format!(
            "a partition leader, its followers stalled {} ms first",
            FOLLOWER_STALL.as_millis()
        ));
        op.error = killed.err().map(|e| e.to_string());
        self.recorder.record(op);

        let resumed = self.stall(&followers, false);
        let mut op = self.op(Fault::Pause, "end", &followers);
        op.error = resumed.err();
        self.recorder.record(op);
        Active {
            fault: Fault::Kill,
            nodes: vec![leader],
        }
    }

    /// SIGSTOP (`true`) or SIGCONT (`false`) of every node in `nodes`.
    fn stall(&self, nodes: &[u32], paused: bool) -> Result<(), String> {
        let mut cluster = self.cluster();
        let errors: Vec<String> = nodes
            .iter()
            .filter_map(|&node| {
                let result = cluster.pause(node, paused);
                result.err().map(|e| format!("n{node}: {e}"))
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}

/// Every pair of nodes that share no group.
fn cut_pairs(groups: &[Vec<u32>], n: u32) -> Vec<(u32, u32)> {
    let mut pairs = Vec::new();
    for a in 1..=n {
        for b in a + 1..=n {
            let together = groups.iter().any(|g| g.contains(&a) && g.contains(&b));
            if !together {
                pairs.push((a, b));
            }
        }
    }
    pairs
}

/// Sleeps `duration` in short steps; `false` once `stop` is set.
pub fn sleep_unless_stopped(duration: Duration, stop: &AtomicBool) -> bool {
    let end = Instant::now() + duration;
    while Instant::now() < end {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50).min(end - Instant::now()));
    }
    !stop.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bridge_cuts_only_between_the_two_sides() {
        // n1 is the bridge between {n2} and {n3}.
        let pairs = cut_pairs(&[vec![2, 1], vec![3, 1]], 3);
        assert_eq!(pairs, vec![(2, 3)]);
    }

    #[test]
    fn halves_cut_every_pair_across() {
        let pairs = cut_pairs(&[vec![1, 4], vec![2, 3, 5]], 5);
        assert_eq!(pairs.len(), 6);
        assert!(!pairs.contains(&(1, 4)));
        assert!(!pairs.contains(&(2, 3)));
    }

    #[test]
    fn fault_lists_parse() {
        assert_eq!(
            Fault::parse_list("kill,pause,partition").unwrap(),
            vec![Fault::Kill, Fault::Pause, Fault::Partition]
        );
        assert_eq!(Fault::parse_list("all").unwrap().len(), 4);
        assert!(Fault::parse_list("kill,flood").is_err());
    }
}
