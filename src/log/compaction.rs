//! Log compaction (`cleanup.policy=compact`) as a pure function over the
//! batches of a log's sealed segments: Kafka's `LogCleaner` semantics.
//!
//! - The cleanable section is the prefix of sealed segments that end at or
//!   below `uncleanable_offset`, which the broker sets to
//!   `min(active segment base, high watermark)`: the active segment is never
//!   cleaned, and neither is anything a follower might still truncate (a
//!   record above the high watermark could vanish, and the older value of its
//!   key with it).
//! - The dirty section starts at `dirty_start_offset` (the cleaner
//!   checkpoint: below it every key appears once). Its records build an
//!   offset map key → latest offset, segment by segment, until
//!   [`CompactionParams::offset_map_bytes_max`] (at least one dirty segment is
//!   always mapped). Segments up to the end of the mapped ones are cleaned;
//!   the end is the next checkpoint.
//! - Memory: the map (bounded in bytes) plus one segment. [`plan_cleaning`]
//!   reads the segments one at a time to build the map, then
//!   [`clean_segment`] cleans them one at a time; [`compact`] runs both
//!   passes over segments already in memory.
//! - A record is kept if its key maps to an offset not above its own (or is
//!   not in the map: a clean record whose key was not written again).
//!   Records without a key are removed (Kafka counts them invalid; the
//!   broker refuses them on compacted topics at produce time, see
//!   [`requires_keys`]).
//! - Tombstones (null value) follow KIP-534: the first cleaning that keeps a
//!   tombstone stamps its batch with a delete horizon `now + delete.retention.ms`
//!   (base timestamp field + attribute bit 6); a later cleaning at or past the
//!   horizon removes the tombstone. Consumers thus get at least
//!   `delete.retention.ms` after the first cleaning to see it.
//! - Offsets never change: a batch keeps its base offset and last offset
//!   delta; records keep their offset deltas. A batch left without records
//!   is dropped, except the last batch of a producer still in the producer
//!   state, which is kept empty so the producer's last sequence survives a
//!   restart (Kafka's `BatchRetention.RETAIN_EMPTY`).
//! - Control batches (transaction markers) are kept unchanged (transactions
//!   are not implemented; Kafka removes markers of empty transactions).
//! - A batch whose records all stay and that needs no new horizon keeps its
//!   exact stored bytes. A rewritten batch keeps codec, producer fields,
//!   leader epoch, timestamp type and its max timestamp (so time-based
//!   retention and the time index see the segment as before; Kafka
//!   recomputes it from the kept records).
//! - Segments are rewritten one for one (Kafka also merges small adjacent
//!   cleaned segments; not yet). A segment may become empty or end before
//!   the next segment's base: gaps in offsets are normal after cleaning.
//!
//! Compacting the output again at the same `now_ms` returns it unchanged.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::log::compaction_batch::{self, OpenedBatch, RecordsError};
use crate::log::record_batch::{self, BatchError, BatchHeader};

/// Kafka's default `delete.retention.ms` (one day).
pub const DELETE_RETENTION_MS_DEFAULT: i64 = 86_400_000;
/// Kafka's default `log.cleaner.dedupe.buffer.size` (128 MiB): the offset
/// map's memory at most (see [`OffsetMap`]).
pub const OFFSET_MAP_BYTES_MAX_DEFAULT: usize = 128 << 20;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompactionError {
    #[error("segment {base_offset}: {source}")]
    Records {
        base_offset: i64,
        source: RecordsError,
    },
    #[error("segment {base_offset}: stored bytes do not split into batches: {source}")]
    Layout {
        base_offset: i64,
        source: BatchError,
    },
    #[error("segments are not in offset order at {base_offset}")]
    Order { base_offset: i64 },
    #[error("segment {base_offset} cannot be read: {detail}")]
    Read { base_offset: i64, detail: String },
}

/// Why a produced record set is refused on a compacted topic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// `INVALID_RECORD` (87): "Compacted topic cannot accept message without key".
    #[error("compacted topic cannot accept a record without a key")]
    MissingKey,
    /// `CORRUPT_MESSAGE` (2): the records do not decode.
    #[error(transparent)]
    Records(#[from] RecordsError),
}

/// The stored batches of one sealed segment, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentBatches {
    pub base_offset: i64,
    pub batches: Vec<Vec<u8>>,
}

impl SegmentBatches {
    /// Splits a segment file's bytes into batches (no CRC check here;
    /// compaction verifies every batch it opens). The CRC does not cover a
    /// batch's base offset, so offsets are checked here: they grow batch by
    /// batch and stay within what the segment can index; rot that breaks
    /// that is refused, never swapped in.
    pub fn from_file_bytes(
        base_offset: i64,
        bytes: &[u8],
    ) -> Result<SegmentBatches, CompactionError> {
        let mut batches = Vec::new();
        let mut at = 0;
        let mut previous_end = base_offset;
        while at < bytes.len() {
            let layout = |source| CompactionError::Layout {
                base_offset,
                source,
            };
            let header = record_batch::parse_header(&bytes[at..]).map_err(layout)?;
            let fits = header.last_offset_delta >= 0
                && header.base_offset >= previous_end
                && header.next_offset() - base_offset <= u32::MAX as i64;
            if !fits {
                return Err(layout(BatchError::Invalid {
                    reason: "batch offsets do not follow the previous batch within the segment",
                }));
            }
            previous_end = header.next_offset();
            batches.push(bytes[at..at + header.size_bytes].to_vec());
            at += header.size_bytes;
        }
        Ok(SegmentBatches {
            base_offset,
            batches,
        })
    }

    pub fn to_file_bytes(&self) -> Vec<u8> {
        self.batches.concat()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactionParams {
    /// The cleaner checkpoint: below it the log was cleaned before.
    pub dirty_start_offset: i64,
    /// `min(active segment base, high watermark)`: nothing at or above it is touched.
    pub uncleanable_offset: i64,
    pub now_ms: i64,
    /// `delete.retention.ms`.
    pub delete_retention_ms: i64,
    /// `log.cleaner.dedupe.buffer.size`: the offset map's bytes at most.
    pub offset_map_bytes_max: usize,
}

/// One cleaned segment: same base offset, new batches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanedSegment {
    pub base_offset: i64,
    pub batches: Vec<Vec<u8>>,
    /// Whether any byte differs from the input (unchanged segments need no rewrite).
    pub changed: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactionStats {
    pub records_read: u64,
    pub records_removed: u64,
    pub tombstones_removed: u64,
    pub keyless_removed: u64,
    pub batches_removed: u64,
    pub batches_kept_empty: u64,
    pub delete_horizons_set: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactionOutcome {
    /// The cleaned segments, in order (a prefix of the input).
    pub segments: Vec<CleanedSegment>,
    /// The next cleaner checkpoint (end of the cleaned section).
    pub cleaned_end_offset: i64,
    pub stats: CompactionStats,
}

/// The offset after a segment's last batch (its base when empty).
fn segment_end_offset(segment: &SegmentBatches) -> Result<i64, CompactionError> {
    match segment.batches.last() {
        None => Ok(segment.base_offset),
        Some(last) => record_batch::parse_header(last)
            .map(|h| h.next_offset())
            .map_err(|source| CompactionError::Layout {
                base_offset: segment.base_offset,
                source,
            }),
    }
}

fn open_all(segment: &SegmentBatches) -> Result<Vec<OpenedBatch>, CompactionError> {
    segment
        .batches
        .iter()
        .map(|b| {
            compaction_batch::open_batch(b).map_err(|source| CompactionError::Records {
                base_offset: segment.base_offset,
                source,
            })
        })
        .collect()
}

/// What one offset-map entry is charged beyond its key's bytes (the key's
/// `Bytes` handle, the offset and the tree node's share).
pub const OFFSET_MAP_ENTRY_OVERHEAD_BYTES: usize = 64;

/// Key → latest offset over the dirty section, charged in bytes against
/// `log.cleaner.dedupe.buffer.size`. Kafka keeps a 16-byte hash per key (24
/// bytes an entry); odradek keeps the key itself (no collisions), so an entry
/// costs its key's length plus [`OFFSET_MAP_ENTRY_OVERHEAD_BYTES`].
#[derive(Debug, Clone, Default)]
pub struct OffsetMap {
    latest: BTreeMap<Bytes, i64>,
    bytes: usize,
}

impl OffsetMap {
    fn cost(key: &Bytes) -> usize {
        key.len() + OFFSET_MAP_ENTRY_OVERHEAD_BYTES
    }
    pub fn bytes(&self) -> usize {
        self.bytes
    }
    pub fn len(&self) -> usize {
        self.latest.len()
    }
    pub fn is_empty(&self) -> bool {
        self.latest.is_empty()
    }
    fn get(&self, key: &Bytes) -> Option<&i64> {
        self.latest.get(key)
    }
    /// Bytes that `keys` would add (keys already mapped cost nothing).
    fn growth(&self, keys: &BTreeMap<Bytes, i64>) -> usize {
        keys.keys()
            .filter(|k| !self.latest.contains_key(*k))
            .map(Self::cost)
            .sum()
    }
    fn extend(&mut self, keys: BTreeMap<Bytes, i64>) {
        self.bytes += self.growth(&keys);
        self.latest.extend(keys);
    }
}

/// The result of the first pass: the offset map and the segments to clean.
#[derive(Debug, Clone)]
pub struct CleaningPlan {
    pub map: OffsetMap,
    /// Base offsets of the segments to clean, in offset order (a prefix of
    /// the sealed segments).
    pub segments: Vec<i64>,
    /// The next cleaner checkpoint (end of the cleaned section).
    pub cleaned_end_offset: i64,
}

/// First pass of a cleaning: reads the sealed segments `bases` one at a time
/// through `load` (only one is held at once) and builds the offset map over
/// the dirty section, until `offset_map_bytes_max` (at least one dirty
/// segment is always mapped). Then each planned segment is cleaned with
/// [`clean_segment`], again one at a time.
pub fn plan_cleaning(
    bases: &[i64],
    mut load: impl FnMut(i64) -> Result<SegmentBatches, CompactionError>,
    params: &CompactionParams,
) -> Result<CleaningPlan, CompactionError> {
    assert!(params.delete_retention_ms >= 0);
    assert!(params.offset_map_bytes_max > 0);
    let mut map = OffsetMap::default();
    let mut planned = Vec::new();
    let mut cleaned_end_offset = params.dirty_start_offset;
    let mut previous_end = i64::MIN;
    let mut mapped_dirty_segments = 0usize;
    for base in bases {
        let segment = load(*base)?;
        if segment.base_offset < previous_end {
            return Err(CompactionError::Order {
                base_offset: segment.base_offset,
            });
        }
        let end = segment_end_offset(&segment)?;
        if end > params.uncleanable_offset {
            break; // the cleanable prefix ends here
        }
        previous_end = end;
        if end > params.dirty_start_offset {
            let batches = open_all(&segment)?;
            let mut keys_added = BTreeMap::new();
            for batch in batches.iter().filter(|b| !b.header.is_control()) {
                for record in &batch.records {
                    let offset = batch.offset_of(record);
                    if offset < params.dirty_start_offset {
                        continue;
                    }
                    if let Some(key) = &record.key {
                        keys_added.insert(key.clone(), offset);
                    }
                }
            }
            if mapped_dirty_segments > 0
                && map.bytes() + map.growth(&keys_added) > params.offset_map_bytes_max
            {
                return Ok(CleaningPlan {
                    map,
                    segments: planned,
                    cleaned_end_offset: segment.base_offset,
                });
            }
            map.extend(keys_added);
            mapped_dirty_segments += 1;
        }
        planned.push(segment.base_offset);
        cleaned_end_offset = end;
    }
    Ok(CleaningPlan {
        map,
        segments: planned,
        cleaned_end_offset,
    })
}

/// Second pass for one segment of the plan: its cleaned form.
pub fn clean_segment(
    segment: &SegmentBatches,
    plan: &CleaningPlan,
    last_batch_offsets: &BTreeMap<i64, i64>,
    params: &CompactionParams,
    stats: &mut CompactionStats,
) -> Result<CleanedSegment, CompactionError> {
    let batches = open_all(segment)?;
    let mut cleaned = Vec::with_capacity(batches.len());
    for (stored, batch) in segment.batches.iter().zip(&batches) {
        stats.records_read += batch.records.len() as u64;
        if let Some(bytes) =
            clean_batch(stored, batch, &plan.map, last_batch_offsets, params, stats)?
        {
            cleaned.push(bytes);
        }
    }
    let changed = cleaned != segment.batches;
    Ok(CleanedSegment {
        base_offset: segment.base_offset,
        batches: cleaned,
        changed,
    })
}

/// Compacts `segments` (sealed, in offset order), all in memory: the two
/// passes of [`plan_cleaning`] and [`clean_segment`] over a slice.
/// `last_batch_offsets`: for each producer in the producer state, the last
/// offset of its last batch
/// ([`crate::core::producer_state::ProducerStateTable::last_batch_offsets`]).
pub fn compact(
    segments: &[SegmentBatches],
    last_batch_offsets: &BTreeMap<i64, i64>,
    params: &CompactionParams,
) -> Result<CompactionOutcome, CompactionError> {
    let bases: Vec<i64> = segments.iter().map(|s| s.base_offset).collect();
    let mut next = segments.iter();
    let plan = plan_cleaning(
        &bases,
        |_| Ok(next.next().expect("one load per base").clone()),
        params,
    )?;
    let mut stats = CompactionStats::default();
    let mut out = Vec::with_capacity(plan.segments.len());
    for segment in &segments[..plan.segments.len()] {
        out.push(clean_segment(
            segment,
            &plan,
            last_batch_offsets,
            params,
            &mut stats,
        )?);
    }
    Ok(CompactionOutcome {
        segments: out,
        cleaned_end_offset: plan.cleaned_end_offset,
        stats,
    })
}

/// The cleaned form of one batch: `None` to drop it.
fn clean_batch(
    stored: &[u8],
    batch: &OpenedBatch,
    map: &OffsetMap,
    last_batch_offsets: &BTreeMap<i64, i64>,
    params: &CompactionParams,
    stats: &mut CompactionStats,
) -> Result<Option<Vec<u8>>, CompactionError> {
    let header: &BatchHeader = &batch.header;
    if header.is_control() {
        return Ok(Some(stored.to_vec()));
    }
    let horizon = batch.delete_horizon_ms();
    let mut kept = Vec::with_capacity(batch.records.len());
    let mut kept_tombstone = false;
    for record in &batch.records {
        let offset = batch.offset_of(record);
        let Some(key) = &record.key else {
            stats.keyless_removed += 1;
            stats.records_removed += 1;
            continue;
        };
        let latest = map.get(key).is_none_or(|latest| offset >= *latest);
        if !latest {
            stats.records_removed += 1;
            continue;
        }
        if record.value.is_none() {
            if horizon.is_some_and(|h| params.now_ms >= h) {
                stats.tombstones_removed += 1;
                stats.records_removed += 1;
                continue;
            }
            kept_tombstone = true;
        }
        kept.push(record.clone());
    }
    let new_horizon = match horizon {
        Some(h) => Some(h),
        None if kept_tombstone => {
            stats.delete_horizons_set += 1;
            Some(params.now_ms.saturating_add(params.delete_retention_ms))
        }
        None => None,
    };
    if kept.is_empty() {
        let is_last_of_producer = header.producer_id >= 0
            && last_batch_offsets.get(&header.producer_id) == Some(&header.last_offset());
        if is_last_of_producer {
            stats.batches_kept_empty += 1;
            if batch.records.is_empty() {
                return Ok(Some(stored.to_vec()));
            }
            return Ok(Some(compaction_batch::empty_batch(header)));
        }
        stats.batches_removed += 1;
        return Ok(None);
    }
    if kept.len() == batch.records.len() && new_horizon == horizon {
        return Ok(Some(stored.to_vec()));
    }
    let bytes = compaction_batch::rewrite_batch(header, &kept, new_horizon).map_err(|source| {
        CompactionError::Records {
            base_offset: header.base_offset,
            source,
        }
    })?;
    Ok(Some(bytes))
}

/// For a produce to a compacted topic: every record of every batch has a
/// key (Kafka's `LogValidator`). Decompresses the batches.
pub fn requires_keys(records: &[u8]) -> Result<(), KeyError> {
    let mut at = 0;
    while at < records.len() {
        let header = record_batch::parse_header(&records[at..]).map_err(RecordsError::from)?;
        let batch = compaction_batch::open_batch(&records[at..at + header.size_bytes])?;
        if !header.is_control() && batch.records.iter().any(|r| r.key.is_none()) {
            return Err(KeyError::MissingKey);
        }
        at += header.size_bytes;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::compaction_batch::open_batch;
    use crate::log::compaction_batch::test_support::keyed_batch;
    use kafka_protocol::records::Compression;

    fn kv(k: &str, v: Option<&str>, ts: i64) -> (Option<Vec<u8>>, Option<Vec<u8>>, i64) {
        (
            Some(k.as_bytes().to_vec()),
            v.map(|v| v.as_bytes().to_vec()),
            ts,
        )
    }

    fn params(now_ms: i64) -> CompactionParams {
        CompactionParams {
            dirty_start_offset: 0,
            uncleanable_offset: 100,
            now_ms,
            delete_retention_ms: 1_000,
            offset_map_bytes_max: OFFSET_MAP_BYTES_MAX_DEFAULT,
        }
    }

    /// `--synced-bit-flips` seed 100: rot in a stored base offset (the CRC
    /// does not cover it) sent 2^44 into the cleaned segment's index and
    /// tripped its "offset outside segment" assertion during the swap.
    #[test]
    fn a_segment_whose_offsets_do_not_grow_is_refused() {
        let batch = |base| {
            keyed_batch(
                base,
                &[kv("k", Some("v"), 1)],
                Compression::None,
                (-1, -1, -1),
            )
        };
        let good = [batch(10), batch(11)].concat();
        assert_eq!(
            SegmentBatches::from_file_bytes(10, &good)
                .unwrap()
                .batches
                .len(),
            2
        );
        for rotted in [
            [batch(10), batch(9)].concat(),
            [batch(10), batch(11 + (1 << 44))].concat(),
        ] {
            assert!(matches!(
                SegmentBatches::from_file_bytes(10, &rotted),
                Err(CompactionError::Layout { .. })
            ));
        }
    }

    /// (offset, key, value) of every record in the segments.
    fn contents(segments: &[CleanedSegment]) -> Vec<(i64, String, Option<String>)> {
        let mut out = Vec::new();
        for s in segments {
            for b in &s.batches {
                let opened = open_batch(b).unwrap();
                for r in &opened.records {
                    out.push((
                        opened.offset_of(r),
                        String::from_utf8(r.key.clone().unwrap().to_vec()).unwrap(),
                        r.value
                            .clone()
                            .map(|v| String::from_utf8(v.to_vec()).unwrap()),
                    ));
                }
            }
        }
        out
    }

    fn as_input(segments: &[CleanedSegment]) -> Vec<SegmentBatches> {
        segments
            .iter()
            .map(|s| SegmentBatches {
                base_offset: s.base_offset,
                batches: s.batches.clone(),
            })
            .collect()
    }

    #[test]
    fn latest_values_stay_at_their_offsets_and_tombstones_go_after_the_horizon() {
        let segments = vec![
            SegmentBatches {
                base_offset: 0,
                batches: vec![
                    keyed_batch(
                        0,
                        &[kv("a", Some("1"), 10), kv("b", Some("1"), 11)],
                        Compression::None,
                        (-1, -1, -1),
                    ),
                    keyed_batch(
                        2,
                        &[kv("c", Some("1"), 12)],
                        Compression::Gzip,
                        (-1, -1, -1),
                    ),
                ],
            },
            SegmentBatches {
                base_offset: 3,
                batches: vec![keyed_batch(
                    3,
                    &[kv("a", Some("2"), 13), kv("b", None, 14)],
                    Compression::Lz4,
                    (-1, -1, -1),
                )],
            },
            // Not cleanable: crosses the uncleanable offset.
            SegmentBatches {
                base_offset: 5,
                batches: vec![keyed_batch(
                    5,
                    &[kv("c", Some("2"), 15)],
                    Compression::None,
                    (-1, -1, -1),
                )],
            },
        ];
        let mut p = params(1_000);
        p.uncleanable_offset = 5;
        let first = compact(&segments, &BTreeMap::new(), &p).unwrap();
        assert_eq!(first.cleaned_end_offset, 5);
        assert_eq!(first.segments.len(), 2);
        assert_eq!(
            contents(&first.segments),
            vec![
                (2, "c".into(), Some("1".into())),
                (3, "a".into(), Some("2".into())),
                (4, "b".into(), None)
            ]
        );
        assert_eq!(first.stats.delete_horizons_set, 1);
        let tombstone_batch = open_batch(&first.segments[1].batches[0]).unwrap();
        assert_eq!(tombstone_batch.delete_horizon_ms(), Some(2_000));
        assert_eq!(tombstone_batch.header.last_offset_delta, 1);

        // Again before the horizon: nothing changes (idempotent).
        let mut p2 = p;
        p2.now_ms = 1_999;
        p2.dirty_start_offset = first.cleaned_end_offset;
        let mut input = as_input(&first.segments);
        input.push(segments[2].clone());
        let second = compact(&input, &BTreeMap::new(), &p2).unwrap();
        assert!(second.segments.iter().all(|s| !s.changed));
        // At the horizon the tombstone goes.
        p2.now_ms = 2_000;
        let third = compact(&input, &BTreeMap::new(), &p2).unwrap();
        assert_eq!(
            contents(&third.segments),
            vec![
                (2, "c".into(), Some("1".into())),
                (3, "a".into(), Some("2".into()))
            ]
        );
        assert_eq!(third.stats.tombstones_removed, 1);
    }

    #[test]
    fn a_producers_last_batch_is_kept_empty() {
        let segments = vec![
            SegmentBatches {
                base_offset: 0,
                batches: vec![keyed_batch(
                    0,
                    &[kv("k", Some("1"), 1), kv("k", Some("2"), 2)],
                    Compression::Snappy,
                    (42, 3, 7),
                )],
            },
            SegmentBatches {
                base_offset: 2,
                batches: vec![keyed_batch(
                    2,
                    &[kv("k", Some("3"), 3)],
                    Compression::None,
                    (-1, -1, -1),
                )],
            },
        ];
        let last = BTreeMap::from([(42i64, 1i64)]);
        let out = compact(&segments, &last, &params(0)).unwrap();
        let h = record_batch::parse_verified(&out.segments[0].batches[0]).unwrap();
        assert_eq!(
            (
                h.base_offset,
                h.last_offset(),
                h.records_count,
                h.base_sequence,
                h.producer_epoch
            ),
            (0, 1, 0, 7, 3)
        );
        let gone = compact(&segments, &BTreeMap::new(), &params(0)).unwrap();
        assert!(gone.segments[0].batches.is_empty());
        assert_eq!(gone.stats.batches_removed, 1);
    }

    #[test]
    fn keyless_records_are_refused_at_produce_and_removed_by_cleaning() {
        let keyed = keyed_batch(0, &[kv("k", Some("v"), 1)], Compression::Zstd, (-1, -1, -1));
        assert_eq!(requires_keys(&keyed), Ok(()));
        let keyless = keyed_batch(
            0,
            &[(None, Some(b"v".to_vec()), 1)],
            Compression::None,
            (-1, -1, -1),
        );
        assert_eq!(requires_keys(&keyless), Err(KeyError::MissingKey));
        assert!(requires_keys(&keyless[..keyless.len() - 1]).is_err());
        let segments = vec![SegmentBatches {
            base_offset: 0,
            batches: vec![keyless],
        }];
        let out = compact(&segments, &BTreeMap::new(), &params(0)).unwrap();
        assert_eq!(out.stats.keyless_removed, 1);
    }

    #[test]
    fn the_offset_map_limit_cleans_a_prefix() {
        let segments: Vec<SegmentBatches> = (0..3)
            .map(|i| SegmentBatches {
                base_offset: i * 2,
                batches: vec![keyed_batch(
                    i * 2,
                    &[
                        kv(&format!("k{i}"), Some("x"), 1),
                        kv(&format!("j{i}"), Some("y"), 1),
                    ],
                    Compression::None,
                    (-1, -1, -1),
                )],
            })
            .collect();
        let mut p = params(0);
        p.offset_map_bytes_max = 3 * (2 + OFFSET_MAP_ENTRY_OVERHEAD_BYTES); // three 2-byte keys
        let out = compact(&segments, &BTreeMap::new(), &p).unwrap();
        assert_eq!(out.cleaned_end_offset, 2);
        assert_eq!(out.segments.len(), 1);
    }
}
