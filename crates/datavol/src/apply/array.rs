//! Building datavol's RAID0 array: assembling it from members that carry
//! its superblock, or creating it over blank members, under their disk
//! locks. Only after classify decided so (plan/classify.rs).

use crate::config::Volume;
use crate::discover::device::{self, Device};
use crate::discover::probe::{self, Probe};
use crate::discover::raid::{md_name, md_path, mdadm, RaidError};
use crate::discover::udev;
use std::process::Command;

/// After mdadm assembled or created the array, waits for udev's whole queue,
/// not only for the array: /dev/md/<name> is made by udev's md rules on the
/// array's change event, and each member gets a change event too, on which
/// those rules run `mdadm --incremental`. Until all of that is done, udev
/// can still hold members or the array open, racing the probe and mkfs.
fn settle_after_mdadm(vol: &Volume) {
    udev::settle_all(&md_path(vol), udev::TIMEOUT);
}

/// Assembles datavol's array from `members`; returns the array's device.
pub fn assemble(vol: &Volume, members: &[Device]) -> Result<Device, RaidError> {
    let mut cmd = Command::new("mdadm");
    cmd.arg("--assemble").arg(md_path(vol));
    for d in members {
        cmd.arg(&d.node);
    }
    mdadm(&mut cmd)?;
    settle_after_mdadm(vol);
    Ok(device::describe(&md_path(vol))?)
}

/// Creates the array over blank members, holding their disk locks while it
/// checks once more that they are blank. Returns the array's device.
pub fn create(vol: &Volume, members: &[Device]) -> Result<Device, RaidError> {
    let mut locks = Vec::new();
    for d in members {
        locks.push(probe::lock_whole_disk(&d.node)?);
        match probe::probe(&d.node)? {
            Probe::Blank => {}
            other => {
                return Err(RaidError::NotBlank {
                    member: d.node.clone(),
                    found: other.describe(),
                })
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
    mdadm(&mut cmd)?;
    drop(locks);
    settle_after_mdadm(vol);
    Ok(device::describe(&md_path(vol))?)
}
