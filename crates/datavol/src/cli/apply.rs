//! `datavol apply` (what datavol.service runs): every volume, in name order;
//! one `stage=result` line each, ready or why not. The outcomes are
//! recorded for status and rendered as metrics.

use crate::apply::{self, Options};
use crate::catalog;
use crate::config::{Config, Volume};
use crate::error::Failure;
use crate::plan::Run;
use crate::record::runs::{self, LastRun, Migration, VolumeOutcome, VolumeState};
use crate::sys::notify;
use crate::systemd::bus::Bus;
use log::Level;
use std::process::ExitCode;
use std::time::Duration;

/// Beyond its device wait, what one volume may take before its copy starts
/// sending keep-alives of its own: probes, mkfs (a discard of a large disk),
/// the survey of a big tree, the unit and its mount.
const VOLUME_SLACK: Duration = Duration::from_secs(15 * 60);

pub fn run(cfg: &Config, opts: &Options) -> ExitCode {
    let mut record = LastRun::now(runs::APPLY, 0);
    let failure = apply_all(cfg, opts, &mut record.volumes);
    record.exit_code = failure.map_or(0, Failure::code);
    record.finished_at = crate::record::marker::now();
    crate::metrics::finish(cfg, &opts.state_dir, &record);
    // Last, once everything is done: containerd starts on READY=1.
    notify::finish(failure.is_none(), &summary(&record.volumes, failure));
    failure.map_or(ExitCode::SUCCESS, Failure::exit_code)
}

/// The final `systemctl status` line.
fn summary(outcomes: &[VolumeOutcome], failure: Option<Failure>) -> String {
    let ready = outcomes
        .iter()
        .filter(|o| o.state == VolumeState::Ready)
        .count();
    let mut s = format!("{ready} of {} volumes ready", outcomes.len());
    if let Some(f) = failure {
        s.push_str(&format!("; exit {} (see the journal)", f.code()));
    }
    s
}

/// The first failure in name order, if any; each volume's outcome in `outcomes`.
fn apply_all(cfg: &Config, opts: &Options, outcomes: &mut Vec<VolumeOutcome>) -> Option<Failure> {
    if cfg.volumes.is_empty() {
        log::info!("no volumes configured; nothing to do");
        return None;
    }
    // Deciding on an empty mount table would take every disk for unused.
    let mut run = match Run::new(&opts.state_dir) {
        Ok(r) => r,
        Err(e) => {
            log::error!(
                "cannot read the mount table: {e}; nothing was changed; hint: is /proc mounted?"
            );
            return Some(Failure::Failed);
        }
    };
    let mut bus = Bus::new();
    let mut first_failure: Option<Failure> = None;
    for vol in &cfg.volumes {
        notify::keep_alive(
            vol.device_timeout + VOLUME_SLACK,
            &format!("volume {}: looking at {}", vol.name, vol.device_text()),
        );
        let result = report(vol, apply::run(vol, &mut run, opts, &mut bus));
        if let Err(f) = result {
            first_failure.get_or_insert(f);
        }
        let refreshed = run.refresh_mounts();
        outcomes.push(outcome(vol, result, &run));
        if let Err(e) = refreshed {
            log::error!("cannot read the mount table: {e}; stopping before the next volume");
            first_failure.get_or_insert(Failure::Failed);
            break;
        }
    }
    first_failure
}

/// The volume's `stage=result` line; its result.
fn report(vol: &Volume, done: Result<apply::Took, apply::VolumeError>) -> Result<(), Failure> {
    let dev = vol.device_text();
    let (name, devs) = (vol.name.as_str(), dev.as_str());
    match done {
        Ok(took) => {
            let msg = format!(
                "volume {name}: ready on {} ({took})",
                vol.mount_point.display()
            );
            catalog::volume_result(Level::Info, catalog::READY, name, devs, &msg);
            Ok(())
        }
        Err(e) => {
            let id = catalog::for_failure(e.failure());
            catalog::volume_result(Level::Error, id, name, devs, &e.to_string());
            Err(e.failure())
        }
    }
}

/// How the volume ended, for status and metrics: a ready volume names the
/// device it is mounted from and what its marker says the migration copied.
fn outcome(vol: &Volume, result: Result<(), Failure>, run: &Run) -> VolumeOutcome {
    let mut o = VolumeOutcome {
        volume: vol.name.clone(),
        state: result.map_or_else(VolumeState::of_failure, |()| VolumeState::Ready),
        device: vol.device_text(),
        filesystem: vol.filesystem.to_string(),
        mount_point: vol.mount_point.clone(),
        directories: vol.directories.clone(),
        required: Some(vol.required),
        migration: None,
    };
    if result.is_ok() {
        if let Some(m) = crate::sys::mountinfo::mounted_at(&run.mounts, &vol.mount_point) {
            o.device = m.source.clone();
        }
        o.migration = migration(vol);
    }
    o
}

/// The copies the marker records: the volume's own, or one per directory.
fn migration(vol: &Volume) -> Option<Migration> {
    let st = crate::record::marker::read(&vol.mount_point).ok()??;
    let copies = std::iter::once(&st.copied).chain(st.directories.values().map(|d| &d.copied));
    Some(copies.fold(Migration::default(), |m, c| Migration {
        bytes: m.bytes + c.bytes,
        seconds: m.seconds + c.copy_seconds,
    }))
}
