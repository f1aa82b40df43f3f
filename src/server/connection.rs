//! One client connection: read a frame, handle it, write the response, in
//! order. Like Kafka, a connection has one request in flight at a time, so
//! responses go out in request order.

use std::sync::Arc;

use tokio::net::TcpStream;

use crate::kafka::dispatch::{handle_frame_from, Reply};
use crate::kafka::frame::{read_frame, write_frame, FrameError};
use crate::server::broker::Broker;

pub async fn serve(broker: Arc<Broker>, mut stream: TcpStream, peer: std::net::SocketAddr) {
    let _ = stream.set_nodelay(true);
    let max = broker.config.max_request_size_bytes;
    loop {
        let frame = match read_frame(&mut stream, max).await {
            Ok(frame) => frame,
            Err(FrameError::Closed) => return,
            Err(e) => {
                tracing::info!(%peer, %e, "closing connection: bad frame");
                return;
            }
        };
        match handle_frame_from(&broker, frame, Some(peer)).await {
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
