//! `cargo xtask vm-test [OPTIONS] [SCENARIO...]`: boots datavol in real Debian 12 VMs
//! (qemu, TCG) and asserts what it did, from inside the guest and from the host.
//! See docs/testing.md. Guest-side files live in xtask/vm/.
mod image;
mod payload;
mod qemu;
mod scenarios;
mod util;

use scenarios::{Ctx, Status};
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;
use util::{secs, ws_root};

const USAGE: &str = "usage: cargo xtask vm-test [OPTIONS] [SCENARIO...]

Runs every scenario when none is named. Prints PASS|FAIL|PENDING NAME TIME per scenario
and exits non-zero if any failed.

options:
  --list            list the scenarios
  --shell           boot the first boot of ONE scenario interactively (root autologin on
                    the serial console, checker installed but not run); Ctrl-A X quits
  --inspect         boot the disks the last run of ONE scenario left behind, interactively
  --rebuild-image   rebuild the cached image even if its recipe did not change
  --image-only      build (or find) the image, then stop
  --no-build        do not build; use the package in target/dist and the binary in
                    target/release
  --datavol PATH    install this binary over the package's /usr/bin/datavol in every
                    scenario (and use it for the failpoint scenarios)

environment:
  DATAVOL_VM_CACHE  cache and work dir (default /var/cache/datavol-vm)
  DATAVOL_VM_ACCEL  tcg or kvm (default: probed once, then cached)
  DATAVOL_VM_MIRROR Debian mirror (default: the one in /etc/apt/sources.list.d/debian.sources)";

pub fn run(args: &[String]) -> Result<(), String> {
    let mut names = vec![];
    let (mut shell, mut inspect, mut rebuild, mut image_only, mut no_build) =
        (false, false, false, false, false);
    let mut datavol_bin: Option<PathBuf> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--list" => {
                for s in scenarios::all() {
                    let st = if matches!(s.status, Status::Pending(_)) {
                        " (pending)"
                    } else {
                        ""
                    };
                    println!("{:<22} {}{st}", s.name, s.about);
                }
                return Ok(());
            }
            "--shell" => shell = true,
            "--inspect" => inspect = true,
            "--rebuild-image" => rebuild = true,
            "--image-only" => image_only = true,
            "--no-build" => no_build = true,
            "--datavol" => {
                let p = it.next().ok_or("--datavol needs a path")?;
                datavol_bin = Some(PathBuf::from(p));
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            s if s.starts_with('-') => return Err(format!("unknown option {s}\n{USAGE}")),
            s => names.push(s.to_string()),
        }
    }
    let all = scenarios::all();
    for n in &names {
        if !all.iter().any(|s| s.name == n) {
            return Err(format!("no scenario {n:?} (see --list)"));
        }
    }
    if (shell || inspect) && names.len() != 1 {
        return Err("--shell and --inspect take exactly one scenario".into());
    }

    let started = Instant::now();
    host_tools()?;
    let cache = cache_dir()?;
    let _lock = Lock::take(&cache.join("lock"))?;
    let img = image::ensure(&cache, rebuild)?;
    if image_only {
        println!("image: {}", img.dir.display());
        return Ok(());
    }
    let accel = qemu::accel(&cache.join("accel"), &img.kernel);
    // The package first: it is what every scenario installs. Its release build and the
    // failpoints build below share target/release, so the package is built first and
    // keeps its own stripped copy of the binary.
    let package = if inspect {
        Err("not needed".into())
    } else if no_build {
        find_package()
    } else {
        crate::rpm::build_host_package()
    };
    let override_bin = datavol_bin.is_some();
    let datavol = if inspect {
        Err("not needed".into())
    } else if let Some(p) = datavol_bin {
        if p.exists() {
            Ok(p)
        } else {
            Err(format!("{} does not exist", p.display()))
        }
    } else {
        build_datavol(no_build)
    };
    if !inspect {
        if let Err(e) = &package {
            eprintln!("vm-test: datavol package unavailable: {e}");
        }
        if let Err(e) = &datavol {
            eprintln!("vm-test: datavol failpoints binary unavailable: {e}");
        }
    }

    let selected: Vec<_> = all
        .into_iter()
        .filter(|s| names.is_empty() || names.iter().any(|n| n == s.name))
        .collect();
    let mut lines = vec![];
    let mut failed = 0;
    for s in selected {
        let dir = cache.join("runs").join(s.name);
        let f = match s.status {
            Status::Pending(why) => {
                let line = format!("PENDING {} -", s.name);
                println!("{line}\n    ({why})");
                lines.push(line);
                continue;
            }
            Status::Ready(f) => f,
        };
        if !inspect {
            util::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let mut ctx = Ctx::new(
            s.name,
            img.clone(),
            accel.clone(),
            scenarios::Build {
                package: package.clone(),
                datavol: datavol.clone(),
                override_bin,
            },
            dir.clone(),
            shell,
        );
        if inspect {
            return scenarios::inspect(&mut ctx);
        }
        let t = Instant::now();
        let r = f(&mut ctx);
        if shell {
            return match r {
                Err(e) if e == scenarios::SHELL_DONE => Ok(()),
                Err(e) => Err(e),
                Ok(()) => Ok(()),
            };
        }
        if let Err(e) = r {
            ctx.fail(format!("error: {e}"));
        }
        let verdict = if ctx.failures.is_empty() {
            "PASS"
        } else {
            "FAIL"
        };
        let line = format!("{verdict} {} {}", s.name, secs(t.elapsed()));
        println!("{line}");
        for n in &ctx.notes {
            println!("    {n}");
        }
        for f in &ctx.failures {
            println!("    FAILED {f}");
        }
        if !ctx.failures.is_empty() {
            println!("    (work dir: {})", dir.display());
            failed += 1;
        }
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

/// What `cargo xtask bench` asks of the VM for its delayed-source fixture.
pub struct DelayedBench<'a> {
    /// A raw xfs image holding the fixture tree at its root.
    pub source: &'a std::path::Path,
    pub delay_ms: u32,
    pub rounds: usize,
    pub workers: usize,
    /// Short tool names: datavol, cp, rsync.
    pub tools: Vec<&'static str>,
}

/// One copy inside the VM.
pub struct DelayedRun {
    pub tool: &'static str,
    pub round: usize,
    pub secs: f64,
    pub sync_secs: f64,
    pub cpu: f64,
    pub rss_kib: u64,
}

/// Boots the test image once with `b.source` behind a dm-delay target and times each
/// tool's copy of it (see xtask/vm/payload/checks/delayed-source.sh).
pub fn bench_delayed(b: &DelayedBench) -> Result<Vec<DelayedRun>, String> {
    host_tools()?;
    let cache = cache_dir()?;
    let _lock = Lock::take(&cache.join("lock"))?;
    let img = image::ensure(&cache, false)?;
    let accel = qemu::accel(&cache.join("accel"), &img.kernel);
    let dir = cache.join("runs").join("bench-delayed-source");
    util::remove_dir_all(&dir)?;
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let build = scenarios::Build {
        package: crate::rpm::build_host_package(),
        datavol: Err("not used by the bench".into()),
        override_bin: false,
    };
    let mut ctx = Ctx::new("bench-delayed-source", img, accel, build, dir, false);
    scenarios::delayed_source(&mut ctx, b)
}

fn cache_dir() -> Result<PathBuf, String> {
    let cache = PathBuf::from(
        std::env::var("DATAVOL_VM_CACHE").unwrap_or_else(|_| "/var/cache/datavol-vm".into()),
    );
    std::fs::create_dir_all(&cache).map_err(|e| format!("{}: {e}", cache.display()))?;
    Ok(cache)
}

/// Root, and every host program the rig runs (`cargo xtask setup` installs them).
fn host_tools() -> Result<(), String> {
    crate::util::require_root("cargo xtask vm-test")?;
    crate::preflight::check("cargo xtask vm-test", &[crate::preflight::needs::VM])
}

/// The package `cargo xtask rpm` last wrote for this host (for --no-build).
fn find_package() -> Result<PathBuf, String> {
    let dist = crate::util::target_dir().join("dist");
    let suffix = format!(".{}.rpm", std::env::consts::ARCH);
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dist)
        .map_err(|e| format!("{}: {e}; run cargo xtask rpm first", dist.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(&suffix))
        .collect();
    found.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    found.pop().ok_or_else(|| {
        format!(
            "no *{suffix} in {}; run cargo xtask rpm first",
            dist.display()
        )
    })
}

/// Builds the datavol binary with failpoints, in the shared target dir.
fn build_datavol(no_build: bool) -> Result<PathBuf, String> {
    let root = ws_root();
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target"));
    if !no_build {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        eprintln!("vm-test: cargo build --release -p datavol --features datavol/failpoints");
        let st = Command::new(cargo)
            .args([
                "build",
                "--release",
                "-p",
                "datavol",
                "--features",
                "datavol/failpoints",
            ])
            .current_dir(&root)
            .status()
            .map_err(|e| format!("cargo: {e}"))?;
        if !st.success() {
            return Err("cargo build of datavol failed".into());
        }
    }
    let bin = target.join("release/datavol");
    if !bin.exists() {
        return Err(format!("{} does not exist", bin.display()));
    }
    Ok(bin)
}

/// One vm-test at a time per cache dir: runs share the image build dir and the work dirs.
/// A directory holding the owner's pid; a lock whose owner is gone is taken over.
struct Lock(PathBuf);

impl Lock {
    fn take(path: &std::path::Path) -> Result<Lock, String> {
        for _ in 0..2 {
            match std::fs::create_dir(path) {
                Ok(()) => {
                    let _ = std::fs::write(path.join("pid"), std::process::id().to_string());
                    return Ok(Lock(path.to_path_buf()));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let pid = std::fs::read_to_string(path.join("pid")).unwrap_or_default();
                    let pid = pid.trim();
                    if !pid.is_empty() && std::path::Path::new("/proc").join(pid).exists() {
                        return Err(format!(
                            "another vm-test (pid {pid}) is using {}; wait for it, or remove {} if it is gone",
                            path.parent().unwrap().display(),
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
