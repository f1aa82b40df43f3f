//! The cluster workload: create the replicated topic, then producers and
//! consumers routed by Metadata (`producers`, `consumers`), and after the
//! faults the liveness phase and the final read.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::{sleep, Instant};

use crate::checker::{Violation, ViolationKind};
use crate::client::{self, TOPIC};
use crate::cluster::consumers;
use crate::cluster::filler::{self, FillerConfig, FILLER_TOPIC};
use crate::cluster::full_isr::{await_full_isr, rotted_partitions};
use crate::cluster::offsets_probe;
use crate::cluster::producers;
use crate::cluster::router::Router;
use crate::cluster::topology::NodeId;
use crate::history::{ClientId, EventKind, Partition};
use crate::recorder::Recorder;
use crate::workload::{with_timeout, WorkloadControl, BACKOFF};

/// Client id of the liveness phase's probe producer.
const PROBE_CLIENT: ClientId = 900;

#[derive(Debug, Clone)]
pub struct ClusterWorkloadConfig {
    pub seed: u64,
    pub nodes: Vec<NodeId>,
    pub partitions: i32,
    /// (replication factor, min.insync.replicas).
    pub replication: (i16, i16),
    pub producers: u32,
    /// The first this many producers are idempotent.
    pub idempotent_producers: u32,
    pub consumers: u32,
    pub batch_values_max: usize,
    pub produce_pause_ms: (u64, u64),
    /// How long creating the topic may take (the quorum elects first).
    pub setup_deadline: Duration,
    /// The retention filler's topic, in some seeds (`filler`).
    pub filler: Option<FillerConfig>,
    /// The checked topic's `segment.bytes`, in some seeds: small segments
    /// roll, so sealed segments lie below the recovery point (cold data the
    /// nemesis may rot). `None`: the broker's default (no rolls).
    pub segment_bytes: Option<u32>,
    /// `--fsync-never`: the checked topic's `fsync.policy` is `never`
    /// instead of `always` (the filler keeps its own).
    pub fsync_never: bool,
}

impl ClusterWorkloadConfig {
    /// The checked topic's `fsync.policy`.
    pub fn fsync_policy(&self) -> &'static str {
        if self.fsync_never {
            "never"
        } else {
            "always"
        }
    }
}

/// Creates the topic through any node, until it exists or the deadline.
async fn create_topic(config: &ClusterWorkloadConfig, router: &mut Router) -> bool {
    let (factor, min_insync) = config.replication;
    let min_insync = min_insync.to_string();
    let segment_bytes = config.segment_bytes.map(|bytes| bytes.to_string());
    let mut topic_configs = vec![
        // `always`: every acknowledgement is synced on every ISR member, the
        // promise `lost-write` holds the cluster to. `never`: in memory on
        // every ISR member, promised unless all replicas lose power.
        ("fsync.policy", config.fsync_policy()),
        ("min.insync.replicas", min_insync.as_str()),
        ("retention.ms", "-1"),
    ];
    if let Some(bytes) = &segment_bytes {
        topic_configs.push(("segment.bytes", bytes.as_str()));
    }
    let deadline = Instant::now() + config.setup_deadline;
    let mut attempt = 0usize;
    while Instant::now() < deadline {
        let node = config.nodes[attempt % config.nodes.len()];
        attempt += 1;
        let session = router.session(node);
        let sizes = (config.partitions, factor);
        let created = with_timeout!(session, |connection, versions| {
            client::create_replicated_topic(connection, versions, TOPIC, sizes, &topic_configs)
        });
        if created.is_ok() {
            return true;
        }
        sleep(BACKOFF).await;
    }
    false
}

/// Waits until some node's metadata names a leader for every partition.
async fn await_leaders(router: &mut Router, partitions: i32, deadline: Instant) -> bool {
    while Instant::now() < deadline {
        if router.refresh().await.is_ok() && all_led(router, partitions) {
            return true;
        }
        sleep(BACKOFF).await;
    }
    false
}

fn all_led(router: &Router, partitions: i32) -> bool {
    (0..partitions).all(|p| {
        router
            .view()
            .partitions
            .get(&p)
            .is_some_and(|v| v.leader >= 0)
    })
}

fn liveness(detail: String) -> Violation {
    Violation {
        kind: ViolationKind::Liveness,
        at_seq: None,
        partition: None,
        detail,
    }
}

/// Starts the producers and consumers once the topic exists; returns
/// their tasks (they end when `control` says so).
pub async fn start(
    config: ClusterWorkloadConfig,
    recorder: Recorder,
    control: Arc<WorkloadControl>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let config = Arc::new(config);
    let mut router = Router::new("setup".into(), &config.nodes, 0);
    let deadline = Instant::now() + config.setup_deadline;
    let ready = create_topic(&config, &mut router).await
        && await_leaders(&mut router, config.partitions, deadline).await;
    control.setup_done.store(true, Ordering::Relaxed);
    if !ready {
        recorder.report(liveness(format!(
            "the topic did not get a leader for every partition within {:?}",
            config.setup_deadline
        )));
        return Vec::new();
    }
    for partition in 0..config.partitions {
        if config.fsync_never {
            // The replicas the metadata names (every partition has a
            // leader, so the view holds it); all nodes if it does not.
            let replicas = router
                .view()
                .partitions
                .get(&partition)
                .map(|p| p.replicas.clone())
                .filter(|replicas| !replicas.is_empty())
                .unwrap_or_else(|| config.nodes.clone());
            recorder.record(EventKind::ReplicatedPartitionPolicy {
                partition,
                fsync_policy: config.fsync_policy().to_string(),
                replicas,
                min_insync_replicas: config.replication.1,
            });
        } else {
            recorder.record(EventKind::PartitionPolicy {
                partition,
                fsync_policy: "always".to_string(),
            });
        }
    }
    let next_value = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for index in 0..config.producers {
        let client = 100 + index;
        let args = (config.clone(), recorder.clone(), control.clone());
        tasks.push(if index < config.idempotent_producers {
            let (config, recorder, control) = args;
            tokio::spawn(producers::idempotent_loop(
                client,
                config,
                recorder,
                control,
                next_value.clone(),
            ))
        } else {
            let (config, recorder, control) = args;
            tokio::spawn(producers::plain_loop(
                client,
                config,
                recorder,
                control,
                next_value.clone(),
            ))
        });
    }
    if let Some(filler) = config.filler.clone() {
        tasks.push(tokio::spawn(filler::fill(
            filler,
            config.nodes.clone(),
            config.replication.0,
            control.clone(),
            config.seed,
        )));
    }
    tasks.push(tokio::spawn(offsets_probe::probe_loop(
        config.clone(),
        recorder.clone(),
        control.clone(),
    )));
    for index in 0..config.consumers {
        tasks.push(tokio::spawn(consumers::consume_loop(
            1 + index,
            config.clone(),
            recorder.clone(),
            control.clone(),
        )));
    }
    tasks
}

/// The liveness phase, once faults have stopped: within `within`, every
/// partition has a leader and a probe produce to each is acknowledged (the
/// probes are recorded like any send, so the final read must find them),
/// and every partition of every topic has all its replicas in its ISR.
pub async fn liveness_probe(config: &ClusterWorkloadConfig, recorder: &Recorder, within: Duration) {
    let deadline = Instant::now() + within;
    let mut router = Router::new("liveness-probe".into(), &config.nodes, 1);
    if !await_leaders(&mut router, config.partitions, deadline).await {
        recorder.report(liveness(format!(
            "{within:?} after faults stopped, some partition still had no leader"
        )));
        return;
    }
    for partition in 0..config.partitions {
        let value = format!("probe-{partition}");
        if !probe(&mut router, recorder, partition, &value, deadline).await {
            recorder.report(liveness(format!(
                "{within:?} after faults stopped, no produce to partition {partition} had succeeded"
            )));
        }
    }
    let topics = std::iter::once(TOPIC).chain(config.filler.as_ref().map(|_| FILLER_TOPIC));
    for topic in topics {
        let excused = rotted_partitions(recorder, topic);
        if let Err(missing) = await_full_isr(&mut router, (topic, &excused), deadline).await {
            recorder.report(liveness(format!(
                "{within:?} after faults stopped, topic {topic:?} had no full ISR: {missing}"
            )));
        }
    }
}

/// Sends `value` to `partition` until acknowledged or the deadline; each
/// attempt a fresh value (`value`.N) so a plain resend stores no duplicate.
async fn probe(
    router: &mut Router,
    recorder: &Recorder,
    partition: Partition,
    value: &str,
    deadline: Instant,
) -> bool {
    let mut attempt = 0u32;
    while Instant::now() < deadline {
        attempt += 1;
        let values = vec![format!("{value}.{attempt}")];
        recorder.record(EventKind::SendInvoked {
            client: PROBE_CLIENT,
            partition,
            value: values[0].clone(),
        });
        let timestamp_ms = recorder.elapsed_ms() as i64;
        let result = producers::send_plain(router, partition, &values, timestamp_ms).await;
        let acked = result.is_ok();
        recorder.record(match result {
            Ok(offset) => EventKind::SendAcked {
                client: PROBE_CLIENT,
                partition,
                value: values[0].clone(),
                offset,
            },
            Err(error) => EventKind::SendFailed {
                client: PROBE_CLIENT,
                partition,
                value: values[0].clone(),
                error,
            },
        });
        if acked {
            return true;
        }
        sleep(BACKOFF).await;
    }
    false
}

/// The final read, bounded by `within`; a partition it cannot finish is a
/// liveness violation (the acknowledged records were not all readable).
pub async fn final_read(config: &ClusterWorkloadConfig, recorder: &Recorder, within: Duration) {
    let deadline = Instant::now() + within;
    let unfinished = consumers::final_read(config, recorder, deadline).await;
    if !unfinished.is_empty() {
        recorder.report(liveness(format!(
            "the final read of partitions {unfinished:?} did not reach every acknowledged offset within {within:?}"
        )));
    }
}
