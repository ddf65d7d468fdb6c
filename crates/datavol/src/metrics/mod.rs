//! Metrics for node_exporter's textfile collector: with `[metrics]
//! textfile_dir`, every run rewrites `<textfile_dir>/datavol.prom`
//! atomically (temp file in the same directory, fsync, rename, fsync of
//! the directory; mode 0644).
//!
//! The file is rendered from the records on the root disk, never from what
//! one run happens to know: each verb stores its last run (record/runs.rs),
//! then renders all of them with the volumes' seed history. So a
//! check-images run still reports every volume as the last apply left it,
//! and apply still reports the sandbox images as the last check found them.

pub mod render;

use crate::config::Config;
use crate::record::history::{self, History};
use crate::record::runs::{self, ImageState, LastRun};
use render::{ImageSample, RunSample, Snapshot, VolumeSample};
use std::path::{Path, PathBuf};

pub const FILE: &str = "datavol.prom";

/// Records `run` as its verb's last run and, with `[metrics]`, rewrites
/// the metrics file from all the records. Every verb calls this once, as
/// it finishes. Failures are logged: metrics never change a run's outcome.
pub fn finish(cfg: &Config, state_dir: &Path, run: &LastRun) {
    // Without the lock, still record and write: a stale picture is better
    // than none, and the next run corrects it.
    use crate::sys::lock;
    let _lock = lock::take_within(
        Path::new(runs::RECORDS_LOCK),
        lock::Access::Exclusive,
        lock::RECORDS_WAIT,
    )
    .map_err(|e| log::warn!("{e}"))
    .ok();
    if let Err(e) = runs::store(state_dir, run) {
        log::warn!("cannot record this run for status and metrics: {e}");
    }
    let Some(m) = &cfg.metrics else {
        return;
    };
    let text = render::render(&collect(cfg, state_dir));
    match write(&m.textfile_dir, &text) {
        Ok(path) => log::debug!("metrics written to {}", path.display()),
        // A FIFO or a link there: left alone, and nothing waits on it.
        Err((_, e)) if e.kind() == std::io::ErrorKind::InvalidInput => log::warn!(
            "metrics not written: {e}; hint: remove it, datavol writes a plain file there on its next run"
        ),
        Err((path, e)) => log::warn!(
            "cannot write the metrics file {}: {e}; hint: check [metrics] textfile_dir",
            path.display()
        ),
    }
}

fn write(dir: &Path, text: &str) -> Result<PathBuf, (PathBuf, std::io::Error)> {
    let path = dir.join(FILE);
    crate::sys::fsutil::create_dir_durable(dir, 0o755).map_err(|e| (dir.to_path_buf(), e))?;
    crate::sys::fsutil::write_if_changed(&path, text.as_bytes(), 0o644)
        .map_err(|e| (path.clone(), e))?;
    Ok(path)
}

/// What the records say about the configured volumes and images, and the
/// last run of every verb.
pub fn collect(cfg: &Config, state_dir: &Path) -> Snapshot {
    let all = runs::load_all(state_dir);
    let last = |verb: &str| all.iter().find(|r| r.verb == verb);
    let apply = last(runs::APPLY);
    let check = last(runs::CHECK_IMAGES);
    let volumes = cfg
        .volumes
        .iter()
        .map(|v| {
            let h = history::load(state_dir, &v.name).unwrap_or_else(|_| History::empty(&v.name));
            let o = apply.and_then(|a| a.volumes.iter().find(|o| o.volume == v.name));
            let (hidden_entries, hidden_bytes) = h.hidden_total();
            VolumeSample {
                hidden_entries,
                hidden_bytes,
                volume: v.name.clone(),
                state: o.map_or("unknown", |o| o.state.as_str()).to_string(),
                device: o.map_or_else(|| v.device_text(), |o| o.device.clone()),
                filesystem: v.filesystem.to_string(),
                mount_point: v.mount_point.display().to_string(),
                migration: o.and_then(|o| o.migration).map(|m| (m.bytes, m.seconds)),
                seeds: u64::from(h.seeds),
                reseeds: u64::from(h.reseeds),
                grows: u64::from(h.grows),
            }
        })
        .collect();
    let images = cfg
        .sandbox
        .iter()
        .flat_map(|s| s.images.iter())
        .map(|image| {
            let o = check.and_then(|c| c.images.iter().find(|o| &o.image == image));
            ImageSample {
                image: image.clone(),
                ready: o.map(|o| o.state != ImageState::Missing),
                restored_total: o.map_or(0, |o| o.restored_total),
                repinned_total: o.map_or(0, |o| o.repinned_total),
            }
        })
        .collect();
    let runs = all
        .iter()
        .map(|r| RunSample {
            verb: r.verb.clone(),
            finished_at: r.finished_at,
            exit_code: r.exit_code,
        })
        .collect();
    Snapshot {
        volumes,
        images,
        runs,
    }
}
