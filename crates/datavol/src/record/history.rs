//! What datavol remembers on the root disk about each volume, across disks:
//! which filesystem it last seeded, and how often it had to seed again
//! because the disk came back blank (instance store after a stop/start).

use crate::sys::fsutil;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const DEFAULT_STATE_DIR: &str = "/var/lib/datavol";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    pub volume: String,
    /// Migrations onto a fresh filesystem, the first one included.
    pub seeds: u32,
    /// Seeds after the first: the volume's disk came back blank.
    pub reseeds: u32,
    pub last_uuid: Option<String>,
    pub last_seed_at: Option<u64>,
}

fn path(dir: &Path, volume: &str) -> PathBuf {
    dir.join(format!("{volume}.json"))
}

/// The record, or an empty one when there is none (or it is unreadable:
/// it is informational and must never block a boot).
pub fn load(dir: &Path, volume: &str) -> History {
    std::fs::read(path(dir, volume))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_else(|| History {
            volume: volume.to_string(),
            ..Default::default()
        })
}

/// Records a completed seed of `uuid`; returns the updated record.
pub fn record_seed(dir: &Path, volume: &str, uuid: &str) -> std::io::Result<History> {
    let mut h = load(dir, volume);
    if h.last_uuid.as_deref() == Some(uuid) {
        return Ok(h);
    }
    if h.last_uuid.is_some() {
        h.reseeds += 1;
    }
    h.seeds += 1;
    h.last_uuid = Some(uuid.to_string());
    h.last_seed_at = Some(crate::record::marker::now());
    fsutil::create_dir_durable(dir, 0o755)?;
    let data = serde_json::to_vec_pretty(&h).map_err(std::io::Error::other)?;
    fsutil::write_atomic(&path(dir, volume), &data, 0o644)?;
    Ok(h)
}
