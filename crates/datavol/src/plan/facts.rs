//! Everything classify needs to know about one volume, gathered first and
//! without writing: the device and who uses it, every signature on it, the
//! marker (through a no-write inspection mount, or the live mount), the
//! directories involved (reached without following links), the services,
//! and what the root disk remembers. A read that fails is recorded as such,
//! never as "nothing there": classify then refuses or fails, closed.

use crate::config::Volume;
use crate::discover::device::{self, Device, DeviceError, Usage};
use crate::discover::probe::{self, Probe};
use crate::discover::raid::{self, MdSuper};
use crate::discover::selector::NvmeMiss;
use crate::discover::{foreign, superblock, twins, udev};
use crate::record::history::History;
use crate::record::marker::{self, State};
use crate::sys::fsutil;
use crate::sys::mountinfo::{self, MountEntry};
use crate::sys::namespace::TempMount;
use crate::systemd::bus::Bus;
use crate::systemd::unit::{self, ForeignUnit};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where datavol mounts a volume's filesystem for its own work.
pub const WORK_MOUNTS: &str = "/run/datavol/mnt";

pub fn work_mount_dir(vol: &Volume) -> PathBuf {
    Path::new(WORK_MOUNTS).join(&vol.name)
}

/// Inspection mount options that guarantee no write at all: even a plain
/// read-only mount replays a dirty log, and writes to a fresh xfs.
pub fn no_write_options(fstype: &str) -> &'static str {
    if fstype == "xfs" {
        "norecovery"
    } else {
        "noload"
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    pub device: DeviceFacts,
    /// Each path the volume claims (mount_point, then directories).
    pub paths: Vec<PathFacts>,
    /// Active units among the volume's services; None when not asked
    /// (the volume is mounted as configured).
    pub services: Option<Result<Vec<(String, String)>, String>>,
    /// What the root disk remembers of this volume.
    pub record: History,
    /// An earlier volume of this run that resolved to the same device.
    pub claimed_by: Option<String>,
    /// Other devices whose filesystem has the UUID of the one the volume
    /// would use: clones of it.
    pub same_uuid: Vec<PathBuf>,
    /// What is mounted right at each claimed path now (the top mount).
    pub mounts_at: Vec<MountEntry>,
    /// Mount units for the volume's mounts that datavol did not write, in
    /// directories systemd prefers to datavol's (nodeadm writes these).
    pub foreign_units: Vec<ForeignUnit>,
    /// How long finding the device and looking at it took, for the log.
    pub took: Took,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Took {
    /// Waiting for the device (and, for RAID, for udev).
    pub device: Duration,
    /// Usage, signatures, marker: everything after the device was there.
    pub look: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DeviceFacts {
    /// No selector matched (within the wait).
    Missing {
        waited: Duration,
        nvme: Option<NvmeMiss>,
    },
    Several {
        selector: String,
        found: Vec<String>,
    },
    /// Finding or describing the device failed.
    Unreadable(String),
    Disk(Disk),
    Raid(RaidFacts),
}

/// A block device and what is on it.
#[derive(Debug, Clone, PartialEq)]
pub struct Disk {
    pub dev: Device,
    pub usage: Result<Usage, String>,
    pub probe: Result<Probe, String>,
    /// When the probe shows the configured filesystem: what is inside.
    pub fs: Option<Result<FsView, String>>,
    /// When the probe shows the configured filesystem: its superblock
    /// (size, d_type), one pread.
    pub superblock: Option<Result<Box<superblock::Superblock>, String>>,
}

/// What datavol can see inside the configured filesystem.
#[derive(Debug, Clone, PartialEq)]
pub struct FsView {
    pub marker: MarkerRead,
    /// Nothing but what mkfs makes (lost+found) and datavol's .datavol.
    pub only_ours: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MarkerRead {
    Absent,
    Found(Box<State>),
    Corrupt(String),
    /// Not read: `/.datavol` is a link or not a directory, or holds a
    /// linked state file or staging directory (what, for the refusal).
    /// datavol would write its marker through it, onto another disk.
    Linked(String),
    /// Not read yet: the root disk's record says this filesystem is the
    /// volume's, committed, seeded from its mount point. apply mounts it
    /// and reads the marker through the real mount before it finishes.
    Recorded,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RaidFacts {
    pub members: Vec<Member>,
    /// The running md array holding the first member, if any.
    pub running: Option<RunningArray>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub dev: Device,
    pub usage: Result<Usage, String>,
    pub probe: Result<Probe, String>,
    /// The md superblock, for a member that probes as linux_raid_member.
    pub md: Option<Result<Option<MdSuper>, String>>,
    pub holder: Result<Option<PathBuf>, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunningArray {
    pub node: PathBuf,
    pub name: Option<String>,
    pub level: Option<String>,
    /// The array itself, when it is datavol's: classified as a disk.
    pub disk: Option<Box<Disk>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PathKind {
    Missing,
    Directory,
    /// Not a directory: what it is.
    Other(String),
    /// A component of the path is a symlink: that component.
    Symlink(PathBuf),
    Unreadable(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct PathFacts {
    pub path: PathBuf,
    pub kind: PathKind,
    /// A top-level .datavol: datavol's own directory on a volume.
    pub has_marker_dir: bool,
    /// Mount points strictly below the path.
    pub submounts: Vec<PathBuf>,
    /// Size of the tree; surveyed only when a copy could follow.
    pub usage: Option<Result<datavol_copy::TreeUsage, String>>,
    /// What is on the root disk here against the baseline datavol took
    /// when it copied it; looked at only when the path has a baseline and
    /// nothing is mounted on it (see underneath.rs).
    pub underneath: Option<Result<super::underneath::Look, String>>,
}

/// What holds for the whole run: the mount table, and the devices earlier
/// volumes took.
pub struct Run {
    pub mounts: Vec<MountEntry>,
    pub state_dir: PathBuf,
    pub claimed: Vec<((u32, u32), String)>,
}

impl Run {
    /// Fails when the mount table cannot be read: deciding on an empty
    /// table would take every disk for unmounted.
    pub fn new(state_dir: &Path) -> std::io::Result<Run> {
        Ok(Run {
            mounts: mountinfo::read()?,
            state_dir: state_dir.to_path_buf(),
            claimed: Vec::new(),
        })
    }

    /// Forgets the device `volume` took in this run (when it is looked at again).
    pub fn unclaim(&mut self, volume: &str) {
        self.claimed.retain(|(_, v)| v != volume);
    }

    pub fn refresh_mounts(&mut self) -> std::io::Result<()> {
        self.mounts = mountinfo::read()?;
        Ok(())
    }
}

/// Walks `path` from `/` with lstat, never following a link.
pub fn path_kind(path: &Path) -> PathKind {
    let mut at = PathBuf::from("/");
    for c in path.components().skip(1) {
        at.push(c);
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => return PathKind::Symlink(at),
            Ok(m) if at == path => {
                return if m.is_dir() {
                    PathKind::Directory
                } else {
                    PathKind::Other(fsutil::file_kind(m.file_type()).into())
                }
            }
            Ok(m) if !m.is_dir() => {
                return PathKind::Other(fsutil::file_kind(m.file_type()).into())
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return PathKind::Missing,
            Err(e) => return PathKind::Unreadable(format!("{}: {e}", at.display())),
        }
    }
    PathKind::Directory
}

fn path_facts(path: &Path, mounts: &[MountEntry]) -> PathFacts {
    let kind = path_kind(path);
    let has_marker_dir = kind == PathKind::Directory
        && std::fs::symlink_metadata(path.join(marker::STATE_DIR)).is_ok();
    PathFacts {
        path: path.to_path_buf(),
        kind,
        has_marker_dir,
        submounts: mountinfo::submounts(mounts, path)
            .into_iter()
            .map(|m| m.mount_point.clone())
            .collect(),
        usage: None,
        underneath: None,
    }
}

/// Reads the marker and whether the filesystem holds anything but ours:
/// through the live mount when the device is mounted at `mounted_at`,
/// else through a mount that cannot write.
fn inspect(vol: &Volume, dev: &Device, mounted_at: Option<&Path>) -> Result<FsView, String> {
    let view = |root: &Path| -> Result<FsView, String> {
        // A link is the fact; nothing is read through it.
        let marker = match marker::read(root) {
            Ok(Some(s)) => MarkerRead::Found(Box::new(s)),
            Ok(None) => MarkerRead::Absent,
            Err(marker::StateError::Linked { what, .. }) => MarkerRead::Linked(what),
            Err(e @ marker::StateError::Corrupt { .. }) => MarkerRead::Corrupt(e.to_string()),
            Err(e) => return Err(e.to_string()),
        };
        let only_ours = only_ours(root).map_err(|e| format!("{}: {e}", root.display()))?;
        Ok(FsView { marker, only_ours })
    };
    if let Some(at) = mounted_at {
        return view(at);
    }
    let fstype = vol.filesystem.as_str();
    let m = TempMount::new(
        &dev.node,
        &work_mount_dir(vol),
        fstype,
        true,
        no_write_options(fstype),
    )
    .map_err(|e| e.to_string())?;
    let v = view(&m.target);
    m.unmount().map_err(|e| e.to_string())?;
    v
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

/// The fast path of a healthy reboot: the device's own superblock names the
/// filesystem the root disk's record says is this volume's, committed,
/// seeded from its mount point. Then no process is spawned and nothing is
/// mounted to look: the probe is the superblock, the marker is read later
/// through the real mount. A trace of another signature (a partition table
/// written since) takes the full probe instead, which refuses it.
fn recorded(vol: &Volume, dev: &Device, record: &History) -> Option<superblock::Superblock> {
    let c = record.committed.as_ref()?;
    let sb = superblock::read(&dev.node).ok()??;
    let ours = sb.fstype == vol.filesystem.as_str()
        && sb.uuid == c.uuid
        && c.source == vol.mount_point
        && vol.directories.iter().all(|d| c.directories.contains(d));
    if !ours {
        return None;
    }
    match foreign::read(&dev.node) {
        Ok(found) if found.is_empty() => Some(sb),
        Ok(found) => {
            log::info!(
                "volume {}: {} shows {}; probing it in full",
                vol.name,
                dev.node.display(),
                found.join(", ")
            );
            None
        }
        Err(_) => None,
    }
}

/// The device's facts. Looks inside only a filesystem of the configured
/// type that nothing but the volume itself uses.
pub fn disk(vol: &Volume, dev: Device, mounts: &[MountEntry], record: &History) -> Disk {
    let usage = device::usage(&dev, mounts).map_err(|e| e.to_string());
    let at_root = usage.as_ref().is_ok_and(|u| {
        u.mounts
            .iter()
            .any(|m| m.0 == vol.mount_point && m.1 == Path::new("/"))
    });
    let fast = recorded(vol, &dev, record);
    let probe = match &fast {
        Some(sb) => Ok(Probe::Signature {
            fstype: sb.fstype.to_string(),
            uuid: Some(sb.uuid.clone()),
            label: sb.label.clone(),
        }),
        None => {
            // Not mounted by us yet: let udev finish with it first.
            if !at_root {
                udev::wait_initialized(&dev.node, udev::TIMEOUT);
            }
            probe::probe(&dev.node).map_err(|e| e.to_string())
        }
    };
    let ours = super::mounted::expected(vol);
    let fs = match (&probe, &usage) {
        (Ok(Probe::Signature { fstype, .. }), Ok(_))
            if at_root && fstype == vol.filesystem.as_str() =>
        {
            Some(inspect(vol, &dev, Some(&vol.mount_point)))
        }
        (Ok(Probe::Signature { .. }), Ok(u)) if fast.is_some() && u.why_not(&ours).is_none() => {
            Some(Ok(FsView {
                marker: MarkerRead::Recorded,
                only_ours: false,
            }))
        }
        (Ok(Probe::Signature { fstype, .. }), Ok(u))
            if fstype == vol.filesystem.as_str() && u.why_not(&ours).is_none() =>
        {
            Some(inspect(vol, &dev, None))
        }
        _ => None,
    };
    // The fast path has read it already.
    let superblock = match fast {
        Some(sb) => Some(Ok(Box::new(sb))),
        None => configured_superblock(vol, &dev, &probe),
    };
    Disk {
        dev,
        usage,
        probe,
        fs,
        superblock,
    }
}

/// The other devices carrying the configured filesystem's UUID.
fn same_uuid(vol: &Volume, dev: &Device, probe: &Result<Probe, String>) -> Vec<PathBuf> {
    let uuid = match probe {
        Ok(Probe::Signature {
            fstype,
            uuid: Some(u),
            ..
        }) if fstype == vol.filesystem.as_str() && !u.is_empty() => u,
        _ => return Vec::new(),
    };
    let t = twins::with_uuid(uuid, dev.major, dev.minor);
    for s in &t.skipped {
        log::info!(
            "volume {}: not checked for a second copy of filesystem {uuid}: {s}",
            vol.name
        );
    }
    t.found
}

/// The superblock of a filesystem of the configured type; a page-cache
/// read after the probe.
fn configured_superblock(
    vol: &Volume,
    dev: &Device,
    probe: &Result<Probe, String>,
) -> Option<Result<Box<superblock::Superblock>, String>> {
    match probe {
        Ok(Probe::Signature { fstype, .. }) if fstype == vol.filesystem.as_str() => Some(
            superblock::read(&dev.node)
                .map_err(|e| e.to_string())
                .and_then(|sb| {
                    sb.map(Box::new)
                        .ok_or_else(|| format!("no {fstype} superblock at its place"))
                }),
        ),
        _ => None,
    }
}

fn member(dev: Device, mounts: &[MountEntry]) -> Member {
    let usage = device::usage(&dev, mounts).map_err(|e| e.to_string());
    let probe = probe::probe(&dev.node).map_err(|e| e.to_string());
    let md = match &probe {
        Ok(Probe::Signature { fstype, .. }) if fstype == "linux_raid_member" => {
            Some(raid::examine(&dev.node).map_err(|e| e.to_string()))
        }
        _ => None,
    };
    let holder = raid::holder_md(&dev).map_err(|e| e.to_string());
    Member {
        dev,
        usage,
        probe,
        md,
        holder,
    }
}

fn raid_facts(
    vol: &Volume,
    members: Vec<Device>,
    mounts: &[MountEntry],
    record: &History,
) -> RaidFacts {
    let members: Vec<Member> = members.into_iter().map(|d| member(d, mounts)).collect();
    let running = match members.first().map(|m| &m.holder) {
        Some(Ok(Some(md))) => {
            let (name, level) = raid::detail(md).unwrap_or((None, None));
            let ours = name.as_deref() == Some(raid::md_name(vol).as_str())
                && level.as_deref() == Some("raid0");
            let disk = ours.then(|| {
                device::describe(md)
                    .map(|d| Box::new(disk(vol, d, mounts, record)))
                    .ok()
            });
            Some(RunningArray {
                node: md.clone(),
                name,
                level,
                disk: disk.flatten(),
            })
        }
        _ => None,
    };
    RaidFacts { members, running }
}

fn device_facts(
    vol: &Volume,
    wait: Duration,
    mounts: &[MountEntry],
    record: &History,
) -> (DeviceFacts, Took) {
    let t = Instant::now();
    let mut took = Took::default();
    let found = match vol.raid {
        Some(_) => raid::wait_members(vol, wait).map(|m| {
            took.device = t.elapsed();
            DeviceFacts::Raid(raid_facts(vol, m, mounts, record))
        }),
        None => device::wait_for(&vol.device, wait).map(|d| {
            took.device = t.elapsed();
            DeviceFacts::Disk(disk(vol, d, mounts, record))
        }),
    };
    took.look = t.elapsed().saturating_sub(took.device);
    let f = match found {
        Ok(f) => f,
        Err(DeviceError::Timeout { nvme, .. }) => DeviceFacts::Missing { waited: wait, nvme },
        Err(DeviceError::Several { selector, found }) => DeviceFacts::Several { selector, found },
        Err(e) => DeviceFacts::Unreadable(e.to_string()),
    };
    (f, took)
}

impl Facts {
    /// The device the volume would use: the disk, or datavol's running array.
    pub fn disk(&self) -> Option<&Disk> {
        match &self.device {
            DeviceFacts::Disk(d) => Some(d),
            DeviceFacts::Raid(r) => r.running.as_ref().and_then(|a| a.disk.as_deref()),
            _ => None,
        }
    }

    /// The paths whose old content is copied onto the volume.
    pub fn sources<'a>(&'a self, vol: &'a Volume) -> impl Iterator<Item = &'a PathFacts> + 'a {
        let dirs = !vol.directories.is_empty();
        self.paths
            .iter()
            .filter(move |p| !dirs || p.path != vol.mount_point)
    }
}

/// The record as far as it is this instance's: a committed filesystem seen
/// on another instance (a baked AMI), or on one not known, is not trusted;
/// the volume is then looked at as on a first boot, and confirm records it
/// again for this instance.
fn this_instance(mut record: History) -> History {
    let here = crate::record::instance::current();
    if let Some(c) = &record.committed {
        if !here.as_ref().is_ok_and(|i| c.on(i)) {
            log::debug!(
                "volume {}: the committed filesystem was recorded on another instance (or one not known): not trusted",
                record.volume
            );
            record.committed = None;
        }
    }
    record
}

/// Gathers the volume's facts, waiting up to `wait` for its device.
pub fn gather(vol: &Volume, run: &Run, wait: Duration) -> Facts {
    let record = crate::record::history::load(&run.state_dir, &vol.name).unwrap_or_else(|e| {
        log::warn!(
            "volume {}: {e}; going on as if nothing was recorded",
            vol.name
        );
        History::empty(&vol.name)
    });
    gather_from(vol, run, wait, this_instance(record))
}

/// The facts, from the root-disk record given: `datavol check` gives one
/// without the committed filesystem, so every fact is read from the disk.
pub fn gather_from(vol: &Volume, run: &Run, wait: Duration, record: History) -> Facts {
    let (device, took) = device_facts(vol, wait, &run.mounts, &record);
    let mut f = Facts {
        device,
        took,
        paths: vol
            .claimed()
            .iter()
            .map(|p| path_facts(p, &run.mounts))
            .collect(),
        services: None,
        record,
        claimed_by: None,
        same_uuid: Vec::new(),
        mounts_at: vol
            .claimed()
            .iter()
            .filter_map(|p| mountinfo::mounted_at(&run.mounts, p).cloned())
            .collect(),
        foreign_units: foreign_units(vol),
    };
    look_underneath(&mut f, &run.mounts);
    if let Some(d) = f.disk() {
        let majmin = (d.dev.major, d.dev.minor);
        f.claimed_by = run
            .claimed
            .iter()
            .find(|(m, v)| *m == majmin && *v != vol.name)
            .map(|(_, v)| v.clone());
    }
    if let Some(twins) = f.disk().map(|d| same_uuid(vol, &d.dev, &d.probe)) {
        f.same_uuid = twins;
    }
    f
}

/// The foreign mount units for each mount the volume needs, read under
/// `DATAVOL_ROOT` (the tests' re-rooted tree) like the generator does.
fn foreign_units(vol: &Volume) -> Vec<ForeignUnit> {
    let root = crate::record::instance::root();
    super::mounted::expected(vol)
        .iter()
        .flat_map(|(at, _)| unit::foreign_units(&root, at))
        .collect()
}

/// Looks under each path datavol copied (it has a baseline) that nothing
/// covers now: what was written there since. A covered one is left alone:
/// the record keeps the last look before it was covered.
fn look_underneath(f: &mut Facts, mounts: &[MountEntry]) {
    for p in f.paths.iter_mut() {
        let Some(u) = f.record.underneath(&p.path) else {
            continue;
        };
        if p.kind == PathKind::Directory && mountinfo::mounted_at(mounts, &p.path).is_none() {
            p.underneath = Some(super::underneath::look(&p.path, &u.baseline));
        }
    }
}

/// Sizes each source tree (one walk each; also proves it has no submounts).
pub fn survey(vol: &Volume, facts: &mut Facts) {
    let dirs = !vol.directories.is_empty();
    for p in facts.paths.iter_mut() {
        if (dirs && p.path == vol.mount_point) || p.kind != PathKind::Directory || p.usage.is_some()
        {
            continue;
        }
        p.usage = Some(datavol_copy::survey(&p.path).map_err(|e| e.to_string()));
    }
}

/// Which of the volume's services are active, over D-Bus.
pub fn services(vol: &Volume, bus: &mut Bus) -> Result<Vec<(String, String)>, String> {
    let mut active = Vec::new();
    for s in &vol.services {
        let st = bus
            .get()
            .and_then(|b| b.active_state(s))
            .map_err(|e| e.to_string())?;
        if let Some(st) = st.filter(|st| st != "inactive" && st != "failed") {
            active.push((s.clone(), st));
        }
    }
    Ok(active)
}
