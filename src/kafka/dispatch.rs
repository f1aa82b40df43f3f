//! One request frame in, one response frame (or a reason to close) out.
//!
//! Decoding never trusts the client: the header is checked before the codec
//! sees it, unsupported versions of ApiVersions get Kafka's
//! UNSUPPORTED_VERSION answer, anything else malformed closes the connection.

use std::net::SocketAddr;

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    AlterConfigsRequest, DeleteRecordsRequest, DescribeClusterRequest, DescribeLogDirsRequest,
    IncrementalAlterConfigsRequest,
};
use kafka_protocol::messages::{
    ApiKey, CreatePartitionsRequest, CreateTopicsRequest, DeleteGroupsRequest, DeleteTopicsRequest,
    DescribeConfigsRequest, DescribeGroupsRequest, FetchRequest, FindCoordinatorRequest,
    HeartbeatRequest, InitProducerIdRequest, JoinGroupRequest, LeaveGroupRequest,
    ListGroupsRequest, ListOffsetsRequest, MetadataRequest, OffsetCommitRequest,
    OffsetFetchRequest, OffsetForLeaderEpochRequest, ProduceRequest, ProduceResponse,
    RequestHeader, ResponseHeader, SyncGroupRequest,
};
use kafka_protocol::protocol::{Decodable, Encodable};

use crate::kafka::supported_apis::{is_supported, supported_range};
use kafka_protocol::messages::OffsetDeleteRequest;

use crate::kafka::{api_versions, authorization, forward_error, forwarding};
use crate::server::broker::{Broker, Forwarded};
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, DescribeUserScramCredentialsRequest,
};
use kafka_protocol::messages::{CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest};

/// Why a connection must be closed instead of answered.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error("request too short for a header ({0} bytes)")]
    ShortHeader(usize),
    #[error("unknown API key {0}")]
    UnknownApi(i16),
    #[error("unsupported version {version} of {api:?}")]
    UnsupportedVersion { api: ApiKey, version: i16 },
    #[error("malformed {api:?} v{version} request: {detail}")]
    Malformed {
        api: ApiKey,
        version: i16,
        detail: String,
    },
    /// Kafka closes the connection when an acks=0 produce fails: the client
    /// gets no response, so a closed connection is how it learns (it then
    /// refreshes metadata and retries).
    #[error("acks=0 produce failed, closing so the client notices: {failed}")]
    UnacknowledgedProduceFailed { failed: String },
    #[error("cannot encode the {api:?} v{version} response: {detail}")]
    Encode {
        api: ApiKey,
        version: i16,
        detail: String,
    },
}

/// What to send back for one request frame.
pub enum Reply {
    /// A response frame payload (header + body).
    Frame(Bytes),
    /// acks=0 produce: the client expects no response.
    Nothing,
}

/// Decodes and handles one request frame from an unknown peer.
pub async fn handle_frame(broker: &Broker, frame: Bytes) -> Result<Reply, DispatchError> {
    handle_frame_from(broker, frame, None).await
}

/// Decodes and handles one request frame from `peer` (shown as a group
/// member's client host; empty when unknown). An admin change on a cluster
/// node that is not the active controller is forwarded to it
/// (`kafka/forwarding.rs`).
pub async fn handle_frame_from(
    broker: &Broker,
    frame: Bytes,
    peer: Option<SocketAddr>,
) -> Result<Reply, DispatchError> {
    dispatch(broker, frame, peer, authorization::session(peer), true).await
}

/// The active controller's side of forwarding: handles an admin request
/// another broker forwarded for the client `session`, here, whatever
/// happens (never forwarded again). Only the forwarded APIs are taken.
pub async fn handle_forwarded_frame(
    broker: &Broker,
    frame: Bytes,
    session: crate::core::acl::authorizer::Session,
) -> Result<Reply, DispatchError> {
    if frame.len() < 8 {
        return Err(DispatchError::ShortHeader(frame.len()));
    }
    let api_key_raw = i16::from_be_bytes([frame[0], frame[1]]);
    let api = ApiKey::try_from(api_key_raw).map_err(|_| DispatchError::UnknownApi(api_key_raw))?;
    if !forwarding::FORWARDED_APIS.contains(&api) {
        return Err(DispatchError::UnknownApi(api_key_raw));
    }
    dispatch(broker, frame, None, session, false).await
}

async fn dispatch(
    broker: &Broker,
    mut frame: Bytes,
    peer: Option<SocketAddr>,
    session: crate::core::acl::authorizer::Session,
    may_forward: bool,
) -> Result<Reply, DispatchError> {
    let whole = frame.clone();
    if frame.len() < 8 {
        return Err(DispatchError::ShortHeader(frame.len()));
    }
    let api_key_raw = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let api = ApiKey::try_from(api_key_raw).map_err(|_| DispatchError::UnknownApi(api_key_raw))?;
    if supported_range(api).is_none() {
        return Err(DispatchError::UnknownApi(api_key_raw));
    }
    if !is_supported(api, version) {
        if api == ApiKey::ApiVersions {
            // KIP-511: answer in v0 with UNSUPPORTED_VERSION and our ranges so
            // the client can retry with a version we speak.
            let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
            let body = api_versions::handle(ResponseError::UnsupportedVersion.code());
            return encode(api, 0, correlation_id, &body).map(Reply::Frame);
        }
        return Err(DispatchError::UnsupportedVersion { api, version });
    }
    let malformed = |detail: String| DispatchError::Malformed {
        api,
        version,
        detail,
    };
    let header = RequestHeader::decode(&mut frame, api.request_header_version(version))
        .map_err(|e| malformed(e.to_string()))?;
    let correlation_id = header.correlation_id;
    if may_forward
        && broker.cluster().is_some()
        && forwarding::is_forwarded(api, version, frame.clone())
    {
        match forwarding::forward(broker, &whole, &session).await {
            Forwarded::Answered(response) => return Ok(Reply::Frame(Bytes::from(response))),
            Forwarded::Failed(why) => {
                if let Some(reply) =
                    forward_error::error_response(api, version, correlation_id, frame.clone(), &why)
                {
                    return reply.map(Reply::Frame);
                }
            }
            Forwarded::HandleHere => {}
        }
    }
    // Every handler runs behind its authorization check (kafka/authorization.rs).
    let guard = authorization::Guard::new(broker, session);
    macro_rules! decode {
        ($ty:ty) => {
            <$ty>::decode(&mut frame, version).map_err(|e| malformed(e.to_string()))?
        };
    }
    let reply = match api {
        ApiKey::ApiVersions => encode(api, version, correlation_id, &api_versions::handle(0))?,
        ApiKey::Metadata => {
            let request = decode!(MetadataRequest);
            encode(
                api,
                version,
                correlation_id,
                &authorization::metadata(&guard, request, version).await,
            )?
        }
        ApiKey::Produce => {
            let request = decode!(ProduceRequest);
            let acks_none = request.acks == 0;
            let response = authorization::produce(&guard, request, version).await;
            if acks_none {
                return match produce_failures(&response) {
                    None => Ok(Reply::Nothing),
                    Some(failed) => Err(DispatchError::UnacknowledgedProduceFailed { failed }),
                };
            }
            encode(api, version, correlation_id, &response)?
        }
        ApiKey::Fetch => {
            let request = decode!(FetchRequest);
            encode(
                api,
                version,
                correlation_id,
                &authorization::fetch(&guard, request).await,
            )?
        }
        ApiKey::ListOffsets => {
            let request = decode!(ListOffsetsRequest);
            encode(
                api,
                version,
                correlation_id,
                &authorization::list_offsets(&guard, request, version),
            )?
        }
        ApiKey::OffsetForLeaderEpoch => {
            let request = decode!(OffsetForLeaderEpochRequest);
            let response = authorization::offset_for_leader_epoch(&guard, request);
            encode(api, version, correlation_id, &response)?
        }
        ApiKey::CreateTopics => {
            let request = decode!(CreateTopicsRequest);
            encode(
                api,
                version,
                correlation_id,
                &authorization::create_topics(&guard, request, version).await,
            )?
        }
        ApiKey::DeleteTopics => {
            let request = decode!(DeleteTopicsRequest);
            encode(
                api,
                version,
                correlation_id,
                &authorization::delete_topics(&guard, request, version).await,
            )?
        }
        ApiKey::DescribeConfigs => {
            let request = decode!(DescribeConfigsRequest);
            encode(
                api,
                version,
                correlation_id,
                &authorization::describe_configs(&guard, request),
            )?
        }
        ApiKey::InitProducerId => {
            let request = decode!(InitProducerIdRequest);
            encode(
                api,
                version,
                correlation_id,
                &authorization::init_producer_id(&guard, request).await,
            )?
        }
        ApiKey::CreatePartitions => {
            let request = decode!(CreatePartitionsRequest);
            encode(
                api,
                version,
                correlation_id,
                &authorization::create_partitions(&guard, request).await,
            )?
        }
        ApiKey::FindCoordinator => {
            let request = decode!(FindCoordinatorRequest);
            let response = authorization::find_coordinator(&guard, request, version).await;
            encode(api, version, correlation_id, &response)?
        }
        ApiKey::JoinGroup => {
            let request = decode!(JoinGroupRequest);
            let client_id = header.client_id.as_deref().unwrap_or_default();
            // Kafka shows a member's host as Java's InetAddress does: "/ip".
            let client_host = peer.map(|p| format!("/{}", p.ip())).unwrap_or_default();
            let response =
                authorization::join_group(&guard, request, version, client_id, &client_host).await;
            encode(api, version, correlation_id, &response)?
        }
        ApiKey::SyncGroup => {
            let request = decode!(SyncGroupRequest);
            let response = authorization::sync_group(&guard, request, version).await;
            encode(api, version, correlation_id, &response)?
        }
        ApiKey::Heartbeat => {
            let request = decode!(HeartbeatRequest);
            let response = authorization::heartbeat(&guard, request, version).await;
            encode(api, version, correlation_id, &response)?
        }
        ApiKey::LeaveGroup => {
            let request = decode!(LeaveGroupRequest);
            let response = authorization::leave_group(&guard, request, version).await;
            encode(api, version, correlation_id, &response)?
        }
        ApiKey::OffsetCommit => {
            let request = decode!(OffsetCommitRequest);
            let response = authorization::offset_commit(&guard, request, version).await;
            encode(api, version, correlation_id, &response)?
        }
        ApiKey::OffsetFetch => {
            let request = decode!(OffsetFetchRequest);
            let response = authorization::offset_fetch(&guard, request, version).await;
            encode(api, version, correlation_id, &response)?
        }
        ApiKey::ListGroups => {
            let request = decode!(ListGroupsRequest);
            let response = authorization::list_groups(&guard, request, version).await;
            encode(api, version, correlation_id, &response)?
        }
        ApiKey::DescribeGroups => {
            let request = decode!(DescribeGroupsRequest);
            let response = authorization::describe_groups(&guard, request, version).await;
            encode(api, version, correlation_id, &response)?
        }
        ApiKey::DeleteGroups => {
            let request = decode!(DeleteGroupsRequest);
            let response = authorization::delete_groups(&guard, request, version).await;
            encode(api, version, correlation_id, &response)?
        }
        ApiKey::OffsetDelete => {
            let request = decode!(OffsetDeleteRequest);
            let response = authorization::offset_delete(&guard, request).await;
            encode(api, version, correlation_id, &response)?
        }
        ApiKey::AlterConfigs => {
            let request = decode!(AlterConfigsRequest);
            let response = authorization::alter_configs(&guard, request).await;
            encode(api, version, correlation_id, &response)?
        }
        ApiKey::IncrementalAlterConfigs => {
            let request = decode!(IncrementalAlterConfigsRequest);
            let response = authorization::incremental_alter_configs(&guard, request).await;
            encode(api, version, correlation_id, &response)?
        }
        ApiKey::DeleteRecords => {
            let request = decode!(DeleteRecordsRequest);
            let response = authorization::delete_records(&guard, request).await;
            encode(api, version, correlation_id, &response)?
        }
        ApiKey::DescribeCluster => {
            let request = decode!(DescribeClusterRequest);
            let response = authorization::describe_cluster(&guard, request, version);
            encode(api, version, correlation_id, &response)?
        }
        ApiKey::DescribeLogDirs => {
            let request = decode!(DescribeLogDirsRequest);
            let response = authorization::describe_log_dirs(&guard, request);
            encode(api, version, correlation_id, &response)?
        }
        ApiKey::CreateAcls => {
            let request = decode!(CreateAclsRequest);
            let response = authorization::create_acls(&guard, request)
                .await
                .map_err(|e| malformed(e.to_string()))?;
            encode(api, version, correlation_id, &response)?
        }
        ApiKey::DescribeAcls => {
            let request = decode!(DescribeAclsRequest);
            let response = authorization::describe_acls(&guard, request)
                .map_err(|e| malformed(e.to_string()))?;
            encode(api, version, correlation_id, &response)?
        }
        ApiKey::DeleteAcls => {
            let request = decode!(DeleteAclsRequest);
            let response = authorization::delete_acls(&guard, request)
                .await
                .map_err(|e| malformed(e.to_string()))?;
            encode(api, version, correlation_id, &response)?
        }
        ApiKey::DescribeUserScramCredentials => {
            let request = decode!(DescribeUserScramCredentialsRequest);
            let response = authorization::describe_user_scram_credentials(&guard, request);
            encode(api, version, correlation_id, &response)?
        }
        ApiKey::AlterUserScramCredentials => {
            let request = decode!(AlterUserScramCredentialsRequest);
            let response = authorization::alter_user_scram_credentials(&guard, request).await;
            encode(api, version, correlation_id, &response)?
        }
        other => return Err(DispatchError::UnknownApi(other as i16)),
    };
    if frame.has_remaining() {
        tracing::debug!(
            ?api,
            version,
            trailing = frame.remaining(),
            "request has trailing bytes"
        );
    }
    Ok(Reply::Frame(reply))
}

/// The partitions a produce response refused, as "topic-partition: error
/// code" (`None` when every partition succeeded).
fn produce_failures(response: &ProduceResponse) -> Option<String> {
    let failed: Vec<String> = response
        .responses
        .iter()
        .flat_map(|topic| {
            topic
                .partition_responses
                .iter()
                .filter(|p| p.error_code != 0)
                .map(move |p| format!("{}-{}: error {}", &*topic.name, p.index, p.error_code))
        })
        .collect();
    (!failed.is_empty()).then(|| failed.join(", "))
}

/// Encodes a response header and body at the request's version.
pub fn encode<M: Encodable>(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &M,
) -> Result<Bytes, DispatchError> {
    let fail = |e: &dyn std::fmt::Display| DispatchError::Encode {
        api,
        version,
        detail: e.to_string(),
    };
    let mut buf = BytesMut::new();
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    header
        .encode(&mut buf, api.response_header_version(version))
        .map_err(|e| fail(&e))?;
    body.encode(&mut buf, version).map_err(|e| fail(&e))?;
    Ok(buf.freeze())
}
