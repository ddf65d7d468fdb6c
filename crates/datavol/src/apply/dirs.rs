//! Volumes that serve several directories (`directories = [...]`): each
//! directory is copied into `/.datavol/staging/<escaped path>`, verified, and
//! committed on its own by one atomic rename to `/<escaped path>`. The volume
//! is mounted once (privately) and each directory is a bind mount of its
//! subdirectory.

use super::copy::{copy_verified, discard_partial, syncfs};
use super::error::ApplyError;
use super::failpoint::failpoint;
use super::options::Options;
use crate::config::Volume;
use crate::record::marker::{self, DirState, Phase, State};
use crate::sys::fsutil;
use crate::vlog;
use std::path::Path;

/// Migrates each of the volume's directories into the filesystem mounted at
/// `root`, whose state is `st`.
pub fn migrate(
    vol: &Volume,
    devs: &str,
    root: &Path,
    st: &mut State,
    copy: bool,
    opts: &Options,
) -> Result<(), ApplyError> {
    let name = vol.name.as_str();
    for dir in &vol.directories {
        let sub = Volume::dir_subpath(dir);
        let staging = marker::dir_staging(root, dir);
        let target = root.join(&sub);
        let mut ds = st.directories.get(dir).cloned().unwrap_or(DirState {
            phase: Phase::Copying,
            copied: Default::default(),
            committed_at: None,
        });
        if ds.phase == Phase::Copying {
            discard_partial(name, devs, &staging)?;
            // Not a no-op: a volume committed before this directory was added
            // is unfinished again until the directory commits (see below).
            st.phase = Phase::Copying;
            st.directories.insert(dir.clone(), ds.clone());
            marker::write(root, st)?;
            fsutil::create_dir_durable(&staging, 0o755)
                .map_err(|e| ApplyError::io(staging.display(), e))?;
            if copy && dir.is_dir() {
                ds.copied = copy_verified(vol, devs, dir, &staging, root, opts)?;
            }
            super::underneath::note_baseline(vol, devs, dir, &opts.state_dir);
            failpoint("verified");
            ds.phase = Phase::Verified;
            st.directories.insert(dir.clone(), ds.clone());
            marker::write(root, st)?;
        }
        if ds.phase == Phase::Verified {
            // One rename commits the whole directory; after a crash right
            // after it, the target exists and staging is gone: done already.
            if staging.exists() {
                fsutil::rename_noreplace(&staging, &target).map_err(|e| {
                    ApplyError::io(
                        format!(
                            "committing {}: moving {} to {}",
                            dir.display(),
                            staging.display(),
                            target.display()
                        ),
                        e,
                    )
                })?;
                fsutil::sync_dir(root).map_err(|e| ApplyError::io(root.display(), e))?;
            }
            ds.phase = Phase::Committed;
            ds.committed_at = Some(marker::now());
            st.directories.insert(dir.clone(), ds);
            marker::write(root, st)?;
            vlog!(info, name, devs, "commit", "{} committed", dir.display());
            failpoint("committed");
        }
    }
    if st.dirs_committed(&vol.directories) && st.phase != Phase::Committed {
        st.phase = Phase::Committed;
        st.committed_at = Some(marker::now());
        st.seeds += 1;
        marker::write(root, st)?;
    }
    syncfs(root)
}
