//! What lies under a volume's directory on the root disk. When datavol
//! copies a directory it records a baseline of it (record/history.rs); a
//! boot that ran without the disk (`required = false`) lets containerd
//! write there, and the next mount would hide that silently. Before a
//! mount over the unmounted directory, one walk (lstat only, no link
//! followed, on the directory's own filesystem, bounded) counts what is
//! newer than the baseline: ctime cannot be set back from user space, so
//! `touch -d` does not hide a write.

use crate::record::history::{Baseline, Hidden};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Entries a look walks at least before it stops: a few hundred are
/// usual (the AMI's /var/lib/containerd); a look also walks twice the
/// baseline, so a stop always means more entries than were copied.
pub const MIN_LIMIT: u64 = 100_000;

/// Where `datavol hidden VOLUME --expose` shows a covered directory's own
/// content, read-only.
pub const EXPOSED: &str = "/run/datavol/underneath";

pub fn exposed_at(volume: &str) -> PathBuf {
    Path::new(EXPOSED).join(volume)
}

/// Where `dir` of `vol` is exposed: the volume's place, or with
/// `directories` a subdirectory of it per directory.
pub fn exposed_path(vol: &crate::config::Volume, dir: &Path) -> PathBuf {
    match vol.directories.is_empty() {
        true => exposed_at(&vol.name),
        false => exposed_at(&vol.name).join(crate::config::Volume::dir_subpath(dir)),
    }
}

/// One walk of a directory, the directory itself not counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Look {
    pub entries: u64,
    /// Sizes of the non-directories.
    pub bytes: u64,
    pub newest_ctime_ns: i64,
    /// Entries whose ctime is newer than the baseline's newest, and the
    /// sizes of those that are not directories.
    pub newer: u64,
    pub newer_bytes: u64,
    /// False when the walk stopped at its limit.
    pub complete: bool,
}

impl Look {
    /// What the look found written since its baseline: None when nothing.
    /// A removal alone hides nothing (the volume holds the copy).
    pub fn hidden(&self, found_at: u64) -> Option<Hidden> {
        (self.newer > 0 || !self.complete).then_some(Hidden {
            entries: self.newer,
            bytes: self.newer_bytes,
            entries_now: self.entries,
            bytes_now: self.bytes,
            found_at,
        })
    }

    /// The baseline this look stands for (a full walk).
    pub fn baseline(&self, taken_at: u64) -> Baseline {
        Baseline {
            entries: self.entries,
            bytes: self.bytes,
            newest_ctime_ns: self.newest_ctime_ns,
            taken_at,
        }
    }
}

fn ctime_ns(m: &std::fs::Metadata) -> i64 {
    m.ctime()
        .saturating_mul(1_000_000_000)
        .saturating_add(m.ctime_nsec())
}

fn named(p: &Path, e: std::io::Error) -> String {
    format!("{}: {e}", p.display())
}

/// Walks `root` (a directory): counts entries newer than `since_ns`, stops
/// after `limit` entries. Mount points below are counted, not entered.
pub fn walk(root: &Path, since_ns: Option<i64>, limit: u64) -> Result<Look, String> {
    walk_each(root, since_ns, limit, &mut |_, _| {})
}

/// `walk`, handing each newer entry (its path, its lstat) to `newer`.
pub fn walk_each(
    root: &Path,
    since_ns: Option<i64>,
    limit: u64,
    newer: &mut dyn FnMut(&Path, &std::fs::Metadata),
) -> Result<Look, String> {
    let top = std::fs::symlink_metadata(root).map_err(|e| named(root, e))?;
    if !top.is_dir() {
        return Err(format!("{}: not a directory", root.display()));
    }
    let mut look = Look {
        complete: true,
        ..Look::default()
    };
    let mut todo: Vec<PathBuf> = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for e in std::fs::read_dir(&dir).map_err(|e| named(&dir, e))? {
            let path = e.map_err(|e| named(&dir, e))?.path();
            let m = std::fs::symlink_metadata(&path).map_err(|e| named(&path, e))?;
            if look.entries == limit {
                look.complete = false;
                return Ok(look);
            }
            look.entries += 1;
            let ct = ctime_ns(&m);
            look.newest_ctime_ns = look.newest_ctime_ns.max(ct);
            let size = if m.is_dir() { 0 } else { m.size() };
            look.bytes += size;
            if since_ns.is_some_and(|s| ct > s) {
                look.newer += 1;
                look.newer_bytes += size;
                newer(&path, &m);
            }
            if m.is_dir() && m.dev() == top.dev() {
                todo.push(path);
            }
        }
    }
    Ok(look)
}

/// The look under `path` against its baseline, bounded.
pub fn look(path: &Path, baseline: &Baseline) -> Result<Look, String> {
    let limit = MIN_LIMIT.max(baseline.entries.saturating_mul(2));
    walk(path, Some(baseline.newest_ctime_ns), limit)
}

/// The baseline of `path` as it is now: a full walk; an empty one when the
/// directory does not exist (whatever appears later is then new).
pub fn baseline(path: &Path, now: u64) -> Result<Baseline, String> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Baseline {
            taken_at: now,
            ..Baseline::default()
        }),
        _ => walk(path, None, u64::MAX).map(|l| l.baseline(now)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_what_is_newer_and_stops_at_the_limit() {
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(d.path().join("a")).expect("mkdir");
        std::fs::write(d.path().join("a/f"), b"1234").expect("write");
        let b = baseline(d.path(), 1).expect("baseline");
        assert_eq!((b.entries, b.bytes), (2, 4));
        let same = look(d.path(), &b).expect("look");
        assert_eq!(same.hidden(2), None, "{same:?}");
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(d.path().join("a/g"), b"123456").expect("write");
        let l = look(d.path(), &b).expect("look");
        // The new file, and its directory (its ctime changed with it).
        let h = l.hidden(2).expect("hidden");
        assert_eq!((h.entries, h.bytes, h.entries_now), (2, 6, 3), "{l:?}");
        let cut = walk(d.path(), Some(b.newest_ctime_ns), 1).expect("walk");
        assert!(!cut.complete && cut.hidden(2).is_some(), "{cut:?}");
    }

    #[test]
    fn a_missing_directory_has_an_empty_baseline() {
        let d = tempfile::tempdir().expect("tempdir");
        let b = baseline(&d.path().join("none"), 5).expect("baseline");
        assert_eq!((b.entries, b.newest_ctime_ns, b.taken_at), (0, 0, 5));
    }
}
