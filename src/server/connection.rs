//! One client connection: read a frame, handle it, write the response, in
//! order. Like Kafka, a connection has one request in flight at a time, so
//! responses go out in request order.
//!
//! Limits (docs/limits.md): the connection holds a [`ConnectionSlot`] for
//! its whole life; a frame's body is read only after its size is reserved
//! under `queued.max.request.bytes`, and the reservation is kept until the
//! response is written; a connection that completes no request within
//! `connections.max.idle.ms` (counted from its start or its last response)
//! is closed.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;

use crate::buggify::FaultPoint;
use crate::kafka::dispatch::{handle_frame_from, Reply};
use crate::kafka::frame::{read_frame_body, read_frame_size, write_frame, FrameError};
use crate::server::broker::Broker;
use crate::server::connection_limits::{ConnectionLimits, ConnectionSlot};

pub async fn serve(
    broker: Arc<Broker>,
    mut stream: TcpStream,
    peer: std::net::SocketAddr,
    limits: Arc<ConnectionLimits>,
    slot: ConnectionSlot,
) {
    let _slot = slot;
    let _ = stream.set_nodelay(true);
    let max = broker.config.max_request_size_bytes;
    let idle = Duration::from_millis(limits.limits().connections_max_idle_ms.max(1));
    loop {
        // std's clock: madsim simulates it (and has no `timeout_at`).
        let deadline = std::time::Instant::now() + idle;
        let left = || deadline.saturating_duration_since(std::time::Instant::now());
        let size = match tokio::time::timeout(left(), read_frame_size(&mut stream, max)).await {
            Ok(Ok(size)) => size,
            Ok(Err(FrameError::Closed)) => return,
            Ok(Err(e)) => {
                tracing::info!(%peer, %e, "closing connection: bad frame");
                return;
            }
            Err(_) => {
                tracing::info!(%peer, idle_ms = idle.as_millis() as u64, "closing idle connection (connections.max.idle.ms)");
                return;
            }
        };
        // Held until the response is written: the request's bytes (and what
        // handling it builds from them) stay accounted while they live.
        let _reserved = limits.reserve_request_bytes(size).await;
        let frame = match tokio::time::timeout(left(), read_frame_body(&mut stream, size)).await {
            Ok(Ok(frame)) => frame,
            Ok(Err(e)) => {
                tracing::info!(%peer, %e, "closing connection: bad frame");
                return;
            }
            Err(_) => {
                tracing::info!(%peer, size, "closing connection: request incomplete after connections.max.idle.ms");
                return;
            }
        };
        match handle_frame_from(&broker, frame, Some(peer)).await {
            Ok(Reply::Frame(_)) if crate::buggify::fires(FaultPoint::EarlyClose) => return,
            Ok(Reply::Frame(bytes)) => {
                if let Err(e) = write_frame(&mut stream, &bytes).await {
                    tracing::debug!(%peer, %e, "connection write failed");
                    return;
                }
            }
            Ok(Reply::Nothing) => {}
            Err(e) => {
                tracing::info!(%peer, %e, "closing connection: bad request");
                return;
            }
        }
    }
}
