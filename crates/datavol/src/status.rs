//! `datavol status`: what each volume looks like right now.

use crate::config::{Config, Volume};
use crate::discover::probe::{self, Probe};
use crate::plan;
use crate::record::marker::{self, State};
use crate::sys::mountinfo;
use crate::sys::namespace::TempMount;
use std::process::ExitCode;

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
    pub history: crate::record::history::History,
    pub used_bytes: Option<u64>,
    pub free_bytes: Option<u64>,
    pub error: Option<String>,
}

pub fn volume_status(
    v: &Volume,
    mounts: &[mountinfo::MountEntry],
    state_dir: &std::path::Path,
) -> VolumeStatus {
    let mut s = VolumeStatus {
        history: crate::record::history::load(state_dir, &v.name),
        volume: v.name.clone(),
        device: v.device_text(),
        node: None,
        fstype: None,
        uuid: None,
        mount_point: v.mount_point.display().to_string(),
        mounted: false,
        mounted_from: None,
        directories: Vec::new(),
        migration: None,
        used_bytes: None,
        free_bytes: None,
        error: None,
    };
    let at = mountinfo::mounted_at(mounts, &v.mount_point);
    if let Some(m) = at {
        s.mounted_from = Some(m.source.clone());
    }
    let found = match v.raid {
        Some(_) => crate::discover::device::describe(&crate::discover::raid::md_path(v))
            .map(Some)
            .map_err(|e| e.to_string()),
        None => crate::discover::device::find_now(&v.device).map_err(|e| e.to_string()),
    };
    let dev = match found {
        Ok(Some(d)) => d,
        Ok(None) => {
            s.error = Some("no device matches the selector now".into());
            return s;
        }
        Err(e) => {
            s.error = Some(e);
            return s;
        }
    };
    s.node = Some(dev.node.display().to_string());
    match probe::probe(&dev.node) {
        Ok(Probe::Signature { fstype, uuid, .. }) => {
            s.fstype = Some(fstype);
            s.uuid = uuid;
        }
        Ok(other) => s.fstype = Some(other.describe()),
        Err(e) => s.error = Some(e.to_string()),
    }
    s.mounted = at.is_some_and(|m| (m.major, m.minor) == (dev.major, dev.minor));
    for d in &v.directories {
        let root = std::path::Path::new("/").join(Volume::dir_subpath(d));
        let ok = mountinfo::mounted_at(mounts, d)
            .is_some_and(|m| (m.major, m.minor) == (dev.major, dev.minor) && m.root == root);
        s.directories.push((d.display().to_string(), ok));
    }
    if s.mounted {
        s.migration = marker::read(&v.mount_point).ok().flatten();
        if let Ok(st) = nix::sys::statvfs::statvfs(&v.mount_point) {
            let f = st.fragment_size();
            s.free_bytes = Some(st.blocks_available() * f);
            s.used_bytes = Some((st.blocks() - st.blocks_free()) * f);
        }
    } else if s.fstype.as_deref() == Some(v.filesystem.as_str())
        && crate::discover::device::in_use(&dev, mounts, &[]).is_none()
    {
        let fs = v.filesystem.as_str();
        if let Ok(m) = TempMount::new(
            &dev.node,
            &plan::work_mount_dir(v),
            fs,
            true,
            plan::no_write_options(fs),
        ) {
            s.migration = marker::read(&m.target).ok().flatten();
            let _ = m.unmount();
        }
    }
    s
}

pub fn print(cfg: &Config, state_dir: &std::path::Path, json: bool) -> ExitCode {
    let mounts = mountinfo::read().unwrap_or_default();
    let all: Vec<VolumeStatus> = cfg
        .volumes
        .iter()
        .map(|v| volume_status(v, &mounts, state_dir))
        .collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&all).unwrap_or_default());
        return ExitCode::SUCCESS;
    }
    if all.is_empty() {
        println!("no volumes configured");
    }
    for s in &all {
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
                "  migration:  {:?}{} ({} files, {} bytes, {:.1}s)",
                m.phase,
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
    ExitCode::SUCCESS
}
