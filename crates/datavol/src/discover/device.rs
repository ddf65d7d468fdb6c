//! Finding the configured block device, waiting for it, and refusing one that
//! is in use: mounted, held by md/dm/LVM, or backing / or /boot.

use crate::discover::selector::{self, NvmeMiss, Selector};
use crate::sys::mountinfo::{self, MountEntry};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Device {
    /// The selector that matched, as configured.
    pub selector: String,
    /// The kernel's node after following udev links, e.g. /dev/nvme1n1.
    pub node: PathBuf,
    pub major: u32,
    pub minor: u32,
    pub size_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// `nvme` says what the NVMe disks are when an NVMe-identity selector
    /// missed; plan turns all of it into the volume's reason.
    #[error("device {device} did not appear within {secs}s")]
    Timeout {
        device: String,
        secs: u64,
        nvme: Option<NvmeMiss>,
    },
    #[error("{device} is not a block device")]
    NotBlock { device: PathBuf },
    #[error("device selector {selector} matches several devices ({}); datavol will not pick one; hint: name the disk more precisely", .found.join(", "))]
    Several {
        selector: String,
        found: Vec<String>,
    },
    #[error(transparent)]
    Selector(#[from] selector::SelectorError),
    #[error("device {device}: {op}: {source}")]
    Io {
        device: PathBuf,
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// The first selector, in order, that matches a device now.
pub fn find_now(selectors: &[Selector]) -> Result<Option<Device>, DeviceError> {
    for sel in selectors {
        let found = selector::candidates(sel)?;
        match found.as_slice() {
            [] => continue,
            [one] => {
                let mut d = describe(one)?;
                d.selector = sel.to_string();
                return Ok(Some(d));
            }
            many => {
                return Err(DeviceError::Several {
                    selector: sel.to_string(),
                    found: many.iter().map(|p| p.display().to_string()).collect(),
                })
            }
        }
    }
    Ok(None)
}

/// Directories whose changes can mean a device appeared.
const WATCH: [&str; 4] = [
    "/dev",
    "/dev/disk/by-id",
    "/dev/disk/by-uuid",
    "/dev/disk/by-label",
];

/// Waits, without busy-polling, until a selector matches: inotify on /dev and
/// its by-* link directories wakes the scan, with a slow rescan as a fallback
/// for names no watched directory announces (NVMe identify, blkid tokens).
pub fn wait_for(selectors: &[Selector], timeout: Duration) -> Result<Device, DeviceError> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
    use std::os::fd::AsFd;

    let start = Instant::now();
    // Usually there already: no watches needed.
    if let Some(d) = find_now(selectors)? {
        return Ok(d);
    }
    let text = selectors
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(" | ");
    let ino = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).ok();
    let mut announced = false;
    loop {
        if let Some(ino) = &ino {
            // (Re)add watches each round: by-* directories appear late in boot.
            for dir in WATCH {
                let _ = ino.add_watch(
                    dir,
                    AddWatchFlags::IN_CREATE
                        | AddWatchFlags::IN_MOVED_TO
                        | AddWatchFlags::IN_ATTRIB,
                );
            }
        }
        // The node is there before udev is done with it; the caller waits
        // for udev when it needs its links and probes (not on the fast path).
        if let Some(d) = find_now(selectors)? {
            return Ok(d);
        }
        let waited = start.elapsed();
        if waited >= timeout {
            return Err(DeviceError::Timeout {
                device: text,
                secs: timeout.as_secs(),
                nvme: NvmeMiss::now(selectors),
            });
        }
        if !announced {
            log::info!("waiting up to {}s for {text}", timeout.as_secs());
            announced = true;
        }
        let slice = (timeout - waited).min(Duration::from_secs(1));
        match &ino {
            Some(ino) => {
                let mut fds = [PollFd::new(ino.as_fd(), PollFlags::POLLIN)];
                let ms = u16::try_from(slice.as_millis()).unwrap_or(1000);
                match poll(&mut fds, PollTimeout::from(ms)) {
                    // Drain; the events only mean "look again".
                    Ok(_) => while matches!(ino.read_events(), Ok(ev) if !ev.is_empty()) {},
                    // EINTR or worse: never spin, wait out the slice.
                    Err(_) => std::thread::sleep(slice),
                }
            }
            None => std::thread::sleep(slice),
        }
    }
}

pub fn describe(configured: &Path) -> Result<Device, DeviceError> {
    let io = |op, source| DeviceError::Io {
        device: configured.to_path_buf(),
        op,
        source,
    };
    let node = std::fs::canonicalize(configured).map_err(|e| io("resolving links", e))?;
    let md = std::fs::metadata(&node).map_err(|e| io("stat", e))?;
    if !md.file_type().is_block_device() {
        return Err(DeviceError::NotBlock { device: node });
    }
    let rdev = md.rdev();
    let (major, minor) = (libc::major(rdev), libc::minor(rdev));
    let size_bytes = sysfs_size(major, minor).map_err(|e| io("reading size from sysfs", e))?;
    Ok(Device {
        selector: configured.display().to_string(),
        node,
        major,
        minor,
        size_bytes,
    })
}

/// The device's directory in sysfs.
pub(crate) fn sysfs_dir(major: u32, minor: u32) -> PathBuf {
    PathBuf::from(format!("/sys/dev/block/{major}:{minor}"))
}

fn sysfs_size(major: u32, minor: u32) -> std::io::Result<u64> {
    let s = std::fs::read_to_string(sysfs_dir(major, minor).join("size"))?;
    s.trim()
        .parse::<u64>()
        .map(|sectors| sectors * 512)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// The kernel name of the whole disk holding `major:minor` (itself if not a partition).
fn whole_disk_name(major: u32, minor: u32) -> std::io::Result<String> {
    let dir = std::fs::canonicalize(sysfs_dir(major, minor))?;
    let target = if dir.join("partition").exists() {
        dir.parent().map(Path::to_path_buf).unwrap_or(dir)
    } else {
        dir
    };
    target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| std::io::Error::other("sysfs path has no name"))
}

pub fn whole_disk(device: &Path) -> std::io::Result<PathBuf> {
    let md = std::fs::metadata(device)?;
    let rdev = md.rdev();
    let name = whole_disk_name(libc::major(rdev), libc::minor(rdev))?;
    Ok(PathBuf::from("/dev").join(name))
}

/// What holds or uses a device, read from the mount table and sysfs.
/// Every read that fails is an error, never "not in use".
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Usage {
    /// Mounts of the device itself (the mount point, and the root inside
    /// the filesystem: a bind mount's subdirectory).
    pub mounts: Vec<(PathBuf, PathBuf)>,
    /// md, device-mapper or LVM devices built on it.
    pub holders: Vec<String>,
    /// A mounted partition (or other device) of the same disk.
    pub disk_mounted: Option<PathBuf>,
    /// `/`, `/boot` or `/boot/efi`, when this disk backs it.
    pub backs: Option<PathBuf>,
    /// O_EXCL open failed with EBUSY: the kernel has it claimed.
    pub busy: bool,
}

impl Usage {
    /// Why the device must not be touched, ignoring mounts at `ours`
    /// (mount point, root inside the filesystem): the volume's own.
    pub fn why_not(&self, ours: &[(PathBuf, PathBuf)]) -> Option<String> {
        if let Some((at, _)) = self.mounts.iter().find(|m| !ours.contains(m)) {
            return Some(format!("it is mounted on {}", at.display()));
        }
        if !self.holders.is_empty() {
            return Some(format!(
                "it is held by {} (md, device-mapper or LVM)",
                self.holders.join(", ")
            ));
        }
        if let Some(b) = &self.backs {
            return Some(format!("it is the disk backing {}", b.display()));
        }
        if let Some(m) = &self.disk_mounted {
            return Some(format!("a partition of it is mounted on {}", m.display()));
        }
        if self.busy {
            return Some("the kernel reports it busy (opened exclusively elsewhere)".into());
        }
        None
    }
}

fn holders(dev: &Device) -> Result<Vec<String>, DeviceError> {
    let dir = sysfs_dir(dev.major, dev.minor).join("holders");
    let io = |source| DeviceError::Io {
        device: dir.clone(),
        op: "listing holders in sysfs",
        source,
    };
    let mut names = Vec::new();
    for e in std::fs::read_dir(&dir).map_err(io)? {
        names.push(e.map_err(io)?.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

/// Who uses `dev`: its mounts, holders, the disk it is part of, and whether
/// the kernel has it claimed.
pub fn usage(dev: &Device, mounts: &[MountEntry]) -> Result<Usage, DeviceError> {
    let mut u = Usage {
        mounts: mountinfo::mounts_of(mounts, dev.major, dev.minor)
            .into_iter()
            .map(|m| (m.mount_point.clone(), m.root.clone()))
            .collect(),
        holders: holders(dev)?,
        ..Usage::default()
    };
    let sys_err = |source| DeviceError::Io {
        device: dev.node.clone(),
        op: "finding its disk in sysfs",
        source,
    };
    let disk = whole_disk_name(dev.major, dev.minor).map_err(sys_err)?;
    for special in ["/", "/boot", "/boot/efi"] {
        if let Some(m) = mountinfo::mounted_at(mounts, Path::new(special)) {
            // Not every mount is of a block device (overlay, tmpfs): no disk.
            if whole_disk_name(m.major, m.minor).is_ok_and(|d| d == disk) {
                u.backs = Some(PathBuf::from(special));
            }
        }
    }
    for m in mounts {
        if (m.major, m.minor) != (dev.major, dev.minor)
            && whole_disk_name(m.major, m.minor).is_ok_and(|d| d == disk)
        {
            u.disk_mounted = Some(m.mount_point.clone());
        }
    }
    if u.mounts.is_empty() && u.holders.is_empty() {
        u.busy = exclusively_claimed(&dev.node)?;
    }
    Ok(u)
}

/// O_EXCL on a block device fails with EBUSY while the kernel has it claimed.
fn exclusively_claimed(node: &Path) -> Result<bool, DeviceError> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_EXCL | libc::O_CLOEXEC)
        .open(node)
    {
        Ok(_) => Ok(false),
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => Ok(true),
        Err(source) => Err(DeviceError::Io {
            device: node.to_path_buf(),
            op: "opening exclusively",
            source,
        }),
    }
}
