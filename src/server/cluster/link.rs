//! [`ClusterRuntime`]: a cluster node's quorum and peers, and the broker's
//! [`ClusterLink`] onto them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::Notify;

use crate::core::broker_liveness::BrokerLiveness;
use crate::core::metadata::MetadataRecord;
use crate::core::raft::{RaftBugs, RaftConfig};
use crate::io::disk::join;
use crate::io::node_context::NodeContext;
use crate::rpc::{ControllerRequest, ControllerResponse, RpcRequest, RpcResponse};
use crate::server::broker::{Broker, ClusterLink, CommitError, Forwarded};
use crate::server::cluster::{
    apply, controller, lifecycle, replication, rpc_handler, CONTROLLER_CALL_TIMEOUT_MS,
    PROPOSAL_APPLY_TIMEOUT_MS,
};
use crate::server::config::ClusterConfig;
use crate::server::peers::Peers;
use crate::server::quorum::{ProposalError, Quorum};
use crate::server::task_watch::watched;
use crate::server::BrokerError;

/// The Raft state's directory under the data directory. '@' keeps it out
/// of the topic namespace, as the single node's journal directory.
pub const RAFT_DIR: &str = "@cluster_metadata/raft";

pub struct ClusterRuntime {
    pub(super) node_id: i32,
    pub(super) config: ClusterConfig,
    /// The broker holds this runtime; the runtime holds the broker weakly.
    pub(super) broker: Weak<Broker>,
    pub(super) quorum: Arc<Quorum>,
    pub(super) peers: Arc<Peers>,
    pub(super) node: NodeContext,
    /// Differs on every start of the process (KRaft's incarnation id).
    pub(super) incarnation: u64,
    /// The highest Raft index applied to the broker's image.
    pub(super) applied_index: AtomicU64,
    pub(super) applied: Notify,
    /// The largest index this node proposed (the controller builds the
    /// next records only after it is applied, even if its caller gave up).
    pub(super) last_proposed_index: AtomicU64,
    /// The active controller's view of broker liveness; `None` when this
    /// node is not the active controller.
    pub(super) liveness: Mutex<Option<BrokerLiveness>>,
    /// Turns through the voters while no controller is known.
    pub(super) controller_probe: AtomicU64,
    /// Admin requests being forwarded to the controller
    /// (`forwarding::FORWARDS_IN_FLIGHT_MAX`).
    pub(super) forward_slots: tokio::sync::Semaphore,
    /// This broker's epoch from its last registration (-1 before).
    pub(super) broker_epoch: std::sync::atomic::AtomicI64,
    pub(super) tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// Starts the quorum and peers of a cluster node and attaches them to
/// `broker`, then the tasks: apply, controller, lifecycle and partition
/// replication.
pub async fn start(
    broker: &Arc<Broker>,
    node: NodeContext,
) -> Result<Arc<ClusterRuntime>, BrokerError> {
    let config = broker
        .config
        .cluster
        .clone()
        .expect("a cluster runtime needs cluster settings");
    let node_id = broker.config.node_id;
    // A node not in --voters is a broker only: its Raft node is an
    // observer (core/raft/observer.rs) that follows the metadata log.
    if !config.voters.contains_key(&node_id) {
        tracing::info!(
            node_id,
            "not in --voters: a broker-only node observing the metadata quorum"
        );
    }
    let listener = tokio::net::TcpListener::bind(config.rpc_listen)
        .await
        .map_err(|e| BrokerError::Bind {
            addr: config.rpc_listen.to_string(),
            detail: e.to_string(),
        })?;
    let incarnation = node.clock.wall_ms().unsigned_abs() ^ ((node_id as u64) << 48);
    let peers = Peers::start(
        node_id,
        broker.config.cluster_id.clone(),
        listener,
        config.voters.clone(),
        incarnation,
    );
    let mut raft_config = RaftConfig::new(config.voters.keys().map(|id| *id as u64));
    raft_config.append_entries_max = config.raft_append_entries_max.max(1);
    raft_config.bugs = RaftBugs {
        vote_without_log_check: broker.config.bugs.vote_without_log_check,
        commit_old_term: broker.config.bugs.commit_old_term,
    };
    let raft_dir = join(&broker.config.data_dir, RAFT_DIR);
    let (quorum, events) = Quorum::start(
        Arc::clone(&node.disk),
        Arc::clone(&node.clock),
        &raft_dir,
        raft_config,
        node_id,
        incarnation,
        Arc::clone(&peers),
    )
    .await
    .map_err(|e| BrokerError::Storage(e.to_string()))?;
    let runtime = Arc::new(ClusterRuntime {
        node_id,
        config,
        broker: Arc::downgrade(broker),
        quorum,
        peers: Arc::clone(&peers),
        node,
        incarnation,
        applied_index: AtomicU64::new(0),
        applied: Notify::new(),
        last_proposed_index: AtomicU64::new(0),
        liveness: Mutex::new(None),
        controller_probe: AtomicU64::new(0),
        forward_slots: tokio::sync::Semaphore::new(
            crate::server::cluster::forwarding::FORWARDS_IN_FLIGHT_MAX,
        ),
        broker_epoch: std::sync::atomic::AtomicI64::new(-1),
        tasks: Mutex::new(Vec::new()),
    });
    peers.set_handler(Arc::new(rpc_handler::Handler::new(&runtime)));
    broker.attach_cluster(Arc::clone(&runtime) as Arc<dyn ClusterLink>);
    let spawned = vec![
        tokio::spawn(watched(
            "apply",
            apply::run(Arc::clone(&runtime), events),
            stop_node(Arc::downgrade(broker)),
        )),
        tokio::spawn(watched(
            "controller",
            controller::run(Arc::clone(&runtime)),
            stop_node(Arc::downgrade(broker)),
        )),
        tokio::spawn(watched(
            "lifecycle",
            lifecycle::run(Arc::clone(&runtime)),
            stop_node(Arc::downgrade(broker)),
        )),
        tokio::spawn(watched(
            "replication",
            replication::run(Arc::clone(&runtime)),
            stop_node(Arc::downgrade(broker)),
        )),
    ];
    runtime.tasks.lock().expect("tasks lock").extend(spawned);
    Ok(runtime)
}

/// What a cluster task's end does: the node stops.
fn stop_node(broker: Weak<Broker>) -> impl FnOnce() {
    move || {
        if let Some(broker) = broker.upgrade() {
            broker.storage_failed.notify_one();
        }
    }
}

impl ClusterRuntime {
    /// Leads the quorum and its image holds every committed record: the
    /// apply task has applied its own term's first entry. Handed to the
    /// apply channel is not enough: a controller that built records from
    /// an image still missing committed ones proposed a leader epoch or a
    /// producer-id block older than the committed state, and every node
    /// panicked applying it (found by the simulator: `sim/run.sh --cluster
    /// 3 --seed 149`).
    pub(super) fn is_ready_controller(&self) -> bool {
        self.quorum.ready_leader_index().is_some_and(|index| {
            self.applied_index
                .load(std::sync::atomic::Ordering::Acquire)
                >= index
        })
    }

    pub(super) fn broker(&self) -> Option<Arc<Broker>> {
        self.broker.upgrade()
    }

    pub fn quorum(&self) -> &Arc<Quorum> {
        &self.quorum
    }

    /// Stops every task, the quorum and the connections.
    pub async fn shutdown(&self) {
        for task in self.tasks.lock().expect("tasks lock").drain(..) {
            task.abort();
        }
        self.quorum.shutdown().await;
        self.peers.shutdown();
    }

    /// Every node's rpc address: the voters' from the settings, the
    /// others' from their registrations.
    pub(super) fn refresh_addresses(&self, broker: &Broker) {
        let mut addresses: BTreeMap<i32, SocketAddr> = self.config.voters.clone();
        for b in broker.image().brokers.values() {
            if addresses.contains_key(&b.node_id) {
                continue;
            }
            if let Some((host, port)) = &b.rpc {
                if let Ok(Some(address)) =
                    std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), *port))
                        .map(|mut a| a.next())
                {
                    addresses.insert(b.node_id, address);
                }
            }
        }
        self.peers.update_addresses(addresses);
    }

    async fn propose_records(&self, records: Vec<MetadataRecord>) -> Result<(), CommitError> {
        let payload = bincode::serialize(&records).expect("metadata records serialize");
        let (term, index) = match self.quorum.propose(payload).await {
            Ok(appended) => appended,
            Err(ProposalError::NotLeader { leader_hint }) => {
                return Err(CommitError::NotController { leader_hint })
            }
            Err(e) => return Err(CommitError::Unconfirmed(e.to_string())),
        };
        self.last_proposed_index.fetch_max(index, Ordering::AcqRel);
        let wait = async {
            self.quorum
                .wait_committed(term, index)
                .await
                .map_err(|e| CommitError::Unconfirmed(e.to_string()))?;
            // Committed and handed to the apply task: wait until it is in
            // this node's image, so the caller reads its own change.
            loop {
                let applied = self.applied.notified();
                if self.applied_index.load(Ordering::Acquire) >= index {
                    return Ok(());
                }
                applied.await;
            }
        };
        match tokio::time::timeout(Duration::from_millis(PROPOSAL_APPLY_TIMEOUT_MS), wait).await {
            Ok(result) => result,
            Err(_) => Err(CommitError::Unconfirmed(format!(
                "not applied within {PROPOSAL_APPLY_TIMEOUT_MS} ms"
            ))),
        }
    }

    async fn caught_up(&self) -> bool {
        // Everything in the Raft log, not only the proposals answered: one
        // whose caller was cancelled after sending it (a peer connection
        // dropped under its handler) is appended all the same, and a change
        // validated without it could contradict it once both commit (a
        // registration and a stale ISR proposal, found by review).
        let Some(in_log) = self.quorum.last_index_after_commands().await else {
            return false;
        };
        let target = self
            .quorum
            .handed_index()
            .max(self.last_proposed_index.load(Ordering::Acquire))
            .max(in_log);
        let wait = async {
            loop {
                let applied = self.applied.notified();
                if self.applied_index.load(Ordering::Acquire) >= target {
                    return;
                }
                applied.await;
            }
        };
        tokio::time::timeout(Duration::from_millis(PROPOSAL_APPLY_TIMEOUT_MS), wait)
            .await
            .is_ok()
    }

    /// Where to send a controller request: the Raft leader this node
    /// knows; on a broker-only node that knows none, a voter in turn. The
    /// leader replicates to an observer only once its registration gave
    /// the leader its rpc address, so its first registration learns the
    /// controller from a voter's NOT_CONTROLLER hint (KRaft brokers too
    /// find the controller through the voters). A voter learns the leader
    /// from Raft alone.
    pub(super) fn controller_target(&self) -> Option<i32> {
        if let Some(leader) = self.quorum.leader() {
            return Some(leader);
        }
        if self.config.voters.contains_key(&self.node_id) {
            return None;
        }
        let others: Vec<i32> = self
            .config
            .voters
            .keys()
            .copied()
            .filter(|v| *v != self.node_id)
            .collect();
        if others.is_empty() {
            return None;
        }
        let turn = self.controller_probe.fetch_add(1, Ordering::Relaxed);
        Some(others[(turn % others.len() as u64) as usize])
    }

    /// Sends `request` to the active controller: handled here when this
    /// node is it, else over the rpc connection to it. A NOT_CONTROLLER
    /// answer naming another node is followed once.
    pub(super) async fn call_controller(
        &self,
        request: ControllerRequest,
    ) -> Result<ControllerResponse, CommitError> {
        self.call_controller_within(request, CONTROLLER_CALL_TIMEOUT_MS)
            .await
    }

    /// [`Self::call_controller`], waiting at most `timeout_ms` for another
    /// node's answer.
    pub(super) async fn call_controller_within(
        &self,
        request: ControllerRequest,
        timeout_ms: u64,
    ) -> Result<ControllerResponse, CommitError> {
        let Some(controller) = self.controller_target() else {
            return Err(CommitError::NotController { leader_hint: None });
        };
        match self
            .call_controller_at(controller, request.clone(), timeout_ms)
            .await
        {
            Err(CommitError::NotController {
                leader_hint: Some(hint),
            }) if hint != controller => self.call_controller_at(hint, request, timeout_ms).await,
            other => other,
        }
    }

    /// Sends `request` to node `controller` (this one or another).
    async fn call_controller_at(
        &self,
        controller: i32,
        request: ControllerRequest,
        timeout_ms: u64,
    ) -> Result<ControllerResponse, CommitError> {
        if controller == self.node_id {
            let broker = self
                .broker()
                .ok_or(CommitError::NotController { leader_hint: None })?;
            return match controller::handle(self, &broker, request).await {
                ControllerResponse::NotController { leader_hint } => {
                    Err(CommitError::NotController { leader_hint })
                }
                response => Ok(response),
            };
        }
        let answer = self
            .peers
            .call(
                controller,
                RpcRequest::Controller(request),
                Duration::from_millis(timeout_ms),
            )
            .await
            .map_err(|e| CommitError::Unconfirmed(e.to_string()))?;
        match answer {
            RpcResponse::Controller(ControllerResponse::NotController { leader_hint }) => {
                Err(CommitError::NotController { leader_hint })
            }
            RpcResponse::Controller(response) => Ok(response),
            other => Err(CommitError::Unconfirmed(format!(
                "unexpected answer from the controller: {other:?}"
            ))),
        }
    }
}

impl ClusterLink for ClusterRuntime {
    fn propose(
        &self,
        records: Vec<MetadataRecord>,
    ) -> Pin<Box<dyn std::future::Future<Output = Result<(), CommitError>> + Send + '_>> {
        Box::pin(self.propose_records(records))
    }

    fn is_active_controller(&self) -> bool {
        self.is_ready_controller()
    }

    fn controller_id(&self) -> Option<i32> {
        self.quorum.leader()
    }

    fn wait_caught_up(&self) -> Pin<Box<dyn std::future::Future<Output = bool> + Send + '_>> {
        Box::pin(self.caught_up())
    }

    fn registered_broker_epoch(&self) -> Option<i64> {
        let epoch = self.broker_epoch.load(std::sync::atomic::Ordering::Acquire);
        (epoch >= 0).then_some(epoch)
    }

    fn forward_admin(
        &self,
        principal: String,
        client_host: String,
        request_frame: Vec<u8>,
    ) -> Pin<Box<dyn std::future::Future<Output = Forwarded> + Send + '_>> {
        Box::pin(self.forward_admin_request(principal, client_host, request_frame))
    }

    fn forward(
        &self,
        request: ControllerRequest,
    ) -> Pin<
        Box<dyn std::future::Future<Output = Result<ControllerResponse, CommitError>> + Send + '_>,
    > {
        Box::pin(self.call_controller(request))
    }
}
