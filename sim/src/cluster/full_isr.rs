//! The full-ISR liveness check: once faults stopped and every node is up,
//! every partition of every topic gets back to an ISR of all its replicas
//! (Kafka's promise: a restarted replica catches up and rejoins). Found
//! issue 12, a follower below the leader's log start that never rejoined.
//!
//! Excused: a partition whose synced data the nemesis rotted on some node.
//! Rot in the leader's copy of a range a lagging follower still needs stops
//! that follower for good: the leader refuses the batch (CORRUPT_MESSAGE,
//! never served), and nothing repairs a replica from another (Kafka's
//! follower refuses the batch on its CRC check and retries forever too).
//! Seen in 3 of 3-node seeds 0..5000 (first 833).

use std::collections::BTreeSet;

use tokio::time::{sleep, Instant};

use crate::client::{self, ClusterView};
use crate::cluster::router::Router;
use crate::cluster::topology::NodeId;
use crate::history::{EventKind, NemesisAction};
use crate::recorder::Recorder;
use crate::workload::{with_timeout, BACKOFF};

/// Waits until every node's metadata shows each partition of `topic` with
/// an ISR equal to its replicas (every node: a node whose image lags could
/// still show an ISR from before a fault). Returns, at the deadline, what
/// is missing ("partition P lacks [R..]" per partition, or why no answer).
pub async fn await_full_isr(
    router: &mut Router,
    (topic, excused): (&'static str, &BTreeSet<i32>),
    deadline: Instant,
) -> Result<(), String> {
    let nodes: Vec<NodeId> = router.nodes().to_vec();
    let mut missing = String::from("no metadata asked");
    while Instant::now() < deadline {
        let mut all_full = true;
        for &node in &nodes {
            let session = router.session(node);
            let answer = with_timeout!(session, |connection, versions| client::metadata(
                connection, versions, topic
            ));
            match answer {
                Ok(view) => {
                    if let Some(lacking) = lacking_replicas(&view, excused) {
                        missing = format!("node {node} shows {lacking}");
                        all_full = false;
                        break;
                    }
                }
                Err(error) => {
                    missing = format!("node {node} did not answer Metadata: {error}");
                    all_full = false;
                    break;
                }
            }
        }
        if all_full {
            return Ok(());
        }
        sleep(BACKOFF).await;
    }
    Err(missing)
}

/// The partitions (not `excused`) whose ISR lacks replicas, described;
/// `None` when every such partition (at least one exists) has its full ISR.
fn lacking_replicas(view: &ClusterView, excused: &BTreeSet<i32>) -> Option<String> {
    if view.partitions.is_empty() {
        return Some("no partitions".into());
    }
    let lacking: Vec<String> = view
        .partitions
        .iter()
        .filter(|(partition, _)| !excused.contains(partition))
        .filter_map(|(partition, p)| {
            let isr: BTreeSet<i32> = p.isr.iter().copied().collect();
            let absent: Vec<i32> = p
                .replicas
                .iter()
                .copied()
                .filter(|r| !isr.contains(r))
                .collect();
            (!absent.is_empty() || p.replicas.is_empty()).then(|| {
                format!(
                    "partition {partition} lacks replicas {absent:?} in its ISR {:?} (leader {})",
                    p.isr, p.leader
                )
            })
        })
        .collect();
    (!lacking.is_empty()).then(|| lacking.join(", "))
}

/// The partitions of `topic` whose synced data the nemesis rotted on some
/// node (`SyncedDataRotted` names the file, under `data/<topic>-<p>/`).
pub fn rotted_partitions(recorder: &Recorder, topic: &str) -> BTreeSet<i32> {
    let prefix = format!("data/{topic}-");
    let recording = recorder.lock();
    recording
        .history
        .events()
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::Nemesis(NemesisAction::SyncedDataRotted { path, .. }) => {
                let rest = path.strip_prefix(&prefix)?;
                rest.split('/').next()?.parse().ok()
            }
            _ => None,
        })
        .collect()
}
