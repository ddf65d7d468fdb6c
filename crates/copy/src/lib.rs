//! The migration engine: copies a directory tree into an empty directory with
//! full fidelity, then verifies the copy against the source.
//!
//! STUB: the interface below is fixed; the implementation is being written.

use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("{path}: {op}: {source}")]
    Io {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("destination {0} is not an empty directory; copy only fills an empty one")]
    DestNotEmpty(PathBuf),
    #[error("{0} has a mount inside it at {1}; refusing to copy across mounts")]
    Submount(PathBuf, PathBuf),
    #[error("verification failed: {count} difference(s), first: {first}")]
    Verify { count: u64, first: String },
}

/// Progress snapshot handed to the progress callback.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    pub files: u64,
    pub bytes: u64,
    pub total_files: u64,
    pub total_bytes: u64,
    pub elapsed: Duration,
}

pub type ProgressFn = dyn Fn(&Progress) + Send + Sync;

pub struct CopyOptions<'a> {
    /// Parallel file copiers (I/Os in flight).
    pub workers: usize,
    /// Called at most every `progress_interval`.
    pub progress: Option<&'a ProgressFn>,
    pub progress_interval: Duration,
}

impl Default for CopyOptions<'_> {
    fn default() -> Self {
        CopyOptions {
            workers: 8,
            progress: None,
            progress_interval: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyStats {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub hardlinks: u64,
    pub specials: u64,
    pub skipped_sockets: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeUsage {
    pub entries: u64,
    /// Allocated bytes (st_blocks * 512), hardlinks counted once.
    pub allocated_bytes: u64,
}

/// Walks `src` without crossing mounts: fails with `Submount` if any directory
/// below it is on another device; otherwise returns what a copy would need.
pub fn survey(src: &Path) -> Result<TreeUsage, CopyError> {
    let _ = src;
    unimplemented!()
}

/// Copies the contents of `src` into the existing empty directory `dst`, and
/// gives `dst` itself the owner, mode, xattrs and times of `src`.
pub fn copy_tree(src: &Path, dst: &Path, opts: &CopyOptions) -> Result<CopyStats, CopyError> {
    let _ = (src, dst, opts);
    unimplemented!()
}

/// Copies owner, mode, xattrs and times of directory `src` onto directory `dst`.
pub fn copy_dir_metadata(src: &Path, dst: &Path) -> Result<(), CopyError> {
    let _ = (src, dst);
    unimplemented!()
}

/// Compares `src` and `dst` entry by entry (type, owner, mode, size, rdev,
/// xattrs, hardlink structure, mtime, content hash).
pub fn verify_tree(src: &Path, dst: &Path) -> Result<CopyStats, CopyError> {
    let _ = (src, dst);
    unimplemented!()
}
