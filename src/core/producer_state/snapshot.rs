//! The producer state table on disk: `<offset>.snapshot` beside the log,
//! where `offset` is the table's `map_end_offset` when it was taken.
//!
//! Layout (big-endian header, bincode body):
//! ```text
//! 0 magic "ODPS"   4 version u16   6 crc u32 (CRC-32C of the body)
//! 10 body length u32               14 body (bincode of `SnapshotBody`)
//! ```
//! A snapshot that fails any check is not used: the broker falls back to an
//! older one or to replaying the log from its start.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::core::producer_state::table::{BatchMetadata, ProducerEntry, ProducerStateTable};

const MAGIC: &[u8; 4] = b"ODPS";
pub const SNAPSHOT_VERSION: u16 = 1;
const HEADER_SIZE_BYTES: usize = 14;
/// Largest snapshot accepted (a million producers with five batches each
/// stay well below it).
pub const SNAPSHOT_SIZE_BYTES_MAX: usize = 256 << 20;
/// Digits of the zero-padded offset in snapshot file names (as for segments).
const FILE_NAME_DIGITS: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot of {size_bytes} bytes is truncated or too large")]
    BadSize { size_bytes: usize },
    #[error("not a producer state snapshot (bad magic)")]
    BadMagic,
    #[error("unsupported snapshot version {version}")]
    BadVersion { version: u16 },
    #[error("snapshot CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    BadCrc { stored: u32, computed: u32 },
    #[error("snapshot body does not decode: {detail}")]
    BadBody { detail: String },
    #[error("snapshot is inconsistent: {reason}")]
    Inconsistent { reason: &'static str },
}

#[derive(Serialize, Deserialize)]
struct SnapshotProducer {
    producer_id: i64,
    producer_epoch: i16,
    last_timestamp_ms: i64,
    batches: Vec<BatchMetadata>,
}

#[derive(Serialize, Deserialize)]
struct SnapshotBody {
    map_end_offset: i64,
    producers: Vec<SnapshotProducer>,
}

pub fn snapshot_file_name(offset: i64) -> String {
    format!("{offset:0FILE_NAME_DIGITS$}.snapshot")
}

/// Parses `00000000000000000042.snapshot` into 42.
pub fn parse_snapshot_file_name(name: &str) -> Option<i64> {
    let digits = name.strip_suffix(".snapshot")?;
    if digits.len() != FILE_NAME_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

impl ProducerStateTable {
    /// The table as snapshot bytes.
    pub fn snapshot(&self) -> Vec<u8> {
        let body = SnapshotBody {
            map_end_offset: self.map_end_offset(),
            producers: self
                .producers()
                .iter()
                .map(|(id, e)| SnapshotProducer {
                    producer_id: *id,
                    producer_epoch: e.producer_epoch,
                    last_timestamp_ms: e.last_timestamp_ms,
                    batches: e.batches.clone(),
                })
                .collect(),
        };
        let body = bincode::serialize(&body).expect("serializing plain data cannot fail");
        assert!(
            body.len() + HEADER_SIZE_BYTES <= SNAPSHOT_SIZE_BYTES_MAX,
            "producer state snapshot too large"
        );
        let mut out = Vec::with_capacity(HEADER_SIZE_BYTES + body.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&SNAPSHOT_VERSION.to_be_bytes());
        out.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// Loads a table from snapshot bytes, checking everything.
    pub fn load(bytes: &[u8]) -> Result<ProducerStateTable, SnapshotError> {
        if bytes.len() < HEADER_SIZE_BYTES || bytes.len() > SNAPSHOT_SIZE_BYTES_MAX {
            return Err(SnapshotError::BadSize {
                size_bytes: bytes.len(),
            });
        }
        if &bytes[0..4] != MAGIC {
            return Err(SnapshotError::BadMagic);
        }
        let version = u16::from_be_bytes([bytes[4], bytes[5]]);
        if version != SNAPSHOT_VERSION {
            return Err(SnapshotError::BadVersion { version });
        }
        let stored = u32::from_be_bytes([bytes[6], bytes[7], bytes[8], bytes[9]]);
        let length = u32::from_be_bytes([bytes[10], bytes[11], bytes[12], bytes[13]]) as usize;
        if HEADER_SIZE_BYTES + length != bytes.len() {
            return Err(SnapshotError::BadSize {
                size_bytes: bytes.len(),
            });
        }
        let body = &bytes[HEADER_SIZE_BYTES..];
        let computed = crc32c::crc32c(body);
        if computed != stored {
            return Err(SnapshotError::BadCrc { stored, computed });
        }
        let body: SnapshotBody =
            bincode::deserialize(body).map_err(|e| SnapshotError::BadBody {
                detail: e.to_string(),
            })?;
        if body.map_end_offset < 0 {
            return Err(SnapshotError::Inconsistent {
                reason: "negative end offset",
            });
        }
        let mut producers = BTreeMap::new();
        for p in body.producers {
            let entry = ProducerEntry {
                producer_epoch: p.producer_epoch,
                batches: p.batches,
                last_timestamp_ms: p.last_timestamp_ms,
            };
            if p.producer_id < 0 || !entry.is_well_formed() {
                return Err(SnapshotError::Inconsistent {
                    reason: "malformed producer entry",
                });
            }
            if entry.last_batch().last_offset >= body.map_end_offset {
                return Err(SnapshotError::Inconsistent {
                    reason: "batch past the end offset",
                });
            }
            if producers.insert(p.producer_id, entry).is_some() {
                return Err(SnapshotError::Inconsistent {
                    reason: "producer listed twice",
                });
            }
        }
        Ok(ProducerStateTable::from_parts(
            producers,
            body.map_end_offset,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::producer_state::table::ProducerBatch;

    fn sample() -> ProducerStateTable {
        let mut table = ProducerStateTable::new(3);
        for (i, id) in [9i64, 4, 9, 9].iter().enumerate() {
            let batch = ProducerBatch {
                producer_id: *id,
                producer_epoch: 1,
                base_sequence: (i * 2) as i32,
                last_offset_delta: 1,
                max_timestamp_ms: 100 + i as i64,
                is_control: false,
            };
            let base = table.map_end_offset();
            table.on_appended(&batch, base);
        }
        table
    }

    #[test]
    fn snapshots_round_trip_and_reject_damage() {
        let table = sample();
        let bytes = table.snapshot();
        assert_eq!(ProducerStateTable::load(&bytes).unwrap(), table);
        let empty = ProducerStateTable::new(0);
        assert_eq!(ProducerStateTable::load(&empty.snapshot()).unwrap(), empty);
        for cut in 0..bytes.len() {
            assert!(ProducerStateTable::load(&bytes[..cut]).is_err());
        }
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x04;
            assert!(
                ProducerStateTable::load(&bad).is_err(),
                "flipped bit in byte {i} accepted"
            );
        }
    }

    #[test]
    fn file_names_round_trip() {
        assert_eq!(snapshot_file_name(42), "00000000000000000042.snapshot");
        assert_eq!(parse_snapshot_file_name(&snapshot_file_name(42)), Some(42));
        assert_eq!(parse_snapshot_file_name("00000000000000000042.log"), None);
        assert_eq!(parse_snapshot_file_name("42.snapshot"), None);
    }
}
