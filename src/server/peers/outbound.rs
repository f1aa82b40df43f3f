//! One peer's outbound connection: dialled lazily, re-dialled with a
//! capped backoff, `Hello` first; it carries this node's Raft messages and
//! requests, and the peer's answers back.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, Notify, Semaphore};

use crate::server::ordered_watch as watch;
use tokio::task::JoinHandle;

use super::{
    stopped, CallError, Inner, PEER_CALLS_IN_FLIGHT_MAX, PEER_CONNECT_TIMEOUT_MS,
    PEER_RAFT_QUEUE_MAX, PEER_RECONNECT_BACKOFF_MAX_MS, PEER_RECONNECT_BACKOFF_MIN_MS,
    PEER_RECV_WAIT_MS,
};
use crate::core::raft::Message;
use crate::rpc::{RpcBody, RpcConnection, RpcEnvelope, RpcError, RpcRequest, RpcResponse};

pub(super) struct Outbound {
    peer: i32,
    raft_queue: mpsc::Sender<Message>,
    call_queue: mpsc::Sender<(u64, RpcRequest)>,
    /// Calls waiting for their answer, by request id.
    pending: Mutex<BTreeMap<u64, oneshot::Sender<RpcResponse>>>,
    call_slots: Semaphore,
    address: watch::Sender<SocketAddr>,
    /// A call timed out on a stalled connection: it is dropped and dialled
    /// again (`call_timed_out`).
    reset: Notify,
    /// Envelopes read on this peer's connections so far.
    frames_read: AtomicU64,
    /// The calls written on the current connection, each with
    /// `frames_read` when it was written; at most one per call slot.
    written: Mutex<Vec<(u64, u64)>>,
}

/// Takes a call's entry out of `pending` however the call ends (answer,
/// timeout, cancellation).
struct PendingGuard<'a> {
    outbound: &'a Outbound,
    id: u64,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.outbound.pending().remove(&self.id);
    }
}

impl Outbound {
    pub(super) fn start(
        inner: Arc<Inner>,
        peer: i32,
        address: SocketAddr,
    ) -> (Arc<Outbound>, JoinHandle<()>) {
        let (raft_queue, raft_rx) = mpsc::channel(PEER_RAFT_QUEUE_MAX);
        let (call_queue, call_rx) = mpsc::channel(PEER_CALLS_IN_FLIGHT_MAX);
        let (address, address_rx) = watch::channel(address);
        let outbound = Arc::new(Outbound {
            peer,
            raft_queue,
            call_queue,
            pending: Mutex::new(BTreeMap::new()),
            call_slots: Semaphore::new(PEER_CALLS_IN_FLIGHT_MAX),
            address,
            reset: Notify::new(),
            frames_read: AtomicU64::new(0),
            written: Mutex::new(Vec::new()),
        });
        let task = tokio::spawn(run(
            inner,
            Arc::clone(&outbound),
            Queues {
                raft: raft_rx,
                calls: call_rx,
                address: address_rx,
            },
        ));
        (outbound, task)
    }

    fn pending(&self) -> MutexGuard<'_, BTreeMap<u64, oneshot::Sender<RpcResponse>>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn set_address(&self, address: SocketAddr) {
        self.address.send_if_modified(|current| {
            let changed = *current != address;
            *current = address;
            changed
        });
    }

    pub(super) fn send_raft(&self, message: Message) {
        // Full or stopped: dropped, Raft retransmits.
        let _ = self.raft_queue.try_send(message);
    }

    pub(super) async fn call(
        &self,
        id: u64,
        request: RpcRequest,
    ) -> Result<RpcResponse, CallError> {
        let _slot = self
            .call_slots
            .acquire()
            .await
            .map_err(|_| CallError::Stopped)?;
        let (answer_tx, answer_rx) = oneshot::channel();
        self.pending().insert(id, answer_tx);
        let _guard = PendingGuard { outbound: self, id };
        assert!(self.pending().len() <= PEER_CALLS_IN_FLIGHT_MAX);
        self.call_queue
            .send((id, request))
            .await
            .map_err(|_| CallError::Stopped)?;
        answer_rx
            .await
            .map_err(|_| CallError::Disconnected { to: self.peer })
    }

    /// Call `id` got no answer in time. If it went out on the current
    /// connection and nothing came back on it since, the connection is
    /// stalled: drop it, failing the calls written on it, and dial again
    /// (Kafka's NetworkClient disconnects on a request timeout). Frames
    /// queued behind one lost to a partition could otherwise arrive seconds
    /// after it heals, as TCP's retransmission backs off (the sim's seeds
    /// 7643 and 7753: fetches and heartbeats stuck after the faults
    /// stopped). A slow answer on a connection that still answers others
    /// (a controller busy committing), or a call never written (waiting
    /// for a slot), leaves it up.
    pub(super) fn call_timed_out(&self, id: u64) {
        let read_now = self.frames_read.load(Ordering::Acquire);
        let stalled = self
            .written()
            .iter()
            .any(|(w, read_then)| *w == id && *read_then == read_now);
        if stalled {
            self.reset.notify_waiters();
        }
    }

    fn written(&self) -> MutexGuard<'_, Vec<(u64, u64)>> {
        self.written.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Shutdown: waiting calls fail, new ones find no slot.
    pub(super) fn close(&self) {
        self.call_slots.close();
        self.fail_pending();
    }

    /// The connection dropped: every waiting call fails.
    fn fail_pending(&self) {
        self.pending().clear();
    }

    /// The calls `ids` fail (their connection was dropped); others wait on.
    fn fail_calls(&self, ids: &[u64]) {
        let mut pending = self.pending();
        for id in ids {
            pending.remove(id);
        }
    }

    fn complete(&self, id: u64, response: RpcResponse) {
        // An answer to a call that timed out finds no one.
        if let Some(answer) = self.pending().remove(&id) {
            let _ = answer.send(response);
        }
    }

    fn is_pending(&self, id: u64) -> bool {
        self.pending().contains_key(&id)
    }
}

struct Queues {
    raft: mpsc::Receiver<Message>,
    calls: mpsc::Receiver<(u64, RpcRequest)>,
    address: watch::Receiver<SocketAddr>,
}

/// Why a connection ended.
enum Ended {
    Shutdown,
    AddressChanged,
    /// A call timed out (`Outbound::call_timed_out`): dial again at once.
    CallTimedOut,
    Broken(String),
}

async fn run(inner: Arc<Inner>, outbound: Arc<Outbound>, mut queues: Queues) {
    let mut signal = inner.shutdown_signal();
    let mut backoff_ms = PEER_RECONNECT_BACKOFF_MIN_MS;
    loop {
        if *signal.borrow() {
            return;
        }
        let address = *queues.address.borrow_and_update();
        outbound.written().clear();
        let ended = tokio::select! {
            biased; // tokio's unbiased order draws from a process-seeded generator (docs/testing.md)
            _ = stopped(&mut signal) => Ended::Shutdown,
            dialled = dial(&inner, outbound.peer, address) => match dialled {
                Ok(connection) => {
                    backoff_ms = PEER_RECONNECT_BACKOFF_MIN_MS;
                    serve(&inner, &outbound, &mut queues, &mut signal, connection).await
                }
                Err(e) => Ended::Broken(e),
            },
        };
        match &ended {
            // The calls written on the dropped connection fail; those still
            // queued go out on the next one.
            Ended::CallTimedOut => {
                let written: Vec<u64> = outbound.written().drain(..).map(|(id, _)| id).collect();
                outbound.fail_calls(&written);
            }
            _ => outbound.fail_pending(),
        }
        match ended {
            Ended::Shutdown => return,
            Ended::AddressChanged => continue,
            Ended::CallTimedOut => {
                tracing::debug!(node = inner.node_id, peer = outbound.peer, %address, "a call timed out: dialling again");
                continue;
            }
            Ended::Broken(why) => {
                tracing::debug!(node = inner.node_id, peer = outbound.peer, %address, why, "peer connection down");
            }
        }
        // Wait before re-dialling; what is queued meanwhile is dropped
        // (Raft messages) or failed (calls).
        let wait = tokio::time::sleep(Duration::from_millis(backoff_ms));
        tokio::pin!(wait);
        loop {
            tokio::select! {
                biased; // tokio's unbiased order draws from a process-seeded generator (docs/testing.md)
                _ = &mut wait => break,
                _ = stopped(&mut signal) => return,
                changed = queues.address.changed() => {
                    if changed.is_err() { return; }
                    break;
                }
                Some(_) = queues.raft.recv() => {}
                Some((id, _)) = queues.calls.recv() => {
                    outbound.pending().remove(&id);
                }
            }
        }
        backoff_ms = (backoff_ms * 2).min(PEER_RECONNECT_BACKOFF_MAX_MS);
    }
}

async fn dial(inner: &Inner, peer: i32, address: SocketAddr) -> Result<RpcConnection, String> {
    let connect = tokio::net::TcpStream::connect(address);
    let stream =
        match tokio::time::timeout(Duration::from_millis(PEER_CONNECT_TIMEOUT_MS), connect).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(format!("connect: {e}")),
            Err(_) => return Err("connect timed out".to_string()),
        };
    let mut connection = RpcConnection::new(stream, inner.cluster_id.clone(), inner.node_id);
    let hello = inner.envelope(
        peer,
        RpcBody::Hello {
            node_id: inner.node_id,
            incarnation: inner.incarnation,
        },
    );
    connection
        .send(&hello)
        .await
        .map_err(|e| format!("hello: {e}"))?;
    Ok(connection)
}

/// Runs one established connection until it breaks, the address changes
/// or shutdown. Reading and writing run side by side on split halves.
async fn serve(
    inner: &Inner,
    outbound: &Outbound,
    queues: &mut Queues,
    signal: &mut watch::Receiver<bool>,
    connection: RpcConnection,
) -> Ended {
    let peer = outbound.peer;
    let Queues {
        raft,
        calls,
        address,
    } = queues;
    let (mut receiver, mut sender) = connection.into_split();
    let read = async {
        loop {
            match receiver
                .recv(Duration::from_millis(PEER_RECV_WAIT_MS))
                .await
            {
                Ok(envelope) if envelope.from != peer => {
                    return format!(
                        "envelope from node {} on the connection to {peer}",
                        envelope.from
                    )
                }
                Ok(envelope) => {
                    outbound.frames_read.fetch_add(1, Ordering::AcqRel);
                    match envelope.body {
                        RpcBody::Response { id, response } => outbound.complete(id, response),
                        RpcBody::Raft(message) => inner.deliver_raft(message),
                        RpcBody::Hello { .. } | RpcBody::Request { .. } => {
                            return "a hello or request on an outbound connection".to_string()
                        }
                    }
                }
                Err(RpcError::Timeout { .. }) => {}
                Err(e) => return e.to_string(),
            }
        }
    };
    let write = async {
        loop {
            let body = tokio::select! {
                biased; // tokio's unbiased order draws from a process-seeded generator (docs/testing.md)
                Some(message) = raft.recv() => RpcBody::Raft(message),
                Some((id, request)) = calls.recv() => {
                    if !outbound.is_pending(id) {
                        continue; // the caller gave up
                    }
                    let read_then = outbound.frames_read.load(Ordering::Acquire);
                    let mut written = outbound.written();
                    // Bounded: one entry per call slot; answered ones go.
                    written.retain(|(w, _)| outbound.is_pending(*w));
                    written.push((id, read_then));
                    RpcBody::Request { id, request }
                }
                else => return "queues closed".to_string(),
            };
            if let Err(e) = sender.send(&inner.envelope(peer, body)).await {
                return e.to_string();
            }
        }
    };
    tokio::select! {
        biased; // tokio's unbiased order draws from a process-seeded generator (docs/testing.md)
        // First: a call queued after the timeout must not go out on the
        // connection about to drop.
        _ = outbound.reset.notified() => Ended::CallTimedOut,
        why = read => Ended::Broken(why),
        why = write => Ended::Broken(why),
        _ = stopped(signal) => Ended::Shutdown,
        changed = address.changed() => match changed {
            Ok(()) => Ended::AddressChanged,
            Err(_) => Ended::Shutdown,
        },
    }
}

impl Inner {
    pub(super) fn envelope(&self, to: i32, body: RpcBody) -> RpcEnvelope {
        RpcEnvelope {
            cluster_id: self.cluster_id.clone(),
            from: self.node_id,
            to,
            body,
        }
    }
}
