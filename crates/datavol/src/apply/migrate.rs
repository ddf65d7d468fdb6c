//! Moving the directory onto the volume's filesystem, crash-safely: copy
//! into `/.datavol/staging`, verify, then commit each entry into the root
//! with a rename that never replaces anything, the marker recording each
//! step. With `directories`, each directory is committed on its own
//! (dirs.rs). Also adopting a filesystem datavol did not make.

use super::copy::{copy_verified, discard_partial, syncfs};
use super::error::ApplyError;
use super::failpoint::failpoint;
use super::options::Options;
use crate::config::Volume;
use crate::plan::facts::{only_ours, work_mount_dir};
use crate::record::marker::{self, Phase, State};
use crate::sys::fsutil;
use crate::sys::namespace::TempMount;
use crate::vlog;
use std::path::Path;

/// The volume's filesystem, mounted read-write where only datavol sees it.
/// Only for a filesystem classify found to be datavol's (or to adopt).
fn work_mount(vol: &Volume, node: &Path) -> Result<TempMount, ApplyError> {
    Ok(TempMount::new(
        node,
        &work_mount_dir(vol),
        vol.filesystem.as_str(),
        false,
        "",
    )?)
}

/// The work mount and the filesystem's state: the recorded one, or a
/// fresh one when it holds nothing but what mkfs made (or classify found
/// it formatted by this node: `known`).
fn open_work(
    vol: &Volume,
    node: &Path,
    devs: &str,
    known: bool,
) -> Result<(TempMount, State), ApplyError> {
    let m = work_mount(vol, node)?;
    let st = match marker::read(&m.target)? {
        Some(s) => s,
        None if !known
            && !only_ours(&m.target).map_err(|e| ApplyError::io(m.target.display(), e))? =>
        {
            return Err(ApplyError::NotOurs {
                device: devs.to_string(),
            })
        }
        None => State::new(&vol.name, &vol.mount_point),
    };
    Ok((m, st))
}

/// Copies the directory onto the filesystem (under `.datavol/staging`),
/// verifies it, and commits it into the filesystem root; with
/// `directories`, each of them (dirs.rs). `copy = false`: commit empty.
pub fn migrate(
    vol: &Volume,
    node: &Path,
    devs: &str,
    copy: bool,
    known: bool,
    opts: &Options,
) -> Result<(), ApplyError> {
    let (m, mut st) = open_work(vol, node, devs, known)?;
    let root = m.target.clone();
    if vol.directories.is_empty() {
        migrate_root(vol, devs, &root, &mut st, copy, opts)?;
    } else {
        super::dirs::migrate(vol, devs, &root, &mut st, copy, opts)?;
    }
    Ok(m.unmount()?)
}

fn migrate_root(
    vol: &Volume,
    devs: &str,
    root: &Path,
    st: &mut State,
    copy: bool,
    opts: &Options,
) -> Result<(), ApplyError> {
    let name = vol.name.as_str();
    let src = vol.mount_point.as_path();
    let have_src = copy && src.is_dir();
    let staging = marker::staging(root);
    if st.phase == Phase::Copying {
        discard_partial(name, devs, &staging)?;
        st.started_at = marker::now();
        marker::write(root, st)?;
        fsutil::create_dir_durable(&staging, 0o700)
            .map_err(|e| ApplyError::io(staging.display(), e))?;
        if have_src {
            st.copied = copy_verified(vol, devs, src, &staging, root, opts)?;
        }
        super::underneath::note_baseline(vol, devs, src, &opts.state_dir);
        failpoint("verified");
        st.phase = Phase::Verified;
        marker::write(root, st)?;
    }
    if st.phase == Phase::Verified {
        commit(&staging, root).map_err(|e| ApplyError::io("committing", e))?;
        if have_src {
            datavol_copy::copy_dir_metadata(src, root).map_err(|source| ApplyError::Copy {
                src: src.to_path_buf(),
                source,
            })?;
        }
        st.phase = Phase::Committed;
        st.committed_at = Some(marker::now());
        st.seeds += 1;
        marker::write(root, st)?;
        syncfs(root)?;
        vlog!(info, name, devs, "commit", "migration committed");
        failpoint("committed");
    }
    Ok(())
}

/// Moves everything from staging into the root. Each rename is atomic and
/// refuses to replace; a crash in between leaves the rest for the next run.
fn commit(staging: &Path, root: &Path) -> std::io::Result<()> {
    if staging.exists() {
        for e in std::fs::read_dir(staging)? {
            let e = e?;
            let from = e.path();
            fsutil::rename_noreplace(&from, &root.join(e.file_name())).map_err(|err| {
                std::io::Error::new(
                    err.kind(),
                    format!("moving {} into {}: {err}", from.display(), root.display()),
                )
            })?;
        }
        fsutil::sync_dir(root)?;
        std::fs::remove_dir(staging)?;
        if let Some(p) = staging.parent() {
            fsutil::sync_dir(p)?;
        }
    }
    Ok(())
}

/// Writes a committed marker into a filesystem datavol did not make.
pub fn adopt(vol: &Volume, node: &Path, devs: &str) -> Result<(), ApplyError> {
    let m = work_mount(vol, node)?;
    let now = marker::now();
    marker::write(
        &m.target,
        &State {
            phase: Phase::Committed,
            committed_at: Some(now),
            ..State::new(&vol.name, &vol.mount_point)
        },
    )?;
    vlog!(
        info,
        vol.name.as_str(),
        devs,
        "commit",
        "adopted the existing filesystem; marker written"
    );
    Ok(m.unmount()?)
}
