//! Inbound connections: accepted from anyone, `Hello` first, then Raft
//! messages to the inbox and requests served each on its own task and
//! answered on the same connection.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use super::{
    stopped, Inner, PEER_HELLO_TIMEOUT_MS, PEER_INBOUND_CONNECTIONS_MAX,
    PEER_INBOUND_REQUESTS_IN_FLIGHT_MAX, PEER_RECV_WAIT_MS,
};
use crate::rpc::{RpcBody, RpcConnection, RpcError, RpcResponse};

/// Wait after a failed accept (out of file descriptors, say).
const ACCEPT_RETRY_MS: u64 = 10;

pub(super) async fn accept_loop(inner: Arc<Inner>, listener: TcpListener) {
    let mut signal = inner.shutdown_signal();
    let slots = Arc::new(Semaphore::new(PEER_INBOUND_CONNECTIONS_MAX));
    loop {
        let accepted = tokio::select! {
            biased; // tokio's unbiased order draws from a process-seeded generator (docs/testing.md)
            _ = stopped(&mut signal) => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, remote)) => match Arc::clone(&slots).try_acquire_owned() {
                Ok(slot) => {
                    tokio::spawn(serve(Arc::clone(&inner), stream, slot));
                }
                Err(_) => {
                    tracing::warn!(node = inner.node_id, %remote, "too many inbound rpc connections: closed");
                }
            },
            Err(e) => {
                tracing::warn!(node = inner.node_id, %e, "rpc accept failed");
                tokio::time::sleep(Duration::from_millis(ACCEPT_RETRY_MS)).await;
            }
        }
    }
}

/// One inbound connection, until it breaks or shutdown. `_slot` counts it
/// against `PEER_INBOUND_CONNECTIONS_MAX`.
async fn serve(inner: Arc<Inner>, stream: TcpStream, _slot: OwnedSemaphorePermit) {
    let mut signal = inner.shutdown_signal();
    let mut connection = RpcConnection::new(stream, inner.cluster_id.clone(), inner.node_id);
    let hello = tokio::select! {
        biased; // tokio's unbiased order draws from a process-seeded generator (docs/testing.md)
        _ = stopped(&mut signal) => return,
        hello = connection.recv(Duration::from_millis(PEER_HELLO_TIMEOUT_MS)) => hello,
    };
    let peer = match hello {
        Ok(envelope) => match envelope.body {
            RpcBody::Hello { node_id, .. } => node_id,
            _ => {
                tracing::debug!(
                    node = inner.node_id,
                    from = envelope.from,
                    "inbound rpc connection without hello: closed"
                );
                return;
            }
        },
        Err(e) => {
            tracing::debug!(node = inner.node_id, %e, "inbound rpc connection closed before hello");
            return;
        }
    };
    let (mut receiver, mut sender) = connection.into_split();
    // Answers wait here for the writer; every request holds a slot until
    // its answer is written (not merely queued: a peer that never reads
    // would otherwise pile up a queue's worth of answers of up to 16 MiB
    // behind the slots), refusals may add as many again.
    let (answers, mut answer_rx) = mpsc::channel::<(u64, RpcResponse, Option<OwnedSemaphorePermit>)>(
        2 * PEER_INBOUND_REQUESTS_IN_FLIGHT_MAX,
    );
    let request_slots = Arc::new(Semaphore::new(PEER_INBOUND_REQUESTS_IN_FLIGHT_MAX));
    let idle = Duration::from_millis(inner.inbound_idle_ms.load(Ordering::Relaxed));
    let read = async {
        let mut last_envelope = tokio::time::Instant::now();
        loop {
            let idle_left = idle.saturating_sub(last_envelope.elapsed());
            if idle_left.is_zero() {
                return format!("no whole envelope for {} ms", idle.as_millis());
            }
            let wait = idle_left.min(Duration::from_millis(PEER_RECV_WAIT_MS));
            let envelope = match receiver.recv(wait).await {
                Ok(envelope) => envelope,
                Err(RpcError::Timeout { .. }) => continue,
                Err(e) => return e.to_string(),
            };
            last_envelope = tokio::time::Instant::now();
            if envelope.from != peer {
                return format!(
                    "envelope from node {} after hello from {peer}",
                    envelope.from
                );
            }
            match envelope.body {
                RpcBody::Raft(message) => inner.deliver_raft(message),
                RpcBody::Request { id, request } => {
                    let Ok(slot) = Arc::clone(&request_slots).try_acquire_owned() else {
                        let refused = RpcResponse::Refused("too many requests in flight".into());
                        let _ = answers.try_send((id, refused, None));
                        continue;
                    };
                    let handler = inner.handler();
                    let answers = answers.clone();
                    let mut signal = inner.shutdown_signal();
                    tokio::spawn(async move {
                        let response = match &handler {
                            // Ends with the connection: a request whose
                            // answer has nowhere to go is abandoned.
                            Some(handler) => tokio::select! {
                                biased; // tokio's unbiased order draws from a process-seeded generator (docs/testing.md)
                                _ = stopped(&mut signal) => return,
                                _ = answers.closed() => return,
                                response = handler.handle(peer, request) => response,
                            },
                            None => RpcResponse::Refused("no handler yet".into()),
                        };
                        let _ = answers.send((id, response, Some(slot))).await;
                    });
                }
                RpcBody::Hello { .. } => {}
                RpcBody::Response { .. } => {
                    return "a response on an inbound connection".to_string();
                }
            }
        }
    };
    let write = async {
        while let Some((id, response, _slot)) = answer_rx.recv().await {
            let envelope = inner.envelope(peer, RpcBody::Response { id, response });
            if let Err(e) = sender.send(&envelope).await {
                return e.to_string();
            }
        }
        "answers closed".to_string()
    };
    let why = tokio::select! {
        biased; // tokio's unbiased order draws from a process-seeded generator (docs/testing.md)
        why = read => why,
        why = write => why,
        _ = stopped(&mut signal) => return,
    };
    tracing::debug!(
        node = inner.node_id,
        peer,
        why,
        "inbound rpc connection closed"
    );
}
