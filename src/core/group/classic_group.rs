//! One classic group's state machine: Kafka's ClassicGroup together with
//! the per-group parts of GroupMetadataManager (join, sync, heartbeat,
//! leave, session expiry, the join and sync phase timers).
//!
//! Every method takes a [`Step`]: the current time, the config and the
//! outbox that collects responses and persists. Timers are deadlines kept
//! here and fired by [`Group::on_tick`]; every deadline is set strictly
//! after the monotonic `now` that set it (a wall-clock jump moves none).

use std::collections::{BTreeMap, BTreeSet};

use crate::core::group::action::{Outbox, PendingPersist};
use crate::core::group::committed_offsets::CommittedOffsets;
use crate::core::group::config::GroupConfig;
use crate::core::group::consumer_subscription::{subscribed_topics, CONSUMER_PROTOCOL_TYPE};
use crate::core::group::error::GroupError;
use crate::core::group::member::Member;
use crate::core::group::record::{GroupMetadataRecord, GroupRecord, MemberRecord};
use crate::core::group::requests::{
    HeartbeatRequest, JoinGroupRequest, JoinProtocol, LeaveGroupRequest, SyncGroupRequest,
};
use crate::core::group::responses::{
    DescribedGroup, DescribedMember, GroupResponse, JoinGroupResponse, JoinedMember,
    LeaveGroupResponse, LeftMember, SyncGroupResponse,
};
use crate::core::group::state::GroupState;
use crate::core::now::Now;

/// One step's context: time, limits, and where effects go.
pub(crate) struct Step<'a> {
    /// Deadlines are monotonic; the wall clock only stamps what is stored.
    pub now: Now,
    pub config: &'a GroupConfig,
    pub out: &'a mut Outbox,
}

impl Step<'_> {
    /// A deadline `timeout_ms` from now, never at or before now.
    fn deadline_ms(&self, timeout_ms: i64) -> i64 {
        self.now.monotonic_ms + timeout_ms.max(1)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JoinTimer {
    /// The first rebalance of an Empty group waits for more members.
    InitialDelay {
        deadline_ms: i64,
        delay_ms: i64,
        remaining_ms: i64,
    },
    /// The join phase ends at the latest at the rebalance timeout.
    RebalanceTimeout { deadline_ms: i64 },
}

impl JoinTimer {
    fn deadline_ms(self) -> i64 {
        match self {
            JoinTimer::InitialDelay { deadline_ms, .. }
            | JoinTimer::RebalanceTimeout { deadline_ms } => deadline_ms,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SyncTimer {
    deadline_ms: i64,
    generation_id: i32,
}

/// The timer that fires next, for `on_tick`. Timers due at the same
/// moment fire in this order: join phase, sync phase, then members by id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Due {
    Join,
    Sync,
    PendingMember(String),
    Member(String),
}

#[derive(Debug, Clone)]
pub struct Group {
    group_id: String,
    /// Distinguishes a group from an earlier one with the same id (deleted
    /// and created again) so that late persists do not cross over.
    incarnation: u64,
    state: GroupState,
    previous_state: GroupState,
    state_timestamp_ms: i64,
    generation_id: i32,
    protocol_type: Option<String>,
    protocol_name: Option<String>,
    leader_id: Option<String>,
    members: BTreeMap<String, Member>,
    /// group.instance.id → member id.
    static_members: BTreeMap<String, String>,
    /// Dynamic members told MEMBER_ID_REQUIRED, with their deadline to rejoin.
    pending_join_members: BTreeMap<String, i64>,
    /// Members of the current generation that have not sent SyncGroup yet.
    pending_sync_members: BTreeSet<String>,
    new_member_added: bool,
    join_timer: Option<JoinTimer>,
    sync_timer: Option<SyncTimer>,
    pub(crate) offsets: CommittedOffsets,
}

impl Group {
    pub(crate) fn new(group_id: String, incarnation: u64, wall_ms: i64) -> Group {
        Group {
            group_id,
            incarnation,
            state: GroupState::Empty,
            previous_state: GroupState::Empty,
            state_timestamp_ms: wall_ms,
            generation_id: 0,
            protocol_type: None,
            protocol_name: None,
            leader_id: None,
            members: BTreeMap::new(),
            static_members: BTreeMap::new(),
            pending_join_members: BTreeMap::new(),
            pending_sync_members: BTreeSet::new(),
            new_member_added: false,
            join_timer: None,
            sync_timer: None,
            offsets: CommittedOffsets::default(),
        }
    }

    pub fn group_id(&self) -> &str {
        &self.group_id
    }
    pub(crate) fn incarnation(&self) -> u64 {
        self.incarnation
    }
    pub fn state(&self) -> GroupState {
        self.state
    }
    pub fn generation_id(&self) -> i32 {
        self.generation_id
    }
    pub fn protocol_type(&self) -> Option<&str> {
        self.protocol_type.as_deref()
    }
    pub fn protocol_name(&self) -> Option<&str> {
        self.protocol_name.as_deref()
    }
    pub fn leader_id(&self) -> Option<&str> {
        self.leader_id.as_deref()
    }
    pub fn member(&self, member_id: &str) -> Option<&Member> {
        self.members.get(member_id)
    }
    pub fn member_ids(&self) -> impl Iterator<Item = &str> {
        self.members.keys().map(String::as_str)
    }
    pub fn member_count(&self) -> usize {
        self.members.len()
    }
    pub fn offsets(&self) -> &CommittedOffsets {
        &self.offsets
    }
    /// Kafka's `isSubscribedToTopic` for OffsetDelete: whether a member of
    /// this consumer group subscribes to `topic`. A consumer group whose
    /// subscriptions cannot be read (no selected protocol yet, or bytes that
    /// are not a subscription) counts as subscribed, as in Kafka; a group
    /// of another protocol type never is.
    pub(crate) fn is_subscribed_to_topic(&self, topic: &str) -> bool {
        if self.protocol_type.as_deref() != Some(CONSUMER_PROTOCOL_TYPE) {
            return false;
        }
        let Some(protocol_name) = self.protocol_name.as_deref() else {
            return true;
        };
        if self.members.is_empty() {
            return true;
        }
        self.members.values().any(|m| {
            subscribed_topics(&m.metadata_for(protocol_name))
                .is_none_or(|topics| topics.iter().any(|t| t == topic))
        })
    }

    pub(crate) fn knows_member_id(&self, member_id: &str) -> bool {
        self.members.contains_key(member_id) || self.pending_join_members.contains_key(member_id)
    }

    // ----- Replay -------------------------------------------------------

    /// Rebuilds the membership from a persisted generation, keeping the
    /// committed offsets. A generation with members comes back Stable with
    /// their assignments (as Kafka loads it); session timers start at
    /// `on_loaded`. Inconsistent records are read defensively.
    pub(crate) fn apply_metadata_record(&mut self, record: &GroupMetadataRecord) {
        self.state_timestamp_ms = record.current_state_timestamp_ms;
        self.generation_id = record.generation_id.max(0);
        self.protocol_type = record.protocol_type.clone().filter(|t| !t.is_empty());
        self.members.clear();
        self.static_members.clear();
        self.pending_join_members.clear();
        self.pending_sync_members.clear();
        self.join_timer = None;
        self.sync_timer = None;
        self.new_member_added = false;
        self.leader_id = None;
        self.protocol_name = None;
        self.previous_state = GroupState::Dead;
        self.state = GroupState::Empty;
        let Some(protocol_name) = record
            .protocol_name
            .clone()
            .filter(|_| !record.members.is_empty())
        else {
            return;
        };
        if self.protocol_type.is_none() {
            return;
        }
        for m in &record.members {
            if self.members.contains_key(&m.member_id) {
                continue;
            }
            if let Some(instance_id) = &m.group_instance_id {
                if self.static_members.contains_key(instance_id) {
                    continue;
                }
                self.static_members
                    .insert(instance_id.clone(), m.member_id.clone());
            }
            self.members.insert(
                m.member_id.clone(),
                Member {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: m.session_timeout_ms,
                    protocols: vec![JoinProtocol {
                        name: protocol_name.clone(),
                        metadata: m.subscription.clone(),
                    }],
                    assignment: Some(m.assignment.clone()),
                    awaiting_join_request_id: None,
                    awaiting_sync_request_id: None,
                    session_deadline_ms: None,
                    is_new: false,
                },
            );
        }
        self.leader_id = record
            .leader_id
            .clone()
            .filter(|l| self.members.contains_key(l))
            .or_else(|| self.members.keys().next().cloned());
        self.protocol_name = Some(protocol_name);
        self.state = GroupState::Stable;
    }

    /// The coordinator finished loading: start every member's session
    /// timer; a group over the size limit rebalances (as Kafka).
    pub(crate) fn on_loaded(&mut self, step: &mut Step) {
        for member in self.members.values_mut() {
            member.session_deadline_ms =
                Some(step.now.monotonic_ms + i64::from(member.session_timeout_ms).max(1));
        }
        if self.members.len() > step.config.group_member_count_max {
            self.prepare_rebalance(step);
        }
    }

    /// The coordinator resigns: every waiting request gets `error`.
    pub(crate) fn unload(&mut self, out: &mut Outbox, error: GroupError) {
        for member in self.members.values_mut() {
            if let Some(request_id) = member.awaiting_join_request_id.take() {
                out.respond(
                    request_id,
                    GroupResponse::JoinGroup(JoinGroupResponse::error(error, &member.member_id)),
                );
            }
            if let Some(request_id) = member.awaiting_sync_request_id.take() {
                out.respond(
                    request_id,
                    GroupResponse::SyncGroup(SyncGroupResponse::error(error)),
                );
            }
        }
        self.state = GroupState::Dead;
    }

    /// The group's current generation as a record; `assignment` overrides
    /// the members' own (the leader's SyncGroup before it is durable).
    pub(crate) fn metadata_record(
        &self,
        assignment: Option<&BTreeMap<String, Vec<u8>>>,
    ) -> GroupMetadataRecord {
        let protocol_name = self.protocol_name.clone().unwrap_or_default();
        GroupMetadataRecord {
            group_id: self.group_id.clone(),
            protocol_type: self.protocol_type.clone(),
            generation_id: self.generation_id,
            protocol_name: self.protocol_name.clone(),
            leader_id: self.leader_id.clone(),
            current_state_timestamp_ms: self.state_timestamp_ms,
            members: self
                .members
                .values()
                .map(|m| MemberRecord {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: m.session_timeout_ms,
                    subscription: m.metadata_for(&protocol_name),
                    assignment: match assignment {
                        Some(a) => a.get(&m.member_id).cloned().unwrap_or_default(),
                        None => m.assignment.clone().unwrap_or_default(),
                    },
                })
                .collect(),
        }
    }

    // ----- Membership bookkeeping ---------------------------------------

    fn transition_to(&mut self, step: &Step, next: GroupState) {
        assert!(
            self.state.can_transition_to(next),
            "group {}: no transition from {:?} to {next:?}",
            self.group_id,
            self.state
        );
        self.previous_state = self.state;
        self.state = next;
        self.state_timestamp_ms = step.now.wall_ms;
    }

    fn add(&mut self, member: Member, protocol_type: &str) {
        assert!(
            !self.members.contains_key(&member.member_id),
            "member ids are unique in a group"
        );
        if let Some(instance_id) = &member.group_instance_id {
            let previous = self
                .static_members
                .insert(instance_id.clone(), member.member_id.clone());
            assert!(previous.is_none(), "one member per group.instance.id");
        }
        if self.members.is_empty() {
            self.protocol_type = Some(protocol_type.to_string());
        }
        assert_eq!(
            self.protocol_type.as_deref(),
            Some(protocol_type),
            "members share the protocol type"
        );
        if self.leader_id.is_none() {
            self.leader_id = Some(member.member_id.clone());
        }
        self.pending_join_members.remove(&member.member_id);
        self.members.insert(member.member_id.clone(), member);
    }

    /// Removes a member without answering its waiting requests.
    fn remove(&mut self, member_id: &str) -> Option<Member> {
        let removed = self.members.remove(member_id);
        if let Some(instance_id) = removed.as_ref().and_then(|m| m.group_instance_id.as_ref()) {
            self.static_members.remove(instance_id);
        }
        if self.leader_id.as_deref() == Some(member_id) {
            self.leader_id = self.members.keys().next().cloned();
        }
        self.pending_join_members.remove(member_id);
        self.pending_sync_members.remove(member_id);
        removed
    }

    /// Removes a member and answers its waiting join or sync with
    /// UNKNOWN_MEMBER_ID (so a live client rejoins).
    fn remove_and_answer(&mut self, step: &mut Step, member_id: &str) {
        if let Some(member) = self.remove(member_id) {
            if let Some(request_id) = member.awaiting_join_request_id {
                let response = JoinGroupResponse::error(GroupError::UnknownMemberId, "");
                step.out
                    .respond(request_id, GroupResponse::JoinGroup(response));
            }
            if let Some(request_id) = member.awaiting_sync_request_id {
                let response = SyncGroupResponse::error(GroupError::UnknownMemberId);
                step.out
                    .respond(request_id, GroupResponse::SyncGroup(response));
            }
        }
    }

    fn supported_by_all(&self, protocol_name: &str) -> bool {
        self.members.values().all(|m| m.supports(protocol_name))
    }

    /// Kafka's `supportsProtocols`: an Empty group takes any non-empty
    /// offer; otherwise the type must match and one protocol must be
    /// supported by every current member.
    fn supports_protocols(&self, protocol_type: &str, protocols: &[JoinProtocol]) -> bool {
        if self.state == GroupState::Empty {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols.iter().any(|p| self.supported_by_all(&p.name))
    }

    /// The protocol for the next generation: each member votes for its
    /// first protocol that every member supports; most votes wins, ties go
    /// to the leader's preference order (Kafka leaves ties to hash order).
    fn select_protocol(&self) -> String {
        assert!(
            !self.members.is_empty(),
            "a protocol is selected for members"
        );
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for member in self.members.values() {
            let vote = member.vote(|name| self.supported_by_all(name));
            let vote = vote.expect("every member supports a common protocol");
            *votes.entry(vote).or_insert(0) += 1;
        }
        let most = votes.values().copied().max().expect("at least one vote");
        let leader = self.leader_id.as_ref().and_then(|l| self.members.get(l));
        let preference =
            |name: &str| leader.and_then(|l| l.protocols.iter().position(|p| p.name == name));
        votes
            .iter()
            .filter(|(_, count)| **count == most)
            .min_by_key(|(name, _)| (preference(name).unwrap_or(usize::MAX), **name))
            .map(|(name, _)| name.to_string())
            .expect("a protocol with the most votes")
    }

    fn rebalance_timeout_ms(&self) -> i64 {
        self.members
            .values()
            .map(|m| i64::from(m.rebalance_timeout_ms))
            .max()
            .unwrap_or(0)
            .max(0)
    }

    fn awaiting_join_count(&self) -> usize {
        self.members
            .values()
            .filter(|m| m.is_awaiting_join())
            .count()
    }

    fn has_all_members_joined(&self) -> bool {
        self.members.values().all(Member::is_awaiting_join) && self.pending_join_members.is_empty()
    }

    /// Kafka's `validateMember`: a static member must be the current
    /// holder of its instance id; the member must exist.
    fn validate_member(
        &self,
        member_id: &str,
        group_instance_id: Option<&str>,
    ) -> Result<(), GroupError> {
        if let Some(instance_id) = group_instance_id {
            match self.static_members.get(instance_id) {
                None => return Err(GroupError::UnknownMemberId),
                Some(current) if current != member_id => return Err(GroupError::FencedInstanceId),
                Some(_) => {}
            }
        }
        if !self.members.contains_key(member_id) {
            return Err(GroupError::UnknownMemberId);
        }
        Ok(())
    }

    fn reschedule_session(&mut self, step: &Step, member_id: &str) {
        if let Some(member) = self.members.get_mut(member_id) {
            let deadline_ms = step.deadline_ms(i64::from(member.session_timeout_ms));
            member.session_deadline_ms = Some(deadline_ms);
        }
    }

    fn join_response(&self, member_id: &str, with_members: bool) -> JoinGroupResponse {
        let protocol_name = self.protocol_name.clone().unwrap_or_default();
        JoinGroupResponse {
            error: None,
            generation_id: self.generation_id,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader_id: self.leader_id.clone().unwrap_or_default(),
            skip_assignment: false,
            member_id: member_id.to_string(),
            members: if with_members {
                self.members
                    .values()
                    .map(|m| JoinedMember {
                        member_id: m.member_id.clone(),
                        group_instance_id: m.group_instance_id.clone(),
                        metadata: m.metadata_for(&protocol_name),
                    })
                    .collect()
            } else {
                Vec::new()
            },
        }
    }

    // ----- JoinGroup ----------------------------------------------------

    /// A JoinGroup; `new_member_id` is used when the request has none.
    pub(crate) fn join(
        &mut self,
        step: &mut Step,
        request_id: u64,
        req: &JoinGroupRequest,
        new_member_id: &str,
    ) {
        if !self.accept_joining_member(step.config, &req.member_id) {
            // As Kafka: a rejected existing member (one that did not rejoin
            // in time) is dropped.
            self.remove_and_answer(step, &req.member_id);
            let response = JoinGroupResponse::error(GroupError::GroupMaxSizeReached, "");
            step.out
                .respond(request_id, GroupResponse::JoinGroup(response));
            return;
        }
        if req.member_id.is_empty() {
            self.join_new_member(step, request_id, req, new_member_id);
        } else {
            self.join_existing_member(step, request_id, req);
        }
    }

    /// Kafka's `acceptJoiningMember`, plus: members still joining count
    /// towards `group_member_count_max` for a member without an id.
    fn accept_joining_member(&self, config: &GroupConfig, member_id: &str) -> bool {
        let max = config.group_member_count_max;
        if member_id.is_empty() && self.members.len() + self.pending_join_members.len() >= max {
            return false;
        }
        match self.state {
            GroupState::Empty | GroupState::Dead => true,
            GroupState::PreparingRebalance => {
                self.members
                    .get(member_id)
                    .is_some_and(Member::is_awaiting_join)
                    || self.awaiting_join_count() < max
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.members.contains_key(member_id) || self.members.len() < max
            }
        }
    }

    fn join_new_member(
        &mut self,
        step: &mut Step,
        request_id: u64,
        req: &JoinGroupRequest,
        new_member_id: &str,
    ) {
        assert!(
            !self.knows_member_id(new_member_id),
            "generated member ids are fresh"
        );
        let error = if self.state == GroupState::Dead {
            Some(GroupError::CoordinatorNotAvailable)
        } else if !self.supports_protocols(&req.protocol_type, &req.protocols) {
            Some(GroupError::InconsistentGroupProtocol)
        } else {
            None
        };
        if let Some(error) = error {
            step.out.respond(
                request_id,
                GroupResponse::JoinGroup(JoinGroupResponse::error(error, "")),
            );
            return;
        }
        if let Some(instance_id) = &req.group_instance_id {
            match self.static_members.get(instance_id).cloned() {
                Some(old_member_id) => {
                    self.replace_static_member_then_rebalance_or_complete_join(
                        step,
                        request_id,
                        req,
                        &old_member_id,
                        new_member_id,
                    );
                }
                None => self.add_member_then_rebalance_or_complete_join(
                    step,
                    request_id,
                    req,
                    new_member_id,
                ),
            }
        } else if req.require_known_member_id {
            let deadline_ms = step.deadline_ms(i64::from(req.session_timeout_ms));
            self.pending_join_members
                .insert(new_member_id.to_string(), deadline_ms);
            let response = JoinGroupResponse::error(GroupError::MemberIdRequired, new_member_id);
            step.out
                .respond(request_id, GroupResponse::JoinGroup(response));
        } else {
            self.add_member_then_rebalance_or_complete_join(step, request_id, req, new_member_id);
        }
    }

    fn join_existing_member(&mut self, step: &mut Step, request_id: u64, req: &JoinGroupRequest) {
        let member_id = req.member_id.as_str();
        let reject = |step: &mut Step, error: GroupError| {
            step.out.respond(
                request_id,
                GroupResponse::JoinGroup(JoinGroupResponse::error(error, member_id)),
            );
        };
        if self.state == GroupState::Dead {
            return reject(step, GroupError::CoordinatorNotAvailable);
        }
        if !self.supports_protocols(&req.protocol_type, &req.protocols) {
            return reject(step, GroupError::InconsistentGroupProtocol);
        }
        if self.pending_join_members.contains_key(member_id) {
            if req.group_instance_id.is_some() {
                // Pending members are dynamic; Kafka treats this as a bug.
                return reject(step, GroupError::UnknownMemberId);
            }
            return self
                .add_member_then_rebalance_or_complete_join(step, request_id, req, member_id);
        }
        if let Err(error) = self.validate_member(member_id, req.group_instance_id.as_deref()) {
            return reject(step, error);
        }
        let member = &self.members[member_id];
        let same_protocols = member.protocols == req.protocols;
        let is_leader = self.leader_id.as_deref() == Some(member_id);
        match self.state {
            GroupState::PreparingRebalance => {
                self.update_member_then_rebalance_or_complete_join(step, request_id, req)
            }
            GroupState::CompletingRebalance if same_protocols => {
                // A retry of a join whose response got lost.
                let response = self.join_response(member_id, is_leader);
                step.out
                    .respond(request_id, GroupResponse::JoinGroup(response));
            }
            GroupState::Stable if same_protocols && !is_leader => {
                let response = self.join_response(member_id, false);
                step.out
                    .respond(request_id, GroupResponse::JoinGroup(response));
            }
            // The leader rejoining forces a rebalance (e.g. topic metadata
            // changed); changed metadata does too.
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.update_member_then_rebalance_or_complete_join(step, request_id, req)
            }
            GroupState::Empty | GroupState::Dead => reject(step, GroupError::UnknownMemberId),
        }
    }

    fn set_awaiting_join(step: &mut Step, member: &mut Member, request_id: u64) {
        if let Some(superseded) = member.awaiting_join_request_id.replace(request_id) {
            // Every request is answered once: the older join is dropped.
            let response =
                JoinGroupResponse::error(GroupError::RebalanceInProgress, &member.member_id);
            step.out
                .respond(superseded, GroupResponse::JoinGroup(response));
        }
    }

    fn update_member_then_rebalance_or_complete_join(
        &mut self,
        step: &mut Step,
        request_id: u64,
        req: &JoinGroupRequest,
    ) {
        let member = self
            .members
            .get_mut(&req.member_id)
            .expect("validated member");
        member.protocols = req.protocols.clone();
        member.rebalance_timeout_ms = req.rebalance_timeout_ms;
        member.session_timeout_ms = req.session_timeout_ms;
        Self::set_awaiting_join(step, member, request_id);
        self.maybe_prepare_rebalance_or_complete_join(step);
    }

    fn add_member_then_rebalance_or_complete_join(
        &mut self,
        step: &mut Step,
        request_id: u64,
        req: &JoinGroupRequest,
        member_id: &str,
    ) {
        let member = Member {
            member_id: member_id.to_string(),
            group_instance_id: req.group_instance_id.clone(),
            client_id: req.client_id.clone(),
            client_host: req.client_host.clone(),
            rebalance_timeout_ms: req.rebalance_timeout_ms,
            session_timeout_ms: req.session_timeout_ms,
            protocols: req.protocols.clone(),
            assignment: None,
            awaiting_join_request_id: Some(request_id),
            awaiting_sync_request_id: None,
            // A new member cannot heartbeat while its join is parked: it
            // gets the (long) new-member join timeout instead.
            session_deadline_ms: Some(step.deadline_ms(step.config.new_member_join_timeout_ms)),
            is_new: true,
        };
        if self.state == GroupState::PreparingRebalance && self.previous_state == GroupState::Empty
        {
            self.new_member_added = true;
        }
        self.add(member, &req.protocol_type);
        self.maybe_prepare_rebalance_or_complete_join(step);
    }

    /// A static member rejoined without its member id: the new id takes
    /// the old member's place; the old id is fenced.
    fn replace_static_member_then_rebalance_or_complete_join(
        &mut self,
        step: &mut Step,
        request_id: u64,
        req: &JoinGroupRequest,
        old_member_id: &str,
        new_member_id: &str,
    ) {
        let leader_before = self.leader_id.clone();
        let instance_id = req.group_instance_id.clone().expect("a static member");
        let mut member = self
            .members
            .remove(old_member_id)
            .expect("the static member exists");
        if let Some(fenced) = member.awaiting_join_request_id.take() {
            let mut response =
                JoinGroupResponse::error(GroupError::FencedInstanceId, old_member_id);
            response.generation_id = -1;
            step.out.respond(fenced, GroupResponse::JoinGroup(response));
        }
        if let Some(fenced) = member.awaiting_sync_request_id.take() {
            step.out.respond(
                fenced,
                GroupResponse::SyncGroup(SyncGroupResponse::error(GroupError::FencedInstanceId)),
            );
        }
        member.member_id = new_member_id.to_string();
        member.session_deadline_ms = Some(step.deadline_ms(i64::from(member.session_timeout_ms)));
        member.protocols = req.protocols.clone();
        member.rebalance_timeout_ms = req.rebalance_timeout_ms;
        member.session_timeout_ms = req.session_timeout_ms;
        member.awaiting_join_request_id = Some(request_id);
        self.members.insert(new_member_id.to_string(), member);
        if self.leader_id.as_deref() == Some(old_member_id) {
            self.leader_id = Some(new_member_id.to_string());
        }
        if self.pending_sync_members.remove(old_member_id) {
            self.pending_sync_members.insert(new_member_id.to_string());
        }
        self.static_members
            .insert(instance_id, new_member_id.to_string());

        match self.state {
            GroupState::Stable => {
                if self.protocol_name.as_deref() == Some(self.select_protocol().as_str()) {
                    // Nothing changes for the assignment: persist the new
                    // member id and answer once it is durable.
                    let record = GroupRecord::GroupMetadata(self.metadata_record(None));
                    let waiting = PendingPersist::StaticMemberJoin {
                        group_id: self.group_id.clone(),
                        group_incarnation: self.incarnation,
                        member_id: new_member_id.to_string(),
                        request_id,
                        supports_skip_assignment: req.supports_skip_assignment,
                        leader_before,
                    };
                    step.out.persist(vec![record], waiting);
                } else {
                    self.maybe_prepare_rebalance_or_complete_join(step);
                }
            }
            // The leader may already hold the old member id in its
            // assignment: rebalance.
            GroupState::CompletingRebalance => self.prepare_rebalance(step),
            GroupState::PreparingRebalance => self.maybe_complete_join_phase(step),
            GroupState::Empty | GroupState::Dead => {
                unreachable!("a group with a static member is not {:?}", self.state)
            }
        }
    }

    /// The replaced static member's metadata is durable: answer its join.
    pub(crate) fn on_static_join_persisted(
        &mut self,
        step: &mut Step,
        member_id: &str,
        request_id: u64,
        supports_skip_assignment: bool,
        leader_before: Option<String>,
    ) {
        if self.state != GroupState::Stable {
            return; // a rebalance started meanwhile; it answers the join
        }
        let Some(member) = self.members.get_mut(member_id) else {
            return;
        };
        if member.awaiting_join_request_id != Some(request_id) {
            return;
        }
        member.awaiting_join_request_id = None;
        let is_leader = self.leader_id.as_deref() == Some(member_id);
        let response = if supports_skip_assignment {
            let mut response = self.join_response(member_id, is_leader);
            response.skip_assignment = is_leader;
            response
        } else {
            // Older clients keep the leader they knew, so a replaced
            // leader does not compute a new assignment.
            let mut response = self.join_response(member_id, false);
            response.leader_id = leader_before.unwrap_or_default();
            response
        };
        step.out
            .respond(request_id, GroupResponse::JoinGroup(response));
    }

    pub(crate) fn on_static_join_persist_failed(
        &mut self,
        step: &mut Step,
        member_id: &str,
        request_id: u64,
        error: GroupError,
    ) {
        let Some(member) = self.members.get_mut(member_id) else {
            return;
        };
        if member.awaiting_join_request_id != Some(request_id) {
            return;
        }
        // The client retries with an empty member id and replaces again.
        member.awaiting_join_request_id = None;
        let mut response = JoinGroupResponse::error(error, "");
        response.generation_id = self.generation_id;
        step.out
            .respond(request_id, GroupResponse::JoinGroup(response));
    }

    fn maybe_prepare_rebalance_or_complete_join(&mut self, step: &mut Step) {
        if self.state.can_transition_to(GroupState::PreparingRebalance) {
            self.prepare_rebalance(step);
        } else {
            self.maybe_complete_join_phase(step);
        }
    }

    fn maybe_complete_join_phase(&mut self, step: &mut Step) {
        if self.state != GroupState::PreparingRebalance {
            return;
        }
        if self.previous_state == GroupState::Empty {
            return; // the initial rebalance ends by its timer
        }
        if self.has_all_members_joined() {
            self.complete_join(step);
        }
    }

    fn prepare_rebalance(&mut self, step: &mut Step) {
        if self.state == GroupState::CompletingRebalance {
            self.reset_and_propagate_assignment_with_error(step, GroupError::RebalanceInProgress);
        }
        self.pending_sync_members.clear();
        self.sync_timer = None;
        let is_initial = self.state == GroupState::Empty;
        if is_initial {
            let delay_ms = step.config.initial_rebalance_delay_ms;
            let remaining_ms = (self.rebalance_timeout_ms() - delay_ms).max(0);
            let deadline_ms = step.deadline_ms(delay_ms);
            self.join_timer = Some(JoinTimer::InitialDelay {
                deadline_ms,
                delay_ms,
                remaining_ms,
            });
        }
        self.transition_to(step, GroupState::PreparingRebalance);
        if !is_initial {
            if self.has_all_members_joined() {
                self.complete_join(step);
            } else {
                let deadline_ms = step.deadline_ms(self.rebalance_timeout_ms());
                self.join_timer = Some(JoinTimer::RebalanceTimeout { deadline_ms });
            }
        }
    }

    /// Ends the join phase: members that did not rejoin leave (static ones
    /// stay), the generation advances, everyone waiting gets its response.
    fn complete_join(&mut self, step: &mut Step) {
        assert_eq!(
            self.state,
            GroupState::PreparingRebalance,
            "the join phase ends from PreparingRebalance"
        );
        self.join_timer = None;
        let not_rejoined: Vec<String> = self
            .members
            .values()
            .filter(|m| !m.is_awaiting_join() && !m.is_static())
            .map(|m| m.member_id.clone())
            .collect();
        for member_id in not_rejoined {
            self.remove_and_answer(step, &member_id);
        }
        if !self.maybe_elect_new_joined_leader() && !self.members.is_empty() {
            // Only static members that did not rejoin: wait another round.
            let deadline_ms = step.deadline_ms(self.rebalance_timeout_ms());
            self.join_timer = Some(JoinTimer::RebalanceTimeout { deadline_ms });
            return;
        }
        self.init_next_generation(step);
        if self.state == GroupState::Empty {
            let record = GroupRecord::GroupMetadata(self.metadata_record(None));
            step.out
                .persist(vec![record], PendingPersist::GroupMetadata);
            return;
        }
        let leader_id = self
            .leader_id
            .clone()
            .expect("a generation with members has a leader");
        let member_ids: Vec<String> = self.members.keys().cloned().collect();
        for member_id in member_ids {
            let response = self.join_response(&member_id, member_id == leader_id);
            let deadline_ms = {
                let member = &self.members[&member_id];
                step.deadline_ms(i64::from(member.session_timeout_ms))
            };
            let member = self.members.get_mut(&member_id).expect("listed member");
            if let Some(request_id) = member.awaiting_join_request_id.take() {
                step.out
                    .respond(request_id, GroupResponse::JoinGroup(response));
            }
            member.session_deadline_ms = Some(deadline_ms);
            member.is_new = false;
            self.pending_sync_members.insert(member_id);
        }
        let deadline_ms = step.deadline_ms(self.rebalance_timeout_ms());
        self.sync_timer = Some(SyncTimer {
            deadline_ms,
            generation_id: self.generation_id,
        });
    }

    /// Keeps a leader that rejoined, else picks the first member that did.
    fn maybe_elect_new_joined_leader(&mut self) -> bool {
        let Some(leader_id) = &self.leader_id else {
            return false;
        };
        if self.members[leader_id].is_awaiting_join() {
            return true;
        }
        match self.members.values().find(|m| m.is_awaiting_join()) {
            Some(joined) => {
                self.leader_id = Some(joined.member_id.clone());
                true
            }
            None => false,
        }
    }

    fn init_next_generation(&mut self, step: &Step) {
        let previous_generation_id = self.generation_id;
        self.generation_id = self
            .generation_id
            .checked_add(1)
            .expect("generation ids fit an i32");
        assert!(
            self.generation_id > previous_generation_id,
            "generation ids only grow"
        );
        if self.members.is_empty() {
            self.protocol_name = None;
            self.transition_to(step, GroupState::Empty);
        } else {
            self.protocol_name = Some(self.select_protocol());
            self.transition_to(step, GroupState::CompletingRebalance);
        }
        self.pending_sync_members.clear();
    }

    // ----- SyncGroup ----------------------------------------------------

    pub(crate) fn sync(&mut self, step: &mut Step, request_id: u64, req: &SyncGroupRequest) {
        if let Err(error) = self.validate_sync(req) {
            step.out.respond(
                request_id,
                GroupResponse::SyncGroup(SyncGroupResponse::error(error)),
            );
            return;
        }
        match self.state {
            GroupState::PreparingRebalance => {
                let response = SyncGroupResponse::error(GroupError::RebalanceInProgress);
                step.out
                    .respond(request_id, GroupResponse::SyncGroup(response));
            }
            GroupState::CompletingRebalance => {
                let member = self
                    .members
                    .get_mut(&req.member_id)
                    .expect("validated member");
                if let Some(superseded) = member.awaiting_sync_request_id.replace(request_id) {
                    let response = SyncGroupResponse::error(GroupError::RebalanceInProgress);
                    step.out
                        .respond(superseded, GroupResponse::SyncGroup(response));
                }
                self.remove_pending_sync_member(&req.member_id);
                if self.leader_id.as_deref() == Some(req.member_id.as_str()) {
                    let mut assignment: BTreeMap<String, Vec<u8>> = BTreeMap::new();
                    for (member_id, bytes) in &req.assignments {
                        if self.members.contains_key(member_id) {
                            assignment.insert(member_id.clone(), bytes.clone());
                        }
                    }
                    for member_id in self.members.keys() {
                        assignment.entry(member_id.clone()).or_default();
                    }
                    let record =
                        GroupRecord::GroupMetadata(self.metadata_record(Some(&assignment)));
                    let waiting = PendingPersist::SyncAssignment {
                        group_id: self.group_id.clone(),
                        group_incarnation: self.incarnation,
                        generation_id: self.generation_id,
                        assignment,
                    };
                    step.out.persist(vec![record], waiting);
                }
            }
            GroupState::Stable => {
                self.remove_pending_sync_member(&req.member_id);
                let member = &self.members[&req.member_id];
                let response = SyncGroupResponse {
                    error: None,
                    protocol_type: self.protocol_type.clone(),
                    protocol_name: self.protocol_name.clone(),
                    assignment: member.assignment.clone().unwrap_or_default(),
                };
                step.out
                    .respond(request_id, GroupResponse::SyncGroup(response));
            }
            GroupState::Empty | GroupState::Dead => {
                let response = SyncGroupResponse::error(GroupError::UnknownMemberId);
                step.out
                    .respond(request_id, GroupResponse::SyncGroup(response));
            }
        }
    }

    fn validate_sync(&self, req: &SyncGroupRequest) -> Result<(), GroupError> {
        if self.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        self.validate_member(&req.member_id, req.group_instance_id.as_deref())?;
        if req.generation_id != self.generation_id {
            return Err(GroupError::IllegalGeneration);
        }
        let inconsistent = |asked: &Option<String>, ours: &Option<String>| matches!((asked, ours), (Some(a), Some(o)) if a != o);
        if inconsistent(&req.protocol_type, &self.protocol_type)
            || inconsistent(&req.protocol_name, &self.protocol_name)
        {
            return Err(GroupError::InconsistentGroupProtocol);
        }
        Ok(())
    }

    fn remove_pending_sync_member(&mut self, member_id: &str) {
        self.pending_sync_members.remove(member_id);
        if self.pending_sync_members.is_empty() {
            self.sync_timer = None;
        }
    }

    /// The leader's assignment is durable: the generation is Stable.
    pub(crate) fn on_sync_persisted(
        &mut self,
        step: &mut Step,
        generation_id: i32,
        assignment: &BTreeMap<String, Vec<u8>>,
    ) {
        if self.state != GroupState::CompletingRebalance || generation_id != self.generation_id {
            return; // the group moved on while the record was written
        }
        for member in self.members.values_mut() {
            member.assignment = Some(
                assignment
                    .get(&member.member_id)
                    .cloned()
                    .unwrap_or_default(),
            );
        }
        self.propagate_assignment(step, None);
        self.transition_to(step, GroupState::Stable);
    }

    pub(crate) fn on_sync_persist_failed(
        &mut self,
        step: &mut Step,
        generation_id: i32,
        error: GroupError,
    ) {
        if self.state != GroupState::CompletingRebalance || generation_id != self.generation_id {
            return;
        }
        self.reset_and_propagate_assignment_with_error(step, error);
        self.maybe_prepare_rebalance_or_complete_join(step);
    }

    fn reset_and_propagate_assignment_with_error(&mut self, step: &mut Step, error: GroupError) {
        assert_eq!(
            self.state,
            GroupState::CompletingRebalance,
            "assignments reset while completing"
        );
        for member in self.members.values_mut() {
            member.assignment = None;
        }
        self.propagate_assignment(step, Some(error));
    }

    /// Answers every waiting SyncGroup and restarts its session timer.
    fn propagate_assignment(&mut self, step: &mut Step, error: Option<GroupError>) {
        for member in self.members.values_mut() {
            let Some(request_id) = member.awaiting_sync_request_id.take() else {
                continue;
            };
            let response = match error {
                Some(error) => SyncGroupResponse::error(error),
                None => SyncGroupResponse {
                    error: None,
                    protocol_type: self.protocol_type.clone(),
                    protocol_name: self.protocol_name.clone(),
                    assignment: member.assignment.clone().unwrap_or_default(),
                },
            };
            step.out
                .respond(request_id, GroupResponse::SyncGroup(response));
            member.session_deadline_ms =
                Some(step.deadline_ms(i64::from(member.session_timeout_ms)));
        }
    }

    // ----- Heartbeat, LeaveGroup ----------------------------------------

    pub(crate) fn heartbeat(
        &mut self,
        step: &mut Step,
        req: &HeartbeatRequest,
    ) -> Option<GroupError> {
        if self.state == GroupState::Dead {
            return Some(GroupError::CoordinatorNotAvailable);
        }
        if let Err(error) = self.validate_member(&req.member_id, req.group_instance_id.as_deref()) {
            return Some(error);
        }
        if req.generation_id != self.generation_id {
            return Some(GroupError::IllegalGeneration);
        }
        let error = match self.state {
            GroupState::Empty | GroupState::Dead => return Some(GroupError::UnknownMemberId),
            GroupState::PreparingRebalance => Some(GroupError::RebalanceInProgress),
            GroupState::CompletingRebalance | GroupState::Stable => None,
        };
        self.reschedule_session(step, &req.member_id);
        let deadline_ms = self.members[&req.member_id].session_deadline_ms;
        assert!(
            deadline_ms.is_some_and(|d| d > step.now.monotonic_ms),
            "a heartbeat pushes the session deadline into the future"
        );
        error
    }

    pub(crate) fn leave(&mut self, step: &mut Step, req: &LeaveGroupRequest) -> LeaveGroupResponse {
        if self.state == GroupState::Dead {
            return LeaveGroupResponse {
                error: Some(GroupError::CoordinatorNotAvailable),
                members: Vec::new(),
            };
        }
        let mut members = Vec::with_capacity(req.members.len());
        let mut anyone_left = false;
        for leaving in &req.members {
            let error = if leaving.member_id.is_empty() {
                // An admin removes a static member by its instance id.
                match leaving
                    .group_instance_id
                    .as_ref()
                    .and_then(|i| self.static_members.get(i))
                    .cloned()
                {
                    Some(member_id) => {
                        self.remove_and_answer(step, &member_id);
                        None
                    }
                    None => Some(GroupError::UnknownMemberId),
                }
            } else if self
                .pending_join_members
                .remove(&leaving.member_id)
                .is_some()
            {
                None
            } else {
                match self.validate_member(&leaving.member_id, leaving.group_instance_id.as_deref())
                {
                    Ok(()) => {
                        self.remove_and_answer(step, &leaving.member_id);
                        None
                    }
                    Err(error) => Some(error),
                }
            };
            anyone_left |= error.is_none();
            members.push(LeftMember {
                member_id: leaving.member_id.clone(),
                group_instance_id: leaving.group_instance_id.clone(),
                error,
            });
        }
        if anyone_left {
            match self.state {
                GroupState::Stable | GroupState::CompletingRebalance => {
                    self.maybe_prepare_rebalance_or_complete_join(step)
                }
                GroupState::PreparingRebalance => self.maybe_complete_join_phase(step),
                GroupState::Empty | GroupState::Dead => {}
            }
        }
        LeaveGroupResponse {
            error: None,
            members,
        }
    }

    // ----- OffsetCommit support -----------------------------------------

    /// Kafka's `validateOffsetCommit` for a classic group.
    pub(crate) fn validate_offset_commit(
        &self,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
    ) -> Result<(), GroupError> {
        if self.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        if generation_id < 0 && self.state == GroupState::Empty {
            return Ok(()); // a simple commit (admin client, manual assignment)
        }
        if generation_id >= 0 || !member_id.is_empty() || group_instance_id.is_some() {
            self.validate_member(member_id, group_instance_id)?;
            if generation_id != self.generation_id {
                return Err(GroupError::IllegalGeneration);
            }
        } else if self.state != GroupState::Empty {
            return Err(GroupError::UnknownMemberId);
        }
        if self.state == GroupState::CompletingRebalance {
            return Err(GroupError::RebalanceInProgress);
        }
        Ok(())
    }

    /// A commit by a member keeps its session alive while Stable or
    /// PreparingRebalance (as Kafka).
    pub(crate) fn on_member_committed(&mut self, step: &Step, member_id: &str) {
        if matches!(
            self.state,
            GroupState::Stable | GroupState::PreparingRebalance
        ) {
            self.reschedule_session(step, member_id);
        }
    }

    // ----- Timers -------------------------------------------------------

    pub(crate) fn next_deadline_ms(&self) -> Option<i64> {
        self.next_due().map(|(deadline_ms, _)| deadline_ms)
    }

    fn next_due(&self) -> Option<(i64, Due)> {
        let pending = self
            .pending_join_members
            .iter()
            .map(|(id, d)| (*d, Due::PendingMember(id.clone())));
        let members = self.members.values().filter_map(|m| {
            m.session_deadline_ms
                .map(|d| (d, Due::Member(m.member_id.clone())))
        });
        let join = self.join_timer.map(|t| (t.deadline_ms(), Due::Join));
        let sync = self.sync_timer.map(|t| (t.deadline_ms, Due::Sync));
        pending.chain(members).chain(join).chain(sync).min()
    }

    /// Fires every timer due at the step's monotonic time, earliest first.
    pub(crate) fn on_tick(&mut self, step: &mut Step) {
        // Each timer fires at most once per tick: a fired timer is removed
        // or set strictly after now.
        let fire_count_max = self.members.len() + self.pending_join_members.len() + 2;
        let mut fire_count = 0;
        while let Some((deadline_ms, due)) = self.next_due() {
            if deadline_ms > step.now.monotonic_ms {
                break;
            }
            fire_count += 1;
            assert!(
                fire_count <= fire_count_max,
                "group {}: timers keep firing",
                self.group_id
            );
            match due {
                Due::PendingMember(member_id) => {
                    self.pending_join_members.remove(&member_id);
                    if self.state == GroupState::PreparingRebalance && self.has_all_members_joined()
                    {
                        self.complete_join(step);
                    }
                }
                Due::Member(member_id) => self.expire_member(step, &member_id),
                Due::Join => self.on_join_timer(step),
                Due::Sync => {
                    let timer = self.sync_timer.take().expect("due sync timer");
                    self.expire_pending_sync(step, timer.generation_id);
                }
            }
        }
    }

    fn expire_member(&mut self, step: &mut Step, member_id: &str) {
        let member = self.members.get_mut(member_id).expect("due member");
        if member.has_satisfied_heartbeat() {
            // Waiting in a join or sync counts as alive; the timer restarts
            // when that wait ends.
            member.session_deadline_ms = None;
            return;
        }
        self.remove_and_answer(step, member_id);
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.maybe_prepare_rebalance_or_complete_join(step)
            }
            GroupState::PreparingRebalance if self.has_all_members_joined() => {
                self.complete_join(step)
            }
            _ => {}
        }
    }

    fn on_join_timer(&mut self, step: &mut Step) {
        match self.join_timer.take().expect("due join timer") {
            JoinTimer::InitialDelay {
                delay_ms,
                remaining_ms,
                ..
            } if self.new_member_added && remaining_ms != 0 => {
                // Members keep arriving: wait a little more, within the
                // rebalance timeout.
                self.new_member_added = false;
                let next_delay_ms = step.config.initial_rebalance_delay_ms.min(remaining_ms);
                let next_remaining_ms = (remaining_ms - delay_ms).max(0);
                self.join_timer = Some(JoinTimer::InitialDelay {
                    deadline_ms: step.deadline_ms(next_delay_ms),
                    delay_ms: next_delay_ms,
                    remaining_ms: next_remaining_ms,
                });
            }
            JoinTimer::InitialDelay { .. } | JoinTimer::RebalanceTimeout { .. } => {
                self.complete_join(step)
            }
        }
    }

    fn expire_pending_sync(&mut self, step: &mut Step, generation_id: i32) {
        if generation_id != self.generation_id {
            return;
        }
        if !matches!(
            self.state,
            GroupState::CompletingRebalance | GroupState::Stable
        ) {
            return;
        }
        if self.pending_sync_members.is_empty() {
            return;
        }
        let late: Vec<String> = self.pending_sync_members.iter().cloned().collect();
        for member_id in late {
            self.remove_and_answer(step, &member_id);
        }
        self.prepare_rebalance(step);
    }

    // ----- Admin views --------------------------------------------------

    pub(crate) fn describe(&self) -> DescribedGroup {
        let stable_protocol = (self.state == GroupState::Stable)
            .then(|| self.protocol_name.clone())
            .flatten();
        DescribedGroup {
            error: None,
            group_id: self.group_id.clone(),
            state: self.state,
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            protocol_data: stable_protocol.clone().unwrap_or_default(),
            members: self
                .members
                .values()
                .map(|m| DescribedMember {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    member_metadata: stable_protocol
                        .as_deref()
                        .map(|p| m.metadata_for(p))
                        .unwrap_or_default(),
                    member_assignment: match stable_protocol {
                        Some(_) => m.assignment.clone().unwrap_or_default(),
                        None => Vec::new(),
                    },
                })
                .collect(),
        }
    }

    // ----- Invariants ---------------------------------------------------

    /// Asserts the group's invariants; called after every step.
    pub(crate) fn assert_invariants(&self) {
        let id = &self.group_id;
        assert!(
            self.generation_id >= 0,
            "group {id}: generation ids are not negative"
        );
        match &self.leader_id {
            Some(leader) => assert!(
                self.members.contains_key(leader),
                "group {id}: the leader is a member"
            ),
            None => assert!(
                self.members.is_empty(),
                "group {id}: a group with members has a leader"
            ),
        }
        for (instance_id, member_id) in &self.static_members {
            let member = self.members.get(member_id);
            assert!(
                member
                    .is_some_and(|m| m.group_instance_id.as_deref() == Some(instance_id.as_str())),
                "group {id}: static member {instance_id} maps to its member"
            );
        }
        let static_count = self.members.values().filter(|m| m.is_static()).count();
        assert_eq!(
            static_count,
            self.static_members.len(),
            "group {id}: every static member is indexed"
        );
        for member_id in self.pending_join_members.keys() {
            assert!(
                !self.members.contains_key(member_id),
                "group {id}: a pending member is not yet a member"
            );
        }
        for member_id in &self.pending_sync_members {
            assert!(
                self.members.contains_key(member_id),
                "group {id}: pending syncs are members"
            );
        }
        for member in self.members.values() {
            assert!(
                !member.is_awaiting_join()
                    || matches!(
                        self.state,
                        GroupState::PreparingRebalance | GroupState::Stable
                    ),
                "group {id}: joins wait only while preparing (or a static replacement persists)"
            );
            assert!(
                !member.is_awaiting_sync() || self.state == GroupState::CompletingRebalance,
                "group {id}: syncs wait only while completing"
            );
        }
        assert_eq!(
            self.join_timer.is_some(),
            self.state == GroupState::PreparingRebalance,
            "group {id}: the join timer runs exactly while preparing"
        );
        assert!(
            self.sync_timer.is_none()
                || matches!(
                    self.state,
                    GroupState::CompletingRebalance | GroupState::Stable
                ),
            "group {id}: the sync timer runs only after a join phase"
        );
        match self.state {
            GroupState::Empty => {
                assert!(
                    self.members.is_empty(),
                    "group {id}: an Empty group has no members"
                );
                assert!(
                    self.protocol_name.is_none(),
                    "group {id}: an Empty group has no protocol"
                );
            }
            GroupState::CompletingRebalance => {
                assert!(
                    !self.members.is_empty(),
                    "group {id}: a completing group has members"
                );
                assert!(
                    self.protocol_name.is_some(),
                    "group {id}: a completing group has a protocol"
                );
            }
            GroupState::Stable => {
                assert!(
                    !self.members.is_empty(),
                    "group {id}: a Stable group has members"
                );
                let protocol = self
                    .protocol_name
                    .as_deref()
                    .expect("a Stable group has a protocol");
                for member in self.members.values() {
                    assert!(
                        member.assignment.is_some(),
                        "group {id}: every Stable member has an assignment"
                    );
                    assert!(
                        member.supports(protocol),
                        "group {id}: every member supports the protocol"
                    );
                }
            }
            GroupState::PreparingRebalance | GroupState::Dead => {}
        }
    }
}
