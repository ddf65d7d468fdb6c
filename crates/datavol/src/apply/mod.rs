//! Carrying out a [`Decision`]: format, migrate, commit, write the unit,
//! start it. Every step is durable and can be interrupted; the next run
//! reads the marker and finishes or redoes what was left.

pub mod dirs;

use crate::config::Volume;
use crate::discover::probe::{self, Probe};
use crate::error::Failure;
use crate::plan::{self, Action, Decision, Outcome};
use crate::record::marker::{self, Phase, State};
use crate::sys::fsutil;
use crate::sys::mountinfo;
use crate::sys::namespace::TempMount;
use crate::systemd::bus::Systemd;
use crate::systemd::unit::{self, MountSpec};
use crate::vlog;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub struct Options {
    pub unit_dir: PathBuf,
    /// Root-disk state: the seed history (history.rs).
    pub state_dir: PathBuf,
    /// Stop the services using a directory, and restart them afterwards.
    pub stop_services: bool,
    pub copy_workers: usize,
}

/// What went wrong with one volume, and which exit code it means.
#[derive(Debug)]
pub struct VolumeError {
    pub failure: Failure,
    pub message: String,
}

pub(crate) fn failed(message: impl std::fmt::Display) -> VolumeError {
    VolumeError {
        failure: Failure::Failed,
        message: message.to_string(),
    }
}

fn refused(message: impl std::fmt::Display) -> VolumeError {
    VolumeError {
        failure: Failure::Refused,
        message: message.to_string(),
    }
}

/// A named point where tests and the VM rig can crash or pause datavol.
/// `FAILPOINTS=name=return` aborts the process on the spot, like a power cut.
pub(crate) fn failpoint(name: &str) {
    #[cfg(feature = "failpoints")]
    log::info!("failpoint {name}");
    fail::fail_point!(name, |_| {
        log::error!("failpoint {name}: aborting to simulate a crash");
        std::process::abort()
    });
    let _ = name;
}

/// Lazily connected, so a healthy run never touches the bus.
pub struct Bus {
    conn: Option<Systemd>,
}

impl Bus {
    pub fn new() -> Self {
        Bus { conn: None }
    }
    pub fn get(&mut self) -> Result<&Systemd, VolumeError> {
        if self.conn.is_none() {
            self.conn = Some(Systemd::connect().map_err(failed)?);
        }
        self.conn.as_ref().ok_or_else(|| failed("no bus"))
    }
}

impl Default for Bus {
    fn default() -> Self {
        Self::new()
    }
}

const SERVICE_TIMEOUT: Duration = Duration::from_secs(300);
const MOUNT_TIMEOUT: Duration = Duration::from_secs(300);

pub fn apply_volume(
    vol: &Volume,
    decision: &Decision,
    opts: &Options,
    bus: &mut Bus,
) -> Result<(), VolumeError> {
    let action = match &decision.outcome {
        Outcome::Act(a) => a.clone(),
        Outcome::Fail { failure } => {
            return Err(VolumeError {
                failure: *failure,
                message: decision.reason.clone(),
            })
        }
    };
    let mut dev = decision
        .device
        .clone()
        .ok_or_else(|| failed("no device resolved"))?;
    let devs = dev.node.display().to_string();
    let name = vol.name.as_str();
    vlog!(
        info,
        name,
        devs.as_str(),
        "resolve",
        "device selector {} matched {} ({} bytes)",
        dev.selector,
        devs,
        dev.size_bytes
    );
    if let Some(p) = &decision.probe {
        vlog!(
            info,
            name,
            devs.as_str(),
            "probe",
            "blkid -p: {}",
            p.describe()
        );
    }
    vlog!(
        info,
        name,
        devs.as_str(),
        "plan",
        "{}: {}",
        action.describe(),
        decision.reason
    );

    let mounted = fully_mounted(vol, (dev.major, dev.minor))?;

    if action.migrates() {
        // A RAID0 yet to be built holds about the sum of its members.
        let mut capacity = dev.clone();
        if let Some(members) = &decision.raid_create {
            capacity.size_bytes = members.iter().map(|m| m.size_bytes).sum();
        }
        precheck_source(vol, &capacity)?;
    }
    // Nothing may use the directory while it is copied or covered by a mount.
    let mut stopped = Vec::new();
    if !mounted {
        stopped = quiesce(vol, &devs, opts, bus)?;
    }
    let result = (|| {
        if let Some(members) = &decision.raid_create {
            vlog!(
                info,
                name,
                devs.as_str(),
                "format",
                "creating RAID0 {} from {} blank member(s)",
                crate::discover::raid::md_path(vol).display(),
                members.len()
            );
            dev = crate::discover::raid::create(vol, members)
                .map_err(|e| failed(format!("volume {name}: {e}")))?;
        }
        let devs = dev.node.display().to_string();
        let uuid = match &action {
            Action::Nothing | Action::Assemble => return Ok(()),
            Action::Mount { uuid } => uuid.clone(),
            Action::Adopt { uuid } => {
                adopt(vol, &dev.node, &devs)?;
                uuid.clone()
            }
            Action::FormatOnly | Action::FormatAndMigrate => {
                let uuid = format(vol, &dev.node, &devs)?;
                let copy = matches!(action, Action::FormatAndMigrate);
                migrate(vol, &dev.node, &devs, copy, opts)?;
                note_seed(vol, &devs, &uuid, opts);
                uuid
            }
            Action::Resume { uuid, .. } => {
                migrate(vol, &dev.node, &devs, true, opts)?;
                note_seed(vol, &devs, uuid, opts);
                uuid.clone()
            }
        };
        mount(vol, &uuid, &devs, (dev.major, dev.minor), opts, bus)
    })();
    // Services come back whatever happened: a failed run must not leave the node down.
    for s in stopped {
        vlog!(info, name, devs.as_str(), "services", "starting {s} again");
        if let Err(e) = bus
            .get()
            .and_then(|b| b.start_unit(&s, SERVICE_TIMEOUT).map_err(failed))
        {
            vlog!(
                error,
                name,
                devs.as_str(),
                "services",
                "starting {s} again failed: {}",
                e.message
            );
        }
    }
    result
}

/// Refusals that must come before anything is written: submounts in the
/// source, or a source larger than the whole device.
fn precheck_source(vol: &Volume, dev: &crate::discover::device::Device) -> Result<(), VolumeError> {
    let sources = if vol.directories.is_empty() {
        std::slice::from_ref(&vol.mount_point)
    } else {
        vol.directories.as_slice()
    };
    let mut total = 0;
    for src in sources.iter().filter(|s| s.is_dir()) {
        let usage = datavol_copy::survey(src).map_err(|e| {
            refused(format!(
                "volume {}: source {}: {e}; hint: a mount inside it means its service already ran; stop it and unmount first",
                vol.name,
                src.display()
            ))
        })?;
        total += usage.allocated_bytes;
    }
    // mkfs and metadata take a few percent; the exact check follows mkfs.
    if total > dev.size_bytes / 100 * 95 {
        return Err(refused(format!(
            "volume {}: {} hold(s) {total} bytes, too much for {} ({} bytes); hint: use a larger volume",
            vol.name,
            sources.iter().map(|s| s.display().to_string()).collect::<Vec<_>>().join(", "),
            dev.node.display(),
            dev.size_bytes
        )));
    }
    Ok(())
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
        Err(e) => vlog!(
            warn,
            name,
            devs,
            "commit",
            "could not record the seed in {}: {e}",
            opts.state_dir.display()
        ),
    }
}

fn quiesce(
    vol: &Volume,
    devs: &str,
    opts: &Options,
    bus: &mut Bus,
) -> Result<Vec<String>, VolumeError> {
    let mut active = Vec::new();
    for s in &vol.services {
        let st = bus.get()?.active_state(s).map_err(failed)?;
        if let Some(st) = st.filter(|st| st != "inactive" && st != "failed") {
            active.push((s.clone(), st));
        }
    }
    if active.is_empty() {
        return Ok(Vec::new());
    }
    let list = active
        .iter()
        .map(|(s, st)| format!("{s} ({st})"))
        .collect::<Vec<_>>()
        .join(", ");
    if !opts.stop_services {
        return Err(refused(format!(
            "volume {}: {list} is running and uses {}; refusing to copy or mount under it; hint: run datavol before those units start (datavol.service does), or pass --stop-services",
            vol.name,
            vol.mount_point.display()
        )));
    }
    let mut stopped = Vec::new();
    for (s, _) in active {
        vlog!(info, vol.name.as_str(), devs, "services", "stopping {s}");
        bus.get()?.stop_unit(&s, SERVICE_TIMEOUT).map_err(failed)?;
        stopped.push(s);
    }
    Ok(stopped)
}

fn format(vol: &Volume, node: &Path, devs: &str) -> Result<String, VolumeError> {
    let name = vol.name.as_str();
    let lock = probe::lock_whole_disk(node).map_err(failed)?;
    // Probe again under the lock: only now is the answer safe to act on.
    match probe::probe(node).map_err(failed)? {
        Probe::Blank => {}
        other => {
            return Err(refused(format!(
                "volume {name}: device {devs} is no longer blank ({}); not formatting",
                other.describe()
            )))
        }
    }
    vlog!(
        info,
        name,
        devs,
        "format",
        "mkfs.{} -L {} {devs}",
        vol.filesystem,
        vol.label
    );
    let t = Instant::now();
    let uuid = probe::mkfs(&lock, node, vol.filesystem, &vol.label).map_err(failed)?;
    drop(lock);
    vlog!(
        info,
        name,
        devs,
        "format",
        "formatted {} UUID={uuid} in {:.1}s",
        vol.filesystem,
        t.elapsed().as_secs_f64()
    );
    failpoint("mkfs-done");
    crate::discover::udev::retrigger(node);
    Ok(uuid)
}

/// The volume's filesystem, mounted read-write where only datavol sees it.
fn work_mount(vol: &Volume, node: &Path) -> Result<TempMount, VolumeError> {
    TempMount::new(
        node,
        &plan::work_mount_dir(vol),
        vol.filesystem.as_str(),
        false,
        "",
    )
    .map_err(failed)
}

/// Throws away what an interrupted copy left in `staging` (datavol's own).
pub(crate) fn discard_partial(name: &str, devs: &str, staging: &Path) -> Result<(), VolumeError> {
    if staging.exists() {
        vlog!(
            info,
            name,
            devs,
            "copy",
            "discarding the partial copy of an interrupted run in {}",
            staging.display()
        );
        std::fs::remove_dir_all(staging)
            .map_err(|e| failed(format!("removing {}: {e}", staging.display())))?;
    }
    Ok(())
}

fn adopt(vol: &Volume, node: &Path, devs: &str) -> Result<(), VolumeError> {
    let m = work_mount(vol, node)?;
    let now = marker::now();
    marker::write(
        &m.target,
        &State {
            phase: Phase::Committed,
            committed_at: Some(now),
            ..State::new(&vol.name, &vol.mount_point)
        },
    )
    .map_err(failed)?;
    vlog!(
        info,
        vol.name.as_str(),
        devs,
        "commit",
        "adopted the existing filesystem; marker written"
    );
    m.unmount().map_err(failed)
}

fn fs_free(path: &Path) -> Result<u64, VolumeError> {
    let s = nix::sys::statvfs::statvfs(path)
        .map_err(|e| failed(format!("statvfs {}: {e}", path.display())))?;
    Ok(s.blocks_available() as u64 * s.fragment_size() as u64)
}

pub(crate) fn syncfs(root: &Path) -> Result<(), VolumeError> {
    let f = std::fs::File::open(root).map_err(|e| failed(format!("{}: {e}", root.display())))?;
    nix::unistd::syncfs(f).map_err(|e| failed(format!("syncfs {}: {e}", root.display())))
}

/// Copies `src` into the empty `staging` on the filesystem mounted at
/// `root`, syncs it, and verifies it against `src`. Refuses when it cannot fit.
pub(crate) fn copy_verified(
    vol: &Volume,
    devs: &str,
    src: &Path,
    staging: &Path,
    root: &Path,
    opts: &Options,
) -> Result<marker::Copied, VolumeError> {
    let name = vol.name.as_str();
    let usage = datavol_copy::survey(src)
        .map_err(|e| refused(format!("volume {name}: source {}: {e}", src.display())))?;
    let free = fs_free(root)?;
    if usage.allocated_bytes > free {
        return Err(refused(format!(
            "volume {name}: {} needs {} bytes but {devs} has {free} free; hint: use a larger volume",
            src.display(),
            usage.allocated_bytes
        )));
    }
    vlog!(
        info,
        name,
        devs,
        "copy",
        "copying {} ({} entries, {} MiB) to {}",
        src.display(),
        usage.entries,
        usage.allocated_bytes >> 20,
        staging.display()
    );
    let t = Instant::now();
    let stats = copy_with_progress(vol, devs, src, staging, &usage, opts)?;
    // Progress counted bytes into the page cache; the flush can take long.
    vlog!(
        info,
        name,
        devs,
        "copy",
        "flushing {} MiB to {devs}",
        stats.bytes >> 20
    );
    syncfs(root)?;
    let copied = marker::Copied {
        files: stats.files,
        dirs: stats.dirs,
        bytes: stats.bytes,
        copy_seconds: t.elapsed().as_secs_f64(),
    };
    vlog!(
        info,
        name,
        devs,
        "copy",
        "copied {} files, {} dirs, {} bytes in {:.1}s",
        copied.files,
        copied.dirs,
        copied.bytes,
        copied.copy_seconds
    );
    failpoint("copied");
    vlog!(
        info,
        name,
        devs,
        "verify",
        "verifying the copy against {}",
        src.display()
    );
    let v = datavol_copy::verify_tree(src, staging).map_err(|e| {
        failed(format!(
            "volume {name}: verification of {} failed, nothing committed: {e}",
            src.display()
        ))
    })?;
    vlog!(
        info,
        name,
        devs,
        "verify",
        "verified {} files, {} dirs",
        v.files,
        v.dirs
    );
    Ok(copied)
}

/// The work mount of the volume's filesystem and its state: the recorded
/// one, or a fresh one when the filesystem holds nothing but what mkfs made.
fn open_work(
    vol: &Volume,
    node: &Path,
    devs: &str,
    source: &Path,
) -> Result<(TempMount, State), VolumeError> {
    let name = vol.name.as_str();
    let m = work_mount(vol, node)?;
    let st = match marker::read(&m.target).map_err(failed)? {
        Some(s) => s,
        None if !plan::only_ours(&m.target).map_err(failed)? => {
            return Err(refused(format!(
                "volume {name}: {devs} carries datavol's label but holds files and no datavol marker; refusing to mix a copy into it; hint: inspect it, and wipe it by hand if it is disposable"
            )))
        }
        None => State::new(name, source),
    };
    Ok((m, st))
}

/// Copies the directory onto the filesystem (under `.datavol/staging`),
/// verifies it, and commits it into the filesystem root; with `directories`,
/// each of them (dirs.rs).
fn migrate(
    vol: &Volume,
    node: &Path,
    devs: &str,
    copy: bool,
    opts: &Options,
) -> Result<(), VolumeError> {
    let name = vol.name.as_str();
    let src = vol.mount_point.clone();
    let (m, mut st) = open_work(vol, node, devs, &src)?;
    let root = m.target.clone();
    if !vol.directories.is_empty() {
        crate::apply::dirs::migrate(vol, devs, &root, &mut st, copy, opts)?;
        return m.unmount().map_err(failed);
    }
    let have_src = copy && src.is_dir();
    let staging = marker::staging(&root);

    if st.phase == Phase::Copying {
        discard_partial(name, devs, &staging)?;
        st.started_at = marker::now();
        marker::write(&root, &st).map_err(failed)?;
        fsutil::create_dir_durable(&staging, 0o700)
            .map_err(|e| failed(format!("{}: {e}", staging.display())))?;

        if have_src {
            st.copied = copy_verified(vol, devs, &src, &staging, &root, opts)?;
        }
        failpoint("verified");
        st.phase = Phase::Verified;
        marker::write(&root, &st).map_err(failed)?;
    }

    if st.phase == Phase::Verified {
        commit(&staging, &root).map_err(|e| failed(format!("volume {name}: committing: {e}")))?;
        if have_src {
            datavol_copy::copy_dir_metadata(&src, &root).map_err(failed)?;
        }
        st.phase = Phase::Committed;
        st.committed_at = Some(marker::now());
        st.seeds += 1;
        marker::write(&root, &st).map_err(failed)?;
        syncfs(&root)?;
        vlog!(info, name, devs, "commit", "migration committed");
        failpoint("committed");
    }
    m.unmount().map_err(failed)
}

fn copy_with_progress(
    vol: &Volume,
    devs: &str,
    src: &Path,
    dst: &Path,
    usage: &datavol_copy::TreeUsage,
    opts: &Options,
) -> Result<datavol_copy::CopyStats, VolumeError> {
    let name = vol.name.clone();
    let dev = devs.to_string();
    let total_files = usage.entries;
    let total_bytes = usage.allocated_bytes;
    let last = std::sync::Mutex::new(Instant::now());
    let halfway = std::sync::atomic::AtomicBool::new(false);
    let progress = move |p: &datavol_copy::Progress| {
        if ((total_files > 0 && p.files * 2 >= total_files)
            || (total_bytes > 0 && p.bytes * 2 >= total_bytes))
            && !halfway.swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            failpoint("copy-halfway");
        }
        let Ok(mut l) = last.lock() else { return };
        if l.elapsed() < Duration::from_secs(5) {
            return;
        }
        *l = Instant::now();
        let secs = p.elapsed.as_secs_f64().max(0.001);
        let rate = p.bytes as f64 / secs;
        let eta = if rate > 0.0 && total_bytes > p.bytes {
            format!("{:.0}s", (total_bytes - p.bytes) as f64 / rate)
        } else {
            "-".into()
        };
        vlog!(
            info,
            name.as_str(),
            dev.as_str(),
            "copy",
            "progress: {}/{} files, {} MiB, {:.1} MiB/s, ETA {eta}",
            p.files,
            total_files,
            p.bytes >> 20,
            rate / 1048576.0
        );
    };
    let copy_opts = datavol_copy::CopyOptions {
        workers: opts.copy_workers,
        progress: Some(&progress),
        // Failpoint builds look at every file so a tiny test tree can stop halfway.
        progress_interval: if cfg!(feature = "failpoints") {
            Duration::ZERO
        } else {
            Duration::from_millis(500)
        },
        total_files: usage.entries,
        total_bytes: usage.allocated_bytes,
    };
    datavol_copy::copy_tree(src, dst, &copy_opts).map_err(|e| {
        failed(format!(
            "volume {}: copying {} failed, nothing committed: {e}",
            vol.name,
            src.display()
        ))
    })
}

/// Moves everything from staging into the root. Each rename is atomic and
/// refuses to replace; a crash in between leaves the rest for the next run.
fn commit(staging: &Path, root: &Path) -> std::io::Result<()> {
    if staging.exists() {
        for e in std::fs::read_dir(staging)? {
            let e = e?;
            let from = e.path();
            fsutil::rename_noreplace(&from, &root.join(e.file_name())).map_err(|err| {
                std::io::Error::new(
                    err.kind(),
                    format!("moving {} into {}: {err}", from.display(), root.display()),
                )
            })?;
        }
        fsutil::sync_dir(root)?;
        std::fs::remove_dir(staging)?;
        if let Some(p) = staging.parent() {
            fsutil::sync_dir(p)?;
        }
    }
    Ok(())
}

/// The units a volume needs, each with the filesystem path its mount must show.
fn mount_specs(vol: &Volume, uuid: &str) -> Result<Vec<(MountSpec, PathBuf)>, VolumeError> {
    if vol.directories.is_empty() {
        return Ok(vec![(MountSpec::new(vol, uuid), PathBuf::from("/"))]);
    }
    let parent = unit::mount_unit_name(&vol.mount_point).ok_or_else(|| {
        failed(format!(
            "volume {}: mount point cannot be a unit name",
            vol.name
        ))
    })?;
    let mut v = vec![(MountSpec::volume_root(vol, uuid), PathBuf::from("/"))];
    for d in &vol.directories {
        v.push((
            MountSpec::bind(vol, uuid, d, &parent),
            Path::new("/").join(Volume::dir_subpath(d)),
        ));
    }
    Ok(v)
}

fn is_mounted(
    mounts: &[mountinfo::MountEntry],
    at: &Path,
    root: &Path,
    majmin: (u32, u32),
) -> bool {
    mountinfo::mounted_at(mounts, at)
        .is_some_and(|m| (m.major, m.minor) == majmin && m.root == root)
}

/// Every mount the volume needs is in place, from its device.
pub fn fully_mounted(vol: &Volume, majmin: (u32, u32)) -> Result<bool, VolumeError> {
    let mounts = mountinfo::read().map_err(failed)?;
    let mut at = vec![(vol.mount_point.clone(), PathBuf::from("/"))];
    for d in &vol.directories {
        at.push((d.clone(), Path::new("/").join(Volume::dir_subpath(d))));
    }
    Ok(at.iter().all(|(p, r)| is_mounted(&mounts, p, r, majmin)))
}

/// Writes the volume's units, then starts those not mounted yet, parent first.
fn mount(
    vol: &Volume,
    uuid: &str,
    devs: &str,
    majmin: (u32, u32),
    opts: &Options,
    bus: &mut Bus,
) -> Result<(), VolumeError> {
    let name = vol.name.as_str();
    let specs = mount_specs(vol, uuid)?;
    let mut changed = false;
    for (spec, _) in &specs {
        let (path, c) = unit::write(&opts.unit_dir, spec).map_err(failed)?;
        if c {
            vlog!(info, name, devs, "unit", "wrote {}", path.display());
        }
        changed |= c;
    }
    failpoint("unit-written");
    for (spec, _) in &specs {
        let flag = spec
            .ready_flag()
            .ok_or_else(|| failed("no ready flag path"))?;
        if !flag.exists() {
            if let Some(d) = flag.parent() {
                std::fs::create_dir_all(d).map_err(|e| failed(format!("{}: {e}", d.display())))?;
            }
            std::fs::write(&flag, b"").map_err(|e| failed(format!("{}: {e}", flag.display())))?;
        }
    }
    if changed {
        bus.get()?.reload().map_err(failed)?;
    }
    for (spec, root) in &specs {
        let at = &spec.mount_point;
        if is_mounted(&mountinfo::read().map_err(failed)?, at, root, majmin) {
            continue;
        }
        let unit_name = unit::mount_unit_name(at).ok_or_else(|| {
            failed(format!(
                "volume {name}: {} cannot be a unit name",
                at.display()
            ))
        })?;
        vlog!(info, name, devs, "mount", "starting {unit_name}");
        bus.get()?
            .start_unit(&unit_name, MOUNT_TIMEOUT)
            .map_err(|e| failed(format!("volume {name}: {e}")))?;
        failpoint("unit-started");
        // A skipped condition also ends the job "done": ask the unit itself.
        let active = bus.get()?.active_state(&unit_name).map_err(failed)?;
        if active.as_deref() != Some("active") {
            return Err(failed(format!(
                "volume {name}: {unit_name} job is done but the unit is {}; hint: systemctl status {unit_name}",
                active.as_deref().unwrap_or("not loaded")
            )));
        }
        let mounts = mountinfo::read().map_err(failed)?;
        match mountinfo::mounted_at(&mounts, at) {
            Some(m) if (m.major, m.minor) == majmin && &m.root == root => {
                vlog!(info, name, devs, "mount", "{} is mounted from {devs}", at.display());
            }
            Some(m) => {
                return Err(failed(format!(
                    "volume {name}: {unit_name} started, but {} is mounted from {}:{} instead of {devs}:{}",
                    at.display(),
                    m.source,
                    m.root.display(),
                    root.display()
                )))
            }
            None => {
                return Err(failed(format!(
                    "volume {name}: {unit_name} reported done, but {} is not a mount point; hint: journalctl -u {unit_name}",
                    at.display()
                )))
            }
        }
    }
    Ok(())
}
