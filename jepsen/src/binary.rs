//! Locating the `odradek` executable the tests run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::SystemTime;

/// Environment variable naming an explicit broker binary; it wins over everything else so CI
/// can test a prebuilt artifact.
pub const BINARY_ENV: &str = "ODRADEK_BIN";

/// The workspace root: this crate lives in `<workspace>/jepsen`.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("jepsen crate has a parent directory")
        .to_path_buf()
}

fn target_dir() -> PathBuf {
    // Honour a relocated target dir, otherwise the binary we look for is not where cargo put it.
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                workspace_root().join(dir)
            }
        }
        None => workspace_root().join("target"),
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).ok()?.modified().ok()
}

/// The newest of the release and debug builds, if any exists.
fn newest_built_binary() -> Option<PathBuf> {
    let target = target_dir();
    ["release", "debug"]
        .iter()
        .map(|profile| target.join(profile).join("odradek"))
        .filter_map(|path| modified(&path).map(|time| (time, path)))
        .max_by_key(|(time, _)| *time)
        .map(|(_, path)| path)
}

/// The release binary, built (or brought up to date) now: `$ODRADEK_BIN`
/// if set. What a harness run starts, so it tests the code as it is.
pub fn release_binary() -> PathBuf {
    if let Some(path) = std::env::var_os(BINARY_ENV) {
        return PathBuf::from(path);
    }
    build_release_once().clone()
}

/// Builds the release binary once per test process; concurrent tests wait for the one build.
fn build_release_once() -> &'static PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--release", "--bin", "odradek"])
            .current_dir(workspace_root())
            .status()
            .expect("failed to run cargo to build the odradek binary");
        assert!(status.success(), "cargo build of odradek failed: {status}");
        let path = target_dir().join("release").join("odradek");
        assert!(
            path.exists(),
            "cargo build succeeded but {path:?} is missing"
        );
        path
    })
}

/// Path of the broker binary: `$ODRADEK_BIN`, else the newer of `target/release/odradek` and
/// `target/debug/odradek`, else a fresh `cargo build --release --bin odradek`.
pub fn odradek_binary() -> PathBuf {
    if let Some(path) = std::env::var_os(BINARY_ENV) {
        let path = PathBuf::from(path);
        assert!(path.exists(), "{BINARY_ENV}={path:?} does not exist");
        return path;
    }
    newest_built_binary().unwrap_or_else(|| build_release_once().clone())
}
