//! Reconciling what the boot mounted with the final config. The generator
//! mounts a volume from the root disk's record before cloud-init wrote the
//! user data; when the config now names another device for the volume, that
//! mount is stopped (and its stop waited for) before anything is decided or
//! written, and the run goes on as a first boot would (or refuses).

use super::error::ApplyError;
use crate::config::Volume;
use crate::discover::{device, superblock};
use crate::plan::Run;
use crate::record::{history, instance};
use crate::sys::mountinfo;
use crate::systemd::bus::Bus;
use crate::systemd::unit;
use crate::vlog;
use std::path::PathBuf;
use std::time::Duration;

const STOP_TIMEOUT: Duration = Duration::from_secs(120);

/// Stops the volume's mount when it is the record's filesystem (what the
/// generator mounts) and the config names another device for it.
pub fn stale_mount(vol: &Volume, run: &mut Run, bus: &mut Bus) -> Result<(), ApplyError> {
    let Some(m) = mountinfo::mounted_at(&run.mounts, &vol.mount_point).cloned() else {
        return Ok(());
    };
    if !records_this(vol, run, (m.major, m.minor), &m.source) {
        return Ok(());
    }
    let wanted = match device::wait_for(&vol.device, vol.device_timeout) {
        Ok(d) => d,
        // Nothing configured is there: plan says so; the mount is left.
        Err(_) => return Ok(()),
    };
    if (wanted.major, wanted.minor) == (m.major, m.minor) {
        return Ok(());
    }
    let name = unit::mount_unit_name(&vol.mount_point).ok_or_else(|| unit::UnitError::BadPath {
        volume: vol.name.clone(),
        path: vol.mount_point.clone(),
    })?;
    vlog!(
        warn,
        vol.name.as_str(),
        m.source.as_str(),
        "reconcile",
        "{} was mounted at boot from {} (the root disk's record), but the config names {}: stopping {name} first",
        vol.mount_point.display(),
        m.source,
        wanted.node.display()
    );
    bus.get()?.stop_unit(&name, STOP_TIMEOUT)?;
    run.refresh_mounts()
        .map_err(|e| ApplyError::io("reading the mount table", e))?;
    if mountinfo::mounted_at(&run.mounts, &vol.mount_point)
        .is_some_and(|n| n.major == m.major && n.minor == m.minor)
    {
        return Err(ApplyError::Mount(format!(
            "{name} was stopped, but {} is still mounted from {}; hint: umount it, then systemctl restart datavol",
            vol.mount_point.display(),
            m.source
        )));
    }
    Ok(())
}

/// Whether the filesystem on `majmin` is the one the root disk's record
/// says is this volume's, committed on this instance.
fn records_this(vol: &Volume, run: &Run, majmin: (u32, u32), source: &str) -> bool {
    let Ok(here) = instance::current() else {
        return false;
    };
    let Ok(h) = history::load(&run.state_dir, &vol.name) else {
        return false;
    };
    let Some(c) = h.committed.filter(|c| c.on(&here)) else {
        return false;
    };
    let node = PathBuf::from(format!("/dev/block/{}:{}", majmin.0, majmin.1));
    let node = if node.exists() {
        node
    } else {
        PathBuf::from(source)
    };
    superblock::read(&node).is_ok_and(|sb| sb.is_some_and(|sb| sb.uuid == c.uuid))
}
