//! /proc/self/mountinfo, parsed once, byte-exact: mount points are paths of
//! bytes (a mount point need not be UTF-8), and octal escapes are decoded in
//! u32 so `\777` cannot overflow. datavol's `sys::mountinfo` uses this parser
//! too. The st_dev check in the walk catches mounts of other filesystems;
//! `mounts_below` catches bind mounts of the same filesystem, which keep st_dev.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::CopyError;

/// One line of mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    pub mount_id: u32,
    pub parent_id: u32,
    pub major: u32,
    pub minor: u32,
    /// Path inside the filesystem that is mounted (a bind mount's subdirectory).
    pub root: PathBuf,
    pub mount_point: PathBuf,
    /// The filesystem type and the mount source (a device path, `tmpfs`...):
    /// shown to people and compared with device paths, so text.
    pub fstype: String,
    pub source: String,
}

/// Every well-formed line of `mountinfo` text; a malformed line is skipped.
pub fn parse(mountinfo: &[u8]) -> Vec<MountEntry> {
    mountinfo
        .split(|&b| b == b'\n')
        .filter_map(parse_line)
        .collect()
}

fn parse_line(line: &[u8]) -> Option<MountEntry> {
    // id parent major:minor root mount-point options [optional...] - fstype source super-options
    let sep = line.windows(3).position(|w| w == b" - ")?;
    let f: Vec<&[u8]> = line[..sep].split(|&b| b == b' ').collect();
    let r: Vec<&[u8]> = line[sep + 3..].split(|&b| b == b' ').collect();
    if f.len() < 5 || r.len() < 2 {
        return None;
    }
    let num = |b: &[u8]| std::str::from_utf8(b).ok()?.parse::<u32>().ok();
    let colon = f[2].iter().position(|&b| b == b':')?;
    let text = |b: &[u8]| String::from_utf8_lossy(&unescape(b)).into_owned();
    Some(MountEntry {
        mount_id: num(f[0])?,
        parent_id: num(f[1])?,
        major: num(&f[2][..colon])?,
        minor: num(&f[2][colon + 1..])?,
        root: path(f[3]),
        mount_point: path(f[4]),
        fstype: text(r[0]),
        source: text(r[1]),
    })
}

fn path(field: &[u8]) -> PathBuf {
    PathBuf::from(OsStr::from_bytes(&unescape(field)))
}

/// Undoes mountinfo's octal escapes (\040 space, \011 tab, \012 newline, \134 backslash).
fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        if field[i] == b'\\' && i + 4 <= field.len() {
            let oct = &field[i + 1..i + 4];
            if oct.iter().all(|c| (b'0'..=b'7').contains(c)) {
                let v = (oct[0] - b'0') as u32 * 64
                    + (oct[1] - b'0') as u32 * 8
                    + (oct[2] - b'0') as u32;
                if let Ok(b) = u8::try_from(v) {
                    out.push(b);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(field[i]);
        i += 1;
    }
    out
}

/// Mount points listed in `mountinfo` text strictly below `dir`.
pub(crate) fn mounts_below(mountinfo: &[u8], dir: &Path) -> Vec<PathBuf> {
    let dir = dir.as_os_str().as_bytes();
    let dir = if dir.len() > 1 && dir.ends_with(b"/") {
        &dir[..dir.len() - 1]
    } else {
        dir
    };
    parse(mountinfo)
        .into_iter()
        .map(|m| m.mount_point)
        .filter(|mp| {
            let mp = mp.as_os_str().as_bytes();
            if dir == b"/" {
                mp.len() > 1
            } else {
                mp.len() > dir.len() + 1 && mp.starts_with(dir) && mp[dir.len()] == b'/'
            }
        })
        .collect()
}

/// Fails with `Submount` if anything is mounted below `src`.
pub(crate) fn check_no_submounts(src: &Path) -> Result<(), CopyError> {
    let canon = std::fs::canonicalize(src).map_err(|source| CopyError::Io {
        path: src.into(),
        op: "canonicalize",
        source,
    })?;
    let info = std::fs::read("/proc/self/mountinfo").map_err(|source| CopyError::Io {
        path: "/proc/self/mountinfo".into(),
        op: "read",
        source,
    })?;
    match mounts_below(&info, &canon).into_iter().next() {
        Some(m) => Err(CopyError::Submount(src.into(), m)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_octal() {
        assert_eq!(unescape(br"/a\040b\134c"), b"/a b\\c".to_vec());
        assert_eq!(unescape(br"/x\0"), b"/x\\0".to_vec());
        assert_eq!(unescape(br"\011"), b"\t".to_vec());
    }

    #[test]
    fn parses_lines_byte_exact() {
        let t = b"36 35 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n\
                 40 36 259:3 / /var/lib/\\377x rw shared:5 - xfs /dev/nvme1n1 rw\n\
                 garbage\n";
        let m = parse(t);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].mount_point, Path::new("/mnt/with space"));
        assert_eq!(m[0].root, Path::new("/mnt1"));
        assert_eq!((m[1].major, m[1].minor), (259, 3));
        assert_eq!(m[1].mount_point.as_os_str().as_bytes(), b"/var/lib/\xffx");
        assert_eq!(m[1].fstype, "xfs");
        assert_eq!(m[1].source, "/dev/nvme1n1");
    }

    #[test]
    fn finds_mounts_below() {
        let mi = b"22 1 8:1 / / rw - ext4 /dev/sda1 rw\n\
30 22 8:2 / /var/lib/containerd rw - xfs /dev/sdb rw\n\
31 30 8:2 /x /var/lib/containerd/a\\040b rw - xfs /dev/sdb rw\n\
32 22 0:5 / /var/lib/containerd2 rw - tmpfs t rw\n";
        let got = mounts_below(mi, Path::new("/var/lib/containerd"));
        assert_eq!(got, vec![PathBuf::from("/var/lib/containerd/a b")]);
        let got = mounts_below(mi, Path::new("/var/lib/containerd/"));
        assert_eq!(got.len(), 1);
        assert_eq!(mounts_below(mi, Path::new("/")).len(), 3);
    }
}
