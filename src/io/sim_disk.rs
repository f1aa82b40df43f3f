//! `SimDisk`: an in-memory [`Disk`] that models the page cache and injects
//! seeded faults. The simulator keeps it outside the broker node (in an
//! `Arc`), so a restarted node finds exactly what survived the crash.
//!
//! # The model
//!
//! Files are inodes reached through names, like a real file system:
//!
//! - An inode holds its *current* bytes (what reads see) and its *durable*
//!   bytes (what a crash leaves). Durable bytes are kept as
//!   `current[..synced_len] ++ durable_tail`, so syncing an appended file is
//!   O(1) instead of copying it.
//! - The namespace exists twice: the current names and the durable names.
//!   A crash replaces the current namespace with the durable one.
//!
//! What makes what durable (Linux's rules, as ext4 and XFS keep them
//! without `dirsync`):
//!
//! - `append`, `truncate`, `write_file_unsynced` change only current state.
//! - `write_file_durably` writes `<path>.tmp` at once; when its future
//!   completes (after the sync latency, if no crash came first) the temp
//!   file is made durable, renamed over `path` and the directory synced, in
//!   one step. A crash before that leaves the old file (and perhaps the temp
//!   file, if the directory was synced meanwhile).
//! - `sync(file)` makes the file's bytes durable, not its name.
//! - `sync(dir)` makes the entries directly inside `dir` durable: creations,
//!   removals and renames of files, subdirectories created (empty but for
//!   what their own syncs made durable), removed (with their whole durable
//!   subtree), or arrived by a rename (with the entries under them: a
//!   simplification, the broker renames a directory only to migrate a
//!   legacy layout). It does not make any file's bytes durable.
//! - `create_dir_all` creates each missing directory in the page cache: its
//!   entry is durable once its parent is synced, and a name inside a
//!   directory whose own entry is not durable is lost with it.
//! - A crash meets every name change not yet made durable by a directory
//!   sync and draws, per change, whether the file system had committed it
//!   anyway (`crash_dir_entry_persist_probability`) or not: a lost create
//!   (the file vanishes with its synced bytes), an undone rename (the old
//!   name is back, with the content the inode has), an undone removal (the
//!   file is back). A rename is one change (atomic), and a file a rename
//!   replaced follows that rename.
//! - So `write_file_unsynced` is atomic in this model (old content or, once
//!   synced, new), but a directory sync alone makes the new name durable
//!   without its bytes, as on a real file system.
//!
//! # Crash faults (drawn at [`SimDisk::crash`])
//!
//! For each inode with unsynced changes, one outcome, with the probabilities
//! of [`SimDiskFaults`]:
//!
//! - **dropped** (the rest of the probability): the durable bytes stay;
//! - **written back**: the kernel had flushed the pages, the unsynced bytes
//!   persist intact (legal behaviour, not a fault, but brokers must cope);
//! - **torn**: a prefix of the unsynced bytes persists;
//! - **bit-flipped tail**: the unsynced bytes persist whole with 1–3 flipped
//!   bits, so batch headers usually still look plausible and only a CRC check
//!   can tell (this is what the `no-crc-check` bug switch is caught by);
//! - **zeroed tail**: the file keeps its full length but the end of the
//!   unsynced bytes reads as zeroes (delayed allocation after a size update);
//! - **holey** (`crash_holey_writeback_probability`): the page cache wrote
//!   back an arbitrary subset of the unsynced sectors (`crash_sector_bytes`)
//!   and the journal committed a size the file had after one of its writes
//!   since the sync: the file is cut there, and sectors under that size that
//!   never reached the device read as zeroes, before or after ones that did
//!   (`sim_disk_sectors`). Only for appended bytes (a pending truncate can
//!   only be dropped or written back).
//!
//! Beyond what a single node claims to survive, behind its own flag (off by
//! default): `synced_bit_flip_probability` flips a bit in already-durable data
//! of any file at a crash.
//!
//! # Runtime faults
//!
//! `write_eio_probability` fails an `append`/`truncate`/`write_file_*` with EIO
//! and changes nothing; `sync_eio_probability` fails a sync and makes nothing
//! durable; then, per failed file sync, `sync_eio_drop_probability` picks
//! Linux's behaviour after a writeback error (the failed dirty pages are
//! marked clean: reads still see them, the next sync succeeds without them,
//! a crash leaves zeroes there: "fsyncgate") over the kinder one (the pages
//! stay dirty and a later successful sync persists them).
//! `read_eio_probability` fails a `read_at`. `space_budget_bytes` makes any
//! write that would grow the sum of all file sizes past the budget fail with
//! ENOSPC. [`SimDisk::rot_synced_bit`] is a latent sector error: a flipped
//! bit in synced bytes, which the nemesis injects at run time.
//!
//! Everything is deterministic: ordered maps only, randomness from one
//! ChaCha8 generator seeded at construction, time only through the runtime's
//! (simulated) clock when a sync latency is set.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::io::disk::{Disk, DiskError, DiskResult, SyncFuture};
use crate::io::sim_disk_sectors;

/// Fault probabilities. `SimDiskFaults::default()` is a perfect disk: a crash
/// drops exactly the unsynced data and no operation ever fails.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SimDiskFaults {
    /// At a crash, per file with unsynced bytes: they persist intact.
    pub crash_writeback_probability: f64,
    /// At a crash, per file with unsynced bytes: a prefix of them persists.
    pub crash_torn_write_probability: f64,
    /// At a crash, per file with unsynced bytes: they persist with flipped bits.
    pub crash_bit_flip_probability: f64,
    /// At a crash, per file with unsynced bytes: their end reads as zeroes.
    pub crash_zeroed_tail_probability: f64,
    /// At a crash, per file with unsynced bytes: a holey writeback (see the
    /// module doc): cut at one of its write ends, with each sector below
    /// that either on the device or zeroes.
    pub crash_holey_writeback_probability: f64,
    /// The device's sector size for holey writebacks (0: 512 bytes).
    pub crash_sector_bytes: usize,
    /// Experiment beyond the single-node promise: at a crash, flip one bit in
    /// already-synced data of a random file.
    pub synced_bit_flip_probability: f64,
    /// Per `append`/`truncate`/`write_file_*`: fail with EIO.
    pub write_eio_probability: f64,
    /// Per `sync`: fail with EIO.
    pub sync_eio_probability: f64,
    /// Per failed file sync: the failed dirty pages are dropped and marked
    /// clean (Linux after a writeback error; PostgreSQL's "fsyncgate"):
    /// reads still see them, a later sync succeeds, and a crash loses them.
    /// The rest of the time they stay dirty (a later sync may persist them).
    pub sync_eio_drop_probability: f64,
    /// Per `read_at`: fail with EIO.
    pub read_eio_probability: f64,
    /// At a crash, per name created, renamed or removed since its directory
    /// was last synced: the change persists anyway (the file system had
    /// committed it). Otherwise it is lost (create) or undone (rename,
    /// removal).
    pub crash_dir_entry_persist_probability: f64,
    /// Writes that would grow the total size past this fail with ENOSPC.
    pub space_budget_bytes: Option<u64>,
}

/// How long a `sync` takes, drawn uniformly per call. Zero (the default) makes
/// `sync` complete before it returns, which needs no async runtime.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncLatency {
    pub min_ms: u64,
    pub max_ms: u64,
}

/// Counts of everything the disk did to the broker, for the sim's report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimDiskCounters {
    pub crashes: u64,
    pub syncs_completed: u64,
    /// Files that had unsynced changes when a crash hit.
    pub files_dirty_at_crash: u64,
    pub unsynced_dropped: u64,
    pub unsynced_written_back: u64,
    pub torn_writes: u64,
    pub bit_flipped_tails: u64,
    pub zeroed_tails: u64,
    /// Files a crash left with a holey writeback, and the sectors of them
    /// that read as zeroes.
    pub holey_writebacks: u64,
    pub holey_sectors_lost: u64,
    pub synced_bit_flips: u64,
    pub write_eio: u64,
    pub sync_eio: u64,
    pub enospc: u64,
    /// Unsynced creations of a name (file or directory) a crash lost.
    pub dir_entries_lost: u64,
    /// Unsynced renames or removals a crash undid.
    pub dir_entries_undone: u64,
    /// Unsynced name changes that persisted through a crash anyway.
    pub dir_entries_persisted: u64,
    /// Failed file syncs whose dirty pages were dropped and marked clean.
    pub fsync_eio_pages_dropped: u64,
    pub read_eio: u64,
    /// Corruption the broker reported finding (`Disk::report_corruption`).
    pub rot_detected: u64,
}

/// What the crash did to each file with unsynced changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashOutcome {
    Dropped,
    WrittenBack,
    Torn {
        kept_bytes: usize,
    },
    BitFlipped {
        flips: usize,
    },
    ZeroedTail {
        zeroed_bytes: usize,
    },
    Holey {
        kept_bytes: usize,
        lost_sectors: usize,
    },
}

/// Per-file outcomes of one crash, keyed by the file's durable name (files
/// that vanish because their entry was never durable are keyed `#<inode>`).
pub type CrashReport = BTreeMap<String, CrashOutcome>;

#[derive(Debug, Clone, Default)]
struct Inode {
    /// What reads see.
    data: Vec<u8>,
    /// `data[..synced_len]` is durable.
    synced_len: usize,
    /// Durable bytes past `synced_len` that current data no longer has
    /// (left by a truncate that was not synced yet).
    durable_tail: Vec<u8>,
    /// Ranges of `data` whose dirty pages a failed sync dropped and marked
    /// clean: reads see them, but they never reach the device (a crash
    /// leaves zeroes there, the file's synced size being durable).
    dropped: Vec<(usize, usize)>,
    /// The file's size after each write since the last sync: the sizes a
    /// holey writeback may find committed.
    write_ends: Vec<usize>,
}

impl Inode {
    fn is_dirty(&self) -> bool {
        self.synced_len != self.data.len() || !self.durable_tail.is_empty()
    }

    fn make_durable(&mut self) {
        self.synced_len = self.data.len();
        self.durable_tail.clear();
        self.write_ends.clear();
    }

    /// A write left the file at its current length.
    fn note_write(&mut self) {
        sim_disk_sectors::note_write_end(&mut self.write_ends, self.data.len());
    }

    fn truncate(&mut self, len: usize) {
        if len < self.synced_len {
            // The durable bytes beyond `len` survive a crash until synced.
            let mut tail = self.data[len..self.synced_len].to_vec();
            tail.extend_from_slice(&self.durable_tail);
            self.durable_tail = tail;
            self.synced_len = len;
        }
        self.data.resize(len, 0);
        self.write_ends.retain(|end| *end < len);
        self.note_write();
        self.dropped.retain_mut(|(start, end)| {
            *end = (*end).min(len);
            *start < *end
        });
        assert!(self.synced_len <= self.data.len());
    }

    /// A failed sync dropped the dirty pages and marked them clean.
    fn drop_dirty_pages(&mut self) {
        if self.synced_len < self.data.len() {
            self.dropped.push((self.synced_len, self.data.len()));
        }
        self.make_durable();
    }

    /// What a crash finds in the dropped ranges: zeroes.
    fn zero_dropped(&mut self) -> bool {
        let had = !self.dropped.is_empty();
        for (start, end) in std::mem::take(&mut self.dropped) {
            let end = end.min(self.synced_len);
            if start < end {
                self.data[start..end].fill(0);
            }
        }
        had
    }

    /// Drops the unsynced changes: the content becomes the durable bytes.
    fn revert(&mut self) {
        self.data.truncate(self.synced_len);
        let tail = std::mem::take(&mut self.durable_tail);
        self.data.extend_from_slice(&tail);
        self.make_durable();
    }
}

struct State {
    rng: ChaCha8Rng,
    faults: SimDiskFaults,
    sync_latency: SyncLatency,
    counters: SimDiskCounters,
    /// Bumped by every crash, so a sync started before one cannot land after.
    generation: u64,
    inodes: BTreeMap<u64, Inode>,
    next_inode: u64,
    names: BTreeMap<String, u64>,
    durable_names: BTreeMap<String, u64>,
    dirs: BTreeSet<String>,
    durable_dirs: BTreeSet<String>,
    /// Current directories made by `create_dir_all` whose entry is not
    /// durable yet (a directory that appeared by a rename is not in here).
    fresh_dirs: BTreeSet<String>,
}

/// The simulated disk. Cheap to share: clones of the inner `Arc` back the
/// futures `sync` returns.
pub struct SimDisk {
    state: Arc<Mutex<State>>,
}

fn normalize(path: &str) -> String {
    path.split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .collect::<Vec<_>>()
        .join("/")
}

fn parent_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(i) => &path[..i],
        None => "",
    }
}

/// Whether `path` is `dir` or lies under it.
fn is_within(path: &str, dir: &str) -> bool {
    dir.is_empty()
        || path == dir
        || (path.len() > dir.len() && path.starts_with(dir) && path.as_bytes()[dir.len()] == b'/')
}

fn not_found(path: &str) -> DiskError {
    DiskError::NotFound {
        path: path.to_string(),
    }
}

fn io_error(path: &str, detail: &str) -> DiskError {
    DiskError::Io {
        path: path.to_string(),
        detail: detail.to_string(),
    }
}

impl State {
    fn chance(&mut self, probability: f64) -> bool {
        probability > 0.0 && self.rng.gen::<f64>() < probability
    }

    fn is_dir(&self, path: &str) -> bool {
        path.is_empty() || self.dirs.contains(path)
    }

    fn used_bytes(&self) -> u64 {
        self.inodes
            .values()
            .map(|inode| inode.data.len() as u64)
            .sum()
    }

    fn inode_of(&self, path: &str) -> DiskResult<u64> {
        self.names.get(path).copied().ok_or_else(|| not_found(path))
    }

    fn inode_mut(&mut self, path: &str) -> DiskResult<&mut Inode> {
        let ino = self.inode_of(path)?;
        Ok(self
            .inodes
            .get_mut(&ino)
            .expect("every name points at an inode"))
    }

    /// The runtime faults every mutating call goes through, in this order.
    fn check_write(&mut self, path: &str, growth_bytes: u64) -> DiskResult<()> {
        if self.chance(self.faults.write_eio_probability) {
            self.counters.write_eio += 1;
            return Err(io_error(path, "EIO (injected)"));
        }
        if let Some(budget) = self.faults.space_budget_bytes {
            if growth_bytes > 0 && self.used_bytes() + growth_bytes > budget {
                self.counters.enospc += 1;
                return Err(DiskError::NoSpace {
                    path: path.to_string(),
                });
            }
        }
        Ok(())
    }

    fn new_inode(&mut self, data: Vec<u8>) -> u64 {
        let ino = self.next_inode;
        self.next_inode += 1;
        self.inodes.insert(
            ino,
            Inode {
                write_ends: vec![data.len()],
                data,
                synced_len: 0,
                durable_tail: Vec::new(),
                dropped: Vec::new(),
            },
        );
        ino
    }

    fn require_parent_dir(&self, path: &str) -> DiskResult<()> {
        if path.is_empty() || self.is_dir(path) {
            return Err(io_error(path, "is a directory"));
        }
        let parent = parent_of(path);
        if self.is_dir(parent) {
            Ok(())
        } else {
            Err(not_found(parent))
        }
    }

    /// Inodes no name (current or durable) reaches are gone for good.
    fn collect_garbage(&mut self) {
        let reachable: BTreeSet<u64> = self
            .names
            .values()
            .chain(self.durable_names.values())
            .copied()
            .collect();
        self.inodes.retain(|ino, _| reachable.contains(ino));
    }

    /// Makes the bytes of the file at `path` durable; not its name, which
    /// is durable only once its directory is synced (as on Linux).
    fn sync_file(&mut self, path: &str) -> DiskResult<()> {
        let ino = self.inode_of(path)?;
        self.inodes
            .get_mut(&ino)
            .expect("every name points at an inode")
            .make_durable();
        Ok(())
    }

    /// Makes the current state of one directory entry durable: a file name
    /// (created, renamed to, replaced or removed) or a subdirectory
    /// (created, removed with its durable subtree, or arrived by a rename
    /// with its current subtree).
    fn persist_entry(&mut self, path: &str) {
        match self.names.get(path) {
            Some(ino) => {
                self.durable_names.insert(path.to_string(), *ino);
            }
            None => {
                self.durable_names.remove(path);
            }
        }
        let current_dir = self.dirs.contains(path);
        let durable_dir = self.durable_dirs.contains(path);
        if current_dir && self.fresh_dirs.remove(path) {
            // A new directory: durable, empty but for what its own syncs
            // made durable; an older incarnation's durable entries go.
            let prefix = format!("{path}/");
            let stale: Vec<String> = self
                .durable_names
                .range::<str, _>((
                    std::ops::Bound::Included(prefix.as_str()),
                    std::ops::Bound::Unbounded,
                ))
                .take_while(|(p, _)| p.starts_with(prefix.as_str()))
                .filter(|(p, ino)| self.names.get(*p) != Some(ino))
                .map(|(p, _)| p.clone())
                .collect();
            let removed = !stale.is_empty();
            for p in stale {
                self.durable_names.remove(&p);
            }
            if removed {
                self.collect_garbage();
            }
            let dirs = &self.dirs;
            self.durable_dirs
                .retain(|d| d == path || !is_within(d, path) || dirs.contains(d));
            self.durable_dirs.insert(path.to_string());
        } else if current_dir && !durable_dir {
            // Arrived by a rename: its current subtree comes with it.
            let subdirs: Vec<String> = self
                .dirs
                .iter()
                .filter(|d| is_within(d, path))
                .cloned()
                .collect();
            self.durable_dirs.extend(subdirs);
            let entries: Vec<(String, u64)> = self
                .names
                .iter()
                .filter(|(p, _)| is_within(p, path))
                .map(|(p, ino)| (p.clone(), *ino))
                .collect();
            self.durable_names.extend(entries);
        } else if !current_dir && durable_dir {
            self.durable_dirs.retain(|d| !is_within(d, path));
            self.durable_names.retain(|p, _| !is_within(p, path));
        }
    }

    /// Entries directly inside `dir`, current or durable, files or dirs.
    /// Only the paths under `dir/` are visited (ranges of the sorted maps),
    /// so syncing the data directory once per new partition stays linear
    /// in the partitions, not quadratic.
    fn children_of(&self, dir: &str) -> BTreeSet<String> {
        let is_child = |path: &&String| !path.is_empty() && parent_of(path) == dir;
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        let under = |path: &&String| path.starts_with(prefix.as_str());
        let range = || {
            (
                std::ops::Bound::Included(prefix.clone()),
                std::ops::Bound::Unbounded,
            )
        };
        self.names
            .range(range())
            .map(|(p, _)| p)
            .take_while(under)
            .chain(
                self.durable_names
                    .range(range())
                    .map(|(p, _)| p)
                    .take_while(under),
            )
            .chain(self.dirs.range(range()).take_while(under))
            .chain(self.durable_dirs.range(range()).take_while(under))
            .filter(is_child)
            .cloned()
            .collect()
    }

    fn sync_dir(&mut self, dir: &str) {
        crate::coverage::bump(crate::coverage::Counter::DirectorySyncs);
        let durable_names_before = self.durable_names.len();
        let mut replaced = false;
        for child in self.children_of(dir) {
            replaced |= self
                .durable_names
                .get(&child)
                .is_some_and(|ino| self.names.get(&child) != Some(ino));
            self.persist_entry(&child);
        }
        // Only a durable name that went away or now points elsewhere can
        // leave an inode unreachable.
        if replaced || self.durable_names.len() < durable_names_before {
            self.collect_garbage();
        }
    }

    /// At a crash, for each name change not yet made durable by a directory
    /// sync, draws whether the file system had committed it anyway. A
    /// renamed file is one draw (a rename is atomic), and a file a rename
    /// replaced follows that rename.
    fn crash_dir_entries(&mut self) {
        let probability = self.faults.crash_dir_entry_persist_probability;
        // Directories first: created and removed ones.
        let changed_dirs: Vec<String> = self
            .fresh_dirs
            .iter()
            .chain(self.durable_dirs.iter().filter(|d| !self.dirs.contains(*d)))
            .cloned()
            .collect();
        for dir in changed_dirs {
            let created = self.fresh_dirs.contains(&dir);
            if self.chance(probability) {
                self.counters.dir_entries_persisted += 1;
                self.persist_entry(&dir);
            } else if created {
                self.counters.dir_entries_lost += 1;
            } else {
                self.counters.dir_entries_undone += 1;
            }
        }
        let mut current: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
        for (path, ino) in &self.names {
            current.entry(*ino).or_default().insert(path.clone());
        }
        let mut durable: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
        for (path, ino) in &self.durable_names {
            durable.entry(*ino).or_default().insert(path.clone());
        }
        let inodes: Vec<u64> = self.inodes.keys().copied().collect();
        let empty = BTreeSet::new();
        for ino in inodes {
            let (now, then) = (
                current.get(&ino).unwrap_or(&empty),
                durable.get(&ino).unwrap_or(&empty),
            );
            if now == then {
                continue;
            }
            let displaced = now.is_empty()
                && then
                    .iter()
                    .all(|p| self.names.get(p).is_some_and(|other| *other != ino));
            if displaced {
                continue;
            }
            let changed: Vec<String> = now.symmetric_difference(then).cloned().collect();
            if self.chance(probability) {
                self.counters.dir_entries_persisted += 1;
                for path in changed {
                    self.persist_entry(&path);
                }
            } else if then.is_empty() {
                self.counters.dir_entries_lost += 1;
            } else {
                self.counters.dir_entries_undone += 1;
            }
        }
        // A durable name in a directory that is not durably reachable is
        // gone with it.
        let durable_dirs = self.durable_dirs.clone();
        let reachable = |path: &str| {
            let mut dir = parent_of(path);
            loop {
                if dir.is_empty() {
                    return true;
                }
                if !durable_dirs.contains(dir) {
                    return false;
                }
                dir = parent_of(dir);
            }
        };
        self.durable_dirs.retain(|d| reachable(d));
        self.durable_names.retain(|p, _| reachable(p));
    }

    /// Completes a `write_file_durably` requested in `generation`: makes the
    /// temp inode durable, renames it over `path`, syncs the directory.
    fn finish_durable_write(
        &mut self,
        path: &str,
        tmp: &str,
        ino: u64,
        generation: u64,
    ) -> DiskResult<()> {
        if generation != self.generation || self.names.get(tmp) != Some(&ino) {
            return Err(io_error(path, "write interrupted by a crash"));
        }
        if self.chance(self.faults.sync_eio_probability) {
            self.counters.sync_eio += 1;
            return Err(io_error(path, "EIO on fsync (injected)"));
        }
        self.inodes
            .get_mut(&ino)
            .expect("every name points at an inode")
            .make_durable();
        self.names.remove(tmp);
        self.names.insert(path.to_string(), ino);
        self.sync_dir(parent_of(path));
        self.counters.syncs_completed += 1;
        Ok(())
    }

    /// Completes a sync requested in `generation`.
    fn finish_sync(&mut self, path: &str, generation: u64) -> DiskResult<()> {
        if generation != self.generation {
            // The node crashed while this sync was in flight; its task is
            // gone, and nothing it asked for may become durable.
            return Err(io_error(path, "sync interrupted by a crash"));
        }
        let is_dir = self.is_dir(path);
        if !is_dir && !self.names.contains_key(path) {
            return Err(not_found(path));
        }
        if self.chance(self.faults.sync_eio_probability) {
            self.counters.sync_eio += 1;
            if !is_dir && self.chance(self.faults.sync_eio_drop_probability) {
                // fsyncgate: the failed pages are marked clean; the next
                // sync of this file succeeds without them.
                self.inode_mut(path)?.drop_dirty_pages();
                self.counters.fsync_eio_pages_dropped += 1;
            }
            return Err(io_error(path, "EIO on fsync (injected)"));
        }
        if is_dir {
            self.sync_dir(path);
        } else {
            self.sync_file(path)?;
        }
        self.counters.syncs_completed += 1;
        Ok(())
    }

    /// Picks what a crash does to a file with `unsynced_bytes` appended
    /// since its last sync (damage needs some; a pending truncate can only
    /// be dropped or written back).
    fn draw_crash_outcome(&mut self, unsynced_bytes: usize) -> CrashOutcome {
        let faults = &self.faults;
        let damage = [
            faults.crash_torn_write_probability,
            faults.crash_bit_flip_probability,
            faults.crash_zeroed_tail_probability,
            faults.crash_holey_writeback_probability,
        ];
        let writeback = faults.crash_writeback_probability;
        let draw: f64 = self.rng.gen();
        let mut threshold = 0.0;
        let mut picked = None;
        for (kind, probability) in damage.into_iter().enumerate() {
            threshold += probability;
            if draw < threshold {
                picked = Some(kind);
                break;
            }
        }
        match picked {
            Some(0) if unsynced_bytes > 0 => CrashOutcome::Torn {
                kept_bytes: self.rng.gen_range(0..unsynced_bytes),
            },
            Some(1) if unsynced_bytes > 0 => CrashOutcome::BitFlipped {
                flips: self.rng.gen_range(1..=3),
            },
            Some(2) if unsynced_bytes > 0 => CrashOutcome::ZeroedTail {
                zeroed_bytes: self.rng.gen_range(1..=unsynced_bytes),
            },
            // Filled in by `crash_inode`, which knows the write ends.
            Some(3) if unsynced_bytes > 0 => CrashOutcome::Holey {
                kept_bytes: 0,
                lost_sectors: 0,
            },
            Some(_) => CrashOutcome::Dropped,
            None if draw < threshold + writeback => CrashOutcome::WrittenBack,
            None => CrashOutcome::Dropped,
        }
    }

    fn crash_inode(&mut self, ino: u64) -> Option<CrashOutcome> {
        let inode = self.inodes.get(&ino).expect("crash visits live inodes");
        if !inode.is_dirty() {
            return None;
        }
        let unsynced_bytes = inode.data.len() - inode.synced_len;
        let pending_truncate = !inode.durable_tail.is_empty();
        let mut outcome = self.draw_crash_outcome(unsynced_bytes);
        if let CrashOutcome::Holey { .. } = outcome {
            // Sectors model appended bytes only: a file with a pending
            // truncate (durable bytes past a shorter end) loses its changes.
            outcome = if pending_truncate {
                CrashOutcome::Dropped
            } else {
                self.holey_writeback(ino)
            };
        }
        let positions: Vec<(usize, u8)> = match outcome {
            CrashOutcome::BitFlipped { flips } => {
                let synced_len = self.inodes[&ino].synced_len;
                (0..flips)
                    .map(|_| {
                        (
                            self.rng.gen_range(synced_len..synced_len + unsynced_bytes),
                            1u8 << self.rng.gen_range(0..8),
                        )
                    })
                    .collect()
            }
            _ => Vec::new(),
        };
        let inode = self.inodes.get_mut(&ino).expect("crash visits live inodes");
        let synced_len = inode.synced_len;
        match outcome {
            CrashOutcome::Dropped => inode.revert(),
            CrashOutcome::WrittenBack => {}
            CrashOutcome::Torn { kept_bytes } => inode.data.truncate(synced_len + kept_bytes),
            CrashOutcome::BitFlipped { .. } => {
                for (position, mask) in positions {
                    inode.data[position] ^= mask;
                }
            }
            CrashOutcome::ZeroedTail { zeroed_bytes } => {
                let len = inode.data.len();
                inode.data[len - zeroed_bytes..].fill(0);
            }
            // Applied by `holey_writeback` already.
            CrashOutcome::Holey { .. } => {}
        }
        inode.make_durable();
        let counter = match outcome {
            CrashOutcome::Dropped => &mut self.counters.unsynced_dropped,
            CrashOutcome::WrittenBack => &mut self.counters.unsynced_written_back,
            CrashOutcome::Torn { .. } => &mut self.counters.torn_writes,
            CrashOutcome::BitFlipped { .. } => &mut self.counters.bit_flipped_tails,
            CrashOutcome::ZeroedTail { .. } => &mut self.counters.zeroed_tails,
            CrashOutcome::Holey { lost_sectors, .. } => {
                self.counters.holey_sectors_lost += lost_sectors as u64;
                &mut self.counters.holey_writebacks
            }
        };
        *counter += 1;
        self.counters.files_dirty_at_crash += 1;
        Some(outcome)
    }

    /// A holey writeback of a file with appended unsynced bytes: the
    /// durable size is one of its write ends since the sync, and each sector
    /// below it reached the device with a chance drawn per crash (so whole,
    /// empty and holey regions are all common).
    fn holey_writeback(&mut self, ino: u64) -> CrashOutcome {
        let sector_bytes = match self.faults.crash_sector_bytes {
            0 => 512,
            bytes => bytes,
        };
        let inode = &self.inodes[&ino];
        let (synced_len, len) = (inode.synced_len, inode.data.len());
        let ends: Vec<usize> = inode
            .write_ends
            .iter()
            .copied()
            .filter(|end| (synced_len + 1..=len).contains(end))
            .chain(std::iter::once(len))
            .collect();
        let durable_len = ends[self.rng.gen_range(0..ends.len())];
        let kept_probability: f64 = self.rng.gen();
        let rng = &mut self.rng;
        let inode = self.inodes.get_mut(&ino).expect("crash visits live inodes");
        let result = sim_disk_sectors::apply(
            &mut inode.data,
            synced_len,
            durable_len,
            sector_bytes,
            || rng.gen::<f64>() >= kept_probability,
        );
        CrashOutcome::Holey {
            kept_bytes: result.kept_bytes,
            lost_sectors: result.lost_sectors,
        }
    }

    fn flip_synced_bit(&mut self) {
        let candidates: Vec<u64> = self
            .durable_names
            .values()
            .copied()
            .filter(|ino| !self.inodes[ino].data.is_empty())
            .collect();
        if candidates.is_empty() {
            return;
        }
        let ino = candidates[self.rng.gen_range(0..candidates.len())];
        let len = self.inodes[&ino].data.len();
        let position = self.rng.gen_range(0..len);
        let mask = 1u8 << self.rng.gen_range(0..8);
        self.inodes.get_mut(&ino).expect("candidate is live").data[position] ^= mask;
        self.counters.synced_bit_flips += 1;
    }

    fn crash(&mut self) -> CrashReport {
        let mut report = CrashReport::new();
        let durable_name_of: BTreeMap<u64, String> = self
            .durable_names
            .iter()
            .map(|(path, ino)| (*ino, path.clone()))
            .collect();
        let inodes: Vec<u64> = self.inodes.keys().copied().collect();
        for ino in &inodes {
            // Pages a failed sync dropped never reached the device.
            self.inodes
                .get_mut(ino)
                .expect("crash visits live inodes")
                .zero_dropped();
        }
        for ino in inodes {
            if let Some(outcome) = self.crash_inode(ino) {
                let key = durable_name_of
                    .get(&ino)
                    .cloned()
                    .unwrap_or_else(|| format!("#{ino}"));
                report.insert(key, outcome);
            }
        }
        self.crash_dir_entries();
        self.names = self.durable_names.clone();
        self.dirs = self.durable_dirs.clone();
        self.fresh_dirs.clear();
        self.collect_garbage();
        if self.chance(self.faults.synced_bit_flip_probability) {
            self.flip_synced_bit();
        }
        self.generation += 1;
        self.counters.crashes += 1;
        report
    }
}

impl SimDisk {
    /// An empty disk whose faults are drawn from `seed`.
    pub fn new(seed: u64, faults: SimDiskFaults) -> Self {
        SimDisk {
            state: Arc::new(Mutex::new(State {
                rng: ChaCha8Rng::seed_from_u64(seed),
                faults,
                sync_latency: SyncLatency::default(),
                counters: SimDiskCounters::default(),
                generation: 0,
                inodes: BTreeMap::new(),
                next_inode: 1,
                names: BTreeMap::new(),
                durable_names: BTreeMap::new(),
                dirs: BTreeSet::new(),
                durable_dirs: BTreeSet::new(),
                fresh_dirs: BTreeSet::new(),
            })),
        }
    }

    /// A disk whose syncs take `latency` (simulated time; needs a runtime).
    pub fn with_sync_latency(self, latency: SyncLatency) -> Self {
        assert!(latency.min_ms <= latency.max_ms);
        self.lock().sync_latency = latency;
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock is a bug already being reported;
        // the state itself is never left half-updated.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Replaces the fault probabilities (the nemesis turns faults on and off).
    pub fn set_faults(&self, faults: SimDiskFaults) {
        self.lock().faults = faults;
    }

    pub fn faults(&self) -> SimDiskFaults {
        self.lock().faults.clone()
    }

    pub fn counters(&self) -> SimDiskCounters {
        self.lock().counters.clone()
    }

    /// Sum of the current sizes of all files.
    pub fn used_bytes(&self) -> u64 {
        self.lock().used_bytes()
    }

    /// The power went out: every unsynced change is dropped or damaged as
    /// the faults say, and the namespace falls back to its durable state.
    /// Call it after the node is killed and before it restarts.
    pub fn crash(&self) -> CrashReport {
        self.lock().crash()
    }

    /// Syncs at once, without latency (for tests and tools).
    pub fn sync_now(&self, path: &str) -> DiskResult<()> {
        let mut state = self.lock();
        let generation = state.generation;
        state.finish_sync(&normalize(path), generation)
    }

    /// The bytes a crash with a perfect disk would leave at `path`
    /// (`None`: the file would not exist).
    pub fn durable_content(&self, path: &str) -> Option<Vec<u8>> {
        let state = self.lock();
        let ino = state.durable_names.get(&normalize(path))?;
        let inode = &state.inodes[ino];
        let mut bytes = inode.data[..inode.synced_len].to_vec();
        for (start, end) in &inode.dropped {
            let end = (*end).min(inode.synced_len);
            if *start < end {
                bytes[*start..end].fill(0);
            }
        }
        bytes.extend_from_slice(&inode.durable_tail);
        Some(bytes)
    }

    /// A latent sector error: flips one bit in the synced bytes of a file
    /// whose path `eligible` accepts, durably named and reachable under the
    /// same name now. Returns the file and the byte flipped, or `None` if no
    /// such file has synced bytes.
    pub fn rot_synced_bit(&self, eligible: impl Fn(&str) -> bool) -> Option<(String, u64)> {
        let mut state = self.lock();
        let candidates: Vec<(String, u64)> = state
            .durable_names
            .iter()
            .filter(|(path, ino)| {
                eligible(path)
                    && state.names.get(*path) == Some(ino)
                    && state.inodes[ino].synced_len > 0
            })
            .map(|(path, ino)| (path.clone(), *ino))
            .collect();
        if candidates.is_empty() {
            return None;
        }
        let (path, ino) = candidates[state.rng.gen_range(0..candidates.len())].clone();
        let synced_len = state.inodes[&ino].synced_len;
        let position = state.rng.gen_range(0..synced_len);
        let mask = 1u8 << state.rng.gen_range(0..8);
        state.inodes.get_mut(&ino).expect("candidate is live").data[position] ^= mask;
        state.counters.synced_bit_flips += 1;
        Some((path, position as u64))
    }
}

impl Disk for SimDisk {
    fn report_corruption(&self, _path: &str) {
        self.lock().counters.rot_detected += 1;
    }

    fn create_dir_all(&self, dir: &str) -> DiskResult<()> {
        let dir = normalize(dir);
        let mut state = self.lock();
        if state.names.contains_key(&dir) {
            return Err(io_error(&dir, "a file is in the way"));
        }
        // Each new directory's entry is durable once its parent is synced.
        let mut path = dir.as_str();
        while !path.is_empty() {
            if state.names.contains_key(path) {
                return Err(io_error(path, "a file is in the way"));
            }
            if state.dirs.insert(path.to_string()) {
                state.fresh_dirs.insert(path.to_string());
            }
            path = parent_of(path);
        }
        Ok(())
    }

    fn list_dir(&self, dir: &str) -> DiskResult<Vec<String>> {
        let dir = normalize(dir);
        let state = self.lock();
        if !state.is_dir(&dir) {
            return Err(not_found(&dir));
        }
        let name_of = |path: &String| -> Option<String> {
            (!path.is_empty() && parent_of(path) == dir).then(|| match path.rfind('/') {
                Some(i) => path[i + 1..].to_string(),
                None => path.clone(),
            })
        };
        // Only the paths under `dir/` are looked at (a range of the sorted
        // maps): listing one partition's directory must not cost a scan of
        // every file of every partition (creating 8,000 partitions took
        // minutes, and the request fuzzer called it a hang).
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        let under = |path: &&String| path.starts_with(prefix.as_str());
        let range = (
            std::ops::Bound::Included(prefix.clone()),
            std::ops::Bound::Unbounded,
        );
        let entries: BTreeSet<String> = state
            .names
            .range(range.clone())
            .map(|(path, _)| path)
            .take_while(under)
            .chain(state.dirs.range(range).take_while(under))
            .filter_map(name_of)
            .collect();
        Ok(entries.into_iter().collect())
    }

    fn exists(&self, path: &str) -> bool {
        let path = normalize(path);
        let state = self.lock();
        state.is_dir(&path) || state.names.contains_key(&path)
    }

    fn file_len(&self, path: &str) -> DiskResult<u64> {
        let path = normalize(path);
        let mut state = self.lock();
        Ok(state.inode_mut(&path)?.data.len() as u64)
    }

    fn read_at(&self, path: &str, offset: u64, len: usize) -> DiskResult<Vec<u8>> {
        let path = normalize(path);
        let mut state = self.lock();
        state.inode_of(&path)?;
        let read_eio_probability = state.faults.read_eio_probability;
        if state.chance(read_eio_probability) {
            state.counters.read_eio += 1;
            return Err(io_error(&path, "EIO on read (injected)"));
        }
        let data = &state.inode_mut(&path)?.data;
        let start = (offset.min(data.len() as u64)) as usize;
        let end = start.saturating_add(len).min(data.len());
        Ok(data[start..end].to_vec())
    }

    fn append(&self, path: &str, data: &[u8]) -> DiskResult<()> {
        let path = normalize(path);
        let mut state = self.lock();
        if !state.names.contains_key(&path) {
            state.require_parent_dir(&path)?;
        }
        state.check_write(&path, data.len() as u64)?;
        if !state.names.contains_key(&path) {
            let ino = state.new_inode(Vec::new());
            state.names.insert(path.clone(), ino);
        }
        let inode = state.inode_mut(&path)?;
        inode.data.extend_from_slice(data);
        inode.note_write();
        Ok(())
    }

    fn truncate(&self, path: &str, len: u64) -> DiskResult<()> {
        let path = normalize(path);
        let mut state = self.lock();
        let old_len = state.inode_mut(&path)?.data.len() as u64;
        state.check_write(&path, len.saturating_sub(old_len))?;
        state.inode_mut(&path)?.truncate(len as usize);
        Ok(())
    }

    fn write_file_durably(&self, path: &str, data: &[u8]) -> SyncFuture {
        let path = normalize(path);
        let tmp = format!("{path}.tmp");
        let mut state = self.lock();
        if let Err(e) = state
            .require_parent_dir(&path)
            .and_then(|()| state.check_write(&tmp, data.len() as u64))
        {
            return Box::pin(std::future::ready(Err(e)));
        }
        let ino = state.new_inode(data.to_vec());
        state.names.insert(tmp.clone(), ino);
        state.collect_garbage();
        let generation = state.generation;
        let latency = state.sync_latency;
        if latency.max_ms == 0 {
            let result = state.finish_durable_write(&path, &tmp, ino, generation);
            return Box::pin(std::future::ready(result));
        }
        let latency_ms = state.rng.gen_range(latency.min_ms..=latency.max_ms);
        drop(state);
        let shared = Arc::clone(&self.state);
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(latency_ms)).await;
            let mut state = shared
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            state.finish_durable_write(&path, &tmp, ino, generation)
        })
    }

    fn write_file_unsynced(&self, path: &str, data: &[u8]) -> DiskResult<()> {
        let path = normalize(path);
        let mut state = self.lock();
        state.require_parent_dir(&path)?;
        state.check_write(&path, data.len() as u64)?;
        // A fresh inode renamed over the old name: atomic replacement.
        let ino = state.new_inode(data.to_vec());
        state.names.insert(path, ino);
        state.collect_garbage();
        Ok(())
    }

    fn remove_file(&self, path: &str) -> DiskResult<()> {
        let path = normalize(path);
        let mut state = self.lock();
        state.names.remove(&path).ok_or_else(|| not_found(&path))?;
        state.collect_garbage();
        Ok(())
    }

    fn remove_dir_all(&self, dir: &str) -> DiskResult<()> {
        let dir = normalize(dir);
        let mut state = self.lock();
        if dir.is_empty() {
            return Err(io_error(&dir, "refusing to remove the disk root"));
        }
        if !state.dirs.contains(&dir) {
            return Err(not_found(&dir));
        }
        state.dirs.retain(|d| !is_within(d, &dir));
        state.fresh_dirs.retain(|d| !is_within(d, &dir));
        state.names.retain(|path, _| !is_within(path, &dir));
        state.collect_garbage();
        Ok(())
    }

    fn rename(&self, from: &str, to: &str) -> DiskResult<()> {
        let (from, to) = (normalize(from), normalize(to));
        let mut state = self.lock();
        if from == to {
            return Ok(());
        }
        if let Some(ino) = state.names.get(&from).copied() {
            state.require_parent_dir(&to)?;
            state.names.remove(&from);
            state.names.insert(to, ino);
        } else if state.dirs.contains(&from) {
            if state.is_dir(&to) || state.names.contains_key(&to) || is_within(&to, &from) {
                return Err(io_error(
                    &to,
                    "rename target exists or lies inside the source",
                ));
            }
            if !state.is_dir(parent_of(&to)) {
                return Err(not_found(parent_of(&to)));
            }
            let moved = |path: &str| format!("{to}{}", &path[from.len()..]);
            let dirs: Vec<String> = state
                .dirs
                .iter()
                .filter(|d| is_within(d, &from))
                .cloned()
                .collect();
            for d in dirs {
                state.dirs.remove(&d);
                state.dirs.insert(moved(&d));
                // A subdirectory never made durable stays new where it goes.
                if state.fresh_dirs.remove(&d) {
                    state.fresh_dirs.insert(moved(&d));
                }
            }
            let files: Vec<(String, u64)> = state
                .names
                .iter()
                .filter(|(path, _)| is_within(path, &from))
                .map(|(path, ino)| (path.clone(), *ino))
                .collect();
            for (path, ino) in files {
                state.names.remove(&path);
                state.names.insert(moved(&path), ino);
            }
        } else {
            return Err(not_found(&from));
        }
        state.collect_garbage();
        Ok(())
    }

    fn sync(&self, path: &str) -> SyncFuture {
        let path = normalize(path);
        let mut state = self.lock();
        let generation = state.generation;
        let latency = state.sync_latency;
        if latency.max_ms == 0 {
            return Box::pin(std::future::ready(state.finish_sync(&path, generation)));
        }
        let latency_ms = state.rng.gen_range(latency.min_ms..=latency.max_ms);
        drop(state);
        let shared = Arc::clone(&self.state);
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(latency_ms)).await;
            let mut state = shared
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            state.finish_sync(&path, generation)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

    fn noop_waker() -> Waker {
        fn clone(_: *const ()) -> RawWaker {
            RawWaker::new(std::ptr::null(), &VTABLE)
        }
        fn noop(_: *const ()) {}
        static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, noop, noop, noop);
        // SAFETY: every vtable function ignores the (null) data pointer.
        unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) }
    }

    /// Polls a zero-latency sync future, which is ready at once.
    fn sync(disk: &SimDisk, path: &str) -> DiskResult<()> {
        let mut future = disk.sync(path);
        let waker = noop_waker();
        match future.as_mut().poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(result) => result,
            Poll::Pending => panic!("a zero-latency sync must be ready"),
        }
    }

    fn disk_with(faults: SimDiskFaults) -> SimDisk {
        let disk = SimDisk::new(7, faults);
        disk.create_dir_all("data/t-0").unwrap();
        sync(&disk, "").unwrap();
        sync(&disk, "data").unwrap();
        disk
    }

    /// A synced file whose name is durable too.
    fn durable_file(disk: &SimDisk, path: &str, data: &[u8]) {
        disk.append(path, data).unwrap();
        sync(disk, path).unwrap();
        sync(disk, parent_of(path)).unwrap();
    }

    fn read_all(disk: &SimDisk, path: &str) -> Vec<u8> {
        disk.read_at(path, 0, usize::MAX).unwrap()
    }

    #[test]
    fn unsynced_append_is_lost_at_crash() {
        let disk = disk_with(SimDiskFaults::default());
        durable_file(&disk, "data/t-0/0.log", b"synced");
        disk.append("data/t-0/0.log", b"+volatile").unwrap();
        assert_eq!(read_all(&disk, "data/t-0/0.log"), b"synced+volatile");
        let report = disk.crash();
        assert_eq!(report["data/t-0/0.log"], CrashOutcome::Dropped);
        assert_eq!(read_all(&disk, "data/t-0/0.log"), b"synced");
        assert_eq!(disk.counters().unsynced_dropped, 1);
    }

    #[test]
    fn synced_data_survives_crash_untouched() {
        let disk = disk_with(SimDiskFaults::default());
        durable_file(&disk, "data/t-0/0.log", b"abc");
        assert!(disk.crash().is_empty());
        assert_eq!(read_all(&disk, "data/t-0/0.log"), b"abc");
    }

    #[test]
    fn never_synced_file_vanishes_at_crash() {
        let disk = disk_with(SimDiskFaults::default());
        disk.append("data/t-0/0.log", b"abc").unwrap();
        disk.crash();
        assert!(!disk.exists("data/t-0/0.log"));
        assert!(disk.exists("data/t-0"), "its synced parent kept the dir");
        assert_eq!(disk.list_dir("data/t-0").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn torn_write_leaves_a_prefix_of_the_unsynced_bytes() {
        let faults = SimDiskFaults {
            crash_torn_write_probability: 1.0,
            ..SimDiskFaults::default()
        };
        for seed in 0..20 {
            let disk = SimDisk::new(seed, faults.clone());
            disk.create_dir_all("d").unwrap();
            sync(&disk, "").unwrap();
            durable_file(&disk, "d/f", b"durable|");
            disk.append("d/f", b"0123456789").unwrap();
            let report = disk.crash();
            let CrashOutcome::Torn { kept_bytes } = report["d/f"] else {
                panic!("expected a torn write, got {report:?}");
            };
            let content = read_all(&disk, "d/f");
            assert!(kept_bytes < 10);
            assert_eq!(content, b"durable|0123456789"[..8 + kept_bytes].to_vec());
        }
    }

    #[test]
    fn bit_flipped_tail_keeps_length_and_damages_only_unsynced_bytes() {
        let faults = SimDiskFaults {
            crash_bit_flip_probability: 1.0,
            ..SimDiskFaults::default()
        };
        let disk = SimDisk::new(3, faults);
        disk.create_dir_all("d").unwrap();
        sync(&disk, "").unwrap();
        durable_file(&disk, "d/f", &[0u8; 100]);
        disk.append("d/f", &[0u8; 50]).unwrap();
        disk.crash();
        let content = read_all(&disk, "d/f");
        assert_eq!(content.len(), 150);
        assert!(
            content[..100].iter().all(|b| *b == 0),
            "synced bytes untouched"
        );
        assert!(
            content[100..].iter().any(|b| *b != 0),
            "some unsynced bit flipped"
        );
        assert_eq!(disk.counters().bit_flipped_tails, 1);
    }

    #[test]
    fn zeroed_tail_keeps_length() {
        let faults = SimDiskFaults {
            crash_zeroed_tail_probability: 1.0,
            ..SimDiskFaults::default()
        };
        let disk = SimDisk::new(5, faults);
        disk.create_dir_all("d").unwrap();
        sync(&disk, "").unwrap();
        durable_file(&disk, "d/f", b"ab");
        disk.append("d/f", b"cdef").unwrap();
        disk.crash();
        let content = read_all(&disk, "d/f");
        assert_eq!(content.len(), 6);
        assert_eq!(&content[..2], b"ab");
        assert_eq!(*content.last().unwrap(), 0);
    }

    #[test]
    fn writeback_keeps_unsynced_bytes() {
        let faults = SimDiskFaults {
            crash_writeback_probability: 1.0,
            ..SimDiskFaults::default()
        };
        let disk = SimDisk::new(1, faults);
        disk.create_dir_all("d").unwrap();
        sync(&disk, "").unwrap();
        durable_file(&disk, "d/f", b"a");
        disk.append("d/f", b"b").unwrap();
        disk.crash();
        assert_eq!(read_all(&disk, "d/f"), b"ab");
    }

    #[test]
    fn unsynced_truncate_is_undone_at_crash() {
        let disk = disk_with(SimDiskFaults::default());
        durable_file(&disk, "data/t-0/0.log", b"0123456789");
        disk.truncate("data/t-0/0.log", 4).unwrap();
        disk.append("data/t-0/0.log", b"xy").unwrap();
        assert_eq!(read_all(&disk, "data/t-0/0.log"), b"0123xy");
        disk.crash();
        assert_eq!(read_all(&disk, "data/t-0/0.log"), b"0123456789");
    }

    /// Polls a zero-latency durable write, which is ready at once.
    fn write_durably(disk: &SimDisk, path: &str, data: &[u8]) -> DiskResult<()> {
        let mut future = disk.write_file_durably(path, data);
        let waker = noop_waker();
        match future.as_mut().poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(result) => result,
            Poll::Pending => panic!("a zero-latency write must be ready"),
        }
    }

    #[test]
    fn unsynced_replacement_is_atomic_until_synced() {
        let disk = disk_with(SimDiskFaults::default());
        disk.write_file_unsynced("data/meta", b"old").unwrap();
        sync(&disk, "data/meta").unwrap();
        sync(&disk, "data").unwrap();
        disk.write_file_unsynced("data/meta", b"new").unwrap();
        disk.crash();
        assert_eq!(read_all(&disk, "data/meta"), b"old");
        disk.write_file_unsynced("data/meta", b"new").unwrap();
        sync(&disk, "data/meta").unwrap();
        sync(&disk, "data").unwrap();
        disk.crash();
        assert_eq!(read_all(&disk, "data/meta"), b"new");
    }

    /// What the unsynced replacement warns about: syncing the directory
    /// alone makes the new name durable without its bytes.
    #[test]
    fn unsynced_replacement_with_only_its_dir_synced_comes_back_empty() {
        let disk = disk_with(SimDiskFaults::default());
        disk.write_file_unsynced("data/meta", b"old").unwrap();
        sync(&disk, "data/meta").unwrap();
        sync(&disk, "data").unwrap();
        disk.write_file_unsynced("data/meta", b"new").unwrap();
        sync(&disk, "data").unwrap();
        disk.crash();
        assert_eq!(read_all(&disk, "data/meta"), b"");
    }

    #[test]
    fn durable_write_survives_a_crash_and_leaves_no_temp_file() {
        let disk = disk_with(SimDiskFaults::default());
        write_durably(&disk, "data/meta", b"old").unwrap();
        write_durably(&disk, "data/meta", b"new").unwrap();
        disk.crash();
        assert_eq!(read_all(&disk, "data/meta"), b"new");
        assert_eq!(disk.list_dir("data").unwrap(), vec!["meta", "t-0"]);
    }

    #[test]
    fn failed_durable_write_keeps_the_old_content() {
        let disk = disk_with(SimDiskFaults::default());
        write_durably(&disk, "data/meta", b"old").unwrap();
        disk.set_faults(SimDiskFaults {
            sync_eio_probability: 1.0,
            ..SimDiskFaults::default()
        });
        assert!(write_durably(&disk, "data/meta", b"new").is_err());
        disk.crash();
        assert_eq!(read_all(&disk, "data/meta"), b"old");
    }

    #[test]
    fn removal_needs_a_parent_sync() {
        let disk = disk_with(SimDiskFaults::default());
        durable_file(&disk, "data/t-0/0.log", b"x");
        disk.remove_file("data/t-0/0.log").unwrap();
        disk.crash();
        assert!(disk.exists("data/t-0/0.log"), "unsynced removal undone");
        disk.remove_file("data/t-0/0.log").unwrap();
        sync(&disk, "data/t-0").unwrap();
        disk.crash();
        assert!(!disk.exists("data/t-0/0.log"));
    }

    #[test]
    fn rename_is_durable_only_after_syncing_the_dir() {
        let disk = disk_with(SimDiskFaults::default());
        durable_file(&disk, "data/a", b"x");
        disk.rename("data/a", "data/b").unwrap();
        disk.crash();
        assert!(disk.exists("data/a") && !disk.exists("data/b"));
        disk.rename("data/a", "data/b").unwrap();
        sync(&disk, "data/b").unwrap();
        disk.crash();
        assert!(
            disk.exists("data/a") && !disk.exists("data/b"),
            "a file sync does not persist its new name"
        );
        disk.rename("data/a", "data/c").unwrap();
        sync(&disk, "data").unwrap();
        disk.crash();
        assert!(!disk.exists("data/a"));
        assert_eq!(read_all(&disk, "data/c"), b"x");
    }

    #[test]
    fn removed_dir_returns_unless_parent_synced() {
        let disk = disk_with(SimDiskFaults::default());
        durable_file(&disk, "data/t-0/0.log", b"x");
        disk.remove_dir_all("data/t-0").unwrap();
        assert!(!disk.exists("data/t-0"));
        disk.crash();
        assert!(disk.exists("data/t-0/0.log"));
        disk.remove_dir_all("data/t-0").unwrap();
        sync(&disk, "data").unwrap();
        disk.crash();
        assert!(!disk.exists("data/t-0"));
        assert_eq!(disk.list_dir("data").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn renamed_dir_is_durable_after_parent_sync() {
        let disk = disk_with(SimDiskFaults::default());
        durable_file(&disk, "data/t-0/0.log", b"x");
        disk.rename("data/t-0", "data/t-0.deleted").unwrap();
        assert_eq!(
            disk.list_dir("data").unwrap(),
            vec!["t-0.deleted".to_string()]
        );
        sync(&disk, "data").unwrap();
        disk.crash();
        assert_eq!(
            disk.list_dir("data").unwrap(),
            vec!["t-0.deleted".to_string()]
        );
        assert_eq!(read_all(&disk, "data/t-0.deleted/0.log"), b"x");
    }

    #[test]
    fn injected_eio_changes_nothing() {
        let faults = SimDiskFaults {
            write_eio_probability: 1.0,
            sync_eio_probability: 1.0,
            ..SimDiskFaults::default()
        };
        let disk = disk_with(SimDiskFaults::default());
        disk.append("data/f", b"a").unwrap();
        disk.set_faults(faults);
        assert!(matches!(
            disk.append("data/f", b"b"),
            Err(DiskError::Io { .. })
        ));
        assert!(matches!(sync(&disk, "data/f"), Err(DiskError::Io { .. })));
        assert_eq!(read_all(&disk, "data/f"), b"a");
        disk.crash();
        assert!(
            !disk.exists("data/f"),
            "the failed sync made nothing durable"
        );
        let counters = disk.counters();
        assert_eq!((counters.write_eio, counters.sync_eio), (1, 1));
    }

    #[test]
    fn space_budget_gives_enospc() {
        let faults = SimDiskFaults {
            space_budget_bytes: Some(10),
            ..SimDiskFaults::default()
        };
        let disk = disk_with(faults);
        disk.append("data/f", &[1; 8]).unwrap();
        assert!(matches!(
            disk.append("data/f", &[1; 3]),
            Err(DiskError::NoSpace { .. })
        ));
        disk.append("data/f", &[1; 2]).unwrap();
        disk.truncate("data/f", 4).unwrap();
        disk.append("data/g", &[1; 6]).unwrap();
        assert_eq!(disk.used_bytes(), 10);
        assert_eq!(disk.counters().enospc, 1);
    }

    #[test]
    fn synced_bit_flips_only_behind_their_flag() {
        let disk = disk_with(SimDiskFaults::default());
        durable_file(&disk, "data/f", &[0; 64]);
        for _ in 0..10 {
            disk.crash();
        }
        assert!(read_all(&disk, "data/f").iter().all(|b| *b == 0));
        disk.set_faults(SimDiskFaults {
            synced_bit_flip_probability: 1.0,
            ..SimDiskFaults::default()
        });
        disk.crash();
        assert_eq!(
            read_all(&disk, "data/f")
                .iter()
                .filter(|b| **b != 0)
                .count(),
            1
        );
        assert_eq!(disk.counters().synced_bit_flips, 1);
    }

    #[test]
    fn same_seed_same_damage() {
        let run = |seed| {
            let faults = SimDiskFaults {
                crash_torn_write_probability: 0.3,
                crash_bit_flip_probability: 0.3,
                crash_zeroed_tail_probability: 0.1,
                crash_writeback_probability: 0.1,
                ..SimDiskFaults::default()
            };
            let disk = SimDisk::new(seed, faults);
            disk.create_dir_all("d").unwrap();
            sync(&disk, "").unwrap();
            let mut reports = Vec::new();
            for round in 0..20u8 {
                disk.append("d/f", &[round; 17]).unwrap();
                if round % 3 == 0 {
                    sync(&disk, "d/f").unwrap();
                    sync(&disk, "d").unwrap();
                }
                reports.push(disk.crash());
            }
            (reports, disk.read_at("d/f", 0, usize::MAX).ok())
        };
        assert_eq!(run(11), run(11));
        assert_ne!(run(11), run(12));
    }

    #[test]
    fn list_dir_is_sorted_names() {
        let disk = disk_with(SimDiskFaults::default());
        disk.append("data/t-0/b", b"").unwrap();
        disk.append("data/t-0/a", b"").unwrap();
        disk.create_dir_all("data/t-0/sub").unwrap();
        assert_eq!(disk.list_dir("data/t-0").unwrap(), vec!["a", "b", "sub"]);
        assert_eq!(disk.list_dir("").unwrap(), vec!["data"]);
        assert!(disk.list_dir("nope").is_err());
        assert!(disk.append("nope/f", b"x").is_err(), "parent must exist");
    }

    #[test]
    fn sync_started_before_a_crash_never_lands() {
        let disk = disk_with(SimDiskFaults::default());
        disk.append("data/f", b"x").unwrap();
        let generation = disk.lock().generation;
        disk.crash();
        disk.append("data/f", b"y").unwrap();
        assert!(disk.lock().finish_sync("data/f", generation).is_err());
    }

    #[test]
    fn created_file_needs_its_dir_synced() {
        let disk = disk_with(SimDiskFaults::default());
        disk.append("data/t-0/0.log", b"abc").unwrap();
        sync(&disk, "data/t-0/0.log").unwrap();
        let report = disk.crash();
        assert!(
            !disk.exists("data/t-0/0.log"),
            "synced bytes, unsynced name: {report:?}"
        );
        assert_eq!(disk.counters().dir_entries_lost, 1);
        disk.append("data/t-0/0.log", b"abc").unwrap();
        sync(&disk, "data/t-0/0.log").unwrap();
        sync(&disk, "data/t-0").unwrap();
        disk.crash();
        assert_eq!(read_all(&disk, "data/t-0/0.log"), b"abc");
    }

    #[test]
    fn created_dir_needs_its_parent_synced() {
        let disk = disk_with(SimDiskFaults::default());
        disk.create_dir_all("data/t-1").unwrap();
        durable_file(&disk, "data/t-1/0.log", b"x");
        disk.crash();
        assert!(!disk.exists("data/t-1"), "the dir's entry was never synced");
        assert!(!disk.exists("data/t-1/0.log"));
        disk.create_dir_all("data/t-1").unwrap();
        sync(&disk, "data").unwrap();
        durable_file(&disk, "data/t-1/0.log", b"x");
        disk.crash();
        assert_eq!(read_all(&disk, "data/t-1/0.log"), b"x");
    }

    #[test]
    fn recreated_dir_forgets_its_old_entries() {
        let disk = disk_with(SimDiskFaults::default());
        durable_file(&disk, "data/t-0/old", b"x");
        disk.remove_dir_all("data/t-0").unwrap();
        disk.create_dir_all("data/t-0").unwrap();
        sync(&disk, "data").unwrap();
        disk.crash();
        assert!(disk.exists("data/t-0"));
        assert!(!disk.exists("data/t-0/old"));
    }

    /// Every kind of unsynced name change meets both fates across seeds.
    #[test]
    fn crash_draws_both_fates_of_an_unsynced_name_change() {
        let faults = SimDiskFaults {
            crash_dir_entry_persist_probability: 0.5,
            ..SimDiskFaults::default()
        };
        let mut seen = BTreeSet::new();
        for seed in 0..64 {
            let disk = SimDisk::new(seed, faults.clone());
            disk.create_dir_all("d").unwrap();
            sync(&disk, "").unwrap();
            durable_file(&disk, "d/renamed", b"r");
            durable_file(&disk, "d/removed", b"x");
            disk.append("d/created", b"c").unwrap();
            sync(&disk, "d/created").unwrap();
            disk.rename("d/renamed", "d/moved").unwrap();
            disk.remove_file("d/removed").unwrap();
            disk.create_dir_all("d/sub").unwrap();
            disk.crash();
            seen.insert(("create", disk.exists("d/created")));
            seen.insert(("remove", disk.exists("d/removed")));
            seen.insert(("mkdir", disk.exists("d/sub")));
            let (old, new) = (disk.exists("d/renamed"), disk.exists("d/moved"));
            assert!(old != new, "a rename is atomic (seed {seed})");
            seen.insert(("rename", new));
            let counters = disk.counters();
            assert_eq!(
                counters.dir_entries_lost
                    + counters.dir_entries_undone
                    + counters.dir_entries_persisted,
                4
            );
        }
        assert_eq!(seen.len(), 8, "both fates of each change: {seen:?}");
    }

    #[test]
    fn rename_over_a_file_is_atomic_at_crash() {
        let faults = SimDiskFaults {
            crash_dir_entry_persist_probability: 0.5,
            ..SimDiskFaults::default()
        };
        let mut outcomes = BTreeSet::new();
        for seed in 0..32 {
            let disk = SimDisk::new(seed, faults.clone());
            disk.create_dir_all("d").unwrap();
            sync(&disk, "").unwrap();
            durable_file(&disk, "d/a", b"new");
            durable_file(&disk, "d/b", b"old");
            disk.rename("d/a", "d/b").unwrap();
            disk.crash();
            let state = (disk.exists("d/a"), read_all(&disk, "d/b"));
            assert!(
                state == (true, b"old".to_vec()) || state == (false, b"new".to_vec()),
                "seed {seed}: {state:?}"
            );
            outcomes.insert(state);
        }
        assert_eq!(outcomes.len(), 2);
    }

    /// fsyncgate: the failed pages are marked clean, a retried sync
    /// succeeds, and a crash finds them gone.
    #[test]
    fn failed_sync_may_drop_the_pages_and_a_retry_succeeds_without_them() {
        let disk = disk_with(SimDiskFaults::default());
        durable_file(&disk, "data/f", b"abc");
        disk.append("data/f", b"def").unwrap();
        disk.set_faults(SimDiskFaults {
            sync_eio_probability: 1.0,
            sync_eio_drop_probability: 1.0,
            ..SimDiskFaults::default()
        });
        assert!(sync(&disk, "data/f").is_err());
        assert_eq!(read_all(&disk, "data/f"), b"abcdef", "still cached");
        disk.set_faults(SimDiskFaults::default());
        sync(&disk, "data/f").unwrap();
        disk.append("data/f", b"g").unwrap();
        sync(&disk, "data/f").unwrap();
        assert_eq!(disk.durable_content("data/f").unwrap(), b"abc\0\0\0g");
        disk.crash();
        assert_eq!(read_all(&disk, "data/f"), b"abc\0\0\0g");
        assert_eq!(disk.counters().fsync_eio_pages_dropped, 1);
    }

    #[test]
    fn failed_sync_may_keep_the_pages_dirty_for_a_later_sync() {
        let disk = disk_with(SimDiskFaults::default());
        durable_file(&disk, "data/f", b"abc");
        disk.append("data/f", b"def").unwrap();
        disk.set_faults(SimDiskFaults {
            sync_eio_probability: 1.0,
            ..SimDiskFaults::default()
        });
        assert!(sync(&disk, "data/f").is_err());
        disk.set_faults(SimDiskFaults::default());
        sync(&disk, "data/f").unwrap();
        disk.crash();
        assert_eq!(read_all(&disk, "data/f"), b"abcdef");
        assert_eq!(disk.counters().fsync_eio_pages_dropped, 0);
    }

    #[test]
    fn read_eio_fails_reads_and_changes_nothing() {
        let disk = disk_with(SimDiskFaults::default());
        durable_file(&disk, "data/f", b"abc");
        disk.set_faults(SimDiskFaults {
            read_eio_probability: 1.0,
            ..SimDiskFaults::default()
        });
        assert!(matches!(
            disk.read_at("data/f", 0, 3),
            Err(DiskError::Io { .. })
        ));
        assert!(matches!(
            disk.read_at("data/nope", 0, 3),
            Err(DiskError::NotFound { .. })
        ));
        disk.set_faults(SimDiskFaults::default());
        assert_eq!(read_all(&disk, "data/f"), b"abc");
        assert_eq!(disk.counters().read_eio, 1);
    }

    #[test]
    fn rot_flips_one_synced_bit_of_an_eligible_file() {
        let disk = disk_with(SimDiskFaults::default());
        durable_file(&disk, "data/t-0/0.log", &[0; 32]);
        disk.append("data/t-0/0.log", &[0; 32]).unwrap();
        durable_file(&disk, "data/other", &[0; 32]);
        for _ in 0..20 {
            let (path, position) = disk.rot_synced_bit(|p| p.ends_with(".log")).unwrap();
            assert_eq!(path, "data/t-0/0.log");
            assert!(position < 32, "only synced bytes rot");
        }
        assert!(read_all(&disk, "data/other").iter().all(|b| *b == 0));
        assert!(read_all(&disk, "data/t-0/0.log")[32..]
            .iter()
            .all(|b| *b == 0));
        assert!(disk.rot_synced_bit(|p| p.ends_with(".none")).is_none());
        assert_eq!(disk.counters().synced_bit_flips, 20);
        disk.report_corruption("data/t-0/0.log");
        assert_eq!(disk.counters().rot_detected, 1);
    }

    #[test]
    fn create_dir_all_durably_makes_the_whole_chain_durable() {
        let disk = SimDisk::new(3, SimDiskFaults::default());
        use std::future::Future as _;
        let mut created = Box::pin(crate::io::disk::create_dir_all_durably(&disk, "a/b/c"));
        let waker = noop_waker();
        match created.as_mut().poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(result) => result.unwrap(),
            Poll::Pending => panic!("zero-latency syncs are ready at once"),
        }
        drop(created);
        disk.crash();
        assert!(disk.exists("a/b/c"));
        disk.create_dir_all("a/b/d").unwrap();
        disk.crash();
        assert!(!disk.exists("a/b/d"), "plain create_dir_all is not durable");
    }
}
