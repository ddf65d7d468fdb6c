//! /proc/self/mountinfo, parsed: what is mounted where, and from which device.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    pub mount_id: u32,
    pub parent_id: u32,
    pub major: u32,
    pub minor: u32,
    /// Path inside the filesystem that is mounted (a bind mount's subdirectory).
    pub root: PathBuf,
    pub mount_point: PathBuf,
    pub fstype: String,
    pub source: String,
}

/// mountinfo escapes space, tab, newline and backslash as \ooo.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn parse(text: &str) -> Vec<MountEntry> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<MountEntry> {
    let (left, right) = line.split_once(" - ")?;
    let f: Vec<&str> = left.split(' ').collect();
    let r: Vec<&str> = right.split(' ').collect();
    if f.len() < 5 || r.len() < 2 {
        return None;
    }
    let (major, minor) = f[2].split_once(':')?;
    Some(MountEntry {
        mount_id: f[0].parse().ok()?,
        parent_id: f[1].parse().ok()?,
        major: major.parse().ok()?,
        minor: minor.parse().ok()?,
        root: PathBuf::from(unescape(f[3])),
        mount_point: PathBuf::from(unescape(f[4])),
        fstype: unescape(r[0]),
        source: unescape(r[1]),
    })
}

pub fn read() -> std::io::Result<Vec<MountEntry>> {
    Ok(parse(&std::fs::read_to_string("/proc/self/mountinfo")?))
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
