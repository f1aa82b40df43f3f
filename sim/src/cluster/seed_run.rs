//! One cluster seed, end to end: N broker nodes (each its own IP, SimDisk
//! and SimClock; the first K voters, the rest broker-only), the client node with the cluster workload,
//! the nemesis on a node of its own (it asks Metadata who leads), the
//! supervisor on the runtime's node; then the checkers' verdict.
//!
//! Timeline (simulated): the topic is created as soon as the quorum can;
//! faults from `FAULTS_START` to `FAULTS_END`; then the liveness phase
//! (every partition led, a produce to each acknowledged, within
//! `LIVENESS_WITHIN`); producers stop `QUIET` after faults, consumers
//! `DRAIN` later; then the final read (within `FINAL_READ_WITHIN`). The
//! run is bounded by `TIME_LIMIT` (reported as `liveness` past it).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use madsim::runtime::Runtime;
use odradek::io::disk::Disk;
use odradek::io::node_context::NodeContext;
use odradek::io::sim_clock::SimClock;
use odradek::io::sim_disk::{SimDisk, SimDiskFaults, SyncLatency};
use odradek::raft_events::{self, RaftEvent};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::time::sleep;

use crate::clock_nemesis::{self, ClockFaultPlan};
use crate::cluster::applied_entries::AppliedEntries;
use crate::cluster::metadata_log::{MetadataLogChecker, VoterReader, VoterState};
use crate::cluster::nemesis::{self, ClusterNemesisPlan, SimNode};
use crate::cluster::topology::{self, NodeId};
use crate::cluster::workload::{self, ClusterWorkloadConfig};
use crate::cluster::{churn, figure8, filler, leadership, missed_epochs, replica_logs};
use crate::history::{EventKind, NemesisAction};
use crate::outcome::SeedOutcome;
use crate::progress::ProgressFloors;
use crate::recorder::Recorder;
use crate::seed_run::{
    clock_counters, disk_counters, finish_seed, judge, namespace_faults, CreatedNodes, SeedFacts,
    SeedSpec,
};
use crate::workload::WorkloadControl;

const NEMESIS_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);
const SETUP_DEADLINE: Duration = Duration::from_secs(20);
const FAULTS_START: Duration = Duration::from_secs(4);
const FAULTS_END: Duration = Duration::from_secs(25);
/// After faults stop: leaders everywhere and a produce to each partition
/// acknowledged within this (sessions time out in 3 s; elections and
/// ISR changes go through the quorum).
const LIVENESS_WITHIN: Duration = Duration::from_secs(20);
const QUIET: Duration = Duration::from_secs(3);
const DRAIN: Duration = Duration::from_secs(2);
const FINAL_READ_WITHIN: Duration = Duration::from_secs(20);
const TIME_LIMIT: Duration = Duration::from_secs(150);
/// The least a healthy cluster seed does (measured in docs/testing.md,
/// "Cluster simulation"; far below every clean seed of 0..20).
const FLOORS: ProgressFloors = ProgressFloors {
    acked_writes: 50,
    records_read: 100,
};

/// How often the metadata-log checker samples the voters' disks
/// (simulated ms; from the recorder, so no task or timer is added).
const METADATA_SAMPLE_EVERY_MS: u64 = 200;

/// `--correlated-crashes`: the chance that a fault is a power loss of
/// every node (about one in seven faults; most seeds get one or two).
const CORRELATED_CRASH_PROBABILITY: f64 = 0.15;

struct ClusterSetup {
    workload: ClusterWorkloadConfig,
    plan: ClusterNemesisPlan,
    crash_faults: SimDiskFaults,
    sync_latency: SyncLatency,
    /// Each node's clock faults, its initial skew first (ms).
    clock_plans: Vec<ClockFaultPlan>,
    /// `log.flush.offset.checkpoint.interval.ms` of every node.
    checkpoint_interval_ms: u64,
    /// Whether the broker's fault points fire in this seed
    /// (`odradek::buggify`).
    buggify: bool,
}

/// The share of seeds whose brokers' fault points fire.
const BUGGIFY_PROBABILITY: f64 = 0.5;

/// Whether `seed` turns on the fault points: a stream of its own, so the
/// other draws of a seed did not move.
fn draw_buggify(seed: u64) -> bool {
    ChaCha8Rng::seed_from_u64(seed ^ 0x0062_7567_6769_6679).gen_bool(BUGGIFY_PROBABILITY)
}

/// The disk and clock faults added after the first cluster sweeps, from
/// their own stream of the seed (so the earlier draws did not move): the
/// single node's EIO rates, and in most seeds small segments of the
/// checked topic with frequent recovery points, so cold data exists for
/// rot to hit.
struct FaultDraws {
    write_eio_probability: f64,
    sync_eio_probability: f64,
    segment_bytes: Option<u32>,
    checkpoint_interval_ms: u64,
}

fn draw_faults(seed: u64) -> FaultDraws {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x0063_6c66_6175_6c74);
    FaultDraws {
        write_eio_probability: rng.gen_range(0.0..0.05),
        sync_eio_probability: rng.gen_range(0.0..0.05),
        segment_bytes: rng.gen_bool(0.7).then(|| rng.gen_range(4_096..=32_768)),
        checkpoint_interval_ms: rng.gen_range(300..=3_000),
    }
}

fn draw_setup(seed: u64, nodes: usize) -> ClusterSetup {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x0063_6c75_7374);
    let producers = rng.gen_range(1..=3);
    let workload = ClusterWorkloadConfig {
        seed,
        nodes: topology::node_ids(nodes),
        partitions: rng.gen_range(1..=3),
        replication: topology::replication(nodes),
        producers,
        idempotent_producers: if rng.gen_bool(0.7) {
            producers
        } else {
            rng.gen_range(0..producers)
        },
        consumers: rng.gen_range(1..=2),
        batch_values_max: rng.gen_range(1..=4),
        produce_pause_ms: (1, rng.gen_range(5..=30)),
        setup_deadline: SETUP_DEADLINE,
        filler: filler::draw(seed),
        segment_bytes: None,
        fsync_never: false,
    };
    let gap_ms = (200, rng.gen_range(800..=3_000));
    let mut crash_faults = SimDiskFaults {
        crash_writeback_probability: rng.gen_range(0.05..0.2),
        crash_torn_write_probability: rng.gen_range(0.15..0.3),
        crash_bit_flip_probability: rng.gen_range(0.15..0.3),
        crash_zeroed_tail_probability: rng.gen_range(0.05..0.15),
        crash_dir_entry_persist_probability: rng.gen_range(0.2..0.8),
        ..SimDiskFaults::default()
    };
    let sync_latency = SyncLatency {
        min_ms: 1,
        max_ms: rng.gen_range(2..=8),
    };
    let skews_ms: Vec<i64> = (0..nodes).map(|_| rng.gen_range(-5_000..=5_000)).collect();
    // The single node's other disk faults: fsyncgate page drops, holey
    // writebacks, directory entries, read-EIO rates and rot sizes.
    let disk_faults = namespace_faults(seed, &mut crash_faults);
    let more = draw_faults(seed);
    let mut workload = workload;
    workload.segment_bytes = more.segment_bytes;
    let plan = ClusterNemesisPlan {
        seed,
        start: FAULTS_START,
        end: FAULTS_END,
        gap_ms,
        downtime_ms: (0, 3_000),
        window_ms: (500, 5_000),
        node_pause_ms: (50, 2_500),
        weights: [2, 3, 1, 2, 2, 1, 1, 2, 1, 1, 1],
        crash_faults: crash_faults.clone(),
        write_eio_probability: more.write_eio_probability,
        sync_eio_probability: more.sync_eio_probability,
        read_eio_probability: disk_faults.read_eio_probability,
        rot_per_fault: disk_faults.rot_per_fault,
        correlated_crash_probability: 0.0,
        churn_probability: churn::draw(seed),
        missed_epochs_probability: missed_epochs::draw(seed, nodes),
        partitions: workload.partitions,
        figure8_probability: figure8::draw(seed),
        figure8_trap: figure8::Trap::default(),
    };
    // Each node's clock: its own stream of the seed, stepped like the
    // single node's; its initial skew stays the one drawn above.
    let clock_plans = skews_ms
        .iter()
        .enumerate()
        .map(|(index, skew_ms)| {
            let node_seed = seed ^ ((index as u64 + 1) << 40);
            ClockFaultPlan {
                initial_skew_ms: *skew_ms,
                ..ClockFaultPlan::draw(node_seed, FAULTS_START, FAULTS_END)
            }
        })
        .collect();
    ClusterSetup {
        workload,
        plan,
        crash_faults,
        sync_latency,
        clock_plans,
        checkpoint_interval_ms: more.checkpoint_interval_ms,
        buggify: draw_buggify(seed),
    }
}

/// Creates broker node `id` on `disk` and `clock`; returns its madsim id.
fn create_broker(
    (spec, checkpoint_interval_ms, append_entries_max): (&SeedSpec, u64, Option<usize>),
    id: NodeId,
    (disk, clock): (Arc<SimDisk>, Arc<SimClock>),
    recorder: &Recorder,
) -> madsim::task::NodeId {
    let voters = topology::draw_voters(spec.seed, spec.cluster_nodes, spec.cluster_voters);
    let mut config = topology::broker_config(id, spec.cluster_nodes, voters, spec.bugs);
    config.log.flush_offset_checkpoint_interval_ms = checkpoint_interval_ms;
    if let (Some(entries), Some(cluster)) = (append_entries_max, config.cluster.as_mut()) {
        cluster.raft_append_entries_max = entries;
    }
    let recorder = recorder.clone();
    let handle = madsim::runtime::Handle::current();
    handle
        .create_node()
        .name(format!("broker-{id}"))
        .ip(topology::ip(id))
        .init(move || {
            let (config, recorder) = (config.clone(), recorder.clone());
            let disk: Arc<dyn Disk> = disk.clone();
            let node = NodeContext::new(disk, clock.clone());
            async move {
                if let Err(error) = odradek::server::run(config, node, std::future::pending()).await
                {
                    recorder.record(EventKind::Nemesis(NemesisAction::NodeExited {
                        node: id,
                        detail: error.to_string(),
                    }));
                }
            }
        })
        .build()
        .id()
}

/// Everything inside the runtime.
async fn simulate(
    setup: ClusterSetup,
    (nodes, clocks): (BTreeMap<NodeId, Arc<SimNode>>, Vec<Arc<SimClock>>),
    recorder: Recorder,
    created: CreatedNodes,
) {
    let handle = madsim::runtime::Handle::current();
    let client = handle
        .create_node()
        .name("client")
        .ip(IpAddr::V4(topology::CLIENT_IP))
        .build();
    let nemesis_node = handle
        .create_node()
        .name("nemesis")
        .ip(IpAddr::V4(NEMESIS_IP))
        .build();
    created.lock().expect("not poisoned").push(client.id());
    created
        .lock()
        .expect("not poisoned")
        .push(nemesis_node.id());
    let control = Arc::new(WorkloadControl::default());
    let config = setup.workload;
    let workload = {
        let (config, recorder, control) = (config.clone(), recorder.clone(), control.clone());
        client.spawn(async move {
            for task in workload::start(config, recorder, control).await {
                // A task that panicked already failed the run.
                let _ = task.await;
            }
        })
    };
    let stop_supervisor = Arc::new(AtomicBool::new(false));
    let supervisor = tokio::spawn(nemesis::supervise(
        nodes.clone(),
        recorder.clone(),
        stop_supervisor.clone(),
    ));
    // One task per node steps its clock; each ends before the faults do.
    let clock_faults: Vec<_> = setup
        .clock_plans
        .into_iter()
        .zip(clocks)
        .zip(nodes.keys().copied())
        .map(|((plan, clock), id)| {
            let run = clock_nemesis::run(plan, clock, recorder.clone(), Some(id));
            nemesis_node.spawn(run)
        })
        .collect();
    let _ = nemesis_node
        .spawn(nemesis::run(
            setup.plan,
            nodes,
            recorder.clone(),
            control.clone(),
        ))
        .await;
    for task in clock_faults {
        let _ = task.await;
    }
    let probe = {
        let (config, recorder) = (config.clone(), recorder.clone());
        client.spawn(
            async move { workload::liveness_probe(&config, &recorder, LIVENESS_WITHIN).await },
        )
    };
    sleep(QUIET).await;
    control.stop_producing.store(true, Ordering::Relaxed);
    sleep(DRAIN).await;
    control.stop_consuming.store(true, Ordering::Relaxed);
    let _ = probe.await;
    let _ = workload.await;
    let final_read = {
        let recorder = recorder.clone();
        client
            .spawn(async move { workload::final_read(&config, &recorder, FINAL_READ_WITHIN).await })
    };
    let _ = final_read.await;
    stop_supervisor.store(true, Ordering::Relaxed);
    let _ = supervisor.await;
}

/// Stack of the thread a cluster seed runs on (the main thread's size).
const SEED_THREAD_STACK_BYTES: usize = 8 << 20;

/// Runs one cluster seed on a thread of its own and judges it, so nothing
/// thread-local outlives the seed. tokio's unbiased `select!` draws its
/// branch order from a thread-local generator seeded from a process-wide
/// counter (`tokio::loom::std::rand::seed`), so not even a fresh thread
/// made it depend on this seed alone: every `select!` the broker runs is
/// `biased` (docs/testing.md, "In-process determinism").
pub fn run_cluster_seed(spec: SeedSpec) -> SeedOutcome {
    std::thread::Builder::new()
        .name(format!("cluster-seed-{}", spec.seed))
        .stack_size(SEED_THREAD_STACK_BYTES)
        .spawn(move || run_on_this_thread(spec))
        .expect("spawn the seed's thread")
        .join()
        .unwrap_or_else(|payload| std::panic::resume_unwind(payload))
}

fn run_on_this_thread(spec: SeedSpec) -> SeedOutcome {
    let wall_started = std::time::Instant::now();
    odradek::coverage::reset();
    // The nodes run on this thread (madsim), so they journal here.
    odradek::leadership_journal::start_on_this_thread();
    let node_count = spec.cluster_nodes;
    let mut setup = draw_setup(spec.seed, node_count);
    setup.workload.fsync_never = spec.fsync_never;
    if spec.correlated_crashes {
        setup.plan.correlated_crash_probability = CORRELATED_CRASH_PROBABILITY;
    }
    let partitions = setup.workload.partitions;
    let segment_facts = setup
        .workload
        .segment_bytes
        .map_or("default".to_string(), |bytes| bytes.to_string());
    let filler_facts = setup
        .workload
        .filler
        .as_ref()
        .map_or("none".to_string(), |f| {
            format!(
                "{} partitions, segment.bytes {}, retention.bytes {}",
                f.partitions, f.segment_bytes, f.retention_bytes
            )
        });
    let buggify = setup.buggify;
    let missed_epochs_facts = if setup.plan.missed_epochs_probability > 0.0 {
        "on"
    } else {
        "off"
    };
    let churn_facts = if setup.plan.churn_probability > 0.0 {
        "on"
    } else {
        "off"
    };
    let figure8_seed = setup.plan.figure8_probability > 0.0;
    // Every Raft event of the nodes (they run on this thread): the
    // entries they apply are checked, and an armed Figure 8 episode acts.
    let applied = Arc::new(std::sync::Mutex::new(AppliedEntries::default()));
    {
        let (applied, trap) = (applied.clone(), setup.plan.figure8_trap.clone());
        raft_events::listen_on_this_thread(Box::new(move |event| {
            if let RaftEvent::Applied { node, index, term } = *event {
                let mut applied = applied.lock().expect("not poisoned");
                applied.applied(node, index, term);
            }
            trap.on_event(event);
        }));
    }
    let mut runtime = Runtime::with_seed_and_config(spec.seed, madsim::Config::default());
    runtime.set_time_limit(TIME_LIMIT);
    odradek::buggify::enable_on_this_thread(buggify);
    let recorder = runtime.block_on(async { Recorder::new() });
    let created = CreatedNodes::default();
    // Made inside the runtime, like everything a seed uses.
    let disks: Vec<Arc<SimDisk>> = runtime.block_on(async {
        (0..node_count as u64)
            .map(|index| {
                let disk = SimDisk::new(spec.seed ^ (index << 32), setup.crash_faults.clone());
                Arc::new(disk.with_sync_latency(setup.sync_latency))
            })
            .collect()
    });
    // Made inside the runtime; each outlives its node's restarts.
    let clocks: Vec<Arc<SimClock>> = runtime.block_on(async {
        setup
            .clock_plans
            .iter()
            .map(|plan| Arc::new(SimClock::new(plan.initial_skew_ms)))
            .collect()
    });
    // The voters' durable Raft state, sampled while the seed runs.
    let voters = topology::draw_voters(spec.seed, node_count, spec.cluster_voters);
    let metadata_log = Arc::new(std::sync::Mutex::new(MetadataLogChecker::new(voters)));
    let sample_voters = {
        let disks: Vec<Arc<SimDisk>> = disks[..voters].to_vec();
        let mut readers: Vec<VoterReader> = disks.iter().map(|_| VoterReader::default()).collect();
        move |checker: &mut MetadataLogChecker| {
            let sample: BTreeMap<NodeId, &VoterState> = readers
                .iter_mut()
                .zip(&disks)
                .enumerate()
                .filter_map(|(index, (reader, disk))| {
                    Some((index as NodeId + 1, reader.read(disk)?))
                })
                .collect();
            checker.observe(&sample);
        }
    };
    let sample_voters = Arc::new(std::sync::Mutex::new(sample_voters));
    {
        let (checker, sample) = (metadata_log.clone(), sample_voters.clone());
        recorder.sample_every(METADATA_SAMPLE_EVERY_MS, move || {
            let mut checker = checker.lock().expect("not poisoned");
            (sample.lock().expect("not poisoned"))(&mut checker);
        });
    }
    let simulated = {
        let (recorder, created, disks) = (recorder.clone(), created.clone(), disks.clone());
        let clocks = clocks.clone();
        catch_unwind(AssertUnwindSafe(|| {
            runtime.block_on(async move {
                let mut nodes = BTreeMap::new();
                let broker_spec = (
                    &spec,
                    setup.checkpoint_interval_ms,
                    figure8_seed.then_some(figure8::APPEND_ENTRIES_MAX),
                );
                for (index, disk) in disks.into_iter().enumerate() {
                    let id = index as NodeId + 1;
                    let clock = clocks[index].clone();
                    clock_nemesis::record_initial_skew(
                        &setup.clock_plans[index],
                        &recorder,
                        Some(id),
                    );
                    let madsim_id =
                        create_broker(broker_spec, id, (disk.clone(), clock), &recorder);
                    created.lock().expect("not poisoned").push(madsim_id);
                    let node = SimNode {
                        id,
                        madsim_id,
                        disk,
                        held_down: AtomicBool::new(false),
                    };
                    nodes.insert(id, Arc::new(node));
                }
                simulate(setup, (nodes, clocks), recorder.clone(), created).await;
                recorder.elapsed_ms()
            })
        }))
    };
    let simulated_ms = finish_seed(runtime, &created, simulated, &recorder, TIME_LIMIT);
    // Every node is down for good: their logs are read from the disks.
    let replica_disks: Vec<(NodeId, &dyn Disk)> = disks
        .iter()
        .enumerate()
        .map(|(index, disk)| (index as NodeId + 1, disk.as_ref() as &dyn Disk))
        .collect();
    let rotted = crate::cluster::full_isr::rotted_partitions(&recorder, crate::client::TOPIC);
    for violation in replica_logs::check(&replica_disks, crate::client::TOPIC, partitions, &rotted)
    {
        recorder.report(violation);
    }
    raft_events::stop_on_this_thread();
    let applied = std::mem::take(&mut *applied.lock().expect("not poisoned"));
    for violation in applied.into_violations() {
        recorder.report(violation);
    }
    let journal = odradek::leadership_journal::take_on_this_thread().unwrap_or_default();
    for violation in leadership::check(&journal, crate::client::TOPIC) {
        recorder.report(violation);
    }
    let mut checker = metadata_log.lock().expect("not poisoned");
    (sample_voters.lock().expect("not poisoned"))(&mut checker);
    let metadata_samples = checker.samples();
    for violation in std::mem::take(&mut *checker).into_violations() {
        recorder.report(violation);
    }
    drop(checker);
    recorder.note(|stats| stats.metadata_log_samples = metadata_samples);
    let mut disk = BTreeMap::new();
    for node_disk in &disks {
        for (name, value) in disk_counters(&node_disk.counters()) {
            *disk.entry(name).or_insert(0) += value;
        }
    }
    let mut clock = BTreeMap::new();
    for node_clock in &clocks {
        for (name, value) in clock_counters(&node_clock.counters()) {
            let total = clock.entry(name.clone()).or_insert(0);
            *total = if name.starts_with("largest_") {
                (*total).max(value)
            } else {
                *total + value
            };
        }
    }
    let facts = SeedFacts {
        partitions,
        disk,
        clock,
        config: BTreeMap::from([
            ("nodes".to_string(), node_count.to_string()),
            (
                "voters".to_string(),
                topology::draw_voters(spec.seed, node_count, spec.cluster_voters).to_string(),
            ),
            (
                "fsync.policy".to_string(),
                if spec.fsync_never { "never" } else { "always" }.to_string(),
            ),
            ("filler".to_string(), filler_facts),
            ("segment.bytes".to_string(), segment_facts),
            ("churn".to_string(), churn_facts.to_string()),
            ("missed_epochs".to_string(), missed_epochs_facts.to_string()),
            (
                "figure8".to_string(),
                if figure8_seed { "on" } else { "off" }.to_string(),
            ),
            (
                "buggify".to_string(),
                if buggify { "on" } else { "off" }.to_string(),
            ),
        ]),
        floors: FLOORS,
    };
    judge(&spec, &recorder, simulated_ms, wall_started, facts)
}
