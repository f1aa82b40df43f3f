//! The cluster workload's producers, routing each batch to its partition's
//! leader. acks=all on a topic with `min.insync.replicas` = 2 (RF 3) and
//! fsync.policy=always: an acknowledged record must survive any one node's
//! crash and any partition of the network.
//!
//! A plain producer sends a batch once: a request that reached a broker may
//! have been appended whatever the answer, so resending it could store it
//! twice (the `duplicate` checker would blame the broker). Only a failed
//! connect (nothing sent) moves it to another leader for the same batch.
//! An idempotent producer resends the very same batch to whichever broker
//! leads now, until acknowledged or out of attempts, like a real client.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::time::{sleep, Instant};

use crate::client::{self, AfterFailure, BatchIdentity, IdempotentProducer, TOPIC};
use crate::cluster::router::{leader_moved, Router};
use crate::cluster::workload::ClusterWorkloadConfig;
use crate::history::{ClientId, EventKind, Partition};
use crate::recorder::Recorder;
use crate::workload::{task_rng, with_timeout, WorkloadControl, BACKOFF, REQUEST_TIMEOUT};

/// Leaders a plain batch is offered to when connecting fails (nothing sent).
const CONNECT_ATTEMPTS_MAX: u32 = 4;
/// An idempotent batch is sent at most this many times, and not after
/// `DELIVERY_TIMEOUT` (Kafka's `delivery.timeout.ms`, scaled to the run:
/// long enough to outlast a failover of a few seconds).
const ATTEMPTS_MAX: u32 = 60;
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// Fresh unique values for one batch, each recorded as invoked.
fn next_values(
    client: ClientId,
    partition: Partition,
    count: usize,
    next_value: &AtomicU64,
    recorder: &Recorder,
) -> Vec<String> {
    let values: Vec<String> = (0..count)
        .map(|_| format!("v-{}", next_value.fetch_add(1, Ordering::Relaxed)))
        .collect();
    for value in &values {
        recorder.record(EventKind::SendInvoked {
            client,
            partition,
            value: value.clone(),
        });
    }
    values
}

/// Records each value's outcome: acknowledged at base + i, or failed.
fn record_outcome(
    client: ClientId,
    partition: Partition,
    values: Vec<String>,
    result: &Result<i64, String>,
    recorder: &Recorder,
) {
    for (index, value) in values.into_iter().enumerate() {
        recorder.record(match result {
            Ok(base_offset) => EventKind::SendAcked {
                client,
                partition,
                value,
                offset: base_offset + index as i64,
            },
            Err(error) => EventKind::SendFailed {
                client,
                partition,
                value,
                error: error.clone(),
            },
        });
    }
}

/// Sends one plain batch to the partition's leader, once.
pub async fn send_plain(
    router: &mut Router,
    partition: Partition,
    values: &[String],
    timestamp_ms: i64,
) -> Result<i64, String> {
    let mut last = String::from("no attempt");
    for _ in 0..CONNECT_ATTEMPTS_MAX {
        let leader = match router.leader(partition).await {
            Ok(leader) => leader,
            Err(error) => {
                last = error.to_string();
                sleep(BACKOFF).await;
                continue;
            }
        };
        let connected = {
            let session = router.session(leader);
            let connected = session.get().await.map(|_| ());
            if let Err(error) = &connected {
                session.after_error(error);
            }
            connected
        };
        if let Err(error) = connected {
            last = format!("node {leader}: {error}");
            router.forget(partition);
            sleep(BACKOFF).await;
            continue;
        }
        let session = router.session(leader);
        let result = with_timeout!(session, |connection, versions| client::produce(
            connection,
            versions,
            TOPIC,
            partition,
            values,
            timestamp_ms,
            REQUEST_TIMEOUT.as_millis() as i32,
        ));
        if let Err(error) = &result {
            if leader_moved(error) {
                router.forget(partition);
            }
        }
        return result.map_err(|e| format!("node {leader}: {e}"));
    }
    Err(last)
}

pub async fn plain_loop(
    client: ClientId,
    config: Arc<ClusterWorkloadConfig>,
    recorder: Recorder,
    control: Arc<WorkloadControl>,
    next_value: Arc<AtomicU64>,
) {
    let mut rng = task_rng(config.seed, client);
    let mut router = Router::new(format!("producer-{client}"), &config.nodes, client as usize);
    while !control.stop_producing.load(Ordering::Relaxed) {
        let (low, high) = config.produce_pause_ms;
        sleep(Duration::from_millis(rng.gen_range(low..=high))).await;
        let partition: Partition = rng.gen_range(0..config.partitions);
        let count = rng.gen_range(1..=config.batch_values_max);
        let values = next_values(client, partition, count, &next_value, &recorder);
        let timestamp_ms = recorder.elapsed_ms() as i64;
        let result = send_plain(&mut router, partition, &values, timestamp_ms).await;
        let failed = result.is_err();
        record_outcome(client, partition, values, &result, &recorder);
        if failed {
            sleep(BACKOFF).await;
        }
    }
}

/// InitProducerId from any node (it is forwarded to the controller).
async fn init_producer(
    router: &mut Router,
    rng: &mut impl Rng,
) -> Option<client::ProducerIdentity> {
    let nodes = router.nodes().to_vec();
    let node = nodes[rng.gen_range(0..nodes.len())];
    let session = router.session(node);
    with_timeout!(session, |connection, versions| client::init_producer_id(
        connection, versions
    ))
    .ok()
}

pub async fn idempotent_loop(
    client: ClientId,
    config: Arc<ClusterWorkloadConfig>,
    recorder: Recorder,
    control: Arc<WorkloadControl>,
    next_value: Arc<AtomicU64>,
) {
    let mut rng = task_rng(config.seed, client);
    let name = format!("idempotent-producer-{client}");
    let mut router = Router::new(name, &config.nodes, client as usize);
    let mut producer = IdempotentProducer::default();
    let mut init_reason = "start".to_string();
    while !control.stop_producing.load(Ordering::Relaxed) {
        let (low, high) = config.produce_pause_ms;
        sleep(Duration::from_millis(rng.gen_range(low..=high))).await;
        if producer.identity().is_none() {
            let Some(identity) = init_producer(&mut router, &mut rng).await else {
                sleep(BACKOFF).await;
                continue;
            };
            producer.initialised(identity);
            recorder.record(EventKind::ProducerInit {
                client,
                producer_id: identity.producer_id,
                producer_epoch: identity.producer_epoch,
                reason: std::mem::take(&mut init_reason),
            });
        }
        let partition: Partition = rng.gen_range(0..config.partitions);
        let count = rng.gen_range(1..=config.batch_values_max);
        let values = next_values(client, partition, count, &next_value, &recorder);
        let identity = producer.next_batch(partition).expect("initialised above");
        let timestamp_ms = recorder.elapsed_ms() as i64;
        let result = match client::encode_batch_as(&values, timestamp_ms, Some(identity)) {
            Ok(batch) => {
                let target = (client, partition, identity);
                deliver(&mut router, &recorder, target, &values, batch).await
            }
            Err(error) => Err(format!("encoding failed: {error}")),
        };
        match &result {
            Ok(_) => producer.acknowledged(partition, values.len()),
            Err(reason) => {
                producer.reset();
                init_reason = reason.clone();
            }
        }
        let failed = result.is_err();
        record_outcome(client, partition, values, &result, &recorder);
        if failed {
            sleep(BACKOFF).await;
        }
    }
}

/// Sends one idempotent batch to whichever node leads, until acknowledged
/// (its base offset) or abandoned (why).
async fn deliver(
    router: &mut Router,
    recorder: &Recorder,
    (client, partition, identity): (ClientId, Partition, BatchIdentity),
    values: &[String],
    batch: bytes::Bytes,
) -> Result<i64, String> {
    let started = Instant::now();
    let mut attempt = 1;
    loop {
        let result = match router.leader(partition).await {
            Ok(leader) => {
                let session = router.session(leader);
                with_timeout!(session, |connection, versions| client::produce_batch(
                    connection,
                    versions,
                    TOPIC,
                    partition,
                    batch.clone(),
                    REQUEST_TIMEOUT.as_millis() as i32,
                ))
            }
            Err(error) => Err(error),
        };
        let error = match result {
            Ok(base_offset) => return Ok(base_offset),
            Err(error) => error,
        };
        if leader_moved(&error) {
            router.forget(partition);
        }
        match client::after_failure(&error) {
            AfterFailure::Reinit => return Err(error.to_string()),
            AfterFailure::Resend
                if attempt >= ATTEMPTS_MAX || started.elapsed() >= DELIVERY_TIMEOUT =>
            {
                return Err(format!("gave up after {attempt} attempts: {error}"));
            }
            AfterFailure::Resend => {}
        }
        sleep(BACKOFF).await;
        attempt += 1;
        recorder.record(EventKind::SendRetried {
            client,
            partition,
            producer_id: identity.producer_id,
            producer_epoch: identity.producer_epoch,
            base_sequence: identity.base_sequence,
            values: values.to_vec(),
            attempt,
            error: error.to_string(),
        });
    }
}
