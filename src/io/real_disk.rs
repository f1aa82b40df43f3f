//! The [`Disk`] on the host file system, rooted at a directory.
//!
//! Open files are cached so appends and reads do not reopen them. `sync`
//! runs `fsync` on tokio's blocking pool, so a slow device never stalls the
//! async runtime that serves connections.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::io::disk::{Disk, DiskError, DiskResult, SyncFuture};

/// Open files kept at most; past this the cache is cleared (simple, bounded).
const OPEN_FILES_MAX: usize = 4096;

pub struct RealDisk {
    root: PathBuf,
    open_files: Arc<Mutex<BTreeMap<String, Arc<File>>>>,
}

impl RealDisk {
    pub fn new(root: impl Into<PathBuf>) -> RealDisk {
        RealDisk {
            root: root.into(),
            open_files: Arc::new(Mutex::new(BTreeMap::new())),
        }
    }

    fn full(&self, path: &str) -> PathBuf {
        self.root.join(path)
    }

    fn file(&self, path: &str, create: bool) -> DiskResult<Arc<File>> {
        let mut files = self.open_files.lock().expect("disk file cache poisoned");
        if let Some(f) = files.get(path) {
            return Ok(Arc::clone(f));
        }
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(create)
            .open(self.full(path))
            .map_err(|e| to_disk_error(path, e))?;
        if files.len() >= OPEN_FILES_MAX {
            files.clear();
        }
        let file = Arc::new(file);
        files.insert(path.to_string(), Arc::clone(&file));
        Ok(file)
    }

    fn forget(&self, prefix: &str) {
        forget_cached(&self.open_files, prefix);
    }
}

fn forget_cached(open_files: &Mutex<BTreeMap<String, Arc<File>>>, prefix: &str) {
    let mut files = open_files.lock().expect("disk file cache poisoned");
    files.retain(|p, _| p != prefix && !p.starts_with(&format!("{prefix}/")));
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
