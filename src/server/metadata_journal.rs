//! The metadata log of a one-voter quorum: committed [`MetadataRecord`]s in
//! one file. Each commit is one frame, `[len u32][crc32c u32][body]`, whose
//! body is the bincode of the commit's records; the top bit of `len` marks
//! such a frame (older journals hold one record per frame, without it).
//!
//! A commit is durable once appended and synced, and commits are sequential,
//! so a crash can only damage the last frame: recovery cuts a torn tail (a
//! last frame that is incomplete, fails its CRC or is zeroed) — it was never
//! acknowledged. A bad frame with a valid frame after it is damage to
//! committed metadata: the node refuses to start rather than forget topics.
//! The Raft quorum will replace this journal and feed the same records.

use std::sync::Arc;

use crate::core::metadata::MetadataRecord;
use crate::io::disk::{join, Disk, DiskError};

pub const JOURNAL_FILE: &str = "journal.log";
const FRAME_HEADER_BYTES: usize = 8;
/// No metadata commit comes near this; a larger length is corruption.
const RECORD_SIZE_MAX_BYTES: usize = 1 << 20;
/// Set in `len` for a frame holding a whole commit (`Vec<MetadataRecord>`).
const COMMIT_FRAME_FLAG: u32 = 1 << 31;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JournalError {
    #[error(transparent)]
    Disk(#[from] DiskError),
    #[error(
        "metadata journal {path} is corrupt at byte {position} of {len}: committed metadata \
         follows the damaged frame at byte {next_valid}, so it cannot be a torn tail; \
         refusing to start (restore the metadata directory from a backup)"
    )]
    Corrupt {
        path: String,
        position: usize,
        next_valid: usize,
        len: usize,
    },
}

/// One frame read from `bytes` at `at`.
enum Frame {
    /// The records and the position after the frame.
    Valid(Vec<MetadataRecord>, usize),
    Bad,
}

fn read_frame(bytes: &[u8], at: usize) -> Frame {
    if at + FRAME_HEADER_BYTES > bytes.len() {
        return Frame::Bad;
    }
    let len_field = u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let crc = u32::from_be_bytes(bytes[at + 4..at + 8].try_into().expect("4 bytes"));
    let size = (len_field & !COMMIT_FRAME_FLAG) as usize;
    let body_start = at + FRAME_HEADER_BYTES;
    if size == 0 || size > RECORD_SIZE_MAX_BYTES || body_start + size > bytes.len() {
        return Frame::Bad;
    }
    let body = &bytes[body_start..body_start + size];
    if crc32c::crc32c(body) != crc {
        return Frame::Bad;
    }
    let records = if len_field & COMMIT_FRAME_FLAG != 0 {
        bincode::deserialize::<Vec<MetadataRecord>>(body).ok()
    } else {
        bincode::deserialize::<MetadataRecord>(body)
            .ok()
            .map(|r| vec![r])
    };
    match records {
        Some(records) if !records.is_empty() => Frame::Valid(records, body_start + size),
        _ => Frame::Bad,
    }
}

/// Parses the journal: the committed records and where they end. A bad
/// frame ends the journal only if no valid frame starts after it.
fn parse(path: &str, bytes: &[u8]) -> Result<(Vec<MetadataRecord>, usize), JournalError> {
    let mut records = Vec::new();
    let mut at = 0usize;
    while at < bytes.len() {
        match read_frame(bytes, at) {
            Frame::Valid(mut frame, next) => {
                records.append(&mut frame);
                at = next;
            }
            Frame::Bad => {
                // Its length may be damaged too, so look for a valid frame
                // at every later byte (on this error path only; the file is
                // small). A CRC-checked, decodable frame does not appear in
                // garbage by chance.
                if let Some(next_valid) = (at + 1..bytes.len())
                    .find(|p| matches!(read_frame(bytes, *p), Frame::Valid(..)))
                {
                    return Err(JournalError::Corrupt {
                        path: path.to_string(),
                        position: at,
                        next_valid,
                        len: bytes.len(),
                    });
                }
                break;
            }
        }
    }
    Ok((records, at))
}

/// One commit's frame: `[len | COMMIT_FRAME_FLAG][crc32c][records]`.
fn frame(records: &[MetadataRecord]) -> Vec<u8> {
    let body = bincode::serialize(records).expect("metadata records serialize");
    assert!(
        body.len() <= RECORD_SIZE_MAX_BYTES,
        "metadata commit too large"
    );
    let mut frame = Vec::with_capacity(FRAME_HEADER_BYTES + body.len());
    frame.extend_from_slice(&(body.len() as u32 | COMMIT_FRAME_FLAG).to_be_bytes());
    frame.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
    frame.extend_from_slice(&body);
    frame
}

pub struct MetadataJournal {
    disk: Arc<dyn Disk>,
    dir: String,
    path: String,
    /// Set when a failed commit could not be rolled back: later records
    /// could then follow records the image never applied, so refuse them.
    failed: bool,
}

impl MetadataJournal {
    /// Opens the journal in `dir`, returning the committed records, which
    /// are durable when this returns Ok.
    pub async fn open(
        disk: Arc<dyn Disk>,
        dir: &str,
    ) -> Result<(MetadataJournal, Vec<MetadataRecord>), JournalError> {
        disk.create_dir_all(dir)?;
        let path = join(dir, JOURNAL_FILE);
        let len = if disk.exists(&path) {
            disk.file_len(&path)?
        } else {
            0
        };
        let bytes = if len > 0 {
            disk.read_at(&path, 0, len as usize)?
        } else {
            Vec::new()
        };
        let (records, at) = parse(&path, &bytes)?;
        if (at as u64) < len {
            tracing::warn!(
                path,
                valid = at,
                len,
                "truncating a torn metadata journal tail"
            );
        }
        // What was read may be in the page cache only: a frame whose commit
        // failed at its fsync (and could not be taken back) survives a
        // process exit, and a failed fsync may have marked its pages clean
        // without writing them (fsyncgate). Syncing the file again
        // "succeeds" without them, so commits appended after them would be
        // durable behind a hole a power loss fills with zeroes, and the node
        // would refuse to start for good. So the open writes what it replays
        // into a fresh file (every page dirty), syncs it and renames it over
        // the journal: the records it returns are durable, or the open fails
        // with the old file untouched. (This also makes a torn tail's cut
        // durable.) The journal is small; this runs once per start.
        if len > 0 {
            disk.write_file_durably(&path, &bytes[..at]).await?;
        }
        Ok((
            MetadataJournal {
                disk,
                dir: dir.to_string(),
                path,
                failed: false,
            },
            records,
        ))
    }

    /// Appends records and syncs them: they are committed when this returns Ok.
    pub async fn commit(&mut self, records: &[MetadataRecord]) -> Result<(), DiskError> {
        if records.is_empty() {
            return Ok(());
        }
        // One frame per commit: a crash damages at most the last one.
        let frames = frame(records);
        if self.failed {
            return Err(DiskError::Io {
                path: self.path.clone(),
                detail: "metadata journal failed earlier".into(),
            });
        }
        let start = if self.disk.exists(&self.path) {
            self.disk.file_len(&self.path)?
        } else {
            0
        };
        let result = match self.disk.append(&self.path, &frames) {
            Ok(()) => match self.disk.sync(&self.path).await {
                Ok(()) => self.disk.sync(&self.dir).await,
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        if result.is_err() {
            // Not committed: take the frames back so the file matches the image.
            let rolled_back = match self.disk.truncate(&self.path, start) {
                Ok(()) => self.disk.sync(&self.path).await.is_ok(),
                Err(_) => false,
            };
            self.failed = !rolled_back;
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::sim_disk::{SimDisk, SimDiskFaults};

    const DIR: &str = "data/__meta";

    fn broker(node_id: i32) -> MetadataRecord {
        MetadataRecord::RegisterBroker {
            node_id,
            host: "localhost".into(),
            port: 9092,
            broker_epoch: node_id as i64,
        }
    }

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(future)
    }

    /// A journal with three commits; returns the disk and each commit's
    /// (start, end) byte range in the file.
    fn three_commits() -> (Arc<SimDisk>, Vec<(u64, u64)>) {
        let disk = Arc::new(SimDisk::new(1, SimDiskFaults::default()));
        // As the broker does, so a crash keeps the directories.
        block_on(crate::io::disk::create_dir_all_durably(disk.as_ref(), DIR)).unwrap();
        let (mut journal, records) = block_on(MetadataJournal::open(
            Arc::clone(&disk) as Arc<dyn Disk>,
            DIR,
        ))
        .unwrap();
        assert!(records.is_empty());
        let path = join(DIR, JOURNAL_FILE);
        let mut ranges = Vec::new();
        for commit in [vec![broker(1)], vec![broker(2), broker(3)], vec![broker(4)]] {
            let start = disk.file_len(&path).unwrap_or(0);
            block_on(journal.commit(&commit)).unwrap();
            ranges.push((start, disk.file_len(&path).unwrap()));
        }
        (disk, ranges)
    }

    fn reopen(disk: &Arc<SimDisk>) -> Result<Vec<MetadataRecord>, JournalError> {
        block_on(MetadataJournal::open(
            Arc::clone(disk) as Arc<dyn Disk>,
            DIR,
        ))
        .map(|(_, records)| records)
    }

    /// Overwrites the byte at `position` (flipping its bits).
    fn damage(disk: &SimDisk, position: u64) {
        let path = join(DIR, JOURNAL_FILE);
        let mut bytes = disk.read_at(&path, 0, usize::MAX).unwrap();
        bytes[position as usize] ^= 0xff;
        disk.truncate(&path, 0).unwrap();
        disk.append(&path, &bytes).unwrap();
    }

    #[test]
    fn commits_replay_in_order() {
        let (disk, _) = three_commits();
        assert_eq!(
            reopen(&disk).unwrap(),
            vec![broker(1), broker(2), broker(3), broker(4)]
        );
    }

    #[test]
    fn a_bad_frame_in_the_middle_stops_the_open_with_a_clear_error() {
        let (disk, ranges) = three_commits();
        // A byte inside the second commit's body: its CRC fails, and the
        // third commit after it is intact.
        damage(&disk, ranges[1].1 - 3);
        let err = reopen(&disk).unwrap_err();
        assert!(
            matches!(err, JournalError::Corrupt { position, .. } if position as u64 == ranges[1].0),
            "{err:?}"
        );
        assert!(err.to_string().contains("refusing to start"), "{err}");
        // Nothing was cut: the committed records are all still there.
        let len = disk.file_len(&join(DIR, JOURNAL_FILE)).unwrap();
        assert_eq!(len, ranges[2].1);
    }

    #[test]
    fn a_damaged_length_in_the_middle_stops_the_open_too() {
        let (disk, ranges) = three_commits();
        damage(&disk, ranges[1].0 + 3);
        assert!(matches!(reopen(&disk), Err(JournalError::Corrupt { .. })));
    }

    #[test]
    fn a_torn_last_frame_is_cut() {
        let (disk, ranges) = three_commits();
        let path = join(DIR, JOURNAL_FILE);
        for keep in [ranges[2].0 + 3, ranges[2].0 + 9, ranges[2].1 - 1] {
            disk.truncate(&path, keep).unwrap();
            assert_eq!(
                reopen(&disk).unwrap(),
                vec![broker(1), broker(2), broker(3)]
            );
            assert_eq!(disk.file_len(&path).unwrap(), ranges[2].0);
            let mut journal = block_on(MetadataJournal::open(
                Arc::clone(&disk) as Arc<dyn Disk>,
                DIR,
            ))
            .unwrap()
            .0;
            block_on(journal.commit(&[broker(4)])).unwrap();
        }
    }

    #[test]
    fn a_last_frame_with_a_bad_crc_or_a_zeroed_tail_is_cut() {
        for position in [LastFrame::Body, LastFrame::Length, LastFrame::Zeroed] {
            let (disk, ranges) = three_commits();
            let path = join(DIR, JOURNAL_FILE);
            match position {
                LastFrame::Body => damage(&disk, ranges[2].1 - 2),
                LastFrame::Length => damage(&disk, ranges[2].0 + 3),
                LastFrame::Zeroed => {
                    let zeroes = (ranges[2].1 - ranges[2].0) as usize;
                    disk.truncate(&path, ranges[2].0).unwrap();
                    disk.append(&path, &vec![0; zeroes]).unwrap();
                }
            }
            assert_eq!(
                reopen(&disk).unwrap(),
                vec![broker(1), broker(2), broker(3)],
                "{position:?}"
            );
            assert_eq!(disk.file_len(&path).unwrap(), ranges[2].0);
        }
    }

    /// fsyncgate: a commit whose fsync failed (its rollback failing too)
    /// leaves its frame in the page cache, marked clean but not on the
    /// device. The next process replays it from the cache; had it then
    /// committed after it, a power loss would leave zeroes where the frame
    /// was, followed by committed frames, and the node would refuse to start
    /// for good. The open makes what it replays durable first.
    #[test]
    fn a_frame_whose_fsync_failed_never_leaves_a_hole_before_later_commits() {
        let (disk, _) = three_commits();
        let path = join(DIR, JOURNAL_FILE);
        disk.append(&path, &frame(&[broker(5)])).unwrap();
        disk.set_faults(SimDiskFaults {
            sync_eio_probability: 1.0,
            sync_eio_drop_probability: 1.0,
            ..SimDiskFaults::default()
        });
        assert!(disk.sync_now(&path).is_err());
        disk.set_faults(SimDiskFaults::default());
        // A restart keeps the page cache: the frame replays.
        let (mut journal, records) = block_on(MetadataJournal::open(
            Arc::clone(&disk) as Arc<dyn Disk>,
            DIR,
        ))
        .unwrap();
        assert_eq!(records.last(), Some(&broker(5)));
        block_on(journal.commit(&[broker(6)])).unwrap();
        drop(journal);
        disk.crash();
        assert_eq!(
            reopen(&disk).unwrap(),
            (1..=6).map(broker).collect::<Vec<_>>()
        );
    }

    #[derive(Debug)]
    enum LastFrame {
        Body,
        Length,
        Zeroed,
    }

    /// Journals written one record per frame (before commits were framed
    /// whole) still replay.
    #[test]
    fn old_single_record_frames_replay() {
        let disk = Arc::new(SimDisk::new(1, SimDiskFaults::default()));
        disk.create_dir_all(DIR).unwrap();
        let mut bytes = Vec::new();
        for record in [broker(1), broker(2)] {
            let body = bincode::serialize(&record).unwrap();
            bytes.extend_from_slice(&(body.len() as u32).to_be_bytes());
            bytes.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
            bytes.extend_from_slice(&body);
        }
        disk.append(&join(DIR, JOURNAL_FILE), &bytes).unwrap();
        assert_eq!(reopen(&disk).unwrap(), vec![broker(1), broker(2)]);
    }
}
