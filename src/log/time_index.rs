//! The sparse time index of one segment: `<base>.timeindex`.
//!
//! An entry `(max timestamp so far, relative offset of the batch)` is written
//! with each offset-index entry when the segment's max timestamp has grown, so
//! ListOffsets by timestamp finds a starting batch without scanning the log.
//! Entries are 12 bytes: `i64` timestamp and `u32` relative offset, big-endian.

pub const TIME_INDEX_ENTRY_BYTES: usize = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeIndexEntry {
    pub timestamp_ms: i64,
    pub relative_offset: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimeIndex {
    entries: Vec<TimeIndexEntry>,
}

impl TimeIndex {
    pub fn entries(&self) -> &[TimeIndexEntry] {
        &self.entries
    }

    pub fn last_timestamp_ms(&self) -> Option<i64> {
        self.entries.last().map(|e| e.timestamp_ms)
    }

    /// Adds an entry; timestamps grow strictly, offsets do not shrink.
    pub fn push(&mut self, entry: TimeIndexEntry) {
        if let Some(last) = self.entries.last() {
            assert!(
                entry.timestamp_ms > last.timestamp_ms,
                "time index timestamps grow"
            );
            assert!(
                entry.relative_offset >= last.relative_offset,
                "time index offsets grow"
            );
        }
        self.entries.push(entry);
    }

    /// The relative offset to start a timestamp search from: the entry just
    /// before the first one at or above `timestamp_ms` (records between two
    /// entries can have any timestamp up to the later entry's).
    pub fn search_start(&self, timestamp_ms: i64) -> u32 {
        let idx = self
            .entries
            .partition_point(|e| e.timestamp_ms < timestamp_ms);
        match idx.checked_sub(1) {
            Some(i) => self.entries[i].relative_offset,
            None => 0,
        }
    }

    /// Drops entries for offsets at or past `relative_offset`.
    pub fn truncate_to_offset(&mut self, relative_offset: u32) {
        let keep = self
            .entries
            .partition_point(|e| e.relative_offset < relative_offset);
        self.entries.truncate(keep);
    }

    pub fn encode_entry(entry: TimeIndexEntry) -> [u8; TIME_INDEX_ENTRY_BYTES] {
        let mut out = [0u8; TIME_INDEX_ENTRY_BYTES];
        out[0..8].copy_from_slice(&entry.timestamp_ms.to_be_bytes());
        out[8..12].copy_from_slice(&entry.relative_offset.to_be_bytes());
        out
    }

    pub fn encode(&self) -> Vec<u8> {
        self.entries
            .iter()
            .flat_map(|e| Self::encode_entry(*e))
            .collect()
    }

    /// Decodes a time index file; `None` if malformed (the caller rebuilds).
    pub fn decode(bytes: &[u8]) -> Option<TimeIndex> {
        if !bytes.len().is_multiple_of(TIME_INDEX_ENTRY_BYTES) {
            return None;
        }
        let mut index = TimeIndex::default();
        for chunk in bytes.chunks_exact(TIME_INDEX_ENTRY_BYTES) {
            let mut ts = [0u8; 8];
            ts.copy_from_slice(&chunk[0..8]);
            let entry = TimeIndexEntry {
                timestamp_ms: i64::from_be_bytes(ts),
                relative_offset: u32::from_be_bytes([chunk[8], chunk[9], chunk[10], chunk[11]]),
            };
            if let Some(last) = index.entries.last() {
                if entry.timestamp_ms <= last.timestamp_ms
                    || entry.relative_offset < last.relative_offset
                {
                    return None;
                }
            }
            index.entries.push(entry);
        }
        Some(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_starts_before_the_first_entry_reaching_the_timestamp() {
        let mut index = TimeIndex::default();
        index.push(TimeIndexEntry {
            timestamp_ms: 100,
            relative_offset: 0,
        });
        index.push(TimeIndexEntry {
            timestamp_ms: 200,
            relative_offset: 10,
        });
        index.push(TimeIndexEntry {
            timestamp_ms: 300,
            relative_offset: 20,
        });
        assert_eq!(index.search_start(50), 0);
        assert_eq!(index.search_start(200), 0);
        assert_eq!(index.search_start(250), 10);
        assert_eq!(index.search_start(999), 20);
        assert_eq!(TimeIndex::decode(&index.encode()).unwrap(), index);
    }
}
