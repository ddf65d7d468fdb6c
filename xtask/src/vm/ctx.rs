//! One scenario's run: its work dir, the build it installs, the payloads it shares into
//! each boot, the boots themselves and the failures and notes they leave. The scenarios
//! (scenarios.rs) and the bench's VM fixture drive it through scenario::run.
use super::image::{install_checker, recipe_dir, Image};
use super::payload::Payload;
use super::qemu::{overlay, Bus, Disk, Exit, Machine};
use super::util::{secs, Kv};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What the scenarios install.
#[derive(Clone)]
pub struct Build {
    /// The RPM `cargo xtask rpm` built: every scenario installs it with rpm itself.
    pub package: Result<PathBuf, String>,
    /// The same package with a higher release (`cargo xtask rpm --release 2`), built
    /// only when a scenario upgrades to it (`Source::Upgrade`).
    pub upgrade: Result<PathBuf, String>,
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
    /// What the host learnt while making the disks (a checksum, a UUID), for its checks.
    pub facts: Kv,
    /// Per boot; a boot that takes longer is killed and fails.
    pub timeout: Duration,
    /// The instance's DMI product UUID; fixed per scenario, so a reboot is the
    /// same instance. A scenario changes it to boot "a new instance".
    pub product_uuid: String,
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
            facts: Kv::default(),
            timeout: Duration::from_secs(300),
            product_uuid: super::qemu::instance_uuid(name),
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

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The image file of the disk with this serial.
    pub fn disk(&self, serial: &str) -> PathBuf {
        self.path(&format!("{serial}.img"))
    }

    /// A fresh overlay over the pristine image: a new node's root disk.
    pub fn root(&self, file: &str) -> Result<PathBuf, String> {
        let p = self.path(file);
        overlay(&self.image.raw, &p)?;
        Ok(p)
    }

    pub fn payload(&self, label: &str) -> Result<Payload, String> {
        Payload::new(&self.path(&format!("{label}-share")))
    }

    fn check_script(name: &str) -> Result<String, String> {
        let p = recipe_dir()
            .join("payload/checks")
            .join(format!("{name}.sh"));
        fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))
    }

    /// The checker for this boot, from xtask/vm/payload/checks/<script>.sh.
    pub fn checker(
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
    pub fn install_datavol(&self, p: &mut Payload, config: &str) -> Result<(), String> {
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
    pub fn install_failpoints_build(&self, p: &mut Payload) -> Result<(), String> {
        let bin = self
            .build
            .datavol
            .clone()
            .map_err(|e| format!("datavol failpoints binary: {e}"))?;
        p.share_file("datavol-failpoints", &bin)?;
        p.run("install -m 0755 /mnt/vmtest/datavol-failpoints /usr/bin/datavol");
        // The generator built with it, so both come from the same tree.
        let gen = bin.with_file_name("datavol-generator");
        if gen.exists() {
            p.share_file("datavol-generator", &gen)?;
            p.run("install -m 0755 /mnt/vmtest/datavol-generator /usr/lib/systemd/system-generators/datavol-generator");
        }
        p.run("touch /usr/local/lib/vmtest/binary-replaced");
        Ok(())
    }

    fn machine(&self, label: &str, root: &Path, disks: &[Disk], share: &Path) -> Machine {
        Machine {
            arch: self.image.arch,
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
            product_uuid: Some(self.product_uuid.clone()),
        }
    }

    /// Boots once. Records failures for a boot that did not power off (or, with `marker`,
    /// did not reach it), an unfinished checker, and every failed guest check; notes how
    /// long datavol.service ran.
    /// Returns the checker's results.
    pub fn boot(
        &mut self,
        label: &str,
        root: &Path,
        disks: &[Disk],
        p: Payload,
        marker: Option<&str>,
    ) -> Result<Kv, String> {
        self.boot_watch(label, root, disks, p, marker, &mut |_, _| Ok(()))
    }

    /// As `boot`, with a `watch` called on every poll of the console (see Machine::boot_watch).
    pub fn boot_watch(
        &mut self,
        label: &str,
        root: &Path,
        disks: &[Disk],
        mut p: Payload,
        marker: Option<&str>,
        watch: &mut dyn FnMut(&str, &Machine) -> Result<(), String>,
    ) -> Result<Kv, String> {
        save_boot(&self.dir, root, disks)?;
        if self.shell {
            shell_extras(&mut p, self.image.arch.console())?;
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
fn shell_extras(p: &mut Payload, console: &str) -> Result<(), String> {
    p.file(
        &format!("/etc/systemd/system/serial-getty@{console}.service.d/autologin.conf"),
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
            Bus::Virtio => "virtio",
            Bus::Nvme => "nvme",
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
                    Bus::Nvme
                } else {
                    Bus::Virtio
                },
                serial: serial.to_string(),
            }),
            _ => {}
        }
    }
    let root = root.ok_or("last-boot.txt has no root")?;
    let mut p = ctx.payload("inspect")?;
    shell_extras(&mut p, ctx.image.arch.console())?;
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

fn note_datavol_time(ctx: &mut Ctx, label: &str, res: &Kv) {
    if let Some(us) = res.get("datavol.usec").and_then(|v| v.parse::<u64>().ok()) {
        ctx.notes.push(format!(
            "{label}: datavol.service ran {:.2}s; stages: {}",
            us as f64 / 1e6,
            res.get("datavol.stages").unwrap_or("")
        ));
    }
}
