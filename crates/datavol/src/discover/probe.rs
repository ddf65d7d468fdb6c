//! What is on a block device, with libblkid's own probe (`blkid -p`), and
//! formatting it when, and only when, it is blank. Both happen under an
//! exclusive flock on the whole disk, as systemd-makefs does, so udev and
//! other tools keep out of the way.

use crate::config::Filesystem;
use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Probe {
    /// No signature libblkid knows.
    Blank,
    /// A filesystem (or other superblock) on the whole device.
    Signature {
        fstype: String,
        uuid: Option<String>,
        label: Option<String>,
    },
    /// A partition table.
    PartitionTable { pttype: String },
    /// Several signatures that contradict each other.
    Ambiguous,
}

impl Probe {
    pub fn describe(&self) -> String {
        match self {
            Probe::Blank => "blank".into(),
            Probe::Signature { fstype, uuid, .. } => match uuid {
                Some(u) => format!("{fstype} (UUID {u})"),
                None => fstype.clone(),
            },
            Probe::PartitionTable { pttype } => format!("{pttype} partition table"),
            Probe::Ambiguous => "ambiguous signatures".into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("device {device}: running {tool}: {source}; hint: install util-linux, xfsprogs and e2fsprogs")]
    Spawn {
        device: PathBuf,
        tool: String,
        #[source]
        source: std::io::Error,
    },
    #[error("device {device}: {tool} failed ({status}): {stderr}")]
    Tool {
        device: PathBuf,
        tool: String,
        status: String,
        stderr: String,
    },
    #[error("device {device}: {op}: {source}")]
    Io {
        device: PathBuf,
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("device {device}: after mkfs.{expected} the probe found {found}; refusing to go on")]
    NotFormatted {
        device: PathBuf,
        expected: Filesystem,
        found: String,
    },
}

/// Exclusive flock on the whole disk behind `device`, held while it lives.
pub struct DiskLock {
    _file: File,
}

pub fn lock_whole_disk(device: &Path) -> Result<DiskLock, ProbeError> {
    let disk = crate::discover::device::whole_disk(device).map_err(|source| ProbeError::Io {
        device: device.to_path_buf(),
        op: "finding the whole disk",
        source,
    })?;
    let file = File::open(&disk).map_err(|source| ProbeError::Io {
        device: disk.clone(),
        op: "opening to lock",
        source,
    })?;
    // SAFETY: flock on an fd this function owns; waits while udev probes.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
    if rc != 0 {
        return Err(ProbeError::Io {
            device: disk,
            op: "flock",
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(DiskLock { _file: file })
}

/// Parses `blkid -p -o export` output plus its exit code.
pub fn parse_blkid(code: Option<i32>, stdout: &str) -> Option<Probe> {
    match code {
        Some(2) => return Some(Probe::Blank),
        Some(8) => return Some(Probe::Ambiguous),
        Some(0) => {}
        _ => return None,
    }
    let kv: BTreeMap<&str, &str> = stdout.lines().filter_map(|l| l.split_once('=')).collect();
    if let Some(pt) = kv.get("PTTYPE") {
        if kv.contains_key("TYPE") {
            return Some(Probe::Ambiguous);
        }
        return Some(Probe::PartitionTable {
            pttype: pt.to_string(),
        });
    }
    match kv.get("TYPE") {
        Some(t) => Some(Probe::Signature {
            fstype: t.to_string(),
            uuid: kv.get("UUID").map(|s| s.to_string()),
            label: kv.get("LABEL").map(|s| s.to_string()),
        }),
        // exit 0 with neither: libblkid saw something it cannot name.
        None => Some(Probe::Ambiguous),
    }
}

pub fn probe(device: &Path) -> Result<Probe, ProbeError> {
    let out = Command::new("blkid")
        .args(["-p", "-o", "export"])
        .arg(device)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| ProbeError::Spawn {
            device: device.to_path_buf(),
            tool: "blkid".into(),
            source,
        })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    parse_blkid(out.status.code(), &stdout).ok_or_else(|| ProbeError::Tool {
        device: device.to_path_buf(),
        tool: "blkid -p".into(),
        status: out.status.to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    })
}

/// Runs mkfs on a device the caller has just probed blank under `_lock`.
/// mkfs.xfs without -f and mkfs.ext4 without -F refuse an existing
/// signature themselves: a second safety net.
pub fn mkfs(
    _lock: &DiskLock,
    device: &Path,
    fs: Filesystem,
    label: &str,
) -> Result<String, ProbeError> {
    let (tool, args): (&str, Vec<&str>) = match fs {
        Filesystem::Xfs => ("mkfs.xfs", vec!["-q", "-L", label]),
        Filesystem::Ext4 => ("mkfs.ext4", vec!["-q", "-L", label]),
    };
    let out = Command::new(tool)
        .args(&args)
        .arg(device)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| ProbeError::Spawn {
            device: device.to_path_buf(),
            tool: tool.into(),
            source,
        })?;
    if !out.status.success() {
        return Err(ProbeError::Tool {
            device: device.to_path_buf(),
            tool: tool.into(),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    match probe(device)? {
        Probe::Signature {
            fstype,
            uuid: Some(uuid),
            ..
        } if fstype == fs.as_str() => Ok(uuid),
        other => Err(ProbeError::NotFormatted {
            device: device.to_path_buf(),
            expected: fs,
            found: other.describe(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_blkid_outcomes() {
        assert_eq!(parse_blkid(Some(2), ""), Some(Probe::Blank));
        assert_eq!(parse_blkid(Some(8), ""), Some(Probe::Ambiguous));
        assert_eq!(
            parse_blkid(
                Some(0),
                "DEVNAME=/dev/loop0\nUUID=ab-cd\nTYPE=xfs\nLABEL=dv-x\n"
            ),
            Some(Probe::Signature {
                fstype: "xfs".into(),
                uuid: Some("ab-cd".into()),
                label: Some("dv-x".into())
            })
        );
        assert_eq!(
            parse_blkid(Some(0), "PTUUID=1\nPTTYPE=gpt\n"),
            Some(Probe::PartitionTable {
                pttype: "gpt".into()
            })
        );
        assert_eq!(parse_blkid(Some(4), ""), None);
    }
}
