//! What a response says, read back at the request's version: every error
//! code in it (for the outcome census), and what the data oracle needs:
//! which partitions a Produce wrote to, which topics a DeleteTopics removed.

use bytes::{Buf, Bytes};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::Decodable;

/// The parts of a response the fuzzer checks.
#[derive(Debug, Default)]
pub struct Summary {
    /// Every error code in the response, top level and nested.
    pub codes: Vec<i16>,
    /// Produce: (topic, partition, error code) per partition answered.
    pub produced: Vec<(String, i32, i16)>,
    /// DeleteTopics: topics answered with error code 0.
    pub deleted: Vec<String>,
}

pub fn summarize(api: ApiKey, version: i16, mut frame: Bytes) -> Result<Summary, String> {
    let header = ResponseHeader::decode(&mut frame, api.response_header_version(version))
        .map_err(|e| format!("response header: {e}"))?;
    if header.correlation_id != crate::fuzz::frames::CORRELATION_ID {
        return Err(format!("correlation id {}", header.correlation_id));
    }
    let mut out = Summary::default();
    macro_rules! dec {
        ($ty:ty) => {
            <$ty>::decode(&mut frame, version).map_err(|e| format!("{api:?} v{version}: {e}"))?
        };
    }
    let c = &mut out.codes;
    match api {
        ApiKey::Produce => {
            let r = dec!(ProduceResponse);
            for t in r.responses {
                for p in t.partition_responses {
                    c.push(p.error_code);
                    out.produced
                        .push((t.name.0.to_string(), p.index, p.error_code));
                }
            }
        }
        ApiKey::Fetch => {
            let r = dec!(FetchResponse);
            c.push(r.error_code);
            for t in r.responses {
                c.extend(t.partitions.iter().map(|p| p.error_code));
            }
        }
        ApiKey::ListOffsets => {
            let r = dec!(ListOffsetsResponse);
            for t in r.topics {
                c.extend(t.partitions.iter().map(|p| p.error_code));
            }
        }
        ApiKey::Metadata => {
            let r = dec!(MetadataResponse);
            c.push(r.error_code);
            for t in r.topics {
                c.push(t.error_code);
                c.extend(t.partitions.iter().map(|p| p.error_code));
            }
        }
        ApiKey::ApiVersions => c.push(dec!(ApiVersionsResponse).error_code),
        ApiKey::CreateTopics => {
            let r = dec!(CreateTopicsResponse);
            c.extend(r.topics.iter().map(|t| t.error_code));
        }
        ApiKey::DeleteTopics => {
            let r = dec!(DeleteTopicsResponse);
            for t in r.responses {
                c.push(t.error_code);
                if t.error_code == 0 {
                    if let Some(name) = t.name {
                        out.deleted.push(name.0.to_string());
                    }
                }
            }
        }
        ApiKey::DescribeConfigs => {
            let r = dec!(DescribeConfigsResponse);
            c.extend(r.results.iter().map(|t| t.error_code));
        }
        ApiKey::CreatePartitions => {
            let r = dec!(CreatePartitionsResponse);
            c.extend(r.results.iter().map(|t| t.error_code));
        }
        ApiKey::InitProducerId => c.push(dec!(InitProducerIdResponse).error_code),
        ApiKey::FindCoordinator => {
            let r = dec!(FindCoordinatorResponse);
            c.push(r.error_code);
            c.extend(r.coordinators.iter().map(|t| t.error_code));
        }
        ApiKey::JoinGroup => c.push(dec!(JoinGroupResponse).error_code),
        ApiKey::SyncGroup => c.push(dec!(SyncGroupResponse).error_code),
        ApiKey::Heartbeat => c.push(dec!(HeartbeatResponse).error_code),
        ApiKey::LeaveGroup => {
            let r = dec!(LeaveGroupResponse);
            c.push(r.error_code);
            c.extend(r.members.iter().map(|m| m.error_code));
        }
        ApiKey::OffsetCommit => {
            let r = dec!(OffsetCommitResponse);
            for t in r.topics {
                c.extend(t.partitions.iter().map(|p| p.error_code));
            }
        }
        ApiKey::OffsetFetch => {
            let r = dec!(OffsetFetchResponse);
            c.push(r.error_code);
            for t in r.topics {
                c.extend(t.partitions.iter().map(|p| p.error_code));
            }
            for gr in r.groups {
                c.push(gr.error_code);
                for t in gr.topics {
                    c.extend(t.partitions.iter().map(|p| p.error_code));
                }
            }
        }
        ApiKey::ListGroups => c.push(dec!(ListGroupsResponse).error_code),
        ApiKey::DescribeGroups => {
            let r = dec!(DescribeGroupsResponse);
            c.extend(r.groups.iter().map(|g| g.error_code));
        }
        ApiKey::DeleteGroups => {
            let r = dec!(DeleteGroupsResponse);
            c.extend(r.results.iter().map(|g| g.error_code));
        }
        ApiKey::DescribeCluster => c.push(dec!(DescribeClusterResponse).error_code),
        ApiKey::DescribeLogDirs => {
            let r = dec!(DescribeLogDirsResponse);
            c.push(r.error_code);
            c.extend(r.results.iter().map(|d| d.error_code));
        }
        ApiKey::DeleteRecords => {
            let r = dec!(DeleteRecordsResponse);
            for t in &r.topics {
                c.extend(t.partitions.iter().map(|p| p.error_code));
            }
        }
        ApiKey::AlterConfigs => {
            let r = dec!(AlterConfigsResponse);
            c.extend(r.responses.iter().map(|x| x.error_code));
        }
        ApiKey::IncrementalAlterConfigs => {
            let r = dec!(IncrementalAlterConfigsResponse);
            c.extend(r.responses.iter().map(|x| x.error_code));
        }
        ApiKey::OffsetDelete => {
            let r = dec!(OffsetDeleteResponse);
            c.push(r.error_code);
            for t in &r.topics {
                c.extend(t.partitions.iter().map(|p| p.error_code));
            }
        }
        ApiKey::CreateAcls => {
            let r = dec!(CreateAclsResponse);
            c.extend(r.results.iter().map(|x| x.error_code));
        }
        ApiKey::DescribeAcls => c.push(dec!(DescribeAclsResponse).error_code),
        ApiKey::DeleteAcls => {
            let r = dec!(DeleteAclsResponse);
            for f in &r.filter_results {
                c.push(f.error_code);
                c.extend(f.matching_acls.iter().map(|m| m.error_code));
            }
        }
        ApiKey::DescribeUserScramCredentials => {
            let r = dec!(DescribeUserScramCredentialsResponse);
            c.push(r.error_code);
            c.extend(r.results.iter().map(|x| x.error_code));
        }
        ApiKey::AlterUserScramCredentials => {
            let r = dec!(AlterUserScramCredentialsResponse);
            c.extend(r.results.iter().map(|x| x.error_code));
        }
        other => return Err(format!("no response reader for {other:?}")),
    }
    if frame.has_remaining() {
        return Err(format!(
            "{api:?} v{version}: {} trailing bytes",
            frame.remaining()
        ));
    }
    Ok(out)
}
