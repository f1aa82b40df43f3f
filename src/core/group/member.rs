//! One member of a classic group.

use crate::core::group::requests::JoinProtocol;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    /// Offered protocols in preference order (names unique).
    pub protocols: Vec<JoinProtocol>,
    /// The assignment of the current generation; `None` until the leader's
    /// SyncGroup is durable (or after a rebalance reset it).
    pub assignment: Option<Vec<u8>>,
    /// The JoinGroup request waiting for the join phase to end.
    pub awaiting_join_request_id: Option<u64>,
    /// The SyncGroup request waiting for the leader's assignment.
    pub awaiting_sync_request_id: Option<u64>,
    /// When the member is dropped unless it heartbeats; `None` while no
    /// session timer runs (Kafka's timer fired while the member was waiting
    /// in a join or sync, which counts as alive).
    pub session_deadline_ms: Option<i64>,
    /// Joined in the current join phase and has not had a response yet.
    pub is_new: bool,
}

impl Member {
    pub fn is_awaiting_join(&self) -> bool {
        self.awaiting_join_request_id.is_some()
    }

    pub fn is_awaiting_sync(&self) -> bool {
        self.awaiting_sync_request_id.is_some()
    }

    pub fn is_static(&self) -> bool {
        self.group_instance_id.is_some()
    }

    /// Kafka's `hasSatisfiedHeartbeat`: a new member can expire even while
    /// it waits; an old member waiting in a join or sync is alive.
    pub fn has_satisfied_heartbeat(&self) -> bool {
        !self.is_new && (self.is_awaiting_join() || self.is_awaiting_sync())
    }

    /// The member's metadata for `protocol_name` (empty if it has none).
    pub fn metadata_for(&self, protocol_name: &str) -> Vec<u8> {
        self.protocols
            .iter()
            .find(|p| p.name == protocol_name)
            .map(|p| p.metadata.clone())
            .unwrap_or_default()
    }

    pub fn supports(&self, protocol_name: &str) -> bool {
        self.protocols.iter().any(|p| p.name == protocol_name)
    }

    /// The member's first protocol that is a candidate (Kafka's `vote`).
    pub fn vote(&self, is_candidate: impl Fn(&str) -> bool) -> Option<&str> {
        self.protocols
            .iter()
            .map(|p| p.name.as_str())
            .find(|name| is_candidate(name))
    }
}
