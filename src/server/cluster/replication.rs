//! Each hosted partition's traffic with the rest of the cluster: a
//! follower's fetches handed to the fetcher of its leader (`fetcher.rs`,
//! one fetch per leader for all the partitions followed there), a
//! leader's ISR proposals carried to the controller (AlterPartition), and
//! the replica's clock tick. One task per partition, started when the
//! partition opens and stopped when it is removed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::core::partition::IsrProposal;
use crate::rpc::{ControllerRequest, ControllerResponse};
use crate::server::cluster::fetcher::{Fetchers, Key};
use crate::server::cluster::ClusterRuntime;
use crate::server::partition_handle::PartitionHandle;

/// How often the supervisor looks for partitions opened or removed.
pub const REPLICATION_SUPERVISE_INTERVAL_MS: u64 = 100;
/// How often a partition's replica is ticked (ISR shrink, fetch timeouts).
pub const REPLICA_TICK_INTERVAL_MS: u64 = 250;
/// Times an AlterPartition with no definite answer is sent again before
/// the loop waits for the metadata to show it (and, if it does not within
/// the image wait, sends it again: `PartitionHandle::propose_again`).
pub const ALTER_PARTITION_ATTEMPTS_MAX: u32 = 10;
/// Wait after a failed AlterPartition before the next attempt.
pub const REPLICATION_RETRY_BACKOFF_MS: u64 = 200;

/// The per-partition tasks, aborted when the supervisor itself is (at
/// shutdown, or when the node is stopped in the simulator).
struct Drivers(BTreeMap<Key, tokio::task::JoinHandle<()>>);

impl Drop for Drivers {
    fn drop(&mut self) {
        for task in self.0.values() {
            task.abort();
        }
    }
}

pub(super) async fn run(runtime: Arc<ClusterRuntime>) {
    let fetchers = Fetchers::new(Arc::clone(&runtime));
    let mut drivers = Drivers(BTreeMap::new());
    let drivers = &mut drivers.0;
    loop {
        tokio::time::sleep(Duration::from_millis(REPLICATION_SUPERVISE_INTERVAL_MS)).await;
        let Some(broker) = runtime.broker() else {
            break;
        };
        // A partition stopped by an internal error gets no driver: its
        // calls would fail forever.
        let hosted: BTreeMap<Key, Arc<PartitionHandle>> = broker
            .all_partitions()
            .into_iter()
            .filter(|h| !h.has_failed())
            .map(|h| ((h.topic.clone(), h.partition, h.topic_id), h))
            .collect();
        drivers.retain(|key, task| {
            let keep = hosted.contains_key(key) && !task.is_finished();
            if !keep {
                task.abort();
            }
            keep
        });
        for (key, handle) in hosted {
            drivers.entry(key).or_insert_with(|| {
                tokio::spawn(drive(Arc::clone(&runtime), Arc::clone(&fetchers), handle))
            });
        }
    }
}

/// One partition: fetches, ISR proposals and ticks, until it is removed.
async fn drive(
    runtime: Arc<ClusterRuntime>,
    fetchers: Arc<Fetchers>,
    handle: Arc<PartitionHandle>,
) {
    // The fetcher queues a partition itself right after storing its
    // answer; this queues it for the others (the first fetch after a role
    // change, one after a back-off or a timeout). The request stays with
    // the machine until the fetcher builds its next fetch.
    let fetches = async {
        loop {
            if let Some(leader) = handle.pending_fetch_leader() {
                fetchers.wake(leader, &handle);
            }
            handle.fetch_wanted().await;
        }
    };
    let proposals = isr_loop(&runtime, &handle);
    let ticks = async {
        loop {
            tokio::time::sleep(Duration::from_millis(REPLICA_TICK_INTERVAL_MS)).await;
            crate::buggify::maybe_delay(crate::buggify::FaultPoint::LateTick).await;
            handle.tick();
        }
    };
    tokio::join!(fetches, proposals, ticks);
}

async fn isr_loop(runtime: &ClusterRuntime, handle: &PartitionHandle) {
    loop {
        let proposal = handle.next_isr_proposal().await;
        let IsrProposal {
            leader_epoch,
            ref isr,
            ref broker_epochs,
        } = proposal;
        let committed = handle.isr().unwrap_or_default();
        let unknown = isr
            .iter()
            .find(|r| !committed.contains(r) && !broker_epochs.contains_key(r));
        if let (Some(replica), false) = (unknown, committed.is_empty()) {
            // The controller would refuse it (KIP-903): the replica fetched
            // before it registered. Its next fetch carries its epoch and
            // the machine proposes again.
            tracing::debug!(topic = %handle.topic, partition = handle.partition, replica, "ISR change not sent: the joining replica's broker epoch is unknown");
            if let Err(e) = handle.isr_settled(leader_epoch, committed, isr) {
                tracing::warn!(topic = %handle.topic, partition = handle.partition, %e, "cannot drop the ISR proposal");
            }
            tokio::time::sleep(Duration::from_millis(REPLICATION_RETRY_BACKOFF_MS)).await;
            continue;
        }
        tracing::info!(node_id = runtime.node_id, topic = %handle.topic, partition = handle.partition, leader_epoch, ?isr, ?broker_epochs, offsets = ?handle.offsets(), "ISR change proposed");
        let request = ControllerRequest::AlterPartition {
            topic_id: handle.topic_id,
            partition: handle.partition,
            leader_id: runtime.node_id,
            leader_epoch,
            isr: isr.clone(),
            broker_epochs: broker_epochs.clone(),
        };
        // An uncertain outcome (no answer, not the controller, a timeout or
        // a storage failure at the controller) is asked again: the same ISR
        // twice is harmless, while going back to the old ISR when the change
        // may have committed would let the high watermark skip a member the
        // controller counts (and may elect). The sim's seed 8175 found this:
        // a quorum that stopped mid-commit was taken as a refusal.
        let mut attempts = 0;
        let outcome = loop {
            attempts += 1;
            match runtime.call_controller(request.clone()).await {
                Ok(ControllerResponse::Done) => break Outcome::Committed,
                Ok(ControllerResponse::IsrRefused {
                    code,
                    message,
                    metadata_index,
                }) => {
                    tracing::info!(topic = %handle.topic, partition = handle.partition, ?isr, code, message, metadata_index, "ISR change refused");
                    break Outcome::Refused { metadata_index };
                }
                Ok(other) => {
                    tracing::debug!(topic = %handle.topic, partition = handle.partition, ?other, "ISR change not confirmed; asking again")
                }
                Err(e) => {
                    tracing::debug!(topic = %handle.topic, partition = handle.partition, %e, "ISR change not confirmed; asking again")
                }
            }
            if attempts >= ALTER_PARTITION_ATTEMPTS_MAX {
                break Outcome::Unknown;
            }
            tokio::time::sleep(Duration::from_millis(REPLICATION_RETRY_BACKOFF_MS)).await;
        };
        match outcome {
            // Committed (or already so): the replica takes the ISR the
            // metadata holds once this node's image has it.
            Outcome::Committed => {
                tracing::info!(topic = %handle.topic, partition = handle.partition, ?isr, "ISR change committed");
                settle_from_image(runtime, handle, &proposal, true).await;
            }
            // Refused by the controller's checks: the image, once it holds
            // what the check saw, says what the ISR is (the old one, or an
            // earlier attempt's that did commit, or one a removal made
            // since). Not reached in time: unknown, as below.
            Outcome::Refused { metadata_index } => {
                if runtime.wait_applied(metadata_index).await {
                    settle_from_image(runtime, handle, &proposal, false).await;
                } else {
                    settle_from_image(runtime, handle, &proposal, true).await;
                }
            }
            // Never confirmed either way: the image decides once it moves.
            Outcome::Unknown => settle_from_image(runtime, handle, &proposal, true).await,
        }
        tokio::time::sleep(Duration::from_millis(REPLICATION_RETRY_BACKOFF_MS)).await;
    }
}

/// How an AlterPartition ended, as far as the leader can tell.
enum Outcome {
    Committed,
    /// The controller checked it and refused it with its image at
    /// `metadata_index` or earlier; no attempt of it is applied after that
    /// (the controller checks only once its image covers its whole Raft
    /// log, `ClusterRuntime::caught_up`).
    Refused {
        metadata_index: u64,
    },
    /// No definite answer within the attempts.
    Unknown,
}

/// Brings the pending ISR `proposal` of `leader_epoch` to an end from the
/// metadata: if it `maybe_committed`, first waits (bounded) until this
/// node's image shows it, and proposes it again if it does not; then
/// hands the replica the ISR
/// the image holds (the change, or the old ISR after a refusal), ending
/// that proposal only (a newer one stays pending). Changes of another
/// epoch are left to the role change the image brings.
async fn settle_from_image(
    runtime: &ClusterRuntime,
    handle: &PartitionHandle,
    pending: &IsrProposal,
    maybe_committed: bool,
) {
    let (leader_epoch, proposal) = (pending.leader_epoch, pending.isr.as_slice());
    let expected = maybe_committed.then_some(proposal);
    let Some(broker) = runtime.broker() else {
        return;
    };
    let partition = |image: &crate::core::metadata::MetadataImage| {
        image
            .topic_by_id(&handle.topic_id)
            .and_then(|t| t.partitions.get(&handle.partition))
            .cloned()
    };
    if let Some(expected) = expected {
        let settled = broker
            .wait_for_image(|image| {
                partition(image).is_none_or(|p| p.leader_epoch != leader_epoch || p.isr == expected)
            })
            .await;
        if !settled {
            // Still unseen: the proposal stays pending (its high watermark
            // counts both ISRs) and is sent again.
            handle.propose_again(pending.clone());
            return;
        }
    }
    let Some(p) = partition(&broker.image()) else {
        return;
    };
    if p.leader == runtime.node_id && p.leader_epoch == leader_epoch {
        if let Err(e) = handle.isr_settled(leader_epoch, p.isr.clone(), proposal) {
            tracing::warn!(topic = %handle.topic, partition = handle.partition, %e, "cannot take the committed ISR");
        }
    }
}
