//! The boot-test scenarios. Each builds its disks and payloads, boots (once or more),
//! and asserts from both sides: the guest checker's key=value results, and what the host
//! sees in the disk images afterwards.
use super::image::{install_checker, recipe_dir, Image};
use super::payload::Payload;
use super::qemu::{blank_disk, overlay, Bus, Disk, Exit, Machine};
use super::util::{blkid, output, secs, sha256_file, state_phase, CopyMount, Kv, LoopMount};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

#[allow(dead_code)] // Pending: for scenarios not written yet
pub enum Status {
    Ready(fn(&mut Ctx) -> Result<(), String>),
    Pending(&'static str),
}

pub struct Scenario {
    pub name: &'static str,
    pub about: &'static str,
    pub status: Status,
}

pub fn all() -> Vec<Scenario> {
    use Status::*;
    vec![
        Scenario { name: "baked", about: "control: the baked image runs from the root disk (no datavol)", status: Ready(baked) },
        Scenario { name: "blank-mount", about: "control: a blank xfs mounted on /var/lib/containerd breaks containerd (the EKS bug)", status: Ready(blank_mount) },
        Scenario { name: "seed", about: "blank data disk: formatted, migrated, mounted by UUID before containerd", status: Ready(seed) },
        Scenario { name: "reboot", about: "second boot: data kept, no format/copy/unit rewrite, datavol's boot cost", status: Ready(reboot) },
        Scenario { name: "power-cut", about: "power cut in the middle of the copy, then a normal boot completes it", status: Ready(power_cut) },
        Scenario { name: "foreign-disk", about: "data disk holds another ext4 with files: refused, untouched", status: Ready(|c| foreign(c, "ext4")) },
        Scenario { name: "foreign-xfs", about: "data disk holds an xfs with files datavol did not make, no adopt_existing: refused, untouched", status: Ready(|c| foreign(c, "xfs")) },
        Scenario { name: "udev-no-watch", about: "udev sends no change event after mkfs: the by-uuid link must still appear", status: Ready(udev_no_watch) },
        Scenario { name: "nodeadm-order", about: "containerd started late by nodeadm-run.service (AL2023 order)", status: Ready(nodeadm_order) },
        Scenario { name: "missing-disk", about: "no data disk, required=false: containerd runs from the root disk", status: Ready(|c| missing_disk(c, false)) },
        Scenario { name: "missing-disk-required", about: "no data disk, required=true: containerd must not start", status: Ready(|c| missing_disk(c, true)) },
        Scenario { name: "crash-mkfs-done", about: "datavol crashes right after mkfs; the next boot finishes", status: Ready(|c| crash(c, "mkfs-done")) },
        Scenario { name: "crash-verified", about: "datavol crashes after verifying, before commit; the next boot finishes", status: Ready(|c| crash(c, "verified")) },
        Scenario { name: "crash-unit-written", about: "datavol crashes after writing the unit, before starting it", status: Ready(|c| crash(c, "unit-written")) },
        Scenario { name: "reseed", about: "data disk lost (instance store after stop/start): reseed from the root disk", status: Ready(reseed) },
        Scenario { name: "snapshot-restore", about: "a data disk datavol committed on one node, attached to a new node: mounted as is", status: Ready(snapshot_restore) },
        Scenario { name: "adopt-existing", about: "adopt_existing = true and an image-cache xfs datavol did not make: adopted, not copied", status: Ready(adopt_existing) },
        Scenario { name: "slow-source", about: "writes to the data disk throttled: a copy of minutes, not killed, progress logged", status: Ready(slow_source) },
        Scenario { name: "devices", about: "QEMU NVMe through the Identify ioctl (not EBS, not instance store); refusals of a foreign md member, a held disk, the root disk", status: Ready(devices) },
        Scenario { name: "raid0-multi-dir", about: "two NVMe disks in RAID0 holding several directories", status: Ready(raid0_multi_dir) },
    ]
}

/// What the scenarios install.
pub struct Build {
    /// The RPM `cargo xtask rpm` built: every scenario installs it with rpm itself.
    pub package: Result<PathBuf, String>,
    /// datavol built with failpoints (or --datavol), for the scenarios that crash it.
    pub datavol: Result<PathBuf, String>,
    /// --datavol given: that binary replaces the package's in every scenario.
    pub override_bin: bool,
}

pub struct Ctx {
    pub name: String,
    pub image: Image,
    pub accel: String,
    pub build: Build,
    /// Per-scenario work dir, emptied at the start of each run and kept afterwards.
    pub dir: PathBuf,
    /// `--shell`: the first boot is interactive and nothing is asserted.
    pub shell: bool,
    pub failures: Vec<String>,
    pub notes: Vec<String>,
    /// Per boot; a boot that takes longer is killed and fails.
    pub timeout: Duration,
    boots: u32,
}

/// Returned by `Ctx::boot` in shell mode to end the scenario after the interactive boot.
pub const SHELL_DONE: &str = "(shell session ended)";

impl Ctx {
    pub fn new(
        name: &str,
        image: Image,
        accel: String,
        build: Build,
        dir: PathBuf,
        shell: bool,
    ) -> Ctx {
        Ctx {
            name: name.into(),
            image,
            accel,
            build,
            dir,
            shell,
            failures: vec![],
            notes: vec![],
            boots: 0,
            timeout: Duration::from_secs(300),
        }
    }

    pub fn fail(&mut self, msg: impl Into<String>) {
        self.failures.push(msg.into());
    }

    pub fn expect(&mut self, cond: bool, msg: impl Into<String>) {
        if !cond {
            self.fail(msg);
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// A fresh overlay over the pristine image.
    fn root(&self) -> Result<PathBuf, String> {
        let p = self.path("root.qcow2");
        overlay(&self.image.raw, &p)?;
        Ok(p)
    }

    fn blank_data(&self) -> Result<PathBuf, String> {
        let p = self.path("data0.img");
        blank_disk(&p, "4G")?;
        Ok(p)
    }

    fn payload(&self, label: &str) -> Result<Payload, String> {
        Payload::new(&self.path(&format!("{label}-share")))
    }

    fn check_script(name: &str) -> Result<String, String> {
        let p = recipe_dir()
            .join("payload/checks")
            .join(format!("{name}.sh"));
        fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))
    }

    /// The checker for this boot, from xtask/vm/payload/checks/<script>.sh.
    fn checker(
        &self,
        p: &mut Payload,
        script: &str,
        after: &[&str],
        env: &[(&str, &str)],
    ) -> Result<(), String> {
        install_checker(p, &Self::check_script(script)?, after)?;
        let env: String = env.iter().map(|(k, v)| format!("{k}='{v}'\n")).collect();
        p.file("/usr/local/lib/vmtest/env", env, 0o644)
    }

    /// Installs the datavol RPM with the guest's own rpm (its %post enables datavol.service
    /// through the preset), before systemd starts, as an AMI bake would; `config` becomes
    /// a conf.d drop-in, as EKS user data would write it.
    fn install_datavol(&self, p: &mut Payload, config: &str) -> Result<(), String> {
        let rpm = self
            .build
            .package
            .clone()
            .map_err(|e| format!("datavol package: {e}"))?;
        p.share_file("datavol.rpm", &rpm)?;
        p.file("/etc/datavol/conf.d/50-vmtest.toml", config, 0o644)?;
        // Debian's rpm keeps a per-user database (~/.rpmdb); give it one system-wide place,
        // as on an RPM distribution. --nodeps: Debian's packages are not in that database.
        p.file("/etc/rpm/macros.dbpath", "%_dbpath /var/lib/rpm\n", 0o644)?;
        p.run("rpm -i --nodeps /mnt/vmtest/datavol.rpm");
        if self.build.override_bin {
            self.install_failpoints_build(p)?;
        }
        Ok(())
    }

    /// Replaces the package's binary with the failpoints build (the package ships none).
    fn install_failpoints_build(&self, p: &mut Payload) -> Result<(), String> {
        let bin = self
            .build
            .datavol
            .clone()
            .map_err(|e| format!("datavol failpoints binary: {e}"))?;
        p.share_file("datavol-failpoints", &bin)?;
        p.run("install -m 0755 /mnt/vmtest/datavol-failpoints /usr/bin/datavol");
        p.run("touch /usr/local/lib/vmtest/binary-replaced");
        Ok(())
    }

    fn machine(&self, label: &str, root: &Path, disks: &[Disk], share: &Path) -> Machine {
        Machine {
            kernel: self.image.kernel.clone(),
            initrd: self.image.initrd.clone(),
            accel: self.accel.clone(),
            root: root.to_path_buf(),
            disks: disks.to_vec(),
            share: share.to_path_buf(),
            console: self.path(&format!("{label}-console.log")),
            timeout: self.timeout,
            mem_mb: 1024,
            qmp: Some(self.path(&format!("{label}.qmp"))),
        }
    }

    /// Boots once. Records failures for a boot that did not power off (or, with `marker`,
    /// did not reach it), an unfinished checker, and every failed guest check; notes how
    /// long datavol.service ran.
    /// Returns the checker's results.
    fn boot(
        &mut self,
        label: &str,
        root: &Path,
        disks: &[Disk],
        p: Payload,
        marker: Option<&str>,
    ) -> Result<Kv, String> {
        self.boot_watch(label, root, disks, p, marker, &mut |_, _| Ok(()))
    }

    /// As `boot`, then the host's checks of a finished migration on `data`.
    fn boot_migrated(
        &mut self,
        label: &str,
        root: &Path,
        disks: &[Disk],
        p: Payload,
        data: &Path,
    ) -> Result<Kv, String> {
        let res = self.boot(label, root, disks, p, None)?;
        host_check_migrated(self, label, data, &res);
        Ok(res)
    }

    /// As `boot`, with a `watch` called on every poll of the console (see Machine::boot_watch).
    fn boot_watch(
        &mut self,
        label: &str,
        root: &Path,
        disks: &[Disk],
        mut p: Payload,
        marker: Option<&str>,
        watch: &mut dyn FnMut(&str, &Machine) -> Result<(), String>,
    ) -> Result<Kv, String> {
        self.boots += 1;
        save_boot(&self.dir, root, disks)?;
        if self.shell {
            shell_extras(&mut p)?;
            p.finish()?;
            eprintln!(
                "vm-test: {}: interactive boot '{label}' (root autologin; Ctrl-A X quits qemu).",
                self.name
            );
            eprintln!("vm-test: the checker is installed, not enabled: bash /usr/local/lib/vmtest/check.sh");
            self.machine(label, root, disks, &p.dir).interactive()?;
            return Err(SHELL_DONE.into());
        }
        p.finish()?;
        let m = self.machine(label, root, disks, &p.dir);
        let o = m.boot_watch(marker, watch)?;
        self.notes
            .push(format!("{label}: {:?} after {}", o.exit, secs(o.took)));
        let res = Kv::load(&p.out().join("result.txt"));
        note_datavol_time(self, label, &res);
        let want = if marker.is_some() {
            Exit::KilledAtMarker
        } else {
            Exit::PoweredOff
        };
        if o.exit != want {
            self.fail(format!(
                "{label}: {:?} after {} (wanted {want:?}); console tail:\n{}",
                o.exit,
                secs(o.took),
                tail(&m.console, 15)
            ));
        }
        if marker.is_none() && res.get("done") != Some("1") {
            self.fail(format!(
                "{label}: checker did not finish; see {}",
                p.out().display()
            ));
        }
        for (k, v) in &res.0 {
            if let Some(c) = k.strip_prefix("check.") {
                if v != "ok" {
                    self.fail(format!("{label}: {c}: {v}"));
                }
            }
        }
        Ok(res)
    }
}

/// Adds root autologin on the serial console, a quiet console, and disables the checker.
fn shell_extras(p: &mut Payload) -> Result<(), String> {
    p.file(
        "/etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf",
        "[Service]\nExecStart=\nExecStart=-/sbin/agetty -o '-p -f -- \\\\u' --noclear --autologin root --keep-baud 115200,57600,38400,9600 - $TERM\n",
        0o644,
    )?;
    p.file(
        "/etc/systemd/journald.conf.d/zz-shell.conf",
        "[Journal]\nForwardToConsole=no\n",
        0o644,
    )?;
    p.run("rm -f /etc/systemd/system/multi-user.target.wants/vmtest-check.service");
    Ok(())
}

/// Remembers the disks of the latest boot, for `--inspect`.
fn save_boot(dir: &Path, root: &Path, disks: &[Disk]) -> Result<(), String> {
    let mut s = format!("root {}\n", root.display());
    for d in disks {
        let bus = match d.bus {
            super::qemu::Bus::Virtio => "virtio",
            super::qemu::Bus::Nvme => "nvme",
        };
        s.push_str(&format!("disk {bus} {} {}\n", d.serial, d.path.display()));
    }
    fs::write(dir.join("last-boot.txt"), s).map_err(|e| e.to_string())
}

/// Boots the disks the latest run of a scenario left behind, interactively.
pub fn inspect(ctx: &mut Ctx) -> Result<(), String> {
    let text = fs::read_to_string(ctx.dir.join("last-boot.txt")).map_err(|e| {
        format!(
            "no previous run of {} in {}: {e}",
            ctx.name,
            ctx.dir.display()
        )
    })?;
    let mut root = None;
    let mut disks = vec![];
    for l in text.lines() {
        let w: Vec<&str> = l.splitn(4, ' ').collect();
        match w.as_slice() {
            ["root", p] => root = Some(PathBuf::from(p)),
            ["disk", bus, serial, p] => disks.push(Disk {
                path: PathBuf::from(p),
                bus: if *bus == "nvme" {
                    super::qemu::Bus::Nvme
                } else {
                    super::qemu::Bus::Virtio
                },
                serial: serial.to_string(),
            }),
            _ => {}
        }
    }
    let root = root.ok_or("last-boot.txt has no root")?;
    let mut p = ctx.payload("inspect")?;
    shell_extras(&mut p)?;
    p.finish()?;
    eprintln!(
        "vm-test: {}: booting the disks of the last run (root autologin; Ctrl-A X quits qemu)",
        ctx.name
    );
    ctx.machine("inspect", &root, &disks, &p.dir).interactive()
}

fn tail(path: &Path, n: usize) -> String {
    let s = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| format!("    | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn config(device_timeout: u32, required: bool) -> String {
    format!(
        "[volume.containerd]\ndevice = \"/dev/disk/by-id/virtio-data0\"\nfilesystem = \"xfs\"\n\
         mount_point = \"/var/lib/containerd\"\noptions = [\"noatime\"]\ndevice_timeout = {device_timeout}\n\
         required = {required}\n"
    )
}

/// Host-side view of the data disk after a migration: xfs with the UUID the guest saw,
/// datavol's committed state on it, and the canary's big file.
fn host_check_migrated(ctx: &mut Ctx, label: &str, data: &Path, res: &Kv) {
    let b = blkid(data);
    ctx.expect(
        b.get("TYPE") == Some("xfs"),
        format!("{label}: host: data disk is {:?}, want xfs", b.get("TYPE")),
    );
    ctx.expect(
        b.get("UUID").is_some() && b.get("UUID") == res.get("data.uuid"),
        format!(
            "{label}: host: data disk UUID {:?}, guest saw {:?}",
            b.get("UUID"),
            res.get("data.uuid")
        ),
    );
    match CopyMount::new(data, &ctx.dir) {
        Ok(m) => {
            let state = fs::read_to_string(m.dir.join(".datavol/state.json")).unwrap_or_default();
            let phase = state_phase(&state);
            ctx.expect(
                phase.as_deref() == Some("committed"),
                format!(
                    "{label}: host: .datavol/state.json on the disk: phase {phase:?}: {state:?}"
                ),
            );
            let big = fs::metadata(m.dir.join("vmtest-canary/a/big.bin"))
                .map(|m| m.len())
                .unwrap_or(0);
            ctx.expect(
                big == 24 << 20,
                format!("{label}: host: vmtest-canary/a/big.bin is {big} bytes"),
            );
        }
        Err(e) => ctx.fail(format!(
            "{label}: host: cannot mount a copy of the data disk: {e}"
        )),
    }
}

fn baked(ctx: &mut Ctx) -> Result<(), String> {
    let root = ctx.root()?;
    let mut p = ctx.payload("boot")?;
    ctx.checker(&mut p, "baked", &[], &[])?;
    ctx.boot("boot", &root, &[], p, None)?;
    Ok(())
}

fn blank_mount(ctx: &mut Ctx) -> Result<(), String> {
    let root = ctx.root()?;
    let data = ctx.blank_data()?;
    output(Command::new("mkfs.xfs").args(["-q", "-f"]).arg(&data))?;
    let mut p = ctx.payload("boot")?;
    // What the EKS user data effectively did: mount a blank fs there before containerd.
    let unit = "[Unit]\nBefore=containerd.service\n\n[Mount]\nWhat=/dev/disk/by-id/virtio-data0\n\
                Where=/var/lib/containerd\nType=xfs\n\n[Install]\nRequiredBy=containerd.service\n";
    p.file("/etc/systemd/system/var-lib-containerd.mount", unit, 0o644)?;
    p.enable("/etc/systemd/system/var-lib-containerd.mount", unit)?;
    ctx.checker(&mut p, "blank-mount", &[], &[])?;
    ctx.boot("boot", &root, &[Disk::virtio(&data, "data0")], p, None)?;
    Ok(())
}

fn seed(ctx: &mut Ctx) -> Result<(), String> {
    let root = ctx.root()?;
    let data = ctx.blank_data()?;
    let disks = [Disk::virtio(&data, "data0")];
    let mut p = ctx.payload("boot")?;
    ctx.install_datavol(&mut p, &config(30, false))?;
    ctx.checker(&mut p, "seed", &[], &[])?;
    ctx.boot_migrated("boot", &root, &disks, p, &data)?;
    Ok(())
}

/// A fact both boots reported must be there and be the same.
fn expect_kept(ctx: &mut Ctx, r1: &Kv, r2: &Kv, key: &str, what: &str) {
    let (a, b) = (r1.get(key), r2.get(key));
    ctx.expect(
        a.is_some_and(|v| !v.is_empty()) && a == b,
        format!("{what} changed between boots: {a:?} then {b:?}"),
    );
}

fn note_datavol_time(ctx: &mut Ctx, label: &str, res: &Kv) {
    if let Some(us) = res.get("datavol.usec").and_then(|v| v.parse::<u64>().ok()) {
        ctx.notes.push(format!(
            "{label}: datavol.service ran {:.2}s; stages: {}",
            us as f64 / 1e6,
            res.get("datavol.stages").unwrap_or("")
        ));
    }
}

fn reboot(ctx: &mut Ctx) -> Result<(), String> {
    let root = ctx.root()?;
    let data = ctx.blank_data()?;
    let disks = [Disk::virtio(&data, "data0")];
    let token = format!("token-{}", std::process::id());
    let mut p = ctx.payload("boot1")?;
    ctx.install_datavol(&mut p, &config(30, false))?;
    ctx.checker(&mut p, "reboot-1", &[], &[("TOKEN", &token)])?;
    let r1 = ctx.boot("boot1", &root, &disks, p, None)?;
    // Boot 2: same disks; the payload only brings the next checker.
    let mut p = ctx.payload("boot2")?;
    ctx.checker(&mut p, "reboot-2", &[], &[("TOKEN", &token)])?;
    let r2 = ctx.boot_migrated("boot2", &root, &disks, p, &data)?;
    expect_kept(ctx, &r1, &r2, "unit.stat", "mount unit inode/mtime");
    expect_kept(ctx, &r1, &r2, "data.uuid", "data disk UUID");
    Ok(())
}

fn power_cut(ctx: &mut Ctx) -> Result<(), String> {
    let root = ctx.root()?;
    let data = ctx.blank_data()?;
    let disks = [Disk::virtio(&data, "data0")];
    let mut p = ctx.payload("boot1")?;
    ctx.install_datavol(&mut p, &config(30, false))?;
    ctx.install_failpoints_build(&mut p)?;
    p.file(
        "/etc/systemd/system/datavol.service.d/failpoints.conf",
        "[Service]\nEnvironment=FAILPOINTS=copy-halfway=pause\n",
        0o644,
    )?;
    p.copy(
        &recipe_dir().join("payload/checks/cutwatch.sh"),
        "/usr/local/lib/vmtest/cutwatch.sh",
        0o755,
    )?;
    let watch = "[Unit]\nDescription=VM test: report the copy-halfway pause\nDefaultDependencies=no\n\n\
                 [Service]\nExecStart=/usr/local/lib/vmtest/cutwatch.sh\n\n[Install]\nWantedBy=sysinit.target\n";
    p.file("/etc/systemd/system/vmtest-cutwatch.service", watch, 0o644)?;
    p.enable("/etc/systemd/system/vmtest-cutwatch.service", watch)?;
    ctx.checker(&mut p, "power-cut-1", &[], &[])?;
    ctx.boot("boot1", &root, &disks, p, Some("VMTEST-PAUSED"))?;
    if ctx.failures.is_empty() {
        // After the cut, before the second boot: formatted, but not committed.
        let b = blkid(&data);
        ctx.notes.push(format!(
            "after cut: data disk TYPE={:?} UUID={:?}",
            b.get("TYPE"),
            b.get("UUID")
        ));
        if let Ok(m) = CopyMount::new(&data, &ctx.dir) {
            let state = fs::read_to_string(m.dir.join(".datavol/state.json"))
                .unwrap_or_else(|e| format!("({e})"));
            let compact: String = state.split_whitespace().collect::<Vec<_>>().join(" ");
            ctx.notes
                .push(format!("after cut: .datavol/state.json: {compact}"));
            let phase = state_phase(&state);
            ctx.expect(
                phase.as_deref() != Some("committed"),
                format!("after cut: phase {phase:?}: the cut came too late"),
            );
            ctx.expect(
                phase.is_some(),
                "after cut: no state.json on the data disk: the cut came too early",
            );
        }
    }
    let mut p = ctx.payload("boot2")?;
    p.run("rm -f /etc/systemd/system/datavol.service.d/failpoints.conf /etc/systemd/system/sysinit.target.wants/vmtest-cutwatch.service");
    ctx.checker(&mut p, "power-cut-2", &[], &[])?;
    ctx.boot_migrated("boot2", &root, &disks, p, &data)?;
    Ok(())
}

/// The data disk holds a filesystem with files that datavol did not make (of another
/// type than configured, or of the same type without adopt_existing): refused, untouched.
fn foreign(ctx: &mut Ctx, fstype: &str) -> Result<(), String> {
    let root = ctx.root()?;
    let tree = ctx.path("foreign-tree");
    let _ = fs::remove_dir_all(&tree);
    fs::create_dir_all(tree.join("images/layers")).map_err(|e| e.to_string())?;
    fs::write(tree.join("README"), "someone else's data\n").map_err(|e| e.to_string())?;
    for i in 0..50 {
        fs::write(
            tree.join(format!("images/layers/l{i}")),
            vec![i as u8; 1000 * i],
        )
        .map_err(|e| e.to_string())?;
    }
    let data = ctx.path("data0.img");
    let _ = fs::remove_file(&data);
    if fstype == "ext4" {
        output(
            Command::new("mkfs.ext4")
                .args(["-q", "-F", "-L", "foreign", "-d"])
                .arg(&tree)
                .arg(&data)
                .arg("512M"),
        )?;
    } else {
        blank_disk(&data, "1G")?;
        output(
            Command::new("mkfs.xfs")
                .args(["-q", "-f", "-L", "foreign"])
                .arg(&data),
        )?;
        let m = LoopMount::new(&data, &ctx.path("foreign-mnt"), "rw")?;
        output(Command::new("cp").arg("-a").arg(tree.join(".")).arg(&m.dir))?;
    }
    let before = sha256_file(&data)?;
    let mut p = ctx.payload("boot")?;
    ctx.install_datavol(&mut p, &config(30, false))?;
    ctx.checker(&mut p, "foreign-disk", &[], &[("FSTYPE", fstype)])?;
    ctx.boot("boot", &root, &[Disk::virtio(&data, "data0")], p, None)?;
    let after = sha256_file(&data)?;
    ctx.expect(
        before == after,
        format!("host: foreign disk changed: sha256 {before} -> {after}"),
    );
    let t = blkid(&data);
    ctx.expect(
        t.get("TYPE") == Some(fstype),
        format!("host: foreign disk is now {:?}", t.get("TYPE")),
    );
    Ok(())
}

fn nodeadm_order(ctx: &mut Ctx) -> Result<(), String> {
    let root = ctx.root()?;
    let data = ctx.blank_data()?;
    let mut p = ctx.payload("boot")?;
    ctx.install_datavol(&mut p, &config(30, false))?;
    // As on AL2023 EKS AMIs: containerd is not enabled; nodeadm-run starts it late.
    p.run("rm -f /etc/systemd/system/multi-user.target.wants/containerd.service");
    let unit = "[Unit]\nDescription=stand-in for nodeadm-run.service\nAfter=multi-user.target\n\n\
                [Service]\nType=oneshot\nRemainAfterExit=yes\nTimeoutStartSec=150\n\
                ExecStart=/bin/systemctl start containerd.service\n\n[Install]\nWantedBy=multi-user.target\n";
    p.file("/etc/systemd/system/nodeadm-run.service", unit, 0o644)?;
    p.enable("/etc/systemd/system/nodeadm-run.service", unit)?;
    ctx.checker(&mut p, "nodeadm-order", &["nodeadm-run.service"], &[])?;
    ctx.boot_migrated("boot", &root, &[Disk::virtio(&data, "data0")], p, &data)?;
    Ok(())
}

/// No data disk at all; `required` decides whether containerd may start without it.
fn missing_disk(ctx: &mut Ctx, required: bool) -> Result<(), String> {
    let root = ctx.root()?;
    let mut p = ctx.payload("boot")?;
    ctx.install_datavol(&mut p, &config(5, required))?;
    let script = if required {
        "missing-disk-required"
    } else {
        "missing-disk"
    };
    ctx.checker(&mut p, script, &[], &[])?;
    ctx.boot("boot", &root, &[], p, None)?;
    Ok(())
}

/// udev does not watch the data disk, so mkfs produces no change event and no
/// /dev/disk/by-uuid link unless datavol asks udev for one (the race seen on first boots,
/// made certain). The mount unit's What= must still resolve.
fn udev_no_watch(ctx: &mut Ctx) -> Result<(), String> {
    let root = ctx.root()?;
    let data = ctx.blank_data()?;
    let mut p = ctx.payload("boot")?;
    ctx.install_datavol(&mut p, &config(30, false))?;
    p.file(
        "/etc/udev/rules.d/99-vmtest-nowatch.rules",
        "SUBSYSTEM==\"block\", ENV{ID_SERIAL}==\"data0|scratch0\", OPTIONS:=\"nowatch\"\n",
        0o644,
    )?;
    let scratch = ctx.path("scratch0.img");
    blank_disk(&scratch, "1G")?;
    ctx.checker(&mut p, "udev-no-watch", &[], &[])?;
    let disks = [
        Disk::virtio(&data, "data0"),
        Disk::virtio(&scratch, "scratch0"),
    ];
    ctx.boot_migrated("boot", &root, &disks, p, &data)?;
    Ok(())
}

/// datavol aborts at `point` on boot 1 (a process crash; the machine stays up), then a
/// normal boot 2 must complete the migration.
fn crash(ctx: &mut Ctx, point: &str) -> Result<(), String> {
    let root = ctx.root()?;
    let data = ctx.blank_data()?;
    let disks = [Disk::virtio(&data, "data0")];
    let mut p = ctx.payload("boot1")?;
    ctx.install_datavol(&mut p, &config(30, false))?;
    ctx.install_failpoints_build(&mut p)?;
    p.file(
        "/etc/systemd/system/datavol.service.d/failpoints.conf",
        format!("[Service]\nEnvironment=FAILPOINTS={point}=return\n"),
        0o644,
    )?;
    ctx.checker(&mut p, "crash-1", &[], &[("FAILPOINT", point)])?;
    ctx.boot("boot1", &root, &disks, p, None)?;
    let mut p = ctx.payload("boot2")?;
    p.run("rm -f /etc/systemd/system/datavol.service.d/failpoints.conf");
    ctx.checker(&mut p, "crash-2", &[], &[])?;
    ctx.boot_migrated("boot2", &root, &disks, p, &data)?;
    Ok(())
}

/// Boot 1 as seed; then the data disk is swapped for a blank one with the same serial
/// (an instance-store disk after stop/start) and boot 2 must seed it again.
fn reseed(ctx: &mut Ctx) -> Result<(), String> {
    let root = ctx.root()?;
    let data = ctx.blank_data()?;
    let disks = [Disk::virtio(&data, "data0")];
    let mut p = ctx.payload("boot1")?;
    ctx.install_datavol(&mut p, &config(30, false))?;
    ctx.checker(&mut p, "seed", &[], &[])?;
    let r1 = ctx.boot("boot1", &root, &disks, p, None)?;
    ctx.blank_data()?;
    let mut p = ctx.payload("boot2")?;
    ctx.checker(&mut p, "reseed", &[], &[])?;
    let r2 = ctx.boot("boot2", &root, &disks, p, None)?;
    let (u1, u2) = (r1.get("data.uuid"), r2.get("data.uuid"));
    ctx.expect(
        u2.is_some() && u1 != u2,
        format!("reseeded disk UUID {u2:?}, first disk {u1:?}"),
    );
    host_check_migrated(ctx, "boot2", &data, &r2);
    Ok(())
}

/// Bytes per second the data disk may write once mkfs is done, in slow-source.
const SLOW_BPS: u64 = 700_000;

/// The data disk's writes are throttled (over QMP) as soon as the console shows datavol's
/// mkfs-done failpoint (which sleeps 8 s to leave time for it), so the copy takes minutes.
fn slow_source(ctx: &mut Ctx) -> Result<(), String> {
    let root = ctx.root()?;
    let data = ctx.blank_data()?;
    let disks = [Disk::virtio(&data, "data0")];
    let mut p = ctx.payload("boot")?;
    ctx.install_datavol(&mut p, &config(30, false))?;
    ctx.install_failpoints_build(&mut p)?;
    p.file(
        "/etc/systemd/system/datavol.service.d/failpoints.conf",
        "[Service]\nEnvironment=FAILPOINTS=mkfs-done=sleep(8000)\n",
        0o644,
    )?;
    // With 1 GiB of RAM and the default dirty limits, the whole 35 MiB copy lands in the
    // page cache at once and all the waiting happens in the final sync. Small limits keep
    // the ratio of a real node (GiBs of data, dirty limits of a few seconds of disk time),
    // so the copy itself is slow and has progress to report.
    p.file(
        "/etc/sysctl.d/99-vmtest-slow.conf",
        "vm.dirty_bytes = 4194304\nvm.dirty_background_bytes = 2097152\n",
        0o644,
    )?;
    // A short default start timeout, so a copy of under a minute proves that datavol's own
    // TimeoutStartSec= (not the default) applies.
    p.file(
        "/etc/systemd/system.conf.d/vmtest-timeout.conf",
        "[Manager]\nDefaultTimeoutStartSec=20s\n",
        0o644,
    )?;
    ctx.checker(&mut p, "slow-source", &[], &[])?;
    ctx.timeout = Duration::from_secs(600);
    let mut throttled = false;
    let res = ctx.boot_watch("boot", &root, &disks, p, None, &mut |console, m| {
        if !throttled && console.contains("failpoint mkfs-done") {
            throttled = true;
            m.qmp(&format!(
                r#"{{"execute":"block_set_io_throttle","arguments":{{"device":"d0","bps":0,"bps_rd":0,"bps_wr":{SLOW_BPS},"iops":0,"iops_rd":0,"iops_wr":0}}}}"#
            ))?;
        }
        Ok(())
    })?;
    ctx.expect(throttled, "the console never showed 'failpoint mkfs-done'");
    if let Some(n) = res.get("progress.lines") {
        ctx.notes.push(format!("boot: {n} progress lines"));
    }
    host_check_migrated(ctx, "boot", &data, &res);
    Ok(())
}

/// Two blank NVMe disks striped by datavol (raid = "raid0") into one xfs serving
/// /var/lib/containerd and /var/lib/kubelet through bind mounts; then a second boot
/// on the same disks (the array must come back).
fn raid0_multi_dir(ctx: &mut Ctx) -> Result<(), String> {
    let root = ctx.root()?;
    let mut disks = vec![];
    for i in 0..2 {
        let p = ctx.path(&format!("inst{i}.img"));
        blank_disk(&p, "2G")?;
        disks.push(Disk {
            path: p,
            bus: Bus::Nvme,
            serial: format!("inst{i}"),
        });
    }
    let token = format!("kubelet-{}", std::process::id());
    let config = "[volume.data]\n\
        device = [\"/dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_inst0\", \"/dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_inst1\"]\n\
        raid = \"raid0\"\nfilesystem = \"xfs\"\n\
        directories = [\"/var/lib/containerd\", \"/var/lib/kubelet\"]\n\
        options = [\"noatime\"]\ndevice_timeout = 30\nrequired = true\n";
    let mut p = ctx.payload("boot1")?;
    ctx.install_datavol(&mut p, config)?;
    // kubelet's directory has content before the first boot, as on a node image.
    p.file("/var/lib/kubelet/pki/token", format!("{token}\n"), 0o600)?;
    p.file(
        "/var/lib/kubelet/config.yaml",
        "kind: KubeletConfiguration\n",
        0o644,
    )?;
    ctx.checker(&mut p, "raid0-1", &[], &[("TOKEN", &token)])?;
    let r1 = ctx.boot("boot1", &root, &disks, p, None)?;
    let mut p = ctx.payload("boot2")?;
    ctx.checker(&mut p, "raid0-2", &[], &[("TOKEN", &token)])?;
    let r2 = ctx.boot("boot2", &root, &disks, p, None)?;
    expect_kept(ctx, &r1, &r2, "data.uuid", "array filesystem UUID");
    for d in &disks {
        let t = blkid(&d.path);
        ctx.expect(
            t.get("TYPE") == Some("linux_raid_member"),
            format!(
                "host: {} is {:?}, want linux_raid_member",
                d.path.display(),
                t.get("TYPE")
            ),
        );
    }
    Ok(())
}

/// Boot 1 seeds a data disk on one root disk; boot 2 attaches it to a fresh root disk (a
/// new node launched with a snapshot of the first node's data volume).
fn snapshot_restore(ctx: &mut Ctx) -> Result<(), String> {
    let root = ctx.root()?;
    let data = ctx.blank_data()?;
    let disks = [Disk::virtio(&data, "data0")];
    let mut p = ctx.payload("boot1")?;
    ctx.install_datavol(&mut p, &config(30, false))?;
    ctx.checker(&mut p, "seed", &[], &[])?;
    let r1 = ctx.boot("boot1", &root, &disks, p, None)?;
    let root2 = ctx.path("root2.qcow2");
    overlay(&ctx.image.raw, &root2)?;
    let mut p = ctx.payload("boot2")?;
    ctx.install_datavol(&mut p, &config(30, false))?;
    ctx.checker(&mut p, "snapshot-restore", &[], &[])?;
    let r2 = ctx.boot_migrated("boot2", &root2, &disks, p, &data)?;
    expect_kept(ctx, &r1, &r2, "data.uuid", "data disk UUID");
    Ok(())
}

/// The host makes an xfs (label imgcache) and fills it with the image's own
/// /var/lib/containerd, as an image-cache snapshot would be; datavol must adopt it.
fn adopt_existing(ctx: &mut Ctx) -> Result<(), String> {
    let root = ctx.root()?;
    let data = ctx.blank_data()?;
    output(
        Command::new("mkfs.xfs")
            .args(["-q", "-f", "-L", "imgcache"])
            .arg(&data),
    )?;
    let uuid = blkid(&data).get("UUID").unwrap_or_default().to_string();
    {
        let src = LoopMount::new(&ctx.image.raw, &ctx.path("image-ro"), "ro,noload")?;
        let dst = LoopMount::new(&data, &ctx.path("data-rw"), "rw")?;
        output(
            Command::new("cp")
                .arg("-a")
                .arg(src.dir.join("var/lib/containerd/."))
                .arg(&dst.dir),
        )?;
    }
    let mut p = ctx.payload("boot")?;
    let config = config(30, false) + "adopt_existing = true\n";
    ctx.install_datavol(&mut p, &config)?;
    ctx.checker(&mut p, "adopt-existing", &[], &[])?;
    let res = ctx.boot("boot", &root, &[Disk::virtio(&data, "data0")], p, None)?;
    ctx.expect(
        res.get("data.uuid") == Some(uuid.as_str()),
        format!(
            "adopted disk UUID {:?}, host made {uuid}",
            res.get("data.uuid")
        ),
    );
    host_check_migrated(ctx, "boot", &data, &res);
    Ok(())
}

/// One boot with the packaged, empty config; the checker runs datavol by hand against
/// disks it turns into a foreign md array, a device-mapper holder's target, and the root.
fn devices(ctx: &mut Ctx) -> Result<(), String> {
    let root = ctx.root()?;
    let mut disks = vec![];
    for (name, bus) in [
        ("nvme0", Bus::Nvme),
        ("mda", Bus::Virtio),
        ("mdb", Bus::Virtio),
        ("held", Bus::Virtio),
    ] {
        let p = ctx.path(&format!("{name}.img"));
        blank_disk(&p, "64M")?;
        disks.push(Disk {
            path: p,
            bus,
            serial: name.into(),
        });
    }
    let token = format!("devices-{}", std::process::id());
    let mut p = ctx.payload("boot")?;
    ctx.install_datavol(&mut p, "")?;
    ctx.checker(&mut p, "devices", &[], &[("TOKEN", &token)])?;
    let res = ctx.boot("boot", &root, &disks, p, None)?;
    if let Some(i) = res.get("identify") {
        ctx.notes.push(format!("datavol identify: {i}"));
    }
    // The held disk and the NVMe disk were never written: still all zeroes on the host.
    for d in [&disks[0], &disks[3]] {
        let t = blkid(&d.path);
        ctx.expect(
            t.0.is_empty(),
            format!("host: {} is no longer blank: {t:?}", d.path.display()),
        );
    }
    Ok(())
}

/// `cargo xtask bench`'s delayed-source fixture: not a test, so not in `all()`.
pub fn delayed_source(
    ctx: &mut Ctx,
    b: &crate::vm::DelayedBench,
) -> Result<Vec<crate::vm::DelayedRun>, String> {
    ctx.timeout = Duration::from_secs(4 * 3600);
    let root = ctx.root()?;
    let dst = ctx.path("dst.img");
    blank_disk(&dst, "2G")?;
    let disks = [Disk::virtio(b.source, "src"), Disk::virtio(&dst, "dst")];
    let mut p = ctx.payload("bench")?;
    ctx.install_datavol(&mut p, "")?;
    p.file(
        "/etc/systemd/system/vmtest-check.service.d/bench.conf",
        "[Service]\nTimeoutStartSec=infinity\n",
        0o644,
    )?;
    let (delay, rounds, workers) = (
        b.delay_ms.to_string(),
        b.rounds.to_string(),
        b.workers.to_string(),
    );
    let tools = b.tools.join(" ");
    ctx.checker(
        &mut p,
        "delayed-source",
        &[],
        &[
            ("DELAY_MS", &delay),
            ("ROUNDS", &rounds),
            ("WORKERS", &workers),
            ("TOOLS", &tools),
        ],
    )?;
    let res = ctx.boot("bench", &root, &disks, p, None)?;
    if !ctx.failures.is_empty() {
        return Err(format!(
            "the delayed-source VM run failed (work dir {}):\n  {}",
            ctx.dir.display(),
            ctx.failures.join("\n  ")
        ));
    }
    let mut runs = vec![];
    for &tool in &b.tools {
        for round in 1..=b.rounds {
            let key = format!("bench.{tool}.{round}");
            let v = res
                .get(&key)
                .ok_or_else(|| format!("the VM reported no {key}"))?;
            let f: Vec<f64> = v
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            let [secs, sync_secs, cpu, rss] = f[..] else {
                return Err(format!("{key}={v:?}: want 4 numbers"));
            };
            runs.push(crate::vm::DelayedRun {
                tool,
                round,
                secs,
                sync_secs,
                cpu,
                rss_kib: rss as u64,
            });
        }
    }
    Ok(runs)
}
