//! The aarch64 (Graviton) cross toolchain, from Debian 12's own packages (the
//! `[aarch64]` group of xtask/debian-packages.txt, installed by `cargo xtask
//! setup --arch aarch64`): rustc-web's /usr/bin/rustc with the arm64 standard
//! library (libstd-rust-web-dev:arm64), the cross gcc as linker, the cross
//! binutils' strip, and qemu-user-static to run what it builds. rustup's own
//! targets are not used: no other target than the host's can be downloaded.
//!
//! The aarch64 binaries run on this x86_64 host through binfmt_misc's
//! qemu-aarch64 handler (flag F: the interpreter is opened once, so it works
//! inside the tests' mount namespaces too), which [`binfmt`] mounts and
//! registers when it is missing (a container or a machine without
//! systemd-binfmt). Tests spawn the `datavol` and `systemd-double` binaries
//! directly, so the runner variable alone would not do.

use crate::preflight;
use std::path::Path;
use std::process::Command;

/// The Rust target triple.
pub const TARGET: &str = "aarch64-unknown-linux-gnu";
/// Its RPM and `--arch` name.
pub const ARCH: &str = "aarch64";
/// Debian's rustc (rustc-web), which has the arm64 standard library beside it.
/// It compiles the whole build, build scripts included: one rustc per build.
pub const RUSTC: &str = "/usr/bin/rustc";
/// Its rustdoc, for the doctests (rustup's has no arm64 standard library).
const RUSTDOC: &str = "/usr/bin/rustdoc";
const LINKER: &str = "aarch64-linux-gnu-gcc";
pub const STRIP: &str = "aarch64-linux-gnu-strip";
pub const QEMU: &str = "qemu-aarch64-static";
const BINFMT_DIR: &str = "/proc/sys/fs/binfmt_misc";
/// What qemu-user-static ships for systemd-binfmt.
const BINFMT_CONF: &str = "/usr/lib/binfmt.d/qemu-aarch64.conf";

/// The target triple for `--arch NAME`.
pub fn target_of_arch(arch: &str) -> Result<&'static str, String> {
    match arch {
        ARCH | "arm64" => Ok(TARGET),
        other => Err(format!(
            "unknown --arch {other:?}: aarch64 is the only cross target (x86_64 is the host's)"
        )),
    }
}

/// `--arch NAME` out of `args`: the triple, and the other arguments.
pub fn take_arch(args: &[String]) -> Result<(Option<&'static str>, Vec<String>), String> {
    let mut rest = Vec::new();
    let mut target = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--arch" {
            let v = it.next().ok_or("--arch needs a name (aarch64)")?;
            target = Some(target_of_arch(v)?);
        } else if let Some(v) = a.strip_prefix("--arch=") {
            target = Some(target_of_arch(v)?);
        } else {
            rest.push(a.clone());
        }
    }
    Ok((target, rest))
}

/// Is `target` a cross build from this host?
pub fn is_cross(target: Option<&str>) -> bool {
    target.is_some_and(|t| !t.starts_with(std::env::consts::ARCH))
}

/// Fails, naming what is missing and the setup command, unless the Debian cross
/// toolchain is installed.
pub fn detect() -> Result<(), String> {
    let missing: Vec<&str> = preflight::needs::CROSS
        .iter()
        .copied()
        .filter(|p| !preflight::have(p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let pkgs: Vec<&str> = preflight::packages_in(preflight::Group::Aarch64)
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    Err(format!(
        "the Debian aarch64 cross toolchain is not installed: {} missing (Debian packages: {}); \
         hint: run `cargo xtask setup --arch aarch64` as root",
        missing.join(", "),
        pkgs.join(" ")
    ))
}

/// `cargo` set up for the aarch64 cross build: Debian's rustc for the whole
/// build, the cross gcc as linker, qemu-user as the runner of test binaries.
pub fn cargo() -> Command {
    let mut cmd = crate::util::cargo();
    cmd.env("RUSTC", RUSTC)
        .env("RUSTDOC", RUSTDOC)
        .env("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER", LINKER)
        .env("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER", QEMU);
    cmd
}

/// Makes sure aarch64 executables run here through binfmt_misc: mounts
/// binfmt_misc when it is not, registers qemu-aarch64 from qemu-user-static's
/// binfmt.d file when it is not, then runs an aarch64 `true`-like probe.
pub fn binfmt() -> Result<(), String> {
    let handler = Path::new(BINFMT_DIR).join("qemu-aarch64");
    if !handler.exists() {
        if !Path::new(BINFMT_DIR).join("register").exists() {
            crate::util::run(Command::new("mount").args([
                "-t",
                "binfmt_misc",
                "binfmt_misc",
                BINFMT_DIR,
            ]))
            .map_err(|e| format!("binfmt_misc is not mounted and cannot be: {e}"))?;
        }
        let conf = std::fs::read_to_string(BINFMT_CONF).map_err(|e| {
            format!("{BINFMT_CONF}: {e}; hint: run `cargo xtask setup --arch aarch64` as root")
        })?;
        let line = conf
            .lines()
            .find(|l| l.starts_with(":qemu-aarch64:"))
            .ok_or_else(|| format!("{BINFMT_CONF} has no :qemu-aarch64: line"))?;
        std::fs::write(Path::new(BINFMT_DIR).join("register"), line)
            .map_err(|e| format!("registering qemu-aarch64 with binfmt_misc: {e}"))?;
        eprintln!("xtask: registered qemu-aarch64 with binfmt_misc ({BINFMT_CONF})");
    }
    let state =
        std::fs::read_to_string(&handler).map_err(|e| format!("{}: {e}", handler.display()))?;
    if !state.starts_with("enabled") {
        return Err(format!(
            "{} is not enabled:\n{state}hint: echo 1 > {}",
            handler.display(),
            handler.display()
        ));
    }
    Ok(())
}

/// Do aarch64 executables run here (qemu-aarch64 registered and enabled)?
pub fn runs_here() -> bool {
    std::fs::read_to_string(Path::new(BINFMT_DIR).join("qemu-aarch64"))
        .is_ok_and(|s| s.starts_with("enabled"))
}
