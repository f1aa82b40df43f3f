//! Checkers: one module per family of invariants, each fed every event as it
//! is recorded (so a violation is reported at the step that shows it, not
//! only at the end), plus a `finish` step once the final read is done.
//!
//! Violation names follow Jepsen's Kafka workload (jepsen.tests.kafka) so a
//! reader of either report knows the other.

mod broker_lifetimes;
mod corrupt_read;
mod duplicate;
mod group_assignment_overlap;
mod group_committed_past_hw;
mod group_committed_regression;
mod group_unconsumed;
mod inconsistent_offsets;
mod lc_log_start;
mod lc_lost_write;
mod lc_offsets;
mod lc_time_lookup;
mod lost_write;
mod nonmonotonic_poll;
mod nonmonotonic_send;
mod poll_skip;
mod spurious_corruption;
mod unseen;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::history::{Event, Offset, Partition};

pub use corrupt_read::CorruptRead;
pub use duplicate::Duplicate;
pub use group_assignment_overlap::GroupAssignmentOverlap;
pub use group_committed_past_hw::CommittedPastHw;
pub use group_committed_regression::CommittedOffsetRegression;
pub use group_unconsumed::GroupUnconsumed;
pub use inconsistent_offsets::InconsistentOffsets;
pub use lc_log_start::LcLogStart;
pub use lc_lost_write::LcLostWrite;
pub use lc_offsets::LcOffsets;
pub use lc_time_lookup::LcTimeLookup;
pub use lost_write::LostWrite;
pub use nonmonotonic_poll::NonmonotonicPoll;
pub use nonmonotonic_send::NonmonotonicSend;
pub use poll_skip::PollSkip;
pub use spurious_corruption::SpuriousCorruption;
pub use unseen::Unseen;

/// Declares the kinds once: the enum, each kind's name and [`ViolationKind::ALL`]
/// come from one list, so a kind can never be missing from parsing.
macro_rules! violation_kinds {
    ($($(#[$doc:meta])* $kind:ident => $name:literal;)+) => {
        /// The kinds of violation, named as Jepsen names them (plus the
        /// harness's own `panic`, `liveness`, `nondeterminism` and
        /// `no-progress`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
        pub enum ViolationKind {
            $($(#[$doc])* $kind,)+
        }

        impl ViolationKind {
            pub fn name(self) -> &'static str {
                match self {
                    $(ViolationKind::$kind => $name,)+
                }
            }

            /// Every kind, for parsing and listing.
            pub const ALL: &'static [ViolationKind] = &[$(ViolationKind::$kind),+];
        }
    };
}

violation_kinds! {
    /// Acknowledged, and a later read went past its offset without it.
    LostWrite => "lost-write";
    /// One offset observed holding two different values.
    InconsistentOffsets => "inconsistent-offsets";
    /// One value observed at two offsets.
    Duplicate => "duplicate";
    /// A read returned bytes no producer sent (bad CRC, garbage value).
    CorruptRead => "corrupt-read";
    /// A consumer's offsets went backwards.
    NonmonotonicPoll => "nonmonotonic-poll";
    /// One producer's acknowledged sends to a partition got offsets that
    /// did not go up in the order it sent them.
    NonmonotonicSend => "nonmonotonic-send";
    /// A consumer jumped over offsets between two polls.
    PollSkip => "poll-skip";
    /// A consumer jumped over offsets within one poll.
    IntPollSkip => "int-poll-skip";
    /// Acknowledged, but the final read never reached its offset.
    Unseen => "unseen";
    /// Within one generation, a partition assigned to two members.
    GroupAssignmentOverlap => "group-assignment-overlap";
    /// A group's committed offset moved backwards (no reset).
    CommittedOffsetRegression => "committed-offset-regression";
    /// Acknowledged, but no group consumer read it, though the group drained.
    GroupUnconsumed => "group-unconsumed";
    /// A committed offset past the highest high watermark observed.
    CommittedPastHw => "committed-past-hw";
    /// The log start offset moved backwards (a record below it served
    /// again, or an earlier start answered), see `lc_log_start`.
    LogStartRegression => "log-start-regression";
    /// ListOffsets by timestamp missed the first record at or after the time.
    TimeLookup => "time-lookup";
    /// A leader answered a latest offset below a log start it or an earlier
    /// epoch's leader answered (retention ran past the high watermark),
    /// see `cluster::offsets_probe`.
    LogStartPastHw => "log-start-past-hw";
    /// A latest offset answered at an epoch below one answered at an earlier
    /// epoch (a new leader answered before its high watermark caught up).
    LatestRegressed => "latest-regressed";
    /// Two replicas hold different batches at the same offsets below both
    /// of their high watermarks (`cluster::replica_logs`).
    LogMatching => "log-matching";
    /// Two nodes became leader of one partition in the same leader epoch
    /// (`cluster::leadership`).
    OneLeaderPerEpoch => "one-leader-per-epoch";
    /// A node became leader with a log ending below an offset an earlier
    /// epoch had committed (`cluster::leadership`).
    LeaderCompleteness => "leader-completeness";
    /// A voter voted twice in one term, or two candidates won one term
    /// (`cluster::metadata_log`, over the voters' durable Raft state).
    RaftElectionSafety => "raft-election-safety";
    /// Two voters' metadata logs hold an entry of the same index and term
    /// and differ at or below it.
    RaftLogMatching => "raft-log-matching";
    /// A metadata entry known committed was replaced, or is no longer
    /// durable on a majority of voters.
    RaftCommittedLost => "raft-committed-lost";
    /// The broker refused a record as corrupt where no rot had hit the
    /// partition's segment holding it.
    SpuriousCorruption => "spurious-corruption";
    /// The simulation panicked (a broker assertion, or the sim's own).
    Panic => "panic";
    /// After faults stopped, the cluster did not serve the final read in time.
    Liveness => "liveness";
    /// The same seed gave two different traces.
    Nondeterminism => "nondeterminism";
    /// The workload acknowledged fewer writes, or read fewer records, than
    /// the floor every healthy seed clears (`crate::progress`).
    NoProgress => "no-progress";
}

impl ViolationKind {
    /// The kind named `name` (as [`ViolationKind::name`] spells it).
    pub fn from_name(name: &str) -> Option<ViolationKind> {
        Self::ALL.iter().copied().find(|kind| kind.name() == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub kind: ViolationKind,
    /// The event that revealed it (`None`: found at the end).
    pub at_seq: Option<u64>,
    pub partition: Option<Partition>,
    pub detail: String,
}

impl Violation {
    pub fn at(kind: ViolationKind, event: &Event, partition: Partition, detail: String) -> Self {
        Violation {
            kind,
            at_seq: Some(event.seq),
            partition: Some(partition),
            detail,
        }
    }
}

/// What each partition's acknowledgements promise, from the history's
/// policy events.
///
/// Single node (`PartitionPolicy`): with `fsync.policy=always` an
/// acknowledged record is synced, so it survives at its offset (`lost-write`,
/// `unseen`, `group-unconsumed`, `nonmonotonic-send` hold it to that). With
/// `interval` and `never` an acknowledged record may be unsynced, and a power
/// loss may take it back: those checkers leave such partitions alone, while
/// the promises every policy keeps are checked everywhere (an offset once
/// read never holds another value, `inconsistent-offsets`; nothing read is
/// corrupt, ...).
///
/// Replicated (`ReplicatedPartitionPolicy`, cluster `--fsync-never`): with
/// acks=all an acknowledged record is in memory on every ISR member, and
/// `min.insync.replicas` >= 2 of them; a crash that leaves one of them
/// running cannot take it back (a restarted replica is fenced out of the
/// ISR and refetches). So its acknowledgements are held to the `always`
/// promises, except across a power loss of every replica at once
/// (`NodesPowerLost` naming them all): acknowledgements made before it, and
/// reads served before it (the high watermark counts unsynced records),
/// are excused from then on. [`Durability::observe`] names the partitions
/// an event excuses; each checker drops what it held them to.
#[derive(Debug, Default, Clone)]
pub struct Durability {
    /// Single-node partitions whose policy is not `always`.
    unsynced_acks: std::collections::BTreeSet<Partition>,
    /// Replicated partitions whose policy is not `always`, with their
    /// replicas.
    replicated_unsynced: BTreeMap<Partition, Vec<i32>>,
    /// The seq of the last power loss of all replicas, by partition.
    power_lost_seq: BTreeMap<Partition, u64>,
    /// (client, partition, value) -> the seq its latest attempt began
    /// (`SendInvoked`, or an idempotent producer's `SendRetried`), on
    /// replicated unsynced partitions.
    attempt_seq: BTreeMap<(crate::history::ClientId, Partition, String), u64>,
}

impl Durability {
    /// Notes a policy event. Returns the replicated unsynced partitions
    /// whose every replica lost power at `event`: what was acknowledged or
    /// read on them before it is no longer promised.
    pub fn observe(&mut self, event: &Event) -> Vec<Partition> {
        use crate::history::{EventKind, NemesisAction};
        match &event.kind {
            EventKind::PartitionPolicy {
                partition,
                fsync_policy,
            } => {
                self.replicated_unsynced.remove(partition);
                if fsync_policy == "always" {
                    self.unsynced_acks.remove(partition);
                } else {
                    self.unsynced_acks.insert(*partition);
                }
                Vec::new()
            }
            EventKind::ReplicatedPartitionPolicy {
                partition,
                fsync_policy,
                replicas,
                ..
            } => {
                self.unsynced_acks.remove(partition);
                if fsync_policy == "always" {
                    self.replicated_unsynced.remove(partition);
                } else {
                    self.replicated_unsynced
                        .insert(*partition, replicas.clone());
                }
                Vec::new()
            }
            EventKind::Nemesis(NemesisAction::NodesPowerLost { nodes }) => {
                let excused: Vec<Partition> = self
                    .replicated_unsynced
                    .iter()
                    .filter(|(_, replicas)| replicas.iter().all(|r| nodes.contains(r)))
                    .map(|(partition, _)| *partition)
                    .collect();
                for partition in &excused {
                    self.power_lost_seq.insert(*partition, event.seq);
                }
                excused
            }
            EventKind::SendInvoked {
                client,
                partition,
                value,
            } if self.replicated_unsynced.contains_key(partition) => {
                self.attempt_seq
                    .insert((*client, *partition, value.clone()), event.seq);
                Vec::new()
            }
            EventKind::SendRetried {
                client,
                partition,
                values,
                ..
            } if self.replicated_unsynced.contains_key(partition) => {
                for value in values {
                    self.attempt_seq
                        .insert((*client, *partition, value.clone()), event.seq);
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// Whether the acknowledgement `event` (a `SendAcked`) may have been
    /// made before a power loss of every replica of its partition though
    /// it arrived after: its attempt began before the last such power loss
    /// (the answer was on its way when the power went). Such an
    /// acknowledgement is excused like one recorded before the power loss.
    /// Always false outside replicated unsynced partitions.
    pub fn acked_across_power_loss(&self, event: &Event) -> bool {
        let crate::history::EventKind::SendAcked {
            client,
            partition,
            value,
            ..
        } = &event.kind
        else {
            return false;
        };
        let Some(power_lost_seq) = self.power_lost_seq.get(partition) else {
            return false;
        };
        self.attempt_seq
            .get(&(*client, *partition, value.clone()))
            .is_some_and(|attempt_seq| attempt_seq < power_lost_seq)
    }

    /// Whether a read of `partition` sent when the history was at
    /// `invoked_seq` may have been served before a power loss of every
    /// replica recorded since (its answer was on its way): what it read is
    /// then no more promised than what was read before the power loss.
    pub fn read_across_power_loss(&self, partition: Partition, invoked_seq: u64) -> bool {
        self.power_lost_seq
            .get(&partition)
            .is_some_and(|power_lost_seq| *power_lost_seq >= invoked_seq)
    }

    /// The seq of the last power loss of every replica of `partition`.
    pub fn power_lost_seq(&self, partition: Partition) -> Option<u64> {
        self.power_lost_seq.get(&partition).copied()
    }

    /// Whether an acknowledgement on `partition` promises the record
    /// survives at its offset: `fsync.policy=always`, or a replicated
    /// unsynced partition until a power loss of all its replicas (which
    /// [`Durability::observe`] reports).
    pub fn acked_survives(&self, partition: Partition) -> bool {
        !self.unsynced_acks.contains(&partition)
    }
}

/// One family of invariants.
pub trait Checker: Send {
    /// Looks at the next event of the history.
    fn observe(&mut self, event: &Event, found: &mut Vec<Violation>);
    /// Runs once after the final read.
    fn finish(&mut self, _found: &mut Vec<Violation>) {}
    /// Acknowledged records found missing whose loss a power loss of every
    /// replica excused ([`Durability`]): what the checker would otherwise
    /// have reported, by (partition, offset).
    fn excused_losses(&self, _into: &mut std::collections::BTreeSet<(Partition, Offset)>) {}
}

/// Every checker, fed in history order.
pub struct Checkers {
    checkers: Vec<Box<dyn Checker>>,
    violations: Vec<Violation>,
}

impl Default for Checkers {
    fn default() -> Self {
        Checkers {
            checkers: vec![
                Box::<LostWrite>::default(),
                Box::<InconsistentOffsets>::default(),
                Box::<Duplicate>::default(),
                Box::<CorruptRead>::default(),
                Box::<NonmonotonicPoll>::default(),
                Box::<NonmonotonicSend>::default(),
                Box::<PollSkip>::default(),
                Box::<Unseen>::default(),
                Box::<GroupAssignmentOverlap>::default(),
                Box::<CommittedOffsetRegression>::default(),
                Box::<GroupUnconsumed>::default(),
                Box::<CommittedPastHw>::default(),
                Box::<LcOffsets>::default(),
                Box::<LcLogStart>::default(),
                Box::<LcLostWrite>::default(),
                Box::<LcTimeLookup>::default(),
                Box::<SpuriousCorruption>::default(),
            ],
            violations: Vec::new(),
        }
    }
}

impl Checkers {
    /// Feeds one event to every checker; returns how many violations it revealed.
    pub fn observe(&mut self, event: &Event) -> usize {
        let before = self.violations.len();
        for checker in &mut self.checkers {
            checker.observe(event, &mut self.violations);
        }
        self.violations.len() - before
    }

    pub fn finish(&mut self) {
        for checker in &mut self.checkers {
            checker.finish(&mut self.violations);
        }
    }

    /// How many acknowledged records were lost to a power loss of every
    /// replica of their (replicated `fsync.policy=never`) partition: found
    /// missing by `lost-write` or `unseen`, and excused.
    pub fn acked_lost_to_correlated_crashes(&self) -> u64 {
        let mut lost = std::collections::BTreeSet::new();
        for checker in &self.checkers {
            checker.excused_losses(&mut lost);
        }
        lost.len() as u64
    }

    /// Records a violation the harness found itself (panic, liveness).
    pub fn report(&mut self, violation: Violation) {
        self.violations.push(violation);
    }

    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    /// Violation counts by name, in name order.
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        let mut counts = BTreeMap::new();
        for violation in &self.violations {
            *counts.entry(violation.kind.name()).or_insert(0) += 1;
        }
        counts
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Builds small histories by hand for the checkers' tests.

    use super::*;
    use crate::group_history::GroupEvent;
    use crate::history::{EventKind, History, Offset, ReadRecord, ReadValue};

    #[derive(Default)]
    pub struct Script {
        pub history: History,
        pub checkers: Checkers,
    }

    impl Script {
        pub fn push(&mut self, kind: EventKind) -> u64 {
            let event = self.history.push(0, kind).clone();
            self.checkers.observe(&event);
            event.seq
        }

        pub fn send(&mut self, partition: Partition, value: &str, offset: Option<Offset>) {
            self.push(EventKind::SendInvoked {
                client: 100,
                partition,
                value: value.into(),
            });
            if let Some(offset) = offset {
                self.push(EventKind::SendAcked {
                    client: 100,
                    partition,
                    value: value.into(),
                    offset,
                });
            }
        }

        /// A poll by `client` from `fetch_offset` that returned these
        /// (offset, value) pairs; `"!"` stands for a corrupt record, `"?"`
        /// for one the broker refused as corrupt.
        pub fn poll(
            &mut self,
            client: u32,
            partition: Partition,
            fetch_offset: Offset,
            records: &[(Offset, &str)],
        ) {
            let invoked_seq = self.history.next_seq();
            let records = records
                .iter()
                .map(|(offset, value)| ReadRecord {
                    offset: *offset,
                    value: match *value {
                        "!" => ReadValue::Corrupt {
                            reason: "bad crc".into(),
                        },
                        "?" => ReadValue::Refused,
                        value => ReadValue::Value(value.to_string()),
                    },
                })
                .collect::<Vec<_>>();
            let high_watermark = records.last().map_or(fetch_offset, |r| r.offset + 1);
            self.push(EventKind::Polled {
                client,
                partition,
                fetch_offset,
                invoked_seq,
                high_watermark,
                records,
            });
        }

        pub fn finish(&mut self) {
            self.checkers.finish();
        }

        /// `partition` is replicated on nodes 1, 2, 3 with `fsync_policy`
        /// (cluster mode).
        pub fn replicated(&mut self, partition: Partition, fsync_policy: &str) {
            self.push(EventKind::ReplicatedPartitionPolicy {
                partition,
                fsync_policy: fsync_policy.into(),
                replicas: vec![1, 2, 3],
                min_insync_replicas: 2,
            });
        }

        /// Every one of `nodes` lost power at once.
        pub fn power_lost(&mut self, nodes: &[i32]) {
            self.push(EventKind::Nemesis(
                crate::history::NemesisAction::NodesPowerLost {
                    nodes: nodes.to_vec(),
                },
            ));
        }

        /// SyncGroup gave `member` these partitions in `generation`.
        pub fn synced(&mut self, member: &str, generation: i32, partitions: &[Partition]) {
            let reader = crate::group_history::GROUP_READER_BASE + self.history.next_seq() as u32;
            self.push(EventKind::Group(GroupEvent::Synced {
                client: 200,
                member_id: member.into(),
                generation,
                partitions: partitions.to_vec(),
                reader,
            }));
        }

        /// A commit of `offset`, sent now; acknowledged if `acked`.
        pub fn commit(&mut self, partition: Partition, offset: Offset, acked: bool) {
            let invoked_seq = self.history.next_seq();
            self.push(EventKind::Group(GroupEvent::Committed {
                client: 200,
                member_id: "m".into(),
                generation: 1,
                partition,
                invoked_seq,
                offset,
                probe: offset > 1_000_000,
                error: (!acked).then(|| "kafka error 1".to_string()),
            }));
        }

        /// OffsetFetch, sent now, answered `offset`.
        pub fn offset_fetched(&mut self, partition: Partition, offset: Offset) {
            let invoked_seq = self.history.next_seq();
            self.push(EventKind::Group(GroupEvent::OffsetFetched {
                client: 200,
                partition,
                invoked_seq,
                offset,
            }));
        }

        pub fn reset(&mut self, partition: Partition) {
            self.push(EventKind::Group(GroupEvent::Reset {
                client: 200,
                partition,
                from: 0,
            }));
        }

        pub fn names(&self) -> Vec<&'static str> {
            self.checkers
                .violations()
                .iter()
                .map(|v| v.kind.name())
                .collect()
        }
    }
}
