//! `cargo xtask rpm --check`: the package as AL2023's rpm will see it. Each check is one
//! function; `run` lists them in order. See the module doc of rpm.rs for the whole list.

use super::{
    arch_for, build, example_files, package, read, Args, DIRS, FILES, GENERATOR, NAME, POST,
    POSTUN, PREUN, VERSION,
};
use crate::man::{self, source_date_epoch};
use crate::util::{self, require_root, target_dir, workspace_root};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub fn run(a: &Args) -> Result<(), String> {
    require_root("cargo xtask rpm --check")?;
    use crate::preflight::{check, needs};
    check("cargo xtask rpm --check", &[needs::RPM_CHECK])?;
    if crate::cross::is_cross(a.target.as_deref()) {
        // The packaged aarch64 binary runs below, under qemu-user.
        crate::cross::detect()?;
        crate::cross::binfmt()?;
    }
    let t = Instant::now();
    let (path, bytes) = reproducible(a)?;
    metadata(&path, &a.release)?;
    file_list(&path)?;
    file_attributes(&path)?;
    scripts(&path)?;
    dependencies(&path)?;
    payload(&path)?;
    rpmlint(&path)?;
    install_into_root(a, &path)?;
    check_scriptlets()?;
    upgrade_and_erase(a, &path)?;
    eprintln!(
        "xtask rpm --check: passed in {:.0}s ({}, {} bytes)",
        t.elapsed().as_secs_f64(),
        path.display(),
        bytes.len()
    );
    Ok(())
}

fn rpm_q(pkg: &Path, args: &[&str]) -> Result<String, String> {
    util::run(Command::new("rpm").arg("-qp").args(args).arg(pkg))
}

fn expect(what: &str, text: &str, needles: &[&str]) -> Result<(), String> {
    for n in needles {
        if !text.contains(n) {
            return Err(format!("{what}: expected {n:?} in:\n{text}"));
        }
    }
    Ok(())
}

/// `rpm --root ROOT ARGS...`.
fn rpm_root(root: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("rpm");
    cmd.arg("--root").arg(root).args(args);
    cmd
}

/// `systemctl --root=ROOT ARGS...`.
fn systemctl_root(root: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("systemctl");
    cmd.arg(format!("--root={}", root.display())).args(args);
    cmd
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

/// Built, built again a second later: the same bytes. Returns the package.
fn reproducible(a: &Args) -> Result<(PathBuf, Vec<u8>), String> {
    let (path, first) = build(a)?;
    std::thread::sleep(Duration::from_millis(1100));
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
    Ok((path, first))
}

/// `rpm -qpi`: name, version, release, license.
fn metadata(path: &Path, release: &str) -> Result<(), String> {
    let info = rpm_q(path, &["-i"])?;
    expect(
        "rpm -qpi",
        &info,
        &[
            "Name        : datavol",
            &format!("Version     : {VERSION}"),
            &format!("Release     : {release}"),
            "License     : Apache-2.0",
        ],
    )
}

/// `rpm -qpl`: exactly the files and directories the package should own.
fn file_list(path: &Path) -> Result<(), String> {
    let list = rpm_q(path, &["-l"])?;
    let mut want: Vec<String> = vec![
        "/usr/bin/datavol".into(),
        format!("/usr/lib/systemd/system-generators/{GENERATOR}"),
    ];
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
    Ok(())
}

/// `rpm -qpc` and the file flags, modes and owners.
fn file_attributes(path: &Path) -> Result<(), String> {
    let conf = rpm_q(path, &["-c"])?;
    if conf.trim() != "/etc/datavol/datavol.toml" {
        return Err(format!(
            "rpm -qpc: expected only /etc/datavol/datavol.toml, got:\n{conf}"
        ));
    }
    let flags = rpm_q(path, &["--qf", "[%{FILENAMES} %{FILEFLAGS:fflags}\\n]"])?;
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
        path,
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
            "-rwxr-xr-x root:root /usr/lib/systemd/system-generators/datavol-generator\n",
            "drwxr-xr-x root:root /etc/datavol/conf.d\n",
            "-rw-r--r-- root:root /usr/lib/systemd/catalog/datavol.catalog\n",
            "-rw-r--r-- root:root /usr/share/datavol/monitoring/datavol.rules.yml\n",
        ],
    )
}

/// `rpm -qp --scripts`: the three scriptlets, the preset and disable calls, no restart.
fn scripts(path: &Path) -> Result<(), String> {
    let scripts = rpm_q(path, &["--scripts"])?;
    expect(
        "rpm -qp --scripts",
        &scripts,
        &[
            "postinstall scriptlet (using /bin/sh)",
            "preuninstall scriptlet (using /bin/sh)",
            "postuninstall scriptlet (using /bin/sh)",
            "systemctl --no-reload preset datavol.service",
            "systemctl --no-reload disable --now datavol.service",
            "local-fs.target.wants/datavol-early.service",
            "journalctl --update-catalog",
        ],
    )?;
    if scripts.contains("restart") && !scripts.contains("minus the restart") {
        return Err(format!(
            "rpm -qp --scripts: the oneshot must not be restarted on upgrade:\n{scripts}"
        ));
    }
    Ok(())
}

/// Only rpmlib features rpm 4.16 (AL2023) has; a newer rpm crate must not
/// silently make the package uninstallable there.
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

/// Requires and Recommends, and only rpmlib features AL2023's rpm has.
fn dependencies(path: &Path) -> Result<(), String> {
    let requires = rpm_q(path, &["--requires"])?;
    expect(
        "rpm -qp --requires",
        &requires,
        &["systemd", "util-linux", "xfsprogs"],
    )?;
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
    let recommends = rpm_q(path, &["--recommends"])?;
    expect("rpm -qp --recommends", &recommends, &["e2fsprogs", "mdadm"])
}

/// zstd cpio payload, build time and every mtime at SOURCE_DATE_EPOCH, digests OK.
fn payload(path: &Path) -> Result<(), String> {
    let payload = rpm_q(
        path,
        &["--qf", "%{PAYLOADCOMPRESSOR} %{PAYLOADFORMAT} %{BUILDTIME}"],
    )?;
    let sde = source_date_epoch()?;
    if payload.trim() != format!("zstd cpio {sde}") {
        return Err(format!(
            "payload/buildtime: expected \"zstd cpio {sde}\", got {payload:?}"
        ));
    }
    let mtimes = rpm_q(path, &["--qf", "[%{FILEMTIMES}\\n]"])?;
    if let Some(m) = mtimes.lines().find(|m| m.trim() != sde.to_string()) {
        return Err(format!("a file mtime is {m}, not SOURCE_DATE_EPOCH {sde}"));
    }
    let k = util::run(Command::new("rpm").arg("-K").arg(path))?;
    expect("rpm -K", &k, &["digests OK"])?;
    eprintln!(
        "xtask rpm --check: rpm -qpi/-qpl/-qpc/--scripts/-K agree: {}",
        k.trim()
    );
    Ok(())
}

/// rpmlint: warnings are explained in packaging/README.md; errors fail.
fn rpmlint(path: &Path) -> Result<(), String> {
    // Not `util::run`: rpmlint exits non-zero for warnings too; its summary line decides.
    let lint = Command::new("rpmlint")
        .arg("-c")
        .arg(workspace_root().join("packaging/rpmlint.toml"))
        .arg(path)
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
    Ok(())
}

/// A scratch install without scriptlets: the installed binary, config and man pages,
/// `rpm -V`, the preset, then an erase that leaves nothing behind.
fn install_into_root(a: &Args, path: &Path) -> Result<(), String> {
    let root = Scratch::new("root")?;
    let r = &root.0;
    util::run(rpm_root(r, &["-i", "--nodeps", "--noscripts", "--ignorearch"]).arg(path))?;
    installed_binary(a, r)?;
    for page in [
        "usr/share/man/man8/datavol.8.gz",
        "usr/share/man/man5/datavol.toml.5.gz",
    ] {
        man::check_renders(&r.join(page))?;
    }
    catalog(r)?;
    monitoring(r)?;
    util::run(&mut rpm_root(r, &["-V", "--nodeps", NAME]))
        .map_err(|e| format!("rpm -V in the scratch root: {e}"))?;
    presets(r)?;
    erase(r)
}

/// The installed binary runs, says its version, and validates the packaged config and
/// the examples. An aarch64 one runs under qemu-aarch64-static (binfmt_misc,
/// registered by `run`).
fn installed_binary(a: &Args, r: &Path) -> Result<(), String> {
    let arch = arch_for(a.target.as_deref())?;
    let how = if arch == std::env::consts::ARCH {
        "natively"
    } else {
        "under qemu-aarch64-static"
    };
    let installed = r.join("usr/bin/datavol");
    let v = util::run(Command::new(&installed).arg("--version"))?;
    if v.trim() != format!("{NAME} {VERSION}") {
        return Err(format!("installed datavol --version says {v:?}"));
    }
    let val = util::run(
        Command::new(&installed)
            .arg("--config-dir")
            .arg(r.join("etc/datavol"))
            .arg("validate"),
    )?;
    expect(
        "installed datavol validate",
        &val,
        &["ok: 0 volume(s) from 1 file(s)"],
    )?;
    check_examples(&installed)?;
    eprintln!(
        "xtask rpm --check: installed into {}; `datavol --version` ({arch}, run {how}) says {}; the config and the examples validate",
        r.display(),
        v.trim()
    );
    Ok(())
}

/// The installed journal catalog, as journald reads it: `journalctl --root
/// --update-catalog` accepts it and lists each of datavol's message ids.
fn catalog(r: &Path) -> Result<(), String> {
    let root = format!("--root={}", r.display());
    util::run(Command::new("journalctl").args([root.as_str(), "--update-catalog"]))
        .map_err(|e| format!("the installed datavol.catalog: {e}"))?;
    let list = util::run(Command::new("journalctl").args([root.as_str(), "--list-catalog"]))?;
    let ids = read("packaging/datavol.catalog")?;
    let ids: Vec<String> = String::from_utf8_lossy(&ids)
        .lines()
        .filter_map(|l| l.strip_prefix("-- "))
        .map(str::to_string)
        .collect();
    for id in &ids {
        if !list
            .lines()
            .any(|l| l.starts_with(id.as_str()) && l.contains(" datavol"))
        {
            return Err(format!("journalctl --list-catalog lacks {id}:\n{list}"));
        }
    }
    eprintln!(
        "xtask rpm --check: journalctl reads the installed catalog: {} entries",
        ids.len()
    );
    Ok(())
}

/// The installed rules pass their installed tests where they lie, as an
/// operator runs them after editing a copy.
fn monitoring(r: &Path) -> Result<(), String> {
    let dir = r.join("usr/share/datavol/monitoring");
    util::run(
        Command::new("promtool")
            .args(["test", "rules", "datavol.rules.test.yml"])
            .current_dir(&dir),
    )
    .map_err(|e| format!("the installed monitoring files in {}: {e}", dir.display()))?;
    eprintln!("xtask rpm --check: promtool test rules passes in the installed /usr/share/datavol/monitoring");
    Ok(())
}

/// What %post does on first install, offline: the preset enables the unit for every
/// target its [Install] section names.
fn presets(r: &Path) -> Result<(), String> {
    util::run(&mut systemctl_root(r, &["preset", "datavol.service"]))
        .map_err(|e| format!("systemctl --root preset: {e}"))?;
    for (wants, unit) in [
        ("multi-user.target.wants", "datavol.service"),
        ("containerd.service.wants", "datavol.service"),
        ("kubelet.service.wants", "datavol.service"),
    ] {
        let link = r.join("etc/systemd/system").join(wants).join(unit);
        if std::fs::read_link(&link).ok().as_deref()
            != Some(Path::new("/usr/lib/systemd/system").join(unit).as_path())
        {
            return Err(format!(
                "systemctl preset did not enable {unit}: {} is missing",
                link.display()
            ));
        }
    }
    eprintln!("xtask rpm --check: `systemctl --root preset` enables datavol.service for multi-user.target, containerd and kubelet");
    Ok(())
}

/// `rpm -e` without scriptlets removes the binary, the config and conf.d.
fn erase(r: &Path) -> Result<(), String> {
    util::run(&mut rpm_root(r, &["-e", "--nodeps", "--noscripts", NAME]))?;
    for gone in [
        "usr/bin/datavol",
        "etc/datavol/datavol.toml",
        "etc/datavol/conf.d",
    ] {
        if r.join(gone).exists() {
            return Err(format!("rpm -e left {gone} behind"));
        }
    }
    Ok(())
}

/// The same package as the next release, then install, upgrade and erase with
/// scriptlets in a chroot.
fn upgrade_and_erase(a: &Args, path: &Path) -> Result<(), String> {
    let arch = arch_for(a.target.as_deref())?;
    let staged = target_dir().join("rpm-stage").join(arch).join(NAME);
    let next = format!("{}.1", a.release);
    let gen = staged.with_file_name(GENERATOR);
    let upgrade = package(
        &std::fs::read(&staged).map_err(|e| format!("{}: {e}", staged.display()))?,
        &std::fs::read(&gen).map_err(|e| format!("{}: {e}", gen.display()))?,
        arch,
        &next,
        source_date_epoch()?,
    )?;
    let up_dir = Scratch::new("upgrade")?;
    let up_path = up_dir.0.join(format!("{NAME}-{VERSION}-{next}.{arch}.rpm"));
    std::fs::write(&up_path, upgrade).map_err(|e| format!("{}: {e}", up_path.display()))?;
    check_chroot_install(path, &up_path, &next, arch)
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
        let out = util::run(cmd.arg(p)).map_err(|e| format!("example {name}: {e}"))?;
        expect(&format!("validate {name}"), &out, &["ok: 1 volume(s)"])?;
    }
    // The commented examples in the default config must be valid once uncommented.
    let default = String::from_utf8_lossy(&read("packaging/datavol.toml")?).into_owned();
    let uncommented: String = default
        .lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(rest)
                if rest.starts_with('[')
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
    let out = util::run(Command::new(bin).arg("validate").arg(&p))
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
    let booted = Path::new("/run/systemd/system").is_dir();
    let run = |script: &str, arg: &str, fail: bool, path: &Path| -> Result<String, String> {
        let _ = std::fs::remove_file(&log);
        // systemctl's calls as they are, journalctl's after its name.
        for (tool, prefix) in [("systemctl", ""), ("journalctl", "journalctl ")] {
            let stub = bin.join(tool);
            std::fs::write(
                &stub,
                format!(
                    "#!/bin/sh\necho \"{prefix}$*\" >> '{}'\nexit {}\n",
                    log.display(),
                    u8::from(fail)
                ),
            )
            .map_err(|e| e.to_string())?;
            std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| e.to_string())?;
        }
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
    let catalog = "journalctl --update-catalog\n";
    let cases: [(&str, &str, &str, String); 6] = [
        (
            "post",
            POST,
            "1",
            format!("--no-reload preset datavol.service\n{reload}{catalog}"),
        ),
        ("post", POST, "2", format!("{reload}{catalog}")),
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
        ("postun", POSTUN, "0", format!("{reload}{catalog}")),
        ("postun", POSTUN, "1", format!("{reload}{catalog}")),
    ];
    for (name, script, arg, want) in &cases {
        let got = run(script, arg, false, &bin)?;
        if &got != want {
            return Err(format!(
                "%{name} with $1={arg} called systemctl/journalctl with {got:?}, expected {want:?}"
            ));
        }
        run(script, arg, true, &bin).map_err(|e| format!("%{name}: {e}"))?;
        run(script, arg, false, &empty).map_err(|e| format!("%{name} without systemctl: {e}"))?;
    }
    eprintln!(
        "xtask rpm --check: scriptlets do the right systemctl and journalctl calls for install/upgrade/erase ({}), and never fail",
        if booted { "booted" } else { "not booted" }
    );
    Ok(())
}

/// Copies `bin` (symlinks resolved) and the shared libraries `ldd` names into
/// the same paths under `root`.
fn copy_with_libs(root: &Path, bin: &str) -> Result<(), String> {
    let mut files = vec![(PathBuf::from(bin), PathBuf::from(bin))];
    let ldd = util::run(Command::new("ldd").arg(bin))?;
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
fn check_chroot_install(pkg: &Path, upgrade: &Path, next: &str, arch: &str) -> Result<(), String> {
    let root = Scratch::new("chroot")?;
    let r = &root.0;
    let systemctl = util::run(Command::new("sh").args(["-c", "command -v systemctl"]))?;
    copy_with_libs(r, "/bin/sh")?;
    copy_with_libs(r, systemctl.trim())?;
    std::fs::create_dir_all(r.join("dev")).map_err(|e| e.to_string())?;
    util::run(rpm_root(r, &["-i", "--nodeps", "--ignorearch"]).arg(pkg))
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
    util::run(&mut systemctl_root(r, &["disable", "datavol.service"]))?;
    util::run(rpm_root(r, &["-U", "--nodeps", "--ignorearch"]).arg(upgrade))
        .map_err(|e| format!("rpm -U with scriptlets in a chroot: {e}"))?;
    let q = util::run(&mut rpm_root(r, &["-q", NAME]))?;
    if !q.trim().ends_with(&format!("-{next}.{arch}")) {
        return Err(format!("after rpm -U, rpm -q says {q:?}"));
    }
    if std::fs::symlink_metadata(&wants).is_ok() {
        return Err("rpm -U re-enabled datavol.service that was disabled: %post must preset on first install only".into());
    }
    util::run(&mut systemctl_root(r, &["enable", "datavol.service"]))?;
    util::run(&mut rpm_root(r, &["-e", "--nodeps", NAME]))
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
