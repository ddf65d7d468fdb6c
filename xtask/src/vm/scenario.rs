//! A boot scenario as data, and the one runner that executes any of them.
//!
//! A `Scenario` names its disks, then its boots in order; each `Boot` says what the
//! payload installs (datavol's RPM and config, failpoints, files, units, install.sh
//! lines), which guest checker runs, how the boot ends, and what the host checks
//! afterwards. `expect_kept` lists the facts that every boot must report unchanged.
use super::ctx::Ctx;
use super::host;
use super::image::{recipe_dir, Containerd};
use super::payload::Payload;
use super::qemu::{blank_disk, Bus, Disk};
use super::util::Kv;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A host-side check after a boot: the results of every boot so far, this one last.
pub type HostCheck = fn(&mut Ctx, &[Kv]);
/// Makes a disk image at the path (mkfs, files): the state a scenario starts from.
pub type Fixture = fn(&mut Ctx, &Path) -> Result<(), String>;

/// Where the failpoints drop-in goes; a boot without failpoints after one with them
/// removes it.
const FAILPOINTS_DROPIN: &str = "/etc/systemd/system/datavol.service.d/failpoints.conf";

pub struct Scenario {
    pub name: &'static str,
    pub about: &'static str,
    /// Not written yet (why): listed and reported PENDING, not run.
    pub pending: Option<&'static str>,
    /// Made before the first boot and attached to every boot, in this order.
    pub disks: Vec<DiskSpec>,
    pub boots: Vec<Boot>,
    /// (result key, what it is): a fact every boot reports that must not change.
    pub expect_kept: Vec<(&'static str, &'static str)>,
    /// Per boot; a boot that takes longer is killed and fails.
    pub timeout: Duration,
    /// A prefix for a value unique to this run ("PREFIX-PID"): `TOKEN` in every
    /// checker's env, and `{TOKEN}` in guest files.
    pub token: Option<&'static str>,
    /// The containerd the guest runs (its own image).
    pub containerd: Containerd,
}

impl Default for Scenario {
    fn default() -> Scenario {
        Scenario {
            name: "",
            about: "",
            pending: None,
            disks: vec![],
            boots: vec![],
            expect_kept: vec![],
            timeout: Duration::from_secs(300),
            token: None,
            containerd: Containerd::V1,
        }
    }
}

/// A data disk: its serial (the guest's by-id name), its bus and how it is made. Its
/// file is `<serial>.img` in the work dir, unless it is an existing file.
pub struct DiskSpec {
    pub serial: &'static str,
    pub bus: Bus,
    pub make: Make,
}

pub enum Make {
    /// A blank sparse file of this size.
    Blank(&'static str),
    /// The fixture makes the file.
    Fixture(Fixture),
    /// This file, attached as it is (the bench's source tree).
    File(PathBuf),
    /// A byte-for-byte copy of another disk of the scenario as it is now (an EBS
    /// volume restored from a snapshot of it: same filesystem UUID, same marker).
    /// Made again by a boot's `remake`, so it can copy a disk a boot filled.
    CopyOf(&'static str),
}

impl DiskSpec {
    pub fn virtio(serial: &'static str, make: Make) -> DiskSpec {
        DiskSpec {
            serial,
            bus: Bus::Virtio,
            make,
        }
    }

    pub fn nvme(serial: &'static str, make: Make) -> DiskSpec {
        DiskSpec {
            serial,
            bus: Bus::Nvme,
            make,
        }
    }
}

pub struct Boot {
    /// Names the boot's files in the work dir (`<label>-console.log`, ...).
    pub label: &'static str,
    /// The guest checker: xtask/vm/payload/checks/<check>.sh.
    pub check: &'static str,
    /// Extra units the checker waits for (After=).
    pub after: Vec<&'static str>,
    /// The checker's environment (/usr/local/lib/vmtest/env).
    pub env: Vec<(&'static str, String)>,
    /// Install the RPM with this conf.d drop-in (None: install nothing new).
    pub datavol: Option<String>,
    /// FAILPOINTS for datavol.service in this boot; puts the failpoints build in place.
    pub failpoints: Option<String>,
    pub files: Vec<GuestFile>,
    /// Units written to these paths and enabled offline.
    pub units: Vec<(&'static str, String)>,
    /// install.sh lines, after the RPM.
    pub run: Vec<String>,
    /// Boot on a new root overlay with this file name (a new node), not the last one.
    pub fresh_root: Option<&'static str>,
    /// Disks (by serial) made again before this boot, e.g. a lost instance-store disk.
    pub remake: Vec<&'static str>,
    /// Disks (by serial) not attached in this boot, e.g. an EBS volume that did not
    /// attach in time (a degraded boot).
    pub absent: Vec<&'static str>,
    pub until: Until,
    /// Throttle a disk's writes over QMP once the console shows a line.
    pub throttle: Option<Throttle>,
    /// The host's checks after this boot, in order.
    pub host: Vec<Host>,
    /// Boot as another instance from here on: this DMI product UUID
    /// (`-smbios type=1,uuid=`), e.g. an AMI baked from the first boot's node.
    pub instance: Option<&'static str>,
}

impl Boot {
    /// A boot that installs the RPM with the EKS case's config: /var/lib/containerd on
    /// the virtio disk data0, a 30 s device timeout, not required.
    pub fn eks(label: &'static str, check: &'static str) -> Boot {
        Boot {
            datavol: Some(containerd(30, false)),
            ..Boot::new(label, check)
        }
    }

    /// A boot that only runs `check`: add what it installs with `..Boot::new(..)`.
    pub fn new(label: &'static str, check: &'static str) -> Boot {
        Boot {
            label,
            check,
            after: vec![],
            env: vec![],
            datavol: None,
            failpoints: None,
            files: vec![],
            units: vec![],
            run: vec![],
            fresh_root: None,
            remake: vec![],
            absent: vec![],
            until: Until::PowerOff,
            throttle: None,
            host: vec![],
            instance: None,
        }
    }
}

/// The EKS case's config: /var/lib/containerd on data0.
pub fn containerd(device_timeout: u32, required: bool) -> String {
    format!(
        "[volume.containerd]\ndevice = \"/dev/disk/by-id/virtio-data0\"\nfilesystem = \"xfs\"\n\
         mount_point = \"/var/lib/containerd\"\noptions = [\"noatime\"]\ndevice_timeout = {device_timeout}\n\
         required = {required}\n"
    )
}

pub struct GuestFile {
    pub path: &'static str,
    pub from: Source,
    pub mode: u32,
}

pub enum Source {
    /// These contents (`{TOKEN}` replaced).
    Text(String),
    /// A file under xtask/vm.
    Recipe(&'static str),
    /// The package with a higher release (`cargo xtask rpm --release 2`), for a
    /// checker to upgrade to; vm-test builds it only when a selected scenario has one.
    Upgrade,
}

impl GuestFile {
    pub fn text(path: &'static str, text: impl Into<String>, mode: u32) -> GuestFile {
        GuestFile {
            path,
            from: Source::Text(text.into()),
            mode,
        }
    }

    pub fn recipe(path: &'static str, recipe: &'static str, mode: u32) -> GuestFile {
        GuestFile {
            path,
            from: Source::Recipe(recipe),
            mode,
        }
    }

    /// The upgrade package (release 2) at `path`.
    pub fn upgrade_package(path: &'static str) -> GuestFile {
        GuestFile {
            path,
            from: Source::Upgrade,
            mode: 0o644,
        }
    }
}

impl Scenario {
    /// Whether a boot brings the upgrade package (so vm-test must build it).
    pub fn upgrades(&self) -> bool {
        self.boots
            .iter()
            .any(|b| b.files.iter().any(|f| matches!(f.from, Source::Upgrade)))
    }
}

/// How a boot must end.
pub enum Until {
    /// The checker finishes and powers off.
    PowerOff,
    /// qemu is killed as soon as the console shows this: a power cut.
    Marker(&'static str),
}

pub struct Throttle {
    /// The console line that starts the throttling.
    pub when: &'static str,
    /// Index of the data disk in `disks`.
    pub disk: usize,
    pub bytes_per_sec: u64,
}

pub enum Host {
    /// A finished migration on data0: xfs with the guest's UUID, committed, the canary.
    Migrated,
    /// A note (not a check) with the value of a result key: "{}" in the text is the value.
    Note(&'static str, &'static str),
    Check(HostCheck),
}

/// Runs a scenario on `ctx`: makes its disks, boots each boot, runs the host's checks.
/// Failures go to `ctx.failures`; an `Err` is a rig error. Returns each boot's results.
pub fn run(ctx: &mut Ctx, s: &Scenario) -> Result<Vec<Kv>, String> {
    ctx.timeout = s.timeout;
    let token = s.token.map(|t| format!("{t}-{}", std::process::id()));
    let mut root = ctx.root("root.qcow2")?;
    let mut disks = vec![];
    for d in &s.disks {
        disks.push(make_disk(ctx, d)?);
    }
    let mut results: Vec<Kv> = vec![];
    let mut had_failpoints = false;
    for b in &s.boots {
        if let Some(file) = b.fresh_root {
            root = ctx.root(file)?;
        }
        for serial in &b.remake {
            let d = s
                .disks
                .iter()
                .find(|d| d.serial == *serial)
                .ok_or_else(|| format!("{}: remake names no disk {serial:?}", s.name))?;
            make_disk(ctx, d)?;
        }
        let p = payload(ctx, b, token.as_deref(), had_failpoints)?;
        had_failpoints = b.failpoints.is_some();
        let attached: Vec<Disk> = disks
            .iter()
            .filter(|d| !b.absent.contains(&d.serial.as_str()))
            .cloned()
            .collect();
        results.push(boot(ctx, b, &root, &attached, p)?);
        host_checks(ctx, b, &results);
    }
    if let (Some(first), Some(last)) = (results.first(), results.last()) {
        for (key, what) in &s.expect_kept {
            expect_kept(ctx, first, last, key, what);
        }
    }
    Ok(results)
}

/// The host's checks after boot `b`; `results` ends with its own.
fn host_checks(ctx: &mut Ctx, b: &Boot, results: &[Kv]) {
    let Some(res) = results.last() else { return };
    for h in &b.host {
        match h {
            Host::Migrated => {
                let data = ctx.disk("data0");
                host::migrated(ctx, b.label, &data, res);
            }
            Host::Note(key, text) => {
                if let Some(v) = res.get(key) {
                    ctx.notes.push(text.replace("{}", v));
                }
            }
            Host::Check(f) => f(ctx, results),
        }
    }
}

fn make_disk(ctx: &mut Ctx, d: &DiskSpec) -> Result<Disk, String> {
    let path = match &d.make {
        Make::Blank(size) => {
            let p = ctx.disk(d.serial);
            blank_disk(&p, size)?;
            p
        }
        Make::Fixture(f) => {
            let p = ctx.disk(d.serial);
            f(ctx, &p)?;
            p
        }
        Make::File(p) => p.clone(),
        Make::CopyOf(serial) => {
            let p = ctx.disk(d.serial);
            let from = ctx.disk(serial);
            // Sparse like the original: a clone of a mostly empty disk stays cheap.
            crate::util::run(
                std::process::Command::new("cp")
                    .arg("--sparse=always")
                    .arg(&from)
                    .arg(&p),
            )?;
            p
        }
    };
    Ok(Disk {
        path,
        bus: d.bus.clone(),
        serial: d.serial.to_string(),
    })
}

/// The boot's payload, in the order install.sh needs: the RPM, the failpoints build,
/// then the scenario's own lines.
fn payload(
    ctx: &Ctx,
    b: &Boot,
    token: Option<&str>,
    had_failpoints: bool,
) -> Result<Payload, String> {
    let mut p = ctx.payload(b.label)?;
    if let Some(config) = &b.datavol {
        ctx.install_datavol(&mut p, config)?;
    }
    if let Some(points) = &b.failpoints {
        // install_datavol already put the --datavol binary in place.
        if !(b.datavol.is_some() && ctx.build.override_bin) {
            ctx.install_failpoints_build(&mut p)?;
        }
        let dropin = format!("[Service]\nEnvironment=FAILPOINTS={points}\n");
        p.file(FAILPOINTS_DROPIN, dropin, 0o644)?;
    } else if had_failpoints {
        p.run(&format!("rm -f {FAILPOINTS_DROPIN}"));
    }
    for f in &b.files {
        match &f.from {
            Source::Text(t) => {
                let t = t.replace("{TOKEN}", token.unwrap_or_default());
                p.file(f.path, t, f.mode)?
            }
            Source::Recipe(r) => p.copy(&recipe_dir().join(r), f.path, f.mode)?,
            Source::Upgrade => {
                let rpm = ctx
                    .build
                    .upgrade
                    .as_ref()
                    .map_err(|e| format!("datavol upgrade package: {e}"))?;
                p.copy(rpm, f.path, f.mode)?
            }
        }
    }
    for (path, text) in &b.units {
        p.file(path, text, 0o644)?;
        p.enable(path, text)?;
    }
    for line in &b.run {
        p.run(line);
    }
    let mut env: Vec<(&str, &str)> = b.env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    if let Some(t) = token {
        env.push(("TOKEN", t));
    }
    ctx.checker(&mut p, b.check, &b.after, &env)?;
    Ok(p)
}

fn boot(ctx: &mut Ctx, b: &Boot, root: &Path, disks: &[Disk], p: Payload) -> Result<Kv, String> {
    if let Some(u) = b.instance {
        ctx.product_uuid = u.to_string();
    }
    let marker = match b.until {
        Until::PowerOff => None,
        Until::Marker(m) => Some(m),
    };
    let Some(t) = &b.throttle else {
        return ctx.boot(b.label, root, disks, p, marker);
    };
    let mut throttled = false;
    let res = ctx.boot_watch(b.label, root, disks, p, marker, &mut |console, m| {
        if !throttled && console.contains(t.when) {
            throttled = true;
            m.qmp(&format!(
                r#"{{"execute":"block_set_io_throttle","arguments":{{"device":"d{}","bps":0,"bps_rd":0,"bps_wr":{},"iops":0,"iops_rd":0,"iops_wr":0}}}}"#,
                t.disk, t.bytes_per_sec
            ))?;
        }
        Ok(())
    })?;
    ctx.expect(throttled, format!("the console never showed '{}'", t.when));
    Ok(res)
}

/// A fact both boots reported must be there and be the same.
fn expect_kept(ctx: &mut Ctx, r1: &Kv, r2: &Kv, key: &str, what: &str) {
    let (a, b) = (r1.get(key), r2.get(key));
    ctx.expect(
        a.is_some_and(|v| !v.is_empty()) && a == b,
        format!("{what} changed between boots: {a:?} then {b:?}"),
    );
}
