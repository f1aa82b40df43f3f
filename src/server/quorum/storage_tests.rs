//! The Raft storage on the simulated disk: what a persist made durable
//! survives a crash, a torn tail is cut, damage in the middle refuses.

use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::core::raft::EntryKind;
use crate::io::sim_disk::{SimDisk, SimDiskFaults};

const DIR: &str = "meta/raft";
const ENTRY_MAX: usize = 4_096;
const SNAPSHOT_MAX: usize = 1 << 20;

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

async fn open(disk: &Arc<SimDisk>) -> Result<(RaftStorage, DurableState), StorageError> {
    RaftStorage::open(
        Arc::clone(disk) as Arc<dyn Disk>,
        DIR,
        ENTRY_MAX,
        SNAPSHOT_MAX,
    )
    .await
}

fn entry(index: LogIndex, term: u64, payload: &[u8]) -> Entry {
    Entry {
        term,
        index,
        kind: EntryKind::Command(payload.to_vec()),
    }
}

/// What `Persist` means, applied to a model (as the core's test storage).
fn apply(model: &mut DurableState, persist: &Persist) {
    if let Some(hard_state) = persist.hard_state {
        model.hard_state = hard_state;
    }
    if let Some(snapshot) = &persist.snapshot {
        model.entries.retain(|e| e.index > snapshot.meta.last_index);
        model.snapshot = Some(snapshot.clone());
    }
    if let Some(write) = &persist.log {
        model.entries.retain(|e| e.index < write.first_index);
        model.entries.extend(write.entries.iter().cloned());
    }
}

fn last_index(model: &DurableState) -> LogIndex {
    let base = model.snapshot.as_ref().map_or(0, |s| s.meta.last_index);
    model.entries.last().map_or(base, |e| e.index)
}

/// A random persist that a Raft node could hand out after `model`.
fn random_persist(rng: &mut ChaCha8Rng, model: &DurableState, id: u64) -> Persist {
    let mut hard_state = None;
    let mut term = model.hard_state.term;
    if term == 0 || rng.gen_bool(0.2) {
        term += 1;
        hard_state = Some(HardState {
            term,
            voted_for: rng.gen_bool(0.5).then(|| rng.gen_range(1..4)),
        });
    }
    let base = model.snapshot.as_ref().map_or(0, |s| s.meta.last_index);
    let last = last_index(model);
    let mut snapshot = None;
    if last > base && rng.gen_bool(0.15) {
        let at = rng.gen_range(base + 1..=last);
        let at_term = model.entries.iter().find(|e| e.index == at).unwrap().term;
        let len = rng.gen_range(0..64);
        snapshot = Some(Snapshot {
            meta: SnapshotMeta {
                last_index: at,
                last_term: at_term,
            },
            data: (0..len).map(|_| rng.gen()).collect(),
        });
    }
    let new_base = snapshot.as_ref().map_or(base, |s| s.meta.last_index);
    let mut log = None;
    if rng.gen_bool(0.8) {
        let first_index = rng.gen_range(new_base + 1..=last.max(new_base) + 1);
        let count = rng.gen_range(0..6);
        let entries = (first_index..first_index + count)
            .map(|index| {
                let len = rng.gen_range(0..200);
                let payload: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
                entry(index, term, &payload)
            })
            .collect();
        log = Some(LogWrite {
            first_index,
            entries,
        });
    }
    Persist {
        id,
        snapshot,
        log,
        hard_state,
    }
}

#[test]
fn what_was_persisted_survives_crashes_and_torn_tails() {
    for seed in 0..24u64 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let disk = Arc::new(SimDisk::new(
            seed,
            SimDiskFaults {
                crash_writeback_probability: 0.2,
                crash_torn_write_probability: 0.3,
                crash_bit_flip_probability: 0.2,
                crash_zeroed_tail_probability: 0.2,
                ..SimDiskFaults::default()
            },
        ));
        block_on(async {
            let (mut storage, durable) = open(&disk).await.unwrap();
            assert_eq!(durable, DurableState::default());
            let mut model = DurableState::default();
            for id in 1..=120 {
                let persist = random_persist(&mut rng, &model, id);
                storage.persist(&persist).await.unwrap();
                apply(&mut model, &persist);
                if rng.gen_bool(0.15) {
                    // Half a frame written and never synced, then a crash.
                    let lost = entry(last_index(&model) + 1, 99, b"lost");
                    let frame = encode_entry_frame(lost.index, &lost);
                    let cut = rng.gen_range(1..frame.len());
                    disk.append(&format!("{DIR}/{RAFT_LOG_FILE}"), &frame[..cut])
                        .unwrap();
                    drop(storage);
                    disk.crash();
                    let (reopened, durable) = open(&disk).await.unwrap();
                    assert_eq!(durable, model, "seed {seed} persist {id}");
                    storage = reopened;
                }
            }
            drop(storage);
            disk.crash();
            let (_, durable) = open(&disk).await.unwrap();
            assert_eq!(durable, model, "seed {seed} at the end");
            assert!(disk.counters().crashes > 1, "seed {seed}: crashed midway");
            assert!(
                model.snapshot.is_some(),
                "seed {seed}: snapshots were taken"
            );
        });
    }
}

/// Persists entries 1..=5 as `writes` (each a count of entries, one
/// append and one sync each) and returns the log's bytes and frame offsets.
async fn entries_in_writes(disk: &Arc<SimDisk>, writes: &[u64]) -> (Vec<u8>, Vec<u64>) {
    assert_eq!(writes.iter().sum::<u64>(), 5, "five entries");
    let (mut storage, _) = open(disk).await.unwrap();
    let mut first_index = 1;
    for (id, &count) in (1..).zip(writes) {
        let persist = Persist {
            id,
            snapshot: None,
            log: Some(LogWrite {
                first_index,
                entries: (first_index..first_index + count)
                    .map(|i| entry(i, 1, b"record"))
                    .collect(),
            }),
            hard_state: (id == 1).then_some(HardState {
                term: 1,
                voted_for: Some(1),
            }),
        };
        storage.persist(&persist).await.unwrap();
        first_index += count;
    }
    let path = format!("{DIR}/{RAFT_LOG_FILE}");
    let bytes = disk.read_at(&path, 0, 1 << 20).unwrap();
    let offsets = storage.frames.iter().map(|&(_, o)| o).collect();
    (bytes, offsets)
}

/// Writes 5 entries in one write and returns the log's bytes and frame
/// offsets.
async fn five_entries(disk: &Arc<SimDisk>) -> (Vec<u8>, Vec<u64>) {
    entries_in_writes(disk, &[5]).await
}

/// Replaces the log with `bytes` (durably) and opens the storage.
async fn open_with_log(
    disk: &Arc<SimDisk>,
    bytes: &[u8],
) -> Result<(RaftStorage, DurableState), StorageError> {
    create_dir_all_durably(disk.as_ref(), DIR).await.unwrap();
    let path = format!("{DIR}/{RAFT_LOG_FILE}");
    disk.write_file_durably(&path, bytes).await.unwrap();
    open(disk).await
}

fn indexes(state: &DurableState) -> Vec<LogIndex> {
    state.entries.iter().map(|e| e.index).collect()
}

/// Damage to a frame: kinds below [`FLIP_KINDS`] flip a bit in the
/// length, its complement, the checksum or the body (what a crash or rot
/// may do); the last kind zeroes its header and more (what a crash may do
/// to unsynced bytes: both lengths are lost, so nothing says where the
/// next frame starts).
fn damage(bytes: &mut [u8], frame_offset: u64, kind: usize) {
    let at = frame_offset as usize;
    match kind {
        0 => bytes[at] ^= 0x10,
        1 => bytes[at + 5] ^= 0x01,
        2 => bytes[at + 9] ^= 0x80,
        3 => bytes[at + 14] ^= 0x04,
        _ => bytes[at..at + RAFT_FRAME_HEADER_BYTES + 3].fill(0),
    }
}
const FLIP_KINDS: usize = 4;

/// Seed 3649 (`--cluster 3`): a crash damaged the first frame of the
/// last, unsynced write of several entries and kept the frames after it.
/// That write never synced, so nothing in it was acknowledged: it is a
/// torn tail, cut, not rot.
#[test]
fn damage_in_the_last_write_is_a_torn_tail_even_with_good_frames_after_it() {
    block_on(async {
        for kind in 0..=FLIP_KINDS {
            for damaged in [2usize, 3, 4] {
                let disk = Arc::new(SimDisk::new(1, SimDiskFaults::default()));
                let (mut bytes, offsets) = entries_in_writes(&disk, &[2, 3]).await;
                damage(&mut bytes, offsets[damaged], kind);
                let (_, durable) = open_with_log(&disk, &bytes)
                    .await
                    .unwrap_or_else(|e| panic!("damage {kind} in frame {damaged}: {e}"));
                let kept: Vec<LogIndex> = (1..=damaged as u64).collect();
                assert_eq!(indexes(&durable), kept, "damage {kind} in {damaged}");
                let path = format!("{DIR}/{RAFT_LOG_FILE}");
                assert_eq!(disk.file_len(&path).unwrap(), offsets[damaged]);
            }
        }
    });
}

/// Every single flipped bit in the last write's frames is cut as a torn
/// tail; every one in an earlier write's frames (synced, since a write
/// starts only after the one before it synced) refuses to start.
#[test]
fn any_flipped_bit_is_cut_in_the_last_write_and_refused_before_it() {
    block_on(async {
        let disk = Arc::new(SimDisk::new(1, SimDiskFaults::default()));
        let (bytes, offsets) = entries_in_writes(&disk, &[2, 1, 2]).await;
        let last_write_at = offsets[3] as usize;
        for position in offsets[0] as usize..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[position] ^= 1 << (position % 8);
            let frame = offsets
                .iter()
                .rposition(|&o| o as usize <= position)
                .unwrap();
            let disk = Arc::new(SimDisk::new(1, SimDiskFaults::default()));
            let result = open_with_log(&disk, &damaged).await;
            if position >= last_write_at {
                let (_, durable) = result.unwrap_or_else(|e| panic!("byte {position}: {e}"));
                let kept: Vec<LogIndex> = (1..=frame as u64).collect();
                assert_eq!(indexes(&durable), kept, "byte {position}");
            } else {
                match result {
                    Err(StorageError::Corrupt { offset, .. }) => {
                        assert_eq!(offset, offsets[frame], "byte {position}")
                    }
                    Err(e) => panic!("byte {position}: {e}"),
                    Ok(_) => panic!("byte {position}: opened a log with a synced frame damaged"),
                }
            }
        }
    });
}

#[test]
fn damage_in_the_middle_refuses_to_start() {
    block_on(async {
        for kind in 0..FLIP_KINDS {
            // The third frame starts a write; a later write follows.
            let disk = Arc::new(SimDisk::new(1, SimDiskFaults::default()));
            let (mut bytes, offsets) = entries_in_writes(&disk, &[2, 2, 1]).await;
            damage(&mut bytes, offsets[2], kind);
            match open_with_log(&disk, &bytes).await {
                Err(StorageError::Corrupt { offset, .. }) => assert_eq!(offset, offsets[2]),
                Err(e) => panic!("damage {kind}: {e}"),
                Ok(_) => panic!("damage {kind}: opened a damaged log"),
            }
            // One write of five entries, rewritten (synced at once) by an
            // open: each of its frames was synced before the next.
            let disk = Arc::new(SimDisk::new(1, SimDiskFaults::default()));
            let _ = five_entries(&disk).await;
            let _ = open(&disk).await.unwrap();
            let path = format!("{DIR}/{RAFT_LOG_FILE}");
            let mut bytes = disk.read_at(&path, 0, 1 << 20).unwrap();
            let offsets: Vec<u64> = {
                let (storage, _) = open(&disk).await.unwrap();
                storage.frames.iter().map(|&(_, o)| o).collect()
            };
            damage(&mut bytes, offsets[2], kind);
            match open_with_log(&disk, &bytes).await {
                Err(StorageError::Corrupt { offset, .. }) => assert_eq!(offset, offsets[2]),
                Err(e) => panic!("damage {kind} after a rewrite: {e}"),
                Ok(_) => panic!("damage {kind} after a rewrite: opened a damaged log"),
            }
        }
    });
}

/// A log of the first format (no write tags) still opens, with its old
/// rule: a damaged frame followed by a good one is refused, a damaged
/// last frame is cut. The open rewrites it in the current format.
#[test]
fn a_version_1_log_opens_with_the_old_rule() {
    let entries: Vec<Entry> = (1..=3).map(|i| entry(i, 1, b"record")).collect();
    let mut bytes = encode_frame(&LogHeader {
        version: 1,
        base: SnapshotMeta::default(),
    });
    let mut offsets = Vec::new();
    for e in &entries {
        offsets.push(bytes.len() as u64);
        bytes.extend_from_slice(&encode_frame(e));
    }
    let (base, read, end) = read_log_bytes(&bytes).unwrap();
    assert_eq!(
        (base, &read, end),
        (SnapshotMeta::default(), &entries, bytes.len())
    );
    let (rest, _) = read_log_entries_from(&bytes, offsets[1] as usize, 2);
    assert_eq!(rest, entries[1..]);
    block_on(async {
        let disk = Arc::new(SimDisk::new(1, SimDiskFaults::default()));
        let (_, durable) = open_with_log(&disk, &bytes).await.unwrap();
        assert_eq!(durable.entries, entries);
        let path = format!("{DIR}/{RAFT_LOG_FILE}");
        let rewritten = disk.read_at(&path, 0, 1 << 20).unwrap();
        assert_ne!(rewritten, bytes, "rewritten in the current format");
        assert_eq!(read_log_bytes(&rewritten).unwrap().1, entries);

        let mut damaged = bytes.clone();
        damaged[offsets[1] as usize + 14] ^= 0x01;
        assert!(matches!(
            open_with_log(&disk, &damaged).await,
            Err(StorageError::Corrupt { offset, .. }) if offset == offsets[1]
        ));
        let mut torn = bytes.clone();
        torn[offsets[2] as usize + 14] ^= 0x01;
        let (_, durable) = open_with_log(&disk, &torn).await.unwrap();
        assert_eq!(indexes(&durable), vec![1, 2]);
    });
}

#[test]
fn a_damaged_last_frame_is_a_torn_tail() {
    block_on(async {
        let disk = Arc::new(SimDisk::new(1, SimDiskFaults::default()));
        let (mut bytes, offsets) = five_entries(&disk).await;
        let last = *offsets.last().unwrap() as usize;
        bytes[last + 13] ^= 0x01;
        let path = format!("{DIR}/{RAFT_LOG_FILE}");
        disk.write_file_durably(&path, &bytes).await.unwrap();
        let (_, durable) = open(&disk).await.unwrap();
        assert_eq!(durable.entries.len(), 4, "the last frame was cut");
        assert_eq!(disk.file_len(&path).unwrap(), last as u64);
    });
}

/// fsyncgate: a persist whose fsync failed leaves its entries in the page
/// cache, marked clean but not on the device. The next process reads them
/// back and would acknowledge them as durable; the open must make them so,
/// or a power loss takes back entries the leader counted.
#[test]
fn entries_whose_fsync_failed_are_durable_once_opened() {
    block_on(async {
        let disk = Arc::new(SimDisk::new(1, SimDiskFaults::default()));
        let _ = five_entries(&disk).await;
        let (mut storage, _) = open(&disk).await.unwrap();
        disk.set_faults(SimDiskFaults {
            sync_eio_probability: 1.0,
            sync_eio_drop_probability: 1.0,
            ..SimDiskFaults::default()
        });
        let persist = Persist {
            id: 2,
            snapshot: None,
            log: Some(LogWrite {
                first_index: 6,
                entries: (6..=8).map(|i| entry(i, 1, b"record")).collect(),
            }),
            hard_state: None,
        };
        assert!(storage.persist(&persist).await.is_err());
        disk.set_faults(SimDiskFaults::default());
        drop(storage);
        // A process restart keeps the page cache: the entries read back.
        let (_, durable) = open(&disk).await.unwrap();
        assert_eq!(last_index(&durable), 8);
        // What the open returned survives a power loss.
        disk.crash();
        let (_, durable) = open(&disk).await.unwrap();
        assert_eq!(
            last_index(&durable),
            8,
            "entries the open returned were lost"
        );
    });
}

#[test]
fn a_crash_between_snapshot_and_log_rewrite_keeps_a_matching_log() {
    block_on(async {
        let disk = Arc::new(SimDisk::new(1, SimDiskFaults::default()));
        let _ = five_entries(&disk).await;
        // The snapshot file is replaced but the log is not rewritten yet.
        let snapshot = Snapshot {
            meta: SnapshotMeta {
                last_index: 3,
                last_term: 1,
            },
            data: b"image".to_vec(),
        };
        let path = format!("{DIR}/{RAFT_SNAPSHOT_FILE}");
        disk.write_file_durably(&path, &encode_frame(&snapshot))
            .await
            .unwrap();
        let (_, durable) = open(&disk).await.unwrap();
        assert_eq!(durable.snapshot, Some(snapshot.clone()));
        let indexes: Vec<_> = durable.entries.iter().map(|e| e.index).collect();
        assert_eq!(indexes, vec![4, 5]);
        // A snapshot from another leader history: the log is dropped.
        let other = Snapshot {
            meta: SnapshotMeta {
                last_index: 4,
                last_term: 2,
            },
            data: b"other".to_vec(),
        };
        disk.write_file_durably(&path, &encode_frame(&other))
            .await
            .unwrap();
        let (_, durable) = open(&disk).await.unwrap();
        assert!(durable.entries.is_empty());
    });
}

/// The entry at `index` in `state`, if its log holds it.
fn entry_at(state: &DurableState, index: LogIndex) -> Option<&Entry> {
    state.entries.iter().find(|e| e.index == index)
}

#[test]
fn a_crash_inside_a_failed_persist_leaves_the_old_or_the_new_state() {
    use crate::core::raft::{ElectionRng, RaftConfig, RaftNode};

    let mut failed_persists = 0;
    for seed in 100..140u64 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let disk = Arc::new(SimDisk::new(seed, SimDiskFaults::default()));
        block_on(async {
            let (mut storage, _) = open(&disk).await.unwrap();
            let mut model = DurableState::default();
            for id in 1..=60 {
                let persist = random_persist(&mut rng, &model, id);
                let faulty = rng.gen_bool(0.1);
                if faulty {
                    disk.set_faults(SimDiskFaults {
                        write_eio_probability: 0.3,
                        sync_eio_probability: 0.5,
                        sync_eio_drop_probability: 0.5,
                        crash_torn_write_probability: 0.5,
                        crash_zeroed_tail_probability: 0.3,
                        ..SimDiskFaults::default()
                    });
                }
                let result = storage.persist(&persist).await;
                if result.is_ok() {
                    apply(&mut model, &persist);
                    disk.set_faults(SimDiskFaults::default());
                    continue;
                }
                failed_persists += 1;
                // A failed persist: the node stops, the power goes out.
                let mut after = model.clone();
                apply(&mut after, &persist);
                drop(storage);
                disk.crash();
                disk.set_faults(SimDiskFaults::default());
                let (reopened, durable) = open(&disk).await.unwrap();
                let context = format!("seed {seed} persist {id}");
                assert!(
                    durable.hard_state == model.hard_state
                        || durable.hard_state == after.hard_state,
                    "{context}: hard state"
                );
                assert!(
                    durable.snapshot == model.snapshot || durable.snapshot == after.snapshot,
                    "{context}: snapshot"
                );
                for entry in &durable.entries {
                    assert!(
                        entry_at(&model, entry.index) == Some(entry)
                            || entry_at(&after, entry.index) == Some(entry),
                        "{context}: entry {} came from nowhere",
                        entry.index
                    );
                }
                // Whatever was durable and not rewritten by the failed
                // persist is still there.
                let untouched_below = persist
                    .log
                    .as_ref()
                    .map_or(LogIndex::MAX, |w| w.first_index);
                let snapshot_index = durable.snapshot.as_ref().map_or(0, |s| s.meta.last_index);
                for entry in &model.entries {
                    if entry.index < untouched_below && entry.index > snapshot_index {
                        assert_eq!(
                            entry_at(&durable, entry.index),
                            Some(entry),
                            "{context}: a durable entry was lost"
                        );
                    }
                }
                RaftNode::restart(
                    RaftConfig::new([1, 2, 3]),
                    1,
                    ElectionRng::from_seed(seed),
                    durable.clone(),
                    0,
                )
                .unwrap_or_else(|e| panic!("{context}: restart refused: {e}"));
                storage = reopened;
                model = durable;
            }
        });
    }
    assert!(failed_persists > 10, "faults were injected");
}

/// The lenient readers the simulator's metadata-log checker uses see what
/// a persist made durable, and stop at a torn tail.
#[test]
fn the_lenient_readers_see_the_durable_state_and_stop_at_a_torn_tail() {
    let disk = Arc::new(SimDisk::new(7, SimDiskFaults::default()));
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    block_on(async {
        let (mut storage, mut model) = open(&disk).await.unwrap();
        for id in 1..=40 {
            let persist = random_persist(&mut rng, &model, id);
            storage.persist(&persist).await.unwrap();
            apply(&mut model, &persist);
        }
        let log_path = join(DIR, RAFT_LOG_FILE);
        let bytes = disk.durable_content(&log_path).unwrap();
        let (base, entries, end) = read_log_bytes(&bytes).unwrap();
        assert_eq!(end, bytes.len());
        let snapshot_meta = model.snapshot.as_ref().map(|s| s.meta).unwrap_or_default();
        assert_eq!(base, snapshot_meta);
        assert_eq!(entries, model.entries);
        let hard_state = disk
            .durable_content(&join(DIR, RAFT_HARD_STATE_FILE))
            .unwrap();
        assert_eq!(read_hard_state_bytes(&hard_state), Some(model.hard_state));
        // A torn last frame: the entries before it are read, not it.
        if !entries.is_empty() {
            let torn = &bytes[..bytes.len() - 1];
            let (_, kept, end) = read_log_bytes(torn).unwrap();
            assert_eq!(kept, entries[..entries.len() - 1]);
            // Read on from there once the frame is whole: the last entry.
            let first = entries.last().unwrap().index;
            let (rest, _) = read_log_entries_from(&bytes, end, first);
            assert_eq!(rest, entries[entries.len() - 1..]);
        }
        assert_eq!(read_log_bytes(&[1, 2, 3]), None);
        assert_eq!(read_hard_state_bytes(&hard_state[1..]), None);
    });
}
