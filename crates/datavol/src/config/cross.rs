//! Checks across keys and volumes: paths mounted on twice or nested in each
//! other, and two volumes that name the same disk.

use super::keys::VolumeDraft;
use super::source::Location;
use super::{ConfigError, Scope};
use std::path::{Path, PathBuf};

fn overlaps(a: &Path, b: &Path) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

fn error(d: &VolumeDraft, location: Location, what: String, hint: &str) -> ConfigError {
    ConfigError::At {
        location,
        scope: Scope::Volume(d.vol.name.clone()),
        what,
        hint: hint.to_string(),
    }
}

/// Every path the volume mounts on, with where it was written.
fn claimed(d: &VolumeDraft) -> Vec<(PathBuf, Location)> {
    let paths = d.vol.claimed();
    let mut at = d.mount_at.iter().chain(&d.dirs_at);
    paths
        .into_iter()
        .filter_map(|p| at.next().map(|l| (p, l.clone())))
        .collect()
}

/// `d`'s own paths must not overlap each other.
pub fn check_own_paths(d: &VolumeDraft) -> Result<(), ConfigError> {
    let mine = claimed(d);
    for (i, (a, _)) in mine.iter().enumerate() {
        if let Some((b, at)) = mine[i + 1..].iter().find(|(b, _)| overlaps(a, b)) {
            return Err(error(
                d,
                at.clone(),
                format!("{} and {} overlap", a.display(), b.display()),
                "list each directory once, none inside another or inside mount_point",
            ));
        }
    }
    Ok(())
}

/// `d` against a volume validated before it: no shared paths, no shared disk.
pub fn check_pair(earlier: &VolumeDraft, d: &VolumeDraft) -> Result<(), ConfigError> {
    for (a, at) in claimed(d) {
        if let Some((b, _)) = claimed(earlier).into_iter().find(|(b, _)| overlaps(&a, b)) {
            return Err(error(
                d,
                at,
                format!(
                    "{} overlaps volume {:?} at {}",
                    a.display(),
                    earlier.vol.name,
                    b.display()
                ),
                "give each volume its own, non-nested paths",
            ));
        }
    }
    for (s, at) in d.vol.device.iter().zip(&d.device_at) {
        let same = earlier
            .vol
            .device
            .iter()
            .zip(&earlier.device_at)
            .find(|(o, _)| o.same_disk(s));
        if let Some((o, oat)) = same {
            return Err(error(
                d,
                at.clone(),
                format!(
                    "device {s} names the same disk as {o} of volume {:?} ({}:{})",
                    earlier.vol.name,
                    oat.file.display(),
                    oat.line
                ),
                "give each volume its own disk, or serve several directories from one volume with directories = [...]",
            ));
        }
    }
    Ok(())
}
