//! What a power loss leaves of a file's unsynced bytes when the page cache
//! wrote them back sector by sector, in no particular order: the
//! `SimDisk` crash outcome `CrashOutcome::Holey`.
//!
//! Linux (ext4 `data=ordered`, XFS) writes dirty pages back in any order
//! and journals a file's size apart from its data. At a power loss any
//! subset of an unsynced region's sectors may be on the device, and the
//! durable size is one the file had after some write since its last sync
//! (the one the journal last committed), which may cover sectors never
//! written: they read as zeroes. So an unsynced appended region can come
//! back with holes before bytes that did persist, or cut at a write
//! boundary (a shorter file whose every byte is right: for an index of
//! fixed-size entries, a well-formed but stale index). The synced prefix
//! stays exact, sector by sector, even where a sector straddles it: the
//! synced part of that sector was on the device before.

/// The write ends (file sizes after each write since the last sync) a file
/// remembers; past this, every other one is forgotten, which keeps the
/// choice spread over the whole unsynced region.
pub const WRITE_ENDS_MAX: usize = 256;

/// Notes that a write left the file `len` bytes long.
pub fn note_write_end(write_ends: &mut Vec<usize>, len: usize) {
    if write_ends.last() == Some(&len) {
        return;
    }
    if write_ends.len() == WRITE_ENDS_MAX {
        let mut index = 0;
        write_ends.retain(|_| {
            index += 1;
            index % 2 == 0
        });
    }
    write_ends.push(len);
}

/// What a holey writeback did to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoleyWriteback {
    /// Unsynced bytes the durable size covers.
    pub kept_bytes: usize,
    /// Sectors of that region that never reached the device (zeroes now).
    pub lost_sectors: usize,
}

/// Applies a holey writeback to `data`: cuts it to `durable_len` (a write
/// end at or past `synced_len`) and zeroes, within the unsynced part, each
/// `sector_bytes` sector (aligned to file offsets) for which `lost()` says
/// it never reached the device.
pub fn apply(
    data: &mut Vec<u8>,
    synced_len: usize,
    durable_len: usize,
    sector_bytes: usize,
    mut lost: impl FnMut() -> bool,
) -> HoleyWriteback {
    assert!(sector_bytes > 0);
    assert!(synced_len <= durable_len && durable_len <= data.len());
    data.truncate(durable_len);
    let mut lost_sectors = 0;
    let mut sector_start = synced_len - synced_len % sector_bytes;
    while sector_start < durable_len {
        let sector_end = (sector_start + sector_bytes).min(durable_len);
        if lost() {
            data[sector_start.max(synced_len)..sector_end].fill(0);
            lost_sectors += 1;
        }
        sector_start += sector_bytes;
    }
    HoleyWriteback {
        kept_bytes: durable_len - synced_len,
        lost_sectors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_synced_prefix_stays_and_lost_sectors_read_as_zeroes() {
        let mut data: Vec<u8> = (1..=40).collect();
        let mut draws = [true, false, true].into_iter();
        // Synced up to 6, durable size 30, sectors of 8: sectors [0,8)
        // (straddling), [8,16), [16,24), [24,30).
        let result = apply(&mut data, 6, 30, 8, || draws.next().unwrap_or(false));
        assert_eq!(data.len(), 30);
        assert_eq!(&data[..6], &[1, 2, 3, 4, 5, 6], "synced bytes stay");
        assert_eq!(&data[6..8], &[0, 0], "the unsynced part of a lost sector");
        assert_eq!(&data[8..16], &(9..=16).collect::<Vec<u8>>()[..]);
        assert_eq!(&data[16..24], &[0; 8]);
        assert_eq!(&data[24..30], &(25..=30).collect::<Vec<u8>>()[..]);
        assert_eq!(
            result,
            HoleyWriteback {
                kept_bytes: 24,
                lost_sectors: 2
            }
        );
    }

    #[test]
    fn write_ends_stay_bounded_and_keep_the_latest() {
        let mut ends = Vec::new();
        for len in 1..=1_000 {
            note_write_end(&mut ends, len);
        }
        assert!(ends.len() <= WRITE_ENDS_MAX);
        assert_eq!(ends.last(), Some(&1_000));
        assert!(ends.windows(2).all(|w| w[0] < w[1]));
        assert!(ends[0] < 100, "early ends are still represented: {ends:?}");
    }
}
