//! Test rig: loop devices over files in a temp dir, a private mount
//! namespace held open by a sleeping process, a real dbus-daemon, and the
//! systemd test double. Everything here needs root and fails loudly without it.
#![allow(dead_code)]

pub mod bounded;
pub mod prom;

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "these tests need root (loop devices, mounts, namespaces); run them as root, as CI does"
    );
    for tool in [
        "losetup",
        "mkfs.xfs",
        "mkfs.ext4",
        "blkid",
        "dbus-daemon",
        "unshare",
        "nsenter",
    ] {
        assert!(
            Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success()),
            "{tool} is missing; install the packages .ci/run installs"
        );
    }
}

/// What `systemd-analyze verify` says about the units themselves: not a
/// dependency this host has no unit for, nor the man page or binary it lacks.
pub fn analyze_own(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| !(l.contains("Unit ") && l.contains(" not found")))
        .filter(|l| !l.contains("Command 'man "))
        .filter(|l| !l.contains("/usr/bin/datavol"))
        .collect()
}

pub fn sh(cmd: &str) -> Output {
    let out = Command::new("sh")
        .args(["-c", cmd])
        .output()
        .expect("run sh");
    assert!(
        out.status.success(),
        "`{cmd}` failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A loop device over a sparse file; detached on drop.
pub struct LoopDev {
    pub path: PathBuf,
    pub backing: PathBuf,
}

impl LoopDev {
    pub fn new(dir: &Path, name: &str, mib: u64) -> LoopDev {
        let backing = dir.join(format!("{name}.img"));
        let f = std::fs::File::create(&backing).expect("create backing file");
        f.set_len(mib << 20).expect("size backing file");
        drop(f);
        Self::attach(backing)
    }

    /// A second loop device over a byte-for-byte copy of `of`'s backing
    /// file: an EBS volume restored from a snapshot of it.
    pub fn clone_of(of: &LoopDev, dir: &Path, name: &str) -> LoopDev {
        let backing = dir.join(format!("{name}.img"));
        let _ = Command::new("sync").status();
        sh(&format!(
            "cp --sparse=always {} {}",
            of.backing.display(),
            backing.display()
        ));
        Self::attach(backing)
    }

    fn attach(backing: PathBuf) -> LoopDev {
        let out = Command::new("losetup")
            .args(["--find", "--show"])
            .arg(&backing)
            .output()
            .expect("losetup");
        assert!(
            out.status.success(),
            "losetup failed: {}; the host must provide loop devices",
            String::from_utf8_lossy(&out.stderr)
        );
        let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        LoopDev { path, backing }
    }

    pub fn dev(&self) -> String {
        self.path.display().to_string()
    }

    /// Hash of the whole backing file, to prove "nothing changed".
    pub fn checksum(&self) -> String {
        let _ = Command::new("sync").status();
        let out = sh(&format!("sha256sum {}", self.backing.display()));
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string()
    }
}

impl Drop for LoopDev {
    fn drop(&mut self) {
        // Partitions a test registered (partx -a) outlive the detach and would keep
        // their UUIDs visible to blkid in later tests.
        let _ = Command::new("partx")
            .arg("-d")
            .arg(&self.path)
            .stderr(std::process::Stdio::null())
            .status();
        let _ = Command::new("losetup").arg("-d").arg(&self.path).status();
    }
}

fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf()
}

fn systemd_double() -> PathBuf {
    static BUILT: std::sync::Once = std::sync::Once::new();
    let bin = target_dir().join("systemd-double");
    BUILT.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "-q", "-p", "datavol-systemd-double"]);
        // Tests built with --target live in target/<triple>/debug: build the
        // double for the same triple, where this looks for it.
        let profile_dir = target_dir();
        if let Some(triple) = profile_dir
            .parent()
            .and_then(Path::file_name)
            .and_then(|n| n.to_str())
            .filter(|n| n.matches('-').count() >= 2)
        {
            build.args(["--target", triple]);
        }
        let st = build.status().expect("build systemd-double");
        assert!(st.success(), "building the systemd test double failed");
    });
    assert!(bin.exists(), "{} missing", bin.display());
    bin
}

/// A private mount namespace with a real dbus-daemon and the systemd double.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    holder: Child,
    dbus: Child,
    double: Option<Child>,
    pub bus: String,
    pub loops: Vec<LoopDev>,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Self::with_active(&[])
    }

    pub fn with_active(active: &[&str]) -> Sandbox {
        require_root();
        let dir = tempfile::Builder::new()
            .prefix("datavol-test")
            .tempdir()
            .expect("tempdir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).ok();
        for d in ["etc/conf.d", "units", "root/etc", "root/sys/class/dmi/id"] {
            std::fs::create_dir_all(dir.path().join(d)).expect("mkdir");
        }
        // The instance datavol binds its records to (record/instance.rs).
        std::fs::write(
            dir.path().join("root/etc/machine-id"),
            "0123456789abcdef0123456789abcdef\n",
        )
        .expect("machine-id");
        let holder = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sleep", "infinity"])
            .spawn()
            .expect("unshare");
        let bus_path = dir.path().join("bus");
        let bus = format!("unix:path={}", bus_path.display());
        let dbus = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--nopidfile"])
            .arg(format!("--address={bus}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon");
        let mut sb = Sandbox {
            dir,
            holder,
            dbus,
            double: None,
            bus,
            loops: Vec::new(),
        };
        // nsenter before unshare(2) has happened would enter the host's own
        // namespace: wait until the holder's namespace is a new one.
        let own = std::fs::read_link("/proc/self/ns/mnt").expect("own mount namespace");
        let theirs = format!("/proc/{}/ns/mnt", sb.holder.id());
        sb.wait_for(
            || std::fs::read_link(&theirs).is_ok_and(|ns| ns != own),
            "the test's mount namespace",
        );
        sb.wait_for(
            || bus_path.exists() && sb.in_ns_ok("true"),
            "dbus and namespace",
        );
        // datavol's /run/datavol (lock, work mounts, ready flags) stays private to the test.
        // Fresh peer groups, private to this namespace, shared inside it like
        // under systemd: the double's mounts reach datavol's slave namespace.
        sb.in_ns_check("mount --make-rshared /");
        sb.in_ns_check("mkdir -p /run/datavol && mount -t tmpfs tmpfs /run/datavol");
        let log = sb.calls_path();
        let mut cmd = Command::new("nsenter");
        cmd.arg("-t")
            .arg(sb.holder.id().to_string())
            .arg("-m")
            .arg("--")
            .arg(systemd_double())
            .env("DATAVOL_ROOT", sb.root())
            .args(["--bus", &sb.bus, "--unit-dir"])
            .arg(sb.unit_dir())
            .arg("--log")
            .arg(&log);
        for a in active {
            cmd.args(["--active", a]);
        }
        sb.double = Some(cmd.spawn().expect("systemd-double"));
        sb.set_instance("ec2a0000-0000-4000-8000-000000000001");
        sb.wait_for(|| sb.calls().contains("ready"), "systemd double");
        sb
    }

    fn wait_for(&self, f: impl Fn() -> bool, what: &str) {
        let t = Instant::now();
        while !f() {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "{what} did not come up"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
    pub fn unit_dir(&self) -> PathBuf {
        self.path("units")
    }
    pub fn calls_path(&self) -> PathBuf {
        self.path("calls.log")
    }
    pub fn calls(&self) -> String {
        std::fs::read_to_string(self.calls_path()).unwrap_or_default()
    }

    /// What datavol reads as `/` for the instance identity.
    pub fn root(&self) -> PathBuf {
        self.path("root")
    }

    /// Boots "another instance": a new DMI product UUID, the same machine-id.
    pub fn set_instance(&self, product_uuid: &str) {
        std::fs::write(
            self.root().join("sys/class/dmi/id/product_uuid"),
            format!("{product_uuid}\n"),
        )
        .expect("product_uuid");
    }

    pub fn add_loop(&mut self, name: &str, mib: u64) -> String {
        let l = LoopDev::new(self.dir.path(), name, mib);
        let d = l.dev();
        // Its hardware link, as udev would make it, under DATAVOL_ROOT
        // (discover/links.rs): the unit's What= and the record's device.
        let ids = self.root().join("dev/disk/by-id");
        std::fs::create_dir_all(&ids).expect("by-id");
        let link = ids.join(format!("virtio-dvtest-{name}"));
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&d, &link).expect("by-id link");
        self.loops.push(l);
        d
    }

    pub fn write_config(&self, text: &str) {
        let p = self.path("etc/datavol.toml");
        std::fs::write(&p, text).expect("write config");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    }

    fn nsenter(&self) -> Command {
        let mut c = Command::new("nsenter");
        c.arg("-t")
            .arg(self.holder.id().to_string())
            .arg("-m")
            .arg("--");
        c
    }

    pub fn in_ns_ok(&self, cmd: &str) -> bool {
        self.nsenter()
            .args(["sh", "-c", cmd])
            .output()
            .is_ok_and(|o| o.status.success())
    }

    pub fn in_ns(&self, cmd: &str) -> Output {
        self.nsenter()
            .args(["sh", "-c", cmd])
            .output()
            .expect("nsenter")
    }

    pub fn in_ns_check(&self, cmd: &str) -> String {
        let o = self.in_ns(cmd);
        assert!(
            o.status.success(),
            "in namespace: `{cmd}` failed: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// datavol's own arguments: the sandbox's config, unit and state dirs.
    fn datavol_args(&self, c: &mut Command, args: &[&str]) {
        c.arg(env!("CARGO_BIN_EXE_datavol"))
            .arg("--config-dir")
            .arg(self.path("etc"))
            .arg("--unit-dir")
            .arg(self.unit_dir())
            .arg("--state-dir")
            .arg(self.path("state"))
            .args(args);
    }

    pub fn datavol_cmd(&self, args: &[&str]) -> Command {
        let mut c = self.nsenter();
        c.arg("env")
            .arg(format!("DBUS_SYSTEM_BUS_ADDRESS={}", self.bus))
            .arg(format!("DATAVOL_ROOT={}", self.root().display()));
        self.datavol_args(&mut c, args);
        c
    }

    /// Runs datavol with no PATH at all: any tool it would spawn (blkid,
    /// wipefs, udevadm, mkfs) fails, which proves a path spawns none.
    pub fn datavol_without_tools(&self, args: &[&str]) -> (Option<i32>, String, String) {
        let mut c = self.nsenter();
        c.arg("/usr/bin/env")
            .arg("-i")
            .arg(format!("DBUS_SYSTEM_BUS_ADDRESS={}", self.bus))
            .arg(format!("DATAVOL_ROOT={}", self.root().display()))
            .arg("PATH=/nonexistent");
        self.datavol_args(&mut c, args);
        let o = c.output().expect("run datavol");
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    /// Runs datavol in the sandbox; returns (exit code, stdout, stderr).
    pub fn datavol(&self, args: &[&str]) -> (Option<i32>, String, String) {
        self.datavol_env(args, &[])
    }

    pub fn datavol_env(
        &self,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> (Option<i32>, String, String) {
        let mut c = self.datavol_cmd(args);
        for (k, v) in env {
            c.env(k, v);
        }
        let o = c.output().expect("run datavol");
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    /// The mount source of `path` inside the sandbox, if it is a mount point.
    pub fn mount_source(&self, path: &Path) -> Option<String> {
        let o = self.in_ns(&format!(
            "findmnt -n -o SOURCE --mountpoint {}",
            path.display()
        ));
        o.status
            .success()
            .then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
    }

    /// A reboot, as the volumes see it: these mounts (children first) and
    /// the ready flags are gone; the disks and the root disk's records stay.
    pub fn reboot(&self, mounts: &[&Path]) {
        let list: Vec<String> = mounts.iter().map(|m| m.display().to_string()).collect();
        self.in_ns_check(&format!(
            "umount {} && rm -rf /run/datavol/ready",
            list.join(" ")
        ));
    }

    pub fn hold_pid(&self) -> u32 {
        self.holder.id()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(d) = &mut self.double {
            let _ = d.kill();
            let _ = d.wait();
        }
        let _ = self.dbus.kill();
        let _ = self.dbus.wait();
        let _ = self.holder.kill();
        let _ = self.holder.wait();
        // Loop devices detach after the namespace (and its mounts) are gone.
        let loops = std::mem::take(&mut self.loops);
        drop(loops);
    }
}

/// A stand-in for a node's /var/lib/containerd: nested dirs, a 0711 root,
/// hardlinks, a symlink, xattrs, a whiteout and a sparse file.
pub fn populate_source(root: &Path) {
    std::fs::create_dir_all(root).expect("mkdir source");
    let r = root.display();
    sh(&format!(
        "set -e; cd {r}; chmod 0711 .; \
         mkdir -p io.containerd.content.v1.content/blobs/sha256 io.containerd.snapshotter.v1.overlayfs/snapshots/1/fs/etc; \
         echo pause-manifest > io.containerd.content.v1.content/blobs/sha256/aaaa; \
         head -c 300000 /dev/urandom > io.containerd.content.v1.content/blobs/sha256/bbbb; \
         ln io.containerd.content.v1.content/blobs/sha256/aaaa hardlink-to-aaaa; \
         ln -s io.containerd.content.v1.content/blobs/sha256/bbbb link-to-bbbb; \
         mknod io.containerd.snapshotter.v1.overlayfs/snapshots/1/fs/etc/deleted c 0 0; \
         setfattr -n trusted.overlay.opaque -v y io.containerd.snapshotter.v1.overlayfs/snapshots/1/fs/etc; \
         setfattr -n user.test -v value io.containerd.content.v1.content/blobs/sha256/aaaa; \
         truncate -s 50M sparse.img; echo tail >> sparse.img; \
         chown 1234:5678 hardlink-to-aaaa; chmod 4755 io.containerd.content.v1.content/blobs/sha256/bbbb; \
         touch -d '2001-02-03 04:05:06.123456789' io.containerd.content.v1.content/blobs/sha256/aaaa"
    ));
}

/// An oracle independent of datavol: rsync's itemized dry run prints a line
/// for every difference in content, owner, mode, xattr, ACL, hardlink or time.
pub fn rsync_diff(sb: &Sandbox, src: &Path, dst: &Path) -> String {
    let o = sb.in_ns(&format!(
        "rsync -aHAXn --delete --checksum --numeric-ids --itemize-changes --exclude=/.datavol --exclude=/lost+found {}/ {}/",
        src.display(),
        dst.display()
    ));
    assert!(
        o.status.success(),
        "rsync failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        // The root itself: its times differ only by the datavol marker dir.
        .filter(|l| !l.ends_with(" ./"))
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn read_all(path: &Path) -> Vec<u8> {
    let mut v = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut v))
        .expect("read");
    v
}

/// A content+metadata fingerprint of a tree, for "byte-for-byte unchanged".
/// Every step must succeed (pipefail, no `|| true`): a fingerprint that could
/// not be computed would make "unchanged" compare two empty strings.
pub fn tree_fingerprint(root: &Path) -> String {
    let out = Command::new("bash")
        .args([
            "-c",
            "set -euo pipefail; cd \"$1\"; \
             find . -printf '%p %y %m %U %G %s %T@\\n' | LC_ALL=C sort; \
             find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum; \
             getfattr -R -h -d -m - --absolute-names . | LC_ALL=C sort",
            "fingerprint",
        ])
        .arg(root)
        .output()
        .expect("run bash");
    assert!(
        out.status.success(),
        "fingerprinting {} failed ({}): {}",
        root.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.lines().count() > 1,
        "fingerprint of {} is empty: {text:?}",
        root.display()
    );
    text
}

/// The entries [`populate_source`] makes, each of which a fingerprint of
/// its tree must show (with its hash, or its xattr).
pub const POPULATED: [&str; 6] = [
    "./io.containerd.content.v1.content/blobs/sha256/aaaa f",
    "./hardlink-to-aaaa f",
    "./link-to-bbbb l",
    "./io.containerd.snapshotter.v1.overlayfs/snapshots/1/fs/etc/deleted c",
    "trusted.overlay.opaque=\"y\"",
    "  ./sparse.img",
];

/// The fingerprint of a tree made by [`populate_source`], checked to cover it.
pub fn populated_fingerprint(root: &Path) -> String {
    let fp = tree_fingerprint(root);
    for want in POPULATED {
        assert!(
            fp.contains(want),
            "fingerprint of {} lacks {want:?}:\n{fp}",
            root.display()
        );
    }
    fp
}

impl Sandbox {
    /// Source at <tmp>/node/var/lib/containerd, plus a bind of <tmp>/node at
    /// <tmp>/under that keeps showing the original content once it is covered.
    /// Returns (source, original-view).
    pub fn node_tree(&self) -> (PathBuf, PathBuf) {
        let src = self.path("node/var/lib/containerd");
        populate_source(&src);
        std::fs::create_dir_all(self.path("under")).expect("mkdir under");
        self.in_ns_check(&format!(
            "mount --bind {} {} && mount --make-private {}",
            self.path("node").display(),
            self.path("under").display(),
            self.path("under").display()
        ));
        (src, self.path("under/var/lib/containerd"))
    }
}

/// A bound on how long a step may take, for tests that prove datavol does
/// not wait (for a deadline, a retry). `cargo xtask test --arch aarch64` runs
/// everything under qemu-user and sets `DATAVOL_TEST_TIME_SCALE`; the bound
/// stays far below the deadline it guards against only natively.
pub fn within(secs: f64) -> f64 {
    let scale = std::env::var("DATAVOL_TEST_TIME_SCALE")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| *s >= 1.0)
        .unwrap_or(1.0);
    secs * scale
}
