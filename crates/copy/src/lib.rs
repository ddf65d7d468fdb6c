//! The migration engine: copies a directory tree into an empty directory with
//! full fidelity, then verifies the copy against the source.
//!
//! Modules: `walk` (iterative fd-relative traversal with a bounded fd
//! window), `sys` (libc wrappers), `xattr`, `meta` (owner/xattrs/mode/times
//! in the right order), `file` (sparse-aware data copy), `copy`
//! (copy_tree and the worker pool), `verify`, `survey`, `mounts`
//! (mountinfo), `shared` (counters, progress, job queue).

use std::path::{Path, PathBuf};
use std::time::Duration;

mod copy;
mod file;
mod meta;
pub mod mounts;
mod shared;
mod survey;
mod sys;
mod verify;
mod walk;
mod xattr;

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
    #[error("destination {0} is inside the source tree")]
    DestInsideSource(PathBuf),
}

/// Progress snapshot handed to the progress callback.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// Entries done (all types, directories included; hardlinks count each link).
    pub files: u64,
    /// Data bytes transferred (holes not counted).
    pub bytes: u64,
    /// From `CopyOptions::total_files` (0 = unknown).
    pub total_files: u64,
    /// From `CopyOptions::total_bytes` (0 = unknown).
    pub total_bytes: u64,
    pub elapsed: Duration,
}

pub type ProgressFn = dyn Fn(&Progress) + Send + Sync;

pub struct CopyOptions<'a> {
    /// Parallel file copiers (I/Os in flight). 0 or 1: sequential.
    pub workers: usize,
    /// Called at most every `progress_interval` (and once at the end).
    pub progress: Option<&'a ProgressFn>,
    pub progress_interval: Duration,
    /// Hint for progress: `TreeUsage::entries` from a survey, 0 if unknown.
    pub total_files: u64,
    /// Hint for progress: `TreeUsage::allocated_bytes` from a survey, 0 if unknown.
    pub total_bytes: u64,
}

impl Default for CopyOptions<'_> {
    fn default() -> Self {
        CopyOptions {
            workers: 8,
            progress: None,
            progress_interval: Duration::from_secs(5),
            total_files: 0,
            total_bytes: 0,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyStats {
    /// Regular files (inodes) copied or compared.
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    /// Extra links to an inode already copied (any non-directory type).
    pub hardlinks: u64,
    /// Device nodes and FIFOs.
    pub specials: u64,
    pub skipped_sockets: u64,
    /// Apparent size of the regular files (holes included).
    pub bytes: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeUsage {
    /// Entries below the root (all types, each hardlink counted).
    pub entries: u64,
    /// Allocated bytes (st_blocks * 512), hardlinks counted once.
    pub allocated_bytes: u64,
    /// Regular file inodes (hardlinks counted once).
    pub files: u64,
    /// Apparent size of the regular files (hardlinks counted once).
    pub apparent_bytes: u64,
}

/// Walks `src` without crossing mounts: fails with `Submount` if any directory
/// below it is on another device; otherwise returns what a copy would need.
pub fn survey(src: &Path) -> Result<TreeUsage, CopyError> {
    survey::survey(src)
}

/// Copies the contents of `src` into the existing empty directory `dst`, and
/// gives `dst` itself the owner, mode, xattrs and times of `src`.
pub fn copy_tree(src: &Path, dst: &Path, opts: &CopyOptions) -> Result<CopyStats, CopyError> {
    copy::copy_tree(src, dst, opts)
}

/// Copies owner, mode, xattrs and times of directory `src` onto directory `dst`.
pub fn copy_dir_metadata(src: &Path, dst: &Path) -> Result<(), CopyError> {
    copy::copy_dir_metadata(src, dst)
}

/// Compares `src` and `dst` entry by entry (type, owner, mode, size, rdev,
/// xattrs, hardlink structure, mtime, content hash).
pub fn verify_tree(src: &Path, dst: &Path) -> Result<CopyStats, CopyError> {
    verify::verify_tree(src, dst)
}
