//! What other nodes' calls reach: a follower's fetch goes to the
//! partitions it names (`fetch_serve`), a broker's controller request to
//! the controller.

use std::sync::{Arc, Weak};

use crate::rpc::{ControllerRequest, RpcRequest, RpcResponse};
use crate::server::cluster::{controller, fetch_serve, ClusterRuntime};
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
                // Every partition's replica must be the caller.
                RpcRequest::ReplicaFetch(fetch) => fetch
                    .partitions
                    .iter()
                    .map(|p| p.fetch.replica_id)
                    .find(|replica| *replica != from)
                    .unwrap_or(from),
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
                RpcRequest::ReplicaFetch(fetch) => fetch_serve::serve(&broker, fetch).await,
            }
        })
    }
}
