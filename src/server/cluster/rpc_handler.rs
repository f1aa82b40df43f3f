//! What other nodes' calls reach: a follower's fetch goes to the
//! partition it names, a broker's controller request to the controller.

use std::sync::{Arc, Weak};

use crate::rpc::{ControllerRequest, ReplicaFetch, RpcRequest, RpcResponse};
use crate::server::cluster::{controller, ClusterRuntime};
use crate::server::peers::{RpcHandler, RpcHandlerFuture};

pub(super) struct Handler {
    runtime: Weak<ClusterRuntime>,
}

impl Handler {
    pub(super) fn new(runtime: &Arc<ClusterRuntime>) -> Handler {
        Handler {
            runtime: Arc::downgrade(runtime),
        }
    }
}

impl RpcHandler for Handler {
    fn handle(&self, from: i32, request: RpcRequest) -> RpcHandlerFuture<'_> {
        Box::pin(async move {
            let Some(runtime) = self.runtime.upgrade() else {
                return RpcResponse::Refused("the node is stopping".into());
            };
            let Some(broker) = runtime.broker() else {
                return RpcResponse::Refused("the node is stopping".into());
            };
            // A node speaks only for itself: the id it said hello with must
            // be the replica, broker or leader its request names.
            let speaker = match &request {
                RpcRequest::ReplicaFetch(fetch) => fetch.fetch.replica_id,
                RpcRequest::Controller(ControllerRequest::RegisterBroker { node_id, .. })
                | RpcRequest::Controller(ControllerRequest::Heartbeat { node_id, .. })
                | RpcRequest::Controller(ControllerRequest::AllocateProducerIds { node_id }) => {
                    *node_id
                }
                RpcRequest::Controller(ControllerRequest::AlterPartition { leader_id, .. }) => {
                    *leader_id
                }
                RpcRequest::Controller(
                    ControllerRequest::CreateTopic { .. }
                    | ControllerRequest::ForwardedAdmin { .. },
                ) => from,
            };
            if speaker != from {
                return RpcResponse::Refused(format!(
                    "node {from} sent a request in the name of node {speaker}"
                ));
            }
            match request {
                RpcRequest::Controller(request) => {
                    RpcResponse::Controller(controller::handle(&runtime, &broker, request).await)
                }
                RpcRequest::ReplicaFetch(fetch) => replica_fetch(&broker, fetch).await,
            }
        })
    }
}

async fn replica_fetch(broker: &crate::server::broker::Broker, fetch: ReplicaFetch) -> RpcResponse {
    let Some(handle) = broker.partition(&fetch.topic, fetch.partition) else {
        return RpcResponse::Refused(format!(
            "this node hosts no partition {}-{}",
            fetch.topic, fetch.partition
        ));
    };
    if handle.topic_id != fetch.topic_id {
        return RpcResponse::Refused(format!(
            "partition {}-{} is of another topic id",
            fetch.topic, fetch.partition
        ));
    }
    let response = handle
        .replica_fetch(
            fetch.fetch,
            fetch.max_bytes as usize,
            fetch.max_wait_ms.into(),
        )
        .await;
    RpcResponse::ReplicaFetch(response)
}
