//! Where a pre-warm got to, on the root disk (`<state dir>/<volume>.prewarm.json`),
//! so a reboot in the middle resumes: written at most every few seconds,
//! durably, and removed once the marker says it is done. It names the
//! filesystem and the device it is about; a record of another one is
//! ignored (the run starts over, which only costs reads).

use crate::sys::fsutil::{self, named};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// containerd's blobs, in order::blobs' order.
    Content,
    /// The whole device, from its start.
    Device,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub volume: String,
    pub uuid: String,
    pub device: Option<String>,
    pub phase: Phase,
    /// Content: blobs read, in order (a resumed run skips that many of the
    /// list it makes again; the device phase reads whatever that misses).
    /// Device: bytes read from its start.
    pub done: u64,
    /// Across resumed runs.
    pub bytes: u64,
    pub seconds: f64,
    pub started_at: u64,
    pub updated_at: u64,
}

impl Record {
    pub fn fresh(volume: &str, uuid: &str, device: Option<String>) -> Record {
        let now = crate::record::marker::now();
        Record {
            volume: volume.to_string(),
            uuid: uuid.to_string(),
            device,
            phase: Phase::Content,
            done: 0,
            bytes: 0,
            seconds: 0.0,
            started_at: now,
            updated_at: now,
        }
    }
}

pub fn path(dir: &Path, volume: &str) -> PathBuf {
    dir.join(format!("{volume}.prewarm.json"))
}

/// The record for this filesystem on this device; None when there is none
/// (or it is about another, or unreadable: starting over is harmless).
pub fn load(dir: &Path, volume: &str, uuid: &str, device: &Option<String>) -> Option<Record> {
    let b = fsutil::read_regular(&path(dir, volume)).ok()?;
    let r: Record = serde_json::from_slice(&b).ok()?;
    (r.uuid == uuid && &r.device == device && r.volume == volume).then_some(r)
}

pub fn store(dir: &Path, r: &Record) -> std::io::Result<()> {
    let p = path(dir, &r.volume);
    fsutil::create_dir_durable(dir, 0o755).map_err(|e| named(dir, e))?;
    let data = serde_json::to_vec_pretty(r).map_err(std::io::Error::other)?;
    fsutil::write_if_changed(&p, &data, 0o644)
        .map(|_| ())
        .map_err(|e| named(&p, e))
}

pub fn remove(dir: &Path, volume: &str) -> std::io::Result<()> {
    let p = path(dir, volume);
    match std::fs::remove_file(&p) {
        Ok(()) => fsutil::sync_dir(dir).map_err(|e| named(dir, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(named(&p, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_counts_only_for_its_filesystem_and_device() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dev = Some("serial:vol0abc".to_string());
        let mut r = Record::fresh("containerd", "u-1", dev.clone());
        r.phase = Phase::Device;
        r.done = 1 << 20;
        store(dir.path(), &r).expect("store");
        assert_eq!(load(dir.path(), "containerd", "u-1", &dev), Some(r));
        assert_eq!(load(dir.path(), "containerd", "u-2", &dev), None);
        let other = Some("serial:vol0def".to_string());
        assert_eq!(load(dir.path(), "containerd", "u-1", &other), None);
        remove(dir.path(), "containerd").expect("remove");
        remove(dir.path(), "containerd").expect("removing nothing is fine");
        assert_eq!(load(dir.path(), "containerd", "u-1", &dev), None);
    }
}
