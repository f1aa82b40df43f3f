//! The cluster workload's readers: consumers polling every partition from
//! its leader, and the final reader, which reads every partition from
//! offset 0 once faults and producers have stopped.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::time::{sleep, Instant};

use crate::client::ClientError;
use crate::cluster::router::{leader_moved, Router};
use crate::cluster::workload::ClusterWorkloadConfig;
use crate::history::{ClientId, EventKind, NemesisAction, Partition, FINAL_READER};
use crate::recorder::Recorder;
use crate::workload::{poll_once, WorkloadControl, BACKOFF, OFFSET_OUT_OF_RANGE};

/// How long a consumer's fetch may wait on the leader for new data.
const POLL_MAX_WAIT_MS: i32 = 50;

/// One fetch of `partition` at `position` from its leader, recorded;
/// returns the new position and the high watermark. Forgets the leader
/// when the answer says it moved.
async fn poll_leader(
    client: ClientId,
    router: &mut Router,
    recorder: &Recorder,
    (partition, position): (Partition, i64),
    max_wait_ms: i32,
) -> Result<(i64, i64), ClientError> {
    let leader = router.leader(partition).await?;
    let session = router.session(leader);
    let result = poll_once(client, session, recorder, partition, position, max_wait_ms).await;
    if let Err(error) = &result {
        let zombie =
            matches!(error, ClientError::Kafka { code, .. } if *code == OFFSET_OUT_OF_RANGE);
        if leader_moved(error) || zombie {
            router.forget(partition);
        }
    }
    result
}

pub async fn consume_loop(
    client: ClientId,
    config: Arc<ClusterWorkloadConfig>,
    recorder: Recorder,
    control: Arc<WorkloadControl>,
) {
    let name = format!("consumer-{client}");
    let mut router = Router::new(name, &config.nodes, client as usize);
    let mut positions: BTreeMap<Partition, i64> = (0..config.partitions).map(|p| (p, 0)).collect();
    while !control.stop_consuming.load(Ordering::Relaxed) {
        for partition in 0..config.partitions {
            let position = positions[&partition];
            let at = (partition, position);
            match poll_leader(client, &mut router, &recorder, at, POLL_MAX_WAIT_MS).await {
                Ok((next, _)) => {
                    positions.insert(partition, next);
                }
                Err(ClientError::Kafka {
                    code: OFFSET_OUT_OF_RANGE,
                    ..
                }) => {
                    // A leader whose log ends below a position the leader
                    // of a newer epoch served is a zombie (its image is
                    // behind): ask again, as KIP-320's consumer validates
                    // its position rather than resetting it. Offsets never
                    // go back, so data truly lost shows in the final read.
                    sleep(BACKOFF).await;
                }
                Err(_) => sleep(BACKOFF).await,
            }
        }
    }
}

/// Reads every partition from 0 to its high watermark at its leader,
/// waiting (until `deadline`) for the high watermark to pass every
/// acknowledged offset. Returns the partitions it could not finish.
pub async fn final_read(
    config: &ClusterWorkloadConfig,
    recorder: &Recorder,
    deadline: Instant,
) -> Vec<Partition> {
    let mut router = Router::new("final-reader".into(), &config.nodes, 0);
    let acked_end = acked_end_by_partition(config, recorder);
    let mut unfinished = Vec::new();
    for partition in 0..config.partitions {
        let wanted_end = acked_end.get(&partition).copied().unwrap_or(0);
        let mut position = 0;
        // Bounded by `deadline` (every iteration sleeps or makes progress
        // through a bounded log).
        let done = loop {
            if Instant::now() >= deadline {
                break false;
            }
            let at = (partition, position);
            match poll_leader(FINAL_READER, &mut router, recorder, at, 0).await {
                Ok((next, high_watermark)) => {
                    position = next;
                    if position >= high_watermark {
                        if high_watermark >= wanted_end {
                            recorder.record(EventKind::FinalReadDone {
                                partition,
                                high_watermark,
                            });
                            break true;
                        }
                        sleep(BACKOFF).await;
                    }
                }
                Err(_) => sleep(BACKOFF).await,
            }
        };
        if !done {
            unfinished.push(partition);
        }
    }
    unfinished
}

/// Past the last acknowledged offset of each partition: the end the final
/// read waits for. With `--fsync-never` only acknowledgements since the
/// last power loss of every node count (those before it may be lost, and
/// the log may never grow back past them; `checker::Durability`).
fn acked_end_by_partition(
    config: &ClusterWorkloadConfig,
    recorder: &Recorder,
) -> BTreeMap<Partition, i64> {
    let mut end = BTreeMap::new();
    for event in recorder.lock().history.events() {
        match &event.kind {
            EventKind::SendAcked {
                partition, offset, ..
            } => {
                let slot = end.entry(*partition).or_insert(0);
                *slot = (*slot).max(offset + 1);
            }
            EventKind::Nemesis(NemesisAction::NodesPowerLost { .. }) if config.fsync_never => {
                end.clear();
            }
            _ => {}
        }
    }
    end
}
