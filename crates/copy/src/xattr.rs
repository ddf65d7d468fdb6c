//! Extended attributes through libc, without following symlinks.
//!
//! Regular files and directories are handled through their open fds
//! (f*xattr). Symlinks, devices and FIFOs are not opened; they are reached as
//! `/proc/self/fd/<dirfd>/<name>` with the l*xattr calls: the magic link to the
//! parent directory is an intermediate component (followed), the entry itself
//! is the last component (not followed), and the path stays short no matter
//! how deep the tree is.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::RawFd;

pub(crate) const CAPABILITY: &[u8] = b"security.capability";

/// XFS lists its on-disk form of POSIX ACLs under these names; they mirror
/// system.posix_acl_access/default (which are copied and compared), are
/// recreated by the filesystem when those are set, and must not be written
/// to other filesystems as plain trusted.* attributes.
pub(crate) fn is_fs_internal(name: &[u8]) -> bool {
    name == b"trusted.SGI_ACL_FILE" || name == b"trusted.SGI_ACL_DEFAULT"
}

/// Where the attributes live.
pub(crate) enum XNode {
    Fd(RawFd),
    Path(CString),
}

impl XNode {
    pub(crate) fn at(dirfd: RawFd, name: &CStr) -> io::Result<XNode> {
        let mut p = format!("/proc/self/fd/{dirfd}/").into_bytes();
        p.extend_from_slice(name.to_bytes());
        Ok(XNode::Path(crate::sys::cstring(&p)?))
    }
}

fn ret(r: libc::ssize_t) -> io::Result<usize> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

fn raw_list(node: &XNode, buf: &mut [u8]) -> io::Result<usize> {
    let (p, n) = (buf.as_mut_ptr().cast(), buf.len());
    // SAFETY: buffer pointer/length are valid; paths are NUL-terminated.
    ret(unsafe {
        match node {
            XNode::Fd(fd) => libc::flistxattr(*fd, p, n),
            XNode::Path(c) => libc::llistxattr(c.as_ptr(), p, n),
        }
    })
}

fn raw_get(node: &XNode, name: &CStr, buf: &mut [u8]) -> io::Result<usize> {
    let (p, n) = (buf.as_mut_ptr().cast(), buf.len());
    // SAFETY: as above.
    ret(unsafe {
        match node {
            XNode::Fd(fd) => libc::fgetxattr(*fd, name.as_ptr(), p, n),
            XNode::Path(c) => libc::lgetxattr(c.as_ptr(), name.as_ptr(), p, n),
        }
    })
}

/// Names of all attributes, sorted.
pub(crate) fn list(node: &XNode) -> io::Result<Vec<CString>> {
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let size = raw_list(node, &mut [])?;
        if size == 0 {
            return Ok(Vec::new());
        }
        buf.resize(size, 0);
        match raw_list(node, &mut buf) {
            Ok(n) => {
                buf.truncate(n);
                break;
            }
            Err(e) if e.raw_os_error() == Some(libc::ERANGE) => continue,
            Err(e) => return Err(e),
        }
    }
    let mut names: Vec<CString> = buf
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .filter_map(|s| CString::new(s).ok())
        .collect();
    names.sort();
    Ok(names)
}

/// Value of one attribute; None if it vanished.
pub(crate) fn get(node: &XNode, name: &CStr) -> io::Result<Option<Vec<u8>>> {
    loop {
        let size = match raw_get(node, name, &mut []) {
            Ok(n) => n,
            Err(e) if e.raw_os_error() == Some(libc::ENODATA) => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut buf = vec![0u8; size];
        match raw_get(node, name, &mut buf) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(Some(buf));
            }
            Err(e) if e.raw_os_error() == Some(libc::ERANGE) => continue,
            Err(e) if e.raw_os_error() == Some(libc::ENODATA) => return Ok(None),
            Err(e) => return Err(e),
        }
    }
}

pub(crate) fn set(node: &XNode, name: &CStr, value: &[u8]) -> io::Result<()> {
    let (p, n) = (value.as_ptr().cast(), value.len());
    // SAFETY: value pointer/length valid, strings NUL-terminated.
    let r = unsafe {
        match node {
            XNode::Fd(fd) => libc::fsetxattr(*fd, name.as_ptr(), p, n, 0),
            XNode::Path(c) => libc::lsetxattr(c.as_ptr(), name.as_ptr(), p, n, 0),
        }
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

pub(crate) fn remove(node: &XNode, name: &CStr) -> io::Result<()> {
    // SAFETY: strings are NUL-terminated.
    let r = unsafe {
        match node {
            XNode::Fd(fd) => libc::fremovexattr(*fd, name.as_ptr()),
            XNode::Path(c) => libc::lremovexattr(c.as_ptr(), name.as_ptr()),
        }
    };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ENODATA) {
            return Ok(());
        }
        return Err(e);
    }
    Ok(())
}

/// All attributes with values, sorted by name (filesystem-internal mirrors
/// of ACLs left out).
pub(crate) fn read_all(node: &XNode) -> io::Result<Vec<(CString, Vec<u8>)>> {
    let mut out = Vec::new();
    for name in list(node)? {
        if is_fs_internal(name.to_bytes()) {
            continue;
        }
        if let Some(v) = get(node, &name)? {
            out.push((name, v));
        }
    }
    Ok(out)
}
