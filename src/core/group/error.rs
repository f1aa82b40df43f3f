//! The errors the group coordinator answers with, and their Kafka codes.

use serde::{Deserialize, Serialize};

/// An error in a group coordinator response. Each maps to one Kafka error
/// code ([`GroupError::kafka_code`]); "no error" is `None` in a response.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    thiserror::Error,
)]
pub enum GroupError {
    /// The group is being unloaded, or a coordinator-wide limit (group
    /// count, in-flight persists) is reached: the client retries.
    #[error("the coordinator is not available")]
    CoordinatorNotAvailable,
    /// The coordinator is still replaying the group records after a start.
    #[error("the coordinator is loading")]
    CoordinatorLoadInProgress,
    /// This node does not coordinate the group (any more).
    #[error("this node is not the coordinator")]
    NotCoordinator,
    #[error("the generation id is not the group's current one")]
    IllegalGeneration,
    /// The protocol type or protocols do not match the group's.
    #[error("the group protocol is inconsistent")]
    InconsistentGroupProtocol,
    #[error("the group id is invalid")]
    InvalidGroupId,
    #[error("the member id is unknown to the group")]
    UnknownMemberId,
    #[error("the session timeout is outside the broker's bounds")]
    InvalidSessionTimeout,
    #[error("the group is rebalancing")]
    RebalanceInProgress,
    /// A commit is larger than a named limit allows.
    #[error("the offset commit is too large")]
    InvalidCommitOffsetSize,
    #[error("the offset metadata is too large")]
    OffsetMetadataTooLarge,
    #[error("the group is not empty")]
    NonEmptyGroup,
    #[error("the group does not exist")]
    GroupIdNotFound,
    /// JoinGroup v4+: rejoin with the member id carried by the response.
    #[error("a member id is required to join")]
    MemberIdRequired,
    #[error("the group has reached its maximum size")]
    GroupMaxSizeReached,
    /// A static member (`group.instance.id`) was replaced by a newer member id.
    #[error("the static member was fenced by a newer instance")]
    FencedInstanceId,
    /// A member's protocols or assignment exceed a named size limit (the
    /// group record would be too large to persist).
    #[error("the group data is larger than the coordinator accepts")]
    MessageTooLarge,
    /// OffsetDelete: an active consumer group is subscribed to the topic.
    #[error("the group is subscribed to the topic")]
    GroupSubscribedToTopic,
}

impl GroupError {
    /// The Kafka protocol error code.
    pub fn kafka_code(self) -> i16 {
        match self {
            GroupError::MessageTooLarge => 10,
            GroupError::OffsetMetadataTooLarge => 12,
            GroupError::CoordinatorLoadInProgress => 14,
            GroupError::CoordinatorNotAvailable => 15,
            GroupError::NotCoordinator => 16,
            GroupError::IllegalGeneration => 22,
            GroupError::InconsistentGroupProtocol => 23,
            GroupError::InvalidGroupId => 24,
            GroupError::UnknownMemberId => 25,
            GroupError::InvalidSessionTimeout => 26,
            GroupError::RebalanceInProgress => 27,
            GroupError::InvalidCommitOffsetSize => 28,
            GroupError::NonEmptyGroup => 68,
            GroupError::GroupIdNotFound => 69,
            GroupError::MemberIdRequired => 79,
            GroupError::GroupMaxSizeReached => 81,
            GroupError::FencedInstanceId => 82,
            GroupError::GroupSubscribedToTopic => 86,
        }
    }

    /// The code for an optional error: 0 is Kafka's NONE.
    pub fn code_of(error: Option<GroupError>) -> i16 {
        error.map_or(0, GroupError::kafka_code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_kafkas() {
        assert_eq!(GroupError::code_of(None), 0);
        assert_eq!(GroupError::MemberIdRequired.kafka_code(), 79);
        assert_eq!(GroupError::FencedInstanceId.kafka_code(), 82);
        assert_eq!(GroupError::NonEmptyGroup.kafka_code(), 68);
        assert_eq!(GroupError::GroupIdNotFound.kafka_code(), 69);
    }
}
