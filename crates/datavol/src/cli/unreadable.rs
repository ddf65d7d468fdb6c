//! `gate` and `check-images` when the config cannot be read. A config
//! error blocks containerd only when a required volume is affected; with
//! no config to say which volumes are required, the last apply's record
//! (`<state-dir>/runs/apply.json`, written only from a config that was
//! read) says it, and each volume recorded as required must be mounted as
//! recorded. `apply` still refuses to act on a config it cannot read.

use crate::config::{ConfigError, Volume};
use crate::error::Failure;
use crate::record::runs::{self, VolumeOutcome, VolumeState};
use crate::sys::mountinfo::{self, MountEntry};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const HINT: &str = "hint: fix the config (`datavol validate` shows what is wrong), then `systemctl restart datavol containerd`";

/// What the records say about letting the services start.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No volume is recorded as required.
    NothingRequired,
    /// Every volume recorded as required is mounted as recorded.
    Mounted(Vec<String>),
    /// These, recorded as required, are not mounted as recorded.
    NotMounted(Vec<String>),
}

/// Whether `o` is mounted as the apply that wrote it left it: its
/// filesystem at the mount point from the recorded device (`dev`, that
/// device's major:minor when it still exists), each directory bound from
/// its own subdirectory. A volume that was not ready has no device to check.
pub fn mounted_as_recorded(
    o: &VolumeOutcome,
    dev: Option<(u32, u32)>,
    mounts: &[MountEntry],
) -> bool {
    if o.state != VolumeState::Ready {
        return false;
    }
    let Some(top) = mountinfo::mounted_at(mounts, &o.mount_point) else {
        return false;
    };
    let majmin = (top.major, top.minor);
    let same_dev = dev.map_or(top.source == o.device, |d| d == majmin);
    let binds = o.directories.iter().all(|d| {
        let root = Path::new("/").join(Volume::dir_subpath(d));
        mountinfo::mounted_at(mounts, d)
            .is_some_and(|m| (m.major, m.minor) == majmin && m.root == root)
    });
    same_dev && top.root == Path::new("/") && binds
}

/// The verdict for the volumes of the last apply's record.
pub fn decide(
    recorded: &[VolumeOutcome],
    dev_of: impl Fn(&str) -> Option<(u32, u32)>,
    mounts: &[MountEntry],
) -> Verdict {
    let required: Vec<&VolumeOutcome> = recorded.iter().filter(|o| o.was_required()).collect();
    if required.is_empty() {
        return Verdict::NothingRequired;
    }
    let (good, bad): (Vec<&VolumeOutcome>, Vec<&VolumeOutcome>) = required
        .into_iter()
        .partition(|o| mounted_as_recorded(o, dev_of(&o.device), mounts));
    let names = |v: Vec<&VolumeOutcome>| v.into_iter().map(describe).collect();
    if bad.is_empty() {
        Verdict::Mounted(names(good))
    } else {
        Verdict::NotMounted(names(bad))
    }
}

fn describe(o: &VolumeOutcome) -> String {
    let mut at: Vec<PathBuf> = vec![o.mount_point.clone()];
    at.extend(o.directories.iter().cloned());
    let at: Vec<String> = at.iter().map(|p| p.display().to_string()).collect();
    format!("{} (on {} from {})", o.volume, at.join(", "), o.device)
}

/// The major:minor of the block device at `path`.
fn dev_of(path: &str) -> Option<(u32, u32)> {
    let md = std::fs::metadata(path).ok()?;
    md.file_type().is_block_device().then(|| {
        let r = md.rdev();
        (
            nix::sys::stat::major(r) as u32,
            nix::sys::stat::minor(r) as u32,
        )
    })
}

/// Whether the services must be kept from starting; says why either way.
fn blocks(state_dir: &Path, err: &ConfigError, what: &str) -> bool {
    log::error!(message_id = crate::catalog::CONFIG; "config error: {err}");
    let record = state_dir
        .join(runs::RUNS_DIR)
        .join(format!("{}.json", runs::APPLY));
    let last = match runs::load(state_dir, runs::APPLY) {
        Ok(r) => r,
        Err(e) => {
            log::error!("the config cannot be read and neither can the record of the last apply ({e}), so which volumes are required is unknown; refusing {what}; {HINT}");
            return true;
        }
    };
    let mounts = match mountinfo::read() {
        Ok(m) => m,
        Err(e) => {
            log::error!("the config cannot be read, and the mount table cannot be read ({e}); refusing {what}; {HINT}");
            return true;
        }
    };
    let recorded = last.map(|r| r.volumes).unwrap_or_default();
    match decide(&recorded, dev_of, &mounts) {
        Verdict::NothingRequired => {
            log::error!("the config cannot be read; no volume is recorded as required ({}), so containerd may start: continuing {what}; {HINT}", record.display());
            false
        }
        Verdict::Mounted(v) => {
            for d in v {
                log::error!("the config cannot be read; required volume {d} is mounted as recorded in {}: continuing {what}; {HINT}", record.display());
            }
            false
        }
        Verdict::NotMounted(v) => {
            for d in v {
                log::error!("the config cannot be read ({err}), and volume {d}, recorded as required in {}, is not mounted as recorded; refusing {what}; {HINT}", record.display());
            }
            true
        }
    }
}

/// `datavol gate` without a config.
pub fn gate(state_dir: &Path, err: &ConfigError) -> ExitCode {
    if blocks(state_dir, err, "to let its services start") {
        Failure::Refused.exit_code()
    } else {
        ExitCode::SUCCESS
    }
}

/// `datavol check-images` without a config: it cannot know the images.
pub fn check_images(state_dir: &Path, err: &ConfigError) -> ExitCode {
    let what = "containerd's start without checking the [sandbox] images";
    if blocks(state_dir, err, what) {
        Failure::Config.exit_code()
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(state: VolumeState, required: Option<bool>) -> VolumeOutcome {
        VolumeOutcome {
            volume: "containerd".into(),
            state,
            device: "/dev/xvdb".into(),
            filesystem: "xfs".into(),
            mount_point: "/var/lib/containerd".into(),
            directories: vec![],
            required,
            migration: None,
        }
    }

    fn mount(at: &str, root: &str, majmin: (u32, u32), source: &str) -> MountEntry {
        let line = format!(
            "30 1 {}:{} {root} {at} rw - xfs {source} rw",
            majmin.0, majmin.1
        );
        mountinfo::parse(&line).remove(0)
    }

    #[test]
    fn decides_from_what_was_recorded_required() {
        let ready = outcome(VolumeState::Ready, Some(true));
        let disk = [mount("/var/lib/containerd", "/", (259, 1), "/dev/nvme1n1")];
        let dev = |_: &str| Some((259, 1));
        assert_eq!(decide(&[], dev, &disk), Verdict::NothingRequired);
        let optional = outcome(VolumeState::Failed, Some(false));
        assert_eq!(decide(&[optional], dev, &[]), Verdict::NothingRequired);
        assert!(matches!(
            decide(std::slice::from_ref(&ready), dev, &disk),
            Verdict::Mounted(_)
        ));
        // Not mounted, another device, or a record of a failed apply.
        assert!(matches!(
            decide(std::slice::from_ref(&ready), dev, &[]),
            Verdict::NotMounted(_)
        ));
        let other = |_: &str| Some((259, 2));
        assert!(matches!(
            decide(std::slice::from_ref(&ready), other, &disk),
            Verdict::NotMounted(_)
        ));
        let failed = outcome(VolumeState::Timeout, Some(true));
        assert!(matches!(
            decide(&[failed], dev, &disk),
            Verdict::NotMounted(_)
        ));
        // An old record (no `required`) counts as required.
        let old = outcome(VolumeState::Ready, None);
        assert!(matches!(
            decide(std::slice::from_ref(&old), dev, &[]),
            Verdict::NotMounted(_)
        ));
        assert!(matches!(decide(&[old], dev, &disk), Verdict::Mounted(_)));
    }

    #[test]
    fn served_directories_must_be_bound_too() {
        let mut o = outcome(VolumeState::Ready, Some(true));
        o.mount_point = "/var/lib/datavol/volumes/data".into();
        o.directories = vec!["/var/lib/containerd".into()];
        let mut mounts = vec![mount(
            "/var/lib/datavol/volumes/data",
            "/",
            (259, 1),
            "/dev/x",
        )];
        assert!(!mounted_as_recorded(&o, Some((259, 1)), &mounts));
        let sub = format!("/{}", Volume::dir_subpath(Path::new("/var/lib/containerd")));
        mounts.push(mount("/var/lib/containerd", &sub, (259, 1), "/dev/x"));
        assert!(mounted_as_recorded(&o, Some((259, 1)), &mounts));
        // Without the device node, the mount's source must be the recorded one.
        assert!(!mounted_as_recorded(&o, None, &mounts));
    }
}
