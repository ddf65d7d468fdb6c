//! `cargo xtask vm-test [OPTIONS] [SCENARIO...]`: boots datavol in real Debian 12 VMs
//! (qemu, TCG) and asserts what it did, from inside the guest and from the host.
//! See docs/testing.md. Guest-side files live in xtask/vm/.
mod arch;
mod ctx;
mod host;
mod image;
mod metrics;
mod payload;
mod qemu;
pub mod scenario;
mod scenarios;
mod util;

pub use arch::Arch;
pub use ctx::{Build, Ctx};
pub use image::Containerd;
use scenario::Scenario;
use std::path::{Path, PathBuf};
use std::time::Instant;
use util::secs;
pub use util::Kv;

const USAGE: &str = "usage: cargo xtask vm-test [OPTIONS] [SCENARIO...]

Runs every scenario when none is named. Prints PASS|FAIL|PENDING NAME TIME per scenario
and exits non-zero if any failed.

options:
  --list            list the scenarios
  --shell           boot the first boot of ONE scenario interactively (root autologin on
                    the serial console, checker installed but not run); Ctrl-A X quits
  --inspect         boot the disks the last run of ONE scenario left behind, interactively
  --rebuild-image   rebuild the cached image even if its recipe did not change
  --image-only      build (or find) the images, then stop
  --containerd V    the scenarios on containerd V: 1.6, 2 (the *-ctrd2 set) or all
                    (the default; cargo xtask test runs 1.6 unless told otherwise)
  --no-build        do not build; use the package in target/dist and the binary in
                    target/release
  --datavol PATH    install this binary over the package's /usr/bin/datavol in every
                    scenario (and use it for the failpoint scenarios)
  --arch aarch64    boot an arm64 guest (qemu-system-aarch64 -M virt, TCG) with the
                    aarch64 package, from an image of its own; not part of the default
                    suite (see docs/testing.md)

environment:
  DATAVOL_VM_CACHE  cache and work dir (default /var/cache/datavol-vm)
  DATAVOL_VM_ACCEL  tcg or kvm (default: probed once, then cached)
  DATAVOL_VM_MIRROR Debian mirror (default: the one in /etc/apt/sources.list.d/debian.sources)";

#[derive(Default)]
struct Opts {
    names: Vec<String>,
    shell: bool,
    inspect: bool,
    rebuild: bool,
    image_only: bool,
    no_build: bool,
    datavol: Option<PathBuf>,
    containerd: Option<Containerd>,
    arch: Arch,
}

/// The options, or None when the answer was printed (--list, --help).
fn parse(args: &[String]) -> Result<Option<Opts>, String> {
    let mut o = Opts::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--list" => {
                for s in scenarios::all() {
                    let st = if s.pending.is_some() {
                        " (pending)"
                    } else {
                        ""
                    };
                    let on = match s.containerd {
                        Containerd::V1 => "",
                        Containerd::V2 => " [containerd 2]",
                    };
                    println!("{:<22} {}{on}{st}", s.name, s.about);
                }
                return Ok(None);
            }
            "--shell" => o.shell = true,
            "--inspect" => o.inspect = true,
            "--rebuild-image" => o.rebuild = true,
            "--image-only" => o.image_only = true,
            "--no-build" => o.no_build = true,
            "--containerd" => {
                o.containerd = match it.next().map(String::as_str) {
                    Some("1.6") => Some(Containerd::V1),
                    Some("2") => Some(Containerd::V2),
                    Some("all") => None,
                    _ => return Err("--containerd needs 1.6, 2 or all".into()),
                };
            }
            "--datavol" => {
                let p = it.next().ok_or("--datavol needs a path")?;
                o.datavol = Some(PathBuf::from(p));
            }
            "--arch" => o.arch = Arch::parse(it.next().ok_or("--arch needs a name (aarch64)")?)?,
            s if s.starts_with("--arch=") => o.arch = Arch::parse(&s["--arch=".len()..])?,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(None);
            }
            s if s.starts_with('-') => return Err(format!("unknown option {s}\n{USAGE}")),
            s => o.names.push(s.to_string()),
        }
    }
    let all = scenarios::all();
    for n in &o.names {
        if !all.iter().any(|s| s.name == n) {
            return Err(format!("no scenario {n:?} (see --list)"));
        }
    }
    // The arm64 guest has only a containerd 1.6 image (fetch-extras.sh takes sid's
    // containerd 2 for the host's arch).
    if o.arch != Arch::X86_64 {
        if o.containerd == Some(Containerd::V2) {
            return Err(format!(
                "the {} guest runs containerd 1.6 only (use --containerd 1.6)",
                o.arch.name()
            ));
        }
        o.containerd = Some(Containerd::V1);
    }
    if (o.shell || o.inspect) && o.names.len() != 1 {
        return Err("--shell and --inspect take exactly one scenario".into());
    }
    Ok(Some(o))
}

pub fn run(args: &[String]) -> Result<(), String> {
    let Some(o) = parse(args)? else {
        return Ok(());
    };
    let started = Instant::now();
    let selected: Vec<Scenario> = scenarios::all()
        .into_iter()
        .filter(|s| o.names.is_empty() || o.names.iter().any(|n| n == s.name))
        .filter(|s| o.containerd.is_none_or(|c| c == s.containerd))
        .collect();
    if selected.is_empty() {
        return Err("no scenario of the ones named runs on that containerd (see --list)".into());
    }
    // Only the images the selected scenarios boot (--image-only: those of --containerd).
    let mut versions: Vec<Containerd> = selected.iter().map(|s| s.containerd).collect();
    versions.sort_by_key(|c| c.version());
    versions.dedup();
    let rig = Rig::open(o.rebuild, o.arch, &versions)?;
    if o.image_only {
        for (c, i) in &rig.images {
            println!("image (containerd {}): {}", c.version(), i.dir.display());
        }
        return Ok(());
    }
    if o.inspect {
        let none = Build {
            package: Err("not needed".into()),
            upgrade: Err("not needed".into()),
            datavol: Err("not needed".into()),
            override_bin: false,
        };
        let mut ctx = rig.ctx(&selected[0], none, false, false)?;
        return ctx::inspect(&mut ctx);
    }
    let upgrades = selected.iter().any(Scenario::upgrades);
    let b = builds(&o, upgrades);
    let mut lines = vec![];
    let mut failed = 0;
    for s in &selected {
        if let Some(why) = s.pending {
            let line = format!("PENDING {} -", s.name);
            println!("{line}\n    ({why})");
            lines.push(line);
            continue;
        }
        let mut ctx = rig.ctx(s, b.clone(), o.shell, true)?;
        let t = Instant::now();
        let r = scenario::run(&mut ctx, s);
        if o.shell {
            return match r {
                Err(e) if e != ctx::SHELL_DONE => Err(e),
                _ => Ok(()),
            };
        }
        if let Err(e) = r {
            ctx.fail(format!("error: {e}"));
        }
        let (line, ok) = report(&ctx, t);
        failed += usize::from(!ok);
        lines.push(line);
    }
    println!("---- vm-test summary ({} total)", secs(started.elapsed()));
    for l in &lines {
        println!("{l}");
    }
    if failed > 0 {
        return Err(format!("{failed} scenario(s) failed"));
    }
    Ok(())
}

/// Prints a scenario's verdict, notes and failures; returns its summary line and
/// whether it passed.
fn report(ctx: &Ctx, t: Instant) -> (String, bool) {
    let ok = ctx.failures.is_empty();
    let verdict = if ok { "PASS" } else { "FAIL" };
    let line = format!("{verdict} {} {}", ctx.name, secs(t.elapsed()));
    println!("{line}");
    for n in &ctx.notes {
        println!("    {n}");
    }
    for f in &ctx.failures {
        println!("    FAILED {f}");
    }
    if !ok {
        println!("    (work dir: {})", ctx.dir.display());
    }
    (line, ok)
}

/// The package first: it is what every scenario installs. Its release build and the
/// failpoints build share target/release, so the package is built first and keeps its
/// own stripped copy of the binary; so is the release-2 package a scenario upgrades to
/// (`upgrades`), from the same binary.
fn builds(o: &Opts, upgrades: bool) -> Build {
    let arch = o.arch.name();
    let package = if o.no_build {
        find_package(arch, "1")
    } else {
        crate::rpm::build_package(arch, "1")
    };
    let upgrade = match (upgrades, o.no_build) {
        (false, _) => Err("no scenario upgrades".into()),
        (true, true) => find_package(arch, UPGRADE_RELEASE),
        (true, false) => crate::rpm::build_package(arch, UPGRADE_RELEASE),
    };
    let datavol = match &o.datavol {
        Some(p) if p.exists() => Ok(p.clone()),
        Some(p) => Err(format!("{} does not exist", p.display())),
        None => build_datavol(o.arch, o.no_build),
    };
    if let Err(e) = &package {
        eprintln!("vm-test: datavol package unavailable: {e}");
    }
    if let (true, Err(e)) = (upgrades, &upgrade) {
        eprintln!("vm-test: datavol upgrade package unavailable: {e}");
    }
    if let Err(e) = &datavol {
        eprintln!("vm-test: datavol failpoints binary unavailable: {e}");
    }
    Build {
        package,
        upgrade,
        datavol,
        override_bin: o.datavol.is_some(),
    }
}

/// What every VM run needs: root and the host tools, the cache dir held by this run's
/// lock, the images and the accelerator. The bench boots its fixture through it too.
pub struct Rig {
    cache: PathBuf,
    images: Vec<(Containerd, image::Image)>,
    accel: String,
    _lock: Lock,
}

impl Rig {
    /// The rig with the `arch` image of each of `versions` (1.6's when none is named).
    pub fn open(rebuild_image: bool, arch: Arch, versions: &[Containerd]) -> Result<Rig, String> {
        host_tools(arch)?;
        let cache = cache_dir()?;
        let lock = Lock::take(&cache.join("lock"))?;
        let versions = if versions.is_empty() {
            &[Containerd::V1][..]
        } else {
            versions
        };
        let mut images = vec![];
        for c in versions {
            images.push((*c, image::ensure(&cache, arch, *c, rebuild_image)?));
        }
        let accel = image::accel(&cache, &images[0].1);
        Ok(Rig {
            cache,
            images,
            accel,
            _lock: lock,
        })
    }

    /// A run of `s` in `runs/<name>/` on its containerd's image, emptied first when
    /// `fresh`.
    pub fn ctx(&self, s: &Scenario, build: Build, shell: bool, fresh: bool) -> Result<Ctx, String> {
        let name = s.name;
        let image = self
            .images
            .iter()
            .find(|(c, _)| *c == s.containerd)
            .map(|(_, i)| i.clone())
            .ok_or_else(|| format!("{name}: no image of containerd {}", s.containerd.version()))?;
        let dir = self.cache.join("runs").join(name);
        if fresh {
            util::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(Ctx::new(name, image, self.accel.clone(), build, dir, shell))
    }
}

fn cache_dir() -> Result<PathBuf, String> {
    let cache = PathBuf::from(
        std::env::var("DATAVOL_VM_CACHE").unwrap_or_else(|_| "/var/cache/datavol-vm".into()),
    );
    std::fs::create_dir_all(&cache).map_err(|e| format!("{}: {e}", cache.display()))?;
    Ok(cache)
}

/// Root, and every host program the rig runs (installed when missing).
fn host_tools(arch: Arch) -> Result<(), String> {
    crate::util::require_root("cargo xtask vm-test")?;
    crate::setup::ensure("cargo xtask vm-test", &[crate::preflight::needs::VM])?;
    if arch == Arch::Aarch64 {
        let task = "cargo xtask vm-test --arch aarch64";
        // The cross toolchain builds the package; binfmt runs the image's chroot.
        crate::setup::ensure_cross(task)?;
        crate::setup::ensure_aarch64(task, &[crate::preflight::needs::VM_AARCH64])?;
    }
    Ok(())
}

/// The release the upgrade scenarios move the package to (the rig installs release 1).
const UPGRADE_RELEASE: &str = "2";

/// The package `cargo xtask rpm [--arch ARCH] --release RELEASE` last wrote (for
/// --no-build).
fn find_package(arch: &str, release: &str) -> Result<PathBuf, String> {
    let p = crate::rpm::package_path(arch, release);
    if p.is_file() {
        return Ok(p);
    }
    Err(format!(
        "no {}; run cargo xtask rpm --arch {arch} --release {release} first",
        p.display()
    ))
}

/// Builds the datavol binary with failpoints, in the shared target dir.
fn build_datavol(arch: Arch, no_build: bool) -> Result<PathBuf, String> {
    // Another arch's binary is cross-built, as `cargo xtask rpm --arch` builds its package.
    let target = if arch.may_use_kvm() {
        None
    } else {
        crate::cross::detect()?;
        Some(crate::cross::target_of_arch(arch.name())?)
    };
    if !no_build {
        eprintln!(
            "vm-test: cargo build --release -p datavol --features datavol/failpoints ({})",
            arch.name()
        );
        let mut cargo = match target {
            Some(t) => {
                let mut c = crate::cross::cargo();
                c.args(["build", "--target", t]);
                c
            }
            None => {
                let mut c = crate::util::cargo();
                c.arg("build");
                c
            }
        };
        cargo.args([
            "--release",
            "-p",
            "datavol",
            "--features",
            "datavol/failpoints",
        ]);
        crate::util::run_shown(&mut cargo)?;
    }
    let built = crate::util::target_dir()
        .join(target.unwrap_or(""))
        .join("release/datavol");
    if !built.exists() {
        return Err(format!("{} does not exist", built.display()));
    }
    // A copy of its own: any later `cargo build --release` (an rpm build beside this
    // run) relinks target/release/datavol to the build without failpoints.
    let bin = crate::util::target_dir().join(format!("vm-test/datavol-failpoints-{}", arch.name()));
    let copy = || -> std::io::Result<()> {
        std::fs::create_dir_all(bin.parent().unwrap_or(Path::new(".")))?;
        let tmp = bin.with_extension("tmp");
        std::fs::copy(&built, &tmp)?;
        std::fs::rename(&tmp, &bin)
    };
    copy().map_err(|e| format!("{} to {}: {e}", built.display(), bin.display()))?;
    Ok(bin)
}

/// One vm-test at a time per cache dir: runs share the image build dir and the work dirs.
/// A directory holding the owner's pid; a lock whose owner is gone is taken over.
struct Lock(PathBuf);

impl Lock {
    fn take(path: &Path) -> Result<Lock, String> {
        for _ in 0..2 {
            match std::fs::create_dir(path) {
                Ok(()) => {
                    let _ = std::fs::write(path.join("pid"), std::process::id().to_string());
                    return Ok(Lock(path.to_path_buf()));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let pid = std::fs::read_to_string(path.join("pid")).unwrap_or_default();
                    let pid = pid.trim();
                    if !pid.is_empty() && Path::new("/proc").join(pid).exists() {
                        return Err(format!(
                            "another vm-test (pid {pid}) is using {}; wait for it, or remove {} if it is gone",
                            path.parent().unwrap_or(path).display(),
                            path.display()
                        ));
                    }
                    let _ = std::fs::remove_dir_all(path);
                }
                Err(e) => return Err(format!("{}: {e}", path.display())),
            }
        }
        Err(format!("cannot take {}", path.display()))
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
