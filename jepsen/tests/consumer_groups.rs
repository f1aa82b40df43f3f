//! Consumer groups with librdkafka against the real broker: `subscribe`-based consumers split a
//! topic's partitions, rebalance when members join or crash, resume from committed offsets after
//! a broker restart or kill -9, keep their partitions across a quick static-member restart, and
//! get Kafka's error codes for commits from non-members and stale generations.
//!
//! Timing: the broker's `group.initial.rebalance.delay.ms` is 3 s (the first join of an empty
//! group waits that long) and its minimum session timeout is 6 s, so the consumers here use
//! `session.timeout.ms=6000` and `heartbeat.interval.ms=500`. Every wait is bounded.
//!
//! Each consumer runs on its own thread, polling until told to stop. Its context records every
//! assignment and revocation (from librdkafka's rebalance callback, which runs before the client
//! rejoins) in a per-group ownership table, so "a partition is owned by at most one member at a
//! time" is checked at every rebalance, not just sampled.
//!
//! The crash test needs a consumer that dies without leaving the group: librdkafka always
//! sends LeaveGroup when a (non-static) consumer is dropped, and heartbeats from a background
//! thread. So that consumer runs in a child process — this same test binary re-run with only
//! the ignored `child_consumer_process` test selected — and is SIGKILLed. The restart tests
//! commit from such a child too (see `committed_offsets_survive` for why).
#![cfg(not(madsim))]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;
use odradek_jepsen::wire::{frame, request_header_v1, RawConnection, Reply};
use odradek_jepsen::BrokerProcess;
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

/// The broker's minimum session timeout (`group.min.session.timeout.ms`).
const SESSION_TIMEOUT_MS: u64 = 6_000;
const HEARTBEAT_INTERVAL_MS: u64 = 500;
/// Bound for a group to settle after members start (3 s initial delay plus a rebalance or two).
const SETTLE_TIMEOUT: Duration = Duration::from_secs(20);
/// Bound for consuming what a test produced once the group is settled.
const CONSUME_TIMEOUT: Duration = Duration::from_secs(20);
/// Bound for a consumer thread to close its consumer (leaving the group) once told to stop.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(20);
/// A consumer thread (or child process) never polls longer than this, whatever the test does.
const MEMBER_LIFETIME_MAX: Duration = Duration::from_secs(90);
/// How long the broker has to answer a raw request.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// Environment variable that turns `child_consumer_process` into a real consumer:
/// `bootstrap|group|topic`.
const CHILD_ENV: &str = "ODRADEK_JEPSEN_CHILD_CONSUMER";
/// Prefix of the lines the child consumer reports on its stdout.
const CHILD_PREFIX: &str = "ODRADEK-CHILD";

const OFFSET_COMMIT_KEY: i16 = 8;
const ILLEGAL_GENERATION: i16 = 22;
const UNKNOWN_MEMBER_ID: i16 = 25;

// ---------------------------------------------------------------------------------------------
// Recording consumers
// ---------------------------------------------------------------------------------------------

/// Who owns which partition right now, across the in-process members of one group, and every
/// time a member was handed a partition another member still held.
#[derive(Default)]
struct Ownership {
    owners: BTreeMap<i32, String>,
    violations: Vec<String>,
}

type SharedOwnership = Arc<Mutex<Ownership>>;

/// What one consumer saw.
#[derive(Clone, Debug, Default)]
struct MemberLog {
    assignment: BTreeSet<i32>,
    assigns: usize,
    revokes: usize,
    /// (partition, offset) of every record polled, in poll order.
    consumed: Vec<(i32, i64)>,
    /// Errors returned by poll or reported through the rebalance callback.
    errors: Vec<String>,
    commit_errors: Vec<String>,
}

/// A consumer context that records rebalances (and, in the child process, reports them on
/// stdout for the parent).
struct Recorder {
    name: String,
    log: Arc<Mutex<MemberLog>>,
    ownership: SharedOwnership,
    echo: bool,
}

impl ClientContext for Recorder {}

impl ConsumerContext for Recorder {
    // Runs inside poll(), after librdkafka applied the (un)assignment and before the consumer
    // rejoins, so the ownership table changes in the order the group changes.
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let mut log = self.log.lock().unwrap();
        let mut ownership = self.ownership.lock().unwrap();
        match rebalance {
            Rebalance::Assign(tpl) => {
                let partitions: BTreeSet<i32> =
                    tpl.elements().iter().map(|e| e.partition()).collect();
                for &partition in &partitions {
                    if let Some(other) = ownership.owners.insert(partition, self.name.clone()) {
                        if other != self.name {
                            let violation = format!(
                                "partition {partition} assigned to {} while {other} still owns it",
                                self.name
                            );
                            ownership.violations.push(violation);
                        }
                    }
                }
                log.assignment = partitions;
                log.assigns += 1;
            }
            Rebalance::Revoke(tpl) => {
                for element in tpl.elements() {
                    let partition = element.partition();
                    if ownership.owners.get(&partition) == Some(&self.name) {
                        ownership.owners.remove(&partition);
                    }
                }
                // The eager protocols (range, the default) revoke everything.
                log.assignment.clear();
                log.revokes += 1;
            }
            Rebalance::Error(err) => log.errors.push(format!("rebalance error: {err}")),
        }
        if self.echo {
            let partitions: Vec<String> = log.assignment.iter().map(i32::to_string).collect();
            println!("{CHILD_PREFIX} assigned {}", partitions.join(" "));
            let _ = std::io::stdout().flush();
        }
    }
}

type GroupConsumer = BaseConsumer<Recorder>;

fn group_config(bootstrap: &str, group: &str, overrides: &[(&str, &str)]) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("socket.timeout.ms", "10000")
        .set("group.id", group)
        .set("session.timeout.ms", SESSION_TIMEOUT_MS.to_string())
        .set("heartbeat.interval.ms", HEARTBEAT_INTERVAL_MS.to_string())
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false");
    for (key, value) in overrides {
        config.set(*key, *value);
    }
    config
}

fn group_consumer(
    name: &str,
    bootstrap: &str,
    group: &str,
    overrides: &[(&str, &str)],
    ownership: &SharedOwnership,
    echo: bool,
) -> (GroupConsumer, Arc<Mutex<MemberLog>>) {
    let log = Arc::new(Mutex::new(MemberLog::default()));
    let context = Recorder {
        name: name.to_string(),
        log: Arc::clone(&log),
        ownership: Arc::clone(ownership),
        echo,
    };
    let consumer: GroupConsumer = group_config(bootstrap, group, overrides)
        .create_with_context(context)
        .expect("create group consumer");
    (consumer, log)
}

/// A subscribed consumer polling on its own thread. Each polled record is committed
/// synchronously before the next poll, so a revocation never leaves uncommitted work behind
/// and the next owner resumes exactly after it.
struct Member {
    name: String,
    log: Arc<Mutex<MemberLog>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Member {
    fn start(
        name: &str,
        bootstrap: &str,
        group: &str,
        topic: &str,
        overrides: &[(&str, &str)],
        ownership: &SharedOwnership,
    ) -> Member {
        let (consumer, log) = group_consumer(name, bootstrap, group, overrides, ownership, false);
        consumer.subscribe(&[topic]).expect("subscribe");
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let log = Arc::clone(&log);
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name(name.to_string())
                .spawn(move || poll_until_stopped(consumer, &log, &stop))
                .expect("spawn consumer thread")
        };
        Member {
            name: name.to_string(),
            log,
            stop,
            thread: Some(thread),
        }
    }

    fn snapshot(&self) -> MemberLog {
        self.log.lock().unwrap().clone()
    }

    fn assignment(&self) -> BTreeSet<i32> {
        self.log.lock().unwrap().assignment.clone()
    }

    /// Stops polling and closes the consumer (a dynamic member leaves the group; a static one
    /// does not), waiting a bounded time for the close to finish.
    fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let Some(thread) = self.thread.take() else {
            return;
        };
        let deadline = Instant::now() + CLOSE_TIMEOUT;
        while !thread.is_finished() {
            assert!(
                Instant::now() < deadline,
                "consumer {} did not close within {CLOSE_TIMEOUT:?}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        if thread.join().is_err() {
            panic!("consumer thread {} panicked", self.name);
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // A failing test does not wait for the close; the thread ends with the process.
        if !std::thread::panicking() {
            self.stop();
        }
    }
}

fn poll_until_stopped(consumer: GroupConsumer, log: &Mutex<MemberLog>, stop: &AtomicBool) {
    let deadline = Instant::now() + MEMBER_LIFETIME_MAX;
    while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(50)) {
            None => {}
            Some(Err(err)) => log.lock().unwrap().errors.push(err.to_string()),
            Some(Ok(message)) => {
                let at = (message.partition(), message.offset());
                log.lock().unwrap().consumed.push(at);
                if let Err(err) = consumer.commit_message(&message, CommitMode::Sync) {
                    log.lock()
                        .unwrap()
                        .commit_errors
                        .push(format!("commit of {at:?}: {err}"));
                }
            }
        }
    }
    // Dropping closes the consumer; the rebalance callback for the final revocation runs in
    // the close's own polls.
    drop(consumer);
}

// ---------------------------------------------------------------------------------------------
// The crashing consumer: a child process
// ---------------------------------------------------------------------------------------------

/// Entry point of the child process (see the module docs). Without `ODRADEK_JEPSEN_CHILD_CONSUMER`
/// (a plain `cargo test -- --ignored`) it does nothing.
///
/// The spec is `mode|bootstrap|group|topic`. Mode `consume`: commit each record synchronously,
/// then report it. Mode `commit:P=O,P=O…`: once assigned, commit those offsets synchronously
/// as a member of the current generation and report what `committed()` returns; records are
/// reported but not committed.
#[test]
#[ignore = "runs only as the child process of the crash and restart tests"]
fn child_consumer_process() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let parts: Vec<&str> = spec.split('|').collect();
    let [mode, bootstrap, group, topic] = parts[..] else {
        panic!("{CHILD_ENV} must be mode|bootstrap|group|topic, got {spec:?}");
    };
    let commit_plan: Option<Vec<(i32, i64)>> = mode.strip_prefix("commit:").map(|plan| {
        plan.split(',')
            .map(|entry| {
                let (partition, offset) = entry.split_once('=').expect("P=O");
                (
                    partition.parse().expect("partition"),
                    offset.parse().expect("offset"),
                )
            })
            .collect()
    });
    let ownership = SharedOwnership::default();
    let (consumer, log) = group_consumer("child", bootstrap, group, &[], &ownership, true);
    consumer.subscribe(&[topic]).expect("subscribe");
    let mut plan_done = false;
    let deadline = Instant::now() + MEMBER_LIFETIME_MAX;
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(50)) {
            None => {}
            Some(Err(err)) => println!("{CHILD_PREFIX} error {err}"),
            Some(Ok(message)) => {
                if commit_plan.is_none() {
                    // Reported only once committed: a record the parent sees as consumed by
                    // the child is never consumed again by the group.
                    consumer
                        .commit_message(&message, CommitMode::Sync)
                        .expect("child commit");
                }
                println!(
                    "{CHILD_PREFIX} consumed {} {}",
                    message.partition(),
                    message.offset()
                );
            }
        }
        if let Some(plan) = commit_plan.as_ref().filter(|_| !plan_done) {
            let assignment = log.lock().unwrap().assignment.clone();
            if plan.iter().all(|(p, _)| assignment.contains(p)) {
                let mut tpl = TopicPartitionList::new();
                for (partition, offset) in plan {
                    tpl.add_partition_offset(topic, *partition, Offset::Offset(*offset))
                        .expect("valid offset");
                }
                consumer
                    .commit(&tpl, CommitMode::Sync)
                    .expect("synchronous commit");
                let committed = consumer.committed(REQUEST_TIMEOUT).expect("committed()");
                for element in committed.elements() {
                    if let Offset::Offset(offset) = element.offset() {
                        println!("{CHILD_PREFIX} committed {} {offset}", element.partition());
                    }
                }
                println!("{CHILD_PREFIX} commit-done");
                plan_done = true;
            }
        }
        let _ = std::io::stdout().flush();
    }
}

/// What the parent knows about the child consumer, from its stdout.
#[derive(Clone, Debug, Default)]
struct ChildLog {
    assignment: BTreeSet<i32>,
    assigns: usize,
    /// Records the child reported (in `consume` mode: after committing them).
    consumed: Vec<(i32, i64)>,
    /// What `committed()` returned after the planned commit (`commit:` mode).
    committed: BTreeMap<i32, i64>,
    commit_done: bool,
    errors: Vec<String>,
}

/// The child process; SIGKILLed when dropped.
struct ChildConsumer {
    child: Child,
    log: Arc<Mutex<ChildLog>>,
}

impl ChildConsumer {
    fn spawn(mode: &str, bootstrap: &str, group: &str, topic: &str) -> ChildConsumer {
        let exe = std::env::current_exe().expect("path of this test binary");
        let mut child = Command::new(exe)
            .args([
                "--exact",
                "child_consumer_process",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, format!("{mode}|{bootstrap}|{group}|{topic}"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn child consumer process");
        let stdout = child.stdout.take().expect("piped stdout");
        let log = Arc::new(Mutex::new(ChildLog::default()));
        let reader_log = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // libtest may print "test child_consumer_process ... " on the same line.
                let Some(start) = line.find(CHILD_PREFIX) else {
                    continue;
                };
                let rest = &line[start + CHILD_PREFIX.len()..];
                let mut words = rest.split_whitespace();
                let mut log = reader_log.lock().unwrap();
                match words.next() {
                    Some("assigned") => {
                        log.assignment = words.map(|w| w.parse().expect("partition")).collect();
                        log.assigns += 1;
                    }
                    Some("consumed") => {
                        let partition = words.next().expect("partition").parse().expect("i32");
                        let offset = words.next().expect("offset").parse().expect("i64");
                        log.consumed.push((partition, offset));
                    }
                    Some("committed") => {
                        let partition = words.next().expect("partition").parse().expect("i32");
                        let offset = words.next().expect("offset").parse().expect("i64");
                        log.committed.insert(partition, offset);
                    }
                    Some("commit-done") => log.commit_done = true,
                    _ => log.errors.push(rest.to_string()),
                }
            }
        });
        ChildConsumer { child, log }
    }

    fn snapshot(&self) -> ChildLog {
        self.log.lock().unwrap().clone()
    }

    fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL the child consumer");
        self.child.wait().expect("reap the child consumer");
    }
}

impl Drop for ChildConsumer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Polls `check` every 50 ms until it returns `Ok`, failing the test with the last `Err`
/// (a description of the state) after `timeout`.
fn wait_until<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match check() {
            Ok(value) => return value,
            Err(state) if Instant::now() >= deadline => {
                panic!("{what}: not reached within {timeout:?}; last state: {state}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// Ok when the assignments are non-empty, pairwise disjoint and together cover `0..partitions`.
fn check_split(assignments: &[(&str, BTreeSet<i32>)], partitions: i32) -> Result<(), String> {
    let describe = || format!("{assignments:?}");
    let mut union = BTreeSet::new();
    for (name, assignment) in assignments {
        if assignment.is_empty() {
            return Err(format!("{name} has no partitions: {}", describe()));
        }
        for &partition in assignment {
            if !union.insert(partition) {
                return Err(format!("partition {partition} held twice: {}", describe()));
            }
        }
    }
    let all: BTreeSet<i32> = (0..partitions).collect();
    if union != all {
        return Err(format!("union {union:?} is not {all:?}: {}", describe()));
    }
    Ok(())
}

fn assert_no_violations(ownership: &SharedOwnership) {
    let ownership = ownership.lock().unwrap();
    assert!(
        ownership.violations.is_empty(),
        "partitions owned by two members at once: {:?}",
        ownership.violations
    );
}

fn assert_clean(member: &Member) {
    let log = member.snapshot();
    assert!(
        log.errors.is_empty(),
        "{} saw consumer errors: {:?}",
        member.name,
        log.errors
    );
    assert!(
        log.commit_errors.is_empty(),
        "{} saw commit errors: {:?}",
        member.name,
        log.commit_errors
    );
}

/// Produces `per_partition` records to every partition and returns every (partition, offset).
fn produce_to_all(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    per_partition: usize,
    tag: &str,
) -> BTreeSet<(i32, i64)> {
    let producer = producer(bootstrap, &[("acks", "all"), ("linger.ms", "1")]);
    let mut written = BTreeSet::new();
    for partition in 0..partitions {
        let records: Vec<TestRecord> = (0..per_partition)
            .map(|i| TestRecord::value(format!("{tag}-{partition}-{i}")))
            .collect();
        written.extend(produce_acked(&producer, topic, Some(partition), &records));
    }
    written
}

/// Every (partition, offset) consumed by the members, failing on a record consumed twice.
fn consumed_once(logs: &[(&str, &[(i32, i64)])]) -> BTreeMap<(i32, i64), String> {
    let mut seen = BTreeMap::new();
    for (name, consumed) in logs {
        for at in consumed.iter() {
            if let Some(first) = seen.insert(*at, name.to_string()) {
                panic!("record {at:?} consumed twice: by {first} and by {name}");
            }
        }
    }
    seen
}

/// Offsets committed by `group` for `0..partitions` of `topic`, fetched (OffsetFetch) by a
/// client that is not a member.
fn fetch_committed(bootstrap: &str, group: &str, topic: &str, partitions: i32) -> Vec<Offset> {
    let fetcher = consumer(bootstrap, &[("group.id", group)]);
    let mut tpl = TopicPartitionList::new();
    for partition in 0..partitions {
        tpl.add_partition(topic, partition);
    }
    let committed = fetcher
        .committed_offsets(tpl, REQUEST_TIMEOUT)
        .unwrap_or_else(|err| panic!("OffsetFetch for {group}: {err}"));
    (0..partitions)
        .map(|partition| {
            let element = committed
                .find_partition(topic, partition)
                .unwrap_or_else(|| panic!("OffsetFetch answer lacks {topic}/{partition}"));
            assert!(
                element.error().is_ok(),
                "OffsetFetch {topic}/{partition}: {:?}",
                element.error()
            );
            element.offset()
        })
        .collect()
}

/// One group as DescribeGroups reports it.
#[derive(Debug)]
struct GroupDescription {
    state: String,
    protocol: String,
    /// member id → partitions of its assignment (decoded from the consumer protocol bytes).
    members: BTreeMap<String, BTreeSet<i32>>,
}

fn describe_group(bootstrap: &str, group: &str) -> GroupDescription {
    let client = consumer(bootstrap, &[]);
    let list = client
        .fetch_group_list(Some(group), REQUEST_TIMEOUT)
        .unwrap_or_else(|err| panic!("ListGroups/DescribeGroups for {group}: {err}"));
    let info = list
        .groups()
        .iter()
        .find(|g| g.name() == group)
        .unwrap_or_else(|| panic!("group {group} not listed"));
    let members = info
        .members()
        .iter()
        .map(|m| {
            let partitions = m
                .assignment()
                .map(|bytes| {
                    decode_assignment(bytes).unwrap_or_else(|| {
                        panic!("undecodable assignment of {}: {bytes:?}", m.id())
                    })
                })
                .unwrap_or_default();
            (m.id().to_string(), partitions)
        })
        .collect();
    GroupDescription {
        state: info.state().to_string(),
        protocol: info.protocol().to_string(),
        members,
    }
}

/// The partitions in a ConsumerProtocolAssignment (version, [topic, [partition]], user data).
fn decode_assignment(bytes: &[u8]) -> Option<BTreeSet<i32>> {
    let mut cursor = Cursor::new(bytes);
    let _version = cursor.i16()?;
    let mut partitions = BTreeSet::new();
    for _ in 0..cursor.i32()?.max(0) {
        cursor.string()?;
        for _ in 0..cursor.i32()?.max(0) {
            partitions.insert(cursor.i32()?);
        }
    }
    Some(partitions)
}

/// A big-endian reader over a response body.
struct Cursor<'a> {
    bytes: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn new(bytes: &'a [u8]) -> Cursor<'a> {
        Cursor { bytes }
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.bytes.len() < n {
            return None;
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Some(head)
    }

    fn i16(&mut self) -> Option<i16> {
        Some(i16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }

    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }

    fn string(&mut self) -> Option<String> {
        let len = usize::try_from(self.i16()?).ok()?;
        Some(String::from_utf8_lossy(self.take(len)?).into_owned())
    }
}

fn put_string(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&i16::try_from(s.len()).expect("short string").to_be_bytes());
    buf.extend_from_slice(s.as_bytes());
}

/// Sends a hand-built OffsetCommit v2 and returns the error code per (topic, partition).
fn raw_offset_commit(
    broker: &BrokerProcess,
    group: &str,
    generation_id: i32,
    member_id: &str,
    topic: &str,
    offsets: &[(i32, i64)],
) -> Vec<(String, i32, i16)> {
    let correlation_id = 7;
    let mut request = request_header_v1(OFFSET_COMMIT_KEY, 2, correlation_id, "jepsen");
    put_string(&mut request, group);
    request.extend_from_slice(&generation_id.to_be_bytes());
    put_string(&mut request, member_id);
    request.extend_from_slice(&(-1i64).to_be_bytes()); // retention: the broker's default
    request.extend_from_slice(&1i32.to_be_bytes());
    put_string(&mut request, topic);
    request.extend_from_slice(&i32::try_from(offsets.len()).unwrap().to_be_bytes());
    for (partition, offset) in offsets {
        request.extend_from_slice(&partition.to_be_bytes());
        request.extend_from_slice(&offset.to_be_bytes());
        request.extend_from_slice(&(-1i16).to_be_bytes()); // null metadata
    }
    let mut conn = RawConnection::connect(broker.addr()).expect("raw connect");
    conn.send(&frame(&request)).expect("send OffsetCommit");
    let reply = conn
        .read_reply(REPLY_TIMEOUT)
        .expect("read OffsetCommit reply");
    let Reply::Frame(body) = reply else {
        panic!(
            "OffsetCommit (group {group}, generation {generation_id}, member {member_id:?}) \
             got no response: {reply:?}"
        );
    };
    let parse = || -> Option<Vec<(String, i32, i16)>> {
        let mut cursor = Cursor::new(&body);
        if cursor.i32()? != correlation_id {
            return None;
        }
        let mut results = Vec::new();
        for _ in 0..cursor.i32()? {
            let name = cursor.string()?;
            for _ in 0..cursor.i32()? {
                let partition = cursor.i32()?;
                results.push((name.clone(), partition, cursor.i16()?));
            }
        }
        (cursor.bytes.is_empty()).then_some(results)
    };
    parse().unwrap_or_else(|| panic!("malformed OffsetCommit v2 response: {body:?}"))
}

/// Runs `f` on its own thread and fails the test if it does not finish within `timeout`
/// (librdkafka's synchronous calls have no overall bound of their own).
fn bounded<T: Send + 'static>(
    what: &str,
    timeout: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(timeout)
        .unwrap_or_else(|_| panic!("{what} did not return within {timeout:?}"))
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

/// Two members split four partitions and consume every record exactly once; a third joins,
/// the group rebalances, the three assignments partition the topic, and still every record is
/// consumed exactly once.
#[test]
fn members_split_partitions_and_rebalance_when_a_third_joins() {
    let _one_at_a_time = serial();
    const PARTITIONS: i32 = 4;
    let broker = BrokerProcess::start_default().expect("start broker");
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("groups-split");
    let group = "split-group";
    create_topic(&bootstrap, &topic, PARTITIONS, &[]);
    let mut written = produce_to_all(&bootstrap, &topic, PARTITIONS, 50, "first");

    let ownership = SharedOwnership::default();
    let mut a = Member::start("a", &bootstrap, group, &topic, &[], &ownership);
    let mut b = Member::start("b", &bootstrap, group, &topic, &[], &ownership);

    wait_until("two members split the partitions", SETTLE_TIMEOUT, || {
        check_split(&[("a", a.assignment()), ("b", b.assignment())], PARTITIONS)
    });
    wait_until("two members consume every record", CONSUME_TIMEOUT, || {
        let total = a.snapshot().consumed.len() + b.snapshot().consumed.len();
        if total >= written.len() {
            Ok(())
        } else {
            Err(format!("{total} of {} consumed", written.len()))
        }
    });
    // Give a stray duplicate a moment to show up.
    std::thread::sleep(Duration::from_millis(300));
    let (log_a, log_b) = (a.snapshot(), b.snapshot());
    check_split(
        &[
            ("a", log_a.assignment.clone()),
            ("b", log_b.assignment.clone()),
        ],
        PARTITIONS,
    )
    .expect("the split is stable");
    let seen = consumed_once(&[("a", &log_a.consumed), ("b", &log_b.consumed)]);
    assert_eq!(
        seen.keys().copied().collect::<BTreeSet<_>>(),
        written,
        "the group consumed exactly what was written"
    );
    for (name, log) in [("a", &log_a), ("b", &log_b)] {
        if log.assigns == 1 {
            // One generation: a member only reads the partitions it was given.
            for (partition, _) in &log.consumed {
                assert!(
                    log.assignment.contains(partition),
                    "{name} consumed partition {partition} outside its assignment {:?}",
                    log.assignment
                );
            }
        }
    }
    let description = describe_group(&bootstrap, group);
    assert_eq!(description.state, "Stable", "{description:?}");
    assert_eq!(description.protocol, "range", "{description:?}");
    assert_eq!(description.members.len(), 2, "{description:?}");
    let described: Vec<(&str, BTreeSet<i32>)> = description
        .members
        .iter()
        .map(|(id, p)| (id.as_str(), p.clone()))
        .collect();
    check_split(&described, PARTITIONS).expect("DescribeGroups shows the split");

    // A third member joins: everyone revokes, rejoins, and gets a share.
    let assigns_before = (log_a.assigns, log_b.assigns);
    let mut c = Member::start("c", &bootstrap, group, &topic, &[], &ownership);
    wait_until("three members split the partitions", SETTLE_TIMEOUT, || {
        let (sa, sb) = (a.snapshot(), b.snapshot());
        if (sa.assigns, sb.assigns) == assigns_before {
            return Err("a and b were not reassigned yet".to_string());
        }
        check_split(
            &[
                ("a", sa.assignment),
                ("b", sb.assignment),
                ("c", c.assignment()),
            ],
            PARTITIONS,
        )
    });
    written.extend(produce_to_all(&bootstrap, &topic, PARTITIONS, 50, "second"));
    wait_until(
        "three members consume every record",
        CONSUME_TIMEOUT,
        || {
            let total: usize = [&a, &b, &c]
                .iter()
                .map(|m| m.snapshot().consumed.len())
                .sum();
            if total >= written.len() {
                Ok(())
            } else {
                Err(format!("{total} of {} consumed", written.len()))
            }
        },
    );
    std::thread::sleep(Duration::from_millis(300));
    let (log_a, log_b, log_c) = (a.snapshot(), b.snapshot(), c.snapshot());
    let seen = consumed_once(&[
        ("a", &log_a.consumed),
        ("b", &log_b.consumed),
        ("c", &log_c.consumed),
    ]);
    assert_eq!(
        seen.keys().copied().collect::<BTreeSet<_>>(),
        written,
        "the group consumed exactly what was written, across the rebalance"
    );
    let description = describe_group(&bootstrap, group);
    assert_eq!(description.state, "Stable", "{description:?}");
    assert_eq!(description.members.len(), 3, "{description:?}");
    let described: Vec<(&str, BTreeSet<i32>)> = description
        .members
        .iter()
        .map(|(id, p)| (id.as_str(), p.clone()))
        .collect();
    check_split(&described, PARTITIONS).expect("DescribeGroups shows the three-way split");

    for member in [&a, &b, &c] {
        assert_clean(member);
    }
    assert_no_violations(&ownership);
    c.stop();
    b.stop();
    a.stop();
    assert_no_violations(&ownership);
}

/// A member in another process is SIGKILLed (no LeaveGroup, no more heartbeats): after its
/// session times out the broker expires it, the survivors take over its partitions, resume at
/// its committed offsets, and consume what is produced afterwards.
#[test]
fn consumer_killed_without_leaving_loses_its_partitions_after_the_session_timeout() {
    let _one_at_a_time = serial();
    const PARTITIONS: i32 = 4;
    let broker = BrokerProcess::start_default().expect("start broker");
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("groups-crash");
    let group = "crash-group";
    create_topic(&bootstrap, &topic, PARTITIONS, &[]);
    let mut written = produce_to_all(&bootstrap, &topic, PARTITIONS, 20, "before");

    let ownership = SharedOwnership::default();
    let mut child = ChildConsumer::spawn("consume", &bootstrap, group, &topic);
    let mut s1 = Member::start("s1", &bootstrap, group, &topic, &[], &ownership);
    let mut s2 = Member::start("s2", &bootstrap, group, &topic, &[], &ownership);

    wait_until(
        "three members (one a child process) split",
        SETTLE_TIMEOUT,
        || {
            let child_log = child.snapshot();
            if !child_log.errors.is_empty() {
                return Err(format!("child errors: {:?}", child_log.errors));
            }
            check_split(
                &[
                    ("child", child_log.assignment),
                    ("s1", s1.assignment()),
                    ("s2", s2.assignment()),
                ],
                PARTITIONS,
            )
        },
    );
    // Everything written so far is consumed, and the child's share is committed.
    wait_until(
        "the records before the crash are consumed",
        CONSUME_TIMEOUT,
        || {
            let total = child.snapshot().consumed.len()
                + s1.snapshot().consumed.len()
                + s2.snapshot().consumed.len();
            if total >= written.len() {
                Ok(())
            } else {
                Err(format!("{total} of {} consumed", written.len()))
            }
        },
    );
    let description = describe_group(&bootstrap, group);
    assert_eq!(description.members.len(), 3, "{description:?}");
    let child_partitions = child.snapshot().assignment;
    let before = (s1.snapshot().assigns, s2.snapshot().assigns);

    child.kill9();
    let killed_at = Instant::now();
    wait_until(
        "the survivors own every partition after the session timeout",
        Duration::from_millis(SESSION_TIMEOUT_MS) + SETTLE_TIMEOUT,
        || {
            let (l1, l2) = (s1.snapshot(), s2.snapshot());
            if (l1.assigns, l2.assigns) == before {
                return Err("no rebalance yet".to_string());
            }
            check_split(&[("s1", l1.assignment), ("s2", l2.assignment)], PARTITIONS)
        },
    );
    let moved_after = killed_at.elapsed();
    eprintln!("partitions {child_partitions:?} of the killed member moved after {moved_after:?}");
    // Kafka does not expire a member on disconnect, only by its session timeout.
    assert!(
        moved_after >= Duration::from_millis(SESSION_TIMEOUT_MS - 1_000),
        "the killed member's partitions moved after {moved_after:?}, before its session timeout"
    );
    let description = describe_group(&bootstrap, group);
    assert_eq!(description.state, "Stable", "{description:?}");
    assert_eq!(description.members.len(), 2, "{description:?}");

    written.extend(produce_to_all(&bootstrap, &topic, PARTITIONS, 20, "after"));
    wait_until(
        "the survivors consume the new records",
        CONSUME_TIMEOUT,
        || {
            let total = child.snapshot().consumed.len()
                + s1.snapshot().consumed.len()
                + s2.snapshot().consumed.len();
            if total >= written.len() {
                Ok(())
            } else {
                Err(format!("{total} of {} consumed", written.len()))
            }
        },
    );
    std::thread::sleep(Duration::from_millis(300));
    let child_log = child.snapshot();
    let (l1, l2) = (s1.snapshot(), s2.snapshot());
    // The child's records were committed before it died: nobody reads them again.
    let seen = consumed_once(&[
        ("child", &child_log.consumed),
        ("s1", &l1.consumed),
        ("s2", &l2.consumed),
    ]);
    assert_eq!(
        seen.keys().copied().collect::<BTreeSet<_>>(),
        written,
        "the group consumed exactly what was written"
    );
    assert_clean(&s1);
    assert_clean(&s2);
    assert_no_violations(&ownership);
    s1.stop();
    s2.stop();
}

#[derive(Clone, Copy, Debug)]
enum Restart {
    Clean,
    Kill9,
}

/// A group member commits offsets synchronously; the broker is restarted (SIGTERM or SIGKILL
/// right after the commit is acknowledged); OffsetFetch returns the offsets and a new member
/// of the group resumes exactly there.
///
/// The committing member runs in a child process that is SIGKILLed, never closed: librdkafka
/// hangs forever destroying a group consumer that lived through a broker restart
/// (confluentinc/librdkafka#4674), and a clean close would send a LeaveGroup whose own synced
/// write could mask a commit that was acknowledged before it was durable.
fn committed_offsets_survive(restart: Restart) {
    const PARTITIONS: i32 = 4;
    const PER_PARTITION: i64 = 30;
    let mut broker = BrokerProcess::start_default().expect("start broker");
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("groups-resume");
    let group = "resume-group";
    // The records must survive a kill -9 too, or the committed offsets would point past them.
    create_topic(
        &bootstrap,
        &topic,
        PARTITIONS,
        &[("fsync.policy", "always")],
    );
    produce_to_all(&bootstrap, &topic, PARTITIONS, PER_PARTITION as usize, "r");

    let commit_at = |partition: i32| 5 + 5 * i64::from(partition);
    let plan: Vec<String> = (0..PARTITIONS)
        .map(|p| format!("{p}={}", commit_at(p)))
        .collect();
    let mut committer = ChildConsumer::spawn(
        &format!("commit:{}", plan.join(",")),
        &bootstrap,
        group,
        &topic,
    );
    let committed = wait_until(
        "the member commits",
        SETTLE_TIMEOUT + CONSUME_TIMEOUT,
        || {
            let log = committer.snapshot();
            if !log.errors.is_empty() {
                return Err(format!("child errors: {:?}", log.errors));
            }
            if log.commit_done {
                Ok(log.committed)
            } else {
                Err(format!("assigned {:?}, not committed yet", log.assignment))
            }
        },
    );
    let expected: BTreeMap<i32, i64> = (0..PARTITIONS).map(|p| (p, commit_at(p))).collect();
    assert_eq!(committed, expected, "committed() right after the commit");

    match restart {
        Restart::Clean => {
            let status = broker.stop().expect("stop");
            assert!(status.success(), "clean shutdown exited with {status}");
        }
        // Right after the commit was acknowledged: it must already be durable.
        Restart::Kill9 => broker.kill9().expect("kill -9"),
    }
    committer.kill9();
    broker.restart().expect("restart");

    let expected_offsets: Vec<Offset> = (0..PARTITIONS)
        .map(|p| Offset::Offset(commit_at(p)))
        .collect();
    assert_eq!(
        fetch_committed(&bootstrap, group, &topic, PARTITIONS),
        expected_offsets,
        "OffsetFetch after the {restart:?} restart"
    );

    // The dead member may still be in the restored group until its session times out; the
    // new member gets every partition once it is gone.
    let ownership = SharedOwnership::default();
    let mut second = Member::start("second", &bootstrap, group, &topic, &[], &ownership);
    let remaining: usize = (0..PARTITIONS)
        .map(|p| (PER_PARTITION - commit_at(p)) as usize)
        .sum();
    wait_until(
        "the new member consumes from the committed offsets",
        Duration::from_millis(SESSION_TIMEOUT_MS) + SETTLE_TIMEOUT + CONSUME_TIMEOUT,
        || {
            let consumed = second.snapshot().consumed.len();
            if consumed >= remaining {
                Ok(())
            } else {
                Err(format!(
                    "{consumed} of {remaining} consumed, assignment {:?}",
                    second.assignment()
                ))
            }
        },
    );
    std::thread::sleep(Duration::from_millis(300));
    let log = second.snapshot();
    let mut per_partition: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for (partition, offset) in &log.consumed {
        per_partition.entry(*partition).or_default().push(*offset);
    }
    for partition in 0..PARTITIONS {
        let offsets = per_partition.remove(&partition).unwrap_or_default();
        let want: Vec<i64> = (commit_at(partition)..PER_PARTITION).collect();
        assert_eq!(
            offsets,
            want,
            "partition {partition}: the new member must start at the committed offset {} \
             and read each later record once",
            commit_at(partition)
        );
    }
    assert_clean(&second);
    assert_no_violations(&ownership);
    second.stop();
    // The new member's commits (one per record) moved the offsets to the end.
    assert_eq!(
        fetch_committed(&bootstrap, group, &topic, PARTITIONS),
        vec![Offset::Offset(PER_PARTITION); PARTITIONS as usize],
        "OffsetFetch after the new member's commits"
    );
}

#[test]
fn committed_offsets_resume_after_a_clean_restart() {
    let _one_at_a_time = serial();
    committed_offsets_survive(Restart::Clean);
}

#[test]
fn committed_offsets_resume_after_kill9() {
    let _one_at_a_time = serial();
    committed_offsets_survive(Restart::Kill9);
}

/// A static member (group.instance.id) closes without leaving and comes back within its
/// session timeout: it gets its partitions back and the other member is not rebalanced, not
/// even when the old incarnation's session would have expired.
#[test]
fn static_member_restart_keeps_its_partitions_without_a_rebalance() {
    let _one_at_a_time = serial();
    const PARTITIONS: i32 = 4;
    let broker = BrokerProcess::start_default().expect("start broker");
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("groups-static");
    let group = "static-group";
    create_topic(&bootstrap, &topic, PARTITIONS, &[]);

    let ownership = SharedOwnership::default();
    let static_a = [("group.instance.id", "static-a")];
    let static_b = [("group.instance.id", "static-b")];
    let mut a = Member::start("a", &bootstrap, group, &topic, &static_a, &ownership);
    let mut b = Member::start("b", &bootstrap, group, &topic, &static_b, &ownership);
    wait_until(
        "two static members split the partitions",
        SETTLE_TIMEOUT,
        || check_split(&[("a", a.assignment()), ("b", b.assignment())], PARTITIONS),
    );
    let before = describe_group(&bootstrap, group);
    assert_eq!(before.state, "Stable", "{before:?}");
    assert_eq!(before.members.len(), 2, "{before:?}");
    let a_partitions = a.assignment();
    let b_before = b.snapshot();

    a.stop();
    let closed_at = Instant::now();
    // No LeaveGroup: the broker still counts the old incarnation as a member.
    let during = describe_group(&bootstrap, group);
    assert_eq!(during.state, "Stable", "after the static close: {during:?}");
    assert_eq!(
        during.members.keys().collect::<Vec<_>>(),
        before.members.keys().collect::<Vec<_>>(),
        "after the static close"
    );

    let mut a2 = Member::start("a2", &bootstrap, group, &topic, &static_a, &ownership);
    wait_until(
        "the restarted static member gets an assignment",
        Duration::from_millis(SESSION_TIMEOUT_MS - 1_000),
        || {
            let assignment = a2.assignment();
            if assignment.is_empty() {
                Err("not assigned yet".to_string())
            } else {
                Ok(())
            }
        },
    );
    assert!(
        closed_at.elapsed() < Duration::from_millis(SESSION_TIMEOUT_MS),
        "the rejoin must beat the session timeout to show anything"
    );
    assert_eq!(
        a2.assignment(),
        a_partitions,
        "the static member gets its own partitions back"
    );

    // Past the old incarnation's session timeout: its expiry must not rebalance anyone.
    let settle_until = closed_at + Duration::from_millis(SESSION_TIMEOUT_MS + 2_000);
    std::thread::sleep(settle_until.saturating_duration_since(Instant::now()));
    let (log_a2, log_b) = (a2.snapshot(), b.snapshot());
    assert_eq!(
        (log_b.assigns, log_b.revokes),
        (b_before.assigns, b_before.revokes),
        "the other member was rebalanced by a static member's restart; its assignment went \
         from {:?} to {:?}",
        b_before.assignment,
        log_b.assignment
    );
    assert_eq!(log_b.assignment, b_before.assignment);
    assert_eq!(
        (log_a2.assigns, log_a2.revokes),
        (1, 0),
        "the restarted static member was rebalanced"
    );
    let after = describe_group(&bootstrap, group);
    assert_eq!(after.state, "Stable", "{after:?}");
    assert_eq!(after.members.len(), 2, "{after:?}");
    let described: Vec<(&str, BTreeSet<i32>)> = after
        .members
        .iter()
        .map(|(id, p)| (id.as_str(), p.clone()))
        .collect();
    check_split(&described, PARTITIONS).expect("DescribeGroups after the static restart");

    // The group still works: new records reach their owners.
    let written = produce_to_all(&bootstrap, &topic, PARTITIONS, 10, "static");
    wait_until(
        "the static members consume new records",
        CONSUME_TIMEOUT,
        || {
            let total = a2.snapshot().consumed.len() + b.snapshot().consumed.len();
            if total >= written.len() {
                Ok(())
            } else {
                Err(format!("{total} of {} consumed", written.len()))
            }
        },
    );
    let (log_a2, log_b) = (a2.snapshot(), b.snapshot());
    let seen = consumed_once(&[("a2", &log_a2.consumed), ("b", &log_b.consumed)]);
    assert_eq!(seen.keys().copied().collect::<BTreeSet<_>>(), written);
    assert_clean(&a2);
    assert_clean(&b);
    assert_no_violations(&ownership);
    a2.stop();
    b.stop();
}

/// Commits that do not come from the current generation of a member are refused with Kafka's
/// error codes, promptly, and change nothing: a non-member's commit (librdkafka, generation -1)
/// gets UNKNOWN_MEMBER_ID, a member id with a wrong generation ILLEGAL_GENERATION, an unknown
/// member UNKNOWN_MEMBER_ID, and a generation for a group that does not exist
/// ILLEGAL_GENERATION (OffsetCommit v2).
#[test]
fn commits_from_non_members_and_stale_generations_are_refused() {
    let _one_at_a_time = serial();
    const PARTITIONS: i32 = 2;
    let broker = BrokerProcess::start_default().expect("start broker");
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("groups-bad-commit");
    let group = "bad-commit-group";
    create_topic(&bootstrap, &topic, PARTITIONS, &[]);
    let written = produce_to_all(&bootstrap, &topic, PARTITIONS, 5, "bad");

    let ownership = SharedOwnership::default();
    let mut member = Member::start("member", &bootstrap, group, &topic, &[], &ownership);
    wait_until("the member consumes and commits", SETTLE_TIMEOUT, || {
        let consumed = member.snapshot().consumed.len();
        if consumed >= written.len() {
            Ok(())
        } else {
            Err(format!("{consumed} of {} consumed", written.len()))
        }
    });
    let committed_by_member =
        wait_until("the member's commits are visible", CONSUME_TIMEOUT, || {
            let committed = fetch_committed(&bootstrap, group, &topic, PARTITIONS);
            if committed == vec![Offset::Offset(5); PARTITIONS as usize] {
                Ok(committed)
            } else {
                Err(format!("{committed:?}"))
            }
        });
    let description = describe_group(&bootstrap, group);
    assert_eq!(description.members.len(), 1, "{description:?}");
    let member_id = description.members.keys().next().unwrap().clone();

    // librdkafka, not subscribed: OffsetCommit with generation -1 and no member id, to a group
    // that has a member.
    let outsider = consumer(&bootstrap, &[("group.id", group)]);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, Offset::Offset(1))
        .expect("valid offset");
    let result = bounded("a non-member's commit", REQUEST_TIMEOUT * 2, move || {
        outsider.commit(&tpl, CommitMode::Sync)
    });
    match result {
        Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::UnknownMemberId)) => {}
        other => {
            panic!("a non-member's commit to an active group: {other:?}, want UnknownMemberId")
        }
    }

    let offsets = [(0, 2), (1, 2)];
    let stale = raw_offset_commit(&broker, group, 9_999, &member_id, &topic, &offsets);
    assert_eq!(
        stale,
        vec![
            (topic.clone(), 0, ILLEGAL_GENERATION),
            (topic.clone(), 1, ILLEGAL_GENERATION)
        ],
        "commit with the member's id and a wrong generation"
    );
    let unknown = raw_offset_commit(&broker, group, 1, "no-such-member", &topic, &offsets);
    assert_eq!(
        unknown,
        vec![
            (topic.clone(), 0, UNKNOWN_MEMBER_ID),
            (topic.clone(), 1, UNKNOWN_MEMBER_ID)
        ],
        "commit from an unknown member id"
    );
    let no_group = raw_offset_commit(&broker, "no-such-group", 3, "someone", &topic, &offsets);
    assert_eq!(
        no_group,
        vec![
            (topic.clone(), 0, ILLEGAL_GENERATION),
            (topic.clone(), 1, ILLEGAL_GENERATION)
        ],
        "commit with a generation to a group that does not exist"
    );

    // Nothing changed: the member's offsets stand, it is still the only member, and its own
    // commits still work.
    assert_eq!(
        fetch_committed(&bootstrap, group, &topic, PARTITIONS),
        committed_by_member,
        "refused commits must not change the committed offsets"
    );
    let description = describe_group(&bootstrap, group);
    assert_eq!(description.state, "Stable", "{description:?}");
    assert_eq!(
        description.members.keys().collect::<Vec<_>>(),
        vec![&member_id],
        "{description:?}"
    );
    let more = produce_to_all(&bootstrap, &topic, PARTITIONS, 3, "more");
    wait_until(
        "the member keeps consuming and committing",
        CONSUME_TIMEOUT,
        || {
            let committed = fetch_committed(&bootstrap, group, &topic, PARTITIONS);
            if committed == vec![Offset::Offset(8); PARTITIONS as usize] {
                Ok(())
            } else {
                Err(format!("{committed:?} after {} more records", more.len()))
            }
        },
    );
    assert_eq!(
        member.snapshot().assigns,
        1,
        "the refused commits caused a rebalance"
    );
    assert_clean(&member);
    assert_no_violations(&ownership);
    member.stop();
}

/// These tests reason about session timeouts (6 s) and heartbeats: run them
/// one at a time so that, on a 2-core CI machine, one test's brokers and
/// consumers cannot starve another's heartbeat threads into a false expiry.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
