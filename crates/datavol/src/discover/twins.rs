//! Other block devices carrying a filesystem's UUID. A clone of a volume (an
//! EBS volume restored from a snapshot of it) has the same UUID and the same
//! marker: anything that names the filesystem by UUID may take either, so
//! classify refuses while both are attached. One pread of each device's
//! superblock, no process: this runs on the healthy-reboot path too.

use super::superblock;
use std::collections::BTreeSet;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

const CLASS_BLOCK: &str = "/sys/class/block";

/// What the scan found: the other devices with the UUID, and the devices it
/// could not read (each with why), for the log.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Twins {
    pub found: Vec<PathBuf>,
    pub skipped: Vec<String>,
}

fn read_trim(p: &Path) -> Option<String> {
    std::fs::read_to_string(p)
        .ok()
        .map(|s| s.trim().to_string())
}

/// The kernel names of the device's stack: itself, what it is built on
/// (md members, dm targets) and what is built on it, transitively. They
/// show the same bytes by construction, not as a clone.
fn stack(name: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![name.to_string()];
    while let Some(n) = todo.pop() {
        if !seen.insert(n.clone()) {
            continue;
        }
        for rel in ["slaves", "holders"] {
            let Ok(rd) = std::fs::read_dir(Path::new(CLASS_BLOCK).join(&n).join(rel)) else {
                continue;
            };
            todo.extend(
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned()),
            );
        }
    }
    seen
}

/// The kernel name of `major:minor` (`nvme1n1`, `loop0`, `md127`).
fn kernel_name(major: u32, minor: u32) -> Option<String> {
    let p = std::fs::canonicalize(format!("/sys/dev/block/{major}:{minor}")).ok()?;
    p.file_name().map(|n| n.to_string_lossy().into_owned())
}

/// A re-rooted run (`DATAVOL_ROOT`: the tests) reads loop devices only,
/// so no test ever reads the machine's own disks.
fn in_scope(name: &str) -> bool {
    !crate::record::instance::rerooted() || name.starts_with("loop")
}

/// The node of a device listed in sysfs, checked to be that device.
fn node_of(name: &str) -> Result<PathBuf, String> {
    let dir = Path::new(CLASS_BLOCK).join(name);
    let dev = read_trim(&dir.join("dev")).ok_or("no dev number in sysfs")?;
    // cciss!c0d0 is /dev/cciss/c0d0.
    let node = PathBuf::from("/dev").join(name.replace('!', "/"));
    let md = std::fs::metadata(&node).map_err(|e| format!("{}: {e}", node.display()))?;
    let rdev = md.rdev();
    if !md.file_type().is_block_device()
        || format!("{}:{}", libc::major(rdev), libc::minor(rdev)) != dev
    {
        return Err(format!("{} is not device {dev}", node.display()));
    }
    Ok(node)
}

/// Every block device (whole disk or partition) other than `major:minor`
/// and its stack whose xfs or ext4 superblock carries `uuid`. Empty
/// devices (an unattached loop, a drive without media) and removable ones
/// (a spinning-up drive would stall the boot; a snapshot clone is never
/// one) are not read; a device that cannot be read is noted as skipped.
pub fn with_uuid(uuid: &str, major: u32, minor: u32) -> Twins {
    let mut t = Twins::default();
    let ours = kernel_name(major, minor)
        .map(|n| stack(&n))
        .unwrap_or_default();
    let own = format!("{major}:{minor}");
    let Ok(rd) = std::fs::read_dir(CLASS_BLOCK) else {
        t.skipped.push(format!("{CLASS_BLOCK}: cannot list it"));
        return t;
    };
    let mut names: Vec<String> = rd
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !ours.contains(n) && in_scope(n))
        .collect();
    names.sort();
    for name in names {
        let dir = Path::new(CLASS_BLOCK).join(&name);
        let empty = read_trim(&dir.join("size")).is_none_or(|s| s == "0");
        let removable = read_trim(&dir.join("removable")).is_some_and(|s| s == "1");
        if empty || removable || read_trim(&dir.join("dev")).as_deref() == Some(own.as_str()) {
            continue;
        }
        let read = node_of(&name).and_then(|node| match superblock::read(&node) {
            Ok(sb) => Ok((node, sb)),
            Err(e) => Err(format!("{}: {e}", node.display())),
        });
        match read {
            Ok((node, Some(sb))) if sb.uuid == uuid => t.found.push(node),
            Ok(_) => {}
            Err(e) => t.skipped.push(e),
        }
    }
    t
}
