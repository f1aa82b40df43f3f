//! `group-assignment-overlap`: within one generation of the group, a
//! partition is assigned to at most one member. Judged on the SyncGroup
//! answers members got (a generation is persisted before SyncGroup answers,
//! so one generation number never means two memberships, even across
//! broker crashes).

use std::collections::BTreeMap;

use super::{Checker, Violation, ViolationKind};
use crate::group_history::GroupEvent;
use crate::history::{Event, EventKind, Partition};

#[derive(Default)]
pub struct GroupAssignmentOverlap {
    /// generation -> partition -> the member it was assigned to.
    owners: BTreeMap<i32, BTreeMap<Partition, String>>,
}

impl Checker for GroupAssignmentOverlap {
    fn observe(&mut self, event: &Event, found: &mut Vec<Violation>) {
        let EventKind::Group(GroupEvent::Synced {
            member_id,
            generation,
            partitions,
            ..
        }) = &event.kind
        else {
            return;
        };
        let owners = self.owners.entry(*generation).or_default();
        for partition in partitions {
            match owners.get(partition) {
                Some(owner) if owner != member_id => {
                    let detail = format!(
                        "generation {generation}: partition {partition} assigned to {owner} and to {member_id}"
                    );
                    found.push(Violation::at(
                        ViolationKind::GroupAssignmentOverlap,
                        event,
                        *partition,
                        detail,
                    ));
                }
                Some(_) => {}
                None => {
                    owners.insert(*partition, member_id.clone());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::checker::test_support::Script;

    #[test]
    fn two_members_owning_one_partition_in_one_generation() {
        let mut s = Script::default();
        s.synced("a", 3, &[0, 1]);
        s.synced("b", 3, &[1, 2]);
        assert_eq!(s.names(), vec!["group-assignment-overlap"]);
    }

    #[test]
    fn a_partition_moving_between_generations_passes() {
        let mut s = Script::default();
        s.synced("a", 3, &[0, 1]);
        s.synced("b", 3, &[2]);
        s.synced("b", 4, &[0, 1, 2]);
        s.synced("b", 4, &[0, 1, 2]);
        assert!(s.names().is_empty());
    }
}
