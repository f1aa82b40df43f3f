//! Property tests of log compaction against a model of what a compacted log
//! must hold, and crash tests of the on-disk swap.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::records::Compression;
use proptest::prelude::*;

use crate::core::producer_state::ProducerStateTable;
use crate::io::disk::{join, Disk};
use crate::io::sim_disk::{SimDisk, SimDiskFaults};
use crate::log::compaction::{
    compact, CleanedSegment, CompactionParams, SegmentBatches, OFFSET_MAP_BYTES_MAX_DEFAULT,
};
use crate::log::compaction_batch::open_batch;
use crate::log::compaction_batch::test_support::{keyed_batch, Kv};
use crate::log::compaction_files::{
    compact_segment_files, prepare_cleaned_segment, recover_interrupted_compaction,
    swap_in_cleaned_segment,
};
use crate::log::record_batch::{self, BatchHeader};
use crate::log::segment;

const NOW_MS: i64 = 1_000_000;
const RETENTION_MS: i64 = 5_000;
const PRODUCER_ID: i64 = 7;

/// A generated batch: records (key index, value or tombstone), codec, idempotent?
type GenBatch = (Vec<(u8, Option<u8>)>, u8, bool);

fn gen_log() -> impl Strategy<Value = Vec<Vec<GenBatch>>> {
    let record = (0u8..5, proptest::option::weighted(0.75, any::<u8>()));
    let batch = (
        proptest::collection::vec(record, 1..5),
        0u8..5,
        any::<bool>(),
    );
    proptest::collection::vec(proptest::collection::vec(batch, 1..4), 1..6)
}

fn codec(i: u8) -> Compression {
    [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ][i as usize]
}

/// Builds the segments; returns them and every record as (offset, key, value, timestamp).
/// (offset, key, value) of one generated record.
type ModelRecord = (i64, Vec<u8>, Option<Vec<u8>>);

fn build(log: &[Vec<GenBatch>]) -> (Vec<SegmentBatches>, Vec<ModelRecord>) {
    let mut offset = 0i64;
    let mut sequence = 0i32;
    let mut segments = Vec::new();
    let mut records = Vec::new();
    for seg in log {
        let base_offset = offset;
        let mut batches = Vec::new();
        for (recs, c, idempotent) in seg {
            let kvs: Vec<Kv> = recs
                .iter()
                .enumerate()
                .map(|(i, (k, v))| {
                    (
                        Some(vec![b'k', *k]),
                        v.map(|v| vec![v]),
                        100 + offset + i as i64,
                    )
                })
                .collect();
            let producer = if *idempotent {
                (PRODUCER_ID, 0, sequence)
            } else {
                (-1, -1, -1)
            };
            batches.push(keyed_batch(offset, &kvs, codec(*c), producer));
            for (i, (k, v, _)) in kvs.into_iter().enumerate() {
                records.push((offset + i as i64, k.unwrap(), v));
            }
            if *idempotent {
                sequence += recs.len() as i32;
            }
            offset += recs.len() as i64;
        }
        segments.push(SegmentBatches {
            base_offset,
            batches,
        });
    }
    (segments, records)
}

fn headers(segments: &[SegmentBatches]) -> Vec<BatchHeader> {
    segments
        .iter()
        .flat_map(|s| {
            s.batches
                .iter()
                .map(|b| record_batch::parse_verified(b).unwrap())
        })
        .collect()
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

/// Every record of the segments: offset → (key, value).
fn read_all(segments: &[SegmentBatches]) -> BTreeMap<i64, (Vec<u8>, Option<Vec<u8>>)> {
    let mut out = BTreeMap::new();
    for s in segments {
        for b in &s.batches {
            let opened = open_batch(b).unwrap();
            for r in &opened.records {
                let previous = out.insert(
                    opened.offset_of(r),
                    (
                        r.key.clone().unwrap().to_vec(),
                        r.value.clone().map(|v| v.to_vec()),
                    ),
                );
                assert!(previous.is_none(), "one offset, one record");
            }
        }
    }
    out
}

fn params(now_ms: i64, dirty_start_offset: i64, uncleanable_offset: i64) -> CompactionParams {
    CompactionParams {
        dirty_start_offset,
        uncleanable_offset,
        now_ms,
        delete_retention_ms: RETENTION_MS,
        offset_map_bytes_max: OFFSET_MAP_BYTES_MAX_DEFAULT,
    }
}

proptest! {
    #![proptest_config(crate::test_support::proptest_config(96))]

    #[test]
    fn compaction_keeps_the_latest_value_of_each_key_at_its_offset(log in gen_log(), cleanable_segments in 1usize..6) {
        let (segments, records) = build(&log);
        let cleanable_segments = cleanable_segments.min(segments.len());
        let uncleanable = segments.get(cleanable_segments).map_or(records.len() as i64, |s| s.base_offset);
        let producer_state = ProducerStateTable::rebuild_from(0, &headers(&segments));
        let last_batches = producer_state.last_batch_offsets();

        let out = compact(&segments, &last_batches, &params(NOW_MS, 0, uncleanable)).unwrap();
        prop_assert_eq!(out.cleaned_end_offset, uncleanable);
        prop_assert_eq!(out.segments.len(), cleanable_segments);

        // Offsets never change; batches keep their base offset and last offset delta.
        let input_batches: BTreeMap<i64, BatchHeader> = headers(&segments).into_iter().map(|h| (h.base_offset, h)).collect();
        for s in &out.segments {
            let mut at = 0;
            let bytes = s.batches.concat();
            while at < bytes.len() {
                let h = record_batch::parse_verified(&bytes[at..]).unwrap();
                let original = input_batches[&h.base_offset];
                prop_assert_eq!(h.last_offset_delta, original.last_offset_delta);
                prop_assert_eq!((h.producer_id, h.producer_epoch, h.base_sequence), (original.producer_id, original.producer_epoch, original.base_sequence));
                prop_assert!(h.base_offset >= s.base_offset);
                at += h.size_bytes;
            }
        }

        // The model: within the cleaned range, each key keeps exactly its latest record.
        let mut latest: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
        for (offset, key, _) in records.iter().filter(|r| r.0 < uncleanable) {
            latest.insert(key.clone(), *offset);
        }
        let mut full_output = as_input(&out.segments);
        full_output.extend(segments[cleanable_segments..].iter().cloned());
        let after = read_all(&full_output);
        for (offset, key, value) in &records {
            let expected_present = *offset >= uncleanable || latest[key] == *offset;
            prop_assert_eq!(after.contains_key(offset), expected_present, "offset {}", offset);
            if expected_present {
                prop_assert_eq!(&after[offset], &(key.clone(), value.clone()));
            }
        }

        // The producer's last sequence survives (its last batch stays, empty if need be).
        let rebuilt = ProducerStateTable::rebuild_from(0, &headers(&full_output));
        prop_assert_eq!(
            rebuilt.entry(PRODUCER_ID).map(|e| *e.last_batch()),
            producer_state.entry(PRODUCER_ID).map(|e| *e.last_batch())
        );

        // Idempotent, with the checkpoint and without.
        let input = as_input(&out.segments);
        for dirty_start in [0, out.cleaned_end_offset] {
            let again = compact(&input, &last_batches, &params(NOW_MS, dirty_start, uncleanable)).unwrap();
            prop_assert!(again.segments.iter().all(|s| !s.changed));
        }

        // Tombstones stay until the horizon, then go; nothing else changes.
        let before_horizon = compact(&input, &last_batches, &params(NOW_MS + RETENTION_MS - 1, 0, uncleanable)).unwrap();
        prop_assert!(before_horizon.segments.iter().all(|s| !s.changed));
        let at_horizon = compact(&input, &last_batches, &params(NOW_MS + RETENTION_MS, 0, uncleanable)).unwrap();
        let final_records = read_all(&as_input(&at_horizon.segments));
        let cleaned_records = read_all(&input);
        for (offset, (key, value)) in &cleaned_records {
            let kept = final_records.get(offset);
            if value.is_some() {
                prop_assert_eq!(kept, Some(&(key.clone(), value.clone())));
            } else {
                prop_assert_eq!(kept, None, "tombstone at {} outlived its horizon", offset);
            }
        }
    }
}

fn sim_disk() -> Arc<SimDisk> {
    Arc::new(SimDisk::new(11, SimDiskFaults::default()))
}

const DIR: &str = "data/compacted-0";

fn write_segment(disk: &SimDisk, segment: &SegmentBatches) {
    let path = join(DIR, &segment::log_file_name(segment.base_offset));
    disk.append(&path, &segment.to_file_bytes()).unwrap();
    disk.append(
        &join(DIR, &segment::index_file_name(segment.base_offset)),
        b"",
    )
    .unwrap();
    disk.append(
        &join(DIR, &segment::time_index_file_name(segment.base_offset)),
        b"",
    )
    .unwrap();
    for p in [
        path,
        join(DIR, &segment::index_file_name(segment.base_offset)),
        join(DIR, &segment::time_index_file_name(segment.base_offset)),
    ] {
        disk.sync_now(&p).unwrap();
    }
    disk.sync_now(DIR).unwrap();
}

fn sample_segment() -> SegmentBatches {
    let kvs: Vec<Kv> = (0..6)
        .map(|i| (Some(vec![b'k', i % 2]), Some(vec![i]), 10 + i as i64))
        .collect();
    SegmentBatches {
        base_offset: 0,
        batches: vec![
            keyed_batch(0, &kvs[..3], Compression::Gzip, (-1, -1, -1)),
            keyed_batch(3, &kvs[3..], Compression::None, (-1, -1, -1)),
        ],
    }
}

#[test]
fn a_crash_at_any_step_of_the_swap_leaves_the_old_or_the_new_segment() {
    let original = sample_segment();
    let cleaned = compact(
        std::slice::from_ref(&original),
        &BTreeMap::new(),
        &params(NOW_MS, 0, 6),
    )
    .unwrap()
    .segments
    .remove(0);
    assert!(cleaned.changed);
    let log_path = join(DIR, &segment::log_file_name(0));
    let cleaned_bytes = cleaned.batches.concat();
    let original_bytes = original.to_file_bytes();
    // The swap as primitive disk operations; crash after the first `k`.
    let cleaned_file = format!("{log_path}.cleaned");
    let swap_file = format!("{log_path}.swap");
    let index = join(DIR, &segment::index_file_name(0));
    let time_index = join(DIR, &segment::time_index_file_name(0));
    type Step<'a> = Box<dyn Fn(&SimDisk) + 'a>;
    let steps: Vec<Step> = vec![
        Box::new(|d| {
            d.write_file_unsynced(&cleaned_file, &cleaned_bytes)
                .unwrap()
        }),
        Box::new(|d| d.sync_now(&cleaned_file).unwrap()),
        Box::new(|d| d.rename(&cleaned_file, &swap_file).unwrap()),
        Box::new(|d| d.sync_now(DIR).unwrap()),
        Box::new(|d| d.remove_file(&index).unwrap()),
        Box::new(|d| d.remove_file(&time_index).unwrap()),
        Box::new(|d| d.sync_now(DIR).unwrap()),
        Box::new(|d| d.rename(&swap_file, &log_path).unwrap()),
        Box::new(|d| d.sync_now(DIR).unwrap()),
    ];
    for k in 0..=steps.len() {
        let disk = sim_disk();
        disk.create_dir_all(DIR).unwrap();
        disk.sync_now("").unwrap();
        disk.sync_now("data").unwrap();
        write_segment(&disk, &original);
        for step in &steps[..k] {
            step(&disk);
        }
        disk.crash();
        recover_interrupted_compaction(disk.as_ref(), DIR).unwrap();
        let content = disk.read_at(&log_path, 0, usize::MAX).unwrap();
        let names = disk.list_dir(DIR).unwrap();
        assert!(
            names
                .iter()
                .all(|n| !n.ends_with(".cleaned") && !n.ends_with(".swap")),
            "leftovers after step {k}: {names:?}"
        );
        if content == cleaned_bytes {
            assert!(
                !disk.exists(&index),
                "a swapped segment must not keep the old index (step {k})"
            );
        } else {
            assert_eq!(
                content, original_bytes,
                "neither old nor new after step {k}"
            );
            assert!(
                k < 4,
                "the swap was committed at step 4 but rolled back after step {k}"
            );
        }
    }
}

#[test]
fn a_whole_run_on_disk_rewrites_and_reindexes_segments() {
    let disk = sim_disk();
    disk.create_dir_all(DIR).unwrap();
    let original = sample_segment();
    write_segment(&disk, &original);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let run = runtime
        .block_on(compact_segment_files(
            disk.as_ref(),
            DIR,
            &[0],
            &BTreeMap::new(),
            &params(NOW_MS, 0, 6),
            1,
        ))
        .unwrap();
    assert_eq!(run.installed.len(), 1);
    let seg = &run.installed[0];
    let on_disk = disk.read_at(seg.log_path(), 0, usize::MAX).unwrap();
    assert_eq!(on_disk, run.outcome.segments[0].batches.concat());
    assert_eq!(seg.size_bytes, on_disk.len() as u64);
    assert_eq!(seg.next_offset, 6);
    let records = read_all(&[SegmentBatches::from_file_bytes(0, &on_disk).unwrap()]);
    assert_eq!(records.keys().copied().collect::<Vec<_>>(), vec![4, 5]);
    // Preparing again and abandoning because the segment changed is safe.
    runtime
        .block_on(prepare_cleaned_segment(
            disk.as_ref(),
            DIR,
            &run.outcome.segments[0],
        ))
        .unwrap();
    assert!(
        swap_in_cleaned_segment(disk.as_ref(), DIR, &run.outcome.segments[0], 1, 1, NOW_MS)
            .is_err()
    );
}
