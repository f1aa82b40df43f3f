//! The retention filler: in some seeds, a second topic with tiny segments
//! and a small `retention.bytes`, written fast by one producer, so that
//! retention deletes segments a follower still needs while it is down (the
//! checked topic keeps `retention.ms=-1`: its checkers assume nothing is
//! deleted). Nothing it sends is recorded: the history checkers never see
//! this topic; the full-ISR liveness check (`full_isr`) does. Issue 12: a
//! follower whose log end fell below the leader's log start never rejoined.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::time::{sleep, Instant};

use crate::client::{self, ACKS_LEADER};
use crate::cluster::router::{leader_moved, Router};
use crate::cluster::topology::NodeId;
use crate::workload::{with_timeout, WorkloadControl, BACKOFF, REQUEST_TIMEOUT};

pub const FILLER_TOPIC: &str = "fill";
/// The share of seeds that run the filler.
const FILLER_PROBABILITY: f64 = 0.6;
/// Bytes of one filler value (a batch holds a few).
const VALUE_BYTES: usize = 100;

#[derive(Debug, Clone)]
pub struct FillerConfig {
    pub partitions: i32,
    pub segment_bytes: u32,
    pub retention_bytes: u32,
    pub values_per_batch: usize,
    pub pause_ms: (u64, u64),
    /// -1 (all) or 1 (the leader): with acks=1 the leader's log runs ahead
    /// of a follower cut off but still in the ISR, past what retention keeps.
    pub acks: i16,
}

/// The filler of `seed`, if it runs one: drawn from a stream of its own, so
/// the draws of seeds' other settings stay what they were before it existed.
pub fn draw(seed: u64) -> Option<FillerConfig> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6669_6c6c_6572);
    if !rng.gen_bool(FILLER_PROBABILITY) {
        return None;
    }
    let segment_bytes = rng.gen_range(1_024..=4_096);
    Some(FillerConfig {
        partitions: rng.gen_range(1..=2),
        segment_bytes,
        // Two to four segments: a follower down for a second falls behind
        // the leader's log start.
        retention_bytes: segment_bytes * rng.gen_range(2..=4),
        values_per_batch: rng.gen_range(2..=6),
        pause_ms: (1, rng.gen_range(5..=20)),
        acks: if rng.gen_bool(0.5) { ACKS_LEADER } else { -1 },
    })
}

/// Creates the filler topic (RF as the checked topic, `min.insync.replicas`
/// 1 so the leader keeps writing while followers are down), then writes to
/// its partitions in turn until producers stop.
pub async fn fill(
    config: FillerConfig,
    nodes: Vec<NodeId>,
    replication_factor: i16,
    control: Arc<WorkloadControl>,
    seed: u64,
) {
    let segment_bytes = config.segment_bytes.to_string();
    let retention_bytes = config.retention_bytes.to_string();
    let topic_configs = [
        ("fsync.policy", "always"),
        ("min.insync.replicas", "1"),
        ("segment.bytes", segment_bytes.as_str()),
        ("retention.bytes", retention_bytes.as_str()),
        // By size only: the timestamps are the run's elapsed time.
        ("retention.ms", "-1"),
    ];
    let mut router = Router::for_topic(FILLER_TOPIC, "filler".into(), &nodes, 0);
    let sizes = (config.partitions, replication_factor);
    let mut attempt = 0usize;
    loop {
        if control.stop_producing.load(Ordering::Relaxed) {
            return;
        }
        let node = nodes[attempt % nodes.len()];
        attempt += 1;
        let session = router.session(node);
        let created = with_timeout!(session, |connection, versions| {
            client::create_replicated_topic(
                connection,
                versions,
                FILLER_TOPIC,
                sizes,
                &topic_configs,
            )
        });
        if created.is_ok() {
            break;
        }
        sleep(BACKOFF).await;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x0066_696c_6c73);
    let value = "x".repeat(VALUE_BYTES);
    let values = vec![value; config.values_per_batch];
    let started = Instant::now();
    let mut partition = 0;
    while !control.stop_producing.load(Ordering::Relaxed) {
        partition = (partition + 1) % config.partitions;
        let timestamp_ms = started.elapsed().as_millis() as i64;
        if !send(&mut router, (partition, config.acks), &values, timestamp_ms).await {
            sleep(BACKOFF).await;
        }
        sleep(Duration::from_millis(
            rng.gen_range(config.pause_ms.0..=config.pause_ms.1),
        ))
        .await;
    }
}

/// One produce to `partition`'s leader with `acks`; whether it was
/// acknowledged.
async fn send(
    router: &mut Router,
    (partition, acks): (i32, i16),
    values: &[String],
    timestamp_ms: i64,
) -> bool {
    let Ok(leader) = router.leader(partition).await else {
        return false;
    };
    let Ok(batch) = client::encode_batch(values, timestamp_ms) else {
        return false;
    };
    let session = router.session(leader);
    let result = with_timeout!(session, |connection, versions| {
        client::produce_batch_acked_by(
            connection,
            versions,
            FILLER_TOPIC,
            partition,
            batch.clone(),
            REQUEST_TIMEOUT.as_millis() as i32,
            acks,
        )
    });
    match result {
        Ok(_) => true,
        Err(error) => {
            if leader_moved(&error) {
                router.forget(partition);
            }
            false
        }
    }
}
