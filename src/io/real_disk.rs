//! The [`Disk`] on the host file system, rooted at a directory.
//!
//! Open files are cached so appends and reads do not reopen them; the cache
//! holds at most `open_files_max` descriptors (the least recently used is
//! closed first), a share of the process's file-descriptor limit that
//! `main.rs` sizes. When an open fails for lack of descriptors (EMFILE or
//! ENFILE) the cache closes every handle it holds and tries once more; if
//! that fails too the operation fails with [`DiskError::TooManyOpenFiles`],
//! which the log treats as a failed request, never as a storage failure.
//! `sync` runs `fsync` on tokio's blocking pool, so a slow device never
//! stalls the async runtime that serves connections.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::io::disk::{Disk, DiskError, DiskResult, SyncFuture};

/// Open files kept at most by default (see [`RealDisk::with_open_files_max`]).
pub const OPEN_FILES_MAX_DEFAULT: usize = 4096;

/// The open-file cache: handles by path, and paths by last use.
#[derive(Default)]
struct OpenFiles {
    by_path: BTreeMap<String, (Arc<File>, u64)>,
    by_use: BTreeMap<u64, String>,
    clock: u64,
}

impl OpenFiles {
    fn get(&mut self, path: &str) -> Option<Arc<File>> {
        let (file, used) = self.by_path.get_mut(path)?;
        self.by_use.remove(used);
        self.clock += 1;
        *used = self.clock;
        self.by_use.insert(self.clock, path.to_string());
        Some(Arc::clone(file))
    }

    fn insert(&mut self, path: &str, file: Arc<File>, max: usize) {
        while self.by_path.len() >= max.max(1) {
            let Some((_, oldest)) = self.by_use.pop_first() else {
                break;
            };
            self.by_path.remove(&oldest);
        }
        self.clock += 1;
        self.by_use.insert(self.clock, path.to_string());
        if let Some((_, used)) = self.by_path.insert(path.to_string(), (file, self.clock)) {
            self.by_use.remove(&used);
        }
    }

    fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.by_path.retain(|p, _| keep(p));
        self.by_use.retain(|_, p| keep(p));
    }

    fn clear(&mut self) {
        self.by_path.clear();
        self.by_use.clear();
    }
}

pub struct RealDisk {
    root: PathBuf,
    open_files: Arc<Mutex<OpenFiles>>,
    open_files_max: usize,
}

impl RealDisk {
    pub fn new(root: impl Into<PathBuf>) -> RealDisk {
        RealDisk::with_open_files_max(root, OPEN_FILES_MAX_DEFAULT)
    }

    /// A disk whose cache keeps at most `open_files_max` files open.
    pub fn with_open_files_max(root: impl Into<PathBuf>, open_files_max: usize) -> RealDisk {
        RealDisk {
            root: root.into(),
            open_files: Arc::new(Mutex::new(OpenFiles::default())),
            open_files_max: open_files_max.max(1),
        }
    }

    /// Files the cache holds open now.
    pub fn open_file_count(&self) -> usize {
        self.open_files
            .lock()
            .expect("disk file cache poisoned")
            .by_path
            .len()
    }

    fn full(&self, path: &str) -> PathBuf {
        self.root.join(path)
    }

    fn file(&self, path: &str, create: bool) -> DiskResult<Arc<File>> {
        let mut files = self.open_files.lock().expect("disk file cache poisoned");
        if let Some(f) = files.get(path) {
            return Ok(f);
        }
        let open = || {
            OpenOptions::new()
                .read(true)
                .append(true)
                .create(create)
                .open(self.full(path))
        };
        let file = match open() {
            Err(e) if is_out_of_descriptors(&e) => {
                // Our own cache may hold the descriptors: give them back, retry.
                tracing::warn!(
                    path,
                    open_files = files.by_path.len(),
                    "out of file descriptors: closing cached files"
                );
                files.clear();
                open()
            }
            other => other,
        }
        .map_err(|e| to_disk_error(path, e))?;
        let file = Arc::new(file);
        files.insert(path, Arc::clone(&file), self.open_files_max);
        Ok(file)
    }

    fn forget(&self, prefix: &str) {
        forget_cached(&self.open_files, prefix);
    }
}

fn forget_cached(open_files: &Mutex<OpenFiles>, prefix: &str) {
    let mut files = open_files.lock().expect("disk file cache poisoned");
    let under = format!("{prefix}/");
    files.retain(|p| p != prefix && !p.starts_with(&under));
}

/// EMFILE (this process) or ENFILE (the whole system).
fn is_out_of_descriptors(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
}
/// Temp file, fsync, rename, fsync of the directory: the new content is
/// durable under `path` when this returns Ok, and a crash at any point
/// leaves the old content or the new one.
fn replace_durably(full: &Path, tmp: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut file = File::create(tmp)?;
    file.write_all(data)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(tmp, full)?;
    let dir = full.parent().unwrap_or_else(|| Path::new("."));
    File::open(dir)?.sync_all()
}

fn to_disk_error(path: &str, e: std::io::Error) -> DiskError {
    if is_out_of_descriptors(&e) {
        return DiskError::TooManyOpenFiles {
            path: path.to_string(),
        };
    }
    match e.kind() {
        ErrorKind::NotFound => DiskError::NotFound {
            path: path.to_string(),
        },
        ErrorKind::StorageFull => DiskError::NoSpace {
            path: path.to_string(),
        },
        _ => DiskError::Io {
            path: path.to_string(),
            detail: e.to_string(),
        },
    }
}

impl Disk for RealDisk {
    fn create_dir_all(&self, dir: &str) -> DiskResult<()> {
        std::fs::create_dir_all(self.full(dir)).map_err(|e| to_disk_error(dir, e))
    }

    fn list_dir(&self, dir: &str) -> DiskResult<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(self.full(dir)).map_err(|e| to_disk_error(dir, e))? {
            let entry = entry.map_err(|e| to_disk_error(dir, e))?;
            if let Some(name) = entry.file_name().to_str() {
                names.push(name.to_string());
            }
        }
        names.sort();
        Ok(names)
    }

    fn exists(&self, path: &str) -> bool {
        self.full(path).exists()
    }

    fn file_len(&self, path: &str) -> DiskResult<u64> {
        let meta = std::fs::metadata(self.full(path)).map_err(|e| to_disk_error(path, e))?;
        Ok(meta.len())
    }

    fn read_at(&self, path: &str, offset: u64, len: usize) -> DiskResult<Vec<u8>> {
        let file = self.file(path, false)?;
        let mut buf = vec![0u8; len];
        let mut filled = 0;
        while filled < len {
            match file.read_at(&mut buf[filled..], offset + filled as u64) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(to_disk_error(path, e)),
            }
        }
        buf.truncate(filled);
        Ok(buf)
    }

    fn append(&self, path: &str, data: &[u8]) -> DiskResult<()> {
        let file = self.file(path, true)?;
        (&*file).write_all(data).map_err(|e| to_disk_error(path, e))
    }

    fn truncate(&self, path: &str, len: u64) -> DiskResult<()> {
        let file = self.file(path, false)?;
        file.set_len(len).map_err(|e| to_disk_error(path, e))
    }

    fn write_file_durably(&self, path: &str, data: &[u8]) -> SyncFuture {
        let (full, tmp) = (self.full(path), self.full(&format!("{path}.tmp")));
        let data = data.to_vec();
        let open_files = Arc::clone(&self.open_files);
        let path = path.to_string();
        Box::pin(async move {
            // The cached handle (if any) is the old inode: drop it before and
            // after, so no read sees the old content once this returns.
            forget_cached(&open_files, &path);
            #[allow(deprecated)]
            let job = tokio::task::spawn_blocking(move || replace_durably(&full, &tmp, &data));
            let result = match job.await {
                Ok(result) => result.map_err(|e| to_disk_error(&path, e)),
                Err(e) => Err(DiskError::Io {
                    path: path.clone(),
                    detail: format!("write task failed: {e}"),
                }),
            };
            forget_cached(&open_files, &path);
            result
        })
    }

    fn write_file_unsynced(&self, path: &str, data: &[u8]) -> DiskResult<()> {
        let tmp = format!("{path}.tmp");
        std::fs::write(self.full(&tmp), data).map_err(|e| to_disk_error(&tmp, e))?;
        self.forget(path);
        std::fs::rename(self.full(&tmp), self.full(path)).map_err(|e| to_disk_error(path, e))
    }

    fn remove_file(&self, path: &str) -> DiskResult<()> {
        self.forget(path);
        std::fs::remove_file(self.full(path)).map_err(|e| to_disk_error(path, e))
    }

    fn remove_dir_all(&self, dir: &str) -> DiskResult<()> {
        self.forget(dir);
        match std::fs::remove_dir_all(self.full(dir)) {
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            other => other.map_err(|e| to_disk_error(dir, e)),
        }
    }

    fn rename(&self, from: &str, to: &str) -> DiskResult<()> {
        self.forget(from);
        self.forget(to);
        std::fs::rename(self.full(from), self.full(to)).map_err(|e| to_disk_error(from, e))
    }

    fn sync(&self, path: &str) -> SyncFuture {
        let full = self.full(path);
        let cached = if full.is_dir() {
            None
        } else {
            self.file(path, false).ok()
        };
        let path = path.to_string();
        Box::pin(async move {
            // madsim deprecates spawn_blocking (real files are not simulated;
            // the simulator uses SimDisk), but it still runs it.
            #[allow(deprecated)]
            let job = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                match cached {
                    Some(file) => file.sync_data(),
                    None => File::open(&full)?.sync_all(),
                }
            });
            match job.await {
                Ok(result) => result.map_err(|e| to_disk_error(&path, e)),
                Err(e) => Err(DiskError::Io {
                    path,
                    detail: format!("sync task failed: {e}"),
                }),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_open_file_cache_stays_within_its_bound() {
        let dir = tempfile::tempdir().unwrap();
        let disk = RealDisk::with_open_files_max(dir.path(), 2);
        for name in ["a", "b", "c", "a", "d"] {
            disk.append(name, name.as_bytes()).unwrap();
            assert!(disk.open_file_count() <= 2);
        }
        // Evicted files reopen on demand; recently used ones stay cached.
        assert_eq!(disk.read_at("a", 0, 10).unwrap(), b"aa");
        assert_eq!(disk.read_at("b", 0, 10).unwrap(), b"b");
        assert_eq!(disk.open_file_count(), 2);
    }

    #[test]
    fn out_of_descriptors_is_not_an_io_failure() {
        for errno in [libc::EMFILE, libc::ENFILE] {
            let e = to_disk_error("x", std::io::Error::from_raw_os_error(errno));
            assert_eq!(e, DiskError::TooManyOpenFiles { path: "x".into() });
            assert!(e.is_resource_exhaustion());
        }
        assert!(
            !to_disk_error("x", std::io::Error::from_raw_os_error(libc::EIO))
                .is_resource_exhaustion()
        );
    }
}
