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
        let found = selector::candidates(sel);
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
        if let Some(d) = find_now(selectors)? {
            // Let udev finish with this device (links, probes) before it is
            // used; other devices' events do not matter here.
            crate::discover::udev::wait_initialized(&d.node, crate::discover::udev::TIMEOUT);
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
                let _ = poll(&mut fds, PollTimeout::from(ms));
                // Drain; the events only mean "look again".
                while matches!(ino.read_events(), Ok(ev) if !ev.is_empty()) {}
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

fn sysfs_dir(major: u32, minor: u32) -> PathBuf {
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

/// Why a device must not be touched, if it must not.
pub fn in_use(dev: &Device, mounts: &[MountEntry], ignore: &[PathBuf]) -> Option<String> {
    let own: Vec<&MountEntry> = mountinfo::mounts_of(mounts, dev.major, dev.minor)
        .into_iter()
        .filter(|m| !ignore.contains(&m.mount_point))
        .collect();
    if let Some(m) = own.first() {
        return Some(format!("it is mounted on {}", m.mount_point.display()));
    }
    let sys = sysfs_dir(dev.major, dev.minor);
    if let Ok(holders) = std::fs::read_dir(sys.join("holders")) {
        let names: Vec<String> = holders
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        if !names.is_empty() {
            return Some(format!(
                "it is held by {} (md, device-mapper or LVM)",
                names.join(", ")
            ));
        }
    }
    // A partition of ours that is mounted or held counts as in use too.
    if let Ok(disk) = whole_disk_name(dev.major, dev.minor) {
        for m in mounts {
            if ignore.contains(&m.mount_point) {
                continue;
            }
            if let Ok(d) = whole_disk_name(m.major, m.minor) {
                if d == disk && (m.major, m.minor) != (dev.major, dev.minor) {
                    let what =
                        if m.mount_point == Path::new("/") || m.mount_point == Path::new("/boot") {
                            "it is the disk backing"
                        } else {
                            "a partition of it is mounted on"
                        };
                    return Some(format!("{what} {}", m.mount_point.display()));
                }
            }
        }
        for special in ["/", "/boot", "/boot/efi"] {
            if let Some(m) = mountinfo::mounted_at(mounts, Path::new(special)) {
                if whole_disk_name(m.major, m.minor).is_ok_and(|d| d == disk) {
                    return Some(format!("it is the disk backing {special}"));
                }
            }
        }
    }
    // O_EXCL on a block device fails with EBUSY while the kernel has it claimed.
    if let Err(e) = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags_excl()
        .open(&dev.node)
    {
        if e.raw_os_error() == Some(libc::EBUSY) {
            return Some("the kernel reports it busy (opened exclusively elsewhere)".into());
        }
    }
    None
}

trait ExclFlag {
    fn custom_flags_excl(&mut self) -> &mut Self;
}

impl ExclFlag for std::fs::OpenOptions {
    fn custom_flags_excl(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(libc::O_EXCL)
    }
}
