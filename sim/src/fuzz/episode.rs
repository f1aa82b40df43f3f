//! One episode: a fresh in-process broker on a perfect SimDisk, the
//! baseline topics written through the real dispatcher, then `steps`
//! generated requests, each checked by the oracles:
//!
//! 1. no panic, in the dispatcher or in any task the broker spawned;
//! 2. a request changes watched data only as its response says;
//! 3. no response larger than the configured bound;
//! 4. at the end, an honest produce and fetch still work.
//!
//! An episode is a pure function of its seed (up to timer races in the
//! group coordinator), so a finding is replayed by running its episode.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use odradek::io::disk::Disk;
use odradek::io::sim_disk::{SimDisk, SimDiskFaults};
use odradek::kafka::dispatch::{handle_frame_from, Reply};
use odradek::kafka::supported_apis::is_supported;
use odradek::server::broker::Broker;
use odradek::server::config::BrokerConfig;
use odradek::server::housekeeping;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::fuzz::frames::{self, Input, CORRELATION_ID};
use crate::fuzz::oracle::{Permission, Watch};
use crate::fuzz::responses::{self, Summary};
use crate::fuzz::values::{Gen, BASELINE_TOPICS};

/// Settings of a run.
#[derive(Clone, Debug)]
pub struct Settings {
    pub steps: usize,
    /// A response larger than this is a finding.
    pub max_response_bytes: usize,
    /// APIs that may legitimately wait (Fetch, JoinGroup, SyncGroup) get
    /// this long, then are left running and counted as timeouts.
    pub wait_timeout: Duration,
    /// Any other request taking longer than this is a hang (a finding).
    pub hang_timeout: Duration,
    /// CreateTopics and CreatePartitions open every new partition before
    /// they answer; thousands of them (the limit is 10,000 per topic) take
    /// longer than any other request, on the in-memory disk too (its
    /// directory syncs grow with the directory). Past this they are a hang.
    pub partition_creation_timeout: Duration,
    /// Content of the watched partitions is compared every this many steps.
    pub content_every: usize,
    /// Print every request.
    pub verbose: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            steps: 200,
            max_response_bytes: 64 << 20,
            wait_timeout: Duration::from_millis(50),
            hang_timeout: Duration::from_secs(5),
            partition_creation_timeout: Duration::from_secs(120),
            content_every: 25,
            verbose: false,
        }
    }
}

/// How one request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// An error code in the response (0 included).
    Code(i16),
    /// A response without any error code field.
    Answered,
    /// The broker closed the connection (a dispatch error).
    Closed,
    /// No response by design (acks=0 produce).
    NoResponse,
    /// Still running after the wait timeout (left running).
    TimedOut,
}

/// A broken oracle, with what replays it.
#[derive(Clone, Debug)]
pub struct Finding {
    pub oracle: &'static str,
    pub episode_seed: u64,
    /// 0-based step; `usize::MAX` for the end-of-episode checks.
    pub step: usize,
    pub request: String,
    pub detail: String,
}

/// Totals of one or many episodes.
#[derive(Debug, Default)]
pub struct Stats {
    pub episodes: u64,
    pub executions: u64,
    pub outcomes: BTreeSet<(i16, i16, Outcome)>,
    pub largest_response: (usize, String),
    pub findings: Vec<Finding>,
}

impl Stats {
    pub fn merge(&mut self, other: Stats) {
        self.episodes += other.episodes;
        self.executions += other.executions;
        self.outcomes.extend(other.outcomes);
        if other.largest_response.0 > self.largest_response.0 {
            self.largest_response = other.largest_response;
        }
        self.findings.extend(other.findings);
    }
}

/// Panics seen since the last look, wherever they happened (the hook is
/// process-wide; the broker's spawned tasks run on this thread too).
static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// True while an episode runs: its panics are findings, not crashes.
static IN_EPISODE: AtomicBool = AtomicBool::new(false);

/// Installs a panic hook that records a panic during an episode (message
/// and location) instead of printing it; other panics (the fuzzer's own, a
/// test's assertion) go to the previous hook.
pub fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !IN_EPISODE.load(Ordering::SeqCst) {
            return previous(info);
        }
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        if let Ok(mut panics) = PANICS.lock() {
            panics.push(format!("{message} at {location}"));
        }
    }));
}

fn take_panics() -> Vec<String> {
    PANICS
        .lock()
        .map(|mut p| std::mem::take(&mut *p))
        .unwrap_or_default()
}

/// The seed of episode `index` of a run started with `run_seed`.
pub fn episode_seed(run_seed: u64, index: u64) -> u64 {
    // SplitMix64: nearby run seeds give unrelated episodes.
    let mut z = run_seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(index.wrapping_add(1).wrapping_mul(0xBF58_476D_1CE4_E5B9));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Runs one episode on a fresh single-threaded runtime (dropped at the end,
/// which cancels whatever requests were left waiting).
pub fn run_episode(seed: u64, settings: &Settings) -> Stats {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    take_panics();
    IN_EPISODE.store(true, Ordering::SeqCst);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(episode(seed, settings))
    }));
    drop(runtime);
    IN_EPISODE.store(false, Ordering::SeqCst);
    // A panic outside the broker's tasks (in the episode itself, or in
    // broker code it calls directly) is a finding too.
    result.unwrap_or_else(|_| Stats {
        episodes: 1,
        findings: take_panics()
            .into_iter()
            .map(|detail| Finding {
                oracle: "panic",
                episode_seed: seed,
                step: usize::MAX,
                request: "outside a request task (see location)".to_string(),
                detail,
            })
            .collect(),
        ..Stats::default()
    })
}

struct Run<'a> {
    seed: u64,
    settings: &'a Settings,
    stats: Stats,
}

impl Run<'_> {
    fn finding(&mut self, oracle: &'static str, step: usize, request: String, detail: String) {
        self.stats.findings.push(Finding {
            oracle,
            episode_seed: self.seed,
            step,
            request,
            detail,
        });
    }

    /// Records the panics seen so far; true when there were any.
    fn panicked(&mut self, step: usize, request: &str) -> bool {
        let panics = take_panics();
        for p in &panics {
            self.finding("panic", step, request.to_string(), p.clone());
        }
        !panics.is_empty()
    }
}

async fn episode(seed: u64, settings: &Settings) -> Stats {
    let mut run = Run {
        seed,
        settings,
        stats: Stats {
            episodes: 1,
            ..Stats::default()
        },
    };
    let disk: Arc<dyn Disk> = Arc::new(SimDisk::new(seed, SimDiskFaults::default()));
    let config = BrokerConfig {
        data_dir: "data".to_string(),
        ..BrokerConfig::single_node_default()
    };
    let broker = match Broker::open(config, disk).await {
        Ok(b) => b,
        Err(e) => {
            run.finding("setup", 0, String::new(), format!("broker open: {e}"));
            return run.stats;
        }
    };
    // The background tasks a real node runs: one that stops is a finding.
    let flusher = tokio::spawn(housekeeping::flusher(Arc::clone(&broker)));
    let mut watch = match baseline(&broker).await {
        Ok(w) => w,
        Err(e) => {
            run.finding("setup", 0, String::new(), e);
            return run.stats;
        }
    };
    let mut g = Gen::new(ChaCha8Rng::seed_from_u64(seed));
    let mut stopped = false;
    for step in 0..settings.steps {
        let input = frames::input(&mut g);
        let label = describe(&input);
        if settings.verbose {
            eprintln!("step {step}: {label}");
        }
        if !step_once(&mut run, &broker, &mut watch, step, &input, &label).await {
            stopped = true;
            break;
        }
        if flusher.is_finished() {
            run.finding("background task", step, label, "the flusher stopped".into());
            stopped = true;
            break;
        }
        if (step + 1) % settings.content_every == 0 {
            if let Err(e) = check_content(&broker, &mut watch).await {
                run.finding("data changed", step, label, e);
                stopped = true;
                break;
            }
        }
    }
    if !stopped {
        end_checks(&mut run, &broker, &mut watch).await;
    }
    flusher.abort();
    run.stats
}

fn describe(input: &Input) -> String {
    format!(
        "{:?} v{} ({} bytes, mutation {})",
        input.api,
        input.version,
        input.frame.len(),
        input.mutation
    )
}

/// Runs one request and checks it. False ends the episode (after a panic
/// or a broken invariant the broker's state is no longer worth checking).
async fn step_once(
    run: &mut Run<'_>,
    broker: &Arc<Broker>,
    watch: &mut Watch,
    step: usize,
    input: &Input,
    label: &str,
) -> bool {
    run.stats.executions += 1;
    let api = input.api;
    let waits = matches!(api, ApiKey::Fetch | ApiKey::JoinGroup | ApiKey::SyncGroup);
    let task = {
        let broker = Arc::clone(broker);
        let frame = input.frame.clone();
        tokio::spawn(async move { handle_frame_from(&broker, frame, None).await })
    };
    let limit = if waits {
        run.settings.wait_timeout
    } else if matches!(api, ApiKey::CreateTopics | ApiKey::CreatePartitions) {
        run.settings.partition_creation_timeout
    } else {
        run.settings.hang_timeout
    };
    let mut task = task;
    let result = tokio::time::timeout(limit, &mut task).await;
    let key = (api as i16, input.version);
    let reply = match result {
        Err(_) if waits => {
            // Left running: it can only read, or change group state.
            run.stats.outcomes.insert((key.0, key.1, Outcome::TimedOut));
            return !run.panicked(step, label);
        }
        Err(_) => {
            task.abort();
            run.finding(
                "hang",
                step,
                label.to_string(),
                format!("no answer within {:?}", limit),
            );
            return false;
        }
        Ok(Err(join_error)) => {
            if !run.panicked(step, label) {
                run.finding("panic", step, label.to_string(), join_error.to_string());
            }
            return false;
        }
        Ok(Ok(reply)) => reply,
    };
    if run.panicked(step, label) {
        return false;
    }
    let summary: Option<Summary>;
    let permission = match reply {
        // Kafka closes an acks=0 connection when a partition failed; the
        // request's other partitions may have been appended.
        Err(odradek::kafka::dispatch::DispatchError::UnacknowledgedProduceFailed { .. }) => {
            run.stats.outcomes.insert((key.0, key.1, Outcome::Closed));
            summary = None;
            Permission::AppendAnywhere
        }
        Err(_) => {
            run.stats.outcomes.insert((key.0, key.1, Outcome::Closed));
            summary = None;
            Permission::Nothing
        }
        Ok(Reply::Nothing) => {
            run.stats
                .outcomes
                .insert((key.0, key.1, Outcome::NoResponse));
            summary = None;
            if api == ApiKey::Produce {
                Permission::AppendAnywhere
            } else {
                Permission::Nothing
            }
        }
        Ok(Reply::Frame(frame)) => {
            if frame.len() > run.stats.largest_response.0 {
                run.stats.largest_response = (frame.len(), label.to_string());
            }
            if frame.len() > run.settings.max_response_bytes {
                run.finding(
                    "response size",
                    step,
                    label.to_string(),
                    format!(
                        "{} bytes > bound {}",
                        frame.len(),
                        run.settings.max_response_bytes
                    ),
                );
            }
            // ApiVersions answers a version it does not speak in v0.
            let version = if api == ApiKey::ApiVersions && !is_supported(api, input.version) {
                0
            } else {
                input.version
            };
            match responses::summarize(api, version, frame) {
                Ok(s) => {
                    let codes: BTreeSet<i16> = s.codes.iter().copied().collect();
                    if codes.is_empty() {
                        run.stats.outcomes.insert((key.0, key.1, Outcome::Answered));
                    }
                    for c in codes {
                        run.stats.outcomes.insert((key.0, key.1, Outcome::Code(c)));
                    }
                    summary = Some(s);
                    Permission::Nothing
                }
                Err(e) => {
                    run.finding("unreadable response", step, label.to_string(), e);
                    return false;
                }
            }
        }
    };
    let permission = match (&summary, permission) {
        (Some(s), _) if matches!(api, ApiKey::Produce | ApiKey::DeleteTopics) => {
            Permission::Answered(s)
        }
        (_, p) => p,
    };
    let now = watch.read_offsets(broker);
    let violations = watch.check_step(now, permission);
    if !violations.is_empty() {
        run.finding(
            "data changed",
            step,
            label.to_string(),
            violations.join("; "),
        );
        return false;
    }
    true
}

/// Creates the baseline topics and writes a few batches to each partition,
/// all through the dispatcher as a client would.
async fn baseline(broker: &Arc<Broker>) -> Result<Watch, String> {
    let mut create = CreateTopicsRequest::default();
    create.timeout_ms = 1000;
    create.topics = BASELINE_TOPICS
        .iter()
        .map(|(name, partitions)| {
            let mut t = CreatableTopic::default();
            t.name = TopicName(StrBytes::from_static_str(name));
            t.num_partitions = *partitions;
            t.replication_factor = 1;
            t
        })
        .collect();
    let reply = call(broker, ApiKey::CreateTopics, 7, &create).await?;
    let created = responses::summarize(ApiKey::CreateTopics, 7, reply)?;
    if created.codes.iter().any(|c| *c != 0) {
        return Err(format!("baseline topics not created: {:?}", created.codes));
    }
    let mut keys = Vec::new();
    for (topic, partitions) in BASELINE_TOPICS {
        for p in 0..*partitions {
            keys.push((topic.to_string(), p));
            for i in 0..3 {
                honest_produce(broker, topic, p, &format!("baseline-{topic}-{p}-{i}")).await?;
            }
        }
    }
    let mut watch = Watch::new(keys);
    let now = watch.read_offsets(broker);
    watch.check_step(now, Permission::AppendAnywhere);
    check_content(broker, &mut watch).await?;
    Ok(watch)
}

/// The request frame of an honest client.
fn honest_frame<R: Encodable>(api: ApiKey, version: i16, request: &R) -> Bytes {
    let mut frame = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(CORRELATION_ID)
        .with_client_id(Some(StrBytes::from_static_str("fuzz-oracle")))
        .encode(&mut frame, api.request_header_version(version))
        .expect("header encodes");
    request
        .encode(&mut frame, version)
        .expect("request encodes");
    frame.freeze()
}

async fn call<R: Encodable>(
    broker: &Arc<Broker>,
    api: ApiKey,
    version: i16,
    request: &R,
) -> Result<Bytes, String> {
    let frame = honest_frame(api, version, request);
    let reply = tokio::time::timeout(
        Duration::from_secs(10),
        handle_frame_from(broker, frame, None),
    )
    .await
    .map_err(|_| format!("honest {api:?} timed out"))?;
    match reply {
        Ok(Reply::Frame(f)) => Ok(f),
        Ok(Reply::Nothing) => Err(format!("honest {api:?}: no response")),
        Err(e) => Err(format!("honest {api:?}: connection closed: {e}")),
    }
}

/// Produces one record with acks=all; Ok when the broker says it is stored.
async fn honest_produce(
    broker: &Arc<Broker>,
    topic: &str,
    partition: i32,
    value: &str,
) -> Result<(), String> {
    match honest_produce_code(broker, topic, partition, value).await? {
        0 => Ok(()),
        code => Err(format!(
            "honest produce to {topic}-{partition}: [({topic:?}, {partition}, {code})]"
        )),
    }
}

/// The batch an honest client sends for `value`.
fn honest_batch(value: &str) -> Result<Bytes, String> {
    let record = Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: 1_700_000_000_000,
        // Keyed: the fuzzer may have made a baseline topic compacted.
        key: Some(Bytes::from_static(b"honest")),
        value: Some(Bytes::from(value.to_string())),
        headers: Default::default(),
    };
    let mut batch = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut batch,
        &[record],
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .map_err(|e| e.to_string())?;
    Ok(batch.freeze())
}

/// Produces one record with acks=all; the partition's error code.
async fn honest_produce_code(
    broker: &Arc<Broker>,
    topic: &str,
    partition: i32,
    value: &str,
) -> Result<i16, String> {
    let mut part = PartitionProduceData::default();
    part.index = partition;
    part.records = Some(honest_batch(value)?);
    let mut data = TopicProduceData::default();
    data.name = TopicName(StrBytes::from_string(topic.to_string()));
    data.partition_data = vec![part];
    let mut request = ProduceRequest::default();
    request.acks = -1;
    request.timeout_ms = 5000;
    request.topic_data = vec![data];
    let reply = call(broker, ApiKey::Produce, 9, &request).await?;
    let summary = responses::summarize(ApiKey::Produce, 9, reply)?;
    match summary.produced.as_slice() {
        [(_, _, code)] => Ok(*code),
        other => Err(format!("honest produce to {topic}-{partition}: {other:?}")),
    }
}

/// MESSAGE_TOO_LARGE: the batch exceeds the topic's `max.message.bytes`.
const MESSAGE_TOO_LARGE: i16 = 10;

/// Every batch from `from` up to the high watermark, read as a consumer
/// does: fetch, move past the last batch returned, fetch again (a fetch
/// may stop at a segment's end).
async fn honest_fetch(
    broker: &Arc<Broker>,
    topic: &str,
    partition: i32,
    from: i64,
) -> Result<Vec<u8>, String> {
    let mut content = Vec::new();
    let mut offset = from;
    for _ in 0..1000 {
        let (bytes, high_watermark) = fetch_once(broker, topic, partition, offset).await?;
        if offset >= high_watermark {
            return Ok(content);
        }
        let next = next_offset(&bytes).ok_or_else(|| {
            format!(
                "honest fetch of {topic}-{partition} at {offset}: no complete batch below \
                 the high watermark {high_watermark} ({} bytes)",
                bytes.len()
            )
        })?;
        if next <= offset {
            return Err(format!(
                "honest fetch of {topic}-{partition} at {offset}: batches end at {next}"
            ));
        }
        content.extend_from_slice(&bytes);
        offset = next;
    }
    Err(format!(
        "honest fetch of {topic}-{partition}: no end after 1000 fetches"
    ))
}

/// The offset after the last complete v2 batch in `bytes`.
fn next_offset(bytes: &[u8]) -> Option<i64> {
    let mut at = 0;
    let mut next = None;
    while bytes.len() >= at + 27 {
        let base = i64::from_be_bytes(bytes[at..at + 8].try_into().ok()?);
        let len = i32::from_be_bytes(bytes[at + 8..at + 12].try_into().ok()?);
        let delta = i32::from_be_bytes(bytes[at + 23..at + 27].try_into().ok()?);
        let end = at + 12 + usize::try_from(len).ok()?;
        if end > bytes.len() {
            break;
        }
        next = Some(base + delta as i64 + 1);
        at = end;
    }
    next
}

/// One Fetch of one partition: (record bytes, high watermark).
async fn fetch_once(
    broker: &Arc<Broker>,
    topic: &str,
    partition: i32,
    from: i64,
) -> Result<(Vec<u8>, i64), String> {
    let mut p = FetchPartition::default();
    p.partition = partition;
    p.fetch_offset = from;
    p.partition_max_bytes = 16 << 20;
    let mut t = FetchTopic::default();
    t.topic = TopicName(StrBytes::from_string(topic.to_string()));
    t.partitions = vec![p];
    let mut request = FetchRequest::default();
    request.max_wait_ms = 0;
    request.min_bytes = 0;
    request.max_bytes = 16 << 20;
    request.topics = vec![t];
    let mut reply = call(broker, ApiKey::Fetch, 12, &request).await?;
    use kafka_protocol::protocol::Decodable;
    ResponseHeader::decode(&mut reply, ApiKey::Fetch.response_header_version(12))
        .map_err(|e| e.to_string())?;
    let response = FetchResponse::decode(&mut reply, 12).map_err(|e| e.to_string())?;
    let data = response
        .responses
        .first()
        .and_then(|t| t.partitions.first())
        .ok_or("honest fetch: no partition in the response")?;
    if data.error_code != 0 {
        return Err(format!(
            "honest fetch of {topic}-{partition}: error {}",
            data.error_code
        ));
    }
    Ok((
        data.records
            .as_ref()
            .map(|r| r.to_vec())
            .unwrap_or_default(),
        data.high_watermark,
    ))
}

/// Reads every watched partition from its log start and compares.
async fn check_content(broker: &Arc<Broker>, watch: &mut Watch) -> Result<(), String> {
    let present: Vec<((String, i32), i64)> = watch
        .offsets
        .iter()
        .filter_map(|(k, o)| o.map(|(start, _, _)| (k.clone(), start)))
        .collect();
    for ((topic, partition), start) in present {
        let content = honest_fetch(broker, &topic, partition, start).await?;
        if let Some(violation) = watch.check_content((topic, partition), content) {
            return Err(violation);
        }
    }
    Ok(())
}

/// The broker still serves an honest client: a produce to every watched
/// partition still present reads back, and the old content is intact.
async fn end_checks(run: &mut Run<'_>, broker: &Arc<Broker>, watch: &mut Watch) {
    const END: usize = usize::MAX;
    if let Err(e) = check_content(broker, watch).await {
        run.finding("data changed", END, "end of episode".into(), e);
        return;
    }
    let present: Vec<(String, i32)> = watch
        .offsets
        .iter()
        .filter(|(_, o)| o.is_some())
        .map(|(k, _)| k.clone())
        .collect();
    for (topic, partition) in present {
        let value = format!("honest-end-{topic}-{partition}");
        // The fuzzer may have re-created a baseline topic with a
        // `max.message.bytes` below an honest batch (Kafka accepts any value
        // from 0): then the honest answer is MESSAGE_TOO_LARGE, and nothing
        // to read back.
        let limit = broker
            .partition(&topic, partition)
            .map(|h| h.config().max_message_bytes);
        let too_large = match (limit, honest_batch(&value)) {
            (Some(limit), Ok(batch)) => (batch.len() as i64) > limit,
            _ => false,
        };
        if too_large {
            match honest_produce_code(broker, &topic, partition, &value).await {
                Ok(MESSAGE_TOO_LARGE) => continue,
                Ok(code) => {
                    let e = format!(
                        "honest produce to {topic}-{partition} over max.message.bytes {limit:?}: error {code}, not MESSAGE_TOO_LARGE"
                    );
                    run.finding("honest client", END, "end of episode".into(), e);
                    continue;
                }
                Err(e) => {
                    run.finding("honest client", END, "end of episode".into(), e);
                    continue;
                }
            }
        }
        let result = async {
            honest_produce(broker, &topic, partition, &value).await?;
            let (start, _, _) = broker
                .partition(&topic, partition)
                .map(|h| h.offsets())
                .ok_or("partition gone")?;
            let content = honest_fetch(broker, &topic, partition, start).await?;
            let needle = value.as_bytes();
            if content.windows(needle.len()).any(|w| w == needle) {
                Ok(())
            } else {
                let offsets = broker.partition(&topic, partition).map(|h| h.offsets());
                Err(format!(
                    "{topic}-{partition}: the honest record does not read back \
                     (log start, hw, log end) {offsets:?}, fetched {} bytes from {start}",
                    content.len()
                ))
            }
        }
        .await;
        if let Err(e) = result {
            run.finding("honest client", END, "end of episode".into(), e);
        }
    }
    run.panicked(END, "end of episode");
}
