//! `datavol check VOLUME` (datavol-check@VOLUME.service): the check that
//! stands in front of a mount datavol-generator emitted, as systemd-fsck
//! stands in front of an fstab mount. The root disk's record must say the
//! volume is committed on this instance; then the same facts and classify
//! as apply, read from the disk itself (the probe with its foreign
//! signatures, the superblock, the marker through a no-write mount), must
//! decide "mount" (or "keep") that very filesystem. Anything else fails,
//! so the mount does not run and datavol.service takes the full path.
//! No D-Bus: this runs before dbus.socket.

use crate::config::{Config, Volume};
use crate::error::Failure;
use crate::plan::{self, Action, Mode, Policy, Run};
use crate::record::history::{self, Committed};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

/// The device is there (the unit is After= it); a short look only.
const WAIT: Duration = Duration::from_secs(2);

pub fn run(cfg: &Config, state_dir: &Path, volume: &str) -> ExitCode {
    let Some(vol) = cfg.volumes.iter().find(|v| v.name == volume) else {
        log::error!("volume {volume}: not in the config; the generated mount is not started; hint: datavol.service decides after local-fs.target");
        return Failure::Config.exit_code();
    };
    match check(vol, state_dir) {
        Ok(uuid) => {
            log::info!("volume {volume}: filesystem {uuid} checked: committed, seeded from {}, no foreign signature; mounting", vol.mount_point.display());
            ExitCode::SUCCESS
        }
        Err(why) => {
            log::error!("volume {volume}: not mounted early: {why}; hint: datavol.service decides after local-fs.target (journalctl -u datavol)");
            Failure::Refused.exit_code()
        }
    }
}

/// Whether this boot already checked the volume: every ready flag of its
/// units is up. datavol.service raises them before it starts the mount
/// itself (the generator's drop-in puts this check in front of that start
/// too), so the check must not wait for the run lock apply holds.
pub fn already_checked(cfg: &Config, volume: &str) -> bool {
    let Some(vol) = cfg.volumes.iter().find(|v| v.name == volume) else {
        return false;
    };
    // The flags depend on the mount points only, not on the device.
    crate::systemd::unit::specs(vol, "", Path::new("/")).is_ok_and(|specs| {
        specs
            .iter()
            .all(|(s, _)| s.ready_flag().is_some_and(|f| f.exists()))
    })
}

/// The filesystem's UUID when the volume may be mounted from it.
fn check(vol: &Volume, state_dir: &Path) -> Result<String, String> {
    let committed = committed_here(vol, state_dir)?;
    let run = Run::new(state_dir).map_err(|e| format!("cannot read the mount table: {e}"))?;
    // Without the committed filesystem, facts read everything from the disk.
    let mut record = history::load(state_dir, &vol.name).map_err(|e| e.to_string())?;
    record.committed = None;
    let mut facts = plan::facts::gather_from(vol, &run, WAIT, record);
    // Nothing that runs after local-fs.target is up yet.
    facts.services = Some(Ok(Vec::new()));
    let policy = Policy {
        mode: Mode::Apply,
        stop_services: false,
    };
    let d = plan::classify(vol, &facts, policy);
    // Said before the mount, as apply says it (journal, status, metrics).
    crate::apply::underneath::report(vol, &d, &facts, state_dir);
    let uuid = match d.action() {
        Some(Action::Mount { uuid } | Action::Keep { uuid }) => uuid.clone(),
        Some(a) => {
            return Err(format!(
                "the disk would need \"{}\": {}",
                a.describe(),
                d.reason
            ))
        }
        None => return Err(d.reason.clone()),
    };
    if uuid != committed.uuid {
        return Err(format!(
            "the disk holds filesystem {uuid}, the record names {}",
            committed.uuid
        ));
    }
    // The generated unit mounts the recorded path: it must lead to the
    // very device just checked (a clone cannot share the path, but udev
    // could have moved a link).
    let recorded = committed
        .device
        .as_deref()
        .ok_or("the record names no stable path for the disk")?;
    let checked = d.device.as_ref().map(|dev| dev.node.clone());
    let reached = crate::discover::links::resolve(recorded).ok();
    if checked.is_none() || reached != checked {
        return Err(format!(
            "the unit's device {} leads to {}, not to {}, the disk checked",
            recorded.display(),
            reached.map_or("nothing".into(), |p| p.display().to_string()),
            checked.map_or("none".into(), |p| p.display().to_string())
        ));
    }
    let specs = crate::systemd::unit::specs(vol, &uuid, recorded).map_err(|e| e.to_string())?;
    crate::apply::mount::raise_flags(vol, &specs).map_err(|e| e.to_string())?;
    Ok(uuid)
}

/// The record's committed filesystem, when it was seen on this instance.
fn committed_here(vol: &Volume, state_dir: &Path) -> Result<Committed, String> {
    let here = crate::record::instance::current()
        .map_err(|e| format!("this instance is not known ({e})"))?;
    let h = history::load(state_dir, &vol.name).map_err(|e| e.to_string())?;
    match h.committed {
        Some(c) if c.on(&here) => Ok(c),
        Some(_) => Err("its record was made on another instance".into()),
        None => Err("no committed filesystem is recorded for it".into()),
    }
}
