//! The sparse offset index of one segment: `<base>.index`.
//!
//! An entry `(relative offset, file position)` is written every
//! `index.interval.bytes` of appended data, so a read seeks to the closest
//! batch at or before its offset and walks at most one interval of headers.
//! Entries are 8 bytes: `u32` offset relative to the segment base, `u32`
//! position in the `.log` file, both big-endian.

pub const OFFSET_INDEX_ENTRY_BYTES: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetIndexEntry {
    pub relative_offset: u32,
    pub position: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetIndex {
    entries: Vec<OffsetIndexEntry>,
}

impl OffsetIndex {
    pub fn entries(&self) -> &[OffsetIndexEntry] {
        &self.entries
    }

    /// Adds an entry; offsets and positions must grow strictly.
    pub fn push(&mut self, entry: OffsetIndexEntry) {
        if let Some(last) = self.entries.last() {
            assert!(
                entry.relative_offset > last.relative_offset,
                "index offsets grow"
            );
            assert!(entry.position > last.position, "index positions grow");
        }
        self.entries.push(entry);
    }

    /// The last entry whose offset is at or below `relative_offset`.
    pub fn floor(&self, relative_offset: u32) -> Option<OffsetIndexEntry> {
        let idx = self
            .entries
            .partition_point(|e| e.relative_offset <= relative_offset);
        idx.checked_sub(1).map(|i| self.entries[i])
    }

    /// Drops entries at or past file position `position` (after a truncation).
    pub fn truncate_to_position(&mut self, position: u32) {
        let keep = self.entries.partition_point(|e| e.position < position);
        self.entries.truncate(keep);
    }

    pub fn encode_entry(entry: OffsetIndexEntry) -> [u8; OFFSET_INDEX_ENTRY_BYTES] {
        let mut out = [0u8; OFFSET_INDEX_ENTRY_BYTES];
        out[0..4].copy_from_slice(&entry.relative_offset.to_be_bytes());
        out[4..8].copy_from_slice(&entry.position.to_be_bytes());
        out
    }

    pub fn encode(&self) -> Vec<u8> {
        self.entries
            .iter()
            .flat_map(|e| Self::encode_entry(*e))
            .collect()
    }

    /// Decodes an index file; `None` if it is not a well-formed index of a
    /// segment of `segment_size_bytes` (the caller then rebuilds it).
    pub fn decode(bytes: &[u8], segment_size_bytes: u64) -> Option<OffsetIndex> {
        if !bytes.len().is_multiple_of(OFFSET_INDEX_ENTRY_BYTES) {
            return None;
        }
        let mut index = OffsetIndex::default();
        for chunk in bytes.chunks_exact(OFFSET_INDEX_ENTRY_BYTES) {
            let entry = OffsetIndexEntry {
                relative_offset: u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]),
                position: u32::from_be_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]),
            };
            if let Some(last) = index.entries.last() {
                if entry.relative_offset <= last.relative_offset || entry.position <= last.position
                {
                    return None;
                }
            }
            if entry.position as u64 >= segment_size_bytes {
                return None;
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
    fn floor_finds_the_closest_entry_at_or_below() {
        let mut index = OffsetIndex::default();
        index.push(OffsetIndexEntry {
            relative_offset: 10,
            position: 4096,
        });
        index.push(OffsetIndexEntry {
            relative_offset: 20,
            position: 8192,
        });
        assert_eq!(index.floor(5), None);
        assert_eq!(index.floor(10).unwrap().position, 4096);
        assert_eq!(index.floor(19).unwrap().position, 4096);
        assert_eq!(index.floor(99).unwrap().position, 8192);
        let decoded = OffsetIndex::decode(&index.encode(), 10_000).unwrap();
        assert_eq!(decoded, index);
        assert!(
            OffsetIndex::decode(&index.encode(), 8000).is_none(),
            "entry past the end"
        );
        assert!(OffsetIndex::decode(&index.encode()[..7], 10_000).is_none());
    }
}
