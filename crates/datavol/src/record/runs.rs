//! The last run of each verb, on the root disk: `<state-dir>/runs/<verb>.json`
//! with when it finished, how it exited and what it found (apply: each
//! volume's outcome; check-images: each image's, with how often it had to
//! be restored). status shows them; the metrics file is rendered from them,
//! so every verb can write the whole file, not only its own part.

use crate::record::history::{read_json, write_json, HistoryError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Below the state dir; volume records are `<volume>.json` beside it, and
/// a directory cannot clash with them.
pub const RUNS_DIR: &str = "runs";

/// The verbs that keep a record.
pub const APPLY: &str = "apply";
pub const CHECK_IMAGES: &str = "check-images";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LastRun {
    pub verb: String,
    /// Epoch seconds.
    pub finished_at: u64,
    pub exit_code: u8,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<VolumeOutcome>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<ImageOutcome>,
}

impl LastRun {
    /// A run of `verb` that ends now with `exit_code`.
    pub fn now(verb: &str, exit_code: u8) -> LastRun {
        LastRun {
            verb: verb.to_string(),
            finished_at: crate::record::marker::now(),
            exit_code,
            ..Default::default()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VolumeState {
    Ready,
    Refused,
    Timeout,
    Failed,
}

impl VolumeState {
    pub fn as_str(self) -> &'static str {
        match self {
            VolumeState::Ready => "ready",
            VolumeState::Refused => "refused",
            VolumeState::Timeout => "timeout",
            VolumeState::Failed => "failed",
        }
    }

    pub fn of_failure(f: crate::error::Failure) -> VolumeState {
        use crate::error::Failure;
        match f {
            Failure::Refused => VolumeState::Refused,
            Failure::DeviceTimeout => VolumeState::Timeout,
            Failure::Config | Failure::Failed => VolumeState::Failed,
        }
    }
}

/// One volume at the end of an apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VolumeOutcome {
    pub volume: String,
    pub state: VolumeState,
    /// The device mounted when ready; the selectors as configured otherwise.
    pub device: String,
    pub filesystem: String,
    pub mount_point: PathBuf,
    /// Directories served from it by bind mounts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub directories: Vec<PathBuf>,
    /// `required` as configured. None in a record written before it was
    /// kept: read as required (see [`VolumeOutcome::was_required`]).
    #[serde(default)]
    pub required: Option<bool>,
    /// What the volume's marker says its migration copied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migration: Option<Migration>,
}

impl VolumeOutcome {
    /// Whether the gate must insist on this volume when the config cannot
    /// be read. A record from before `required` was kept counts as
    /// required: the gate then only lets services start when the volume is
    /// mounted as recorded, which a healthy node's is, so guessing "not
    /// required" would be the one reading that can put data on the root disk.
    pub fn was_required(&self) -> bool {
        self.required.unwrap_or(true)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Migration {
    pub bytes: u64,
    pub seconds: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageState {
    /// Present, complete and pinned: nothing done.
    Present,
    /// Imported from the archive (and pinned) by this run.
    Restored,
    /// Present but unpinned; pinned by this run.
    Repinned,
    /// Not usable, and could not be restored.
    Missing,
}

impl ImageState {
    pub fn as_str(self) -> &'static str {
        match self {
            ImageState::Present => "present",
            ImageState::Restored => "restored",
            ImageState::Repinned => "repinned",
            ImageState::Missing => "missing",
        }
    }
}

/// One sandbox image at the end of a check, with counts over all checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageOutcome {
    pub image: String,
    pub state: ImageState,
    #[serde(default)]
    pub restored_total: u64,
    #[serde(default)]
    pub repinned_total: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_restored_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn path(dir: &Path, verb: &str) -> PathBuf {
    dir.join(RUNS_DIR).join(format!("{verb}.json"))
}

/// The last run of `verb`, if it left a record.
pub fn load(dir: &Path, verb: &str) -> Result<Option<LastRun>, HistoryError> {
    read_json(path(dir, verb))
}

/// Every verb's last run, in verb order; unreadable records are skipped
/// (they describe the past; the next run of that verb replaces them).
pub fn load_all(dir: &Path) -> Vec<LastRun> {
    let Ok(entries) = std::fs::read_dir(dir.join(RUNS_DIR)) else {
        return Vec::new();
    };
    let mut runs: Vec<LastRun> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let verb = name.strip_suffix(".json")?.to_string();
            load(dir, &verb).ok().flatten()
        })
        .collect();
    runs.sort_by(|a, b| a.verb.cmp(&b.verb));
    runs
}

pub fn store(dir: &Path, run: &LastRun) -> Result<(), HistoryError> {
    write_json(&dir.join(RUNS_DIR), &path(dir, &run.verb), run)
}

/// Taken while a run stores its record and renders the metrics file from
/// all of them, so that a slower run never writes an older picture over a
/// newer one. Not the run lock: check-images runs while containerd starts,
/// and an `apply --stop-services` may hold that one and wait for containerd.
pub const RECORDS_LOCK: &str = "/run/datavol/records.lock";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_without_required_reads_as_required() {
        let old = r#"{"volume":"c","state":"ready","device":"/dev/xvdb","filesystem":"xfs","mount_point":"/var/lib/containerd"}"#;
        let o: VolumeOutcome = serde_json::from_str(old).unwrap();
        assert_eq!((o.required, o.was_required()), (None, true));
        assert!(o.directories.is_empty());
        let new = old.replace('}', r#","required":false}"#);
        let o: VolumeOutcome = serde_json::from_str(&new).unwrap();
        assert!(!o.was_required());
    }

    #[test]
    fn stores_and_lists_runs() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path(), "apply").unwrap(), None);
        let mut a = LastRun::now("check-images", 1);
        a.images.push(ImageOutcome {
            image: "localhost/kubernetes/pause:latest".into(),
            state: ImageState::Restored,
            restored_total: 2,
            repinned_total: 0,
            last_restored_at: Some(5),
            error: None,
        });
        let b = LastRun::now("apply", 0);
        store(dir.path(), &a).unwrap();
        store(dir.path(), &b).unwrap();
        // A volume may be called "runs": its record is a file, ours a directory.
        std::fs::write(dir.path().join("runs.json"), "{}").unwrap();
        assert_eq!(load(dir.path(), "check-images").unwrap(), Some(a.clone()));
        assert_eq!(load_all(dir.path()), vec![b, a]);
    }
}
