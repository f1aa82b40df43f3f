//! Forwarding a client's admin change to the active controller (KIP-590;
//! KRaft's `ForwardingManager` over its `NodeToControllerChannelManager`):
//! the broker sends the whole request frame with the client's principal
//! and host (`ControllerRequest::ForwardedAdmin`), the controller handles
//! it as if the client had come to it, and the broker answers the client
//! with the controller's response, once its own image holds the change.
//!
//! As Kafka's channel manager does, a request that finds no controller
//! known, a NOT_CONTROLLER answer, or a dropped connection is sent again
//! (to the named controller, else the next voter) until
//! [`FORWARD_TIMEOUT_MS`]; a call that got no answer in time is not sent
//! again (it may have been carried out). Then the broker handles the
//! request itself, which answers NOT_CONTROLLER (retriable).

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::rpc::{ControllerRequest, ControllerResponse, RpcRequest, RpcResponse};
use crate::server::broker::IMAGE_WAIT_MAX_MS;
use crate::server::cluster::ClusterRuntime;
use crate::server::peers::CallError;

/// How long a forwarded request may take, from the first try to the
/// controller's answer (Kafka bounds it by the client's request timeout,
/// 30 s by default; the controller's own commit wait is 15 s).
pub const FORWARD_TIMEOUT_MS: u64 = 20_000;
/// Forwarded requests in flight from this broker at once; one more waits
/// for a slot within its timeout.
pub const FORWARDS_IN_FLIGHT_MAX: usize = 32;
/// The largest request frame forwarded (an admin request is small; the
/// rpc frame holds 16 MiB). A larger one is handled here (NOT_CONTROLLER).
pub const FORWARD_REQUEST_BYTES_MAX: usize = 1 << 20;
/// Wait before trying again when no controller is known or it moved.
pub const FORWARD_RETRY_BACKOFF_MS: u64 = 100;

/// How one try ended.
enum Try {
    Answered(Vec<u8>, u64),
    /// Try again, at this node if named.
    Again(Option<i32>),
    /// Stop forwarding: the broker handles the request itself.
    GiveUp,
}

impl ClusterRuntime {
    /// Forwards `request_frame` to the active controller; its response
    /// frame, or `None` (handle it here) when it could not be carried out
    /// within the bounds.
    pub(super) async fn forward_admin_request(
        &self,
        principal: String,
        client_host: String,
        request_frame: Vec<u8>,
    ) -> Option<Vec<u8>> {
        if request_frame.len() > FORWARD_REQUEST_BYTES_MAX {
            tracing::debug!(
                bytes = request_frame.len(),
                "admin request too large to forward"
            );
            return None;
        }
        let request = ControllerRequest::ForwardedAdmin {
            principal,
            client_host,
            request_frame,
        };
        let forwarded = async {
            let _slot = self.forward_slots.acquire().await.ok()?;
            let mut target = None;
            loop {
                match self.forward_once(target.take(), request.clone()).await {
                    Try::Answered(frame, index) => return Some((frame, index)),
                    Try::GiveUp => return None,
                    Try::Again(Some(next)) => target = Some(next),
                    Try::Again(None) => {
                        tokio::time::sleep(Duration::from_millis(FORWARD_RETRY_BACKOFF_MS)).await
                    }
                }
            }
        };
        let (frame, metadata_index) =
            tokio::time::timeout(Duration::from_millis(FORWARD_TIMEOUT_MS), forwarded)
                .await
                .ok()??;
        // Read-your-writes at this broker: the client's next Metadata or
        // DescribeConfigs here sees the change (bounded; the answer goes
        // out either way).
        self.wait_applied(metadata_index).await;
        Some(frame)
    }

    async fn forward_once(&self, target: Option<i32>, request: ControllerRequest) -> Try {
        let Some(controller) = target.or_else(|| self.controller_target()) else {
            return Try::Again(None);
        };
        if controller == self.node_id {
            // This node leads the quorum: once it is the ready controller
            // the request is handled here, without a hop.
            return if self.is_ready_controller() {
                Try::GiveUp
            } else {
                Try::Again(None)
            };
        }
        let answer = self
            .peers
            .call(
                controller,
                RpcRequest::Controller(request),
                Duration::from_millis(FORWARD_TIMEOUT_MS),
            )
            .await;
        match answer {
            Ok(RpcResponse::Controller(ControllerResponse::ForwardedAdmin {
                response_frame,
                metadata_index,
            })) => Try::Answered(response_frame, metadata_index),
            Ok(RpcResponse::Controller(ControllerResponse::NotController { leader_hint })) => {
                Try::Again(leader_hint.filter(|hint| *hint != controller))
            }
            // Busy, or not started yet: try again.
            Ok(RpcResponse::Refused(why)) => {
                tracing::debug!(controller, why, "forwarded request refused; retrying");
                Try::Again(None)
            }
            Ok(other) => {
                tracing::debug!(controller, ?other, "forwarded request not taken");
                Try::GiveUp
            }
            // Never sent, or the connection dropped: sent again, as
            // Kafka's channel manager does after a disconnect.
            Err(CallError::UnknownPeer { .. } | CallError::Disconnected { .. }) => Try::Again(None),
            Err(e @ (CallError::Timeout { .. } | CallError::Stopped)) => {
                tracing::debug!(controller, %e, "forwarded request unanswered");
                Try::GiveUp
            }
        }
    }

    /// Waits (at most [`IMAGE_WAIT_MAX_MS`]) until this node applied the
    /// metadata log through `index`.
    async fn wait_applied(&self, index: u64) {
        let wait = async {
            loop {
                let applied = self.applied.notified();
                if self.applied_index.load(Ordering::Acquire) >= index {
                    return;
                }
                applied.await;
            }
        };
        let _ = tokio::time::timeout(Duration::from_millis(IMAGE_WAIT_MAX_MS), wait).await;
    }
}
