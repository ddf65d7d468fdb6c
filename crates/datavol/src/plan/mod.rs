//! Deciding what to do with one volume. `plan` prints these decisions;
//! `apply` carries them out. Both look the same way, so they agree.

use crate::config::Volume;
use crate::discover::device::{self, Device, DeviceError};
use crate::discover::probe::{self, Probe};
use crate::discover::raid;
use crate::discover::selector::NvmeMiss;
use crate::error::Failure;
use crate::record::marker::{self, Phase, State};
use crate::sys::mountinfo::{self, MountEntry};
use crate::sys::namespace::TempMount;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where datavol mounts a volume's filesystem for its own work.
pub const WORK_MOUNTS: &str = "/run/datavol/mnt";

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Mounted from the right device, unit in place.
    Nothing,
    /// datavol's committed filesystem (or an adopted one): write the unit, mount it.
    Mount { uuid: String },
    /// Blank device: format, copy the directory over, mount.
    FormatAndMigrate,
    /// Blank device and `migrate = false`: format and mount empty.
    FormatOnly,
    /// datavol's filesystem with an unfinished migration: finish or redo it.
    Resume { uuid: String, phase: Option<Phase> },
    /// The configured filesystem without datavol's marker, and adopt_existing.
    Adopt { uuid: String },
    /// datavol's RAID array is on the members but not running (plan only).
    Assemble,
}

impl Action {
    pub fn migrates(&self) -> bool {
        matches!(self, Action::FormatAndMigrate | Action::Resume { .. })
    }
    pub fn describe(&self) -> &'static str {
        match self {
            Action::Nothing => "nothing to do",
            Action::Mount { .. } => "mount",
            Action::FormatAndMigrate => "format, migrate, mount",
            Action::FormatOnly => "format, mount",
            Action::Resume { .. } => "resume migration, mount",
            Action::Adopt { .. } => "adopt existing filesystem, mount",
            Action::Assemble => "assemble datavol's RAID array, then decide",
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Decision {
    pub volume: String,
    pub device: Option<Device>,
    pub probe: Option<Probe>,
    pub mount_point: PathBuf,
    #[serde(flatten)]
    pub outcome: Outcome,
    pub reason: String,
    /// RAID members apply must first build an array from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raid_create: Option<Vec<Device>>,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Act(Action),
    Fail { failure: Failure },
}

impl Decision {
    pub fn failure(&self) -> Option<Failure> {
        match self.outcome {
            Outcome::Fail { failure } => Some(failure),
            Outcome::Act(_) => None,
        }
    }
}

/// How to look at a device: plan must not write; apply may replay a journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Plan,
    Apply,
}

pub fn work_mount_dir(vol: &Volume) -> PathBuf {
    Path::new(WORK_MOUNTS).join(&vol.name)
}

/// Inspection mount options that guarantee no write at all, for plan and status.
pub fn no_write_options(fstype: &str) -> &'static str {
    if fstype == "xfs" {
        "norecovery"
    } else {
        "noload"
    }
}

fn refuse(vol: &Volume, dev: Option<Device>, probe: Option<Probe>, reason: String) -> Decision {
    fail(vol, dev, probe, Failure::Refused, reason)
}

fn fail(
    vol: &Volume,
    dev: Option<Device>,
    probe: Option<Probe>,
    failure: Failure,
    reason: String,
) -> Decision {
    Decision {
        volume: vol.name.clone(),
        device: dev,
        probe,
        mount_point: vol.mount_point.clone(),
        outcome: Outcome::Fail { failure },
        reason,
        raid_create: None,
    }
}

fn act(vol: &Volume, dev: Device, probe: Option<Probe>, a: Action, reason: String) -> Decision {
    Decision {
        volume: vol.name.clone(),
        device: Some(dev),
        probe,
        mount_point: vol.mount_point.clone(),
        outcome: Outcome::Act(a),
        reason,
        raid_create: None,
    }
}

/// Entries a fresh mkfs leaves, plus our own state directory.
pub fn only_ours(root: &Path) -> std::io::Result<bool> {
    for e in std::fs::read_dir(root)? {
        let name = e?.file_name();
        if name != "lost+found" && name != marker::STATE_DIR {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Reads datavol's marker from a filesystem that is not mounted yet.
fn inspect(vol: &Volume, dev: &Device) -> Result<(Option<State>, bool), String> {
    let target = work_mount_dir(vol);
    let fstype = vol.filesystem.as_str();
    // Even a read-only mount writes to a fresh xfs; this one cannot. A dirty
    // log may hide recent changes here, so ownership also goes by the label.
    let m = TempMount::new(&dev.node, &target, fstype, true, no_write_options(fstype))
        .map_err(|e| e.to_string())?;
    let st = marker::read(&m.target).map_err(|e| e.to_string())?;
    let empty = only_ours(&m.target).map_err(|e| format!("{}: {e}", target.display()))?;
    m.unmount().map_err(|e| e.to_string())?;
    Ok((st, empty))
}

/// The array's device, or the decision when there is no running array yet.
fn raid_device(
    vol: &Volume,
    mode: Mode,
    timeout: Duration,
    mounts: &[MountEntry],
) -> Result<Result<Device, Box<Decision>>, DeviceError> {
    let members = raid::wait_members(vol, timeout)?;
    let list = members
        .iter()
        .map(|d| d.node.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let first = members.first().cloned();
    match raid::prepare(vol, &members, mounts, mode == Mode::Apply) {
        Ok(raid::Prepared::Ready(d)) => Ok(Ok(d)),
        Ok(raid::Prepared::Assemble(_)) => Ok(Err(Box::new(Decision {
            raid_create: None,
            ..act_opt(
                vol,
                first,
                Action::Assemble,
                format!("datavol's RAID0 array is on {list} but not running; apply assembles it"),
            )
        }))),
        Ok(raid::Prepared::Create(blank)) => {
            let (a, what) = if vol.migrate {
                (Action::FormatAndMigrate, "format it, migrate, mount")
            } else {
                (Action::FormatOnly, "format it, mount")
            };
            Ok(Err(Box::new(Decision {
                raid_create: Some(blank),
                ..act_opt(
                    vol,
                    first,
                    a,
                    format!(
                        "every member is blank ({list}): create RAID0 {}, {what}",
                        raid::md_path(vol).display()
                    ),
                )
            })))
        }
        Err(why) => Ok(Err(Box::new(refuse(vol, first, None, why)))),
    }
}

fn act_opt(vol: &Volume, dev: Option<Device>, a: Action, reason: String) -> Decision {
    Decision {
        volume: vol.name.clone(),
        device: dev,
        probe: None,
        mount_point: vol.mount_point.clone(),
        outcome: Outcome::Act(a),
        reason,
        raid_create: None,
    }
}

/// Why no device was found, in one log line: what the NVMe disks are when an
/// NVMe-identity selector missed, what that means for the volume's services,
/// and what to check. `secs` is the wait apply did (plan: would do).
fn timeout_reason(
    mode: Mode,
    device: &str,
    secs: u64,
    nvme: Option<&NvmeMiss>,
    required: bool,
) -> String {
    let seen = nvme.map(|m| format!("; {m}")).unwrap_or_default();
    match mode {
        Mode::Plan => {
            format!("device {device} is not present{seen}; apply would wait up to {secs}s for it")
        }
        Mode::Apply => format!(
            "device {device} did not appear within {secs}s{seen}; {}; hint: {}",
            if required {
                "the volume is required, so its services will not start"
            } else {
                "not required: its services run on the root disk's content"
            },
            nvme.map_or(
                "check the block device mapping, or raise device_timeout",
                NvmeMiss::hint
            )
        ),
    }
}

pub fn decide(vol: &Volume, mode: Mode, mounts: &[MountEntry]) -> Decision {
    let timeout = match mode {
        Mode::Plan => Duration::ZERO,
        Mode::Apply => vol.device_timeout,
    };
    let found = match vol.raid {
        Some(_) => raid_device(vol, mode, timeout, mounts),
        None => device::wait_for(&vol.device, timeout).map(Ok),
    };
    let dev = match found {
        Ok(Ok(d)) => d,
        Ok(Err(decision)) => return *decision,
        Err(DeviceError::Timeout { device, secs, nvme }) => {
            let secs = match mode {
                Mode::Plan => vol.device_timeout.as_secs(),
                Mode::Apply => secs,
            };
            let reason = timeout_reason(mode, &device, secs, nvme.as_ref(), vol.required);
            return fail(vol, None, None, Failure::DeviceTimeout, reason);
        }
        Err(e @ DeviceError::Several { .. }) => return refuse(vol, None, None, e.to_string()),
        Err(e) => return fail(vol, None, None, Failure::Failed, e.to_string()),
    };

    let probed = match probe::probe(&dev.node) {
        Ok(p) => p,
        Err(e) => return fail(vol, Some(dev), None, Failure::Failed, e.to_string()),
    };

    // A served directory that is already a mount point of something else.
    for d in &vol.directories {
        if let Some(m) = mountinfo::mounted_at(mounts, d) {
            if (m.major, m.minor) != (dev.major, dev.minor) {
                return refuse(
                    vol,
                    Some(dev),
                    Some(probed),
                    format!(
                        "{} is already mounted from {} ({}); datavol will not stack a mount on top; hint: unmount it or drop it from directories",
                        d.display(),
                        m.source,
                        m.fstype
                    ),
                );
            }
        }
    }

    if let Some(m) = mountinfo::mounted_at(mounts, &vol.mount_point) {
        if (m.major, m.minor) == (dev.major, dev.minor) {
            let uuid = match &probed {
                Probe::Signature {
                    uuid: Some(u),
                    fstype,
                    ..
                } if fstype == vol.filesystem.as_str() => u.clone(),
                other => {
                    return refuse(
                        vol,
                        Some(dev),
                        Some(probed.clone()),
                        format!(
                            "{} is mounted from the device, but the device probes as {}; hint: unmount it and check the device",
                            vol.mount_point.display(),
                            other.describe()
                        ),
                    )
                }
            };
            if !vol.directories.is_empty() {
                let st = marker::read(&vol.mount_point).ok().flatten();
                if !st.is_some_and(|s| s.dirs_committed(&vol.directories)) {
                    return act(
                        vol,
                        dev,
                        Some(probed),
                        Action::Resume { uuid, phase: None },
                        "the volume is mounted but not every directory has been migrated onto it yet; migrate the rest".into(),
                    );
                }
            }
            return act(
                vol,
                dev,
                Some(probed),
                Action::Mount { uuid },
                "already mounted from the device; the unit and the ready flag are kept current"
                    .into(),
            );
        }
        return refuse(
            vol,
            Some(dev),
            Some(probed),
            format!(
                "{} is already mounted from {} ({}); datavol will not stack a mount on top; hint: unmount it or change mount_point",
                vol.mount_point.display(),
                m.source,
                m.fstype
            ),
        );
    }

    if let Some(why) = device::in_use(&dev, mounts, &[]) {
        return refuse(
            vol,
            Some(dev.clone()),
            Some(probed),
            format!(
                "device {} is in use: {why}; datavol only formats or mounts a disk nothing else uses",
                dev.node.display()
            ),
        );
    }

    let fs = vol.filesystem.as_str();
    match &probed {
        Probe::Blank => {
            let (a, why) = if vol.migrate {
                (
                    Action::FormatAndMigrate,
                    format!(
                        "device is blank: format it {fs}, copy {} onto it, mount it",
                        vol.mount_point.display()
                    ),
                )
            } else {
                (
                    Action::FormatOnly,
                    format!("device is blank and migrate = false: format it {fs} and mount it empty"),
                )
            };
            act(vol, dev, Some(probed), a, why)
        }
        Probe::Ambiguous => refuse(
            vol,
            Some(dev),
            Some(probed),
            "libblkid finds several contradicting signatures; hint: inspect with `wipefs` and clear it by hand if the data is disposable".into(),
        ),
        Probe::PartitionTable { pttype } => refuse(
            vol,
            Some(dev),
            Some(probed.clone()),
            format!("device holds a {pttype} partition table; datavol never overwrites a signature it did not write; hint: point device at a blank disk, or `wipefs -a` it if its data is disposable"),
        ),
        Probe::Signature { fstype, uuid, label } if fstype == fs => {
            let uuid = uuid.clone().unwrap_or_default();
            let (st, empty) = match inspect(vol, &dev) {
                Ok(x) => x,
                Err(e) => {
                    return fail(
                        vol,
                        Some(dev),
                        Some(probed),
                        Failure::Failed,
                        format!("cannot look inside the {fs} filesystem: {e}"),
                    )
                }
            };
            match st {
                Some(s) if s.volume != vol.name => refuse(
                    vol,
                    Some(dev),
                    Some(probed),
                    format!("the filesystem belongs to datavol volume {:?}, not {:?}; hint: fix the device of one of them", s.volume, vol.name),
                ),
                Some(s)
                    if s.phase == Phase::Committed
                        && (vol.directories.is_empty() || s.dirs_committed(&vol.directories)) =>
                {
                    act(
                    vol,
                    dev,
                    Some(probed),
                    Action::Mount { uuid },
                    format!("datavol's own {fs}, migration committed; mount it without copying"),
                )
                }
                Some(s) => act(
                    vol,
                    dev,
                    Some(probed),
                    Action::Resume {
                        uuid,
                        phase: Some(s.phase),
                    },
                    format!("datavol's own {fs}, migration interrupted while {:?}; finish it", s.phase),
                ),
                None if label.as_deref() == Some(vol.label.as_str()) => act(
                    vol,
                    dev,
                    Some(probed),
                    Action::Resume { uuid, phase: None },
                    format!(
                        "{} {fs} with datavol's label {:?} and no marker yet: formatted by an interrupted run; migrate onto it",
                        if empty { "empty" } else { "non-empty" },
                        vol.label
                    ),
                ),
                None if vol.adopt_existing => act(
                    vol,
                    dev,
                    Some(probed),
                    Action::Adopt { uuid },
                    format!("{fs} without datavol's marker and adopt_existing = true: mount it as it is"),
                ),
                None => refuse(
                    vol,
                    Some(dev),
                    Some(probed),
                    format!("device holds a {fs} filesystem datavol did not make (no marker); hint: set adopt_existing = true to mount it as it is (an image-cache snapshot), or point device at a blank disk"),
                ),
            }
        }
        Probe::Signature { fstype, .. } => refuse(
            vol,
            Some(dev),
            Some(probed.clone()),
            format!("device holds a foreign signature ({fstype}); datavol never overwrites a signature it did not write; hint: point device at a blank disk, or `wipefs -a` it if its data is disposable"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discover::nvme::Controller;
    use crate::discover::selector::Selector;

    fn qemu() -> Result<Controller, String> {
        Ok(Controller::Other {
            vendor_id: 0x1b36,
            model: "QEMU NVMe Ctrl".into(),
            serial: "nvme0".into(),
        })
    }

    #[test]
    fn instance_store_timeout_says_what_was_seen() {
        let miss = NvmeMiss::new(
            &[Selector::InstanceStore],
            vec![(PathBuf::from("/dev/nvme0n1"), qemu())],
        );
        assert_eq!(
            timeout_reason(Mode::Apply, "instance-store", 3, miss.as_ref(), false),
            "device instance-store did not appear within 3s; no NVMe disk matched instance-store; \
             seen: /dev/nvme0n1 (not EBS, not instance store: vendor 0x1b36, model \"QEMU NVMe Ctrl\"); \
             not required: its services run on the root disk's content; \
             hint: is this an instance type with instance store? see `datavol identify`"
        );
    }

    #[test]
    fn ebs_timeout_lists_every_nvme_disk() {
        let seen = vec![
            (
                PathBuf::from("/dev/nvme0n1"),
                Ok(Controller::Ebs {
                    volume_id: "vol-0abc".into(),
                    bdev: Some("xvda".into()),
                }),
            ),
            (
                PathBuf::from("/dev/nvme1n1"),
                Ok(Controller::InstanceStore {
                    serial: "AWS1234".into(),
                }),
            ),
            (PathBuf::from("/dev/nvme2n1"), qemu()),
            (
                PathBuf::from("/dev/nvme3n1"),
                Err("Permission denied (os error 13)".into()),
            ),
        ];
        let sel = [Selector::Ebs("xvdq".into())];
        let miss = NvmeMiss::new(&sel, seen);
        assert_eq!(
            timeout_reason(Mode::Apply, "ebs:xvdq", 90, miss.as_ref(), true),
            "device ebs:xvdq did not appear within 90s; no NVMe disk matched ebs:xvdq; \
             seen: /dev/nvme0n1 (EBS vol-0abc as xvda), /dev/nvme1n1 (instance store, serial \"AWS1234\"), \
             /dev/nvme2n1 (not EBS, not instance store: vendor 0x1b36, model \"QEMU NVMe Ctrl\"), \
             /dev/nvme3n1 (Identify failed: Permission denied (os error 13)); \
             the volume is required, so its services will not start; \
             hint: check the block device mapping (`datavol identify` shows what each NVMe disk is), or raise device_timeout"
        );
    }

    #[test]
    fn timeout_without_nvme_disks_says_so() {
        let miss = NvmeMiss::new(&[Selector::EbsVolume("vol-0abc".into())], vec![]);
        assert_eq!(
            timeout_reason(Mode::Plan, "ebs-volume:vol-0abc", 90, miss.as_ref(), false),
            "device ebs-volume:vol-0abc is not present; no NVMe disk matched ebs-volume:vol-0abc; \
             no NVMe disks at all; apply would wait up to 90s for it"
        );
    }

    #[test]
    fn path_selectors_and_matched_ones_add_nothing() {
        let seen = vec![(
            PathBuf::from("/dev/nvme1n1"),
            Ok(Controller::InstanceStore {
                serial: "AWS1".into(),
            }),
        )];
        let sel = [Selector::Path("/dev/xvdb".into()), Selector::InstanceStore];
        assert_eq!(NvmeMiss::new(&sel, seen.clone()), None);
        assert_eq!(NvmeMiss::new(&sel[..1], seen), None);
        assert_eq!(
            timeout_reason(Mode::Apply, "/dev/xvdb", 2, None, false),
            "device /dev/xvdb did not appear within 2s; \
             not required: its services run on the root disk's content; \
             hint: check the block device mapping, or raise device_timeout"
        );
    }
}
