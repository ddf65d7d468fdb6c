//! `datavol status`: what each volume looks like right now, from the same
//! facts plan and apply gather (without waiting, without asking systemd).

use crate::config::{Config, Volume};
use crate::plan::facts::{self, DeviceFacts, MarkerRead, Run};
use crate::plan::mounted::{self, Mounted};
use crate::record::history::History;
use crate::record::marker::State;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, serde::Serialize)]
pub struct VolumeStatus {
    pub volume: String,
    pub device: String,
    pub node: Option<String>,
    pub fstype: Option<String>,
    pub uuid: Option<String>,
    pub mount_point: String,
    pub mounted: bool,
    pub mounted_from: Option<String>,
    /// Served directories and whether each is bind-mounted from the volume.
    pub directories: Vec<(String, bool)>,
    pub migration: Option<State>,
    /// Seeds recorded on the root disk; reseeds > 0 means the disk came back blank.
    pub history: History,
    pub used_bytes: Option<u64>,
    pub free_bytes: Option<u64>,
    pub error: Option<String>,
}

fn space(s: &mut VolumeStatus, at: &Path) {
    if let Ok(st) = nix::sys::statvfs::statvfs(at) {
        let f = st.fragment_size();
        s.free_bytes = Some(st.blocks_available() * f);
        s.used_bytes = Some((st.blocks() - st.blocks_free()) * f);
    }
}

pub fn volume_status(v: &Volume, run: &Run) -> VolumeStatus {
    let f = facts::gather(v, run, Duration::ZERO);
    let mut s = VolumeStatus {
        history: f.record.clone(),
        volume: v.name.clone(),
        device: v.device_text(),
        node: None,
        fstype: None,
        uuid: None,
        mount_point: v.mount_point.display().to_string(),
        mounted: false,
        mounted_from: crate::sys::mountinfo::mounted_at(&f.mounts_at, &v.mount_point)
            .map(|m| m.source.clone()),
        directories: Vec::new(),
        migration: None,
        used_bytes: None,
        free_bytes: None,
        error: None,
    };
    let Some(d) = f.disk() else {
        s.error = Some(match &f.device {
            DeviceFacts::Missing { .. } => "no device matches the selector now".into(),
            DeviceFacts::Several { selector, found } => {
                format!(
                    "selector {selector} matches several devices: {}",
                    found.join(", ")
                )
            }
            DeviceFacts::Unreadable(e) => e.clone(),
            DeviceFacts::Raid(_) => "datavol's RAID array is not running".into(),
            DeviceFacts::Disk(_) => String::new(),
        });
        return s;
    };
    s.node = Some(d.dev.node.display().to_string());
    match &d.probe {
        Ok(crate::discover::probe::Probe::Signature { fstype, uuid, .. }) => {
            s.fstype = Some(fstype.clone());
            s.uuid = uuid.clone();
        }
        Ok(other) => s.fstype = Some(other.describe()),
        Err(e) => s.error = Some(e.clone()),
    }
    let majmin = (d.dev.major, d.dev.minor);
    let state = mounted::state(v, majmin, &f.mounts_at);
    s.mounted = matches!(state, Mounted::Fully | Mounted::Partly(_))
        && crate::sys::mountinfo::mounted_at(&f.mounts_at, &v.mount_point)
            .is_some_and(|m| (m.major, m.minor) == majmin);
    for (dir, root) in mounted::expected(v).into_iter().skip(1) {
        let ok = crate::sys::mountinfo::mounted_at(&f.mounts_at, &dir)
            .is_some_and(|m| (m.major, m.minor) == majmin && m.root == root);
        s.directories.push((dir.display().to_string(), ok));
    }
    match &d.fs {
        Some(Ok(view)) => match &view.marker {
            MarkerRead::Found(st) => s.migration = Some(st.as_ref().clone()),
            MarkerRead::Corrupt(e) => s.error = Some(e.clone()),
            MarkerRead::Absent | MarkerRead::Recorded => {}
        },
        Some(Err(e)) => s.error = Some(e.clone()),
        None => {}
    }
    if s.mounted {
        space(&mut s, &v.mount_point);
    }
    s
}

pub fn print(cfg: &Config, state_dir: &Path, json: bool) -> ExitCode {
    let run = match Run::new(state_dir) {
        Ok(r) => r,
        Err(e) => {
            log::error!("cannot read the mount table: {e}; hint: is /proc mounted?");
            return crate::error::Failure::Failed.exit_code();
        }
    };
    let all: Vec<VolumeStatus> = cfg.volumes.iter().map(|v| volume_status(v, &run)).collect();
    if json {
        match serde_json::to_string_pretty(&all) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                log::error!("cannot render status as JSON: {e}");
                return crate::error::Failure::Failed.exit_code();
            }
        }
        return ExitCode::SUCCESS;
    }
    if all.is_empty() {
        println!("no volumes configured");
    }
    for s in &all {
        print_one(s);
    }
    ExitCode::SUCCESS
}

fn print_one(s: &VolumeStatus) {
    println!("volume {}:", s.volume);
    println!(
        "  device:     {} ({})",
        s.device,
        s.node.as_deref().unwrap_or("absent")
    );
    println!(
        "  filesystem: {} UUID={}",
        s.fstype.as_deref().unwrap_or("-"),
        s.uuid.as_deref().unwrap_or("-")
    );
    println!(
        "  mount:      {} {}",
        s.mount_point,
        match (&s.mounted, &s.mounted_from) {
            (true, Some(f)) => format!("mounted from {f}"),
            (false, Some(f)) => format!("NOT from the device; mounted from {f}"),
            _ => "not mounted".into(),
        }
    );
    for (d, ok) in &s.directories {
        println!(
            "  directory:  {d} {}",
            if *ok {
                "bind-mounted from the volume"
            } else {
                "NOT mounted from the volume"
            }
        );
    }
    match &s.migration {
        Some(m) => println!(
            "  migration:  {}{} ({} files, {} bytes, {:.1}s)",
            m.phase.describe(),
            m.committed_at
                .map(|t| format!(" at {t} (epoch s)"))
                .unwrap_or_default(),
            m.copied.files,
            m.copied.bytes,
            m.copied.copy_seconds
        ),
        None => println!("  migration:  none recorded"),
    }
    let h = &s.history;
    if h.seeds > 0 {
        println!(
            "  seeds:      {} ({} re-seed(s) after the disk came back blank); last at {} (epoch s)",
            h.seeds,
            h.reseeds,
            h.last_seed_at.unwrap_or(0)
        );
    }
    if let (Some(u), Some(f)) = (s.used_bytes, s.free_bytes) {
        println!("  space:      {u} bytes used, {f} bytes free");
    }
    if let Some(e) = &s.error {
        println!("  error:      {e}");
    }
}
