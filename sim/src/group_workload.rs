//! The group workload: consumers of one group (protocol type "consumer",
//! range assignment by the leader) join, poll their assigned partitions,
//! commit, leave cleanly or crash (stop without LeaveGroup, so their session
//! must expire) and come back as new members, while the produce workload
//! writes and the nemesis crashes the broker. Once told to stop, every
//! member leaves and one drainer joins alone and consumes every partition
//! from the group's committed offsets to the end.
//!
//! Group API versions are drawn from the seed. Every join, sync, commit,
//! offset fetch, reset, leave and crash is recorded (`EventKind::Group`);
//! fetches are `Polled` events under a fresh reader id per assignment.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::time::{sleep, timeout, Instant};

use crate::checker::{Violation, ViolationKind};
use crate::client::group::{self, GroupVersions};
use crate::client::{self, ApiVersionsInUse, ClientError, Connection, TOPIC};
use crate::group_history::{GroupEvent, GROUP_READER_BASE};
use crate::history::{ClientId, EventKind, Offset, Partition};
use crate::recorder::Recorder;

pub const GROUP: &str = "g";
const REQUEST_TIMEOUT: Duration = Duration::from_millis(1_500);
const BACKOFF: Duration = Duration::from_millis(100);
const POLL_MAX_WAIT_MS: i32 = 50;
/// The broker's minimum (`group.min.session.timeout.ms`).
const SESSION_TIMEOUT_MS: i32 = 6_000;
const REBALANCE_TIMEOUT_MS: i32 = 8_000;
const HEARTBEAT_INTERVAL: Duration = Duration::from_millis(1_000);
/// The drainer's member slot.
const DRAINER: ClientId = 299;

const OFFSET_OUT_OF_RANGE: i16 = 1;
const COORDINATOR_NOT_AVAILABLE: i16 = 15;
const ILLEGAL_GENERATION: i16 = 22;
const UNKNOWN_MEMBER_ID: i16 = 25;
const REBALANCE_IN_PROGRESS: i16 = 27;
const MEMBER_ID_REQUIRED: i16 = 79;

#[derive(Debug, Clone)]
pub struct GroupWorkloadConfig {
    pub seed: u64,
    pub broker: SocketAddr,
    pub partitions: i32,
    /// Member slots; each runs one member after another.
    pub members: u32,
    pub versions: GroupVersions,
    /// How long one member lives before it leaves or crashes (ms).
    pub lifetime_ms: (u64, u64),
    /// The chance a member's life ends in a crash rather than a leave.
    pub crash_probability: f64,
    /// Pause before a slot's next member joins (ms).
    pub rejoin_pause_ms: (u64, u64),
    pub commit_interval_ms: u64,
    /// How long the drain may take once started.
    pub drain_deadline: Duration,
}

/// One connection with the negotiated fetch versions.
struct Session {
    name: String,
    broker: SocketAddr,
    live: Option<(Connection, ApiVersionsInUse)>,
}

impl Session {
    fn new(name: String, broker: SocketAddr) -> Self {
        Session {
            name,
            broker,
            live: None,
        }
    }

    async fn get(&mut self) -> Result<&mut (Connection, ApiVersionsInUse), ClientError> {
        if self.live.is_none() {
            let attempt = async {
                let mut connection = Connection::connect(self.broker, &self.name).await?;
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

    fn after_error(&mut self, error: &ClientError) {
        if !error.connection_usable() {
            self.live = None;
        }
    }
}

/// Runs `$call` on the session's connection within `$limit`.
macro_rules! call {
    ($session:expr, $limit:expr, |$connection:ident, $versions:ident| $call:expr) => {{
        let result = match $session.get().await {
            Ok(live) => {
                #[allow(unused_variables)]
                let ($connection, $versions) = (&mut live.0, live.1);
                match timeout($limit, $call).await {
                    Ok(result) => result,
                    Err(_) => Err(ClientError::Io("request timed out".into())),
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

fn code(error: &ClientError) -> Option<i16> {
    match error {
        ClientError::Kafka { code, .. } => Some(*code),
        _ => None,
    }
}

/// What the workload shares between its members.
struct Shared {
    config: GroupWorkloadConfig,
    recorder: Recorder,
    stop: Arc<AtomicBool>,
    next_reader: AtomicU32,
}

impl Shared {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// One member's membership: its id and generation, once synced.
struct Membership {
    member_id: String,
    generation: i32,
    partitions: Vec<Partition>,
    reader: ClientId,
}

/// Joins (and syncs) until the member has an assignment, or `give_up()`.
async fn join(
    client: ClientId,
    shared: &Shared,
    session: &mut Session,
    member_id: &mut String,
    give_up: &(dyn Fn() -> bool + Sync),
) -> Option<Membership> {
    let versions = shared.config.versions;
    let join_limit = Duration::from_millis(REBALANCE_TIMEOUT_MS as u64 + 4_000);
    while !give_up() {
        let found = call!(session, REQUEST_TIMEOUT, |connection, v| {
            group::find_coordinator(connection, versions.find_coordinator, GROUP)
        });
        if found.is_err() {
            sleep(BACKOFF).await;
            continue;
        }
        let joined = match session.get().await {
            Ok(live) => {
                let joining = group::join_group(
                    &mut live.0,
                    versions.join_group,
                    GROUP,
                    member_id,
                    SESSION_TIMEOUT_MS,
                    REBALANCE_TIMEOUT_MS,
                );
                match timeout(join_limit, joining).await {
                    Ok(result) => result,
                    Err(_) => Err((ClientError::Io("join timed out".into()), None)),
                }
            }
            Err(error) => Err((error, None)),
        };
        let joined = match joined {
            Ok(joined) => joined,
            Err((error, assigned)) => {
                session.after_error(&error);
                match code(&error) {
                    Some(MEMBER_ID_REQUIRED) => {
                        if let Some(id) = assigned {
                            *member_id = id;
                        }
                        continue;
                    }
                    Some(UNKNOWN_MEMBER_ID) => member_id.clear(),
                    _ => {}
                }
                sleep(BACKOFF).await;
                continue;
            }
        };
        *member_id = joined.member_id.clone();
        let leader = joined.leader == joined.member_id;
        shared.recorder.record(EventKind::Group(GroupEvent::Joined {
            client,
            member_id: member_id.clone(),
            generation: joined.generation,
            leader,
            members: joined.members.len(),
        }));
        let assignments = if leader {
            group::range_assignment(&joined.members, shared.config.partitions)
        } else {
            Vec::new()
        };
        let synced = call!(session, REQUEST_TIMEOUT, |connection, v| {
            group::sync_group(
                connection,
                versions.sync_group,
                GROUP,
                joined.generation,
                member_id,
                &assignments,
            )
        });
        match synced {
            Ok(partitions) => {
                let reader = GROUP_READER_BASE + shared.next_reader.fetch_add(1, Ordering::Relaxed);
                shared.recorder.record(EventKind::Group(GroupEvent::Synced {
                    client,
                    member_id: member_id.clone(),
                    generation: joined.generation,
                    partitions: partitions.clone(),
                    reader,
                }));
                return Some(Membership {
                    member_id: member_id.clone(),
                    generation: joined.generation,
                    partitions,
                    reader,
                });
            }
            Err(error) => {
                if code(&error) == Some(UNKNOWN_MEMBER_ID) {
                    member_id.clear();
                }
                sleep(BACKOFF).await;
            }
        }
    }
    None
}

/// The committed offsets of the member's partitions (-1 read as 0: the
/// earliest offset); `None` if OffsetFetch failed.
async fn fetch_positions(
    client: ClientId,
    shared: &Shared,
    session: &mut Session,
    partitions: &[Partition],
) -> Option<BTreeMap<Partition, Offset>> {
    if partitions.is_empty() {
        return Some(BTreeMap::new());
    }
    let invoked_seq = shared.recorder.next_seq();
    let version = shared.config.versions.offset_fetch;
    let fetched = call!(session, REQUEST_TIMEOUT, |connection, v| {
        group::offset_fetch(connection, version, GROUP, TOPIC, partitions)
    })
    .ok()?;
    let mut positions = BTreeMap::new();
    for (partition, offset) in fetched {
        shared
            .recorder
            .record(EventKind::Group(GroupEvent::OffsetFetched {
                client,
                partition,
                invoked_seq,
                offset,
            }));
        positions.insert(partition, offset.max(0));
    }
    Some(positions)
}

/// Commits `offsets`; returns the first error (a group error means rejoin).
async fn commit(
    client: ClientId,
    shared: &Shared,
    session: &mut Session,
    membership: &Membership,
    offsets: &[(Partition, Offset)],
    probe: bool,
) -> Result<(), ClientError> {
    if offsets.is_empty() {
        return Ok(());
    }
    let invoked_seq = shared.recorder.next_seq();
    let version = shared.config.versions.offset_commit;
    let result = call!(session, REQUEST_TIMEOUT, |connection, v| {
        group::offset_commit(
            connection,
            version,
            GROUP,
            membership.generation,
            &membership.member_id,
            TOPIC,
            offsets,
        )
    });
    let per_partition: Vec<(Partition, Result<(), ClientError>)> = match &result {
        Ok(answers) => answers.clone(),
        Err(error) => offsets
            .iter()
            .map(|(p, _)| (*p, Err(error.clone())))
            .collect(),
    };
    let mut first_error = None;
    for ((partition, outcome), (_, offset)) in per_partition.into_iter().zip(offsets) {
        if let Err(error) = &outcome {
            first_error.get_or_insert(error.clone());
        }
        shared
            .recorder
            .record(EventKind::Group(GroupEvent::Committed {
                client,
                member_id: membership.member_id.clone(),
                generation: membership.generation,
                partition,
                invoked_seq,
                offset: *offset,
                probe,
                error: outcome.err().map(|e| e.to_string()),
            }));
    }
    match first_error {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// One fetch of `partition` from `position` under `reader`; returns the next
/// position and the high watermark.
async fn poll(
    reader: ClientId,
    shared: &Shared,
    session: &mut Session,
    partition: Partition,
    position: Offset,
    max_wait_ms: i32,
) -> Result<(Offset, Offset), ClientError> {
    let invoked_seq = shared.recorder.next_seq();
    let result = call!(session, REQUEST_TIMEOUT, |connection, versions| {
        client::fetch(
            connection,
            versions,
            TOPIC,
            partition,
            position,
            max_wait_ms,
        )
    });
    match result {
        Ok(fetched) => {
            let after_records = fetched.records.last().map(|r| r.offset + 1);
            let next = [Some(position), after_records, fetched.next_offset]
                .into_iter()
                .flatten()
                .max()
                .expect("position is there");
            shared.recorder.record(EventKind::Polled {
                client: reader,
                partition,
                fetch_offset: position,
                invoked_seq,
                high_watermark: fetched.high_watermark,
                records: fetched.records,
            });
            Ok((next, fetched.high_watermark))
        }
        Err(error) => {
            shared.recorder.record(EventKind::PollFailed {
                client: reader,
                partition,
                fetch_offset: position,
                error: error.to_string(),
            });
            Err(error)
        }
    }
}

/// Why a member stopped consuming in its generation.
enum Ended {
    /// Rejoin (rebalance, fenced, or the coordinator lost the member).
    Rejoin { forget_member_id: bool },
    /// Its life is over (or the workload stops): leave or crash.
    LifeOver,
}

/// Polls the assignment, heartbeats and commits until told to rejoin or
/// the member's life ends.
async fn consume(
    client: ClientId,
    shared: &Shared,
    session: &mut Session,
    membership: &Membership,
    life_ends: Instant,
) -> Ended {
    let Some(mut positions) =
        fetch_positions(client, shared, session, &membership.partitions).await
    else {
        return Ended::Rejoin {
            forget_member_id: false,
        };
    };
    let mut committed: BTreeMap<Partition, Offset> = positions.clone();
    let mut next_heartbeat = Instant::now() + HEARTBEAT_INTERVAL;
    let commit_interval = Duration::from_millis(shared.config.commit_interval_ms);
    let mut next_commit = Instant::now() + commit_interval;
    loop {
        if shared.stopping() || Instant::now() >= life_ends {
            return Ended::LifeOver;
        }
        for &partition in &membership.partitions {
            let position = positions[&partition];
            match poll(
                membership.reader,
                shared,
                session,
                partition,
                position,
                POLL_MAX_WAIT_MS,
            )
            .await
            {
                Ok((next, _high_watermark)) => {
                    positions.insert(partition, next);
                }
                Err(error) if code(&error) == Some(OFFSET_OUT_OF_RANGE) => {
                    shared.recorder.record(EventKind::Group(GroupEvent::Reset {
                        client,
                        partition,
                        from: position,
                    }));
                    positions.insert(partition, 0);
                }
                Err(_) => sleep(BACKOFF).await,
            }
        }
        if membership.partitions.is_empty() {
            sleep(Duration::from_millis(100)).await;
        }
        let mut group_error = None;
        if Instant::now() >= next_commit {
            next_commit = Instant::now() + commit_interval;
            let due: Vec<(Partition, Offset)> = positions
                .iter()
                .filter(|(p, o)| committed.get(p) != Some(o))
                .map(|(p, o)| (*p, *o))
                .collect();
            match commit(client, shared, session, membership, &due, false).await {
                Ok(()) => committed.extend(due),
                Err(error) => group_error = code(&error),
            }
        }
        if group_error.is_none() && Instant::now() >= next_heartbeat {
            next_heartbeat = Instant::now() + HEARTBEAT_INTERVAL;
            let version = shared.config.versions.heartbeat;
            let beat = call!(session, REQUEST_TIMEOUT, |connection, v| {
                group::heartbeat(
                    connection,
                    version,
                    GROUP,
                    membership.generation,
                    &membership.member_id,
                )
            });
            if let Err(error) = beat {
                group_error = code(&error);
            }
        }
        match group_error {
            Some(REBALANCE_IN_PROGRESS) => {
                // Commit what was consumed before rejoining, as a client does.
                let due: Vec<(Partition, Offset)> = positions
                    .iter()
                    .filter(|(p, o)| committed.get(p) != Some(o))
                    .map(|(p, o)| (*p, *o))
                    .collect();
                let _ = commit(client, shared, session, membership, &due, false).await;
                return Ended::Rejoin {
                    forget_member_id: false,
                };
            }
            Some(ILLEGAL_GENERATION) => {
                return Ended::Rejoin {
                    forget_member_id: false,
                }
            }
            Some(UNKNOWN_MEMBER_ID) => {
                return Ended::Rejoin {
                    forget_member_id: true,
                }
            }
            Some(COORDINATOR_NOT_AVAILABLE) | Some(_) | None => {}
        }
    }
}

/// One member slot: members joining, consuming, leaving or crashing, one
/// after another, until the workload stops (the last one leaves).
async fn member_slot(client: ClientId, shared: Arc<Shared>) {
    let config = &shared.config;
    let mut rng = ChaCha8Rng::seed_from_u64(
        config.seed.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ u64::from(client),
    );
    let mut incarnation = 0u32;
    while !shared.stopping() {
        incarnation += 1;
        let mut session = Session::new(format!("group-{client}-{incarnation}"), config.broker);
        // A member's life is counted from its first assignment: joining can
        // take a while (the initial rebalance delay, members to wait for).
        let (low, high) = config.lifetime_ms;
        let life = Duration::from_millis(rng.gen_range(low..=high));
        let mut life_ends: Option<Instant> = None;
        let mut member_id = String::new();
        loop {
            let give_up = || shared.stopping();
            let Some(membership) =
                join(client, &shared, &mut session, &mut member_id, &give_up).await
            else {
                break;
            };
            let ends = *life_ends.get_or_insert_with(|| Instant::now() + life);
            let ended = consume(client, &shared, &mut session, &membership, ends).await;
            match ended {
                Ended::Rejoin { forget_member_id } => {
                    if forget_member_id {
                        member_id.clear();
                    }
                }
                Ended::LifeOver => break,
            }
        }
        let crash = !shared.stopping() && rng.gen_bool(config.crash_probability);
        if member_id.is_empty() {
            // Never got a member id: nothing to leave.
        } else if crash {
            shared
                .recorder
                .record(EventKind::Group(GroupEvent::Crashed {
                    client,
                    member_id: member_id.clone(),
                }));
        } else {
            let version = config.versions.leave_group;
            let left = call!(session, REQUEST_TIMEOUT, |connection, v| {
                group::leave_group(connection, version, GROUP, &member_id)
            });
            shared.recorder.record(EventKind::Group(GroupEvent::Left {
                client,
                member_id: member_id.clone(),
                error: left.err().map(|e| e.to_string()),
            }));
        }
        drop(session);
        let (low, high) = config.rejoin_pause_ms;
        sleep(Duration::from_millis(rng.gen_range(low..=high))).await;
    }
}

/// For each partition, one past the highest acknowledged offset.
fn acked_end_by_partition(recorder: &Recorder) -> BTreeMap<Partition, Offset> {
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

/// The drain: one member alone in the group (the others left; crashed ones
/// expire) reads every partition from the committed offset to past every
/// acknowledged offset and commits. Returns whether it finished in time.
async fn drain(shared: &Shared) -> bool {
    let deadline = Instant::now() + shared.config.drain_deadline;
    let give_up = || Instant::now() >= deadline;
    let mut session = Session::new("group-drainer".into(), shared.config.broker);
    let mut member_id = String::new();
    let all: Vec<Partition> = (0..shared.config.partitions).collect();
    let acked_end = acked_end_by_partition(&shared.recorder);
    let mut done: BTreeMap<Partition, (Offset, Offset)> = BTreeMap::new();
    while !give_up() {
        let Some(membership) = join(DRAINER, shared, &mut session, &mut member_id, &give_up).await
        else {
            break;
        };
        let Some(mut positions) =
            fetch_positions(DRAINER, shared, &mut session, &membership.partitions).await
        else {
            continue;
        };
        let mut fenced = false;
        for &partition in &membership.partitions {
            if done.contains_key(&partition) {
                continue;
            }
            let wanted = acked_end.get(&partition).copied().unwrap_or(0);
            loop {
                if give_up() {
                    return false;
                }
                let position = positions[&partition];
                match poll(
                    membership.reader,
                    shared,
                    &mut session,
                    partition,
                    position,
                    0,
                )
                .await
                {
                    Ok((next, high_watermark)) => {
                        positions.insert(partition, next);
                        if next >= high_watermark && high_watermark >= wanted {
                            let committed = [(partition, next)];
                            match commit(
                                DRAINER,
                                shared,
                                &mut session,
                                &membership,
                                &committed,
                                false,
                            )
                            .await
                            {
                                Ok(()) => {
                                    done.insert(partition, (next, high_watermark));
                                    shared.recorder.record(EventKind::Group(
                                        GroupEvent::DrainDone {
                                            partition,
                                            committed: next,
                                            high_watermark,
                                        },
                                    ));
                                    break;
                                }
                                Err(error) => {
                                    if matches!(
                                        code(&error),
                                        Some(ILLEGAL_GENERATION)
                                            | Some(UNKNOWN_MEMBER_ID)
                                            | Some(REBALANCE_IN_PROGRESS)
                                    ) {
                                        if code(&error) == Some(UNKNOWN_MEMBER_ID) {
                                            member_id.clear();
                                        }
                                        fenced = true;
                                        break;
                                    }
                                    sleep(BACKOFF).await;
                                }
                            }
                        } else if next >= high_watermark {
                            sleep(BACKOFF).await;
                        }
                    }
                    Err(error) if code(&error) == Some(OFFSET_OUT_OF_RANGE) => {
                        shared.recorder.record(EventKind::Group(GroupEvent::Reset {
                            client: DRAINER,
                            partition,
                            from: position,
                        }));
                        positions.insert(partition, 0);
                    }
                    Err(_) => sleep(BACKOFF).await,
                }
            }
            if fenced {
                break;
            }
        }
        if all.iter().all(|p| done.contains_key(p)) {
            let version = shared.config.versions.leave_group;
            let left = call!(session, REQUEST_TIMEOUT, |connection, v| {
                group::leave_group(connection, version, GROUP, &member_id)
            });
            shared.recorder.record(EventKind::Group(GroupEvent::Left {
                client: DRAINER,
                member_id: member_id.clone(),
                error: left.err().map(|e| e.to_string()),
            }));
            return true;
        }
        if !fenced {
            // Not every partition was ours: wait for the others' sessions
            // to expire and the rebalance that follows.
            sleep(Duration::from_millis(500)).await;
        }
    }
    false
}

/// The whole group workload: members until `stop`, then the drain.
/// The topic is created by the produce workload; members retry until it
/// exists.
pub async fn run(config: GroupWorkloadConfig, recorder: Recorder, stop: Arc<AtomicBool>) {
    let shared = Arc::new(Shared {
        config,
        recorder,
        stop,
        next_reader: AtomicU32::new(0),
    });
    let mut tasks = Vec::new();
    for index in 0..shared.config.members {
        tasks.push(tokio::spawn(member_slot(200 + index, shared.clone())));
    }
    for task in tasks {
        let _ = task.await;
    }
    if !drain(&shared).await {
        shared.recorder.report(Violation {
            kind: ViolationKind::Liveness,
            at_seq: None,
            partition: None,
            detail: format!(
                "the group drain did not finish within {:?} after faults stopped",
                shared.config.drain_deadline
            ),
        });
    }
}
