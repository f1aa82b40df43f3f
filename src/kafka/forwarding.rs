//! Which client requests a broker forwards to the active controller, and
//! the forwarding itself (KIP-590; KRaft's `ForwardingManager`): a cluster
//! node that is not the active controller sends an admin change's whole
//! request frame, with the client's principal and host, to the
//! controller, and answers the client with the controller's response.
//! The controller authorizes and handles it as if the client had come to
//! it. How it travels, and its bounds, are in
//! `server/cluster/forwarding.rs`.
//!
//! Forwarded: DeleteTopics, CreatePartitions, AlterConfigs and
//! IncrementalAlterConfigs (of topics), CreateAcls, DeleteAcls,
//! AlterUserScramCredentials. CreateTopics has its own per-topic path
//! (`Broker::create_topic`, shared with auto-creation). DeleteRecords goes
//! to the partition leaders, not the controller. An AlterConfigs naming a
//! broker resource is handled where it arrived: a broker's dynamic
//! settings are checked against the node that received them.

use bytes::Bytes;
use kafka_protocol::messages::{AlterConfigsRequest, ApiKey, IncrementalAlterConfigsRequest};
use kafka_protocol::protocol::Decodable;

use crate::core::acl::authorizer::Session;
use crate::kafka::alter_topic_config::RESOURCE_TOPIC;
use crate::server::broker::{Broker, Forwarded};

/// The APIs whose changes only the active controller can make.
pub const FORWARDED_APIS: [ApiKey; 7] = [
    ApiKey::DeleteTopics,
    ApiKey::CreatePartitions,
    ApiKey::AlterConfigs,
    ApiKey::IncrementalAlterConfigs,
    ApiKey::CreateAcls,
    ApiKey::DeleteAcls,
    ApiKey::AlterUserScramCredentials,
];

/// Whether a request of `api` whose body is `body` (after the header)
/// goes to the controller. A body that does not decode is not forwarded:
/// the local handler refuses it as malformed.
pub fn is_forwarded(api: ApiKey, version: i16, mut body: Bytes) -> bool {
    match api {
        ApiKey::AlterConfigs => AlterConfigsRequest::decode(&mut body, version).is_ok_and(|r| {
            r.resources
                .iter()
                .all(|r| r.resource_type == RESOURCE_TOPIC)
        }),
        ApiKey::IncrementalAlterConfigs => {
            IncrementalAlterConfigsRequest::decode(&mut body, version).is_ok_and(|r| {
                r.resources
                    .iter()
                    .all(|r| r.resource_type == RESOURCE_TOPIC)
            })
        }
        api => FORWARDED_APIS.contains(&api),
    }
}

/// Forwards `frame` (header and body) to the active controller when this
/// node is a cluster node that is not it; `HandleHere` on a single node or
/// the active controller.
pub async fn forward(broker: &Broker, frame: &Bytes, session: &Session) -> Forwarded {
    let Some(link) = broker.cluster() else {
        return Forwarded::HandleHere;
    };
    if link.is_active_controller() {
        return Forwarded::HandleHere;
    }
    link.forward_admin(
        session.principal.clone(),
        session.host.clone(),
        frame.to_vec(),
    )
    .await
}
