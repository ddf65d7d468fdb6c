//! `cargo xtask setup`: installs every package of the default group of
//! xtask/debian-packages.txt with apt-get, as root. `demo` and `test` do the
//! same first when a program they need is missing (`ensure`), so a fresh
//! machine needs only them.
//!
//! `cargo xtask setup --arch aarch64` installs the `[aarch64]` group too (the
//! Debian cross toolchain, xtask/src/cross.rs): it adds arm64 to dpkg's
//! foreign architectures first (for `libstd-rust-web-dev:arm64`; the amd64
//! packages install as before, apt only gains arm64 lists to choose from), and
//! registers qemu-aarch64 with binfmt_misc. `rpm|test --arch aarch64` run the
//! same install when the toolchain is missing.
//!
//! Trap it handles: some Debian 12 machine images ship qemu-utils from
//! bookworm-backports, whose Breaks: stop bookworm's qemu-system-x86 from
//! installing ("held broken packages"). When the installed qemu-utils is
//! newer than any the release offers, setup asks for the release's own
//! (`qemu-utils/bookworm`, downgrading); otherwise it leaves it alone.

use crate::preflight::{self, Group};
use crate::util::{self, require_root, run_shown};
use std::process::{Command, Stdio};

fn codename() -> Result<String, String> {
    let text =
        std::fs::read_to_string("/etc/os-release").map_err(|e| format!("/etc/os-release: {e}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME="))
        .map(|s| s.trim_matches('"').to_string())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| "/etc/os-release has no VERSION_CODENAME; setup supports Debian".into())
}

/// `dpkg --compare-versions A op B`.
fn version_cmp(a: &str, op: &str, b: &str) -> bool {
    Command::new("dpkg")
        .args(["--compare-versions", a, op, b])
        .status()
        .is_ok_and(|s| s.success())
}

/// The release's own versions of `pkg` (its suites: codename, -updates,
/// -security), from `apt-cache madison`.
fn release_versions(pkg: &str, codename: &str) -> Result<Vec<String>, String> {
    let text = util::run(Command::new("apt-cache").args(["madison", pkg]))?;
    Ok(parse_madison(&text, codename))
}

fn parse_madison(text: &str, codename: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('|').map(str::trim).collect();
            let suite = f.get(2)?.split_whitespace().nth(1)?.split('/').next()?;
            let ours = suite == codename
                || suite == format!("{codename}-updates")
                || suite == format!("{codename}-security");
            ours.then(|| f[1].to_string())
        })
        .collect()
}

/// The installed version of `pkg`, if any.
fn installed_version(pkg: &str) -> Option<String> {
    let text = util::run(Command::new("dpkg-query").args([
        "-W",
        "-f",
        "${db:Status-Status} ${Version}",
        pkg,
    ]))
    .ok()?;
    let (status, version) = text.split_once(' ')?;
    (status == "installed").then(|| version.to_string())
}

/// The package arguments for apt-get: `qemu-utils/<codename>` when the
/// installed one came from outside the release (backports) and is newer.
fn install_args(codename: &str, cross: bool) -> Result<(Vec<String>, bool), String> {
    let mut args = Vec::new();
    let mut downgrade = false;
    let mut pkgs = preflight::packages();
    if cross {
        pkgs.extend(preflight::packages_in(Group::Aarch64));
    }
    for (pkg, _) in pkgs {
        let pinned = pkg == "qemu-utils"
            && match installed_version(pkg) {
                Some(have) => {
                    let offered = release_versions(pkg, codename)?;
                    !offered.is_empty() && offered.iter().all(|v| version_cmp(&have, "gt", v))
                }
                None => false,
            };
        if pinned {
            eprintln!(
                "xtask setup: the installed {pkg} is newer than {codename}'s and would block \
                 qemu-system-x86; installing {codename}'s {pkg} instead"
            );
            args.push(format!("{pkg}/{codename}"));
            downgrade = true;
        } else {
            args.push(pkg.to_string());
        }
    }
    Ok((args, downgrade))
}

pub fn run(args: &[String]) -> Result<(), String> {
    let (target, rest) = crate::cross::take_arch(args)?;
    if let Some(a) = rest.first() {
        return Err(format!(
            "setup: unknown argument {a:?}; usage: cargo xtask setup [--arch aarch64]"
        ));
    }
    let cross = target.is_some();
    require_root("cargo xtask setup")?;
    install(cross)?;
    preflight::check(
        "cargo xtask setup",
        &[
            preflight::needs::CARGO_TEST,
            preflight::needs::RPM_CHECK,
            preflight::needs::MONITORING,
            preflight::needs::VM,
            preflight::needs::BENCH,
            preflight::needs::DEMO,
        ],
    )?;
    if cross {
        crate::cross::detect()?;
        crate::cross::binfmt()?;
        eprintln!("xtask setup: the default and the [aarch64] packages of xtask/debian-packages.txt are installed");
    } else {
        eprintln!("xtask setup: every package of the default group of xtask/debian-packages.txt is installed");
    }
    Ok(())
}

/// For `rpm|test --arch aarch64` (run as root): installs the cross
/// toolchain as `setup --arch aarch64` does when it is missing, then makes
/// sure aarch64 binaries run here (binfmt_misc).
pub fn ensure_cross(task: &str) -> Result<(), String> {
    if let Err(missing) = crate::cross::detect() {
        eprintln!("xtask: {task}: {missing}");
        eprintln!("xtask: {task}: installing the [aarch64] group of xtask/debian-packages.txt with apt-get first");
        install(true)?;
        crate::cross::detect()?;
    }
    crate::cross::binfmt()
}

/// For `demo` and `test` (run as root): when a program they need is
/// missing, installs the package list as `setup` does, then checks again.
/// A fresh machine needs no command before them.
pub fn ensure(task: &str, groups: &[&[&str]]) -> Result<(), String> {
    ensure_from(task, groups, false)
}

/// As [`ensure`], for programs of the `[aarch64]` group (the arm64 VM guest's):
/// installs that group when one is missing.
pub fn ensure_aarch64(task: &str, groups: &[&[&str]]) -> Result<(), String> {
    ensure_from(task, groups, true)
}

fn ensure_from(task: &str, groups: &[&[&str]], aarch64: bool) -> Result<(), String> {
    let Err(missing) = preflight::check(task, groups) else {
        return Ok(());
    };
    let what = if aarch64 {
        "the [aarch64] group of xtask/debian-packages.txt"
    } else {
        "xtask/debian-packages.txt"
    };
    eprintln!("xtask: {missing}");
    eprintln!("xtask: {task}: installing {what} with apt-get first");
    install(aarch64)?;
    preflight::check(task, groups)
}

/// dpkg's foreign architectures include arm64 (for `:arm64` packages).
fn add_arm64() -> Result<(), String> {
    let foreign = util::run(Command::new("dpkg").arg("--print-foreign-architectures"))?;
    if foreign.split_whitespace().any(|a| a == "arm64") {
        return Ok(());
    }
    eprintln!("xtask setup: dpkg --add-architecture arm64 (for libstd-rust-web-dev:arm64)");
    util::run(Command::new("dpkg").args(["--add-architecture", "arm64"])).map(drop)
}

/// apt-get update and install of every package of the default group (and of
/// the `[aarch64]` group with `cross`).
fn install(cross: bool) -> Result<(), String> {
    let codename = codename()?;
    if cross {
        add_arm64()?;
    }
    let apt = |args: &[String]| -> Result<(), String> {
        run_shown(
            // Wait for another apt (cloud-init, unattended-upgrades) instead
            // of failing on its lock.
            Command::new("apt-get")
                .args(["-o", "DPkg::Lock::Timeout=900"])
                .args(args)
                .env("DEBIAN_FRONTEND", "noninteractive")
                .stdin(Stdio::null()),
        )
    };
    apt(&["update".into(), "-q".into()])?;
    let (pkgs, downgrade) = install_args(&codename, cross)?;
    let mut cmd: Vec<String> = ["install", "-y", "-q", "--no-install-recommends"]
        .map(String::from)
        .to_vec();
    if downgrade {
        cmd.push("--allow-downgrades".into());
    }
    cmd.extend(pkgs);
    apt(&cmd)
}

#[cfg(test)]
mod tests {
    use super::parse_madison;

    #[test]
    fn madison_keeps_the_release_suites_only() {
        let text = " qemu-utils | 1:10.0.2+ds-2+deb13u1~bpo12+1 | http://deb.debian.org/debian bookworm-backports/main amd64 Packages\n \
                     qemu-utils | 1:7.2+dfsg-7+deb12u18+b2 | http://deb.debian.org/debian bookworm/main amd64 Packages\n \
                     qemu-utils | 1:7.2+dfsg-7+deb12u15 | http://deb.debian.org/debian-security bookworm-security/main amd64 Packages\n";
        assert_eq!(
            parse_madison(text, "bookworm"),
            ["1:7.2+dfsg-7+deb12u18+b2", "1:7.2+dfsg-7+deb12u15"]
        );
    }
}
