//! Every broker's side of its membership (KRaft's BrokerLifecycleManager):
//! register with the active controller, then heartbeat; register again
//! when the controller no longer knows this incarnation.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::rpc::{ControllerRequest, ControllerResponse};
use crate::server::cluster::{ClusterRuntime, CONTROLLER_CALL_TIMEOUT_MS};

/// Wait between failed registration attempts (no controller yet, or it
/// did not answer).
pub const REGISTRATION_RETRY_MS: u64 = 500;

pub(super) async fn run(runtime: Arc<ClusterRuntime>) {
    loop {
        let epoch = register(&runtime).await;
        runtime.broker_epoch.store(epoch, Ordering::Release);
        heartbeat_until_fenced(&runtime, epoch).await;
        runtime.broker_epoch.store(-1, Ordering::Release);
    }
}

/// How long a registration or heartbeat waits for the controller's
/// answer: half the session timeout (Kafka's KAFKA-14392). A heartbeat
/// stuck on a controller that died or was cut off would otherwise outlive
/// the session, and the new controller would fence a healthy broker
/// (the sim's seed 7643: a 5 s call against a 3 s session).
fn lifecycle_call_timeout_ms(runtime: &ClusterRuntime) -> u64 {
    CONTROLLER_CALL_TIMEOUT_MS.min(runtime.config.session_timeout_ms / 2)
}

async fn register(runtime: &ClusterRuntime) -> i64 {
    let Some(broker) = runtime.broker() else {
        // The node is going away: never return an epoch.
        return std::future::pending().await;
    };
    let request = ControllerRequest::RegisterBroker {
        node_id: runtime.node_id,
        host: broker.config.advertise_host.clone(),
        port: broker.config.advertise_port,
        rpc_host: runtime.config.rpc_listen.ip().to_string(),
        rpc_port: runtime.config.rpc_listen.port(),
        incarnation: runtime.incarnation,
        clean_shutdown: broker.previous_shutdown_clean,
    };
    drop(broker);
    loop {
        match runtime
            .call_controller_within(request.clone(), lifecycle_call_timeout_ms(runtime))
            .await
        {
            Ok(ControllerResponse::Registered { broker_epoch }) => {
                tracing::info!(
                    node_id = runtime.node_id,
                    broker_epoch,
                    "registered with the controller"
                );
                return broker_epoch;
            }
            Ok(other) => tracing::debug!(?other, "registration refused; retrying"),
            Err(e) => tracing::debug!(%e, "registration failed; retrying"),
        }
        tokio::time::sleep(Duration::from_millis(REGISTRATION_RETRY_MS)).await;
    }
}

async fn heartbeat_until_fenced(runtime: &ClusterRuntime, broker_epoch: i64) {
    // The first heartbeat goes at once: it is what unfences the broker.
    let mut wait = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(wait)).await;
        crate::buggify::maybe_delay(crate::buggify::FaultPoint::LateHeartbeat).await;
        wait = runtime.config.heartbeat_interval_ms;
        let request = ControllerRequest::Heartbeat {
            node_id: runtime.node_id,
            broker_epoch,
        };
        match runtime
            .call_controller_within(request, lifecycle_call_timeout_ms(runtime))
            .await
        {
            Ok(ControllerResponse::HeartbeatAck { fenced: true }) => {
                tracing::warn!(
                    node_id = runtime.node_id,
                    broker_epoch,
                    "the controller no longer knows this registration; registering again"
                );
                return;
            }
            Ok(ControllerResponse::HeartbeatAck { fenced: false }) => {}
            Ok(other) => tracing::debug!(?other, "heartbeat refused"),
            Err(e) => tracing::debug!(%e, "heartbeat failed"),
        }
    }
}
