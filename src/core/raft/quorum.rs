//! Majority arithmetic, pure: the index a majority holds, and whether a
//! set of yes/no answers decides.

use crate::core::raft::types::LogIndex;

/// The highest index that at least `majority` of `indexes` (one per voter)
/// have reached.
pub fn majority_index(indexes: &[LogIndex], majority: usize) -> LogIndex {
    assert!(
        majority > 0 && majority <= indexes.len(),
        "a majority of the voters"
    );
    let mut sorted = indexes.to_vec();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    sorted[majority - 1]
}

/// The outcome of a vote among `voter_count` voters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoteOutcome {
    Won,
    Lost,
    Pending,
}

pub fn vote_outcome(granted: usize, rejected: usize, voter_count: usize) -> VoteOutcome {
    let majority = voter_count / 2 + 1;
    assert!(granted + rejected <= voter_count, "one answer per voter");
    if granted >= majority {
        VoteOutcome::Won
    } else if rejected > voter_count - majority {
        VoteOutcome::Lost
    } else {
        VoteOutcome::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn majority_of_three_and_five() {
        assert_eq!(majority_index(&[5, 1, 3], 2), 3);
        assert_eq!(majority_index(&[9, 9, 1, 1, 1], 3), 1);
        assert_eq!(majority_index(&[9, 9, 7, 1, 1], 3), 7);
        assert_eq!(majority_index(&[4], 1), 4);
    }

    #[test]
    fn votes_decide_at_a_majority_either_way() {
        assert_eq!(vote_outcome(2, 0, 3), VoteOutcome::Won);
        assert_eq!(vote_outcome(1, 1, 3), VoteOutcome::Pending);
        assert_eq!(vote_outcome(1, 2, 3), VoteOutcome::Lost);
        assert_eq!(vote_outcome(2, 1, 4), VoteOutcome::Pending);
        assert_eq!(
            vote_outcome(2, 2, 4),
            VoteOutcome::Lost,
            "three of four needed"
        );
        assert_eq!(vote_outcome(1, 0, 1), VoteOutcome::Won);
    }

    proptest! {
        /// The result is held by a majority and nothing higher is.
        #[test]
        fn majority_index_is_the_highest_index_a_majority_holds(
            indexes in proptest::collection::vec(0u64..50, 1..8)
        ) {
            let majority = indexes.len() / 2 + 1;
            let q = majority_index(&indexes, majority);
            prop_assert!(indexes.iter().filter(|&&i| i >= q).count() >= majority);
            prop_assert!(indexes.iter().filter(|&&i| i > q).count() < majority);
        }

        /// Two majorities intersect: Won and Lost never both reachable.
        #[test]
        fn a_vote_is_never_won_and_lost(granted in 0usize..8, rejected in 0usize..8, extra in 0usize..8) {
            let voters = granted + rejected + extra;
            prop_assume!(voters > 0);
            let outcome = vote_outcome(granted, rejected, voters);
            let majority = voters / 2 + 1;
            prop_assert_eq!(outcome == VoteOutcome::Won, granted >= majority);
            if outcome == VoteOutcome::Lost {
                prop_assert!(granted + extra < majority, "lost only when no majority is left");
            }
        }
    }
}
