//! The runtime disk faults both nemeses inject into a node's `SimDisk`
//! (the single node's `nemesis` and the cluster's `cluster::nemesis`), each
//! recorded in the history the same way: an EIO window on writes and
//! fsyncs (with SimDisk's fsyncgate page drops), a read-EIO window, a
//! disk-full window, and rot of cold synced data.
//!
//! A window sets the faults on top of `base` (the crash-time rates the disk
//! runs with), sleeps, and puts `base` back. The caller draws the window's
//! length and sizes from its own stream, in its own order.

use std::collections::BTreeSet;
use std::time::Duration;

use odradek::io::disk::Disk;
use odradek::io::sim_disk::{CrashOutcome, SimDisk, SimDiskFaults};
use tokio::time::sleep;

use crate::client::TOPIC;
use crate::history::{EventKind, NemesisAction};
use crate::recorder::Recorder;

/// The broker's data directory on the simulated disk (every node's).
const DATA_DIR: &str = "data";

/// Write and fsync EIO at these rates for `window`.
pub async fn eio_window(
    disk: &SimDisk,
    base: &SimDiskFaults,
    (write_eio_probability, sync_eio_probability): (f64, f64),
    window: Duration,
    recorder: &Recorder,
) {
    disk.set_faults(SimDiskFaults {
        write_eio_probability,
        sync_eio_probability,
        ..base.clone()
    });
    recorder.record(EventKind::Nemesis(NemesisAction::DiskErrorsOn {
        write_eio_probability,
        sync_eio_probability,
    }));
    sleep(window).await;
    disk.set_faults(base.clone());
    recorder.record(EventKind::Nemesis(NemesisAction::DiskHealed));
}

/// ENOSPC past the disk's current use plus `slack_bytes`, for `window`.
pub async fn disk_full_window(
    disk: &SimDisk,
    base: &SimDiskFaults,
    slack_bytes: u64,
    window: Duration,
    recorder: &Recorder,
) {
    let budget_bytes = disk.used_bytes() + slack_bytes;
    disk.set_faults(SimDiskFaults {
        space_budget_bytes: Some(budget_bytes),
        ..base.clone()
    });
    recorder.record(EventKind::Nemesis(NemesisAction::DiskFull { budget_bytes }));
    sleep(window).await;
    disk.set_faults(base.clone());
    recorder.record(EventKind::Nemesis(NemesisAction::DiskHealed));
}

/// Read EIO at this rate for `window`.
pub async fn read_eio_window(
    disk: &SimDisk,
    base: &SimDiskFaults,
    read_eio_probability: f64,
    window: Duration,
    recorder: &Recorder,
) {
    disk.set_faults(SimDiskFaults {
        read_eio_probability,
        ..base.clone()
    });
    recorder.record(EventKind::Nemesis(NemesisAction::DiskReadErrorsOn {
        read_eio_probability,
    }));
    sleep(window).await;
    disk.set_faults(base.clone());
    recorder.record(EventKind::Nemesis(NemesisAction::DiskHealed));
}

/// Up to `bits` latent sector errors: one flipped bit each in synced data
/// of cold segments ([`cold_segments`]), or with `anywhere` of any segment
/// file of the workload's topics (the `--synced-bit-flips` experiment).
/// Returns how many bits were flipped (none if no file qualifies).
pub fn rot(disk: &SimDisk, bits: u32, anywhere: bool, recorder: &Recorder) -> u32 {
    let cold = (!anywhere).then(|| cold_segments(disk));
    let eligible = |path: &str| match &cold {
        Some(cold) => cold.contains(path),
        None => rot_eligible(path),
    };
    let mut flipped = 0;
    for _ in 0..bits {
        if let Some((path, position)) = disk.rot_synced_bit(eligible) {
            recorder.record(EventKind::Nemesis(NemesisAction::SyncedDataRotted {
                path,
                position,
            }));
            flipped += 1;
        }
    }
    flipped
}

/// Segment files of the workload's topics: the files rot may hit in the
/// `--synced-bit-flips` experiment (the internal topics and small metadata
/// files have no CRC a read could check).
fn rot_eligible(path: &str) -> bool {
    path.ends_with(".log") && !path.contains("__")
}

/// Where rot hits in normal seeds: cold data, a latent sector error in a
/// segment the broker will not rescan. That is a sealed segment of the
/// produce workload's topic lying wholly below its partition's durable
/// recovery point (the next durable segment starts below it), with
/// durable index files: recovery trusts it unscanned, so the rot is found
/// only when a fetch reads the batch, and refused there. Rot in data that
/// recovery scans is a different fault (a single node cannot tell it from a
/// torn tail, and cuts the log there); the experiment covers it.
pub fn cold_segments(disk: &SimDisk) -> BTreeSet<String> {
    let mut cold = BTreeSet::new();
    let Ok(dirs) = disk.list_dir(DATA_DIR) else {
        return cold;
    };
    let prefix = format!("{TOPIC}-");
    for dir in dirs.iter().filter(|d| d.starts_with(&prefix)) {
        let dir = format!("{DATA_DIR}/{dir}");
        let recovery_point: i64 = disk
            .durable_content(&format!("{dir}/recovery-point"))
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(0);
        let durable = |name: &str| disk.durable_content(&format!("{dir}/{name}")).is_some();
        let bases: Vec<(i64, String)> = disk
            .list_dir(&dir)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|name| {
                let stem = name.strip_suffix(".log")?;
                let base = stem.parse().ok()?;
                (durable(&name)
                    && durable(&format!("{stem}.index"))
                    && durable(&format!("{stem}.timeindex")))
                .then_some((base, name))
            })
            .collect();
        for pair in bases.windows(2) {
            let ((_, name), (next_base, _)) = (&pair[0], &pair[1]);
            // Recovery scans from the segment holding the last offset below
            // the point: a segment is skipped only if a later one starts
            // below the point.
            if *next_base < recovery_point {
                cold.insert(format!("{dir}/{name}"));
            }
        }
    }
    cold
}

/// A crash outcome as the history records it.
pub fn describe(outcome: &CrashOutcome) -> String {
    match outcome {
        CrashOutcome::Dropped => "dropped".into(),
        CrashOutcome::WrittenBack => "written-back".into(),
        CrashOutcome::Torn { kept_bytes } => format!("torn(kept {kept_bytes})"),
        CrashOutcome::BitFlipped { flips } => format!("bit-flipped({flips})"),
        CrashOutcome::ZeroedTail { zeroed_bytes } => format!("zeroed({zeroed_bytes})"),
        CrashOutcome::Holey {
            kept_bytes,
            lost_sectors,
        } => format!("holey(kept {kept_bytes}, {lost_sectors} sectors lost)"),
    }
}
