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

pub(super) async fn run(runtime: Arc<ClusterRuntime>, mut events: mpsc::Receiver<QuorumEvent>) {
    while let Some(event) = events.recv().await {
        let Some(broker) = runtime.broker() else {
            return;
        };
        match event {
            QuorumEvent::Apply { index, payload, .. } => {
                match decode_records(&payload) {
                    Ok(records) => broker.apply_committed(&records).await,
                    Err(e) => {
                        tracing::error!(index, %e, "a committed metadata entry does not decode: the node stops");
                        broker.storage_failed.notify_one();
                        return;
                    }
                }
                runtime.refresh_addresses(&broker);
                mark_applied(&runtime, index);
            }
            QuorumEvent::NoOp { index, .. } => mark_applied(&runtime, index),
            QuorumEvent::InstallSnapshot { meta, data } => match snapshot::decode(&data) {
                Ok(image) => {
                    tracing::info!(index = meta.last_index, "installing a metadata snapshot");
                    broker.install_image(image).await;
                    runtime.refresh_addresses(&broker);
                    mark_applied(&runtime, meta.last_index);
                }
                Err(e) => {
                    tracing::error!(%e, "a metadata snapshot does not decode: the node stops");
                    broker.storage_failed.notify_one();
                    return;
                }
            },
            QuorumEvent::TakeSnapshot { index } => {
                let data = snapshot::encode(&broker.image());
                runtime.quorum.on_snapshot_taken(index, data).await;
            }
            QuorumEvent::Role(role) => {
                tracing::info!(?role, node_id = runtime.node_id, "metadata quorum role");
            }
        }
    }
}

fn mark_applied(runtime: &ClusterRuntime, index: u64) {
    runtime.applied_index.fetch_max(index, Ordering::AcqRel);
    runtime.applied.notify_waiters();
}
