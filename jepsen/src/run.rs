//! One harness run: build the broker, start the cluster on its own test
//! network, run the workload with the nemesis for the time limit, undo every
//! fault, let the cluster recover, read everything back, check the history
//! and write the results folder:
//!
//! ```text
//! <results>/<run>/history.jsonl   every operation, as it happened
//! <results>/<run>/verdict.json    the checker's verdict (+ the run's figures)
//! <results>/<run>/plots.html      latency, throughput, unseen, lag; faults shaded
//! <results>/<run>/node-N/         each node's data directory and log
//! ```

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use serde_json::json;

use crate::checker;
use crate::history::{OpFn, OpType};
use crate::nemesis::{Fault, Nemesis};
use crate::net_cluster::{ClusterSettings, NetCluster};
use crate::plot;
use crate::recorder::Recorder;
use crate::workload::Queue;

/// How long the cluster may take to form (every broker registered).
const FORMATION_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the cluster may take, once every fault is undone, until every
/// partition has a leader again.
const RECOVERY_TIMEOUT: Duration = Duration::from_secs(60);
/// The process id of the final read.
const FINAL_READER_PROCESS: u32 = 999_999;

/// Set by SIGINT / SIGTERM: the run stops early and still cleans up.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// What to run.
#[derive(Clone, Debug)]
pub struct TestOptions {
    pub nodes: usize,
    pub time_limit: Duration,
    pub faults: Vec<Fault>,
    pub bugs: Vec<String>,
    pub seed: u64,
    pub results_root: PathBuf,
    pub partitions: i32,
    pub producers: u32,
    pub consumers: u32,
    pub send_interval: Duration,
    /// Quiet spell between fault windows, and a window's length.
    pub quiet: Duration,
    pub window: Duration,
}

/// What a run found.
pub struct Report {
    pub valid: bool,
    /// The verdict as printed and written.
    pub json: serde_json::Value,
    pub results: PathBuf,
}

pub fn run(options: &TestOptions) -> Result<Report, String> {
    install_signal_handlers();
    let binary = crate::binary::release_binary();
    // Every node of this run starts this build (not an older debug one).
    std::env::set_var(crate::binary::BINARY_ENV, &binary);
    let name = format!(
        "{}-seed{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        options.seed
    );
    let results = options.results_root.join(name);
    std::fs::create_dir_all(&results).map_err(|e| format!("{}: {e}", results.display()))?;
    let recorder = Recorder::create(&results.join("history.jsonl"))
        .map_err(|e| format!("history file: {e}"))?;
    let cluster = NetCluster::start(&ClusterSettings {
        nodes: options.nodes,
        home: &results,
        bugs: &options.bugs,
        fake_clock: options.faults.contains(&Fault::Clock),
    })
    .map_err(|e| format!("starting the cluster: {e}"))?;
    let queue = Queue {
        bootstrap: cluster.bootstrap(),
        topic: "jepsen-queue".into(),
        partitions: options.partitions,
        producers: options.producers,
        consumers: options.consumers,
        send_interval: options.send_interval,
    };
    let cluster = Mutex::new(cluster);
    let outcome = drive(options, &queue, &cluster, &recorder);
    let mut problems = match outcome {
        Ok(problems) => problems,
        Err(error) => {
            return Err(format!(
                "{error} (node logs: {}/node-N/broker.log)",
                results.display()
            ));
        }
    };
    let ops = recorder
        .finish()
        .map_err(|e| format!("history file: {e}"))?;
    // Processes go before their namespaces.
    drop(cluster);
    let verdict = checker::check(&ops).map_err(|e| e.to_string())?;
    if INTERRUPTED.load(Ordering::Relaxed) {
        problems.push("interrupted".into());
    }
    let valid = verdict.valid && problems.is_empty();
    let sends = count(&ops, OpFn::Send, None);
    let json = json!({
        "valid": valid,
        "checker_valid": verdict.valid,
        "anomalies": verdict.anomalies,
        "counts": verdict.counts,
        "readers": verdict.readers,
        "problems": problems,
        "stats": {
            "nodes": options.nodes,
            "seed": options.seed,
            "time_limit_s": options.time_limit.as_secs(),
            "nemesis": options.faults.iter().map(|f| f.name()).collect::<Vec<_>>(),
            "bugs": options.bugs,
            "sends_invoked": sends,
            "sends_acked": count(&ops, OpFn::Send, Some(OpType::Ok)),
            "sends_failed": count(&ops, OpFn::Send, Some(OpType::Fail)),
            "sends_unknown": count(&ops, OpFn::Send, Some(OpType::Info)),
            "polls": count(&ops, OpFn::Poll, Some(OpType::Ok)),
            "records_read": ops.iter().filter(|op| op.f == OpFn::Poll && !op.final_read)
                .flat_map(|op| op.reads.iter().flatten()).map(|(_, r)| r.len()).sum::<usize>(),
            "faults": plot::fault_windows(&ops).len(),
        },
        "results": results.display().to_string(),
    });
    let pretty = serde_json::to_string_pretty(&json).unwrap_or_default();
    let written = std::fs::write(results.join("verdict.json"), &pretty).and_then(|()| {
        std::fs::write(
            results.join("plots.html"),
            plot::html(
                &ops,
                &format!("odradek jepsen run, seed {}", options.seed),
                &pretty,
            ),
        )
    });
    written.map_err(|e| format!("writing results: {e}"))?;
    Ok(Report {
        valid,
        json,
        results,
    })
}

/// The run proper; returns the problems that are not anomalies of the
/// history (a node that died on its own, an incomplete final read).
fn drive(
    options: &TestOptions,
    queue: &Queue,
    cluster: &Mutex<NetCluster>,
    recorder: &Recorder,
) -> Result<Vec<String>, String> {
    wait_for(FORMATION_TIMEOUT, "every broker registered", || {
        live_brokers(&queue.bootstrap) == options.nodes
    })?;
    create_topic(queue, options.nodes)?;
    wait_for(FORMATION_TIMEOUT, "every partition has a leader", || {
        leaders(&queue.bootstrap, &queue.topic).is_some_and(|l| l.iter().all(|&id| id > 0))
    })?;
    let stop = AtomicBool::new(false);
    let nemesis = Nemesis {
        faults: options.faults.clone(),
        cluster,
        recorder,
        bootstrap: queue.bootstrap.clone(),
        topic: queue.topic.clone(),
        quiet: options.quiet,
        window: options.window,
    };
    std::thread::scope(|scope| {
        scope.spawn(|| queue.run(recorder, &stop, options.seed));
        scope.spawn(|| nemesis.run(&stop, options.seed));
        let deadline = Instant::now() + options.time_limit;
        while Instant::now() < deadline && !INTERRUPTED.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
        }
        stop.store(true, Ordering::Relaxed);
    });
    let mut problems = Vec::new();
    {
        // The nemesis undid its faults as it stopped; a node that is not
        // running now died on its own.
        let mut cluster = lock(cluster);
        cluster.network.heal().map_err(|e| e.to_string())?;
        for id in 1..=options.nodes as u32 {
            let _ = cluster.pause(id, false);
            if !cluster.is_running(id) {
                problems.push(format!(
                    "node {id} exited on its own (see node-{id}/broker.log)"
                ));
                cluster
                    .start_node(id)
                    .map_err(|e| format!("restarting node {id}: {e}"))?;
            }
        }
    }
    if INTERRUPTED.load(Ordering::Relaxed) {
        return Ok(problems);
    }
    let recovered = wait_for(RECOVERY_TIMEOUT, "every partition led again", || {
        leaders(&queue.bootstrap, &queue.topic).is_some_and(|l| l.iter().all(|&id| id > 0))
    });
    if let Err(error) = recovered {
        problems.push(error);
    }
    if let Err(error) = queue.final_read(recorder, FINAL_READER_PROCESS) {
        problems.push(error);
    }
    Ok(problems)
}

fn create_topic(queue: &Queue, nodes: usize) -> Result<(), String> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &queue.bootstrap)
        .create()
        .map_err(|e| e.to_string())?;
    let replication = nodes.min(3) as i32;
    let min_isr = if replication >= 3 { "2" } else { "1" };
    let topic = NewTopic::new(
        &queue.topic,
        queue.partitions,
        TopicReplication::Fixed(replication),
    )
    .set("min.insync.replicas", min_isr)
    .set("fsync.policy", "always");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + FORMATION_TIMEOUT;
    loop {
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        let result = runtime.block_on(admin.create_topics([&topic], &options));
        let error = match result {
            Ok(results) => match results.into_iter().next() {
                Some(Ok(_)) | None => return Ok(()),
                Some(Err((_, code))) => format!("{code:?}"),
            },
            Err(error) => error.to_string(),
        };
        if error.contains("TopicAlreadyExists") {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("creating {}: {error}", queue.topic));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn metadata_client(bootstrap: &str) -> Option<BaseConsumer> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("log_level", "0")
        .create()
        .ok()
}

fn live_brokers(bootstrap: &str) -> usize {
    metadata_client(bootstrap)
        .and_then(|c| c.fetch_metadata(None, Duration::from_secs(3)).ok())
        .map_or(0, |m| m.brokers().len())
}

/// Each partition's leader (-1 for none).
fn leaders(bootstrap: &str, topic: &str) -> Option<Vec<i32>> {
    let metadata = metadata_client(bootstrap)?
        .fetch_metadata(Some(topic), Duration::from_secs(3))
        .ok()?;
    let topic = metadata.topics().iter().find(|t| t.name() == topic)?;
    if topic.partitions().is_empty() {
        return None;
    }
    Some(topic.partitions().iter().map(|p| p.leader()).collect())
}

fn wait_for(timeout: Duration, what: &str, mut done: impl FnMut() -> bool) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline && !INTERRUPTED.load(Ordering::Relaxed) {
        if done() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    Err(format!("not within {timeout:?}: {what}"))
}

fn count(ops: &[crate::history::Op], f: OpFn, kind: Option<OpType>) -> usize {
    ops.iter()
        .filter(|op| op.f == f)
        .filter(|op| match kind {
            Some(kind) => op.kind == kind,
            None => op.kind == OpType::Invoke,
        })
        .count()
}

fn lock(cluster: &Mutex<NetCluster>) -> std::sync::MutexGuard<'_, NetCluster> {
    cluster.lock().unwrap_or_else(|p| p.into_inner())
}

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::Relaxed);
}

/// Ctrl-C and SIGTERM end the run early instead of killing the harness, so
/// it still stops the nodes and deletes its namespaces.
fn install_signal_handlers() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
}
