//! Consumer-group calls (classic protocol): FindCoordinator, JoinGroup,
//! SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch, each at a
//! version the caller picks (the workload draws them from the seed, over the
//! ranges the broker serves), filling only the fields that version has.
//!
//! The broker does not parse assignments, so the workload uses protocol
//! type "consumer" with its own assignment encoding: the assigned partitions
//! as decimal numbers joined by commas ([`encode_assignment`]).

use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    FindCoordinatorRequest, GroupId, HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest,
    OffsetCommitRequest, OffsetFetchRequest, SyncGroupRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rand::Rng;

use super::{ClientError, Connection};

pub const PROTOCOL_TYPE: &str = "consumer";
pub const PROTOCOL_NAME: &str = "range";

/// The version of each group API one client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupVersions {
    pub find_coordinator: i16,
    pub join_group: i16,
    pub sync_group: i16,
    pub heartbeat: i16,
    pub leave_group: i16,
    pub offset_commit: i16,
    pub offset_fetch: i16,
}

impl GroupVersions {
    /// Every API at a version drawn from the range the broker serves
    /// (FindCoordinator 0–5, JoinGroup 0–9, SyncGroup 0–5, Heartbeat 0–4,
    /// LeaveGroup 0–5, OffsetCommit 2–9, OffsetFetch 1–9).
    pub fn draw(rng: &mut impl Rng) -> Self {
        GroupVersions {
            find_coordinator: rng.gen_range(0..=5),
            join_group: rng.gen_range(0..=9),
            sync_group: rng.gen_range(0..=5),
            heartbeat: rng.gen_range(0..=4),
            leave_group: rng.gen_range(0..=5),
            offset_commit: rng.gen_range(2..=9),
            offset_fetch: rng.gen_range(1..=9),
        }
    }
}

fn s(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_string())
}

fn check(code: i16) -> Result<(), ClientError> {
    if code == 0 {
        Ok(())
    } else {
        Err(ClientError::kafka(code))
    }
}

/// The assignment bytes for `partitions` ("0,2").
pub fn encode_assignment(partitions: &[i32]) -> Bytes {
    let text = partitions
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(",");
    Bytes::from(text.into_bytes())
}

/// Parses [`encode_assignment`]'s bytes; `None` if they are not that.
pub fn decode_assignment(bytes: &[u8]) -> Option<Vec<i32>> {
    let text = std::str::from_utf8(bytes).ok()?;
    if text.is_empty() {
        return Some(Vec::new());
    }
    text.split(',').map(|p| p.parse().ok()).collect()
}

/// Range assignment: sorted members each get a contiguous run of partitions,
/// the first `partitions % members` one extra.
pub fn range_assignment(members: &[String], partitions: i32) -> Vec<(String, Vec<i32>)> {
    let mut sorted = members.to_vec();
    sorted.sort();
    sorted.dedup();
    let count = sorted.len().max(1) as i32;
    let (base, extra) = (partitions / count, partitions % count);
    let mut next = 0;
    sorted
        .into_iter()
        .enumerate()
        .map(|(index, member)| {
            let take = base + i32::from((index as i32) < extra);
            let owned = (next..next + take).collect();
            next += take;
            (member, owned)
        })
        .collect()
}

/// FindCoordinator for `group`; returns the coordinator's node id.
pub async fn find_coordinator(
    connection: &mut Connection,
    version: i16,
    group: &str,
) -> Result<i32, ClientError> {
    let mut request = FindCoordinatorRequest::default();
    if version >= 4 {
        request = request.with_coordinator_keys(vec![s(group)]);
    } else {
        request = request.with_key(s(group));
    }
    let response = connection.call(&request, version).await?;
    if version >= 4 {
        let coordinator = response
            .coordinators
            .first()
            .ok_or_else(|| ClientError::Protocol("FindCoordinator answered no key".into()))?;
        check(coordinator.error_code)?;
        Ok(coordinator.node_id.0)
    } else {
        check(response.error_code)?;
        Ok(response.node_id.0)
    }
}

/// What JoinGroup answered.
#[derive(Debug, Clone)]
pub struct Joined {
    pub generation: i32,
    pub member_id: String,
    pub leader: String,
    /// Every member's id (only the leader gets them).
    pub members: Vec<String>,
}

/// JoinGroup. On MEMBER_ID_REQUIRED the error is returned with the member id
/// the broker assigned (`Err((error, Some(id)))`), to rejoin with.
pub async fn join_group(
    connection: &mut Connection,
    version: i16,
    group: &str,
    member_id: &str,
    session_timeout_ms: i32,
    rebalance_timeout_ms: i32,
) -> Result<Joined, (ClientError, Option<String>)> {
    let mut request = JoinGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_session_timeout_ms(session_timeout_ms)
        .with_member_id(s(member_id))
        .with_protocol_type(s(PROTOCOL_TYPE))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(s(PROTOCOL_NAME))
            .with_metadata(Bytes::from_static(b"t"))]);
    if version >= 1 {
        request = request.with_rebalance_timeout_ms(rebalance_timeout_ms);
    }
    let response = connection
        .call(&request, version)
        .await
        .map_err(|e| (e, None))?;
    if response.error_code != 0 {
        let id = response.member_id.to_string();
        return Err((
            ClientError::kafka(response.error_code),
            (!id.is_empty()).then_some(id),
        ));
    }
    Ok(Joined {
        generation: response.generation_id,
        member_id: response.member_id.to_string(),
        leader: response.leader.to_string(),
        members: response
            .members
            .iter()
            .map(|m| m.member_id.to_string())
            .collect(),
    })
}

/// SyncGroup; the leader passes every member's assignment. Returns this
/// member's partitions.
pub async fn sync_group(
    connection: &mut Connection,
    version: i16,
    group: &str,
    generation: i32,
    member_id: &str,
    assignments: &[(String, Vec<i32>)],
) -> Result<Vec<i32>, ClientError> {
    let mut request = SyncGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id(generation)
        .with_member_id(s(member_id))
        .with_assignments(
            assignments
                .iter()
                .map(|(member, partitions)| {
                    SyncGroupRequestAssignment::default()
                        .with_member_id(s(member))
                        .with_assignment(encode_assignment(partitions))
                })
                .collect(),
        );
    if version >= 5 {
        request = request
            .with_protocol_type(Some(s(PROTOCOL_TYPE)))
            .with_protocol_name(Some(s(PROTOCOL_NAME)));
    }
    let response = connection.call(&request, version).await?;
    check(response.error_code)?;
    decode_assignment(&response.assignment).ok_or_else(|| {
        ClientError::Protocol(format!("assignment {:?} is not ours", response.assignment))
    })
}

pub async fn heartbeat(
    connection: &mut Connection,
    version: i16,
    group: &str,
    generation: i32,
    member_id: &str,
) -> Result<(), ClientError> {
    let request = HeartbeatRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id(generation)
        .with_member_id(s(member_id));
    let response = connection.call(&request, version).await?;
    check(response.error_code)
}

pub async fn leave_group(
    connection: &mut Connection,
    version: i16,
    group: &str,
    member_id: &str,
) -> Result<(), ClientError> {
    let mut request = LeaveGroupRequest::default().with_group_id(GroupId(s(group)));
    if version >= 3 {
        request =
            request.with_members(vec![MemberIdentity::default().with_member_id(s(member_id))]);
    } else {
        request = request.with_member_id(s(member_id));
    }
    let response = connection.call(&request, version).await?;
    check(response.error_code)?;
    for member in &response.members {
        check(member.error_code)?;
    }
    Ok(())
}

/// OffsetCommit of `offsets` (partition, offset) on `topic`; returns each
/// partition's result, in request order.
pub async fn offset_commit(
    connection: &mut Connection,
    version: i16,
    group: &str,
    generation: i32,
    member_id: &str,
    topic: &str,
    offsets: &[(i32, i64)],
) -> Result<Vec<(i32, Result<(), ClientError>)>, ClientError> {
    let request = OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(s(member_id))
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(TopicName(s(topic)))
            .with_partitions(
                offsets
                    .iter()
                    .map(|(partition, offset)| {
                        OffsetCommitRequestPartition::default()
                            .with_partition_index(*partition)
                            .with_committed_offset(*offset)
                    })
                    .collect(),
            )]);
    let response = connection.call(&request, version).await?;
    let answered: Vec<(i32, i16)> = response
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter())
        .map(|p| (p.partition_index, p.error_code))
        .collect();
    offsets
        .iter()
        .map(|(partition, _)| {
            let code = answered
                .iter()
                .find(|(p, _)| p == partition)
                .map(|(_, code)| *code)
                .ok_or_else(|| {
                    ClientError::Protocol(format!("OffsetCommit did not answer {partition}"))
                })?;
            Ok((*partition, check(code)))
        })
        .collect()
}

/// OffsetFetch of `partitions` of `topic`; returns (partition, committed
/// offset or -1 when none).
pub async fn offset_fetch(
    connection: &mut Connection,
    version: i16,
    group: &str,
    topic: &str,
    partitions: &[i32],
) -> Result<Vec<(i32, i64)>, ClientError> {
    let request = if version >= 8 {
        OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(s(group)))
            .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                .with_name(TopicName(s(topic)))
                .with_partition_indexes(partitions.to_vec())]))])
    } else {
        OffsetFetchRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                .with_name(TopicName(s(topic)))
                .with_partition_indexes(partitions.to_vec())]))
    };
    let response = connection.call(&request, version).await?;
    let mut found: Vec<(i32, i64, i16)> = Vec::new();
    if version >= 8 {
        let group = response
            .groups
            .first()
            .ok_or_else(|| ClientError::Protocol("OffsetFetch answered no group".into()))?;
        check(group.error_code)?;
        for topic in &group.topics {
            for p in &topic.partitions {
                found.push((p.partition_index, p.committed_offset, p.error_code));
            }
        }
    } else {
        if version >= 2 {
            check(response.error_code)?;
        }
        for topic in &response.topics {
            for p in &topic.partitions {
                found.push((p.partition_index, p.committed_offset, p.error_code));
            }
        }
    }
    partitions
        .iter()
        .map(|partition| {
            let (_, offset, code) =
                found
                    .iter()
                    .find(|(p, _, _)| p == partition)
                    .ok_or_else(|| {
                        ClientError::Protocol(format!("OffsetFetch did not answer {partition}"))
                    })?;
            check(*code)?;
            Ok((*partition, *offset))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_assignment_splits_every_partition_once() {
        let members = vec!["b".to_string(), "a".to_string(), "c".to_string()];
        let got = range_assignment(&members, 4);
        assert_eq!(
            got,
            vec![
                ("a".to_string(), vec![0, 1]),
                ("b".to_string(), vec![2]),
                ("c".to_string(), vec![3]),
            ]
        );
        assert_eq!(
            decode_assignment(&encode_assignment(&[0, 2])),
            Some(vec![0, 2])
        );
        assert_eq!(decode_assignment(b""), Some(vec![]));
    }
}
