//! The group coordinator: every group this node coordinates, their
//! committed offsets, and the persists they wait for.
//!
//! Driving it (raft-rs style, every call returns the actions to carry out):
//!
//! 1. `GroupCoordinator::new(config, incarnation)`, then `replay` every
//!    record of the offsets partition in log order, then `on_loaded(now)`.
//!    Until then requests get COORDINATOR_LOAD_IN_PROGRESS.
//! 2. `handle(now, request_id, request)` for each Kafka request.
//! 3. Carry out the actions in order: `Persist` appends its records as one
//!    batch to the offsets partition; report `on_persisted(now, id)` when
//!    everything up to `id` is durable (appends complete in order) or
//!    `on_persist_failed(now, id, error)`. `Respond` answers a request;
//!    responses that depend on durability (OffsetCommit, the SyncGroup that
//!    makes a generation Stable, DeleteGroups, OffsetDelete, a replaced
//!    static member's JoinGroup) come only after their persist.
//! 4. Call `on_tick(now)` when `poll_timeout()` passes.
//!
//! `now` is a [`Now`]: deadlines run on its monotonic clock (a wall-clock
//! jump neither expires a session nor starves one), commit and state
//! timestamps take its wall clock. Passing one `i64` runs both together.
//! 5. `resign()` when this node stops coordinating the partition.
//!
//! Topic existence and "offset ≤ high watermark" are the broker's checks:
//! it answers those partitions itself and passes only the rest in an
//! OffsetCommit (see [`OffsetCommitRequest`]).

use std::collections::BTreeMap;

use crate::core::group::action::{GroupAction, Outbox, PendingPersist};
use crate::core::group::classic_group::{Group, Step};
use crate::core::group::committed_offsets::CommittedOffset;
use crate::core::group::config::GroupConfig;
use crate::core::group::consumer_subscription::CONSUMER_PROTOCOL_TYPE;
use crate::core::group::error::GroupError;
use crate::core::group::record::GroupRecord;
use crate::core::group::requests::{
    GroupRequest, HeartbeatRequest, JoinGroupRequest, JoinProtocol, LeaveGroupRequest,
    OffsetCommitRequest, OffsetDeleteRequest, OffsetFetchRequest, SyncGroupRequest,
};
use crate::core::group::responses::{
    DeletedGroup, DescribedGroup, GroupResponse, HeartbeatResponse, JoinGroupResponse,
    LeaveGroupResponse, ListGroupsResponse, ListedGroup, OffsetCommitPartitionResponse,
    OffsetCommitResponse, OffsetCommitTopicResponse, OffsetDeletePartitionResponse,
    OffsetDeleteResponse, OffsetDeleteTopicResponse, OffsetFetchPartitionResponse,
    OffsetFetchResponse, OffsetFetchTopicResponse, SyncGroupResponse,
};
use crate::core::group::state::GroupState;
use crate::core::now::Now;

/// Longest client or instance id used as a member id prefix.
const MEMBER_ID_PREFIX_MAX_BYTES: usize = 64;

#[derive(Debug)]
pub struct GroupCoordinator {
    config: GroupConfig,
    /// Distinct per load of this coordinator (e.g. a boot counter or the
    /// leader epoch of the offsets partition): part of every generated
    /// member id, so ids handed out before a restart are never reused.
    incarnation: u64,
    loaded: bool,
    groups: BTreeMap<String, Group>,
    outbox: Outbox,
    member_id_counter: u64,
    group_incarnation_next: u64,
}

impl GroupCoordinator {
    /// A coordinator that is loading: `replay` the records, then `on_loaded`.
    pub fn new(config: GroupConfig, incarnation: u64) -> GroupCoordinator {
        config.assert_valid();
        GroupCoordinator {
            config,
            incarnation,
            loaded: false,
            groups: BTreeMap::new(),
            outbox: Outbox::default(),
            member_id_counter: 0,
            group_incarnation_next: 0,
        }
    }

    pub fn config(&self) -> &GroupConfig {
        &self.config
    }
    pub fn is_loaded(&self) -> bool {
        self.loaded
    }
    pub fn group(&self, group_id: &str) -> Option<&Group> {
        self.groups.get(group_id)
    }
    pub fn group_count(&self) -> usize {
        self.groups.len()
    }
    pub fn pending_persist_count(&self) -> usize {
        self.outbox.pending.len()
    }
    pub fn committed_offset(
        &self,
        group_id: &str,
        topic: &str,
        partition: i32,
    ) -> Option<&CommittedOffset> {
        self.groups.get(group_id)?.offsets.get(topic, partition)
    }

    fn take_actions(&mut self) -> Vec<GroupAction> {
        std::mem::take(&mut self.outbox.actions)
    }

    fn create_group(&mut self, group_id: &str, wall_ms: i64) -> &mut Group {
        assert!(
            !self.groups.contains_key(group_id),
            "a group is created once"
        );
        let incarnation = self.group_incarnation_next;
        self.group_incarnation_next += 1;
        self.groups
            .entry(group_id.to_string())
            .or_insert_with(|| Group::new(group_id.to_string(), incarnation, wall_ms))
    }

    fn has_room_for_group(&self) -> bool {
        self.groups.len() < self.config.group_count_max
    }

    fn validate_group_id(&self, group_id: &str) -> Result<(), GroupError> {
        if group_id.is_empty() || group_id.len() > self.config.group_id_length_max_bytes {
            return Err(GroupError::InvalidGroupId);
        }
        Ok(())
    }

    // ----- Loading ------------------------------------------------------

    /// Applies one record read back from the offsets partition (log order).
    pub fn replay(&mut self, record: &GroupRecord) {
        assert!(!self.loaded, "records are replayed before on_loaded");
        match record {
            GroupRecord::OffsetCommit {
                group_id,
                topic,
                partition,
                offset,
                leader_epoch,
                metadata,
                commit_timestamp_ms,
            } => {
                if !self.groups.contains_key(group_id) {
                    self.create_group(group_id, *commit_timestamp_ms);
                }
                let group = self.groups.get_mut(group_id).expect("created above");
                let committed = CommittedOffset {
                    offset: *offset,
                    leader_epoch: *leader_epoch,
                    metadata: metadata.clone(),
                    commit_timestamp_ms: *commit_timestamp_ms,
                };
                group.offsets.insert(topic.clone(), *partition, committed);
            }
            GroupRecord::OffsetTombstone {
                group_id,
                topic,
                partition,
            } => {
                if let Some(group) = self.groups.get_mut(group_id) {
                    group.offsets.remove(topic, *partition);
                }
            }
            GroupRecord::GroupMetadata(metadata) => {
                if !self.groups.contains_key(&metadata.group_id) {
                    self.create_group(&metadata.group_id, metadata.current_state_timestamp_ms);
                }
                let group = self
                    .groups
                    .get_mut(&metadata.group_id)
                    .expect("created above");
                group.apply_metadata_record(metadata);
            }
            GroupRecord::GroupTombstone { group_id } => {
                self.groups.remove(group_id);
            }
        }
    }

    /// Loading is over: members' session timers start now (a member that
    /// does not heartbeat within its session timeout is removed and its
    /// group rebalances), and requests are served.
    pub fn on_loaded(&mut self, now: impl Into<Now>) -> Vec<GroupAction> {
        let now = now.into();
        assert!(!self.loaded, "a coordinator loads once");
        self.loaded = true;
        let mut step = Step {
            now,
            config: &self.config,
            out: &mut self.outbox,
        };
        for group in self.groups.values_mut() {
            group.on_loaded(&mut step);
            group.assert_invariants();
        }
        self.take_actions()
    }

    /// This node stops coordinating: every waiting request and persist is
    /// answered with NOT_COORDINATOR and the state is dropped (a new
    /// coordinator loads it from the offsets partition).
    pub fn resign(&mut self) -> Vec<GroupAction> {
        let error = GroupError::NotCoordinator;
        for group in self.groups.values_mut() {
            group.unload(&mut self.outbox, error);
        }
        self.groups.clear();
        let pending = std::mem::take(&mut self.outbox.pending);
        for waiting in pending.into_values() {
            // The groups are gone: only requests waiting for a persist
            // (commits, deletes) are left to answer.
            self.fail_waiting(Now::from(0), waiting, error);
        }
        self.loaded = false;
        self.take_actions()
    }

    // ----- Requests -----------------------------------------------------

    /// Handles one request; its response comes as a `Respond` action now or
    /// after later calls.
    pub fn handle(
        &mut self,
        now: impl Into<Now>,
        request_id: u64,
        request: GroupRequest,
    ) -> Vec<GroupAction> {
        let now = now.into();
        if !self.loaded {
            let response = error_response(&request, GroupError::CoordinatorLoadInProgress);
            self.outbox.respond(request_id, response);
            return self.take_actions();
        }
        let may_persist = !matches!(
            request,
            GroupRequest::OffsetFetch(_)
                | GroupRequest::DescribeGroups { .. }
                | GroupRequest::ListGroups { .. }
        );
        if may_persist && self.outbox.pending.len() >= self.config.pending_persist_count_max {
            let response = error_response(&request, GroupError::CoordinatorNotAvailable);
            self.outbox.respond(request_id, response);
            return self.take_actions();
        }
        let touched: Vec<String> = match &request {
            GroupRequest::JoinGroup(r) => vec![r.group_id.clone()],
            GroupRequest::SyncGroup(r) => vec![r.group_id.clone()],
            GroupRequest::Heartbeat(r) => vec![r.group_id.clone()],
            GroupRequest::LeaveGroup(r) => vec![r.group_id.clone()],
            GroupRequest::OffsetCommit(r) => vec![r.group_id.clone()],
            _ => Vec::new(),
        };
        match request {
            GroupRequest::JoinGroup(req) => self.join_group(now, request_id, req),
            GroupRequest::SyncGroup(req) => self.sync_group(now, request_id, &req),
            GroupRequest::Heartbeat(req) => self.heartbeat(now, request_id, &req),
            GroupRequest::LeaveGroup(req) => self.leave_group(now, request_id, &req),
            GroupRequest::OffsetCommit(req) => self.offset_commit(now, request_id, &req),
            GroupRequest::OffsetFetch(req) => self.offset_fetch(request_id, &req),
            GroupRequest::OffsetDelete(req) => self.offset_delete(request_id, &req),
            GroupRequest::DescribeGroups { group_ids } => {
                self.describe_groups(request_id, &group_ids)
            }
            GroupRequest::ListGroups { states_filter } => {
                self.list_groups(request_id, &states_filter)
            }
            GroupRequest::DeleteGroups { group_ids } => self.delete_groups(request_id, &group_ids),
        }
        for group_id in touched {
            if let Some(group) = self.groups.get(&group_id) {
                group.assert_invariants();
            }
        }
        self.take_actions()
    }

    fn next_member_id(&mut self, group_id: &str, req: &JoinGroupRequest) -> String {
        let prefix = req.group_instance_id.as_deref().unwrap_or(&req.client_id);
        let mut end = prefix.len().min(MEMBER_ID_PREFIX_MAX_BYTES);
        while !prefix.is_char_boundary(end) {
            end -= 1;
        }
        let prefix = &prefix[..end];
        loop {
            self.member_id_counter += 1;
            let member_id = format!("{prefix}-{}-{}", self.incarnation, self.member_id_counter);
            if !self
                .groups
                .get(group_id)
                .is_some_and(|g| g.knows_member_id(&member_id))
            {
                return member_id;
            }
        }
    }

    fn join_group(&mut self, now: Now, request_id: u64, mut req: JoinGroupRequest) {
        let reject = |out: &mut Outbox, error: GroupError, member_id: &str| {
            out.respond(
                request_id,
                GroupResponse::JoinGroup(JoinGroupResponse::error(error, member_id)),
            );
        };
        if let Err(error) = self.validate_group_id(&req.group_id) {
            return reject(&mut self.outbox, error, &req.member_id);
        }
        if req.session_timeout_ms < self.config.session_timeout_min_ms
            || req.session_timeout_ms > self.config.session_timeout_max_ms
        {
            return reject(
                &mut self.outbox,
                GroupError::InvalidSessionTimeout,
                &req.member_id,
            );
        }
        // Protocol names are unique per member (the first one counts).
        let mut seen = std::collections::BTreeSet::new();
        req.protocols
            .retain(|p: &JoinProtocol| seen.insert(p.name.clone()));
        let metadata_bytes: usize = req
            .protocols
            .iter()
            .map(|p| p.name.len() + p.metadata.len())
            .sum();
        if req.protocols.len() > self.config.member_protocol_count_max
            || metadata_bytes > self.config.member_metadata_max_bytes
        {
            return reject(
                &mut self.outbox,
                GroupError::MessageTooLarge,
                &req.member_id,
            );
        }
        req.rebalance_timeout_ms = req.rebalance_timeout_ms.max(0);
        if !self.groups.contains_key(&req.group_id) {
            if !req.member_id.is_empty() {
                return reject(
                    &mut self.outbox,
                    GroupError::UnknownMemberId,
                    &req.member_id,
                );
            }
            if !self.has_room_for_group() {
                return reject(&mut self.outbox, GroupError::CoordinatorNotAvailable, "");
            }
            self.create_group(&req.group_id, now.wall_ms);
        }
        let new_member_id = if req.member_id.is_empty() {
            self.next_member_id(&req.group_id, &req)
        } else {
            String::new()
        };
        let group = self.groups.get_mut(&req.group_id).expect("looked up above");
        let mut step = Step {
            now,
            config: &self.config,
            out: &mut self.outbox,
        };
        group.join(&mut step, request_id, &req, &new_member_id);
    }

    fn sync_group(&mut self, now: Now, request_id: u64, req: &SyncGroupRequest) {
        let error = if let Err(error) = self.validate_group_id(&req.group_id) {
            Some(error)
        } else if self
            .groups
            .get(&req.group_id)
            .map(Group::state)
            .unwrap_or(GroupState::Empty)
            == GroupState::Empty
        {
            Some(GroupError::UnknownMemberId)
        } else if req
            .assignments
            .iter()
            .any(|(_, a)| a.len() > self.config.member_assignment_max_bytes)
        {
            Some(GroupError::MessageTooLarge)
        } else {
            None
        };
        if let Some(error) = error {
            self.outbox.respond(
                request_id,
                GroupResponse::SyncGroup(SyncGroupResponse::error(error)),
            );
            return;
        }
        let group = self.groups.get_mut(&req.group_id).expect("checked above");
        let mut step = Step {
            now,
            config: &self.config,
            out: &mut self.outbox,
        };
        group.sync(&mut step, request_id, req);
    }

    fn heartbeat(&mut self, now: Now, request_id: u64, req: &HeartbeatRequest) {
        let error = match self.validate_group_id(&req.group_id) {
            Err(error) => Some(error),
            Ok(()) => match self.groups.get_mut(&req.group_id) {
                None => Some(GroupError::UnknownMemberId),
                Some(group) => {
                    let mut step = Step {
                        now,
                        config: &self.config,
                        out: &mut self.outbox,
                    };
                    group.heartbeat(&mut step, req)
                }
            },
        };
        self.outbox.respond(
            request_id,
            GroupResponse::Heartbeat(HeartbeatResponse { error }),
        );
    }

    fn leave_group(&mut self, now: Now, request_id: u64, req: &LeaveGroupRequest) {
        let response = match self.validate_group_id(&req.group_id) {
            Err(error) => LeaveGroupResponse {
                error: Some(error),
                members: Vec::new(),
            },
            Ok(()) => match self.groups.get_mut(&req.group_id) {
                None => LeaveGroupResponse {
                    error: Some(GroupError::UnknownMemberId),
                    members: Vec::new(),
                },
                Some(group) => {
                    let mut step = Step {
                        now,
                        config: &self.config,
                        out: &mut self.outbox,
                    };
                    group.leave(&mut step, req)
                }
            },
        };
        self.outbox
            .respond(request_id, GroupResponse::LeaveGroup(response));
    }

    fn offset_commit(&mut self, now: Now, request_id: u64, req: &OffsetCommitRequest) {
        let partition_count: usize = req.topics.iter().map(|t| t.partitions.len()).sum();
        let request_error = if let Err(error) = self.validate_group_id(&req.group_id) {
            Some(error)
        } else if partition_count > self.config.offset_commit_partition_count_max {
            Some(GroupError::InvalidCommitOffsetSize)
        } else if !self.groups.contains_key(&req.group_id) {
            if req.generation_id >= 0 {
                Some(if req.group_id_not_found_supported {
                    GroupError::GroupIdNotFound
                } else {
                    GroupError::IllegalGeneration
                })
            } else if !self.has_room_for_group() {
                Some(GroupError::CoordinatorNotAvailable)
            } else {
                // A simple group: offsets stored outside group management.
                self.create_group(&req.group_id, now.wall_ms);
                None
            }
        } else {
            None
        };
        let request_error = request_error.or_else(|| {
            let group = &self.groups[&req.group_id];
            group
                .validate_offset_commit(
                    &req.member_id,
                    req.group_instance_id.as_deref(),
                    req.generation_id,
                )
                .err()
        });
        if let Some(error) = request_error {
            let response = OffsetCommitResponse {
                topics: req
                    .topics
                    .iter()
                    .map(|t| OffsetCommitTopicResponse {
                        name: t.name.clone(),
                        partitions: t
                            .partitions
                            .iter()
                            .map(|p| OffsetCommitPartitionResponse {
                                partition_index: p.partition_index,
                                error: Some(error),
                            })
                            .collect(),
                    })
                    .collect(),
            };
            self.outbox
                .respond(request_id, GroupResponse::OffsetCommit(response));
            return;
        }

        let group = self.groups.get_mut(&req.group_id).expect("validated above");
        let step = Step {
            now,
            config: &self.config,
            out: &mut self.outbox,
        };
        group.on_member_committed(&step, &req.member_id);
        let mut new_partition_count = 0usize;
        let mut records = Vec::new();
        let mut offsets = Vec::new();
        let mut topics = Vec::with_capacity(req.topics.len());
        for topic in &req.topics {
            let mut partitions = Vec::with_capacity(topic.partitions.len());
            for p in &topic.partitions {
                let metadata_bytes = p.committed_metadata.as_ref().map_or(0, String::len);
                let is_new = !group.offsets.contains(&topic.name, p.partition_index);
                let error = if metadata_bytes > self.config.offset_metadata_max_bytes {
                    Some(GroupError::OffsetMetadataTooLarge)
                } else if is_new
                    && group.offsets.len() + new_partition_count
                        >= self.config.committed_offset_count_max
                {
                    Some(GroupError::InvalidCommitOffsetSize)
                } else {
                    None
                };
                if error.is_none() {
                    new_partition_count += usize::from(is_new);
                    let committed = CommittedOffset {
                        offset: p.committed_offset,
                        leader_epoch: p.committed_leader_epoch,
                        metadata: p.committed_metadata.clone(),
                        commit_timestamp_ms: now.wall_ms,
                    };
                    records.push(GroupRecord::OffsetCommit {
                        group_id: req.group_id.clone(),
                        topic: topic.name.clone(),
                        partition: p.partition_index,
                        offset: committed.offset,
                        leader_epoch: committed.leader_epoch,
                        metadata: committed.metadata.clone(),
                        commit_timestamp_ms: now.wall_ms,
                    });
                    offsets.push((topic.name.clone(), p.partition_index, committed));
                }
                partitions.push(OffsetCommitPartitionResponse {
                    partition_index: p.partition_index,
                    error,
                });
            }
            topics.push(OffsetCommitTopicResponse {
                name: topic.name.clone(),
                partitions,
            });
        }
        let response = OffsetCommitResponse { topics };
        if records.is_empty() {
            self.outbox
                .respond(request_id, GroupResponse::OffsetCommit(response));
            return;
        }
        let waiting = PendingPersist::OffsetCommit {
            group_id: req.group_id.clone(),
            group_incarnation: group.incarnation(),
            request_id,
            response,
            offsets,
        };
        self.outbox.persist(records, waiting);
    }

    fn offset_fetch(&mut self, request_id: u64, req: &OffsetFetchRequest) {
        if let Err(error) = self.validate_group_id(&req.group_id) {
            let response = OffsetFetchResponse {
                error: Some(error),
                topics: Vec::new(),
            };
            self.outbox
                .respond(request_id, GroupResponse::OffsetFetch(response));
            return;
        }
        let group = self.groups.get(&req.group_id);
        let partition = |topic: &str, partition_index: i32| {
            let committed = group.and_then(|g| g.offsets.get(topic, partition_index));
            OffsetFetchPartitionResponse {
                partition_index,
                committed_offset: committed.map_or(-1, |c| c.offset),
                committed_leader_epoch: committed.map_or(-1, |c| c.leader_epoch),
                metadata: committed.and_then(|c| c.metadata.clone()),
                error: None,
            }
        };
        let topics = match &req.topics {
            Some(topics) => topics
                .iter()
                .map(|t| OffsetFetchTopicResponse {
                    name: t.name.clone(),
                    partitions: t
                        .partition_indexes
                        .iter()
                        .map(|p| partition(&t.name, *p))
                        .collect(),
                })
                .collect(),
            None => {
                let mut by_topic: BTreeMap<&str, Vec<OffsetFetchPartitionResponse>> =
                    BTreeMap::new();
                for (topic, partition_index, _) in group.iter().flat_map(|g| g.offsets.iter()) {
                    by_topic
                        .entry(topic)
                        .or_default()
                        .push(partition(topic, partition_index));
                }
                by_topic
                    .into_iter()
                    .map(|(name, partitions)| OffsetFetchTopicResponse {
                        name: name.to_string(),
                        partitions,
                    })
                    .collect()
            }
        };
        let response = OffsetFetchResponse {
            error: None,
            topics,
        };
        self.outbox
            .respond(request_id, GroupResponse::OffsetFetch(response));
    }

    /// Kafka's `handleDeleteOffsets`: an Empty group loses the offsets of
    /// the given partitions; an active consumer group only those of topics
    /// no member subscribes to (GROUP_SUBSCRIBED_TO_TOPIC for the others);
    /// an active group of another protocol none (NON_EMPTY_GROUP). A
    /// tombstone is written for every deletable partition (harmless where
    /// nothing is committed, and it also cancels a commit still being
    /// persisted); the offsets leave the group, and the answer goes out,
    /// once the tombstones are durable.
    fn offset_delete(&mut self, request_id: u64, req: &OffsetDeleteRequest) {
        let group_error = |error| OffsetDeleteResponse {
            error: Some(error),
            topics: Vec::new(),
        };
        let group = match (
            self.validate_group_id(&req.group_id),
            self.groups.get(&req.group_id),
        ) {
            (Err(error), _) => Err(error),
            (Ok(()), None) => Err(GroupError::GroupIdNotFound),
            (Ok(()), Some(group)) => match group.state() {
                GroupState::Empty => Ok(group),
                GroupState::Dead => Err(GroupError::GroupIdNotFound),
                _ if group.protocol_type() == Some(CONSUMER_PROTOCOL_TYPE) => Ok(group),
                _ => Err(GroupError::NonEmptyGroup),
            },
        };
        let group = match group {
            Ok(group) => group,
            Err(error) => {
                let response = GroupResponse::OffsetDelete(group_error(error));
                return self.outbox.respond(request_id, response);
            }
        };
        let active = group.state() != GroupState::Empty;
        let mut seen = std::collections::BTreeSet::new();
        let mut deleted = Vec::new();
        let mut topics: Vec<OffsetDeleteTopicResponse> = Vec::new();
        for topic in &req.topics {
            let subscribed = active && group.is_subscribed_to_topic(&topic.name);
            let mut partitions = Vec::new();
            for &partition_index in &topic.partition_indexes {
                if !seen.insert((topic.name.clone(), partition_index)) {
                    continue;
                }
                let error = if subscribed {
                    Some(GroupError::GroupSubscribedToTopic)
                } else {
                    deleted.push((topic.name.clone(), partition_index));
                    None
                };
                partitions.push(OffsetDeletePartitionResponse {
                    partition_index,
                    error,
                });
            }
            match topics.iter_mut().find(|t| t.name == topic.name) {
                Some(existing) => existing.partitions.extend(partitions),
                None => topics.push(OffsetDeleteTopicResponse {
                    name: topic.name.clone(),
                    partitions,
                }),
            }
        }
        let response = OffsetDeleteResponse {
            error: None,
            topics,
        };
        if deleted.is_empty() {
            return self
                .outbox
                .respond(request_id, GroupResponse::OffsetDelete(response));
        }
        let records = deleted
            .iter()
            .map(|(topic, partition)| GroupRecord::OffsetTombstone {
                group_id: req.group_id.clone(),
                topic: topic.clone(),
                partition: *partition,
            })
            .collect();
        let waiting = PendingPersist::OffsetsDeleted {
            group_id: req.group_id.clone(),
            group_incarnation: group.incarnation(),
            request_id,
            response,
            partitions: deleted,
        };
        self.outbox.persist(records, waiting);
    }

    fn describe_groups(&mut self, request_id: u64, group_ids: &[String]) {
        let described = group_ids
            .iter()
            .map(
                |group_id| match (self.validate_group_id(group_id), self.groups.get(group_id)) {
                    (Ok(()), Some(group)) => group.describe(),
                    (result, _) => DescribedGroup {
                        error: result.err(),
                        group_id: group_id.clone(),
                        state: GroupState::Dead,
                        protocol_type: String::new(),
                        protocol_data: String::new(),
                        members: Vec::new(),
                    },
                },
            )
            .collect();
        self.outbox
            .respond(request_id, GroupResponse::DescribeGroups(described));
    }

    fn list_groups(&mut self, request_id: u64, states_filter: &[GroupState]) {
        let groups = self
            .groups
            .values()
            .filter(|g| states_filter.is_empty() || states_filter.contains(&g.state()))
            .map(|g| ListedGroup {
                group_id: g.group_id().to_string(),
                protocol_type: g.protocol_type().unwrap_or_default().to_string(),
                state: g.state(),
            })
            .collect();
        let response = ListGroupsResponse {
            error: None,
            groups,
        };
        self.outbox
            .respond(request_id, GroupResponse::ListGroups(response));
    }

    /// Only Empty groups can be deleted; their offsets go with them.
    fn delete_groups(&mut self, request_id: u64, group_ids: &[String]) {
        let mut records = Vec::new();
        let mut results = Vec::with_capacity(group_ids.len());
        for group_id in group_ids {
            let error = match (self.validate_group_id(group_id), self.groups.get(group_id)) {
                (Err(error), _) => Some(error),
                (Ok(()), None) => Some(GroupError::GroupIdNotFound),
                (Ok(()), Some(group)) if group.state() != GroupState::Empty => {
                    Some(GroupError::NonEmptyGroup)
                }
                (Ok(()), Some(_)) => {
                    let mut group = self.groups.remove(group_id).expect("looked up above");
                    for (topic, partition, _) in group.offsets.iter() {
                        records.push(GroupRecord::OffsetTombstone {
                            group_id: group_id.clone(),
                            topic: topic.to_string(),
                            partition,
                        });
                    }
                    records.push(GroupRecord::GroupTombstone {
                        group_id: group_id.clone(),
                    });
                    group.unload(&mut self.outbox, GroupError::GroupIdNotFound);
                    None
                }
            };
            results.push(DeletedGroup {
                group_id: group_id.clone(),
                error,
            });
        }
        if records.is_empty() {
            self.outbox
                .respond(request_id, GroupResponse::DeleteGroups(results));
        } else {
            self.outbox.persist(
                records,
                PendingPersist::GroupsDeleted {
                    request_id,
                    results,
                },
            );
        }
    }

    // ----- Persist completions ------------------------------------------

    /// Every persist up to and including `persist_id` is durable.
    pub fn on_persisted(&mut self, now: impl Into<Now>, persist_id: u64) -> Vec<GroupAction> {
        let now = now.into();
        assert!(
            persist_id < self.outbox.persist_id_next,
            "persist {persist_id} was never handed out"
        );
        let later = self.outbox.pending.split_off(&(persist_id + 1));
        let done = std::mem::replace(&mut self.outbox.pending, later);
        for waiting in done.into_values() {
            self.complete_waiting(now, waiting);
        }
        self.take_actions()
    }

    /// Persist `persist_id` failed; `error` (NOT_COORDINATOR,
    /// COORDINATOR_NOT_AVAILABLE, …) goes to the requests that waited for it.
    pub fn on_persist_failed(
        &mut self,
        now: impl Into<Now>,
        persist_id: u64,
        error: GroupError,
    ) -> Vec<GroupAction> {
        let now = now.into();
        assert!(
            persist_id < self.outbox.persist_id_next,
            "persist {persist_id} was never handed out"
        );
        if let Some(waiting) = self.outbox.pending.remove(&persist_id) {
            self.fail_waiting(now, waiting, error);
        }
        self.take_actions()
    }

    fn live_group(&mut self, group_id: &str, incarnation: u64) -> Option<&mut Group> {
        self.groups
            .get_mut(group_id)
            .filter(|g| g.incarnation() == incarnation)
    }

    fn complete_waiting(&mut self, now: Now, waiting: PendingPersist) {
        match waiting {
            PendingPersist::GroupMetadata => {}
            PendingPersist::SyncAssignment {
                group_id,
                group_incarnation,
                generation_id,
                assignment,
            } => {
                let config = &self.config;
                if let Some(group) = self
                    .groups
                    .get_mut(&group_id)
                    .filter(|g| g.incarnation() == group_incarnation)
                {
                    let mut step = Step {
                        now,
                        config,
                        out: &mut self.outbox,
                    };
                    group.on_sync_persisted(&mut step, generation_id, &assignment);
                    group.assert_invariants();
                }
            }
            PendingPersist::StaticMemberJoin {
                group_id,
                group_incarnation,
                member_id,
                request_id,
                supports_skip_assignment,
                leader_before,
            } => {
                let config = &self.config;
                if let Some(group) = self
                    .groups
                    .get_mut(&group_id)
                    .filter(|g| g.incarnation() == group_incarnation)
                {
                    let mut step = Step {
                        now,
                        config,
                        out: &mut self.outbox,
                    };
                    group.on_static_join_persisted(
                        &mut step,
                        &member_id,
                        request_id,
                        supports_skip_assignment,
                        leader_before,
                    );
                    group.assert_invariants();
                }
            }
            PendingPersist::OffsetCommit {
                group_id,
                group_incarnation,
                request_id,
                response,
                offsets,
            } => {
                // A group deleted meanwhile wrote its tombstones after these
                // records: the offsets are gone, as after a replay.
                if let Some(group) = self.live_group(&group_id, group_incarnation) {
                    for (topic, partition, committed) in offsets {
                        group.offsets.insert(topic, partition, committed);
                    }
                }
                self.outbox
                    .respond(request_id, GroupResponse::OffsetCommit(response));
            }
            PendingPersist::OffsetsDeleted {
                group_id,
                group_incarnation,
                request_id,
                response,
                partitions,
            } => {
                if let Some(group) = self.live_group(&group_id, group_incarnation) {
                    for (topic, partition) in partitions {
                        group.offsets.remove(&topic, partition);
                    }
                }
                self.outbox
                    .respond(request_id, GroupResponse::OffsetDelete(response));
            }
            PendingPersist::GroupsDeleted {
                request_id,
                results,
            } => {
                self.outbox
                    .respond(request_id, GroupResponse::DeleteGroups(results));
            }
        }
    }

    fn fail_waiting(&mut self, now: Now, waiting: PendingPersist, error: GroupError) {
        match waiting {
            PendingPersist::GroupMetadata => {}
            PendingPersist::SyncAssignment {
                group_id,
                group_incarnation,
                generation_id,
                ..
            } => {
                let config = &self.config;
                if let Some(group) = self
                    .groups
                    .get_mut(&group_id)
                    .filter(|g| g.incarnation() == group_incarnation)
                {
                    let mut step = Step {
                        now,
                        config,
                        out: &mut self.outbox,
                    };
                    group.on_sync_persist_failed(&mut step, generation_id, error);
                    group.assert_invariants();
                }
            }
            PendingPersist::StaticMemberJoin {
                group_id,
                group_incarnation,
                member_id,
                request_id,
                ..
            } => {
                let config = &self.config;
                if let Some(group) = self
                    .groups
                    .get_mut(&group_id)
                    .filter(|g| g.incarnation() == group_incarnation)
                {
                    let mut step = Step {
                        now,
                        config,
                        out: &mut self.outbox,
                    };
                    group.on_static_join_persist_failed(&mut step, &member_id, request_id, error);
                    group.assert_invariants();
                }
            }
            PendingPersist::OffsetCommit {
                request_id,
                mut response,
                ..
            } => {
                for partition in response
                    .topics
                    .iter_mut()
                    .flat_map(|t| t.partitions.iter_mut())
                {
                    partition.error = partition.error.or(Some(error));
                }
                self.outbox
                    .respond(request_id, GroupResponse::OffsetCommit(response));
            }
            PendingPersist::OffsetsDeleted {
                request_id,
                mut response,
                ..
            } => {
                for partition in response
                    .topics
                    .iter_mut()
                    .flat_map(|t| t.partitions.iter_mut())
                {
                    partition.error = partition.error.or(Some(error));
                }
                self.outbox
                    .respond(request_id, GroupResponse::OffsetDelete(response));
            }
            PendingPersist::GroupsDeleted {
                request_id,
                mut results,
            } => {
                for result in &mut results {
                    result.error = result.error.or(Some(error));
                }
                self.outbox
                    .respond(request_id, GroupResponse::DeleteGroups(results));
            }
        }
    }

    // ----- Timers -------------------------------------------------------

    /// The earliest deadline (session, join phase, sync phase, initial
    /// delay) of any group; call `on_tick` once the clock reaches it.
    pub fn poll_timeout(&self) -> Option<i64> {
        self.groups
            .values()
            .filter_map(Group::next_deadline_ms)
            .min()
    }

    /// Fires every timer due at `now.monotonic_ms`.
    pub fn on_tick(&mut self, now: impl Into<Now>) -> Vec<GroupAction> {
        let now = now.into();
        if !self.loaded {
            return Vec::new();
        }
        let mut step = Step {
            now,
            config: &self.config,
            out: &mut self.outbox,
        };
        for group in self.groups.values_mut() {
            if group
                .next_deadline_ms()
                .is_some_and(|d| d <= now.monotonic_ms)
            {
                group.on_tick(&mut step);
                group.assert_invariants();
            }
        }
        assert!(
            !matches!(self.poll_timeout(), Some(d) if d <= now.monotonic_ms),
            "every due timer fired"
        );
        self.take_actions()
    }
}

/// The response to `request` when it is refused as a whole.
fn error_response(request: &GroupRequest, error: GroupError) -> GroupResponse {
    match request {
        GroupRequest::JoinGroup(r) => {
            GroupResponse::JoinGroup(JoinGroupResponse::error(error, &r.member_id))
        }
        GroupRequest::SyncGroup(_) => GroupResponse::SyncGroup(SyncGroupResponse::error(error)),
        GroupRequest::Heartbeat(_) => {
            GroupResponse::Heartbeat(HeartbeatResponse { error: Some(error) })
        }
        GroupRequest::LeaveGroup(_) => GroupResponse::LeaveGroup(LeaveGroupResponse {
            error: Some(error),
            members: Vec::new(),
        }),
        GroupRequest::OffsetCommit(r) => GroupResponse::OffsetCommit(OffsetCommitResponse {
            topics: r
                .topics
                .iter()
                .map(|t| OffsetCommitTopicResponse {
                    name: t.name.clone(),
                    partitions: t
                        .partitions
                        .iter()
                        .map(|p| OffsetCommitPartitionResponse {
                            partition_index: p.partition_index,
                            error: Some(error),
                        })
                        .collect(),
                })
                .collect(),
        }),
        GroupRequest::OffsetFetch(_) => GroupResponse::OffsetFetch(OffsetFetchResponse {
            error: Some(error),
            topics: Vec::new(),
        }),
        GroupRequest::OffsetDelete(_) => GroupResponse::OffsetDelete(OffsetDeleteResponse {
            error: Some(error),
            topics: Vec::new(),
        }),
        GroupRequest::DescribeGroups { group_ids } => GroupResponse::DescribeGroups(
            group_ids
                .iter()
                .map(|group_id| DescribedGroup {
                    error: Some(error),
                    group_id: group_id.clone(),
                    state: GroupState::Dead,
                    protocol_type: String::new(),
                    protocol_data: String::new(),
                    members: Vec::new(),
                })
                .collect(),
        ),
        GroupRequest::ListGroups { .. } => GroupResponse::ListGroups(ListGroupsResponse {
            error: Some(error),
            groups: Vec::new(),
        }),
        GroupRequest::DeleteGroups { group_ids } => GroupResponse::DeleteGroups(
            group_ids
                .iter()
                .map(|g| DeletedGroup {
                    group_id: g.clone(),
                    error: Some(error),
                })
                .collect(),
        ),
    }
}
