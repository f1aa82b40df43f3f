//! The node: binds the Kafka listener, serves connections and runs the
//! background tasks (syncs, retention) that drive the core and the log.

pub mod broker;
pub mod clean_shutdown;
#[cfg(all(test, not(madsim)))]
mod clock_tests;
pub mod cluster;
pub mod config;
pub mod connection;
pub mod connection_limits;
#[cfg(all(test, not(madsim)))]
mod damaged_files_tests;
pub mod group_driver;
#[cfg(test)]
mod group_load_tests;
#[cfg(test)]
mod high_watermark_checkpoint_tests;
pub mod high_watermark_checkpoints;
pub mod housekeeping;
#[cfg(all(test, not(madsim)))]
mod isolation_tests;
pub mod log_settings;
pub mod metadata_journal;
pub mod offsets_topic;
pub(crate) mod ordered_watch;
pub mod partition_files_epoch;
pub mod partition_handle;
pub mod partition_metadata;
pub mod peers;
#[cfg(test)]
mod producer_limits_tests;
pub mod producer_snapshots;
pub mod quorum;
#[cfg(all(test, not(madsim)))]
mod read_visibility_tests;
#[cfg(all(test, not(madsim)))]
mod replication_tests;
pub mod segment_replica_log;
mod task_watch;

use std::future::Future;
use std::sync::Arc;

use crate::io::node_context::NodeContext;
pub use config::{BrokerConfig, BugSwitches, Limits};

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("cannot bind {addr}: {detail}")]
    Bind { addr: String, detail: String },
    #[error("cannot open the data directory: {0}")]
    Storage(String),
    #[error("background task {task} ended ({how})")]
    TaskEnded { task: &'static str, how: String },
}

/// Runs a broker until `shutdown` completes, then stops cleanly: stops
/// accepting, syncs every partition and returns.
///
/// `node` is what the node gets from outside: its disk, which holds all
/// state (in the simulator it outlives the node so that a restarted node
/// finds what survived the crash), and its clock.
pub async fn run(
    config: BrokerConfig,
    node: NodeContext,
    shutdown: impl Future<Output = ()>,
) -> Result<(), BrokerError> {
    // Recover first, then listen: an open port means a broker ready to serve.
    let listen = config.listen;
    let broker = broker::Broker::open_node(config, node.clone()).await?;
    let cluster = match broker.config.cluster {
        Some(_) => Some(cluster::start(&broker, node).await?),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| BrokerError::Bind {
            addr: listen.to_string(),
            detail: e.to_string(),
        })?;
    tracing::info!(
        node_id = broker.config.node_id,
        listen = %broker.config.listen,
        data_dir = %broker.config.data_dir,
        "odradek broker ready"
    );
    let mut tasks = housekeeping::spawn_all(&broker);
    let limits = Arc::clone(&broker.connection_limits);
    let accept = async {
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => match limits.admit(peer.ip()) {
                    Ok(slot) => {
                        tokio::spawn(connection::serve(
                            Arc::clone(&broker),
                            stream,
                            peer,
                            Arc::clone(&limits),
                            slot,
                        ));
                    }
                    Err(refused) => {
                        // Kafka closes a connection over its quota at once.
                        tracing::warn!(%peer, %refused, "connection refused");
                        drop(stream);
                    }
                },
                Err(e) => {
                    // Out of file descriptors (EMFILE) lands here: accepts
                    // wait a little, nothing else is affected.
                    tracing::warn!(%e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            }
        }
    };
    enum Stop {
        Requested,
        StorageFailed,
        TaskEnded(&'static str, String),
    }
    let stop = tokio::select! {
        biased; // tokio's unbiased order draws from a process-seeded generator (docs/testing.md)
        _ = accept => Stop::Requested,
        _ = shutdown => Stop::Requested,
        _ = broker.storage_failed.notified() => Stop::StorageFailed,
        (name, how) = housekeeping::first_to_end(&mut tasks) => Stop::TaskEnded(name, how),
    };
    match stop {
        Stop::Requested => {}
        Stop::StorageFailed => {
            // Like Kafka with its only log dir failed: stop at once. After a
            // failed write or fsync the page cache may no longer match the
            // disk, so nothing more is synced or acknowledged; a restart
            // recovers from what the disk really holds.
            for (_, task) in tasks {
                task.abort();
            }
            return Err(BrokerError::Storage(
                "a partition log failed; the node stops".to_string(),
            ));
        }
        Stop::TaskEnded(name, how) => {
            // A background loop never ends on its own: without it no
            // `interval` topic is synced and retention stops, so the node
            // stops loudly rather than run on without it.
            tracing::error!(task = name, how, "a background task ended: the node stops");
            for (_, task) in tasks {
                task.abort();
            }
            return Err(BrokerError::TaskEnded { task: name, how });
        }
    }
    tracing::info!("shutting down: syncing every partition");
    for (_, task) in tasks {
        task.abort();
    }
    if let Some(cluster) = &cluster {
        cluster.shutdown().await;
    }
    drop(listener);
    let mut all_synced = true;
    for handle in broker.all_partitions() {
        if handle.has_failed() {
            all_synced = false;
            continue;
        }
        if let Err(e) = handle.checkpoint().await {
            all_synced = false;
            tracing::warn!(topic = %handle.topic, partition = handle.partition, %e, "final sync failed");
        }
    }
    // As Kafka's ReplicaManager.shutdown: the high watermarks last, so a
    // clean restart opens with the latest ones.
    let mut clean = true;
    if let Err(e) = high_watermark_checkpoints::write(&broker).await {
        tracing::warn!(%e, "final high-watermark checkpoint failed");
        clean = false;
    }
    // Last: the marker vouches that every log was synced, so the next start
    // keeps this node's place among the eligible leaders (KIP-966).
    clean &= broker.all_partitions().iter().all(|h| !h.has_failed());
    if clean && all_synced {
        if let Err(e) = clean_shutdown::mark(broker.disk(), &broker.config.data_dir).await {
            tracing::warn!(%e, "cannot mark the shutdown clean");
        }
    }
    Ok(())
}
