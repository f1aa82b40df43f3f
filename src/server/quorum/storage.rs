//! The Raft state on the [`Disk`], in one directory:
//!
//! - `hard_state`: term and vote, one frame, replaced atomically
//!   (`write_file_durably`: temp, sync, rename, sync dir).
//! - `snapshot`: meta and data, one frame, replaced atomically.
//! - `log`: a header frame naming the snapshot it follows, then one frame
//!   per entry, appended; a [`LogWrite`] truncates at the byte position of
//!   its first index, appends all its entries, then syncs. A new snapshot
//!   rewrites it atomically with the entries after the snapshot.
//!
//! A frame is `len u32 BE | !len u32 BE | crc32c(body) u32 BE | body`
//! (body: bincode). An entry frame's body (format 2) is the entry and the
//! first index of the write that appended it ([`EntryFrame`]).
//!
//! Telling a torn tail from rot at start: a write starts only after the
//! write before it synced (`persist` is sequential, and the open rewrites
//! and syncs the whole log), so only the last write can hold unsynced
//! bytes, and a crash damages only those (it may tear, zero or flip them,
//! and a holey writeback keeps sectors after a lost one, so damage may
//! have good frames of the same write after it). A bad frame at index `i`
//! was synced, and is rot, if a good frame after it belongs to a later
//! write: one whose write starts after `i` (every write truncates at its
//! first index, so a write after the damaged frame's starts above `i`).
//! The node refuses to start on it. Otherwise the damage lies in the last
//! write, which never finished its sync, so nothing in it was
//! acknowledged: it is a torn tail and is cut. The length is stored twice
//! so that one flipped bit in it still says where the next frame starts.
//! Frames an atomic rewrite wrote (all synced at once) each name their own
//! index, so damage to one of them is rot whenever a good frame follows.
//! A format-1 log (no write tags) is read with the rule it was written
//! for: every frame counts as its own write. The open rewrites it in the
//! current format.
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
/// The log format written: entry frames carry their write's first index.
const LOG_FORMAT_VERSION: u32 = 2;
/// The first log format: entry frames hold the entry alone (read only).
const LOG_FORMAT_VERSION_UNTAGGED: u32 = 1;

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

impl LogHeader {
    fn is_readable(&self) -> bool {
        self.version == LOG_FORMAT_VERSION || self.version == LOG_FORMAT_VERSION_UNTAGGED
    }
}

/// The body of an entry frame (format 2).
#[derive(Debug, Serialize, Deserialize)]
struct EntryFrame<E> {
    /// The first index of the write that appended this frame (at most the
    /// entry's index); for a frame an atomic rewrite wrote, its own index.
    write_first: LogIndex,
    entry: E,
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

fn encode_entry_frame(write_first: LogIndex, entry: &Entry) -> Vec<u8> {
    assert!(
        write_first <= entry.index,
        "a write starts at or before its entries"
    );
    encode_frame(&EntryFrame { write_first, entry })
}

/// An entry frame's body, read as the log's format `version` wrote it.
fn decode_entry_frame(body: &[u8], limit: usize, version: u32) -> Option<EntryFrame<Entry>> {
    if version == LOG_FORMAT_VERSION_UNTAGGED {
        // Each frame counts as its own write: the first format's rule.
        let entry: Entry = decode(body, limit)?;
        return Some(EntryFrame {
            write_first: entry.index,
            entry,
        });
    }
    assert_eq!(
        version, LOG_FORMAT_VERSION,
        "only readable headers get here"
    );
    decode(body, limit).filter(|f: &EntryFrame<Entry>| f.write_first <= f.entry.index)
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

/// The header of a `log` file's bytes, if good and of a readable format,
/// and the byte position after it.
fn read_log_header(bytes: &[u8]) -> Option<(LogHeader, usize)> {
    let FrameAt::Good { body, next } = frame_at(bytes, 0, FRAME_BODY_OVERHEAD_BYTES) else {
        return None;
    };
    let header = decode(body, FRAME_BODY_OVERHEAD_BYTES).filter(LogHeader::is_readable)?;
    Some((header, next))
}

/// What the bytes of a `log` file hold, read leniently (checkers and
/// tools): the snapshot it follows, its entries up to the first frame that
/// is not whole, good and in sequence (a torn tail, or damage, which the
/// node's open would cut or refuse), and the byte position after the last
/// entry read. `None` without a good header.
pub fn read_log_bytes(bytes: &[u8]) -> Option<(SnapshotMeta, Vec<Entry>, usize)> {
    let (header, next) = read_log_header(bytes)?;
    let first_index = header.base.last_index + 1;
    let (entries, end) = read_entries(bytes, next, first_index, header.version);
    Some((header.base, entries, end))
}

/// The entries of a `log` file's bytes from byte `pos`, the first of them
/// at `first_index`, read as [`read_log_bytes`] reads them (so a reader
/// can go on from where an earlier read of a shorter file ended). No
/// entries without a good header (it says the format).
pub fn read_log_entries_from(
    bytes: &[u8],
    pos: usize,
    first_index: LogIndex,
) -> (Vec<Entry>, usize) {
    match read_log_header(bytes) {
        Some((header, _)) => read_entries(bytes, pos, first_index, header.version),
        None => (Vec::new(), pos),
    }
}

fn read_entries(
    bytes: &[u8],
    mut pos: usize,
    first_index: LogIndex,
    version: u32,
) -> (Vec<Entry>, usize) {
    let mut entries: Vec<Entry> = Vec::new();
    while let FrameAt::Good { body, next } = frame_at(bytes, pos, bytes.len()) {
        let expected = first_index + entries.len() as u64;
        match decode_entry_frame(body, bytes.len(), version) {
            Some(frame) if frame.entry.index == expected => entries.push(frame.entry),
            _ => break,
        }
        pos = next;
    }
    (entries, pos)
}

/// Where a good frame of a later write lies after a bad entry frame at
/// index `expected`, proving the bad frame was synced (see the module
/// comment): looked for from where either of its lengths says it ends,
/// then on through good frames. A good frame that does not decode as an
/// entry counts too: a crash cannot make one (its checksum holds).
fn later_write_after(
    bytes: &[u8],
    candidate_next: [Option<usize>; 2],
    expected: LogIndex,
    version: u32,
    body_max_bytes: usize,
) -> Option<usize> {
    for start in candidate_next.into_iter().flatten() {
        let mut pos = start;
        // Positions grow by at least a header each step: the walk ends.
        while let FrameAt::Good { body, next } = frame_at(bytes, pos, body_max_bytes) {
            assert!(next > pos, "a frame has a header");
            match decode_entry_frame(body, body_max_bytes, version) {
                Some(frame) if frame.write_first <= expected => pos = next,
                _ => return Some(pos),
            }
        }
    }
    None
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
        let (header, next) =
            read_log_header(&bytes).ok_or_else(|| corrupt(0, "bad or unknown header".into()))?;
        let mut entries = Vec::new();
        let mut offsets = Vec::new();
        let mut pos = next;
        let mut cut_at = None;
        while pos < bytes.len() {
            match frame_at(&bytes, pos, self.frame_body_max_bytes) {
                FrameAt::Good { body, next } => {
                    let entry = decode_entry_frame(body, self.frame_body_max_bytes, header.version)
                        .ok_or_else(|| corrupt(pos, "entry frame does not decode".into()))?
                        .entry;
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
                    let expected = header.base.last_index + 1 + entries.len() as u64;
                    if let Some(later) = later_write_after(
                        &bytes,
                        candidate_next,
                        expected,
                        header.version,
                        self.frame_body_max_bytes,
                    ) {
                        return Err(corrupt(
                            pos,
                            format!(
                                "a damaged entry frame (index {expected}) with a later \
                                 write's good frame after it at byte {later}: it was synced"
                            ),
                        ));
                    }
                    // Damage in the last write, which never finished its
                    // sync: nothing from it was acknowledged.
                    cut_at = Some((pos, expected));
                    break;
                }
            }
        }
        self.base = header.base;
        self.frames = offsets;
        self.log_len_bytes = bytes.len() as u64;
        if let Some((cut, index)) = cut_at {
            assert_eq!(index, self.next_index(), "cut after the last entry read");
            tracing::warn!(%path, cut, index, len = bytes.len(), "raft log: torn tail cut");
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

    /// Replaces the log file atomically: header `base`, then `entries`, in
    /// the current format. The file is synced at once, so each frame is
    /// tagged as its own write (damage to any of them before a good frame
    /// is rot).
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
            bytes.extend_from_slice(&encode_entry_frame(entry.index, entry));
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
        // Keep the entries after the snapshot, as bytes: frames in the
        // current format (the open rewrote the log in it), with the write
        // tags they had (synced now, they are only read as less synced
        // than they are: rot in the last write would be cut, not refused).
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
            bytes.extend_from_slice(&encode_entry_frame(write.first_index, entry));
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
