//! Calls one node makes to another and their answers: a follower's fetch
//! from a leader of the partitions it follows there, and a broker's requests to the active
//! controller (KRaft's BrokerRegistration, BrokerHeartbeat, AlterPartition,
//! and the admin changes a broker forwards). Each travels as
//! `RpcBody::Request { id, .. }` and is answered by one
//! `RpcBody::Response` with the same id on the same connection.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::core::metadata::TopicId;
use crate::core::partition::{FetchRequest, FetchResponse};
use crate::rpc::record_bytes::RecordBytes;

/// One fetch per (follower, leader) pair, carrying every partition the
/// follower follows from that leader (Kafka's replica FetchRequest). The
/// leader answers as soon as any partition has records or an error, or
/// after `max_wait_ms` with what it has (nothing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaFetch {
    /// At most `REPLICA_FETCH_PARTITIONS_MAX` (server/cluster/fetch_serve.rs);
    /// a longer request is refused whole.
    pub partitions: Vec<ReplicaFetchPartition>,
    /// The leader may hold the fetch this long when no partition has
    /// anything new (`replica.fetch.wait.max.ms`).
    pub max_wait_ms: u32,
    /// Most record bytes in the whole answer
    /// (`replica.fetch.response.max.bytes`).
    pub response_max_bytes: u32,
}

/// One partition of a [`ReplicaFetch`]: the replica machine's own request,
/// fenced by its leader epoch (KIP-320) as a fetch of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaFetchPartition {
    pub topic: String,
    pub topic_id: TopicId,
    pub partition: i32,
    pub fetch: FetchRequest,
    /// Most record bytes for this partition (`replica.fetch.max.bytes`).
    pub max_bytes: u32,
}

/// The leader's answer for one partition of a [`ReplicaFetch`]. A
/// partition the leader left out (the answer's byte budget was spent) is
/// asked again in the next fetch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaFetchAnswer {
    pub topic_id: TopicId,
    pub partition: i32,
    pub answer: PartitionFetchAnswer,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PartitionFetchAnswer {
    /// The partition's replica machine answered.
    Fetched(FetchResponse<ReplicaRecords>),
    /// The leader could not hand the fetch to the partition (it hosts no
    /// such partition, of that topic id): why, for the follower's log.
    Refused(String),
}

/// Raw record batches, as stored in the leader's log (offsets and leader
/// epochs already assigned): a follower appends them verbatim.
pub type ReplicaRecords = RecordBytes;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RpcRequest {
    ReplicaFetch(ReplicaFetch),
    Controller(ControllerRequest),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RpcResponse {
    ReplicaFetch(Vec<ReplicaFetchAnswer>),
    Controller(ControllerResponse),
    /// The receiver could not serve the request at all (no such partition,
    /// shutting down, ...): why, for the caller's log.
    Refused(String),
}

/// What a broker asks of the active controller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ControllerRequest {
    /// A broker process started (KRaft's BrokerRegistration): it serves
    /// Kafka at `host:port` and other nodes at `rpc_host:rpc_port`.
    /// `incarnation` differs on every start of the process.
    /// `clean_shutdown`: the previous process of this node shut down
    /// cleanly, every log synced (its marker was found at start; Kafka's
    /// PreviousBrokerEpoch, KIP-966); otherwise it may have lost unsynced
    /// records and leaves every ISR and ELR.
    RegisterBroker {
        node_id: i32,
        host: String,
        port: u16,
        rpc_host: String,
        rpc_port: u16,
        incarnation: u64,
        clean_shutdown: bool,
    },
    /// The broker is alive (KRaft's BrokerHeartbeat). A broker that misses
    /// heartbeats for the session timeout is fenced: its leaderships move.
    Heartbeat { node_id: i32, broker_epoch: i64 },
    /// A partition leader asks to set the ISR (KRaft's AlterPartition),
    /// with the broker epoch each other member last fetched with
    /// (KIP-903): a member registered with another epoch now is refused.
    AlterPartition {
        topic_id: TopicId,
        partition: i32,
        leader_id: i32,
        leader_epoch: i32,
        isr: Vec<i32>,
        broker_epochs: BTreeMap<i32, i64>,
    },
    /// Create a topic (CreateTopics forwarded, auto-creation, or a
    /// coordinator's internal topic when `internal`).
    CreateTopic {
        name: String,
        num_partitions: i32,
        replication_factor: i16,
        configs: BTreeMap<String, String>,
        internal: bool,
    },
    /// Hand out the next block of producer ids (KRaft's AllocateProducerIds).
    AllocateProducerIds { node_id: i32 },
    /// A client's admin request (DeleteTopics, CreatePartitions,
    /// AlterConfigs, ACL and SCRAM changes) that reached a broker which is
    /// not the active controller, forwarded whole (KIP-590's Envelope):
    /// the Kafka request frame (header and body) and the client's
    /// principal and host, which the controller authorizes.
    ForwardedAdmin {
        principal: String,
        client_host: String,
        request_frame: Vec<u8>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ControllerResponse {
    /// Registered with this broker epoch.
    Registered { broker_epoch: i64 },
    /// Heartbeat taken; `fenced` when the controller no longer counts the
    /// broker as live (it must register again).
    HeartbeatAck { fenced: bool },
    /// The request's change is committed to the metadata log.
    Done,
    /// Producer ids `[start, start + len)` are this broker's.
    ProducerIds { start: i64, len: i64 },
    /// This node is not the active controller; try `leader_hint`.
    NotController { leader_hint: Option<i32> },
    /// Refused, with Kafka's error code and a message for the client.
    Error { code: i16, message: String },
    /// An AlterPartition the controller checked against its image and
    /// refused (Kafka's error code), with the metadata index it had
    /// applied then: once the leader's own image reaches it, the image
    /// shows every change the check saw (an earlier attempt of the same
    /// proposal that did commit, a member removed), so the leader can end
    /// its proposal from it.
    IsrRefused {
        code: i16,
        message: String,
        metadata_index: u64,
    },
    /// The answer to a [`ControllerRequest::ForwardedAdmin`]: the Kafka
    /// response frame for the client, and the metadata index the
    /// controller had applied when it answered (the forwarding broker
    /// waits for its own image to reach it, so the client reads its
    /// change there).
    ForwardedAdmin {
        response_frame: Vec<u8>,
        metadata_index: u64,
    },
}
