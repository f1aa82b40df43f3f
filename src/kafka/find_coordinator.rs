//! FindCoordinator: every group's coordinator is the leader of the one
//! offsets partition (this node on a single node). v0–v3 ask for one key; v4+ batch several keys
//! and get one `coordinators` entry each.
//!
//! Transaction coordinators do not exist yet. Their keys get
//! TRANSACTIONAL_ID_AUTHORIZATION_FAILED with a message saying so: librdkafka
//! (rdkafka_txnmgr.c, `rd_kafka_txn_handle_FindCoordinator`) and the Java
//! client treat that code as fatal, so `init_transactions` fails at once
//! with the message, instead of retrying COORDINATOR_NOT_AVAILABLE until
//! its timeout.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use crate::kafka::error_code::{code, NONE};
use crate::kafka::str_bytes;
use crate::server::broker::Broker;

/// Kafka's `CoordinatorType` ids.
const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;

/// What a transactional client is told (shown by librdkafka in its fatal
/// error).
pub const TRANSACTIONS_UNSUPPORTED: &str =
    "odradek does not support transactions yet (transactional.id cannot be used)";

/// One key's answer: the coordinator's (node id, host, port), or an error.
type Answer = Result<(i32, String, i32), (i16, &'static str)>;

async fn answer(broker: &Broker, key_type: i8) -> Answer {
    match key_type {
        KEY_TYPE_GROUP => broker.group_coordinator().await.ok_or((
            code(ResponseError::CoordinatorNotAvailable),
            "the group coordinator is not available yet",
        )),
        KEY_TYPE_TRANSACTION => Err((
            code(ResponseError::TransactionalIdAuthorizationFailed),
            TRANSACTIONS_UNSUPPORTED,
        )),
        _ => Err((
            code(ResponseError::InvalidRequest),
            "unknown coordinator key type",
        )),
    }
}

pub async fn handle(
    broker: &Broker,
    request: FindCoordinatorRequest,
    version: i16,
) -> FindCoordinatorResponse {
    let key_type = if version >= 1 {
        request.key_type
    } else {
        KEY_TYPE_GROUP
    };
    if version >= 4 {
        // One coordinator serves every group: one answer for all keys.
        let found = answer(broker, key_type).await;
        let coordinators = request
            .coordinator_keys
            .iter()
            .map(|key| coordinator(key.clone(), found.clone()))
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    let response = FindCoordinatorResponse::default();
    match answer(broker, key_type).await {
        Ok((node_id, host, port)) => {
            let response = response
                .with_error_code(NONE)
                .with_node_id(BrokerId(node_id))
                .with_host(str_bytes(&host))
                .with_port(port);
            if version >= 1 {
                response.with_error_message(None)
            } else {
                response
            }
        }
        Err((error, message)) => {
            let response = response
                .with_error_code(error)
                .with_node_id(BrokerId(-1))
                .with_host(str_bytes(""))
                .with_port(-1);
            if version >= 1 {
                response.with_error_message(Some(str_bytes(message)))
            } else {
                response
            }
        }
    }
}

/// One batched (v4+) answer.
fn coordinator(key: StrBytes, answer: Answer) -> Coordinator {
    let entry = Coordinator::default().with_key(key);
    match answer {
        Ok((node_id, host, port)) => entry
            .with_node_id(BrokerId(node_id))
            .with_host(str_bytes(&host))
            .with_port(port),
        Err((error, message)) => entry
            .with_error_code(error)
            .with_error_message(Some(str_bytes(message)))
            .with_node_id(BrokerId(-1))
            .with_host(str_bytes(""))
            .with_port(-1),
    }
}
