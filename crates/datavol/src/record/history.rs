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
    /// Each seeded directory as datavol last knew it on the root disk, and
    /// what was last found written into it since (plan/underneath.rs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub underneath: Vec<Underneath>,
}

/// A directory datavol mounts over, as it was copied (or last accepted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Underneath {
    pub path: PathBuf,
    pub baseline: Baseline,
    /// What the last look before a mount found written since the
    /// baseline; None when nothing (or not looked at yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden: Option<Hidden>,
}

/// The directory's fingerprint: its entries (the directory itself not
/// counted), the bytes of its non-directories, and the newest ctime seen.
/// ctime cannot be set back from user space, so a write is never older.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Baseline {
    pub entries: u64,
    pub bytes: u64,
    /// Newest ctime, in nanoseconds since the epoch.
    pub newest_ctime_ns: i64,
    pub taken_at: u64,
}

/// Content written into the directory since its baseline: new or changed
/// entries (ctime newer) and their bytes; `entries_now` differs from the
/// baseline's count when something was also removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hidden {
    pub entries: u64,
    pub bytes: u64,
    pub entries_now: u64,
    pub bytes_now: u64,
    pub found_at: u64,
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
    /// The checked disk by a path a clone cannot share (discover/links.rs):
    /// the generated unit's What=. None: the disk had no such link (only a
    /// kernel name, which may change between boots), or an older datavol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<PathBuf>,
}

impl Committed {
    /// Whether this record was made on the instance `here`.
    pub fn on(&self, here: &super::instance::Instance) -> bool {
        self.instance.as_ref() == Some(here)
    }
}

impl History {
    /// The baseline of `path`, if datavol seeded (or accepted) it.
    pub fn underneath(&self, path: &Path) -> Option<&Underneath> {
        self.underneath.iter().find(|u| u.path == path)
    }

    /// Entries and bytes the last looks found hidden, over every path.
    pub fn hidden_total(&self) -> (u64, u64) {
        self.underneath
            .iter()
            .filter_map(|u| u.hidden)
            .fold((0, 0), |(e, b), h| (e + h.entries, b + h.bytes))
    }

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
/// when there is none. Only a regular file is read: a FIFO there must not
/// hang the boot.
pub(super) fn read_json<T: DeserializeOwned>(path: PathBuf) -> Result<Option<T>, HistoryError> {
    match fsutil::read_regular(&path) {
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

/// Records `path`'s baseline (after a copy, or an operator's accept); what
/// was found hidden there before is forgotten.
pub fn record_baseline(
    dir: &Path,
    volume: &str,
    path: &Path,
    baseline: Baseline,
) -> Result<(), HistoryError> {
    let mut h = current(dir, volume);
    h.underneath.retain(|u| u.path != path);
    h.underneath.push(Underneath {
        path: path.to_path_buf(),
        baseline,
        hidden: None,
    });
    store(dir, &h)
}

/// Records the last look under `path` (None: nothing hidden); writes
/// nothing when the record says so already or `path` has no baseline.
pub fn record_hidden(
    dir: &Path,
    volume: &str,
    path: &Path,
    hidden: Option<Hidden>,
) -> Result<(), HistoryError> {
    let mut h = current(dir, volume);
    let Some(u) = h.underneath.iter_mut().find(|u| u.path == path) else {
        return Ok(());
    };
    // The time of a finding alone does not make a new record.
    let same = match (&u.hidden, &hidden) {
        (Some(a), Some(b)) => Hidden { found_at: 0, ..*a } == Hidden { found_at: 0, ..*b },
        (a, b) => a.is_none() && b.is_none(),
    };
    if same {
        return Ok(());
    }
    u.hidden = hidden;
    store(dir, &h)
}
