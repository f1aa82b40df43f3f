//! The lifecycle workload, run on the client node beside the main one: one
//! single-partition topic, `lc`, whose configs come from the seed (small
//! segments that roll, short time and size retention, compaction with keyed
//! values and tombstones, a low dirty ratio, either timestamp type) and
//! change during the run; it is deleted and re-created under the same name,
//! its records deleted below an offset (DeleteRecords), and looked up by
//! time, earliest and latest (ListOffsets). One task does it all in
//! sequence, so every operation knows which incarnation of the topic it
//! addressed.
//!
//! Everything it does is drawn from its own stream of the seed (adding it
//! shifted no draw of the other workloads) and recorded as
//! `EventKind::Lifecycle`; the `lc_*` checkers judge it.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::time::sleep;

use crate::checker::{Violation, ViolationKind};
use crate::client::lifecycle::{self, UNKNOWN_TOPIC_OR_PARTITION};
use crate::client::{self, ClientError};
use crate::history::{EventKind, Offset};
use crate::lifecycle_history::{Incarnation, LcEvent, LcRecord, LIFECYCLE_TOPIC};
use crate::recorder::Recorder;
use crate::workload::{
    with_timeout, Session, WorkloadControl, BACKOFF, OFFSET_OUT_OF_RANGE, REQUEST_TIMEOUT,
};

/// TOPIC_ALREADY_EXISTS.
const TOPIC_ALREADY_EXISTS: i16 = 36;
/// The stream of the seed this workload draws from.
const STREAM: u64 = 0x6c69_6665_6379_636c;

#[derive(Debug, Clone)]
pub struct LifecycleConfig {
    pub seed: u64,
    pub broker: SocketAddr,
    /// Keys are `k0..k{keys}`: few, so compaction has older values to drop.
    pub keys: u32,
    pub tombstone_probability: f64,
    /// Pause between two operations.
    pub step_pause_ms: (u64, u64),
    /// Relative weights of produce, read, earliest/latest, time lookup,
    /// DeleteRecords, alter configs, delete and re-create.
    pub weights: [u32; 7],
    /// At most this many delete + re-create cycles.
    pub recreations_max: u32,
    pub final_read_deadline: Duration,
}

/// The workload's shape, from its own stream of the seed.
pub fn draw(seed: u64, broker: SocketAddr, final_read_deadline: Duration) -> LifecycleConfig {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ STREAM);
    LifecycleConfig {
        seed,
        broker,
        keys: rng.gen_range(2..=12),
        tombstone_probability: rng.gen_range(0.0..0.15),
        step_pause_ms: (0, rng.gen_range(10..=60)),
        weights: [
            rng.gen_range(30..=60),
            rng.gen_range(15..=30),
            rng.gen_range(2..=6),
            rng.gen_range(3..=10),
            rng.gen_range(1..=3),
            rng.gen_range(1..=4),
            rng.gen_range(0..=2),
        ],
        recreations_max: rng.gen_range(0..=3),
        final_read_deadline,
    }
}

/// The cleanup policies a topic can have, as Kafka spells them.
const POLICIES: [&str; 3] = ["delete", "compact", "compact,delete"];

/// Topic configs for a creation: small segments, one cleanup policy, short
/// retention, a compaction lag and dirty ratio, a timestamp type.
fn topic_configs(rng: &mut ChaCha8Rng) -> Vec<(String, String)> {
    let mut configs = vec![
        ("fsync.policy".to_string(), "always".to_string()),
        (
            "segment.bytes".to_string(),
            rng.gen_range(1_024..=16_384).to_string(),
        ),
        (
            "cleanup.policy".to_string(),
            POLICIES[rng.gen_range(0..POLICIES.len())].to_string(),
        ),
        (
            "retention.ms".to_string(),
            rng.gen_range(1_500..=10_000).to_string(),
        ),
        (
            "min.compaction.lag.ms".to_string(),
            rng.gen_range(0..=1_000).to_string(),
        ),
        (
            "min.cleanable.dirty.ratio".to_string(),
            format!("{:.2}", rng.gen_range(0.01..0.3)),
        ),
        (
            "delete.retention.ms".to_string(),
            rng.gen_range(0..=3_000).to_string(),
        ),
        (
            "message.timestamp.type".to_string(),
            if rng.gen_bool(0.8) {
                "CreateTime"
            } else {
                "LogAppendTime"
            }
            .to_string(),
        ),
    ];
    if rng.gen_bool(0.4) {
        configs.push((
            "retention.bytes".to_string(),
            rng.gen_range(2_048..=32_768).to_string(),
        ));
    }
    configs
}

/// One or two configs to change live.
fn config_change(rng: &mut ChaCha8Rng) -> Vec<(String, String)> {
    let all = topic_configs(rng);
    // fsync.policy stays `always`: the checkers' durability promise.
    let changeable: Vec<_> = all
        .into_iter()
        .filter(|(k, _)| k != "fsync.policy")
        .collect();
    let first = rng.gen_range(0..changeable.len());
    let mut chosen = vec![changeable[first].clone()];
    if rng.gen_bool(0.3) {
        let second = rng.gen_range(0..changeable.len());
        if second != first {
            chosen.push(changeable[second].clone());
        }
    }
    chosen
}

/// The workload's memory of the topic it addresses now.
struct State {
    incarnation: Incarnation,
    session: Session,
    next_value: u64,
    /// Timestamps strictly increase across records (ties would make a time
    /// lookup's answer ambiguous).
    last_timestamp_ms: i64,
    /// The reader's position.
    position: Offset,
    /// The highest log start and high watermark seen in this incarnation.
    log_start: Offset,
    high_watermark: Offset,
    /// Timestamps of this incarnation's acknowledged records.
    acked_timestamps: Vec<i64>,
    /// One past the highest acknowledged offset of this incarnation.
    acked_end: Offset,
    recreations: u32,
}

fn wall_ms() -> i64 {
    let now = madsim::time::TimeHandle::current().now_time();
    now.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Notes a log start seen; what it passed over counts as removed by
/// retention or DeleteRecords (for `--json`).
fn raise_log_start(state: &mut State, recorder: &Recorder, log_start: Offset) {
    if log_start > state.log_start {
        let removed = (log_start - state.log_start) as u64;
        recorder.note(|stats| stats.lc_records_below_log_start += removed);
        state.log_start = log_start;
    }
}

fn record(recorder: &Recorder, event: LcEvent) -> u64 {
    recorder.record(EventKind::Lifecycle(event))
}

/// Creates the topic with `configs`; retries until it exists. A
/// TOPIC_ALREADY_EXISTS counts only after an attempt of ours went out (the
/// first attempt's would mean the old incarnation is still there).
async fn create(state: &mut State, recorder: &Recorder, configs: &[(String, String)]) {
    let pairs: Vec<(&str, &str)> = configs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut attempted = false;
    loop {
        let result = with_timeout!(state.session, |connection, versions| {
            client::create_topic_strict(connection, versions, LIFECYCLE_TOPIC, 1, &pairs)
        });
        match result {
            Ok(()) => break,
            Err(ClientError::Kafka {
                code: TOPIC_ALREADY_EXISTS,
                ..
            }) if attempted => break,
            Err(ClientError::Kafka { .. }) => attempted = true,
            Err(_) => attempted = true,
        }
        sleep(BACKOFF).await;
    }
    record(
        recorder,
        LcEvent::Created {
            incarnation: state.incarnation,
            configs: configs.to_vec(),
        },
    );
}

/// Deletes the topic (retrying until it is gone), then creates the next
/// incarnation.
async fn recreate(state: &mut State, recorder: &Recorder, rng: &mut ChaCha8Rng) {
    let mut attempted = false;
    loop {
        let result = with_timeout!(state.session, |connection, versions| {
            lifecycle::delete_topic(connection, versions, LIFECYCLE_TOPIC)
        });
        match result {
            Ok(()) => break,
            Err(ClientError::Kafka {
                code: UNKNOWN_TOPIC_OR_PARTITION,
                ..
            }) if attempted => break,
            Err(_) => attempted = true,
        }
        sleep(BACKOFF).await;
    }
    record(
        recorder,
        LcEvent::Deleted {
            incarnation: state.incarnation,
        },
    );
    recorder.note(|stats| stats.lc_topics_recreated += 1);
    state.incarnation += 1;
    state.recreations += 1;
    state.position = 0;
    state.log_start = 0;
    state.high_watermark = 0;
    state.acked_timestamps.clear();
    state.acked_end = 0;
    let configs = topic_configs(rng);
    create(state, recorder, &configs).await;
}

async fn produce(
    state: &mut State,
    config: &LifecycleConfig,
    recorder: &Recorder,
    rng: &mut ChaCha8Rng,
) {
    let count = rng.gen_range(1..=4);
    let mut records = Vec::with_capacity(count);
    for _ in 0..count {
        let key = format!("k{}", rng.gen_range(0..config.keys));
        let value = (!rng.gen_bool(config.tombstone_probability)).then(|| {
            state.next_value += 1;
            format!("{key}:{}", state.next_value)
        });
        state.last_timestamp_ms = wall_ms().max(state.last_timestamp_ms + 1);
        records.push(LcRecord {
            offset: 0,
            key,
            value,
            timestamp_ms: state.last_timestamp_ms,
        });
    }
    let incarnation = state.incarnation;
    record(
        recorder,
        LcEvent::SendInvoked {
            incarnation,
            records: records.clone(),
        },
    );
    let result = with_timeout!(state.session, |connection, versions| {
        lifecycle::produce_keyed(
            connection,
            versions,
            LIFECYCLE_TOPIC,
            &records,
            REQUEST_TIMEOUT.as_millis() as i32,
        )
    });
    match result {
        Ok(records) => {
            for r in &records {
                state.acked_timestamps.push(r.timestamp_ms);
                state.acked_end = state.acked_end.max(r.offset + 1);
            }
            record(
                recorder,
                LcEvent::SendAcked {
                    incarnation,
                    records,
                },
            );
        }
        Err(error) => {
            record(
                recorder,
                LcEvent::SendFailed {
                    incarnation,
                    error: error.to_string(),
                },
            );
            sleep(BACKOFF).await;
        }
    }
}

/// One read from the reader's position. Returns the high watermark.
async fn read(state: &mut State, recorder: &Recorder, last: bool) -> Option<Offset> {
    let incarnation = state.incarnation;
    let fetch_offset = state.position;
    let invoked_seq = recorder.next_seq();
    let result = with_timeout!(state.session, |connection, versions| {
        lifecycle::fetch_keyed(connection, versions, LIFECYCLE_TOPIC, fetch_offset)
    });
    match result {
        Ok(fetched) => {
            let gaps = fetched
                .records
                .windows(2)
                .map(|pair| (pair[1].offset - pair[0].offset - 1).max(0) as u64)
                .sum::<u64>();
            let after = fetched.records.last().map(|r| r.offset + 1);
            state.position = [Some(fetch_offset), after, fetched.next_offset]
                .into_iter()
                .flatten()
                .max()
                .expect("fetch offset is there");
            raise_log_start(state, recorder, fetched.log_start_offset);
            state.high_watermark = state.high_watermark.max(fetched.high_watermark);
            recorder.note(|stats| {
                stats.lc_reads += 1;
                stats.lc_records_compacted_away += gaps;
                if gaps > 0 {
                    stats.lc_compacted_reads += 1;
                }
            });
            let high_watermark = fetched.high_watermark;
            record(
                recorder,
                LcEvent::Read {
                    incarnation,
                    fetch_offset,
                    invoked_seq,
                    log_start_offset: fetched.log_start_offset,
                    high_watermark,
                    records: fetched.records,
                    last,
                },
            );
            Some(high_watermark)
        }
        Err(error) => {
            record(
                recorder,
                LcEvent::ReadFailed {
                    incarnation,
                    fetch_offset,
                    error: error.to_string(),
                },
            );
            if matches!(
                error,
                ClientError::Kafka {
                    code: OFFSET_OUT_OF_RANGE,
                    ..
                }
            ) {
                // auto.offset.reset=earliest.
                if let Some(earliest) = list(state, recorder, -2).await {
                    state.position = earliest;
                }
            } else {
                sleep(BACKOFF).await;
            }
            None
        }
    }
}

/// ListOffsets earliest (-2), latest (-1) or by time; records the answer.
async fn list(state: &mut State, recorder: &Recorder, timestamp: i64) -> Option<Offset> {
    let incarnation = state.incarnation;
    let invoked_seq = recorder.next_seq();
    let result = with_timeout!(state.session, |connection, versions| {
        lifecycle::list_offset(connection, versions, LIFECYCLE_TOPIC, timestamp)
    });
    let (offset, found_timestamp_ms) = match result {
        Ok(answer) => answer,
        Err(_) => {
            sleep(BACKOFF).await;
            return None;
        }
    };
    let event = match timestamp {
        -2 => {
            raise_log_start(state, recorder, offset);
            LcEvent::Earliest {
                incarnation,
                invoked_seq,
                offset,
            }
        }
        -1 => {
            state.high_watermark = state.high_watermark.max(offset);
            LcEvent::Latest {
                incarnation,
                invoked_seq,
                offset,
            }
        }
        timestamp_ms => {
            recorder.note(|stats| stats.lc_time_lookups += 1);
            LcEvent::TimeLookup {
                incarnation,
                invoked_seq,
                timestamp_ms,
                offset,
                found_timestamp_ms,
            }
        }
    };
    record(recorder, event);
    Some(offset)
}

/// A time to look up: near an acknowledged record's timestamp (just below,
/// at, just above), before everything, or after everything.
fn lookup_time(state: &State, rng: &mut ChaCha8Rng) -> i64 {
    match (rng.gen_range(0..10), state.acked_timestamps.is_empty()) {
        (0, _) => 0,
        (1, _) | (_, true) => wall_ms() + 60_000,
        _ => {
            let at = state.acked_timestamps[rng.gen_range(0..state.acked_timestamps.len())];
            at + rng.gen_range(-2..=1)
        }
    }
}

async fn delete_records(state: &mut State, recorder: &Recorder, rng: &mut ChaCha8Rng) {
    if state.high_watermark <= state.log_start {
        return;
    }
    let offset = rng.gen_range(state.log_start..=state.high_watermark);
    let incarnation = state.incarnation;
    let result = with_timeout!(state.session, |connection, versions| {
        lifecycle::delete_records(connection, versions, LIFECYCLE_TOPIC, offset)
    });
    match result {
        Ok(low_watermark) => {
            recorder.note(|stats| stats.lc_delete_records += 1);
            raise_log_start(state, recorder, low_watermark);
            record(
                recorder,
                LcEvent::RecordsDeleted {
                    incarnation,
                    offset,
                    low_watermark,
                },
            );
        }
        // A compact-only topic refuses (POLICY_VIOLATION); a failed call
        // may or may not have moved the start: nothing is promised.
        Err(_) => sleep(BACKOFF).await,
    }
}

async fn alter_configs(state: &mut State, recorder: &Recorder, rng: &mut ChaCha8Rng) {
    let configs = config_change(rng);
    let incarnation = state.incarnation;
    let result = with_timeout!(state.session, |connection, versions| {
        lifecycle::alter_topic_configs(connection, versions, LIFECYCLE_TOPIC, &configs)
    });
    match result {
        Ok(()) => {
            recorder.note(|stats| stats.lc_configs_altered += 1);
            record(
                recorder,
                LcEvent::ConfigAltered {
                    incarnation,
                    configs,
                },
            );
        }
        Err(error) => {
            let may_have_applied = alter_may_have_applied(&error);
            if may_have_applied {
                recorder.note(|stats| stats.lc_config_alters_unanswered += 1);
            }
            record(
                recorder,
                LcEvent::ConfigAlterFailed {
                    incarnation,
                    configs,
                    error: error.to_string(),
                    may_have_applied,
                },
            );
            sleep(BACKOFF).await;
        }
    }
}

/// Whether an IncrementalAlterConfigs that failed with `error` may still
/// have changed the topic. Only the broker's refusals before its commit
/// (a bad config or request, an unknown topic) are definite; a lost answer
/// is not (the commit may be durable, or the request may still run after a
/// pause), and neither is UNKNOWN_SERVER_ERROR, the answer to a failed
/// metadata journal write, whose frame a later start may still replay.
fn alter_may_have_applied(error: &ClientError) -> bool {
    /// UNKNOWN_TOPIC_OR_PARTITION, INVALID_CONFIG, INVALID_REQUEST.
    const REFUSED_BEFORE_COMMIT: [i16; 3] = [UNKNOWN_TOPIC_OR_PARTITION, 40, 42];
    !matches!(error, ClientError::Kafka { code, .. } if REFUSED_BEFORE_COMMIT.contains(code))
}

/// Reads the last incarnation from its log start to the high watermark,
/// waiting (until the deadline) for it to pass every acknowledged offset.
async fn final_read(state: &mut State, config: &LifecycleConfig, recorder: &Recorder) -> bool {
    let deadline = tokio::time::Instant::now() + config.final_read_deadline;
    loop {
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        if let Some(earliest) = list(state, recorder, -2).await {
            state.position = earliest;
            break;
        }
    }
    loop {
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        let Some(high_watermark) = read(state, recorder, true).await else {
            continue;
        };
        if state.position >= high_watermark {
            let close_to_deadline =
                tokio::time::Instant::now() + Duration::from_millis(500) >= deadline;
            if high_watermark >= state.acked_end || close_to_deadline {
                record(
                    recorder,
                    LcEvent::FinalReadDone {
                        incarnation: state.incarnation,
                        high_watermark,
                    },
                );
                return true;
            }
            sleep(BACKOFF).await;
        }
    }
}

/// The whole lifecycle workload; returns after its final read.
pub async fn run(config: LifecycleConfig, recorder: Recorder, control: Arc<WorkloadControl>) {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed.wrapping_mul(31) ^ STREAM);
    let mut state = State {
        incarnation: 0,
        session: Session::new("lifecycle".into(), config.broker),
        next_value: 0,
        last_timestamp_ms: 0,
        position: 0,
        log_start: 0,
        high_watermark: 0,
        acked_timestamps: Vec::new(),
        acked_end: 0,
        recreations: 0,
    };
    if std::env::var("SIMWL_OFF").is_ok() {
        return;
    }
    let configs = topic_configs(&mut rng);
    create(&mut state, &recorder, &configs).await;
    let total: u32 = config.weights.iter().sum();
    while !control.stop_producing.load(Ordering::Relaxed) {
        let (low, high) = config.step_pause_ms;
        sleep(Duration::from_millis(rng.gen_range(low..=high))).await;
        let mut pick = rng.gen_range(0..total.max(1));
        let action = config
            .weights
            .iter()
            .position(|w| {
                if pick < *w {
                    true
                } else {
                    pick -= w;
                    false
                }
            })
            .unwrap_or(0);
        match action {
            0 => produce(&mut state, &config, &recorder, &mut rng).await,
            1 => {
                read(&mut state, &recorder, false).await;
            }
            2 => {
                let which = if rng.gen_bool(0.5) { -2 } else { -1 };
                list(&mut state, &recorder, which).await;
            }
            3 => {
                let at = lookup_time(&state, &mut rng);
                list(&mut state, &recorder, at).await;
            }
            4 => delete_records(&mut state, &recorder, &mut rng).await,
            5 => alter_configs(&mut state, &recorder, &mut rng).await,
            _ if state.recreations < config.recreations_max => {
                recreate(&mut state, &recorder, &mut rng).await
            }
            _ => {}
        }
    }
    if !final_read(&mut state, &config, &recorder).await {
        recorder.report(Violation {
            kind: ViolationKind::Liveness,
            at_seq: None,
            partition: None,
            detail: format!(
                "the lifecycle topic's final read did not finish within {:?} after faults stopped",
                config.final_read_deadline
            ),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_refusal_before_the_commit_means_an_alter_did_not_apply() {
        for code in [UNKNOWN_TOPIC_OR_PARTITION, 40, 42] {
            assert!(!alter_may_have_applied(&ClientError::kafka(code)));
        }
        // UNKNOWN_SERVER_ERROR: the metadata journal write failed.
        assert!(alter_may_have_applied(&ClientError::kafka(-1)));
        assert!(alter_may_have_applied(&ClientError::Io(
            "request timed out".into()
        )));
        assert!(alter_may_have_applied(&ClientError::Io(
            "ConnectionReset".into()
        )));
    }
}
