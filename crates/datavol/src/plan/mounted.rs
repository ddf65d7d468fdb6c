//! The one answer to "is this volume mounted as configured?", for classify,
//! apply, `gate` and `status`: the filesystem at its mount point, and each
//! served directory bind-mounted from its own subdirectory of it.

use crate::config::Volume;
use crate::sys::mountinfo::{self, MountEntry};
use std::path::{Path, PathBuf};

/// Each mount the volume needs: (where, the root inside the filesystem).
pub fn expected(vol: &Volume) -> Vec<(PathBuf, PathBuf)> {
    let mut v = vec![(vol.mount_point.clone(), PathBuf::from("/"))];
    for d in &vol.directories {
        v.push((d.clone(), Path::new("/").join(Volume::dir_subpath(d))));
    }
    v
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mounted {
    /// Every expected mount is there, from the device.
    Fully,
    /// Nothing of the volume is mounted.
    No,
    /// Some mounts are there, some (these) are missing.
    Partly(Vec<PathBuf>),
    /// Something else is mounted where the volume goes.
    Other(MountEntry),
}

/// How the volume's mounts look in `mounts`, for the device `majmin`.
pub fn state(vol: &Volume, majmin: (u32, u32), mounts: &[MountEntry]) -> Mounted {
    let mut missing = Vec::new();
    let want = expected(vol);
    for (at, root) in &want {
        match mountinfo::mounted_at(mounts, at) {
            Some(m) if (m.major, m.minor) == majmin && &m.root == root => {}
            Some(m) if (m.major, m.minor) != majmin => return Mounted::Other(m.clone()),
            // Our device, the wrong subdirectory: as good as something else.
            Some(m) => return Mounted::Other(m.clone()),
            None => missing.push(at.clone()),
        }
    }
    if missing.is_empty() {
        Mounted::Fully
    } else if missing.len() == want.len() {
        Mounted::No
    } else {
        Mounted::Partly(missing)
    }
}

/// Whether every mount the volume needs is in place from `majmin`.
pub fn fully(vol: &Volume, majmin: (u32, u32), mounts: &[MountEntry]) -> bool {
    state(vol, majmin, mounts) == Mounted::Fully
}
