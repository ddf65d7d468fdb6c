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
    /// The device's size, and the filesystem's (the mounted one's own
    /// answer when mounted, else its superblock's).
    pub device_bytes: Option<u64>,
    pub filesystem_bytes: Option<u64>,
    pub prewarm: Option<PrewarmStatus>,
    /// Content on the root disk under the volume's directories that the
    /// mount hides (or would): written since datavol copied them.
    pub hidden: Vec<HiddenStatus>,
    pub error: Option<String>,
}

#[derive(Debug, serde::Serialize)]
pub struct HiddenStatus {
    pub path: String,
    pub entries: u64,
    pub bytes: u64,
    /// When it was found (the last look before a mount, or this one).
    pub found_at: u64,
    /// Where it can be read: the directory itself while nothing covers
    /// it, else the read-only view `datavol hidden VOLUME --expose` makes.
    pub reachable: String,
}

/// What is hidden under each of the volume's directories: a look made
/// now when the directory is not covered, else the last one recorded.
fn hidden_status(v: &Volume, f: &facts::Facts) -> Vec<HiddenStatus> {
    let now = crate::record::marker::now();
    let mut out = Vec::new();
    for u in &f.record.underneath {
        let live = f.paths.iter().find(|p| p.path == u.path);
        let (found, covered) = match live.and_then(|p| p.underneath.as_ref()) {
            Some(Ok(look)) => (look.hidden(now), false),
            _ => (u.hidden, true),
        };
        let Some(h) = found else { continue };
        out.push(HiddenStatus {
            path: u.path.display().to_string(),
            entries: h.entries,
            bytes: h.bytes,
            found_at: h.found_at,
            reachable: if covered {
                crate::plan::underneath::exposed_path(v, &u.path)
                    .display()
                    .to_string()
            } else {
                u.path.display().to_string()
            },
        });
    }
    out
}

#[derive(Debug, serde::Serialize)]
pub struct PrewarmStatus {
    /// done (for this very device), in_progress (running, or resumed at the
    /// next boot), pending (asked for, not begun).
    pub state: &'static str,
    pub done: Option<crate::record::marker::Prewarmed>,
    pub progress: Option<crate::prewarm::progress::Record>,
}

/// The pre-warm's state: the marker says whether this device is done, the
/// root disk's record where a run got to.
fn prewarm_status(
    v: &Volume,
    d: &facts::Disk,
    state_dir: &Path,
    m: Option<&State>,
) -> Option<PrewarmStatus> {
    let id = crate::discover::identity::of(d.dev.major, d.dev.minor);
    let done = m.and_then(|m| m.prewarm.clone()).filter(|p| p.device == id);
    let uuid = d
        .superblock
        .as_ref()
        .and_then(|s| s.as_ref().ok())
        .map(|s| s.uuid.clone());
    let progress = uuid.and_then(|u| crate::prewarm::progress::load(state_dir, &v.name, &u, &id));
    let state = match (&done, &progress) {
        (Some(_), _) => "done",
        (None, Some(_)) => "in_progress",
        (None, None) if v.prewarm => "pending",
        (None, None) => return None,
    };
    Some(PrewarmStatus {
        state,
        done,
        progress,
    })
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
        device_bytes: None,
        filesystem_bytes: None,
        prewarm: None,
        hidden: Vec::new(),
        error: None,
    };
    s.hidden = hidden_status(v, &f);
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
            MarkerRead::Corrupt(e) | MarkerRead::Linked(e) => s.error = Some(e.clone()),
            MarkerRead::Absent | MarkerRead::Recorded => {}
        },
        Some(Err(e)) => s.error = Some(e.clone()),
        None => {}
    }
    if s.mounted {
        space(&mut s, &v.mount_point);
    }
    s.device_bytes = Some(d.dev.size_bytes);
    s.filesystem_bytes = match (s.mounted, &d.superblock) {
        (true, _) => crate::apply::grow::live_size(v, &d.dev).ok(),
        (false, Some(Ok(sb))) => Some(sb.size_bytes),
        _ => None,
    };
    s.prewarm = prewarm_status(v, d, &run.state_dir, s.migration.as_ref());
    s
}

/// `status --json`: the volumes, the sandbox images, the last runs.
#[derive(serde::Serialize)]
struct Doc<'a> {
    volumes: &'a [VolumeStatus],
    #[serde(flatten)]
    runs: &'a super::status_runs::RunsStatus,
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
    let runs = super::status_runs::gather(cfg, state_dir);
    if json {
        let doc = Doc {
            volumes: &all,
            runs: &runs,
        };
        let rendered = serde_json::to_value(doc).and_then(|mut v| {
            super::when::add_rfc3339(&mut v);
            serde_json::to_string_pretty(&v)
        });
        match rendered {
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
    super::status_runs::print(&runs);
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
    let now = crate::record::marker::now();
    match &s.migration {
        Some(m) => println!(
            "  migration:  {}{} ({} files, {} bytes, {:.1}s)",
            m.phase.describe(),
            m.committed_at
                .map(|t| format!(" {}", super::when::describe(t, now)))
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
            "  seeds:      {} ({} re-seed(s) after the disk came back blank); last {}",
            h.seeds,
            h.reseeds,
            h.last_seed_at
                .map_or("at an unknown time".into(), |t| super::when::describe(
                    t, now
                ))
        );
    }
    for h in &s.hidden {
        let at = if h.reachable == h.path {
            format!("in {} itself, not covered now", h.path)
        } else {
            format!(
                "read-only at {} after `datavol hidden {} --expose`",
                h.reachable, s.volume
            )
        };
        println!(
            "  hidden:     {} entries ({} bytes) written under {} on the root disk since it was copied; reachable {at}",
            h.entries, h.bytes, h.path
        );
    }
    if let (Some(u), Some(f)) = (s.used_bytes, s.free_bytes) {
        println!("  space:      {u} bytes used, {f} bytes free");
    }
    print_lifecycle(s);
    if let Some(e) = &s.error {
        println!("  error:      {e}");
    }
}

/// Size, grows and the pre-warm (issue #13).
fn print_lifecycle(s: &VolumeStatus) {
    let now = crate::record::marker::now();
    if let (Some(d), Some(f)) = (s.device_bytes, s.filesystem_bytes) {
        println!("  size:       filesystem {f} bytes on a device of {d} bytes");
    }
    if let Some(g) = s.migration.as_ref().and_then(|m| m.last_grow.as_ref()) {
        println!(
            "  grown:      {} time(s); last {}, from {} to {} bytes",
            s.migration.as_ref().map_or(0, |m| m.grows),
            super::when::describe(g.at, now),
            g.from_bytes,
            g.to_bytes
        );
    }
    match &s.prewarm {
        Some(PrewarmStatus { done: Some(p), .. }) => println!(
            "  pre-warm:   done {}: {} MiB in {:.0}s",
            super::when::describe(p.done_at, now),
            p.bytes >> 20,
            p.seconds
        ),
        Some(PrewarmStatus { progress: Some(r), .. }) => println!(
            "  pre-warm:   in progress (or resumed at the next boot): {:?} phase, {} MiB read in {:.0}s so far",
            r.phase,
            r.bytes >> 20,
            r.seconds
        ),
        Some(_) => println!("  pre-warm:   not begun"),
        None => {}
    }
}
