//! What datavol remembers on the root disk about each volume, across disks:
//! which filesystems it formatted (so an interrupted first run is known as
//! its own even when the marker is not visible yet), which it last seeded,
//! and how often it had to seed again because the disk came back blank (an
//! instance store after a stop/start).

use crate::sys::fsutil;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const DEFAULT_STATE_DIR: &str = "/var/lib/datavol";

/// Formatted UUIDs kept: enough for every re-seed a node sees between AMIs.
const KEEP_FORMATTED: usize = 16;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    pub volume: String,
    /// Migrations onto a fresh filesystem, the first one included.
    pub seeds: u32,
    /// Seeds after the first: the volume's disk came back blank.
    pub reseeds: u32,
    pub last_uuid: Option<String>,
    pub last_seed_at: Option<u64>,
    /// UUIDs of the filesystems datavol made for this volume, newest last.
    #[serde(default)]
    pub formatted: Vec<String>,
    /// Times datavol grew the filesystem to fill a larger disk (issue #13).
    #[serde(default)]
    pub grows: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_grow_at: Option<u64>,
    /// The filesystem last seen committed for this volume: a healthy
    /// reboot that finds it again mounts it without an inspection mount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committed: Option<Committed>,
}

/// A committed filesystem, as seen through its marker.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Committed {
    pub uuid: String,
    pub fstype: String,
    /// What the marker says the volume was seeded from.
    pub source: PathBuf,
    /// Served directories committed on it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub directories: Vec<PathBuf>,
    /// The instance that saw it committed; only that instance's generator
    /// trusts it (record/instance.rs). None: not known when it was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<super::instance::Instance>,
}

impl Committed {
    /// Whether this record was made on the instance `here`.
    pub fn on(&self, here: &super::instance::Instance) -> bool {
        self.instance.as_ref() == Some(here)
    }
}

impl History {
    pub fn empty(volume: &str) -> History {
        History {
            volume: volume.to_string(),
            ..Default::default()
        }
    }

    /// Whether datavol made (or seeded) the filesystem `uuid` on this node.
    pub fn knows(&self, uuid: &str) -> bool {
        self.formatted.iter().any(|u| u == uuid) || self.last_uuid.as_deref() == Some(uuid)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path}: not a datavol record ({source}); hint: move it away, datavol starts a new one"
    )]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

fn path(dir: &Path, volume: &str) -> PathBuf {
    dir.join(format!("{volume}.json"))
}

/// A JSON record on the root disk (this one, or a run's: runs.rs); None
/// when there is none.
pub(super) fn read_json<T: DeserializeOwned>(path: PathBuf) -> Result<Option<T>, HistoryError> {
    match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|source| HistoryError::Corrupt { path, source }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(HistoryError::Io { path, source }),
    }
}

/// Writes a JSON record at `path` in `dir` durably; an identical file is
/// left alone.
pub(super) fn write_json<T: Serialize>(dir: &Path, path: &Path, v: &T) -> Result<(), HistoryError> {
    let io = |source| HistoryError::Io {
        path: path.to_path_buf(),
        source,
    };
    fsutil::create_dir_durable(dir, 0o755).map_err(io)?;
    let data = serde_json::to_vec_pretty(v).map_err(|e| io(std::io::Error::other(e)))?;
    fsutil::write_if_changed(path, &data, 0o644).map_err(io)?;
    Ok(())
}

/// The record; an empty one when there is none yet.
pub fn load(dir: &Path, volume: &str) -> Result<History, HistoryError> {
    Ok(read_json(path(dir, volume))?.unwrap_or_else(|| History::empty(volume)))
}

fn store(dir: &Path, h: &History) -> Result<(), HistoryError> {
    write_json(dir, &path(dir, &h.volume), h)
}

/// The record to update: an unreadable one starts afresh (it is about the
/// past; the volume's own marker is what protects its data).
fn current(dir: &Path, volume: &str) -> History {
    load(dir, volume).unwrap_or_else(|_| History::empty(volume))
}

/// Records that datavol formatted `uuid` for the volume, before anything is
/// written into it.
pub fn record_format(dir: &Path, volume: &str, uuid: &str) -> Result<(), HistoryError> {
    let mut h = current(dir, volume);
    if !h.formatted.iter().any(|u| u == uuid) {
        h.formatted.push(uuid.to_string());
        let extra = h.formatted.len().saturating_sub(KEEP_FORMATTED);
        h.formatted.drain(..extra);
    }
    store(dir, &h)
}

/// Records a completed seed of `uuid`; returns the updated record.
pub fn record_seed(dir: &Path, volume: &str, uuid: &str) -> Result<History, HistoryError> {
    let mut h = current(dir, volume);
    if h.last_uuid.as_deref() == Some(uuid) {
        return Ok(h);
    }
    if h.last_uuid.is_some() {
        h.reseeds += 1;
    }
    h.seeds += 1;
    h.last_uuid = Some(uuid.to_string());
    h.last_seed_at = Some(crate::record::marker::now());
    store(dir, &h)?;
    Ok(h)
}

/// Records the filesystem seen committed for the volume; writes nothing
/// when the record says so already.
pub fn record_committed(dir: &Path, volume: &str, c: Committed) -> Result<(), HistoryError> {
    let mut h = current(dir, volume);
    if h.committed.as_ref() == Some(&c) {
        return Ok(());
    }
    h.committed = Some(c);
    store(dir, &h)
}

/// Records that datavol grew the volume's filesystem.
pub fn record_grow(dir: &Path, volume: &str) -> Result<(), HistoryError> {
    let mut h = current(dir, volume);
    h.grows += 1;
    h.last_grow_at = Some(crate::record::marker::now());
    store(dir, &h)
}
