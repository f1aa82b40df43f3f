//! The active controller's side of the cluster: answers brokers'
//! registrations, heartbeats, AlterPartition, forwarded topic creations and
//! producer-id requests, and fences brokers that went silent. Every change
//! is committed through the quorum by [`Broker::commit_checked`] /
//! [`Broker::commit_built`], which refuse with NOT_CONTROLLER unless this
//! node is the active controller with a caught-up image.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::error::ResponseError;

use crate::core::acl::authorizer::Session;
use crate::core::broker_liveness::BrokerLiveness;
use crate::core::controller::{self, CreateTopic};
use crate::core::metadata::MetadataRecord;
use crate::core::partition_leadership::{self, AlterPartitionError, ElectionBugs};
use crate::core::producer_state::id_allocator::PRODUCER_ID_BLOCK_SIZE;
use crate::kafka::dispatch::Reply;
use crate::kafka::error_code::{code, for_commit_error};
use crate::rpc::{ControllerRequest, ControllerResponse};
use crate::server::broker::{Broker, CommitError};
use crate::server::cluster::ClusterRuntime;

/// How often the active controller looks for brokers to fence.
pub const LIVENESS_CHECK_INTERVAL_MS: u64 = 250;

fn now_ms(runtime: &ClusterRuntime) -> u64 {
    runtime.node.clock.monotonic_ms().max(0) as u64
}

fn refused(e: &CommitError) -> ControllerResponse {
    match e {
        CommitError::NotController { leader_hint } => ControllerResponse::NotController {
            leader_hint: *leader_hint,
        },
        other => ControllerResponse::Error {
            code: for_commit_error(other),
            message: other.to_string(),
        },
    }
}

/// The controller loop: while this node is the active controller, fence
/// every broker silent for the session timeout.
pub(super) async fn run(runtime: Arc<ClusterRuntime>) {
    loop {
        tokio::time::sleep(Duration::from_millis(LIVENESS_CHECK_INTERVAL_MS)).await;
        let Some(broker) = runtime.broker() else {
            return;
        };
        if runtime.quorum.is_stopped() {
            // The Raft driver stopped (its storage failed): this node can
            // neither vote nor apply; it stops rather than limp on.
            tracing::error!(
                node_id = runtime.node_id,
                "the metadata quorum stopped: the node stops"
            );
            broker.storage_failed.notify_one();
            return;
        }
        if !runtime.is_ready_controller() {
            *runtime.liveness.lock().expect("liveness lock") = None;
            continue;
        }
        let now = now_ms(&runtime);
        let expired = {
            let mut liveness = runtime.liveness.lock().expect("liveness lock");
            let liveness = liveness.get_or_insert_with(|| {
                tracing::info!(
                    node_id = runtime.node_id,
                    "active controller: tracking broker heartbeats"
                );
                BrokerLiveness::new(runtime.config.session_timeout_ms, now)
            });
            liveness.expired(&broker.image(), runtime.node_id, now)
        };
        for node_id in expired {
            tracing::warn!(node_id, "broker missed its heartbeats: fencing it");
            let fenced = broker
                .commit_checked(|image| {
                    // Re-checked against the image the change is built on.
                    Ok(if image.is_live(node_id) {
                        partition_leadership::fence_broker_with(
                            image,
                            node_id,
                            &broker.defaults,
                            election_bugs(&broker),
                        )
                    } else {
                        Vec::new()
                    })
                })
                .await;
            if let Err(e) = fenced {
                tracing::warn!(node_id, %e, "cannot fence a broker");
            }
        }
    }
}

/// The election rules' share of the broker's bug switches.
fn election_bugs(broker: &Broker) -> ElectionBugs {
    ElectionBugs {
        unclean_election: broker.config.bugs.unclean_election,
    }
}

fn heard_from(runtime: &ClusterRuntime, node_id: i32) {
    let now = now_ms(runtime);
    if let Some(liveness) = runtime.liveness.lock().expect("liveness lock").as_mut() {
        liveness.heard_from(node_id, now);
    }
}

/// Answers one request as the active controller (or NotController).
pub(super) async fn handle(
    runtime: &ClusterRuntime,
    broker: &Arc<Broker>,
    request: ControllerRequest,
) -> ControllerResponse {
    if !runtime.is_ready_controller() {
        return ControllerResponse::NotController {
            leader_hint: runtime.quorum.leader(),
        };
    }
    match request {
        ControllerRequest::RegisterBroker {
            node_id,
            host,
            port,
            rpc_host,
            rpc_port,
            incarnation,
            clean_shutdown,
        } => {
            heard_from(runtime, node_id);
            let registered = broker
                .commit_built(|image| {
                    // The same process asking again (its first call timed
                    // out, or its answer was lost): the same epoch, nothing
                    // fenced anew.
                    if let Some(b) = image
                        .brokers
                        .get(&node_id)
                        .filter(|b| b.incarnation == Some(incarnation))
                    {
                        return (Vec::new(), b.broker_epoch);
                    }
                    // A new incarnation gives up its leaderships and ISR
                    // places first (KRaft fences a re-registering broker),
                    // and is unfenced by its first heartbeat. Unless its
                    // previous process shut down cleanly it may have lost
                    // what it had not synced: it also leaves every ELR and
                    // is elected from no stale ISR (KIP-966).
                    let mut records = partition_leadership::register_incarnation(
                        image,
                        node_id,
                        clean_shutdown,
                        &broker.defaults,
                        election_bugs(broker),
                    );
                    let epoch = image
                        .brokers
                        .get(&node_id)
                        .map_or(0, |b| b.broker_epoch + 1);
                    records.push(MetadataRecord::RegisterBroker {
                        node_id,
                        host,
                        port,
                        broker_epoch: epoch,
                    });
                    records.push(MetadataRecord::BrokerRpcAddress {
                        node_id,
                        host: rpc_host,
                        port: rpc_port,
                    });
                    records.push(MetadataRecord::BrokerIncarnation {
                        node_id,
                        incarnation,
                    });
                    (records, epoch)
                })
                .await;
            match registered {
                Ok(broker_epoch) => {
                    tracing::info!(
                        node_id,
                        broker_epoch,
                        incarnation,
                        clean_shutdown,
                        "broker registered"
                    );
                    ControllerResponse::Registered { broker_epoch }
                }
                Err(e) => refused(&e),
            }
        }
        ControllerRequest::Heartbeat {
            node_id,
            broker_epoch,
        } => {
            let image = broker.image();
            let Some(info) = image.brokers.get(&node_id) else {
                return ControllerResponse::HeartbeatAck { fenced: true };
            };
            if info.broker_epoch != broker_epoch {
                // An old incarnation: it must register again.
                return ControllerResponse::HeartbeatAck { fenced: true };
            }
            heard_from(runtime, node_id);
            if !info.fenced {
                return ControllerResponse::HeartbeatAck { fenced: false };
            }
            let unfenced = broker
                .commit_checked(|image| {
                    Ok(match image.brokers.get(&node_id) {
                        Some(b) if b.fenced && b.broker_epoch == broker_epoch => {
                            partition_leadership::unfence_broker_with(
                                image,
                                node_id,
                                &broker.defaults,
                                election_bugs(broker),
                            )
                        }
                        _ => Vec::new(),
                    })
                })
                .await;
            match unfenced {
                Ok(()) => {
                    tracing::info!(node_id, broker_epoch, "broker unfenced");
                    ControllerResponse::HeartbeatAck { fenced: false }
                }
                Err(e) => refused(&e),
            }
        }
        ControllerRequest::AlterPartition {
            topic_id,
            partition,
            leader_id,
            leader_epoch,
            isr,
            broker_epochs,
        } => {
            heard_from(runtime, leader_id);
            let altered = broker
                .commit_built(|image| {
                    match partition_leadership::alter_partition(
                        image,
                        &topic_id,
                        partition,
                        leader_id,
                        leader_epoch,
                        (&isr, &broker_epochs),
                        &broker.defaults,
                    ) {
                        Ok(records) => (records, Ok(())),
                        Err(e) => (Vec::new(), Err(e)),
                    }
                })
                .await;
            match altered {
                Ok(Ok(())) => ControllerResponse::Done,
                Ok(Err(e)) => ControllerResponse::IsrRefused {
                    // Read after the check: at or past the image it saw.
                    metadata_index: runtime
                        .applied_index
                        .load(std::sync::atomic::Ordering::Acquire),
                    code: code(match &e {
                        AlterPartitionError::UnknownTopicOrPartition => {
                            ResponseError::UnknownTopicOrPartition
                        }
                        AlterPartitionError::NotLeaderOrFollower { .. } => {
                            ResponseError::NotLeaderOrFollower
                        }
                        AlterPartitionError::FencedLeaderEpoch { .. } => {
                            ResponseError::FencedLeaderEpoch
                        }
                        AlterPartitionError::InvalidIsr { .. } => ResponseError::InvalidRequest,
                        AlterPartitionError::IneligibleReplica { .. } => {
                            ResponseError::IneligibleReplica
                        }
                    }),
                    message: e.to_string(),
                },
                Err(e) => refused(&e),
            }
        }
        ControllerRequest::CreateTopic {
            name,
            num_partitions,
            replication_factor,
            configs,
            internal,
        } => {
            let created = create_topic(
                broker,
                &name,
                num_partitions,
                replication_factor,
                configs,
                internal,
            )
            .await;
            match created {
                Ok(()) => ControllerResponse::Done,
                Err(e) => refused(&e),
            }
        }
        ControllerRequest::ForwardedAdmin {
            principal,
            client_host,
            request_frame,
        } => {
            let session = Session {
                principal,
                host: client_host,
            };
            let frame = bytes::Bytes::from(request_frame);
            match crate::kafka::dispatch::handle_forwarded_frame(broker, frame, session).await {
                Ok(Reply::Frame(response)) => ControllerResponse::ForwardedAdmin {
                    response_frame: response.to_vec(),
                    metadata_index: runtime
                        .applied_index
                        .load(std::sync::atomic::Ordering::Acquire),
                },
                // A frame that does not decode (or an API that is not
                // forwarded): the broker handles it, and refuses it, itself.
                Ok(Reply::Nothing) => ControllerResponse::Error {
                    code: code(ResponseError::InvalidRequest),
                    message: "a forwarded request must be answered".into(),
                },
                Err(e) => ControllerResponse::Error {
                    code: code(ResponseError::InvalidRequest),
                    message: e.to_string(),
                },
            }
        }
        ControllerRequest::AllocateProducerIds { node_id } => {
            heard_from(runtime, node_id);
            let block = broker
                .commit_built(|image| {
                    let start = image.producer_ids_end;
                    match start.checked_add(PRODUCER_ID_BLOCK_SIZE) {
                        Some(end_id) => (
                            vec![MetadataRecord::ProducerIdsBlock { end_id }],
                            Some(start),
                        ),
                        None => (Vec::new(), None),
                    }
                })
                .await;
            match block {
                Ok(Some(start)) => ControllerResponse::ProducerIds {
                    start,
                    len: PRODUCER_ID_BLOCK_SIZE,
                },
                Ok(None) => ControllerResponse::Error {
                    code: code(ResponseError::UnknownServerError),
                    message: "producer ids are exhausted".into(),
                },
                Err(e) => refused(&e),
            }
        }
    }
}

/// A topic creation on the active controller, for a forwarded request.
async fn create_topic(
    broker: &Broker,
    name: &str,
    num_partitions: i32,
    replication_factor: i16,
    configs: BTreeMap<String, String>,
    internal: bool,
) -> Result<(), CommitError> {
    let request = CreateTopic {
        name,
        num_partitions,
        replication_factor,
        configs,
    };
    let default_partitions = broker.config.default_partitions;
    let cluster_id = broker.config.cluster_id.clone();
    broker
        .commit_checked(|image| {
            // Only an internal name may skip the reserved-name check (the
            // core asserts it; a peer's request is not trusted to).
            if internal && crate::core::topic_name::is_internal(name) {
                controller::create_internal_topic(image, &request, default_partitions, &cluster_id)
            } else {
                controller::create_topic(image, &request, default_partitions, &cluster_id)
            }
        })
        .await
}
