//! The queue workload, like Jepsen's Kafka test: producers send unique
//! values with acks=all and idempotence, one at a time; consumers poll, some
//! through a consumer group (`subscribe`), some with `assign` over every
//! partition. Every operation's invocation and completion goes into the
//! history with its time, partition, offset and value.
//!
//! Processes are single-threaded clients as in Jepsen: a send whose outcome
//! is unknown (`info`) ends its process, and the thread goes on as a new
//! process with a new client (thread i's processes are i, i + T, i + 2T...
//! for T threads).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::history::{OpFn, OpType};
use crate::recorder::Recorder;

/// How long librdkafka keeps retrying a send before reporting it failed
/// (`message.timeout.ms`): longer than a failover, shorter than a fault.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long after [`SEND_TIMEOUT`] a delivery report may still come.
const DELIVERY_REPORT_GRACE: Duration = Duration::from_secs(5);
/// One poll operation gathers records for at most this long...
const POLL_WINDOW: Duration = Duration::from_millis(100);
/// ... or this many records.
const POLL_RECORDS_MAX: usize = 200;
/// The final read gives up on a partition after this long.
pub const FINAL_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// What the workload runs against.
#[derive(Clone, Debug)]
pub struct Queue {
    pub bootstrap: String,
    pub topic: String,
    pub partitions: i32,
    /// Threads that send, and threads that poll (half subscribe, half assign).
    pub producers: u32,
    pub consumers: u32,
    /// Pause between a thread's sends.
    pub send_interval: Duration,
}

impl Queue {
    fn threads(&self) -> u32 {
        self.producers + self.consumers
    }

    fn process(&self, thread: u32, generation: u32) -> u32 {
        thread + generation * self.threads()
    }

    /// Runs every client thread until `stop` is set, then returns.
    pub fn run(&self, recorder: &Recorder, stop: &AtomicBool, seed: u64) {
        let values = AtomicU64::new(0);
        std::thread::scope(|scope| {
            for thread in 0..self.producers {
                let values = &values;
                scope.spawn(move || self.produce(thread, recorder, stop, values, seed));
            }
            for consumer in 0..self.consumers {
                let thread = self.producers + consumer;
                let mode = if consumer % 2 == 0 {
                    OpFn::Subscribe
                } else {
                    OpFn::Assign
                };
                scope.spawn(move || self.consume(thread, mode, recorder, stop));
            }
        });
    }

    fn produce(
        &self,
        thread: u32,
        recorder: &Recorder,
        stop: &AtomicBool,
        values: &AtomicU64,
        seed: u64,
    ) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ u64::from(thread));
        let mut generation = 0;
        let mut producer = None;
        while !stop.load(Ordering::Relaxed) {
            let process = self.process(thread, generation);
            let client = match producer.take() {
                Some(client) => client,
                None => match self.producer() {
                    Ok(client) => client,
                    Err(error) => {
                        eprintln!("odradek-jepsen: producer: {error}");
                        std::thread::sleep(Duration::from_secs(1));
                        continue;
                    }
                },
            };
            let partition = rng.gen_range(0..self.partitions);
            let value = values.fetch_add(1, Ordering::Relaxed).to_string();
            let mut invoke = recorder.op(process, OpType::Invoke, OpFn::Send);
            invoke.partition = Some(partition);
            invoke.value = Some(value.clone());
            recorder.record(invoke);
            let outcome = send_one(&client, &self.topic, partition, &value);
            let kind = match &outcome {
                SendOutcome::Acked(_) => OpType::Ok,
                SendOutcome::NotSent(_) => OpType::Fail,
                SendOutcome::Unknown(_) => OpType::Info,
            };
            let mut done = recorder.op(process, kind, OpFn::Send);
            done.partition = Some(partition);
            done.value = Some(value);
            match outcome {
                SendOutcome::Acked(offset) => {
                    done.offset = Some(offset);
                    producer = Some(client);
                }
                SendOutcome::NotSent(error) => {
                    done.error = Some(error);
                    producer = Some(client);
                }
                SendOutcome::Unknown(error) => {
                    // The process may have written it: it ends, and the
                    // thread goes on as a new process with a new client.
                    done.error = Some(error);
                    generation += 1;
                }
            }
            recorder.record(done);
            std::thread::sleep(self.send_interval);
        }
    }

    fn producer(&self) -> Result<BaseProducer<DeliveryReports>, String> {
        ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("message.timeout.ms", SEND_TIMEOUT.as_millis().to_string())
            .set("retry.backoff.ms", "100")
            .set("linger.ms", "0")
            .set("log_level", "3")
            .create_with_context(DeliveryReports::default())
            .map_err(|e| e.to_string())
    }

    fn consume(&self, thread: u32, mode: OpFn, recorder: &Recorder, stop: &AtomicBool) {
        let mut generation = 0;
        while !stop.load(Ordering::Relaxed) {
            let process = self.process(thread, generation);
            generation += 1;
            let consumer = match self.consumer(mode) {
                Ok(consumer) => consumer,
                Err(error) => {
                    eprintln!("odradek-jepsen: consumer: {error}");
                    std::thread::sleep(Duration::from_secs(1));
                    continue;
                }
            };
            let all: Vec<i32> = (0..self.partitions).collect();
            let mut invoke = recorder.op(process, OpType::Invoke, mode);
            invoke.partitions = Some(all.clone());
            recorder.record(invoke);
            let started = match mode {
                OpFn::Subscribe => consumer.subscribe(&[&self.topic]),
                _ => {
                    let mut list = TopicPartitionList::new();
                    for &partition in &all {
                        // Every assign consumer reads from the start.
                        let _ =
                            list.add_partition_offset(&self.topic, partition, Offset::Beginning);
                    }
                    consumer.assign(&list)
                }
            };
            let mut done = recorder.op(
                process,
                if started.is_ok() {
                    OpType::Ok
                } else {
                    OpType::Fail
                },
                mode,
            );
            done.partitions = Some(all);
            done.error = started.as_ref().err().map(|e| e.to_string());
            recorder.record(done);
            if started.is_err() {
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
            poll_until_stopped(&consumer, process, recorder, stop);
        }
    }

    fn consumer(&self, mode: OpFn) -> Result<BaseConsumer<Rebalances>, String> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.bootstrap)
            .set("group.id", "jepsen-queue")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            .set("session.timeout.ms", "10000")
            .set("log_level", "3");
        if mode == OpFn::Subscribe {
            config
                .set("enable.auto.commit", "true")
                .set("auto.commit.interval.ms", "1000");
        } else {
            config.set("enable.auto.commit", "false");
        }
        config
            .create_with_context(Rebalances::default())
            .map_err(|e| e.to_string())
    }

    /// Reads every partition from its start up to the high watermark it has
    /// once the run is over, as one `final` poll: what `unseen` and
    /// `lost-write` compare the acknowledgements with.
    pub fn final_read(&self, recorder: &Recorder, process: u32) -> Result<(), String> {
        let consumer = self.consumer(OpFn::Assign)?;
        let mut high_watermarks = BTreeMap::new();
        let deadline = Instant::now() + FINAL_READ_TIMEOUT;
        for partition in 0..self.partitions {
            let high = loop {
                match consumer.fetch_watermarks(&self.topic, partition, Duration::from_secs(5)) {
                    Ok((_, high)) => break high,
                    Err(error) if Instant::now() >= deadline => {
                        return Err(format!("partition {partition}'s high watermark: {error}"))
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(500)),
                }
            };
            high_watermarks.insert(partition, high);
        }
        recorder.record(recorder.op(process, OpType::Invoke, OpFn::Poll));
        let mut list = TopicPartitionList::new();
        for partition in 0..self.partitions {
            list.add_partition_offset(&self.topic, partition, Offset::Beginning)
                .map_err(|e| e.to_string())?;
        }
        consumer.assign(&list).map_err(|e| e.to_string())?;
        let mut reads: BTreeMap<i32, Vec<(i64, String)>> = BTreeMap::new();
        let mut next: BTreeMap<i32, i64> = (0..self.partitions).map(|p| (p, 0)).collect();
        while next.iter().any(|(p, offset)| *offset < high_watermarks[p]) {
            if Instant::now() >= deadline {
                break;
            }
            if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
                let partition = message.partition();
                let value = decode(message.payload());
                next.insert(partition, message.offset() + 1);
                reads
                    .entry(partition)
                    .or_default()
                    .push((message.offset(), value));
            }
        }
        let complete = next.iter().all(|(p, offset)| *offset >= high_watermarks[p]);
        let mut done = recorder.op(process, OpType::Ok, OpFn::Poll);
        for partition in 0..self.partitions {
            reads.entry(partition).or_default();
        }
        done.reads = Some(reads);
        done.high_watermarks = Some(high_watermarks);
        done.final_read = true;
        if !complete {
            done.error = Some("the final read stopped short of the high watermark".into());
        }
        recorder.record(done);
        if complete {
            Ok(())
        } else {
            Err(format!(
                "the final read did not reach every high watermark within {FINAL_READ_TIMEOUT:?}"
            ))
        }
    }
}

/// Polls as one process until `stop`, as `poll` operations; a rebalance
/// starts a new assignment (a `subscribe` operation) between two polls.
fn poll_until_stopped(
    consumer: &BaseConsumer<Rebalances>,
    process: u32,
    recorder: &Recorder,
    stop: &AtomicBool,
) {
    let mut reads: BTreeMap<i32, Vec<(i64, String)>> = BTreeMap::new();
    let mut count = 0;
    recorder.record(recorder.op(process, OpType::Invoke, OpFn::Poll));
    let mut window_end = Instant::now() + POLL_WINDOW;
    loop {
        let polled =
            consumer.poll(POLL_WINDOW.min(window_end.saturating_duration_since(Instant::now())));
        if let Some(assigned) = consumer.context().take_assignment() {
            // The records gathered so far belong to the old assignment.
            finish_poll(recorder, process, std::mem::take(&mut reads));
            count = 0;
            let mut invoke = recorder.op(process, OpType::Invoke, OpFn::Subscribe);
            invoke.partitions = Some(assigned.clone());
            recorder.record(invoke);
            let mut done = recorder.op(process, OpType::Ok, OpFn::Subscribe);
            done.partitions = Some(assigned);
            recorder.record(done);
            recorder.record(recorder.op(process, OpType::Invoke, OpFn::Poll));
        }
        if let Some(Ok(message)) = polled {
            reads
                .entry(message.partition())
                .or_default()
                .push((message.offset(), decode(message.payload())));
            count += 1;
        }
        if count >= POLL_RECORDS_MAX || Instant::now() >= window_end {
            finish_poll(recorder, process, std::mem::take(&mut reads));
            count = 0;
            if stop.load(Ordering::Relaxed) {
                return;
            }
            recorder.record(recorder.op(process, OpType::Invoke, OpFn::Poll));
            window_end = Instant::now() + POLL_WINDOW;
        }
    }
}

fn finish_poll(recorder: &Recorder, process: u32, reads: BTreeMap<i32, Vec<(i64, String)>>) {
    let mut done = recorder.op(process, OpType::Ok, OpFn::Poll);
    done.reads = Some(reads);
    recorder.record(done);
}

fn decode(payload: Option<&[u8]>) -> String {
    String::from_utf8_lossy(payload.unwrap_or_default()).into_owned()
}

enum SendOutcome {
    Acked(i64),
    /// Certainly not written: librdkafka refused it before sending.
    NotSent(String),
    /// Maybe written.
    Unknown(String),
}

/// Sends one value and waits for its delivery report.
fn send_one(
    producer: &BaseProducer<DeliveryReports>,
    topic: &str,
    partition: i32,
    value: &str,
) -> SendOutcome {
    let record = BaseRecord::to(topic)
        .partition(partition)
        .key(value)
        .payload(value);
    if let Err((error, _)) = producer.send(record) {
        return SendOutcome::NotSent(error.to_string());
    }
    let deadline = Instant::now() + SEND_TIMEOUT + DELIVERY_REPORT_GRACE;
    while Instant::now() < deadline {
        producer.poll(Duration::from_millis(50));
        if let Some(report) = producer.context().take() {
            return match report {
                Ok(offset) => SendOutcome::Acked(offset),
                Err(error) => SendOutcome::Unknown(error),
            };
        }
    }
    SendOutcome::Unknown("no delivery report".into())
}

/// The producer's delivery report for the one send in flight.
#[derive(Default)]
struct DeliveryReports {
    report: Mutex<Option<Result<i64, String>>>,
}

impl DeliveryReports {
    fn take(&self) -> Option<Result<i64, String>> {
        self.report.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

impl ClientContext for DeliveryReports {}

impl ProducerContext for DeliveryReports {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let report = match result {
            Ok(message) => Ok(message.offset()),
            Err((error, _)) => Err(error.to_string()),
        };
        *self.report.lock().unwrap_or_else(|p| p.into_inner()) = Some(report);
    }
}

/// The group's latest assignment, until the poll loop takes it.
#[derive(Default)]
struct Rebalances {
    assigned: Mutex<Option<Vec<i32>>>,
}

impl Rebalances {
    fn take_assignment(&self) -> Option<Vec<i32>> {
        self.assigned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

impl ClientContext for Rebalances {}

impl ConsumerContext for Rebalances {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(list) = rebalance {
            let partitions = list.elements().iter().map(|e| e.partition()).collect();
            *self.assigned.lock().unwrap_or_else(|p| p.into_inner()) = Some(partitions);
        }
    }
}
