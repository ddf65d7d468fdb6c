//! Formatting a blank device: probe again under the whole-disk lock (only
//! that answer is safe to act on), mkfs without force flags, read the UUID
//! back, and let udev make /dev/disk/by-uuid/<uuid> before a unit needs it.

use super::error::ApplyError;
use super::failpoint::failpoint;
use crate::config::Filesystem;
use crate::config::Volume;
use crate::discover::probe::{self, DiskLock, Probe, ProbeError};
use crate::discover::udev;
use crate::vlog;
use std::path::Path;
use std::time::Instant;

/// mkfs's arguments. Without `discard`, no discard pass: mkfs would
/// otherwise TRIM the whole device first, which takes minutes on a large
/// EBS volume or instance-store array (nodeadm passes -K for RAID too).
pub fn mkfs_args(fs: Filesystem, label: &str, discard: bool) -> (&'static str, Vec<&str>) {
    match (fs, discard) {
        (Filesystem::Xfs, true) => ("mkfs.xfs", vec!["-q", "-L", label]),
        (Filesystem::Xfs, false) => ("mkfs.xfs", vec!["-q", "-K", "-L", label]),
        (Filesystem::Ext4, true) => ("mkfs.ext4", vec!["-q", "-E", "discard", "-L", label]),
        (Filesystem::Ext4, false) => ("mkfs.ext4", vec!["-q", "-E", "nodiscard", "-L", label]),
    }
}

/// Runs mkfs on a device the caller has just probed blank under `_lock`.
/// mkfs.xfs without -f and mkfs.ext4 without -F refuse an existing
/// signature themselves: a second safety net.
pub fn mkfs(
    _lock: &DiskLock,
    device: &Path,
    fs: Filesystem,
    label: &str,
    discard: bool,
) -> Result<String, ProbeError> {
    let (tool, args) = mkfs_args(fs, label, discard);
    let out = probe::run(device, tool, &args)?;
    if !out.status.success() {
        return Err(ProbeError::Tool {
            device: device.to_path_buf(),
            tool: tool.into(),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    match probe::probe_blkid(device)? {
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

/// Formats `node` for `vol` if, under the disk lock, it is still blank.
/// Returns the new filesystem's UUID.
pub fn format(vol: &Volume, node: &Path, devs: &str, discard: bool) -> Result<String, ApplyError> {
    let name = vol.name.as_str();
    let lock = probe::lock_whole_disk(node)?;
    match probe::probe(node)? {
        Probe::Blank => {}
        other => {
            return Err(ApplyError::Changed {
                device: node.to_path_buf(),
                found: other.describe(),
            })
        }
    }
    vlog!(
        info,
        name,
        devs,
        "format",
        "mkfs.{} -L {} {devs}{}",
        vol.filesystem,
        vol.label,
        if discard { " (with discard)" } else { "" }
    );
    let t = Instant::now();
    let uuid = mkfs(&lock, node, vol.filesystem, &vol.label, discard)?;
    drop(lock);
    vlog!(
        info,
        name,
        devs,
        "format",
        "formatted {} UUID={uuid} in {:.1}s",
        vol.filesystem,
        t.elapsed().as_secs_f64()
    );
    failpoint("mkfs-done");
    udev::retrigger(node);
    Ok(uuid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_discard_unless_asked() {
        assert_eq!(
            mkfs_args(Filesystem::Xfs, "dv-a", false).1,
            ["-q", "-K", "-L", "dv-a"]
        );
        assert_eq!(
            mkfs_args(Filesystem::Ext4, "dv-a", false).1,
            ["-q", "-E", "nodiscard", "-L", "dv-a"]
        );
        assert_eq!(
            mkfs_args(Filesystem::Xfs, "dv-a", true).1,
            ["-q", "-L", "dv-a"]
        );
        assert_eq!(
            mkfs_args(Filesystem::Ext4, "dv-a", true).1,
            ["-q", "-E", "discard", "-L", "dv-a"]
        );
    }
}
