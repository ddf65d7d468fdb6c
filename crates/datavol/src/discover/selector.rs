//! Matching device selectors against the disks present: a path (including
//! /dev/disk/by-*), an EBS mapping name or volume id read from the NVMe
//! controller itself, a filesystem UUID or label, or the instance-store disks.
//! The selector type and its syntax live in config::selector.

use crate::config::selector::ebs_mapping_key;
pub use crate::config::selector::{parse, ParseError, Selector};
use crate::discover::nvme::{self, Controller};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Why the disks a selector names could not be looked for.
#[derive(Debug, thiserror::Error)]
pub enum SelectorError {
    #[error("cannot run blkid to find {token}: {source}; hint: install util-linux (blkid), which uuid: and label: selectors need")]
    BlkidMissing {
        token: String,
        #[source]
        source: std::io::Error,
    },
    #[error("blkid -t {token} failed ({status}): {stderr}; hint: run it by hand to see why")]
    BlkidFailed {
        token: String,
        status: std::process::ExitStatus,
        stderr: String,
    },
}

/// `nvme<ctrl>n<ns>` exactly: a whole namespace, not a partition
/// (`nvme0n1p1`) nor a multipath controller path (`nvme0c0n1`).
fn is_nvme_namespace(name: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    name.strip_prefix("nvme")
        .and_then(|rest| rest.split_once('n'))
        .is_some_and(|(ctrl, ns)| digits(ctrl) && digits(ns))
}

/// NVMe namespaces (whole disks) the kernel knows, as /dev paths. None in a
/// re-rooted run (the tests use loop devices): Identify is never sent to the
/// machine's own disks.
fn nvme_namespaces() -> Vec<PathBuf> {
    if crate::record::instance::rerooted() {
        return Vec::new();
    }
    let mut v: Vec<PathBuf> = std::fs::read_dir("/sys/block")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| is_nvme_namespace(n))
        .map(|n| Path::new("/dev").join(n))
        .collect();
    v.sort();
    v
}

/// What each NVMe namespace present says it is, or why it could not be asked.
fn identify_all() -> Vec<(PathBuf, Result<Controller, String>)> {
    nvme_namespaces()
        .into_iter()
        .map(|dev| {
            let c = match nvme::identify(&dev) {
                Ok(data) => nvme::parse_identify(&data).ok_or_else(|| "short Identify data".into()),
                Err(e) => Err(e.to_string()),
            };
            (dev, c)
        })
        .collect()
}

/// Identify data of every NVMe namespace present; unreadable ones are skipped
/// with a debug line (they are not what a selector asks for).
pub fn nvme_controllers() -> Vec<(PathBuf, Controller)> {
    identify_all()
        .into_iter()
        .filter_map(|(dev, c)| match c {
            Ok(c) => Some((dev, c)),
            Err(e) => {
                log::debug!("NVMe identify {}: {e}", dev.display());
                None
            }
        })
        .collect()
}

impl Selector {
    /// Matched by what an NVMe controller says it is, not by a name in /dev.
    pub fn reads_nvme_identity(&self) -> bool {
        matches!(
            self,
            Selector::Ebs(_) | Selector::EbsVolume(_) | Selector::InstanceStore
        )
    }
}

/// NVMe-identity selectors that matched no disk, and what each NVMe disk
/// said it is: a node nobody can log into must say what it saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NvmeMiss {
    pub unmatched: Vec<Selector>,
    /// Each NVMe namespace, with its controller or why Identify failed.
    pub seen: Vec<(PathBuf, Result<Controller, String>)>,
}

impl NvmeMiss {
    /// The miss among `selectors`, given what was `seen`; None when every
    /// NVMe-identity selector matched (or there is none).
    pub fn new(
        selectors: &[Selector],
        seen: Vec<(PathBuf, Result<Controller, String>)>,
    ) -> Option<NvmeMiss> {
        let unmatched: Vec<Selector> = selectors
            .iter()
            .filter(|s| s.reads_nvme_identity())
            .filter(|s| {
                !seen
                    .iter()
                    .any(|(_, c)| c.as_ref().is_ok_and(|c| matches_controller(s, c)))
            })
            .cloned()
            .collect();
        (!unmatched.is_empty()).then_some(NvmeMiss { unmatched, seen })
    }

    /// Looks at the NVMe disks now, only if a selector reads NVMe identity.
    pub fn now(selectors: &[Selector]) -> Option<NvmeMiss> {
        if !selectors.iter().any(Selector::reads_nvme_identity) {
            return None;
        }
        NvmeMiss::new(selectors, identify_all())
    }

    /// What to check next.
    pub fn hint(&self) -> &'static str {
        if self.unmatched == [Selector::InstanceStore] {
            "is this an instance type with instance store? see `datavol identify`"
        } else {
            "check the block device mapping (`datavol identify` shows what each NVMe disk is), or raise device_timeout"
        }
    }
}

/// One disk in a timeout message, e.g. "EBS vol-0abc as xvda".
fn seen_as(c: &Result<Controller, String>) -> String {
    match c {
        Ok(Controller::Ebs {
            volume_id,
            bdev: Some(b),
        }) => format!("EBS {volume_id} as {b}"),
        Ok(Controller::Ebs {
            volume_id,
            bdev: None,
        }) => format!("EBS {volume_id}, no mapping name"),
        Ok(Controller::InstanceStore { serial }) => format!("instance store, serial {serial:?}"),
        Ok(Controller::Other {
            vendor_id, model, ..
        }) => format!("not EBS, not instance store: vendor {vendor_id:#06x}, model {model:?}"),
        Err(e) => format!("Identify failed: {e}"),
    }
}

impl fmt::Display for NvmeMiss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let wanted = self
            .unmatched
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(" or ");
        if self.seen.is_empty() {
            return write!(f, "no NVMe disk matched {wanted}; no NVMe disks at all");
        }
        let seen = self
            .seen
            .iter()
            .map(|(d, c)| format!("{} ({})", d.display(), seen_as(c)))
            .collect::<Vec<_>>()
            .join(", ");
        write!(f, "no NVMe disk matched {wanted}; seen: {seen}")
    }
}

/// Devices holding a filesystem with `token` (UUID=… or LABEL=…). blkid
/// exits 2 when none does; anything else failing must not look like "none",
/// or the boot would wait the whole device_timeout for nothing.
fn blkid_find(token: &str) -> Result<Vec<PathBuf>, SelectorError> {
    blkid_find_with("blkid", token)
}

fn blkid_find_with(blkid: &str, token: &str) -> Result<Vec<PathBuf>, SelectorError> {
    let out = Command::new(blkid)
        .args(["-o", "device", "-t", token])
        .stdin(Stdio::null())
        .output()
        .map_err(|source| SelectorError::BlkidMissing {
            token: token.to_string(),
            source,
        })?;
    match out.status.code() {
        Some(0) => Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(PathBuf::from)
            .collect()),
        Some(2) => Ok(Vec::new()),
        _ => Err(SelectorError::BlkidFailed {
            token: token.to_string(),
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        }),
    }
}

/// The block devices that match `sel` right now.
pub fn candidates(sel: &Selector) -> Result<Vec<PathBuf>, SelectorError> {
    Ok(match sel {
        Selector::Path(p) => {
            use std::os::unix::fs::FileTypeExt;
            match std::fs::metadata(p) {
                Ok(m) if m.file_type().is_block_device() => vec![p.clone()],
                _ => vec![],
            }
        }
        Selector::Uuid(u) => blkid_find(&format!("UUID={u}"))?,
        Selector::Label(l) => blkid_find(&format!("LABEL={l}"))?,
        Selector::Ebs(_) | Selector::EbsVolume(_) | Selector::InstanceStore => nvme_controllers()
            .into_iter()
            .filter(|(_, c)| matches_controller(sel, c))
            .map(|(d, _)| d)
            .collect(),
    })
}

pub fn matches_controller(sel: &Selector, c: &Controller) -> bool {
    match (sel, c) {
        (Selector::Ebs(n), Controller::Ebs { bdev: Some(b), .. }) => {
            b == n || ebs_mapping_key(b) == ebs_mapping_key(n)
        }
        (Selector::EbsVolume(v), Controller::Ebs { volume_id, .. }) => volume_id == v,
        (Selector::InstanceStore, Controller::InstanceStore { .. }) => true,
        _ => false,
    }
}

/// The whole-disk block device names, for `datavol identify` and diagnostics.
pub fn all_nvme() -> Vec<PathBuf> {
    nvme_namespaces()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nvme_namespace_names() {
        for yes in ["nvme0n1", "nvme12n3", "nvme1n10"] {
            assert!(is_nvme_namespace(yes), "{yes}");
        }
        for no in [
            "nvme0c0n1",
            "nvme0n1p1",
            "nvme0",
            "nvme0n",
            "nvmen1",
            "nvme-fabrics",
            "sda",
        ] {
            assert!(!is_nvme_namespace(no), "{no}");
        }
    }

    #[test]
    fn missing_blkid_is_an_error_not_no_match() {
        let e = blkid_find_with("/nonexistent/blkid", "UUID=0b1c").unwrap_err();
        assert!(matches!(e, SelectorError::BlkidMissing { .. }), "{e}");
        assert!(e.to_string().contains("hint: install util-linux"), "{e}");
        // `false` exits 1: a failure, not "nothing matched".
        let e = blkid_find_with("false", "UUID=0b1c").unwrap_err();
        assert!(matches!(e, SelectorError::BlkidFailed { .. }), "{e}");
    }
}
