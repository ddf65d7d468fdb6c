//! `cargo xtask rpm [--target TRIPLE] [--release N] [--check]`: builds the
//! release binary and packs it, the units, the preset, the default config, the
//! man pages and the docs into `<target-dir>/dist/datavol-V-R.ARCH.rpm` with the
//! `rpm` crate (no rpmbuild): a v4 package with a zstd payload, which rpm 4.16
//! (AL2023) reads. The same inputs and SOURCE_DATE_EPOCH (default: the time of
//! the last git commit) give the same bytes.
//!
//! `--check` (run by `cargo xtask test`) builds the package twice and compares
//! the bytes, queries it with `rpm -qp` (files, config flags, scripts,
//! dependencies, payload, `-K` digests), runs `rpmlint` (no error allowed),
//! installs it into a scratch root with `rpm --root`, runs the installed
//! binary, validates the installed config and the examples, renders the
//! installed man pages with `man -l`, runs each scriptlet with a stand-in
//! `systemctl` (and with none at all), and erases the package again. It fails
//! loudly when `rpm`, `rpmlint` or `man` is missing.

use crate::man::{self, source_date_epoch, target_dir, workspace_root};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

const NAME: &str = "datavol";
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
            "--release" => a.release = it.next().ok_or("--release needs a number")?.clone(),
            "--check" => a.check = true,
            other => {
                return Err(format!(
                    "rpm: unknown argument {other:?}; usage: cargo xtask rpm [--target TRIPLE] [--release N] [--check]"
                ))
            }
        }
    }
    Ok(a)
}

pub fn run(args: &[String]) -> Result<(), String> {
    let a = parse_args(args)?;
    if a.check {
        return check(&a);
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

/// The host's package as `cargo xtask rpm` builds it, for the VM rig to install.
pub fn build_host_package() -> Result<PathBuf, String> {
    let a = Args {
        target: None,
        release: "1".into(),
        check: false,
    };
    build(&a).map(|(path, _)| path)
}

/// The RPM arch for a Rust target triple (or the host), checking that the
/// target's standard library is installed.
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
    if let Some(t) = target {
        let out = Command::new("rustup")
            .args(["target", "list", "--installed"])
            .output();
        let installed = match out {
            Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
            _ => String::new(),
        };
        if !installed.lines().any(|l| l.trim() == t) {
            return Err(format!(
                "rpm: the Rust target {t} is not installed (installed: {}); \
                 run `rustup target add {t}`, and for a cross build also install a linker \
                 (on Debian: apt-get install gcc-aarch64-linux-gnu, then set \
                 CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc)",
                if installed.trim().is_empty() {
                    "unknown: rustup not found".to_string()
                } else {
                    installed.split_whitespace().collect::<Vec<_>>().join(", ")
                }
            ));
        }
    }
    Ok(arch)
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// `cargo build --release -p datavol [--target T]`, then a stripped copy of
/// the binary (rpmlint: unstripped-binary-or-object), which it returns. The
/// build itself uses the plain release profile, so it shares its artifacts
/// with every other release build of the workspace.
fn build_binary(target: Option<&str>, arch: &str) -> Result<PathBuf, String> {
    let mut cmd = Command::new(cargo());
    cmd.args(["build", "--release", "-p", NAME])
        .current_dir(workspace_root());
    if let Some(t) = target {
        cmd.args(["--target", t]);
    }
    let st = cmd.status().map_err(|e| format!("cargo build: {e}"))?;
    if !st.success() {
        return Err("cargo build --release -p datavol failed".into());
    }
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
    let stripped = stage.join(NAME);
    let strip = if arch == std::env::consts::ARCH {
        "strip".to_string()
    } else {
        format!("{arch}-linux-gnu-strip")
    };
    let st = Command::new(&strip)
        .arg("--strip-all")
        .arg("-o")
        .arg(&stripped)
        .arg(&bin)
        .status()
        .map_err(|e| {
            format!("{strip}: {e}; hint: apt-get install binutils (binutils-{arch}-linux-gnu for a cross build)")
        })?;
    if !st.success() {
        return Err(format!("{strip} --strip-all {} failed", bin.display()));
    }
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
    let native = arch == std::env::consts::ARCH;
    if native {
        let out = Command::new(&bin)
            .arg("--version")
            .output()
            .map_err(|e| format!("{} --version: {e}", bin.display()))?;
        let v = String::from_utf8_lossy(&out.stdout);
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
    let bytes = package(
        &std::fs::read(&bin).map_err(|e| e.to_string())?,
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
fn package(bin: &[u8], arch: &str, release: &str, sde: u32) -> Result<Vec<u8>, String> {
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

// ---------------------------------------------------------------- --check

/// Runs a command, returning stdout; fails with its stderr otherwise.
fn sh(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("{cmd:?}: {e}; hint: apt-get install rpm rpmlint man-db"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} exited {}:\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn rpm_q(pkg: &Path, args: &[&str]) -> Result<String, String> {
    sh(Command::new("rpm").arg("-qp").args(args).arg(pkg))
}

fn expect(what: &str, text: &str, needles: &[&str]) -> Result<(), String> {
    for n in needles {
        if !text.contains(n) {
            return Err(format!("{what}: expected {n:?} in:\n{text}"));
        }
    }
    Ok(())
}

fn require_root() -> Result<(), String> {
    let out = sh(Command::new("id").arg("-u"))?;
    if out.trim() != "0" {
        return Err("cargo xtask rpm --check needs root (rpm --root, root-owned configs)".into());
    }
    Ok(())
}

/// A scratch directory under the target dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Result<Scratch, String> {
        let p = target_dir().join(format!("rpm-check-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        Ok(Scratch(p))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn check(a: &Args) -> Result<(), String> {
    require_root()?;
    for tool in [
        ["rpm", "--version"],
        ["rpmlint", "--version"],
        ["man", "--version"],
        ["systemctl", "--version"],
    ] {
        sh(Command::new(tool[0]).arg(tool[1]))
            .map_err(|e| format!("{} is required for cargo xtask rpm --check: {e}", tool[0]))?;
    }
    let t = std::time::Instant::now();

    // 1 and 3: build, build again a second later, same bytes.
    let (path, first) = build(a)?;
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (_, second) = build(a)?;
    if first != second {
        let again = path.with_extension("second.rpm");
        let _ = std::fs::write(&again, &second);
        return Err(format!(
            "two builds of {} differ (second kept as {}); the package is not reproducible",
            path.display(),
            again.display()
        ));
    }
    eprintln!(
        "xtask rpm --check: {} built twice, identical ({} bytes)",
        path.display(),
        first.len()
    );

    // 2: rpm reads it.
    let info = rpm_q(&path, &["-i"])?;
    expect(
        "rpm -qpi",
        &info,
        &[
            "Name        : datavol",
            &format!("Version     : {VERSION}"),
            &format!("Release     : {}", a.release),
            "License     : Apache-2.0",
        ],
    )?;
    let list = rpm_q(&path, &["-l"])?;
    let mut want: Vec<String> = vec!["/usr/bin/datavol".into()];
    want.extend(FILES.iter().map(|f| f.1.to_string()));
    want.extend(DIRS.iter().map(|d| d.to_string()));
    want.extend(
        example_files()?
            .into_iter()
            .map(|(n, _)| format!("/usr/share/doc/datavol/examples/{n}")),
    );
    want.push("/usr/share/man/man8/datavol.8.gz".into());
    want.push("/usr/share/man/man5/datavol.toml.5.gz".into());
    let listed: Vec<&str> = list.lines().collect();
    for w in &want {
        if !listed.contains(&w.as_str()) {
            return Err(format!("rpm -qpl: {w} is missing:\n{list}"));
        }
    }
    if listed.len() != want.len() {
        return Err(format!(
            "rpm -qpl lists {} entries, expected {}:\n{list}",
            listed.len(),
            want.len()
        ));
    }
    let conf = rpm_q(&path, &["-c"])?;
    if conf.trim() != "/etc/datavol/datavol.toml" {
        return Err(format!(
            "rpm -qpc: expected only /etc/datavol/datavol.toml, got:\n{conf}"
        ));
    }
    let flags = rpm_q(&path, &["--qf", "[%{FILENAMES} %{FILEFLAGS:fflags}\\n]"])?;
    expect(
        "rpm -qp --qf FILEFLAGS",
        &flags,
        &[
            "/etc/datavol/datavol.toml cn\n",
            "/usr/share/licenses/datavol/LICENSE l\n",
            "/usr/share/man/man8/datavol.8.gz d\n",
        ],
    )?;
    let modes = rpm_q(
        &path,
        &[
            "--qf",
            "[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILENAMES}\\n]",
        ],
    )?;
    expect(
        "rpm -qp --qf FILEMODES",
        &modes,
        &[
            "-rwxr-xr-x root:root /usr/bin/datavol\n",
            "drwxr-xr-x root:root /etc/datavol/conf.d\n",
        ],
    )?;
    let scripts = rpm_q(&path, &["--scripts"])?;
    expect(
        "rpm -qp --scripts",
        &scripts,
        &[
            "postinstall scriptlet (using /bin/sh)",
            "preuninstall scriptlet (using /bin/sh)",
            "postuninstall scriptlet (using /bin/sh)",
            "systemctl --no-reload preset datavol.service",
            "systemctl --no-reload disable --now datavol.service",
        ],
    )?;
    if scripts.contains("restart") && !scripts.contains("minus the restart") {
        return Err(format!(
            "rpm -qp --scripts: the oneshot must not be restarted on upgrade:\n{scripts}"
        ));
    }
    let requires = rpm_q(&path, &["--requires"])?;
    expect(
        "rpm -qp --requires",
        &requires,
        &["systemd", "util-linux", "xfsprogs"],
    )?;
    // Only rpmlib features rpm 4.16 (AL2023) has; a newer rpm crate must not
    // silently make the package uninstallable there.
    const RPM_416_FEATURES: &[&str] = &[
        "CompressedFileNames",
        "FileDigests",
        "PayloadFilesHavePrefix",
        "PayloadIsZstd",
        "PayloadIsXz",
        "LargeFiles",
        "FileCaps",
        "RichDependencies",
        "PartialHardlinkSets",
        "ScriptletInterpreterArgs",
        "ScriptletExpansion",
        "TildeInVersions",
        "CaretInVersions",
    ];
    for l in requires.lines().filter(|l| l.starts_with("rpmlib(")) {
        let feature = l
            .trim_start_matches("rpmlib(")
            .split(')')
            .next()
            .unwrap_or("");
        if !RPM_416_FEATURES.contains(&feature) {
            return Err(format!(
                "the package requires {l}, which rpm 4.16 (AL2023) may not have"
            ));
        }
    }
    let recommends = rpm_q(&path, &["--recommends"])?;
    expect("rpm -qp --recommends", &recommends, &["e2fsprogs", "mdadm"])?;
    let payload = rpm_q(
        &path,
        &["--qf", "%{PAYLOADCOMPRESSOR} %{PAYLOADFORMAT} %{BUILDTIME}"],
    )?;
    let sde = source_date_epoch()?;
    if payload.trim() != format!("zstd cpio {sde}") {
        return Err(format!(
            "payload/buildtime: expected \"zstd cpio {sde}\", got {payload:?}"
        ));
    }
    let mtimes = rpm_q(&path, &["--qf", "[%{FILEMTIMES}\\n]"])?;
    if let Some(m) = mtimes.lines().find(|m| m.trim() != sde.to_string()) {
        return Err(format!("a file mtime is {m}, not SOURCE_DATE_EPOCH {sde}"));
    }
    let k = sh(Command::new("rpm").arg("-K").arg(&path))?;
    expect("rpm -K", &k, &["digests OK"])?;
    eprintln!(
        "xtask rpm --check: rpm -qpi/-qpl/-qpc/--scripts/-K agree: {}",
        k.trim()
    );

    // rpmlint: warnings are explained in packaging/README.md; errors fail.
    let lint = Command::new("rpmlint")
        .arg("-c")
        .arg(workspace_root().join("packaging/rpmlint.toml"))
        .arg(&path)
        .output()
        .map_err(|e| format!("rpmlint: {e}; hint: apt-get install rpmlint"))?;
    let lint_out = String::from_utf8_lossy(&lint.stdout).into_owned();
    let summary = lint_out
        .lines()
        .find(|l| l.contains("errors") && l.contains("warnings"))
        .unwrap_or("")
        .to_string();
    if !summary.contains(" 0 errors") || lint_out.lines().any(|l| l.contains(": E: ")) {
        return Err(format!(
            "rpmlint reports errors:\n{lint_out}{}",
            String::from_utf8_lossy(&lint.stderr)
        ));
    }
    eprintln!("xtask rpm --check: rpmlint: {}", summary.trim());

    // 4: a scratch install, the installed binary, config, man pages; then erase.
    let root = Scratch::new("root")?;
    sh(Command::new("rpm")
        .arg("--root")
        .arg(&root.0)
        .args(["-i", "--nodeps", "--noscripts", "--ignorearch"])
        .arg(&path))?;
    let r = &root.0;
    let installed = r.join("usr/bin/datavol");
    if std::env::consts::ARCH == arch_for(a.target.as_deref())? {
        let v = sh(Command::new(&installed).arg("--version"))?;
        if v.trim() != format!("{NAME} {VERSION}") {
            return Err(format!("installed datavol --version says {v:?}"));
        }
        let val = sh(Command::new(&installed)
            .arg("--config-dir")
            .arg(r.join("etc/datavol"))
            .arg("validate"))?;
        expect(
            "installed datavol validate",
            &val,
            &["ok: 0 volume(s) from 1 file(s)"],
        )?;
        check_examples(&installed)?;
        eprintln!(
            "xtask rpm --check: installed into {}; `datavol --version` says {}",
            r.display(),
            v.trim()
        );
    } else {
        eprintln!(
            "xtask rpm --check: the {} binary cannot run on this host: --version and the config checks were NOT run",
            a.target.as_deref().unwrap_or("?")
        );
    }
    for page in [
        "usr/share/man/man8/datavol.8.gz",
        "usr/share/man/man5/datavol.toml.5.gz",
    ] {
        man::check_renders(&r.join(page))?;
    }
    let verify = Command::new("rpm")
        .arg("--root")
        .arg(r)
        .args(["-V", "--nodeps", NAME])
        .output()
        .map_err(|e| format!("rpm -V: {e}"))?;
    if !verify.status.success() {
        return Err(format!(
            "rpm -V in the scratch root: {}{}",
            String::from_utf8_lossy(&verify.stdout),
            String::from_utf8_lossy(&verify.stderr)
        ));
    }
    // What %post does on first install, offline: the preset enables the unit
    // for every target its [Install] section names.
    sh(Command::new("systemctl")
        .arg(format!("--root={}", r.display()))
        .args(["preset", "datavol.service"]))
    .map_err(|e| format!("systemctl --root preset: {e}"))?;
    for wants in [
        "multi-user.target.wants",
        "containerd.service.wants",
        "kubelet.service.wants",
    ] {
        let link = r
            .join("etc/systemd/system")
            .join(wants)
            .join("datavol.service");
        if std::fs::read_link(&link).ok().as_deref()
            != Some(Path::new("/usr/lib/systemd/system/datavol.service"))
        {
            return Err(format!(
                "systemctl preset did not enable datavol.service: {} is missing",
                link.display()
            ));
        }
    }
    eprintln!("xtask rpm --check: `systemctl --root preset` enables datavol.service for multi-user.target, containerd and kubelet");
    sh(Command::new("rpm")
        .arg("--root")
        .arg(r)
        .args(["-e", "--nodeps", "--noscripts", NAME]))?;
    for gone in [
        "usr/bin/datavol",
        "etc/datavol/datavol.toml",
        "etc/datavol/conf.d",
    ] {
        if r.join(gone).exists() {
            return Err(format!("rpm -e left {gone} behind"));
        }
    }
    drop(root);

    check_scriptlets()?;
    // The same package as the next release, for an upgrade.
    let arch = arch_for(a.target.as_deref())?;
    let staged = target_dir().join("rpm-stage").join(arch).join(NAME);
    let next = format!("{}.1", a.release);
    let upgrade = package(
        &std::fs::read(&staged).map_err(|e| format!("{}: {e}", staged.display()))?,
        arch,
        &next,
        sde,
    )?;
    let up_dir = Scratch::new("upgrade")?;
    let up_path = up_dir.0.join(format!("{NAME}-{VERSION}-{next}.{arch}.rpm"));
    std::fs::write(&up_path, upgrade).map_err(|e| format!("{}: {e}", up_path.display()))?;
    check_chroot_install(&path, &up_path, &next)?;
    eprintln!(
        "xtask rpm --check: passed in {:.0}s ({}, {} bytes)",
        t.elapsed().as_secs_f64(),
        path.display(),
        first.len()
    );
    Ok(())
}

/// Every shipped example validates (the device override together with the
/// file it overrides), and so does the default config with its examples
/// uncommented.
fn check_examples(bin: &Path) -> Result<(), String> {
    let dir = Scratch::new("examples")?;
    let copy = |name: &str, data: &[u8]| -> Result<PathBuf, String> {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.0.join(name);
        std::fs::write(&p, data).map_err(|e| format!("{}: {e}", p.display()))?;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644))
            .map_err(|e| format!("{}: {e}", p.display()))?;
        Ok(p)
    };
    let mut files = Vec::new();
    for (name, path) in example_files()? {
        let data = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        files.push((name.clone(), copy(&name, &data)?));
    }
    let base = files
        .iter()
        .find(|(n, _)| n == "containerd-ebs.toml")
        .map(|(_, p)| p.clone())
        .ok_or("packaging/examples/containerd-ebs.toml is missing")?;
    for (name, p) in &files {
        let mut cmd = Command::new(bin);
        cmd.arg("validate");
        if name.starts_with("override-") {
            cmd.arg(&base);
        }
        let out = sh(cmd.arg(p)).map_err(|e| format!("example {name}: {e}"))?;
        expect(&format!("validate {name}"), &out, &["ok: 1 volume(s)"])?;
    }
    // The commented examples in the default config must be valid once uncommented.
    let default = String::from_utf8_lossy(&read("packaging/datavol.toml")?).into_owned();
    let uncommented: String = default
        .lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(rest)
                if rest.starts_with("[volume.")
                    || rest.split_once(" = ").is_some_and(|(k, _)| {
                        k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                    }) =>
            {
                rest
            }
            _ => l,
        })
        .fold(String::new(), |acc, l| acc + l + "\n");
    let p = copy("uncommented.toml", uncommented.as_bytes())?;
    let out = sh(Command::new(bin).arg("validate").arg(&p))
        .map_err(|e| format!("packaging/datavol.toml with its examples uncommented: {e}"))?;
    expect(
        "validate uncommented packaging/datavol.toml",
        &out,
        &["ok: 2 volume(s)"],
    )?;
    Ok(())
}

/// Each scriptlet, as rpm runs it (`sh -c SCRIPT NAME ARG`), with a recording
/// stand-in systemctl, with a failing one, and with none at all: the right
/// calls on install/erase/upgrade, and exit 0 every time.
fn check_scriptlets() -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let dir = Scratch::new("scriptlets")?;
    let bin = dir.0.join("bin");
    let empty = dir.0.join("empty");
    std::fs::create_dir_all(&bin).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&empty).map_err(|e| e.to_string())?;
    let log = dir.0.join("calls");
    let stub = bin.join("systemctl");
    let booted = Path::new("/run/systemd/system").is_dir();
    let run = |script: &str, arg: &str, fail: bool, path: &Path| -> Result<String, String> {
        let _ = std::fs::remove_file(&log);
        std::fs::write(
            &stub,
            format!(
                "#!/bin/sh\necho \"$*\" >> '{}'\nexit {}\n",
                log.display(),
                u8::from(fail)
            ),
        )
        .map_err(|e| e.to_string())?;
        std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| e.to_string())?;
        let out = Command::new("/bin/sh")
            .args(["-c", script, "scriptlet", arg])
            .env("PATH", path)
            .output()
            .map_err(|e| format!("sh: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "scriptlet with ${{1}}={arg} (systemctl {}) exited {}: {}",
                if fail { "failing" } else { "working" },
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(std::fs::read_to_string(&log).unwrap_or_default())
    };
    let reload = if booted { "daemon-reload\n" } else { "" };
    let cases: [(&str, &str, &str, String); 6] = [
        (
            "post",
            POST,
            "1",
            format!("--no-reload preset datavol.service\n{reload}"),
        ),
        ("post", POST, "2", reload.to_string()),
        (
            "preun",
            PREUN,
            "0",
            if booted {
                "--no-reload disable --now datavol.service\n".into()
            } else {
                "--no-reload disable datavol.service\n".into()
            },
        ),
        ("preun", PREUN, "1", String::new()),
        ("postun", POSTUN, "0", reload.to_string()),
        ("postun", POSTUN, "1", reload.to_string()),
    ];
    for (name, script, arg, want) in &cases {
        let got = run(script, arg, false, &bin)?;
        if &got != want {
            return Err(format!(
                "%{name} with $1={arg} called systemctl with {got:?}, expected {want:?}"
            ));
        }
        run(script, arg, true, &bin).map_err(|e| format!("%{name}: {e}"))?;
        run(script, arg, false, &empty).map_err(|e| format!("%{name} without systemctl: {e}"))?;
    }
    eprintln!(
        "xtask rpm --check: scriptlets do the right systemctl calls for install/upgrade/erase ({}), and never fail",
        if booted { "booted" } else { "not booted" }
    );
    Ok(())
}

/// Copies `bin` (symlinks resolved) and the shared libraries `ldd` names into
/// the same paths under `root`.
fn copy_with_libs(root: &Path, bin: &str) -> Result<(), String> {
    let mut files = vec![(PathBuf::from(bin), PathBuf::from(bin))];
    let ldd = sh(Command::new("ldd").arg(bin))?;
    for line in ldd.lines() {
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        if let Some(p) = path.filter(|p| p.starts_with('/')) {
            files.push((PathBuf::from(p), PathBuf::from(p)));
        }
    }
    for (src, dst) in files {
        let to = root.join(dst.strip_prefix("/").unwrap_or(&dst));
        if let Some(d) = to.parent() {
            std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
        }
        std::fs::copy(&src, &to)
            .map_err(|e| format!("{} -> {}: {e}", src.display(), to.display()))?;
    }
    Ok(())
}

/// Installs and erases the package **with** its scriptlets, as rpm runs them:
/// chrooted into a root that holds only a shell and systemctl, where nothing
/// is booted (an image build). %post's preset must enable the unit there,
/// %preun's disable must undo it, and neither may fail the transaction.
fn check_chroot_install(pkg: &Path, upgrade: &Path, next: &str) -> Result<(), String> {
    let root = Scratch::new("chroot")?;
    let r = &root.0;
    let systemctl = sh(Command::new("sh").args(["-c", "command -v systemctl"]))?;
    copy_with_libs(r, "/bin/sh")?;
    copy_with_libs(r, systemctl.trim())?;
    std::fs::create_dir_all(r.join("dev")).map_err(|e| e.to_string())?;
    sh(Command::new("rpm")
        .arg("--root")
        .arg(r)
        .args(["-i", "--nodeps", "--ignorearch"])
        .arg(pkg))
    .map_err(|e| format!("rpm -i with scriptlets in a chroot: {e}"))?;
    let wants = r.join("etc/systemd/system/multi-user.target.wants/datavol.service");
    if std::fs::symlink_metadata(&wants).is_err() {
        return Err(format!(
            "%post in a chroot did not enable datavol.service ({} is missing)",
            wants.display()
        ));
    }
    // An administrator's `disable` survives an upgrade: the preset runs on
    // the first install only.
    sh(Command::new("systemctl")
        .arg(format!("--root={}", r.display()))
        .args(["disable", "datavol.service"]))?;
    sh(Command::new("rpm")
        .arg("--root")
        .arg(r)
        .args(["-U", "--nodeps", "--ignorearch"])
        .arg(upgrade))
    .map_err(|e| format!("rpm -U with scriptlets in a chroot: {e}"))?;
    let q = sh(Command::new("rpm").arg("--root").arg(r).args(["-q", NAME]))?;
    if !q
        .trim()
        .ends_with(&format!("-{next}.{}", arch_of_path(upgrade)))
    {
        return Err(format!("after rpm -U, rpm -q says {q:?}"));
    }
    if std::fs::symlink_metadata(&wants).is_ok() {
        return Err("rpm -U re-enabled datavol.service that was disabled: %post must preset on first install only".into());
    }
    sh(Command::new("systemctl")
        .arg(format!("--root={}", r.display()))
        .args(["enable", "datavol.service"]))?;
    sh(Command::new("rpm")
        .arg("--root")
        .arg(r)
        .args(["-e", "--nodeps", NAME]))
    .map_err(|e| format!("rpm -e with scriptlets in a chroot: {e}"))?;
    if std::fs::symlink_metadata(&wants).is_ok() {
        return Err("%preun in a chroot did not disable datavol.service".into());
    }
    if r.join("usr/bin/datavol").exists() {
        return Err("rpm -e in a chroot left /usr/bin/datavol behind".into());
    }
    eprintln!(
        "xtask rpm --check: rpm -i/-U/-e with scriptlets in a chroot with nothing booted: install enabled the unit, an upgrade kept it disabled, erase disabled it and removed everything"
    );
    Ok(())
}

/// "x86_64" from ".../datavol-0.1.0-1.x86_64.rpm".
fn arch_of_path(p: &Path) -> String {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.trim_end_matches(".rpm");
    stem.rsplit('.').next().unwrap_or("").to_string()
}
