//! datavol does its temporary mounts in a mount namespace of its own, a slave
//! of the host's: they never leak to the host and vanish if datavol dies,
//! while the real mount that systemd makes still shows up here.

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum NsError {
    #[error("creating a private mount namespace: {0}; hint: datavol must run as root (CAP_SYS_ADMIN), before it starts any thread")]
    Unshare(#[source] nix::Error),
    #[error("mounting {device} on {target} ({fstype}, {options}): {source}")]
    Mount {
        device: PathBuf,
        target: PathBuf,
        fstype: String,
        options: String,
        #[source]
        source: nix::Error,
    },
    #[error("unmounting {target}: {source}")]
    Umount {
        target: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Must run before any thread exists (unshare(CLONE_NEWNS) refuses otherwise).
pub fn enter_private() -> Result<(), NsError> {
    unshare(CloneFlags::CLONE_NEWNS).map_err(NsError::Unshare)?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None::<&str>,
    )
    .map_err(NsError::Unshare)
}

/// A temporary mount, unmounted when dropped.
pub struct TempMount {
    pub target: PathBuf,
    mounted: bool,
}

impl TempMount {
    pub fn new(
        device: &Path,
        target: &Path,
        fstype: &str,
        read_only: bool,
        options: &str,
    ) -> Result<Self, NsError> {
        std::fs::create_dir_all(target).map_err(|source| NsError::Io {
            path: target.to_path_buf(),
            source,
        })?;
        let mut flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        if read_only {
            flags |= MsFlags::MS_RDONLY;
        }
        let data = (!options.is_empty()).then_some(options);
        mount(Some(device), target, Some(fstype), flags, data).map_err(|source| {
            NsError::Mount {
                device: device.to_path_buf(),
                target: target.to_path_buf(),
                fstype: fstype.to_string(),
                options: if read_only {
                    format!("ro,{options}")
                } else {
                    options.to_string()
                },
                source,
            }
        })?;
        Ok(Self::private(target))
    }

    /// Our mount at `target`, kept out of anyone else's view even if the
    /// caller forgot.
    fn private(target: &Path) -> Self {
        let _ = mount(
            None::<&str>,
            target,
            None::<&str>,
            MsFlags::MS_PRIVATE,
            None::<&str>,
        );
        TempMount {
            target: target.to_path_buf(),
            mounted: true,
        }
    }

    /// A bind of `src` at `target`, not recursive: it shows `src`'s own
    /// filesystem, without what is mounted below it (what a mount covers).
    pub fn bind(src: &Path, target: &Path) -> Result<Self, NsError> {
        bind(src, target, false)?;
        Ok(Self::private(target))
    }

    pub fn remount_rw(&self) -> Result<(), NsError> {
        mount(
            None::<&str>,
            &self.target,
            None::<&str>,
            MsFlags::MS_REMOUNT | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            None::<&str>,
        )
        .map_err(|source| NsError::Mount {
            device: PathBuf::new(),
            target: self.target.clone(),
            fstype: String::new(),
            options: "remount,rw".into(),
            source,
        })
    }

    pub fn unmount(mut self) -> Result<(), NsError> {
        self.mounted = false;
        umount2(&self.target, MntFlags::empty()).map_err(|source| NsError::Umount {
            target: self.target.clone(),
            source,
        })
    }
}

impl Drop for TempMount {
    fn drop(&mut self) {
        if self.mounted {
            let _ = umount2(&self.target, MntFlags::MNT_DETACH);
        }
    }
}

/// A non-recursive bind of `src` at `target` (created), read-only when asked;
/// it stays until unmounted.
pub fn bind(src: &Path, target: &Path, read_only: bool) -> Result<(), NsError> {
    std::fs::create_dir_all(target).map_err(|source| NsError::Io {
        path: target.to_path_buf(),
        source,
    })?;
    let err = |options: &str| {
        let options = options.to_string();
        move |source| NsError::Mount {
            device: src.to_path_buf(),
            target: target.to_path_buf(),
            fstype: String::new(),
            options,
            source,
        }
    };
    mount(
        Some(src),
        target,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(err("bind"))?;
    if read_only {
        let flags = MsFlags::MS_BIND
            | MsFlags::MS_REMOUNT
            | MsFlags::MS_RDONLY
            | MsFlags::MS_NOSUID
            | MsFlags::MS_NODEV;
        if let Err(e) = mount(None::<&str>, target, None::<&str>, flags, None::<&str>) {
            let _ = umount2(target, MntFlags::MNT_DETACH);
            return Err(err("bind,remount,ro")(e));
        }
    }
    Ok(())
}
