//! /proc/self/mountinfo: what is mounted where, and from which device. The
//! parser is the copy engine's (one parser, byte-exact); this adds the
//! queries datavol asks of it.

use std::path::Path;

pub use datavol_copy::mounts::{parse as parse_bytes, MountEntry};

/// Parses mountinfo text.
pub fn parse(text: &str) -> Vec<MountEntry> {
    parse_bytes(text.as_bytes())
}

pub fn read() -> std::io::Result<Vec<MountEntry>> {
    Ok(parse_bytes(&std::fs::read("/proc/self/mountinfo")?))
}

/// The mount currently visible at `path` (the last one stacked there).
pub fn mounted_at<'a>(mounts: &'a [MountEntry], path: &Path) -> Option<&'a MountEntry> {
    mounts.iter().rev().find(|m| m.mount_point == path)
}

/// Mounts strictly below `path`.
pub fn submounts<'a>(mounts: &'a [MountEntry], path: &Path) -> Vec<&'a MountEntry> {
    mounts
        .iter()
        .filter(|m| m.mount_point != path && m.mount_point.starts_with(path))
        .collect()
}

/// Every mount of the block device `major:minor`.
pub fn mounts_of(mounts: &[MountEntry], major: u32, minor: u32) -> Vec<&MountEntry> {
    mounts
        .iter()
        .filter(|m| m.major == major && m.minor == minor)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_unescapes() {
        let t = "36 35 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n\
                 40 36 259:3 / /var/lib/containerd rw shared:5 - xfs /dev/nvme1n1 rw\n";
        let m = parse(t);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].mount_point, Path::new("/mnt/with space"));
        assert_eq!(m[0].root, Path::new("/mnt1"));
        assert_eq!((m[1].major, m[1].minor), (259, 3));
        assert_eq!(m[1].fstype, "xfs");
        assert_eq!(m[1].source, "/dev/nvme1n1");
        assert!(mounted_at(&m, Path::new("/var/lib/containerd")).is_some());
        assert_eq!(submounts(&m, Path::new("/var/lib")).len(), 1);
        assert_eq!(mounts_of(&m, 259, 3).len(), 1);
    }
}
