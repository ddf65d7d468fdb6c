//! Pre-warming a volume, off the boot path (`datavol prewarm VOLUME`, what
//! `datavol-prewarm@VOLUME.service` runs): read containerd's blobs, then
//! every block of the device, with many reads in flight, so that a volume
//! restored from an EBS snapshot fetches its blocks from S3 now, at idle
//! I/O priority, instead of under the first pods. Where it got to is kept
//! on the root disk, so a reboot resumes it; the marker records that it
//! finished, and for which device.

pub mod engine;
pub mod order;
pub mod progress;

use crate::config::Volume;
use crate::discover::device::{Device, DeviceError};
use crate::discover::{identity, superblock};
use crate::error::Failure;
use crate::plan::mounted;
use crate::record::marker::{self, StateError};
use crate::sys::lock::{self, LockError};
use crate::sys::mountinfo;
use crate::vlog;
use engine::{Plan, Position, Progress, ReadError, Source};
use progress::{Phase, Record};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The template unit apply starts, one instance per volume.
pub fn unit_name(volume: &str) -> String {
    format!("datavol-prewarm@{volume}.service")
}

/// EBS snapshots store 512 KiB blocks: one aligned read fetches one.
pub const DEFAULT_CHUNK: u64 = 512 << 10;
/// AWS's own initialization advice runs fio with 32 reads in flight.
pub const DEFAULT_DEPTH: u16 = 32;
const LOG_EVERY: Duration = Duration::from_secs(5);
const SAVE_EVERY: Duration = Duration::from_secs(10);

pub struct Options {
    pub state_dir: PathBuf,
    pub lock: PathBuf,
    pub depth: usize,
    pub chunk: u64,
    /// Read again even when the marker says this device is warm.
    pub again: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum PrewarmError {
    #[error("volume {volume}: {why}; datavol pre-warms only a volume it made ready; hint: run `datavol apply`, and see `datavol status`")]
    NotReady { volume: String, why: String },
    #[error(transparent)]
    Device(#[from] DeviceError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Marker(#[from] StateError),
    #[error("{what}: {source}; hint: check the volume (dmesg, `datavol status`)")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}; the next run resumes where this one got to; hint: check the device (dmesg)")]
    Read(#[from] ReadError),
}

impl PrewarmError {
    pub fn failure(&self) -> Failure {
        match self {
            PrewarmError::NotReady { .. } => Failure::Refused,
            _ => Failure::Failed,
        }
    }
}

/// The mounted volume the pre-warm reads.
struct Target {
    dev: Device,
    uuid: String,
    identity: Option<String>,
}

/// The volume must be mounted as configured from its device (callers
/// hold the run lock, so never halfway through an apply).
fn target(vol: &Volume) -> Result<Target, PrewarmError> {
    let not_ready = |why: String| PrewarmError::NotReady {
        volume: vol.name.clone(),
        why,
    };
    let dev = crate::discover::current_device(vol)?
        .ok_or_else(|| not_ready("its device is not there".into()))?;
    let mounts = mountinfo::read().map_err(|source| PrewarmError::Io {
        what: "reading the mount table".into(),
        source,
    })?;
    if !mounted::fully(vol, (dev.major, dev.minor), &mounts) {
        return Err(not_ready(format!(
            "it is not mounted on {} from {}",
            vol.mount_point.display(),
            dev.node.display()
        )));
    }
    let sb = superblock::read(&dev.node)
        .map_err(|source| PrewarmError::Io {
            what: format!("reading the superblock of {}", dev.node.display()),
            source,
        })?
        .ok_or_else(|| not_ready(format!("{} holds no xfs or ext4", dev.node.display())))?;
    Ok(Target {
        identity: identity::of(dev.major, dev.minor),
        uuid: sb.uuid,
        dev,
    })
}

/// Pre-warms the volume, resuming a run a reboot interrupted.
pub fn run(vol: &Volume, opts: &Options) -> Result<(), PrewarmError> {
    let t = {
        let _held = lock::take(&opts.lock, lock::Access::Shared)?;
        target(vol)?
    };
    let devs = t.dev.node.display().to_string();
    let name = vol.name.as_str();
    let warm = marker::read(&vol.mount_point)?.and_then(|s| s.prewarm);
    if let Some(p) = warm.filter(|p| p.device == t.identity && !opts.again) {
        vlog!(info, name, devs.as_str(), "prewarm", "already pre-warmed at {} (epoch s), {} bytes in {:.0}s; nothing to do (--again reads it again)", p.done_at, p.bytes, p.seconds);
        return Ok(());
    }
    let mut rec = match resumable(vol, &t, opts) {
        Some(r) if !opts.again => {
            vlog!(
                info,
                name,
                devs.as_str(),
                "prewarm",
                "resuming the pre-warm of {devs} ({:?} phase, {} done)",
                r.phase,
                r.done
            );
            r
        }
        _ => Record::fresh(name, &t.uuid, t.identity.clone()),
    };
    if rec.phase == Phase::Content {
        let blobs = order::blobs(&order::roots(vol)).map_err(|source| PrewarmError::Io {
            what: "listing containerd's blobs".into(),
            source,
        })?;
        if let Some(why) = progress::invalid_blobs(&rec, blobs.len()) {
            distrust(vol, opts, &why);
            rec = Record::fresh(name, &t.uuid, t.identity.clone());
        }
        let start = (
            usize::try_from(rec.done)
                .unwrap_or(usize::MAX)
                .min(blobs.len()),
            0,
        );
        vlog!(info, name, devs.as_str(), "prewarm", "reading containerd's content store first: {} blob(s), {} MiB, smallest first, {} reads in flight", blobs.len(), blobs.iter().map(|b| b.size).sum::<u64>() >> 20, opts.depth);
        phase(vol, &devs, &mut rec, &blobs, start, opts)?;
        rec.phase = Phase::Device;
        rec.done = 0;
        save(&opts.state_dir, &rec);
    }
    let whole = [Source {
        path: t.dev.node.clone(),
        size: t.dev.size_bytes,
    }];
    vlog!(
        info,
        name,
        devs.as_str(),
        "prewarm",
        "reading all of {devs} ({} MiB) from {} MiB on, {} reads in flight",
        t.dev.size_bytes >> 20,
        rec.done >> 20,
        opts.depth
    );
    let from = (0, rec.done);
    phase(vol, &devs, &mut rec, &whole, from, opts)?;
    finish(vol, &t, &rec, opts)
}

/// The stored record if it is one this run can resume; a record that is
/// there but cannot be resumed is named in a warning (starting over only
/// costs reads, resuming a wrong one fails every run or skips the device).
fn resumable(vol: &Volume, t: &Target, opts: &Options) -> Option<Record> {
    let r = match progress::read(&opts.state_dir, &vol.name) {
        Ok(r) => r?,
        Err(why) => {
            distrust(vol, opts, &why);
            return None;
        }
    };
    let align = (engine::ALIGN as u64).max(progress::logical_block_size(t.dev.major, t.dev.minor));
    let want = progress::Want {
        volume: &vol.name,
        uuid: &t.uuid,
        device: &t.identity,
        size: t.dev.size_bytes,
        align,
    };
    match progress::invalid(&r, &want) {
        None => Some(r),
        Some(why) => {
            distrust(vol, opts, &why);
            None
        }
    }
}

fn distrust(vol: &Volume, opts: &Options, why: &str) {
    let p = progress::path(&opts.state_dir, &vol.name);
    log::warn!(
        "volume {}: pre-warm record {}: {why}; starting from zero",
        vol.name,
        p.display()
    );
}

/// Reads `sources` from `start`, logging and recording progress.
fn phase(
    vol: &Volume,
    devs: &str,
    rec: &mut Record,
    sources: &[Source],
    start: Position,
    opts: &Options,
) -> Result<(), PrewarmError> {
    let plan = Plan {
        sources,
        start,
        chunk: opts.chunk,
        depth: opts.depth,
    };
    let t0 = Instant::now();
    let (bytes0, secs0) = (rec.bytes, rec.seconds);
    let state = Mutex::new((Instant::now(), Instant::now(), start, rec.clone()));
    let on_progress = |p: &Progress| {
        let Ok(mut s) = state.lock() else { return };
        s.2 = s.2.max(p.done_to);
        if s.0.elapsed() >= LOG_EVERY {
            s.0 = Instant::now();
            log_progress(vol, devs, s.3.phase, sources.len(), p);
        }
        if s.1.elapsed() >= SAVE_EVERY {
            s.1 = Instant::now();
            let at = s.2;
            let r = &mut s.3;
            r.done = done_of(r.phase, at, sources);
            r.bytes = bytes0 + p.bytes;
            r.seconds = secs0 + p.elapsed.as_secs_f64();
            r.updated_at = marker::now();
            save(&opts.state_dir, r);
        }
    };
    let end = engine::read_all(&plan, &on_progress)?;
    rec.done = done_of(rec.phase, end.done_to, sources);
    rec.bytes = bytes0 + end.bytes;
    rec.seconds = secs0 + t0.elapsed().as_secs_f64();
    rec.updated_at = marker::now();
    Ok(())
}

/// The record's count for a position: blobs before it, or device bytes
/// (all of them once the position is past the device).
fn done_of(phase: Phase, at: Position, sources: &[Source]) -> u64 {
    match (phase, sources.get(at.0)) {
        (Phase::Content, _) => at.0 as u64,
        (Phase::Device, Some(_)) => at.1,
        (Phase::Device, None) => sources.iter().map(|s| s.size).sum(),
    }
}

fn save(dir: &Path, r: &Record) {
    if let Err(e) = progress::store(dir, r) {
        log::warn!(
            "volume {}: recording pre-warm progress: {e}; a reboot now starts it over",
            r.volume
        );
    }
}

fn log_progress(vol: &Volume, devs: &str, phase: Phase, sources: usize, p: &Progress) {
    let secs = p.elapsed.as_secs_f64().max(0.001);
    let rate = p.bytes as f64 / secs;
    let eta = if rate > 0.0 && p.total > p.bytes {
        format!("{:.0}s", (p.total - p.bytes) as f64 / rate)
    } else {
        "-".into()
    };
    let what = match phase {
        Phase::Content => format!("content store: {}/{sources} blobs, ", p.done_to.0),
        Phase::Device => "device: ".into(),
    };
    vlog!(
        info,
        vol.name.as_str(),
        devs,
        "prewarm",
        "progress: {what}{}/{} MiB, {:.1} MiB/s, ETA {eta}",
        p.bytes >> 20,
        p.total >> 20,
        rate / 1048576.0
    );
}

/// Records completion in the marker, under the run lock, if the volume is
/// still the one it read; then drops the progress record.
fn finish(vol: &Volume, t: &Target, rec: &Record, opts: &Options) -> Result<(), PrewarmError> {
    let devs = t.dev.node.display().to_string();
    let _held = lock::take(&opts.lock, lock::Access::Exclusive)?;
    let now = target(vol)?;
    if (now.dev.major, now.dev.minor) != (t.dev.major, t.dev.minor) || now.uuid != t.uuid {
        return Err(PrewarmError::NotReady {
            volume: vol.name.clone(),
            why: "another filesystem is mounted there now than when the pre-warm began".into(),
        });
    }
    let mut st = marker::read(&vol.mount_point)?.ok_or_else(|| PrewarmError::NotReady {
        volume: vol.name.clone(),
        why: format!("{} has no datavol marker", vol.mount_point.display()),
    })?;
    st.prewarm = Some(marker::Prewarmed {
        device: t.identity.clone(),
        done_at: marker::now(),
        bytes: rec.bytes,
        seconds: rec.seconds,
    });
    marker::write(&vol.mount_point, &st)?;
    if let Err(e) = progress::remove(&opts.state_dir, &vol.name) {
        log::warn!("volume {}: {e}", vol.name);
    }
    let rate = rec.bytes as f64 / rec.seconds.max(0.001) / 1048576.0;
    vlog!(
        info,
        vol.name.as_str(),
        devs.as_str(),
        "prewarm",
        "pre-warm done: {} MiB read in {:.1}s ({rate:.1} MiB/s)",
        rec.bytes >> 20,
        rec.seconds
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_device_phase_records_every_byte() {
        let dev = [Source {
            path: "/dev/x".into(),
            size: 1 << 30,
        }];
        assert_eq!(done_of(Phase::Device, (0, 4096), &dev), 4096);
        assert_eq!(done_of(Phase::Device, (1, 0), &dev), 1 << 30);
        assert_eq!(done_of(Phase::Content, (7, 0), &dev), 7);
    }
}
