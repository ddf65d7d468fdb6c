//! Before a task builds or runs anything: is every program it will run
//! installed? One message lists all that are missing, with their packages
//! (from xtask/debian-packages.txt) and the command that installs them, so a
//! fresh machine fails in seconds instead of at minute nine.

use std::path::Path;

/// The package list, shared with `cargo xtask setup`.
pub const PACKAGES: &str = include_str!("../debian-packages.txt");

/// What each task runs, beyond cargo and coreutils.
pub mod needs {
    /// `cargo test`: loop devices, mkfs, the signature zoo, a real dbus-daemon,
    /// the copy engine's fidelity oracles, unit-name oracles.
    pub const CARGO_TEST: &[&str] = &[
        "losetup",
        "blkid",
        "wipefs",
        "findmnt",
        "partx",
        "unshare",
        "nsenter",
        "setpriv",
        "mkswap",
        "mkfs.xfs",
        "mkfs.ext4",
        "sfdisk",
        "cryptsetup",
        "pvcreate",
        "dbus-daemon",
        "rsync",
        "setfattr",
        "getfattr",
        "setfacl",
        "getfacl",
        "setcap",
        "getcap",
        "systemd-escape",
        "systemd-analyze",
        // The catalog's syntax, as journald reads it.
        "journalctl",
        // The metrics file, through the Prometheus Python client's parser.
        PYTHON,
        PROMETHEUS_PARSER,
    ];
    /// Debian's python3 and the Prometheus client's text parser module.
    pub const PYTHON: &str = "/usr/bin/python3";
    pub const PROMETHEUS_PARSER: &str =
        "/usr/lib/python3/dist-packages/prometheus_client/parser.py";
    /// `cargo xtask rpm --check`.
    pub const RPM_CHECK: &[&str] = &[
        "rpm",
        "rpm2cpio",
        "rpmlint",
        "man",
        "strip",
        "ldd",
        "systemctl",
        // The installed journal catalog, read by journalctl --root.
        "journalctl",
        // The installed alerting rules, tested where they lie.
        "promtool",
    ];
    /// `cargo xtask monitoring` (a step of `cargo xtask test`): the alerting
    /// rules, their unit tests and the dashboard's queries.
    pub const MONITORING: &[&str] = &["promtool"];
    /// `cargo xtask vm-test`: the image build and the host-side checks.
    pub const VM: &[&str] = &[
        "qemu-system-x86_64",
        "qemu-img",
        "debootstrap",
        "mkfs.xfs",
        "mkfs.ext4",
        "rsync",
        "strip",
        // The metrics file copied out of the guest is parsed on the host.
        PYTHON,
        PROMETHEUS_PARSER,
        // The images' extras: sid's signed lists, the CRI client's stubs.
        "/usr/share/keyrings/debian-archive-keyring.gpg",
        "/usr/lib/python3/dist-packages/grpc_tools/protoc.py",
    ];
    /// `cargo xtask bench` (its VM part needs [`VM`] as well).
    pub const BENCH: &[&str] = &["losetup", "mkfs.xfs", "rsync", "setfattr", "/usr/bin/time"];
    /// `cargo xtask demo`.
    pub const DEMO: &[&str] = &["losetup", "unshare", "findmnt", "mkfs.xfs", "dbus-daemon"];
    /// `cargo xtask rpm|test --arch aarch64` (xtask/src/cross.rs), on top of
    /// RPM_CHECK or CARGO_TEST: the `[aarch64]` group of the list.
    pub const CROSS: &[&str] = &[
        "/usr/bin/rustc",
        "/usr/bin/rustdoc",
        "/usr/lib/rustlib/aarch64-unknown-linux-gnu/lib",
        "aarch64-linux-gnu-gcc",
        "/usr/aarch64-linux-gnu/lib/crt1.o",
        "aarch64-linux-gnu-strip",
        "qemu-aarch64-static",
        "/usr/lib/binfmt.d/qemu-aarch64.conf",
    ];
    /// `cargo xtask vm-test --arch aarch64`, on top of [`VM`] and [`CROSS`] (the
    /// package is cross-built): the arm64 guest's machine, and qemu-user for
    /// debootstrap's second stage and the image's chroot.
    pub const VM_AARCH64: &[&str] = &[
        "qemu-system-aarch64",
        "/usr/share/AAVMF/AAVMF_CODE.fd",
        "qemu-aarch64-static",
        "/usr/lib/binfmt.d/qemu-aarch64.conf",
    ];
}

/// The groups of the list: the default one (above the first `[group]` line),
/// which `cargo xtask setup` installs, and those only `setup --arch` installs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Group {
    Default,
    Aarch64,
}

impl Group {
    fn of_header(name: &str) -> Option<Group> {
        match name {
            "aarch64" => Some(Group::Aarch64),
            _ => None,
        }
    }
}

/// (group, package, programs) of every line of the list. A package name may
/// carry an architecture (`libstd-rust-web-dev:arm64`), as apt-get takes it.
fn entries() -> Vec<(Group, &'static str, Vec<&'static str>)> {
    let mut group = Group::Default;
    let mut v = Vec::new();
    for l in PACKAGES.lines() {
        let l = l.split('#').next().unwrap_or_default().trim();
        if let Some(name) = l.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            // An unknown group fails the unit test below, not a user's run.
            group = Group::of_header(name).unwrap_or(Group::Aarch64);
            continue;
        }
        let mut w = l.split_whitespace();
        if let Some(p) = w.next() {
            v.push((group, p, w.collect()));
        }
    }
    v
}

/// (package, programs) of the default group: what `cargo xtask setup` installs.
pub fn packages() -> Vec<(&'static str, Vec<&'static str>)> {
    packages_in(Group::Default)
}

/// (package, programs) of one group.
pub fn packages_in(group: Group) -> Vec<(&'static str, Vec<&'static str>)> {
    entries()
        .into_iter()
        .filter(|(g, _, _)| *g == group)
        .map(|(_, p, progs)| (p, progs))
        .collect()
}

/// The package (of any group) that provides `program`.
pub fn package_of(program: &str) -> Option<&'static str> {
    entries()
        .into_iter()
        .find(|(_, _, progs)| progs.contains(&program))
        .map(|(_, p, _)| p)
}

/// A program is there if it is an absolute path that exists, or on PATH
/// (with the sbin directories root has, which a sudo'd PATH may lack).
pub fn have(program: &str) -> bool {
    if program.starts_with('/') {
        return Path::new(program).exists();
    }
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"])
        .any(|d| Path::new(d).join(program).is_file());
    found
}

/// Fails with one message naming every missing program of `groups`.
pub fn check(task: &str, groups: &[&[&str]]) -> Result<(), String> {
    let mut missing: Vec<&str> = groups
        .iter()
        .flat_map(|g| g.iter().copied())
        .filter(|p| !have(p))
        .collect();
    missing.sort();
    missing.dedup();
    if missing.is_empty() {
        return Ok(());
    }
    let mut pkgs: Vec<&str> = missing.iter().filter_map(|p| package_of(p)).collect();
    pkgs.sort();
    pkgs.dedup();
    Err(format!(
        "{task} needs programs that are not installed: {} (Debian packages: {}); \
         hint: run `cargo xtask setup` as root, which installs everything in xtask/debian-packages.txt",
        missing.join(", "),
        pkgs.join(" ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_needed_program_has_a_package() {
        for group in [
            needs::CARGO_TEST,
            needs::RPM_CHECK,
            needs::MONITORING,
            needs::VM,
            needs::BENCH,
            needs::DEMO,
            needs::CROSS,
            needs::VM_AARCH64,
        ] {
            for p in group {
                assert!(
                    package_of(p).is_some(),
                    "{p} is not in xtask/debian-packages.txt"
                );
            }
        }
    }

    #[test]
    fn the_cross_toolchain_is_a_group_of_its_own() {
        for line in PACKAGES.lines().filter(|l| l.starts_with('[')) {
            let name = line.trim().trim_start_matches('[').trim_end_matches(']');
            assert!(Group::of_header(name).is_some(), "unknown group {line}");
        }
        let default: Vec<&str> = packages().into_iter().map(|(p, _)| p).collect();
        let cross: Vec<&str> = packages_in(Group::Aarch64)
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        assert!(default.contains(&"rpm") && !default.contains(&"rustc-web"));
        assert!(cross.contains(&"libstd-rust-web-dev:arm64"), "{cross:?}");
        assert!(cross.contains(&"qemu-user-static") && !cross.contains(&"rpm"));
        for p in needs::CROSS.iter().chain(needs::VM_AARCH64) {
            let pkg = package_of(p).unwrap_or_default();
            assert!(cross.contains(&pkg), "{p} is not in the [aarch64] group");
        }
        assert!(!default.contains(&"qemu-system-arm"));
    }

    #[test]
    fn names_what_is_missing() {
        let e = check("t", &[&["no-such-program-xyz", "sh"]]).unwrap_err();
        assert!(e.contains("no-such-program-xyz"), "{e}");
        assert!(!e.contains(" sh"), "{e}");
        assert!(e.contains("cargo xtask setup"), "{e}");
        assert!(check("t", &[&["sh"]]).is_ok());
    }
}
