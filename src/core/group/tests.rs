//! Scenario tests of the group coordinator: whole conversations of clients
//! with it, checked by the responses they get (and snapshots of the actions
//! where the sequence itself is the point).

use std::collections::BTreeMap;

use super::*;
use crate::core::now::Now;

const SESSION_MS: i32 = 10_000;
const REBALANCE_MS: i32 = 30_000;

/// Drives a coordinator like the server would, and checks that every
/// request is answered exactly once.
struct Harness {
    coordinator: GroupCoordinator,
    /// Monotonic time, which drives the timers.
    now_ms: i64,
    /// How far the wall clock is off the monotonic one (a clock step).
    wall_offset_ms: i64,
    request_id_next: u64,
    responses: BTreeMap<u64, GroupResponse>,
    /// Persists handed out and not yet reported, with their records.
    persists: Vec<(u64, Vec<GroupRecord>)>,
    /// Every record reported durable, in order (the offsets topic).
    durable_log: Vec<GroupRecord>,
    /// Whether persists are reported durable right away.
    auto_persist: bool,
}

impl Harness {
    fn new() -> Harness {
        Harness::with_config(GroupConfig::default())
    }

    fn with_config(config: GroupConfig) -> Harness {
        let mut coordinator = GroupCoordinator::new(config, 1);
        assert!(coordinator.on_loaded(0).is_empty());
        Harness {
            coordinator,
            now_ms: 0,
            wall_offset_ms: 0,
            request_id_next: 1,
            responses: BTreeMap::new(),
            persists: Vec::new(),
            durable_log: Vec::new(),
            auto_persist: true,
        }
    }

    fn now(&self) -> Now {
        Now::new(self.now_ms, self.now_ms + self.wall_offset_ms)
    }

    fn absorb(&mut self, actions: Vec<GroupAction>) -> Vec<GroupAction> {
        let mut persisted_up_to = None;
        for action in &actions {
            match action {
                GroupAction::Respond {
                    request_id,
                    response,
                } => {
                    let previous = self.responses.insert(*request_id, response.clone());
                    assert!(previous.is_none(), "request {request_id} answered twice");
                }
                GroupAction::Persist {
                    persist_id,
                    records,
                } => {
                    self.persists.push((*persist_id, records.clone()));
                    persisted_up_to = Some(*persist_id);
                }
            }
        }
        let mut all = actions;
        if self.auto_persist {
            if let Some(persist_id) = persisted_up_to {
                all.extend(self.persist_up_to(persist_id));
            }
        }
        all
    }

    fn persist_up_to(&mut self, persist_id: u64) -> Vec<GroupAction> {
        let (done, later): (Vec<_>, Vec<_>) = self
            .persists
            .drain(..)
            .partition(|(id, _)| *id <= persist_id);
        self.persists = later;
        for (_, records) in done {
            self.durable_log.extend(records);
        }
        let actions = self.coordinator.on_persisted(self.now(), persist_id);
        self.absorb(actions)
    }

    fn send(&mut self, request: GroupRequest) -> u64 {
        let request_id = self.request_id_next;
        self.request_id_next += 1;
        let actions = self.coordinator.handle(self.now(), request_id, request);
        self.absorb(actions);
        request_id
    }

    fn advance(&mut self, ms: i64) -> Vec<GroupAction> {
        self.now_ms += ms;
        let actions = self.coordinator.on_tick(self.now());
        self.absorb(actions)
    }

    /// Moves time to each deadline in turn until `until_ms`.
    fn run_until(&mut self, until_ms: i64) {
        while let Some(deadline_ms) = self.coordinator.poll_timeout().filter(|d| *d <= until_ms) {
            self.advance(deadline_ms - self.now_ms);
        }
        self.now_ms = until_ms;
    }

    fn response(&self, request_id: u64) -> Option<&GroupResponse> {
        self.responses.get(&request_id)
    }

    fn join_response(&self, request_id: u64) -> &JoinGroupResponse {
        match self.response(request_id) {
            Some(GroupResponse::JoinGroup(r)) => r,
            other => panic!("request {request_id}: expected a JoinGroup response, got {other:?}"),
        }
    }

    fn sync_response(&self, request_id: u64) -> &SyncGroupResponse {
        match self.response(request_id) {
            Some(GroupResponse::SyncGroup(r)) => r,
            other => panic!("request {request_id}: expected a SyncGroup response, got {other:?}"),
        }
    }

    fn commit_errors(&self, request_id: u64) -> Vec<Option<GroupError>> {
        match self.response(request_id) {
            Some(GroupResponse::OffsetCommit(r)) => r
                .topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| p.error))
                .collect(),
            other => {
                panic!("request {request_id}: expected an OffsetCommit response, got {other:?}")
            }
        }
    }

    fn state(&self, group_id: &str) -> Option<GroupState> {
        self.coordinator.group(group_id).map(Group::state)
    }

    fn join(&mut self, group_id: &str, member_id: &str, client_id: &str) -> u64 {
        self.send(GroupRequest::JoinGroup(join_request(
            group_id,
            member_id,
            client_id,
            &[("range", b"r")],
        )))
    }

    /// A dynamic member joins the v4+ way: MEMBER_ID_REQUIRED, then again
    /// with the id. Returns the id and the second request.
    fn join_new(&mut self, group_id: &str, client_id: &str) -> (String, u64) {
        let first = self.join(group_id, "", client_id);
        let response = self.join_response(first).clone();
        assert_eq!(response.error, Some(GroupError::MemberIdRequired));
        let member_id = response.member_id;
        let second = self.join(group_id, &member_id, client_id);
        (member_id, second)
    }

    fn sync(
        &mut self,
        group_id: &str,
        member_id: &str,
        generation_id: i32,
        assignments: &[(&str, &[u8])],
    ) -> u64 {
        self.send(GroupRequest::SyncGroup(SyncGroupRequest {
            group_id: group_id.into(),
            generation_id,
            member_id: member_id.into(),
            group_instance_id: None,
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            assignments: assignments
                .iter()
                .map(|(m, a)| (m.to_string(), a.to_vec()))
                .collect(),
        }))
    }

    fn heartbeat(
        &mut self,
        group_id: &str,
        member_id: &str,
        generation_id: i32,
    ) -> Option<GroupError> {
        let request_id = self.send(GroupRequest::Heartbeat(HeartbeatRequest {
            group_id: group_id.into(),
            generation_id,
            member_id: member_id.into(),
            group_instance_id: None,
        }));
        match self.response(request_id) {
            Some(GroupResponse::Heartbeat(r)) => r.error,
            other => panic!("expected a Heartbeat response, got {other:?}"),
        }
    }

    fn commit(&mut self, group_id: &str, member_id: &str, generation_id: i32, offset: i64) -> u64 {
        self.send(GroupRequest::OffsetCommit(OffsetCommitRequest {
            group_id: group_id.into(),
            generation_id,
            member_id: member_id.into(),
            group_instance_id: None,
            topics: vec![OffsetCommitTopic {
                name: "t".into(),
                partitions: vec![OffsetCommitPartition {
                    partition_index: 0,
                    committed_offset: offset,
                    committed_leader_epoch: 3,
                    committed_metadata: Some("m".into()),
                }],
            }],
            group_id_not_found_supported: true,
        }))
    }

    fn fetch(&mut self, group_id: &str) -> i64 {
        let request_id = self.send(GroupRequest::OffsetFetch(OffsetFetchRequest {
            group_id: group_id.into(),
            topics: Some(vec![OffsetFetchTopic {
                name: "t".into(),
                partition_indexes: vec![0],
            }]),
        }));
        match self.response(request_id) {
            Some(GroupResponse::OffsetFetch(r)) => r.topics[0].partitions[0].committed_offset,
            other => panic!("expected an OffsetFetch response, got {other:?}"),
        }
    }

    /// Two members "a" and "b" of group "g", Stable in generation 1, with
    /// the leader assigning `a→A`, `b→B`. Returns (leader id, follower id).
    fn stable_pair(&mut self) -> (String, String) {
        let (a, join_a) = self.join_new("g", "a");
        let (b, join_b) = self.join_new("g", "b");
        // b arrived during the initial delay, which is extended once.
        self.run_until(self.now_ms + 6_000);
        let (ra, rb) = (
            self.join_response(join_a).clone(),
            self.join_response(join_b).clone(),
        );
        assert_eq!((ra.error, rb.error), (None, None));
        assert_eq!(ra.generation_id, 1);
        let (leader, follower) = if ra.leader_id == a { (a, b) } else { (b, a) };
        let sync_follower = self.sync("g", &follower, 1, &[]);
        let sync_leader = self.sync("g", &leader, 1, &[(&leader, b"L"), (&follower, b"F")]);
        assert_eq!(self.sync_response(sync_leader).assignment, b"L");
        assert_eq!(self.sync_response(sync_follower).assignment, b"F");
        assert_eq!(self.state("g"), Some(GroupState::Stable));
        (leader, follower)
    }
}

fn join_request(
    group_id: &str,
    member_id: &str,
    client_id: &str,
    protocols: &[(&str, &[u8])],
) -> JoinGroupRequest {
    JoinGroupRequest {
        group_id: group_id.into(),
        member_id: member_id.into(),
        group_instance_id: None,
        client_id: client_id.into(),
        client_host: "/127.0.0.1".into(),
        session_timeout_ms: SESSION_MS,
        rebalance_timeout_ms: REBALANCE_MS,
        protocol_type: "consumer".into(),
        protocols: protocols
            .iter()
            .map(|(n, m)| JoinProtocol {
                name: n.to_string(),
                metadata: m.to_vec(),
            })
            .collect(),
        require_known_member_id: true,
        supports_skip_assignment: true,
    }
}

#[test]
fn two_members_join_sync_and_heartbeat() {
    let mut h = Harness::new();
    h.auto_persist = false;
    let first = h.join("g", "", "a");
    let second = h.join("g", "a-1-1", "a");
    let third = h.join("g", "", "b");
    let fourth = h.join("g", "b-1-2", "b");
    assert_eq!(h.state("g"), Some(GroupState::PreparingRebalance));
    assert!(
        h.response(second).is_none(),
        "the first join waits for the initial delay"
    );
    assert_eq!(h.coordinator.poll_timeout(), Some(3_000));
    assert!(
        h.advance(3_000).is_empty(),
        "b arrived during the delay: it is extended"
    );
    assert_eq!(h.coordinator.poll_timeout(), Some(6_000));
    let joined = h.advance(3_000);
    let sync_b = h.sync("g", "b-1-2", 1, &[]);
    let sync_a = h.sync("g", "a-1-1", 1, &[("a-1-1", b"A"), ("b-1-2", b"B")]);
    assert!(
        h.response(sync_a).is_none(),
        "the assignment waits for its persist"
    );
    assert_eq!(h.state("g"), Some(GroupState::CompletingRebalance));
    let synced = h.persist_up_to(0);
    assert_eq!(h.state("g"), Some(GroupState::Stable));
    h.advance(5_000);
    assert_eq!(h.heartbeat("g", "a-1-1", 1), None);
    assert_eq!(h.heartbeat("g", "b-1-2", 1), None);
    insta::assert_debug_snapshot!(
        "two_members",
        (
            h.join_response(first),
            h.join_response(third),
            joined,
            h.persists.is_empty(),
            h.durable_log.clone(),
            synced,
            h.sync_response(sync_b),
            h.join_response(fourth).generation_id,
        )
    );
}

#[test]
fn a_third_member_triggers_a_rebalance_into_a_new_generation() {
    let mut h = Harness::new();
    let (leader, follower) = h.stable_pair();
    let (c, join_c) = h.join_new("g", "c");
    assert_eq!(h.state("g"), Some(GroupState::PreparingRebalance));
    assert!(h.response(join_c).is_none());
    assert_eq!(
        h.heartbeat("g", &follower, 1),
        Some(GroupError::RebalanceInProgress)
    );
    let rejoin_leader = h.join("g", &leader, "x");
    assert!(
        h.response(rejoin_leader).is_none(),
        "waits for the follower"
    );
    let rejoin_follower = h.join("g", &follower, "x");
    // Everyone rejoined: the join phase ends at once (not the initial one).
    let responses = [rejoin_leader, rejoin_follower, join_c].map(|r| h.join_response(r).clone());
    assert!(responses
        .iter()
        .all(|r| r.error.is_none() && r.generation_id == 2));
    assert_eq!(
        responses[0].members.len(),
        3,
        "the leader gets every member"
    );
    assert!(responses[1].members.is_empty() && responses[2].members.is_empty());
    assert_eq!(responses[2].member_id, c);
    assert_eq!(
        h.heartbeat("g", &follower, 1),
        Some(GroupError::IllegalGeneration)
    );
    let sync_c = h.sync("g", &c, 2, &[]);
    h.sync("g", &leader, 2, &[(&c, b"C")]);
    assert_eq!(h.sync_response(sync_c).assignment, b"C");
    assert_eq!(h.state("g"), Some(GroupState::Stable));
}

#[test]
fn members_that_do_not_rejoin_in_the_rebalance_timeout_are_removed() {
    let mut h = Harness::new();
    let (leader, follower) = h.stable_pair();
    let rejoin = h.join("g", &leader, "x"); // the leader forces a rebalance
    assert!(h.response(rejoin).is_none());
    // The follower keeps heartbeating (REBALANCE_IN_PROGRESS) but never rejoins.
    for _ in 0..5 {
        h.advance(5_000);
        assert_eq!(
            h.heartbeat("g", &follower, 1),
            Some(GroupError::RebalanceInProgress)
        );
    }
    h.advance(5_000);
    let response = h.join_response(rejoin);
    assert_eq!(
        (
            response.error,
            response.generation_id,
            response.members.len()
        ),
        (None, 2, 1)
    );
    assert_eq!(
        h.heartbeat("g", &follower, 2),
        Some(GroupError::UnknownMemberId)
    );
}

#[test]
fn a_member_whose_session_expires_is_removed_and_the_group_rebalances() {
    let mut h = Harness::new();
    let (leader, follower) = h.stable_pair();
    let start_ms = h.now_ms;
    // Only the leader heartbeats.
    while h.now_ms < start_ms + i64::from(SESSION_MS) {
        h.advance(3_000);
        if h.state("g") == Some(GroupState::Stable) {
            assert_eq!(h.heartbeat("g", &leader, 1), None);
        }
    }
    assert_eq!(h.state("g"), Some(GroupState::PreparingRebalance));
    assert!(h
        .coordinator
        .group("g")
        .unwrap()
        .member(&follower)
        .is_none());
    assert_eq!(
        h.heartbeat("g", &leader, 1),
        Some(GroupError::RebalanceInProgress)
    );
    let rejoin = h.join("g", &leader, "a");
    let response = h.join_response(rejoin);
    assert_eq!((response.generation_id, response.members.len()), (2, 1));
    assert_eq!(
        h.heartbeat("g", &follower, 2),
        Some(GroupError::UnknownMemberId)
    );
}

/// Sessions run on the monotonic clock: a wall clock stepped back an hour
/// does not keep a silent member alive, and one stepped forward an hour
/// expires no one who heartbeats. Commits are stamped with wall time.
#[test]
fn wall_clock_steps_neither_expire_nor_keep_sessions() {
    let mut h = Harness::new();
    let (leader, follower) = h.stable_pair();
    h.wall_offset_ms = 3_600_000;
    for _ in 0..10 {
        h.advance(3_000);
        assert_eq!(h.heartbeat("g", &leader, 1), None);
        assert_eq!(h.heartbeat("g", &follower, 1), None);
    }
    assert_eq!(h.state("g"), Some(GroupState::Stable));
    let commit = h.commit("g", &leader, 1, 7);
    assert_eq!(h.commit_errors(commit), vec![None]);
    let committed = h.coordinator.committed_offset("g", "t", 0).unwrap();
    assert_eq!(committed.commit_timestamp_ms, h.now_ms + 3_600_000);

    h.wall_offset_ms = -3_600_000;
    let start_ms = h.now_ms;
    // Only the leader heartbeats: the follower's session still ends after
    // SESSION_MS of monotonic time.
    while h.now_ms < start_ms + i64::from(SESSION_MS) {
        h.advance(3_000);
        if h.state("g") == Some(GroupState::Stable) {
            assert_eq!(h.heartbeat("g", &leader, 1), None);
        }
    }
    assert_eq!(h.state("g"), Some(GroupState::PreparingRebalance));
    assert!(h
        .coordinator
        .group("g")
        .unwrap()
        .member(&follower)
        .is_none());
}

#[test]
fn leaving_members_trigger_a_rebalance_and_the_last_one_empties_the_group() {
    let mut h = Harness::new();
    let (leader, follower) = h.stable_pair();
    let leave = h.send(GroupRequest::LeaveGroup(LeaveGroupRequest {
        group_id: "g".into(),
        members: vec![
            LeavingMember {
                member_id: follower.clone(),
                group_instance_id: None,
            },
            LeavingMember {
                member_id: "nobody".into(),
                group_instance_id: None,
            },
        ],
    }));
    let Some(GroupResponse::LeaveGroup(response)) = h.response(leave) else {
        panic!("no leave response")
    };
    assert_eq!(response.error, None);
    assert_eq!(
        response.members.iter().map(|m| m.error).collect::<Vec<_>>(),
        vec![None, Some(GroupError::UnknownMemberId)]
    );
    assert_eq!(h.state("g"), Some(GroupState::PreparingRebalance));
    let rejoin = h.join("g", &leader, "a");
    assert_eq!(h.join_response(rejoin).generation_id, 2);
    h.send(GroupRequest::LeaveGroup(LeaveGroupRequest {
        group_id: "g".into(),
        members: vec![LeavingMember {
            member_id: leader.clone(),
            group_instance_id: None,
        }],
    }));
    let group = h.coordinator.group("g").unwrap();
    assert_eq!(
        (group.state(), group.generation_id()),
        (GroupState::Empty, 3)
    );
    assert!(
        matches!(h.durable_log.last(), Some(GroupRecord::GroupMetadata(m)) if m.members.is_empty() && m.generation_id == 3),
        "an Empty generation is persisted"
    );
}

#[test]
fn a_static_member_rejoining_without_its_id_fences_the_old_one() {
    let mut h = Harness::new();
    let static_join = |h: &mut Harness, member_id: &str| {
        let mut req = join_request("g", member_id, "client", &[("range", b"r")]);
        req.group_instance_id = Some("instance-1".into());
        h.send(GroupRequest::JoinGroup(req))
    };
    let first = static_join(&mut h, "");
    h.run_until(3_000);
    let old = h.join_response(first).clone();
    assert_eq!((old.error, old.generation_id), (None, 1));
    assert!(
        old.member_id.starts_with("instance-1-1-"),
        "static ids start with the instance id"
    );
    let sync = h.send(GroupRequest::SyncGroup(SyncGroupRequest {
        group_id: "g".into(),
        generation_id: 1,
        member_id: old.member_id.clone(),
        group_instance_id: Some("instance-1".into()),
        protocol_type: None,
        protocol_name: None,
        assignments: vec![(old.member_id.clone(), b"P".to_vec())],
    }));
    assert_eq!(h.sync_response(sync).assignment, b"P");

    // The instance restarts and joins without its member id: no rebalance.
    let again = static_join(&mut h, "");
    let new = h.join_response(again).clone();
    assert_eq!(new.error, None);
    assert_ne!(new.member_id, old.member_id);
    assert_eq!(
        (
            new.generation_id,
            new.leader_id.clone(),
            new.skip_assignment
        ),
        (1, new.member_id.clone(), true)
    );
    assert_eq!(h.state("g"), Some(GroupState::Stable));
    let heartbeat = |h: &mut Harness, member_id: &str| {
        let request_id = h.send(GroupRequest::Heartbeat(HeartbeatRequest {
            group_id: "g".into(),
            generation_id: 1,
            member_id: member_id.into(),
            group_instance_id: Some("instance-1".into()),
        }));
        match h.response(request_id) {
            Some(GroupResponse::Heartbeat(r)) => r.error,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(
        heartbeat(&mut h, &old.member_id),
        Some(GroupError::FencedInstanceId)
    );
    assert_eq!(heartbeat(&mut h, &new.member_id), None);
    let stale_join = static_join(&mut h, &old.member_id);
    assert_eq!(
        h.join_response(stale_join).error,
        Some(GroupError::FencedInstanceId)
    );
    // The member keeps its assignment.
    let sync = h.send(GroupRequest::SyncGroup(SyncGroupRequest {
        group_id: "g".into(),
        generation_id: 1,
        member_id: new.member_id.clone(),
        group_instance_id: Some("instance-1".into()),
        protocol_type: None,
        protocol_name: None,
        assignments: Vec::new(),
    }));
    assert_eq!(h.sync_response(sync).assignment, b"P");
}

#[test]
fn a_static_member_replaced_while_its_old_id_waits_in_a_join_gets_fenced() {
    let mut h = Harness::new();
    let mut req = join_request("g", "", "client", &[("range", b"r")]);
    req.group_instance_id = Some("i".into());
    let first = h.send(GroupRequest::JoinGroup(req.clone()));
    assert!(h.response(first).is_none());
    let second = h.send(GroupRequest::JoinGroup(req));
    assert_eq!(
        h.join_response(first).error,
        Some(GroupError::FencedInstanceId)
    );
    h.run_until(3_000);
    let response = h.join_response(second);
    assert_eq!(
        (
            response.error,
            response.generation_id,
            response.members.len()
        ),
        (None, 1, 1)
    );
}

#[test]
fn commits_with_a_stale_generation_are_rejected() {
    let mut h = Harness::new();
    let (leader, follower) = h.stable_pair();
    let stale = h.commit("g", &leader, 0, 10);
    assert_eq!(
        h.commit_errors(stale),
        vec![Some(GroupError::IllegalGeneration)]
    );
    let ok = h.commit("g", &follower, 1, 10);
    assert_eq!(h.commit_errors(ok), vec![None]);
    assert_eq!(h.fetch("g"), 10);
    // During a rebalance commits of the current generation still count;
    // after the join phase, before the sync, they do not.
    h.join("g", &leader, "a");
    let during = h.commit("g", &follower, 1, 11);
    assert_eq!(h.commit_errors(during), vec![None]);
    h.join("g", &follower, "b");
    assert_eq!(h.state("g"), Some(GroupState::CompletingRebalance));
    let completing = h.commit("g", &follower, 2, 12);
    assert_eq!(
        h.commit_errors(completing),
        vec![Some(GroupError::RebalanceInProgress)]
    );
    let old = h.commit("g", &follower, 1, 12);
    assert_eq!(
        h.commit_errors(old),
        vec![Some(GroupError::IllegalGeneration)]
    );
    assert_eq!(h.fetch("g"), 11);
}

#[test]
fn commits_from_non_members_are_rejected() {
    let mut h = Harness::new();
    h.stable_pair();
    let stranger = h.commit("g", "stranger", 1, 5);
    assert_eq!(
        h.commit_errors(stranger),
        vec![Some(GroupError::UnknownMemberId)]
    );
    let simple_on_busy_group = h.commit("g", "", -1, 5);
    assert_eq!(
        h.commit_errors(simple_on_busy_group),
        vec![Some(GroupError::UnknownMemberId)]
    );
    let unknown_group = h.commit("nope", "m", 1, 5);
    assert_eq!(
        h.commit_errors(unknown_group),
        vec![Some(GroupError::GroupIdNotFound)]
    );
    assert!(h.coordinator.group("nope").is_none());
    assert_eq!(h.fetch("g"), -1);
}

#[test]
fn simple_commits_on_an_empty_group_are_accepted_once_durable() {
    let mut h = Harness::new();
    h.auto_persist = false;
    let commit = h.commit("simple", "", -1, 42);
    assert!(
        h.response(commit).is_none(),
        "the commit waits for its persist"
    );
    assert_eq!(
        h.fetch("simple"),
        -1,
        "nothing is visible before it is durable"
    );
    let actions = h.persist_up_to(0);
    assert_eq!(h.commit_errors(commit), vec![None]);
    assert_eq!(h.fetch("simple"), 42);
    let group = h.coordinator.group("simple").unwrap();
    assert_eq!(
        (group.state(), group.protocol_type()),
        (GroupState::Empty, None)
    );
    let committed = h.coordinator.committed_offset("simple", "t", 0).unwrap();
    assert_eq!(
        (committed.leader_epoch, committed.metadata.as_deref()),
        (3, Some("m"))
    );
    insta::assert_debug_snapshot!("simple_commit", (h.durable_log.clone(), actions));

    // A failed persist answers with the caller's error and stores nothing.
    let failed = h.commit("simple", "", -1, 43);
    let actions = h
        .coordinator
        .on_persist_failed(h.now_ms, 1, GroupError::NotCoordinator);
    h.absorb(actions);
    assert_eq!(
        h.commit_errors(failed),
        vec![Some(GroupError::NotCoordinator)]
    );
    assert_eq!(h.fetch("simple"), 42);
}

#[test]
fn unknown_and_inconsistent_protocols_are_rejected() {
    let mut h = Harness::new();
    let (leader, _) = h.stable_pair();
    let other_type = {
        let mut req = join_request("g", "", "c", &[("range", b"r")]);
        req.protocol_type = "connect".into();
        h.send(GroupRequest::JoinGroup(req))
    };
    assert_eq!(
        h.join_response(other_type).error,
        Some(GroupError::InconsistentGroupProtocol)
    );
    let no_common = h.send(GroupRequest::JoinGroup(join_request(
        "g",
        "",
        "c",
        &[("roundrobin", b"x")],
    )));
    assert_eq!(
        h.join_response(no_common).error,
        Some(GroupError::InconsistentGroupProtocol)
    );
    let no_protocols = h.send(GroupRequest::JoinGroup(join_request("fresh", "", "c", &[])));
    assert_eq!(
        h.join_response(no_protocols).error,
        Some(GroupError::InconsistentGroupProtocol)
    );
    let wrong_name = h.send(GroupRequest::SyncGroup(SyncGroupRequest {
        group_id: "g".into(),
        generation_id: 1,
        member_id: leader.clone(),
        group_instance_id: None,
        protocol_type: Some("consumer".into()),
        protocol_name: Some("roundrobin".into()),
        assignments: Vec::new(),
    }));
    assert_eq!(
        h.sync_response(wrong_name).error,
        Some(GroupError::InconsistentGroupProtocol)
    );
    assert_eq!(h.state("g"), Some(GroupState::Stable));
}

#[test]
fn the_protocol_is_the_one_most_members_prefer_among_common_ones() {
    let mut h = Harness::new();
    let a = h.send(GroupRequest::JoinGroup({
        let mut r = join_request(
            "g",
            "",
            "a",
            &[("sticky", b"s"), ("range", b"r"), ("rr", b"x")],
        );
        r.require_known_member_id = false;
        r
    }));
    // (member, its two (protocol, metadata) offers)
    type Offer<'a> = (&'a str, [(&'a str, &'a [u8]); 2]);
    let offers: [Offer; 2] = [
        ("b", [("range", b"r"), ("sticky", b"s")]),
        ("c", [("range", b"r"), ("rr", b"x")]),
    ];
    for (client, protocols) in offers {
        let mut r = join_request("g", "", client, &protocols);
        r.require_known_member_id = false;
        h.send(GroupRequest::JoinGroup(r));
    }
    h.run_until(6_000);
    let response = h.join_response(a);
    assert_eq!(
        response.protocol_name.as_deref(),
        Some("range"),
        "c supports only range and rr"
    );
    assert!(
        response.members.iter().all(|m| m.metadata == b"r"),
        "the leader sees range metadata"
    );
}

#[test]
fn the_initial_rebalance_delay_extends_while_members_arrive() {
    let mut h = Harness::new();
    let (_, a) = h.join_new("g", "a");
    assert_eq!(h.coordinator.poll_timeout(), Some(3_000));
    h.now_ms = 2_000;
    let (_, b) = h.join_new("g", "b");
    h.advance(1_000);
    assert!(
        h.response(a).is_none(),
        "a new member arrived: the delay is extended"
    );
    assert_eq!(h.coordinator.poll_timeout(), Some(6_000));
    h.advance(3_000);
    assert_eq!(h.join_response(a).generation_id, 1);
    assert_eq!(h.join_response(b).generation_id, 1);
}

#[test]
fn a_pending_member_that_never_rejoins_expires() {
    let mut h = Harness::new();
    let first = h.join("g", "", "a");
    assert_eq!(
        h.join_response(first).error,
        Some(GroupError::MemberIdRequired)
    );
    assert_eq!(h.coordinator.poll_timeout(), Some(i64::from(SESSION_MS)));
    h.advance(i64::from(SESSION_MS));
    assert_eq!(h.coordinator.poll_timeout(), None);
    let late = h.join("g", &h.join_response(first).member_id.clone(), "a");
    assert_eq!(
        h.join_response(late).error,
        Some(GroupError::UnknownMemberId)
    );
}

#[test]
fn a_follower_that_never_syncs_is_removed_after_the_rebalance_timeout() {
    let mut h = Harness::new();
    let (a, join_a) = h.join_new("g", "a");
    let (b, _) = h.join_new("g", "b");
    h.run_until(6_000);
    let leader = h.join_response(join_a).leader_id.clone();
    let follower = if leader == a { b } else { a };
    let sync = h.sync("g", &leader, 1, &[]);
    assert_eq!(h.sync_response(sync).error, None);
    // The follower heartbeats but never syncs.
    for _ in 0..(REBALANCE_MS / 5_000) {
        h.advance(5_000);
        h.heartbeat("g", &leader, 1);
        h.heartbeat("g", &follower, 1);
    }
    h.advance(1);
    assert_eq!(h.state("g"), Some(GroupState::PreparingRebalance));
    assert!(h
        .coordinator
        .group("g")
        .unwrap()
        .member(&follower)
        .is_none());
}

#[test]
fn heartbeats_report_kafkas_errors() {
    let mut h = Harness::new();
    assert_eq!(
        h.heartbeat("nope", "m", 1),
        Some(GroupError::UnknownMemberId)
    );
    assert_eq!(h.heartbeat("", "m", 1), Some(GroupError::InvalidGroupId));
    let (leader, _) = h.stable_pair();
    assert_eq!(
        h.heartbeat("g", &leader, 7),
        Some(GroupError::IllegalGeneration)
    );
    assert_eq!(
        h.heartbeat("g", "stranger", 1),
        Some(GroupError::UnknownMemberId)
    );
    let deadline_before = h
        .coordinator
        .group("g")
        .unwrap()
        .member(&leader)
        .unwrap()
        .session_deadline_ms;
    h.advance(1_000);
    assert_eq!(h.heartbeat("g", &leader, 1), None);
    let deadline_after = h
        .coordinator
        .group("g")
        .unwrap()
        .member(&leader)
        .unwrap()
        .session_deadline_ms;
    assert_eq!(deadline_after, Some(h.now_ms + i64::from(SESSION_MS)));
    assert!(deadline_after > deadline_before);
}

#[test]
fn a_restart_replays_offsets_and_the_stable_generation() {
    let mut h = Harness::new();
    let (leader, follower) = h.stable_pair();
    let commit = h.commit("g", &leader, 1, 77);
    assert_eq!(h.commit_errors(commit), vec![None]);
    h.commit("simple", "", -1, 5);

    // Records round-trip through bytes, as they would through the log.
    let log: Vec<GroupRecord> = h
        .durable_log
        .iter()
        .map(|r| bincode::deserialize(&bincode::serialize(r).unwrap()).unwrap())
        .collect();
    assert_eq!(log, h.durable_log);
    let mut restarted = GroupCoordinator::new(GroupConfig::default(), 2);
    let early = restarted.handle(
        0,
        1,
        GroupRequest::ListGroups {
            states_filter: Vec::new(),
        },
    );
    assert!(matches!(
        &early[..],
        [GroupAction::Respond { response: GroupResponse::ListGroups(r), .. }]
            if r.error == Some(GroupError::CoordinatorLoadInProgress)
    ));
    for record in &log {
        restarted.replay(record);
    }
    let load_ms = h.now_ms + 60_000;
    assert!(restarted.on_loaded(load_ms).is_empty());
    let mut h2 = Harness {
        coordinator: restarted,
        now_ms: load_ms,
        ..Harness::new()
    };
    assert_eq!(h2.fetch("g"), 77);
    assert_eq!(h2.fetch("simple"), 5);
    let group = h2.coordinator.group("g").unwrap();
    assert_eq!(
        (group.state(), group.generation_id(), group.leader_id()),
        (GroupState::Stable, 1, Some(leader.as_str()))
    );
    // Members go on where they were; one that stays away expires.
    assert_eq!(h2.heartbeat("g", &leader, 1), None);
    let sync = h2.sync("g", &follower, 1, &[]);
    assert_eq!(h2.sync_response(sync).assignment, b"F");
    h2.advance(5_000);
    assert_eq!(h2.heartbeat("g", &leader, 1), None);
    h2.advance(5_000);
    assert_eq!(h2.state("g"), Some(GroupState::PreparingRebalance));
    // New member ids never repeat ids of the earlier incarnation.
    let (new_id, _) = h2.join_new("g", "a");
    assert!(new_id.starts_with("a-2-"), "{new_id}");
}

#[test]
fn only_empty_groups_can_be_deleted_and_their_offsets_go_with_them() {
    let mut h = Harness::new();
    let (leader, follower) = h.stable_pair();
    h.commit("g", &leader, 1, 9);
    h.commit("simple", "", -1, 5);
    let delete = h.send(GroupRequest::DeleteGroups {
        group_ids: vec!["g".into(), "simple".into(), "nope".into(), "".into()],
    });
    let Some(GroupResponse::DeleteGroups(results)) = h.response(delete) else {
        panic!("no delete response")
    };
    let errors: Vec<_> = results.iter().map(|r| r.error).collect();
    assert_eq!(
        errors,
        vec![
            Some(GroupError::NonEmptyGroup),
            None,
            Some(GroupError::GroupIdNotFound),
            Some(GroupError::InvalidGroupId)
        ]
    );
    assert!(h.coordinator.group("simple").is_none());
    assert_eq!(h.fetch("simple"), -1);
    let tail: Vec<_> = h.durable_log.iter().rev().take(2).cloned().collect();
    assert_eq!(
        tail,
        vec![
            GroupRecord::GroupTombstone {
                group_id: "simple".into()
            },
            GroupRecord::OffsetTombstone {
                group_id: "simple".into(),
                topic: "t".into(),
                partition: 0
            },
        ]
    );
    // Once everyone left, "g" can go too; a replay agrees.
    h.send(GroupRequest::LeaveGroup(LeaveGroupRequest {
        group_id: "g".into(),
        members: vec![
            LeavingMember {
                member_id: leader,
                group_instance_id: None,
            },
            LeavingMember {
                member_id: follower,
                group_instance_id: None,
            },
        ],
    }));
    assert_eq!(h.state("g"), Some(GroupState::Empty));
    let delete = h.send(GroupRequest::DeleteGroups {
        group_ids: vec!["g".into()],
    });
    assert!(
        matches!(h.response(delete), Some(GroupResponse::DeleteGroups(r)) if r[0].error.is_none())
    );
    let mut restarted = GroupCoordinator::new(GroupConfig::default(), 2);
    for record in &h.durable_log {
        restarted.replay(record);
    }
    restarted.on_loaded(h.now_ms);
    assert_eq!(restarted.group_count(), 0);
}

#[test]
fn describe_and_list_show_states_members_and_filters() {
    let mut h = Harness::new();
    let (leader, _) = h.stable_pair();
    h.commit("simple", "", -1, 5);
    let describe = h.send(GroupRequest::DescribeGroups {
        group_ids: vec!["g".into(), "nope".into()],
    });
    let Some(GroupResponse::DescribeGroups(groups)) = h.response(describe) else {
        panic!()
    };
    assert_eq!(
        (groups[0].state, groups[0].protocol_data.as_str()),
        (GroupState::Stable, "range")
    );
    let described_leader = groups[0]
        .members
        .iter()
        .find(|m| m.member_id == leader)
        .unwrap();
    assert_eq!(
        (
            described_leader.member_metadata.as_slice(),
            described_leader.member_assignment.as_slice()
        ),
        (&b"r"[..], &b"L"[..])
    );
    assert_eq!((groups[1].state, groups[1].error), (GroupState::Dead, None));
    let list = h.send(GroupRequest::ListGroups {
        states_filter: vec![GroupState::Empty],
    });
    let Some(GroupResponse::ListGroups(listed)) = h.response(list) else {
        panic!()
    };
    assert_eq!(
        listed.groups,
        vec![ListedGroup {
            group_id: "simple".into(),
            protocol_type: String::new(),
            state: GroupState::Empty
        }]
    );
    let list = h.send(GroupRequest::ListGroups {
        states_filter: Vec::new(),
    });
    let Some(GroupResponse::ListGroups(listed)) = h.response(list) else {
        panic!()
    };
    assert_eq!(listed.groups.len(), 2);
}

#[test]
fn limits_are_enforced_with_clear_errors() {
    let config = GroupConfig {
        group_member_count_max: 2,
        group_count_max: 2,
        offset_metadata_max_bytes: 4,
        ..GroupConfig::default()
    };
    let mut h = Harness::with_config(config);
    h.stable_pair();
    let third = h.join("g", "", "c");
    assert_eq!(
        h.join_response(third).error,
        Some(GroupError::GroupMaxSizeReached)
    );
    assert_eq!(
        h.state("g"),
        Some(GroupState::Stable),
        "a refused member does not disturb the group"
    );
    let mut bad_session = join_request("g2", "", "c", &[("range", b"r")]);
    bad_session.session_timeout_ms = 1;
    let bad_session = h.send(GroupRequest::JoinGroup(bad_session));
    assert_eq!(
        h.join_response(bad_session).error,
        Some(GroupError::InvalidSessionTimeout)
    );
    h.commit("second", "", -1, 1);
    let third_group = h.commit("third", "", -1, 1);
    assert_eq!(
        h.commit_errors(third_group),
        vec![Some(GroupError::CoordinatorNotAvailable)]
    );
    let big = h.send(GroupRequest::OffsetCommit(OffsetCommitRequest {
        group_id: "second".into(),
        generation_id: -1,
        member_id: String::new(),
        group_instance_id: None,
        topics: vec![OffsetCommitTopic {
            name: "t".into(),
            partitions: vec![OffsetCommitPartition {
                partition_index: 1,
                committed_offset: 1,
                committed_leader_epoch: -1,
                committed_metadata: Some("too long".into()),
            }],
        }],
        group_id_not_found_supported: true,
    }));
    assert_eq!(
        h.commit_errors(big),
        vec![Some(GroupError::OffsetMetadataTooLarge)]
    );
    let long_id = h.join(&"x".repeat(300), "", "c");
    assert_eq!(
        h.join_response(long_id).error,
        Some(GroupError::InvalidGroupId)
    );
}

#[test]
fn resigning_answers_every_waiting_request() {
    let mut h = Harness::new();
    h.auto_persist = false;
    let (_, join) = h.join_new("g", "a");
    let commit = h.commit("simple", "", -1, 1);
    let actions = h.coordinator.resign();
    h.absorb(actions);
    assert_eq!(
        h.join_response(join).error,
        Some(GroupError::NotCoordinator)
    );
    assert_eq!(
        h.commit_errors(commit),
        vec![Some(GroupError::NotCoordinator)]
    );
    assert_eq!(h.coordinator.group_count(), 0);
}

#[test]
fn a_failed_assignment_persist_sends_the_members_back_to_rejoin() {
    let mut h = Harness::new();
    let (a, join_a) = h.join_new("g", "a");
    let (b, _) = h.join_new("g", "b");
    h.run_until(6_000);
    let leader = h.join_response(join_a).leader_id.clone();
    let follower = if leader == a { b } else { a };
    h.auto_persist = false;
    let sync_follower = h.sync("g", &follower, 1, &[]);
    let sync_leader = h.sync("g", &leader, 1, &[]);
    let persist_id = h.persists[0].0;
    let actions =
        h.coordinator
            .on_persist_failed(h.now_ms, persist_id, GroupError::CoordinatorNotAvailable);
    h.absorb(actions);
    assert_eq!(
        h.sync_response(sync_leader).error,
        Some(GroupError::CoordinatorNotAvailable)
    );
    assert_eq!(
        h.sync_response(sync_follower).error,
        Some(GroupError::CoordinatorNotAvailable)
    );
    assert_eq!(h.state("g"), Some(GroupState::PreparingRebalance));
}

// ----- OffsetDelete -------------------------------------------------------

fn offset_delete(group_id: &str, topics: &[(&str, &[i32])]) -> GroupRequest {
    GroupRequest::OffsetDelete(OffsetDeleteRequest {
        group_id: group_id.into(),
        topics: topics
            .iter()
            .map(|(name, partitions)| OffsetDeleteTopic {
                name: name.to_string(),
                partition_indexes: partitions.to_vec(),
            })
            .collect(),
    })
}

impl Harness {
    fn offset_delete_response(&self, request_id: u64) -> &OffsetDeleteResponse {
        match self.response(request_id) {
            Some(GroupResponse::OffsetDelete(r)) => r,
            other => {
                panic!("request {request_id}: expected an OffsetDelete response, got {other:?}")
            }
        }
    }

    /// (topic, partition, error) of every answered partition, in order.
    fn offset_delete_errors(&self, request_id: u64) -> Vec<(String, i32, Option<GroupError>)> {
        let response = self.offset_delete_response(request_id);
        assert_eq!(response.error, None);
        response
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(|p| (t.name.clone(), p.partition_index, p.error))
            })
            .collect()
    }

    /// One consumer member of `group_id` subscribed to `topics`, Stable.
    fn stable_consumer(&mut self, group_id: &str, protocol_type: &str, topics: &[&str]) -> String {
        let subscription = consumer_subscription::encode_subscription(topics);
        let join = |h: &mut Harness, member_id: &str| {
            let mut request = join_request(group_id, member_id, "c", &[("range", &subscription)]);
            request.protocol_type = protocol_type.into();
            h.send(GroupRequest::JoinGroup(request))
        };
        let first = join(self, "");
        let member_id = self.join_response(first).member_id.clone();
        let second = join(self, &member_id);
        self.run_until(self.now_ms + 10_000);
        assert_eq!(self.join_response(second).error, None);
        let sync = self.send(GroupRequest::SyncGroup(SyncGroupRequest {
            group_id: group_id.into(),
            generation_id: 1,
            member_id: member_id.clone(),
            group_instance_id: None,
            protocol_type: None,
            protocol_name: None,
            assignments: vec![(member_id.clone(), b"A".to_vec())],
        }));
        assert_eq!(self.sync_response(sync).error, None);
        assert_eq!(self.state(group_id), Some(GroupState::Stable));
        member_id
    }
}

#[test]
fn offset_delete_removes_an_empty_groups_offsets_once_durable_and_for_good() {
    let mut h = Harness::new();
    h.commit("simple", "", -1, 5);
    h.auto_persist = false;
    let delete = h.send(offset_delete("simple", &[("t", &[0, 1, 0])]));
    assert!(
        h.response(delete).is_none(),
        "the answer waits for durability"
    );
    assert_eq!(h.fetch("simple"), 5, "still committed until durable");
    h.persist_up_to(1);
    assert_eq!(
        h.offset_delete_errors(delete),
        vec![("t".into(), 0, None), ("t".into(), 1, None)]
    );
    assert_eq!(h.fetch("simple"), -1);
    assert_eq!(
        h.durable_log[1..],
        [
            GroupRecord::OffsetTombstone {
                group_id: "simple".into(),
                topic: "t".into(),
                partition: 0
            },
            GroupRecord::OffsetTombstone {
                group_id: "simple".into(),
                topic: "t".into(),
                partition: 1
            },
        ]
    );
    // The group itself stays (Kafka deletes only offsets).
    assert_eq!(h.state("simple"), Some(GroupState::Empty));

    // A replay of the offsets topic agrees: the offset stays deleted.
    let mut restarted = GroupCoordinator::new(GroupConfig::default(), 2);
    for record in &h.durable_log {
        restarted.replay(record);
    }
    restarted.on_loaded(h.now_ms);
    assert!(restarted.committed_offset("simple", "t", 0).is_none());

    // A failed persist answers with the caller's error on every partition.
    h.auto_persist = true;
    h.commit("simple", "", -1, 6);
    h.auto_persist = false;
    let failed = h.send(offset_delete("simple", &[("t", &[0])]));
    let actions = h
        .coordinator
        .on_persist_failed(h.now_ms, 3, GroupError::NotCoordinator);
    h.absorb(actions);
    assert_eq!(
        h.offset_delete_errors(failed),
        vec![("t".into(), 0, Some(GroupError::NotCoordinator))]
    );
}

#[test]
fn offset_delete_refuses_unknown_invalid_and_active_non_consumer_groups() {
    let mut h = Harness::new();
    for (group_id, error) in [
        ("nope", GroupError::GroupIdNotFound),
        ("", GroupError::InvalidGroupId),
    ] {
        let delete = h.send(offset_delete(group_id, &[("t", &[0])]));
        assert_eq!(
            h.offset_delete_response(delete),
            &OffsetDeleteResponse {
                error: Some(error),
                topics: Vec::new()
            }
        );
    }
    h.stable_consumer("connect", "connect", &["t"]);
    let delete = h.send(offset_delete("connect", &[("t", &[0])]));
    assert_eq!(
        h.offset_delete_response(delete).error,
        Some(GroupError::NonEmptyGroup)
    );
}

#[test]
fn offset_delete_spares_topics_an_active_consumer_group_subscribes_to() {
    let mut h = Harness::new();
    let member = h.stable_consumer("g", "consumer", &["t"]);
    let commit = h.send(GroupRequest::OffsetCommit(OffsetCommitRequest {
        group_id: "g".into(),
        generation_id: 1,
        member_id: member,
        group_instance_id: None,
        topics: ["t", "u"]
            .iter()
            .map(|name| OffsetCommitTopic {
                name: name.to_string(),
                partitions: vec![OffsetCommitPartition {
                    partition_index: 0,
                    committed_offset: 7,
                    committed_leader_epoch: -1,
                    committed_metadata: None,
                }],
            })
            .collect(),
        group_id_not_found_supported: true,
    }));
    assert_eq!(h.commit_errors(commit), vec![None, None]);
    let delete = h.send(offset_delete("g", &[("t", &[0]), ("u", &[0])]));
    assert_eq!(
        h.offset_delete_errors(delete),
        vec![
            ("t".into(), 0, Some(GroupError::GroupSubscribedToTopic)),
            ("u".into(), 0, None)
        ]
    );
    assert!(h.coordinator.committed_offset("g", "t", 0).is_some());
    assert!(h.coordinator.committed_offset("g", "u", 0).is_none());
    assert_eq!(GroupError::GroupSubscribedToTopic.kafka_code(), 86);
}
