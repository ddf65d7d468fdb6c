//! datavol's marker on the filesystem it made: `/.datavol/state.json` in the
//! filesystem root. It is written durably at every step, so any crash leaves
//! a state the next run knows how to finish or redo.

use crate::sys::fsutil;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const STATE_DIR: &str = ".datavol";
pub const STATE_FILE: &str = "state.json";
pub const STAGING: &str = "staging";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Copying into staging; a crash here means: throw staging away, copy again.
    Copying,
    /// Staging verified; entries are being moved into the root. Resume the moves.
    Verified,
    /// Done: the root holds the migrated tree.
    Committed,
}

impl Phase {
    /// For messages: what the migration was doing.
    pub fn describe(self) -> &'static str {
        match self {
            Phase::Copying => "copying",
            Phase::Verified => "committing a verified copy",
            Phase::Committed => "committed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    pub volume: String,
    pub phase: Phase,
    pub source: PathBuf,
    /// Seconds since the epoch.
    pub started_at: u64,
    pub committed_at: Option<u64>,
    #[serde(flatten)]
    pub copied: Copied,
    /// How many times this volume was seeded from the root disk.
    #[serde(default)]
    pub seeds: u32,
    /// Volumes that serve several directories: one entry per directory,
    /// each committed on its own.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub directories: std::collections::BTreeMap<PathBuf, DirState>,
    /// Times datavol grew the filesystem to fill a larger device.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub grows: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_grow: Option<Grew>,
    /// The last finished pre-warm, and of which device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prewarm: Option<Prewarmed>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grew {
    /// Seconds since the epoch.
    pub at: u64,
    pub from_bytes: u64,
    pub to_bytes: u64,
}

/// A pre-warm read every block of `device`. Hydration belongs to the EBS
/// volume, not to the filesystem: a snapshot of a warm volume carries this
/// record to a new, cold volume, so it counts only for the same device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prewarmed {
    /// The device's identity (serial: the EBS volume id) when it has one.
    pub device: Option<String>,
    pub done_at: u64,
    pub bytes: u64,
    pub seconds: f64,
}

/// What a finished copy moved, and how long it took.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Copied {
    #[serde(default)]
    pub files: u64,
    #[serde(default)]
    pub dirs: u64,
    #[serde(default)]
    pub bytes: u64,
    #[serde(default)]
    pub copy_seconds: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DirState {
    pub phase: Phase,
    #[serde(flatten)]
    pub copied: Copied,
    pub committed_at: Option<u64>,
}

impl State {
    pub fn new(volume: &str, source: &Path) -> State {
        State {
            version: 1,
            volume: volume.to_string(),
            phase: Phase::Copying,
            source: source.to_path_buf(),
            started_at: now(),
            committed_at: None,
            copied: Copied::default(),
            seeds: 0,
            directories: Default::default(),
            grows: 0,
            last_grow: None,
            prewarm: None,
        }
    }

    /// Every one of `dirs` has been migrated and committed.
    pub fn dirs_committed(&self, dirs: &[PathBuf]) -> bool {
        dirs.iter().all(|d| {
            self.directories
                .get(d)
                .is_some_and(|s| s.phase == Phase::Committed)
        })
    }
}

/// Where a served directory is staged while it is copied.
pub fn dir_staging(root: &Path, dir: &Path) -> PathBuf {
    staging(root).join(crate::config::Volume::dir_subpath(dir))
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub fn dir(root: &Path) -> PathBuf {
    root.join(STATE_DIR)
}

pub fn staging(root: &Path) -> PathBuf {
    dir(root).join(STAGING)
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a datavol state file ({source}); hint: this filesystem was changed by something else; inspect it before going on")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: {what}; datavol never reads or writes its marker through a link (it would land on another disk); hint: inspect the filesystem, and remove that /.datavol if nothing needs it")]
    Linked { path: PathBuf, what: String },
}

/// Reads the marker, never through a link: on a disk datavol did not make
/// (adopted) a link at `/.datavol` would lead to the root disk.
pub fn read(root: &Path) -> Result<Option<State>, StateError> {
    let path = dir(root).join(STATE_FILE);
    if let Some(what) = state_dir_problem(root) {
        return Err(StateError::Linked { path, what });
    }
    match fsutil::read_regular(&path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|source| StateError::Corrupt { path, source }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(StateError::Io { path, source }),
    }
}

/// Writes the marker durably (temp file, fsync, rename, fsync the
/// directory), never through a link. The filesystem is mounted where only
/// datavol works on it, so the look before the write stays true.
pub fn write(root: &Path, state: &State) -> Result<(), StateError> {
    let d = dir(root);
    let io = |source| StateError::Io {
        path: d.clone(),
        source,
    };
    let linked = |what| StateError::Linked {
        path: d.clone(),
        what,
    };
    if let Some(what) = state_dir_problem(root) {
        return Err(linked(what));
    }
    fsutil::create_dir_durable(&d, 0o700).map_err(io)?;
    if let Some(what) = state_dir_problem(root) {
        return Err(linked(what));
    }
    let data = serde_json::to_vec_pretty(state).map_err(|e| io(std::io::Error::other(e)))?;
    fsutil::write_atomic(&d.join(STATE_FILE), &data, 0o600).map_err(io)
}

/// What is wrong at `/.datavol` for datavol to use it, if anything: a link
/// or another non-directory there, or a link at its state file or staging
/// directory. Nothing there is fine (datavol makes it).
pub fn state_dir_problem(root: &Path) -> Option<String> {
    let kind = |p: &Path| -> Option<String> {
        let m = std::fs::symlink_metadata(p).ok()?;
        let ft = m.file_type();
        if ft.is_symlink() {
            let to =
                std::fs::read_link(p).map_or_else(|e| e.to_string(), |t| t.display().to_string());
            return Some(format!("a symbolic link to {to}"));
        }
        (!ft.is_dir() && !ft.is_file()).then(|| "neither a directory nor a file".into())
    };
    let at = |name: &str| format!("/{STATE_DIR}/{name}");
    let d = dir(root);
    match std::fs::symlink_metadata(&d) {
        Err(_) => None,
        Ok(m) if m.file_type().is_symlink() || !m.is_dir() => {
            let what = kind(&d).unwrap_or_else(|| "a file".into());
            Some(format!("/{STATE_DIR} is {what}, not a directory"))
        }
        Ok(_) => [STATE_FILE, STAGING].into_iter().find_map(|n| {
            let p = d.join(n);
            let what = kind(&p)?;
            Some(format!("{} is {what}", at(n)))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_is_never_read_or_written_through_a_link() {
        let t = tempfile::tempdir().expect("tempdir");
        let (root, elsewhere) = (t.path().join("root"), t.path().join("elsewhere"));
        std::fs::create_dir_all(&root).expect("mkdir");
        std::fs::create_dir_all(&elsewhere).expect("mkdir");
        let st = State::new("containerd", Path::new("/var/lib/containerd"));
        write(&root, &st).expect("write");
        assert_eq!(read(&root).expect("read"), Some(st.clone()));
        assert_eq!(state_dir_problem(&root), None);
        std::fs::remove_dir_all(dir(&root)).expect("rm");
        std::os::unix::fs::symlink(&elsewhere, dir(&root)).expect("link");
        assert!(write(&root, &st).is_err());
        assert!(read(&root).is_err());
        assert_eq!(std::fs::read_dir(&elsewhere).expect("ls").count(), 0);
        let why = state_dir_problem(&root).expect("a problem");
        assert!(why.contains("symbolic link to"), "{why}");
        // A linked state file inside a real directory.
        std::fs::remove_file(dir(&root)).expect("rm");
        std::fs::create_dir(dir(&root)).expect("mkdir");
        std::os::unix::fs::symlink(elsewhere.join("x"), dir(&root).join(STATE_FILE)).expect("link");
        assert!(read(&root).is_err());
        assert!(state_dir_problem(&root)
            .expect("a problem")
            .contains("state.json"));
    }
}
