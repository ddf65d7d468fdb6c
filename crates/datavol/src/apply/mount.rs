//! Mounting through systemd: write the volume's units durably (an identical
//! file is left alone), raise the ready flags their condition waits for,
//! reload only when a unit changed, then start each mount not in place yet,
//! parent first, and check the mount table for the result.

use super::error::ApplyError;
use super::failpoint::failpoint;
use super::options::Options;
use super::took::Took;
use crate::config::Volume;
use crate::plan::{mounted, Reason, Refusal};
use crate::sys::mountinfo;
use crate::systemd::bus::Bus;
use crate::systemd::unit::{self, MountSpec};
use crate::vlog;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const MOUNT_TIMEOUT: Duration = Duration::from_secs(300);

/// The path the unit names the checked device `node` by: one a clone of the
/// volume cannot share (discover/links.rs). A RAID0 array keeps
/// /dev/md/dv-<volume>: an array has no hardware identity of its own, its
/// by-id links are derived from its superblock (a clone's too), while this
/// name is the array datavol assembled from the members it checked; a
/// second array of that name gets another node from mdadm.
pub fn what(vol: &Volume, node: &Path, devs: &str) -> PathBuf {
    let md = crate::discover::raid::md_path(vol);
    let (what, linked) = match vol.raid {
        Some(_) if std::fs::canonicalize(&md).is_ok_and(|m| m == node) => (md, true),
        Some(_) => (node.to_path_buf(), false),
        None => crate::discover::links::what_for(node),
    };
    if !linked {
        vlog!(
            info,
            vol.name.as_str(),
            devs,
            "unit",
            "no stable link (by-id, by-path, /dev/md) to {devs} yet: the unit names it by its kernel node, which this run checked"
        );
    }
    what
}

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

/// Writes the volume's units, then starts those not mounted yet, parent
/// first. Whatever goes wrong once a start was asked for stops the units
/// this call started before the error is returned: nothing stays mounted
/// that was not confirmed to be the device checked.
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
    let specs = unit::specs(vol, uuid, &what(vol, Path::new(devs), devs))?;
    // Mounted as configured (a healthy reboot: datavol-generator's unit):
    // nothing to write, no reload on containerd's path.
    let mounts = read_mounts()?;
    let in_place = specs.iter().all(|(spec, root)| {
        mountinfo::mounted_at(&mounts, &spec.mount_point)
            .is_some_and(|m| (m.major, m.minor) == majmin && &m.root == root)
    });
    if !in_place {
        no_other_tool(&specs, majmin, &mounts)?;
        let legacy = remove_legacy(vol, devs, &specs, opts)?;
        if write_units(vol, devs, &specs, opts)? || legacy {
            bus.get()?.reload()?;
        }
    }
    took.units = t.elapsed();
    let t = Instant::now();
    let mut started = Vec::new();
    if let Err(e) = start_all(vol, devs, majmin, &specs, mounts, bus, &mut started) {
        return Err(stopped(vol, &started, bus, e));
    }
    took.mount = t.elapsed();
    Ok(())
}

/// The pre-flight's foreign_mount and foreign_unit, again just before the
/// units are written and started: nodeadm-run (storage.volumes,
/// localStorage) is not ordered against datavol.service and may have
/// mounted, or written its unit, during the copy. Its unit would be started
/// in place of datavol's (and then stopped as a mismatch), its file in
/// /run/systemd/system overwritten. The copy stays committed on the volume.
fn no_other_tool(
    specs: &[(MountSpec, PathBuf)],
    majmin: (u32, u32),
    mounts: &[mountinfo::MountEntry],
) -> Result<(), ApplyError> {
    let root = crate::record::instance::root();
    let mut reasons = Vec::new();
    for (spec, _) in specs {
        if let Some(m) = mountinfo::mounted_at(mounts, &spec.mount_point)
            .filter(|m| (m.major, m.minor) != majmin)
        {
            reasons.push(Reason::ForeignMount {
                path: m.mount_point.clone(),
                source: m.source.clone(),
                fstype: m.fstype.clone(),
            });
        }
        reasons.extend(
            unit::foreign_units(&root, &spec.mount_point)
                .into_iter()
                .map(|u| Reason::ForeignUnit {
                    path: u.path,
                    unit: u.unit,
                    what: u.what,
                }),
        );
    }
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(Refusal { reasons }.into())
    }
}

/// Starts each unit whose mount is not in place, checking after each start
/// that the mount is of the device checked; `started` collects the units a
/// start was asked for (its job may have mounted even when it failed).
fn start_all(
    vol: &Volume,
    devs: &str,
    majmin: (u32, u32),
    specs: &[(MountSpec, PathBuf)],
    mut mounts: Vec<mountinfo::MountEntry>,
    bus: &mut Bus,
    started: &mut Vec<String>,
) -> Result<(), ApplyError> {
    // Only a start changes the table here: read it again after one only.
    for (spec, root) in specs {
        let at = &spec.mount_point;
        let here = |m: &mountinfo::MountEntry| (m.major, m.minor) == majmin && &m.root == root;
        if mountinfo::mounted_at(&mounts, at).is_some_and(here) {
            continue;
        }
        let unit_name = unit::mount_unit_name(at).ok_or_else(|| unit::UnitError::BadPath {
            volume: vol.name.clone(),
            path: at.to_path_buf(),
        })?;
        started.push(unit_name.clone());
        start(vol, devs, &unit_name, bus)?;
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
                    "{unit_name} was started, but {} is mounted from {}:{} instead of {devs}:{}, the device checked; hint: see which device the unit's What= names (systemctl cat {unit_name}), and detach a clone of the volume",
                    at.display(),
                    m.source,
                    m.root.display(),
                    root.display()
                )))
            }
            None => {
                return Err(ApplyError::Mount(format!(
                    "{unit_name} reported done, but {} is not a mount point; hint: journalctl -u {unit_name}",
                    at.display()
                )))
            }
        }
    }
    debug_assert!(mounted::fully(vol, majmin, &mounts));
    Ok(())
}

/// Stops `units` (children first, each stop job waited for) and says so
/// in the error; a stop that fails is named, with what to do.
pub fn stopped(vol: &Volume, units: &[String], bus: &mut Bus, error: ApplyError) -> ApplyError {
    if units.is_empty() {
        return error;
    }
    let list = units.join(", ");
    let stopped = match stop(vol, units, bus) {
        Ok(()) => format!("stopped {list} again, so nothing stays mounted"),
        Err(e) => format!(
            "stopping {list} failed too ({e}): it may still be mounted; hint: systemctl stop {list}"
        ),
    };
    ApplyError::Stopped {
        error: Box::new(error),
        stopped,
    }
}

fn stop(vol: &Volume, units: &[String], bus: &mut Bus) -> Result<(), String> {
    let mut failed = Vec::new();
    for name in units.iter().rev() {
        log::info!("volume {}: stopping {name}", vol.name);
        if let Err(e) = bus.get().and_then(|b| b.stop_unit(name, MOUNT_TIMEOUT)) {
            failed.push(format!("{name}: {e}"));
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("; "))
    }
}

/// StartUnit and its job's end; a skipped condition also ends "done", so
/// the unit's own state is asked too.
fn start(vol: &Volume, devs: &str, unit_name: &str, bus: &mut Bus) -> Result<(), ApplyError> {
    vlog!(
        info,
        vol.name.as_str(),
        devs,
        "mount",
        "starting {unit_name}"
    );
    bus.get()?.start_unit(unit_name, MOUNT_TIMEOUT)?;
    failpoint("unit-started");
    let active = bus.get()?.active_state(unit_name)?;
    if active.as_deref() != Some("active") {
        return Err(ApplyError::Mount(format!(
            "{unit_name} job is done but the unit is {}; hint: systemctl status {unit_name}",
            active.as_deref().unwrap_or("not loaded")
        )));
    }
    Ok(())
}

/// Every mount unit of the volume, parent first.
pub fn units(vol: &Volume) -> Vec<String> {
    mounted::expected(vol)
        .iter()
        .filter_map(|(at, _)| unit::mount_unit_name(at))
        .collect()
}
