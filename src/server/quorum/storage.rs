//! The Raft state on the [`Disk`], in one directory:
//!
//! - `hard_state`: term and vote, one frame, replaced atomically
//!   (`write_file_durably`: temp, sync, rename, sync dir).
//! - `snapshot`: meta and data, one frame, replaced atomically.
//! - `log`: a header frame naming the snapshot it follows, then one frame
//!   per entry, appended; a [`LogWrite`] truncates at the byte position of
//!   its first index, appends, then syncs. A new snapshot rewrites it
//!   atomically with the entries after the snapshot.
//!
//! A frame is `len u32 BE | !len u32 BE | crc32c(body) u32 BE | body`
//! (body: bincode). The length is stored twice so that one flipped bit in
//! it is told from a torn write: at start a bad frame whose (either) length
//! leads to a good frame is damage in the middle, and the node refuses to
//! start; otherwise it is the unsynced tail of a crash and is cut.
//!
//! A persist is written hard state first (so no entry or snapshot on disk
//! ever has a term above the durable term), then the snapshot, then the
//! log; `persist` returns once all of it is synced.

use std::sync::Arc;

use bincode::Options;
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::core::raft::{
    DurableState, Entry, HardState, LogIndex, LogWrite, Persist, Snapshot, SnapshotMeta,
};
use crate::io::disk::{create_dir_all_durably, join, Disk, DiskError};

pub const RAFT_HARD_STATE_FILE: &str = "hard_state";
pub const RAFT_SNAPSHOT_FILE: &str = "snapshot";
pub const RAFT_LOG_FILE: &str = "log";
/// Bytes of a frame before its body.
pub const RAFT_FRAME_HEADER_BYTES: usize = 12;
/// Bytes a frame body may have beyond the payload limits it carries
/// (bincode of term, index, meta and tags).
const FRAME_BODY_OVERHEAD_BYTES: usize = 1_024;
const LOG_FORMAT_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error(transparent)]
    Disk(#[from] DiskError),
    #[error("raft storage {path} is damaged at byte {offset}: {reason}")]
    Corrupt {
        path: String,
        offset: u64,
        reason: String,
    },
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct LogHeader {
    version: u32,
    /// The snapshot this log follows: its first entry is at
    /// `base.last_index + 1`.
    base: SnapshotMeta,
}

fn body_options(limit_bytes: usize) -> impl Options {
    bincode::DefaultOptions::new()
        .with_limit(limit_bytes as u64)
        .with_little_endian()
        .with_varint_encoding()
        .reject_trailing_bytes()
}

fn encode_frame<T: Serialize>(value: &T) -> Vec<u8> {
    let body = body_options(usize::MAX)
        .serialize(value)
        .expect("raft values serialize");
    let len = u32::try_from(body.len()).expect("a raft frame fits u32");
    let mut frame = Vec::with_capacity(RAFT_FRAME_HEADER_BYTES + body.len());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(&(!len).to_be_bytes());
    frame.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
    frame.extend_from_slice(&body);
    frame
}

enum FrameAt<'a> {
    Good {
        body: &'a [u8],
        next: usize,
    },
    /// Not a whole good frame; the candidate ends the length fields name.
    Bad {
        candidate_next: [Option<usize>; 2],
    },
}

fn frame_at(bytes: &[u8], pos: usize, body_max_bytes: usize) -> FrameAt<'_> {
    let Some(header) = bytes.get(pos..pos + RAFT_FRAME_HEADER_BYTES) else {
        return FrameAt::Bad {
            candidate_next: [None, None],
        };
    };
    let word = |k: usize| u32::from_be_bytes(header[k..k + 4].try_into().expect("4 bytes"));
    let (len, not_len, crc) = (word(0), word(4), word(8));
    let end_for = |len: u32| {
        let len = len as usize;
        (len <= body_max_bytes)
            .then(|| pos + RAFT_FRAME_HEADER_BYTES + len)
            .filter(|&end| end <= bytes.len())
    };
    let candidate_next = [end_for(len), end_for(!not_len)];
    if len != !not_len {
        return FrameAt::Bad { candidate_next };
    }
    let Some(next) = candidate_next[0] else {
        return FrameAt::Bad { candidate_next };
    };
    let body = &bytes[pos + RAFT_FRAME_HEADER_BYTES..next];
    if crc32c::crc32c(body) != crc {
        return FrameAt::Bad { candidate_next };
    }
    FrameAt::Good { body, next }
}

fn decode<T: DeserializeOwned>(body: &[u8], limit: usize) -> Option<T> {
    body_options(limit).deserialize(body).ok()
}

/// What the bytes of a `hard_state` file hold, if they are one good frame
/// (checkers and tools; the node itself reads with [`RaftStorage::open`]).
pub fn read_hard_state_bytes(bytes: &[u8]) -> Option<HardState> {
    match frame_at(bytes, 0, bytes.len()) {
        FrameAt::Good { body, next } if next == bytes.len() => decode(body, bytes.len()),
        _ => None,
    }
}

/// What the bytes of a `log` file hold, read leniently (checkers and
/// tools): the snapshot it follows, its entries up to the first frame that
/// is not whole, good and in sequence (a torn tail, or damage, which the
/// node's open would cut or refuse), and the byte position after the last
/// entry read. `None` without a good header.
pub fn read_log_bytes(bytes: &[u8]) -> Option<(SnapshotMeta, Vec<Entry>, usize)> {
    let FrameAt::Good { body, next } = frame_at(bytes, 0, FRAME_BODY_OVERHEAD_BYTES) else {
        return None;
    };
    let header: LogHeader = decode(body, FRAME_BODY_OVERHEAD_BYTES)
        .filter(|h: &LogHeader| h.version == LOG_FORMAT_VERSION)?;
    let (entries, end) = read_log_entries_from(bytes, next, header.base.last_index + 1);
    Some((header.base, entries, end))
}

/// The entries of a `log` file's bytes from byte `pos`, the first of them
/// at `first_index`, read as [`read_log_bytes`] reads them (so a reader
/// can go on from where an earlier read of a shorter file ended).
pub fn read_log_entries_from(
    bytes: &[u8],
    mut pos: usize,
    first_index: LogIndex,
) -> (Vec<Entry>, usize) {
    let mut entries: Vec<Entry> = Vec::new();
    while let FrameAt::Good { body, next } = frame_at(bytes, pos, bytes.len()) {
        let expected = first_index + entries.len() as u64;
        match decode::<Entry>(body, bytes.len()) {
            Some(entry) if entry.index == expected => entries.push(entry),
            _ => break,
        }
        pos = next;
    }
    (entries, pos)
}

/// The durable Raft state of one voter and where its log frames lie.
pub struct RaftStorage {
    disk: Arc<dyn Disk>,
    dir: String,
    /// The snapshot the log file follows (its header).
    base: SnapshotMeta,
    /// Index and byte offset of every entry frame in the log file.
    frames: Vec<(LogIndex, u64)>,
    log_len_bytes: u64,
    frame_body_max_bytes: usize,
    snapshot_body_max_bytes: usize,
}

impl RaftStorage {
    fn path(&self, name: &str) -> String {
        join(&self.dir, name)
    }

    /// Opens (or creates) the storage in `dir` and reads back what is
    /// durable. A torn log tail is cut; damage elsewhere is an error.
    pub async fn open(
        disk: Arc<dyn Disk>,
        dir: &str,
        entry_max_bytes: usize,
        snapshot_max_bytes: usize,
    ) -> Result<(RaftStorage, DurableState), StorageError> {
        create_dir_all_durably(disk.as_ref(), dir).await?;
        let mut storage = RaftStorage {
            disk,
            dir: dir.to_string(),
            base: SnapshotMeta::default(),
            frames: Vec::new(),
            log_len_bytes: 0,
            frame_body_max_bytes: entry_max_bytes + FRAME_BODY_OVERHEAD_BYTES,
            snapshot_body_max_bytes: snapshot_max_bytes + FRAME_BODY_OVERHEAD_BYTES,
        };
        let hard_state: HardState = storage
            .read_whole(RAFT_HARD_STATE_FILE, FRAME_BODY_OVERHEAD_BYTES)?
            .unwrap_or_default();
        let snapshot: Option<Snapshot> =
            storage.read_whole(RAFT_SNAPSHOT_FILE, storage.snapshot_body_max_bytes)?;
        let snapshot_meta = snapshot.as_ref().map(|s| s.meta).unwrap_or_default();
        let entries = storage.open_log(snapshot_meta).await?;
        Ok((
            storage,
            DurableState {
                hard_state,
                snapshot,
                entries,
            },
        ))
    }

    /// A file holding exactly one frame; `None` if it does not exist.
    fn read_whole<T: DeserializeOwned>(
        &self,
        name: &str,
        body_max_bytes: usize,
    ) -> Result<Option<T>, StorageError> {
        let path = self.path(name);
        if !self.disk.exists(&path) {
            return Ok(None);
        }
        let bytes = self.read_all(&path)?;
        let corrupt = |reason: &str| StorageError::Corrupt {
            path: path.clone(),
            offset: 0,
            reason: reason.to_string(),
        };
        match frame_at(&bytes, 0, body_max_bytes) {
            FrameAt::Good { body, next } if next == bytes.len() => decode(body, body_max_bytes)
                .map(Some)
                .ok_or_else(|| corrupt("the frame does not decode")),
            FrameAt::Good { .. } => Err(corrupt("bytes after the frame")),
            FrameAt::Bad { .. } => Err(corrupt("bad frame (replaced atomically, so damaged)")),
        }
    }

    fn read_all(&self, path: &str) -> Result<Vec<u8>, StorageError> {
        let len = self.disk.file_len(path)?;
        let len = usize::try_from(len).map_err(|_| StorageError::Corrupt {
            path: path.to_string(),
            offset: 0,
            reason: "file larger than memory".into(),
        })?;
        let bytes = self.disk.read_at(path, 0, len)?;
        if bytes.len() != len {
            return Err(StorageError::Corrupt {
                path: path.to_string(),
                offset: bytes.len() as u64,
                reason: "file shorter than its length".into(),
            });
        }
        Ok(bytes)
    }

    async fn open_log(&mut self, snapshot: SnapshotMeta) -> Result<Vec<Entry>, StorageError> {
        let path = self.path(RAFT_LOG_FILE);
        if !self.disk.exists(&path) {
            self.rewrite_log(snapshot, &[]).await?;
            return Ok(Vec::new());
        }
        let bytes = self.read_all(&path)?;
        let corrupt = |offset: usize, reason: String| StorageError::Corrupt {
            path: path.clone(),
            offset: offset as u64,
            reason,
        };
        let FrameAt::Good { body, next } = frame_at(&bytes, 0, FRAME_BODY_OVERHEAD_BYTES) else {
            return Err(corrupt(0, "bad header frame".into()));
        };
        let header: LogHeader = decode(body, FRAME_BODY_OVERHEAD_BYTES)
            .filter(|h: &LogHeader| h.version == LOG_FORMAT_VERSION)
            .ok_or_else(|| corrupt(0, "unknown header".into()))?;
        let mut entries = Vec::new();
        let mut offsets = Vec::new();
        let mut pos = next;
        let mut cut_at = None;
        while pos < bytes.len() {
            match frame_at(&bytes, pos, self.frame_body_max_bytes) {
                FrameAt::Good { body, next } => {
                    let entry: Entry = decode(body, self.frame_body_max_bytes)
                        .ok_or_else(|| corrupt(pos, "entry frame does not decode".into()))?;
                    let expected = header.base.last_index + 1 + entries.len() as u64;
                    if entry.index != expected {
                        return Err(corrupt(
                            pos,
                            format!("entry {} where {expected} belongs", entry.index),
                        ));
                    }
                    offsets.push((entry.index, pos as u64));
                    entries.push(entry);
                    pos = next;
                }
                FrameAt::Bad { candidate_next } => {
                    let continues = candidate_next.iter().flatten().any(|&n| {
                        n < bytes.len()
                            && matches!(
                                frame_at(&bytes, n, self.frame_body_max_bytes),
                                FrameAt::Good { .. }
                            )
                    });
                    if continues {
                        return Err(corrupt(
                            pos,
                            "a damaged entry frame with good frames after it".into(),
                        ));
                    }
                    cut_at = Some(pos);
                    break;
                }
            }
        }
        self.base = header.base;
        self.frames = offsets;
        self.log_len_bytes = bytes.len() as u64;
        if let Some(cut) = cut_at {
            tracing::warn!(%path, cut, len = bytes.len(), "raft log: torn tail cut");
        }
        if header.base == snapshot {
            // What was read may be in the page cache only: entries whose
            // persist failed at its fsync survive a process exit, and a
            // failed fsync may have marked their pages clean without
            // writing them (fsyncgate). Syncing again "succeeds" without
            // them, so this node would acknowledge them to the leader as
            // durable and a power loss would take them back (found by the
            // cluster simulator: `--cluster 3 --seed 7` in a sweep of
            // 0..8; the node lost acknowledged entries and never caught up
            // again). So the open writes the entries it returns into a
            // fresh file (every page dirty), syncs it and renames it over
            // the log, as the metadata journal's open does: they are
            // durable, or the open fails with the old file untouched. This
            // also makes a torn tail's cut durable. Snapshots bound the
            // log, and this runs once per start.
            self.rewrite_log(header.base, &entries).await?;
            return Ok(entries);
        }
        if header.base.last_index > snapshot.last_index {
            return Err(corrupt(
                0,
                format!(
                    "log follows snapshot at {}, the snapshot file is at {}",
                    header.base.last_index, snapshot.last_index
                ),
            ));
        }
        // A crash between the snapshot and the log rewrite: keep what
        // follows the snapshot if the log matches it there (Raft §7).
        let matches = entries
            .iter()
            .any(|e| e.index == snapshot.last_index && e.term == snapshot.last_term);
        let kept: Vec<Entry> = if matches {
            entries
                .into_iter()
                .filter(|e| e.index > snapshot.last_index)
                .collect()
        } else {
            Vec::new()
        };
        self.rewrite_log(snapshot, &kept).await?;
        Ok(kept)
    }

    /// Replaces the log file atomically: header `base`, then `entries`.
    async fn rewrite_log(
        &mut self,
        base: SnapshotMeta,
        entries: &[Entry],
    ) -> Result<(), StorageError> {
        let mut bytes = encode_frame(&LogHeader {
            version: LOG_FORMAT_VERSION,
            base,
        });
        let mut frames = Vec::with_capacity(entries.len());
        for (expected, entry) in (base.last_index + 1..).zip(entries) {
            assert_eq!(entry.index, expected, "a log is contiguous");
            frames.push((entry.index, bytes.len() as u64));
            bytes.extend_from_slice(&encode_frame(entry));
        }
        self.disk
            .write_file_durably(&self.path(RAFT_LOG_FILE), &bytes)
            .await?;
        self.base = base;
        self.frames = frames;
        self.log_len_bytes = bytes.len() as u64;
        Ok(())
    }

    /// The index after the durable log's last entry (or snapshot).
    fn next_index(&self) -> LogIndex {
        self.frames
            .last()
            .map_or(self.base.last_index, |&(index, _)| index)
            + 1
    }

    /// Makes `persist` durable: hard state, snapshot, log, each synced.
    pub async fn persist(&mut self, persist: &Persist) -> Result<(), StorageError> {
        if let Some(hard_state) = &persist.hard_state {
            self.disk
                .write_file_durably(&self.path(RAFT_HARD_STATE_FILE), &encode_frame(hard_state))
                .await?;
        }
        if let Some(snapshot) = &persist.snapshot {
            self.persist_snapshot(snapshot).await?;
        }
        if let Some(write) = &persist.log {
            self.persist_log(write).await?;
        }
        Ok(())
    }

    async fn persist_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StorageError> {
        assert!(
            snapshot.meta.last_index > self.base.last_index,
            "durable snapshots move forward"
        );
        self.disk
            .write_file_durably(&self.path(RAFT_SNAPSHOT_FILE), &encode_frame(snapshot))
            .await?;
        // Keep the entries after the snapshot, as bytes.
        let path = self.path(RAFT_LOG_FILE);
        let first_kept = self
            .frames
            .iter()
            .position(|&(index, _)| index > snapshot.meta.last_index);
        let kept_bytes = match first_kept {
            Some(k) => {
                let from = self.frames[k].1;
                let len = usize::try_from(self.log_len_bytes - from).expect("fits memory");
                self.disk.read_at(&path, from, len)?
            }
            None => Vec::new(),
        };
        let kept_frames: Vec<(LogIndex, u64)> = first_kept
            .map(|k| self.frames[k..].to_vec())
            .unwrap_or_default();
        if let Some(&(first, _)) = kept_frames.first() {
            assert_eq!(
                first,
                snapshot.meta.last_index + 1,
                "kept entries follow the snapshot"
            );
        }
        let mut bytes = encode_frame(&LogHeader {
            version: LOG_FORMAT_VERSION,
            base: snapshot.meta,
        });
        let shift = bytes.len() as u64;
        let old_start = kept_frames.first().map_or(0, |&(_, offset)| offset);
        bytes.extend_from_slice(&kept_bytes);
        self.disk.write_file_durably(&path, &bytes).await?;
        self.base = snapshot.meta;
        self.frames = kept_frames
            .into_iter()
            .map(|(index, offset)| (index, offset - old_start + shift))
            .collect();
        self.log_len_bytes = bytes.len() as u64;
        Ok(())
    }

    async fn persist_log(&mut self, write: &LogWrite) -> Result<(), StorageError> {
        assert!(
            write.first_index > self.base.last_index,
            "the snapshot is never truncated"
        );
        assert!(
            write.first_index <= self.next_index(),
            "a log write leaves no hole"
        );
        let path = self.path(RAFT_LOG_FILE);
        let keep = (write.first_index - self.base.last_index - 1) as usize;
        if keep < self.frames.len() {
            let cut = self.frames[keep].1;
            self.disk.truncate(&path, cut)?;
            self.frames.truncate(keep);
            self.log_len_bytes = cut;
        }
        let mut bytes = Vec::new();
        for (expected, entry) in (write.first_index..).zip(&write.entries) {
            assert_eq!(entry.index, expected, "a log write is contiguous");
            self.frames
                .push((entry.index, self.log_len_bytes + bytes.len() as u64));
            bytes.extend_from_slice(&encode_frame(entry));
        }
        if !bytes.is_empty() {
            self.disk.append(&path, &bytes)?;
            self.log_len_bytes += bytes.len() as u64;
        }
        self.disk.sync(&path).await?;
        assert_eq!(
            self.next_index(),
            write.first_index + write.entries.len() as u64
        );
        Ok(())
    }
}

#[cfg(all(test, not(madsim)))]
#[path = "storage_tests.rs"]
mod tests;
