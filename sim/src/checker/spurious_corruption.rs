//! `spurious-corruption`: the broker refuses a record as corrupt
//! (CORRUPT_MESSAGE, read as `ReadValue::Refused`) only where rot hit its
//! partition's data: a bit flipped in a synced segment file of that
//! partition whose base offset is at or below the refused offset, before
//! the refusal. Without this check a refusal would excuse anything (the
//! loss checkers let a refused record go), and a broker that refused good
//! data would pass.
//!
//! Coarse on purpose: the checker knows which segment file rotted, not which
//! batch, so any offset at or past that segment's base counts as covered.

use std::collections::{BTreeMap, BTreeSet};

use super::{Checker, Violation, ViolationKind};
use crate::client::TOPIC;
use crate::history::{Event, EventKind, NemesisAction, Offset, Partition, ReadValue};

#[derive(Default)]
pub struct SpuriousCorruption {
    /// The base offsets of the segment files rot hit, per partition of the
    /// workload's topic.
    rotted_segments: BTreeMap<Partition, BTreeSet<Offset>>,
    reported: BTreeSet<(Partition, Offset)>,
}

/// `data/<topic>-<partition>/<base offset>.log` of the workload's topic, as
/// (partition, base offset).
fn workload_segment(path: &str) -> Option<(Partition, Offset)> {
    let mut parts = path.rsplit('/');
    let file = parts.next()?;
    let dir = parts.next()?;
    let partition = dir.strip_prefix(TOPIC)?.strip_prefix('-')?.parse().ok()?;
    let base = file.strip_suffix(".log")?.parse().ok()?;
    Some((partition, base))
}

impl Checker for SpuriousCorruption {
    fn observe(&mut self, event: &Event, found: &mut Vec<Violation>) {
        match &event.kind {
            EventKind::Nemesis(NemesisAction::SyncedDataRotted { path, .. }) => {
                if let Some((partition, base)) = workload_segment(path) {
                    self.rotted_segments
                        .entry(partition)
                        .or_default()
                        .insert(base);
                }
            }
            EventKind::Polled {
                partition, records, ..
            } => {
                for record in records {
                    if record.value != ReadValue::Refused {
                        continue;
                    }
                    let rotted = self
                        .rotted_segments
                        .get(partition)
                        .is_some_and(|bases| bases.range(..=record.offset).next().is_some());
                    if !rotted && self.reported.insert((*partition, record.offset)) {
                        let detail = format!(
                            "offset {} refused as corrupt, but no rot hit a segment of the partition at or below it",
                            record.offset
                        );
                        found.push(Violation::at(
                            ViolationKind::SpuriousCorruption,
                            event,
                            *partition,
                            detail,
                        ));
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::test_support::Script;

    fn rot(s: &mut Script, path: &str) {
        s.push(EventKind::Nemesis(NemesisAction::SyncedDataRotted {
            path: path.into(),
            position: 100,
        }));
    }

    #[test]
    fn a_refusal_without_rot_is_caught() {
        let mut s = Script::default();
        s.send(0, "v-1", Some(0));
        s.poll(1, 0, 0, &[(0, "?")]);
        assert_eq!(s.names(), vec!["spurious-corruption"]);
    }

    #[test]
    fn a_refusal_in_a_rotted_segment_excuses_the_record() {
        let mut s = Script::default();
        s.send(0, "v-1", Some(0));
        s.send(0, "v-2", Some(1));
        rot(&mut s, &format!("data/{TOPIC}-0/00000000000000000000.log"));
        s.poll(1, 0, 0, &[(0, "?"), (1, "v-2")]);
        s.finish();
        assert!(s.names().is_empty(), "{:?}", s.names());
    }

    #[test]
    fn rot_in_another_partition_or_a_later_segment_excuses_nothing() {
        let mut s = Script::default();
        s.send(0, "v-1", Some(5));
        rot(&mut s, &format!("data/{TOPIC}-1/00000000000000000000.log"));
        rot(&mut s, &format!("data/{TOPIC}-0/00000000000000000010.log"));
        s.poll(1, 0, 5, &[(5, "?")]);
        assert_eq!(s.names(), vec!["spurious-corruption"]);
    }
}
