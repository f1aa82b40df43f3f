//! A classic group's states and the transitions Kafka allows between them.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum GroupState {
    /// No members; committed offsets may remain.
    Empty,
    /// Waiting for the members to (re)join.
    PreparingRebalance,
    /// Joined; waiting for the leader's assignment (SyncGroup).
    CompletingRebalance,
    /// Every member has its assignment for the current generation.
    Stable,
    /// Deleted or unloaded; never stored, reported for unknown groups.
    Dead,
}

impl GroupState {
    /// Kafka's name, as in DescribeGroups and ListGroups.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }

    /// Parses a ListGroups state filter (case-insensitive, as Kafka).
    pub fn parse(name: &str) -> Option<GroupState> {
        [
            GroupState::Empty,
            GroupState::PreparingRebalance,
            GroupState::CompletingRebalance,
            GroupState::Stable,
            GroupState::Dead,
        ]
        .into_iter()
        .find(|s| s.as_str().eq_ignore_ascii_case(name))
    }

    /// Whether Kafka's ClassicGroupState allows moving from `self` to `next`.
    pub fn can_transition_to(self, next: GroupState) -> bool {
        use GroupState::*;
        match next {
            PreparingRebalance => matches!(self, Stable | CompletingRebalance | Empty),
            CompletingRebalance => self == PreparingRebalance,
            Stable => self == CompletingRebalance,
            Empty => self == PreparingRebalance,
            Dead => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_transitions_follow_kafka() {
        assert_eq!(GroupState::parse("stable"), Some(GroupState::Stable));
        assert_eq!(
            GroupState::parse("PREPARINGREBALANCE"),
            Some(GroupState::PreparingRebalance)
        );
        assert_eq!(GroupState::parse("nope"), None);
        assert!(GroupState::Empty.can_transition_to(GroupState::PreparingRebalance));
        assert!(!GroupState::Empty.can_transition_to(GroupState::Stable));
        assert!(!GroupState::PreparingRebalance.can_transition_to(GroupState::Stable));
    }
}
