//! The broker's shared state: the metadata image (fed by the metadata
//! journal), and the partitions this node hosts, reconciled with the image
//! after every committed change.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};

use tokio::sync::Notify;

use crate::core::controller::{self, CreateTopic, TopicError};
use crate::core::group::{GroupError, GroupRequest, GroupResponse};
use crate::core::metadata::{MetadataImage, MetadataRecord, PartitionImage, TopicImage};
use crate::core::partition::high_watermark_checkpoint::HighWatermarks;
use crate::core::producer_state::{ProducerIdAllocator, ProducerIdBlock};
use crate::core::topic_config::{TopicConfig, TopicDefaults};
use crate::core::topic_name;
use crate::io::clock::Clock;
use crate::io::disk::{join, Disk, DiskError};
use crate::io::node_context::NodeContext;
use crate::kafka::error_code::code;
use crate::rpc::{ControllerRequest, ControllerResponse};
use crate::server::config::BrokerConfig;
use crate::server::connection_limits::ConnectionLimits;
use crate::server::group_driver::{GroupDriver, LoadError};
use crate::server::high_watermark_checkpoints;
use crate::server::metadata_journal::{self, MetadataJournal};
use crate::server::offsets_topic::{self, OFFSETS_TOPIC, OFFSETS_TOPIC_PARTITIONS};
use crate::server::partition_files_epoch::newest_epoch_on_disk;
use crate::server::partition_handle::replication::ReplicationTiming;
use crate::server::partition_handle::{partition_dir, PartitionHandle};
use crate::server::BrokerError;
use kafka_protocol::error::ResponseError;

/// The metadata journal's directory. '@' is outside the topic name
/// alphabet, so no partition directory (`<topic>-<partition>`) can ever be
/// this directory, whatever a client names its topic.
const METADATA_DIR: &str = "@cluster_metadata";
/// Where the journal lived before: a name a topic `__cluster_metadata`
/// would have had. Renamed to [`METADATA_DIR`] at start.
const LEGACY_METADATA_DIR: &str = "__cluster_metadata-0";
/// The most bytes of records [`Broker::commit_built`] puts in one commit,
/// well under the journal's 1 MiB frame.
const COMMIT_CHUNK_MAX_BYTES: u64 = 256 * 1024;
/// A cluster node's replica timers: a follower silent or behind for 10 s
/// leaves the ISR (Kafka's default is 30 s; a dead broker is fenced sooner
/// by its missed heartbeats anyway), and a fetch unanswered for 6 s (its
/// call gives up after 5 s) is sent again.
const CLUSTER_REPLICATION_TIMING: ReplicationTiming = ReplicationTiming {
    replica_lag_time_max_ms: 10_000,
    replica_fetch_backoff_ms: 100,
    replica_fetch_empty_backoff_ms: 0,
    replica_fetch_timeout_ms: 6_000,
};
/// How long a cluster node waits for a change it forwarded to reach its
/// own image.
pub const IMAGE_WAIT_MAX_MS: u64 = 5_000;

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error(transparent)]
    Topic(#[from] TopicError),
    #[error("metadata log write failed: {0}")]
    Storage(#[from] DiskError),
    /// Only the active controller commits metadata; this node is not it
    /// (Kafka's NOT_CONTROLLER: the client refreshes metadata and retries).
    #[error("this node is not the active controller (controller: {leader_hint:?})")]
    NotController { leader_hint: Option<i32> },
    /// The metadata quorum could not commit in time, or lost the change to
    /// a controller failover: it may or may not have been applied.
    #[error("the metadata quorum did not confirm the change: {0}")]
    Unconfirmed(String),
    /// The active controller refused a forwarded request with this Kafka
    /// error code.
    #[error("{message}")]
    Refused { code: i16, message: String },
}

/// How forwarding a client's admin request to the active controller ended
/// (`ClusterLink::forward_admin`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forwarded {
    /// The controller's response frame.
    Answered(Vec<u8>),
    /// This node is the active controller: it handles the request itself.
    HandleHere,
    /// No usable answer within the bounds: the client gets this error for
    /// every resource of its request (Kafka's `ForwardingManager`).
    Failed(ForwardFailure),
}

/// Why a forwarded request got no usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardFailure {
    /// No controller answered in time; the change may have happened
    /// (REQUEST_TIMED_OUT).
    TimedOut,
    /// The request could not be sent (too large) or its answer was not one
    /// (UNKNOWN_SERVER_ERROR).
    Unusable(String),
}

/// Why the group coordinator cannot start.
#[derive(Debug, thiserror::Error)]
pub enum GroupUnavailable {
    #[error(transparent)]
    Commit(#[from] CommitError),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("another node leads the offsets partition")]
    NotCoordinator,
}

/// Why a request cannot use a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PartitionUnavailable {
    #[error("this node hosts no such partition")]
    Unknown,
    #[error("the partition stopped after an internal error; a restart recovers it")]
    Failed,
    /// This node hosts a replica but does not lead it: clients go to the
    /// leader (no follower reads, KIP-392).
    #[error("this node does not lead the partition")]
    NotLeader,
}

/// What a cluster node's broker needs from the cluster runtime
/// (`server::cluster`): commit through the quorum, and reach the active
/// controller.
pub trait ClusterLink: Send + Sync {
    /// Proposes records (built by the active controller from the current
    /// image) and resolves once they are applied to this node's image.
    fn propose(
        &self,
        records: Vec<MetadataRecord>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), CommitError>> + Send + '_>>;
    /// Whether this node is the active controller and its image holds every
    /// committed record (only then may it build records).
    fn is_active_controller(&self) -> bool;
    /// Waits (bounded) until this node's image holds every entry the
    /// quorum handed out and every record this node proposed: only then
    /// may the controller build records from it. Whether it does.
    fn wait_caught_up(
        &self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send + '_>>;
    /// The active controller's node id, if known.
    fn controller_id(&self) -> Option<i32>;
    /// This process's broker epoch once the controller took its
    /// registration (`None` before, and after it was fenced).
    fn registered_broker_epoch(&self) -> Option<i64>;
    /// Forwards a client's admin request frame (header and body) for
    /// `principal` at `client_host` to the active controller: its response
    /// frame once this node's image holds the change, or why there is none.
    fn forward_admin(
        &self,
        principal: String,
        client_host: String,
        request_frame: Vec<u8>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Forwarded> + Send + '_>>;
    /// Sends a request to the active controller (which may be this node).
    fn forward(
        &self,
        request: ControllerRequest,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<ControllerResponse, CommitError>> + Send + '_>,
    >;
}

pub struct Broker {
    pub config: BrokerConfig,
    pub defaults: TopicDefaults,
    disk: Arc<dyn Disk>,
    /// This node's clocks: monotonic for timers, wall for timestamps.
    pub clock: Arc<dyn Clock>,
    /// One node: the metadata journal. `None` on a cluster node, whose
    /// metadata comes through the Raft quorum ([`Broker::cluster`]).
    journal: Option<tokio::sync::Mutex<MetadataJournal>>,
    /// A cluster node's link to the quorum and the controller, attached
    /// once the cluster runtime started.
    cluster: std::sync::OnceLock<Arc<dyn ClusterLink>>,
    /// One proposal at a time on the active controller: each is built from
    /// the image all earlier ones were applied to.
    propose_gate: tokio::sync::Mutex<()>,
    image: RwLock<Arc<MetadataImage>>,
    /// Notified after every change of the image.
    image_changed: Notify,
    partitions: RwLock<BTreeMap<(String, i32), Arc<PartitionHandle>>>,
    /// One reconcile at a time: two concurrent ones (two CreateTopics
    /// committed back to back) would both see a new partition missing and
    /// open its directory twice, the second handle blind to what the first
    /// appended (offsets handed out twice; the simulator's seed 7).
    reconcile_gate: tokio::sync::Mutex<()>,
    /// A cluster node removed the directories of topics deleted while it
    /// was down (once per process, see [`Broker::reconcile`]).
    orphans_swept: std::sync::atomic::AtomicBool,
    /// Notified when a partition log went offline after a storage failure:
    /// the node then stops (see `server::run`).
    pub storage_failed: Notify,
    /// Producer ids for InitProducerId, from blocks committed to metadata.
    producer_ids: tokio::sync::Mutex<ProducerIdAllocator>,
    /// The group coordinator, started on first use (like Kafka's lazily
    /// created `__consumer_offsets`).
    groups: tokio::sync::Mutex<Option<(i32, Arc<GroupDriver>)>>,
    /// High watermarks read from `replication-offset-checkpoint` at start,
    /// each taken by the first opening of its partition: a partition created
    /// later (a new topic of an old name) starts from 0, as a new log does.
    checkpointed_high_watermarks: std::sync::Mutex<HighWatermarks>,
    /// The previous process on this data directory stopped cleanly, every
    /// log synced (`server/clean_shutdown.rs`): its registration says so.
    pub previous_shutdown_clean: bool,
    /// Connections and the request bytes they hold (`queued.max.request.bytes`);
    /// handlers charge what a request grows by after it was read.
    pub connection_limits: Arc<ConnectionLimits>,
}

impl Broker {
    /// [`Broker::open_node`] on `disk` with the host's clocks.
    pub async fn open(
        config: BrokerConfig,
        disk: Arc<dyn Disk>,
    ) -> Result<Arc<Broker>, BrokerError> {
        Broker::open_node(config, NodeContext::host(disk)).await
    }

    /// Replays the metadata journal, registers this node and opens (and
    /// recovers) every partition it hosts.
    pub async fn open_node(
        config: BrokerConfig,
        node: NodeContext,
    ) -> Result<Arc<Broker>, BrokerError> {
        let NodeContext { disk, clock } = node;
        let storage = |e: DiskError| BrokerError::Storage(e.to_string());
        crate::io::disk::create_dir_all_durably(disk.as_ref(), &config.data_dir)
            .await
            .map_err(storage)?;
        migrate_metadata_dir(disk.as_ref(), &config.data_dir)
            .await
            .map_err(storage)?;
        // Taken before anything is written: from here on a crash may lose
        // what this process does not sync.
        let previous_shutdown_clean =
            crate::server::clean_shutdown::take(disk.as_ref(), &config.data_dir)
                .await
                .map_err(storage)?;
        let metadata_dir = join(&config.data_dir, METADATA_DIR);
        // A cluster node's metadata comes from the quorum (replayed by the
        // cluster runtime); only a single node keeps a journal.
        let (journal, records) = if config.cluster.is_none() {
            let (journal, records) = MetadataJournal::open(Arc::clone(&disk), &metadata_dir)
                .await
                .map_err(|e| BrokerError::Storage(e.to_string()))?;
            (Some(tokio::sync::Mutex::new(journal)), records)
        } else {
            (None, Vec::new())
        };
        // The journal's directory, if just created, is durable before the
        // first record the journal makes durable (the registration below).
        disk.sync(&config.data_dir).await.map_err(storage)?;
        let mut image = MetadataImage::default();
        for record in &records {
            image.apply(record);
        }
        tracing::info!(
            records = records.len(),
            topics = image.topics.len(),
            "metadata replayed"
        );
        let defaults = TopicDefaults {
            fsync_policy: config.default_fsync_policy,
            retention_ms: config.default_retention_ms,
            retention_bytes: config.default_retention_bytes,
            segment_bytes: config.default_segment_bytes,
            fsync_interval_ms: config.log.default_fsync_interval_ms,
            segment_ms: config.log.default_segment_ms,
            index_interval_bytes: config.log.default_index_interval_bytes,
            ..TopicDefaults::default()
        };
        let producer_ids = ProducerIdAllocator::new(image.producer_ids_end);
        let checkpointed_high_watermarks =
            high_watermark_checkpoints::load(disk.as_ref(), &config.data_dir)
                .map_err(BrokerError::Storage)?;
        let broker = Arc::new(Broker {
            checkpointed_high_watermarks: std::sync::Mutex::new(checkpointed_high_watermarks),
            previous_shutdown_clean,
            producer_ids: tokio::sync::Mutex::new(producer_ids),
            groups: tokio::sync::Mutex::new(None),
            defaults,
            disk,
            clock,
            journal,
            cluster: std::sync::OnceLock::new(),
            propose_gate: tokio::sync::Mutex::new(()),
            image: RwLock::new(Arc::new(image)),
            image_changed: Notify::new(),
            partitions: RwLock::new(BTreeMap::new()),
            reconcile_gate: tokio::sync::Mutex::new(()),
            orphans_swept: std::sync::atomic::AtomicBool::new(false),
            storage_failed: Notify::new(),
            connection_limits: ConnectionLimits::new(config.limits),
            config,
        });
        if broker.journal.is_none() {
            // A cluster node registers with the controller and removes
            // nothing before its image caught up (the cluster runtime).
            return Ok(broker);
        }
        broker
            .register()
            .await
            .map_err(|e| BrokerError::Storage(e.to_string()))?;
        broker
            .remove_orphan_dirs(&broker.image())
            .map_err(storage)?;
        // The metadata directory, if just created, and orphan removals are
        // durable before anything depends on them.
        broker
            .disk
            .sync(&broker.config.data_dir)
            .await
            .map_err(storage)?;
        broker.reconcile().await;
        Ok(broker)
    }

    /// The node's disk (for files of the whole data directory).
    pub fn disk(&self) -> &dyn Disk {
        self.disk.as_ref()
    }

    fn take_checkpointed_high_watermark(&self, topic: &str, partition: i32) -> Option<i64> {
        self.checkpointed_high_watermarks
            .lock()
            .expect("checkpointed high watermarks poisoned")
            .remove(&(topic.to_string(), partition))
    }

    pub fn image(&self) -> Arc<MetadataImage> {
        Arc::clone(&self.image.read().expect("image lock poisoned"))
    }

    pub fn partition(&self, topic: &str, partition: i32) -> Option<Arc<PartitionHandle>> {
        let partitions = self.partitions.read().expect("partitions lock poisoned");
        partitions.get(&(topic.to_string(), partition)).cloned()
    }

    /// The partition, if this node hosts it and it can serve: a partition
    /// stopped by an internal error answers KAFKA_STORAGE_ERROR while every
    /// other partition goes on.
    pub fn serving_partition(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<Arc<PartitionHandle>, PartitionUnavailable> {
        let handle = self
            .partition(topic, partition)
            .ok_or(PartitionUnavailable::Unknown)?;
        if handle.has_failed() {
            return Err(PartitionUnavailable::Failed);
        }
        // A cluster leader whose log went offline (a failed sync cut it
        // back to its durable end) answers KAFKA_STORAGE_ERROR, as Kafka's
        // offline log dir does, until the node stops: its cut log is below
        // what it acknowledged. One node keeps serving reads of what it has.
        if self.config.cluster.is_some() && handle.is_offline() {
            return Err(PartitionUnavailable::Failed);
        }
        if !handle.is_leader() {
            return Err(PartitionUnavailable::NotLeader);
        }
        Ok(handle)
    }

    pub fn all_partitions(&self) -> Vec<Arc<PartitionHandle>> {
        self.partitions
            .read()
            .expect("partitions lock poisoned")
            .values()
            .cloned()
            .collect()
    }

    pub fn topic_config(&self, topic: &TopicImage) -> TopicConfig {
        TopicConfig::resolve(&topic.configs, &self.defaults)
    }

    async fn register(&self) -> Result<(), CommitError> {
        let image = self.image();
        // Every start registers with a new broker epoch (as KRaft does): it
        // names this incarnation, e.g. in the member ids groups hand out.
        let known = image.brokers.get(&self.config.node_id);
        let epoch = known.map(|b| b.broker_epoch + 1).unwrap_or(0);
        // A registration leaves the broker fenced until it is known alive;
        // on one node that is now.
        self.commit(vec![
            MetadataRecord::RegisterBroker {
                node_id: self.config.node_id,
                host: self.config.advertise_host.clone(),
                port: self.config.advertise_port,
                broker_epoch: epoch,
            },
            MetadataRecord::UnfenceBroker {
                node_id: self.config.node_id,
            },
        ])
        .await
    }

    /// Commits records to the metadata log, applies them, and brings the
    /// hosted partitions in line with the new image.
    pub async fn commit(&self, records: Vec<MetadataRecord>) -> Result<(), CommitError> {
        self.commit_checked(|_| Ok(records)).await
    }

    /// Builds records from the current image and commits them, atomically
    /// with respect to other commits (so validation sees the latest image).
    pub async fn commit_checked(
        &self,
        build: impl FnOnce(&MetadataImage) -> Result<Vec<MetadataRecord>, TopicError>,
    ) -> Result<(), CommitError> {
        let Some(journal) = &self.journal else {
            let (link, _gate) = self.active_controller().await?;
            let records = build(&self.image())?;
            // Each chunk is one Raft entry (bounded), applied before the next.
            for chunk in chunk_records(&records) {
                link.propose(chunk.to_vec()).await?;
            }
            return Ok(());
        };
        let mut journal = journal.lock().await;
        let image = self.image();
        let records = build(&image)?;
        if records.is_empty() {
            return Ok(());
        }
        journal.commit(&records).await?;
        let mut next = (*image).clone();
        for record in &records {
            next.apply(record);
        }
        *self.image.write().expect("image lock poisoned") = Arc::new(next);
        drop(journal);
        self.reconcile().await;
        Ok(())
    }

    /// Builds records (and an answer) from the current image and commits
    /// them, split into commits of at most [`COMMIT_CHUNK_MAX_BYTES`] (one
    /// CreateAcls or DeleteAcls may carry thousands of bindings; a journal
    /// frame holds at most 1 MiB). Each commit is applied as it lands, so a
    /// failure leaves the image equal to what the journal holds.
    pub async fn commit_built<T>(
        &self,
        build: impl FnOnce(&MetadataImage) -> (Vec<MetadataRecord>, T),
    ) -> Result<T, CommitError> {
        let Some(journal) = &self.journal else {
            let (link, _gate) = self.active_controller().await?;
            let (records, answer) = build(&self.image());
            // Each chunk is one Raft entry, applied before the next is sent.
            for chunk in chunk_records(&records) {
                link.propose(chunk.to_vec()).await?;
            }
            return Ok(answer);
        };
        let mut journal = journal.lock().await;
        let image = self.image();
        let (records, answer) = build(&image);
        let mut next = (*image).clone();
        for chunk in chunk_records(&records) {
            journal.commit(chunk).await?;
            for record in chunk {
                next.apply(record);
            }
            *self.image.write().expect("image lock poisoned") = Arc::new(next.clone());
        }
        Ok(answer)
    }

    /// The cluster link, once this node is the active controller with a
    /// caught-up image, holding the proposal gate.
    async fn active_controller(
        &self,
    ) -> Result<(&Arc<dyn ClusterLink>, tokio::sync::MutexGuard<'_, ()>), CommitError> {
        let link = self
            .cluster
            .get()
            .ok_or(CommitError::NotController { leader_hint: None })?;
        let gate = self.propose_gate.lock().await;
        if !link.is_active_controller() {
            return Err(CommitError::NotController {
                leader_hint: link.controller_id(),
            });
        }
        if !link.wait_caught_up().await {
            return Err(CommitError::Unconfirmed(
                "the controller's image is not current yet".to_string(),
            ));
        }
        Ok((link, gate))
    }

    /// Attaches the cluster runtime (once, right after it started).
    pub fn attach_cluster(&self, link: Arc<dyn ClusterLink>) {
        if self.cluster.set(link).is_err() {
            panic!("the cluster runtime is attached once");
        }
    }

    pub fn cluster(&self) -> Option<&Arc<dyn ClusterLink>> {
        self.cluster.get()
    }

    /// A cluster node's apply task: records committed through the quorum,
    /// applied in log order; partitions follow the new image.
    ///
    /// A record that does not fit the image (a controller built it from an
    /// image that was not the latest) is skipped, identically on every
    /// node, and reported: never a panic that would repeat at every replay.
    /// `reconcile` is false while the node replays a backlog: partitions
    /// open only once the image is current, never from an intermediate
    /// image (an old leader epoch, or an old topic of the same name).
    pub async fn apply_committed(&self, records: &[MetadataRecord], reconcile: bool) {
        let mut next = (*self.image()).clone();
        for record in records {
            match next.check(record) {
                Ok(()) => next.apply(record),
                Err(e) => tracing::error!(
                    ?record,
                    e,
                    "skipping a committed metadata record that does not fit the image"
                ),
            }
        }
        *self.image.write().expect("image lock poisoned") = Arc::new(next);
        self.image_changed.notify_waiters();
        if reconcile {
            self.reconcile().await;
        }
    }

    /// Brings partitions in line with the image (after a replay).
    pub async fn reconcile_now(&self) {
        self.reconcile().await;
    }

    /// A cluster node's apply task: the image a snapshot holds replaces
    /// this node's (it was far behind, or just started).
    pub async fn install_image(&self, image: MetadataImage, reconcile: bool) {
        *self.image.write().expect("image lock poisoned") = Arc::new(image);
        self.image_changed.notify_waiters();
        if reconcile {
            self.reconcile().await;
        }
    }

    pub async fn create_topic(&self, mut request: CreateTopic<'_>) -> Result<(), CommitError> {
        if request.replication_factor == -1 {
            request.replication_factor = self.config.default_replication_factor;
        }
        if self.cluster.get().is_some() {
            return self.forward_create_topic(&request, false).await;
        }
        let default_partitions = self.config.default_partitions;
        let cluster_id = self.config.cluster_id.clone();
        self.commit_checked(|image| {
            controller::create_topic(image, &request, default_partitions, &cluster_id)
        })
        .await
    }

    /// A cluster node's topic creation: sent to the active controller (this
    /// node or another), then awaited in this node's image, so the caller
    /// finds the topic (bounded: Metadata answers LEADER_NOT_AVAILABLE
    /// meanwhile, and clients retry).
    async fn forward_create_topic(
        &self,
        request: &CreateTopic<'_>,
        internal: bool,
    ) -> Result<(), CommitError> {
        let link = self.cluster.get().expect("a cluster node");
        let answer = link
            .forward(ControllerRequest::CreateTopic {
                name: request.name.to_string(),
                num_partitions: request.num_partitions,
                replication_factor: request.replication_factor,
                configs: request.configs.clone(),
                internal,
            })
            .await?;
        let already = code(ResponseError::TopicAlreadyExists);
        match answer {
            ControllerResponse::Done => {}
            ControllerResponse::Error { code, message } if code == already => {
                return Err(CommitError::Topic(TopicError::AlreadyExists(message)))
            }
            ControllerResponse::Error { code, message } => {
                return Err(CommitError::Refused { code, message })
            }
            other => {
                return Err(CommitError::Unconfirmed(format!(
                    "unexpected controller answer {other:?}"
                )))
            }
        }
        let name = request.name;
        self.wait_for_image(|image| image.topics.contains_key(name))
            .await;
        Ok(())
    }

    /// Waits (at most [`IMAGE_WAIT_MAX_MS`]) until the image satisfies
    /// `ready`; whether it does.
    pub async fn wait_for_image(&self, ready: impl Fn(&MetadataImage) -> bool) -> bool {
        let wait = async {
            loop {
                let changed = self.image_changed.notified();
                if ready(&self.image()) {
                    return;
                }
                changed.await;
            }
        };
        tokio::time::timeout(std::time::Duration::from_millis(IMAGE_WAIT_MAX_MS), wait)
            .await
            .is_ok()
    }

    /// Creates `name` with the defaults if it does not exist (auto-create).
    pub async fn ensure_topic(&self, name: &str) -> Result<(), CommitError> {
        let request = CreateTopic {
            name,
            num_partitions: -1,
            replication_factor: -1,
            configs: BTreeMap::new(),
        };
        match self.create_topic(request).await {
            Err(CommitError::Topic(TopicError::AlreadyExists(_))) => Ok(()),
            other => other,
        }
    }

    /// The group coordinator, created with its internal topic on first use.
    /// On a cluster node it runs only while this node leads the offsets
    /// partition, and is loaded anew for each leader epoch (the coordinator
    /// moves with that leadership, as Kafka's does).
    async fn group_driver(&self) -> Result<Arc<GroupDriver>, GroupUnavailable> {
        let mut cached = self.groups.lock().await;
        if let Some((epoch, driver)) = cached.as_ref() {
            match self.partition(OFFSETS_TOPIC, 0) {
                Some(handle) if handle.is_leader() && handle.leader_epoch() == *epoch => {
                    return Ok(Arc::clone(driver));
                }
                _ => {
                    driver.stop();
                    *cached = None;
                }
            }
        }
        if !self.image().topics.contains_key(OFFSETS_TOPIC) {
            let request = CreateTopic {
                name: OFFSETS_TOPIC,
                num_partitions: OFFSETS_TOPIC_PARTITIONS,
                replication_factor: self.config.offsets_topic_replication_factor,
                configs: offsets_topic::offsets_topic_configs(),
            };
            let default_partitions = self.config.default_partitions;
            let cluster_id = self.config.cluster_id.clone();
            let created = if self.cluster.get().is_some() {
                self.forward_create_topic(&request, true).await
            } else {
                self.commit_checked(|image| {
                    controller::create_internal_topic(
                        image,
                        &request,
                        default_partitions,
                        &cluster_id,
                    )
                })
                .await
            };
            match created {
                Ok(()) | Err(CommitError::Topic(TopicError::AlreadyExists(_))) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let handle = match self.partition(OFFSETS_TOPIC, 0) {
            Some(handle) if handle.is_leader() => handle,
            // Another node leads it (or none yet): clients find it again.
            _ if self.cluster.get().is_some() => return Err(GroupUnavailable::NotCoordinator),
            _ => {
                return Err(GroupUnavailable::Commit(CommitError::Storage(
                    DiskError::Io {
                        path: OFFSETS_TOPIC.to_string(),
                        detail: "the offsets partition did not open".to_string(),
                    },
                )))
            }
        };
        if self.cluster.get().is_some() && !self.offsets_caught_up(&handle).await {
            // Kafka loads a new coordinator to the log end; here the load
            // reads to the high watermark, so it waits (bounded) until the
            // new leader's high watermark covers its whole log: every offset
            // commit the old coordinator acknowledged is in it.
            return Err(GroupUnavailable::NotCoordinator);
        }
        let broker_epoch = self
            .image()
            .brokers
            .get(&self.config.node_id)
            .map_or(0, |b| b.broker_epoch);
        // Member ids name this incarnation of the coordinator: the broker's
        // registration and the leadership it runs under.
        let epoch = handle.leader_epoch();
        let incarnation = ((broker_epoch as u64) << 32) | (epoch as u32 as u64);
        // A failed load leaves the cache empty: the next request loads
        // again from the start.
        let driver = GroupDriver::start(
            handle,
            Arc::clone(&self.clock),
            incarnation,
            self.config.bugs,
        )?;
        *cached = Some((epoch, Arc::clone(&driver)));
        Ok(driver)
    }

    /// Waits (at most [`IMAGE_WAIT_MAX_MS`]) until the offsets partition's
    /// high watermark reaches its log end.
    async fn offsets_caught_up(&self, handle: &PartitionHandle) -> bool {
        let wait = async {
            loop {
                let moved = handle.hw_changed().notified();
                let (_, high_watermark, log_end) = handle.offsets();
                if high_watermark >= log_end {
                    return;
                }
                moved.await;
            }
        };
        tokio::time::timeout(std::time::Duration::from_millis(IMAGE_WAIT_MAX_MS), wait)
            .await
            .is_ok()
    }

    /// Sends one request to the group coordinator and waits for its answer.
    /// COORDINATOR_NOT_AVAILABLE when the coordinator cannot be started (its
    /// topic cannot be created or opened), NOT_COORDINATOR when another
    /// node leads the offsets partition.
    pub async fn group_call(&self, request: GroupRequest) -> Result<GroupResponse, GroupError> {
        match self.group_driver().await {
            Ok(driver) => Ok(driver.call(request).await),
            Err(GroupUnavailable::NotCoordinator) => Err(GroupError::NotCoordinator),
            Err(e) => {
                tracing::warn!(%e, "group coordinator unavailable");
                Err(GroupError::CoordinatorNotAvailable)
            }
        }
    }

    /// Where groups' coordinator is: this node on one node; on a cluster
    /// the leader of the offsets partition (created on first ask), or
    /// `None` while it has none (COORDINATOR_NOT_AVAILABLE; clients retry).
    pub async fn group_coordinator(&self) -> Option<(i32, String, i32)> {
        if self.cluster.get().is_none() {
            return Some(self.coordinator_endpoint());
        }
        if !self.image().topics.contains_key(OFFSETS_TOPIC) {
            // Creating it is the coordinator's first step; the answer waits
            // for it only a bounded time.
            if let Err(e) = self.group_driver().await {
                tracing::debug!(%e, "group coordinator not ready");
            }
        }
        let image = self.image();
        let leader = image.topics.get(OFFSETS_TOPIC)?.partitions.get(&0)?.leader;
        let broker = image.brokers.get(&leader).filter(|b| !b.fenced)?;
        Some((broker.node_id, broker.host.clone(), broker.port as i32))
    }

    /// The active controller's node id, if one is known (Metadata's
    /// `controller_id`): this node on a single-node cluster.
    pub fn controller_id(&self) -> Option<i32> {
        match self.cluster.get() {
            Some(link) => link.controller_id(),
            None => Some(self.config.node_id),
        }
    }

    /// The coordinator of every group: this node, at its advertised address.
    pub fn coordinator_endpoint(&self) -> (i32, String, i32) {
        (
            self.config.node_id,
            self.config.advertise_host.clone(),
            self.config.advertise_port as i32,
        )
    }

    /// A producer id never handed out before, even across restarts: ids come
    /// from blocks whose end is committed to the metadata log first.
    pub async fn allocate_producer_id(&self) -> Result<i64, CommitError> {
        let mut ids = self.producer_ids.lock().await;
        // At most two rounds: a block is committed, then an id is taken.
        for _ in 0..2 {
            if let (true, Some(link)) = (ids.needs_new_block(), self.cluster.get()) {
                // In a cluster the active controller hands out the blocks.
                match link
                    .forward(ControllerRequest::AllocateProducerIds {
                        node_id: self.config.node_id,
                    })
                    .await?
                {
                    ControllerResponse::ProducerIds { start, len } if len > 0 => ids
                        .on_block_granted(ProducerIdBlock {
                            first_id: start,
                            end_id: start.saturating_add(len),
                        }),
                    ControllerResponse::Error { code, message } => {
                        return Err(CommitError::Refused { code, message })
                    }
                    other => {
                        return Err(CommitError::Unconfirmed(format!(
                            "unexpected controller answer {other:?}"
                        )))
                    }
                }
            } else if ids.needs_new_block() {
                if let Some(block) = ids.propose_block() {
                    match self
                        .commit(vec![MetadataRecord::ProducerIdsBlock {
                            end_id: block.end_id,
                        }])
                        .await
                    {
                        Ok(()) => ids.on_block_persisted(block),
                        Err(e) => {
                            ids.on_block_failed();
                            return Err(e);
                        }
                    }
                }
            }
            if let Some(id) = ids.next_id() {
                return Ok(id);
            }
        }
        // Only a cluster node gets here: the controller granted a block
        // older than one this broker already had (a retried grant).
        Err(CommitError::Unconfirmed(
            "no producer id block granted yet; retry".to_string(),
        ))
    }

    /// Opens partitions the image assigns here and drops the ones it no
    /// longer has (deleted topics), removing their files.
    async fn reconcile(&self) {
        let _one_at_a_time = self.reconcile_gate.lock().await;
        let image = self.image();
        self.sweep_orphans_once(&image).await;
        let mut wanted = BTreeSet::new();
        for topic in image.topics.values() {
            for (index, p) in &topic.partitions {
                if p.replicas.contains(&self.config.node_id) {
                    wanted.insert((topic.name.clone(), *index));
                }
            }
        }
        let stale: Vec<Arc<PartitionHandle>> = {
            let mut partitions = self.partitions.write().expect("partitions lock poisoned");
            let gone: Vec<(String, i32)> = partitions
                .iter()
                .filter(|(key, handle)| {
                    !wanted.contains(*key)
                        || image
                            .topics
                            .get(&key.0)
                            .is_none_or(|t| t.topic_id != handle.topic_id)
                })
                .map(|(key, _)| key.clone())
                .collect();
            gone.iter()
                .filter_map(|key| partitions.remove(key))
                .collect()
        };
        for handle in stale {
            handle.resign();
            if let Err(e) = self.disk.remove_dir_all(&handle.dir()) {
                tracing::error!(dir = handle.dir(), %e, "cannot remove a deleted partition's files");
            }
            // A removal not made durable would bring the files back after a
            // crash (then removed again as orphans, but only after a restart).
            if let Err(e) = self.disk.sync(&self.config.data_dir).await {
                tracing::error!(%e, "cannot sync the data directory after removing a partition");
            }
        }
        for (topic_name, index) in wanted {
            if let Some(handle) = self.partition(&topic_name, index) {
                // A config change (AlterConfigs) takes effect on the live
                // partition: retention, segments, fsync, min ISR, cleaner.
                let config = self.topic_config(&image.topics[&topic_name]);
                if handle.config() != config {
                    handle.update_config(config);
                }
                let p = &image.topics[&topic_name].partitions[&index];
                let current = (handle.leader_epoch(), handle.isr());
                if current != (p.leader_epoch, Some(p.isr.clone())) {
                    self.take_role(&handle, p).await;
                }
                continue;
            }
            let topic = &image.topics[&topic_name];
            let p = &topic.partitions[&index];
            // On one node the image's epoch is the largest this log ever
            // had; a cluster node's log may hold a later epoch than an
            // image it opens from, and recovery must keep those records.
            let mut max_epoch = if self.config.cluster.is_some() {
                i32::MAX
            } else {
                p.leader_epoch
            };
            if self.config.cluster.is_some() {
                // A replaying image is behind what this node's files saw:
                // opened from it, recovery would cut the newer epochs'
                // batches as damage. Wait for the image to catch up.
                let dir = partition_dir(&self.config.data_dir, &topic_name, index);
                let seen = newest_epoch_on_disk(self.disk.as_ref(), &dir);
                if seen.is_some_and(|seen| seen > p.leader_epoch) {
                    if !self.may_lead() {
                        tracing::info!(topic = %topic_name, partition = index, ?seen, image_epoch = p.leader_epoch, "the metadata image is behind the partition's files: opened once it catches up");
                        continue;
                    }
                    // The image holds this process's registration, so every
                    // epoch committed before the restart: the files name
                    // one the cluster never had. The batch CRC does not
                    // cover the leader epoch field, and a bit flipped in an
                    // unsynced batch's makes one (`--cluster 3 --seed 236`
                    // waited forever for epoch 512). Recovery cuts from the
                    // first batch past the image's epoch.
                    tracing::warn!(topic = %topic_name, partition = index, ?seen, image_epoch = p.leader_epoch, "the partition's files name a leader epoch the cluster never had: recovered up to the image's");
                    max_epoch = p.leader_epoch;
                }
            }
            let config = self.topic_config(topic);
            let opened = PartitionHandle::open(
                Arc::clone(&self.disk),
                &self.config.data_dir,
                &topic_name,
                topic.topic_id,
                index,
                self.config.node_id,
                max_epoch,
                self.take_checkpointed_high_watermark(&topic_name, index),
                config,
                self.config.bugs,
                Arc::clone(&self.clock),
            )
            .await;
            match opened {
                Ok((handle, report)) => {
                    handle.set_limits(self.config.limits);
                    if self.config.cluster.is_some() {
                        handle.set_replication_timing(CLUSTER_REPLICATION_TIMING);
                    }
                    self.take_role(&handle, p).await;
                    if report.truncated_bytes > 0 || report.segments_dropped > 0 {
                        tracing::warn!(topic = %topic_name, partition = index, ?report, "recovered a damaged log");
                    }
                    let mut partitions = self.partitions.write().expect("partitions lock poisoned");
                    partitions.insert((topic_name.clone(), index), Arc::new(handle));
                }
                Err(e) => {
                    tracing::error!(topic = %topic_name, partition = index, %e, "cannot open partition");
                    // A cluster node opens a partition only when its image
                    // changes: left closed, this replica would never rejoin
                    // its ISR (cluster simulator with disk faults:
                    // `--cluster 5 --seed 7`). Kafka takes the log directory
                    // offline on an I/O error while loading a log and, with
                    // its only directory offline, halts; so does this node,
                    // and a restart opens the partition again.
                    if self.config.cluster.is_some()
                        && matches!(e, crate::log::partition_log::LogError::Disk(_))
                    {
                        self.storage_failed.notify_one();
                    }
                }
            }
        }
    }

    /// Gives a partition the role the image says: leader, or follower of
    /// the leader. Without a leader (-1) the partition keeps its role; a
    /// leader it was cannot commit anything without the ISR it lost.
    async fn take_role(&self, handle: &PartitionHandle, p: &PartitionImage) {
        // Nor following: an image replayed from this node's own log after a
        // restart may name a leader epoch the cluster has left, and a
        // fenced leader still in it (unaware) counts this replica's fetches
        // toward its high watermark, acknowledging writes the current
        // leader lacks (the sim's 3-node seed 3492: a leader elected below
        // offsets its predecessor committed after the election). Kafka's
        // broker starts its fetchers only once its metadata caught up.
        if !self.may_lead() {
            tracing::info!(topic = %handle.topic, partition = handle.partition, epoch = p.leader_epoch, leader = p.leader, "no role before this process's registration is in the image");
            return;
        }
        let outcome = if p.leader == self.config.node_id {
            handle
                .become_leader(p.leader_epoch, p.isr.clone(), p.replicas.clone())
                .await
        } else if p.leader >= 0 {
            handle.become_follower(p.leader, p.leader_epoch)
        } else {
            return;
        };
        if let Err(e) = outcome {
            tracing::error!(topic = %handle.topic, partition = handle.partition, leader = p.leader, epoch = p.leader_epoch, %e, "cannot take the partition's role");
        }
    }

    /// Whether this node may lead partitions. A cluster node that restarted
    /// leads nothing until the image holds this process's registration: the
    /// controller first fences the old incarnation and moves its
    /// leaderships to a new epoch. Leading in the old epoch, it would append
    /// new records at offsets its followers already hold other records of
    /// that epoch for (served but not synced before the crash), and count
    /// them toward the high watermark: acknowledged writes lost, found by
    /// the simulator (`sim/run.sh --cluster 3 --seed 8`).
    fn may_lead(&self) -> bool {
        let Some(cluster) = self.cluster.get() else {
            return true;
        };
        let Some(epoch) = cluster.registered_broker_epoch() else {
            return false;
        };
        self.image()
            .brokers
            .get(&self.config.node_id)
            .is_some_and(|b| b.broker_epoch == epoch)
    }

    /// A cluster node's first reconcile once the image holds this
    /// process's registration removes the directories of topics the image
    /// does not have: topics deleted while the node was down (Kafka's stray
    /// logs, found once a broker caught up with the controller). Before
    /// that the image may be one replayed from this node's own log, behind
    /// the cluster, and a topic created since would look deleted.
    async fn sweep_orphans_once(&self, image: &MetadataImage) {
        if self.cluster.get().is_none()
            || self
                .orphans_swept
                .load(std::sync::atomic::Ordering::Acquire)
            || !self.may_lead()
        {
            return;
        }
        let swept = match self.remove_orphan_dirs(image) {
            Ok(()) => self.disk.sync(&self.config.data_dir).await,
            Err(e) => Err(e),
        };
        match swept {
            Ok(()) => self
                .orphans_swept
                .store(true, std::sync::atomic::Ordering::Release),
            Err(e) => {
                tracing::error!(%e, "cannot remove the files of topics deleted while this node was down; trying again at the next reconcile");
            }
        }
    }

    /// Removes partition directories of topics `image` does not have (a
    /// topic deleted just before a crash, or while a cluster node was down).
    fn remove_orphan_dirs(&self, image: &MetadataImage) -> Result<(), DiskError> {
        let mut expected = BTreeSet::new();
        for topic in image.topics.values() {
            for index in topic.partitions.keys() {
                expected.insert(partition_dir(&self.config.data_dir, &topic.name, *index));
            }
        }
        for name in self.disk.list_dir(&self.config.data_dir)? {
            // The journal's directory (old or new name) never looks like one.
            if name == METADATA_DIR || !looks_like_partition_dir(&name) {
                continue;
            }
            let dir = join(&self.config.data_dir, &name);
            if !expected.contains(&dir) {
                tracing::info!(dir, "removing the files of a deleted topic");
                self.disk.remove_dir_all(&dir)?;
            }
        }
        Ok(())
    }
}

/// Consecutive runs of `records` of at most [`COMMIT_CHUNK_MAX_BYTES`]
/// (at least one record each): one CreateAcls may carry thousands of
/// bindings, and a journal frame or Raft entry is bounded.
fn chunk_records(records: &[MetadataRecord]) -> Vec<&[MetadataRecord]> {
    let mut chunks = Vec::new();
    let mut start = 0;
    while start < records.len() {
        let mut end = start;
        let mut bytes = 0u64;
        while end < records.len() {
            let size = bincode::serialized_size(&records[end]).unwrap_or(u64::MAX);
            if end > start && bytes.saturating_add(size) > COMMIT_CHUNK_MAX_BYTES {
                break;
            }
            bytes = bytes.saturating_add(size);
            end += 1;
        }
        chunks.push(&records[start..end]);
        start = end;
    }
    chunks
}

/// `<topic>-<partition>` with a number and a name that can be a topic: a
/// legal name that is not reserved (so never the legacy journal directory
/// `__cluster_metadata-0`), or an internal topic's name.
fn looks_like_partition_dir(name: &str) -> bool {
    match name.rsplit_once('-') {
        Some((topic, index)) => {
            !index.is_empty()
                && index.bytes().all(|b| b.is_ascii_digit())
                && topic_name::invalid_reason(topic).is_none()
                && (topic_name::is_internal(topic)
                    || topic_name::reserved_collision(topic).is_none())
        }
        None => false,
    }
}

/// Moves a journal from [`LEGACY_METADATA_DIR`] to [`METADATA_DIR`], durably
/// (the data directory is synced after the rename), before it is opened.
/// Only a directory holding a journal is moved; if both exist the new one is
/// the journal and the old one is left alone for an operator to look at.
async fn migrate_metadata_dir(disk: &dyn Disk, data_dir: &str) -> Result<(), DiskError> {
    let legacy = join(data_dir, LEGACY_METADATA_DIR);
    let current = join(data_dir, METADATA_DIR);
    if !disk.exists(&legacy) {
        return Ok(());
    }
    if disk.exists(&current) {
        tracing::warn!(
            legacy,
            current,
            "both metadata directories exist: using the new one, leaving the old one untouched"
        );
        return Ok(());
    }
    if !disk.exists(&join(&legacy, metadata_journal::JOURNAL_FILE)) {
        tracing::warn!(
            legacy,
            "no metadata journal in the legacy directory: left untouched"
        );
        return Ok(());
    }
    tracing::info!(
        legacy,
        current,
        "moving the metadata journal out of the topic namespace"
    );
    disk.rename(&legacy, &current)?;
    disk.sync(data_dir).await
}
