//! Mount points below a directory, from /proc/self/mountinfo. The st_dev
//! check in the walk catches mounts of other filesystems; this catches bind
//! mounts of the same filesystem, which keep st_dev.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::CopyError;

/// Undoes mountinfo's octal escapes (\040 space, \011 tab, \012 newline, \134 backslash).
pub(crate) fn unescape(field: &[u8]) -> Vec<u8> {
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
    let mut out = Vec::new();
    for line in mountinfo.split(|&b| b == b'\n') {
        // id parent major:minor root mount-point ...
        let Some(field) = line.split(|&b| b == b' ').nth(4) else {
            continue;
        };
        let mp = unescape(field);
        let below = if dir == b"/" {
            mp.len() > 1 && mp.starts_with(b"/")
        } else {
            mp.len() > dir.len() + 1 && mp.starts_with(dir) && mp[dir.len()] == b'/'
        };
        if below {
            out.push(PathBuf::from(OsStr::from_bytes(&mp)));
        }
    }
    out
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
