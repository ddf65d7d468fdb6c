//! Applying owner, xattrs, mode and times to a copied entry, in the order
//! the kernel requires:
//!
//! 1. chown (numeric). chown clears setuid/setgid and drops
//!    security.capability, so it goes first.
//! 2. xattrs: those the target has and the source lacks are removed, then
//!    all of the source's except security.capability are set (ACLs included).
//! 3. chmod (not on symlinks). After the ACL so the group/mask bits end up
//!    exactly as in the source.
//! 4. security.capability.
//! 5. atime/mtime with nanoseconds.

use std::ffi::CStr;
use std::io;
use std::os::fd::RawFd;

use crate::sys::{self, Stat};
use crate::xattr::{self, XNode, CAPABILITY};

/// A failed step: which operation and why.
pub(crate) type OpError = (&'static str, io::Error);

/// The copy target.
pub(crate) enum Target<'a> {
    /// An open regular file or directory.
    Fd(RawFd),
    /// Any other entry (symlink, device, fifo) by parent dir fd and name.
    At(RawFd, &'a CStr),
}

pub(crate) fn apply(src: &XNode, dst: &Target, st: &Stat) -> Result<(), OpError> {
    let ftype = sys::file_type(st);
    let is_link = ftype == libc::S_IFLNK;
    let dnode = match dst {
        Target::Fd(fd) => XNode::Fd(*fd),
        Target::At(dir, name) => XNode::at(*dir, name).map_err(|e| ("xattr path", e))?,
    };

    match dst {
        Target::Fd(fd) => sys::fchown(*fd, st.st_uid, st.st_gid),
        Target::At(dir, name) => sys::lchownat(*dir, name, st.st_uid, st.st_gid),
    }
    .map_err(|e| ("chown", e))?;

    let attrs = xattr::read_all(src).map_err(|e| ("read xattrs", e))?;
    // Attributes the target already has but the source lacks (an existing
    // directory, a label or ACL given at creation) go, so that the copy has
    // exactly the source's set.
    for name in xattr::list(&dnode).map_err(|e| ("list xattrs", e))? {
        if xattr::is_fs_internal(name.to_bytes()) || attrs.iter().any(|(n, _)| *n == name) {
            continue;
        }
        xattr::remove(&dnode, &name).map_err(|e| ("remove xattr", annotate(e, &name)))?;
    }
    let mut cap = None;
    for (name, value) in &attrs {
        if name.to_bytes() == CAPABILITY {
            cap = Some((name, value));
            continue;
        }
        set_one(&dnode, name, value, ftype)?;
    }

    if !is_link {
        let mode = st.st_mode & 0o7777;
        match dst {
            Target::Fd(fd) => sys::fchmod(*fd, mode),
            Target::At(dir, name) => sys::fchmodat(*dir, name, mode),
        }
        .map_err(|e| ("chmod", e))?;
    }

    if let Some((name, value)) = cap {
        set_one(&dnode, name, value, ftype)?;
    }

    match dst {
        Target::Fd(fd) => sys::futimens(*fd, st),
        Target::At(dir, name) => sys::lutimensat(*dir, name, st),
    }
    .map_err(|e| ("set times", e))
}

fn set_one(node: &XNode, name: &CStr, value: &[u8], ftype: libc::mode_t) -> Result<(), OpError> {
    match xattr::set(node, name, value) {
        Ok(()) => Ok(()),
        // The kernel refuses user.* on anything but regular files and
        // directories (EPERM); that is the only failure tolerated.
        Err(e)
            if e.raw_os_error() == Some(libc::EPERM)
                && name.to_bytes().starts_with(b"user.")
                && ftype != libc::S_IFREG
                && ftype != libc::S_IFDIR =>
        {
            log::warn!(
                "cannot set {} on a {}: the kernel does not allow it",
                name.to_string_lossy(),
                sys::type_name(ftype)
            );
            Ok(())
        }
        Err(e) => Err(("set xattr", annotate(e, name))),
    }
}

fn annotate(e: io::Error, name: &CStr) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", name.to_string_lossy()))
}
