//! The bug switches the simulator can put back into the broker, each with
//! the violation kinds that prove its checkers caught it.
//!
//! One table ([`BUG_SWITCHES`]) is the only list: the command line's
//! `--bug NAME`, `--list-bugs` (which `.ci/test` loops over), the outcome's
//! `bugs` names and `sim/tests/bug_switches.rs` all read it. Adding a switch
//! is one line in the `bug_switches!` call below (plus its field in
//! `odradek::server::BugSwitches`).

use odradek::server::BugSwitches;

use crate::checker::ViolationKind;

/// One switch: its command-line name, what it breaks, and the kinds a run
/// with it must report (any one of them counts as caught).
#[derive(Debug)]
pub struct BugSwitch {
    pub name: &'static str,
    pub help: &'static str,
    pub expected: &'static [ViolationKind],
    /// Turns the switch on.
    pub enable: fn(&mut BugSwitches),
    /// Whether the switch is on.
    pub is_on: fn(&BugSwitches) -> bool,
}

macro_rules! bug_switches {
    ($(#[$doc:meta])* $table:ident { $($name:literal => $field:ident, [$($kind:ident),+], $help:literal;)+ }) => {
        $(#[$doc])*
        pub const $table: &[BugSwitch] = &[$(BugSwitch {
            name: $name,
            help: $help,
            expected: &[$(ViolationKind::$kind),+],
            enable: |bugs| bugs.$field = true,
            is_on: |bugs| bugs.$field,
        }),+];
    };
}

// `unsynced-index` is caught through its time indexes: a crash's holey
// writeback (`odradek::io::sim_disk_sectors`) can leave a never-synced time
// index cut at an earlier write but well formed; the recovery point vouches
// for it, the segment's largest timestamp comes from its last entry, and a
// ListOffsets by time after the final read (`time_seeks`) skips records it
// must find. A bit-flipped but plausible offset index shows through the
// seek reads (`seek_reads`) as a refusal without rot.
bug_switches! {
    /// Every single-node bug switch, in `--list-bugs` order.
    BUG_SWITCHES {
    "no-crc-check" => no_crc_check, [CorruptRead], "Log recovery accepts batches without checking their CRC-32C.";
    "ack-before-sync" => ack_before_sync, [LostWrite, Unseen], "fsync.policy=always answers the producer before the sync is done.";
    "no-idempotence" => no_idempotence, [Duplicate], "Idempotent producers' retried batches are appended again (no dedupe).";
    "read-unsynced" => read_unsynced, [InconsistentOffsets], "Fetch serves appended records before they are synced (fsync.policy interval, never).";
    "commit-before-persist" => commit_before_persist, [CommittedOffsetRegression, GroupAssignmentOverlap], "The group coordinator acknowledges commits before they are durable.";
    "no-dir-sync" => no_dir_sync, [LostWrite, Unseen, InconsistentOffsets], "New segments and indexes are used before their directory is synced.";
    "unsynced-index" => unsynced_index, [TimeLookup, SpuriousCorruption], "Checkpoints skip syncing index files; the recovery point vouches for segments whose indexes were never synced.";
    "forget-log-start" => forget_log_start, [LogStartRegression, InconsistentOffsets], "The log start offset is not persisted: DeleteRecords or retention followed by a restart moves it back.";
    }
}

bug_switches! {
    /// The replication, election and metadata-quorum bugs, which only a
    /// cluster can show (`--cluster N --list-bugs` lists them with the
    /// cluster size CI proves each caught with, [`ci_cluster_nodes`], in
    /// seeds 0..100).
    ///
    /// `unfenced-fetch` needs the missed-epochs schedule
    /// (`cluster::missed_epochs`: a follower cut from every node but its
    /// leader while the leadership moves away and back, its stale tail
    /// then extended with the returning leader's records), which needs a
    /// controller outside the partition's replicas: 4 or more nodes, so CI
    /// runs it with 5. Caught as `log-matching` in 84 of 5-node seeds
    /// 0..1000, the first at seed 5; each of the 84 passes without the bug
    /// (docs/testing.md, "Cluster simulation", missed epochs).
    ///
    /// `commit-old-term` needs the Figure 8 episode (`cluster::figure8`:
    /// Raft leaders isolated at the instants their driver reports, in seeds
    /// that run one entry per Raft append) and the check on applied entries
    /// (`cluster::applied_entries`): caught as `raft-committed-lost` in 197
    /// of 3-node seeds 0..1000, the first at seed 0 (docs/testing.md,
    /// "Figure 8").
    CLUSTER_BUG_SWITCHES {
    "ack-before-isr" => ack_before_isr, [LostWrite, Unseen, InconsistentOffsets], "acks=all answered once the leader's own log has the batch, before the ISR does.";
    "truncate-to-hw" => truncate_to_hw, [LostWrite, Unseen, InconsistentOffsets, LeaderCompleteness], "Pre-KIP-101: a replica becoming a follower truncates to its high watermark.";
    "retention-past-hw" => retention_past_hw, [LogStartPastHw], "Retention deletes segments above the high watermark (records the ISR has not fetched).";
    "list-offsets-before-hw" => list_offsets_before_hw, [LatestRegressed], "A new leader answers ListOffsets before its high watermark reached its epoch's start.";
    "unclean-election" => unclean_election, [LostWrite, Unseen, InconsistentOffsets, LatestRegressed, LeaderCompleteness], "The controller elects a live replica outside the ISR when no ISR member is live (the topic does not allow it).";
    "vote-without-log-check" => vote_without_log_check, [LostWrite, Unseen, InconsistentOffsets, LogMatching, LeaderCompleteness, OneLeaderPerEpoch, RaftCommittedLost, RaftLogMatching], "Raft votes granted without the log up-to-date check (Raft 5.4.1): a voter missing committed metadata leads.";
    "kip101-only" => kip101_only, [LogMatching, LostWrite, Unseen, InconsistentOffsets, LatestRegressed], "KIP-101 alone: a new follower truncates once to the leader's end of its last epoch, without walking back (KIP-279).";
    "unfenced-fetch" => unfenced_fetch, [LogMatching, LostWrite, Unseen, InconsistentOffsets, LatestRegressed], "Pre-KIP-320: fetches not fenced by leader epoch; a follower joins the ISR short of the epoch's start.";
    "commit-old-term" => commit_old_term, [RaftCommittedLost, LogMatching, LostWrite, Unseen, InconsistentOffsets, Panic], "A Raft leader commits an entry of an earlier term by counting replicas (Raft 5.4.2, Figure 8).";
    }
}

/// Every switch of the two tables.
fn all_switches() -> impl Iterator<Item = &'static BugSwitch> {
    BUG_SWITCHES.iter().chain(CLUSTER_BUG_SWITCHES)
}

/// The switch named `name`.
pub fn find(name: &str) -> Option<&'static BugSwitch> {
    all_switches().find(|bug| bug.name == name)
}

/// `--bug`'s parser: a switch's name, or an error listing them all.
pub fn parse(name: &str) -> Result<&'static BugSwitch, String> {
    find(name).ok_or_else(|| {
        let names: Vec<&str> = all_switches().map(|bug| bug.name).collect();
        format!("unknown bug {name:?}; known: {}", names.join(", "))
    })
}

/// The switches turned on in `bugs`, by name.
pub fn names_on(bugs: &BugSwitches) -> Vec<&'static str> {
    all_switches()
        .filter(|bug| (bug.is_on)(bugs))
        .map(|bug| bug.name)
        .collect()
}

/// The broker switches for these names.
pub fn switches(bugs: &[&BugSwitch]) -> BugSwitches {
    let mut switches = BugSwitches::default();
    for bug in bugs {
        (bug.enable)(&mut switches);
    }
    switches
}

/// A `KIND[,KIND...]` list (`--expect-violations`): every name must be a
/// violation kind, and at least one is required.
pub fn parse_kinds(text: &str) -> Result<Vec<ViolationKind>, String> {
    let kinds = text
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| {
            ViolationKind::from_name(name).ok_or_else(|| {
                let known: Vec<&str> = ViolationKind::ALL.iter().map(|k| k.name()).collect();
                format!(
                    "unknown violation kind {name:?}; known: {}",
                    known.join(", ")
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if kinds.is_empty() {
        return Err("expected KIND[,KIND...], e.g. lost-write,unseen".to_string());
    }
    Ok(kinds)
}

/// The cluster size CI proves a cluster switch caught with, where it is
/// not [`CI_CLUSTER_NODES_DEFAULT`]: the schedules that need a node outside
/// a partition's three replicas.
const CI_CLUSTER_NODES: &[(&str, u8)] = &[("unfenced-fetch", 5)];
const CI_CLUSTER_NODES_DEFAULT: u8 = 3;

/// How many nodes CI runs the cluster switch `name` with.
pub fn ci_cluster_nodes(name: &str) -> u8 {
    CI_CLUSTER_NODES
        .iter()
        .find(|(switch, _)| *switch == name)
        .map_or(CI_CLUSTER_NODES_DEFAULT, |(_, nodes)| *nodes)
}

/// `name kind,kind nodes` per switch of `table`: the lines `--cluster N
/// --list-bugs` prints (`.ci/test` runs each with `--cluster nodes`).
pub fn cluster_listing(table: &[BugSwitch]) -> Vec<String> {
    listing(table)
        .into_iter()
        .zip(table)
        .map(|(line, bug)| format!("{line} {}", ci_cluster_nodes(bug.name)))
        .collect()
}

/// `name kind,kind` per switch of `table`: the lines `--list-bugs` prints.
pub fn listing(table: &[BugSwitch]) -> Vec<String> {
    table
        .iter()
        .map(|bug| {
            let kinds: Vec<&str> = bug.expected.iter().map(|k| k.name()).collect();
            format!("{} {}", bug.name, kinds.join(","))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_switch_turns_on_its_own_field_only() {
        for bug in all_switches() {
            let on = switches(&[bug]);
            assert_eq!(names_on(&on), vec![bug.name], "{}", bug.name);
            assert!(!bug.expected.is_empty());
        }
    }

    #[test]
    fn names_parse_and_unknown_names_are_refused_with_the_list() {
        assert_eq!(parse("no-crc-check").unwrap().name, "no-crc-check");
        let error = parse("no-such-bug").unwrap_err();
        assert!(error.contains("ack-before-sync"), "{error}");
    }

    #[test]
    fn kinds_parse_as_a_comma_list() {
        assert_eq!(
            parse_kinds("lost-write,unseen").unwrap(),
            vec![ViolationKind::LostWrite, ViolationKind::Unseen]
        );
        assert_eq!(
            parse_kinds(" corrupt-read ").unwrap(),
            vec![ViolationKind::CorruptRead]
        );
        assert!(parse_kinds("lost-write,nope")
            .unwrap_err()
            .contains("unknown violation kind \"nope\""));
        assert!(parse_kinds("").is_err());
        assert!(parse_kinds(",").is_err());
    }

    #[test]
    fn every_kind_name_round_trips() {
        for kind in ViolationKind::ALL {
            assert_eq!(ViolationKind::from_name(kind.name()), Some(*kind));
        }
    }

    #[test]
    fn listing_names_each_switch_with_its_kinds() {
        let lines = listing(BUG_SWITCHES);
        assert_eq!(lines.len(), BUG_SWITCHES.len());
        assert!(lines.contains(&"ack-before-sync lost-write,unseen".to_string()));
    }

    #[test]
    fn cluster_listing_names_the_cluster_size_ci_runs_each_with() {
        let lines = cluster_listing(CLUSTER_BUG_SWITCHES);
        assert_eq!(lines.len(), CLUSTER_BUG_SWITCHES.len());
        assert!(
            lines.contains(&"ack-before-isr lost-write,unseen,inconsistent-offsets 3".to_string())
        );
        let unfenced = lines
            .iter()
            .find(|line| line.starts_with("unfenced-fetch "))
            .expect("listed");
        assert!(unfenced.ends_with(" 5"), "{unfenced}");
        // Every override names a caught cluster switch.
        for (name, _) in CI_CLUSTER_NODES {
            assert!(
                CLUSTER_BUG_SWITCHES.iter().any(|bug| bug.name == *name),
                "{name}"
            );
        }
    }
}
