//! The client workload, run on the client node: create the topic (with
//! the broker's default fsync.policy, drawn from the seed), then producers send unique values with acks=all
//! while consumers poll every partition incrementally; when told to stop,
//! one final reader reads every partition from offset 0.
//!
//! Producers are plain or idempotent (drawn per seed). A plain producer
//! never resends a value: a produce that fails or times out is recorded as
//! failed (it may still be stored) and the next request uses fresh values.
//! An idempotent producer resends a batch whose answer was lost — the same
//! bytes, same producer id, epoch and sequence — until it is acknowledged or
//! `ATTEMPTS_MAX` / `DELIVERY_TIMEOUT` run out, like a real client; the
//! broker must keep one copy. Some of its attempts use an impatient timeout
//! shorter than a round trip plus an fsync, so the answer is lost while the
//! batch is stored and the resend really is a duplicate. Either way a value
//! the checkers find twice is the broker's doing.
//!
//! Every operation and its outcome goes to the recorder.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::time::{sleep, timeout};

use crate::checker::{Violation, ViolationKind};
use crate::client::{
    self, AfterFailure, ApiVersionsInUse, BatchIdentity, ClientError, Connection,
    IdempotentProducer, TOPIC,
};
use crate::history::{ClientId, EventKind, Partition, FINAL_READER};
use crate::recorder::Recorder;

/// Every request gets this long before the client gives up on it.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_millis(1_500);
/// An idempotent producer sends one batch at most this many times...
const ATTEMPTS_MAX: u32 = 100;
/// ...and stops resending it this long after the first attempt (Kafka's
/// `delivery.timeout.ms`, scaled to the run).
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(8);
/// Pause after a failed connect or request, so a down broker is not spun on.
pub(crate) const BACKOFF: Duration = Duration::from_millis(100);
/// How long a consumer's fetch may wait on the broker for new data.
const POLL_MAX_WAIT_MS: i32 = 50;
/// OFFSET_OUT_OF_RANGE: the consumer's position is past the log end.
pub(crate) const OFFSET_OUT_OF_RANGE: i16 = 1;

#[derive(Debug, Clone)]
pub struct WorkloadConfig {
    pub seed: u64,
    pub broker: SocketAddr,
    pub partitions: i32,
    pub producers: u32,
    pub consumers: u32,
    /// Values per produce request (one batch), drawn from 1..=this.
    pub batch_values_max: usize,
    /// The first this many producers are idempotent; the rest are plain.
    pub idempotent_producers: u32,
    /// The chance that an idempotent producer's attempt uses an impatient
    /// timeout, drawn from `impatient_timeout_ms`, instead of the request
    /// timeout: the answer is then often lost although the batch is stored.
    pub impatient_probability: f64,
    pub impatient_timeout_ms: (u64, u64),
    /// Pause between one producer's requests, drawn from this range.
    pub produce_pause_ms: (u64, u64),
    /// How long the final reader may take, once started.
    pub final_read_deadline: Duration,
}

/// Flags the supervisor sets to move the workload to its end.
#[derive(Default)]
pub struct WorkloadControl {
    pub stop_producing: AtomicBool,
    pub stop_consuming: AtomicBool,
    /// Cluster mode: the workload's topic exists with a leader for every
    /// partition (the nemesis starts its faults no earlier).
    pub setup_done: AtomicBool,
}

/// One connection with its negotiated versions; `None` until (re)connected.
pub(crate) struct Session {
    client_id: String,
    broker: SocketAddr,
    live: Option<(Connection, ApiVersionsInUse)>,
}

impl Session {
    pub(crate) fn new(client_id: String, broker: SocketAddr) -> Self {
        Session {
            client_id,
            broker,
            live: None,
        }
    }

    /// The live connection, connecting first if needed.
    pub(crate) async fn get(&mut self) -> Result<&mut (Connection, ApiVersionsInUse), ClientError> {
        if self.live.is_none() {
            let attempt = async {
                let mut connection = Connection::connect(self.broker, &self.client_id).await?;
                let versions = ApiVersionsInUse::negotiate(&mut connection).await?;
                Ok::<_, ClientError>((connection, versions))
            };
            let live = timeout(REQUEST_TIMEOUT, attempt)
                .await
                .map_err(|_| ClientError::Io("connect timed out".into()))??;
            self.live = Some(live);
        }
        Ok(self.live.as_mut().expect("just connected"))
    }

    /// Drops the connection unless the error left it usable.
    pub(crate) fn after_error(&mut self, error: &ClientError) {
        if !error.connection_usable() {
            self.live = None;
        }
    }
}

/// Runs `call` on the session's connection with the request timeout (or the
/// one given), and drops the connection when it fails in a way that leaves
/// it unusable (a timed-out request's answer may still come).
macro_rules! with_timeout {
    ($session:expr, |$connection:ident, $versions:ident| $call:expr) => {
        with_timeout!(
            $session,
            $crate::workload::REQUEST_TIMEOUT,
            |$connection, $versions| $call
        )
    };
    ($session:expr, $timeout:expr, |$connection:ident, $versions:ident| $call:expr) => {{
        let result = match $session.get().await {
            Ok(live) => {
                let ($connection, $versions) = (&mut live.0, live.1);
                match tokio::time::timeout($timeout, $call).await {
                    Ok(result) => result,
                    Err(_) => Err($crate::client::ClientError::Io("request timed out".into())),
                }
            }
            Err(error) => Err(error),
        };
        if let Err(error) = &result {
            $session.after_error(error);
        }
        result
    }};
}
/// The lifecycle workload speaks through the same sessions.
pub(crate) use with_timeout;

pub(crate) fn task_rng(seed: u64, client: ClientId) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ u64::from(client))
}

/// Creates the topic; retries until it exists (the broker may be starting).
async fn create_topic(config: &WorkloadConfig) {
    let mut session = Session::new("setup".into(), config.broker);
    loop {
        let result = with_timeout!(session, |connection, versions| client::create_topic(
            connection,
            versions,
            TOPIC,
            config.partitions,
            // The broker's default fsync policy, drawn from the seed (the
            // history's `PartitionPolicy` events say which), and no
            // retention: this topic's checkers promise every record stays
            // (the records' timestamps are simulated times near 1970).
            &[("retention.ms", "-1")],
        ));
        match result {
            Ok(()) => return,
            Err(_) => sleep(BACKOFF).await,
        }
    }
}

async fn produce_loop(
    client: ClientId,
    config: Arc<WorkloadConfig>,
    recorder: Recorder,
    control: Arc<WorkloadControl>,
    next_value: Arc<AtomicU64>,
) {
    let mut rng = task_rng(config.seed, client);
    let mut session = Session::new(format!("producer-{client}"), config.broker);
    while !control.stop_producing.load(Ordering::Relaxed) {
        let (low, high) = config.produce_pause_ms;
        sleep(Duration::from_millis(rng.gen_range(low..=high))).await;
        if let Err(error) = session.get().await {
            session.after_error(&error);
            sleep(BACKOFF).await;
            continue;
        }
        let partition: Partition = rng.gen_range(0..config.partitions);
        let count = rng.gen_range(1..=config.batch_values_max);
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
        let timestamp_ms = recorder.elapsed_ms() as i64;
        let result = with_timeout!(session, |connection, versions| client::produce(
            connection,
            versions,
            TOPIC,
            partition,
            &values,
            timestamp_ms,
            REQUEST_TIMEOUT.as_millis() as i32,
        ));
        for (index, value) in values.into_iter().enumerate() {
            recorder.record(match &result {
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
                    error: error.to_string(),
                },
            });
        }
        if result.is_err() {
            sleep(BACKOFF).await;
        }
    }
}

/// An idempotent producer: InitProducerId, then batches numbered per
/// partition, each resent unchanged until acknowledged or out of attempts.
/// An abandoned batch, OUT_OF_ORDER_SEQUENCE_NUMBER or UNKNOWN_PRODUCER_ID
/// make it start over with a new producer id (recorded as `ProducerInit`).
async fn idempotent_produce_loop(
    client: ClientId,
    config: Arc<WorkloadConfig>,
    recorder: Recorder,
    control: Arc<WorkloadControl>,
    next_value: Arc<AtomicU64>,
) {
    let mut rng = task_rng(config.seed, client);
    let mut session = Session::new(format!("idempotent-producer-{client}"), config.broker);
    let mut producer = IdempotentProducer::default();
    let mut init_reason = "start".to_string();
    while !control.stop_producing.load(Ordering::Relaxed) {
        let (low, high) = config.produce_pause_ms;
        sleep(Duration::from_millis(rng.gen_range(low..=high))).await;
        if producer.identity().is_none() {
            match with_timeout!(session, |connection, versions| {
                client::init_producer_id(connection, versions)
            }) {
                Ok(identity) => {
                    producer.initialised(identity);
                    recorder.record(EventKind::ProducerInit {
                        client,
                        producer_id: identity.producer_id,
                        producer_epoch: identity.producer_epoch,
                        reason: std::mem::take(&mut init_reason),
                    });
                }
                Err(_) => {
                    sleep(BACKOFF).await;
                    continue;
                }
            }
        }
        let partition: Partition = rng.gen_range(0..config.partitions);
        let count = rng.gen_range(1..=config.batch_values_max);
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
        let identity = producer.next_batch(partition).expect("initialised above");
        let timestamp_ms = recorder.elapsed_ms() as i64;
        let result = match client::encode_batch_as(&values, timestamp_ms, Some(identity)) {
            Ok(batch) => {
                deliver(
                    client,
                    &config,
                    &recorder,
                    &mut session,
                    &mut rng,
                    partition,
                    identity,
                    &values,
                    batch,
                )
                .await
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
        for (index, value) in values.into_iter().enumerate() {
            recorder.record(match &result {
                Ok(base_offset) => EventKind::SendAcked {
                    client,
                    partition,
                    value,
                    offset: base_offset + index as i64,
                },
                Err(reason) => EventKind::SendFailed {
                    client,
                    partition,
                    value,
                    error: reason.clone(),
                },
            });
        }
        if result.is_err() {
            sleep(BACKOFF).await;
        }
    }
}

/// Sends one idempotent batch until it is acknowledged (its base offset) or
/// abandoned (why, which is also why the producer re-initialises).
#[allow(clippy::too_many_arguments)]
async fn deliver(
    client: ClientId,
    config: &WorkloadConfig,
    recorder: &Recorder,
    session: &mut Session,
    rng: &mut ChaCha8Rng,
    partition: Partition,
    identity: BatchIdentity,
    values: &[String],
    batch: bytes::Bytes,
) -> Result<i64, String> {
    let started = tokio::time::Instant::now();
    let restarts_before = recorder.broker_restarts();
    let mut attempt = 1;
    loop {
        let client_timeout = if rng.gen_bool(config.impatient_probability) {
            let (low, high) = config.impatient_timeout_ms;
            Duration::from_millis(rng.gen_range(low..=high))
        } else {
            REQUEST_TIMEOUT
        };
        let result = with_timeout!(session, client_timeout, |connection, versions| {
            client::produce_batch(
                connection,
                versions,
                TOPIC,
                partition,
                batch.clone(),
                REQUEST_TIMEOUT.as_millis() as i32,
            )
        });
        let error = match result {
            Ok(base_offset) => {
                if attempt > 1 && recorder.broker_restarts() != restarts_before {
                    recorder.note(|stats| stats.acked_after_restart_resend += 1);
                }
                return Ok(base_offset);
            }
            Err(error) => error,
        };
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

/// One fetch of `partition` from `position`, recorded; returns the new
/// position and the high watermark.
pub(crate) async fn poll_once(
    client: ClientId,
    session: &mut Session,
    recorder: &Recorder,
    partition: Partition,
    position: i64,
    max_wait_ms: i32,
) -> Result<(i64, i64), ClientError> {
    let invoked_seq = recorder.next_seq();
    let result = with_timeout!(session, |connection, versions| client::fetch(
        connection,
        versions,
        TOPIC,
        partition,
        position,
        max_wait_ms,
    ));
    match result {
        Ok(fetched) => {
            let after_records = fetched.records.last().map(|r| r.offset + 1);
            let next = [Some(position), after_records, fetched.next_offset]
                .into_iter()
                .flatten()
                .max()
                .expect("position is there");
            recorder.record(EventKind::Polled {
                client,
                partition,
                fetch_offset: position,
                invoked_seq,
                high_watermark: fetched.high_watermark,
                records: fetched.records,
            });
            Ok((next, fetched.high_watermark))
        }
        Err(error) => {
            recorder.record(EventKind::PollFailed {
                client,
                partition,
                fetch_offset: position,
                error: error.to_string(),
            });
            Err(error)
        }
    }
}

async fn consume_loop(
    client: ClientId,
    config: Arc<WorkloadConfig>,
    recorder: Recorder,
    control: Arc<WorkloadControl>,
) {
    let mut session = Session::new(format!("consumer-{client}"), config.broker);
    let mut positions: BTreeMap<Partition, i64> = (0..config.partitions).map(|p| (p, 0)).collect();
    while !control.stop_consuming.load(Ordering::Relaxed) {
        for partition in 0..config.partitions {
            let position = positions[&partition];
            match poll_once(
                client,
                &mut session,
                &recorder,
                partition,
                position,
                POLL_MAX_WAIT_MS,
            )
            .await
            {
                Ok((next, _)) => {
                    positions.insert(partition, next);
                }
                Err(ClientError::Kafka {
                    code: OFFSET_OUT_OF_RANGE,
                    ..
                }) => {
                    // auto.offset.reset=earliest; the checkers will see the
                    // offsets go backwards.
                    positions.insert(partition, 0);
                }
                Err(_) => sleep(BACKOFF).await,
            }
        }
    }
}

/// Reads every partition from 0 to its high watermark. Waits (until the
/// deadline) for the high watermark to pass every acknowledged offset, so
/// a broker still recovering is not mistaken for one that lost data.
/// Returns whether every partition was read to the end.
async fn final_read(config: &WorkloadConfig, recorder: &Recorder) -> bool {
    let deadline = tokio::time::Instant::now() + config.final_read_deadline;
    let mut session = Session::new("final-reader".into(), config.broker);
    let acked_end = acked_end_by_partition(recorder);
    for partition in 0..config.partitions {
        let wanted_end = acked_end.get(&partition).copied().unwrap_or(0);
        let mut position = 0;
        loop {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            match poll_once(FINAL_READER, &mut session, recorder, partition, position, 0).await {
                Ok((next, high_watermark)) => {
                    position = next;
                    if position >= high_watermark {
                        let close_to_deadline =
                            tokio::time::Instant::now() + Duration::from_millis(500) >= deadline;
                        if high_watermark >= wanted_end || close_to_deadline {
                            recorder.record(EventKind::FinalReadDone {
                                partition,
                                high_watermark,
                            });
                            break;
                        }
                        sleep(BACKOFF).await;
                    }
                }
                Err(_) => sleep(BACKOFF).await,
            }
        }
    }
    true
}

/// For each partition, one past the highest acknowledged offset.
pub(crate) fn acked_end_by_partition(recorder: &Recorder) -> BTreeMap<Partition, i64> {
    let mut end = BTreeMap::new();
    for event in recorder.lock().history.events() {
        if let EventKind::SendAcked {
            partition, offset, ..
        } = &event.kind
        {
            let slot = end.entry(*partition).or_insert(0);
            *slot = (*slot).max(offset + 1);
        }
    }
    end
}

/// The whole workload; returns once the final read is done.
pub async fn run(config: WorkloadConfig, recorder: Recorder, control: Arc<WorkloadControl>) {
    let config = Arc::new(config);
    create_topic(&config).await;
    let next_value = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for index in 0..config.producers {
        let (client, config, recorder, control, next_value) = (
            100 + index,
            config.clone(),
            recorder.clone(),
            control.clone(),
            next_value.clone(),
        );
        tasks.push(if index < config.idempotent_producers {
            tokio::spawn(idempotent_produce_loop(
                client, config, recorder, control, next_value,
            ))
        } else {
            tokio::spawn(produce_loop(client, config, recorder, control, next_value))
        });
    }
    for index in 0..config.consumers {
        tasks.push(tokio::spawn(consume_loop(
            1 + index,
            config.clone(),
            recorder.clone(),
            control.clone(),
        )));
    }
    for task in tasks {
        // A task that panicked already failed the run; nothing to add here.
        let _ = task.await;
    }
    if final_read(&config, &recorder).await {
        crate::seek_reads::run(&config, &recorder).await;
        crate::time_seeks::run(&config, &recorder).await;
    } else {
        recorder.report(Violation {
            kind: ViolationKind::Liveness,
            at_seq: None,
            partition: None,
            detail: format!(
                "the final read did not finish within {:?} after faults stopped",
                config.final_read_deadline
            ),
        });
    }
}
