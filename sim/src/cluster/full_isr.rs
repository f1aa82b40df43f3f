//! The full-ISR liveness check: once faults stopped and every node is up,
//! every partition of every topic gets back to an ISR of all its replicas
//! (Kafka's promise: a restarted replica catches up and rejoins). Found
//! issue 12, a follower below the leader's log start that never rejoined.

use std::collections::BTreeSet;

use tokio::time::{sleep, Instant};

use crate::client::{self, ClusterView};
use crate::cluster::router::Router;
use crate::cluster::topology::NodeId;
use crate::workload::{with_timeout, BACKOFF};

/// Waits until every node's metadata shows each partition of `topic` with
/// an ISR equal to its replicas (every node: a node whose image lags could
/// still show an ISR from before a fault). Returns, at the deadline, what
/// is missing ("partition P lacks [R..]" per partition, or why no answer).
pub async fn await_full_isr(
    router: &mut Router,
    topic: &'static str,
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
                    if let Some(lacking) = lacking_replicas(&view) {
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

/// The partitions whose ISR lacks replicas, described; `None` when every
/// partition (at least one) has its full ISR.
fn lacking_replicas(view: &ClusterView) -> Option<String> {
    if view.partitions.is_empty() {
        return Some("no partitions".into());
    }
    let lacking: Vec<String> = view
        .partitions
        .iter()
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
