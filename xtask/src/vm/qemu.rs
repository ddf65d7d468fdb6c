//! Booting the test image under qemu: overlays, extra disks, the 9p share, timeouts.
use super::arch::Arch;
use super::util::secs;
use crate::util::run;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// Kernel command line of every boot. `init=` is the rig's PID 1 shim, which installs
/// the run's payload from the 9p share before it execs systemd.
pub fn cmdline(arch: Arch) -> String {
    format!(
        "root=/dev/vda rw console={} loglevel=4 systemd.show_status=0 init=/usr/local/sbin/vmtest-init",
        arch.console()
    )
}

#[derive(Clone, Debug)]
pub enum Bus {
    /// virtio-blk with a serial: /dev/disk/by-id/virtio-SERIAL in the guest.
    Virtio,
    /// An NVMe controller with one namespace: /dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_SERIAL.
    Nvme,
}

#[derive(Clone, Debug)]
pub struct Disk {
    pub path: PathBuf,
    pub bus: Bus,
    pub serial: String,
}

pub struct Machine {
    pub arch: Arch,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    pub accel: String,
    /// Root disk (a qcow2 overlay or, for the baking boot, the raw image itself).
    pub root: PathBuf,
    pub disks: Vec<Disk>,
    /// Host directory shared as 9p tag `vmtest`.
    pub share: PathBuf,
    pub console: PathBuf,
    pub timeout: Duration,
    pub mem_mb: u32,
    /// A QMP socket, for changing the machine while it runs.
    pub qmp: Option<PathBuf>,
    /// The DMI product UUID (`-smbios type=1,uuid=`): the instance identity
    /// datavol binds its root-disk records to, as EC2 gives each instance one.
    pub product_uuid: Option<String>,
}

/// A fixed product UUID per name: each scenario is one instance, every boot.
pub fn instance_uuid(name: &str) -> String {
    // FNV-1a, twice: stable across runs and hosts, no dependency.
    let h = |seed: u64| {
        name.bytes()
            .fold(seed, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100000001b3))
    };
    let (a, b) = (h(0xcbf29ce484222325), h(0x84222325cbf29ce4));
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        b >> 52,
        b & 0xffff_ffff_ffff
    )
}

#[derive(Debug, PartialEq)]
pub enum Exit {
    /// The guest powered off (qemu exited on its own).
    PoweredOff,
    /// Killed because the console showed the marker we waited for.
    KilledAtMarker,
    /// Killed because the boot took longer than the timeout.
    TimedOut,
}

pub struct Outcome {
    pub exit: Exit,
    pub took: Duration,
}

impl Machine {
    pub fn args(&self, interactive: bool) -> Vec<String> {
        let fmt = |p: &Path| {
            if p.extension().is_some_and(|e| e == "qcow2") {
                "qcow2"
            } else {
                "raw"
            }
        };
        let mut a: Vec<String> = self
            .arch
            .machine_args()
            .iter()
            .map(|s| s.to_string())
            .collect();
        if let Some(fw) = self.arch.firmware() {
            a.extend(["-bios".into(), fw.into()]);
        }
        let common: Vec<String> = vec![
            "-nodefaults".into(),
            "-display".into(),
            "none".into(),
            "-no-reboot".into(),
            "-accel".into(),
            if self.accel == "kvm" {
                "kvm".into()
            } else {
                "tcg,thread=multi".into()
            },
            "-cpu".into(),
            match (self.accel == "kvm", self.arch) {
                (true, _) => "host".into(),
                (false, Arch::X86_64) => "max".into(),
                // max has pointer authentication, which TCG emulates slowly.
                (false, Arch::Aarch64) => "cortex-a57".into(),
            },
            "-smp".into(),
            "2".into(),
            "-m".into(),
            self.mem_mb.to_string(),
            "-kernel".into(),
            self.kernel.display().to_string(),
            "-initrd".into(),
            self.initrd.display().to_string(),
            "-append".into(),
            cmdline(self.arch),
            "-drive".into(),
            format!(
                "file={},if=none,id=root,format={},cache=writeback",
                self.root.display(),
                fmt(&self.root)
            ),
            "-device".into(),
            "virtio-blk-pci,drive=root".into(),
            "-virtfs".into(),
            format!(
                "local,path={},mount_tag=vmtest,security_model=none",
                self.share.display()
            ),
        ];
        a.extend(common);
        for (i, d) in self.disks.iter().enumerate() {
            // cache=writeback: what the guest wrote out survives a qemu kill (the host page
            // cache keeps it), what it had only in its own page cache does not: a power cut.
            a.push("-drive".into());
            a.push(format!(
                "file={},if=none,id=d{i},format={},cache=writeback",
                d.path.display(),
                fmt(&d.path)
            ));
            a.push("-device".into());
            a.push(match d.bus {
                Bus::Virtio => format!("virtio-blk-pci,drive=d{i},serial={}", d.serial),
                Bus::Nvme => format!("nvme,drive=d{i},serial={}", d.serial),
            });
        }
        if let Some(u) = &self.product_uuid {
            a.push("-smbios".into());
            a.push(format!("type=1,uuid={u}"));
        }
        if let Some(q) = &self.qmp {
            a.push("-qmp".into());
            a.push(format!("unix:{},server=on,wait=off", q.display()));
        }
        if interactive {
            a.extend(["-serial".into(), "mon:stdio".into()]);
        } else {
            a.extend([
                "-serial".into(),
                format!("file:{}", self.console.display()),
                "-monitor".into(),
                "none".into(),
            ]);
        }
        a
    }

    fn spawn(&self, interactive: bool) -> Result<Child, String> {
        let _ = fs::remove_file(&self.console);
        let qemu = self.arch.qemu();
        let mut cmd = Command::new(qemu);
        cmd.args(self.args(interactive));
        if !interactive {
            cmd.stdin(Stdio::null()).stdout(Stdio::null());
            let log = fs::File::create(self.console.with_extension("qemu.log"))
                .map_err(|e| e.to_string())?;
            cmd.stderr(log);
        }
        // Kept next to the console log, so a failed boot can be repeated by hand.
        let line: Vec<String> = std::iter::once(qemu.to_string())
            .chain(self.args(true).into_iter().map(|a| format!("'{a}'")))
            .collect();
        let _ = fs::write(
            self.console.with_extension("cmdline.sh"),
            line.join(" ") + "\n",
        );
        cmd.spawn().map_err(|e| format!("{qemu}: {e}"))
    }

    /// Boots and waits for poweroff, the timeout, or (if given) `marker` on the console,
    /// in which case qemu is killed at once: a power cut.
    pub fn boot(&self, marker: Option<&str>) -> Result<Outcome, String> {
        self.boot_watch(marker, &mut |_, _| Ok(()))
    }

    /// As `boot`, and calls `watch` with the console text so far on every poll
    /// (e.g. to change the disks' throttling over QMP when a line shows up).
    pub fn boot_watch(
        &self,
        marker: Option<&str>,
        watch: &mut dyn FnMut(&str, &Machine) -> Result<(), String>,
    ) -> Result<Outcome, String> {
        let start = Instant::now();
        let mut child = self.spawn(false)?;
        loop {
            let console = fs::read_to_string(&self.console).unwrap_or_default();
            if let Err(e) = watch(&console, self) {
                kill(&mut child);
                return Err(e);
            }
            if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
                if !st.success() {
                    let log = fs::read_to_string(self.console.with_extension("qemu.log"))
                        .unwrap_or_default();
                    return Err(format!("qemu exited with {st}: {}", log.trim()));
                }
                return Ok(Outcome {
                    exit: Exit::PoweredOff,
                    took: start.elapsed(),
                });
            }
            if let Some(m) = marker {
                if console.contains(m) {
                    kill(&mut child);
                    return Ok(Outcome {
                        exit: Exit::KilledAtMarker,
                        took: start.elapsed(),
                    });
                }
            }
            if start.elapsed() > self.timeout {
                kill(&mut child);
                return Ok(Outcome {
                    exit: Exit::TimedOut,
                    took: start.elapsed(),
                });
            }
            sleep(Duration::from_millis(250));
        }
    }

    /// One QMP command (JSON text) on the machine's QMP socket; returns the reply line.
    pub fn qmp(&self, command: &str) -> Result<String, String> {
        use std::io::{BufRead, BufReader, Write};
        let path = self.qmp.as_ref().ok_or("machine has no QMP socket")?;
        let s = std::os::unix::net::UnixStream::connect(path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        let mut r = BufReader::new(s.try_clone().map_err(|e| e.to_string())?);
        let mut w = s;
        let mut line = String::new();
        r.read_line(&mut line)
            .map_err(|e| format!("QMP greeting: {e}"))?;
        for cmd in [r#"{"execute":"qmp_capabilities"}"#, command] {
            w.write_all(cmd.as_bytes())
                .and_then(|_| w.write_all(b"\n"))
                .map_err(|e| e.to_string())?;
            loop {
                line.clear();
                r.read_line(&mut line).map_err(|e| format!("QMP: {e}"))?;
                if line.contains("\"error\"") {
                    return Err(format!("QMP {cmd}: {}", line.trim()));
                }
                if line.contains("\"return\"") {
                    break;
                }
            }
        }
        Ok(line.trim().to_string())
    }

    /// Boots with the serial console on this terminal (Ctrl-A X quits).
    pub fn interactive(&self) -> Result<(), String> {
        let mut child = self.spawn(true)?;
        child.wait().map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// SIGKILL to qemu's own pid, then reap it.
fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// A copy-on-write overlay over the pristine image, so every run starts clean.
pub fn overlay(base: &Path, path: &Path) -> Result<(), String> {
    let _ = fs::remove_file(path);
    run(Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-F", "raw", "-b"])
        .arg(base)
        .arg(path))?;
    Ok(())
}

/// A blank sparse raw disk.
pub fn blank_disk(path: &Path, size: &str) -> Result<(), String> {
    let _ = fs::remove_file(path);
    run(Command::new("truncate").args(["-s", size]).arg(path))?;
    Ok(())
}

/// Does KVM boot a guest kernel here? Asked once, answer cached in `cache`.
/// DATAVOL_VM_ACCEL=tcg|kvm overrides.
pub fn accel(cache: &Path, kernel: &Path) -> String {
    if let Ok(a) = std::env::var("DATAVOL_VM_ACCEL") {
        return a;
    }
    if let Ok(a) = fs::read_to_string(cache) {
        return a.trim().to_string();
    }
    let answer = if Path::new("/dev/kvm").exists() && probe_kvm(cache, kernel) {
        "kvm"
    } else {
        "tcg"
    };
    let _ = fs::write(cache, answer);
    eprintln!(
        "vm-test: accelerator: {answer} (cached in {})",
        cache.display()
    );
    answer.to_string()
}

fn probe_kvm(cache: &Path, kernel: &Path) -> bool {
    let console = cache.with_extension("probe.log");
    let _ = fs::remove_file(&console);
    let child = Command::new("qemu-system-x86_64")
        .args([
            "-nodefaults",
            "-display",
            "none",
            "-no-reboot",
            "-accel",
            "kvm",
            "-cpu",
            "host",
            "-m",
            "256",
        ])
        .arg("-kernel")
        .arg(kernel)
        .args(["-append", "console=ttyS0 panic=-1", "-serial"])
        .arg(format!("file:{}", console.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = child else { return false };
    let start = Instant::now();
    // A working KVM reaches the "no root fs" panic in a few seconds.
    while start.elapsed() < Duration::from_secs(12) {
        let log = fs::read_to_string(&console).unwrap_or_default();
        if log.contains("Kernel panic") || log.contains("VFS:") {
            kill(&mut child);
            eprintln!(
                "vm-test: KVM probe booted a kernel in {}",
                secs(start.elapsed())
            );
            return true;
        }
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        sleep(Duration::from_millis(200));
    }
    kill(&mut child);
    false
}
