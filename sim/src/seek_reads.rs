//! Seek reads: after the final read, fetches of single batches at random
//! offsets of every partition of the workload's topic.
//!
//! Consumers read forward from where they stopped, and the final reader
//! from offset 0 with a budget larger than most logs, so nearly every fetch
//! starts at a segment's base or in the active segment, whose indexes
//! recovery rebuilt from a scan. The offset indexes of segments recovery
//! trusted (below the recovery point) are almost never consulted, and an
//! index that a crash left damaged but plausible goes unseen. A fetch at an
//! offset inside such a segment starts its walk at the index's entry for
//! that offset: a wrong entry serves a batch at the wrong offset (the walk
//! refuses it as corrupt, `spurious-corruption`) or another batch
//! (`poll-skip`, `inconsistent-offsets`). This is what makes the
//! `unsynced-index` bug switch observable.
//!
//! Each seek is its own reader (a fresh id from [`SEEK_READER_BASE`]), so
//! `nonmonotonic-poll` and `poll-skip` judge it alone: its first record must
//! be at its fetch offset. It runs after the final read, with faults
//! stopped, so it adds events at the end of the history and moves no draw
//! or step before it; its random offsets come from a stream of the seed of
//! their own.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::client::{self, TOPIC};
use crate::history::{ClientId, EventKind, Partition};
use crate::recorder::Recorder;
use crate::workload::{with_timeout, Session, WorkloadConfig};

/// Reader ids of seeks start here (plain consumers are 1.., producers
/// 100.., the final reader 999, group readers 10,000..).
pub const SEEK_READER_BASE: ClientId = 1_000;
/// Seeks per partition: enough to land in most trusted segments' indexed
/// ranges (a few dozen segments per partition in the small-segment seeds)
/// while adding little to the history.
const SEEKS_PER_PARTITION: u32 = 64;
/// One byte asks for the first batch only (KIP-74 answers it whole).
const SEEK_MAX_BYTES: i32 = 1;

/// Seeks every partition below the high watermark its final read reported.
pub async fn run(config: &WorkloadConfig, recorder: &Recorder) {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0x7365_656b_7265_6164);
    let mut session = Session::new("seek-reader".into(), config.broker);
    let mut reader = SEEK_READER_BASE;
    for (partition, high_watermark) in final_high_watermarks(recorder) {
        if high_watermark <= 0 {
            continue;
        }
        for _ in 0..SEEKS_PER_PARTITION {
            let offset = rng.gen_range(0..high_watermark);
            seek_once(reader, &mut session, recorder, partition, offset).await;
            reader += 1;
        }
    }
    recorder.note(|stats| stats.seek_reads += u64::from(reader - SEEK_READER_BASE));
}

/// The high watermark each partition's final read ended at.
fn final_high_watermarks(recorder: &Recorder) -> Vec<(Partition, i64)> {
    recorder
        .lock()
        .history
        .events()
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::FinalReadDone {
                partition,
                high_watermark,
            } => Some((*partition, *high_watermark)),
            _ => None,
        })
        .collect()
}

/// One fetch of the batch holding `offset`, recorded as a poll of `reader`.
async fn seek_once(
    reader: ClientId,
    session: &mut Session,
    recorder: &Recorder,
    partition: Partition,
    offset: i64,
) {
    let invoked_seq = recorder.next_seq();
    let result = with_timeout!(session, |connection, versions| client::fetch_at_most(
        connection,
        versions,
        TOPIC,
        partition,
        offset,
        0,
        SEEK_MAX_BYTES,
    ));
    recorder.record(match result {
        Ok(fetched) => EventKind::Polled {
            client: reader,
            partition,
            fetch_offset: offset,
            invoked_seq,
            high_watermark: fetched.high_watermark,
            records: fetched.records,
        },
        Err(error) => EventKind::PollFailed {
            client: reader,
            partition,
            fetch_offset: offset,
            error: error.to_string(),
        },
    });
}
