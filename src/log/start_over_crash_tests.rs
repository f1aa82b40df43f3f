//! A follower below its leader's log start empties its log and starts over
//! there (`PartitionLog::truncate_fully_and_start_at`). A power loss at any
//! step must reopen either the old log as it was or an empty log at the new
//! start (then what was appended and synced there): never offsets below the
//! new start next to records after it, and never a start that went back.

use std::sync::Arc;

use crate::io::disk::Disk;
use crate::io::sim_disk::{SimDisk, SimDiskFaults};
use crate::log::crash_test_support::{append, sync_all};
use crate::log::record_batch;
use crate::log::{LogConfig, PartitionLog};

const NEW_START: i64 = 10;

fn open(disk: &Arc<SimDisk>, dense_offsets: bool) -> PartitionLog {
    let config = LogConfig {
        dense_offsets,
        ..LogConfig::default()
    };
    let (log, _) = crate::test_support::block_on(PartitionLog::open(
        Arc::clone(disk) as Arc<dyn Disk>,
        "t-0",
        config,
        1_000,
    ))
    .unwrap();
    log
}

/// Where the power goes.
#[derive(Debug, Clone, Copy)]
enum CrashAt {
    /// After the start-over in memory, before the new start is written.
    BeforeStartWrite,
    /// After the new start is durable and the old segments unlinked.
    AfterStartWrite,
    /// After a record appended at the new start (synced or not).
    AfterAppend { synced: bool },
}

#[test]
fn a_power_loss_reopens_the_old_log_or_an_empty_one_at_the_new_start() {
    let crashes = [
        CrashAt::BeforeStartWrite,
        CrashAt::AfterStartWrite,
        CrashAt::AfterAppend { synced: false },
        CrashAt::AfterAppend { synced: true },
    ];
    for seed in 0..24 {
        for dense_offsets in [true, false] {
            for crash in crashes {
                let disk = Arc::new(SimDisk::new(
                    seed,
                    SimDiskFaults {
                        crash_dir_entry_persist_probability: 0.5,
                        ..SimDiskFaults::default()
                    },
                ));
                let mut log = open(&disk, dense_offsets);
                // Segments 0, 1, 2 and 3 (holding 3 and 4), all durable.
                for offset in 0..3 {
                    assert_eq!(append(&mut log, b"old"), offset);
                    log.roll(1_000);
                }
                append(&mut log, b"old");
                append(&mut log, b"old");
                sync_all(&disk, &mut log);
                log.truncate_fully_and_start_at(NEW_START, 1_000).unwrap();
                assert_eq!(log.log_start_offset(), NEW_START);
                assert_eq!(log.log_end_offset(), NEW_START);
                assert!(log.read(0, 1 << 20, NEW_START).is_err());
                let mut appended = false;
                if !matches!(crash, CrashAt::BeforeStartWrite) {
                    let write = log.pending_log_start_write().expect("the start moved");
                    crate::test_support::block_on(
                        disk.write_file_durably(&write.path, &write.bytes),
                    )
                    .unwrap();
                    assert_eq!(log.complete_log_start_write(&write).unwrap(), 4);
                }
                if let CrashAt::AfterAppend { synced } = crash {
                    assert_eq!(append(&mut log, b"new"), NEW_START);
                    appended = synced;
                    if synced {
                        sync_all(&disk, &mut log);
                    }
                }
                drop(log);
                disk.crash();
                let log = open(&disk, dense_offsets);
                let at = format!("seed {seed}, dense {dense_offsets}, {crash:?}");
                let (start, end) = (log.log_start_offset(), log.log_end_offset());
                match crash {
                    CrashAt::BeforeStartWrite => assert_eq!((start, end), (0, 5), "{at}"),
                    _ => {
                        assert_eq!(start, NEW_START, "{at}");
                        assert!(end == NEW_START || end == NEW_START + 1, "{at}: end {end}");
                        assert!(
                            !appended || end == NEW_START + 1,
                            "{at}: a synced record lost"
                        );
                    }
                }
                if end > start {
                    let bytes = log.read(start, 1 << 20, end).unwrap();
                    let (_, header) = record_batch::headers(&bytes).next().unwrap();
                    assert_eq!(header.base_offset, start, "{at}");
                }
            }
        }
    }
}
