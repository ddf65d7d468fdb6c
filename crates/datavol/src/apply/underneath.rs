//! The root-disk side of a mount over a directory (plan/underneath.rs):
//! the baseline taken when datavol copies the directory, and, before each
//! mount, saying what the mount would hide and recording it for status
//! and metrics.

use crate::catalog;
use crate::config::{HiddenPolicy, Volume};
use crate::plan::facts::PathKind;
use crate::plan::{Action, Decision, Facts};
use crate::record::history;
use crate::vlog;
use std::path::Path;

/// Records `src` as datavol copied it (or found it missing). A failure is
/// logged: the next mounts then cannot tell what a degraded boot wrote.
pub fn note_baseline(vol: &Volume, devs: &str, src: &Path, state_dir: &Path) {
    let name = vol.name.as_str();
    // Covered (a volume mounted but not committed): what lies under it
    // cannot be seen from here; the look before the next mount has no
    // baseline then, rather than a wrong one.
    let covered = crate::sys::mountinfo::read()
        .map(|m| crate::sys::mountinfo::mounted_at(&m, src).is_some())
        .unwrap_or(true);
    if covered {
        return;
    }
    let now = crate::record::marker::now();
    let done = crate::plan::underneath::baseline(src, now)
        .and_then(|b| history::record_baseline(state_dir, name, src, b).map_err(|e| e.to_string()));
    if let Err(e) = done {
        vlog!(
            warn,
            name,
            devs,
            "commit",
            "cannot record what {} held when it was copied ({e}); content written there later will not be noticed",
            src.display()
        );
    }
}

/// Says, before anything is mounted, what the decision would hide (one
/// line each, with its catalog id), and records every look for status and
/// metrics.
/// `state_dir` holds the records (apply's, or the check unit's).
pub fn report(vol: &Volume, d: &Decision, f: &Facts, state_dir: &Path) {
    let name = vol.name.as_str();
    let now = crate::record::marker::now();
    for p in &f.paths {
        let Some(Ok(look)) = &p.underneath else {
            continue;
        };
        // A finding the action does not act on (a fresh copy) is no finding.
        let found = d
            .hidden
            .iter()
            .any(|h| h.path == p.path)
            .then(|| look.hidden(now))
            .flatten();
        if let Err(e) = history::record_hidden(state_dir, name, &p.path, found) {
            log::warn!("volume {name}: cannot record what is hidden: {e}");
        }
    }
    let dev = d
        .device
        .as_ref()
        .map(|d| d.node.display().to_string())
        .unwrap_or_default();
    first_baseline(vol, &dev, d, f, state_dir);
    for h in &d.hidden {
        let what = match &h.error {
            None => format!(
                "{} on the root disk has {} entries ({} bytes) new or changed since datavol copied it: a boot ran without the volume and wrote there",
                h.path.display(),
                h.entries,
                h.bytes
            ),
            Some(e) => format!(
                "cannot tell whether {} on the root disk changed since datavol copied it ({e})",
                h.path.display()
            ),
        };
        let then = match h.policy {
            HiddenPolicy::Warn => "hidden_content = warn: mounting the volume over it; the content stays on the root disk under the mount",
            HiddenPolicy::Refuse => "hidden_content = refuse: not mounting over it",
        };
        let msg = format!(
            "volume {name}: {what}; {then}; hint: `datavol hidden {name}` lists it; merge what is needed into the volume (with its services stopped) or leave it, then `datavol hidden {name} --accept`"
        );
        catalog::hidden(name, &dev, &msg);
    }
}

/// A directory mounted over without a baseline (a volume seeded by an
/// older datavol, or adopted): its baseline now, right before the mount,
/// so the next boot that runs without the disk is noticed.
fn first_baseline(vol: &Volume, devs: &str, d: &Decision, f: &Facts, state_dir: &Path) {
    if !matches!(
        d.action(),
        Some(Action::Mount { .. } | Action::Adopt { .. })
    ) {
        return;
    }
    for p in f.sources(vol) {
        let here = matches!(p.kind, PathKind::Directory | PathKind::Missing);
        if here && f.record.underneath(&p.path).is_none() {
            note_baseline(vol, devs, &p.path, state_dir);
        }
    }
}
