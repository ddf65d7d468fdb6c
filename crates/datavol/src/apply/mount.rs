//! Mounting through systemd: write the volume's units durably (an identical
//! file is left alone), raise the ready flags their condition waits for,
//! reload only when a unit changed, then start each mount not in place yet,
//! parent first, and check the mount table for the result.

use super::error::ApplyError;
use super::failpoint::failpoint;
use super::options::Options;
use super::took::Took;
use crate::config::Volume;
use crate::plan::mounted;
use crate::sys::mountinfo;
use crate::systemd::bus::Bus;
use crate::systemd::unit::{self, MountSpec};
use crate::vlog;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const MOUNT_TIMEOUT: Duration = Duration::from_secs(300);

fn read_mounts() -> Result<Vec<mountinfo::MountEntry>, ApplyError> {
    mountinfo::read().map_err(|e| ApplyError::io("reading /proc/self/mountinfo", e))
}

/// Units an older datavol wrote to /etc/systemd/system would shadow ours
/// and the generator's: removed, when datavol writes to the default place.
fn remove_legacy(
    vol: &Volume,
    devs: &str,
    specs: &[(MountSpec, PathBuf)],
    opts: &Options,
) -> Result<bool, ApplyError> {
    if opts.unit_dir != Path::new(unit::DEFAULT_UNIT_DIR) {
        return Ok(false);
    }
    let mut removed = false;
    for (spec, _) in specs {
        if unit::remove_legacy(Path::new(unit::LEGACY_UNIT_DIR), spec)? {
            vlog!(
                info,
                vol.name.as_str(),
                devs,
                "unit",
                "removed the unit an older datavol wrote to {}; the generator's takes over",
                unit::LEGACY_UNIT_DIR
            );
            removed = true;
        }
    }
    Ok(removed)
}

/// Writes the units; returns whether any changed.
fn write_units(
    vol: &Volume,
    devs: &str,
    specs: &[(MountSpec, PathBuf)],
    opts: &Options,
) -> Result<bool, ApplyError> {
    let mut changed = false;
    for (spec, _) in specs {
        let (path, c) = unit::write(&opts.unit_dir, spec)?;
        if c {
            vlog!(
                info,
                vol.name.as_str(),
                devs,
                "unit",
                "wrote {}",
                path.display()
            );
        }
        changed |= c;
    }
    failpoint("unit-written");
    raise_flags(vol, specs)?;
    Ok(changed)
}

/// The ready flags the units' condition waits for: the volume is checked.
pub fn raise_flags(vol: &Volume, specs: &[(MountSpec, PathBuf)]) -> Result<(), ApplyError> {
    for (spec, _) in specs {
        let flag = spec.ready_flag().ok_or_else(|| unit::UnitError::BadPath {
            volume: vol.name.clone(),
            path: spec.mount_point.clone(),
        })?;
        if !flag.exists() {
            if let Some(d) = flag.parent() {
                std::fs::create_dir_all(d).map_err(|e| ApplyError::io(d.display(), e))?;
            }
            std::fs::write(&flag, b"").map_err(|e| ApplyError::io(flag.display(), e))?;
        }
    }
    Ok(())
}

/// Writes the volume's units, then starts those not mounted yet, parent first.
pub fn mount(
    vol: &Volume,
    uuid: &str,
    devs: &str,
    majmin: (u32, u32),
    opts: &Options,
    bus: &mut Bus,
    took: &mut Took,
) -> Result<(), ApplyError> {
    let t = Instant::now();
    let specs = unit::specs(vol, uuid)?;
    // Only a start changes the table here: read it again after one only.
    let mut mounts = read_mounts()?;
    // Mounted as configured (a healthy reboot: datavol-generator's unit):
    // nothing to write, no reload on containerd's path.
    let in_place = specs.iter().all(|(spec, root)| {
        mountinfo::mounted_at(&mounts, &spec.mount_point)
            .is_some_and(|m| (m.major, m.minor) == majmin && &m.root == root)
    });
    if !in_place {
        let legacy = remove_legacy(vol, devs, &specs, opts)?;
        if write_units(vol, devs, &specs, opts)? || legacy {
            bus.get()?.reload()?;
        }
    }
    took.units = t.elapsed();
    let t = Instant::now();
    for (spec, root) in &specs {
        let at = &spec.mount_point;
        let here = |m: &mountinfo::MountEntry| (m.major, m.minor) == majmin && &m.root == root;
        if mountinfo::mounted_at(&mounts, at).is_some_and(here) {
            continue;
        }
        start(vol, devs, at, bus)?;
        mounts = read_mounts()?;
        match mountinfo::mounted_at(&mounts, at) {
            Some(m) if here(m) => {
                vlog!(
                    info,
                    vol.name.as_str(),
                    devs,
                    "mount",
                    "{} is mounted from {devs}",
                    at.display()
                );
            }
            Some(m) => {
                return Err(ApplyError::Mount(format!(
                    "{} was started, but {} is mounted from {}:{} instead of {devs}:{}",
                    unit::mount_unit_name(at).unwrap_or_default(),
                    at.display(),
                    m.source,
                    m.root.display(),
                    root.display()
                )))
            }
            None => {
                return Err(ApplyError::Mount(format!(
                    "{0} reported done, but {1} is not a mount point; hint: journalctl -u {0}",
                    unit::mount_unit_name(at).unwrap_or_default(),
                    at.display()
                )))
            }
        }
    }
    took.mount = t.elapsed();
    debug_assert!(mounted::fully(vol, majmin, &mounts));
    Ok(())
}

/// StartUnit and its job's end; a skipped condition also ends "done", so
/// the unit's own state is asked too.
fn start(vol: &Volume, devs: &str, at: &Path, bus: &mut Bus) -> Result<(), ApplyError> {
    let unit_name = unit::mount_unit_name(at).ok_or_else(|| unit::UnitError::BadPath {
        volume: vol.name.clone(),
        path: at.to_path_buf(),
    })?;
    vlog!(
        info,
        vol.name.as_str(),
        devs,
        "mount",
        "starting {unit_name}"
    );
    bus.get()?.start_unit(&unit_name, MOUNT_TIMEOUT)?;
    failpoint("unit-started");
    let active = bus.get()?.active_state(&unit_name)?;
    if active.as_deref() != Some("active") {
        return Err(ApplyError::Mount(format!(
            "{unit_name} job is done but the unit is {}; hint: systemctl status {unit_name}",
            active.as_deref().unwrap_or("not loaded")
        )));
    }
    Ok(())
}

/// Stops the volume's mount units, children first; failures are logged:
/// this runs on the way to reporting a worse problem.
pub fn unmount(vol: &Volume, bus: &mut Bus) {
    for at in mounted::expected(vol).iter().rev().map(|(at, _)| at) {
        let Some(name) = unit::mount_unit_name(at) else {
            continue;
        };
        if let Err(e) = bus.get().and_then(|b| b.stop_unit(&name, MOUNT_TIMEOUT)) {
            log::error!("volume {}: stopping {name}: {e}", vol.name);
        }
    }
}
