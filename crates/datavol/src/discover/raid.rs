//! `raid = "raid0"`: the devices the selectors match are the members of one
//! md array, `/dev/md/dv-<volume>`. Here: finding the members and reading
//! what they say about themselves and any running array, without writing.
//! Assembling and creating the array are apply's (apply/array.rs).

use crate::config::Volume;
use crate::discover::device::{self, Device, DeviceError};
use crate::discover::{selector, udev};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum RaidError {
    #[error("running {command}: {source}; hint: install mdadm")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{command} failed ({status}): {stderr}")]
    Failed {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("member {member} is no longer blank ({found}); not creating the array")]
    NotBlank { member: PathBuf, found: String },
    #[error(transparent)]
    Device(#[from] DeviceError),
    #[error(transparent)]
    Probe(#[from] crate::discover::probe::ProbeError),
}

/// The array's name in its superblock (at most 32 bytes there).
pub fn md_name(vol: &Volume) -> String {
    let mut n = format!("dv-{}", vol.name);
    n.truncate(32);
    n
}

pub fn md_path(vol: &Volume) -> PathBuf {
    Path::new("/dev/md").join(md_name(vol))
}

/// Waits until every selector matches at least one device, then takes all
/// that match (several for `instance-store`).
pub fn wait_members(vol: &Volume, timeout: Duration) -> Result<Vec<Device>, DeviceError> {
    let start = Instant::now();
    loop {
        let mut found: Vec<Vec<PathBuf>> = Vec::new();
        for sel in &vol.device {
            found.push(selector::candidates(sel)?);
        }
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
            // udev may be mid-way through `mdadm --incremental`: let it
            // finish, so what is read next sees the array as it will be.
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

fn command_line(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs an mdadm command; its stdout, or a typed error.
pub(crate) fn mdadm(cmd: &mut Command) -> Result<String, RaidError> {
    let command = command_line(cmd);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|source| RaidError::Spawn {
            command: command.clone(),
            source,
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(RaidError::Failed {
            command,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

fn export_map(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// An md superblock's array name, without a homehost prefix, and its UUID.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MdSuper {
    pub name: String,
    pub uuid: String,
}

/// What a member's md superblock says (`mdadm --examine`).
pub fn examine(dev: &Path) -> Result<Option<MdSuper>, RaidError> {
    let text = mdadm(
        Command::new("mdadm")
            .args(["--examine", "--export"])
            .arg(dev),
    )?;
    let m = export_map(&text);
    Ok(m.get("MD_NAME").map(|name| MdSuper {
        name: name.rsplit(':').next().unwrap_or(name).to_string(),
        uuid: m.get("MD_UUID").cloned().unwrap_or_default(),
    }))
}

/// A running md array holding `dev`, if any: its /dev node.
pub fn holder_md(dev: &Device) -> Result<Option<PathBuf>, DeviceError> {
    let dir = PathBuf::from(format!(
        "/sys/dev/block/{}:{}/holders",
        dev.major, dev.minor
    ));
    let io = |source| DeviceError::Io {
        device: dir.clone(),
        op: "listing holders in sysfs",
        source,
    };
    for e in std::fs::read_dir(&dir).map_err(io)? {
        let name = e.map_err(io)?.file_name().to_string_lossy().into_owned();
        if name.starts_with("md") {
            return Ok(Some(Path::new("/dev").join(name)));
        }
    }
    Ok(None)
}

/// A running array's name (without homehost) and level (`mdadm --detail`).
pub fn detail(md: &Path) -> Result<(Option<String>, Option<String>), RaidError> {
    let m = export_map(&mdadm(
        Command::new("mdadm").args(["--detail", "--export"]).arg(md),
    )?);
    let name = m
        .get("MD_NAME")
        .map(|n| n.rsplit(':').next().unwrap_or(n).to_string());
    Ok((name, m.get("MD_LEVEL").cloned()))
}
