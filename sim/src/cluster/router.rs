//! Routing by Metadata, as a real client does: ask any live node which
//! broker leads a partition, send there, and on NOT_LEADER_OR_FOLLOWER,
//! FENCED_LEADER_EPOCH or a connection error forget the leader and ask
//! again (the caller bounds how often).

use std::collections::BTreeMap;

use crate::client::{self, ClientError, ClusterView, TOPIC};
use crate::cluster::topology::{self, NodeId};
use crate::history::Partition;
use crate::workload::{with_timeout, Session};

/// One client's view of the cluster and its connections, one per node.
pub struct Router {
    client_id: String,
    /// The topic whose partitions it routes.
    topic: &'static str,
    nodes: Vec<NodeId>,
    sessions: BTreeMap<NodeId, Session>,
    view: ClusterView,
    /// The highest leader epoch seen per partition: an answer naming an
    /// older one comes from a node whose image is behind (KIP-320's check
    /// of metadata epochs); its leader may be a zombie.
    newest_epochs: BTreeMap<Partition, i32>,
    /// The node asked first at the next refresh; rotates so a dead or
    /// partitioned node is not asked forever.
    next_asked: usize,
}

impl Router {
    pub fn new(client_id: String, nodes: &[NodeId], first_asked: usize) -> Self {
        Self::for_topic(TOPIC, client_id, nodes, first_asked)
    }

    /// A router for `topic` (the checked workload's topic is [`TOPIC`]).
    pub fn for_topic(
        topic: &'static str,
        client_id: String,
        nodes: &[NodeId],
        first_asked: usize,
    ) -> Self {
        Router {
            client_id,
            topic,
            nodes: nodes.to_vec(),
            sessions: BTreeMap::new(),
            view: ClusterView::default(),
            newest_epochs: BTreeMap::new(),
            next_asked: first_asked % nodes.len(),
        }
    }

    /// The session to `node` (its connection made on first use).
    pub(crate) fn session(&mut self, node: NodeId) -> &mut Session {
        let client_id = &self.client_id;
        self.sessions
            .entry(node)
            .or_insert_with(|| Session::new(client_id.clone(), topology::kafka_addr(node)))
    }

    /// Asks the nodes in turn, each once, for the topic's metadata; keeps
    /// the first answer that names a leader for every partition, else the
    /// last answer. Bounded: one request per node.
    pub async fn refresh(&mut self) -> Result<(), ClientError> {
        let mut last_error = ClientError::Io("no node asked".into());
        let mut fallback = None;
        for _ in 0..self.nodes.len() {
            let node = self.nodes[self.next_asked];
            self.next_asked = (self.next_asked + 1) % self.nodes.len();
            let topic = self.topic;
            let session = self.session(node);
            match with_timeout!(session, |connection, versions| client::metadata(
                connection, versions, topic
            )) {
                Ok(mut view) => {
                    self.drop_stale(&mut view);
                    let complete = !view.partitions.is_empty()
                        && view.partitions.values().all(|p| p.leader >= 0);
                    if complete {
                        self.adopt(view);
                        return Ok(());
                    }
                    fallback = Some(view);
                }
                Err(error) => last_error = error,
            }
        }
        match fallback {
            Some(view) => {
                self.adopt(view);
                Ok(())
            }
            None => Err(last_error),
        }
    }

    /// Removes partitions whose leader epoch is older than one seen before.
    fn drop_stale(&self, view: &mut ClusterView) {
        view.partitions.retain(|partition, p| {
            self.newest_epochs
                .get(partition)
                .is_none_or(|newest| p.leader_epoch >= *newest)
        });
    }

    fn adopt(&mut self, view: ClusterView) {
        for (partition, p) in &view.partitions {
            let newest = self
                .newest_epochs
                .entry(*partition)
                .or_insert(p.leader_epoch);
            *newest = (*newest).max(p.leader_epoch);
        }
        self.view = view;
    }

    /// The leader of `partition` as last seen (refreshing if unknown).
    pub async fn leader(&mut self, partition: Partition) -> Result<NodeId, ClientError> {
        if let Some(leader) = self.known_leader(partition) {
            return Ok(leader);
        }
        self.refresh().await?;
        self.known_leader(partition)
            .ok_or_else(|| ClientError::Io(format!("no leader known for partition {partition}")))
    }

    fn known_leader(&self, partition: Partition) -> Option<NodeId> {
        self.view
            .partitions
            .get(&partition)
            .map(|p| p.leader)
            .filter(|leader| self.nodes.contains(leader))
    }

    /// Forgets what is known of `partition`'s leader (the next call asks).
    pub fn forget(&mut self, partition: Partition) {
        self.view.partitions.remove(&partition);
    }

    /// Every node of the cluster, by id.
    pub fn nodes(&self) -> &[NodeId] {
        &self.nodes
    }

    /// The last metadata seen.
    pub fn view(&self) -> &ClusterView {
        &self.view
    }
}

/// Errors after which the leader a client used is no longer to be trusted:
/// the request did not reach a leader, or reached an old one.
pub fn leader_moved(error: &ClientError) -> bool {
    const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
    const LEADER_NOT_AVAILABLE: i16 = 5;
    const NOT_LEADER_OR_FOLLOWER: i16 = 6;
    const REQUEST_TIMED_OUT: i16 = 7;
    const NOT_ENOUGH_REPLICAS: i16 = 19;
    const FENCED_LEADER_EPOCH: i16 = 74;
    const UNKNOWN_LEADER_EPOCH: i16 = 75;
    match error {
        ClientError::Io(_) | ClientError::Protocol(_) => true,
        ClientError::Kafka { code, .. } => matches!(
            *code,
            UNKNOWN_TOPIC_OR_PARTITION
                | LEADER_NOT_AVAILABLE
                | NOT_LEADER_OR_FOLLOWER
                | REQUEST_TIMED_OUT
                | NOT_ENOUGH_REPLICAS
                | FENCED_LEADER_EPOCH
                | UNKNOWN_LEADER_EPOCH
        ),
    }
}
