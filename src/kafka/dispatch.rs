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
    OffsetFetchRequest, ProduceRequest, ProduceResponse, RequestHeader, ResponseHeader,
    SyncGroupRequest,
};
use kafka_protocol::protocol::{Decodable, Encodable};

use crate::kafka::supported_apis::{is_supported, supported_range};
use kafka_protocol::messages::OffsetDeleteRequest;

use crate::kafka::offset_delete;
use crate::kafka::{
    alter_configs, delete_records, describe_cluster, describe_log_dirs, incremental_alter_configs,
};
use crate::kafka::{
    api_versions, create_partitions, create_topics, delete_groups, delete_topics, describe_configs,
    describe_groups, fetch, find_coordinator, heartbeat, init_producer_id, join_group, leave_group,
    list_groups, list_offsets, metadata, offset_commit, offset_fetch, produce, sync_group,
};
use crate::server::broker::Broker;

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
/// member's client host; empty when unknown).
pub async fn handle_frame_from(
    broker: &Broker,
    mut frame: Bytes,
    peer: Option<SocketAddr>,
) -> Result<Reply, DispatchError> {
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
                &metadata::handle(broker, request, version).await,
            )?
        }
        ApiKey::Produce => {
            let request = decode!(ProduceRequest);
            let acks_none = request.acks == 0;
            let response = produce::handle(broker, request, version).await;
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
                &fetch::handle(broker, request).await,
            )?
        }
        ApiKey::ListOffsets => {
            let request = decode!(ListOffsetsRequest);
            encode(
                api,
                version,
                correlation_id,
                &list_offsets::handle(broker, request, version),
            )?
        }
        ApiKey::CreateTopics => {
            let request = decode!(CreateTopicsRequest);
            encode(
                api,
                version,
                correlation_id,
                &create_topics::handle(broker, request, version).await,
            )?
        }
        ApiKey::DeleteTopics => {
            let request = decode!(DeleteTopicsRequest);
            encode(
                api,
                version,
                correlation_id,
                &delete_topics::handle(broker, request, version).await,
            )?
        }
        ApiKey::DescribeConfigs => {
            let request = decode!(DescribeConfigsRequest);
            encode(
                api,
                version,
                correlation_id,
                &describe_configs::handle(broker, request),
            )?
        }
        ApiKey::InitProducerId => {
            let request = decode!(InitProducerIdRequest);
            encode(
                api,
                version,
                correlation_id,
                &init_producer_id::handle(broker, request).await,
            )?
        }
        ApiKey::CreatePartitions => {
            let request = decode!(CreatePartitionsRequest);
            encode(
                api,
                version,
                correlation_id,
                &create_partitions::handle(broker, request).await,
            )?
        }
        ApiKey::FindCoordinator => {
            let request = decode!(FindCoordinatorRequest);
            let response = find_coordinator::handle(broker, request, version).await;
            encode(api, version, correlation_id, &response)?
        }
        ApiKey::JoinGroup => {
            let request = decode!(JoinGroupRequest);
            let client_id = header.client_id.as_deref().unwrap_or_default();
            // Kafka shows a member's host as Java's InetAddress does: "/ip".
            let client_host = peer.map(|p| format!("/{}", p.ip())).unwrap_or_default();
            let response =
                join_group::handle(broker, request, version, client_id, &client_host).await;
            encode(api, version, correlation_id, &response)?
        }
        ApiKey::SyncGroup => {
            let request = decode!(SyncGroupRequest);
            let response = sync_group::handle(broker, request, version).await;
            encode(api, version, correlation_id, &response)?
        }
        ApiKey::Heartbeat => {
            let request = decode!(HeartbeatRequest);
            let response = heartbeat::handle(broker, request, version).await;
            encode(api, version, correlation_id, &response)?
        }
        ApiKey::LeaveGroup => {
            let request = decode!(LeaveGroupRequest);
            let response = leave_group::handle(broker, request, version).await;
            encode(api, version, correlation_id, &response)?
        }
        ApiKey::OffsetCommit => {
            let request = decode!(OffsetCommitRequest);
            let response = offset_commit::handle(broker, request, version).await;
            encode(api, version, correlation_id, &response)?
        }
        ApiKey::OffsetFetch => {
            let request = decode!(OffsetFetchRequest);
            let response = offset_fetch::handle(broker, request, version).await;
            encode(api, version, correlation_id, &response)?
        }
        ApiKey::ListGroups => {
            let request = decode!(ListGroupsRequest);
            let response = list_groups::handle(broker, request, version).await;
            encode(api, version, correlation_id, &response)?
        }
        ApiKey::DescribeGroups => {
            let request = decode!(DescribeGroupsRequest);
            let response = describe_groups::handle(broker, request, version).await;
            encode(api, version, correlation_id, &response)?
        }
        ApiKey::DeleteGroups => {
            let request = decode!(DeleteGroupsRequest);
            let response = delete_groups::handle(broker, request, version).await;
            encode(api, version, correlation_id, &response)?
        }
        ApiKey::OffsetDelete => {
            let request = decode!(OffsetDeleteRequest);
            let response = offset_delete::handle(broker, request).await;
            encode(api, version, correlation_id, &response)?
        }
        ApiKey::AlterConfigs => {
            let request = decode!(AlterConfigsRequest);
            let response = alter_configs::handle(broker, request).await;
            encode(api, version, correlation_id, &response)?
        }
        ApiKey::IncrementalAlterConfigs => {
            let request = decode!(IncrementalAlterConfigsRequest);
            let response = incremental_alter_configs::handle(broker, request).await;
            encode(api, version, correlation_id, &response)?
        }
        ApiKey::DeleteRecords => {
            let request = decode!(DeleteRecordsRequest);
            let response = delete_records::handle(broker, request).await;
            encode(api, version, correlation_id, &response)?
        }
        ApiKey::DescribeCluster => {
            let request = decode!(DescribeClusterRequest);
            let response = describe_cluster::handle(broker, request, version);
            encode(api, version, correlation_id, &response)?
        }
        ApiKey::DescribeLogDirs => {
            let request = decode!(DescribeLogDirsRequest);
            let response = describe_log_dirs::handle(broker, request);
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
