//! `raid = "raid0"`: the devices the selectors match are striped into one md
//! array, `/dev/md/dv-<volume>`, which then goes through the same pipeline as
//! a single disk. An array datavol made is reassembled on every boot; blank
//! members (instance store after stop/start) get a fresh one; members with
//! any other signature are refused.

use crate::config::Volume;
use crate::discover::device::{self, Device, DeviceError};
use crate::discover::probe::{self, Probe};
use crate::discover::selector;
use crate::discover::udev;
use crate::sys::mountinfo::MountEntry;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The array's name in its superblock (at most 32 bytes there).
pub fn md_name(vol: &Volume) -> String {
    let mut n = format!("dv-{}", vol.name);
    n.truncate(32);
    n
}

pub fn md_path(vol: &Volume) -> PathBuf {
    Path::new("/dev/md").join(md_name(vol))
}

/// What to do about the array.
#[derive(Debug)]
pub enum Prepared {
    /// The array is running: use it as the volume's device.
    Ready(Device),
    /// Every member is blank: create the array (apply does, plan says so).
    Create(Vec<Device>),
    /// The array exists on the members but is not running (plan only: apply assembles it).
    Assemble(Vec<Device>),
}

/// Waits until every selector matches at least one device, then takes all
/// that match (several for `instance-store`).
pub fn wait_members(vol: &Volume, timeout: Duration) -> Result<Vec<Device>, DeviceError> {
    let start = Instant::now();
    loop {
        let found: Vec<Vec<PathBuf>> = vol.device.iter().map(selector::candidates).collect();
        if found.iter().all(|f| !f.is_empty()) {
            let mut paths: Vec<PathBuf> = found.into_iter().flatten().collect();
            paths.sort();
            paths.dedup();
            let mut devs = Vec::new();
            for p in paths {
                devs.push(device::describe(&p)?);
            }
            devs.sort_by_key(|d| d.node.clone());
            devs.dedup_by_key(|d| d.node.clone());
            // udev may be mid-way through `mdadm --incremental`: let it finish, so prepare sees the array.
            udev::settle_all(&md_path(vol), udev::TIMEOUT);
            return Ok(devs);
        }
        if start.elapsed() >= timeout {
            return Err(DeviceError::Timeout {
                device: vol.device_text(),
                secs: timeout.as_secs(),
                nvme: selector::NvmeMiss::now(&vol.device),
            });
        }
        std::thread::sleep(Duration::from_millis(250).min(timeout));
    }
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{cmd:?}: {e}; hint: install mdadm"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn export_map(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The md name recorded in a member's superblock, without a homehost prefix.
fn member_md(dev: &Path) -> Option<(String, String)> {
    let text = run(Command::new("mdadm")
        .args(["--examine", "--export"])
        .arg(dev))
    .ok()?;
    let m = export_map(&text);
    let name = m.get("MD_NAME")?;
    let name = name.rsplit(':').next().unwrap_or(name).to_string();
    Some((name, m.get("MD_UUID").cloned().unwrap_or_default()))
}

/// A running md array holding `dev`, if any: its /dev node.
fn holder_md(dev: &Device) -> Option<PathBuf> {
    let dir = format!("/sys/dev/block/{}:{}/holders", dev.major, dev.minor);
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("md"))
        .map(|n| Path::new("/dev").join(n))
}

/// Decides about the array; refusals come back as Err with the reason.
pub fn prepare(
    vol: &Volume,
    members: &[Device],
    mounts: &[MountEntry],
    assemble: bool,
) -> Result<Prepared, String> {
    let want = md_name(vol);
    // Already running (assembled by us or by udev's incremental assembly)?
    let holders: Vec<Option<PathBuf>> = members.iter().map(holder_md).collect();
    if let Some(Some(md)) = holders.first() {
        if holders.iter().all(|h| h.as_ref() == Some(md)) {
            let detail = run(Command::new("mdadm").args(["--detail", "--export"]).arg(md))?;
            let m = export_map(&detail);
            let name = m
                .get("MD_NAME")
                .map(|n| n.rsplit(':').next().unwrap_or(n).to_string());
            if name.as_deref() == Some(want.as_str())
                && m.get("MD_LEVEL").map(String::as_str) == Some("raid0")
            {
                return device::describe(md)
                    .map(Prepared::Ready)
                    .map_err(|e| e.to_string());
            }
            return Err(format!(
                "the members are in the running array {} ({:?}), which datavol did not make for this volume",
                md.display(),
                name
            ));
        }
    }
    let mut blank = Vec::new();
    let mut ours = Vec::new();
    let mut foreign = Vec::new();
    for d in members {
        if let Some(why) = device::in_use(d, mounts, &[]) {
            return Err(format!("member {} is in use: {why}", d.node.display()));
        }
        match probe::probe(&d.node).map_err(|e| e.to_string())? {
            Probe::Blank => blank.push(d.clone()),
            Probe::Signature { fstype, .. } if fstype == "linux_raid_member" => {
                match member_md(&d.node) {
                    Some((name, uuid)) if name == want => ours.push((d.clone(), uuid)),
                    other => foreign.push(format!(
                        "{}: md member of {:?}",
                        d.node.display(),
                        other.map(|o| o.0).unwrap_or_default()
                    )),
                }
            }
            other => foreign.push(format!("{}: {}", d.node.display(), other.describe())),
        }
    }
    if !foreign.is_empty() {
        return Err(format!(
            "RAID members carry signatures datavol did not write ({}); hint: point device at blank disks, or wipe them if their data is disposable",
            foreign.join("; ")
        ));
    }
    if blank.len() == members.len() {
        return Ok(Prepared::Create(blank));
    }
    let same_array = ours.windows(2).all(|w| w[0].1 == w[1].1);
    if ours.len() == members.len() && same_array {
        if !assemble {
            return Ok(Prepared::Assemble(ours.into_iter().map(|o| o.0).collect()));
        }
        let mut cmd = Command::new("mdadm");
        cmd.arg("--assemble").arg(md_path(vol));
        for (d, _) in &ours {
            cmd.arg(&d.node);
        }
        run(&mut cmd)?;
        settle_after_mdadm(vol);
        return device::describe(&md_path(vol))
            .map(Prepared::Ready)
            .map_err(|e| e.to_string());
    }
    Err(format!(
        "the RAID0 members are a mix of blank disks and members of datavol's array {want} ({} of {}); a striped array cannot be repaired; hint: wipe all members (wipefs -a) to have datavol build a fresh one",
        ours.len(),
        members.len()
    ))
}

/// After mdadm assembled or created the array, waits for udev's whole queue,
/// not only for the array: /dev/md/<name> is made by udev's md rules on the
/// array's change event, and each member gets a change event too, on which
/// those rules run `mdadm --incremental`. Until all of that is done, udev
/// can still hold members or the array open, racing the probe and mkfs.
fn settle_after_mdadm(vol: &Volume) {
    udev::settle_all(&md_path(vol), udev::TIMEOUT);
}

/// Creates the array over blank members, holding their disk locks while it
/// checks once more that they are blank. Returns the array's device.
pub fn create(vol: &Volume, members: &[Device]) -> Result<Device, String> {
    let mut locks = Vec::new();
    for d in members {
        locks.push(probe::lock_whole_disk(&d.node).map_err(|e| e.to_string())?);
        match probe::probe(&d.node).map_err(|e| e.to_string())? {
            Probe::Blank => {}
            other => {
                return Err(format!(
                    "member {} is no longer blank ({}); not creating the array",
                    d.node.display(),
                    other.describe()
                ))
            }
        }
    }
    let mut cmd = Command::new("mdadm");
    cmd.arg("--create")
        .arg(md_path(vol))
        .args(["--run", "--level=0", "--metadata=1.2", "--homehost=any"])
        .arg(format!("--name={}", md_name(vol)))
        .arg(format!("--raid-devices={}", members.len()));
    if members.len() == 1 {
        cmd.arg("--force");
    }
    for d in members {
        cmd.arg(&d.node);
    }
    run(&mut cmd)?;
    drop(locks);
    settle_after_mdadm(vol);
    device::describe(&md_path(vol)).map_err(|e| e.to_string())
}
