//! Volumes that serve several directories (`directories = [...]`): each
//! directory is copied into `/.datavol/staging/<escaped path>`, verified, and
//! committed on its own by one atomic rename to `/<escaped path>`. The volume
//! is mounted once (privately) and each directory is a bind mount of its
//! subdirectory.

use crate::apply::{copy_with_progress, failed, failpoint, fs_free, refused, Options, VolumeError};
use crate::config::Volume;
use crate::namespace::TempMount;
use crate::state::{self, DirState, Phase, State};
use crate::{fsutil, plan, vlog};
use std::path::Path;
use std::time::Instant;

fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let f = std::ffi::CString::new(from.as_os_str().as_bytes())?;
    let t = std::ffi::CString::new(to.as_os_str().as_bytes())?;
    // SAFETY: both are valid NUL-terminated paths owned by this frame.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            f.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

pub fn migrate(
    vol: &Volume,
    node: &Path,
    devs: &str,
    copy: bool,
    opts: &Options,
) -> Result<(), VolumeError> {
    let name = vol.name.as_str();
    let m = TempMount::new(
        node,
        &plan::work_mount_dir(vol),
        vol.filesystem.as_str(),
        false,
        "",
    )
    .map_err(failed)?;
    let root = m.target.clone();
    let mut st = match state::read(&root).map_err(failed)? {
        Some(s) => s,
        None if !plan::only_ours(&root).map_err(failed)? => {
            return Err(refused(format!(
                "volume {name}: {devs} carries datavol's label but holds files and no datavol marker; refusing to mix a copy into it; hint: inspect it, and wipe it by hand if it is disposable"
            )))
        }
        None => State::new(name, &vol.mount_point),
    };
    for dir in &vol.directories {
        let sub = Volume::dir_subpath(dir);
        let staging = state::dir_staging(&root, dir);
        let target = root.join(&sub);
        let mut ds = st.directories.get(dir).cloned().unwrap_or(DirState {
            phase: Phase::Copying,
            files: 0,
            dirs: 0,
            bytes: 0,
            copy_seconds: 0.0,
            committed_at: None,
        });
        if ds.phase == Phase::Copying {
            if staging.exists() {
                vlog!(
                    info,
                    name,
                    devs,
                    "copy",
                    "{}: discarding the partial copy of an interrupted run",
                    dir.display()
                );
                std::fs::remove_dir_all(&staging)
                    .map_err(|e| failed(format!("removing {}: {e}", staging.display())))?;
            }
            st.phase = Phase::Copying;
            st.directories.insert(dir.clone(), ds.clone());
            state::write(&root, &st).map_err(failed)?;
            fsutil::create_dir_durable(&staging, 0o755)
                .map_err(|e| failed(format!("{}: {e}", staging.display())))?;
            if copy && dir.is_dir() {
                let usage = datavol_copy::survey(dir).map_err(|e| {
                    refused(format!("volume {name}: source {}: {e}", dir.display()))
                })?;
                let free = fs_free(&root)?;
                if usage.allocated_bytes > free {
                    return Err(refused(format!(
                        "volume {name}: {} needs {} bytes but {devs} has {free} free; hint: use a larger volume",
                        dir.display(),
                        usage.allocated_bytes
                    )));
                }
                vlog!(
                    info,
                    name,
                    devs,
                    "copy",
                    "copying {} ({} entries, {} MiB)",
                    dir.display(),
                    usage.entries,
                    usage.allocated_bytes >> 20
                );
                let t = Instant::now();
                let stats = copy_with_progress(vol, devs, dir, &staging, &usage, opts)?;
                nix::unistd::syncfs(std::fs::File::open(&root).map_err(failed)?)
                    .map_err(|e| failed(format!("syncfs {}: {e}", root.display())))?;
                ds.copy_seconds = t.elapsed().as_secs_f64();
                ds.files = stats.files;
                ds.dirs = stats.dirs;
                ds.bytes = stats.bytes;
                failpoint("copied");
                let v = datavol_copy::verify_tree(dir, &staging).map_err(|e| {
                    failed(format!(
                        "volume {name}: verification of {} failed, nothing committed: {e}",
                        dir.display()
                    ))
                })?;
                vlog!(
                    info,
                    name,
                    devs,
                    "verify",
                    "{}: verified {} files, {} dirs",
                    dir.display(),
                    v.files,
                    v.dirs
                );
            }
            failpoint("verified");
            ds.phase = Phase::Verified;
            st.directories.insert(dir.clone(), ds.clone());
            state::write(&root, &st).map_err(failed)?;
        }
        if ds.phase == Phase::Verified {
            // One rename commits the whole directory; after a crash right
            // after it, the target exists and staging is gone: done already.
            if staging.exists() {
                rename_noreplace(&staging, &target).map_err(|e| {
                    failed(format!(
                        "volume {name}: committing {}: moving {} to {}: {e}",
                        dir.display(),
                        staging.display(),
                        target.display()
                    ))
                })?;
                fsutil::sync_dir(&root).map_err(failed)?;
            }
            ds.phase = Phase::Committed;
            ds.committed_at = Some(state::now());
            st.directories.insert(dir.clone(), ds);
            state::write(&root, &st).map_err(failed)?;
            vlog!(info, name, devs, "commit", "{} committed", dir.display());
            failpoint("committed");
        }
    }
    if st.dirs_committed(&vol.directories) && st.phase != Phase::Committed {
        st.phase = Phase::Committed;
        st.committed_at = Some(state::now());
        st.seeds += 1;
        state::write(&root, &st).map_err(failed)?;
    }
    nix::unistd::syncfs(std::fs::File::open(&root).map_err(failed)?)
        .map_err(|e| failed(format!("syncfs {}: {e}", root.display())))?;
    m.unmount().map_err(failed)
}
