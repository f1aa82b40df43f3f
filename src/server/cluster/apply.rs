//! The apply task: committed metadata from the quorum, applied to the
//! broker's image in log order (partitions follow each change), snapshots
//! installed and taken.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bincode::Options;
use tokio::sync::mpsc;

use crate::core::metadata::{snapshot, MetadataRecord};
use crate::server::cluster::ClusterRuntime;
use crate::server::quorum::QuorumEvent;

/// Decodes one Raft entry's records. The entry passed Raft's CRC and came
/// from our own controller; a failure means a version skew or a bug, and
/// the node stops rather than let its image diverge.
fn decode_records(payload: &[u8]) -> Result<Vec<MetadataRecord>, String> {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .allow_trailing_bytes()
        .with_limit(payload.len() as u64)
        .deserialize(payload)
        .map_err(|e| e.to_string())
}

/// With nothing to apply, how often the task checks whether a deferred
/// reconcile can run (the quorum learned it is caught up).
pub const APPLY_IDLE_CHECK_MS: u64 = 200;

pub(super) async fn run(runtime: Arc<ClusterRuntime>, mut events: mpsc::Receiver<QuorumEvent>) {
    // Partitions follow the image only once it is current: a node replaying
    // its backlog after a start never opens a partition from an image that
    // names an old leader epoch or an old topic of the same name.
    let mut reconcile_due = false;
    loop {
        let event = match tokio::time::timeout(
            std::time::Duration::from_millis(APPLY_IDLE_CHECK_MS),
            events.recv(),
        )
        .await
        {
            Ok(Some(event)) => Some(event),
            Ok(None) => return,
            Err(_idle) => None,
        };
        let Some(broker) = runtime.broker() else {
            return;
        };
        let current = events.is_empty() && !runtime.quorum.has_backlog();
        match event {
            None => {}
            Some(QuorumEvent::Apply { index, payload, .. }) => {
                match decode_records(&payload) {
                    Ok(records) => {
                        broker.apply_committed(&records, current).await;
                        reconcile_due |= !current;
                    }
                    Err(e) => {
                        tracing::error!(index, %e, "a committed metadata entry does not decode: the node stops");
                        broker.storage_failed.notify_one();
                        return;
                    }
                }
                runtime.refresh_addresses(&broker);
                mark_applied(&runtime, index);
            }
            Some(QuorumEvent::NoOp { index, .. }) => mark_applied(&runtime, index),
            Some(QuorumEvent::InstallSnapshot { meta, data }) => match snapshot::decode(&data) {
                Ok(image) => {
                    tracing::info!(index = meta.last_index, "installing a metadata snapshot");
                    broker.install_image(image, current).await;
                    reconcile_due |= !current;
                    runtime.refresh_addresses(&broker);
                    mark_applied(&runtime, meta.last_index);
                }
                Err(e) => {
                    tracing::error!(%e, "a metadata snapshot does not decode: the node stops");
                    broker.storage_failed.notify_one();
                    return;
                }
            },
            Some(QuorumEvent::TakeSnapshot { index }) => {
                let data = snapshot::encode(&broker.image());
                runtime.quorum.on_snapshot_taken(index, data).await;
            }
            Some(QuorumEvent::Role(role)) => {
                tracing::info!(?role, node_id = runtime.node_id, "metadata quorum role");
            }
        }
        if reconcile_due && events.is_empty() && !runtime.quorum.has_backlog() {
            reconcile_due = false;
            tracing::info!(
                node_id = runtime.node_id,
                "metadata caught up: partitions follow the image"
            );
            broker.reconcile_now().await;
        }
    }
}

fn mark_applied(runtime: &ClusterRuntime, index: u64) {
    runtime.applied_index.fetch_max(index, Ordering::AcqRel);
    runtime.applied.notify_waiters();
}
