//! A block device's own identity, for what belongs to the device rather
//! than to the filesystem on it: a pre-warm fetched *this* EBS volume's
//! blocks, and a volume made from a snapshot of it is cold again while it
//! carries the same filesystem, marker and UUID. On EBS the NVMe serial is
//! the volume id.

use std::path::Path;

fn read_trimmed(p: &Path) -> Option<String> {
    let s = std::fs::read_to_string(p).ok()?;
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// `serial:` (virtio, NVMe: the EBS volume id), `wwid:`, the members of
/// an md or dm device, or a loop device's backing file; None when sysfs
/// names none of these.
pub fn of(major: u32, minor: u32) -> Option<String> {
    in_sysfs(&super::device::sysfs_dir(major, minor), 0)
}

fn in_sysfs(dir: &Path, depth: u32) -> Option<String> {
    for (file, kind) in [
        ("serial", "serial"),
        ("device/serial", "serial"),
        ("wwid", "wwid"),
        ("device/wwid", "wwid"),
        ("loop/backing_file", "loop"),
    ] {
        if let Some(v) = read_trimmed(&dir.join(file)) {
            return Some(format!("{kind}:{v}"));
        }
    }
    if depth > 2 {
        return None;
    }
    let mut members: Vec<String> = Vec::new();
    for e in std::fs::read_dir(dir.join("slaves")).ok()? {
        let name = e.ok()?.file_name();
        members.push(in_sysfs(
            &Path::new("/sys/class/block").join(name),
            depth + 1,
        )?);
    }
    members.sort();
    (!members.is_empty()).then(|| format!("members:{}", members.join(",")))
}
