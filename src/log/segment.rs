//! One segment of a partition log: `<base>.log` with its two sparse indexes.
//!
//! The segment owns the in-memory copy of its indexes and knows its files'
//! names; reading and writing go through the [`Disk`] seam. A segment only
//! grows at its end (appends) or shrinks at its end (truncation).

use crate::io::disk::{join, Disk, DiskResult};
use crate::log::offset_index::{OffsetIndex, OffsetIndexEntry};
use crate::log::record_batch::BatchHeader;
use crate::log::time_index::{TimeIndex, TimeIndexEntry};

/// Digits of the zero-padded base offset in segment file names (Kafka's 20).
const FILE_NAME_DIGITS: usize = 20;

pub fn log_file_name(base_offset: i64) -> String {
    format!("{base_offset:0FILE_NAME_DIGITS$}.log")
}
pub fn index_file_name(base_offset: i64) -> String {
    format!("{base_offset:0FILE_NAME_DIGITS$}.index")
}
pub fn time_index_file_name(base_offset: i64) -> String {
    format!("{base_offset:0FILE_NAME_DIGITS$}.timeindex")
}

/// Parses `00000000000000000042.log` into 42.
pub fn parse_log_file_name(name: &str) -> Option<i64> {
    let digits = name.strip_suffix(".log")?;
    if digits.len() != FILE_NAME_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[derive(Debug, Clone)]
pub struct Segment {
    pub base_offset: i64,
    /// The offset after the last batch (equals `base_offset` when empty).
    pub next_offset: i64,
    pub size_bytes: u64,
    /// Largest batch max-timestamp in the segment (-1 when empty).
    pub max_timestamp_ms: i64,
    /// When the segment was created (for `segment.ms` rolling), broker clock.
    pub created_ms: i64,
    pub offset_index: OffsetIndex,
    pub time_index: TimeIndex,
    bytes_since_index_entry: u64,
    log_path: String,
    index_path: String,
    time_index_path: String,
}

impl Segment {
    pub fn new(dir: &str, base_offset: i64, created_ms: i64) -> Segment {
        Segment {
            base_offset,
            next_offset: base_offset,
            size_bytes: 0,
            max_timestamp_ms: -1,
            created_ms,
            offset_index: OffsetIndex::default(),
            time_index: TimeIndex::default(),
            bytes_since_index_entry: 0,
            log_path: join(dir, &log_file_name(base_offset)),
            index_path: join(dir, &index_file_name(base_offset)),
            time_index_path: join(dir, &time_index_file_name(base_offset)),
        }
    }

    pub fn log_path(&self) -> &str {
        &self.log_path
    }
    pub fn file_paths(&self) -> [&str; 3] {
        [&self.log_path, &self.index_path, &self.time_index_path]
    }

    pub fn is_empty(&self) -> bool {
        self.size_bytes == 0
    }

    fn relative(&self, offset: i64) -> u32 {
        let rel = offset - self.base_offset;
        assert!(
            (0..=u32::MAX as i64).contains(&rel),
            "offset {offset} outside segment {}",
            self.base_offset
        );
        rel as u32
    }

    /// Whether a batch ending at `last_offset` can be indexed by this segment.
    pub fn fits_offset(&self, last_offset: i64) -> bool {
        last_offset - self.base_offset <= u32::MAX as i64
    }

    /// Records a batch that was just written at `position`: updates the
    /// in-memory indexes and returns the index entries to append on disk.
    /// Called both by append and by recovery's rebuild, so both paths index
    /// the same way.
    pub fn note_batch(
        &mut self,
        position: u64,
        header: &BatchHeader,
        index_interval_bytes: u64,
    ) -> (Option<OffsetIndexEntry>, Option<TimeIndexEntry>) {
        assert_eq!(position, self.size_bytes, "batches are noted in file order");
        assert!(
            header.base_offset >= self.next_offset,
            "offsets grow within a segment"
        );
        let mut offset_entry = None;
        let mut time_entry = None;
        // The first batch of a segment is found from its base; index from there on.
        if self.bytes_since_index_entry >= index_interval_bytes && position > 0 {
            let entry = OffsetIndexEntry {
                relative_offset: self.relative(header.base_offset),
                position: position as u32,
            };
            self.offset_index.push(entry);
            offset_entry = Some(entry);
            self.bytes_since_index_entry = 0;
        }
        let grows_time = self
            .time_index
            .last_timestamp_ms()
            .is_none_or(|last| header.max_timestamp_ms > last);
        if grows_time && header.max_timestamp_ms > self.max_timestamp_ms {
            let entry = TimeIndexEntry {
                timestamp_ms: header.max_timestamp_ms,
                relative_offset: self.relative(header.base_offset),
            };
            self.time_index.push(entry);
            time_entry = Some(entry);
        }
        self.size_bytes += header.size_bytes as u64;
        self.bytes_since_index_entry += header.size_bytes as u64;
        self.next_offset = header.next_offset();
        self.max_timestamp_ms = self.max_timestamp_ms.max(header.max_timestamp_ms);
        (offset_entry, time_entry)
    }

    /// Writes the index entries produced by [`Segment::note_batch`].
    pub fn write_index_entries(
        &self,
        disk: &dyn Disk,
        entries: (Option<OffsetIndexEntry>, Option<TimeIndexEntry>),
    ) -> DiskResult<()> {
        if let Some(entry) = entries.0 {
            disk.append(&self.index_path, &OffsetIndex::encode_entry(entry))?;
        }
        if let Some(entry) = entries.1 {
            disk.append(&self.time_index_path, &TimeIndex::encode_entry(entry))?;
        }
        Ok(())
    }

    /// Rewrites both index files from memory (after recovery or truncation).
    pub fn rewrite_indexes(&self, disk: &dyn Disk) -> DiskResult<()> {
        disk.write_file_unsynced(&self.index_path, &self.offset_index.encode())?;
        disk.write_file_unsynced(&self.time_index_path, &self.time_index.encode())
    }

    /// The file position to start scanning from for `offset`.
    pub fn scan_start_position(&self, offset: i64) -> u64 {
        self.scan_start(offset).0
    }

    /// The file position to start scanning from for `offset`, and the base
    /// offset the index records for the batch there (the segment's base at
    /// position 0: in a compacted segment the first batch may start later).
    pub fn scan_start(&self, offset: i64) -> (u64, i64) {
        if offset <= self.base_offset {
            return (0, self.base_offset);
        }
        match self
            .offset_index
            .floor(self.relative(offset.min(self.next_offset)))
        {
            Some(entry) => (
                entry.position as u64,
                self.base_offset + entry.relative_offset as i64,
            ),
            None => (0, self.base_offset),
        }
    }

    /// Forgets everything at or past file `position`, whose first batch
    /// starts at `offset`.
    pub fn truncate_in_memory(&mut self, position: u64, offset: i64, max_timestamp_ms: i64) {
        assert!(position <= self.size_bytes);
        self.offset_index.truncate_to_position(position as u32);
        self.time_index.truncate_to_offset(self.relative(offset));
        self.size_bytes = position;
        self.next_offset = offset;
        self.max_timestamp_ms = max_timestamp_ms;
        self.bytes_since_index_entry = match self.offset_index.entries().last() {
            Some(entry) => position - entry.position as u64,
            None => position,
        };
    }

    /// Installs indexes loaded from disk for a segment recovered as clean.
    /// Recovery kept damaged synced bytes (rot) at the end of this sealed
    /// segment, past its last indexed batch: the segment still spans them,
    /// up to `next_offset` (the next segment's base).
    pub fn extend_over_damage(&mut self, size_bytes: u64, next_offset: i64) {
        assert!(size_bytes >= self.size_bytes && next_offset >= self.next_offset);
        self.bytes_since_index_entry += size_bytes - self.size_bytes;
        self.size_bytes = size_bytes;
        self.next_offset = next_offset;
    }

    pub fn install_loaded(
        &mut self,
        size_bytes: u64,
        next_offset: i64,
        max_timestamp_ms: i64,
        offset_index: OffsetIndex,
        time_index: TimeIndex,
    ) {
        self.size_bytes = size_bytes;
        self.next_offset = next_offset;
        self.max_timestamp_ms = max_timestamp_ms;
        self.bytes_since_index_entry = match offset_index.entries().last() {
            Some(entry) => size_bytes - entry.position as u64,
            None => size_bytes,
        };
        self.offset_index = offset_index;
        self.time_index = time_index;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_round_trip() {
        assert_eq!(log_file_name(42), "00000000000000000042.log");
        assert_eq!(parse_log_file_name(&log_file_name(42)), Some(42));
        assert_eq!(parse_log_file_name("42.log"), None);
        assert_eq!(parse_log_file_name("0000000000000000004x.log"), None);
        assert_eq!(parse_log_file_name(&index_file_name(1)), None);
    }
}
