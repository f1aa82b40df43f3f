//! A node's connections to the other nodes of its cluster: Raft messages
//! (fire and forget), calls with answers (replica fetch, broker to
//! controller), and the inbound side that hands them to the quorum and to
//! the application's [`RpcHandler`].
//!
//! - Two outbound connections per peer (`outbound.rs`), one per [`Lane`]:
//!   control (Raft messages, calls to the controller) and data (replica
//!   fetches), so a heartbeat never waits behind a long-polling fetch or
//!   its answer of megabytes (Kafka keeps the controller listener apart
//!   from the inter-broker one). Each is dialled lazily on the first
//!   message or call, re-dialled with a capped backoff, `Hello` first, and
//!   carries this node's messages and requests to that peer and the peer's
//!   answers back.
//! - Inbound connections (`inbound.rs`) are accepted from anyone; the first
//!   envelope must be a `Hello`, every later one must come from the node it
//!   named. Raft messages go to the raft inbox; each request runs on its
//!   own task (a replica fetch may long-poll) and is answered on the
//!   connection it came on.
//!
//! Everything a peer can grow has a named bound (the `PEER_*` consts); Raft
//! messages that do not fit, or find the peer unreachable, are dropped:
//! Raft tolerates loss. docs/protocol.md ("Peers") lists the limits.

mod inbound;
mod outbound;
#[cfg(all(test, not(madsim)))]
mod tests;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use crate::server::ordered_watch as watch;
use tokio::task::JoinHandle;

use crate::core::raft::Message;
use crate::rpc::{RpcRequest, RpcResponse};

/// Raft messages queued for one peer; beyond it new ones are dropped.
pub const PEER_RAFT_QUEUE_MAX: usize = 1_024;
/// Bytes of peers' Raft messages (entries and snapshot chunks, as
/// [`raft_inbox_bytes`] counts them) waiting for the quorum to step them;
/// beyond it new ones are dropped, as lost packets. The inbox's count
/// (`QUORUM_INBOX_MAX`, 4 096) alone let frames of up to 16 MiB pile up to
/// 64 GiB while the quorum waited on a slow sync. 64 MiB holds about 64
/// full appends or snapshot chunks (`message_max_bytes`, 1 MiB by
/// default): a leader keeps at most `inflight_appends_max` (8) appends in
/// flight to a follower, so only a flood is dropped.
pub const PEER_RAFT_INBOX_BYTES_MAX: usize = 64 << 20;
/// Calls to one peer on one lane waiting for their answer; a further call
/// waits for a slot (within its timeout).
pub const PEER_CALLS_IN_FLIGHT_MAX: usize = 64;
/// Requests from one inbound connection being served at once; beyond it a
/// request is answered `Refused` at once.
pub const PEER_INBOUND_REQUESTS_IN_FLIGHT_MAX: usize = 64;
/// Inbound connections open at once; beyond it new ones are closed.
pub const PEER_INBOUND_CONNECTIONS_MAX: usize = 256;
/// First and largest wait before re-dialling a peer (doubling between).
pub const PEER_RECONNECT_BACKOFF_MIN_MS: u64 = 50;
pub const PEER_RECONNECT_BACKOFF_MAX_MS: u64 = 2_000;
/// A dial that has not connected by then fails.
pub const PEER_CONNECT_TIMEOUT_MS: u64 = 2_000;
/// An inbound connection must say `Hello` within this.
pub const PEER_HELLO_TIMEOUT_MS: u64 = 5_000;
/// How long a reader waits for an envelope before looking again (this only
/// bounds one wait; [`PEER_INBOUND_IDLE_MS`] closes an idle connection).
pub const PEER_RECV_WAIT_MS: u64 = 60_000;
/// An inbound connection that brought no whole envelope for this long is
/// closed (Kafka's `connections.max.idle.ms`, 10 minutes), with any partial
/// frame it holds: anyone may connect to the rpc port, and otherwise a
/// silent or trickling connection kept one of the
/// [`PEER_INBOUND_CONNECTIONS_MAX`] slots and up to a frame's bytes for
/// good. A live peer's outbound connection that fell idle is re-dialled
/// on its next message.
pub const PEER_INBOUND_IDLE_MS: u64 = 600_000;

/// The connection to a peer a message travels on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Lane {
    /// Raft messages and calls to the active controller (registration,
    /// heartbeats, AlterPartition, forwarded admin changes).
    Control,
    /// Replica fetches: long-polled, with answers of up to
    /// `REPLICA_FETCH_RESPONSE_BYTES_MAX`.
    Data,
}

impl Lane {
    /// The lane a call travels on: decided by what it is, so no caller can
    /// put a controller call behind fetches.
    pub fn of(request: &RpcRequest) -> Lane {
        match request {
            RpcRequest::Controller(_) => Lane::Control,
            RpcRequest::ReplicaFetch(_) => Lane::Data,
        }
    }
}

/// Why a call got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("no rpc address known for node {to}")]
    UnknownPeer { to: i32 },
    #[error("no answer from node {to} within {timeout_ms} ms")]
    Timeout { to: i32, timeout_ms: u64 },
    #[error("the connection to node {to} dropped before the answer")]
    Disconnected { to: i32 },
    #[error("peers are shut down")]
    Stopped,
}

/// The future an [`RpcHandler`] returns.
pub type RpcHandlerFuture<'a> = Pin<Box<dyn Future<Output = RpcResponse> + Send + 'a>>;

/// Serves requests from other nodes. Each request runs on its own task,
/// so a handler may wait (a replica fetch long-polls).
pub trait RpcHandler: Send + Sync + 'static {
    fn handle(&self, from: i32, request: RpcRequest) -> RpcHandlerFuture<'_>;
}

/// A peer's Raft message on its way to the quorum's inbox; it holds its
/// share of [`PEER_RAFT_INBOX_BYTES_MAX`] until it is dropped (stepped).
#[derive(Debug)]
pub struct InboundRaft {
    pub message: Message,
    _bytes: OwnedSemaphorePermit,
}

/// What a Raft message counts for in the inbox on top of its payload
/// (entries, snapshot data): its other fields, so empty ones count too.
pub const RAFT_MESSAGE_OVERHEAD_BYTES: usize = 64;

/// The bytes `message` counts for against [`PEER_RAFT_INBOX_BYTES_MAX`].
pub fn raft_inbox_bytes(message: &Message) -> usize {
    message
        .body
        .payload_bytes()
        .saturating_add(RAFT_MESSAGE_OVERHEAD_BYTES)
}

/// This node's connections to its peers. Cheap to share (`Arc`).
pub struct Peers {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    node_id: i32,
    cluster_id: String,
    incarnation: u64,
    next_call_id: AtomicU64,
    state: Mutex<State>,
    shutdown: watch::Sender<bool>,
    /// What the inbox may hold (`PEER_RAFT_INBOX_BYTES_MAX`).
    raft_inbox_budget: Arc<Semaphore>,
    /// [`PEER_INBOUND_IDLE_MS`]; tests shorten it.
    inbound_idle_ms: AtomicU64,
}

struct State {
    addresses: BTreeMap<i32, SocketAddr>,
    /// One per peer and lane ever sent on.
    outbound: BTreeMap<(i32, Lane), Arc<outbound::Outbound>>,
    raft_inbox: Option<mpsc::Sender<InboundRaft>>,
    handler: Option<Arc<dyn RpcHandler>>,
    /// The accept task and one task per outbound peer.
    tasks: Vec<JoinHandle<()>>,
    stopped: bool,
}

impl Peers {
    /// Starts accepting on `rpc_listener` (bound already) as node
    /// `node_id` of `cluster_id`; `addresses` are the peers known now (the
    /// voters), `incarnation` tells this life of the process from earlier
    /// ones. Call inside the runtime.
    pub fn start(
        node_id: i32,
        cluster_id: impl Into<String>,
        rpc_listener: tokio::net::TcpListener,
        addresses: BTreeMap<i32, SocketAddr>,
        incarnation: u64,
    ) -> Arc<Peers> {
        let cluster_id = cluster_id.into();
        assert!(!cluster_id.is_empty(), "peers need a cluster id");
        let (shutdown, _) = watch::channel(false);
        let inner = Arc::new(Inner {
            node_id,
            cluster_id,
            incarnation,
            next_call_id: AtomicU64::new(1),
            state: Mutex::new(State {
                addresses,
                outbound: BTreeMap::new(),
                raft_inbox: None,
                handler: None,
                tasks: Vec::new(),
                stopped: false,
            }),
            shutdown,
            raft_inbox_budget: Arc::new(Semaphore::new(PEER_RAFT_INBOX_BYTES_MAX)),
            inbound_idle_ms: AtomicU64::new(PEER_INBOUND_IDLE_MS),
        });
        let accept = tokio::spawn(inbound::accept_loop(Arc::clone(&inner), rpc_listener));
        inner.lock().tasks.push(accept);
        Arc::new(Peers { inner })
    }

    pub fn node_id(&self) -> i32 {
        self.inner.node_id
    }

    /// Replaces the known rpc addresses (brokers learn them from metadata).
    /// A connection to a peer whose address changed is re-dialled.
    pub fn update_addresses(&self, addresses: BTreeMap<i32, SocketAddr>) {
        let mut state = self.inner.lock();
        for ((peer, _), outbound) in &state.outbound {
            if let Some(address) = addresses.get(peer) {
                outbound.set_address(*address);
            }
        }
        state.addresses = addresses;
    }

    /// Where Raft messages from peers go (the quorum's inbox). Messages
    /// that find it full, in count or in bytes, are dropped.
    pub fn set_raft_inbox(&self, inbox: mpsc::Sender<InboundRaft>) {
        self.inner.lock().raft_inbox = Some(inbox);
    }

    /// Who serves requests from peers. Until it is set they are answered
    /// `RpcResponse::Refused`.
    pub fn set_handler(&self, handler: Arc<dyn RpcHandler>) {
        self.inner.lock().handler = Some(handler);
    }

    /// Queues `message` for its recipient; dropped if the queue is full,
    /// the peer has no known address or is unreachable.
    pub fn send_raft(&self, message: Message) {
        let Ok(to) = i32::try_from(message.to) else {
            tracing::warn!(to = message.to, "raft message for a node id beyond i32");
            return;
        };
        assert_eq!(
            u64::try_from(self.inner.node_id).ok(),
            Some(message.from),
            "raft messages leave from this node"
        );
        if let Some(outbound) = self.inner.outbound(to, Lane::Control) {
            outbound.send_raft(message);
        }
    }

    /// Sends `request` to node `to` on its lane ([`Lane::of`]) and waits at
    /// most `timeout` for its answer. A call that times out on a stalled
    /// connection drops it (`Outbound::call_timed_out`).
    pub async fn call(
        &self,
        to: i32,
        request: RpcRequest,
        timeout: Duration,
    ) -> Result<RpcResponse, CallError> {
        let outbound = self.inner.outbound(to, Lane::of(&request)).ok_or_else(|| {
            if self.inner.lock().stopped {
                CallError::Stopped
            } else {
                CallError::UnknownPeer { to }
            }
        })?;
        let id = self.inner.next_call_id.fetch_add(1, Ordering::Relaxed);
        match tokio::time::timeout(timeout, outbound.call(id, request)).await {
            Ok(result) => result,
            Err(_elapsed) => {
                outbound.call_timed_out(id);
                Err(CallError::Timeout {
                    to,
                    timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
                })
            }
        }
    }

    /// Stops every task: no more accepts, connections close, calls in
    /// flight fail. Idempotent.
    pub fn shutdown(&self) {
        let tasks = {
            let mut state = self.inner.lock();
            state.stopped = true;
            state.raft_inbox = None;
            state.handler = None;
            for outbound in std::mem::take(&mut state.outbound).into_values() {
                outbound.close();
            }
            std::mem::take(&mut state.tasks)
        };
        self.inner.shutdown.send_replace(true);
        for task in tasks {
            task.abort();
        }
    }
}

impl Drop for Peers {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding it; a poisoned lock is still whole.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// The outbound side to `peer` on `lane`, started on first use.
    fn outbound(self: &Arc<Self>, peer: i32, lane: Lane) -> Option<Arc<outbound::Outbound>> {
        if peer == self.node_id {
            return None;
        }
        let mut state = self.lock();
        if state.stopped {
            return None;
        }
        if let Some(outbound) = state.outbound.get(&(peer, lane)) {
            return Some(Arc::clone(outbound));
        }
        let address = *state.addresses.get(&peer)?;
        let (outbound, task) = outbound::Outbound::start(Arc::clone(self), peer, address);
        state.outbound.insert((peer, lane), Arc::clone(&outbound));
        state.tasks.push(task);
        Some(outbound)
    }

    /// Hands a peer's Raft message to the inbox, or drops it.
    fn deliver_raft(&self, message: Message) {
        let Some(inbox) = self.lock().raft_inbox.clone() else {
            return;
        };
        // Over the byte budget, full or closed: dropped, like a lost packet.
        let bytes = u32::try_from(raft_inbox_bytes(&message)).unwrap_or(u32::MAX);
        let Ok(permit) = Arc::clone(&self.raft_inbox_budget).try_acquire_many_owned(bytes) else {
            return;
        };
        let _ = inbox.try_send(InboundRaft {
            message,
            _bytes: permit,
        });
    }

    fn handler(&self) -> Option<Arc<dyn RpcHandler>> {
        self.lock().handler.clone()
    }
}

/// Resolves once shutdown is signalled (or its sender is gone).
async fn stopped(signal: &mut watch::Receiver<bool>) {
    let _ = signal.wait_for(|stop| *stop).await;
}
