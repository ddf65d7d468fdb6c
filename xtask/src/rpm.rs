//! `cargo xtask rpm [--target TRIPLE] [--release N] [--check]`: builds the
//! release binary and packs it, the units, the preset, the default config, the
//! man pages, the docs and the monitoring files into
//! `<target-dir>/dist/datavol-V-R.ARCH.rpm` with the `rpm` crate (no
//! rpmbuild): a v4 package with a zstd payload, which rpm 4.16 (AL2023) reads. The same inputs and SOURCE_DATE_EPOCH (default: the time of
//! the last git commit) give the same bytes.
//!
//! `--check` (run by `cargo xtask test`) builds the package twice and compares
//! the bytes, queries it with `rpm -qp` (files, config flags, scripts,
//! dependencies, payload, `-K` digests), runs `rpmlint` (no error allowed),
//! installs it into a scratch root with `rpm --root`, runs the installed
//! binary, validates the installed config and the examples, renders the
//! installed man pages with `man -l`, reads the installed journal catalog with
//! `journalctl --root`, runs the installed alerting rules' tests with
//! `promtool`, runs each scriptlet with stand-in `systemctl` and `journalctl`
//! (and with none at all), and erases the package again. It fails loudly when
//! `rpm`, `rpmlint`, `man` or `promtool` is missing.

mod check;

use crate::man::{self, source_date_epoch};
use crate::util::{cargo, run_shown, target_dir, workspace_root};
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

const NAME: &str = "datavol";
/// The systemd generator, a second binary of the datavol crate.
const GENERATOR: &str = "datavol-generator";
const VERSION: &str = env!("CARGO_PKG_VERSION");
const SUMMARY: &str =
    "Moves data directories such as /var/lib/containerd onto their own disks at boot";
/// Wrapped at 79 columns (rpmlint: description-line-too-long).
const DESCRIPTION: &str = "\
datavol puts a service's data directory, such as /var/lib/containerd on an
Amazon EKS node, onto its own disk at boot, and keeps everything that was
already there. It runs as datavol.service, a oneshot ordered before
containerd.service: for each configured volume it waits for the disk, formats
it only if it is blank, copies the old directory onto it with full fidelity,
verifies the copy, commits it crash-safely and mounts it with a systemd mount
unit. It refuses, and changes nothing, when in doubt.

With no volume configured (the packaged /etc/datavol/datavol.toml) it does
nothing, so the unit is enabled by a preset.";

const POST: &str = include_str!("../../packaging/scriptlets/post.sh");
const PREUN: &str = include_str!("../../packaging/scriptlets/preun.sh");
const POSTUN: &str = include_str!("../../packaging/scriptlets/postun.sh");

/// Where each packaged file comes from (relative to the workspace root), its
/// destination, mode and kind.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Plain,
    Config,
    Doc,
    License,
}

const FILES: &[(&str, &str, u16, Kind)] = &[
    (
        "units/datavol.service",
        "/usr/lib/systemd/system/datavol.service",
        0o644,
        Kind::Plain,
    ),
    (
        "units/datavol-check@.service",
        "/usr/lib/systemd/system/datavol-check@.service",
        0o644,
        Kind::Plain,
    ),
    (
        "units/datavol-prewarm@.service",
        "/usr/lib/systemd/system/datavol-prewarm@.service",
        0o644,
        Kind::Plain,
    ),
    (
        "units/containerd.service.d/50-datavol.conf",
        "/usr/lib/systemd/system/containerd.service.d/50-datavol.conf",
        0o644,
        Kind::Plain,
    ),
    (
        "packaging/datavol.catalog",
        "/usr/lib/systemd/catalog/datavol.catalog",
        0o644,
        Kind::Plain,
    ),
    (
        "packaging/80-datavol.preset",
        "/usr/lib/systemd/system-preset/80-datavol.preset",
        0o644,
        Kind::Plain,
    ),
    (
        "packaging/datavol.toml",
        "/etc/datavol/datavol.toml",
        0o644,
        Kind::Config,
    ),
    // Monitoring: the alerting rules with their promtool tests, and the
    // dashboard (packaging/README.md, "Monitoring").
    (
        "packaging/monitoring/datavol.rules.yml",
        "/usr/share/datavol/monitoring/datavol.rules.yml",
        0o644,
        Kind::Plain,
    ),
    (
        "packaging/monitoring/datavol.rules.test.yml",
        "/usr/share/datavol/monitoring/datavol.rules.test.yml",
        0o644,
        Kind::Plain,
    ),
    (
        "packaging/monitoring/datavol-dashboard.json",
        "/usr/share/datavol/monitoring/datavol-dashboard.json",
        0o644,
        Kind::Plain,
    ),
    (
        "README.md",
        "/usr/share/doc/datavol/README.md",
        0o644,
        Kind::Doc,
    ),
    (
        "docs/eks-al2023.md",
        "/usr/share/doc/datavol/eks-al2023.md",
        0o644,
        Kind::Doc,
    ),
    (
        "docs/troubleshooting.md",
        "/usr/share/doc/datavol/troubleshooting.md",
        0o644,
        Kind::Doc,
    ),
    (
        "docs/design.md",
        "/usr/share/doc/datavol/design.md",
        0o644,
        Kind::Doc,
    ),
    (
        "LICENSE",
        "/usr/share/licenses/datavol/LICENSE",
        0o644,
        Kind::License,
    ),
];

/// Directories the package owns (and only those: /usr/bin, /etc and the
/// systemd and man directories belong to other packages).
const DIRS: &[&str] = &[
    "/etc/datavol",
    "/etc/datavol/conf.d",
    "/usr/lib/systemd/system/containerd.service.d",
    "/usr/share/datavol",
    "/usr/share/datavol/monitoring",
    "/usr/share/doc/datavol",
    "/usr/share/doc/datavol/examples",
    "/usr/share/licenses/datavol",
    // --state-dir (the seed history) and the default mount points of volumes
    // with `directories`.
    "/var/lib/datavol",
    "/var/lib/datavol/volumes",
];

struct Args {
    target: Option<String>,
    release: String,
    check: bool,
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut a = Args {
        target: None,
        release: "1".into(),
        check: false,
    };
    let mut it = args.iter();
    while let Some(x) = it.next() {
        match x.as_str() {
            "--target" => a.target = Some(it.next().ok_or("--target needs a TRIPLE")?.clone()),
            "--arch" => {
                let arch = it.next().ok_or("--arch needs a name (aarch64)")?;
                a.target = Some(crate::cross::target_of_arch(arch)?.to_string());
            }
            "--release" => a.release = it.next().ok_or("--release needs a number")?.clone(),
            "--check" => a.check = true,
            other => {
                return Err(format!(
                    "rpm: unknown argument {other:?}; usage: cargo xtask rpm [--arch aarch64|--target TRIPLE] [--release N] [--check]"
                ))
            }
        }
    }
    Ok(a)
}

pub fn run(args: &[String]) -> Result<(), String> {
    let a = parse_args(args)?;
    if a.check {
        return check::run(&a);
    }
    let (path, bytes) = build(&a)?;
    eprintln!(
        "xtask rpm: wrote {} ({} bytes, SOURCE_DATE_EPOCH={})",
        path.display(),
        bytes.len(),
        source_date_epoch()?
    );
    Ok(())
}

/// The host's package as `cargo xtask rpm --release RELEASE` builds it, for the VM
/// rig to install (release "1", the default) or to upgrade to (a higher one).
pub fn build_host_package(release: &str) -> Result<PathBuf, String> {
    build(&parse_args(&[
        "--release".to_string(),
        release.to_string(),
    ])?)
    .map(|(path, _)| path)
}

/// Where `cargo xtask rpm [--arch ARCH] --release RELEASE` writes its package.
pub fn package_path(arch: &str, release: &str) -> PathBuf {
    target_dir()
        .join("dist")
        .join(format!("{NAME}-{VERSION}-{release}.{arch}.rpm"))
}

/// `cargo xtask rpm --arch ARCH --release RELEASE` (the host's package when ARCH
/// is the host's), for the VM rig's guests of that arch.
pub fn build_package(arch: &str, release: &str) -> Result<PathBuf, String> {
    if arch == std::env::consts::ARCH {
        return build_host_package(release);
    }
    build(&parse_args(&[
        "--arch".to_string(),
        arch.to_string(),
        "--release".to_string(),
        release.to_string(),
    ])?)
    .map(|(path, _)| path)
}

/// The RPM arch for a Rust target triple (or the host).
fn arch_for(target: Option<&str>) -> Result<&'static str, String> {
    let arch = match target {
        None => std::env::consts::ARCH,
        Some(t) => t.split('-').next().unwrap_or(""),
    };
    let arch = match arch {
        "x86_64" => "x86_64",
        "aarch64" => "aarch64",
        other => {
            return Err(format!(
                "rpm: no package arch for {other:?}; x86_64 and aarch64 targets are supported"
            ))
        }
    };
    Ok(arch)
}

/// `cargo build --release -p datavol [--target T]`, then a stripped copy of
/// the binary (rpmlint: unstripped-binary-or-object), which it returns. The
/// build itself uses the plain release profile, so it shares its artifacts
/// with every other release build of the workspace.
fn build_binary(target: Option<&str>, arch: &str) -> Result<PathBuf, String> {
    let cross = crate::cross::is_cross(target);
    let mut cmd = if cross {
        // Debian's cross toolchain (rustup has no other target here).
        crate::cross::detect()
            .map_err(|e| format!("rpm --target {}: {e}", target.unwrap_or("")))?;
        crate::cross::cargo()
    } else {
        cargo()
    };
    cmd.args(["build", "--release", "-p", NAME]);
    if let Some(t) = target {
        cmd.args(["--target", t]);
    }
    run_shown(&mut cmd)?;
    let mut bin = target_dir();
    if let Some(t) = target {
        bin.push(t);
    }
    bin.push("release");
    bin.push(NAME);
    if !bin.is_file() {
        return Err(format!("{} was not built", bin.display()));
    }
    let stage = target_dir().join("rpm-stage").join(arch);
    std::fs::create_dir_all(&stage).map_err(|e| format!("{}: {e}", stage.display()))?;
    let strip = if !cross {
        "strip".to_string()
    } else if arch == crate::cross::ARCH {
        crate::cross::STRIP.to_string()
    } else {
        format!("{arch}-linux-gnu-strip")
    };
    // The generator is built with it; it goes next to the stripped datavol.
    for name in [NAME, GENERATOR] {
        crate::util::run(
            Command::new(&strip)
                .arg("--strip-all")
                .arg("-o")
                .arg(stage.join(name))
                .arg(bin.with_file_name(name)),
        )
        .map_err(|e| {
            format!(
                "{e}; hint: apt-get install binutils (binutils-{arch}-linux-gnu for a cross build)"
            )
        })?;
    }
    let stripped = stage.join(NAME);
    Ok(stripped)
}

fn read(rel: &str) -> Result<Vec<u8>, String> {
    let p = workspace_root().join(rel);
    std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))
}

fn gzip(data: &[u8]) -> Result<Vec<u8>, String> {
    // No name and mtime 0 in the gzip header, so the bytes depend on the content only.
    let mut enc = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    enc.write_all(data).map_err(|e| format!("gzip: {e}"))?;
    enc.finish().map_err(|e| format!("gzip: {e}"))
}

fn example_files() -> Result<Vec<(String, PathBuf)>, String> {
    let dir = workspace_root().join("packaging/examples");
    let mut v = Vec::new();
    for e in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let e = e.map_err(|e| format!("{}: {e}", dir.display()))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".toml") {
            v.push((name, e.path()));
        }
    }
    v.sort();
    Ok(v)
}

/// Builds the binary and the package; writes it to dist/ and returns its path and bytes.
fn build(a: &Args) -> Result<(PathBuf, Vec<u8>), String> {
    let arch = arch_for(a.target.as_deref())?;
    let sde = source_date_epoch()?;
    let bin = build_binary(a.target.as_deref(), arch)?;
    // An aarch64 binary runs here through qemu-user (binfmt_misc), when registered.
    let native = arch == std::env::consts::ARCH || crate::cross::runs_here();
    if native {
        let v = crate::util::run(Command::new(&bin).arg("--version"))?;
        if v.trim() != format!("{NAME} {VERSION}") {
            return Err(format!(
                "{} --version says {:?}, but the package would be {VERSION}",
                bin.display(),
                v.trim()
            ));
        }
    }
    // A package must not ship a stale man page.
    man::check(if native { Some(&bin) } else { None })?;
    let gen = bin.with_file_name(GENERATOR);
    let bytes = package(
        &std::fs::read(&bin).map_err(|e| e.to_string())?,
        &std::fs::read(&gen).map_err(|e| format!("{}: {e}", gen.display()))?,
        arch,
        &a.release,
        sde,
    )?;
    let dist = target_dir().join("dist");
    std::fs::create_dir_all(&dist).map_err(|e| format!("{}: {e}", dist.display()))?;
    let path = dist.join(format!("{NAME}-{VERSION}-{}.{arch}.rpm", a.release));
    let tmp = path.with_extension("rpm.tmp");
    std::fs::write(&tmp, &bytes).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((path, bytes))
}

/// The package itself, from the binary and the files in the work tree. Every
/// file goes in with explicit contents, mode and owner, and times from
/// `source_date`, so nothing of the build machine leaks into the bytes.
fn package(bin: &[u8], gen: &[u8], arch: &str, release: &str, sde: u32) -> Result<Vec<u8>, String> {
    let e = |e: rpm::Error| e.to_string();
    let config = rpm::BuildConfig::v4()
        .compression(rpm::CompressionWithLevel::Zstd(19))
        .source_date(sde);
    let mut b = rpm::PackageBuilder::new(NAME, VERSION, "Apache-2.0", arch, SUMMARY);
    b.using_config(config)
        .release(release)
        .description(DESCRIPTION)
        .vendor("datavol")
        // A fixed name, as Fedora's reproducible builds use: the build machine's
        // name must not reach the bytes.
        .build_host("reproducible")
        .packager("datavol maintainers")
        .group("System Environment/Base")
        .add_changelog_entry(
            format!("datavol maintainers - {VERSION}-{release}"),
            "- Package built by cargo xtask rpm.",
            sde,
        )
        .requires(rpm::Dependency::any("systemd"))
        .requires(rpm::Dependency::any("util-linux"))
        .requires(rpm::Dependency::any("xfsprogs"))
        .requires(rpm::Dependency::script_post("systemd"))
        .requires(rpm::Dependency::script_preun("systemd"))
        .requires(rpm::Dependency::script_postun("systemd"))
        .recommends(rpm::Dependency::any("e2fsprogs"))
        .recommends(rpm::Dependency::any("mdadm"))
        .post_install_script(rpm::Scriptlet::new(POST).prog(vec!["/bin/sh"]))
        .pre_uninstall_script(rpm::Scriptlet::new(PREUN).prog(vec!["/bin/sh"]))
        .post_uninstall_script(rpm::Scriptlet::new(POSTUN).prog(vec!["/bin/sh"]));

    for d in DIRS {
        b.with_dir_entry(rpm::FileOptions::dir(*d).permissions(0o755))
            .map_err(e)?;
    }
    b.with_file_contents(
        bin.to_vec(),
        rpm::FileOptions::new("/usr/bin/datavol").permissions(0o755),
    )
    .map_err(e)?;
    b.with_file_contents(
        gen.to_vec(),
        rpm::FileOptions::new(format!("/usr/lib/systemd/system-generators/{GENERATOR}"))
            .permissions(0o755),
    )
    .map_err(e)?;
    for (src, dst, mode, kind) in FILES {
        let opts = rpm::FileOptions::new(*dst).permissions(*mode);
        let opts = match kind {
            Kind::Plain => opts,
            Kind::Config => opts.config().noreplace(),
            Kind::Doc => opts.doc(),
            Kind::License => opts.license(),
        };
        b.with_file_contents(read(src)?, opts).map_err(e)?;
    }
    for (name, path) in example_files()? {
        let data = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        b.with_file_contents(
            data,
            rpm::FileOptions::new(format!("/usr/share/doc/datavol/examples/{name}"))
                .permissions(0o644)
                .doc(),
        )
        .map_err(e)?;
    }
    for (file, roff) in man::render_all()? {
        let sec = file.rsplit('.').next().unwrap_or("8").to_string();
        b.with_file_contents(
            gzip(roff.as_bytes())?,
            rpm::FileOptions::new(format!("/usr/share/man/man{sec}/{file}.gz"))
                .permissions(0o644)
                .doc(),
        )
        .map_err(e)?;
    }
    let pkg = b.build().map_err(e)?;
    let mut out = Vec::new();
    pkg.write(&mut out).map_err(e)?;
    Ok(out)
}
