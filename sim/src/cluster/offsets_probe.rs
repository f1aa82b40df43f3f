//! The offsets prober: while the workload runs, ListOffsets earliest then
//! latest on a random partition of each topic (the checked one and the
//! retention filler's), both fenced by the leader epoch the prober's
//! metadata names, judged as they come back.
//!
//! What a client may rely on, and why it holds for a correct cluster:
//!
//! - **`log-start-past-hw`:** a leader's log start never passes its high
//!   watermark (Kafka deletes a segment by retention only once the high
//!   watermark is past it, `UnifiedLog.deletableSegments`). Within one
//!   round both answers come from the leader of one epoch on one
//!   connection, earliest first, so latest ≥ earliest. Across epochs too:
//!   an answer at epoch E1 is at most E1's high watermark, which never
//!   passes the log end the E2 > E1 leader had when elected (it was in the
//!   ISR and stopped fetching then), and that leader answers latest only
//!   once its high watermark has reached its epoch's start (Kafka's
//!   `Partition.fetchOffsetForTimestamp`, OFFSET_NOT_AVAILABLE before).
//! - **`latest-regressed`:** by the same argument a latest answered at an
//!   epoch is never below one answered at an earlier epoch. (Within one
//!   epoch it is not compared across rounds: a leader restarted before the
//!   controller noticed keeps its epoch with the high watermark of its
//!   checkpoint.)
//!
//! With `--fsync-never` the checked topic's high watermark counts records
//! held only in memory, so a power loss of every node may take back offsets
//! answered before it: the prober forgets the checked topic's answers at
//! each such power loss (`NodesPowerLost`) and does not judge a round it
//! spans.
//!
//! The Jepsen harness found the second one first (a new leader answered its
//! lagging high watermark); the filler's `acks=1` writes let retention run
//! ahead of a follower that is cut off but still in the ISR (the first).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::time::sleep;

use crate::checker::{Violation, ViolationKind};
use crate::client::{lifecycle, ClientError, TOPIC};
use crate::cluster::filler::FILLER_TOPIC;
use crate::cluster::router::{leader_moved, Router};
use crate::cluster::workload::ClusterWorkloadConfig;
use crate::recorder::Recorder;
use crate::workload::{with_timeout, WorkloadControl, BACKOFF};

const EARLIEST: i64 = -2;
const LATEST: i64 = -1;
/// Pause between two rounds (ms), so the prober samples, not floods.
const ROUND_PAUSE_MS: (u64, u64) = (5, 40);

/// The most each kind of answer reached at one epoch of one partition.
#[derive(Default, Clone, Copy)]
struct Reached {
    earliest: i64,
    latest: i64,
}

/// One topic the prober asks about, with its answers by partition and epoch.
struct Probed {
    topic: &'static str,
    partitions: i32,
    router: Router,
    answers: BTreeMap<i32, BTreeMap<i32, Reached>>,
    /// `fsync.policy=never`: answers do not outlive a power loss of every
    /// node.
    unsynced: bool,
    /// Power losses of every node when `answers` began.
    power_losses_seen: u64,
}

/// Power losses of every node so far (`NodesPowerLost`).
fn power_losses(recorder: &Recorder) -> u64 {
    recorder.lock().stats.correlated_power_losses
}

/// Probes until producers stop; each judged answer counts in
/// `stats.offset_probes`.
pub async fn probe_loop(
    config: Arc<ClusterWorkloadConfig>,
    recorder: Recorder,
    control: Arc<WorkloadControl>,
) {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0x6f66_6673_6574);
    let mut topics = vec![Probed {
        topic: TOPIC,
        partitions: config.partitions,
        router: Router::new("offsets-prober".into(), &config.nodes, 2),
        answers: BTreeMap::new(),
        unsynced: config.fsync_never,
        power_losses_seen: 0,
    }];
    if let Some(filler) = &config.filler {
        topics.push(Probed {
            topic: FILLER_TOPIC,
            partitions: filler.partitions,
            router: Router::for_topic(FILLER_TOPIC, "offsets-prober".into(), &config.nodes, 2),
            answers: BTreeMap::new(),
            unsynced: false,
            power_losses_seen: 0,
        });
    }
    let mut judged = 0u64;
    while !control.stop_producing.load(Ordering::Relaxed) {
        let which = rng.gen_range(0..topics.len());
        let probed = &mut topics[which];
        let partition = rng.gen_range(0..probed.partitions);
        match round(probed, partition, &recorder).await {
            Ok(answers) => judged += answers,
            Err(()) => sleep(BACKOFF).await,
        }
        sleep(Duration::from_millis(
            rng.gen_range(ROUND_PAUSE_MS.0..=ROUND_PAUSE_MS.1),
        ))
        .await;
    }
    recorder.note(|stats| stats.offset_probes += judged);
}

/// Earliest then latest of `partition` at the epoch the metadata names;
/// the answers judged; `Err` when the round got no answer to judge.
async fn round(probed: &mut Probed, partition: i32, recorder: &Recorder) -> Result<u64, ()> {
    let leader = probed.router.leader(partition).await.map_err(|_| ())?;
    let epoch = probed
        .router
        .view()
        .partitions
        .get(&partition)
        .map(|p| p.leader_epoch)
        .ok_or(())?;
    let losses_before = power_losses(recorder);
    if probed.unsynced && losses_before != probed.power_losses_seen {
        probed.answers.clear();
        probed.power_losses_seen = losses_before;
    }
    let earliest = ask(probed, (leader, partition), epoch, EARLIEST).await?;
    let latest = ask(probed, (leader, partition), epoch, LATEST).await?;
    if probed.unsynced && power_losses(recorder) != losses_before {
        // Every node lost power since the round began: its answers may be
        // from before or after. Not judged; the next round forgets.
        return Err(());
    }
    tracing::debug!(
        topic = probed.topic,
        partition,
        leader,
        epoch,
        earliest,
        latest,
        "offsets probed"
    );
    let by_epoch = probed.answers.entry(partition).or_default();
    let before = by_epoch
        .range(..epoch)
        .fold(Reached::default(), |reached, (_, r)| Reached {
            earliest: reached.earliest.max(r.earliest),
            latest: reached.latest.max(r.latest),
        });
    let at = |what: &str| {
        format!(
            "{}-{partition} at leader epoch {epoch}: {what}",
            probed.topic
        )
    };
    if latest < earliest.max(before.earliest) {
        recorder.report(violation(
            ViolationKind::LogStartPastHw,
            (probed.topic, partition),
            at(&format!(
                "latest offset {latest} below the log start {earliest} this leader answered just before (the most an earlier epoch answered: {})",
                before.earliest
            )),
        ));
    }
    if latest < before.latest {
        recorder.report(violation(
            ViolationKind::LatestRegressed,
            (probed.topic, partition),
            at(&format!(
                "latest offset {latest} below the {} an earlier epoch answered",
                before.latest
            )),
        ));
    }
    let reached = by_epoch.entry(epoch).or_default();
    reached.earliest = reached.earliest.max(earliest);
    reached.latest = reached.latest.max(latest);
    Ok(2)
}

/// One fenced ListOffsets; forgets the leader when the answer says it moved.
async fn ask(
    probed: &mut Probed,
    (leader, partition): (i32, i32),
    epoch: i32,
    timestamp: i64,
) -> Result<i64, ()> {
    let topic = probed.topic;
    let session = probed.router.session(leader);
    let answer = with_timeout!(session, |connection, versions| {
        lifecycle::list_offset_fenced(connection, versions, (topic, partition), timestamp, epoch)
    });
    match answer {
        Ok((offset, _)) if offset >= 0 => Ok(offset),
        Ok(_) => Err(()),
        Err(error) => {
            if leader_moved(&error) || !retriable_here(&error) {
                probed.router.forget(partition);
            }
            Err(())
        }
    }
}

/// OFFSET_NOT_AVAILABLE: a new leader catching up; ask it again later.
fn retriable_here(error: &ClientError) -> bool {
    const OFFSET_NOT_AVAILABLE: i16 = 78;
    matches!(error, ClientError::Kafka { code, .. } if *code == OFFSET_NOT_AVAILABLE)
}

/// A violation; its partition is named only for the checked topic.
fn violation(kind: ViolationKind, (topic, partition): (&str, i32), detail: String) -> Violation {
    Violation {
        kind,
        at_seq: None,
        partition: (topic == TOPIC).then_some(partition),
        detail,
    }
}
