//! The nemesis: faults drawn from the seed, injected into one broker node
//! and its disk, each recorded in the history.
//!
//! | fault | how | promise it tests |
//! |---|---|---|
//! | power loss | kill the node, `SimDisk::crash` (unsynced data dropped, torn, bit-flipped, zeroed or written back), restart | fsync=always: every record acknowledged with acks=all survives, at its offset; recovery never serves a damaged tail (no `corrupt-read`), never reuses an offset that was read (`inconsistent-offsets`) |
//! | EIO on write / fsync | `SimDiskFaults::{write,sync}_eio_probability` for a window | a produce whose write or sync failed is not acknowledged; the broker keeps serving or halts, never acks what is not durable |
//! | disk full | `space_budget_bytes` just above the current use, for a window | ENOSPC fails produces, never corrupts the log |
//! | broker exit | if `run` returns (e.g. it halts on a disk error), a supervisor restarts it without a power loss (the page cache survives a process exit) | recovery from a clean-ish stop |
//! | EIO on read | `SimDiskFaults::read_eio_probability` for a window | a fetch whose read failed is answered KAFKA_STORAGE_ERROR, never with wrong data; a recovery that cannot read fails the partition's open (it is opened again later) instead of truncating good data |
//! | lost directory entries | at each power loss, every create, rename or removal not yet made durable by a directory sync persists or is lost/undone (seeded per change) | the broker syncs a new file's directory before anything depends on its name (an acknowledgement, a recovery point) |
//! | fsyncgate | a failed file sync drops its dirty pages and marks them clean (seeded per failure, vs. keeping them dirty) | a failed sync takes the log offline until a restart recovers it from disk: never retried into success |
//! | pause | `Handle::pause` the broker node for 50 ms – 2.5 s, then `resume` (a GC pause, a stalled VM) | requests in flight time out on the client and idempotent producers resend them; the originals then run too, and the broker keeps one copy of each batch |
//! | clock skew and steps | `clock_nemesis`: the node's `SimClock` starts up to ±2 h off and its wall clock is stepped forward and back (10 ms – 3 h) in a task of its own; resynced when faults end | timers (sessions, rebalances, `interval` fsync, idle connections) run on monotonic time and neither fire nor starve; nothing safe depends on the wall clock (docs/architecture.md, "Clocks") |
//!
//! | rot of cold data | 1–3 bits flipped in synced bytes of a sealed segment of the produce workload's topic that recovery will not rescan (`disk_nemesis::cold_segments`; `SimDisk::rot_synced_bit`) | the broker refuses the damaged batch when a fetch reads it (CORRUPT_MESSAGE), never serves it, never cuts synced data for it; consumers skip the refused offset and `spurious-corruption` checks a refusal has real rot behind it |
//!
//! Behind `--synced-bit-flips` only (an experiment): rot of any synced
//! segment data of the workload's topics while the node runs, and of any
//! file at a third of the crashes, including data recovery scans (which a
//! single node cannot tell from a torn tail). Not injected: network faults
//! (one node, nothing to partition).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use madsim::runtime::Handle;
use madsim::task::NodeId;
use odradek::io::sim_disk::{SimDisk, SimDiskFaults};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::time::sleep;

use crate::disk_nemesis;
use crate::history::{EventKind, NemesisAction};
use crate::recorder::Recorder;

/// What the nemesis may do in one run, drawn from the seed.
#[derive(Debug, Clone)]
pub struct NemesisPlan {
    pub seed: u64,
    /// Faults run from `start` to `end` (simulated time since the run began).
    pub start: Duration,
    pub end: Duration,
    /// Pause between two faults, drawn from this range (ms).
    pub pause_ms: (u64, u64),
    /// How long the node stays down after a power loss (ms).
    pub downtime_ms: (u64, u64),
    /// How long an EIO or disk-full window lasts (ms).
    pub window_ms: (u64, u64),
    /// Per-operation EIO rates during an EIO window.
    pub write_eio_probability: f64,
    pub sync_eio_probability: f64,
    /// How long a pause of the broker node lasts (ms).
    pub node_pause_ms: (u64, u64),
    /// Relative weights of power loss, EIO window, disk-full window, node
    /// pause, read-EIO window and rot of synced segment data.
    pub weights: [u32; 6],
    /// The crash-time fault rates the disk runs with (kept outside windows).
    pub crash_faults: SimDiskFaults,
    /// Per read during a read-EIO window.
    pub read_eio_probability: f64,
    /// Bits flipped per rot fault.
    pub rot_per_fault: u32,
    /// The `--synced-bit-flips` experiment: rot any segment file of the
    /// workload's topics, not only cold ones (see
    /// [`disk_nemesis::cold_segments`]).
    pub rot_anywhere: bool,
}

/// The broker node as the nemesis and the supervisor see it.
pub struct BrokerNode {
    pub id: NodeId,
    /// Set while the nemesis holds the node down, so the supervisor does
    /// not restart it in the middle of a power loss.
    pub held_down: AtomicBool,
}

/// Kill, crash the disk, wait, restart.
async fn power_loss(node: &BrokerNode, disk: &SimDisk, recorder: &Recorder, downtime: Duration) {
    let handle = Handle::current();
    node.held_down.store(true, Ordering::Relaxed);
    handle.kill(node.id);
    recorder.record(EventKind::Nemesis(NemesisAction::Kill));
    let report = disk.crash();
    let outcomes = report
        .iter()
        .map(|(path, outcome)| format!("{path}: {}", disk_nemesis::describe(outcome)))
        .collect();
    recorder.record(EventKind::Nemesis(NemesisAction::DiskCrashed { outcomes }));
    sleep(downtime).await;
    handle.restart(node.id);
    node.held_down.store(false, Ordering::Relaxed);
    recorder.record(EventKind::Nemesis(NemesisAction::Restart));
}

/// Runs the plan; returns after the last fault, with the disk healed.
pub async fn run(plan: NemesisPlan, node: Arc<BrokerNode>, disk: Arc<SimDisk>, recorder: Recorder) {
    let mut rng = ChaCha8Rng::seed_from_u64(plan.seed ^ 0x006e_656d_6573_6973);
    let started = tokio::time::Instant::now();
    sleep(plan.start).await;
    let between = |rng: &mut ChaCha8Rng, (low, high): (u64, u64)| {
        Duration::from_millis(rng.gen_range(low..=high))
    };
    let total_weight: u32 = plan.weights.iter().sum();
    loop {
        sleep(between(&mut rng, plan.pause_ms)).await;
        if started.elapsed() >= plan.end || total_weight == 0 {
            break;
        }
        let mut pick = rng.gen_range(0..total_weight);
        let mut action = 0;
        while pick >= plan.weights[action] {
            pick -= plan.weights[action];
            action += 1;
        }
        match action {
            0 => {
                let downtime = between(&mut rng, plan.downtime_ms);
                power_loss(&node, &disk, &recorder, downtime).await;
            }
            1 => {
                let rates = (plan.write_eio_probability, plan.sync_eio_probability);
                let window = between(&mut rng, plan.window_ms);
                disk_nemesis::eio_window(&disk, &plan.crash_faults, rates, window, &recorder).await;
            }
            2 => {
                let slack_bytes = rng.gen_range(0..4096);
                let window = between(&mut rng, plan.window_ms);
                let base = &plan.crash_faults;
                disk_nemesis::disk_full_window(&disk, base, slack_bytes, window, &recorder).await;
            }
            4 => {
                let window = between(&mut rng, plan.window_ms);
                let rate = plan.read_eio_probability;
                let base = &plan.crash_faults;
                disk_nemesis::read_eio_window(&disk, base, rate, window, &recorder).await;
            }
            5 => {
                disk_nemesis::rot(&disk, plan.rot_per_fault, plan.rot_anywhere, &recorder);
            }
            _ => {
                let pause = between(&mut rng, plan.node_pause_ms);
                let handle = Handle::current();
                handle.pause(node.id);
                recorder.record(EventKind::Nemesis(NemesisAction::Pause {
                    ms: pause.as_millis() as u64,
                }));
                sleep(pause).await;
                handle.resume(node.id);
                recorder.record(EventKind::Nemesis(NemesisAction::Resume));
            }
        }
    }
    disk.set_faults(SimDiskFaults::default());
    recorder.record(EventKind::Nemesis(NemesisAction::FaultsStopped));
}

/// A process restart (the page cache survives) once faults have stopped,
/// so logs a failed write took offline come back.
pub async fn healing_restart(node: &BrokerNode, recorder: &Recorder) {
    let handle = Handle::current();
    node.held_down.store(true, Ordering::Relaxed);
    handle.kill(node.id);
    handle.restart(node.id);
    node.held_down.store(false, Ordering::Relaxed);
    recorder.record(EventKind::Nemesis(NemesisAction::HealingRestart));
}

/// The supervisor: restarts the broker whenever its `run` has returned (and
/// the nemesis is not holding it down). Runs until `stop` is set.
pub async fn supervise(node: Arc<BrokerNode>, recorder: Recorder, stop: Arc<AtomicBool>) {
    let handle = Handle::current();
    while !stop.load(Ordering::Relaxed) {
        sleep(Duration::from_millis(100)).await;
        if handle.is_exit(node.id) && !node.held_down.load(Ordering::Relaxed) {
            // kill() closes the exited node's sockets so the listener's port
            // is free again; restart() runs `run` anew. No disk crash: a
            // process exit keeps the page cache.
            handle.kill(node.id);
            handle.restart(node.id);
            recorder.record(EventKind::Nemesis(NemesisAction::Restart));
        }
    }
}
