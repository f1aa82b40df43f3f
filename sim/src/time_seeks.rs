//! Time seeks: after the final read, ListOffsets by time on every partition
//! of the workload's topic, each answer judged against the log the final
//! read saw (`time-lookup`).
//!
//! A segment's largest timestamp, which decides whether a lookup searches
//! it, comes from its time index's last entry when recovery trusts the
//! segment (it lies below the recovery point). A time index a crash left
//! cut at an earlier write but well formed (a holey writeback whose
//! committed size is an older one, `sim_disk_sectors`) understates it, and a
//! lookup of a time in the lost range skips the segment: the answer lies
//! past records that qualify. This is what makes the `unsynced-index` bug
//! switch observable through the time index.
//!
//! The oracle: every value's timestamp is the simulated time its producer
//! recorded `SendInvoked` (the producer stamps the batch with that very
//! time, CreateTime, and resends the same bytes), and the final read, after
//! producers stopped, saw every offset below the high watermark with its
//! value. The answer to time `T` is the first offset holding a value
//! stamped `T` or later. A lookup is judged only when every offset below
//! the expected answer (or below the high watermark, for "none") was read
//! as a known value, and the broker's answer lies below the high watermark.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::checker::{Violation, ViolationKind};
use crate::client::{lifecycle, TOPIC};
use crate::history::{EventKind, Offset, Partition, ReadValue, FINAL_READER};
use crate::recorder::Recorder;
use crate::workload::{with_timeout, Session, WorkloadConfig};

/// Lookups per partition.
const TIME_SEEKS_PER_PARTITION: u32 = 32;

/// What the final read saw of one partition: each offset's timestamp, when
/// its value is known.
struct PartitionTimes {
    high_watermark: i64,
    timestamps: BTreeMap<Offset, Option<i64>>,
}

impl PartitionTimes {
    /// The first offset stamped `at` or later, if every offset before it
    /// (below the high watermark) has a known timestamp; `Err` if not.
    fn expected(&self, at: i64) -> Result<Option<Offset>, ()> {
        for offset in 0..self.high_watermark {
            match self.timestamps.get(&offset).copied().flatten() {
                Some(timestamp) if timestamp >= at => return Ok(Some(offset)),
                Some(_) => {}
                None => return Err(()),
            }
        }
        Ok(None)
    }
}

/// Looks up random times of every partition and reports wrong answers.
pub async fn run(config: &WorkloadConfig, recorder: &Recorder) {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0x7469_6d65_7365_656b);
    let mut session = Session::new("time-seeker".into(), config.broker);
    let mut lookups = 0;
    for (partition, times) in final_read_times(recorder) {
        let known: Vec<i64> = times.timestamps.values().flatten().copied().collect();
        if known.is_empty() {
            continue;
        }
        for _ in 0..TIME_SEEKS_PER_PARTITION {
            // A stamped time, or just past one: both sides of a segment's
            // largest timestamp get asked.
            let at = known[rng.gen_range(0..known.len())] + rng.gen_range(0..=1);
            let answer = with_timeout!(session, |connection, versions| {
                lifecycle::list_offset_of(connection, versions, TOPIC, partition, at)
            });
            let Ok((offset, _)) = answer else { continue };
            lookups += 1;
            judge(recorder, partition, &times, at, offset);
        }
    }
    recorder.note(|stats| stats.time_seeks += lookups);
}

fn judge(recorder: &Recorder, partition: Partition, times: &PartitionTimes, at: i64, answer: i64) {
    if answer >= times.high_watermark {
        return;
    }
    let Ok(expected) = times.expected(at) else {
        return;
    };
    let answer = (answer >= 0).then_some(answer);
    if answer != expected {
        recorder.report(Violation {
            kind: ViolationKind::TimeLookup,
            at_seq: None,
            partition: Some(partition),
            detail: format!(
                "ListOffsets by time {at} on {TOPIC}-{partition} answered {answer:?}; the first offset stamped {at} or later is {expected:?}"
            ),
        });
    }
}

/// Per partition, the final read's offsets with their values' timestamps.
fn final_read_times(recorder: &Recorder) -> BTreeMap<Partition, PartitionTimes> {
    let recording = recorder.lock();
    let mut stamped: BTreeMap<&str, i64> = BTreeMap::new();
    let mut times: BTreeMap<Partition, PartitionTimes> = BTreeMap::new();
    let mut reads: Vec<(Partition, Offset, Option<&str>)> = Vec::new();
    for event in recording.history.events() {
        match &event.kind {
            EventKind::SendInvoked { value, .. } => {
                stamped.entry(value.as_str()).or_insert(event.at_ms as i64);
            }
            EventKind::Polled {
                client: FINAL_READER,
                partition,
                records,
                ..
            } => {
                for record in records {
                    let value = match &record.value {
                        ReadValue::Value(value) => Some(value.as_str()),
                        _ => None,
                    };
                    reads.push((*partition, record.offset, value));
                }
            }
            EventKind::FinalReadDone {
                partition,
                high_watermark,
            } => {
                times.entry(*partition).or_insert(PartitionTimes {
                    high_watermark: *high_watermark,
                    timestamps: BTreeMap::new(),
                });
            }
            _ => {}
        }
    }
    for (partition, offset, value) in reads {
        if let Some(times) = times.get_mut(&partition) {
            let timestamp = value.and_then(|v| stamped.get(v).copied());
            times.timestamps.insert(offset, timestamp);
        }
    }
    times
}
