//! The checker on every replica's log (`log-matching`): at the end of a
//! seed, once every node is down for good, the batches each node holds of
//! the checked topic are read straight from its `SimDisk`, and any two
//! replicas must agree on every batch below both of their checkpointed high
//! watermarks (each replica vouches that its log below its own high
//! watermark is committed; two committed prefixes of one partition are the
//! same records). Kafka's log matching, as the replication harness names
//! it (docs/replication.md); the client history cannot see a follower that
//! kept records the leader does not have, until it leads.
//!
//! A batch is compared by its base offset, last offset and CRC-32C (which
//! covers the records, producer fields and timestamps), not by its
//! `partitionLeaderEpoch` or length: a power loss may flip a bit of the
//! epoch field outside the CRC (docs/testing.md, seed 236) without the
//! records differing. A batch whose CRC does not verify is skipped
//! (damage the broker refuses to serve), and partitions the nemesis rotted
//! on some node are left out, as the full-ISR check leaves them out.

use std::collections::BTreeMap;

use odradek::io::disk::{join, Disk};
use odradek::server::high_watermark_checkpoints;

use crate::checker::{Violation, ViolationKind};
use crate::cluster::topology::NodeId;
use crate::history::Partition;

/// Where each node keeps its data (`BrokerConfig::data_dir`).
const DATA_DIR: &str = "data";
/// The v2 batch header up to `lastOffsetDelta`, and where the CRC starts.
const HEADER_BYTES: usize = 27;
const CRC_FROM: usize = 21;
/// At most this many differing batches are reported per pair of replicas.
const EXAMPLES_PER_PAIR: usize = 3;

/// One stored batch as the comparison sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Batch {
    last_offset: i64,
    crc: u32,
    epoch: i32,
}

/// One replica's verified batches by base offset.
type ReplicaLog = BTreeMap<i64, Batch>;

/// The verified batches of `dir`'s segments. Stops at the first batch that
/// does not fit its segment (nothing the broker serves lies past it).
fn read_log(disk: &dyn Disk, dir: &str) -> ReplicaLog {
    let mut log = ReplicaLog::new();
    let Ok(names) = disk.list_dir(dir) else {
        return log;
    };
    for name in names.iter().filter(|n| n.ends_with(".log")) {
        let path = join(dir, name);
        let Ok(len) = disk.file_len(&path) else {
            continue;
        };
        let Ok(bytes) = disk.read_at(&path, 0, len as usize) else {
            continue;
        };
        let mut at = 0;
        while at + HEADER_BYTES <= bytes.len() {
            let field = |from: usize, n: usize| &bytes[at + from..at + from + n];
            let base = i64::from_be_bytes(field(0, 8).try_into().expect("8 bytes"));
            let length = i32::from_be_bytes(field(8, 4).try_into().expect("4 bytes"));
            let Some(total) = usize::try_from(length).ok().map(|l| l + 12) else {
                break;
            };
            if total < HEADER_BYTES || at + total > bytes.len() {
                break;
            }
            let epoch = i32::from_be_bytes(field(12, 4).try_into().expect("4 bytes"));
            let crc = u32::from_be_bytes(field(17, 4).try_into().expect("4 bytes"));
            let delta = i32::from_be_bytes(field(23, 4).try_into().expect("4 bytes"));
            if crc32c::crc32c(&bytes[at + CRC_FROM..at + total]) == crc && delta >= 0 {
                let last_offset = base + i64::from(delta);
                log.insert(
                    base,
                    Batch {
                        last_offset,
                        crc,
                        epoch,
                    },
                );
            }
            at += total;
        }
    }
    log
}

/// The batch of `log` holding `offset`, with its base.
fn covering(log: &ReplicaLog, offset: i64) -> Option<(i64, Batch)> {
    let (base, batch) = log.range(..=offset).next_back()?;
    (batch.last_offset >= offset).then_some((*base, *batch))
}

/// Where two replicas' committed prefixes (below `limit`) differ: a batch
/// of `a` wholly below it that `b` holds otherwise (other records, or other
/// batch bounds over the same offsets). Offsets `b` does not hold are not
/// compared.
fn differences(a: &ReplicaLog, b: &ReplicaLog, limit: i64) -> Vec<(i64, Batch, i64, Batch)> {
    a.range(..limit)
        .filter(|(_, batch)| batch.last_offset < limit)
        .filter_map(|(base, batch)| {
            let (other_base, other) = covering(b, *base)?;
            let same = other_base == *base
                && other.last_offset == batch.last_offset
                && other.crc == batch.crc;
            (!same).then_some((*base, *batch, other_base, other))
        })
        .collect()
}

/// `log-matching` violations of `topic`'s `partitions` across the nodes'
/// disks, leaving out `excused` partitions.
pub fn check(
    disks: &[(NodeId, &dyn Disk)],
    topic: &str,
    partitions: i32,
    excused: &std::collections::BTreeSet<Partition>,
) -> Vec<Violation> {
    let high_watermarks: BTreeMap<NodeId, _> = disks
        .iter()
        .filter_map(|(id, disk)| {
            let hws = high_watermark_checkpoints::load(*disk, DATA_DIR).ok()?;
            Some((*id, hws))
        })
        .collect();
    let mut violations = Vec::new();
    for partition in (0..partitions).filter(|p| !excused.contains(p)) {
        let dir = join(DATA_DIR, &format!("{topic}-{partition}"));
        let replicas: Vec<(NodeId, i64, ReplicaLog)> = disks
            .iter()
            .filter(|(_, disk)| disk.exists(&dir))
            .map(|(id, disk)| {
                let hw = high_watermarks
                    .get(id)
                    .and_then(|hws| hws.get(&(topic.to_string(), partition)))
                    .copied()
                    .unwrap_or(0);
                (*id, hw, read_log(*disk, &dir))
            })
            .collect();
        for (id, hw, log) in &replicas {
            let end = log.values().next_back().map_or(0, |b| b.last_offset + 1);
            tracing::debug!(
                topic,
                partition,
                node = id,
                hw,
                batches = log.len(),
                end,
                "replica log read"
            );
        }
        for (i, (a_id, a_hw, a_log)) in replicas.iter().enumerate() {
            for (b_id, b_hw, b_log) in &replicas[i + 1..] {
                let limit = (*a_hw).min(*b_hw);
                let found = differences(a_log, b_log, limit);
                for (base, ours, other_base, theirs) in found.iter().take(EXAMPLES_PER_PAIR) {
                    violations.push(Violation {
                        kind: ViolationKind::LogMatching,
                        at_seq: None,
                        partition: Some(partition),
                        detail: format!(
                            "{topic}-{partition}: below both high watermarks ({a_hw} on node {a_id}, {b_hw} on node {b_id}) \
                             node {a_id} holds offsets {base}..={} (epoch {}, crc {:08x}) where node {b_id} holds \
                             {other_base}..={} (epoch {}, crc {:08x}); {} such batches",
                            ours.last_offset,
                            ours.epoch,
                            ours.crc,
                            theirs.last_offset,
                            theirs.epoch,
                            theirs.crc,
                            found.len()
                        ),
                    });
                }
            }
        }
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(batches: &[(i64, i64, u32)]) -> ReplicaLog {
        batches
            .iter()
            .map(|(base, last, crc)| {
                let batch = Batch {
                    last_offset: *last,
                    crc: *crc,
                    epoch: 0,
                };
                (*base, batch)
            })
            .collect()
    }

    #[test]
    fn equal_prefixes_match_and_tails_above_the_limit_are_not_compared() {
        let a = log(&[(0, 4, 1), (5, 9, 2), (10, 12, 3)]);
        let b = log(&[(0, 4, 1), (5, 9, 2), (10, 14, 9)]);
        assert!(differences(&a, &b, 10).is_empty());
        assert_eq!(differences(&a, &b, 13).len(), 1, "10..=12 differs below 13");
    }

    #[test]
    fn other_records_or_other_bounds_at_the_same_offsets_differ() {
        let a = log(&[(0, 4, 1), (5, 9, 2)]);
        let other_records = log(&[(0, 4, 1), (5, 9, 7)]);
        let other_bounds = log(&[(0, 6, 1), (7, 9, 2)]);
        assert_eq!(differences(&a, &other_records, 10).len(), 1);
        // Both of `a`'s batches meet the other's 0..=6.
        assert_eq!(differences(&a, &other_bounds, 10).len(), 2);
    }

    /// A v2 batch header (CRC over the rest) with `payload` as its body.
    fn batch_bytes(base: i64, delta: i32, payload: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&base.to_be_bytes());
        let length = (HEADER_BYTES - 12 + payload.len()) as i32;
        bytes.extend_from_slice(&length.to_be_bytes());
        bytes.extend_from_slice(&3i32.to_be_bytes()); // partitionLeaderEpoch
        bytes.push(2); // magic
        bytes.extend_from_slice(&[0; 4]); // CRC, below
        bytes.extend_from_slice(&[0; 2]); // attributes
        bytes.extend_from_slice(&delta.to_be_bytes());
        bytes.extend_from_slice(payload);
        let crc = crc32c::crc32c(&bytes[CRC_FROM..]);
        bytes[17..21].copy_from_slice(&crc.to_be_bytes());
        bytes
    }

    /// A node's disk holding `t-0` as `batches` and `hw` as its checkpoint.
    fn node_disk(batches: &[(i64, i32, &[u8])], hw: i64) -> odradek::io::sim_disk::SimDisk {
        use odradek::core::partition::high_watermark_checkpoint::encode;
        let disk = odradek::io::sim_disk::SimDisk::new(0, Default::default());
        disk.create_dir_all("data/t-0").unwrap();
        let mut log = Vec::new();
        for (base, delta, payload) in batches {
            log.extend(batch_bytes(*base, *delta, payload));
        }
        disk.write_file_unsynced("data/t-0/00000000000000000000.log", &log)
            .unwrap();
        let hws = BTreeMap::from([(("t".to_string(), 0), hw)]);
        let path = high_watermark_checkpoints::path(DATA_DIR);
        disk.write_file_unsynced(&path, encode(&hws).as_bytes())
            .unwrap();
        disk
    }

    #[test]
    fn replicas_read_from_disk_that_differ_below_both_high_watermarks_are_log_matching() {
        let leader = node_disk(&[(0, 1, b"ab"), (2, 0, b"c"), (3, 0, b"d")], 4);
        // KIP-279's divergence: the follower kept a record of another
        // leadership at offset 2, below both high watermarks.
        let diverged = node_disk(&[(0, 1, b"ab"), (2, 0, b"x"), (3, 0, b"d")], 4);
        let behind = node_disk(&[(0, 1, b"ab"), (2, 0, b"x")], 2);
        let none = std::collections::BTreeSet::new();
        let check_pair = |a: &dyn Disk, b: &dyn Disk| check(&[(1, a), (2, b)], "t", 1, &none);
        assert!(check_pair(&leader, &leader).is_empty());
        let found = check_pair(&leader, &diverged);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].kind, ViolationKind::LogMatching);
        assert!(
            found[0].detail.contains("offsets 2..=2"),
            "{}",
            found[0].detail
        );
        // Offset 2 is above the lagging replica's high watermark: not
        // committed there, so not compared; a rotted partition is excused.
        assert!(check_pair(&leader, &behind).is_empty());
        let excused = std::collections::BTreeSet::from([0]);
        assert!(check(&[(1, &leader), (2, &diverged)], "t", 1, &excused).is_empty());
    }

    #[test]
    fn offsets_the_other_replica_lacks_are_not_compared() {
        let a = log(&[(0, 4, 1), (5, 9, 2)]);
        let shorter = log(&[(0, 4, 1)]);
        assert!(differences(&a, &shorter, 10).is_empty());
    }
}
