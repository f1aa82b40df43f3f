//! The group coordinator's limits and timeouts, with Kafka's names and
//! defaults where Kafka has them.

/// Every limit the coordinator enforces is a field here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfig {
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of
    /// an empty group waits for more members (extended while members keep
    /// arriving, up to the rebalance timeout).
    pub initial_rebalance_delay_ms: i64,
    /// `group.min.session.timeout.ms`.
    pub session_timeout_min_ms: i32,
    /// `group.max.session.timeout.ms`.
    pub session_timeout_max_ms: i32,
    /// How long a new member may wait in a JoinGroup before it is dropped
    /// (Kafka's internal `group.new.member.join.timeout`, 5 minutes).
    pub new_member_join_timeout_ms: i64,
    /// `group.max.size`: members (plus members still joining) per group.
    pub group_member_count_max: usize,
    /// Groups this coordinator holds; a request that would create one more
    /// gets `COORDINATOR_NOT_AVAILABLE`.
    pub group_count_max: usize,
    /// Longest accepted group id; longer ids get `INVALID_GROUP_ID`.
    pub group_id_length_max_bytes: usize,
    /// `offset.metadata.max.bytes`.
    pub offset_metadata_max_bytes: usize,
    /// Committed partitions per group; commits of new partitions beyond it
    /// get `INVALID_COMMIT_OFFSET_SIZE`. Checked against durable offsets,
    /// so in-flight commits can overshoot by what they carry.
    pub committed_offset_count_max: usize,
    /// Partitions in one OffsetCommit request.
    pub offset_commit_partition_count_max: usize,
    /// Protocols one member may offer in a JoinGroup.
    pub member_protocol_count_max: usize,
    /// Bytes of one member's protocol metadata, summed over its protocols.
    pub member_metadata_max_bytes: usize,
    /// Bytes of one member's assignment in a SyncGroup.
    pub member_assignment_max_bytes: usize,
    /// Persists handed out and not yet reported durable or failed.
    pub pending_persist_count_max: usize,
}

impl Default for GroupConfig {
    fn default() -> GroupConfig {
        GroupConfig {
            initial_rebalance_delay_ms: 3_000,
            session_timeout_min_ms: 6_000,
            session_timeout_max_ms: 1_800_000,
            new_member_join_timeout_ms: 300_000,
            group_member_count_max: 1_000,
            group_count_max: 100_000,
            group_id_length_max_bytes: 255,
            offset_metadata_max_bytes: 4_096,
            committed_offset_count_max: 100_000,
            offset_commit_partition_count_max: 10_000,
            member_protocol_count_max: 64,
            member_metadata_max_bytes: 1 << 20,
            member_assignment_max_bytes: 1 << 20,
            pending_persist_count_max: 100_000,
        }
    }
}

impl GroupConfig {
    /// Asserts that the configuration is usable (a programming error if not).
    pub fn assert_valid(&self) {
        assert!(
            self.initial_rebalance_delay_ms >= 0,
            "initial rebalance delay is not negative"
        );
        assert!(
            self.session_timeout_min_ms > 0,
            "session timeouts are positive"
        );
        assert!(
            self.session_timeout_min_ms <= self.session_timeout_max_ms,
            "session timeout bounds are ordered"
        );
        assert!(
            self.new_member_join_timeout_ms > 0,
            "the new member join timeout is positive"
        );
        assert!(
            self.group_member_count_max > 0 && self.group_count_max > 0,
            "groups can hold members"
        );
        assert!(
            self.group_id_length_max_bytes > 0,
            "group ids can be non-empty"
        );
        assert!(
            self.pending_persist_count_max > 0,
            "at least one persist can be in flight"
        );
    }
}
