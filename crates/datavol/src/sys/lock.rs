//! Serialises concurrent runs: an exclusive flock on a file under /run.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

pub const DEFAULT_LOCK: &str = "/run/datavol/lock";

#[derive(Debug, thiserror::Error)]
#[error("lock {path}: {source}; hint: /run must be writable by root")]
pub struct LockError {
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

pub struct RunLock {
    _file: File,
}

/// Who takes the lock: apply changes disks, plan and status only look,
/// but must not look halfway through an apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// apply: alone.
    Exclusive,
    /// plan, status: alongside each other, never during an apply.
    Shared,
}

/// Blocks until no other datavol run holds the lock.
pub fn acquire(path: &Path) -> Result<RunLock, LockError> {
    take(path, Access::Exclusive)
}

/// Blocks until the lock can be had with `access`.
pub fn take(path: &Path, access: Access) -> Result<RunLock, LockError> {
    let op = match access {
        Access::Exclusive => libc::LOCK_EX,
        Access::Shared => libc::LOCK_SH,
    };
    let err = |source| LockError {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(err)?;
    // SAFETY: flock on an fd this function owns.
    if unsafe { libc::flock(file.as_raw_fd(), op | libc::LOCK_NB) } != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(err(e));
        }
        log::info!(
            "another datavol run holds {}; waiting for it to finish",
            path.display()
        );
        // SAFETY: as above.
        if unsafe { libc::flock(file.as_raw_fd(), op) } != 0 {
            return Err(err(std::io::Error::last_os_error()));
        }
    }
    Ok(RunLock { _file: file })
}
