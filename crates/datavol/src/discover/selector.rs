//! Device selectors: how a volume names its disk. A path (including
//! /dev/disk/by-*), an EBS mapping name or volume id read from the NVMe
//! controller itself, a filesystem UUID or label, or the instance-store disks.

use crate::discover::nvme::{self, Controller};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(into = "String")]
pub enum Selector {
    Path(PathBuf),
    /// `ebs:xvdb`: the block-device-mapping name.
    Ebs(String),
    /// `ebs-volume:vol-0123…`.
    EbsVolume(String),
    Uuid(String),
    Label(String),
    /// `instance-store`: the local NVMe instance-store disks.
    InstanceStore,
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::Path(p) => write!(f, "{}", p.display()),
            Selector::Ebs(n) => write!(f, "ebs:{n}"),
            Selector::EbsVolume(v) => write!(f, "ebs-volume:{v}"),
            Selector::Uuid(u) => write!(f, "uuid:{u}"),
            Selector::Label(l) => write!(f, "label:{l}"),
            Selector::InstanceStore => f.write_str("instance-store"),
        }
    }
}

impl From<Selector> for String {
    fn from(s: Selector) -> String {
        s.to_string()
    }
}

fn plain(s: &str, extra: &[u8]) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
}

/// Parses one selector; the error says what a valid one looks like.
pub fn parse(s: &str) -> Result<Selector, String> {
    if s.chars().any(|c| c.is_control()) {
        return Err("device must contain no control characters".into());
    }
    if let Some(n) = s.strip_prefix("ebs:") {
        let n = n.strip_prefix("/dev/").unwrap_or(n);
        return if plain(n, b"") {
            Ok(Selector::Ebs(n.to_string()))
        } else {
            Err(format!(
                "{s:?}: an EBS name looks like ebs:xvdb or ebs:/dev/sdf"
            ))
        };
    }
    if let Some(v) = s.strip_prefix("ebs-volume:") {
        let v = v
            .strip_prefix("vol")
            .map(|r| r.trim_start_matches('-'))
            .unwrap_or("");
        return if plain(v, b"") {
            Ok(Selector::EbsVolume(format!("vol-{v}")))
        } else {
            Err(format!(
                "{s:?}: an EBS volume id looks like ebs-volume:vol-0123456789abcdef0"
            ))
        };
    }
    if let Some(u) = s.strip_prefix("uuid:") {
        return if plain(u, b"-") {
            Ok(Selector::Uuid(u.to_ascii_lowercase()))
        } else {
            Err(format!(
                "{s:?}: a UUID selector looks like uuid:0b1c2d3e-...."
            ))
        };
    }
    if let Some(l) = s.strip_prefix("label:") {
        return if plain(l, b"-_.") {
            Ok(Selector::Label(l.to_string()))
        } else {
            Err(format!("{s:?}: a label selector looks like label:data"))
        };
    }
    if s == "instance-store" {
        return Ok(Selector::InstanceStore);
    }
    let p = Path::new(s);
    if s.starts_with("/dev/")
        && !p.components().any(|c| {
            matches!(
                c,
                std::path::Component::ParentDir | std::path::Component::CurDir
            )
        })
    {
        return Ok(Selector::Path(p.to_path_buf()));
    }
    Err(format!(
        "{s:?} is not a device selector: use a path under /dev/ (e.g. /dev/xvdb, /dev/disk/by-id/...), ebs:xvdb, ebs-volume:vol-..., uuid:..., label:... or instance-store"
    ))
}

/// NVMe namespaces (whole disks) the kernel knows, as /dev paths.
fn nvme_namespaces() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir("/sys/block")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("nvme") && n.contains('n') && !n.contains('p'))
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

fn blkid_find(token: &str) -> Vec<PathBuf> {
    Command::new("blkid")
        .args(["-o", "device", "-t", token])
        .stdin(Stdio::null())
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(PathBuf::from)
                .collect()
        })
        .unwrap_or_default()
}

/// The block devices that match `sel` right now.
pub fn candidates(sel: &Selector) -> Vec<PathBuf> {
    match sel {
        Selector::Path(p) => {
            use std::os::unix::fs::FileTypeExt;
            match std::fs::metadata(p) {
                Ok(m) if m.file_type().is_block_device() => vec![p.clone()],
                _ => vec![],
            }
        }
        Selector::Uuid(u) => blkid_find(&format!("UUID={u}")),
        Selector::Label(l) => blkid_find(&format!("LABEL={l}")),
        Selector::Ebs(_) | Selector::EbsVolume(_) | Selector::InstanceStore => nvme_controllers()
            .into_iter()
            .filter(|(_, c)| matches_controller(sel, c))
            .map(|(d, _)| d)
            .collect(),
    }
}

pub fn matches_controller(sel: &Selector, c: &Controller) -> bool {
    match (sel, c) {
        (Selector::Ebs(n), Controller::Ebs { bdev: Some(b), .. }) => {
            // sdf and xvdf name the same mapping on Nitro.
            let norm = |s: &str| {
                s.trim_start_matches("xv")
                    .trim_start_matches('s')
                    .to_string()
            };
            b == n || norm(b) == norm(n)
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
