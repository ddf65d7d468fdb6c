//! How apply runs: where it writes, and how hard it works.

use std::path::PathBuf;

pub struct Options {
    pub unit_dir: PathBuf,
    /// Root-disk state: the seed history (record/history.rs).
    pub state_dir: PathBuf,
    /// Stop the services using a directory, and restart them afterwards.
    pub stop_services: bool,
    pub copy_workers: usize,
}
