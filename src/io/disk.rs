//! The disk seam: every byte the broker stores goes through [`Disk`].
//!
//! Two implementations exist: [`crate::io::real_disk::RealDisk`] on the host
//! file system, and `SimDisk` (in `sim_disk.rs`), an in-memory disk that models
//! the page cache and injects faults from the simulation seed.
//!
//! Paths are `/`-separated strings relative to the disk's root, so a simulated
//! disk can key files by name and a real one can join them onto its data dir.
//!
//! Every method except [`Disk::sync`] and [`Disk::write_file_durably`] is a
//! page-cache operation: cheap enough to run on the async runtime. Those two
//! are the only calls that may wait for the device, so they return a future;
//! the real disk runs them on a blocking thread.
//!
//! # What is durable when
//!
//! - Bytes written by `append`/`truncate` are durable once `sync(file)`
//!   returns Ok.
//! - A name created, removed or renamed in a directory is durable once
//!   `sync(dir)` returns Ok. Callers sync a file's data *before* the
//!   directory entry that names it, never the other way round: a durable
//!   name with lost data is an empty or partial file after a crash.
//! - A small file replaced whole (checkpoints, `partition.metadata`,
//!   snapshots) goes through [`Disk::write_file_durably`]: the new content
//!   is written under a temp name and fsynced, renamed over the old name, and
//!   the directory is fsynced. A crash leaves the old content or the new,
//!   never a mix or an empty file, and Ok means the new content is durable.
//! - [`Disk::write_file_unsynced`] replaces a file in the page cache only. It
//!   is for files recovery can rebuild (segment indexes), which the log
//!   tracks as unsynced and never vouches for until it has synced them.

use std::future::Future;
use std::pin::Pin;

/// What went wrong with a disk operation, in the terms the log cares about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiskError {
    #[error("file not found: {path}")]
    NotFound { path: String },
    #[error("no space left on device writing {path}")]
    NoSpace { path: String },
    #[error("I/O error on {path}: {detail}")]
    Io { path: String, detail: String },
    /// The process (EMFILE) or system (ENFILE) is out of file descriptors:
    /// the file could not be opened, so nothing was read, written or synced.
    /// Not a storage failure: the caller fails its request and the log stays
    /// online.
    #[error("too many open files opening {path}")]
    TooManyOpenFiles { path: String },
}

impl DiskError {
    /// Whether the operation failed before touching the file (so the log's
    /// state on disk is unchanged and it must not go offline).
    pub fn is_resource_exhaustion(&self) -> bool {
        matches!(self, DiskError::TooManyOpenFiles { .. })
    }
}

pub type DiskResult<T> = Result<T, DiskError>;

/// A future returned by [`Disk::sync`]; boxed so `Disk` stays object safe.
pub type SyncFuture = Pin<Box<dyn Future<Output = DiskResult<()>> + Send + 'static>>;

pub trait Disk: Send + Sync + 'static {
    /// Creates `dir` and its parents; succeeds if it exists.
    fn create_dir_all(&self, dir: &str) -> DiskResult<()>;
    /// Names (not paths) of the entries directly inside `dir`, sorted.
    fn list_dir(&self, dir: &str) -> DiskResult<Vec<String>>;
    /// Whether a file or directory exists at `path`.
    fn exists(&self, path: &str) -> bool;
    /// Current length of a file, including unsynced writes.
    fn file_len(&self, path: &str) -> DiskResult<u64>;
    /// Reads up to `len` bytes at `offset`; fewer at end of file.
    fn read_at(&self, path: &str, offset: u64, len: usize) -> DiskResult<Vec<u8>>;
    /// Appends `data` at the end of `path`, creating the file if needed.
    fn append(&self, path: &str, data: &[u8]) -> DiskResult<()>;
    /// Shrinks (or extends with zeroes) a file to `len` bytes.
    fn truncate(&self, path: &str, len: u64) -> DiskResult<()>;
    /// Replaces the whole content of `path` (write to a temp name + rename)
    /// in the page cache. Nothing is durable, not even the name: a crash may
    /// leave the old file, or (once the directory is synced) the new name
    /// with partial or empty content. Only for files recovery can rebuild;
    /// they are durable after `sync(path)` and then `sync(parent dir)`.
    fn write_file_unsynced(&self, path: &str, data: &[u8]) -> DiskResult<()>;
    /// Replaces the whole content of `path` durably: writes `<path>.tmp`,
    /// fsyncs it, renames it over `path`, fsyncs the parent directory. When
    /// the future returns Ok the new content is durable under `path`; a
    /// crash before that leaves the old content (or no file if there was
    /// none), never a partial one.
    fn write_file_durably(&self, path: &str, data: &[u8]) -> SyncFuture;
    fn remove_file(&self, path: &str) -> DiskResult<()>;
    fn remove_dir_all(&self, dir: &str) -> DiskResult<()>;
    fn rename(&self, from: &str, to: &str) -> DiskResult<()>;
    /// Makes every write to `path` so far durable (fsync). For a directory,
    /// makes its entries (creations, removals, renames) durable.
    fn sync(&self, path: &str) -> SyncFuture;
    /// The broker found stored bytes of `path` damaged (a CRC mismatch in
    /// data it had synced) and refused to serve them. Only counted (the
    /// simulated disk reports it); nothing is repaired.
    fn report_corruption(&self, _path: &str) {}
}

/// Creates `dir` and its missing parents, then syncs each one's parent
/// from the top down, so the whole chain of names is durable (a created
/// directory's entry is durable only once its parent is synced). Syncs the
/// parent of `dir` even when nothing was missing: an earlier call may have
/// created it and failed before its sync.
pub async fn create_dir_all_durably(disk: &dyn Disk, dir: &str) -> DiskResult<()> {
    let mut missing = Vec::new();
    let mut path = dir.trim_matches('/');
    while !path.is_empty() && !disk.exists(path) {
        missing.push(path.to_string());
        path = parent_dir(path);
    }
    disk.create_dir_all(dir)?;
    for created in missing.iter().rev() {
        disk.sync(parent_dir(created)).await?;
    }
    if missing.is_empty() && !dir.trim_matches('/').is_empty() {
        disk.sync(parent_dir(dir.trim_matches('/'))).await?;
    }
    Ok(())
}

/// The directory holding `path` (`""` for a top-level name).
pub fn parent_dir(path: &str) -> &str {
    match path.rfind('/') {
        Some(i) => &path[..i],
        None => "",
    }
}

/// Joins a directory and a name with `/`.
pub fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}
