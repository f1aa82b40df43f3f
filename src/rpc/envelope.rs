//! The addressed node-to-node message. Plain serde values; `frame` turns
//! them into bytes.

use serde::{Deserialize, Serialize};

use crate::core::raft::Message;
use crate::rpc::request::{RpcRequest, RpcResponse};

/// One message from node `from` to node `to` of cluster `cluster_id`.
/// Node ids are broker ids (Kafka's `int32`). A receiver delivers an
/// envelope only if `cluster_id` is its own and `to` is its own id
/// (`transport::RpcConnection::recv`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RpcEnvelope {
    pub cluster_id: String,
    pub from: i32,
    pub to: i32,
    pub body: RpcBody,
}

/// What an envelope carries. New variants are appended at the end (bincode
/// encodes the variant index), so old variants keep their numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RpcBody {
    /// The first envelope on a connection: who is calling, and which life of
    /// that node (`incarnation` grows on every restart, so a receiver can
    /// tell a new process from an old connection still draining).
    Hello { node_id: i32, incarnation: u64 },
    /// A Raft message of the metadata quorum (`core::raft`).
    Raft(Message),
    /// A call that expects exactly one [`RpcBody::Response`] with the same
    /// `id`, on the same connection.
    Request { id: u64, request: RpcRequest },
    /// The answer to the caller's request `id`.
    Response { id: u64, response: RpcResponse },
}

impl RpcEnvelope {
    /// Whether the body agrees with the envelope's addressing: a `Hello`
    /// names its sender, a Raft message names the same `from` and `to`.
    /// An envelope that disagrees with itself is misrouted, never delivered.
    pub fn is_self_consistent(&self) -> bool {
        match &self.body {
            RpcBody::Hello { node_id, .. } => *node_id == self.from,
            RpcBody::Raft(message) => {
                node_id_matches(self.from, message.from) && node_id_matches(self.to, message.to)
            }
            RpcBody::Request { .. } | RpcBody::Response { .. } => true,
        }
    }
}

/// A broker id (`i32`) and a Raft voter id (`u64`) name the same node when
/// the broker id is non-negative and equal.
fn node_id_matches(broker_id: i32, raft_id: u64) -> bool {
    u64::try_from(broker_id).is_ok_and(|id| id == raft_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::raft::MessageBody;

    fn raft(from: u64, to: u64) -> Message {
        Message {
            from,
            to,
            term: 3,
            body: MessageBody::VoteResponse { granted: true },
        }
    }

    #[test]
    fn hello_must_name_its_sender() {
        let mut envelope = RpcEnvelope {
            cluster_id: "c".into(),
            from: 1,
            to: 2,
            body: RpcBody::Hello {
                node_id: 1,
                incarnation: 7,
            },
        };
        assert!(envelope.is_self_consistent());
        envelope.body = RpcBody::Hello {
            node_id: 3,
            incarnation: 7,
        };
        assert!(!envelope.is_self_consistent());
    }

    #[test]
    fn raft_message_must_match_the_envelope_addresses() {
        let envelope = |from, to, message| RpcEnvelope {
            cluster_id: "c".into(),
            from,
            to,
            body: RpcBody::Raft(message),
        };
        assert!(envelope(1, 2, raft(1, 2)).is_self_consistent());
        assert!(!envelope(1, 2, raft(1, 3)).is_self_consistent());
        assert!(!envelope(1, 2, raft(4, 2)).is_self_consistent());
        assert!(!envelope(-1, 2, raft(u64::MAX, 2)).is_self_consistent());
    }
}
