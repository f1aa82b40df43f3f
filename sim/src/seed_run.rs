//! One seed, end to end: a madsim runtime, the broker node on its simulated
//! disk, the client node running the workload, the nemesis and the
//! supervisor on the runtime's own node; then the checkers' verdict.
//!
//! Timeline (simulated): faults from 1 s to `FAULTS_END`; producers stop
//! `QUIET` later; consumers a little after; then the final read. The run is
//! bounded by `TIME_LIMIT` (madsim panics past it; reported as `liveness`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use madsim::runtime::Runtime;
use odradek::io::disk::Disk;
use odradek::io::node_context::NodeContext;
use odradek::io::sim_clock::{SimClock, SimClockCounters};
use odradek::io::sim_disk::{SimDisk, SimDiskCounters, SimDiskFaults, SyncLatency};
use odradek::server::{BrokerConfig, BugSwitches};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::time::sleep;

use crate::checker::{Violation, ViolationKind};
use crate::client::group::GroupVersions;
use crate::clock_nemesis::{self, ClockFaultPlan};
use crate::group_workload::{self, GroupWorkloadConfig};
use crate::history::{EventKind, NemesisAction};
use crate::lifecycle_workload::{self, LifecycleConfig};
use crate::log_space::LogSpace;
use crate::nemesis::{self, BrokerNode, NemesisPlan};
use crate::outcome::{RunStats, SeedOutcome};
use crate::recorder::Recorder;
use crate::workload::{self, WorkloadConfig, WorkloadControl};

const BROKER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const BROKER_PORT: u16 = 9092;
const FAULTS_START: Duration = Duration::from_secs(1);
const FAULTS_END: Duration = Duration::from_secs(20);
/// Producers keep going this long after faults stop (recovery must let them).
const QUIET: Duration = Duration::from_secs(3);
/// Consumers stop this long after producers (in-flight produces settle).
const DRAIN: Duration = Duration::from_secs(2);
const FINAL_READ_DEADLINE: Duration = Duration::from_secs(10);
/// How long the group's drain may take (crashed members' sessions expire
/// first, then a rebalance, then the reads).
const GROUP_DRAIN_DEADLINE: Duration = Duration::from_secs(30);
const TIME_LIMIT: Duration = Duration::from_secs(90);
/// How long [`release_tasks`] lets killed nodes' timers fire.
pub(crate) const RELEASE_TASKS_WAIT: Duration = Duration::from_secs(5);
/// simworkload: how often the broker applies retention and compaction.
const RETENTION_CHECK_INTERVAL_MS: u64 = 500;
/// How many violations an outcome carries in full.
pub(crate) const EXAMPLES_MAX: usize = 8;

/// What to run: the seed and the bugs switched back on.
#[derive(Debug, Clone, Copy, Default)]
pub struct SeedSpec {
    pub seed: u64,
    pub bugs: BugSwitches,
    /// Experiment beyond the single-node promise: at each crash, the chance
    /// of one flipped bit in already-synced data (0 in normal runs).
    pub synced_bit_flip_probability: f64,
    /// 0: one broker node (this file). N > 0: an N-node cluster
    /// (`crate::cluster::seed_run`).
    pub cluster_nodes: usize,
    /// Cluster experiment: the checked topic uses `fsync.policy=never`
    /// (replicated: its acknowledgements are promised unless every replica
    /// loses power at once, `checker::Durability`).
    pub fsync_never: bool,
    /// Cluster experiment: the nemesis also cuts the power of every node at
    /// once (`cluster::nemesis`), from its own stream of the seed.
    pub correlated_crashes: bool,
    /// Voters of an N-node cluster (nodes 1..=K; the others broker-only
    /// nodes, observers of the quorum). 0: the seed draws it
    /// (`cluster::topology::draw_voters`).
    pub cluster_voters: usize,
}

impl SeedSpec {
    pub fn bug_names(&self) -> Vec<String> {
        let mut names: Vec<String> = crate::bugs::names_on(&self.bugs)
            .into_iter()
            .map(str::to_string)
            .collect();
        if self.synced_bit_flip_probability > 0.0 {
            names.push("experiment:synced-bit-flips".to_string());
        }
        if self.fsync_never {
            names.push("experiment:fsync-never".to_string());
        }
        if self.correlated_crashes {
            names.push("experiment:correlated-crashes".to_string());
        }
        names
    }
}

fn broker_config(bugs: BugSwitches, space: &LogSpace) -> BrokerConfig {
    let mut config = BrokerConfig::single_node_default();
    config.listen = SocketAddr::new(IpAddr::V4(BROKER_IP), BROKER_PORT);
    config.advertise_host = BROKER_IP.to_string();
    config.advertise_port = BROKER_PORT;
    config.bugs = bugs;
    space.apply(&mut config);
    // Retention and compaction must run between faults (Kafka's default
    // check is every 5 minutes) so the lifecycle topic's segments are
    // deleted and cleaned during the run.
    config.retention_check_interval_ms = RETENTION_CHECK_INTERVAL_MS;
    config
}

/// The fault rates a crash applies to unsynced data, from the seed. Every
/// crash outcome stays likely in every seed, so each seed exercises them all.
fn crash_faults(rng: &mut ChaCha8Rng) -> SimDiskFaults {
    SimDiskFaults {
        crash_writeback_probability: rng.gen_range(0.05..0.2),
        crash_torn_write_probability: rng.gen_range(0.15..0.3),
        crash_bit_flip_probability: rng.gen_range(0.15..0.3),
        crash_zeroed_tail_probability: rng.gen_range(0.05..0.15),
        ..SimDiskFaults::default()
    }
}

/// The disk faults added with the directory-entry model, from their own
/// stream of the seed (so adding them changed no other draw): both fates of
/// an unsynced name change, and of a failed fsync's pages, stay likely.
pub(crate) fn namespace_faults(seed: u64, faults: &mut SimDiskFaults) -> DiskFaultPlan {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x0064_6973_6b32);
    faults.crash_dir_entry_persist_probability = rng.gen_range(0.2..0.8);
    faults.sync_eio_drop_probability = rng.gen_range(0.3..0.9);
    let plan = DiskFaultPlan {
        read_eio_probability: rng.gen_range(0.02..0.2),
        rot_per_fault: rng.gen_range(1..=3),
    };
    sector_faults(&mut rng, faults);
    plan
}

/// Holey writebacks (dirty sectors reach the device in any order, the size
/// is one the file had after some write), drawn last from the namespace
/// stream so no earlier draw moved: a tenth to a third of the dirty files at
/// a crash, on 512-byte or 4 KiB sectors.
fn sector_faults(rng: &mut ChaCha8Rng, faults: &mut SimDiskFaults) {
    faults.crash_holey_writeback_probability = rng.gen_range(0.1..0.3);
    faults.crash_sector_bytes = if rng.gen_bool(0.5) { 512 } else { 4096 };
}

/// Runtime disk faults of the nemesis drawn by [`namespace_faults`].
#[derive(Debug, Clone, Copy)]
pub struct DiskFaultPlan {
    /// Per read during a read-EIO window.
    pub read_eio_probability: f64,
    /// Bits flipped in synced segment data per rot fault.
    pub rot_per_fault: u32,
}

struct Setup {
    space: LogSpace,
    workload: WorkloadConfig,
    group: GroupWorkloadConfig,
    lifecycle: LifecycleConfig,
    plan: NemesisPlan,
    sync_latency: SyncLatency,
}

fn draw_setup(seed: u64) -> Setup {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut crash_faults = crash_faults(&mut rng);
    let disk_faults = namespace_faults(seed, &mut crash_faults);
    let mut workload = WorkloadConfig {
        seed,
        broker: SocketAddr::new(IpAddr::V4(BROKER_IP), BROKER_PORT),
        partitions: rng.gen_range(1..=3),
        producers: rng.gen_range(1..=3),
        consumers: rng.gen_range(1..=2),
        batch_values_max: rng.gen_range(1..=4),
        produce_pause_ms: (0, rng.gen_range(5..=30)),
        idempotent_producers: 0,
        impatient_probability: 0.0,
        impatient_timeout_ms: (1, 1),
        final_read_deadline: FINAL_READ_DEADLINE,
    };
    let plan = NemesisPlan {
        seed,
        start: FAULTS_START,
        end: FAULTS_END,
        pause_ms: (200, rng.gen_range(800..=3_000)),
        downtime_ms: (0, 500),
        window_ms: (200, 2_000),
        write_eio_probability: rng.gen_range(0.0..0.05),
        sync_eio_probability: rng.gen_range(0.0..0.05),
        node_pause_ms: (50, 2_500),
        weights: [6, 1, 1, 2, 1, 1],
        crash_faults,
        read_eio_probability: disk_faults.read_eio_probability,
        rot_per_fault: disk_faults.rot_per_fault,
        rot_anywhere: false,
    };
    let sync_latency = SyncLatency {
        min_ms: 1,
        max_ms: rng.gen_range(2..=8),
    };
    // Most seeds: every producer idempotent; the rest mix in plain ones.
    workload.idempotent_producers = if rng.gen_bool(0.8) {
        workload.producers
    } else {
        rng.gen_range(0..workload.producers)
    };
    workload.impatient_probability = rng.gen_range(0.02..0.25);
    workload.impatient_timeout_ms = (1, rng.gen_range(4..=20));
    let group = draw_group(seed, &workload);
    let lifecycle = lifecycle_workload::draw(seed, workload.broker, FINAL_READ_DEADLINE);
    Setup {
        space: LogSpace::draw(seed),
        workload,
        group,
        lifecycle,
        plan,
        sync_latency,
    }
}

/// The group workload's shape, from its own stream of the seed (so adding
/// it changed no other draw).
fn draw_group(seed: u64, workload: &WorkloadConfig) -> GroupWorkloadConfig {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x0067_726f_7570);
    GroupWorkloadConfig {
        seed,
        broker: workload.broker,
        partitions: workload.partitions,
        members: rng.gen_range(1..=3),
        versions: GroupVersions::draw(&mut rng),
        lifetime_ms: (2_000, rng.gen_range(4_000..=12_000)),
        crash_probability: rng.gen_range(0.1..0.5),
        rejoin_pause_ms: (0, rng.gen_range(200..=2_000)),
        commit_interval_ms: rng.gen_range(100..=1_000),
        drain_deadline: GROUP_DRAIN_DEADLINE,
    }
}

/// The nodes a seed created, for [`release_tasks`] (also after a panic).
pub(crate) type CreatedNodes = Arc<std::sync::Mutex<Vec<madsim::task::NodeId>>>;

/// Everything inside the runtime.
async fn simulate(
    spec: SeedSpec,
    setup: Setup,
    disk: Arc<SimDisk>,
    (clock, clock_plan): (Arc<SimClock>, ClockFaultPlan),
    recorder: Recorder,
    created: CreatedNodes,
) {
    let handle = madsim::runtime::Handle::current();
    let config = broker_config(spec.bugs, &setup.space);
    // What the topic's acknowledgements promise, for the checkers: its
    // partitions take the broker's default policy.
    for partition in 0..setup.workload.partitions {
        recorder.record(EventKind::PartitionPolicy {
            partition,
            fsync_policy: setup.space.fsync_policy.as_str().to_string(),
        });
    }
    let broker_disk: Arc<dyn Disk> = disk.clone();
    let broker_recorder = recorder.clone();
    // The node's clock, like its disk, outlives the node: a restart keeps
    // the host's wrong time.
    clock_nemesis::record_initial_skew(&clock_plan, &recorder, None);
    let broker_clock = clock.clone();
    let broker = handle
        .create_node()
        .name("broker")
        .ip(IpAddr::V4(BROKER_IP))
        .init(move || {
            let (config, disk, recorder) =
                (config.clone(), broker_disk.clone(), broker_recorder.clone());
            let node = NodeContext::new(disk, broker_clock.clone());
            async move {
                if let Err(error) = odradek::server::run(config, node, std::future::pending()).await
                {
                    recorder.record(EventKind::Nemesis(NemesisAction::BrokerExited {
                        detail: error.to_string(),
                    }));
                }
            }
        })
        .build();
    created.lock().expect("not poisoned").push(broker.id());
    let node = Arc::new(BrokerNode {
        id: broker.id(),
        held_down: AtomicBool::new(false),
    });
    let client = handle
        .create_node()
        .name("client")
        .ip(IpAddr::V4(CLIENT_IP))
        .build();
    created.lock().expect("not poisoned").push(client.id());
    let control = Arc::new(WorkloadControl::default());
    let workload = client.spawn(workload::run(
        setup.workload,
        recorder.clone(),
        control.clone(),
    ));
    let lifecycle = client.spawn(lifecycle_workload::run(
        setup.lifecycle,
        recorder.clone(),
        control.clone(),
    ));
    let stop_group = Arc::new(AtomicBool::new(false));
    let group = client.spawn(group_workload::run(
        setup.group,
        recorder.clone(),
        stop_group.clone(),
    ));
    let stop_supervisor = Arc::new(AtomicBool::new(false));
    let supervisor = tokio::spawn(nemesis::supervise(
        node.clone(),
        recorder.clone(),
        stop_supervisor.clone(),
    ));

    let clock_faults = tokio::spawn(clock_nemesis::run(
        clock_plan,
        clock,
        recorder.clone(),
        None,
    ));
    nemesis::run(setup.plan, node.clone(), disk.clone(), recorder.clone()).await;
    let _ = clock_faults.await;
    let counters = disk.counters();
    if counters.write_eio + counters.sync_eio + counters.enospc + counters.read_eio > 0 {
        nemesis::healing_restart(&node, &recorder).await;
    }
    sleep(QUIET).await;
    control.stop_producing.store(true, Ordering::Relaxed);
    sleep(DRAIN).await;
    control.stop_consuming.store(true, Ordering::Relaxed);
    stop_group.store(true, Ordering::Relaxed);
    // The workload ends after its final read (itself bounded by a deadline).
    let _ = workload.await;
    let _ = lifecycle.await;
    let _ = group.await;
    stop_supervisor.store(true, Ordering::Relaxed);
    let _ = supervisor.await;
}

/// Ends every task still parked on the nodes. madsim drops a killed node's
/// futures only when they are next woken, and a parked future holds the
/// runtime's handles while the runtime's timers hold its waker: dropped as
/// is, the runtime leaks itself with the node's disk and history (4 MB a
/// seed, enough to end a 10,000-seed sweep). Runs after the seed's
/// simulated time is taken, so it changes neither the trace nor the figures.
pub(crate) async fn release_tasks(nodes: Vec<madsim::task::NodeId>) {
    let handle = madsim::runtime::Handle::current();
    for node in nodes {
        handle.kill(node);
    }
    sleep(RELEASE_TASKS_WAIT).await;
}

pub(crate) fn disk_counters(counters: &SimDiskCounters) -> std::collections::BTreeMap<String, u64> {
    [
        ("crashes", counters.crashes),
        ("syncs_completed", counters.syncs_completed),
        ("files_dirty_at_crash", counters.files_dirty_at_crash),
        ("unsynced_dropped", counters.unsynced_dropped),
        ("unsynced_written_back", counters.unsynced_written_back),
        ("torn_writes", counters.torn_writes),
        ("bit_flipped_tails", counters.bit_flipped_tails),
        ("zeroed_tails", counters.zeroed_tails),
        ("holey_writebacks", counters.holey_writebacks),
        ("holey_sectors_lost", counters.holey_sectors_lost),
        ("synced_bit_flips", counters.synced_bit_flips),
        ("write_eio", counters.write_eio),
        ("sync_eio", counters.sync_eio),
        ("enospc", counters.enospc),
        ("dir_entries_lost", counters.dir_entries_lost),
        ("dir_entries_undone", counters.dir_entries_undone),
        ("dir_entries_persisted", counters.dir_entries_persisted),
        ("fsync_eio_pages_dropped", counters.fsync_eio_pages_dropped),
        ("read_eio", counters.read_eio),
        ("rot_detected", counters.rot_detected),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value))
    .collect()
}

pub(crate) fn clock_counters(
    counters: &SimClockCounters,
) -> std::collections::BTreeMap<String, u64> {
    [
        ("jumps", counters.jumps()),
        ("forward_jumps", counters.forward_jumps),
        ("backward_jumps", counters.backward_jumps),
        (
            "largest_forward_jump_ms",
            counters.largest_forward_jump_ms as u64,
        ),
        (
            "largest_backward_jump_ms",
            counters.largest_backward_jump_ms as u64,
        ),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value))
    .collect()
}

/// The broker's coverage counters for this seed, with the disk's own
/// (dropped directory entries, dropped pages, read errors, bit flips in
/// synced data) where SimDisk counts them, and the clock nemesis' jumps.
pub(crate) fn coverage_counters(stats: &RunStats) -> std::collections::BTreeMap<String, u64> {
    let mut counters: std::collections::BTreeMap<String, u64> = odradek::coverage::snapshot()
        .into_iter()
        .map(|(name, value)| (name.to_string(), value))
        .collect();
    for name in [
        "dir_entries_lost",
        "fsync_eio_pages_dropped",
        "read_eio",
        "synced_bit_flips",
        "write_eio",
        "sync_eio",
        "enospc",
        "rot_detected",
    ] {
        if let Some(value) = stats.disk.get(name) {
            counters.insert(name.to_string(), *value);
        }
    }
    if let Some(jumps) = stats.clock.get("jumps") {
        counters.insert("clock_jumps".to_string(), *jumps);
    }
    counters
}

/// The location of the last panic, noted by [`quiet_panics`]' hook.
static LAST_PANIC_LOCATION: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Replaces the panic hook with one that only notes where a panic happened
/// (a sweep reports panics as violations; backtraces would bury the
/// progress bar). A single seed keeps the default hook, with its backtrace.
pub fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()));
        *LAST_PANIC_LOCATION
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = location;
    }));
}

/// A panic of the simulation as a violation: `liveness` if it was the
/// runtime's time limit (a hung seed), else `panic`, with where it was.
/// Ends a seed's runtime: releases its nodes' tasks (after a panic too: a
/// hung seed hits the time limit with every task parked, so the release
/// gets a limit of its own past it), reports a panic as a violation, and
/// returns the simulated time (the whole `time_limit` after a panic).
pub(crate) fn finish_seed(
    mut runtime: Runtime,
    created: &CreatedNodes,
    simulated: std::thread::Result<u64>,
    recorder: &Recorder,
    time_limit: Duration,
) -> u64 {
    let nodes = std::mem::take(&mut *created.lock().unwrap_or_else(|p| p.into_inner()));
    runtime.set_time_limit(time_limit + RELEASE_TASKS_WAIT * 2);
    let _ = catch_unwind(AssertUnwindSafe(|| runtime.block_on(release_tasks(nodes))));
    match simulated {
        Ok(ms) => ms,
        Err(payload) => {
            recorder.report(panic_violation(payload.as_ref()));
            time_limit.as_millis() as u64
        }
    }
}

pub(crate) fn panic_violation(payload: &(dyn std::any::Any + Send)) -> Violation {
    let mut message = panic_message(payload);
    let location = LAST_PANIC_LOCATION
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    if let Some(location) = location {
        message = format!("{message} (at {location})");
    }
    let kind = if message.contains("time limit") {
        ViolationKind::Liveness
    } else {
        ViolationKind::Panic
    };
    Violation {
        kind,
        at_seq: None,
        partition: None,
        detail: message,
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        message.to_string()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

/// Runs one seed and judges it.
pub fn run_seed(spec: SeedSpec) -> SeedOutcome {
    if spec.cluster_nodes > 0 {
        return crate::cluster::seed_run::run_cluster_seed(spec);
    }
    let wall_started = std::time::Instant::now();
    // Counters of this seed only (seeds run one after another).
    odradek::coverage::reset();
    let mut setup = draw_setup(spec.seed);
    let space = setup.space;
    let partitions = setup.workload.partitions;
    setup.plan.crash_faults.synced_bit_flip_probability = spec.synced_bit_flip_probability;
    if spec.synced_bit_flip_probability > 0.0 {
        // The experiment also rots any synced segment data, more often,
        // while the node runs.
        setup.plan.weights[5] = 2;
        setup.plan.rot_anywhere = true;
    }
    let disk = Arc::new(
        SimDisk::new(spec.seed, setup.plan.crash_faults.clone())
            .with_sync_latency(setup.sync_latency),
    );
    let mut runtime = Runtime::with_seed_and_config(spec.seed, madsim::Config::default());
    runtime.set_time_limit(TIME_LIMIT);
    // The recorder's clock is the runtime's: create it inside. So is the
    // broker node's clock.
    let recorder = runtime.block_on(async { Recorder::new() });
    let clock_plan = ClockFaultPlan::draw(spec.seed, FAULTS_START, FAULTS_END);
    let clock = runtime.block_on(async { Arc::new(SimClock::new(clock_plan.initial_skew_ms)) });
    let created = CreatedNodes::default();
    let simulated = {
        let (disk, clock, recorder) = (disk.clone(), clock.clone(), recorder.clone());
        let created = created.clone();
        catch_unwind(AssertUnwindSafe(|| {
            runtime.block_on(async move {
                simulate(
                    spec,
                    setup,
                    disk,
                    (clock, clock_plan),
                    recorder.clone(),
                    created,
                )
                .await;
                recorder.elapsed_ms()
            })
        }))
    };
    let simulated_ms = finish_seed(runtime, &created, simulated, &recorder, TIME_LIMIT);
    let facts = SeedFacts {
        partitions,
        disk: disk_counters(&disk.counters()),
        clock: clock_counters(&clock.counters()),
        config: space.describe(),
        floors: crate::progress::FLOORS,
    };
    judge(&spec, &recorder, simulated_ms, wall_started, facts)
}

/// What the harness knows of a seed's run besides its history.
pub(crate) struct SeedFacts {
    pub partitions: i32,
    pub disk: std::collections::BTreeMap<String, u64>,
    pub clock: std::collections::BTreeMap<String, u64>,
    pub config: std::collections::BTreeMap<String, String>,
    pub floors: crate::progress::ProgressFloors,
}

/// The checkers' verdict on a finished run, with its figures.
pub(crate) fn judge(
    spec: &SeedSpec,
    recorder: &Recorder,
    simulated_ms: u64,
    wall_started: std::time::Instant,
    facts: SeedFacts,
) -> SeedOutcome {
    let mut recording = recorder.lock();
    // Debugging one seed: ODRADEK_SIM_HISTORY=path writes every event, one
    // per line, in the form the trace hash is taken over.
    if let Ok(path) = std::env::var("ODRADEK_SIM_HISTORY") {
        let lines: String = recording
            .history
            .events()
            .iter()
            .map(|event| format!("{event:?}\n"))
            .collect();
        if let Err(e) = std::fs::write(&path, lines) {
            eprintln!("cannot write the history to {path}: {e}");
        }
    }
    recording.checkers.finish();
    let mut stats: RunStats = recording.stats.clone();
    stats.acked_lost_to_correlated_crashes = recording.checkers.acked_lost_to_correlated_crashes();
    stats.partitions = facts.partitions;
    stats.disk = facts.disk;
    stats.clock = facts.clock;
    // A run that panicked or hung already failed; its counts say nothing.
    if recording
        .checkers
        .violations()
        .iter()
        .all(|v| !matches!(v.kind, ViolationKind::Panic | ViolationKind::Liveness))
    {
        for violation in crate::progress::check(&stats, facts.floors) {
            recording.checkers.report(violation);
        }
    }
    let violations = recording
        .checkers
        .counts()
        .into_iter()
        .map(|(name, count)| (name.to_string(), count))
        .collect::<std::collections::BTreeMap<_, _>>();
    SeedOutcome {
        seed: spec.seed,
        ok: violations.is_empty(),
        bugs: spec.bug_names(),
        cluster_nodes: spec.cluster_nodes,
        violations,
        examples: recording
            .checkers
            .violations()
            .iter()
            .take(EXAMPLES_MAX)
            .cloned()
            .collect(),
        trace_hash: recording.history.trace_hash().to_hex(),
        events: recording.history.next_seq(),
        simulated_ms,
        wall_ms: wall_started.elapsed().as_millis() as u64,
        acked_writes: stats.acked,
        config: facts.config,
        coverage: coverage_counters(&stats),
        stats,
    }
}
