//! The records of the metadata log (KRaft's TopicRecord, PartitionRecord, ...).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::core::acl::AclBinding;
use crate::core::scram::{ScramCredential, ScramMechanism};

/// A topic's 128-bit id (Kafka's topic UUID). Never all zeroes.
pub type TopicId = [u8; 16];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetadataRecord {
    /// A broker joined (or rejoined with a new epoch) at an address.
    RegisterBroker {
        node_id: i32,
        host: String,
        port: u16,
        broker_epoch: i64,
    },
    /// A topic exists with these explicitly set configs.
    CreateTopic {
        name: String,
        topic_id: TopicId,
        configs: BTreeMap<String, String>,
    },
    /// A partition exists with this assignment, ISR and leader.
    CreatePartition {
        topic_id: TopicId,
        partition: i32,
        replicas: Vec<i32>,
        isr: Vec<i32>,
        leader: i32,
        leader_epoch: i32,
    },
    /// Leader and/or ISR changed; the leader epoch grows on a leader change.
    ChangePartition {
        topic_id: TopicId,
        partition: i32,
        isr: Vec<i32>,
        leader: i32,
        leader_epoch: i32,
    },
    /// A topic config was set (`Some`) or reset to its default (`None`).
    SetTopicConfig {
        topic_id: TopicId,
        key: String,
        value: Option<String>,
    },
    /// A topic and all its partitions are gone.
    DeleteTopic { topic_id: TopicId },
    /// Producer ids below `end_id` may have been handed out (idempotence):
    /// a restarted node never reuses one.
    ProducerIdsBlock { end_id: i64 },
    /// An ACL exists (KRaft's AccessControlEntryRecord). Ids are never reused.
    CreateAcl { id: u64, binding: AclBinding },
    /// An ACL is gone (KRaft's RemoveAccessControlEntryRecord).
    DeleteAcl { id: u64 },
    /// A user's SCRAM credential for a mechanism was created or replaced
    /// (KRaft's UserScramCredentialRecord): salt, stored key, server key and
    /// iterations, never the salted password.
    UpsertScramCredential {
        user: String,
        mechanism: ScramMechanism,
        credential: ScramCredential,
    },
    /// A user's SCRAM credential for a mechanism is gone (KRaft's
    /// RemoveUserScramCredentialRecord).
    DeleteScramCredential {
        user: String,
        mechanism: ScramMechanism,
    },
    /// A broker's node-to-node address (its `--rpc`): where followers
    /// fetch from it and the controller reaches it.
    BrokerRpcAddress {
        node_id: i32,
        host: String,
        port: u16,
    },
    /// The controller stopped counting the broker as live (its heartbeats
    /// stopped for the session timeout). The same commit moves its
    /// leaderships and takes it out of every ISR.
    FenceBroker { node_id: i32 },
    /// The broker heartbeats again (after registering anew).
    UnfenceBroker { node_id: i32 },
    /// The process incarnation a broker registered with (KRaft's
    /// incarnation id): a retried registration of the same process is
    /// answered with its epoch instead of fencing it again.
    BrokerIncarnation { node_id: i32, incarnation: u64 },
    /// A partition's eligible leader replicas (KIP-966's ELR and
    /// LastKnownElr, carried by Kafka's PartitionChangeRecord; a record of
    /// its own here so that metadata logs written before it still decode).
    /// `elr`: replicas that left the ISR while it was below
    /// min.insync.replicas and so hold every record below the high
    /// watermark. `last_known_leader`: the leader when the ISR emptied
    /// (-1 for none), elected only when ISR and ELR are both empty.
    /// Committed after the partition's `ChangePartition` of the same change.
    ChangeEligibleLeaders {
        topic_id: TopicId,
        partition: i32,
        elr: Vec<i32>,
        last_known_leader: i32,
    },
}
