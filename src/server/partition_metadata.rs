//! `partition.metadata`: the topic id a partition directory belongs to, so a
//! deleted topic's leftover directory is never mistaken for a new topic of
//! the same name.
//!
//! Reading it decides whether a directory may be deleted, so only one answer
//! leads there: a readable file naming another topic id. A missing or empty
//! file names nobody (a directory created just before a crash, or written by
//! an older version) and the directory is adopted; a file that cannot be read
//! or parsed is an error, and the partition stays closed with its data
//! untouched (Kafka likewise refuses to load such a log, it never deletes it).

use crate::core::metadata::TopicId;
use crate::io::disk::{join, Disk, DiskError};

pub const PARTITION_METADATA_FILE: &str = "partition.metadata";
/// Far more than the file ever holds; a larger file is not ours.
const FILE_BYTES_MAX: u64 = 4096;

/// Whose directory it is, according to its `partition.metadata`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirOwner {
    /// The file names the topic id we expect.
    This,
    /// No file, or an empty one: nothing says whose it is.
    Unnamed,
    /// The file names another topic id: a deleted topic's leftover.
    Other(TopicId),
}

pub fn encode(topic_id: &TopicId) -> String {
    format!("topic_id {}\n", hex(topic_id))
}

/// Parses what [`encode`] wrote; `None` for anything else.
pub fn decode(bytes: &[u8]) -> Option<TopicId> {
    let text = std::str::from_utf8(bytes).ok()?;
    let digits = text.strip_prefix("topic_id ")?.strip_suffix('\n')?;
    if digits.len() != 32 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut id = [0u8; 16];
    for (i, byte) in id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&digits[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(id)
}

/// Reads the owner of the partition directory `dir` (which exists).
pub fn read_owner(disk: &dyn Disk, dir: &str, expected: &TopicId) -> Result<DirOwner, DiskError> {
    let path = join(dir, PARTITION_METADATA_FILE);
    let len = match disk.file_len(&path) {
        Ok(len) => len,
        Err(DiskError::NotFound { .. }) => return Ok(DirOwner::Unnamed),
        Err(e) => return Err(e),
    };
    if len == 0 {
        return Ok(DirOwner::Unnamed);
    }
    let unparsable = |detail: String| DiskError::Io {
        path: path.clone(),
        detail: format!(
            "{detail}: refusing to open the partition (its files are left untouched; \
             fix or remove {PARTITION_METADATA_FILE} to adopt the directory)"
        ),
    };
    if len > FILE_BYTES_MAX {
        return Err(unparsable(format!(
            "{len} bytes, not a partition metadata file"
        )));
    }
    let bytes = disk.read_at(&path, 0, len as usize)?;
    match decode(&bytes) {
        Some(id) if id == *expected => Ok(DirOwner::This),
        Some(id) => Ok(DirOwner::Other(id)),
        None => Err(unparsable(format!(
            "unreadable content {:?}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(64)])
        ))),
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::sim_disk::{SimDisk, SimDiskFaults};

    const ID: TopicId = [7; 16];

    fn disk() -> SimDisk {
        let disk = SimDisk::new(1, SimDiskFaults::default());
        disk.create_dir_all("d").unwrap();
        disk
    }

    #[test]
    fn round_trip() {
        assert_eq!(decode(encode(&ID).as_bytes()), Some(ID));
        assert_eq!(decode(b"topic_id 07\n"), None);
        assert_eq!(decode(b"garbage"), None);
    }

    #[test]
    fn only_another_topic_id_names_a_leftover() {
        let disk = disk();
        assert_eq!(read_owner(&disk, "d", &ID), Ok(DirOwner::Unnamed));
        disk.write_file_unsynced("d/partition.metadata", b"")
            .unwrap();
        assert_eq!(read_owner(&disk, "d", &ID), Ok(DirOwner::Unnamed));
        disk.write_file_unsynced("d/partition.metadata", encode(&ID).as_bytes())
            .unwrap();
        assert_eq!(read_owner(&disk, "d", &ID), Ok(DirOwner::This));
        disk.write_file_unsynced("d/partition.metadata", encode(&[9; 16]).as_bytes())
            .unwrap();
        assert_eq!(read_owner(&disk, "d", &ID), Ok(DirOwner::Other([9; 16])));
        disk.write_file_unsynced("d/partition.metadata", b"topic_id zz\n")
            .unwrap();
        assert!(read_owner(&disk, "d", &ID).is_err());
    }
}
