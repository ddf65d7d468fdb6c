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
    let r = read(dir, volume).ok()??;
    (r.uuid == uuid && &r.device == device && r.volume == volume).then_some(r)
}

/// The record as stored, unchecked; Err says why it could not be read.
pub fn read(dir: &Path, volume: &str) -> Result<Option<Record>, String> {
    let b = match fsutil::read_regular(&path(dir, volume)) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("it cannot be read: {e}")),
    };
    serde_json::from_slice(&b)
        .map(Some)
        .map_err(|e| format!("it is not a pre-warm record: {e}"))
}

/// What a record must match to be resumed.
pub struct Want<'a> {
    pub volume: &'a str,
    pub uuid: &'a str,
    pub device: &'a Option<String>,
    /// The device's size in bytes.
    pub size: u64,
    /// Every read offset must be a multiple of this (O_DIRECT: the
    /// engine's alignment and the device's logical block size).
    pub align: u64,
}

/// Why a stored record must not be resumed, if it must not: an offset
/// O_DIRECT refuses fails every run, one past the device reads nothing
/// and calls the device warm.
pub fn invalid(r: &Record, w: &Want) -> Option<String> {
    if r.volume != w.volume {
        return Some(format!("it is about volume {:?}", r.volume));
    }
    if r.uuid != w.uuid {
        return Some(format!("it is about filesystem {}, not {}", r.uuid, w.uuid));
    }
    if &r.device != w.device {
        let d = |d: &Option<String>| d.clone().unwrap_or_else(|| "an unknown device".into());
        return Some(format!("it is about {}, not {}", d(&r.device), d(w.device)));
    }
    if !r.seconds.is_finite() || r.seconds < 0.0 {
        return Some(format!("its seconds ({}) are not a duration", r.seconds));
    }
    if r.phase == Phase::Device {
        if r.done > w.size {
            return Some(format!(
                "its offset {} is past the device's end ({} bytes)",
                r.done, w.size
            ));
        }
        if r.done != w.size && r.done % w.align.max(1) != 0 {
            return Some(format!(
                "its offset {} is not a multiple of {} bytes",
                r.done, w.align
            ));
        }
    }
    None
}

/// Why a content-phase record must not be resumed with `blobs` blobs to
/// read: it cannot have read more than there are.
pub fn invalid_blobs(r: &Record, blobs: usize) -> Option<String> {
    (r.phase == Phase::Content && r.done > blobs as u64)
        .then(|| format!("it counts {} blobs read of {blobs}", r.done))
}

/// The device's logical block size from sysfs; 512 when sysfs does not
/// say (the engine's own alignment covers it then).
pub fn logical_block_size(major: u32, minor: u32) -> u64 {
    std::fs::read_to_string(format!(
        "/sys/dev/block/{major}:{minor}/queue/logical_block_size"
    ))
    .ok()
    .and_then(|s| s.trim().parse().ok())
    .unwrap_or(512)
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

    fn want(dev: &Option<String>) -> Want<'_> {
        Want {
            volume: "containerd",
            uuid: "u-1",
            device: dev,
            size: 1 << 30,
            align: 4096,
        }
    }

    fn at(phase: Phase, done: u64) -> Record {
        let mut r = Record::fresh("containerd", "u-1", Some("serial:a".into()));
        r.phase = phase;
        r.done = done;
        r
    }

    #[test]
    fn a_record_resumes_only_at_an_aligned_offset_within_the_device() {
        let dev = Some("serial:a".to_string());
        let w = want(&dev);
        assert_eq!(invalid(&at(Phase::Device, 0), &w), None);
        assert_eq!(invalid(&at(Phase::Device, 512 << 10), &w), None);
        assert_eq!(invalid(&at(Phase::Device, 1 << 30), &w), None, "all read");
        let why = invalid(&at(Phase::Device, (512 << 10) + 100), &w).expect("unaligned");
        assert!(why.contains("not a multiple of 4096"), "{why}");
        let why = invalid(&at(Phase::Device, (1 << 30) + 4096), &w).expect("past");
        assert!(why.contains("past the device's end"), "{why}");
        // A content-phase count is of blobs, not bytes.
        assert_eq!(invalid(&at(Phase::Content, 7), &w), None);
    }

    #[test]
    fn a_record_of_another_filesystem_device_or_volume_is_not_resumed() {
        let dev = Some("serial:a".to_string());
        let mut r = at(Phase::Device, 0);
        r.uuid = "u-2".into();
        assert!(invalid(&r, &want(&dev))
            .expect("uuid")
            .contains("filesystem u-2"));
        let other = Some("serial:b".to_string());
        let why = invalid(&at(Phase::Device, 0), &want(&other)).expect("device");
        assert!(why.contains("serial:a, not serial:b"), "{why}");
        let mut r = at(Phase::Device, 0);
        r.volume = "other".into();
        assert!(invalid(&r, &want(&dev)).is_some());
        let mut r = at(Phase::Device, 0);
        r.seconds = f64::NAN;
        assert!(invalid(&r, &want(&dev)).is_some());
    }

    #[test]
    fn a_content_record_counts_no_more_blobs_than_there_are() {
        assert_eq!(invalid_blobs(&at(Phase::Content, 3), 3), None);
        let why = invalid_blobs(&at(Phase::Content, 4), 3).expect("too many");
        assert!(why.contains("4 blobs read of 3"), "{why}");
        assert_eq!(invalid_blobs(&at(Phase::Device, 1 << 20), 3), None);
    }
}
