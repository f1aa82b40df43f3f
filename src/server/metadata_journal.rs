//! The metadata log of a one-voter quorum: committed [`MetadataRecord`]s in
//! one file, each framed as `[len u32][crc32c u32][bincode record]`.
//!
//! A record is committed once appended and synced; recovery replays the file
//! and cuts a torn or corrupt tail (which was never acknowledged). The Raft
//! quorum will replace this journal and feed the same records.

use std::sync::Arc;

use crate::core::metadata::MetadataRecord;
use crate::io::disk::{join, Disk, DiskError};

pub const JOURNAL_FILE: &str = "journal.log";
const FRAME_HEADER_BYTES: usize = 8;
/// No metadata record comes near this; a larger length is corruption.
const RECORD_SIZE_MAX_BYTES: usize = 1 << 20;

pub struct MetadataJournal {
    disk: Arc<dyn Disk>,
    dir: String,
    path: String,
    /// Set when a failed commit could not be rolled back: later records
    /// could then follow records the image never applied, so refuse them.
    failed: bool,
}

impl MetadataJournal {
    /// Opens the journal in `dir`, returning the committed records.
    pub fn open(
        disk: Arc<dyn Disk>,
        dir: &str,
    ) -> Result<(MetadataJournal, Vec<MetadataRecord>), DiskError> {
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
        let mut records = Vec::new();
        let mut at = 0usize;
        while at + FRAME_HEADER_BYTES <= bytes.len() {
            let size = u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
            let crc = u32::from_be_bytes(bytes[at + 4..at + 8].try_into().expect("4 bytes"));
            let body_start = at + FRAME_HEADER_BYTES;
            if size > RECORD_SIZE_MAX_BYTES || body_start + size > bytes.len() {
                break;
            }
            let body = &bytes[body_start..body_start + size];
            if crc32c::crc32c(body) != crc {
                break;
            }
            match bincode::deserialize::<MetadataRecord>(body) {
                Ok(record) => records.push(record),
                Err(_) => break,
            }
            at = body_start + size;
        }
        if (at as u64) < len {
            tracing::warn!(
                path,
                valid = at,
                len,
                "truncating a torn metadata journal tail"
            );
            disk.truncate(&path, at as u64)?;
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
        let mut frames = Vec::new();
        for record in records {
            let body = bincode::serialize(record).expect("metadata records serialize");
            assert!(
                body.len() <= RECORD_SIZE_MAX_BYTES,
                "metadata record too large"
            );
            frames.extend_from_slice(&(body.len() as u32).to_be_bytes());
            frames.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
            frames.extend_from_slice(&body);
        }
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
