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
//! again (it may have been carried out). Then, as Kafka's
//! `ForwardingManager`, the client gets REQUEST_TIMED_OUT for each resource
//! of its request (`kafka::forward_error`), or UNKNOWN_SERVER_ERROR when
//! the request could not be sent or the answer was not one.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::rpc::{ControllerRequest, ControllerResponse, RpcRequest, RpcResponse};
use crate::server::broker::{ForwardFailure, Forwarded, IMAGE_WAIT_MAX_MS};
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
/// rpc frame holds 16 MiB). A larger one is refused (UNKNOWN_SERVER_ERROR,
/// saying why).
pub const FORWARD_REQUEST_BYTES_MAX: usize = 1 << 20;
/// Wait before trying again when no controller is known or it moved.
pub const FORWARD_RETRY_BACKOFF_MS: u64 = 100;

/// How one try ended.
enum Try {
    Answered(Vec<u8>, u64),
    /// Try again, at this node if named.
    Again(Option<i32>),
    /// This node became the ready controller: it handles the request.
    HandleHere,
    /// Stop forwarding: no usable answer.
    Failed(ForwardFailure),
}

impl ClusterRuntime {
    /// Forwards `request_frame` to the active controller: its response
    /// frame, or why there is none within the bounds.
    pub(super) async fn forward_admin_request(
        &self,
        principal: String,
        client_host: String,
        request_frame: Vec<u8>,
    ) -> Forwarded {
        if request_frame.len() > FORWARD_REQUEST_BYTES_MAX {
            return Forwarded::Failed(ForwardFailure::Unusable(format!(
                "an admin request of {} bytes, more than {FORWARD_REQUEST_BYTES_MAX}, is not forwarded to the controller",
                request_frame.len()
            )));
        }
        let request = ControllerRequest::ForwardedAdmin {
            principal,
            client_host,
            request_frame,
        };
        let forwarded = async {
            let Ok(_slot) = self.forward_slots.acquire().await else {
                return Err(Forwarded::Failed(ForwardFailure::TimedOut));
            };
            let mut target = None;
            loop {
                match self.forward_once(target.take(), request.clone()).await {
                    Try::Answered(frame, index) => return Ok((frame, index)),
                    Try::HandleHere => return Err(Forwarded::HandleHere),
                    Try::Failed(why) => return Err(Forwarded::Failed(why)),
                    Try::Again(Some(next)) => target = Some(next),
                    Try::Again(None) => {
                        tokio::time::sleep(Duration::from_millis(FORWARD_RETRY_BACKOFF_MS)).await
                    }
                }
            }
        };
        let (frame, metadata_index) = match tokio::time::timeout(
            Duration::from_millis(FORWARD_TIMEOUT_MS),
            forwarded,
        )
        .await
        {
            Ok(Ok(answered)) => answered,
            Ok(Err(ended)) => return ended,
            Err(_elapsed) => return Forwarded::Failed(ForwardFailure::TimedOut),
        };
        // Read-your-writes at this broker: the client's next Metadata or
        // DescribeConfigs here sees the change (bounded; the answer goes
        // out either way).
        self.wait_applied(metadata_index).await;
        Forwarded::Answered(frame)
    }

    async fn forward_once(&self, target: Option<i32>, request: ControllerRequest) -> Try {
        let Some(controller) = target.or_else(|| self.controller_target()) else {
            return Try::Again(None);
        };
        if controller == self.node_id {
            // This node leads the quorum: once it is the ready controller
            // the request is handled here, without a hop.
            return if self.is_ready_controller() {
                Try::HandleHere
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
                Try::Failed(ForwardFailure::Unusable(format!(
                    "the controller (node {controller}) did not answer the forwarded request"
                )))
            }
            // Never sent, or the connection dropped: sent again, as
            // Kafka's channel manager does after a disconnect.
            Err(CallError::UnknownPeer { .. } | CallError::Disconnected { .. }) => Try::Again(None),
            Err(e @ (CallError::Timeout { .. } | CallError::Stopped)) => {
                tracing::debug!(controller, %e, "forwarded request unanswered");
                Try::Failed(ForwardFailure::TimedOut)
            }
        }
    }

    /// Waits (at most [`IMAGE_WAIT_MAX_MS`]) until this node applied the
    /// metadata log through `index`; whether it did.
    pub(super) async fn wait_applied(&self, index: u64) -> bool {
        let wait = async {
            loop {
                let applied = self.applied.notified();
                if self.applied_index.load(Ordering::Acquire) >= index {
                    return;
                }
                applied.await;
            }
        };
        tokio::time::timeout(Duration::from_millis(IMAGE_WAIT_MAX_MS), wait)
            .await
            .is_ok()
    }
}
