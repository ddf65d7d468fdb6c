//! Acting on a volume's decision: the same pre-flight plan runs, then
//! format, migrate, commit, write the unit, start it. Every step is durable
//! and can be interrupted; the next run reads the marker and finishes or
//! redoes what was left. Nothing is written before classify ruled out
//! every refusal.

pub mod array;
pub mod copy;
pub mod dirs;
pub mod error;
pub mod failpoint;
pub mod format;
pub mod grow;
pub mod migrate;
pub mod mount;
pub mod options;
pub mod prewarm;
pub mod reconcile;
pub mod services;
pub mod took;
pub mod underneath;

use crate::config::Volume;
use crate::discover::device::Device;
use crate::plan::{self, Action, Decision, Facts, Mode, Policy, Run, Verdict};
use crate::systemd::bus::Bus;
use crate::vlog;
pub use error::{ApplyError, VolumeError};
pub use options::Options;

use std::time::Instant;
pub use took::Took;

/// Decides about one volume and carries the decision out. An array that
/// had to be assembled is looked at again, once, as it then is.
pub fn run(
    vol: &Volume,
    run: &mut Run,
    opts: &Options,
    bus: &mut Bus,
) -> Result<Took, VolumeError> {
    let policy = Policy {
        mode: Mode::Apply,
        stop_services: opts.stop_services,
    };
    let err = |error| VolumeError {
        volume: vol.name.clone(),
        error: Box::new(error),
    };
    reconcile::stale_mount(vol, run, bus).map_err(err)?;
    let (mut decision, mut facts) = plan::decide(vol, run, policy, bus);
    if decision.action() == Some(&Action::Assemble) {
        log_decision(vol, &decision);
        let members = assemble_members(&facts);
        array::assemble(vol, &members).map_err(|e| err(e.into()))?;
        run.refresh_mounts()
            .map_err(|e| err(ApplyError::io("reading the mount table", e)))?;
        run.unclaim(&vol.name);
        (decision, facts) = plan::decide(vol, run, policy, bus);
    }
    underneath::report(vol, &decision, &facts, &opts.state_dir);
    let mut took = Took {
        facts: facts.took,
        ..Took::default()
    };
    act(vol, &decision, &facts, run, opts, bus, &mut took).map_err(err)?;
    Ok(took)
}

/// After acting, the volume must be mounted as configured with its own
/// committed marker, read through the real mount, and the filesystem
/// `uuid` the run checked: the check a healthy reboot deferred
/// (plan/facts.rs `recorded`), and a last look after a migration. Anything
/// else stops the volume's units and fails. The root disk then records the
/// committed filesystem for the next boot.
fn confirm(
    vol: &Volume,
    uuid: &str,
    run: &mut Run,
    opts: &Options,
    bus: &mut Bus,
) -> Result<(), ApplyError> {
    check_mounted(vol, uuid, run, opts).map_err(|e| mount::stopped(vol, &mount::units(vol), bus, e))
}

fn check_mounted(
    vol: &Volume,
    uuid: &str,
    run: &mut Run,
    opts: &Options,
) -> Result<(), ApplyError> {
    run.refresh_mounts()
        .map_err(|e| ApplyError::io("reading the mount table", e))?;
    let facts = plan::facts::gather(vol, run, std::time::Duration::ZERO);
    let policy = Policy {
        mode: Mode::Apply,
        stop_services: opts.stop_services,
    };
    let decision = plan::classify(vol, &facts, policy);
    match &decision.verdict {
        Verdict::Act {
            action: Action::Keep { uuid: found },
        } if found == uuid => {
            note_committed(vol, uuid, decision.device.as_ref().map(|d| d.node.as_path()), opts);
            Ok(())
        }
        Verdict::Act {
            action: Action::Keep { uuid: found },
        } => Err(ApplyError::Mount(format!(
            "after mounting, {} holds filesystem {found}, not {uuid}, the one checked; hint: detach the disk that carries {found}, or give it a new UUID",
            vol.mount_point.display()
        ))),
        _ => Err(match act_error(&decision) {
            Some(e) => e,
            None => ApplyError::Mount(format!(
                "after mounting, the volume is not as configured ({})",
                decision.reason
            )),
        }),
    }
}

/// The error a refusal, timeout or failure stands for.
fn act_error(d: &Decision) -> Option<ApplyError> {
    match &d.verdict {
        Verdict::Act { .. } => None,
        Verdict::Refuse { refusal } => Some(refusal.clone().into()),
        Verdict::Timeout { message } => Some(ApplyError::Timeout(message.clone())),
        Verdict::Fail { message } => Some(ApplyError::Undecided(message.clone())),
    }
}

fn assemble_members(facts: &Facts) -> Vec<Device> {
    match &facts.device {
        plan::facts::DeviceFacts::Raid(r) => r.members.iter().map(|m| m.dev.clone()).collect(),
        _ => Vec::new(),
    }
}

fn log_decision(vol: &Volume, d: &Decision) {
    let dev = d
        .device
        .as_ref()
        .map(|d| d.node.display().to_string())
        .unwrap_or_default();
    let name = vol.name.as_str();
    if let Some(dv) = &d.device {
        vlog!(
            info,
            name,
            dev.as_str(),
            "resolve",
            "device selector {} matched {dev} ({} bytes)",
            dv.selector,
            dv.size_bytes
        );
    }
    if let Some(p) = &d.probe {
        vlog!(info, name, dev.as_str(), "probe", "probe: {}", p.describe());
    }
    if let Verdict::Act { action } = &d.verdict {
        vlog!(
            info,
            name,
            dev.as_str(),
            "plan",
            "{}: {}",
            action.describe(),
            d.reason
        );
    }
}

/// Carries out the decision; a refusal, timeout or failure comes back as is.
fn act(
    vol: &Volume,
    decision: &Decision,
    facts: &Facts,
    run: &mut Run,
    opts: &Options,
    bus: &mut Bus,
    took: &mut Took,
) -> Result<(), ApplyError> {
    if let Some(e) = act_error(decision) {
        return Err(e);
    }
    let Some(action) = decision.action().cloned() else {
        return Ok(());
    };
    log_decision(vol, decision);
    let dev = decision
        .device
        .clone()
        .ok_or_else(|| ApplyError::Undecided("no device resolved".into()))?;
    let devs = dev.node.display().to_string();
    // Services classify allowed to run only because --stop-services was given.
    let active = match (&facts.services, action.covers_source()) {
        (Some(Ok(a)), true) => a.clone(),
        _ => Vec::new(),
    };
    let stopped = services::stop(vol, &devs, &active, bus)?;
    let mut result = carry_out(vol, decision, &action, dev, opts, bus, took);
    if let Ok(uuid) = &result {
        // Before the services come back: confirm may unmount again.
        let t = Instant::now();
        result = match &action {
            Action::Keep { .. } => {
                note_committed(
                    vol,
                    uuid,
                    decision.device.as_ref().map(|d| d.node.as_path()),
                    opts,
                );
                Ok(uuid.clone())
            }
            _ => confirm(vol, uuid, run, opts, bus).map(|()| uuid.clone()),
        };
        took.confirm = t.elapsed();
    }
    services::restart(vol, &devs, stopped, bus);
    result.and_then(|_| ready(vol, decision, opts, bus))
}

/// Once the volume is ready: grow it if classify planned that, then start
/// its pre-warm in the background.
fn ready(vol: &Volume, d: &Decision, opts: &Options, bus: &mut Bus) -> Result<(), ApplyError> {
    // A new array's decision names its first member: fine for both, as
    // nothing grows after a format, and its fresh marker has no pre-warm.
    let Some(dev) = d.device.as_ref() else {
        return Ok(());
    };
    let grown = match d.grow {
        Some(g) => grow::grow(vol, dev, g, &opts.state_dir),
        None => Ok(()),
    };
    if vol.prewarm {
        prewarm::start(vol, dev, bus);
    }
    grown
}

/// `node` is the device checked and mounted; its stable link is what the
/// generator names on the next boot.
fn note_committed(vol: &Volume, uuid: &str, node: Option<&std::path::Path>, opts: &Options) {
    let device = match node.map(crate::discover::links::what_for) {
        Some((link, true)) if vol.raid.is_none() => Some(link),
        _ => None,
    };
    let c = crate::record::history::Committed {
        device,
        uuid: uuid.to_string(),
        fstype: vol.filesystem.to_string(),
        source: vol.mount_point.clone(),
        directories: vol.directories.clone(),
        instance: crate::record::instance::current().ok(),
    };
    if let Err(e) = crate::record::history::record_committed(&opts.state_dir, &vol.name, c) {
        log::warn!(
            "volume {}: {e}; the next boot takes the slow path",
            vol.name
        );
    }
}

/// Carries out the action; returns the UUID of the filesystem mounted.
fn carry_out(
    vol: &Volume,
    decision: &Decision,
    action: &Action,
    mut dev: Device,
    opts: &Options,
    bus: &mut Bus,
    took: &mut Took,
) -> Result<String, ApplyError> {
    let t = Instant::now();
    let name = vol.name.as_str();
    if let Some(members) = &decision.raid_create {
        vlog!(
            info,
            name,
            dev.node.display().to_string().as_str(),
            "format",
            "creating RAID0 {} from {} blank member(s)",
            crate::discover::raid::md_path(vol).display(),
            members.len()
        );
        dev = array::create(vol, members)?;
    }
    let devs = dev.node.display().to_string();
    let uuid = match action {
        Action::Assemble => return Ok(String::new()),
        Action::Keep { uuid } | Action::Mount { uuid } => uuid.clone(),
        Action::Adopt { uuid } => {
            migrate::adopt(vol, &dev.node, &devs)?;
            uuid.clone()
        }
        Action::Format { migrate } => {
            let uuid = format::format(vol, &dev.node, &devs, vol.discard_at_format)?;
            crate::record::history::record_format(&opts.state_dir, name, &uuid)?;
            migrate::migrate(vol, &dev.node, &devs, *migrate, true, opts)?;
            note_seed(vol, &devs, &uuid, opts);
            uuid
        }
        Action::Resume { uuid, .. } => {
            let known =
                crate::record::history::load(&opts.state_dir, name).is_ok_and(|h| h.knows(uuid));
            migrate::migrate(vol, &dev.node, &devs, true, known, opts)?;
            note_seed(vol, &devs, uuid, opts);
            uuid.clone()
        }
    };
    took.work = t.elapsed();
    mount::mount(vol, &uuid, &devs, (dev.major, dev.minor), opts, bus, took)?;
    Ok(uuid)
}

fn note_seed(vol: &Volume, devs: &str, uuid: &str, opts: &Options) {
    let name = vol.name.as_str();
    match crate::record::history::record_seed(&opts.state_dir, name, uuid) {
        Ok(h) if h.reseeds > 0 => vlog!(
            warn,
            name,
            devs,
            "commit",
            "re-seeded from the root disk's original content: the volume's disk came back blank (an instance store after stop/start?); {} re-seed(s) so far",
            h.reseeds
        ),
        Ok(_) => {}
        Err(e) => vlog!(warn, name, devs, "commit", "could not record the seed: {e}"),
    }
}
